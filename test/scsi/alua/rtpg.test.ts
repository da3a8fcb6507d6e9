/**
 * REPORT TARGET PORT GROUPS encoding (SPC-4 §6.27): both parameter data
 * formats, access states, SUPPORTED bits, STATUS CODE, implicit transition
 * time, allocation length; TPGS in standard INQUIRY.
 */
import { describe, expect, it } from 'vitest';
import { ScsiTargetDevice } from '../../../src/scsi/scsi-target-device.js';
import { ALL_ACTIVE_OPTIMIZED, TargetPortGroups } from '../../../src/scsi/alua.js';
import { IQN, cdb, lunDef, nexus, padCdb, senseOf } from '../helpers.js';
import { PORT1, PORT2, aluaRig, stpgCdb, stpgList } from './helpers.js';

const be32 = (v: number) => [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
/** T_SUP | U_SUP | S_SUP | AN_SUP | AO_SUP; O_SUP and LBD_SUP clear. */
const SUP = 0x8f;

describe('REPORT TARGET PORT GROUPS (SPC-4 §6.27)', () => {
  it('length-only header (format 000b): one descriptor per group with its state, status and ports', async () => {
    const rig = await aluaRig({ initial: [{ id: 2, state: 'active-non-optimized' }] });
    const r = await rig.run(cdb.rtpg(0), rig.a);
    expect(r.status).toBe(0);
    expect([...(r.dataIn as Buffer)]).toEqual([
      ...be32(28), // RETURN DATA LENGTH: two descriptors of 8 + 4n bytes
      0x00, SUP, 0, 1, 0, 0x00, 0, 2, // group 1: active/optimized, status 00h, 2 ports
      0, 0, 0, 1, 0, 0, 0, 3, //         relative target ports 1 and 3
      0x01, SUP, 0, 2, 0, 0x00, 0, 1, // group 2: active/non-optimized, 1 port
      0, 0, 0, 2,
    ]);
  });

  it('extended header (format 001b): FORMAT TYPE and IMPLICIT TRANSITION TIME', async () => {
    const rig = await aluaRig({ device: { alua: new TargetPortGroups([{ id: 1, state: 'standby' }], { implicitTransitionSeconds: 45 }) } });
    const r = await rig.run(cdb.rtpg(1), rig.b);
    const d = r.dataIn as Buffer;
    expect([...d.subarray(0, 8)]).toEqual([...be32(32), 0x10, 45, 0, 0]);
    expect([...d.subarray(8, 16)]).toEqual([0x02, SUP, 0, 1, 0, 0, 0, 2]);
    expect([...d.subarray(24, 32)]).toEqual([0x00, SUP, 0, 2, 0, 0, 0, 1]);
    expect(d.length).toBe(36);
  });

  it('the default implicit transition time is 30 seconds', async () => {
    const rig = await aluaRig();
    expect((await rig.run(cdb.rtpg(1))).dataIn?.[5]).toBe(30);
  });

  it('reports every state by its code: standby 2h, unavailable 3h, transitioning Fh', async () => {
    const rig = await aluaRig();
    for (const [state, code] of [['standby', 2], ['unavailable', 3], ['transitioning', 0xf], ['active-non-optimized', 1], ['active-optimized', 0]] as const) {
      rig.set(2, state);
      await rig.drain(rig.a);
      const d = (await rig.run(cdb.rtpg(0), rig.a)).dataIn as Buffer;
      expect([state, d[20] & 0x0f, d[20] & 0x80]).toEqual([state, code, 0]); // PREF = 0
    }
  });

  it('STATUS CODE: 02h after an implicit transition, 01h after SET TARGET PORT GROUPS', async () => {
    const rig = await aluaRig();
    rig.set(2, 'standby');
    await rig.drain(rig.a);
    let d = (await rig.run(cdb.rtpg(0), rig.a)).dataIn as Buffer;
    expect([d[4 + 5], d[20 + 5]]).toEqual([0x00, 0x02]);
    const list = stpgList([{ state: 0x01, group: 1 }]);
    expect((await rig.run(stpgCdb(list.length), rig.a, { data: list })).status).toBe(0);
    d = (await rig.run(cdb.rtpg(0), rig.a)).dataIn as Buffer;
    expect([d[4] & 0x0f, d[4 + 5], d[20] & 0x0f, d[20 + 5]]).toEqual([0x01, 0x01, 0x02, 0x02]);
  });

  it('is answered in every state, through any port', async () => {
    const rig = await aluaRig();
    for (const state of ['standby', 'unavailable', 'transitioning'] as const) {
      rig.set(2, state);
      await rig.drain(rig.b);
      expect((await rig.run(cdb.rtpg(1), rig.b)).status).toBe(0);
    }
  });

  it('truncates to the ALLOCATION LENGTH; RETURN DATA LENGTH stays the full length', async () => {
    const rig = await aluaRig();
    const r = await rig.run(cdb.rtpg(0, 10));
    expect([...(r.dataIn as Buffer)]).toEqual([...be32(28), 0, SUP, 0, 1, 0, 0]);
    expect((await rig.run(cdb.rtpg(0, 0))).dataIn?.length).toBe(0);
  });

  it('refuses formats other than 000b and 001b', async () => {
    const rig = await aluaRig();
    for (const f of [2, 3, 7]) expect(senseOf(await rig.run(cdb.rtpg(f)))).toMatchObject({ key: 5, asc: 0x24, fieldPointer: 1, bit: 7 });
  });

  it('a fixed hook reports AO_SUP only and TPGS 01b (implicit only); SET TARGET PORT GROUPS is refused', async () => {
    const dev = new ScsiTargetDevice({ targetIqn: IQN, luns: [lunDef(0, 1 << 20)], ports: [PORT1, PORT2], alua: ALL_ACTIVE_OPTIMIZED });
    const nx = nexus(1);
    dev.nexusAdded(nx);
    const run = (c: number[], data?: Buffer) => dev.execute({ lun: 0, cdb: padCdb(c), nexus: nx, taskAttr: 1, dataOut: data, expectedDataInLength: 1024 });
    await run(cdb.tur());
    expect((await run(cdb.rtpg(0))).dataIn?.[5]).toBe(0x01);
    expect(((await run(cdb.inquiry(0, 0, 96))).dataIn![5] >> 4) & 0x03).toBe(0x01); // TPGS 01b
    const list = stpgList([{ state: 0, group: 1 }]);
    expect(senseOf(await run(stpgCdb(list.length), list))).toMatchObject({ key: 5, asc: 0x20 });
  });
});

describe('standard INQUIRY TPGS (SPC-4 §6.6.2)', () => {
  it('is 01b (implicit only) by default: SET TARGET PORT GROUPS is not supported nor reported', async () => {
    const rig = await aluaRig({ explicit: false, initial: [{ id: 2, state: 'active-non-optimized' }] });
    for (const n of [rig.a, rig.b, rig.c]) {
      const d = (await rig.run(cdb.inquiry(0, 0, 96), n)).dataIn as Buffer;
      expect((d[5] >> 4) & 0x03).toBe(0x01);
    }
    const list = stpgList([{ state: 0x00, group: 2 }]);
    expect(senseOf(await rig.run(stpgCdb(list.length), rig.b, { data: list }))).toMatchObject({ key: 5, asc: 0x20, ascq: 0 });
    expect(rig.groups.stateName(2)).toBe('active-non-optimized');
    // REPORT SUPPORTED OPERATION CODES: one command, MAINTENANCE OUT / 0Ah: SUPPORT 001b (not supported).
    expect((await rig.run(cdb.rsoc(0x02, 0xa4, 0x0a))).dataIn?.[1]! & 0x07).toBe(0x01);
    const all = (await rig.run(cdb.rsoc(0))).dataIn as Buffer;
    const listed: number[] = [];
    for (let o = 4; o < 4 + all.readUInt32BE(0); o += 8) listed.push(all[o]!);
    expect(listed).not.toContain(0xa4);
    // Implicit transitions (the administrator) still work.
    rig.set(2, 'standby');
    expect(rig.groups.stateName(2)).toBe('standby');
  });

  it('is 11b with explicit ALUA: implicit and explicit asymmetric access, on every port', async () => {
    const rig = await aluaRig({ initial: [{ id: 2, state: 'standby' }] });
    for (const n of [rig.a, rig.b, rig.c]) {
      const d = (await rig.run(cdb.inquiry(0, 0, 96), n)).dataIn as Buffer;
      expect((d[5] >> 4) & 0x03).toBe(0x03);
    }
  });
});
