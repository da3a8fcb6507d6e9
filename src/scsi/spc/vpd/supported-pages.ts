/**
 * Supported VPD Pages (00h), SPC-4 §7.8.13: page codes in ascending order.
 */
import { vpdPage } from './page.js';

export function supportedPagesPage(codes: readonly number[]): Buffer {
  const sorted = [...codes].sort((a, b) => a - b);
  const b = vpdPage(0x00, sorted.length);
  sorted.forEach((c, i) => (b[4 + i] = c));
  return b;
}
