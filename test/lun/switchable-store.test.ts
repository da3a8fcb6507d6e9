import { describe, expect, it } from 'vitest';
import { SwitchableStore } from '../../src/lun/switchable-store.js';
import { MemoryStore } from '../../src/lun/memory-store.js';
import type { BlockStore } from '../../src/lun/block-store.js';

const MiB = 1 << 20;

/** A store whose writes complete only when the test says so. */
function gatedStore(inner: BlockStore): { store: BlockStore; release: () => void; started: () => number } {
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  let n = 0;
  const store = Object.create(inner) as BlockStore;
  store.write = async (buf, off, fua) => {
    n++;
    await gate;
    return inner.write(buf, off, fua);
  };
  return { store, release: open, started: () => n };
}

describe('SwitchableStore', () => {
  it('forwards I/O and the store properties', async () => {
    const s = new SwitchableStore(new MemoryStore(MiB));
    expect(s.sizeBytes).toBe(MiB);
    await s.write(Buffer.alloc(4096, 7), 8192, false);
    const b = Buffer.alloc(4096);
    await s.read(b, 8192);
    expect(b.every((x) => x === 7)).toBe(true);
    expect(s.format).toBe(new MemoryStore(MiB).format);
  });

  it('exclusive() waits for I/O in flight and holds new I/O until it ends', async () => {
    const mem = new MemoryStore(MiB);
    const g = gatedStore(mem);
    const s = new SwitchableStore(g.store);
    const w1 = s.write(Buffer.alloc(512, 1), 0, false);
    const order: string[] = [];
    const ex = s.exclusive(async () => {
      order.push('exclusive');
    });
    // The write in flight blocks the exclusive section.
    await new Promise((r) => setTimeout(r, 20));
    expect(order).toEqual([]);
    // A read issued now is held until the exclusive section ends.
    const rb = Buffer.alloc(512);
    const r2 = s.read(rb, 0).then(() => order.push('read'));
    g.release();
    await Promise.all([w1, ex, r2]);
    expect(order).toEqual(['exclusive', 'read']);
    expect(rb.every((x) => x === 1)).toBe(true);
  });

  it('I/O held during a swap goes to the new store', async () => {
    const a = new MemoryStore(MiB);
    const b = new MemoryStore(2 * MiB);
    await b.write(Buffer.alloc(512, 9), 0, false);
    const s = new SwitchableStore(a);
    let reads: Promise<void> | undefined;
    const buf = Buffer.alloc(512);
    await s.exclusive(async (cur, replace) => {
      expect(cur).toBe(a);
      reads = s.read(buf, 0);
      await new Promise((r) => setTimeout(r, 10));
      replace(b);
    });
    await reads;
    expect(buf.every((x) => x === 9)).toBe(true);
    expect(s.sizeBytes).toBe(2 * MiB);
    expect(s.inner).toBe(b);
  });

  it('a failing change releases the held I/O on the store still in place', async () => {
    const a = new MemoryStore(MiB);
    const s = new SwitchableStore(a);
    let held: Promise<void> | undefined;
    await expect(
      s.exclusive(async () => {
        held = s.write(Buffer.alloc(512, 3), 512, false);
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    await held;
    const b = Buffer.alloc(512);
    await a.read(b, 512);
    expect(b.every((x) => x === 3)).toBe(true);
  });

  it('exclusive sections run one after another; resize grows the inner store', async () => {
    const s = new SwitchableStore(new MemoryStore(MiB));
    const log: number[] = [];
    await Promise.all([
      s.exclusive(async () => {
        log.push(1);
        await new Promise((r) => setTimeout(r, 10));
        log.push(2);
      }),
      s.exclusive(async () => {
        log.push(3);
      }),
      s.resize(4 * MiB),
    ]);
    expect(log).toEqual([1, 2, 3]);
    expect(s.sizeBytes).toBe(4 * MiB);
  });

  it('errors of the inner store reach the caller and do not wedge later exclusives', async () => {
    const mem = new MemoryStore(MiB);
    const s = new SwitchableStore(mem);
    await expect(s.read(Buffer.alloc(512), 2 * MiB)).rejects.toBeTruthy();
    await s.exclusive(async () => undefined);
    await s.write(Buffer.alloc(512, 1), 0, false);
  });
});
