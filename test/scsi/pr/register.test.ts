/**
 * REGISTER and REGISTER AND IGNORE EXISTING KEY (SPC-4 §5.13.7, §6.16.2),
 * with SPEC_I_PT, ALL_TG_PT and APTPL, the PR generation and the parameter
 * list checks.
 */
import { describe, expect, it } from 'vitest';
import { lunDef, senseOf } from '../helpers.js';
import { MAX_REGISTRATIONS, MemoryPrPersistence } from '../../../src/scsi/persistent-reservations/index.js';
import { PORT2, RESERVATION_CONFLICT, UA, portName, prHarness } from './helpers.js';
import { SA, TYPE, basicParams, iscsiTid } from './pr-codec.js';

describe('REGISTER', () => {
  it('an unregistered I_T nexus registers with RESERVATION KEY 0; any other key conflicts', async () => {
    const h = await prHarness();
    const a = await h.login(1);
    expect((await h.prout(a, SA.REGISTER, 0, { rk: 5n, sark: 9n })).status).toBe(RESERVATION_CONFLICT);
    expect((await h.keys(a)).keys).toEqual([]);
    expect((await h.prout(a, SA.REGISTER, 0, { rk: 0n, sark: 9n })).status).toBe(0);
    expect(await h.keys(a)).toMatchObject({ generation: 1, keys: [9n] });
  });

  it('SERVICE ACTION RESERVATION KEY 0 from an unregistered I_T nexus does nothing (no generation, nothing saved)', async () => {
    const h = await prHarness();
    const a = await h.login(1);
    expect((await h.prout(a, SA.REGISTER, 0, { rk: 0n, sark: 0n })).status).toBe(0);
    expect((await h.prout(a, SA.REGISTER_AND_IGNORE, 0, { rk: 77n, sark: 0n })).status).toBe(0);
    expect(await h.keys(a)).toMatchObject({ generation: 0, keys: [] });
    expect(h.persistence.saves).toBe(0);
  });

  it('a registered I_T nexus changes its key with the right RESERVATION KEY, conflicts with a wrong one', async () => {
    const h = await prHarness();
    const a = await h.login(1);
    await h.register(a, 0x100n);
    // libiscsi ProutRegister.Simple: re-registering with RESERVATION KEY 0 conflicts.
    expect((await h.prout(a, SA.REGISTER, 0, { rk: 0n, sark: 0x101n })).status).toBe(RESERVATION_CONFLICT);
    expect((await h.prout(a, SA.REGISTER, 0, { rk: 0x999n, sark: 0x101n })).status).toBe(RESERVATION_CONFLICT);
    expect(await h.keys(a)).toMatchObject({ generation: 1, keys: [0x100n] });
    expect((await h.prout(a, SA.REGISTER, 0, { rk: 0x100n, sark: 0x101n })).status).toBe(0);
    expect(await h.keys(a)).toMatchObject({ generation: 2, keys: [0x101n] });
  });

  it('SERVICE ACTION RESERVATION KEY 0 unregisters', async () => {
    const h = await prHarness();
    const a = await h.login(1);
    await h.register(a, 0x100n);
    expect((await h.prout(a, SA.REGISTER, 0, { rk: 0x100n, sark: 0n })).status).toBe(0);
    expect(await h.keys(a)).toMatchObject({ generation: 2, keys: [] });
  });

  it('REGISTER AND IGNORE EXISTING KEY ignores RESERVATION KEY for registration, key change and unregistration', async () => {
    const h = await prHarness();
    const a = await h.login(1);
    await h.prout(a, SA.REGISTER_AND_IGNORE, 0, { rk: 0xdeadn, sark: 1n });
    await h.prout(a, SA.REGISTER_AND_IGNORE, 0, { rk: 0xbeefn, sark: 2n });
    expect(await h.keys(a)).toMatchObject({ generation: 2, keys: [2n] });
    await h.prout(a, SA.REGISTER_AND_IGNORE, 0, { rk: 0xbeefn, sark: 0n });
    expect(await h.keys(a)).toMatchObject({ generation: 3, keys: [] });
  });

  it('keys are 64 bits; the same key may be registered by several I_T nexuses', async () => {
    const h = await prHarness();
    const a = await h.login(1);
    const b = await h.login(2);
    await h.register(a, 0xffffffffffffffffn);
    await h.register(b, 0xffffffffffffffffn);
    expect((await h.keys(a)).keys).toEqual([0xffffffffffffffffn, 0xffffffffffffffffn]);
  });

  it('one initiator port through two target ports is two I_T nexuses with their own registrations', async () => {
    const h = await prHarness();
    const a1 = await h.login(1);
    const a2 = await h.login(1, PORT2);
    await h.register(a1, 1n);
    expect((await h.fullStatus(a2)).entries.map((e) => e.relativePortId)).toEqual([1]);
    expect((await h.prout(a2, SA.REGISTER, 0, { rk: 1n, sark: 3n })).status).toBe(RESERVATION_CONFLICT);
    await h.register(a2, 2n);
    expect((await h.keys(a1)).keys).toEqual([1n, 2n]);
  });

  it('the registration belongs to the initiator port, whatever session carries it, and compares names case-insensitively', async () => {
    const h = await prHarness();
    const a = await h.login(1);
    await h.register(a, 1n);
    const upper = { ...a, id: a.id.toUpperCase(), initiatorName: a.initiatorName.toUpperCase(), initiatorPortName: a.initiatorPortName.toUpperCase() };
    h.dev.nexusAdded(upper);
    await h.ua(upper);
    expect((await h.prout(upper, SA.REGISTER, 0, { rk: 1n, sark: 4n })).status).toBe(0);
    expect((await h.keys(a)).keys).toEqual([4n]);
  });

  it('ALL_TG_PT registers the initiator port through every target port (one I_T nexus per port)', async () => {
    const h = await prHarness();
    const a = await h.login(1);
    await h.register(a, 0x77n, { allTgPt: true });
    const fs = await h.fullStatus(a);
    expect(fs.entries.map((e) => [e.key, e.relativePortId, e.allTgPt, e.tid.name])).toEqual([
      [0x77n, 1, true, portName(1)],
      [0x77n, 2, true, portName(1)],
    ]);
    // The I_T nexus through port 2 is registered before it ever logs in.
    const a2 = await h.login(1, PORT2);
    expect((await h.prout(a2, SA.REGISTER, 0, { rk: 0x77n, sark: 0x78n })).status).toBe(0);
    expect((await h.keys(a)).keys).toEqual([0x77n, 0x78n]);
  });

  it('ALL_TG_PT when the initiator port is already registered through another port: INVALID FIELD IN PARAMETER LIST, nothing changes', async () => {
    const h = await prHarness();
    const a = await h.login(1);
    const a2 = await h.login(1, PORT2);
    await h.register(a2, 1n);
    expect(senseOf(await h.prout(a, SA.REGISTER, 0, { sark: 2n, allTgPt: true }))).toMatchObject({ key: 5, asc: 0x26, cd: false, fieldPointer: 20, bit: 2 });
    expect(await h.keys(a)).toMatchObject({ generation: 1, keys: [1n] });
  });

  it('APTPL is recorded from the last REGISTER (PTPL_A) and saved', async () => {
    const h = await prHarness();
    const a = await h.login(1);
    await h.register(a, 1n, { aptpl: true });
    expect([...h.persistence.saved.values()][0].aptpl).toBe(true);
  });

  it('PRgeneration wraps at 2^32', async () => {
    const persistence = new MemoryPrPersistence();
    persistence.saved.set(lunDef(0, 1 << 20).naa, { version: 1, generation: 0xffffffff, aptpl: false, registrations: [], reservation: null });
    const h = await prHarness({ persistence });
    const a = await h.login(1);
    expect((await h.keys(a)).generation).toBe(0xffffffff);
    await h.register(a, 2n);
    expect((await h.keys(a)).generation).toBe(0);
  });
});

describe('REGISTER with SPEC_I_PT (§6.16.3)', () => {
  it('registers the requester and every initiator port named by a TransportID, through the receiving target port', async () => {
    const h = await prHarness();
    const a = await h.login(1);
    expect((await h.prout(a, SA.REGISTER, 0, { sark: 0x42n, specIPt: true, tids: [iscsiTid(portName(2)), iscsiTid(portName(3), { pad: false })] })).status).toBe(0);
    const fs = await h.fullStatus(a);
    expect(fs.entries.map((e) => [e.tid.name, e.relativePortId, e.key])).toEqual([
      [portName(1), 1, 0x42n],
      [portName(2), 1, 0x42n],
      [portName(3), 1, 0x42n],
    ]);
    expect(fs.generation).toBe(1);
    // Host 2 logs in later through port 1 and is registered.
    const b = await h.login(2);
    expect((await h.prout(b, SA.REGISTER, 0, { rk: 0x42n, sark: 0x43n })).status).toBe(0);
  });

  it('with ALL_TG_PT: every named port through every target port', async () => {
    const h = await prHarness();
    const a = await h.login(1);
    expect((await h.prout(a, SA.REGISTER, 0, { sark: 5n, specIPt: true, allTgPt: true, tids: [iscsiTid(portName(2))] })).status).toBe(0);
    expect((await h.fullStatus(a)).entries.map((e) => `${e.tid.name}|${e.relativePortId}`)).toEqual([
      `${portName(1)}|1`,
      `${portName(1)}|2`,
      `${portName(2)}|1`,
      `${portName(2)}|2`,
    ]);
  });

  it('an initiator device TransportID (format 00b) stands for its ports logged in now', async () => {
    const h = await prHarness();
    const a = await h.login(1);
    await h.login(2);
    expect((await h.prout(a, SA.REGISTER, 0, { sark: 5n, specIPt: true, tids: [iscsiTid('iqn.1994-05.com.example:host2')] })).status).toBe(0);
    expect((await h.keys(a)).keys).toEqual([5n, 5n]);
    // A name nobody logged in with: INVALID FIELD IN PARAMETER LIST.
    const c = await h.login(3);
    expect(senseOf(await h.prout(c, SA.REGISTER, 0, { sark: 6n, specIPt: true, tids: [iscsiTid('iqn.1994-05.com.example:nobody')] }))).toMatchObject({ asc: 0x26 });
  });

  it('an I_T nexus named that is already registered refuses the whole command', async () => {
    const h = await prHarness();
    const a = await h.login(1);
    const b = await h.login(2);
    await h.register(b, 9n);
    expect(senseOf(await h.prout(a, SA.REGISTER, 0, { sark: 5n, specIPt: true, tids: [iscsiTid(portName(3)), iscsiTid(portName(2))] }))).toMatchObject({ key: 5, asc: 0x26 });
    expect(await h.keys(a)).toMatchObject({ generation: 1, keys: [9n] });
  });

  it('from a registered I_T nexus: INVALID FIELD IN CDB', async () => {
    const h = await prHarness();
    const a = await h.login(1);
    await h.register(a, 1n);
    expect(senseOf(await h.prout(a, SA.REGISTER, 0, { rk: 1n, sark: 5n, specIPt: true, tids: [iscsiTid(portName(2))] }))).toMatchObject({ key: 5, asc: 0x24 });
  });

  it('with any other service action: INVALID FIELD IN PARAMETER LIST at byte 20 bit 3', async () => {
    const h = await prHarness();
    const a = await h.login(1);
    await h.register(a, 1n);
    for (const [sa, type] of [[SA.REGISTER_AND_IGNORE, 0], [SA.RESERVE, TYPE.WE], [SA.RELEASE, TYPE.WE], [SA.CLEAR, 0], [SA.PREEMPT, TYPE.WE]] as const) {
      expect(senseOf(await h.prout(a, sa, type, { rk: 1n, sark: 2n, specIPt: true, tids: [] }))).toMatchObject({ asc: 0x26, fieldPointer: 20, bit: 3 });
    }
  });

  it('bad TransportIDs: other protocol or format, malformed port name; truncated lists are PARAMETER LIST LENGTH ERROR', async () => {
    const h = await prHarness();
    const a = await h.login(1);
    const fc = iscsiTid(portName(2));
    fc[0] = 0x40 | 0x01; // Fibre Channel protocol identifier with an iSCSI body
    expect(senseOf(await h.prout(a, SA.REGISTER, 0, { sark: 5n, specIPt: true, tids: [fc] }))).toMatchObject({ asc: 0x26, fieldPointer: 28 });
    const fmt = iscsiTid(portName(2));
    fmt[0] = 0x80 | 0x05;
    expect(senseOf(await h.prout(a, SA.REGISTER, 0, { sark: 5n, specIPt: true, tids: [fmt] }))).toMatchObject({ asc: 0x26 });
    expect(senseOf(await h.prout(a, SA.REGISTER, 0, { sark: 5n, specIPt: true, tids: [iscsiTid('iqn.x,i,0x12')] }))).toMatchObject({ asc: 0x26 });
    // TRANSPORTID PARAMETER DATA LENGTH beyond the parameter list.
    const p = basicParams({ sark: 5n, specIPt: true, tids: [iscsiTid(portName(2))] });
    p.writeUInt32BE(200, 24);
    expect(senseOf(await h.prout(a, SA.REGISTER, 0, p))).toMatchObject({ asc: 0x1a });
    // A TransportID whose ADDITIONAL LENGTH runs past the list.
    const q = basicParams({ sark: 5n, specIPt: true, tids: [iscsiTid(portName(2))] });
    q.writeUInt16BE(200, 30);
    expect(senseOf(await h.prout(a, SA.REGISTER, 0, q))).toMatchObject({ asc: 0x1a });
    expect((await h.keys(a)).keys).toEqual([]);
  });
});

describe('PERSISTENT RESERVE OUT parameter list and CDB checks', () => {
  it('PARAMETER LIST LENGTH other than 24 without SPEC_I_PT: PARAMETER LIST LENGTH ERROR', async () => {
    const h = await prHarness();
    const a = await h.login(1);
    for (const n of [0, 8, 23, 25, 32]) {
      const data = Buffer.alloc(n);
      if (n >= 16) data.writeBigUInt64BE(1n, 8);
      expect(senseOf(await h.prout(a, SA.REGISTER, 0, data))).toMatchObject({ key: 5, asc: 0x1a, ascq: 0 });
    }
  });

  it('fewer Data-Out bytes than PARAMETER LIST LENGTH: PARAMETER LIST LENGTH ERROR', async () => {
    const h = await prHarness();
    const a = await h.login(1);
    expect(senseOf(await h.prout(a, SA.REGISTER, 0, basicParams({ sark: 1n }).subarray(0, 20), { plen: 24 }))).toMatchObject({ asc: 0x1a });
  });

  it('service action 08h (REPLACE LOST RESERVATION) and up: INVALID FIELD IN CDB', async () => {
    const h = await prHarness();
    const a = await h.login(1);
    for (const sa of [8, 9, 0x1f]) expect(senseOf(await h.prout(a, sa, 0, { sark: 1n }))).toMatchObject({ asc: 0x24, fieldPointer: 1 });
  });

  it('INSUFFICIENT REGISTRATION RESOURCES past the limit', async () => {
    const h = await prHarness();
    const a = await h.login(1);
    const tids = Array.from({ length: MAX_REGISTRATIONS }, (_, i) => iscsiTid(`iqn.2000-01.com.example:h${i},i,0x${i.toString(16).padStart(12, '0')}`));
    expect(senseOf(await h.prout(a, SA.REGISTER, 0, { sark: 1n, specIPt: true, tids }))).toMatchObject({ key: 5, asc: 0x55, ascq: 0x04 });
    expect((await h.keys(a)).keys).toEqual([]);
  });

  it('unit attentions are reported before PERSISTENT RESERVE OUT runs', async () => {
    const h = await prHarness();
    const a = await h.login(1);
    const b = await h.login(2);
    await h.register(a, 1n);
    await h.register(b, 2n);
    await h.prout(a, SA.CLEAR, 0, { rk: 1n });
    const r = await h.prout(b, SA.REGISTER_AND_IGNORE, 0, { sark: 3n });
    expect(senseOf(r)).toMatchObject({ key: 6, asc: 0x2a, ascq: 0x03 });
    expect(await h.ua(b)).toBe(0);
    void UA;
  });
});
