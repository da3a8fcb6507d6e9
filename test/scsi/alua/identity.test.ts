/**
 * The logical unit is the same through every target port (SPC-4 §5.15.1,
 * DESIGN.md §5): dm-multipath groups paths by the LU's NAA designator and
 * serial number, so they must be identical whatever the port or its group's
 * state; only the target port designators differ.
 */
import { describe, expect, it } from 'vitest';
import { cdb } from '../helpers.js';
import { aluaRig } from './helpers.js';

interface Designator {
  assoc: number;
  type: number;
  value: string;
}

function designators(page: Buffer): Designator[] {
  const out: Designator[] = [];
  const end = 4 + page.readUInt16BE(2);
  for (let o = 4; o < end; ) {
    const len = page[o + 3];
    out.push({ assoc: (page[o + 1] >> 4) & 0x03, type: page[o + 1] & 0x0f, value: page.subarray(o + 4, o + 4 + len).toString('hex') });
    o += 4 + len;
  }
  return out;
}

describe('identical LU identity on every port', () => {
  it('standard INQUIRY, unit serial number (80h) and the LU and target designators (83h) are the same through every port and state', async () => {
    const rig = await aluaRig({ initial: [{ id: 2, state: 'standby' }] });
    const seen = [];
    for (const n of [rig.a, rig.b, rig.c]) {
      const std = (await rig.run(cdb.inquiry(0, 0, 96), n)).dataIn as Buffer;
      const serial = (await rig.run(cdb.inquiry(1, 0x80, 255), n)).dataIn as Buffer;
      const ids = designators((await rig.run(cdb.inquiry(1, 0x83, 255), n)).dataIn as Buffer);
      seen.push({
        std: std.toString('hex'),
        serial: serial.toString('hex'),
        lu: ids.filter((d) => d.assoc === 0),
        device: ids.filter((d) => d.assoc === 2),
      });
      // The port's own designators: relative target port (4h) and target port group (5h).
      const rel = ids.find((d) => d.assoc === 1 && d.type === 0x4)!;
      const tpg = ids.find((d) => d.assoc === 1 && d.type === 0x5)!;
      expect([parseInt(rel.value, 16), parseInt(tpg.value, 16)]).toEqual([n.targetPort.relativePortId, n.targetPort.portGroupId]);
    }
    expect(seen[0].lu).toEqual([{ assoc: 0, type: 0x3, value: '6001405000123456789abcdef0123456' }]);
    expect(seen[1]).toEqual(seen[0]);
    expect(seen[2]).toEqual(seen[0]);
  });

  it('each LU keeps its own identity', async () => {
    const rig = await aluaRig();
    const naa = async (lun: number) => designators((await rig.run(cdb.inquiry(1, 0x83, 255), rig.b, { lun })).dataIn as Buffer).find((d) => d.assoc === 0)!.value;
    expect(await naa(0)).not.toEqual(await naa(1));
  });
});
