/**
 * Common shape of a VPD page (SPC-4 §7.8.1).
 */
import type { LuContext } from '../../command.js';

export interface VpdPage {
  readonly code: number;
  readonly name: string;
  build(ctx: LuContext): Buffer;
}

/** A VPD page with its 4-byte header: PERIPHERAL QUALIFIER 000b / DEVICE TYPE 00h, PAGE CODE, PAGE LENGTH. */
export function vpdPage(code: number, payloadLength: number): Buffer {
  const b = Buffer.alloc(4 + payloadLength);
  b[0] = 0x00;
  b[1] = code;
  b.writeUInt16BE(payloadLength, 2);
  return b;
}
