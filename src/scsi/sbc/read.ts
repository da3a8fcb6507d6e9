/**
 * READ(6), READ(10), READ(12), READ(16) (SBC-3 §5.10-§5.13). The hot path:
 * the dispatcher has parsed and range-checked LBA and length; one Data-In
 * buffer is allocated and the store reads straight into it. DPO and FUA need
 * no action: a read is always served from the store (FUA: "from the medium"
 * is satisfied because we keep no cache of our own). The read takes its
 * range shared (io.ts) so it never returns part of an atomic write.
 */
import type { LuContext } from '../command.js';
import { GOOD } from '../command.js';
import type { ScsiResponse } from '../types.js';
import { readInto } from './io.js';

export async function read(ctx: LuContext): Promise<ScsiResponse> {
  const lu = ctx.lu;
  const len = ctx.blocks * lu.blockSize;
  if (len === 0) return GOOD; // SBC-3 §5.11: transfer length 0 is not an error
  const buf = Buffer.allocUnsafe(len);
  await readInto(lu, ctx.lba, buf);
  return { status: 0, dataIn: buf };
}
