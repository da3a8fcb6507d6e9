/**
 * COMPARE AND WRITE (SBC-3 §5.2, operation code 89h).
 *
 * CDB (16 bytes): byte 1 WRPROTECT (7-5), DPO (4), FUA (3); bytes 2-9
 * LOGICAL BLOCK ADDRESS; 10-12 reserved; 13 NUMBER OF LOGICAL BLOCKS;
 * 14 GROUP NUMBER; 15 CONTROL. (SBC-3's FUA_NV, byte 1 bit 1, is reserved
 * in SBC-4 and refused here like in every other CDB of this device.)
 *
 * The Data-Out buffer holds 2 x NUMBER OF LOGICAL BLOCKS blocks: the verify
 * data, then the write data. The device server reads the addressed blocks,
 * compares them with the verify data and, only when every byte is equal,
 * writes the write data to them.
 *
 * Checks, in order:
 *  - MAXIMUM COMPARE AND WRITE LENGTH 0 (limits): the command is withdrawn,
 *    INVALID COMMAND OPERATION CODE (SPC-4 §4.5.6);
 *  - WRPROTECT != 0: INVALID FIELD IN CDB (no protection information,
 *    SBC-3 §4.22);
 *  - (dispatcher) the range lies within the capacity, else LOGICAL BLOCK
 *    ADDRESS OUT OF RANGE; NUMBER OF LOGICAL BLOCKS > MAXIMUM COMPARE AND
 *    WRITE LENGTH (VPD B0h byte 5): INVALID FIELD IN CDB (SBC-3 §5.2);
 *  - the Data-Out the initiator announced (iSCSI ExpectedDataTransferLength,
 *    `expectedDataOutLength`) must be exactly 2 x NUMBER OF LOGICAL BLOCKS
 *    blocks. Anything else is refused before the medium is touched: with a
 *    Data-Out of another size the boundary between verify and write data is
 *    ambiguous, and writing a guess would corrupt data. The sense is
 *    INVALID FIELD IN CDB pointing at NUMBER OF LOGICAL BLOCKS: that field
 *    disagrees with the transfer. This also covers NUMBER OF LOGICAL BLOCKS
 *    0 with Data-Out (an initiator that meant 256 blocks, which the one-byte
 *    field cannot say; libiscsi 1.19 CompareAndWrite.Simple/Miscompare
 *    expect INVALID FIELD IN CDB there, InvalidDataOutSize any error);
 *  - NUMBER OF LOGICAL BLOCKS 0 without Data-Out: GOOD, nothing is read or
 *    written, "not an error" (SBC-3 §5.2).
 *
 * On a difference: CHECK CONDITION, MISCOMPARE, MISCOMPARE DURING VERIFY
 * OPERATION, INFORMATION (VALID = 1) = offset of the first differing byte
 * from the start of the Data-Out buffer, i.e. of the verify data; nothing
 * is written. The sense is fixed or descriptor format per D_SENSE
 * (the dispatcher encodes it).
 *
 * Atomicity (SBC-3 §5.2: the read, compare and write are one uninterrupted
 * operation with respect to other commands): the whole read-compare-write
 * runs under the logical unit's range lock held EXCLUSIVELY for
 * [LBA, LBA + NUMBER OF LOGICAL BLOCKS). Every command that reads or writes
 * blocks takes the same lock (shared: READ, VERIFY, WRITE, WRITE SAME,
 * UNMAP, ...; exclusive: ORWRITE, WRITE ATOMIC, COMPARE AND WRITE; io.ts),
 * and there is one lock per logical unit whatever the session, connection
 * or portal (target port) a command arrives on. So no other command can
 * change the blocks between the compare and the write, and two COMPARE AND
 * WRITE commands on overlapping blocks never both see the old data.
 *
 * FUA = 1 (or WCE = 0) makes the write durable before GOOD (DESIGN.md §6);
 * DPO is accepted and has no effect (the page cache is the host's).
 */
import type { LuContext, RangeSpec } from '../command.js';
import { GOOD } from '../command.js';
import { invalidFieldInCdb, invalidOpcode, miscompare, shortDataOut } from '../check-condition.js';
import { u64 } from '../cdb.js';
import type { LogicalUnit } from '../logical-unit.js';
import type { ScsiResponse } from '../types.js';
import { firstDifference, rejectProtection } from './common.js';

/** CDB byte of NUMBER OF LOGICAL BLOCKS. */
const NLB_BYTE = 13;
const FUA = 0x08;

/** NUMBER OF LOGICAL BLOCKS (byte 13). */
export const cawBlocks = (cdb: Buffer): number => cdb[NLB_BYTE];

/** Data-Out bytes: verify data and write data, NUMBER OF LOGICAL BLOCKS blocks each. */
export const cawTransferLength = (cdb: Buffer, bs: number): number => 2 * cawBlocks(cdb) * bs;

export const CAW_RANGE: RangeSpec = {
  lba: (cdb) => u64(cdb, 2),
  blocks: cawBlocks,
  // SBC-3 §5.2: more than MAXIMUM COMPARE AND WRITE LENGTH is INVALID FIELD IN CDB.
  maxBlocks: (lu) => lu.limits.maxCompareAndWriteBlocks,
  blocksField: NLB_BYTE,
};

export function validateCompareAndWrite(cdb: Buffer, lu: LogicalUnit | null): void {
  // Withdrawn by configuration: answer as for any command we do not implement (SPC-4 §4.5.6).
  if (!lu || lu.limits.maxCompareAndWriteBlocks === 0) throw invalidOpcode();
  rejectProtection(cdb);
}

export async function compareAndWrite(ctx: LuContext): Promise<ScsiResponse> {
  const lu = ctx.lu;
  const n = ctx.blocks;
  const bs = lu.blockSize;
  const len = n * bs;
  const data = ctx.req.dataOut;
  // Without a transport (in-process callers) the buffer given is what was announced.
  const announced = ctx.req.expectedDataOutLength ?? (data ? data.length : 0);
  if (announced !== 2 * len) throw invalidFieldInCdb(NLB_BYTE, 7);
  if (n === 0) return GOOD; // SBC-3 §5.2: not an error, nothing transferred
  // Announced but not all received: never compare or write part of it.
  if (!data || data.length < 2 * len) throw shortDataOut();
  const verifyData = data.subarray(0, len);
  const writeData = data.subarray(len, 2 * len);
  const fua = lu.fua((ctx.cdb[1] & FUA) !== 0);
  const offset = ctx.lba * bs;
  const lease = await lu.lock.acquire(ctx.lba, ctx.lba + n, true);
  try {
    const medium = Buffer.allocUnsafe(len);
    await lu.store.read(medium, offset);
    const d = firstDifference(verifyData, medium);
    if (d >= 0) throw miscompare(d);
    await lu.store.write(writeData, offset, fua);
  } finally {
    lu.lock.release(lease);
  }
  return GOOD;
}
