/**
 * Unit Serial Number (80h), SPC-4 §7.8.15: the LUN's stable serial (DESIGN.md §5).
 */
import type { VpdPage } from './page.js';
import { vpdPage } from './page.js';

export const UNIT_SERIAL_NUMBER: VpdPage = {
  code: 0x80,
  name: 'unit serial number',
  build(ctx) {
    const s = Buffer.from(ctx.lu.serial, 'latin1');
    const b = vpdPage(0x80, s.length);
    s.copy(b, 4);
    return b;
  },
};
