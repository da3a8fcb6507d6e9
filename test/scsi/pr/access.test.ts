/**
 * What each reservation type lets other I_T nexuses do (SPC-4 §5.13.1,
 * SBC-3 §4.17), driven by the command table's rules: medium reads and
 * writes from the holder, a registered nexus and an unregistered one;
 * commands allowed under every reservation; management commands.
 */
import { describe, expect, it } from 'vitest';
import { cdb } from '../helpers.js';
import { RESERVATION_CONFLICT, prHarness, type PrHarness } from './helpers.js';
import { TYPE } from './pr-codec.js';
import type { ItNexus } from '../../../src/scsi/types.js';

const BLOCK = Buffer.alloc(512, 0x5a);

async function setup(type: number): Promise<{ h: PrHarness; holder: ItNexus; reg: ItNexus; unreg: ItNexus }> {
  const h = await prHarness();
  const holder = await h.login(1);
  const reg = await h.login(2);
  const unreg = await h.login(3);
  await h.register(holder, 1n);
  await h.register(reg, 2n);
  await h.reserve(holder, 1n, type);
  return { h, holder, reg, unreg };
}

const ok = (s: number) => (s === RESERVATION_CONFLICT ? 'conflict' : s === 0 ? 'ok' : `status ${s}`);

// [type, registered reads, registered writes, unregistered reads, unregistered writes]: SPC-4 table
// "Persistent reservation type codes" and libiscsi ProutReserve.Access*.
const MATRIX = [
  ['WE', TYPE.WE, 'ok', 'conflict', 'ok', 'conflict'],
  ['EA', TYPE.EA, 'conflict', 'conflict', 'conflict', 'conflict'],
  ['WERO', TYPE.WERO, 'ok', 'ok', 'ok', 'conflict'],
  ['EARO', TYPE.EARO, 'ok', 'ok', 'conflict', 'conflict'],
  ['WEAR', TYPE.WEAR, 'ok', 'ok', 'ok', 'conflict'],
  ['EAAR', TYPE.EAAR, 'ok', 'ok', 'conflict', 'conflict'],
] as const;

describe('medium access under each reservation type', () => {
  it.each(MATRIX)('%s', async (_name, type, regRead, regWrite, unregRead, unregWrite) => {
    const { h, holder, reg, unreg } = await setup(type);
    expect(ok((await h.run(holder, cdb.read10(1, 1))).status)).toBe('ok');
    expect(ok((await h.run(holder, cdb.write10(1, 1), BLOCK)).status)).toBe('ok');
    expect(ok((await h.run(reg, cdb.read10(1, 1))).status)).toBe(regRead);
    expect(ok((await h.run(reg, cdb.write10(1, 1), BLOCK)).status)).toBe(regWrite);
    expect(ok((await h.run(unreg, cdb.read10(1, 1))).status)).toBe(unregRead);
    expect(ok((await h.run(unreg, cdb.write10(1, 1), BLOCK)).status)).toBe(unregWrite);
    // Every medium write command follows the WRITE rule, every read command the READ rule.
    expect(ok((await h.run(unreg, cdb.write16(1, 1), BLOCK)).status)).toBe(unregWrite);
    expect(ok((await h.run(unreg, cdb.ws10(1, 1), BLOCK)).status)).toBe(unregWrite);
    expect(ok((await h.run(unreg, [0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0])).status)).toBe(unregWrite); // SYNCHRONIZE CACHE(10)
    expect(ok((await h.run(unreg, cdb.read16(1, 1))).status)).toBe(unregRead);
    expect(ok((await h.run(unreg, cdb.verify10(1, 1))).status)).toBe(unregRead);
  });

  it('the same initiator through another target port is another I_T nexus: not the holder of a Write Exclusive reservation', async () => {
    const { h, holder } = await setup(TYPE.WE);
    const other = await h.login(1, { relativePortId: 2, tpgt: 2, portGroupId: 2, name: 'x' });
    expect(ok((await h.run(other, cdb.write10(1, 1), BLOCK)).status)).toBe('conflict');
    expect(ok((await h.run(holder, cdb.write10(1, 1), BLOCK)).status)).toBe('ok');
  });
});

describe('commands allowed under every reservation, and management commands', () => {
  it.each([TYPE.WE, TYPE.EA, TYPE.WERO, TYPE.EARO])('type %i: INQUIRY, REPORT LUNS, TEST UNIT READY, READ CAPACITY, REQUEST SENSE and PERSISTENT RESERVE IN are allowed', async (type) => {
    const { h, unreg } = await setup(type);
    for (const c of [cdb.inquiry(0, 0, 96), cdb.reportLuns(0, 256), cdb.tur(), cdb.readCapacity10(), cdb.readCapacity16(), cdb.requestSense(false), [0x5e, 0, 0, 0, 0, 0, 0, 0, 64, 0]]) {
      expect(ok((await h.run(unreg, c)).status)).toBe('ok');
    }
  });

  it('MODE SENSE / MODE SELECT / REPORT SUPPORTED OPERATION CODES: conflict under Write Exclusive (ALLOW COMMANDS 010b), allowed for registrants under RO', async () => {
    const we = await setup(TYPE.WE);
    expect(ok((await we.h.run(we.unreg, cdb.modeSense6(0x3f))).status)).toBe('conflict');
    expect(ok((await we.h.run(we.reg, cdb.rsoc(0))).status)).toBe('conflict');
    expect(ok((await we.h.run(we.holder, cdb.modeSense6(0x3f))).status)).toBe('ok');
    const ro = await setup(TYPE.WERO);
    expect(ok((await ro.h.run(ro.reg, cdb.modeSense6(0x3f))).status)).toBe('ok');
    expect(ok((await ro.h.run(ro.unreg, cdb.modeSense6(0x3f))).status)).toBe('conflict');
  });

  it('nothing conflicts while only registrations exist', async () => {
    const h = await prHarness();
    const a = await h.login(1);
    const b = await h.login(2);
    await h.register(a, 1n);
    expect(ok((await h.run(b, cdb.write10(1, 1), BLOCK)).status)).toBe('ok');
    expect(ok((await h.run(b, cdb.modeSense6(0x3f))).status)).toBe('ok');
  });
});
