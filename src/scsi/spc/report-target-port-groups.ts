/**
 * REPORT TARGET PORT GROUPS (SPC-4 §6.27). One descriptor per target port
 * group (ports grouped by their stable ALUA group ID), each with its access
 * state from the ALUA hook (alua.ts: active/optimized for now) and its
 * ports' relative target port identifiers. PARAMETER DATA FORMAT 000b
 * (length only header) and 001b (extended header).
 */
import type { CommandContext } from '../command.js';
import { invalidFieldInCdb } from '../check-condition.js';
import { putU16, putU32, u32 } from '../cdb.js';
import type { TargetPortInfo } from '../types.js';
import type { ScsiResponse } from '../types.js';

export const rtpgAllocationLength = (cdb: Buffer): number => u32(cdb, 6);

/** SUPPORTED states: AO_SUP only (implicit ALUA, no state changes). */
const SUPPORTED_STATES = 0x01;

export function validateRtpg(cdb: Buffer): void {
  if (cdb[1] >> 5 > 0x01) throw invalidFieldInCdb(1, 7);
}

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
  const extended = ctx.cdb[1] >> 5 === 0x01;
  const groups = groupPorts(ctx.device.ports());
  let len = 4 + (extended ? 4 : 0);
  for (const ports of groups.values()) len += 8 + 4 * ports.length;
  const out = Buffer.alloc(len);
  putU32(out, 0, len - 4); // RETURN DATA LENGTH
  let o = 4;
  if (extended) {
    out[4] = 0x10; // FORMAT TYPE 001b
    out[5] = 0; // IMPLICIT TRANSITION TIME
    o = 8;
  }
  for (const [id, ports] of groups) {
    out[o] = ctx.device.alua.state(ctx.lu, id) & 0x0f; // PREF = 0, ASYMMETRIC ACCESS STATE
    out[o + 1] = SUPPORTED_STATES;
    putU16(out, o + 2, id);
    out[o + 5] = 0; // STATUS CODE: no status available
    out[o + 7] = ports.length;
    o += 8;
    for (const p of ports) {
      putU16(out, o + 2, p.relativePortId);
      o += 4;
    }
  }
  return { status: 0, dataIn: out };
}
