/**
 * A Text request that grows beyond what the target accepts over C-bit PDUs
 * is rejected (reason 04h, protocol error) with the offending PDU's header
 * in the Reject's data segment (RFC 7143 §11.17.1), and the session goes on.
 */
import { afterEach, beforeEach, expect, it } from 'vitest';
import { IscsiEngine } from '../../src/target/engine.js';
import { MemoryStore } from '../../src/lun/memory-store.js';
import { Opcode } from '../../src/target/pdu/types.js';
import { duplexPair } from '../helpers/duplex-pair.js';
import { TestInitiator, cdb } from '../helpers/initiator.js';

const IQN = 'iqn.2014-04.com.vstorage:textreject';
const PORT = 39460;
let engine: IscsiEngine;

beforeEach(async () => {
  engine = new IscsiEngine({ discoveryAuth: () => ({}), log: () => undefined }, { random: (n) => Buffer.alloc(n, 0x33) });
  await engine.startTarget({
    iqn: IQN,
    portals: [{ address: '127.0.0.1', port: PORT, tpgt: 1, relativePortId: 1, portGroupId: 1 }],
    luns: [{ id: 0, store: new MemoryStore(1024 * 1024), blockSize: 512, serial: 'SN0003', naa: '6001405abcdef0123456789abcdef014', online: true }],
    auth: () => ({}),
  });
});

afterEach(async () => {
  await engine.close();
});

it('an oversize Text request is rejected with its own header', async () => {
  const [a, b] = duplexPair();
  engine.onConnection(b, '127.0.0.1', PORT);
  const ini = new TestInitiator(a);
  expect((await ini.login({ targetName: IQN, keys: { MaxRecvDataSegmentLength: '262144' } })).ok).toBe(true);
  const itt = 0x5a5a0001;
  const chunk = Buffer.alloc(8192, 0x41); // 'AAAA...' without '=': one long key being continued
  let rejected: Buffer | undefined;
  for (let i = 0; i < 12 && !rejected; i++) {
    ini.send({
      opcode: Opcode.TextRequest, immediate: true, final: false, continue: true, lun: 0, lunField: Buffer.alloc(8), initiatorTaskTag: itt,
      targetTransferTag: 0xffffffff, cmdSN: ini.cmdSN, expStatSN: ini.expStatSN, ahs: [], data: chunk,
    });
    const p = await ini.next((x) => x.opcode === Opcode.Reject || ('initiatorTaskTag' in x && x.initiatorTaskTag === itt), 5000);
    if (p?.opcode === Opcode.Reject) {
      expect(p.reason).toBe(0x04);
      rejected = p.data;
    }
  }
  expect(rejected, 'no Reject after 96 KiB of text').toBeDefined();
  expect(rejected!.length).toBe(48);
  expect(rejected![0]! & 0x3f).toBe(0x04); // Text Request opcode
  expect(rejected!.readUInt32BE(16)).toBe(itt); // Initiator Task Tag
  expect(rejected!.readUIntBE(5, 3)).toBe(chunk.length); // DataSegmentLength
  // The session still works.
  expect((await ini.command({ cdb: cdb.testUnitReady() })).status).not.toBe(undefined);
  expect((await ini.nop(Buffer.from('ping')))?.opcode).toBe(Opcode.NopIn);
});
