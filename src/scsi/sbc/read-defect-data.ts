/**
 * READ DEFECT DATA(10) and READ DEFECT DATA(12) (SBC-3 §5.12, §5.13).
 * Virtual storage has no defect lists: the requested lists are reported
 * valid and empty, in the requested defect list format.
 */
import type { LuContext } from '../command.js';
import { u16, u32 } from '../cdb.js';
import { Op } from '../constants.js';
import type { ScsiResponse } from '../types.js';

export const readDefectDataAllocationLength = (cdb: Buffer): number => (cdb[0] === Op.READ_DEFECT_DATA_12 ? u32(cdb, 6) : u16(cdb, 7));

export function readDefectData(ctx: LuContext): ScsiResponse {
  const cdb = ctx.cdb;
  const twelve = cdb[0] === Op.READ_DEFECT_DATA_12;
  // REQ_PLIST (bit 4), REQ_GLIST (bit 3), DEFECT LIST FORMAT (bits 2-0): byte 2 in (10), byte 1 in (12).
  const req = twelve ? cdb[1] : cdb[2];
  const out = Buffer.alloc(twelve ? 8 : 4);
  out[1] = req & 0x1f; // PLISTV, GLISTV, DEFECT LIST FORMAT; DEFECT LIST LENGTH 0
  return { status: 0, dataIn: out };
}
