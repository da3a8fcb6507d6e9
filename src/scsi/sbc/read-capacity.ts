/**
 * READ CAPACITY(10) and READ CAPACITY(16) (SBC-3 §5.15, §5.16).
 */
import type { LuContext } from '../command.js';
import { invalidFieldInCdb } from '../check-condition.js';
import { putU32, putU64, u32 } from '../cdb.js';
import type { ScsiResponse } from '../types.js';

/** SBC-3 §5.15: with PMI = 0 the LOGICAL BLOCK ADDRESS field must be zero. */
export function validateReadCapacity10(cdb: Buffer): void {
  if ((cdb[8] & 0x01) === 0 && u32(cdb, 2) !== 0) throw invalidFieldInCdb(2, 7);
}

export function readCapacity10(ctx: LuContext): ScsiResponse {
  const lu = ctx.lu;
  const last = Math.max(0, lu.numBlocks - 1);
  const out = Buffer.alloc(8);
  // SBC-3 §5.15.2: FFFFFFFFh when the last LBA does not fit; use READ CAPACITY(16).
  putU32(out, 0, last > 0xfffffffe ? 0xffffffff : last);
  putU32(out, 4, lu.blockSize);
  return { status: 0, dataIn: out };
}

export const readCapacity16AllocationLength = (cdb: Buffer): number => u32(cdb, 10);

export function readCapacity16(ctx: LuContext): ScsiResponse {
  const lu = ctx.lu;
  const out = Buffer.alloc(32);
  putU64(out, 0, Math.max(0, lu.numBlocks - 1));
  putU32(out, 8, lu.blockSize);
  // Byte 12: P_TYPE / PROT_EN = 0 (no protection information).
  // Byte 13: P_I_EXPONENT 0; LOGICAL BLOCKS PER PHYSICAL BLOCK EXPONENT (SBC-3 §5.16.2): 0 by default,
  // 3 for 512-byte LUNs reporting 4 KiB physical blocks (logical-unit.ts physicalBlockBytesFor).
  out[13] = lu.lbppbExponent & 0x0f;
  // Byte 14: LBPME = 1 (thin provisioning: UNMAP, WRITE SAME with UNMAP), LBPRZ = 1 (deallocated blocks read as zeros);
  // bytes 14-15 LOWEST ALIGNED LOGICAL BLOCK ADDRESS = 0: LBA 0 starts a physical block.
  out[14] = 0xc0;
  return { status: 0, dataIn: out };
}
