/**
 * Persistent reservation state written before GOOD status and loaded at
 * start (DESIGN.md §6): what is saved when, a failed write, a device built
 * from saved state, the snapshot format, serialized PERSISTENT RESERVE OUT.
 */
import { describe, expect, it } from 'vitest';
import { cdb, senseOf } from '../helpers.js';
import { MemoryPrPersistence, fromSnapshot, toSnapshot, PrSnapshotError } from '../../../src/scsi/persistent-reservations/index.js';
import { RESERVATION_CONFLICT, prHarness } from './helpers.js';
import { SA, TYPE, iscsiTid } from './pr-codec.js';
import { portName } from './helpers.js';

class SlowPersistence extends MemoryPrPersistence {
  pending: Array<() => void> = [];
  override async save(lun: { id: number; naa: string }, snapshot: Parameters<MemoryPrPersistence['save']>[1]): Promise<void> {
    await new Promise<void>((r) => this.pending.push(r));
    return super.save(lun, snapshot);
  }
}

describe('persistence', () => {
  it('saves every state change before GOOD, nothing for reads or no-ops', async () => {
    const h = await prHarness();
    const a = await h.login(1);
    await h.register(a, 1n);
    expect(h.persistence.saves).toBe(1);
    await h.reserve(a, 1n, TYPE.WE);
    expect(h.persistence.saves).toBe(2);
    await h.reserve(a, 1n, TYPE.WE);
    await h.prout(a, SA.RELEASE, TYPE.EA, { rk: 2n });
    await h.keys(a);
    await h.fullStatus(a);
    expect(h.persistence.saves).toBe(2);
    await h.prout(a, SA.RELEASE, TYPE.WE, { rk: 1n });
    expect(h.persistence.saves).toBe(3);
  });

  it('GOOD only once the state is written; until then the old state applies', async () => {
    const persistence = new SlowPersistence();
    const h = await prHarness({ persistence });
    const a = await h.login(1);
    const b = await h.login(2);
    const reg = h.prout(a, SA.REGISTER_AND_IGNORE, 0, { sark: 1n });
    let done = false;
    void reg.then(() => (done = true));
    await new Promise((r) => setTimeout(r, 10));
    expect(done).toBe(false);
    expect((await h.keys(b)).keys).toEqual([]);
    persistence.pending.shift()!();
    expect((await reg).status).toBe(0);
    expect((await h.keys(b)).keys).toEqual([1n]);
  });

  it('PERSISTENT RESERVE OUT commands run one at a time per LU, in arrival order', async () => {
    const persistence = new SlowPersistence();
    const h = await prHarness({ persistence });
    const a = await h.login(1);
    const b = await h.login(2);
    const first = h.prout(a, SA.REGISTER_AND_IGNORE, 0, { sark: 1n });
    const second = h.prout(b, SA.REGISTER_AND_IGNORE, 0, { sark: 2n });
    const third = h.prout(a, SA.RESERVE, TYPE.EA, { rk: 1n });
    for (let i = 0; i < 3; i++) {
      await new Promise((r) => setTimeout(r, 5));
      persistence.pending.shift()?.();
    }
    expect((await first).status).toBe(0);
    expect((await second).status).toBe(0);
    expect((await third).status).toBe(0);
    expect([...persistence.saved.values()][0]).toMatchObject({ generation: 2, reservation: { type: TYPE.EA } });
  });

  it('a failed write: HARDWARE ERROR, the state stays as it was', async () => {
    const h = await prHarness();
    const a = await h.login(1);
    await h.register(a, 1n);
    h.persistence.failNext = new Error('EIO');
    expect(senseOf(await h.prout(a, SA.RESERVE, TYPE.EA, { rk: 1n }))).toMatchObject({ key: 4, asc: 0x44 });
    expect((await h.reservation(a)).reserved).toBe(false);
    expect((await h.keys(a)).generation).toBe(1);
  });

  it('a device built from the saved state reports identical READ FULL STATUS and enforces the reservation', async () => {
    const h = await prHarness();
    const a = await h.login(1);
    const b = await h.login(2);
    await h.register(a, 0x1234n, { allTgPt: true });
    await h.prout(b, SA.REGISTER, 0, { sark: 0x99n, specIPt: true, tids: [iscsiTid(portName(4))] });
    await h.reserve(a, 0x1234n, TYPE.WERO);
    const before = await h.fullStatus(a);
    const after = await prHarness({ persistence: h.persistence });
    const c = await after.login(3);
    expect(await after.fullStatus(c)).toEqual(before);
    expect((await after.run(c, cdb.write10(0, 1), Buffer.alloc(512))).status).toBe(RESERVATION_CONFLICT);
    const a2 = await after.login(1);
    expect((await after.run(a2, cdb.write10(0, 1), Buffer.alloc(512))).status).toBe(0);
    // The PR generation continues.
    await after.register(c, 3n);
    expect((await after.keys(c)).generation).toBe(before.generation + 1);
  });

  it('snapshots round-trip; bad snapshots are refused with a reason', () => {
    const good = {
      version: 1,
      generation: 7,
      aptpl: true,
      registrations: [{ key: '00000000000000ab', initiatorPortName: portName(1), relativePortId: 1, allTgPt: false }],
      reservation: { type: 1, scope: 0, holder: `${portName(1)}|1` },
    };
    expect(toSnapshot(fromSnapshot(good))).toEqual(good);
    const bad = (v: unknown) => expect(() => fromSnapshot(v)).toThrow(PrSnapshotError);
    bad(null);
    bad({ ...good, version: 2 });
    bad({ ...good, generation: -1 });
    bad({ ...good, registrations: [{ ...good.registrations[0], key: 'xyz' }] });
    bad({ ...good, registrations: [{ ...good.registrations[0], key: '0000000000000000' }] });
    bad({ ...good, registrations: [{ ...good.registrations[0], initiatorPortName: 'iqn.x' }] });
    bad({ ...good, reservation: { type: 2, scope: 0, holder: null } });
    bad({ ...good, reservation: { type: 1, scope: 0, holder: 'someone|1' } });
    bad({ ...good, reservation: { type: 7, scope: 0, holder: `${portName(1)}|1` } });
    bad({ ...good, registrations: [], reservation: { type: 7, scope: 0, holder: null } });
  });
});
