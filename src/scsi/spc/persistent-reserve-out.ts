/**
 * PERSISTENT RESERVE OUT (SPC-4 §6.16): REGISTER, RESERVE, RELEASE, CLEAR,
 * PREEMPT, PREEMPT AND ABORT, REGISTER AND IGNORE EXISTING KEY, REGISTER
 * AND MOVE. One command-table entry per service action; the logical
 * unit's LuReservations (persistent-reservations/lu-reservations.ts) does
 * the work and answers RESERVATION CONFLICT itself when the service
 * action's own rules say so (the table's rule only covers a RESERVE(6)/(10)
 * held by another I_T nexus).
 *
 * CDB: byte 1 SERVICE ACTION (bits 4-0), byte 2 SCOPE (7-4) and TYPE (3-0),
 * bytes 5-8 PARAMETER LIST LENGTH.
 */
import type { LuCommandDef, LuContext } from '../command.js';
import { u32 } from '../cdb.js';
import { DataDirection, type ScsiResponse } from '../types.js';
import { Rules } from '../reservations.js';
import { reservationsOf } from '../persistent-reservations/index.js';
import { CheckCondition, parameterListLengthError } from '../check-condition.js';
import { Asc, Op, SenseKey } from '../constants.js';

export const proutParameterListLength = (cdb: Buffer): number => u32(cdb, 5);

/** Largest parameter list accepted: the 28-byte header and TransportIDs for more initiator ports than a LU can register. */
export const MAX_PROUT_PARAMETER_LIST = 1024 * 1024;

export function validatePersistentReserveOut(cdb: Buffer): void {
  if (proutParameterListLength(cdb) > MAX_PROUT_PARAMETER_LIST) throw parameterListLengthError();
}

export function persistentReserveOut(ctx: LuContext): Promise<ScsiResponse> {
  const pr = reservationsOf(ctx.lu);
  if (!pr) throw CheckCondition.of(SenseKey.HARDWARE_ERROR, Asc.INTERNAL_TARGET_FAILURE);
  const cdb = ctx.cdb;
  const plen = proutParameterListLength(cdb);
  const data = ctx.req.dataOut ?? Buffer.alloc(0);
  // Fewer bytes than PARAMETER LIST LENGTH arrived: the list is cut short.
  if (data.length < plen) throw parameterListLengthError();
  return pr.out(ctx.nexus, { serviceAction: cdb[1] & 0x1f, scope: cdb[2] >> 4, type: cdb[2] & 0x0f, params: data.subarray(0, plen) });
}

/** The command-table entry of one PERSISTENT RESERVE OUT service action (SCOPE/TYPE are looked at, or ignored, per service action). */
export function proutCommand(name: string, serviceAction: number): LuCommandDef {
  return {
    name: `PERSISTENT RESERVE OUT (${name})`,
    opcode: Op.PERSISTENT_RESERVE_OUT,
    serviceAction,
    cdbLength: 10,
    usage: [Op.PERSISTENT_RESERVE_OUT, serviceAction, 0xff, 0, 0, 0xff, 0xff, 0xff, 0xff, 0],
    direction: DataDirection.Out,
    transferLength: proutParameterListLength,
    blockSized: false,
    reservation: Rules.PERSISTENT_RESERVE,
    validate: validatePersistentReserveOut,
    // The state is written durably (fsync on cluster storage) before status.
    timeouts: [1, 30],
    io: 'none',
    handler: persistentReserveOut,
  };
}
