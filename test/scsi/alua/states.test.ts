/**
 * Command filtering per asymmetric access state (SPC-4 §5.15.2): every
 * command of the table, through a port of a group in each state. The
 * expected sets are written here from the standard's lists, independently
 * of src/scsi/alua.ts.
 */
import { describe, expect, it } from 'vitest';
import { COMMAND_LIST } from '../../../src/scsi/command-table.js';
import type { CommandDef } from '../../../src/scsi/command.js';
import { ALUA_STATE_NAMES, aluaAllows, type AluaStateName } from '../../../src/scsi/alua.js';
import { cdb, decodeSense, senseOf } from '../helpers.js';
import { aluaRig } from './helpers.js';

/** SPC-4 §5.15.2 transitioning: INQUIRY, REPORT LUNS, REPORT TARGET PORT GROUPS, REQUEST SENSE. */
const TRANSITIONING = ['INQUIRY', 'REPORT LUNS', 'REPORT TARGET PORT GROUPS', 'REQUEST SENSE'];
/**
 * SPC-4 §5.15.2 unavailable: the above plus LOG SELECT/SENSE, MODE SELECT/SENSE,
 * RECEIVE DIAGNOSTIC RESULTS, SEND DIAGNOSTIC, SET TARGET PORT GROUPS; and
 * what we choose to support besides ("may support other commands"): READ
 * CAPACITY and the two REPORT SUPPORTED inventories.
 */
const UNAVAILABLE = [
  ...TRANSITIONING,
  'LOG SELECT',
  'LOG SENSE',
  'MODE SELECT(6)',
  'MODE SELECT(10)',
  'MODE SENSE(6)',
  'MODE SENSE(10)',
  'RECEIVE DIAGNOSTIC RESULTS',
  'SEND DIAGNOSTIC',
  'SET TARGET PORT GROUPS',
  'READ CAPACITY(10)',
  'READ CAPACITY(16)',
  'REPORT SUPPORTED OPERATION CODES',
  'REPORT SUPPORTED TASK MANAGEMENT FUNCTIONS',
];
/** SPC-4 §5.15.2 standby: the unavailable list plus PERSISTENT RESERVE IN/OUT (opcodes 5Eh/5Fh). */
const isPersistentReserve = (d: CommandDef) => d.opcode === 0x5e || d.opcode === 0x5f;

function expectedAllowed(state: AluaStateName, d: CommandDef): boolean {
  switch (state) {
    case 'active-optimized':
    case 'active-non-optimized':
      return true;
    case 'standby':
      return UNAVAILABLE.includes(d.name) || isPersistentReserve(d);
    case 'unavailable':
      return UNAVAILABLE.includes(d.name);
    case 'transitioning':
      return TRANSITIONING.includes(d.name);
  }
}

const ASCQ: Record<string, number> = { standby: 0x0b, unavailable: 0x0c, transitioning: 0x0a };

/** A CDB of the command with everything else zero (the ALUA check comes before field checks). */
function bareCdb(d: CommandDef): Buffer {
  const b = Buffer.alloc(16);
  b[0] = d.opcode;
  if (d.serviceAction !== undefined) b[1] = d.serviceAction;
  return b;
}

describe('ALUA command filtering (SPC-4 §5.15.2)', () => {
  for (const state of ALUA_STATE_NAMES) {
    it(`${state}: only the commands SPC-4 lists run; the others get NOT READY${ASCQ[state] ? `, 04h/${ASCQ[state].toString(16).padStart(2, '0')}h` : ''}`, async () => {
      const rig = await aluaRig();
      rig.set(2, state);
      await rig.drain(rig.b);
      const refused: string[] = [];
      for (const d of COMMAND_LIST) {
        const r = await rig.run(bareCdb(d), rig.b, { data: Buffer.alloc(0) });
        const s = r.status === 2 && r.sense ? decodeSense(r.sense) : undefined;
        const notAccessible = s !== undefined && s.key === 2 && s.asc === 0x04 && [0x0a, 0x0b, 0x0c].includes(s.ascq);
        if (notAccessible) {
          refused.push(d.name);
          expect([d.name, s.ascq]).toEqual([d.name, ASCQ[state]]);
        }
        expect([d.name, !notAccessible]).toEqual([d.name, expectedAllowed(state, d)]);
        expect([d.name, aluaAllows(state, d)]).toEqual([d.name, expectedAllowed(state, d)]);
      }
      if (state.startsWith('active')) expect(refused).toEqual([]);
      else expect(refused).toContain('READ(10)');
    });
  }

  it('medium access is refused in every inaccessible state, with fixed or descriptor sense', async () => {
    const rig = await aluaRig();
    for (const [state, ascq] of [['standby', 0x0b], ['unavailable', 0x0c], ['transitioning', 0x0a]] as const) {
      rig.set(2, state);
      await rig.drain(rig.b);
      for (const c of [cdb.read10(0, 1), cdb.write10(0, 1), cdb.read16(0, 1), cdb.write16(0, 1), cdb.tur(), cdb.unmap(0), cdb.ws16(0, 1)]) {
        expect(senseOf(await rig.run(c, rig.b, { data: Buffer.alloc(512) }))).toMatchObject({ format: 'fixed', key: 2, asc: 0x04, ascq });
      }
    }
    // D_SENSE = 1 (control mode page): descriptor format.
    rig.set(2, 'active-optimized');
    await rig.drain(rig.b);
    const page = Buffer.from([0, 0, 0, 0, 0x0a, 0x0a, 0x22 | 0x04, 0x10, 0, 0, 0, 0, 0xff, 0xff, 0, 0]); // control page, D_SENSE = 1
    expect((await rig.run(cdb.modeSelect6(page.length), rig.b, { data: page })).status).toBe(0);
    rig.set(2, 'standby');
    await rig.drain(rig.b);
    expect(senseOf(await rig.run(cdb.read10(0, 1), rig.b))).toMatchObject({ format: 'descriptor', key: 2, asc: 0x04, ascq: 0x0b });
  });

  it('a group in standby does not affect the ports of other groups', async () => {
    const rig = await aluaRig();
    rig.set(2, 'standby');
    for (const n of [rig.a, rig.b, rig.c]) await rig.drain(n);
    const data = Buffer.alloc(512, 0x5a);
    expect((await rig.run(cdb.write10(7, 1), rig.a, { data })).status).toBe(0);
    expect((await rig.run(cdb.read10(7, 1), rig.c)).dataIn).toEqual(data);
    expect(senseOf(await rig.run(cdb.read10(7, 1), rig.b))).toMatchObject({ key: 2, asc: 0x04, ascq: 0x0b });
    // Both LUNs of the target follow the group's state (each LU reports the unit attention once).
    expect(await rig.drain(rig.b, 1)).toEqual([0x2a06]);
    expect(senseOf(await rig.run(cdb.read10(0, 1), rig.b, { lun: 1 }))).toMatchObject({ key: 2, ascq: 0x0b });
  });

  it('active/non-optimized serves every command like active/optimized', async () => {
    const rig = await aluaRig({ initial: [{ id: 2, state: 'active-non-optimized' }] });
    const data = Buffer.alloc(1024, 0x33);
    expect((await rig.run(cdb.write10(0, 2), rig.b, { data })).status).toBe(0);
    expect((await rig.run(cdb.read10(0, 2), rig.b)).dataIn).toEqual(data);
    expect((await rig.run(cdb.tur(), rig.b)).status).toBe(0);
  });

  it('in standby: INQUIRY, REPORT LUNS, READ CAPACITY, MODE SENSE and REQUEST SENSE answer; INQUIRY for any LUN', async () => {
    const rig = await aluaRig({ initial: [{ id: 2, state: 'standby' }] });
    for (const c of [cdb.inquiry(0, 0, 96), cdb.inquiry(1, 0x83, 255), cdb.reportLuns(0, 256), cdb.readCapacity10(), cdb.readCapacity16(), cdb.modeSense6(0x3f), cdb.rtpg(1)]) {
      expect((await rig.run(c, rig.b)).status).toBe(0);
    }
    expect((await rig.run(cdb.inquiry(0, 0, 96), rig.b, { lun: 9 })).dataIn?.[0]).toBe(0x7f);
    const rs = await rig.run(cdb.requestSense(false), rig.b);
    expect(decodeSense(rs.dataIn as Buffer)).toMatchObject({ key: 0 });
  });

  it('a unit attention is reported before the state refuses the command', async () => {
    const rig = await aluaRig();
    rig.set(2, 'unavailable');
    expect(senseOf(await rig.run(cdb.read10(0, 1), rig.b))).toMatchObject({ key: 6, asc: 0x2a, ascq: 0x06 });
    expect(senseOf(await rig.run(cdb.read10(0, 1), rig.b))).toMatchObject({ key: 2, asc: 0x04, ascq: 0x0c });
  });

  it('back to active/optimized: commands run again', async () => {
    const rig = await aluaRig({ initial: [{ id: 2, state: 'transitioning' }] });
    expect(senseOf(await rig.run(cdb.tur(), rig.b))).toMatchObject({ key: 2, ascq: 0x0a });
    rig.set(2, 'active-optimized');
    expect(senseOf(await rig.run(cdb.tur(), rig.b))).toMatchObject({ key: 6, asc: 0x2a, ascq: 0x06 });
    expect((await rig.run(cdb.tur(), rig.b)).status).toBe(0);
  });
});
