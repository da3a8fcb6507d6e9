import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRawStore, openRawStore, RawFileStore } from '../../src/lun/raw-store.js';

const MiB = 1 << 20;
let dir: string;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'raw-store-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function pattern(len: number, seed: number): Buffer {
  const b = Buffer.alloc(len);
  for (let i = 0; i < len; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

describe('RawFileStore', () => {
  it('creates a sparse image that reads as zeros', async () => {
    const p = path.join(dir, 'a.raw');
    const s = await createRawStore(p, 64 * MiB);
    expect(s.sizeBytes).toBe(64 * MiB);
    expect(s.format).toBe('raw');
    expect(fs.statSync(p).size).toBe(64 * MiB);
    expect(fs.statSync(p).mode & 0o777).toBe(0o600);
    expect(await s.allocatedBytes()).toBe(0);
    const buf = Buffer.alloc(8192, 0xaa);
    await s.read(buf, 10 * MiB);
    expect(buf.equals(Buffer.alloc(8192))).toBe(true);
    expect(await s.allocation(0, 64 * MiB)).toEqual([{ offset: 0, length: 64 * MiB, mapped: false }]);
    await s.close();
  });

  it('refuses to create over an existing file', async () => {
    const p = path.join(dir, 'a.raw');
    fs.writeFileSync(p, 'keep');
    await expect(createRawStore(p, MiB)).rejects.toMatchObject({ code: 'EEXIST' });
    expect(fs.readFileSync(p, 'utf8')).toBe('keep');
  });

  it('writes and reads back, across reopen, with fua and flush', async () => {
    const p = path.join(dir, 'a.raw');
    const s = await createRawStore(p, 16 * MiB);
    const a = pattern(3 * 4096, 1);
    const b = pattern(512, 7);
    await s.write(a, 4096, false);
    await s.write(b, 15 * MiB, true);
    await s.flush();
    expect(await s.allocatedBytes()).toBeGreaterThan(0);
    expect((await s.allocation(0, 16 * MiB))[0]!.mapped).toBe(true);
    await s.close();

    const r = await openRawStore(p);
    expect(r.sizeBytes).toBe(16 * MiB);
    const got = Buffer.alloc(a.length);
    await r.read(got, 4096);
    expect(got.equals(a)).toBe(true);
    const got2 = Buffer.alloc(1024);
    await r.read(got2, 15 * MiB - 512);
    expect(got2.subarray(0, 512).equals(Buffer.alloc(512))).toBe(true);
    expect(got2.subarray(512).equals(b)).toBe(true);
    await r.close();
  });

  it('reads past the end of a shorter file as zeros', async () => {
    const p = path.join(dir, 'short.raw');
    fs.writeFileSync(p, Buffer.alloc(4096, 0x55));
    const fd = fs.openSync(p, 'r+');
    const s = RawFileStore.fromFd(fd, p, MiB);
    const buf = Buffer.alloc(8192, 0xee);
    await s.read(buf, 0);
    expect(buf.subarray(0, 4096).equals(Buffer.alloc(4096, 0x55))).toBe(true);
    expect(buf.subarray(4096).equals(Buffer.alloc(4096))).toBe(true);
    await s.close();
  });

  it('rejects out-of-range I/O with a stable code', async () => {
    const s = await createRawStore(path.join(dir, 'a.raw'), MiB);
    await expect(s.read(Buffer.alloc(1024), MiB - 512)).rejects.toMatchObject({ code: 'ISCSI_ERR_OUT_OF_RANGE' });
    await expect(s.write(Buffer.alloc(512), -512, false)).rejects.toMatchObject({ code: 'ISCSI_ERR_OUT_OF_RANGE' });
    await s.close();
    await expect(s.read(Buffer.alloc(512), 0)).rejects.toMatchObject({ code: 'ISCSI_ERR_STORE_CLOSED' });
  });

  it('writeZeroes without deallocate writes zeros', async () => {
    const s = await createRawStore(path.join(dir, 'a.raw'), 8 * MiB);
    await s.write(pattern(2 * MiB, 3), MiB, false);
    await s.writeZeroes(MiB + 4096, MiB, false);
    const buf = Buffer.alloc(2 * MiB);
    await s.read(buf, MiB);
    expect(buf.subarray(0, 4096).equals(pattern(2 * MiB, 3).subarray(0, 4096))).toBe(true);
    expect(buf.subarray(4096, 4096 + MiB).equals(Buffer.alloc(MiB))).toBe(true);
    expect(buf.subarray(4096 + MiB).equals(pattern(2 * MiB, 3).subarray(4096 + MiB))).toBe(true);
    await s.close();
  });

  it('discard in the middle punches a hole (or zero-fills) and reads zeros', async () => {
    const s = await createRawStore(path.join(dir, 'a.raw'), 8 * MiB);
    await s.write(Buffer.alloc(4 * MiB, 0x11), 0, false);
    const before = await s.allocatedBytes();
    await s.discard(MiB, 2 * MiB);
    const buf = Buffer.alloc(4 * MiB);
    await s.read(buf, 0);
    expect(buf.subarray(0, MiB).equals(Buffer.alloc(MiB, 0x11))).toBe(true);
    expect(buf.subarray(MiB, 3 * MiB).equals(Buffer.alloc(2 * MiB))).toBe(true);
    expect(buf.subarray(3 * MiB).equals(Buffer.alloc(MiB, 0x11))).toBe(true);
    if (s.canPunchHoles) expect(await s.allocatedBytes()).toBeLessThanOrEqual(before - 2 * MiB);
    await s.close();
  });

  it('discard to the end deallocates with ftruncate and keeps the size', async () => {
    const p = path.join(dir, 'a.raw');
    const s = await createRawStore(p, 8 * MiB);
    await s.write(Buffer.alloc(8 * MiB, 0x22), 0, false);
    await s.writeZeroes(2 * MiB, 6 * MiB, true);
    expect(fs.statSync(p).size).toBe(8 * MiB);
    expect(await s.allocatedBytes()).toBeLessThanOrEqual(2 * MiB + 64 * 1024);
    const buf = Buffer.alloc(MiB);
    await s.read(buf, 7 * MiB);
    expect(buf.equals(Buffer.alloc(MiB))).toBe(true);
    await s.read(buf, MiB);
    expect(buf.equals(Buffer.alloc(MiB, 0x22))).toBe(true);
    await s.close();
  });

  it('zero-fill fallback is correct and does not allocate holes', async () => {
    const s = await createRawStore(path.join(dir, 'a.raw'), 16 * MiB, { fallocateCommand: path.join(dir, 'no-such-fallocate') });
    await s.write(Buffer.alloc(MiB, 0x33), 2 * MiB, false);
    await s.discard(0, 8 * MiB);
    expect(s.canPunchHoles).toBe(false);
    const buf = Buffer.alloc(8 * MiB, 1);
    await s.read(buf, 0);
    expect(buf.equals(Buffer.alloc(8 * MiB))).toBe(true);
    // Only the chunk that held data was rewritten; the holes stayed holes.
    expect(await s.allocatedBytes()).toBeLessThanOrEqual(MiB + 64 * 1024);
    await s.close();
  });

  it('resize grows and refuses to shrink', async () => {
    const p = path.join(dir, 'a.raw');
    const s = await createRawStore(p, MiB);
    await s.resize(4 * MiB);
    expect(s.sizeBytes).toBe(4 * MiB);
    expect(fs.statSync(p).size).toBe(4 * MiB);
    const buf = Buffer.alloc(512);
    await s.write(pattern(512, 9), 4 * MiB - 512, false);
    await s.read(buf, 4 * MiB - 512);
    expect(buf.equals(pattern(512, 9))).toBe(true);
    await expect(s.resize(MiB)).rejects.toMatchObject({ code: 'ISCSI_ERR_SHRINK' });
    await s.close();
  });

  it('close waits for in-flight I/O', async () => {
    const s = await createRawStore(path.join(dir, 'a.raw'), 8 * MiB);
    const w = s.write(Buffer.alloc(4 * MiB, 5), 0, true);
    await s.close();
    await w;
  });

  it('surfaces a full disk as an error with code ENOSPC', async () => {
    if (!fs.existsSync('/dev/full')) return;
    const fd = fs.openSync('/dev/full', 'r+');
    const s = RawFileStore.fromFd(fd, '/dev/full', MiB);
    await expect(s.write(Buffer.alloc(4096, 1), 0, false)).rejects.toMatchObject({ code: 'ENOSPC' });
    // The store stays usable after the error.
    const buf = Buffer.alloc(512, 1);
    await s.read(buf, 0);
    expect(buf.equals(Buffer.alloc(512))).toBe(true);
    await s.close();
  });
});
