/**
 * Medium access through the logical unit's store, under the LBA range lock
 * (range-lock.ts): reads and ordinary writes take their range shared, so
 * read-modify-write commands (ORWRITE, COMPARE AND WRITE) and atomic writes
 * (WRITE ATOMIC(16)), which take it exclusively, are atomic against every
 * other command on those blocks (SBC-4 §4.29.3: no overlapping command sees or interleaves
 * with part of an atomic write). A shared lease costs a Set insertion and
 * deletion when no exclusive lease exists (range-lock.ts fast path).
 */
import type { LogicalUnit } from '../logical-unit.js';

/** Write `data` (whole blocks) at `lba`, shared range lease. */
export async function writeBlocks(lu: LogicalUnit, lba: number, data: Buffer, fua: boolean): Promise<void> {
  const end = lba + data.length / lu.blockSize;
  const lease = lu.lock.tryShared(lba, end) ?? (await lu.lock.acquire(lba, end, false));
  try {
    await lu.store.write(data, lba * lu.blockSize, fua);
  } finally {
    lu.lock.release(lease);
  }
}

/** Fill `buf` (whole blocks) from `lba`, shared range lease. */
export async function readInto(lu: LogicalUnit, lba: number, buf: Buffer): Promise<void> {
  const end = lba + buf.length / lu.blockSize;
  const lease = lu.lock.tryShared(lba, end) ?? (await lu.lock.acquire(lba, end, false));
  try {
    await lu.store.read(buf, lba * lu.blockSize);
  } finally {
    lu.lock.release(lease);
  }
}

/** Read `blocks` blocks at `lba` into a new buffer, shared range lease. */
export async function readBlocks(lu: LogicalUnit, lba: number, blocks: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(blocks * lu.blockSize);
  await readInto(lu, lba, buf);
  return buf;
}

/** Make the range read as zeros (optionally deallocating), durable when `fua`. */
export async function zeroBlocks(lu: LogicalUnit, lba: number, blocks: number, deallocate: boolean, fua: boolean): Promise<void> {
  const lease = lu.lock.tryShared(lba, lba + blocks) ?? (await lu.lock.acquire(lba, lba + blocks, false));
  try {
    const bs = lu.blockSize;
    if (deallocate) await lu.store.discard(lba * bs, blocks * bs);
    else await lu.store.writeZeroes(lba * bs, blocks * bs, false);
  } finally {
    lu.lock.release(lease);
  }
  // DESIGN.md §6: with WCE = 0 every write is durable before status; discard/writeZeroes have no FUA of their own.
  if (fua) await lu.store.flush();
}
