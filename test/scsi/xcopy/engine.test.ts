/**
 * EXTENDED COPY between targets of one engine (target/engine.ts
 * copyTargetElsewhere), over in-memory connections with the test initiator:
 * a LUN of another target is a copy source or destination only for an
 * initiator logged in to that target.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { IscsiEngine } from '../../../src/target/engine.js';
import { MemoryStore } from '../../../src/lun/memory-store.js';
import type { TargetDefinition } from '../../../src/target/engine-api.js';
import { duplexPair } from '../../helpers/duplex-pair.js';
import { TestInitiator } from '../../helpers/initiator.js';
import { b2b, cscd, paramList, pattern, xcopyCdb } from './xcopy-helpers.js';

const A = 'iqn.2014-04.com.vstorage:xcopy-a';
const B = 'iqn.2014-04.com.vstorage:xcopy-b';
const NAA_A = '6001405aaaaaaaaaaaaaaaaaaaaaaaa0';
const NAA_B = '6001405bbbbbbbbbbbbbbbbbbbbbbbb0';
const PORT_A = 39460;
const PORT_B = 39461;
const MiB = 1024 * 1024;

function target(iqn: string, port: number, naa: string, store: MemoryStore): TargetDefinition {
  return {
    iqn,
    portals: [{ address: '127.0.0.1', port, tpgt: 1, relativePortId: 1, portGroupId: 1 }],
    luns: [{ id: 0, store, blockSize: 512, serial: `S-${naa.slice(-4)}`, naa, online: true }],
    auth: () => ({}),
  };
}

let engine: IscsiEngine | undefined;

afterEach(async () => {
  await engine?.close();
  engine = undefined;
});

async function login(e: IscsiEngine, port: number, targetName: string, initiatorName: string): Promise<TestInitiator> {
  const [a, b] = duplexPair();
  e.onConnection(b, '127.0.0.1', port);
  const ini = new TestInitiator(a);
  expect((await ini.login({ targetName, initiatorName })).ok).toBe(true);
  await ini.command({ cdb: Buffer.from([0, 0, 0, 0, 0, 0]) }); // POWER ON unit attention
  return ini;
}

const rw16 = (op: number, lba: number, n: number) => {
  const c = Buffer.alloc(16);
  c[0] = op;
  c.writeUInt32BE(lba, 6);
  c.writeUInt32BE(n, 10);
  return c;
};

describe('EXTENDED COPY between targets of the engine', () => {
  it('copies into a LUN of another target the initiator is logged in to, and refuses otherwise', async () => {
    const storeA = new MemoryStore(MiB);
    const storeB = new MemoryStore(MiB);
    engine = new IscsiEngine({ discoveryAuth: () => ({}), log: () => undefined }, { random: (n) => Buffer.alloc(n, 0x11) });
    await engine.startTarget(target(A, PORT_A, NAA_A, storeA));
    await engine.startTarget(target(B, PORT_B, NAA_B, storeB));

    const host = 'iqn.1994-05.com.example:esx1';
    const onA = await login(engine, PORT_A, A, host);
    const data = pattern(32, 512, 77);
    expect((await onA.command({ cdb: rw16(0x8a, 0, 32), dataOut: data })).status).toBe(0);
    const list = paramList([cscd(NAA_A, 512), cscd(NAA_B, 512)], [b2b(0, 1, 32, 0, 100)]);

    // Not logged in to B: B's LUN is not reachable.
    let r = await onA.command({ cdb: Buffer.from(xcopyCdb(list.length)), dataOut: list });
    expect(r.status).toBe(2);
    expect([r.sense![2] & 0x0f, r.sense![12], r.sense![13]]).toEqual([0x0a, 0x0d, 0x02]);

    // Logged in to B as well (another session, same initiator name): the copy runs.
    const onB = await login(engine, PORT_B, B, host);
    r = await onA.command({ cdb: Buffer.from(xcopyCdb(list.length)), dataOut: list });
    expect(r.status).toBe(0);
    const back = await onB.command({ cdb: rw16(0x88, 100, 32), readLength: 32 * 512 });
    expect(back.dataIn.equals(data)).toBe(true);

    // Another initiator on A, not on B: refused, even though B is logged in by someone else.
    const other = await login(engine, PORT_A, A, 'iqn.1994-05.com.example:other');
    r = await other.command({ cdb: Buffer.from(xcopyCdb(list.length)), dataOut: list });
    expect([r.status, r.sense![12], r.sense![13]]).toEqual([2, 0x0d, 0x02]);

    // After the session to B ends, B is out of reach again.
    onB.close();
    await new Promise((res) => setTimeout(res, 20));
    r = await onA.command({ cdb: Buffer.from(xcopyCdb(list.length)), dataOut: list });
    expect([r.status, r.sense![12], r.sense![13]]).toEqual([2, 0x0d, 0x02]);
  });
});
