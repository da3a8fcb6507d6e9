/**
 * SET TARGET PORT GROUPS (SPC-4 §6.40) and the ASYMMETRIC ACCESS STATE
 * CHANGED unit attention (2Ah/06h) on every transition (SPC-4 §5.15.2).
 */
import { describe, expect, it } from 'vitest';
import { COMMAND_LIST } from '../../../src/scsi/command-table.js';
import { ALUA_STATE_NAMES } from '../../../src/scsi/alua.js';
import { cdb, senseOf } from '../helpers.js';
import { aluaRig, stpgCdb, stpgList } from './helpers.js';

const AASC = 0x2a06;

describe('ASYMMETRIC ACCESS STATE CHANGED (SPC-4 §5.15.2)', () => {
  it('every implicit transition raises it for every I_T nexus on every port and LU', async () => {
    const rig = await aluaRig();
    const order = ['active-non-optimized', 'standby', 'unavailable', 'transitioning', 'active-optimized', 'standby', 'active-non-optimized', 'transitioning', 'unavailable', 'active-optimized'] as const;
    for (const state of order) {
      expect(rig.dev.setPortGroupStates([{ id: 2, state }])).toEqual([{ id: 2, state }]);
      for (const n of [rig.a, rig.b, rig.c]) {
        for (const lun of [0, 1]) expect([state, n.targetPort.relativePortId, lun, await rig.drain(n, lun)]).toEqual([state, n.targetPort.relativePortId, lun, [AASC]]);
      }
    }
  });

  it('is reported as UNIT ATTENTION on the next command, once', async () => {
    const rig = await aluaRig();
    rig.set(1, 'active-non-optimized');
    expect(senseOf(await rig.run(cdb.read10(0, 1), rig.a))).toMatchObject({ key: 6, asc: 0x2a, ascq: 0x06 });
    expect((await rig.run(cdb.read10(0, 1), rig.a)).status).toBe(0);
  });

  it('is not raised when nothing changes', async () => {
    const rig = await aluaRig({ initial: [{ id: 2, state: 'standby' }] });
    expect(rig.dev.setPortGroupStates([{ id: 2, state: 'standby' }, { id: 1, state: 'active-optimized' }])).toEqual([]);
    for (const n of [rig.a, rig.b, rig.c]) expect(await rig.drain(n)).toEqual([]);
  });

  it('SET TARGET PORT GROUPS raises it for every other I_T nexus, not the requester', async () => {
    const rig = await aluaRig({ initial: [{ id: 2, state: 'standby' }] });
    const list = stpgList([{ state: 0x00, group: 2 }]);
    // Allowed in standby (SPC-4 §5.15.2): the standby port activates its own group.
    expect((await rig.run(stpgCdb(list.length), rig.b, { data: list })).status).toBe(0);
    expect(await rig.drain(rig.b)).toEqual([]);
    expect(await rig.drain(rig.a)).toEqual([AASC]);
    expect(await rig.drain(rig.c, 1)).toEqual([AASC]);
    expect(rig.groups.stateName(2)).toBe('active-optimized');
    expect((await rig.run(cdb.read10(0, 1), rig.b)).status).toBe(0);
  });
});

describe('SET TARGET PORT GROUPS (SPC-4 §6.40)', () => {
  it('is in the command table and in REPORT SUPPORTED OPERATION CODES', async () => {
    const def = COMMAND_LIST.find((d) => d.name === 'SET TARGET PORT GROUPS');
    expect(def).toMatchObject({ opcode: 0xa4, serviceAction: 0x0a, cdbLength: 12 });
    const rig = await aluaRig();
    const r = await rig.run(cdb.rsoc(0x02, 0xa4, 0x0a));
    expect([...(r.dataIn as Buffer).subarray(0, 4)]).toEqual([0, 0x03, 0, 12]); // SUPPORT 011b, CDB SIZE 12
  });

  it('sets several groups at once', async () => {
    const rig = await aluaRig();
    const list = stpgList([
      { state: 0x02, group: 1 },
      { state: 0x01, group: 2 },
    ]);
    expect((await rig.run(stpgCdb(list.length), rig.a, { data: list })).status).toBe(0);
    expect([rig.groups.stateName(1), rig.groups.stateName(2)]).toEqual(['standby', 'active-non-optimized']);
    expect(await rig.drain(rig.a)).toEqual([]);
    expect(senseOf(await rig.run(cdb.tur(), rig.a))).toMatchObject({ key: 2, asc: 0x04, ascq: 0x0b });
    expect(await rig.drain(rig.b)).toEqual([AASC]);
  });

  it('accepts every requestable state: active/optimized, active/non-optimized, standby, unavailable', async () => {
    const rig = await aluaRig();
    for (const [code, name] of [[0x3, 'unavailable'], [0x2, 'standby'], [0x1, 'active-non-optimized'], [0x0, 'active-optimized']] as const) {
      const list = stpgList([{ state: code, group: 2 }]);
      expect((await rig.run(stpgCdb(list.length), rig.a, { data: list })).status).toBe(0);
      expect(rig.groups.stateName(2)).toBe(name);
    }
    expect(ALUA_STATE_NAMES).toContain('transitioning');
  });

  it('PARAMETER LIST LENGTH 0 is not an error and changes nothing', async () => {
    const rig = await aluaRig();
    expect((await rig.run(stpgCdb(0), rig.a)).status).toBe(0);
    expect(await rig.drain(rig.b)).toEqual([]);
  });

  it('a length that cuts a descriptor, or less Data-Out than announced: PARAMETER LIST LENGTH ERROR', async () => {
    const rig = await aluaRig();
    const list = stpgList([{ state: 0x02, group: 2 }]);
    for (const plen of [2, 6, 10]) {
      expect(senseOf(await rig.run(stpgCdb(plen), rig.a, { data: Buffer.concat([list, Buffer.alloc(4)]) }))).toMatchObject({ key: 5, asc: 0x1a, ascq: 0 });
    }
    expect(senseOf(await rig.run(stpgCdb(12), rig.a, { data: list }))).toMatchObject({ key: 5, asc: 0x1a });
    expect(rig.groups.stateName(2)).toBe('active-optimized');
  });

  it('refuses states that cannot be requested, unknown or repeated groups and reserved bits, changing nothing', async () => {
    const rig = await aluaRig();
    const bad: Array<[Array<{ state: number; group: number }>, number, number]> = [
      [[{ state: 0xf, group: 2 }], 4, 3], // transitioning
      [[{ state: 0xe, group: 2 }], 4, 3], // offline
      [[{ state: 0x4, group: 2 }], 4, 3], // LBA dependent (LBD_SUP = 0)
      [[{ state: 0x7, group: 2 }], 4, 3], // reserved
      [[{ state: 0x2, group: 2 }, { state: 0x2, group: 9 }], 10, 7], // no group 9: pointer at its TARGET PORT GROUP
      [[{ state: 0x2, group: 1 }, { state: 0x1, group: 1 }], 10, 7], // group 1 twice
      [[{ state: 0x12, group: 2 }], 4, 7], // reserved bits 7-4 of byte 0
    ];
    for (const [descs, byte, bit] of bad) {
      const list = stpgList(descs);
      const s = senseOf(await rig.run(stpgCdb(list.length), rig.a, { data: list }));
      expect([descs, s.key, s.asc, s.cd, s.fieldPointer, s.bit]).toEqual([descs, 5, 0x26, false, byte, bit]);
    }
    expect([rig.groups.stateName(1), rig.groups.stateName(2)]).toEqual(['active-optimized', 'active-optimized']);
    for (const n of [rig.a, rig.b]) expect(await rig.drain(n)).toEqual([]);
  });

  it('is refused while transitioning, like every command but the four SPC-4 lists', async () => {
    const rig = await aluaRig({ initial: [{ id: 2, state: 'transitioning' }] });
    const list = stpgList([{ state: 0x00, group: 2 }]);
    expect(senseOf(await rig.run(stpgCdb(list.length), rig.b, { data: list }))).toMatchObject({ key: 2, asc: 0x04, ascq: 0x0a });
    // ... but another port may end the transition.
    expect((await rig.run(stpgCdb(list.length), rig.a, { data: list })).status).toBe(0);
    expect(rig.groups.stateName(2)).toBe('active-optimized');
  });
});
