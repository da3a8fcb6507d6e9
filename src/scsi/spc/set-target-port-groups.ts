/**
 * SET TARGET PORT GROUPS (SPC-4 §6.40): explicit asymmetric access state
 * transitions requested by an initiator, on a target that offers explicit
 * ALUA (TPGS 11b in standard INQUIRY); otherwise the command is not
 * supported (INVALID COMMAND OPERATION CODE, and REPORT SUPPORTED OPERATION
 * CODES leaves it out).
 *
 * CDB: MAINTENANCE OUT, service action 0Ah, PARAMETER LIST LENGTH in bytes
 * 6-9. Parameter list: 4 reserved bytes, then 4-byte set target port group
 * descriptors: ASYMMETRIC ACCESS STATE (byte 0 bits 3-0), reserved, TARGET
 * PORT GROUP (bytes 2-3).
 *
 * A zero PARAMETER LIST LENGTH is not an error. A length that cuts a
 * descriptor, or Data-Out shorter than announced, is PARAMETER LIST LENGTH
 * ERROR. The whole list is checked before anything changes: a state that
 * cannot be requested (transitioning, offline, LBA dependent, reserved
 * values), a group the target does not have, or the same group twice is
 * INVALID FIELD IN PARAMETER LIST with a field pointer to the descriptor's
 * byte. The device then applies the list and establishes ASYMMETRIC ACCESS
 * STATE CHANGED for every other I_T nexus (scsi-target-device.ts).
 */
import type { LuContext } from '../command.js';
import { GOOD } from '../command.js';
import { invalidFieldInParameterList, invalidOpcode, parameterListLengthError } from '../check-condition.js';
import { u16, u32 } from '../cdb.js';
import { aluaStateName, AluaState, type PortGroupChange } from '../alua.js';
import type { ScsiResponse } from '../types.js';

export const stpgParameterListLength = (cdb: Buffer): number => u32(cdb, 6);

const HEADER = 4;
const DESCRIPTOR = 4;

/** States an initiator may request (SPC-4 §6.40: not transitioning, offline or, without LBD_SUP, LBA dependent). */
const REQUESTABLE = new Set<number>([AluaState.ACTIVE_OPTIMIZED, AluaState.ACTIVE_NON_OPTIMIZED, AluaState.STANDBY, AluaState.UNAVAILABLE]);

/** Parse and check a parameter list against the groups the target has. */
export function parseStpgList(data: Buffer, knownGroups: ReadonlySet<number>): PortGroupChange[] {
  const changes: PortGroupChange[] = [];
  const seen = new Set<number>();
  for (let o = HEADER; o + DESCRIPTOR <= data.length; o += DESCRIPTOR) {
    const code = data[o] & 0x0f;
    const name = aluaStateName(code);
    if (!REQUESTABLE.has(code) || name === undefined) throw invalidFieldInParameterList(o, 3);
    if ((data[o] & 0xf0) !== 0 || data[o + 1] !== 0) throw invalidFieldInParameterList(data[o] & 0xf0 ? o : o + 1, 7);
    const id = u16(data, o + 2);
    if (!knownGroups.has(id) || seen.has(id)) throw invalidFieldInParameterList(o + 2, 7);
    seen.add(id);
    changes.push({ id, state: name });
  }
  return changes;
}

export function setTargetPortGroups(ctx: LuContext): ScsiResponse {
  if (!ctx.device.alua.explicit) throw invalidOpcode();
  const plen = stpgParameterListLength(ctx.cdb);
  if (plen === 0) return GOOD;
  const data = ctx.req.dataOut;
  if (plen < HEADER || (plen - HEADER) % DESCRIPTOR !== 0 || !data || data.length < plen) throw parameterListLengthError();
  const known = new Set(ctx.device.ports().map((p) => p.portGroupId));
  const changes = parseStpgList(data.subarray(0, plen), known);
  ctx.device.setPortGroupStates(changes, ctx.nexus);
  return GOOD;
}
