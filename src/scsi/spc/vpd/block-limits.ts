/**
 * Block Limits (B0h), SBC-3 §6.5.3, with the atomic write fields of SBC-4
 * §6.6.4 (bytes 44-63). Page length 3Ch (the SBC-3 length that libiscsi and
 * Linux expect when SBC-3 is claimed; SBC-4 keeps it).
 *
 * OPTIMAL TRANSFER LENGTH GRANULARITY, OPTIMAL UNMAP GRANULARITY, ATOMIC
 * ALIGNMENT and ATOMIC TRANSFER LENGTH GRANULARITY are all the stores' 4 KiB
 * unit (logical-unit.ts STORE_UNIT_BYTES), aligned at LBA 0 (UNMAP
 * GRANULARITY ALIGNMENT 0). When 4 KiB physical blocks are reported (READ
 * CAPACITY(16) LOGICAL BLOCKS PER PHYSICAL BLOCK EXPONENT 3, LOWEST ALIGNED
 * LOGICAL BLOCK ADDRESS 0) that is exactly one physical block; with the
 * default exponent 0 it is a multiple of the physical block, as SBC-3
 * §6.5.3 expects of an optimal granularity.
 */
import { putU16, putU32, putU64 } from '../../cdb.js';
import type { VpdPage } from './page.js';
import { vpdPage } from './page.js';

export const BLOCK_LIMITS: VpdPage = {
  code: 0xb0,
  name: 'block limits',
  build(ctx) {
    const l = ctx.lu.limits;
    const b = vpdPage(0xb0, 0x3c);
    // Byte 4: WSNZ = 0 (WRITE SAME with 0 blocks means "to the end").
    b[5] = l.maxCompareAndWriteBlocks; // MAXIMUM COMPARE AND WRITE LENGTH (0: COMPARE AND WRITE not offered)
    putU16(b, 6, Math.min(l.optimalGranularityBlocks, 0xffff)); // OPTIMAL TRANSFER LENGTH GRANULARITY
    putU32(b, 8, l.maxTransferBlocks); // MAXIMUM TRANSFER LENGTH
    // 12-15 OPTIMAL TRANSFER LENGTH, 16-19 MAXIMUM PREFETCH LENGTH: not reported.
    putU32(b, 20, l.maxUnmapBlocks); // MAXIMUM UNMAP LBA COUNT
    putU32(b, 24, l.maxUnmapDescriptors); // MAXIMUM UNMAP BLOCK DESCRIPTOR COUNT
    putU32(b, 28, l.unmapGranularityBlocks); // OPTIMAL UNMAP GRANULARITY
    putU32(b, 32, 0x80000000); // UGAVALID = 1, UNMAP GRANULARITY ALIGNMENT = 0
    putU64(b, 36, l.maxWriteSameBlocks); // MAXIMUM WRITE SAME LENGTH
    // SBC-4 §6.6.4: atomic writes (WRITE ATOMIC(16), sbc/write-atomic.ts); all zero when not offered.
    if (l.maxAtomicTransferBlocks > 0) {
      putU32(b, 44, l.maxAtomicTransferBlocks); // MAXIMUM ATOMIC TRANSFER LENGTH
      putU32(b, 48, l.atomicAlignmentBlocks); // ATOMIC ALIGNMENT
      putU32(b, 52, l.atomicGranularityBlocks); // ATOMIC TRANSFER LENGTH GRANULARITY
    }
    // 56-59 MAXIMUM ATOMIC TRANSFER LENGTH WITH ATOMIC BOUNDARY, 60-63 MAXIMUM ATOMIC BOUNDARY SIZE:
    // 0, a non-zero ATOMIC BOUNDARY is not supported.
    return b;
  },
};
