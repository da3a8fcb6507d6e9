/**
 * Small readers for CDB and parameter fields (big-endian, SPC-4 §4.3.1).
 * LBAs are JavaScript numbers: exact up to 2^53, and any larger value still
 * compares greater than every capacity we can serve, which is all a range
 * check needs.
 */

export function u16(b: Buffer, o: number): number {
  return (b[o] << 8) | b[o + 1];
}

export function u24(b: Buffer, o: number): number {
  return (b[o] << 16) | (b[o + 1] << 8) | b[o + 2];
}

export function u32(b: Buffer, o: number): number {
  return ((b[o] << 24) >>> 0) + ((b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]);
}

export function u64(b: Buffer, o: number): number {
  return u32(b, o) * 0x100000000 + u32(b, o + 4);
}

export function putU16(b: Buffer, o: number, v: number): void {
  b[o] = (v >>> 8) & 0xff;
  b[o + 1] = v & 0xff;
}

export function putU32(b: Buffer, o: number, v: number): void {
  b.writeUInt32BE(v >>> 0, o);
}

export function putU64(b: Buffer, o: number, v: number): void {
  b.writeUInt32BE(Math.floor(v / 0x100000000) >>> 0, o);
  b.writeUInt32BE(v % 0x100000000 >>> 0, o + 4);
}

/** Write `s` as ASCII into b[o, o+len), space padded (SPC-4 §4.4.1). */
export function putAscii(b: Buffer, o: number, len: number, s: string): void {
  b.fill(0x20, o, o + len);
  b.write(s.slice(0, len), o, 'latin1');
}

/** Truncate `data` to the allocation length (SPC-4 §4.2.5.6). */
export function truncate(data: Buffer, allocationLength: number): Buffer {
  return data.length > allocationLength ? data.subarray(0, allocationLength) : data;
}
