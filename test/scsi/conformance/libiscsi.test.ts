/**
 * libiscsi conformance (iscsi-test-cu -d -v -t ALL) against the SCSI layer
 * through the test-only mini target, with the project's expectations
 * (test/e2e/libiscsi/expectations.txt) plus mini-target.expectations.txt for
 * what the mini transport does not do. Slow (minutes): runs only with
 * SCSI_LIBISCSI=1, e.g.
 *   SCSI_LIBISCSI=1 npx vitest run test/scsi/conformance
 * Optional: SCSI_LIBISCSI_TESTS=ALL.Read10 (filter), SCSI_LIBISCSI_BS=4096.
 */
import { describe, expect, it } from 'vitest';
import { spawnSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MemoryStore } from '../../../src/lun/memory-store.js';
import { ScsiTargetDevice } from '../../../src/scsi/scsi-target-device.js';
import { startMiniTarget } from './mini-target.js';
import { IQN, PORT1, PORT2, lunDef } from '../helpers.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../../..');
const enabled = process.env.SCSI_LIBISCSI === '1' && spawnSync('which', ['iscsi-test-cu']).status === 0;

describe.skipIf(!enabled)('libiscsi iscsi-test-cu through the mini target', () => {
  it(
    'meets the expectations',
    async () => {
      const bs = Number(process.env.SCSI_LIBISCSI_BS ?? 512);
      const size = 128 * 1024 * 1024;
      const dev = new ScsiTargetDevice({ targetIqn: IQN, luns: [lunDef(1, size, bs, new MemoryStore(size))], ports: [PORT1, PORT2] });
      const mt = await startMiniTarget(dev, IQN, [PORT1, PORT2]);
      const dir = mkdtempSync(path.join(tmpdir(), 'scsi-libiscsi-'));
      const exp = path.join(dir, 'expectations.txt');
      writeFileSync(
        exp,
        readFileSync(path.join(here, 'mini-target.expectations.txt'), 'utf8') +
          readFileSync(path.join(repo, 'test/e2e/libiscsi/expectations.txt'), 'utf8'),
      );
      const urls = mt.ports.map((p) => `iscsi://127.0.0.1:${p}/${IQN}/1`);
      const args = ['-e', exp, '-o', dir, '-t', process.env.SCSI_LIBISCSI_TESTS ?? 'ALL', ...urls];
      const rc = await new Promise<number>((resolve) => {
        const p = spawn(path.join(repo, 'test/e2e/libiscsi/run.sh'), args, { stdio: ['ignore', 'pipe', 'pipe'] });
        p.stdout.on('data', (d) => process.stdout.write(d));
        p.stderr.on('data', (d) => process.stderr.write(d));
        p.on('close', (code) => resolve(code ?? 1));
      });
      await mt.close();
      expect(rc, `see ${dir}/summary.txt`).toBe(0);
    },
    60 * 60 * 1000,
  );
});
