/**
 * ORWRITE(16) (SBC-3 §5.8): read the addressed blocks, OR the Data-Out into
 * them and write the result, atomically with respect to every other write
 * to those blocks (exclusive range lease, range-lock.ts).
 */
import type { LuContext } from '../command.js';
import { GOOD } from '../command.js';
import type { ScsiResponse } from '../types.js';
import { receivedBlocks } from './common.js';

export async function orWrite(ctx: LuContext): Promise<ScsiResponse> {
  const lu = ctx.lu;
  const n = ctx.blocks === 0 ? 0 : receivedBlocks(ctx);
  if (n === 0) return GOOD;
  const bs = lu.blockSize;
  const len = n * bs;
  const data = ctx.req.dataOut as Buffer;
  const lease = await lu.lock.acquire(ctx.lba, ctx.lba + n, true);
  try {
    const buf = Buffer.allocUnsafe(len);
    await lu.store.read(buf, ctx.lba * bs);
    for (let i = 0; i < len; i++) buf[i] |= data[i];
    await lu.store.write(buf, ctx.lba * bs, lu.fua((ctx.cdb[1] & 0x08) !== 0));
  } finally {
    lu.lock.release(lease);
  }
  return GOOD;
}
