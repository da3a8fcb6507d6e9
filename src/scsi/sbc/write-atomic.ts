/**
 * WRITE ATOMIC(16) (SBC-4 §5.48; atomic writes: SBC-4 §4.29; limits in the
 * Block Limits VPD page, SBC-4 §6.6.4, spc/vpd/block-limits.ts).
 *
 * CDB: byte 1 WRPROTECT (7-5), DPO (4), FUA (3); bytes 2-9 LOGICAL BLOCK
 * ADDRESS; 10-11 ATOMIC BOUNDARY; 12-13 TRANSFER LENGTH; 14 GROUP NUMBER;
 * 15 CONTROL. Checks, in order: WRPROTECT must be 0 (no protection
 * information, SBC-4 §4.22); ATOMIC BOUNDARY must be 0 (MAXIMUM ATOMIC
 * BOUNDARY SIZE is 0: one atomic write operation per command); the
 * dispatcher then checks the LBA range (LOGICAL BLOCK ADDRESS OUT OF RANGE)
 * and TRANSFER LENGTH <= MAXIMUM ATOMIC TRANSFER LENGTH; here the LBA must
 * be a multiple of ATOMIC ALIGNMENT and the TRANSFER LENGTH a multiple of
 * ATOMIC TRANSFER LENGTH GRANULARITY (all INVALID FIELD IN CDB). TRANSFER
 * LENGTH 0 writes nothing and is not an error.
 *
 * What "atomic" means here, honestly:
 *
 * 1. Against other commands (SBC-4 §4.29.3): the whole range is held under
 *    the logical unit's range lock EXCLUSIVELY while it is written, and every
 *    other command that reads or writes blocks takes the same lock (shared:
 *    READ, VERIFY, WRITE, WRITE SAME, UNMAP; exclusive: ORWRITE, COMPARE AND
 *    WRITE; io.ts). An overlapping command therefore runs entirely before or
 *    entirely after
 *    the atomic write and never sees or leaves a mix. This holds for every
 *    length up to MAXIMUM ATOMIC TRANSFER LENGTH.
 * 2. The data reaches the store in ONE BlockStore.write call for the whole
 *    range: one pwrite(2) into the page cache for the raw file store. A
 *    partial Data-Out is refused before anything is written.
 * 3. Crashes (power loss, kernel crash, kill -9 of the daemon): the host
 *    page cache writes dirty 4 KiB pages back independently, and the kernel
 *    can stop a buffered pwrite between pages when the process is killed.
 *    What survives a crash untorn is therefore each 4 KiB-aligned 4 KiB unit
 *    (the stores' unit, logical-unit.ts STORE_UNIT_BYTES): Linux file
 *    systems with 4 KiB blocks write such a page as one piece, and 4Kn/512e
 *    disks and SSDs write it untorn. ATOMIC ALIGNMENT and ATOMIC TRANSFER
 *    LENGTH GRANULARITY are that unit, so every accepted atomic write is
 *    made of whole, aligned 4 KiB units, each of which is old or new after
 *    a crash; a write of SEVERAL units can come back after a crash as a mix
 *    of old and new units. The same holds
 *    if the store fails mid-write (e.g. ENOSPC on a sparse file): the
 *    command ends with CHECK CONDITION, MEDIUM ERROR, and a prefix of the
 *    range may have been written.
 *
 * The default MAXIMUM ATOMIC TRANSFER LENGTH (256 blocks,
 * logical-unit.ts) is larger than one 4 KiB unit because the project's
 * conformance rule requires libiscsi's WriteAtomic16.Simple to pass, and it
 * writes 1..256 blocks atomically expecting GOOD (SBC-4 §5.48 requires
 * INVALID FIELD IN CDB above the maximum). So for transfers longer than one
 * 4 KiB unit the guarantee is 1 and 2 above, not crash atomicity.
 * Linux initiators (sd, 6.11 and later) expose these fields as the disk's
 * atomic write unit limits for RWF_ATOMIC, which databases use to
 * skip their own torn-page protection: a deployment that needs crash
 * atomicity for the whole transfer sets `limits.maxAtomicTransferBlocks` to
 * one 4 KiB unit (8 for 512-byte LUNs, 1 for 4096-byte LUNs), or to 0
 * to withdraw the command (INVALID COMMAND OPERATION CODE, all atomic
 * fields of VPD B0h zero).
 */
import type { LuContext, RangeSpec } from '../command.js';
import { GOOD } from '../command.js';
import { invalidFieldInCdb, invalidOpcode, shortDataOut } from '../check-condition.js';
import { u16, u64 } from '../cdb.js';
import type { LogicalUnit } from '../logical-unit.js';
import type { ScsiResponse } from '../types.js';
import { rejectProtection } from './common.js';

/** TRANSFER LENGTH (bytes 12-13). */
export const lenAtomic16 = (cdb: Buffer): number => u16(cdb, 12);

export const WA16_RANGE: RangeSpec = {
  lba: (cdb) => u64(cdb, 2),
  blocks: lenAtomic16,
  // SBC-4 §5.48: above MAXIMUM ATOMIC TRANSFER LENGTH (ATOMIC BOUNDARY 0) is INVALID FIELD IN CDB.
  maxBlocks: (lu) => lu.limits.maxAtomicTransferBlocks,
  blocksField: 12,
};

export function validateWriteAtomic(cdb: Buffer, lu: LogicalUnit | null): void {
  // Withdrawn by configuration: answer as for any command we do not implement (SPC-4 §4.5.6, table 28).
  if (!lu || lu.limits.maxAtomicTransferBlocks === 0) throw invalidOpcode();
  rejectProtection(cdb);
  // SBC-4 §5.48: a non-zero ATOMIC BOUNDARY needs MAXIMUM ATOMIC BOUNDARY SIZE > 0; ours is 0.
  if (u16(cdb, 10) !== 0) throw invalidFieldInCdb(10, 7);
}

export async function writeAtomic(ctx: LuContext): Promise<ScsiResponse> {
  const lu = ctx.lu;
  const n = ctx.blocks;
  if (n === 0) return GOOD; // SBC-4 §5.48: TRANSFER LENGTH 0 is not an error
  const l = lu.limits;
  // SBC-4 §6.6.4: starting LBA = k x ATOMIC ALIGNMENT; length = k x ATOMIC TRANSFER LENGTH GRANULARITY.
  if (ctx.lba % l.atomicAlignmentBlocks !== 0) throw invalidFieldInCdb(2, 7);
  if (n % l.atomicGranularityBlocks !== 0) throw invalidFieldInCdb(12, 7);
  const bs = lu.blockSize;
  const len = n * bs;
  const data = ctx.req.dataOut;
  // All or nothing: a partial Data-Out is refused rather than written in part.
  if (!data || data.length < len) throw shortDataOut();
  const fua = lu.fua((ctx.cdb[1] & 0x08) !== 0);
  const lease = await lu.lock.acquire(ctx.lba, ctx.lba + n, true);
  try {
    await lu.store.write(data.length === len ? data : data.subarray(0, len), ctx.lba * bs, fua);
  } finally {
    lu.lock.release(lease);
  }
  return GOOD;
}
