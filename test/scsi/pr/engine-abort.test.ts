/**
 * PREEMPT AND ABORT through the real engine and sessions (in-memory duplex,
 * TypeScript test initiator): the preempted session's task in progress is
 * aborted (no response), the preempting command completes after it has
 * stopped, and the preempted initiator then sees REGISTRATIONS PREEMPTED and
 * RESERVATION CONFLICT. Also: the same state through both portals.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { IscsiEngine } from '../../../src/target/engine.js';
import { MemoryStore } from '../../../src/lun/memory-store.js';
import type { TargetDefinition } from '../../../src/target/engine-api.js';
import { duplexPair } from '../../helpers/duplex-pair.js';
import { TestInitiator, cdb } from '../../helpers/initiator.js';
import { IN, SA, TYPE, basicParams, decodeFullStatus, prinCdb, proutCdb } from './pr-codec.js';

const IQN = 'iqn.2014-04.com.vstorage:pr-engine';
const PORT = 39360;

class GatedStore extends MemoryStore {
  gate: Promise<void> | undefined;
  writes = 0;
  override async write(buf: Buffer, offset: number, fua: boolean): Promise<void> {
    this.writes++;
    if (this.gate) await this.gate;
    return super.write(buf, offset, fua);
  }
}

let engine: IscsiEngine | undefined;
afterEach(async () => {
  await engine?.close();
  engine = undefined;
});

async function start(store: MemoryStore): Promise<void> {
  const def: TargetDefinition = {
    iqn: IQN,
    portals: [
      { address: '127.0.0.1', port: PORT, tpgt: 1, relativePortId: 1, portGroupId: 1 },
      { address: '127.0.0.1', port: PORT + 1, tpgt: 2, relativePortId: 2, portGroupId: 1 },
    ],
    luns: [{ id: 0, store, blockSize: 512, serial: 'PR0001', naa: '6001405abcdef0123456789abcdef099', online: true }],
    auth: () => ({}),
  };
  engine = new IscsiEngine({ discoveryAuth: () => ({}), log: () => undefined }, { random: (n) => Buffer.alloc(n, 0x22) });
  await engine.startTarget(def);
}

async function session(name: string, port = PORT, isid = 1): Promise<TestInitiator> {
  const [a, b] = duplexPair();
  engine!.onConnection(b, '127.0.0.1', port);
  const ini = new TestInitiator(a);
  const r = await ini.login({ targetName: IQN, initiatorName: name, isid: Buffer.from([0x80, 0, 0, 0, 0, isid]) });
  expect(r.ok).toBe(true);
  await ini.command({ cdb: cdb.testUnitReady() }); // POWER ON unit attention
  return ini;
}

const prout = (ini: TestInitiator, sa: number, type: number, p: Parameters<typeof basicParams>[0]) => {
  const data = basicParams(p);
  return ini.command({ cdb: proutCdb(sa, type, data.length), dataOut: data });
};

/**
 * Nodes A (portal 1) and B (portal 2) on a GatedStore, registered with keys AAh and BBh;
 * A holds a WRITE EXCLUSIVE - REGISTRANTS ONLY reservation.
 */
async function reservedPair(): Promise<{ store: GatedStore; a: TestInitiator; b: TestInitiator }> {
  const store = new GatedStore(8 << 20);
  await start(store);
  const a = await session('iqn.2024-01.org.test:node-a');
  const b = await session('iqn.2024-01.org.test:node-b', PORT + 1);
  expect((await prout(a, SA.REGISTER_AND_IGNORE, 0, { sark: 0xaan })).status).toBe(0);
  expect((await prout(b, SA.REGISTER_AND_IGNORE, 0, { sark: 0xbbn })).status).toBe(0);
  expect((await prout(a, SA.RESERVE, TYPE.WERO, { rk: 0xaan })).status).toBe(0);
  return { store, a, b };
}

describe('PREEMPT AND ABORT through the engine', () => {
  it('aborts the preempted session\'s task in progress; the preemptor gets GOOD once it has stopped', async () => {
    const { store, a, b } = await reservedPair();

    let release!: () => void;
    store.gate = new Promise((r) => (release = r));
    let writeAnswered = false;
    const write = a.command({ cdb: cdb.write10(8, 1), dataOut: Buffer.alloc(512, 1) }).then(
      () => (writeAnswered = true),
      () => undefined,
    );
    while (store.writes === 0) await new Promise((r) => setTimeout(r, 2));

    let preemptDone = false;
    const preempt = prout(b, SA.PREEMPT_AND_ABORT, TYPE.WERO, { rk: 0xbbn, sark: 0xaan }).then((r) => {
      preemptDone = true;
      return r;
    });
    await new Promise((r) => setTimeout(r, 50));
    // The abort waits for the write in progress to stop.
    expect(preemptDone).toBe(false);
    release();
    expect((await preempt).status).toBe(0);
    await Promise.race([write, new Promise((r) => setTimeout(r, 200))]);
    expect(writeAnswered).toBe(false);

    // Node A: REGISTRATIONS PREEMPTED, then its writes conflict.
    const ua = await a.command({ cdb: cdb.testUnitReady() });
    expect(ua.status).toBe(2);
    expect([ua.sense![12], ua.sense![13]]).toEqual([0x2a, 0x05]);
    expect((await a.command({ cdb: cdb.write10(8, 1), dataOut: Buffer.alloc(512, 2) })).status).toBe(0x18);
    expect((await b.command({ cdb: cdb.write10(8, 1), dataOut: Buffer.alloc(512, 3) })).status).toBe(0);
  });

  it('two nodes fencing each other at once: no deadlock, the first PREEMPT AND ABORT wins', async () => {
    const { store, a, b } = await reservedPair();
    let release!: () => void;
    store.gate = new Promise((r) => (release = r));
    void a.command({ cdb: cdb.write10(8, 1), dataOut: Buffer.alloc(512, 1) }).catch(() => undefined);
    while (store.writes === 0) await new Promise((r) => setTimeout(r, 2));
    const bWins = prout(b, SA.PREEMPT_AND_ABORT, TYPE.WERO, { rk: 0xbbn, sark: 0xaan });
    await new Promise((r) => setTimeout(r, 20));
    // Node A's counter-fence arrives while B's waits for A's write in progress (B's state change is
    // already made): it is not stuck behind B's; A learns it was preempted, and then conflicts (its key is gone).
    const ua = await prout(a, SA.PREEMPT_AND_ABORT, TYPE.WERO, { rk: 0xaan, sark: 0xbbn });
    expect([ua.status, ua.sense?.[12], ua.sense?.[13]]).toEqual([2, 0x2a, 0x05]);
    expect((await prout(a, SA.PREEMPT_AND_ABORT, TYPE.WERO, { rk: 0xaan, sark: 0xbbn })).status).toBe(0x18);
    release();
    expect((await Promise.race([bWins, new Promise((r) => setTimeout(() => r('deadlock'), 5000))])) as { status: number }).toMatchObject({ status: 0 });
    const keys = await b.command({ cdb: prinCdb(IN.READ_KEYS, 64), readLength: 64 });
    expect(keys.dataIn.readUInt32BE(4)).toBe(8);
    expect(keys.dataIn.readBigUInt64BE(8)).toBe(0xbbn);
  });

  it('READ FULL STATUS is the same through both portals', async () => {
    await start(new MemoryStore(8 << 20));
    const a = await session('iqn.2024-01.org.test:node-a');
    const a2 = await session('iqn.2024-01.org.test:node-a', PORT + 1, 2);
    expect((await prout(a, SA.REGISTER_AND_IGNORE, 0, { sark: 1n, allTgPt: true })).status).toBe(0);
    expect((await prout(a, SA.RESERVE, TYPE.WE, { rk: 1n })).status).toBe(0);
    const r1 = await a.command({ cdb: prinCdb(IN.READ_FULL_STATUS, 4096), readLength: 4096 });
    const r2 = await a2.command({ cdb: prinCdb(IN.READ_FULL_STATUS, 4096), readLength: 4096 });
    expect(r1.dataIn).toEqual(r2.dataIn);
    expect(decodeFullStatus(r1.dataIn).entries.map((e) => [e.relativePortId, e.holder])).toEqual([
      [1, true],
      [2, false],
    ]);
  });
});
