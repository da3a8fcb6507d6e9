/**
 * Block Device Characteristics (B1h), SBC-3 §6.5.2.
 */
import type { VpdPage } from './page.js';
import { vpdPage } from './page.js';

export const BLOCK_DEVICE_CHARACTERISTICS: VpdPage = {
  code: 0xb1,
  name: 'block device characteristics',
  build() {
    const b = vpdPage(0xb1, 0x3c);
    b.writeUInt16BE(0x0001, 4); // MEDIUM ROTATION RATE 0001h: non-rotating medium
    // PRODUCT TYPE 0, WABEREQ/WACEREQ 0, NOMINAL FORM FACTOR 0 (not reported).
    return b;
  },
};
