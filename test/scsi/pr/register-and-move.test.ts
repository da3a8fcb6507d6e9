/**
 * REGISTER AND MOVE (SPC-4 §5.13.8, §6.16.4).
 */
import { describe, expect, it } from 'vitest';
import { senseOf } from '../helpers.js';
import { PORT2, RESERVATION_CONFLICT, portName, prHarness, registered } from './helpers.js';
import { SA, TYPE, decodeCapabilities, iscsiTid, moveParams, IN } from './pr-codec.js';

describe('REGISTER AND MOVE', () => {
  it('registers the destination I_T nexus with the new key and moves the reservation to it; the source stays registered', async () => {
    const h = await prHarness();
    const a = await h.login(1);
    const b = await h.login(2, PORT2);
    await h.register(a, 1n);
    await h.reserve(a, 1n, TYPE.WE);
    const r = await h.prout(a, SA.REGISTER_AND_MOVE, TYPE.EA, moveParams({ rk: 1n, sark: 0x22n, rtpi: 2, tid: iscsiTid(portName(2)) }));
    expect(r.status).toBe(0);
    const fs = await h.fullStatus(b);
    expect(fs.generation).toBe(2);
    expect(fs.entries.map((e) => [e.key, e.tid.name, e.relativePortId, e.holder, e.type])).toEqual([
      [1n, portName(1), 1, false, 0],
      [0x22n, portName(2), 2, true, TYPE.EA],
    ]);
  });

  it('UNREG unregisters the source; APTPL is taken from the list', async () => {
    const h = await prHarness();
    const a = await h.login(1);
    await h.register(a, 1n);
    await h.reserve(a, 1n, TYPE.WERO);
    expect((await h.prout(a, SA.REGISTER_AND_MOVE, TYPE.WERO, moveParams({ rk: 1n, sark: 5n, unreg: true, aptpl: true, rtpi: 1, tid: iscsiTid(portName(3)) }))).status).toBe(0);
    expect((await h.fullStatus(a)).entries.map((e) => [e.key, e.tid.name, e.holder])).toEqual([[5n, portName(3), true]]);
    expect(decodeCapabilities((await h.prin(a, IN.REPORT_CAPABILITIES)).dataIn!).ptplA).toBe(true);
  });

  it('an already registered destination gets the new key', async () => {
    const { h, nx: [a, b] } = await registered([1n, 2n], TYPE.EA);
    expect((await h.prout(a, SA.REGISTER_AND_MOVE, TYPE.EA, moveParams({ rk: 1n, sark: 7n, rtpi: 1, tid: iscsiTid(portName(2)) }))).status).toBe(0);
    expect(await h.reservation(a)).toMatchObject({ key: 7n, type: TYPE.EA });
    expect((await h.keys(a)).keys).toEqual([1n, 7n]);
  });

  it('an initiator device TransportID resolves to its one port logged in through that target port', async () => {
    const h = await prHarness();
    const a = await h.login(1);
    await h.login(2, PORT2);
    await h.register(a, 1n);
    await h.reserve(a, 1n, TYPE.WE);
    expect((await h.prout(a, SA.REGISTER_AND_MOVE, TYPE.WE, moveParams({ rk: 1n, sark: 2n, rtpi: 2, tid: iscsiTid('iqn.1994-05.com.example:host2') }))).status).toBe(0);
    expect((await h.fullStatus(a)).entries[1]).toMatchObject({ key: 2n, holder: true, relativePortId: 2 });
  });

  it('only the holder of a reservation that is not all registrants may move it: RESERVATION CONFLICT', async () => {
    const { h, nx: [a, b] } = await registered([1n, 2n]);
    const move = (rk: bigint) => moveParams({ rk, sark: 9n, rtpi: 1, tid: iscsiTid(portName(3)) });
    // No reservation.
    expect((await h.prout(a, SA.REGISTER_AND_MOVE, TYPE.WE, move(1n))).status).toBe(RESERVATION_CONFLICT);
    await h.reserve(a, 1n, TYPE.WE);
    // Not the holder; wrong key.
    expect((await h.prout(b, SA.REGISTER_AND_MOVE, TYPE.WE, move(2n))).status).toBe(RESERVATION_CONFLICT);
    expect((await h.prout(a, SA.REGISTER_AND_MOVE, TYPE.WE, move(3n))).status).toBe(RESERVATION_CONFLICT);
    await h.prout(a, SA.RELEASE, TYPE.WE, { rk: 1n });
    await h.reserve(a, 1n, TYPE.WEAR);
    expect((await h.prout(a, SA.REGISTER_AND_MOVE, TYPE.WE, move(1n))).status).toBe(RESERVATION_CONFLICT);
    expect((await h.keys(a)).keys).toEqual([1n, 2n]);
  });

  it('parameter errors: key zero, unknown target port, itself as destination, bad type, truncated list', async () => {
    const h = await prHarness();
    const a = await h.login(1);
    await h.register(a, 1n);
    await h.reserve(a, 1n, TYPE.WE);
    const tid = iscsiTid(portName(2));
    expect(senseOf(await h.prout(a, SA.REGISTER_AND_MOVE, TYPE.WE, moveParams({ rk: 1n, sark: 0n, rtpi: 1, tid })))).toMatchObject({ asc: 0x26, fieldPointer: 8 });
    expect(senseOf(await h.prout(a, SA.REGISTER_AND_MOVE, TYPE.WE, moveParams({ rk: 1n, sark: 2n, rtpi: 9, tid })))).toMatchObject({ asc: 0x26, fieldPointer: 18 });
    expect(senseOf(await h.prout(a, SA.REGISTER_AND_MOVE, TYPE.WE, moveParams({ rk: 1n, sark: 2n, rtpi: 1, tid: iscsiTid(portName(1)) })))).toMatchObject({ asc: 0x26, fieldPointer: 24 });
    expect(senseOf(await h.prout(a, SA.REGISTER_AND_MOVE, 4, moveParams({ rk: 1n, sark: 2n, rtpi: 1, tid })))).toMatchObject({ asc: 0x24, fieldPointer: 2 });
    const short = moveParams({ rk: 1n, sark: 2n, rtpi: 1, tid });
    short.writeUInt32BE(tid.length + 4, 20);
    expect(senseOf(await h.prout(a, SA.REGISTER_AND_MOVE, TYPE.WE, short))).toMatchObject({ asc: 0x1a });
    expect(senseOf(await h.prout(a, SA.REGISTER_AND_MOVE, TYPE.WE, Buffer.alloc(20)))).toMatchObject({ asc: 0x1a });
    expect(await h.reservation(a)).toMatchObject({ key: 1n, type: TYPE.WE });
    expect((await h.keys(a)).generation).toBe(1);
  });
});
