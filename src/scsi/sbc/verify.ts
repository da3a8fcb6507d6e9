/**
 * VERIFY(10), VERIFY(12), VERIFY(16) (SBC-3 §5.29-§5.31) and
 * WRITE AND VERIFY(10/12/16) (SBC-3 §5.36-§5.38).
 *
 * BYTCHK (byte 1 bits 2-1):
 *   00b  verify the medium only: our storage has no media errors to find,
 *        nothing is transferred;
 *   01b  compare the Data-Out blocks with the medium;
 *   11b  (VERIFY only) compare the single Data-Out block with every block;
 *   10b  reserved.
 * A difference ends the command with MISCOMPARE, MISCOMPARE DURING VERIFY
 * OPERATION, INFORMATION = offset of the first differing byte in the
 * Data-Out buffer (SBC-3 §5.29).
 */
import type { LuContext } from '../command.js';
import { GOOD } from '../command.js';
import { invalidFieldInCdb, miscompare, shortDataOut } from '../check-condition.js';
import type { ScsiResponse } from '../types.js';
import { firstDifference, receivedBlocks, rejectProtection } from './common.js';
import { readBlocks, writeBlocks } from './io.js';

export const bytchk = (cdb: Buffer): number => (cdb[1] >> 1) & 0x03;

export function validateVerify(cdb: Buffer): void {
  rejectProtection(cdb);
  if (bytchk(cdb) === 0b10) throw invalidFieldInCdb(1, 2);
}

/** Data-Out bytes of VERIFY: none, every block, or one block (BYTCHK 11b). */
export function verifyTransferBlocks(cdb: Buffer, blocks: number): number {
  const b = bytchk(cdb);
  if (b === 0b01) return blocks;
  if (b === 0b11) return blocks === 0 ? 0 : 1;
  return 0;
}

export async function verify(ctx: LuContext): Promise<ScsiResponse> {
  const lu = ctx.lu;
  const mode = bytchk(ctx.cdb);
  if (mode === 0b00 || ctx.blocks === 0) return GOOD;
  const bs = lu.blockSize;
  const medium = await readBlocks(lu, ctx.lba, ctx.blocks);
  const data = ctx.req.dataOut;
  if (mode === 0b11) {
    if (!data || data.length < bs) throw shortDataOut();
    const block = data.subarray(0, bs);
    for (let i = 0; i < ctx.blocks; i++) {
      const d = firstDifference(block, medium.subarray(i * bs, (i + 1) * bs));
      if (d >= 0) throw miscompare(d);
    }
    return GOOD;
  }
  const n = receivedBlocks(ctx);
  const len = n * bs;
  const d = firstDifference((data as Buffer).subarray(0, len), medium.subarray(0, len));
  if (d >= 0) throw miscompare(d);
  return GOOD;
}

export function validateWriteAndVerify(cdb: Buffer): void {
  rejectProtection(cdb);
  // SBC-3 §5.36: BYTCHK 10b is reserved; 11b is not supported here.
  if (bytchk(cdb) & 0b10) throw invalidFieldInCdb(1, 2);
}

/**
 * WRITE AND VERIFY: the data reaches the medium before it is verified, so
 * it is written durably (FUA) whatever WCE says; with BYTCHK = 01b it is read
 * back and compared.
 */
export async function writeAndVerify(ctx: LuContext): Promise<ScsiResponse> {
  const lu = ctx.lu;
  const n = ctx.blocks === 0 ? 0 : receivedBlocks(ctx);
  if (n === 0) return GOOD;
  const len = n * lu.blockSize;
  const data = (ctx.req.dataOut as Buffer).subarray(0, len);
  await writeBlocks(lu, ctx.lba, data, true);
  if (bytchk(ctx.cdb) === 0b01) {
    const back = await readBlocks(lu, ctx.lba, n);
    const d = firstDifference(data, back);
    if (d >= 0) throw miscompare(d);
  }
  return GOOD;
}
