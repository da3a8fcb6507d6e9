/**
 * Test-only builder of annotated byte vectors (DESIGN.md §9).
 *
 * Every field is written with its width and a note, so a vector reads like the
 * RFC's PDU diagrams and a mismatch can be reported by field. It deliberately
 * shares no code with src/ (not even the CRC32C), so it can catch encoder and
 * decoder bugs instead of repeating them.
 *
 *   const v = bytes()
 *     .u8(0x01, 'opcode: SCSI Command')
 *     .u8(0x80 | 0x40 | 0x01, 'F | R | ATTR=simple')
 *     .zeros(2, 'reserved')
 *     ...
 *     .build();
 */

export interface Field {
  offset: number;
  length: number;
  note: string;
}

export class AnnotatedBytes {
  private readonly out: number[] = [];
  private readonly fields: Field[] = [];

  get length(): number {
    return this.out.length;
  }

  private push(values: ArrayLike<number>, note: string): this {
    this.fields.push({ offset: this.out.length, length: values.length, note });
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (!Number.isInteger(v) || v < 0 || v > 0xff) throw new RangeError(`byte ${v} in field "${note}"`);
      this.out.push(v);
    }
    return this;
  }

  private uint(value: number, width: number, note: string): this {
    if (!Number.isInteger(value) || value < 0 || value >= 2 ** (8 * width)) {
      throw new RangeError(`value ${value} does not fit ${width} byte(s) in field "${note}"`);
    }
    const bs: number[] = [];
    for (let i = width - 1; i >= 0; i--) bs.push(Math.floor(value / 2 ** (8 * i)) % 256);
    return this.push(bs, note);
  }

  /** One byte. */
  u8(value: number, note: string): this {
    return this.uint(value, 1, note);
  }
  /** Two bytes, big-endian (network order). */
  u16(value: number, note: string): this {
    return this.uint(value, 2, note);
  }
  /** Three bytes, big-endian (e.g. DataSegmentLength). */
  u24(value: number, note: string): this {
    return this.uint(value, 3, note);
  }
  /** Four bytes, big-endian. */
  u32(value: number, note: string): this {
    return this.uint(value, 4, note);
  }
  /** Four bytes, little-endian (the wire order of iSCSI digests, RFC 7143 Appendix B.4). */
  u32le(value: number, note: string): this {
    const be: number[] = [];
    for (let i = 0; i < 4; i++) be.push(Math.floor(value / 2 ** (8 * i)) % 256);
    return this.push(be, note);
  }
  /** Raw bytes. */
  bytes(values: ArrayLike<number>, note: string): this {
    return this.push(values, note);
  }
  /** Bytes written as hex, spaces allowed: `hex('28 00 00 00', 'READ(10)')`. */
  hex(text: string, note: string): this {
    const clean = text.replace(/\s+/g, '');
    if (clean.length % 2 !== 0 || /[^0-9a-fA-F]/.test(clean)) throw new Error(`bad hex in field "${note}"`);
    const bs: number[] = [];
    for (let i = 0; i < clean.length; i += 2) bs.push(parseInt(clean.slice(i, i + 2), 16));
    return this.push(bs, note);
  }
  /** ASCII/UTF-8 text (text keys are `key=value` NUL-terminated, RFC 7143 §6.1). */
  text(value: string, note: string): this {
    return this.push(Buffer.from(value, 'utf8'), note);
  }
  /** `count` zero bytes. */
  zeros(count: number, note: string): this {
    return this.push(new Array<number>(count).fill(0), note);
  }
  /** Zero bytes up to the next multiple of 4 (nothing if aligned). */
  pad4(note = 'padding'): this {
    const n = (4 - (this.out.length % 4)) % 4;
    return n === 0 ? this : this.zeros(n, note);
  }
  /** CRC32C of the bytes from `from` to here, appended least significant byte first. */
  crc32c(from: number, note: string): this {
    return this.u32le(referenceCrc32c(this.out.slice(from)), note);
  }
  /** Apply `fn` when `cond` holds (for optional digests and segments). */
  when(cond: boolean, fn: (b: this) => unknown): this {
    if (cond) fn(this);
    return this;
  }
  /** Append another builder's bytes and fields. */
  append(other: AnnotatedBytes, prefix = ''): this {
    const base = this.out.length;
    for (const f of other.fields) this.fields.push({ ...f, offset: base + f.offset, note: prefix + f.note });
    this.out.push(...other.out);
    return this;
  }

  /** The first field whose note contains `text`. */
  field(text: string): Field {
    const f = this.fields.find((x) => x.note.includes(text));
    if (!f) throw new Error(`no field noted "${text}"`);
    return f;
  }

  build(): Buffer {
    return Buffer.from(this.out);
  }

  /** One line per field: offset, hex bytes, note. */
  describe(): string {
    return this.fields
      .map((f) => {
        const hexed = this.out
          .slice(f.offset, f.offset + Math.min(f.length, 16))
          .map((v) => v.toString(16).padStart(2, '0'))
          .join(' ');
        return `${String(f.offset).padStart(5)}  ${hexed}${f.length > 16 ? ' …' : ''}  ${f.note}`;
      })
      .join('\n');
  }
}

export function bytes(): AnnotatedBytes {
  return new AnnotatedBytes();
}

/**
 * Bit-at-a-time CRC32C (Castagnoli, reflected polynomial 0x82F63B78, init and
 * final XOR 0xffffffff): slow, obviously correct, independent of src/.
 */
export function referenceCrc32c(data: ArrayLike<number>): number {
  let crc = 0xffffffff;
  for (let i = 0; i < data.length; i++) {
    crc ^= data[i];
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}
