/**
 * WRITE(6), WRITE(10), WRITE(12), WRITE(16) (SBC-3 §5.32-§5.35). The
 * received Data-Out buffer is written as is. FUA (byte 1 bit 3; WRITE(6) has
 * none) or WCE = 0 makes the write durable before status (DESIGN.md §6).
 */
import type { LuContext } from '../command.js';
import { GOOD } from '../command.js';
import { Op } from '../constants.js';
import type { ScsiResponse } from '../types.js';
import { receivedBlocks } from './common.js';
import { writeBlocks } from './io.js';

export async function write(ctx: LuContext): Promise<ScsiResponse> {
  const lu = ctx.lu;
  const cdb = ctx.cdb;
  const n = ctx.blocks === 0 ? 0 : receivedBlocks(ctx);
  if (n === 0) return GOOD;
  const data = ctx.req.dataOut as Buffer;
  const len = n * lu.blockSize;
  const fua = lu.fua(cdb[0] !== Op.WRITE_6 && (cdb[1] & 0x08) !== 0);
  await writeBlocks(lu, ctx.lba, data.length === len ? data : data.subarray(0, len), fua);
  return GOOD;
}
