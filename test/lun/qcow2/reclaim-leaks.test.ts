/**
 * Leak reclamation after an unclean close (src/lun/qcow2/reclaim-leaks.ts,
 * open-marker.ts), on real files checked with qemu-img:
 *   - leaks left by a crash after UNMAP (a crash-consistent copy of a live
 *     image) are reclaimed at the next read-write open: qemu-img check finds
 *     none, data reads back identical, the file's allocation drops;
 *   - over-counted clusters are lowered (and COPIED set where the count becomes 1);
 *   - compressed cluster spans are counted (qemu-img convert -c images);
 *   - a cleanly closed image is not walked; read-only opens ignore markers;
 *   - a referenced cluster with refcount 0 (corruption) is never "repaired":
 *     the read-write open fails and the file is unchanged.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {
  createQcow2Store,
  openMarkerPath,
  openQcow2Store,
  readQcow2Header,
  type LeakReport,
} from '../../../src/lun/qcow2/index.js';
import { refcountGet, refcountSet, entryOffset } from '../../../src/lun/qcow2/format.js';
import { StoreError } from '../../../src/lun/raw-store.js';
import { haveQemuImg, qemuCheck, qemuImg, randomBytes, rng, tmpDir } from './helpers.js';

const MiB = 1 << 20;
const qemu = haveQemuImg();
let dir: string;

beforeAll(() => {
  dir = tmpDir('qcow2-leaks-');
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function rawOf(file: string): Buffer {
  const out = path.join(dir, `${path.basename(file)}.raw`);
  execFileSync('qemu-img', ['convert', '-O', 'raw', file, out]);
  const b = fs.readFileSync(out);
  fs.rmSync(out);
  return b;
}

const sha = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');
const allocated = (file: string) => fs.statSync(file).blocks * 512;

/** Refcount of host cluster c, read from the file. */
async function getRefcount(file: string, c: number): Promise<number> {
  const { blockHost, i, order, cs } = await rcLoc(file, c);
  if (blockHost === 0) return 0;
  const b = Buffer.alloc(cs);
  const fd = fs.openSync(file, 'r');
  fs.readSync(fd, b, 0, cs, blockHost);
  fs.closeSync(fd);
  return refcountGet(b, i, order);
}

/** Set the refcount of host cluster c directly in the file (its refcount block must exist). */
async function setRefcount(file: string, c: number, v: number): Promise<void> {
  const { blockHost, i, order, cs } = await rcLoc(file, c);
  expect(blockHost).not.toBe(0);
  const b = Buffer.alloc(cs);
  const fd = fs.openSync(file, 'r+');
  fs.readSync(fd, b, 0, cs, blockHost);
  refcountSet(b, i, order, v);
  fs.writeSync(fd, b, 0, cs, blockHost);
  fs.closeSync(fd);
}

async function rcLoc(file: string, c: number) {
  const h = await readQcow2Header(file);
  const cs = 2 ** h.clusterBits;
  const E = (cs * 8) / 2 ** h.refcountOrder;
  const k = Math.floor(c / E);
  const e = Buffer.alloc(8);
  const fd = fs.openSync(file, 'r');
  fs.readSync(fd, e, 0, 8, h.refcountTableOffset + k * 8);
  fs.closeSync(fd);
  return { blockHost: entryOffset(e.readUInt32BE(0), e.readUInt32BE(4)), i: c - k * E, order: h.refcountOrder, cs };
}

/** File offset of the first L2 entry that maps a standard data cluster, and that cluster. */
async function firstDataEntry(file: string): Promise<{ at: number; cluster: number }> {
  const h = await readQcow2Header(file);
  const cs = 2 ** h.clusterBits;
  const fd = fs.openSync(file, 'r');
  try {
    const l1 = Buffer.alloc(h.l1Size * 8);
    fs.readSync(fd, l1, 0, l1.length, h.l1TableOffset);
    for (let i = 0; i < h.l1Size; i++) {
      const l2 = entryOffset(l1.readUInt32BE(i * 8), l1.readUInt32BE(i * 8 + 4));
      if (l2 === 0) continue;
      const t = Buffer.alloc(cs);
      fs.readSync(fd, t, 0, cs, l2);
      for (let e = 0; e < cs; e += 8) {
        const d = entryOffset(t.readUInt32BE(e), t.readUInt32BE(e + 4));
        if (d !== 0 && (t.readUInt32BE(e) & 0x40000000) === 0) return { at: l2 + e, cluster: d / cs };
      }
    }
  } finally {
    fs.closeSync(fd);
  }
  throw new Error('no data cluster');
}

/** Extend the file by 4 sparse clusters of 64 KiB and return the second: a free cluster inside the file (qemu-img check ignores refcounts past the end). */
function leakInside(file: string): number {
  const end = Math.ceil(fs.statSync(file).size / 65536);
  fs.truncateSync(file, (end + 4) * 65536);
  return end + 1;
}

/** Mark `file` as not closed cleanly (as a killed writer leaves it). */
const markUnclean = (file: string) => fs.writeFileSync(openMarkerPath(file), 'crashed\n');

/** An image with leaked clusters, as a crash right after a flushed UNMAP leaves it. */
async function crashedAfterUnmap(name: string, clusterSize: number, refcountBits = 16): Promise<string> {
  const live = path.join(dir, `${name}-live.qcow2`);
  const crashed = path.join(dir, `${name}.qcow2`);
  const SIZE = 128 * MiB;
  const s = await createQcow2Store(live, SIZE, { clusterSize, refcountBits, writebackIntervalMs: 0 });
  const r = rng(clusterSize + refcountBits);
  // Scattered data: 48 runs of 256 KiB (or a cluster), then UNMAP of every other run.
  const L = Math.max(256 * 1024, clusterSize);
  const offs: number[] = [];
  for (let i = 0; i < 48; i++) offs.push(Math.floor((r() * (SIZE - L)) / clusterSize) * clusterSize);
  for (const o of offs) await s.write(randomBytes(L, r), o, false);
  await s.flush();
  for (let i = 0; i < offs.length; i += 2) await s.writeZeroes(offs[i]!, L, true);
  await s.flush(); // the L2 changes are durable; the refcount decrements are not yet written
  fs.copyFileSync(live, crashed); // synchronous: no new store I/O starts while it copies
  markUnclean(crashed);
  await s.close();
  expect(fs.existsSync(openMarkerPath(live)), 'a clean close removes the marker').toBe(false);
  return crashed;
}

describe.skipIf(!qemu)('leak reclamation at a read-write open after an unclean close', () => {
  for (const [cs, bits] of [
    [64 * 1024, 16],
    [4096, 1],
    [2 * MiB, 64],
  ] as const) {
    it(`reclaims the leaks of a crash after UNMAP (cluster ${cs}, refcount_bits ${bits}): check clean, data identical, space freed`, async () => {
      const file = await crashedAfterUnmap(`unmap-${cs}-${bits}`, cs, bits);
      const before = qemuCheck(file);
      expect(before.corruptions).toBe(0);
      expect(before.leaks, 'the crash left leaks').toBeGreaterThan(0);
      const data = rawOf(file);
      const allocBefore = allocated(file);

      let reported: LeakReport | null = null;
      const s = await openQcow2Store(file, { onLeakReport: (r) => (reported = r) });
      expect(s.lastOpenReport).not.toBeNull();
      expect(reported).toBe(s.lastOpenReport);
      const rep = s.lastOpenReport!;
      expect(rep.leakedClusters).toBe(before.leaks);
      expect(rep.freedClusters).toBe(before.leaks);
      expect(rep.reclaimedBytes).toBeGreaterThan(0);
      expect(rep.punched).toBe(true);
      expect(rep.punchedBytes).toBeGreaterThanOrEqual(rep.reclaimedBytes);
      const allocMid = allocated(file);
      // (Rewritten refcount blocks may fill a few sparse 4 KiB pages of metadata.)
      expect(allocBefore - allocMid + 64 * 1024, 'file allocation drops').toBeGreaterThanOrEqual(rep.reclaimedBytes);
      expect(fs.existsSync(openMarkerPath(file)), 'marker while open').toBe(true);
      // Still writable and consistent: write into freed space, then close cleanly.
      const extra = randomBytes(cs, rng(9));
      await s.write(extra, 0, false);
      await s.close();
      expect(fs.existsSync(openMarkerPath(file))).toBe(false);

      const after = qemuCheck(file);
      expect(after.status, after.stderr).toBe(0);
      expect(after.leaks).toBe(0);
      expect(after.corruptions).toBe(0);
      const dataAfter = rawOf(file);
      extra.copy(data, 0);
      expect(dataAfter.equals(data), 'data identical to before the reclamation').toBe(true);
      console.log(
        `cluster ${cs}, refcount_bits ${bits}: qemu-img check before: ${before.leaks} leaked clusters; ` +
          `reclaimed ${rep.leakedClusters} clusters (${rep.reclaimedBytes} bytes) in ${rep.durationMs} ms; ` +
          `after: ${after.leaks} leaks, ${after.corruptions} corruptions; allocation ${allocBefore} -> ${allocMid}`,
      );
    });
  }

  it('lowers over-counted clusters to their references, setting COPIED where the count becomes 1', async () => {
    const file = path.join(dir, 'over.qcow2');
    const s = await createQcow2Store(file, 8 * MiB);
    await s.write(randomBytes(4 * 65536, rng(3)), 0, false);
    await s.close();
    const { at, cluster } = await firstDataEntry(file);
    // refcount 3 with the COPIED flag cleared, as a shared cluster whose other references are gone.
    await setRefcount(file, cluster, 3);
    const fd = fs.openSync(file, 'r+');
    const e = Buffer.alloc(8);
    fs.readSync(fd, e, 0, 8, at);
    e[0]! &= 0x7f;
    fs.writeSync(fd, e, 0, 8, at);
    fs.closeSync(fd);
    // And a leaked cluster inside the file, and one past its end.
    const inside = leakInside(file);
    await setRefcount(file, inside, 1);
    const beyond = inside + 10;
    await setRefcount(file, beyond, 1);
    const before = qemuCheck(file);
    expect(before.leaks).toBe(2); // qemu-img counts clusters inside the file
    const data = rawOf(file);
    markUnclean(file);

    const s2 = await openQcow2Store(file);
    expect(s2.lastOpenReport).toMatchObject({ leakedClusters: 3, freedClusters: 2, reclaimedBytes: 65536 });
    await s2.close();
    expect(await getRefcount(file, cluster)).toBe(1);
    expect(await getRefcount(file, beyond)).toBe(0);
    expect(await getRefcount(file, inside)).toBe(0);
    const fd2 = fs.openSync(file, 'r');
    fs.readSync(fd2, e, 0, 8, at);
    fs.closeSync(fd2);
    expect(e[0]! & 0x80, 'COPIED set again').toBe(0x80);
    const after = qemuCheck(file);
    expect(after.status, after.stderr).toBe(0);
    expect(rawOf(file).equals(data)).toBe(true);
  });

  it('counts every cluster a compressed descriptor spans (qemu-img convert -c)', async () => {
    const src = path.join(dir, 'compress-src.raw');
    const buf = Buffer.alloc(16 * MiB);
    const r = rng(77);
    for (let off = 0; off < buf.length; off += 65536) {
      // Half-compressible clusters: compressed sizes vary and spans cross cluster boundaries.
      randomBytes(20000 + Math.floor(r() * 20000), r).copy(buf, off);
    }
    fs.writeFileSync(src, buf);
    const file = path.join(dir, 'compressed.qcow2');
    qemuImg('convert', '-c', '-O', 'qcow2', src, file);
    // A leak: the refcount of a free cluster.
    await setRefcount(file, leakInside(file), 1);
    expect(qemuCheck(file).leaks).toBe(1);
    markUnclean(file);
    const s = await openQcow2Store(file);
    expect(s.lastOpenReport).toMatchObject({ leakedClusters: 1, freedClusters: 1 });
    await s.close();
    const after = qemuCheck(file);
    expect(after.status, after.stderr).toBe(0);
    expect(rawOf(file).equals(buf)).toBe(true);
  });

  it('does not walk a cleanly closed image; read-only opens ignore and keep markers', async () => {
    const file = path.join(dir, 'clean.qcow2');
    const s = await createQcow2Store(file, 8 * MiB);
    expect(fs.existsSync(openMarkerPath(file))).toBe(true);
    expect(path.basename(openMarkerPath(file))).toBe('.clean.qcow2.open');
    await s.write(randomBytes(65536, rng(5)), 0, false);
    await s.close();
    expect(fs.existsSync(openMarkerPath(file))).toBe(false);
    // A leak without a marker stays: a clean image is not walked.
    const beyond = leakInside(file);
    await setRefcount(file, beyond, 1);
    const s2 = await openQcow2Store(file);
    expect(s2.lastOpenReport).toBeNull();
    await s2.close();
    expect(await getRefcount(file, beyond)).toBe(1);
    // Read-only: no walk, the marker is left alone.
    markUnclean(file);
    const ro = await openQcow2Store(file, { readOnly: true });
    expect(ro.lastOpenReport).toBeNull();
    await ro.close();
    expect(fs.existsSync(openMarkerPath(file))).toBe(true);
    expect(await getRefcount(file, beyond)).toBe(1);
    // The next read-write open reclaims it.
    const s3 = await openQcow2Store(file);
    expect(s3.lastOpenReport?.leakedClusters).toBe(1);
    await s3.close();
    expect(qemuCheck(file).status).toBe(0);
  });

  it('never "repairs" a corruption: a referenced cluster with refcount 0 fails the read-write open and nothing changes', async () => {
    const file = path.join(dir, 'corrupt.qcow2');
    const s = await createQcow2Store(file, 8 * MiB);
    const data = randomBytes(4 * 65536, rng(11));
    await s.write(data, 0, false);
    await s.close();
    const { cluster } = await firstDataEntry(file);
    await setRefcount(file, cluster, 0);
    await setRefcount(file, leakInside(file), 1); // a leak too: must stay untouched
    expect(qemuCheck(file).corruptions).toBeGreaterThan(0);
    markUnclean(file);
    const hash = sha(file);
    const err = await openQcow2Store(file).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(StoreError);
    expect((err as StoreError).code).toBe('ISCSI_ERR_BAD_IMAGE');
    expect((err as Error).message).toMatch(/refcount lower than their references.*qemu-img check -r all/s);
    expect(sha(file), 'the image is unchanged').toBe(hash);
    expect(fs.existsSync(openMarkerPath(file)), 'still marked').toBe(true);
    // The data is still readable.
    const ro = await openQcow2Store(file, { readOnly: true });
    const back = Buffer.alloc(data.length);
    await ro.read(back, 0);
    await ro.close();
    expect(back.equals(data)).toBe(true);
  });

  it('skips images with consistent bitmaps (their tables are not walked); reclaims them once QEMU must ignore them', async () => {
    const file = path.join(dir, 'bitmap.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', file, '8M');
    qemuImg('bitmap', '--add', file, 'b0');
    markUnclean(file);
    const s = await openQcow2Store(file);
    expect(s.lastOpenReport?.skipped).toMatch(/bitmaps/);
    expect(s.lastOpenReport?.leakedClusters).toBe(0);
    await s.close();
    // That open cleared the autoclear bit: QEMU now ignores the bitmaps, whose clusters are leaks,
    // and the next open after an unclean close reclaims them.
    const leaks = qemuCheck(file).leaks;
    expect(leaks).toBeGreaterThan(0);
    markUnclean(file);
    const s2 = await openQcow2Store(file);
    expect(s2.lastOpenReport).toMatchObject({ leakedClusters: leaks });
    expect(s2.lastOpenReport?.skipped).toBeUndefined();
    await s2.close();
    expect(qemuCheck(file).status).toBe(0);
  });
});
