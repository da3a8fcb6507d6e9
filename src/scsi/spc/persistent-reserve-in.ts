/**
 * PERSISTENT RESERVE IN (SPC-4 §6.15): READ KEYS, READ RESERVATION, REPORT
 * CAPABILITIES, READ FULL STATUS. One command-table entry per service
 * action; other service actions get INVALID FIELD IN CDB from the
 * dispatcher. The parameter data comes from the logical unit's
 * LuReservations; the dispatcher truncates it to ALLOCATION LENGTH (the
 * ADDITIONAL LENGTH fields always describe the whole list, §6.15.2).
 *
 * CDB: byte 1 SERVICE ACTION (bits 4-0), bytes 7-8 ALLOCATION LENGTH.
 */
import type { LuCommandDef, LuContext } from '../command.js';
import { u16 } from '../cdb.js';
import { DataDirection, type ScsiResponse } from '../types.js';
import { Rules } from '../reservations.js';
import { PrinSa, reservationsOf } from '../persistent-reservations/index.js';
import { CheckCondition } from '../check-condition.js';
import { Asc, Op, SenseKey } from '../constants.js';

export const prinAllocationLength = (cdb: Buffer): number => u16(cdb, 7);

export function persistentReserveIn(ctx: LuContext): ScsiResponse {
  const pr = reservationsOf(ctx.lu);
  if (!pr) throw CheckCondition.of(SenseKey.HARDWARE_ERROR, Asc.INTERNAL_TARGET_FAILURE);
  switch (ctx.cdb[1] & 0x1f) {
    case PrinSa.READ_KEYS:
      return { status: 0, dataIn: pr.readKeys() };
    case PrinSa.READ_RESERVATION:
      return { status: 0, dataIn: pr.readReservation() };
    case PrinSa.REPORT_CAPABILITIES:
      return { status: 0, dataIn: pr.reportCapabilities() };
    default:
      return { status: 0, dataIn: pr.readFullStatus() };
  }
}

/** The command-table entry of one PERSISTENT RESERVE IN service action. */
export function prinCommand(name: string, serviceAction: number): LuCommandDef {
  return {
    name: `PERSISTENT RESERVE IN (${name})`,
    opcode: Op.PERSISTENT_RESERVE_IN,
    serviceAction,
    cdbLength: 10,
    usage: [Op.PERSISTENT_RESERVE_IN, serviceAction, 0, 0, 0, 0, 0, 0xff, 0xff, 0],
    direction: DataDirection.In,
    transferLength: prinAllocationLength,
    blockSized: false,
    reservation: Rules.PERSISTENT_RESERVE,
    timeouts: [1, 10],
    io: 'none',
    handler: persistentReserveIn,
  };
}
