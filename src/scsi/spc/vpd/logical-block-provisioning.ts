/**
 * Logical Block Provisioning (B2h), SBC-3 §6.5.4: thin provisioned; UNMAP,
 * WRITE SAME(16) and WRITE SAME(10) with UNMAP; deallocated blocks read as
 * zeros; no anchored state; no provisioning group descriptor.
 */
import type { VpdPage } from './page.js';
import { vpdPage } from './page.js';

export const LBP_LBPU = 0x80;
export const LBP_LBPWS = 0x40;
export const LBP_LBPWS10 = 0x20;
export const LBP_LBPRZ = 0x04;

export const LOGICAL_BLOCK_PROVISIONING: VpdPage = {
  code: 0xb2,
  name: 'logical block provisioning',
  build() {
    const b = vpdPage(0xb2, 4);
    b[4] = 0; // THRESHOLD EXPONENT: no thresholds
    b[5] = LBP_LBPU | LBP_LBPWS | LBP_LBPWS10 | LBP_LBPRZ; // ANC_SUP = 0, DP = 0
    b[6] = 0x02; // PROVISIONING TYPE 010b: thin provisioned
    return b;
  },
};
