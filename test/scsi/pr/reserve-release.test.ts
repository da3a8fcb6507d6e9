/**
 * RESERVE and RELEASE (SPC-4 §5.13.9, §5.13.11.2.2) for all six types,
 * unregistering a holder (§5.13.11.3) and the unit attentions they cause.
 */
import { describe, expect, it } from 'vitest';
import { senseOf } from '../helpers.js';
import { RESERVATION_CONFLICT, UA, prHarness, registered } from './helpers.js';
import { ALL_TYPES, SA, TYPE, isAllRegistrants } from './pr-codec.js';

describe('RESERVE', () => {
  it.each(ALL_TYPES)('type %i: reserve, re-reserve (no-op), release; PRgeneration unchanged', async (t) => {
    const h = await prHarness();
    const a = await h.login(1);
    await h.register(a, 0x5n);
    const saves = h.persistence.saves;
    await h.reserve(a, 0x5n, t);
    expect(await h.reservation(a)).toEqual({ generation: 1, reserved: true, key: isAllRegistrants(t) ? 0n : 5n, scope: 0, type: t });
    expect(h.persistence.saves).toBe(saves + 1);
    await h.reserve(a, 0x5n, t);
    expect(h.persistence.saves).toBe(saves + 1);
    expect((await h.prout(a, SA.RELEASE, t, { rk: 5n })).status).toBe(0);
    expect(await h.reservation(a)).toEqual({ generation: 1, reserved: false });
  });

  it('needs a registration and the right key', async () => {
    const h = await prHarness();
    const a = await h.login(1);
    expect((await h.prout(a, SA.RESERVE, TYPE.WE, { rk: 0n })).status).toBe(RESERVATION_CONFLICT);
    await h.register(a, 5n);
    expect((await h.prout(a, SA.RESERVE, TYPE.WE, { rk: 6n })).status).toBe(RESERVATION_CONFLICT);
    expect((await h.reservation(a)).reserved).toBe(false);
  });

  it('the holder reserving with another type conflicts; another registrant reserving conflicts', async () => {
    const { h, nx: [a, b] } = await registered([1n, 2n], TYPE.WE);
    expect((await h.prout(a, SA.RESERVE, TYPE.EA, { rk: 1n })).status).toBe(RESERVATION_CONFLICT);
    expect((await h.prout(b, SA.RESERVE, TYPE.WE, { rk: 2n })).status).toBe(RESERVATION_CONFLICT);
    expect(await h.reservation(b)).toMatchObject({ key: 1n, type: TYPE.WE });
  });

  it('under an all registrants reservation every registrant is a holder and may reserve again', async () => {
    const { h, nx: [a, b] } = await registered([1n, 2n], TYPE.WEAR);
    expect((await h.prout(b, SA.RESERVE, TYPE.WEAR, { rk: 2n })).status).toBe(0);
  });

  it('SCOPE other than LU_SCOPE and invalid TYPEs: INVALID FIELD IN CDB at byte 2', async () => {
    const h = await prHarness();
    const a = await h.login(1);
    await h.register(a, 1n);
    expect(senseOf(await h.prout(a, SA.RESERVE, TYPE.WE, { rk: 1n }, { scope: 1 }))).toMatchObject({ asc: 0x24, fieldPointer: 2, bit: 7 });
    for (const t of [0, 2, 4, 9, 0xf]) {
      expect(senseOf(await h.prout(a, SA.RESERVE, t, { rk: 1n }))).toMatchObject({ asc: 0x24, fieldPointer: 2, bit: 3 });
      expect(senseOf(await h.prout(a, SA.RELEASE, t, { rk: 1n }))).toMatchObject({ asc: 0x24, fieldPointer: 2 });
    }
  });
});

describe('RELEASE', () => {
  it('needs a registration and the right key', async () => {
    const h = await prHarness();
    const a = await h.login(1);
    expect((await h.prout(a, SA.RELEASE, TYPE.WE, { rk: 0n })).status).toBe(RESERVATION_CONFLICT);
    await h.register(a, 1n);
    expect((await h.prout(a, SA.RELEASE, TYPE.WE, { rk: 2n })).status).toBe(RESERVATION_CONFLICT);
    // Registered, nothing reserved: GOOD.
    expect((await h.prout(a, SA.RELEASE, TYPE.WE, { rk: 1n })).status).toBe(0);
  });

  it('from a registrant that does not hold the reservation: GOOD and nothing changes', async () => {
    const { h, nx: [a, b] } = await registered([1n, 2n], TYPE.EARO);
    expect((await h.prout(b, SA.RELEASE, TYPE.EARO, { rk: 2n })).status).toBe(0);
    expect(await h.reservation(a)).toMatchObject({ reserved: true, key: 1n });
  });

  it('with another TYPE than the reservation: INVALID RELEASE OF PERSISTENT RESERVATION (26h/04h)', async () => {
    const h = await prHarness();
    const a = await h.login(1);
    await h.register(a, 1n);
    await h.reserve(a, 1n, TYPE.WE);
    expect(senseOf(await h.prout(a, SA.RELEASE, TYPE.EA, { rk: 1n }))).toMatchObject({ key: 5, asc: 0x26, ascq: 0x04 });
    expect((await h.reservation(a)).reserved).toBe(true);
  });

  it.each([
    [TYPE.WE, false],
    [TYPE.EA, false],
    [TYPE.WERO, true],
    [TYPE.EARO, true],
    [TYPE.WEAR, true],
    [TYPE.EAAR, true],
  ])('type %i: RESERVATIONS RELEASED to the other registrants: %s', async (t, ua) => {
    const h = await prHarness();
    const a = await h.login(1);
    const b = await h.login(2);
    const c = await h.login(3);
    await h.register(a, 1n);
    await h.register(b, 2n);
    await h.reserve(a, 1n, t);
    expect((await h.prout(a, SA.RELEASE, t, { rk: 1n })).status).toBe(0);
    expect(await h.ua(b)).toBe(ua ? UA.RESERVATIONS_RELEASED : 0);
    expect(await h.ua(a)).toBe(0);
    // Not registered: no unit attention.
    expect(await h.ua(c)).toBe(0);
  });
});

describe('unregistering a reservation holder (§5.13.11.3)', () => {
  it.each([
    [TYPE.WE, false],
    [TYPE.EA, false],
    [TYPE.WERO, true],
    [TYPE.EARO, true],
  ])('type %i: the reservation goes with it; RESERVATIONS RELEASED for the rest: %s', async (t, ua) => {
    const { h, nx: [a, b] } = await registered([1n, 2n], t);
    expect((await h.prout(a, SA.REGISTER, 0, { rk: 1n, sark: 0n })).status).toBe(0);
    expect(await h.ua(b)).toBe(ua ? UA.RESERVATIONS_RELEASED : 0);
    expect((await h.reservation(b)).reserved).toBe(false);
  });

  it.each([TYPE.WEAR, TYPE.EAAR])('type %i: stays while a registrant remains, goes with the last one', async (t) => {
    const { h, nx: [a, b] } = await registered([1n, 2n], t);
    await h.prout(a, SA.REGISTER, 0, { rk: 1n, sark: 0n });
    expect(await h.reservation(b)).toMatchObject({ reserved: true, key: 0n, type: t });
    // libiscsi ProutReserve.Ownership*AR: the other registrant releases it.
    expect((await h.prout(b, SA.RELEASE, t, { rk: 2n })).status).toBe(0);
    expect((await h.reservation(b)).reserved).toBe(false);
    await h.reserve(b, 2n, t);
    await h.prout(b, SA.REGISTER, 0, { rk: 2n, sark: 0n });
    expect((await h.reservation(b)).reserved).toBe(false);
  });

  it('changing the holder key keeps the reservation, reported with the new key', async () => {
    const h = await prHarness();
    const a = await h.login(1);
    await h.register(a, 1n);
    await h.reserve(a, 1n, TYPE.WE);
    await h.prout(a, SA.REGISTER, 0, { rk: 1n, sark: 9n });
    expect(await h.reservation(a)).toMatchObject({ reserved: true, key: 9n, type: TYPE.WE });
  });
});
