/**
 * kill -9 consistency of the qcow2 store (DESIGN.md §6, issue 3 acceptance):
 * a child process writes 4 KiB random blocks at queue depth 32 into one
 * image (with discards, FUA writes and flushes) and is killed with SIGKILL
 * at a random moment, 20 times in a row on the same image. After each kill:
 *   - `qemu-img check` finds no errors (leaked clusters are allowed);
 *   - every block reads back (through our store, and identically through
 *     `qemu-img convert`) as a valid block for its LBA, never torn, never
 *     older than the last write or discard acknowledged before a completed
 *     flush (or a FUA write), and as zeros only when a discard allows it.
 * Each writer's read-write open reclaims the leaks of the kill before it;
 * after the last kill, an open and a clean close leave no leaks at all.
 *
 * The store is compiled privately (tsc into a temp dir), so dist/ is not
 * touched. Run: npx vitest run --config vitest.e2e.config.ts test/e2e/qcow2
 * Env: QCOW2_CRASH_RUNS (default 20), QCOW2_CRASH_DIR (default the OS temp dir).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '../../..');
const RUNS = Number(process.env.QCOW2_CRASH_RUNS ?? 20);
const BS = 4096;
const SIZE = 64 * 1024 * 1024;
let work: string;
let storeModule: string;

function haveQemuImg(): boolean {
  if (spawnSync('qemu-img', ['--version'], { stdio: 'ignore' }).status === 0) return true;
  spawnSync('bash', [path.join(ROOT, 'test/e2e/lib/install-deps.sh')], { stdio: 'inherit' });
  return spawnSync('qemu-img', ['--version'], { stdio: 'ignore' }).status === 0;
}

beforeAll(() => {
  work = fs.mkdtempSync(path.join(process.env.QCOW2_CRASH_DIR ?? os.tmpdir(), 'qcow2-crash-'));
  const out = path.join(work, 'build');
  // Emit even if unrelated files in the shared tree have type errors.
  spawnSync(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', path.join(ROOT, 'tsconfig.json'), '--outDir', out], {
    stdio: 'ignore',
  });
  fs.writeFileSync(path.join(out, 'package.json'), '{"type":"module"}\n');
  storeModule = path.join(out, 'src/lun/qcow2/index.js');
  if (!fs.existsSync(storeModule)) throw new Error(`build failed: ${storeModule} missing`);
});
afterAll(() => {
  if (!process.env.E2E_KEEP) fs.rmSync(work, { recursive: true, force: true });
});

/** Same contents as crash-writer.mjs's block(): "QCRASH01", lba, seq, xorshift stream. */
function expectedBlock(lba: number, seq: number): Buffer {
  const b = Buffer.allocUnsafe(BS);
  b.write('QCRASH01', 0, 'latin1');
  b.writeBigUInt64BE(BigInt(lba), 8);
  b.writeBigUInt64BE(BigInt(seq), 16);
  let x = (lba * 2654435761 + seq * 40503 + 1) >>> 0 || 1;
  for (let off = 24; off < BS; off += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b.writeUInt32BE(x >>> 0, off);
  }
  return b;
}

interface Flushed {
  seq: number;
  zero: boolean;
}

describe.skipIf(!haveQemuImg())('qcow2 store: kill -9 at random moments', () => {
  it(`${RUNS} SIGKILLs during 4 KiB random writes at QD32 leave a consistent image with all flushed data`, async () => {
    const image = path.join(work, 'crash.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', image, String(SIZE)]);
    const flushed = new Map<number, Flushed>();
    const discards: Array<{ lba: number; n: number; seq: number }> = [];
    let nextSeq = 1;
    let totalFlushes = 0;
    let totalLeaks = 0;
    const rand = (() => {
      let s = 12345;
      return () => ((s = (s * 1103515245 + 12345) >>> 0) / 4294967296);
    })();

    const note = (lba: number, seq: number, zero: boolean) => {
      const f = flushed.get(lba);
      if (!f || f.seq < seq) flushed.set(lba, { seq, zero });
    };

    for (let run = 0; run < RUNS; run++) {
      const firstSeq = nextSeq;
      const child = spawn(process.execPath, [path.join(import.meta.dirname, 'crash-writer.mjs'), storeModule, image, String(run + 1), String(firstSeq)], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let buf = '';
      let stderr = '';
      let ready!: () => void;
      const readyP = new Promise<void>((r) => (ready = r));
      let maxSeq = firstSeq;
      child.stderr.on('data', (d) => (stderr += String(d)));
      child.stdout.on('data', (d) => {
        buf += String(d);
        let nl;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (line === 'READY') ready();
          else if (line.startsWith('D ')) {
            const [, a, n, s] = line.split(' ');
            discards.push({ lba: Number(a), n: Number(n), seq: Number(s) });
            maxSeq = Math.max(maxSeq, Number(s));
          } else if (line.startsWith('U ')) {
            const [, a, s] = line.split(' ');
            note(Number(a), Number(s), false);
            maxSeq = Math.max(maxSeq, Number(s));
          } else if (line.startsWith('F ')) {
            totalFlushes++;
            const [w, d] = line.slice(2).split('|');
            for (const t of w!.trim().split(' ').filter(Boolean)) {
              const [a, s] = t.split(':').map(Number);
              note(a!, s!, false);
              maxSeq = Math.max(maxSeq, s!);
            }
            for (const t of d!.trim().split(' ').filter(Boolean)) {
              const [a, n, s] = t.split(':').map(Number);
              for (let l = a!; l < a! + n!; l++) note(l, s!, true);
            }
          }
        }
      });
      const exited = new Promise<void>((r) => child.on('close', () => r())); // after stdout is drained
      await Promise.race([readyP, exited]);
      expect(stderr).toBe('');
      await new Promise((r) => setTimeout(r, 150 + rand() * 1200));
      child.kill('SIGKILL');
      await exited;
      expect(stderr).toBe('');
      // Sequence numbers of the next run start above anything this run could have issued.
      nextSeq = maxSeq + 10_000_000;

      const chk = spawnSync('qemu-img', ['check', '--output=json', image], { encoding: 'utf8' });
      const res = JSON.parse(chk.stdout || '{}') as Record<string, number>;
      expect(chk.stderr, `run ${run}: qemu-img check`).not.toMatch(/ERROR/);
      expect([0, 3], `run ${run}: qemu-img check exit ${chk.status}: ${chk.stderr}`).toContain(chk.status);
      expect(res['corruptions'] ?? 0).toBe(0);
      expect(res['check-errors'] ?? 0).toBe(0);
      totalLeaks = res['leaks'] ?? 0;

      // Read every block through our store and through qemu-img; they must agree and be valid.
      const { openQcow2Store } = (await import(storeModule)) as typeof import('../../../src/lun/qcow2/index.js');
      const s = await openQcow2Store(image, { readOnly: true });
      const data = Buffer.alloc(SIZE);
      await s.read(data, 0);
      await s.close();
      const raw = path.join(work, 'out.raw');
      execFileSync('qemu-img', ['convert', '-O', 'raw', image, raw]);
      expect(fs.readFileSync(raw).equals(data), `run ${run}: qemu-img convert differs from our read`).toBe(true);
      fs.rmSync(raw);

      const zero = Buffer.alloc(BS);
      const errors: string[] = [];
      for (let lba = 0; lba < SIZE / BS && errors.length < 10; lba++) {
        const b = data.subarray(lba * BS, (lba + 1) * BS);
        const f = flushed.get(lba);
        if (b.equals(zero)) {
          const ok = !f || f.zero || discards.some((d) => d.seq > f.seq && d.lba <= lba && lba < d.lba + d.n);
          if (!ok) errors.push(`lba ${lba}: zeros, but write ${f!.seq} was flushed`);
          continue;
        }
        if (b.toString('latin1', 0, 8) !== 'QCRASH01') {
          errors.push(`lba ${lba}: garbage ${b.subarray(0, 16).toString('hex')}`);
          continue;
        }
        const blba = Number(b.readBigUInt64BE(8));
        const bseq = Number(b.readBigUInt64BE(16));
        if (blba !== lba) errors.push(`lba ${lba}: holds the block of lba ${blba} (seq ${bseq})`);
        else if (!b.equals(expectedBlock(lba, bseq))) errors.push(`lba ${lba}: torn block seq ${bseq}`);
        else if (f && (f.zero ? bseq <= f.seq : bseq < f.seq)) {
          errors.push(`lba ${lba}: seq ${bseq} is older than the flushed ${f.zero ? 'discard' : 'write'} ${f.seq}`);
        }
      }
      expect(errors, `run ${run}`).toEqual([]);
    }
    expect(totalFlushes).toBeGreaterThan(RUNS);

    // The image was not closed cleanly: a read-write open reclaims the leaks (each writer's open
    // already reclaimed those of the kill before it), the data stays, and a clean close leaves none.
    const rawBefore = path.join(work, 'before.raw');
    const rawAfter = path.join(work, 'after.raw');
    execFileSync('qemu-img', ['convert', '-O', 'raw', image, rawBefore]);
    const { openQcow2Store } = (await import(storeModule)) as typeof import('../../../src/lun/qcow2/index.js');
    const s = await openQcow2Store(image);
    const report = s.lastOpenReport;
    expect(report?.leakedClusters, 'leaks reclaimed at the open (qemu-img counts those inside the file)').toBeGreaterThanOrEqual(totalLeaks);
    await s.close();
    const chk = spawnSync('qemu-img', ['check', '--output=json', image], { encoding: 'utf8' });
    expect(chk.status, `qemu-img check after a clean close: ${chk.stdout}${chk.stderr}`).toBe(0);
    expect((JSON.parse(chk.stdout) as Record<string, number>)['leaks'] ?? 0).toBe(0);
    execFileSync('qemu-img', ['convert', '-O', 'raw', image, rawAfter]);
    expect(fs.readFileSync(rawAfter).equals(fs.readFileSync(rawBefore)), 'data unchanged by the reclamation').toBe(true);
    console.log(
      `qcow2 crash test: ${RUNS} kills, ${totalFlushes} flushes verified, ${flushed.size} flushed blocks, ${totalLeaks} leaked clusters ` +
        `after the last kill, reclaimed at the next open (${report?.reclaimedBytes} bytes in ${report?.durationMs} ms): 0 after a clean close`,
    );
  });
});
