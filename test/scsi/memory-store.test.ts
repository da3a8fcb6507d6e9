import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/lun/memory-store.js';

describe('MemoryStore (sparse, 64 KiB chunks)', () => {
  it('reads zeros where nothing was written and round trips across chunk boundaries', async () => {
    const s = new MemoryStore(1 << 20);
    const z = Buffer.alloc(4096, 0xee);
    await s.read(z, 0);
    expect(z.every((x) => x === 0)).toBe(true);
    const data = Buffer.alloc(100000);
    for (let i = 0; i < data.length; i++) data[i] = i & 0xff;
    await s.write(data, 60000, false);
    const back = Buffer.alloc(100000);
    await s.read(back, 60000);
    expect(back).toEqual(data);
    expect(await s.allocatedBytes()).toBe(3 * 65536);
  });

  it('allocation(): merged extents; discard frees whole chunks and zeroes partial ones', async () => {
    const s = new MemoryStore(1 << 20);
    await s.write(Buffer.alloc(65536 * 3, 1), 65536, false);
    expect(await s.allocation(0, 1 << 20)).toEqual([
      { offset: 0, length: 65536, mapped: false },
      { offset: 65536, length: 3 * 65536, mapped: true },
      { offset: 4 * 65536, length: (1 << 20) - 4 * 65536, mapped: false },
    ]);
    await s.discard(65536 + 512, 65536 * 2);
    expect(await s.allocation(65536, 3 * 65536)).toEqual([
      { offset: 65536, length: 65536, mapped: true },
      { offset: 2 * 65536, length: 65536, mapped: false },
      { offset: 3 * 65536, length: 65536, mapped: true },
    ]);
    const b = Buffer.alloc(1024);
    await s.read(b, 65536);
    expect(b.subarray(0, 512).every((x) => x === 1)).toBe(true);
    expect(b.subarray(512).every((x) => x === 0)).toBe(true);
    await s.read(b, 3 * 65536 + 1024);
    expect(b.every((x) => x === 1)).toBe(true);
    await s.read(b, 3 * 65536 - 512);
    expect(b.subarray(0, 512).every((x) => x === 0)).toBe(true);
  });

  it('writeZeroes without deallocate keeps (or makes) the range mapped', async () => {
    const s = new MemoryStore(1 << 20);
    await s.writeZeroes(0, 2 * 65536, false);
    expect(await s.allocation(0, 2 * 65536)).toEqual([{ offset: 0, length: 2 * 65536, mapped: true }]);
    await s.writeZeroes(0, 2 * 65536, true);
    expect(await s.allocatedBytes()).toBe(0);
  });

  it('checks ranges, grows but never shrinks, refuses use after close', async () => {
    const s = new MemoryStore(4096);
    await expect(s.read(Buffer.alloc(512), 4096)).rejects.toMatchObject({ code: 'LUN_STORE_RANGE' });
    await expect(s.write(Buffer.alloc(513), 3584, false)).rejects.toMatchObject({ code: 'LUN_STORE_RANGE' });
    await s.resize(8192);
    expect(s.sizeBytes).toBe(8192);
    await s.write(Buffer.alloc(512, 2), 7680, true);
    expect(s.stats.fuaWrites).toBe(1);
    await expect(s.resize(4096)).rejects.toMatchObject({ code: 'LUN_STORE_SHRINK' });
    await s.close();
    await expect(s.flush()).rejects.toMatchObject({ code: 'LUN_STORE_CLOSED' });
    expect(() => new MemoryStore(10, { chunkSize: 1000 })).toThrow(/power of two/);
  });
});
