/**
 * Block Limits (B0h), SBC-3 §6.5.3. Page length 3Ch (the SBC-3 length that
 * libiscsi and Linux expect when SBC-3 is claimed).
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
    // Byte 5: MAXIMUM COMPARE AND WRITE LENGTH = 0 (not supported yet).
    putU16(b, 6, Math.min(l.optimalGranularityBlocks, 0xffff)); // OPTIMAL TRANSFER LENGTH GRANULARITY
    putU32(b, 8, l.maxTransferBlocks); // MAXIMUM TRANSFER LENGTH
    // 12-15 OPTIMAL TRANSFER LENGTH, 16-19 MAXIMUM PREFETCH LENGTH: not reported.
    putU32(b, 20, l.maxUnmapBlocks); // MAXIMUM UNMAP LBA COUNT
    putU32(b, 24, l.maxUnmapDescriptors); // MAXIMUM UNMAP BLOCK DESCRIPTOR COUNT
    putU32(b, 28, l.unmapGranularityBlocks); // OPTIMAL UNMAP GRANULARITY
    putU32(b, 32, 0x80000000); // UGAVALID = 1, UNMAP GRANULARITY ALIGNMENT = 0
    putU64(b, 36, l.maxWriteSameBlocks); // MAXIMUM WRITE SAME LENGTH
    return b;
  },
};
