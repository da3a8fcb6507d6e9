import { describe, expect, it } from 'vitest';
import { COMMANDS, COMMAND_LIST, CommandIndex } from '../../src/scsi/command-table.js';
import { PORT1, PORT2, IQN, cdb, harness, nexus, padCdb, senseOf } from './helpers.js';
import { ScsiTargetDevice } from '../../src/scsi/scsi-target-device.js';
import { lunDef } from './helpers.js';
import type { TargetPortInfo } from '../../src/scsi/types.js';

describe('REPORT SUPPORTED OPERATION CODES (SPC-4 §6.35), generated from the command table', () => {
  it('all commands: one 8-byte descriptor per table entry, sorted, SERVACTV where a service action exists', async () => {
    const h = await harness();
    const d = (await h.run(cdb.rsoc(0))).dataIn as Buffer;
    const n = h.dev.commands.length; // the table, less SET TARGET PORT GROUPS without explicit ALUA
    expect(d.readUInt32BE(0)).toBe(8 * n);
    expect(d.length).toBe(4 + 8 * n);
    const seen: Array<[number, number, boolean, number]> = [];
    for (let o = 4; o < d.length; o += 8) seen.push([d[o], d.readUInt16BE(o + 2), (d[o + 5] & 1) === 1, d.readUInt16BE(o + 6)]);
    const expected = [...h.dev.commands]
      .sort((a, b) => a.opcode - b.opcode || (a.serviceAction ?? 0) - (b.serviceAction ?? 0))
      .map((c) => [c.opcode, c.serviceAction ?? 0, c.serviceAction !== undefined, c.cdbLength]);
    expect(seen).toEqual(expected);
    // Spot checks: READ(10) and READ CAPACITY(16).
    expect(seen).toContainEqual([0x28, 0, false, 10]);
    expect(seen).toContainEqual([0x9e, 0x10, true, 16]);
    for (let o = 4; o < d.length; o += 8) expect(d[o + 5] & 0x02).toBe(0); // CTDP clear without RCTD
  });

  it('RCTD adds a command timeouts descriptor to every descriptor', async () => {
    const h = await harness();
    const d = (await h.run(cdb.rsoc(0, 0, 0, 65535, true))).dataIn as Buffer;
    expect(d.readUInt32BE(0)).toBe(20 * h.dev.commands.length);
    for (let o = 4; o < d.length; o += 20) {
      expect(d[o + 5] & 0x02).toBe(0x02);
      expect(d.readUInt16BE(o + 8)).toBe(0x0a);
      expect(d.readUInt32BE(o + 16)).toBeGreaterThan(0);
    }
  });

  it('one command: READ(10) usage data with DPO/FUA, and the timeouts descriptor', async () => {
    const h = await harness();
    const d = (await h.run(cdb.rsoc(1, 0x28, 0, 65535, true))).dataIn as Buffer;
    expect([...d]).toEqual([
      0, 0x83, 0, 10,
      0x28, 0xf8, 0xff, 0xff, 0xff, 0xff, 0x1f, 0xff, 0xff, 0x00,
      0, 0x0a, 0, 0, 0, 0, 0, 1, 0, 0, 0, 30,
    ]);
  });

  it('one command with a service action (options 010b and 011b); unsupported service action reports SUPPORT 001b', async () => {
    const h = await harness();
    const d = (await h.run(cdb.rsoc(2, 0x9e, 0x10))).dataIn as Buffer;
    expect(d[1]).toBe(0x03);
    expect(d.readUInt16BE(2)).toBe(16);
    expect([...d.subarray(4, 6)]).toEqual([0x9e, 0x10]);
    expect([...((await h.run(cdb.rsoc(3, 0x9e, 0x12))).dataIn as Buffer).subarray(4, 6)]).toEqual([0x9e, 0x12]);
    expect([...((await h.run(cdb.rsoc(2, 0x9e, 0x11))).dataIn as Buffer)]).toEqual([0, 0x01, 0, 0]);
  });

  it('option 001b on a command with service actions and 010b on one without are INVALID FIELD IN CDB', async () => {
    const h = await harness();
    expect(senseOf(await h.run(cdb.rsoc(1, 0xa3)))).toMatchObject({ key: 5, asc: 0x24 });
    expect(senseOf(await h.run(cdb.rsoc(2, 0x28)))).toMatchObject({ key: 5, asc: 0x24 });
    expect(senseOf(await h.run(cdb.rsoc(4)))).toMatchObject({ key: 5, asc: 0x24, fieldPointer: 2 });
  });

  it('unsupported operation code reports SUPPORT 001b', async () => {
    const h = await harness();
    expect([...((await h.run(cdb.rsoc(1, 0xc0))).dataIn as Buffer)]).toEqual([0, 0x01, 0, 0]);
    expect([...((await h.run(cdb.rsoc(3, 0xc0))).dataIn as Buffer)]).toEqual([0, 0x01, 0, 0]);
  });

  it('the usage bitmap of every command also drives the reserved-bit check', async () => {
    const h = await harness();
    // WRITE(10) byte 1 bit 2 is reserved: usage 0xf8 does not have it.
    expect(COMMANDS.WRITE_10.usage[1] & 0x04).toBe(0);
    expect(senseOf(await h.run(cdb.write10(0, 1, 0x04), { data: Buffer.alloc(512) }))).toMatchObject({ asc: 0x24, fieldPointer: 1, bit: 2 });
  });

  it('the index refuses inconsistent tables', () => {
    const bad = { ...COMMANDS.READ_10, usage: [0x28, 0] };
    expect(() => new CommandIndex([bad])).toThrow(/usage/);
    expect(() => new CommandIndex([COMMANDS.READ_10, COMMANDS.READ_10])).toThrow(/duplicate/);
  });
});

describe('REPORT SUPPORTED TASK MANAGEMENT FUNCTIONS (SPC-4 §6.36)', () => {
  it('reports ABORT TASK, ABORT TASK SET, CLEAR TASK SET, LU RESET, TARGET RESET', async () => {
    const h = await harness();
    const r = await h.run([0xa3, 0x0d, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0]);
    expect([...(r.dataIn as Buffer)]).toEqual([0xda, 0, 0, 0]);
    const x = await h.run([0xa3, 0x0d, 0x80, 0, 0, 0, 0, 0, 0, 16, 0, 0]);
    expect([...(x.dataIn as Buffer)]).toEqual([0xda, 0, 0, 0x0c, ...new Array(12).fill(0)]);
  });
});

describe('REPORT TARGET PORT GROUPS (SPC-4 §6.27)', () => {
  const p3: TargetPortInfo = { relativePortId: 3, tpgt: 3, portGroupId: 1, name: `${IQN},t,0x0003` };

  async function rtpg(format: number, ports: TargetPortInfo[]) {
    const dev = new ScsiTargetDevice({ targetIqn: IQN, luns: [lunDef(0, 1 << 20)], ports });
    const nx = nexus(1);
    return dev.execute({ lun: 0, cdb: padCdb(cdb.rtpg(format)), nexus: nx, taskAttr: 1, expectedDataInLength: 1024 });
  }

  it('length-only header: one descriptor per group, active/optimized, ports listed', async () => {
    const r = await rtpg(0, [PORT2, PORT1, p3]);
    expect([...(r.dataIn as Buffer)]).toEqual([
      0, 0, 0, 28,
      0x00, 0x8f, 0, 1, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 3, // group 1: ports 1 and 3 (T/U/S/AN/AO_SUP)
      0x00, 0x8f, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2, // group 2: port 2
    ]);
  });

  it('extended header carries FORMAT TYPE 001b and the implicit transition time', async () => {
    const r = await rtpg(1, [PORT1]);
    expect([...(r.dataIn as Buffer)]).toEqual([0, 0, 0, 16, 0x10, 30, 0, 0, 0x00, 0x8f, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1]);
  });

  it('other parameter data formats are refused', async () => {
    expect(senseOf(await rtpg(2, [PORT1]))).toMatchObject({ asc: 0x24, fieldPointer: 1, bit: 7 });
  });

  it('includes ports only seen on a nexus', async () => {
    const dev = new ScsiTargetDevice({ targetIqn: IQN, luns: [lunDef(0, 1 << 20)], ports: [PORT1] });
    const nx = nexus(2, PORT2);
    dev.nexusAdded(nx);
    await dev.execute({ lun: 0, cdb: padCdb(cdb.tur()), nexus: nx, taskAttr: 1, expectedDataInLength: 0 });
    const r = await dev.execute({ lun: 0, cdb: padCdb(cdb.rtpg(0)), nexus: nx, taskAttr: 1, expectedDataInLength: 1024 });
    expect((r.dataIn as Buffer).readUInt32BE(0)).toBe(24);
  });
});

describe('every command of the table', () => {
  it('has the CDB length its operation code group implies (SPC-4 §4.3.4)', () => {
    for (const c of COMMAND_LIST) {
      const group = c.opcode >> 5;
      const expected = [6, 10, 10, -1, 16, 12][group];
      expect([c.name, c.cdbLength]).toEqual([c.name, expected]);
    }
  });

  it('refuses each reserved bit with a field pointer to it', async () => {
    const h = await harness();
    for (const c of COMMAND_LIST) {
      for (let byte = 1; byte < c.cdbLength - 1; byte++) {
        const allowed = c.serviceAction !== undefined && byte === 1 ? c.usage[1] | 0x1f : c.usage[byte];
        for (let bit = 0; bit < 8; bit++) {
          if (allowed & (1 << bit)) continue;
          const b = Buffer.alloc(16);
          b[0] = c.opcode;
          if (c.serviceAction !== undefined) b[1] = c.serviceAction;
          b[byte] |= 1 << bit;
          const s = senseOf(await h.run(b, { data: Buffer.alloc(0) }));
          expect([c.name, byte, bit, s.asc, s.fieldPointer, s.bit]).toEqual([c.name, byte, bit, 0x24, byte, bit]);
        }
      }
    }
  });
});
