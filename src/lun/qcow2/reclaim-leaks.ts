/**
 * Leak reclamation after an unclean close (open-marker.ts).
 *
 * Our metadata ordering (DESIGN.md §6, refcounts.ts) guarantees that after a
 * crash the refcounts in the file are never lower than the references in the
 * file: at worst clusters are leaked (refcount > 0, nothing references them,
 * or fewer references than the refcount says). This walks every piece of
 * metadata of one image file (qcow2 spec, "Host cluster management"):
 *
 *   the header cluster (header, extensions, backing file name), the L1
 *   table, every L2 table and the clusters its entries use (data,
 *   preallocated zero clusters, every cluster a compressed descriptor's
 *   span touches), the refcount table and every refcount block,
 *
 * counts the references of every host cluster, and compares them with the
 * stored refcounts. Stored > expected is a leak and is lowered to the
 * expected value; clusters that reach 0 have their file space punched.
 * Stored < expected is corruption (a cluster could be handed out twice):
 * nothing is changed and the open fails with ISCSI_ERR_BAD_IMAGE, because
 * serving such an image for writing could overwrite live data, and a LUN
 * that silently turned read-only would be a surprise too. The image can
 * still be opened read-only, or repaired with `qemu-img check -r all`.
 *
 * Images with internal snapshots (their own L1/L2 tables and snapshot table)
 * never open for writing, so never reach this. Images with a consistent
 * bitmaps extension (autoclear bit 0 set: written by QEMU since our last
 * write) are skipped, leaving their leaks in place, because bitmap
 * directories and tables are not walked. Once the bit is clear (our first
 * read-write open clears it, as the spec requires), the extension must be
 * ignored and its clusters are leaks to QEMU too, so they are reclaimed.
 *
 * Crash safety: only refcounts of clusters that the file does not reference
 * (or references less often) are lowered, so any prefix of our writes leaves
 * a valid image. Refcount blocks are written, then fdatasync; then, where a
 * cluster's refcount became exactly one, the COPIED flag of its single
 * L1/L2 reference is set (qemu-img check requires flag and refcount to
 * agree; an entry without the flag is merely copied on write by us), then
 * fdatasync; then freed clusters are punched (largest runs first, for at
 * most about two seconds: scattered 4 KiB clusters can make tens of
 * thousands of runs, and each costs a util-linux fallocate process).
 */
import { StoreError } from '../raw-store.js';
import {
  entryOffset,
  HI_COMPRESSED,
  HI_COPIED,
  refcountByteRange,
  refcountGet,
  refcountSet,
  TWO32,
  type Qcow2Header,
} from './format.js';
import { pFdatasync, pFstat, pRead, punchRanges, pWrite } from './io.js';

/** Header extension type of persistent dirty bitmaps (qcow2 spec, "Bitmaps extension"). */
export const EXT_BITMAPS = 0x23852875;
/** autoclear_features bit 0: the bitmaps extension is consistent (else it must be ignored, as QEMU does). */
const AUTOCLEAR_BITMAPS = 1n;

export interface LeakReport {
  /** Clusters whose refcount was higher than their references (qemu-img check's "leaked clusters"). */
  leakedClusters: number;
  /** Of those, clusters that now have refcount 0 (their space is free for re-use and punched). */
  freedClusters: number;
  /** Bytes of freed clusters inside the file (punched unless punching is off or unavailable). */
  reclaimedBytes: number;
  /** True when file space was punched (punchHoles 'auto' and util-linux fallocate works). */
  punched: boolean;
  /**
   * File bytes punched: runs of free clusters around the freed ones, largest first, within the
   * time budget (the rest stay allocated in the file system until re-used).
   */
  punchedBytes: number;
  /** Host clusters whose references were counted (file size in clusters, at least). */
  scannedClusters: number;
  durationMs: number;
  /** Set when the walk did not run (e.g. 'bitmaps extension present'); nothing was changed. */
  skipped?: string;
}

export interface ReclaimOptions {
  /** 'off': free clusters for re-use but do not punch them. */
  punchHoles?: 'auto' | 'off';
  fallocateCommand?: string;
  /** Time the open may spend punching freed space (default 2000 ms; one fallocate process per run of clusters). */
  punchBudgetMs?: number;
  /** Only compute the report (and throw on corruption); change nothing. */
  dryRun?: boolean;
}

const READ_PARALLEL = 32;
const PUNCH_PARALLEL = 4;
const PUNCH_BATCH = 64;

/** Run `fn` over `items` with at most `n` in flight. */
async function pool<T>(items: T[], n: number, fn: (x: T) => Promise<void>): Promise<void> {
  let i = 0;
  const worker = async () => {
    while (i < items.length) await fn(items[i++]!);
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
}

/**
 * Walk the metadata of the image open on `fd` (header `h`, already checked
 * for supported features) and reclaim leaked clusters. Must run before a
 * store caches any L1/L2/refcount data of this file, with no other writer.
 */
export async function reclaimLeaks(fd: number, file: string, h: Qcow2Header, opts: ReclaimOptions = {}): Promise<LeakReport> {
  const t0 = performance.now();
  const cs = 2 ** h.clusterBits;
  const st = await pFstat(fd);
  const fileClusters = Math.ceil(st.size / cs);
  const report: LeakReport = {
    leakedClusters: 0,
    freedClusters: 0,
    reclaimedBytes: 0,
    punched: false,
    punchedBytes: 0,
    scannedClusters: fileClusters,
    durationMs: 0,
  };
  const done = () => {
    report.durationMs = Math.round(performance.now() - t0);
    return report;
  };
  const bad = (msg: string) =>
    new StoreError(
      'ISCSI_ERR_BAD_IMAGE',
      `${file}: ${msg}; the image was not changed and is not opened for writing ` +
        `(it opens read-only; check it with 'qemu-img check ${file}', repair with 'qemu-img check -r all ${file}')`,
    );
  if (h.nbSnapshots > 0) {
    throw new StoreError('ISCSI_ERR_UNSUPPORTED_IMAGE', `${file}: leak reclamation does not handle internal snapshots`);
  }
  if ((h.autoclearFeatures & AUTOCLEAR_BITMAPS) !== 0n && h.extensions.some((e) => e.type === EXT_BITMAPS)) {
    report.skipped = 'consistent bitmaps extension present';
    return done();
  }

  // ---- expected refcounts ----
  let expected = new Uint16Array(Math.max(fileClusters, 1));
  const inc = (c: number, what: string) => {
    if (c >= expected.length) {
      const n = new Uint16Array(Math.max(c + 1, expected.length * 2));
      n.set(expected);
      expected = n;
    }
    if (expected[c] === 0xffff) throw bad(`cluster ${c} is referenced too often (${what})`);
    expected[c]!++;
  };
  const incRange = (off: number, len: number, what: string) => {
    for (let c = Math.floor(off / cs); c <= Math.floor((off + len - 1) / cs); c++) inc(c, what);
  };
  /** Entries (file offsets) without COPIED that are the reference of a cluster, for clusters that may end at refcount 1. */
  const uncopied = new Map<number, number>();

  incRange(0, cs, 'header');

  // L1 table and L2 tables.
  const l1Bytes = h.l1Size * 8;
  const l1 = Buffer.alloc(l1Bytes);
  if (l1Bytes > 0) {
    await pRead(fd, l1, 0, l1Bytes, h.l1TableOffset);
    incRange(h.l1TableOffset, l1Bytes, 'L1 table');
  }
  const l2s: Array<{ host: number }> = [];
  for (let i = 0; i < h.l1Size; i++) {
    const hi = l1.readUInt32BE(i * 8);
    const lo = l1.readUInt32BE(i * 8 + 4);
    const host = entryOffset(hi, lo);
    if (host === 0) continue;
    if (host % cs !== 0) throw bad(`L1 entry ${i} points to unaligned offset ${host}`);
    inc(host / cs, `L2 table of L1 entry ${i}`);
    if ((hi & HI_COPIED) === 0) uncopied.set(host / cs, h.l1TableOffset + i * 8);
    l2s.push({ host });
  }
  const hb = 62 - (h.clusterBits - 8) - 32; // compressed descriptor: offset bits in the high word
  await pool(l2s, READ_PARALLEL, async ({ host }) => {
    const t = Buffer.allocUnsafe(cs);
    await pRead(fd, t, 0, cs, host);
    for (let e = 0; e < cs; e += 8) {
      const hi = t.readUInt32BE(e);
      const lo = t.readUInt32BE(e + 4);
      if (hi === 0 && lo === 0) continue;
      if ((hi & HI_COMPRESSED) !== 0) {
        // qcow2 spec, "Compressed Clusters Descriptor": every cluster of [offset & ~511, + (n+1)*512).
        const off = (hi & ((1 << hb) - 1)) * TWO32 + lo;
        const nb = (hi & 0x3fffffff) >>> hb;
        const start = off - (off % 512);
        incRange(start, (nb + 1) * 512, `compressed cluster in L2 table at ${host}`);
        continue;
      }
      const d = entryOffset(hi, lo);
      if (d === 0) continue; // unallocated, or a zero cluster without a host cluster
      if (d % cs !== 0) throw bad(`L2 table at ${host} entry ${e / 8} points to unaligned offset ${d}`);
      inc(d / cs, `data cluster in L2 table at ${host}`);
      if ((hi & HI_COPIED) === 0) uncopied.set(d / cs, host + e);
    }
  });

  // Refcount table and blocks.
  const rtBytes = h.refcountTableClusters * cs;
  const rt = Buffer.alloc(rtBytes);
  await pRead(fd, rt, 0, rtBytes, h.refcountTableOffset);
  incRange(h.refcountTableOffset, rtBytes, 'refcount table');
  const E = (cs * 8) / 2 ** h.refcountOrder;
  const rtEntries = rtBytes / 8;
  const blockHost = (k: number) => (k < rtEntries ? entryOffset(rt.readUInt32BE(k * 8), rt.readUInt32BE(k * 8 + 4)) : 0);
  for (let k = 0; k < rtEntries; k++) {
    const b = blockHost(k);
    if (b === 0) continue;
    if (b % cs !== 0) throw bad(`refcount table entry ${k} points to unaligned offset ${b}`);
    inc(b / cs, `refcount block ${k}`);
  }
  report.scannedClusters = Math.max(fileClusters, expected.length);

  // ---- compare with stored refcounts ----
  let corrupt = 0;
  let firstCorrupt = '';
  const noteCorrupt = (c: number, stored: number, exp: number) => {
    if (corrupt++ === 0) firstCorrupt = `cluster ${c} (offset ${c * cs}) has refcount ${stored} but ${exp} reference(s)`;
  };
  // Referenced clusters outside any refcount block have refcount 0.
  for (let c = 0; c < expected.length; c++) {
    if (expected[c] !== 0 && blockHost(Math.floor(c / E)) === 0) noteCorrupt(c, 0, expected[c]!);
  }
  const changed: Array<{ host: number; buf: Buffer; lo: number; hi: number }> = [];
  const freed: number[] = [];
  /** Clusters inside the file whose refcount is (or becomes) 0: punching them is harmless, so runs of freed clusters extend over them. */
  const free = new Uint8Array(fileClusters).fill(1);
  const nowOne: number[] = [];
  const order = h.refcountOrder;
  const blocks: number[] = [];
  for (let k = 0; k < rtEntries; k++) if (blockHost(k) !== 0) blocks.push(k);
  await pool(blocks, READ_PARALLEL, async (k) => {
    const host = blockHost(k);
    const buf = Buffer.allocUnsafe(cs);
    await pRead(fd, buf, 0, cs, host);
    let lo = -1;
    let hi = 0;
    for (let i = 0; i < E; i++) {
      const c = k * E + i;
      const stored = refcountGet(buf, i, order);
      const exp = c < expected.length ? expected[c]! : 0;
      if (c < fileClusters && stored !== 0 && exp !== 0) free[c] = 0;
      if (stored === exp) continue;
      if (stored < exp) {
        noteCorrupt(c, stored, exp);
        continue;
      }
      report.leakedClusters++;
      refcountSet(buf, i, order, exp);
      const [a, b] = refcountByteRange(i, order);
      if (lo < 0 || a < lo) lo = a;
      if (b > hi) hi = b;
      if (exp === 0) freed.push(c);
      else if (exp === 1 && uncopied.has(c)) nowOne.push(c);
    }
    if (lo >= 0) changed.push({ host, buf, lo: lo - (lo % 512), hi: Math.min(cs, Math.ceil(hi / 512) * 512) });
  });
  if (corrupt > 0) throw bad(`${corrupt} cluster(s) have a refcount lower than their references (first: ${firstCorrupt})`);
  freed.sort((a, b) => a - b);
  report.freedClusters = freed.length;
  report.reclaimedBytes = freed.filter((c) => c < fileClusters).length * cs;
  if (opts.dryRun || report.leakedClusters === 0) return done();

  // ---- write: refcounts down (safe in any prefix), barrier, COPIED flags, barrier, punch ----
  await Promise.all(changed.map((b) => pWrite(fd, b.buf, b.lo, b.hi - b.lo, b.host + b.lo)));
  await pFdatasync(fd);
  if (nowOne.length > 0) {
    const e = Buffer.alloc(8);
    for (const c of nowOne) {
      const at = uncopied.get(c)!;
      await pRead(fd, e, 0, 8, at);
      e.writeUInt32BE((e.readUInt32BE(0) | HI_COPIED) >>> 0, 0);
      await pWrite(fd, e, 0, 8, at);
    }
    await pFdatasync(fd);
  }
  // Punch maximal runs of free clusters that contain a freed one (one fallocate per run; several helpers at once).
  const ranges: Array<[number, number]> = [];
  for (const c of freed) {
    if (c >= fileClusters) break;
    const last = ranges[ranges.length - 1];
    if (last && last[0] + last[1] > c * cs) continue; // inside the run already
    let a = c;
    while (a > 0 && free[a - 1] === 1) a--;
    let b = c + 1;
    while (b < fileClusters && free[b] === 1) b++;
    ranges.push([a * cs, (b - a) * cs]);
  }
  if (ranges.length > 0 && opts.punchHoles !== 'off') {
    // Largest runs first, within a time budget: each run costs a fallocate process, and the open waits.
    // Runs left over stay allocated in the file system but are free in the image (first-fit re-uses them).
    ranges.sort((x, y) => y[1] - x[1]);
    const budget = opts.punchBudgetMs ?? 2000;
    const tp = performance.now();
    let ok = true;
    for (let i = 0; i < ranges.length && ok; i += PUNCH_PARALLEL * PUNCH_BATCH) {
      if (i > 0 && performance.now() - tp > budget) break;
      const parts: Array<Array<[number, number]>> = [];
      for (let j = i; j < Math.min(ranges.length, i + PUNCH_PARALLEL * PUNCH_BATCH); j += PUNCH_BATCH) {
        parts.push(ranges.slice(j, Math.min(j + PUNCH_BATCH, i + PUNCH_PARALLEL * PUNCH_BATCH, ranges.length)));
      }
      const res = await Promise.all(parts.map((p) => punchRanges(fd, p, opts.fallocateCommand ?? 'fallocate')));
      ok = res.every(Boolean);
      if (ok) for (const p of parts) for (const [a, l] of p) report.punchedBytes += Math.min(l, Math.max(0, st.size - a));
    }
    report.punched = ok && report.punchedBytes > 0;
  }
  return done();
}
