/**
 * RESERVE(6)/(10) and RELEASE(6)/(10) next to persistent reservations
 * (SPC-4 §5.13.3, CRH = 1; SPC-2 §7.11, §7.12), and what resets and I_T
 * nexus loss do to each kind (persistent reservations survive them).
 */
import { describe, expect, it } from 'vitest';
import { cdb } from '../helpers.js';
import { RESERVATION_CONFLICT, prHarness } from './helpers.js';
import { IN, SA, TYPE } from './pr-codec.js';

const RESERVE6 = [0x16, 0, 0, 0, 0, 0];
const RELEASE6 = [0x17, 0, 0, 0, 0, 0];
const RESERVE10 = [0x56, 0, 0, 0, 0, 0, 0, 0, 0, 0];

describe('RESERVE(6)/(10) while registrations exist (SPC-4 §5.13.3)', () => {
  it('from the persistent reservation holder: GOOD, nothing reserved', async () => {
    const h = await prHarness();
    const a = await h.login(1);
    const b = await h.login(2);
    await h.register(a, 1n);
    await h.reserve(a, 1n, TYPE.WE);
    expect((await h.run(a, RESERVE6)).status).toBe(0);
    expect((await h.run(a, RESERVE10)).status).toBe(0);
    expect(h.dev.logicalUnit(0)!.reservationHolder).toBeUndefined();
    // Reads from others still work (Write Exclusive), which an SPC-2 reservation would have stopped.
    expect((await h.run(b, cdb.read10(0, 1))).status).toBe(0);
  });

  it('from a registrant under registrants only / all registrants: GOOD, nothing reserved', async () => {
    for (const t of [TYPE.WERO, TYPE.EARO, TYPE.WEAR, TYPE.EAAR]) {
      const h = await prHarness();
      const a = await h.login(1);
      const b = await h.login(2);
      await h.register(a, 1n);
      await h.register(b, 2n);
      await h.reserve(a, 1n, t);
      expect((await h.run(b, RESERVE6)).status).toBe(0);
      expect(h.dev.logicalUnit(0)!.reservationHolder).toBeUndefined();
    }
  });

  it('from anyone else: RESERVATION CONFLICT, also with registrations but no reservation', async () => {
    const h = await prHarness();
    const a = await h.login(1);
    const b = await h.login(2);
    const c = await h.login(3);
    await h.register(a, 1n);
    expect((await h.run(b, RESERVE6)).status).toBe(RESERVATION_CONFLICT);
    await h.register(c, 3n);
    await h.reserve(a, 1n, TYPE.WE);
    // Registered but not the holder of a Write Exclusive reservation.
    expect((await h.run(c, RESERVE6)).status).toBe(RESERVATION_CONFLICT);
    expect((await h.run(b, RESERVE10)).status).toBe(RESERVATION_CONFLICT);
  });

  it('RELEASE(6) never releases a persistent reservation', async () => {
    const h = await prHarness();
    const a = await h.login(1);
    await h.register(a, 1n);
    await h.reserve(a, 1n, TYPE.EA);
    expect((await h.run(a, RELEASE6)).status).toBe(0);
    expect(await h.reservation(a)).toMatchObject({ reserved: true, type: TYPE.EA });
  });

  it('with no registrations RESERVE(6) works as in SPC-2', async () => {
    const h = await prHarness();
    const a = await h.login(1);
    const b = await h.login(2);
    expect((await h.run(a, RESERVE6)).status).toBe(0);
    expect((await h.run(b, RESERVE6)).status).toBe(RESERVATION_CONFLICT);
    expect((await h.run(a, RELEASE6)).status).toBe(0);
    expect((await h.run(b, RESERVE6)).status).toBe(0);
  });
});

describe('PERSISTENT RESERVE IN/OUT while RESERVE(6) is held (SPC-2 §7.11, §7.12)', () => {
  it('conflict from other I_T nexuses, allowed from the holder', async () => {
    const h = await prHarness();
    const a = await h.login(1);
    const b = await h.login(2);
    expect((await h.run(a, RESERVE6)).status).toBe(0);
    expect((await h.prin(b, IN.READ_KEYS)).status).toBe(RESERVATION_CONFLICT);
    expect((await h.prout(b, SA.REGISTER_AND_IGNORE, 0, { sark: 2n })).status).toBe(RESERVATION_CONFLICT);
    expect((await h.prin(a, IN.READ_KEYS)).status).toBe(0);
    expect((await h.prout(a, SA.REGISTER_AND_IGNORE, 0, { sark: 1n })).status).toBe(0);
  });
});

describe('persistent reservations survive resets and I_T nexus loss (SPC-4 §5.13.1)', () => {
  it('LOGICAL UNIT RESET, TARGET RESET and the holder logging out leave registrations and the reservation', async () => {
    const h = await prHarness();
    const a = await h.login(1);
    const b = await h.login(2);
    await h.register(a, 1n);
    await h.reserve(a, 1n, TYPE.WE);
    const before = await h.fullStatus(b);
    h.dev.lunReset(0, b);
    h.dev.targetReset(b);
    h.dev.nexusRemoved(a);
    await h.ua(b);
    expect(await h.fullStatus(b)).toEqual(before);
    expect((await h.run(b, cdb.write10(0, 1), Buffer.alloc(512))).status).toBe(RESERVATION_CONFLICT);
    // The holder comes back (a new session of the same initiator port) and still holds it.
    const again = await h.login(1);
    expect((await h.run(again, cdb.write10(0, 1), Buffer.alloc(512))).status).toBe(0);
  });
});
