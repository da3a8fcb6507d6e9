/**
 * A Data-Out sequence error (RFC 7143 §7.4.1, DataSN out of order) fails the
 * command with CHECK CONDITION, ABORTED COMMAND, DATA PHASE ERROR (4Bh/00h),
 * encoded by the SCSI layer in the format the LU's control mode page D_SENSE
 * selects (SPC-4 §4.5.1): fixed (70h) by default, descriptor (72h) with
 * D_SENSE = 1. The session goes on working.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { IscsiEngine } from '../../src/target/engine.js';
import { MemoryStore } from '../../src/lun/memory-store.js';
import { Opcode } from '../../src/target/pdu/types.js';
import { duplexPair } from '../helpers/duplex-pair.js';
import { TestInitiator, cdb, lunField } from '../helpers/initiator.js';

const IQN = 'iqn.2014-04.com.vstorage:transport';
const PORT = 39360;
let engine: IscsiEngine;

beforeEach(async () => {
  engine = new IscsiEngine({ discoveryAuth: () => ({}), log: () => undefined }, { random: (n) => Buffer.alloc(n, 0x22) });
  await engine.startTarget({
    iqn: IQN,
    portals: [{ address: '127.0.0.1', port: PORT, tpgt: 1, relativePortId: 1, portGroupId: 1 }],
    luns: [{ id: 0, store: new MemoryStore(8 * 1024 * 1024), blockSize: 512, serial: 'SN0002', naa: '6001405abcdef0123456789abcdef013', online: true }],
    auth: () => ({}),
  });
});

afterEach(async () => {
  await engine.close();
});

async function session(): Promise<TestInitiator> {
  const [a, b] = duplexPair();
  engine.onConnection(b, '127.0.0.1', PORT);
  const ini = new TestInitiator(a);
  const r = await ini.login({ targetName: IQN, keys: { InitialR2T: 'No', ImmediateData: 'No', FirstBurstLength: '65536' } });
  expect(r.ok).toBe(true);
  await ini.command({ cdb: cdb.testUnitReady() }); // POWER ON unit attention
  return ini;
}

/** WRITE(10) of 2 blocks whose one unsolicited Data-Out PDU carries DataSN 5 instead of 0. */
async function writeWithBadDataSn(ini: TestInitiator): Promise<Buffer> {
  const itt = ini.nextItt();
  const c = Buffer.alloc(16);
  cdb.write10(8, 2).copy(c);
  const cmdSN = ini.cmdSN;
  ini.cmdSN = (ini.cmdSN + 1) >>> 0;
  ini.send({
    opcode: Opcode.ScsiCommand, immediate: false, final: false, read: false, write: true, attr: 1, lun: 0, lunField: lunField(0),
    initiatorTaskTag: itt, expectedDataTransferLength: 1024, cmdSN, expStatSN: ini.expStatSN, cdb: c, ahs: [], data: Buffer.alloc(0),
  });
  ini.send({
    opcode: Opcode.DataOut, final: true, lun: 0, lunField: lunField(0), initiatorTaskTag: itt, targetTransferTag: 0xffffffff,
    expStatSN: ini.expStatSN, dataSN: 5, bufferOffset: 0, ahs: [], data: Buffer.alloc(1024, 0xee),
  });
  const p = await ini.next((x) => 'initiatorTaskTag' in x && x.initiatorTaskTag === itt);
  if (!p || p.opcode !== Opcode.ScsiResponse) throw new Error(`no SCSI Response: ${JSON.stringify(p?.opcode)}`);
  expect(p.status).toBe(0x02);
  return p.data.subarray(2, 2 + p.data.readUInt16BE(0));
}

describe('Data-Out sequence errors', () => {
  it('fail the command with ABORTED COMMAND / DATA PHASE ERROR in fixed format by default; nothing is written', async () => {
    const ini = await session();
    const sense = await writeWithBadDataSn(ini);
    expect(sense[0]! & 0x7f).toBe(0x70);
    expect(sense[2]! & 0x0f).toBe(0x0b);
    expect([sense[12], sense[13]]).toEqual([0x4b, 0x00]);
    const r = await ini.command({ cdb: cdb.read10(8, 2), readLength: 1024 });
    expect(r.status).toBe(0);
    expect(r.dataIn.every((x) => x === 0)).toBe(true);
  });

  it('use descriptor format once the control mode page says D_SENSE = 1', async () => {
    const ini = await session();
    // MODE SENSE(10) of the control page (0Ah), D_SENSE set, MODE SELECT(10) back (SPC-4 §7.5.8).
    const sense10 = Buffer.from([0x5a, 0x08, 0x0a, 0, 0, 0, 0, 0x00, 0xff, 0]);
    const ms = await ini.command({ cdb: sense10, readLength: 255 });
    expect(ms.status).toBe(0);
    const page = Buffer.from(ms.dataIn.subarray(8 + ms.dataIn.readUInt16BE(6)));
    expect(page[0]! & 0x3f).toBe(0x0a);
    page[0] = page[0]! & 0x3f; // PS is reserved in MODE SELECT
    page[2] = page[2]! | 0x04; // D_SENSE
    const params = Buffer.concat([Buffer.alloc(8), page]);
    const select10 = Buffer.from([0x55, 0x10, 0, 0, 0, 0, 0, 0, params.length, 0]);
    expect((await ini.command({ cdb: select10, dataOut: params })).status).toBe(0);
    const sense = await writeWithBadDataSn(ini);
    expect(sense[0]! & 0x7f).toBe(0x72);
    expect([sense[1]! & 0x0f, sense[2], sense[3]]).toEqual([0x0b, 0x4b, 0x00]);
  });
});
