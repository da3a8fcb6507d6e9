/**
 * kill -9 of the real daemon under load (issue acceptance; the store-level
 * version is test/e2e/qcow2/crash.test.ts). One session writes 4 KiB blocks
 * at random places of a 128 MiB qcow2 LUN at queue depth 32 over iSCSI
 * (some with FUA, some UNMAPs of whole clusters), with SYNCHRONIZE CACHE
 * every 30-150 ms, and the daemon gets SIGKILL at a random moment
 * 0.3-2 s in, 20 times on the same LUN. After each kill:
 *   - `qemu-img check` of the image finds no errors (leaks are allowed);
 *   - the daemon starts again and brings the target back by itself (its
 *     desired state is running);
 *   - every block read over iSCSI (and identically by `qemu-img convert`)
 *     is a valid block for its LBA, never torn, never older than the last
 *     write or UNMAP acknowledged before a completed SYNCHRONIZE CACHE (or a
 *     write acknowledged with FUA), and zeros only where that is allowed.
 * After the last restart and a clean stop, `qemu-img check` finds no leaks:
 * every restart reclaimed the leaks of the kill before it.
 * Blocks are self-describing: "THINCR01", block number, sequence number, then
 * a stream derived from both. Sequence numbers grow; no two operations in
 * flight touch the same block, so per block the order is the sequence order.
 *
 * Env: THIN_CRASH_RUNS (default 20), THIN_CRASH_SEED (default random, printed).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { prng } from '../nodes/cluster.js';
import { BLOCK, createTarget, firstDiff, openSession, qemuCheck, qemuImg, startEnv, type Env, type Session } from './lib.js';

const RUNS = Number(process.env.THIN_CRASH_RUNS ?? 20);
const SEED = Number(process.env.THIN_CRASH_SEED ?? Math.floor(Math.random() * 2 ** 31));
const BS = 4096;
const SPB = BS / BLOCK; // 512-byte sectors per 4 KiB block
const SIZE = 128 * 1024 * 1024;
const NBLOCKS = SIZE / BS;
const CLUSTER_BLOCKS = 65536 / BS;
const QD = 32;
let env: Env;

beforeAll(async () => {
  env = await startEnv('crash');
});
afterAll(async () => {
  await env?.cleanup();
});

function block(blk: number, seq: number): Buffer {
  const b = Buffer.allocUnsafe(BS);
  b.write('THINCR01', 0, 'latin1');
  b.writeUInt32BE(blk, 8);
  b.writeUInt32BE(0, 12);
  b.writeBigUInt64BE(BigInt(seq), 16);
  let x = (Math.imul(blk, 2654435761) ^ Math.imul(seq, 40503) ^ 0x9e3779b9) >>> 0 || 1;
  for (let off = 24; off < BS; off += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b.writeUInt32BE(x >>> 0, off);
  }
  return b;
}

/** What a block must show: the newest flushed operation on it (a write or an UNMAP). */
interface Durable {
  seq: number;
  zero: boolean;
}

describe('daemon kill -9 during random writes over iSCSI', () => {
  it(`${RUNS} SIGKILLs at QD32 with periodic SYNCHRONIZE CACHE: qemu-img check clean, flushed data intact after restart`, async () => {
    console.log(`daemon-crash: seed ${SEED} (THIN_CRASH_SEED to replay)`);
    const rand = prng(SEED);
    const { iqn, port } = await createTarget(env, 'crash');
    await env.ok(['lun-add', '-t', iqn, '-l', '1', '-s', '128M']);
    await env.ok(['start', '-t', iqn]);
    const image = env.targetFile(iqn, 'lun-1.qcow2');

    const durable = new Map<number, Durable>();
    /** Every sequence number ever issued per block (writes; UNMAPs separately). */
    const issued = new Map<number, number[]>();
    const unmaps: Array<{ blk: number; n: number; seq: number }> = [];
    let seq = 1;
    let totalWrites = 0;
    let totalFlushes = 0;
    let totalFua = 0;
    let totalUnmaps = 0;
    let leaks = 0;
    const noteDurable = (blk: number, s: number, zero: boolean) => {
      const d = durable.get(blk);
      if (!d || d.seq < s) durable.set(blk, { seq: s, zero });
    };

    const validate = (data: Buffer, who: string): string[] => {
      const errors: string[] = [];
      const zero = Buffer.alloc(BS);
      for (let blk = 0; blk < NBLOCKS && errors.length < 10; blk++) {
        const b = data.subarray(blk * BS, (blk + 1) * BS);
        const d = durable.get(blk);
        if (b.equals(zero)) {
          const ok = !d || d.zero || unmaps.some((u) => u.seq > d.seq && u.blk <= blk && blk < u.blk + u.n);
          if (!ok) errors.push(`${who}: block ${blk} is zeros, but write ${d!.seq} was flushed`);
          continue;
        }
        if (b.toString('latin1', 0, 8) !== 'THINCR01') {
          errors.push(`${who}: block ${blk}: garbage ${b.subarray(0, 24).toString('hex')}`);
          continue;
        }
        const bblk = b.readUInt32BE(8);
        const bseq = Number(b.readBigUInt64BE(16));
        if (bblk !== blk) errors.push(`${who}: block ${blk} holds block ${bblk} (seq ${bseq})`);
        else if (!(issued.get(blk) ?? []).includes(bseq)) errors.push(`${who}: block ${blk}: seq ${bseq} was never written there`);
        else if (!b.equals(block(blk, bseq))) errors.push(`${who}: block ${blk}: torn block seq ${bseq}`);
        else if (d && (d.zero ? bseq <= d.seq : bseq < d.seq)) {
          errors.push(`${who}: block ${blk}: seq ${bseq} is older than the flushed ${d.zero ? 'UNMAP' : 'write'} ${d.seq}`);
        }
      }
      return errors;
    };

    const readAll = async (s: Session): Promise<Buffer> => {
      const out = Buffer.alloc(SIZE);
      const chunk = (1 << 20) / BLOCK;
      let next = 0;
      const worker = async () => {
        while (next < SIZE / BLOCK) {
          const lba = next;
          next += chunk;
          (await s.read(lba, chunk)).copy(out, lba * BLOCK);
        }
      };
      await Promise.all([worker(), worker(), worker(), worker()]);
      return out;
    };

    const timings: string[] = [];
    for (let run = 0; run < RUNS; run++) {
      const s = await openSession(port, iqn, 1);
      const writesAtStart = totalWrites;
      let stopped = false;
      let acked: Array<[number, number]> = [];
      const busy = new Set<number>();
      let inFlight = 0;
      let maxInFlight = 0;
      const pick = (n: number): number => {
        for (;;) {
          const b = Math.floor(rand() * (NBLOCKS / n)) * n;
          let free = true;
          for (let i = b; i < b + n && free; i++) free = !busy.has(i);
          if (free) return b;
        }
      };
      const worker = async () => {
        while (!stopped) {
          const unmap = rand() < 0.02;
          const n = unmap ? CLUSTER_BLOCKS : 1;
          const blk = pick(n);
          const mySeq = seq++;
          for (let i = blk; i < blk + n; i++) busy.add(i);
          inFlight++;
          maxInFlight = Math.max(maxInFlight, inFlight);
          try {
            if (unmap) {
              unmaps.push({ blk, n, seq: mySeq });
              await s.unmap([[blk * SPB, n * SPB]]);
              totalUnmaps++;
              for (let i = blk; i < blk + n; i++) acked.push([i, -mySeq]);
            } else {
              const fua = rand() < 0.05;
              let list = issued.get(blk);
              if (!list) issued.set(blk, (list = []));
              list.push(mySeq);
              await s.write(blk * SPB, block(blk, mySeq), fua);
              totalWrites++;
              if (fua) {
                totalFua++;
                noteDurable(blk, mySeq, false);
              } else acked.push([blk, mySeq]);
            }
          } catch (e) {
            if (!s.ini.closed) throw e;
            stopped = true;
          } finally {
            inFlight--;
            for (let i = blk; i < blk + n; i++) busy.delete(i);
          }
        }
      };
      const flusher = async () => {
        while (!stopped) {
          await new Promise((r) => setTimeout(r, 30 + rand() * 120));
          if (stopped) break;
          // Everything acknowledged before SYNCHRONIZE CACHE is sent is durable once it completes.
          const covered = acked;
          acked = [];
          try {
            await s.sync();
          } catch (e) {
            if (!s.ini.closed) throw e;
            stopped = true;
            break;
          }
          totalFlushes++;
          for (const [blk, sq] of covered) noteDurable(blk, Math.abs(sq), sq < 0);
        }
      };
      const work = Promise.all([...Array.from({ length: QD }, worker), flusher()]);
      const delay = 300 + rand() * 1700;
      await new Promise((r) => setTimeout(r, delay));
      await env.kill();
      await work;
      const writesInRun = totalWrites - writesAtStart;
      s.close();
      expect(maxInFlight, `run ${run}: commands in flight`).toBe(QD);

      const chk = await qemuCheck(image, true);
      leaks = chk.leaks;
      const raw = path.join(env.dir, 'crash.raw');
      const conv = await qemuImg(['convert', '-O', 'raw', image, raw]);
      expect(conv.code, conv.stderr).toBe(0);
      const viaQemu = fs.readFileSync(raw);
      fs.rmSync(raw);
      expect(validate(viaQemu, `run ${run} qemu-img`)).toEqual([]);

      const t0 = Date.now();
      await env.restart();
      await env.waitStatus(iqn, 'running');
      const back = Date.now() - t0;
      const v = await openSession(port, iqn, 1);
      const viaIscsi = await readAll(v);
      await v.close();
      expect(validate(viaIscsi, `run ${run} iSCSI`)).toEqual([]);
      expect(firstDiff(viaIscsi, viaQemu), `run ${run}: first byte where iSCSI and qemu-img differ`).toBe(-1);
      timings.push(`kill@${Math.round(delay)}ms after ${writesInRun} writes: ${leaks} leaked clusters, running again in ${back}ms`);
    }

    await env.ok(['stop', '-t', iqn]);
    await env.waitStatus(iqn, 'stopped');
    const final = await qemuCheck(image, true);
    // Each restart reclaimed the leaks of the kill before it (open marker, src/lun/qcow2/reclaim-leaks.ts).
    expect(final.leaks, 'leaked clusters after the restarts and a clean stop').toBe(0);
    expect(totalFlushes).toBeGreaterThan(RUNS);
    console.log(
      `daemon-crash: ${RUNS} kills, ${totalWrites} writes (${totalFua} FUA), ${totalUnmaps} UNMAPs, ${totalFlushes} flushes; ` +
        `${durable.size} blocks with flushed state checked; leaked clusters after a clean stop ${final.leaks}\n  ${timings.join('\n  ')}`,
    );
  });
});
