/**
 * libiscsi conformance (iscsi-test-cu -d -v -t ALL) on a qcow2 LUN: the SCSI
 * layer through the test-only mini target (test/scsi/conformance), with a
 * Qcow2Store instead of the memory store, the project's expectations plus
 * the mini target's. Afterwards `qemu-img check` must find no errors and no
 * leaks, and the Unmap, WriteSame*.Unmap*, GetLBAStatus and
 * Inquiry.BlockLimits tests must PASS (issue 3 acceptance, on the store side).
 *
 *   npx vitest run --config vitest.e2e.config.ts test/e2e/qcow2/libiscsi.test.ts
 * Env: QCOW2_LIBISCSI_TESTS (default ALL), QCOW2_CLUSTER (default 65536).
 */
import { describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createQcow2Store } from '../../../src/lun/qcow2/index.js';
import { ScsiTargetDevice } from '../../../src/scsi/scsi-target-device.js';
import { startMiniTarget } from '../../scsi/conformance/mini-target.js';
import { IQN, PORT1, PORT2, lunDef } from '../../scsi/helpers.js';

const repo = path.resolve(import.meta.dirname, '../../..');
const enabled =
  spawnSync('which', ['iscsi-test-cu']).status === 0 && spawnSync('qemu-img', ['--version'], { stdio: 'ignore' }).status === 0;
const SIZE = 128 * 1024 * 1024;

describe.skipIf(!enabled)('libiscsi on a qcow2 LUN (mini target)', () => {
  it(
    'meets the expectations and leaves a clean image',
    async () => {
      const work = mkdtempSync(path.join(process.env.QCOW2_LIBISCSI_DIR ?? tmpdir(), 'qcow2-libiscsi-'));
      const image = path.join(work, 'lun.qcow2');
      const store = await createQcow2Store(image, SIZE, { clusterSize: Number(process.env.QCOW2_CLUSTER ?? 65536) });
      const dev = new ScsiTargetDevice({ targetIqn: IQN, luns: [lunDef(1, SIZE, 512, store as never)], ports: [PORT1, PORT2] });
      const mt = await startMiniTarget(dev, IQN, [PORT1, PORT2]);
      const exp = path.join(work, 'expectations.txt');
      writeFileSync(
        exp,
        readFileSync(path.join(repo, 'test/scsi/conformance/mini-target.expectations.txt'), 'utf8') +
          readFileSync(path.join(repo, 'test/e2e/libiscsi/expectations.txt'), 'utf8'),
      );
      const urls = mt.ports.map((p) => `iscsi://127.0.0.1:${p}/${IQN}/1`);
      const tests = process.env.QCOW2_LIBISCSI_TESTS ?? 'ALL';
      const rc = await new Promise<number>((resolve) => {
        const p = spawn(path.join(repo, 'test/e2e/libiscsi/run.sh'), ['-e', exp, '-o', work, '-t', tests, ...urls], {
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        p.stdout.on('data', (d) => process.stdout.write(d));
        p.stderr.on('data', (d) => process.stderr.write(d));
        p.on('close', (code) => resolve(code ?? 1));
      });
      await mt.close();
      await store.close();
      expect(rc, `see ${work}/summary.txt`).toBe(0);
      const chk = spawnSync('qemu-img', ['check', image], { encoding: 'utf8' });
      expect(chk.stdout + chk.stderr).not.toMatch(/ERROR|Leaked/);
      expect(chk.status).toBe(0);
      if (tests === 'ALL') {
        const results = readFileSync(path.join(work, 'results.tsv'), 'utf8');
        const verdict = (name: string) => new RegExp(`^${name.replace(/\./g, '\\.')}\\t(\\w+)`, 'm').exec(results)?.[1];
        const names = results
          .split('\n')
          .map((l) => l.split('\t')[0]!)
          .filter((n) => /^(Unmap\.|GetLBAStatus\.|Inquiry\.BlockLimits|WriteSame1[06]\.Unmap)/.test(n) && !/Unaligned|InvalidDataOutSize/.test(n));
        expect(names.length).toBeGreaterThan(5);
        for (const n of names) expect(`${n} ${verdict(n)}`).toBe(`${n} PASS`);
      }
      rmSync(work, { recursive: true, force: true });
    },
    60 * 60 * 1000,
  );
});
