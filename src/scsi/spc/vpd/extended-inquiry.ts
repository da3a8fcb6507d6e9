/**
 * Extended INQUIRY Data (86h), SPC-4 §7.8.7.
 */
import type { VpdPage } from './page.js';
import { vpdPage } from './page.js';

export const EXTENDED_INQUIRY: VpdPage = {
  code: 0x86,
  name: 'extended inquiry data',
  build() {
    const b = vpdPage(0x86, 0x3c);
    // Byte 4: no protection information checks (SPT, GRD_CHK, APP_CHK, REF_CHK = 0).
    // Byte 5: SIMPSUP = 1 (SIMPLE task attribute); ordered/head-of-queue not claimed.
    b[5] = 0x01;
    // Byte 6: V_SUP = 1 - a volatile cache (the host page cache) that SYNCHRONIZE CACHE / FUA write through.
    b[6] = 0x01;
    return b;
  },
};
