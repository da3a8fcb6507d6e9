/**
 * CRC32C (Castagnoli) digests for iSCSI, RFC 7143 §13.1 (HeaderDigest/DataDigest
 * "CRC32C") with the generator polynomial 0x1EDC6F41 (bit-reflected 0x82F63B78).
 *
 * Two implementations that agree bit for bit (DESIGN.md §8):
 * - a table-driven JS routine (slicing by 4) for the 48-byte header and AHS,
 *   where calling into native code would cost more than it saves;
 * - the native `@node-rs/crc32` for data segments.
 *
 * Both return the finished CRC as an unsigned 32-bit number and accept the
 * previous finished CRC as the starting state, so `crc(b, crc(a)) === crc(a‖b)`.
 *
 * Byte order on the wire: the RFC 7143 Appendix B.4 examples (e.g. 32 zero
 * bytes -> "aa 36 91 8a", CRC value 0x8a9136aa) show the digest is sent
 * least significant byte first, so digests are written with writeUInt32LE.
 */
import { crc32c as nativeCrc32c } from '@node-rs/crc32';
import { DIGEST_LENGTH } from './constants.js';

const POLY_REFLECTED = 0x82f63b78;

/** Slicing-by-4 tables: T0 is the classic byte table, Tk advances k more zero bytes. */
const T0 = new Int32Array(256);
const T1 = new Int32Array(256);
const T2 = new Int32Array(256);
const T3 = new Int32Array(256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY_REFLECTED : c >>> 1;
  T0[n] = c;
}
for (let n = 0; n < 256; n++) {
  T1[n] = (T0[n] >>> 8) ^ T0[T0[n] & 0xff];
  T2[n] = (T1[n] >>> 8) ^ T0[T1[n] & 0xff];
  T3[n] = (T2[n] >>> 8) ^ T0[T2[n] & 0xff];
}

/**
 * CRC32C of `buf[start..end)` in JS, continuing from the finished CRC `crc`
 * (0 to start fresh). Use for short inputs (headers, padding).
 */
export function crc32cJs(buf: Uint8Array, start = 0, end = buf.length, crc = 0): number {
  let c = ~crc;
  let i = start;
  const end4 = end - 3;
  for (; i < end4; i += 4) {
    c ^= buf[i] | (buf[i + 1] << 8) | (buf[i + 2] << 16) | (buf[i + 3] << 24);
    c = T3[c & 0xff] ^ T2[(c >>> 8) & 0xff] ^ T1[(c >>> 16) & 0xff] ^ T0[c >>> 24];
  }
  for (; i < end; i++) c = T0[(c ^ buf[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

/** Below this length the JS routine beats the cost of a native call. */
const NATIVE_THRESHOLD = 64;

/** CRC32C of all of `buf`, continuing from `crc`; native for long inputs. */
export function crc32c(buf: Uint8Array, crc = 0): number {
  if (buf.length < NATIVE_THRESHOLD) return crc32cJs(buf, 0, buf.length, crc);
  return nativeCrc32c(buf, crc) >>> 0;
}

/** RFC 7143 §11.2.3: header digest over the BHS and any AHS (pass exactly those bytes). */
export function headerDigest(header: Uint8Array): number {
  return crc32cJs(header, 0, header.length, 0);
}

const ZERO_PADDING = new Uint8Array(3);

/**
 * RFC 7143 §11.2.4: data digest over the data segment and its padding.
 * `padding` holds the pad bytes as received (0-3 bytes); if omitted, the
 * zero padding that aligns `data` to 4 bytes is used (what senders emit).
 */
export function dataDigest(data: Uint8Array, padding?: Uint8Array): number {
  const crc = crc32c(data, 0);
  if (padding !== undefined) return crc32cJs(padding, 0, padding.length, crc);
  const padLength = (4 - (data.length & 3)) & 3;
  return padLength === 0 ? crc : crc32cJs(ZERO_PADDING, 0, padLength, crc);
}

/** Write a digest at `offset` in wire byte order (Appendix B.4: least significant byte first). */
export function writeDigest(buf: Buffer, offset: number, digest: number): void {
  buf.writeUInt32LE(digest >>> 0, offset);
}

/** Read a digest at `offset` in wire byte order. */
export function readDigest(buf: Buffer, offset: number): number {
  return buf.readUInt32LE(offset);
}

/** A new 4-byte buffer holding `digest` in wire byte order. */
export function digestBytes(digest: number): Buffer {
  const buf = Buffer.allocUnsafe(DIGEST_LENGTH);
  writeDigest(buf, 0, digest);
  return buf;
}
