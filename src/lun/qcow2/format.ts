/**
 * qcow2 on-disk format: header, header extensions, table entry encodings.
 *
 * Written from QEMU's published specification, docs/interop/qcow2.txt
 * ("qcow2 spec" below; section names quoted). All numbers are big-endian.
 * Offsets are JavaScript numbers: the spec caps host offsets at 2^56 and
 * anything we can address here stays below 2^53.
 */
import { StoreError } from '../raw-store.js';

/** "QFI\xfb" (qcow2 spec, Header, bytes 0-3). */
export const QCOW2_MAGIC = 0x514649fb;
/** Version 2 header length (qcow2 spec, Header: "exactly 72 bytes"). */
export const V2_HEADER_LENGTH = 72;
/** Version 3 header with compression_type and padding, as QEMU 5+ writes it. */
export const V3_HEADER_LENGTH = 112;

/** Header extension types (qcow2 spec, "Header extensions"). */
export const EXT_END = 0x00000000;
export const EXT_BACKING_FORMAT = 0xe2792aca;
export const EXT_FEATURE_TABLE = 0x6803f857;

/** incompatible_features bits (qcow2 spec, Header bytes 72-79). */
export const INCOMPAT_DIRTY = 1n << 0n;
export const INCOMPAT_CORRUPT = 1n << 1n;
export const INCOMPAT_EXTERNAL_DATA = 1n << 2n;
export const INCOMPAT_COMPRESSION_TYPE = 1n << 3n;
export const INCOMPAT_EXTENDED_L2 = 1n << 4n;

/** Smallest and largest cluster_bits we open (spec: >= 9; QEMU's limit 2 MiB). */
export const MIN_CLUSTER_BITS = 9;
export const MAX_CLUSTER_BITS = 21;
/** QEMU's implementation limits (qcow2 spec, Header "size" and "Host cluster management" notes). */
export const MAX_L1_BYTES = 32 * 1024 * 1024;
export const MAX_REFCOUNT_TABLE_BYTES = 8 * 1024 * 1024;
/** Backing file name length limit (qcow2 spec, Header bytes 16-19). */
export const MAX_BACKING_NAME = 1023;

/** Bit 63 of L1/L2 entries: refcount is exactly one ("COPIED"). In the high 32-bit word. */
export const HI_COPIED = 0x80000000;
/** Bit 62 of L2 entries: compressed cluster. In the high 32-bit word. */
export const HI_COMPRESSED = 0x40000000;
/** Bits 32-55 of an offset field (bits 56-61 reserved). */
export const HI_OFFSET_MASK = 0x00ffffff;
/** Bit 0 of a standard cluster descriptor: reads as zeros (version 3 only). */
export const LO_ZERO = 1;
export const TWO32 = 4294967296;

export interface Qcow2Header {
  version: 2 | 3;
  backingFileOffset: number;
  backingFileSize: number;
  clusterBits: number;
  size: number;
  cryptMethod: number;
  l1Size: number;
  l1TableOffset: number;
  refcountTableOffset: number;
  refcountTableClusters: number;
  nbSnapshots: number;
  snapshotsOffset: number;
  incompatibleFeatures: bigint;
  compatibleFeatures: bigint;
  autoclearFeatures: bigint;
  refcountOrder: number;
  headerLength: number;
  compressionType: number;
  /** Backing file name as stored (relative names are relative to the image's directory), or null. */
  backingFile: string | null;
  /** From the backing file format header extension, or null. */
  backingFormat: string | null;
  /** Header extensions found (type, offset of the data, length of the data). */
  extensions: Array<{ type: number; offset: number; length: number }>;
  /** End of the header extension area (offset just past the end marker). */
  extensionsEnd: number;
}

function u64(buf: Buffer, off: number, what: string): number {
  const v = buf.readBigUInt64BE(off);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new StoreError('ISCSI_ERR_BAD_IMAGE', `qcow2 ${what} ${v} is too large`);
  }
  return Number(v);
}

function bad(file: string, msg: string): StoreError {
  return new StoreError('ISCSI_ERR_BAD_IMAGE', `${file}: not a valid qcow2 image: ${msg}`);
}

/** True when `buf` starts with the qcow2 magic. */
export function hasQcow2Magic(buf: Buffer): boolean {
  return buf.length >= 4 && buf.readUInt32BE(0) === QCOW2_MAGIC;
}

/**
 * Parse the header and the header extensions from the start of the image
 * (at least the first cluster, or the whole file if shorter). Checks what
 * the spec requires of a well-formed header; feature support is checked by
 * the caller (checkSupported).
 */
export function parseHeader(buf: Buffer, file: string): Qcow2Header {
  if (buf.length < V2_HEADER_LENGTH) throw bad(file, `file is only ${buf.length} bytes`);
  if (!hasQcow2Magic(buf)) throw bad(file, 'no QFI\\xfb magic');
  const version = buf.readUInt32BE(4);
  if (version !== 2 && version !== 3) {
    throw new StoreError('ISCSI_ERR_UNSUPPORTED_IMAGE', `${file}: qcow2 version ${version} is not supported (2 and 3 are)`);
  }
  const clusterBits = buf.readUInt32BE(20);
  if (clusterBits < MIN_CLUSTER_BITS || clusterBits > MAX_CLUSTER_BITS) {
    throw new StoreError(
      'ISCSI_ERR_UNSUPPORTED_IMAGE',
      `${file}: cluster size 2^${clusterBits} is outside the supported 512 bytes to 2 MiB`,
    );
  }
  const cs = 2 ** clusterBits;
  const h: Qcow2Header = {
    version,
    backingFileOffset: u64(buf, 8, 'backing_file_offset'),
    backingFileSize: buf.readUInt32BE(16),
    clusterBits,
    size: u64(buf, 24, 'size'),
    cryptMethod: buf.readUInt32BE(32),
    l1Size: buf.readUInt32BE(36),
    l1TableOffset: u64(buf, 40, 'l1_table_offset'),
    refcountTableOffset: u64(buf, 48, 'refcount_table_offset'),
    refcountTableClusters: buf.readUInt32BE(56),
    nbSnapshots: buf.readUInt32BE(60),
    snapshotsOffset: u64(buf, 64, 'snapshots_offset'),
    incompatibleFeatures: 0n,
    compatibleFeatures: 0n,
    autoclearFeatures: 0n,
    refcountOrder: 4,
    headerLength: V2_HEADER_LENGTH,
    compressionType: 0,
    backingFile: null,
    backingFormat: null,
    extensions: [],
    extensionsEnd: V2_HEADER_LENGTH,
  };
  if (version === 3) {
    if (buf.length < 104) throw bad(file, 'version 3 header is truncated');
    h.incompatibleFeatures = buf.readBigUInt64BE(72);
    h.compatibleFeatures = buf.readBigUInt64BE(80);
    h.autoclearFeatures = buf.readBigUInt64BE(88);
    h.refcountOrder = buf.readUInt32BE(96);
    h.headerLength = buf.readUInt32BE(100);
    if (h.headerLength < 104 || h.headerLength % 8 !== 0 || h.headerLength > Math.min(cs, buf.length)) {
      throw bad(file, `header_length ${h.headerLength} must be a multiple of 8, at least 104 and inside the first cluster`);
    }
    if (h.headerLength > 104) h.compressionType = buf[104]!;
  }
  if (h.refcountOrder > 6) throw bad(file, `refcount_order ${h.refcountOrder} exceeds 6`);
  const align = (v: number) => v % cs === 0;
  if (!align(h.l1TableOffset)) throw bad(file, `L1 table offset ${h.l1TableOffset} is not cluster aligned`);
  if (!align(h.refcountTableOffset) || h.refcountTableOffset === 0) {
    throw bad(file, `refcount table offset ${h.refcountTableOffset} is not a cluster-aligned non-zero offset`);
  }
  if (h.refcountTableClusters === 0 || h.refcountTableClusters * cs > MAX_REFCOUNT_TABLE_BYTES) {
    throw bad(file, `refcount table of ${h.refcountTableClusters} clusters is empty or too large`);
  }
  if (h.l1Size * 8 > MAX_L1_BYTES) throw bad(file, `L1 table of ${h.l1Size} entries is too large`);
  const l2Span = (cs / 8) * cs;
  if (h.l1Size < Math.ceil(h.size / l2Span)) {
    throw bad(file, `L1 table of ${h.l1Size} entries cannot map the virtual size ${h.size}`);
  }
  if (h.l1Size > 0 && h.l1TableOffset === 0) throw bad(file, 'L1 table offset is 0');

  // Header extensions follow the header (qcow2 spec, "Header extensions"), v3 only in practice;
  // QEMU also writes them after a v2 header, so read them for both versions.
  let off = h.headerLength;
  const limit = Math.min(cs, buf.length);
  for (;;) {
    if (off + 8 > limit) break; // no end marker inside the first cluster: treat as the end
    const type = buf.readUInt32BE(off);
    const len = buf.readUInt32BE(off + 4);
    if (type === EXT_END) {
      off += 8;
      break;
    }
    const data = off + 8;
    if (data + len > limit) throw bad(file, `header extension 0x${type.toString(16)} runs past the first cluster`);
    h.extensions.push({ type, offset: data, length: len });
    if (type === EXT_BACKING_FORMAT) h.backingFormat = buf.toString('latin1', data, data + len);
    off = data + Math.ceil(len / 8) * 8;
  }
  h.extensionsEnd = off;

  if (h.backingFileOffset !== 0) {
    if (h.backingFileSize === 0 || h.backingFileSize > MAX_BACKING_NAME) {
      throw bad(file, `backing file name length ${h.backingFileSize} must be 1 to ${MAX_BACKING_NAME}`);
    }
    if (h.backingFileOffset + h.backingFileSize > limit) throw bad(file, 'backing file name lies outside the first cluster');
    h.backingFile = buf.toString('utf8', h.backingFileOffset, h.backingFileOffset + h.backingFileSize);
  }
  return h;
}

/**
 * Refuse images whose features we cannot handle safely. `writable` adds the
 * checks that only matter when we would modify the image.
 */
export function checkSupported(h: Qcow2Header, file: string, writable: boolean): void {
  const unsupported = (msg: string) => new StoreError('ISCSI_ERR_UNSUPPORTED_IMAGE', `${file}: ${msg}`);
  if (h.cryptMethod !== 0) throw unsupported('encrypted qcow2 images are not supported');
  const f = h.incompatibleFeatures;
  if (f & INCOMPAT_EXTERNAL_DATA) throw unsupported('qcow2 images with an external data file are not supported');
  if (f & INCOMPAT_EXTENDED_L2) throw unsupported('qcow2 images with extended L2 entries (subclusters) are not supported');
  if (f & INCOMPAT_COMPRESSION_TYPE || h.compressionType !== 0) {
    throw unsupported(`qcow2 compression type ${h.compressionType} is not supported (only zlib)`);
  }
  const known = INCOMPAT_DIRTY | INCOMPAT_CORRUPT | INCOMPAT_EXTERNAL_DATA | INCOMPAT_COMPRESSION_TYPE | INCOMPAT_EXTENDED_L2;
  if (f & ~known) throw unsupported(`unknown incompatible qcow2 features 0x${f.toString(16)}`);
  if (!writable) return;
  if (f & INCOMPAT_CORRUPT) {
    throw new StoreError('ISCSI_ERR_BAD_IMAGE', `${file} is marked corrupt; repair it with 'qemu-img check -r all ${file}'`);
  }
  if (f & INCOMPAT_DIRTY) {
    throw unsupported(
      `${file} was not closed cleanly by a program using lazy refcounts; run 'qemu-img check -r all ${file}' first`,
    );
  }
  if (h.nbSnapshots > 0) {
    throw unsupported(
      `${file} contains ${h.nbSnapshots} internal snapshot(s); writing to such images is not supported ` +
        `(remove them with 'qemu-img snapshot -d', or open read-only)`,
    );
  }
}

export interface EncodeHeaderInput {
  version: 2 | 3;
  clusterBits: number;
  size: number;
  l1Size: number;
  l1TableOffset: number;
  refcountTableOffset: number;
  refcountTableClusters: number;
  refcountOrder: number;
  backingFile?: string | null;
  backingFormat?: string | null;
}

/**
 * Encode the first cluster's meaningful bytes: header, header extensions
 * (backing format), end marker, backing file name. Returns the bytes to
 * write at offset 0 (shorter than a cluster).
 */
export function encodeHeader(h: EncodeHeaderInput): Buffer {
  const cs = 2 ** h.clusterBits;
  const headerLength = h.version === 3 ? V3_HEADER_LENGTH : V2_HEADER_LENGTH;
  const exts: Buffer[] = [];
  if (h.backingFile && h.backingFormat) {
    const data = Buffer.from(h.backingFormat, 'latin1');
    const e = Buffer.alloc(8 + Math.ceil(data.length / 8) * 8);
    e.writeUInt32BE(EXT_BACKING_FORMAT, 0);
    e.writeUInt32BE(data.length, 4);
    data.copy(e, 8);
    exts.push(e);
  }
  exts.push(Buffer.alloc(8)); // end of the header extension area
  const name = h.backingFile ? Buffer.from(h.backingFile, 'utf8') : Buffer.alloc(0);
  if (name.length > MAX_BACKING_NAME) {
    throw new StoreError('ISCSI_ERR_BAD_SIZE', `backing file name is ${name.length} bytes; at most ${MAX_BACKING_NAME} allowed`);
  }
  const extLen = exts.reduce((a, b) => a + b.length, 0);
  const total = headerLength + extLen + name.length;
  if (total > cs) throw new StoreError('ISCSI_ERR_BAD_SIZE', 'header, extensions and backing file name do not fit in one cluster');
  const out = Buffer.alloc(total);
  out.writeUInt32BE(QCOW2_MAGIC, 0);
  out.writeUInt32BE(h.version, 4);
  if (name.length > 0) {
    out.writeBigUInt64BE(BigInt(headerLength + extLen), 8);
    out.writeUInt32BE(name.length, 16);
  }
  out.writeUInt32BE(h.clusterBits, 20);
  out.writeBigUInt64BE(BigInt(h.size), 24);
  out.writeUInt32BE(0, 32); // crypt_method
  out.writeUInt32BE(h.l1Size, 36);
  out.writeBigUInt64BE(BigInt(h.l1TableOffset), 40);
  out.writeBigUInt64BE(BigInt(h.refcountTableOffset), 48);
  out.writeUInt32BE(h.refcountTableClusters, 56);
  out.writeUInt32BE(0, 60); // nb_snapshots
  out.writeBigUInt64BE(0n, 64); // snapshots_offset
  if (h.version === 3) {
    // incompatible / compatible / autoclear features all 0: no dirty bit, no lazy refcounts.
    out.writeUInt32BE(h.refcountOrder, 96);
    out.writeUInt32BE(headerLength, 100);
    // byte 104: compression_type 0 (zlib), then zero padding to 112.
  }
  let off = headerLength;
  for (const e of exts) {
    e.copy(out, off);
    off += e.length;
  }
  name.copy(out, off);
  return out;
}

/** Number of L1 entries needed to map `size` bytes. */
export function l1EntriesFor(size: number, clusterBits: number): number {
  const l2Span = 2 ** (clusterBits - 3) * 2 ** clusterBits;
  return Math.ceil(size / l2Span);
}

/** Host offset of an L1, L2 (standard) or refcount table entry: bits 9-55. */
export function entryOffset(hi: number, lo: number): number {
  return (hi & HI_OFFSET_MASK) * TWO32 + (lo - (lo & 0x1ff));
}

/** Write an 8-byte big-endian table entry from its host offset and flag words. */
export function putEntry(buf: Buffer, byteOff: number, offset: number, hiFlags: number, loFlags: number): void {
  const hi = Math.floor(offset / TWO32);
  const lo = offset - hi * TWO32;
  buf.writeUInt32BE((hi | hiFlags) >>> 0, byteOff);
  buf.writeUInt32BE((lo | loFlags) >>> 0, byteOff + 4);
}

/** Refcount of entry `i` of a refcount block with 2^order-bit entries (qcow2 spec, "Refcount block entry"). */
export function refcountGet(buf: Buffer, i: number, order: number): number {
  switch (order) {
    case 4:
      return buf.readUInt16BE(i * 2);
    case 3:
      return buf[i]!;
    case 5:
      return buf.readUInt32BE(i * 4);
    case 6:
      return buf.readUInt32BE(i * 8) * TWO32 + buf.readUInt32BE(i * 8 + 4);
    default: {
      // Sub-byte widths: bit 0 is the least significant bit of the byte.
      const bits = 1 << order;
      const bit = i * bits;
      return (buf[bit >> 3]! >> (bit & 7)) & ((1 << bits) - 1);
    }
  }
}

export function refcountSet(buf: Buffer, i: number, order: number, v: number): void {
  switch (order) {
    case 4:
      buf.writeUInt16BE(v, i * 2);
      return;
    case 3:
      buf[i] = v;
      return;
    case 5:
      buf.writeUInt32BE(v, i * 4);
      return;
    case 6: {
      const hi = Math.floor(v / TWO32);
      buf.writeUInt32BE(hi, i * 8);
      buf.writeUInt32BE(v - hi * TWO32, i * 8 + 4);
      return;
    }
    default: {
      const bits = 1 << order;
      const bit = i * bits;
      const mask = ((1 << bits) - 1) << (bit & 7);
      const byte = bit >> 3;
      buf[byte] = (buf[byte]! & ~mask) | ((v << (bit & 7)) & mask);
    }
  }
}

/** Byte offset range [lo, hi) inside a refcount block that holds entry i. */
export function refcountByteRange(i: number, order: number): [number, number] {
  const bits = 1 << order;
  const lo = Math.floor((i * bits) / 8);
  return [lo, lo + Math.max(1, bits / 8)];
}
