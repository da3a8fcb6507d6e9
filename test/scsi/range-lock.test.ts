import { describe, expect, it } from 'vitest';
import { RangeLock } from '../../src/scsi/range-lock.js';

const tick = () => new Promise((r) => setImmediate(r));

describe('RangeLock', () => {
  it('shared leases never wait for each other', async () => {
    const l = new RangeLock();
    const a = l.tryShared(0, 10);
    const b = l.tryShared(5, 15);
    expect(a && b).toBeTruthy();
    expect(l.size).toBe(2);
  });

  it('an exclusive lease waits for overlapping shared leases, not for disjoint ones', async () => {
    const l = new RangeLock();
    const s1 = l.tryShared(0, 10)!;
    l.tryShared(100, 110);
    let got = false;
    const p = l.acquire(5, 20, true).then((e) => ((got = true), e));
    await tick();
    expect(got).toBe(false);
    l.release(s1);
    const e = await p;
    expect(got).toBe(true);
    expect(e.exclusive).toBe(true);
  });

  it('shared leases wait behind an overlapping exclusive (held or waiting) in arrival order', async () => {
    const l = new RangeLock();
    const s = l.tryShared(0, 10)!;
    const order: string[] = [];
    const ex = l.acquire(0, 10, true).then((e) => (order.push('ex'), e));
    expect(l.tryShared(5, 6)).toBeUndefined(); // behind the waiting exclusive
    expect(l.tryShared(50, 60)).toBeDefined(); // disjoint: no wait
    const sh = l.acquire(5, 6, false).then((e) => (order.push('sh'), e));
    await tick();
    expect(order).toEqual([]);
    l.release(s);
    const exLease = await ex;
    await tick();
    expect(order).toEqual(['ex']);
    l.release(exLease);
    await sh;
    expect(order).toEqual(['ex', 'sh']);
  });

  it('exclusive leases on overlapping ranges are serialized; release is idempotent', async () => {
    const l = new RangeLock();
    const a = await l.acquire(0, 4, true);
    let second = false;
    const b = l.acquire(3, 8, true).then((e) => ((second = true), e));
    await tick();
    expect(second).toBe(false);
    l.release(a);
    l.release(a);
    l.release(await b);
    expect(l.size).toBe(0);
  });
});
