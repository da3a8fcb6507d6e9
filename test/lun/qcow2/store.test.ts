/**
 * Qcow2Store behaviour: creation, round trips, partial clusters, discard and
 * zeroing, allocation extents, concurrency, resize, large images, errors.
 * qemu-img (when available) checks every image we leave behind.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import {
  createQcow2Image,
  createQcow2Store,
  imageSize,
  openQcow2Store,
  probeImageFormat,
  readQcow2Header,
  type Qcow2Store,
} from '../../../src/lun/qcow2/index.js';
import { createStore, IMAGE_FORMATS, openStore } from '../../../src/lun/open-store.js';
import { haveQemuImg, pattern, qemuCheck, qemuImg, qemuInfo, tmpDir } from './helpers.js';

const KiB = 1024;
const MiB = 1 << 20;
const GiB = 1 << 30;
const TiB = 2 ** 40;
const CS = 64 * KiB;
let dir: string;
const open: Qcow2Store[] = [];

beforeEach(() => {
  dir = tmpDir('qcow2-store-');
});
afterEach(async () => {
  for (const s of open.splice(0)) await s.close().catch(() => undefined);
  fs.rmSync(dir, { recursive: true, force: true });
});

const qemu = haveQemuImg();

function f(name: string): string {
  return path.join(dir, name);
}

async function create(name: string, size: number, opts: Parameters<typeof createQcow2Store>[2] = {}): Promise<Qcow2Store> {
  const s = await createQcow2Store(f(name), size, { writebackIntervalMs: 0, ...opts });
  open.push(s);
  return s;
}

async function reopen(s: Qcow2Store, opts: Parameters<typeof openQcow2Store>[1] = {}): Promise<Qcow2Store> {
  await s.close();
  const r = await openQcow2Store(s.path, { writebackIntervalMs: 0, ...opts });
  open.push(r);
  return r;
}

async function readAt(s: Qcow2Store, off: number, len: number): Promise<Buffer> {
  const b = Buffer.alloc(len, 0xee);
  await s.read(b, off);
  return b;
}

/** qemu-img check: no errors and no leaks. */
function expectClean(file: string): void {
  if (!qemu) return;
  const r = qemuCheck(file);
  expect(r.stderr).not.toMatch(/ERROR|Leaked/);
  expect(r.status).toBe(0);
}

describe('creating images', () => {
  it('creates a version 3 image that qemu-img accepts, laid out like qemu-img create', async () => {
    const s = await create('a.qcow2', 10 * GiB);
    expect(s.format).toBe('qcow2');
    expect(s.sizeBytes).toBe(10 * GiB);
    expect(s.clusterSize).toBe(CS);
    expect(s.version).toBe(3);
    expect(s.refcountBits).toBe(16);
    expect(fs.statSync(s.path).mode & 0o777).toBe(0o600);
    const h = await readQcow2Header(s.path);
    expect(h).toMatchObject({
      version: 3,
      clusterBits: 16,
      size: 10 * GiB,
      l1Size: 20,
      refcountTableOffset: CS,
      refcountTableClusters: 1,
      l1TableOffset: 3 * CS,
      incompatibleFeatures: 0n,
      compatibleFeatures: 0n,
      refcountOrder: 4,
      nbSnapshots: 0,
      backingFile: null,
    });
    expect((await readAt(s, 5 * GiB, 64 * KiB)).equals(Buffer.alloc(64 * KiB))).toBe(true);
    expect(await s.allocation(0, 10 * GiB)).toEqual([{ offset: 0, length: 10 * GiB, mapped: false }]);
    expect(await s.usedClusters()).toBe(4);
    await s.close();
    expectClean(s.path);
    if (qemu) {
      const info = qemuInfo(s.path);
      expect(info['virtual-size']).toBe(10 * GiB);
      expect(info['cluster-size']).toBe(CS);
      expect(info['format']).toBe('qcow2');
      const spec = (info['format-specific'] as { data: Record<string, unknown> }).data;
      expect(spec['compat']).toBe('1.1');
      expect(spec['refcount-bits']).toBe(16);
      expect(spec['lazy-refcounts']).toBe(false);
      expect(spec['corrupt']).toBe(false);
    }
  });

  it('refuses to overwrite a file and checks its arguments', async () => {
    fs.writeFileSync(f('x'), 'keep');
    await expect(createQcow2Image(f('x'), MiB)).rejects.toMatchObject({ code: 'EEXIST' });
    expect(fs.readFileSync(f('x'), 'utf8')).toBe('keep');
    await expect(createQcow2Image(f('y'), 1000)).rejects.toMatchObject({ code: 'ISCSI_ERR_BAD_SIZE' });
    await expect(createQcow2Image(f('y'), MiB, { clusterSize: 3000 })).rejects.toMatchObject({ code: 'ISCSI_ERR_BAD_SIZE' });
    await expect(createQcow2Image(f('y'), MiB, { clusterSize: 4 * MiB })).rejects.toMatchObject({ code: 'ISCSI_ERR_BAD_SIZE' });
    await expect(createQcow2Image(f('y'), MiB, { refcountBits: 3 })).rejects.toMatchObject({ code: 'ISCSI_ERR_BAD_SIZE' });
    await expect(createQcow2Image(f('y'), MiB, { backingFile: 'missing.raw' })).rejects.toMatchObject({
      code: 'ISCSI_ERR_BACKING',
    });
    await expect(createQcow2Image(f('y'), undefined)).rejects.toMatchObject({ code: 'ISCSI_ERR_BAD_SIZE' });
    expect(fs.existsSync(f('y'))).toBe(false);
  });

  it('is registered in openStore/createStore', async () => {
    expect(IMAGE_FORMATS).toContain('qcow2');
    const s = await createStore(f('r.qcow2'), 'qcow2', 8 * MiB, { clusterSize: 128 * KiB });
    expect(s.format).toBe('qcow2');
    await s.write(pattern(4096, 3), 4096, false);
    await s.close();
    expect(await probeImageFormat(f('r.qcow2'))).toBe('qcow2');
    expect(await imageSize(f('r.qcow2'))).toBe(8 * MiB);
    const o = await openStore(f('r.qcow2'), 'qcow2');
    expect((await (async () => {
      const b = Buffer.alloc(4096);
      await o.read(b, 4096);
      return b;
    })()).equals(pattern(4096, 3))).toBe(true);
    expect((o as Qcow2Store).clusterSize).toBe(128 * KiB);
    await o.close();
  });
});

describe('reads and writes', () => {
  it('round-trips writes across clusters, L2 tables and reopen', async () => {
    const s = await create('a.qcow2', 2 * GiB);
    const a = pattern(3 * CS + 4096, 1); // spans four clusters
    const b = pattern(MiB, 2); // across the 512 MiB L2 table boundary
    await s.write(a, CS - 2048, false);
    await s.write(b, 512 * MiB - MiB / 2, false);
    await s.write(pattern(512, 3), 2 * GiB - 512, false);
    expect((await readAt(s, CS - 2048, a.length)).equals(a)).toBe(true);
    const r = await reopen(s);
    expect((await readAt(r, CS - 2048, a.length)).equals(a)).toBe(true);
    expect((await readAt(r, 512 * MiB - MiB / 2, MiB)).equals(b)).toBe(true);
    expect((await readAt(r, 2 * GiB - 512, 512)).equals(pattern(512, 3))).toBe(true);
    expect((await readAt(r, 0, CS - 2048)).equals(Buffer.alloc(CS - 2048))).toBe(true);
    await r.close();
    expectClean(r.path);
  });

  it('partial-cluster writes keep the rest of the cluster zero, also in a re-used host cluster', async () => {
    const s = await create('a.qcow2', 64 * MiB, { punchHoles: 'off' });
    // Fill clusters 0..3 with data, discard them, so their host clusters are free but dirty.
    await s.write(Buffer.alloc(4 * CS, 0xab), 0, false);
    await s.discard(0, 4 * CS);
    await s.drain();
    const before = fs.statSync(s.path).size;
    // New partial writes into other guest clusters re-use those host clusters.
    await s.write(pattern(4096, 5), 10 * CS + 8192, false);
    await s.write(pattern(1024, 6), 20 * CS + CS - 1024, false);
    await s.write(pattern(CS + 1024, 7), 30 * CS + 512, false);
    await s.flush();
    expect(fs.statSync(s.path).size).toBe(before); // no file growth: host clusters were re-used
    const c10 = await readAt(s, 10 * CS, CS);
    expect(c10.subarray(0, 8192).equals(Buffer.alloc(8192))).toBe(true);
    expect(c10.subarray(8192, 8192 + 4096).equals(pattern(4096, 5))).toBe(true);
    expect(c10.subarray(8192 + 4096).equals(Buffer.alloc(CS - 8192 - 4096))).toBe(true);
    const c20 = await readAt(s, 20 * CS, CS);
    expect(c20.subarray(0, CS - 1024).equals(Buffer.alloc(CS - 1024))).toBe(true);
    const c30 = await readAt(s, 30 * CS, 2 * CS);
    expect(c30.subarray(0, 512).equals(Buffer.alloc(512))).toBe(true);
    expect(c30.subarray(512, 512 + CS + 1024).equals(pattern(CS + 1024, 7))).toBe(true);
    expect(c30.subarray(512 + CS + 1024).equals(Buffer.alloc(CS - 1536))).toBe(true);
    // No byte of the old 0xab contents is visible anywhere.
    const all = await readAt(s, 0, 64 * MiB);
    expect(all.includes(Buffer.alloc(16, 0xab))).toBe(false);
    await s.close();
    expectClean(s.path);
  });

  it('concurrent writes into one unallocated cluster allocate it once', async () => {
    const s = await create('a.qcow2', 64 * MiB);
    const base = 7 * CS;
    await Promise.all(Array.from({ length: 16 }, (_, i) => s.write(pattern(4096, i), base + i * 4096, false)));
    expect(s.stats.allocations).toBe(1); // data clusters only (the L2 table is metadata)
    for (let i = 0; i < 16; i++) expect((await readAt(s, base + i * 4096, 4096)).equals(pattern(4096, i))).toBe(true);
    await s.flush();
    expect(await s.usedClusters()).toBe(4 + 1 + 1); // header, refcount table, refcount block, L1 + L2 + data
    await s.close();
    expectClean(s.path);
  });

  it('concurrent multi-cluster writes to different clusters share nothing', async () => {
    const s = await create('a.qcow2', 256 * MiB);
    const jobs = [];
    for (let i = 0; i < 64; i++) jobs.push(s.write(pattern(CS + 8192, i), i * 3 * CS + 4096, false));
    await Promise.all(jobs);
    for (let i = 0; i < 64; i++) expect((await readAt(s, i * 3 * CS + 4096, CS + 8192)).equals(pattern(CS + 8192, i))).toBe(true);
    await s.close();
    expectClean(s.path);
  });

  it('rejects out-of-range I/O, writes to read-only stores and use after close', async () => {
    const s = await create('a.qcow2', MiB);
    await expect(s.read(Buffer.alloc(512), MiB)).rejects.toMatchObject({ code: 'ISCSI_ERR_OUT_OF_RANGE' });
    await expect(s.write(Buffer.alloc(1024), MiB - 512, false)).rejects.toMatchObject({ code: 'ISCSI_ERR_OUT_OF_RANGE' });
    await expect(s.discard(-512, 512)).rejects.toMatchObject({ code: 'ISCSI_ERR_OUT_OF_RANGE' });
    const r = await reopen(s, { readOnly: true });
    await expect(r.write(Buffer.alloc(512), 0, false)).rejects.toMatchObject({ code: 'ISCSI_ERR_READ_ONLY' });
    await expect(r.discard(0, 512)).rejects.toMatchObject({ code: 'ISCSI_ERR_READ_ONLY' });
    await r.close();
    await expect(r.read(Buffer.alloc(512), 0)).rejects.toMatchObject({ code: 'ISCSI_ERR_STORE_CLOSED' });
    await expect(r.flush()).rejects.toMatchObject({ code: 'ISCSI_ERR_STORE_CLOSED' });
  });
});

describe('durability', () => {
  it('after flush() and after a FUA write, qemu-img sees the data while the store is still open', async () => {
    if (!qemu) return;
    const s = await create('a.qcow2', 16 * MiB);
    await s.write(pattern(8192, 1), 3 * CS, false);
    await s.flush();
    expectClean(s.path);
    qemuImg('convert', '-O', 'raw', s.path, f('1.raw'));
    expect(fs.readFileSync(f('1.raw')).subarray(3 * CS, 3 * CS + 8192).equals(pattern(8192, 1))).toBe(true);
    await s.write(pattern(4096, 2), 9 * CS, true); // allocating FUA write
    qemuImg('convert', '-O', 'raw', s.path, f('2.raw'));
    expect(fs.readFileSync(f('2.raw')).subarray(9 * CS, 9 * CS + 4096).equals(pattern(4096, 2))).toBe(true);
    await s.write(pattern(4096, 3), 9 * CS + 4096, true); // FUA into an allocated cluster
    qemuImg('convert', '-O', 'raw', s.path, f('3.raw'));
    expect(fs.readFileSync(f('3.raw')).subarray(9 * CS + 4096, 9 * CS + 8192).equals(pattern(4096, 3))).toBe(true);
    expectClean(s.path);
  });

  it('writes metadata back on its own after writebackIntervalMs', async () => {
    const s = await createQcow2Store(f('a.qcow2'), 16 * MiB, { writebackIntervalMs: 30 });
    open.push(s);
    await s.write(pattern(4096, 1), 0, false);
    await new Promise((r) => setTimeout(r, 200));
    expect(s.stats.syncs).toBeGreaterThan(0);
    if (qemu) {
      qemuImg('convert', '-O', 'raw', s.path, f('1.raw'));
      expect(fs.readFileSync(f('1.raw')).subarray(0, 4096).equals(pattern(4096, 1))).toBe(true);
    }
  });
});

describe('discard, zeroing and allocation', () => {
  it('discard releases whole clusters (file space punched), zeroes partial ones, reads zeros', async () => {
    const s = await create('a.qcow2', 64 * MiB);
    await s.write(Buffer.alloc(32 * MiB, 0x11), 0, false);
    await s.flush();
    const used = await s.allocatedBytes();
    expect(used).toBeGreaterThanOrEqual(32 * MiB);
    // Discard from the middle of cluster 1 to the middle of the last cluster written.
    const off = CS + 4096;
    const end = 32 * MiB - 4096;
    await s.discard(off, end - off);
    const got = await readAt(s, 0, 32 * MiB);
    expect(got.subarray(0, off).equals(Buffer.alloc(off, 0x11))).toBe(true);
    expect(got.subarray(off, end).equals(Buffer.alloc(end - off))).toBe(true);
    expect(got.subarray(end).equals(Buffer.alloc(4096, 0x11))).toBe(true);
    expect(await s.allocation(0, 64 * MiB)).toEqual([
      { offset: 0, length: 2 * CS, mapped: true },
      { offset: 2 * CS, length: 32 * MiB - 3 * CS, mapped: false },
      { offset: 32 * MiB - CS, length: CS, mapped: true },
      { offset: 32 * MiB, length: 32 * MiB, mapped: false },
    ]);
    await s.drain();
    expect(s.stats.frees).toBe(512 - 3);
    if (s.stats.punches > 0) expect(await s.allocatedBytes()).toBeLessThan(used - 30 * MiB);
    await s.close();
    expectClean(s.path);
    if (qemu) {
      const map = JSON.parse(qemuImg('map', '--output=json', s.path)) as Array<{ start: number; length: number; data: boolean }>;
      const data = map.filter((e) => e.data).map((e) => [e.start, e.length]);
      expect(data).toEqual([
        [0, 2 * CS],
        [32 * MiB - CS, CS],
      ]);
    }
  });

  it('freed clusters are re-used once released (after a sync), never before', async () => {
    const s = await create('a.qcow2', 64 * MiB, { punchHoles: 'off' });
    await s.write(Buffer.alloc(8 * CS, 0x22), 0, false);
    await s.flush();
    const size1 = fs.statSync(s.path).size;
    await s.discard(0, 8 * CS);
    await s.write(Buffer.alloc(8 * CS, 0x33), 16 * CS, false); // before any sync: new clusters
    const size2 = fs.statSync(s.path).size;
    expect(size2).toBe(size1 + 8 * CS);
    await s.drain();
    await s.write(Buffer.alloc(8 * CS, 0x44), 32 * CS, false); // now the freed ones
    expect(fs.statSync(s.path).size).toBe(size2);
    expect((await readAt(s, 0, 8 * CS)).equals(Buffer.alloc(8 * CS))).toBe(true);
    expect((await readAt(s, 16 * CS, 8 * CS)).equals(Buffer.alloc(8 * CS, 0x33))).toBe(true);
    expect((await readAt(s, 32 * CS, 8 * CS)).equals(Buffer.alloc(8 * CS, 0x44))).toBe(true);
    await s.close();
    expectClean(s.path);
  });

  it('thin: Used follows the data written, and drops after unmapping it, without a flush', async () => {
    const s = await createQcow2Store(f('thin.qcow2'), 100 * GiB, { writebackIntervalMs: 1000 });
    open.push(s);
    const chunk = Buffer.alloc(4 * MiB, 0x5a);
    for (let off = 0; off < 256 * MiB; off += chunk.length) await s.write(chunk, 40 * GiB + off, false);
    await s.flush();
    const used = await s.allocatedBytes();
    expect(used).toBeGreaterThanOrEqual(256 * MiB);
    expect(used).toBeLessThan(256 * MiB + 4 * MiB);
    await s.discard(40 * GiB, 256 * MiB);
    // The store syncs and punches on its own shortly after an unmap.
    const t0 = Date.now();
    while ((await s.allocatedBytes()) > 4 * MiB && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 50));
    expect(await s.allocatedBytes()).toBeLessThan(4 * MiB);
    expect(await s.allocation(0, 100 * GiB)).toEqual([{ offset: 0, length: 100 * GiB, mapped: false }]);
    await s.close();
    expectClean(s.path);
  });

  it('without hole punching, released clusters are still re-used and read as zeros', async () => {
    const s = await create('np.qcow2', 16 * MiB, { fallocateCommand: 'false' });
    await s.write(Buffer.alloc(4 * CS, 0x66), 0, false);
    await s.discard(0, 4 * CS);
    await s.drain();
    expect(s.stats.punches).toBe(0);
    expect(s.stats.frees).toBe(4);
    const size = fs.statSync(s.path).size;
    await s.write(pattern(4096, 1), 8 * CS + 4096, false);
    expect(fs.statSync(s.path).size).toBe(size);
    const c = await readAt(s, 8 * CS, CS);
    expect(c.subarray(0, 4096).equals(Buffer.alloc(4096))).toBe(true);
    expect(c.subarray(8192).equals(Buffer.alloc(CS - 8192))).toBe(true);
    await s.close();
    expectClean(s.path);
  });

  it('writeZeroes without deallocation keeps clusters mapped and reading zeros', async () => {
    const s = await create('a.qcow2', 16 * MiB);
    await s.write(Buffer.alloc(4 * CS, 0x55), 0, false);
    await s.writeZeroes(0, 2 * CS, false);
    await s.writeZeroes(2 * CS, 2 * CS, true);
    expect((await readAt(s, 0, 4 * CS)).equals(Buffer.alloc(4 * CS))).toBe(true);
    expect(await s.allocation(0, 4 * CS)).toEqual([
      { offset: 0, length: 2 * CS, mapped: true },
      { offset: 2 * CS, length: 2 * CS, mapped: false },
    ]);
    // Writing into a preallocated zero cluster: the rest of it stays zero.
    await s.write(pattern(4096, 9), CS + 4096, false);
    const c1 = await readAt(s, CS, CS);
    expect(c1.subarray(0, 4096).equals(Buffer.alloc(4096))).toBe(true);
    expect(c1.subarray(4096, 8192).equals(pattern(4096, 9))).toBe(true);
    expect(c1.subarray(8192).equals(Buffer.alloc(CS - 8192))).toBe(true);
    await s.close();
    expectClean(s.path);
  });

  it('reports allocation extents at byte granularity at the range edges', async () => {
    const s = await create('a.qcow2', 16 * MiB);
    await s.write(pattern(512, 1), 5 * CS + 512, false);
    expect(await s.allocation(5 * CS + 1024, 2 * CS)).toEqual([
      { offset: 5 * CS + 1024, length: CS - 1024, mapped: true },
      { offset: 6 * CS, length: CS + 1024, mapped: false },
    ]);
    expect(await s.allocation(0, 0)).toEqual([]);
    expect(await s.layerAllocation(4 * CS, 3 * CS)).toEqual([
      { offset: 4 * CS, length: CS, state: 'unallocated' },
      { offset: 5 * CS, length: CS, state: 'data' },
      { offset: 6 * CS, length: CS, state: 'unallocated' },
    ]);
  });
});

describe('resize', () => {
  it('grows within the L1 table and with a relocated, larger L1 table', async () => {
    const s = await create('a.qcow2', 1 * GiB);
    await s.write(pattern(CS, 1), 100 * MiB, false);
    await s.resize(2 * GiB); // 4 L1 entries: same L1 cluster
    expect(s.sizeBytes).toBe(2 * GiB);
    expect((await readQcow2Header(s.path)).l1TableOffset).toBe(3 * CS);
    await s.write(pattern(CS, 2), 2 * GiB - CS, false);
    await s.resize(8 * TiB); // 16384 L1 entries: two clusters, moved
    await s.write(pattern(CS, 3), 8 * TiB - CS, false);
    await s.write(pattern(CS, 4), 5 * TiB, false);
    const h = await readQcow2Header(s.path);
    expect(h.size).toBe(8 * TiB);
    expect(h.l1Size).toBe(16384);
    expect(h.l1TableOffset).not.toBe(3 * CS);
    await expect(s.resize(GiB)).rejects.toMatchObject({ code: 'ISCSI_ERR_SHRINK' });
    const r = await reopen(s);
    expect(r.sizeBytes).toBe(8 * TiB);
    expect((await readAt(r, 100 * MiB, CS)).equals(pattern(CS, 1))).toBe(true);
    expect((await readAt(r, 2 * GiB - CS, CS)).equals(pattern(CS, 2))).toBe(true);
    expect((await readAt(r, 8 * TiB - CS, CS)).equals(pattern(CS, 3))).toBe(true);
    expect((await readAt(r, 5 * TiB, CS)).equals(pattern(CS, 4))).toBe(true);
    expect((await readAt(r, 3 * TiB, CS)).equals(Buffer.alloc(CS))).toBe(true);
    await r.close();
    expectClean(r.path);
    if (qemu) expect(qemuInfo(r.path)['virtual-size']).toBe(8 * TiB);
  });

  it('handles images larger than 16 TiB', async () => {
    const s = await create('big.qcow2', 64 * TiB);
    const offs = [0, 16 * TiB - 4096, 16 * TiB, 40 * TiB + 12345 * 512, 64 * TiB - 4096];
    for (const [i, o] of offs.entries()) await s.write(pattern(4096, i), o, false);
    const r = await reopen(s);
    for (const [i, o] of offs.entries()) expect((await readAt(r, o, 4096)).equals(pattern(4096, i))).toBe(true);
    const ext = await r.allocation(64 * TiB - CS, CS);
    expect(ext).toEqual([{ offset: 64 * TiB - CS, length: CS, mapped: true }]);
    await r.close();
    expect(fs.statSync(r.path).blocks * 512).toBeLessThan(8 * MiB);
    expectClean(r.path);
    if (qemu) expect(qemuInfo(r.path)['virtual-size']).toBe(64 * TiB);
  });
});

describe('refcount structures', () => {
  it('grows the refcount table and creates refcount blocks as the file grows (512-byte clusters)', async () => {
    // 512-byte clusters, 16-bit refcounts: a block covers 256 clusters (128 KiB of file),
    // the initial one-cluster table 64 blocks (8 MiB of file).
    const s = await create('a.qcow2', 32 * MiB, { clusterSize: 512 });
    const before = await readQcow2Header(s.path);
    await s.write(pattern(12 * MiB, 1), 0, false);
    await s.flush();
    const after = await readQcow2Header(s.path);
    expect(after.refcountTableOffset).not.toBe(before.refcountTableOffset);
    expect(after.refcountTableClusters).toBeGreaterThan(1);
    const r = await reopen(s);
    expect((await readAt(r, 0, 12 * MiB)).equals(pattern(12 * MiB, 1))).toBe(true);
    await r.close();
    expectClean(r.path);
  });
});
