/**
 * ALUA test setup: one target with two LUNs and three ports in two target
 * port groups (group 1: ports 1 and 3, group 2: port 2), a nexus on each
 * port with its POWER ON unit attentions consumed.
 */
import { ScsiTargetDevice, type ScsiTargetDeviceOptions } from '../../../src/scsi/scsi-target-device.js';
import { TargetPortGroups, type AluaStateName } from '../../../src/scsi/alua.js';
import type { ItNexus, ScsiResponse, TargetPortInfo } from '../../../src/scsi/types.js';
import { IQN, PORT1, PORT2, cdb, decodeSense, lunDef, nexus, padCdb } from '../helpers.js';

export const PORT3: TargetPortInfo = { relativePortId: 3, tpgt: 3, portGroupId: 1, name: `${IQN},t,0x0003` };

export interface AluaRig {
  dev: ScsiTargetDevice;
  groups: TargetPortGroups;
  /** Nexus through port 1 (group 1), port 2 (group 2), port 3 (group 1). */
  a: ItNexus;
  b: ItNexus;
  c: ItNexus;
  run(c: number[] | Buffer, nx?: ItNexus, opts?: { lun?: number; data?: Buffer }): Promise<ScsiResponse>;
  /** Consume every pending unit attention of a nexus on a LU; returns their ASC/ASCQ codes. */
  drain(nx: ItNexus, lun?: number): Promise<number[]>;
  /** Implicit (administrator) transition. */
  set(id: number, state: AluaStateName): void;
}

/** `explicit` (default true here): SET TARGET PORT GROUPS offered (TPGS 11b), as `alua-set --explicit on`. */
export async function aluaRig(
  opts: { initial?: Array<{ id: number; state: AluaStateName }>; explicit?: boolean; device?: Partial<ScsiTargetDeviceOptions> } = {},
): Promise<AluaRig> {
  const groups = new TargetPortGroups(opts.initial ?? [], { explicit: opts.explicit ?? true });
  const dev = new ScsiTargetDevice({
    targetIqn: IQN,
    luns: [lunDef(0, 1 << 20), lunDef(1, 1 << 20)],
    ports: [PORT1, PORT2, PORT3],
    alua: groups,
    ...opts.device,
  });
  const a = nexus(1, PORT1);
  const b = nexus(2, PORT2);
  const c = nexus(3, PORT3);
  for (const n of [a, b, c]) dev.nexusAdded(n);
  const run = (c0: number[] | Buffer, nx: ItNexus = a, o: { lun?: number; data?: Buffer } = {}) =>
    dev.execute({ lun: o.lun ?? 0, cdb: padCdb(c0), nexus: nx, taskAttr: 1, dataOut: o.data, expectedDataInLength: 1 << 16 });
  const drain = async (nx: ItNexus, lun = 0): Promise<number[]> => {
    const seen: number[] = [];
    for (let i = 0; i < 20; i++) {
      const r = await run(cdb.requestSense(false), nx, { lun });
      const s = decodeSense(r.dataIn as Buffer);
      if (s.key !== 6) return seen;
      seen.push((s.asc << 8) | s.ascq);
    }
    throw new Error('unit attentions never cleared');
  };
  for (const n of [a, b, c]) for (const lun of [0, 1]) await drain(n, lun);
  return { dev, groups, a, b, c, run, drain, set: (id, state) => dev.setPortGroupStates([{ id, state }]) };
}

/** SET TARGET PORT GROUPS CDB (SPC-4 §6.40). */
export const stpgCdb = (plen: number): number[] => [0xa4, 0x0a, 0, 0, 0, 0, (plen >>> 24) & 0xff, (plen >>> 16) & 0xff, (plen >>> 8) & 0xff, plen & 0xff, 0, 0];

/** STPG parameter list: 4 reserved bytes, then [state, 0, group hi, group lo] per descriptor. */
export function stpgList(descs: Array<{ state: number; group: number }>): Buffer {
  const b = Buffer.alloc(4 + 4 * descs.length);
  descs.forEach((d, i) => {
    b[4 + 4 * i] = d.state;
    b.writeUInt16BE(d.group, 4 + 4 * i + 2);
  });
  return b;
}

export { PORT1, PORT2 };
