/**
 * The 8-byte LUN field of iSCSI PDUs (RFC 7143 §11.3.4 refers to SAM for its format).
 *
 * SAM-5 §4.7 single-level LUN structures supported here:
 * - peripheral device addressing (address method 00b, bus identifier 0): LUN 0-255,
 *   byte 0 = 0x00, byte 1 = LUN;
 * - flat space addressing (address method 01b): LUN 0-16383,
 *   byte 0 = 0x40 | LUN[13:8], byte 1 = LUN[7:0].
 * The second to fourth levels (bytes 2-7) must be zero. Anything else decodes
 * to -1 ("not a LUN this target can address").
 */

/** Length of the LUN field in bytes. */
export const LUN_FIELD_LENGTH = 8;
/** Highest LUN representable with flat space addressing (14 bits). */
export const MAX_LUN = 0x3fff;

/** Decode the 8-byte LUN field at `offset` to a LUN number, or -1 if its addressing is unsupported. */
export function decodeLun(buf: Buffer, offset = 0): number {
  if (offset < 0 || offset + LUN_FIELD_LENGTH > buf.length) return -1;
  // SAM-5 §4.7: bytes 2..7 hold the second to fourth addressing levels; single level only.
  if (
    (buf[offset + 2] | buf[offset + 3] | buf[offset + 4] | buf[offset + 5] | buf[offset + 6] | buf[offset + 7]) !==
    0
  ) {
    return -1;
  }
  const b0 = buf[offset];
  const method = b0 >> 6;
  if (method === 0) {
    // SAM-5 §4.7.7.2 peripheral device addressing: bus identifier (low 6 bits) must be 0.
    return (b0 & 0x3f) === 0 ? buf[offset + 1] : -1;
  }
  if (method === 1) {
    // SAM-5 §4.7.7.4 flat space addressing.
    return ((b0 & 0x3f) << 8) | buf[offset + 1];
  }
  return -1;
}

/** Write `lun` as an 8-byte LUN field at `offset`: peripheral addressing below 256, flat space otherwise. */
export function encodeLunInto(lun: number, buf: Buffer, offset = 0): void {
  if (!Number.isInteger(lun) || lun < 0 || lun > MAX_LUN) {
    throw new RangeError(`LUN ${lun} cannot be encoded: expected an integer 0..${MAX_LUN} (SAM-5 §4.7)`);
  }
  if (lun < 256) {
    buf[offset] = 0x00;
    buf[offset + 1] = lun;
  } else {
    buf[offset] = 0x40 | (lun >> 8);
    buf[offset + 1] = lun & 0xff;
  }
  buf.fill(0, offset + 2, offset + LUN_FIELD_LENGTH);
}

/** Encode `lun` as a new 8-byte LUN field. */
export function encodeLun(lun: number): Buffer {
  const buf = Buffer.alloc(LUN_FIELD_LENGTH);
  encodeLunInto(lun, buf, 0);
  return buf;
}
