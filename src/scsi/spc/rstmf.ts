/**
 * REPORT SUPPORTED TASK MANAGEMENT FUNCTIONS (SPC-4 §6.36). The task
 * management functions are carried out by the iSCSI layer (RFC 7143
 * §11.5.1): ABORT TASK, ABORT TASK SET, CLEAR TASK SET, LOGICAL UNIT RESET
 * and TARGET RESET. CLEAR ACA is not supported (NACA = 0 only); QUERY TASK
 * and friends have no iSCSI function code.
 */
import type { CommandContext } from '../command.js';
import { u32 } from '../cdb.js';
import type { ScsiResponse } from '../types.js';

export const rstmfAllocationLength = (cdb: Buffer): number => u32(cdb, 6);

const ATS = 0x80;
const ATSS = 0x40;
const CTSS = 0x10;
const LURS = 0x08;
const TRS = 0x02;

export function reportSupportedTmfs(ctx: CommandContext): ScsiResponse {
  const repd = (ctx.cdb[2] & 0x80) !== 0;
  // REPD = 1: extended format, ADDITIONAL DATA LENGTH 0Ch (SPC-4 §6.36.2, table 263).
  const out = Buffer.alloc(repd ? 16 : 4);
  out[0] = ATS | ATSS | CTSS | LURS | TRS;
  if (repd) out[3] = 0x0c;
  return { status: 0, dataIn: out };
}
