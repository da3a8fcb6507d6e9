/**
 * Issue 6 acceptance: many COMPARE AND WRITE commands from two iSCSI sessions
 * (through two portals) on the same block never lose an update. Each session
 * increments a counter in block 0 with read + COMPARE AND WRITE, retrying on
 * MISCOMPARE; the final value must be the total number of increments.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IscsiEngine } from '../../src/target/engine.js';
import { MemoryStore } from '../../src/lun/memory-store.js';
import { duplexPair } from '../helpers/duplex-pair.js';
import { TestInitiator, cdb } from '../helpers/initiator.js';

const IQN = 'iqn.2014-04.com.vstorage:caw';
let engine: IscsiEngine;

function compareAndWrite(lba: number): Buffer {
  const b = Buffer.alloc(16);
  b[0] = 0x89;
  b.writeUInt32BE(lba, 6); // LBA (64-bit, low half)
  b[13] = 1; // NUMBER OF LOGICAL BLOCKS
  return b;
}

async function session(port: number, isidTail: number): Promise<TestInitiator> {
  const [a, b] = duplexPair();
  engine.onConnection(b, '127.0.0.1', port);
  const ini = new TestInitiator(a);
  const r = await ini.login({ targetName: IQN, isid: Buffer.from([0x80, 0, 0, 0, 0, isidTail]) });
  expect(r.ok).toBe(true);
  await ini.command({ cdb: cdb.testUnitReady() }); // consume POWER ON unit attention
  return ini;
}

async function incrementer(ini: TestInitiator, times: number): Promise<number> {
  let miscompares = 0;
  for (let done = 0; done < times; ) {
    const cur = await ini.command({ cdb: cdb.read10(0, 1), readLength: 512 });
    expect(cur.status).toBe(0);
    const next = Buffer.from(cur.dataIn);
    next.writeUInt32BE(next.readUInt32BE(0) + 1, 0);
    const r = await ini.command({ cdb: compareAndWrite(0), dataOut: Buffer.concat([cur.dataIn, next]) });
    if (r.status === 0) {
      done++;
    } else {
      // MISCOMPARE (0Eh) 1Dh/00h: someone else won; read again and retry.
      expect(r.status).toBe(2);
      expect(r.sense![2] & 0x0f).toBe(0x0e);
      miscompares++;
    }
  }
  return miscompares;
}

beforeAll(async () => {
  engine = new IscsiEngine({ discoveryAuth: () => ({}), log: () => {} });
  await engine.startTarget({
    iqn: IQN,
    portals: [
      { address: '127.0.0.1', port: 39300, tpgt: 1, relativePortId: 1, portGroupId: 1 },
      { address: '127.0.0.1', port: 39301, tpgt: 2, relativePortId: 2, portGroupId: 1 },
    ],
    luns: [{ id: 0, store: new MemoryStore(1 << 20), blockSize: 512, serial: 'CAW1', naa: '6001405abcdef0123456789abcdef0ca', online: true }],
    auth: () => ({}),
  });
});

afterAll(async () => {
  await engine.close();
});

describe('COMPARE AND WRITE from two sessions on two portals', () => {
  it('never loses an update', async () => {
    const a = await session(39300, 1);
    const b = await session(39301, 2);
    const [ma, mb] = await Promise.all([incrementer(a, 150), incrementer(b, 150)]);
    const r = await a.command({ cdb: cdb.read10(0, 1), readLength: 512 });
    expect(r.dataIn.readUInt32BE(0)).toBe(300);
    // The race was real: at least one side had to retry.
    expect(ma + mb).toBeGreaterThan(0);
  });
});
