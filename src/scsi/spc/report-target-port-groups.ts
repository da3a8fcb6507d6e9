/**
 * REPORT TARGET PORT GROUPS (SPC-4 §6.27). One target port group descriptor
 * per group (ports grouped by their stable ALUA group ID, ascending), each
 * with its primary target port asymmetric access state from the ALUA hook
 * (alua.ts), the states we support, the STATUS CODE of its last transition
 * and the relative target port identifiers of its ports.
 *
 * PARAMETER DATA FORMAT (CDB byte 1 bits 7-5):
 *  000b length only header: RETURN DATA LENGTH (4 bytes), descriptors;
 *  001b extended header: RETURN DATA LENGTH, FORMAT TYPE 001b, IMPLICIT
 *       TRANSITION TIME (seconds), 2 reserved bytes, descriptors.
 * Other formats are reserved: INVALID FIELD IN CDB.
 *
 * Descriptor (8 bytes + 4 per port): PREF (always 0: no group is preferred
 * over another; an administrator expresses preference with the
 * active/optimized and active/non-optimized states) and ASYMMETRIC ACCESS
 * STATE, SUPPORTED states (T_SUP, O_SUP, LBD_SUP, U_SUP, S_SUP, AN_SUP,
 * AO_SUP), TARGET PORT GROUP, reserved, STATUS CODE, vendor specific,
 * TARGET PORT COUNT, then per port 2 reserved bytes and the RELATIVE
 * TARGET PORT IDENTIFIER.
 */
import type { CommandContext } from '../command.js';
import { invalidFieldInCdb } from '../check-condition.js';
import { putU16, putU32, u32 } from '../cdb.js';
import { SUPPORTED_STATES } from '../alua.js';
import type { TargetPortInfo } from '../types.js';
import type { ScsiResponse } from '../types.js';

export const rtpgAllocationLength = (cdb: Buffer): number => u32(cdb, 6);

export const RtpgFormat = { LENGTH_ONLY: 0x0, EXTENDED: 0x1 } as const;

export function validateRtpg(cdb: Buffer): void {
  if (cdb[1] >> 5 > RtpgFormat.EXTENDED) throw invalidFieldInCdb(1, 7);
}

/** Ports by target port group ID, groups ascending, ports ascending within a group. */
export function groupPorts(ports: readonly TargetPortInfo[]): Map<number, TargetPortInfo[]> {
  const groups = new Map<number, TargetPortInfo[]>();
  for (const p of [...ports].sort((a, b) => a.portGroupId - b.portGroupId || a.relativePortId - b.relativePortId)) {
    let g = groups.get(p.portGroupId);
    if (!g) {
      g = [];
      groups.set(p.portGroupId, g);
    }
    g.push(p);
  }
  return groups;
}

export function reportTargetPortGroups(ctx: CommandContext): ScsiResponse {
  const extended = ctx.cdb[1] >> 5 === RtpgFormat.EXTENDED;
  const alua = ctx.device.alua;
  const groups = groupPorts(ctx.device.ports());
  const header = extended ? 8 : 4;
  let len = header;
  for (const ports of groups.values()) len += 8 + 4 * ports.length;
  const out = Buffer.alloc(len);
  putU32(out, 0, len - 4); // RETURN DATA LENGTH
  if (extended) {
    out[4] = RtpgFormat.EXTENDED << 4; // FORMAT TYPE
    out[5] = Math.min(255, Math.max(0, alua.implicitTransitionSeconds ?? 0)); // IMPLICIT TRANSITION TIME
  }
  let o = header;
  for (const [id, ports] of groups) {
    out[o] = alua.state(ctx.lu, id) & 0x0f; // PREF = 0, ASYMMETRIC ACCESS STATE
    out[o + 1] = alua.apply ? SUPPORTED_STATES : 0x01; // a fixed hook supports only what it reports: AO
    putU16(out, o + 2, id); // TARGET PORT GROUP
    out[o + 5] = alua.statusCode?.(id) ?? 0; // STATUS CODE
    out[o + 7] = Math.min(255, ports.length); // TARGET PORT COUNT
    o += 8;
    for (const p of ports) {
      putU16(out, o + 2, p.relativePortId); // RELATIVE TARGET PORT IDENTIFIER
      o += 4;
    }
  }
  return { status: 0, dataIn: out };
}
