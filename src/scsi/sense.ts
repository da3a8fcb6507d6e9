/**
 * Sense data encoding (SPC-4 §4.5): fixed format (response code 70h) and
 * descriptor format (72h), selected by the control mode page D_SENSE bit
 * (SPC-4 §7.5.8) or the REQUEST SENSE DESC bit (SPC-4 §6.39).
 */
import type { FieldPointer } from './check-condition.js';

export interface SenseData {
  key: number;
  asc: number;
  ascq: number;
  field?: FieldPointer;
  information?: number;
  commandSpecific?: number;
}

/** Length of fixed-format sense data we produce: 8 + additional sense length 10 (SPC-4 §4.5.3). */
export const FIXED_SENSE_LENGTH = 18;

function sksBytes(f: FieldPointer): [number, number, number] {
  // SPC-4 §4.5.2.4.2: SKSV | C/D | BPV | BIT POINTER, FIELD POINTER (2 bytes).
  let b0 = 0x80;
  if (f.cdb) b0 |= 0x40;
  if (f.bit !== undefined) b0 |= 0x08 | (f.bit & 0x07);
  return [b0, (f.byte >> 8) & 0xff, f.byte & 0xff];
}

function writeU64(buf: Buffer, off: number, v: number): void {
  buf.writeUInt32BE(Math.floor(v / 0x100000000) >>> 0, off);
  buf.writeUInt32BE(v >>> 0, off + 4);
}

/** SPC-4 §4.5.3: fixed format sense data. */
export function encodeFixedSense(s: SenseData): Buffer {
  const b = Buffer.alloc(FIXED_SENSE_LENGTH);
  b[0] = 0x70;
  if (s.information !== undefined && s.information <= 0xffffffff) {
    b[0] |= 0x80; // VALID
    b.writeUInt32BE(s.information >>> 0, 3);
  }
  b[2] = s.key & 0x0f;
  b[7] = FIXED_SENSE_LENGTH - 8;
  if (s.commandSpecific !== undefined) b.writeUInt32BE(s.commandSpecific >>> 0, 8);
  b[12] = s.asc;
  b[13] = s.ascq;
  if (s.field) {
    const [x, y, z] = sksBytes(s.field);
    b[15] = x;
    b[16] = y;
    b[17] = z;
  }
  return b;
}

/** SPC-4 §4.5.2: descriptor format sense data with information (00h), command-specific (01h) and sense key specific (02h) descriptors. */
export function encodeDescriptorSense(s: SenseData): Buffer {
  let len = 8;
  if (s.information !== undefined) len += 12;
  if (s.commandSpecific !== undefined) len += 12;
  if (s.field) len += 8;
  const b = Buffer.alloc(len);
  b[0] = 0x72;
  b[1] = s.key & 0x0f;
  b[2] = s.asc;
  b[3] = s.ascq;
  b[7] = len - 8;
  let o = 8;
  if (s.information !== undefined) {
    // SPC-4 §4.5.2.2: type 00h, additional length 0Ah, VALID=1.
    b[o] = 0x00;
    b[o + 1] = 0x0a;
    b[o + 2] = 0x80;
    writeU64(b, o + 4, s.information);
    o += 12;
  }
  if (s.commandSpecific !== undefined) {
    // SPC-4 §4.5.2.3: type 01h, additional length 0Ah.
    b[o] = 0x01;
    b[o + 1] = 0x0a;
    writeU64(b, o + 4, s.commandSpecific);
    o += 12;
  }
  if (s.field) {
    // SPC-4 §4.5.2.4: type 02h, additional length 06h.
    b[o] = 0x02;
    b[o + 1] = 0x06;
    const [x, y, z] = sksBytes(s.field);
    b[o + 4] = x;
    b[o + 5] = y;
    b[o + 6] = z;
    o += 8;
  }
  return b;
}

export function encodeSense(s: SenseData, descriptor: boolean): Buffer {
  return descriptor ? encodeDescriptorSense(s) : encodeFixedSense(s);
}
