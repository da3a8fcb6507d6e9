/**
 * WRITE SAME(10) and WRITE SAME(16) (SBC-3 §5.42, §5.43).
 *
 * - NUMBER OF LOGICAL BLOCKS 0 means "to the last LBA" (WSNZ = 0 in VPD B0h);
 *   more than MAXIMUM WRITE SAME LENGTH is INVALID FIELD IN CDB.
 * - UNMAP = 1 deallocates the blocks (LBPRZ = 1: they read back as zeros).
 * - ANCHOR = 1 is refused: anchored state is not supported (ANC_SUP = 0), and
 *   ANCHOR without UNMAP is invalid in any case.
 * - NDOB (WRITE SAME(16) only): no Data-Out, the block is zeros.
 * - The Data-Out is exactly one logical block (none with NDOB). An
 *   initiator that announces more or less (iSCSI ExpectedDataTransferLength,
 *   `expectedDataOutLength`) gets CHECK CONDITION before anything is
 *   written: the command is ambiguous, and a partial block cannot be
 *   replicated (libiscsi WriteSame*.InvalidDataOutSize).
 * - UNMAP = 1 on a range that is not whole 4 KiB units (or physical blocks)
 *   succeeds: what the store can free is deallocated, the rest is
 *   zeroed, and every block reads as zeros (LBPRZ = 1) either way
 *   (SBC-3 §4.7.3.4; libiscsi WriteSame*.UnmapUnaligned).
 * - A zero block takes the store's writeZeroes fast path.
 */
import type { LuContext, RangeSpec } from '../command.js';
import { GOOD } from '../command.js';
import { dataOutLengthMismatch, invalidFieldInCdb, shortDataOut } from '../check-condition.js';
import { u16, u32, u64 } from '../cdb.js';
import { Op } from '../constants.js';
import type { LogicalUnit } from '../logical-unit.js';
import type { ScsiResponse } from '../types.js';
import { isAllZero, rejectProtection } from './common.js';
import { writeBlocks, zeroBlocks } from './io.js';

const ANCHOR = 0x10;
const UNMAP = 0x08;
const NDOB = 0x01;

/** Blocks to the end of the medium when the CDB says 0; never negative (the LBA check catches lba > capacity). */
function toEnd(n: number, lba: number, lu: LogicalUnit): number {
  return n !== 0 ? n : Math.max(0, lu.numBlocks - lba);
}

const maxWs = (lu: LogicalUnit): number => lu.limits.maxWriteSameBlocks;

export const WS10_RANGE: RangeSpec = {
  lba: (cdb) => u32(cdb, 2),
  blocks: (cdb, lba, lu) => toEnd(u16(cdb, 7), lba, lu),
  maxBlocks: maxWs,
  blocksField: 7,
};

export const WS16_RANGE: RangeSpec = {
  lba: (cdb) => u64(cdb, 2),
  blocks: (cdb, lba, lu) => toEnd(u32(cdb, 10), lba, lu),
  maxBlocks: maxWs,
  blocksField: 10,
};

export function validateWriteSame(cdb: Buffer): void {
  rejectProtection(cdb);
  // SBC-3 §5.42: ANCHOR requires UNMAP; and we report ANC_SUP = 0 (VPD B2h).
  if (cdb[1] & ANCHOR) throw invalidFieldInCdb(1, 4);
}

/** Data-Out of WRITE SAME: one logical block, none with NDOB. */
export function writeSameTransfer(cdb: Buffer, bs: number): number {
  return cdb[0] === Op.WRITE_SAME_16 && cdb[1] & NDOB ? 0 : bs;
}

const PATTERN_CHUNK = 1024 * 1024;

export async function writeSame(ctx: LuContext): Promise<ScsiResponse> {
  const lu = ctx.lu;
  const cdb = ctx.cdb;
  const bs = lu.blockSize;
  const ndob = cdb[0] === Op.WRITE_SAME_16 && (cdb[1] & NDOB) !== 0;
  const d = ctx.req.dataOut;
  // SBC-3 §5.42, §5.43: the Data-Out buffer holds one logical block (none with NDOB). What the
  // initiator announced must be exactly that; without a transport (in-process callers) the
  // buffer given is what was announced.
  const announced = ctx.req.expectedDataOutLength ?? (d ? d.length : 0);
  if (announced !== (ndob ? 0 : bs)) throw dataOutLengthMismatch();
  let block: Buffer | undefined;
  if (!ndob) {
    if (!d || d.length < bs) throw shortDataOut();
    block = d.subarray(0, bs);
  }
  const n = ctx.blocks;
  if (n === 0) return GOOD;
  const fua = lu.fua(false);
  // SBC-3 §5.42: with UNMAP = 1 the blocks are deallocated (they then read as zeros, LBPRZ = 1)
  // whatever the Data-Out block holds; libiscsi WriteSame*.UnmapUntilEnd relies on it.
  const deallocate = (cdb[1] & UNMAP) !== 0;
  if (deallocate || !block || isAllZero(block)) {
    await zeroBlocks(lu, ctx.lba, n, deallocate, fua);
    return GOOD;
  }
  const chunkBlocks = Math.max(1, Math.min(n, Math.floor(PATTERN_CHUNK / bs)));
  const pattern = Buffer.allocUnsafe(chunkBlocks * bs);
  pattern.fill(block);
  for (let done = 0; done < n; done += chunkBlocks) {
    if (ctx.req.signal?.aborted) break;
    const k = Math.min(chunkBlocks, n - done);
    await writeBlocks(lu, ctx.lba + done, k === chunkBlocks ? pattern : pattern.subarray(0, k * bs), fua);
  }
  return GOOD;
}
