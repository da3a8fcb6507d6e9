/**
 * Protocol tests: the engine over an in-memory duplex with the TypeScript test
 * initiator (DESIGN.md §9).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { IscsiEngine } from '../../src/target/engine.js';
import { MemoryStore } from '../../src/lun/memory-store.js';
import type { AuthPolicy, TargetDefinition } from '../../src/target/engine-api.js';
import { Opcode } from '../../src/target/pdu/types.js';
import { duplexPair } from '../helpers/duplex-pair.js';
import { TestInitiator, cdb, lunField, textData } from '../helpers/initiator.js';

const IQN = 'iqn.2014-04.com.vstorage:proto';
const PORT = 39260;

function definition(auth: AuthPolicy = {}, extra: Partial<TargetDefinition> = {}): TargetDefinition {
  return {
    iqn: IQN,
    portals: [
      { address: '127.0.0.1', port: PORT, tpgt: 1, relativePortId: 1, portGroupId: 1 },
      { address: '127.0.0.1', port: PORT + 1, tpgt: 2, relativePortId: 2, portGroupId: 1 },
    ],
    luns: [{ id: 0, store: new MemoryStore(64 * 1024 * 1024), blockSize: 512, serial: 'SN0001', naa: '6001405abcdef0123456789abcdef012', online: true }],
    auth: () => auth,
    ...extra,
  };
}

let engine: IscsiEngine;
let logs: string[];

async function startEngine(def: TargetDefinition, timers?: { nopInIntervalMs?: number; nopInTimeoutMs?: number }, maxSessions?: number) {
  logs = [];
  engine = new IscsiEngine(
    { discoveryAuth: () => ({}), log: (level, msg) => logs.push(`${level} ${msg}`) },
    { timers, random: (n) => Buffer.alloc(n, 0x11), maxSessions },
  );
  await engine.startTarget(def);
}

function connect(port = PORT): TestInitiator {
  const [a, b] = duplexPair();
  engine.onConnection(b, '127.0.0.1', port);
  return new TestInitiator(a);
}

afterEach(async () => {
  await engine?.close();
});

describe('login and full feature phase', () => {
  beforeEach(async () => startEngine(definition()));

  it('logs in without authentication and answers INQUIRY and TEST UNIT READY', async () => {
    const ini = connect();
    const r = await ini.login({ targetName: IQN });
    expect(r.ok).toBe(true);
    expect(r.tsih).toBeGreaterThan(0);
    // First command after login: POWER ON unit attention (SAM-5 §5.14).
    const tur = await ini.command({ cdb: cdb.testUnitReady() });
    expect(tur.status).toBe(0x02);
    expect(tur.sense![12]).toBe(0x29);
    const tur2 = await ini.command({ cdb: cdb.testUnitReady() });
    expect(tur2.status).toBe(0);
    const inq = await ini.command({ cdb: cdb.inquiry(96), readLength: 96 });
    expect(inq.status).toBe(0);
    expect(inq.dataIn.subarray(8, 16).toString()).toBe('VSTORAGE');
  });

  it('finds the target whatever the case of the TargetName (names compare after stringprep, RFC 3720 §3.2.6.2)', async () => {
    const ini = connect();
    const r = await ini.login({ targetName: IQN.toUpperCase() });
    expect(r.ok).toBe(true);
    expect((await ini.command({ cdb: cdb.inquiry(), readLength: 96 })).status).toBe(0);
  });

  it('refuses an unknown target with status 0x0203', async () => {
    const ini = connect();
    const r = await ini.login({ targetName: 'iqn.2014-04.com.vstorage:nope' });
    expect(r.ok).toBe(false);
    expect([r.statusClass, r.statusDetail]).toEqual([2, 3]);
  });

  it('writes with immediate data and R2T, then reads back across several Data-In PDUs', async () => {
    const ini = connect();
    await ini.login({ targetName: IQN, keys: { MaxBurstLength: '65536', FirstBurstLength: '16384', MaxRecvDataSegmentLength: '8192' } });
    await ini.command({ cdb: cdb.testUnitReady() });
    const data = Buffer.alloc(512 * 1024);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7 + (i >> 9)) & 0xff;
    const w = await ini.command({ cdb: cdb.write10(100, 1024), dataOut: data });
    expect(w.status).toBe(0);
    const r = await ini.command({ cdb: cdb.read10(100, 1024), readLength: data.length });
    expect(r.status).toBe(0);
    expect(createHash('sha256').update(r.dataIn).digest('hex')).toBe(createHash('sha256').update(data).digest('hex'));
  });

  it('sends unsolicited Data-Out when InitialR2T=No', async () => {
    const ini = connect();
    const res = await ini.login({ targetName: IQN, keys: { InitialR2T: 'No', ImmediateData: 'No', FirstBurstLength: '65536' } });
    expect(res.keys.get('InitialR2T')).toBe('No');
    await ini.command({ cdb: cdb.testUnitReady() });
    const data = Buffer.alloc(256 * 1024, 0xab);
    expect((await ini.command({ cdb: cdb.write10(0, 512), dataOut: data })).status).toBe(0);
    const r = await ini.command({ cdb: cdb.read10(0, 512), readLength: data.length });
    expect(r.dataIn.equals(data)).toBe(true);
  });

  it('reports residual overflow and underflow for reads (RFC 7143 §11.4.5)', async () => {
    const ini = connect();
    await ini.login({ targetName: IQN });
    await ini.command({ cdb: cdb.testUnitReady() });
    const under = await ini.command({ cdb: cdb.read10(0, 1), readLength: 10000 });
    expect(under.status).toBe(0);
    expect(under.dataIn.length).toBe(512);
    expect(under.residualUnderflow).toBe(true);
    expect(under.residualCount).toBe(10000 - 512);
    const over = await ini.command({ cdb: cdb.read10(0, 1), readLength: 200 });
    expect(over.dataIn.length).toBe(200);
    expect(over.residualOverflow).toBe(true);
    expect(over.residualCount).toBe(312);
  });

  it('answers NOP-Out pings with the same data', async () => {
    const ini = connect();
    await ini.login({ targetName: IQN });
    const r = await ini.nop(Buffer.from('ping-data'));
    expect(r?.opcode).toBe(Opcode.NopIn);
    expect(r?.data.toString()).toBe('ping-data');
  });

  it('executes commands in CmdSN order even when they arrive out of order', async () => {
    const ini = connect();
    await ini.login({ targetName: IQN });
    await ini.command({ cdb: cdb.testUnitReady() });
    // Send CmdSN+1 (a write of 0x22) before CmdSN (a write of 0x11) to the same block; the later CmdSN must win.
    const base = ini.cmdSN;
    const mk = (sn: number, fill: number, itt: number) => ({
      opcode: Opcode.ScsiCommand as const, immediate: false, final: true, read: false, write: true, attr: 1, lun: 0, lunField: lunField(0),
      initiatorTaskTag: itt, expectedDataTransferLength: 512, cmdSN: sn, expStatSN: ini.expStatSN, cdb: Buffer.concat([cdb.write10(5, 1), Buffer.alloc(6)]), ahs: [], data: Buffer.alloc(512, fill),
    });
    ini.send(mk(base + 1, 0x22, 9001));
    ini.send(mk(base, 0x11, 9000));
    ini.cmdSN = base + 2;
    await ini.next((p) => p.opcode === Opcode.ScsiResponse && p.initiatorTaskTag === 9000);
    await ini.next((p) => p.opcode === Opcode.ScsiResponse && p.initiatorTaskTag === 9001);
    const r = await ini.command({ cdb: cdb.read10(5, 1), readLength: 512 });
    expect(r.dataIn[0]).toBe(0x22);
  });

  it('holds an ORDERED command until older commands finish (SAM-5 §8.6)', async () => {
    const ini = connect();
    await ini.login({ targetName: IQN, keys: { FirstBurstLength: '4096', InitialR2T: 'Yes' } });
    await ini.command({ cdb: cdb.testUnitReady() });
    const cmd = (itt: number, attr: number, fill: number, immediate: number) => ({
      opcode: Opcode.ScsiCommand as const, immediate: false, final: true, read: false, write: true, attr, lun: 0, lunField: lunField(0),
      initiatorTaskTag: itt, expectedDataTransferLength: 8192, cmdSN: ini.cmdSN++, expStatSN: ini.expStatSN,
      cdb: Buffer.concat([cdb.write10(20, 16), Buffer.alloc(6)]), ahs: [], data: Buffer.alloc(immediate, fill),
    });
    // A: SIMPLE write of 0xaa, only 4 KiB immediate; the rest waits for our answer to its R2T.
    ini.send(cmd(7001, 1, 0xaa, 4096));
    const r2t = await ini.next((p) => p.opcode === Opcode.R2T && p.initiatorTaskTag === 7001);
    // B: ORDERED write of 0xbb over the same blocks; it must not run before A completes.
    ini.send({ ...cmd(7002, 2, 0xbb, 4096), final: true });
    const early = await ini.next((p) => p.opcode === Opcode.R2T && p.initiatorTaskTag === 7002);
    expect(early).toBeDefined();
    // Answer B's R2T first, then A's: B is complete before A, yet must execute after it.
    ini.send({ opcode: Opcode.DataOut, final: true, lun: 0, lunField: lunField(0), initiatorTaskTag: 7002, targetTransferTag: (early as { targetTransferTag: number }).targetTransferTag, expStatSN: ini.expStatSN, dataSN: 0, bufferOffset: 4096, ahs: [], data: Buffer.alloc(4096, 0xbb) });
    await new Promise((r) => setTimeout(r, 30));
    ini.send({ opcode: Opcode.DataOut, final: true, lun: 0, lunField: lunField(0), initiatorTaskTag: 7001, targetTransferTag: (r2t as { targetTransferTag: number }).targetTransferTag, expStatSN: ini.expStatSN, dataSN: 0, bufferOffset: 4096, ahs: [], data: Buffer.alloc(4096, 0xaa) });
    const first = await ini.next((p) => p.opcode === Opcode.ScsiResponse);
    expect(first && 'initiatorTaskTag' in first && first.initiatorTaskTag).toBe(7001);
    await ini.next((p) => p.opcode === Opcode.ScsiResponse && p.initiatorTaskTag === 7002);
    const r = await ini.command({ cdb: cdb.read10(20, 16), readLength: 8192 });
    expect(r.dataIn.equals(Buffer.alloc(8192, 0xbb))).toBe(true);
  });

  it('answers ABORT TASK for an unknown task and LUN RESET', async () => {
    const ini = connect();
    await ini.login({ targetName: IQN });
    expect(await ini.taskManagement(1, 0, 12345, ini.cmdSN + 1000)).toBe(1);
    expect(await ini.taskManagement(5, 0)).toBe(0);
    expect(await ini.taskManagement(5, 7)).toBe(2);
  });

  it('rejects a malformed PDU and keeps the session working', async () => {
    const ini = connect();
    await ini.login({ targetName: IQN });
    const bad = Buffer.alloc(48);
    bad[0] = 0x1c; // unknown initiator opcode
    ini.sendRaw(bad);
    const rej = await ini.next((p) => p.opcode === Opcode.Reject);
    expect(rej?.opcode).toBe(Opcode.Reject);
    const nop = await ini.nop();
    expect(nop?.opcode).toBe(Opcode.NopIn);
  });

  it('logs out', async () => {
    const ini = connect();
    await ini.login({ targetName: IQN });
    expect(await ini.logout()).toBe(0);
  });

  it('reinstates a session with the same ISID and drops the old one', async () => {
    const a = connect();
    await a.login({ targetName: IQN });
    const b = connect();
    const r = await b.login({ targetName: IQN });
    expect(r.ok).toBe(true);
    await new Promise((res) => setTimeout(res, 50));
    expect(a.closed).toBe(true);
    expect(engine.sessions(IQN)).toHaveLength(1);
  });

  it('lists both portals with their TPGTs in a discovery session', async () => {
    const ini = connect();
    const r = await ini.login({ sessionType: 'Discovery' });
    expect(r.ok).toBe(true);
    const pairs = await ini.sendTargets('All');
    expect(pairs).toEqual([
      ['TargetName', IQN],
      ['TargetAddress', `127.0.0.1:${PORT},1`],
      ['TargetAddress', `127.0.0.1:${PORT + 1},2`],
    ]);
    expect(await ini.sendTargets(IQN.replace('vstorage', 'VStorage'))).toEqual(pairs);
    const bad = await ini.text([['SendTargets', 'Alle']]);
    expect(bad.get('SendTargets')).toBe('Reject');
  });

  it('refuses to stop a target with sessions unless forced', async () => {
    const ini = connect();
    await ini.login({ targetName: IQN, initiatorName: 'iqn.1994-05.com.redhat:c678b9f6f0' });
    const r = await engine.stopTarget(IQN, { force: false });
    expect(r.stopped).toBe(false);
    expect(r.sessions[0].initiatorName).toBe('iqn.1994-05.com.redhat:c678b9f6f0');
    const f = await engine.stopTarget(IQN, { force: true });
    expect(f.stopped).toBe(true);
  });
});

describe('CHAP', () => {
  const secret = 'twelve-bytes-secret';
  it('accepts the right secret for every algorithm and refuses a wrong one', async () => {
    await startEngine(definition({ chap: { user: 'user1', secret } }));
    for (const alg of ['5', '6', '7', '8']) {
      const ini = connect();
      const r = await ini.login({ targetName: IQN, chap: { user: 'user1', secret, algorithms: alg } });
      expect(r.ok, `CHAP_A=${alg}`).toBe(true);
      await ini.logout();
    }
    const bad = connect();
    const r = await bad.login({ targetName: IQN, chap: { user: 'user1', secret: 'wrong-secret-value' } });
    expect([r.statusClass, r.statusDetail]).toEqual([2, 1]);
  });

  it('proves itself in mutual CHAP', async () => {
    await startEngine(definition({ chap: { user: 'user1', secret }, mutual: { user: 'target1', secret: 'target-secret-123' } }));
    const ini = connect();
    const r = await ini.login({ targetName: IQN, chap: { user: 'user1', secret, algorithms: '7', mutualSecret: 'target-secret-123' } });
    expect(r.ok).toBe(true);
  });
});

describe('resources', () => {
  it('refuses a login beyond the session limit with 0x0302 out of resources', async () => {
    await startEngine(definition(), undefined, 1);
    const a = connect();
    expect((await a.login({ targetName: IQN })).ok).toBe(true);
    const b = connect();
    const r = await b.login({ targetName: IQN, isid: Buffer.from([0x80, 0, 0, 0, 0, 2]) });
    expect([r.statusClass, r.statusDetail]).toEqual([3, 2]);
  });
});

describe('access lists', () => {
  it('refuses an initiator the target does not allow with 0x0202 authorization failure', async () => {
    await startEngine(definition({}, { initiatorAllowed: (n) => n === 'iqn.2024-01.org.test:allowed' }));
    const denied = connect();
    const r = await denied.login({ targetName: IQN, initiatorName: 'iqn.2024-01.org.test:other' });
    expect([r.statusClass, r.statusDetail]).toEqual([2, 2]);
    const allowed = connect();
    expect((await allowed.login({ targetName: IQN, initiatorName: 'iqn.2024-01.org.test:allowed' })).ok).toBe(true);
  });
});

describe('idle connections', () => {
  it('pings an idle initiator and drops it when it does not answer', async () => {
    await startEngine(definition(), { nopInIntervalMs: 200, nopInTimeoutMs: 300 });
    const ini = connect();
    await ini.login({ targetName: IQN });
    ini.autoPong = false;
    const ping = await ini.next((p) => p.opcode === Opcode.NopIn, 3000);
    expect(ping && ping.opcode === Opcode.NopIn && ping.initiatorTaskTag).toBe(0xffffffff);
    for (let i = 0; i < 40 && !ini.closed; i++) await new Promise((r) => setTimeout(r, 50));
    expect(ini.closed).toBe(true);
  });
});

export { textData };
