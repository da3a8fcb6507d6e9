/**
 * PERSISTENT RESERVE IN (SPC-4 §6.15): the four service actions, their
 * parameter data and truncation, and the service actions that do not exist.
 */
import { describe, expect, it } from 'vitest';
import { cdb, senseOf } from '../helpers.js';
import { prHarness, portName, PORT2, registered } from './helpers.js';
import { ALL_TYPES, IN, TYPE, decodeCapabilities, decodeFullStatus, decodeReadKeys, isAllRegistrants, prinCdb } from './pr-codec.js';

describe('PERSISTENT RESERVE IN', () => {
  it('READ KEYS and READ RESERVATION on a fresh LU: generation 0, no keys, not reserved', async () => {
    const h = await prHarness();
    const a = await h.login(1);
    expect(await h.keys(a)).toEqual({ generation: 0, additionalLength: 0, keys: [] });
    const rr = await h.prin(a, IN.READ_RESERVATION);
    expect(rr.dataIn).toEqual(Buffer.alloc(8));
    expect(await h.fullStatus(a)).toEqual({ generation: 0, additionalLength: 0, entries: [] });
  });

  it('READ KEYS lists one key per registered I_T nexus; ADDITIONAL LENGTH is not cut by the allocation length (§6.15.2)', async () => {
    const h = await prHarness();
    const a = await h.login(1);
    const b = await h.login(2, PORT2);
    await h.register(a, 0x1111n);
    await h.register(b, 0x2222n);
    expect(await h.keys(a)).toEqual({ generation: 2, additionalLength: 16, keys: [0x1111n, 0x2222n] });
    const short = await h.prin(a, IN.READ_KEYS, 8);
    expect(short.dataIn!.length).toBe(8);
    expect(decodeReadKeys(short.dataIn!)).toMatchObject({ generation: 2, additionalLength: 16, keys: [] });
    const partial = await h.prin(a, IN.READ_KEYS, 12);
    expect(partial.dataIn!.length).toBe(12);
  });

  it('READ RESERVATION reports the holder key, or zero for all registrants types (§6.15.3)', async () => {
    for (const t of ALL_TYPES) {
      const h = await prHarness();
      const a = await h.login(1);
      await h.register(a, 0xabcn);
      await h.reserve(a, 0xabcn, t);
      expect(await h.reservation(a)).toEqual({ generation: 1, reserved: true, key: isAllRegistrants(t) ? 0n : 0xabcn, scope: 0, type: t });
      const raw = (await h.prin(a, IN.READ_RESERVATION)).dataIn!;
      expect(raw.length).toBe(24);
      expect(raw.readUInt32BE(4)).toBe(16);
    }
  });

  it('REPORT CAPABILITIES: CRH, SIP_C, ATP_C, PTPL_C, TMV with ALLOW COMMANDS 010b, every type, PTPL_A follows APTPL', async () => {
    const h = await prHarness();
    const a = await h.login(1);
    const c = decodeCapabilities((await h.prin(a, IN.REPORT_CAPABILITIES)).dataIn!);
    expect(c).toEqual({ length: 8, crh: true, sipC: true, atpC: true, ptplC: true, tmv: true, allowCommands: 2, ptplA: false, typeMask: 0xea01 });
    await h.register(a, 7n, { aptpl: true });
    expect(decodeCapabilities((await h.prin(a, IN.REPORT_CAPABILITIES)).dataIn!).ptplA).toBe(true);
    await h.register(a, 8n, { aptpl: false });
    expect(decodeCapabilities((await h.prin(a, IN.REPORT_CAPABILITIES)).dataIn!).ptplA).toBe(false);
  });

  it('READ FULL STATUS: key, R_HOLDER with scope/type, relative target port and the iSCSI TransportID of each I_T nexus (§6.15.5)', async () => {
    const h = await prHarness();
    const a = await h.login(1);
    const b = await h.login(2, PORT2);
    await h.register(a, 0x10n);
    await h.register(b, 0x20n);
    await h.reserve(b, 0x20n, TYPE.WERO);
    const fs = await h.fullStatus(a);
    expect(fs.generation).toBe(2);
    expect(fs.entries).toEqual([
      { key: 0x10n, allTgPt: false, holder: false, scope: 0, type: 0, relativePortId: 1, tid: { format: 1, protocol: 5, additionalLength: 48, name: portName(1) } },
      { key: 0x20n, allTgPt: false, holder: true, scope: 0, type: TYPE.WERO, relativePortId: 2, tid: { format: 1, protocol: 5, additionalLength: 48, name: portName(2) } },
    ]);
    // Every descriptor: 24 bytes + a TransportID: 4 + 46 name bytes + NUL, padded to a multiple of 4.
    expect(fs.additionalLength).toBe(2 * (24 + 4 + 48));
  });

  it('READ FULL STATUS under an all registrants reservation marks every registrant as holder', async () => {
    const { h, nx: [a, b] } = await registered([1n, 2n], TYPE.EAAR);
    const fs = await h.fullStatus(b);
    expect(fs.entries.map((e) => [e.holder, e.type])).toEqual([
      [true, TYPE.EAAR],
      [true, TYPE.EAAR],
    ]);
  });

  it('service actions 04h-1Fh: INVALID FIELD IN CDB pointing at byte 1', async () => {
    const h = await prHarness();
    const a = await h.login(1);
    for (let sa = 4; sa < 0x20; sa++) {
      expect(senseOf(await h.run(a, prinCdb(sa)))).toMatchObject({ key: 5, asc: 0x24, ascq: 0, fieldPointer: 1 });
    }
  });

  it('reserved CDB bytes are refused (SPC-4 §4.3.3)', async () => {
    const h = await prHarness();
    const a = await h.login(1);
    const c = prinCdb(IN.READ_KEYS);
    c[2] = 1;
    expect(senseOf(await h.run(a, c))).toMatchObject({ asc: 0x24, fieldPointer: 2 });
  });

  it('is answered through either target port with the same data', async () => {
    const h = await prHarness();
    const a = await h.login(1);
    const a2 = await h.login(1, PORT2);
    await h.register(a, 5n);
    expect(decodeFullStatus((await h.prin(a2, IN.READ_FULL_STATUS)).dataIn!)).toEqual(await h.fullStatus(a));
  });

  it('REPORT SUPPORTED OPERATION CODES lists PERSISTENT RESERVE IN 00h-03h and OUT 00h-07h with their CDB usage (from the table)', async () => {
    const h = await prHarness();
    const a = await h.login(1);
    const all = (await h.run(a, cdb.rsoc(0))).dataIn!;
    const listed: string[] = [];
    for (let o = 4; o < 4 + all.readUInt32BE(0); o += 8) if (all[o] === 0x5e || all[o] === 0x5f) listed.push(`${all[o].toString(16)}/${all.readUInt16BE(o + 2)}`);
    expect(listed).toEqual(['5e/0', '5e/1', '5e/2', '5e/3', '5f/0', '5f/1', '5f/2', '5f/3', '5f/4', '5f/5', '5f/6', '5f/7']);
    const one = (await h.run(a, cdb.rsoc(2, 0x5f, 7))).dataIn!;
    expect([...one.subarray(4, 14)]).toEqual([0x5f, 0x07, 0xff, 0, 0, 0xff, 0xff, 0xff, 0xff, 0]);
    const inq = (await h.run(a, cdb.rsoc(2, 0x5e, 3))).dataIn!;
    expect([...inq.subarray(4, 14)]).toEqual([0x5e, 0x03, 0, 0, 0, 0, 0, 0xff, 0xff, 0]);
  });
});
