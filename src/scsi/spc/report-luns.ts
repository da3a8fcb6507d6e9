/**
 * REPORT LUNS (SPC-4 §6.33). Processed for any LUN. SELECT REPORT 00h and
 * 02h list every visible logical unit; 01h lists well-known logical units,
 * of which there are none. LUNs use single-level peripheral device
 * addressing below 256 and flat space addressing above (SAM-5 §4.7).
 * An allocation length below 16 only truncates the data (SPC-4 dropped
 * SPC-3's minimum).
 */
import type { CommandContext } from '../command.js';
import { invalidFieldInCdb } from '../check-condition.js';
import { u32 } from '../cdb.js';
import type { ScsiResponse } from '../types.js';

export const reportLunsAllocationLength = (cdb: Buffer): number => u32(cdb, 6);

export function validateReportLuns(cdb: Buffer): void {
  if (cdb[2] > 0x02) throw invalidFieldInCdb(2, 7);
}

export function encodeLunEntry(lun: number, out: Buffer, o: number): void {
  if (lun < 256) {
    out[o] = 0x00;
    out[o + 1] = lun;
  } else {
    out[o] = 0x40 | (lun >> 8);
    out[o + 1] = lun & 0xff;
  }
}

export function reportLuns(ctx: CommandContext): ScsiResponse {
  const ids = ctx.cdb[2] === 0x01 ? [] : ctx.device.luns().map((l) => l.id);
  const out = Buffer.alloc(8 + 8 * ids.length);
  out.writeUInt32BE(8 * ids.length, 0); // LUN LIST LENGTH
  ids.forEach((id, i) => encodeLunEntry(id, out, 8 + 8 * i));
  ctx.device.reportLunsDone(ctx.nexus);
  return { status: 0, dataIn: out };
}
