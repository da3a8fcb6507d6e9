/**
 * CLEAR, PREEMPT and PREEMPT AND ABORT (SPC-4 §5.13.11.2.3-§5.13.11.2.5):
 * what is removed, the new reservation, the PR generation, the unit
 * attentions and the tasks aborted.
 */
import { describe, expect, it } from 'vitest';
import { cdb, senseOf } from '../helpers.js';
import { RESERVATION_CONFLICT, UA, prHarness, registered } from './helpers.js';
import { SA, TYPE } from './pr-codec.js';

describe('CLEAR', () => {
  it('removes every registration and the reservation; generation + 1; RESERVATIONS PREEMPTED for the others (libiscsi ProutClear.Simple)', async () => {
    const { h, nx: [a, b] } = await registered([1n, 2n], TYPE.EA);
    const g = (await h.keys(a)).generation;
    expect((await h.prout(b, SA.CLEAR, 0, { rk: 2n })).status).toBe(0);
    expect(await h.ua(a)).toBe(UA.RESERVATIONS_PREEMPTED);
    expect(await h.ua(b)).toBe(0);
    expect(await h.keys(a)).toMatchObject({ generation: g + 1, keys: [] });
    expect((await h.reservation(a)).reserved).toBe(false);
    // Anyone may write again.
    expect((await h.run(b, cdb.write10(0, 1), Buffer.alloc(512))).status).toBe(0);
  });

  it('needs a registration and the right key', async () => {
    const h = await prHarness();
    const a = await h.login(1);
    const b = await h.login(2);
    await h.register(a, 1n);
    expect((await h.prout(b, SA.CLEAR, 0, { rk: 1n })).status).toBe(RESERVATION_CONFLICT);
    expect((await h.prout(a, SA.CLEAR, 0, { rk: 3n })).status).toBe(RESERVATION_CONFLICT);
    expect((await h.keys(a)).keys).toEqual([1n]);
  });
});

describe('PREEMPT removing registrations (no reservation, or a key that is not the holder\'s)', () => {
  it('removes every I_T nexus registered with SERVICE ACTION RESERVATION KEY (libiscsi ProutPreempt.RemoveRegistration)', async () => {
    const { h, nx: [a, b, c] } = await registered([1n, 2n, 1n]);
    const g = (await h.keys(a)).generation;
    expect((await h.prout(b, SA.PREEMPT, TYPE.EA, { rk: 2n, sark: 1n })).status).toBe(0);
    expect(await h.keys(b)).toMatchObject({ generation: g + 1, keys: [2n] });
    expect(await h.ua(a)).toBe(UA.REGISTRATIONS_PREEMPTED);
    expect(await h.ua(c)).toBe(UA.REGISTRATIONS_PREEMPTED);
    expect(await h.ua(b)).toBe(0);
    expect((await h.reservation(b)).reserved).toBe(false);
  });

  it('a key nobody has: RESERVATION CONFLICT; key zero: INVALID FIELD IN PARAMETER LIST', async () => {
    const h = await prHarness();
    const a = await h.login(1);
    await h.register(a, 1n);
    expect((await h.prout(a, SA.PREEMPT, TYPE.EA, { rk: 1n, sark: 9n })).status).toBe(RESERVATION_CONFLICT);
    expect(senseOf(await h.prout(a, SA.PREEMPT, TYPE.EA, { rk: 1n, sark: 0n }))).toMatchObject({ asc: 0x26, fieldPointer: 8 });
    expect((await h.keys(a)).generation).toBe(1);
  });

  it('the reservation stays when SERVICE ACTION RESERVATION KEY is not the holder\'s', async () => {
    const { h, nx: [a, b, c] } = await registered([1n, 2n, 3n], TYPE.WE);
    expect((await h.prout(b, SA.PREEMPT, TYPE.WE, { rk: 2n, sark: 3n })).status).toBe(0);
    expect(await h.reservation(b)).toMatchObject({ reserved: true, key: 1n, type: TYPE.WE });
    expect((await h.keys(b)).keys).toEqual([1n, 2n]);
  });

  it('from an unregistered I_T nexus or with a wrong key: RESERVATION CONFLICT', async () => {
    const h = await prHarness();
    const a = await h.login(1);
    const b = await h.login(2);
    await h.register(a, 1n);
    expect((await h.prout(b, SA.PREEMPT, TYPE.EA, { rk: 0n, sark: 1n })).status).toBe(RESERVATION_CONFLICT);
    expect((await h.prout(a, SA.PREEMPT, TYPE.EA, { rk: 2n, sark: 1n })).status).toBe(RESERVATION_CONFLICT);
  });
});

describe('PREEMPT of the reservation', () => {
  it('takes the reservation with the CDB type, removes the holder\'s key; REGISTRATIONS PREEMPTED, and RESERVATIONS RELEASED when the type changed', async () => {
    const { h, nx: [a, b, c] } = await registered([1n, 2n, 3n], TYPE.WERO);
    expect((await h.prout(b, SA.PREEMPT, TYPE.EARO, { rk: 2n, sark: 1n })).status).toBe(0);
    expect(await h.ua(a)).toBe(UA.REGISTRATIONS_PREEMPTED);
    expect(await h.ua(c)).toBe(UA.RESERVATIONS_RELEASED);
    expect(await h.ua(b)).toBe(0);
    expect(await h.reservation(b)).toMatchObject({ reserved: true, key: 2n, type: TYPE.EARO });
    expect((await h.keys(b)).keys).toEqual([2n, 3n]);
    // The preempted nexus is now unregistered: writes conflict (Exclusive Access, Registrants Only).
    expect((await h.run(a, cdb.write10(0, 1), Buffer.alloc(512))).status).toBe(RESERVATION_CONFLICT);
    expect((await h.run(c, cdb.write10(0, 1), Buffer.alloc(512))).status).toBe(0);
  });

  it('same type: no RESERVATIONS RELEASED', async () => {
    const { h, nx: [a, b, c] } = await registered([1n, 2n, 3n], TYPE.WE);
    await h.prout(b, SA.PREEMPT, TYPE.WE, { rk: 2n, sark: 1n });
    expect(await h.ua(c)).toBe(0);
  });

  it('the holder may preempt itself to change the type', async () => {
    const h = await prHarness();
    const a = await h.login(1);
    await h.register(a, 1n);
    await h.reserve(a, 1n, TYPE.WE);
    expect((await h.prout(a, SA.PREEMPT, TYPE.EA, { rk: 1n, sark: 1n })).status).toBe(0);
    expect(await h.reservation(a)).toMatchObject({ key: 1n, type: TYPE.EA });
    expect((await h.keys(a)).keys).toEqual([1n]);
  });

  it('all registrants: SERVICE ACTION RESERVATION KEY 0 preempts, removing every other registration', async () => {
    const { h, nx: [a, b, c] } = await registered([1n, 2n, 3n], TYPE.WEAR);
    expect((await h.prout(b, SA.PREEMPT, TYPE.WE, { rk: 2n, sark: 0n })).status).toBe(0);
    expect(await h.reservation(b)).toMatchObject({ key: 2n, type: TYPE.WE });
    expect((await h.keys(b)).keys).toEqual([2n]);
    expect(await h.ua(a)).toBe(UA.REGISTRATIONS_PREEMPTED);
    expect(await h.ua(c)).toBe(UA.REGISTRATIONS_PREEMPTED);
  });

  it('all registrants: a non-zero key only removes registrations', async () => {
    const { h, nx: [a, b] } = await registered([1n, 2n], TYPE.EAAR);
    expect((await h.prout(b, SA.PREEMPT, TYPE.EAAR, { rk: 2n, sark: 1n })).status).toBe(0);
    expect(await h.reservation(b)).toMatchObject({ key: 0n, type: TYPE.EAAR });
    expect((await h.keys(b)).keys).toEqual([2n]);
  });

  it('an invalid TYPE or SCOPE when preempting the reservation: INVALID FIELD IN CDB', async () => {
    const { h, nx: [a, b] } = await registered([1n, 2n], TYPE.WE);
    expect(senseOf(await h.prout(b, SA.PREEMPT, 2, { rk: 2n, sark: 1n }))).toMatchObject({ asc: 0x24, fieldPointer: 2 });
    expect(senseOf(await h.prout(b, SA.PREEMPT, TYPE.WE, { rk: 2n, sark: 1n }, { scope: 2 }))).toMatchObject({ asc: 0x24, fieldPointer: 2 });
  });
});

describe('PREEMPT AND ABORT', () => {
  it('aborts the tasks of the preempted I_T nexuses (live ones, for this LUN), not of the requester', async () => {
    const h = await prHarness({ luns: 2 });
    const a = await h.login(1);
    const b = await h.login(2);
    const a2 = await h.login(1, { relativePortId: 2, tpgt: 2, portGroupId: 2, name: 'p2' });
    await h.register(a, 1n);
    await h.register(a2, 1n);
    await h.register(b, 2n);
    await h.reserve(a, 1n, TYPE.WERO);
    expect((await h.prout(b, SA.PREEMPT_AND_ABORT, TYPE.WERO, { rk: 2n, sark: 1n })).status).toBe(0);
    expect(h.aborts).toEqual([{ ids: [a.id, a2.id].sort(), lun: 0 }]);
    expect(await h.reservation(b)).toMatchObject({ key: 2n, type: TYPE.WERO });
    expect(await h.ua(a)).toBe(UA.REGISTRATIONS_PREEMPTED);
  });

  it('removing registrations aborts their tasks too; PREEMPT aborts nothing', async () => {
    const { h, nx: [a, b] } = await registered([1n, 2n]);
    await h.prout(b, SA.PREEMPT, TYPE.EA, { rk: 2n, sark: 1n });
    expect(h.aborts).toEqual([]);
    await h.ua(a);
    await h.register(a, 1n);
    await h.prout(b, SA.PREEMPT_AND_ABORT, TYPE.EA, { rk: 2n, sark: 1n });
    expect(h.aborts).toEqual([{ ids: [a.id], lun: 0 }]);
  });
});
