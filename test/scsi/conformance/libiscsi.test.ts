/**
 * libiscsi conformance (iscsi-test-cu -d -v -t ALL) against the SCSI layer
 * through the test-only mini target, with the project's expectations
 * (test/e2e/libiscsi/expectations.txt) plus mini-target.expectations.txt for
 * what the mini transport does not do. Slow (about a minute): runs only with
 * SCSI_LIBISCSI=1, e.g.
 *   SCSI_LIBISCSI=1 npx vitest run test/scsi/conformance
 * Optional: SCSI_LIBISCSI_TESTS=ALL.Read10 (filter), SCSI_LIBISCSI_BS=4096.
 *
 * A second run exports a 512-byte LUN with 4 KiB physical blocks (LBPPB 8,
 * "512e") and runs only the WRITE SAME suites: the LBPPB > 1 tests
 * (WriteSame*.UnmapUnaligned, WriteSame*.InvalidDataOutSize) must PASS
 * there. They cannot run in the full suite: with LBPPB > 1 libiscsi 1.19
 * corrupts the rest of its own run (see mini-target.expectations.txt).
 * A third run, on the same kind of LUN, runs CompareAndWrite.InvalidDataOutSize
 * alone (the test that leaves its CDB-rewriting hook installed), which must
 * PASS.
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
const SIZE = 128 * 1024 * 1024;

async function runLibiscsi(dev: ScsiTargetDevice, tests: string, expectations: string): Promise<{ rc: number; dir: string }> {
  const mt = await startMiniTarget(dev, IQN, [PORT1, PORT2]);
  const dir = mkdtempSync(path.join(tmpdir(), 'scsi-libiscsi-'));
  const exp = path.join(dir, 'expectations.txt');
  writeFileSync(exp, expectations);
  const urls = mt.ports.map((p) => `iscsi://127.0.0.1:${p}/${IQN}/1`);
  const args = ['-e', exp, '-o', dir, '-t', tests, ...urls];
  const rc = await new Promise<number>((resolve) => {
    const p = spawn(path.join(repo, 'test/e2e/libiscsi/run.sh'), args, { stdio: ['ignore', 'pipe', 'pipe'] });
    p.stdout.on('data', (d) => process.stdout.write(d));
    p.stderr.on('data', (d) => process.stderr.write(d));
    p.on('close', (code) => resolve(code ?? 1));
  });
  await mt.close();
  return { rc, dir };
}

const projectExpectations = (): string => readFileSync(path.join(repo, 'test/e2e/libiscsi/expectations.txt'), 'utf8');

/** LUN 1: 512-byte logical blocks on 4 KiB physical blocks (LBPPB 8, "512e"). */
const device512e = (): ScsiTargetDevice =>
  new ScsiTargetDevice({
    targetIqn: IQN,
    luns: [lunDef(1, SIZE, 512, new MemoryStore(SIZE))],
    ports: [PORT1, PORT2],
    physicalBlockBytes: 4096,
  });

describe.skipIf(!enabled)('libiscsi iscsi-test-cu through the mini target', () => {
  it(
    'meets the expectations',
    async () => {
      const bs = Number(process.env.SCSI_LIBISCSI_BS ?? 512);
      const dev = new ScsiTargetDevice({ targetIqn: IQN, luns: [lunDef(1, SIZE, bs, new MemoryStore(SIZE))], ports: [PORT1, PORT2] });
      const mini = readFileSync(path.join(here, 'mini-target.expectations.txt'), 'utf8');
      const { rc, dir } = await runLibiscsi(dev, process.env.SCSI_LIBISCSI_TESTS ?? 'ALL', mini + projectExpectations());
      expect(rc, `see ${dir}/summary.txt`).toBe(0);
    },
    60 * 60 * 1000,
  );

  it(
    'passes the LBPPB > 1 WRITE SAME tests on a 512-byte LUN with 4 KiB physical blocks',
    async () => {
      const dev = device512e();
      // Only the project's expectations: no mini-target allowance applies to these suites.
      const { rc, dir } = await runLibiscsi(dev, 'ALL.WriteSame1*', projectExpectations());
      expect(rc, `see ${dir}/summary.txt`).toBe(0);
      const results = readFileSync(path.join(dir, 'results.tsv'), 'utf8');
      for (const t of ['WriteSame10.UnmapUnaligned', 'WriteSame16.UnmapUnaligned', 'WriteSame10.InvalidDataOutSize', 'WriteSame16.InvalidDataOutSize']) {
        expect(results).toMatch(new RegExp(`^${t.replace('.', '\\.')}\\tPASS`, 'm'));
      }
    },
    10 * 60 * 1000,
  );

  it(
    'passes CompareAndWrite.InvalidDataOutSize (LBPPB > 1 only) on a 512e LUN, run alone',
    async () => {
      const dev = device512e();
      // libiscsi 1.19 never removes the hook this test installs: nothing may run after it in the same process.
      const { rc, dir } = await runLibiscsi(dev, 'ALL.CompareAndWrite.InvalidDataOutSize', projectExpectations());
      expect(rc, `see ${dir}/summary.txt`).toBe(0);
      const results = readFileSync(path.join(dir, 'results.tsv'), 'utf8');
      expect(results).toMatch(/^CompareAndWrite\.InvalidDataOutSize\tPASS/m);
    },
    10 * 60 * 1000,
  );
});
