/**
 * Field layouts and checks shared by the SBC-3 medium-access commands.
 */
import { u16, u32, u64 } from '../cdb.js';
import { invalidFieldInCdb, shortDataOut } from '../check-condition.js';
import type { LuContext, RangeSpec } from '../command.js';
import type { LogicalUnit } from '../logical-unit.js';

/** SBC-3 §4.22: RDPROTECT/WRPROTECT/VRPROTECT/ORPROTECT (CDB byte 1 bits 7-5) must be zero without protection information. */
export function rejectProtection(cdb: Buffer): void {
  if (cdb[1] & 0xe0) throw invalidFieldInCdb(1, 7);
}

const maxTransfer = (lu: LogicalUnit): number => lu.limits.maxTransferBlocks;

/** READ(6)/WRITE(6) TRANSFER LENGTH (SBC-3 §5.10, §5.32): 0 means 256 blocks. */
export const len6 = (cdb: Buffer): number => cdb[4] || 256;
export const len10 = (cdb: Buffer): number => u16(cdb, 7);
export const len12 = (cdb: Buffer): number => u32(cdb, 6);
export const len16 = (cdb: Buffer): number => u32(cdb, 10);

/** READ(6)/WRITE(6): 21-bit LBA in bytes 1-3. */
export const RANGE_6: RangeSpec = {
  lba: (cdb) => ((cdb[1] & 0x1f) << 16) | (cdb[2] << 8) | cdb[3],
  blocks: len6,
  maxBlocks: maxTransfer,
  blocksField: 4,
};

/** 10-byte CDBs: LBA bytes 2-5, length bytes 7-8. */
export const RANGE_10: RangeSpec = { lba: (cdb) => u32(cdb, 2), blocks: len10, maxBlocks: maxTransfer, blocksField: 7 };

/** 12-byte CDBs: LBA bytes 2-5, length bytes 6-9. */
export const RANGE_12: RangeSpec = { lba: (cdb) => u32(cdb, 2), blocks: len12, maxBlocks: maxTransfer, blocksField: 6 };

/** 16-byte CDBs: LBA bytes 2-9, length bytes 10-13. */
export const RANGE_16: RangeSpec = { lba: (cdb) => u64(cdb, 2), blocks: len16, maxBlocks: maxTransfer, blocksField: 10 };

/** The same range without the MAXIMUM TRANSFER LENGTH limit (PRE-FETCH, SYNCHRONIZE CACHE, VERIFY without data). */
export function unlimited(r: RangeSpec): RangeSpec {
  return { lba: r.lba, blocks: r.blocks, blocksField: r.blocksField };
}

/**
 * Whole blocks of Data-Out to process. More data than needed is ignored;
 * less is processed up to the last whole block (the transport reports the
 * residual), and a partial block is refused (SAM-5 §5.4.3).
 */
export function receivedBlocks(ctx: LuContext): number {
  const bs = ctx.lu.blockSize;
  const d = ctx.req.dataOut;
  const have = d ? d.length : 0;
  if (have >= ctx.blocks * bs) return ctx.blocks;
  if (have % bs !== 0) throw shortDataOut();
  return have / bs;
}

/** Offset of the first differing byte of two equally long buffers, or -1. */
export function firstDifference(a: Buffer, b: Buffer): number {
  if (a.equals(b)) return -1;
  const CH = 4096;
  for (let o = 0; o < a.length; o += CH) {
    const e = Math.min(a.length, o + CH);
    if (a.compare(b, o, e, o, e) !== 0) {
      for (let i = o; i < e; i++) if (a[i] !== b[i]) return i;
    }
  }
  return -1;
}

const ZEROS = Buffer.alloc(65536);

export function isAllZero(b: Buffer): boolean {
  for (let o = 0; o < b.length; o += ZEROS.length) {
    const n = Math.min(ZEROS.length, b.length - o);
    if (b.compare(ZEROS, 0, n, o, o + n) !== 0) return false;
  }
  return true;
}
