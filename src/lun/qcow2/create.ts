/**
 * Creating qcow2 images (qcow2 spec, "Header", "Host cluster management").
 *
 * Layout, as `qemu-img create -f qcow2` lays it out: header (+ extensions
 * and backing file name) in cluster 0, the refcount table from cluster 1,
 * the refcount blocks covering the initial clusters, then the L1 table. The
 * image is version 3 ("compat=1.1") unless version 2 is asked for, with no
 * incompatible or compatible feature bits set.
 */
import fs from 'node:fs';
import { StoreError } from '../raw-store.js';
import { encodeHeader, EXT_BACKING_FORMAT, l1EntriesFor, MAX_BACKING_NAME, MAX_L1_BYTES, putEntry, refcountSet } from './format.js';
import { pClose, pFstat, pFsync, pFtruncate, pOpen, pRead, pWrite } from './io.js';
import {
  openQcow2Store,
  probeImageFormat,
  Qcow2Store,
  readQcow2Header,
  resolveBackingPath,
  type Qcow2OpenOptions,
} from './qcow2-store.js';

export interface Qcow2CreateOptions {
  /** Cluster size in bytes: a power of two, 64 KiB by default, 512 B to 2 MiB. */
  clusterSize?: number;
  /** Refcount width in bits: 1, 2, 4, 8, 16 (default), 32 or 64 (version 3 only). */
  refcountBits?: number;
  /**
   * Backing file name stored in the header: relative names are relative to
   * the new image's directory (as QEMU resolves them), absolute names stay.
   */
  backingFile?: string;
  /** Format of the backing file, stored in the header; probed when omitted. */
  backingFormat?: 'qcow2' | 'raw';
  /** 3 (default, "compat=1.1") or 2 ("compat=0.10"). */
  version?: 2 | 3;
}

const DEFAULT_CLUSTER = 64 * 1024;

function checkCreate(sizeBytes: number, opts: Qcow2CreateOptions): { bits: number; order: number; version: 2 | 3 } {
  if (!Number.isSafeInteger(sizeBytes) || sizeBytes < 0 || sizeBytes % 512 !== 0) {
    throw new StoreError('ISCSI_ERR_BAD_SIZE', `size ${sizeBytes} must be a non-negative multiple of 512 bytes`);
  }
  const cs = opts.clusterSize ?? DEFAULT_CLUSTER;
  const bits = Math.log2(cs);
  if (!Number.isInteger(bits) || bits < 9 || bits > 21) {
    throw new StoreError('ISCSI_ERR_BAD_SIZE', `cluster size ${cs} must be a power of two from 512 bytes to 2 MiB (64 KiB default)`);
  }
  const version = opts.version ?? 3;
  const rbits = opts.refcountBits ?? 16;
  const order = Math.log2(rbits);
  if (!Number.isInteger(order) || order < 0 || order > 6) {
    throw new StoreError('ISCSI_ERR_BAD_SIZE', `refcount width ${rbits} must be 1, 2, 4, 8, 16, 32 or 64 bits`);
  }
  if (version === 2 && order !== 4) {
    throw new StoreError('ISCSI_ERR_BAD_SIZE', 'version 2 images have 16-bit refcounts only');
  }
  if (l1EntriesFor(sizeBytes, bits) * 8 > MAX_L1_BYTES) {
    throw new StoreError('ISCSI_ERR_BAD_SIZE', `size ${sizeBytes} needs an L1 table larger than 32 MiB; use a larger cluster size`);
  }
  return { bits, order, version };
}

/**
 * Create a qcow2 image file (fails with EEXIST if it exists). Without
 * `sizeBytes` (undefined) the size is the backing file's. The file is mode
 * 0600 and fsynced; the caller fsyncs the directory when it publishes it.
 */
export async function createQcow2Image(file: string, sizeBytes: number | undefined, opts: Qcow2CreateOptions = {}): Promise<void> {
  let backingFormat: 'qcow2' | 'raw' | undefined = opts.backingFormat;
  let size = sizeBytes;
  if (opts.backingFile !== undefined) {
    if (opts.backingFile.length === 0) throw new StoreError('ISCSI_ERR_BACKING', 'backing file name is empty');
    const bp = resolveBackingPath(file, opts.backingFile);
    if (!fs.existsSync(bp)) throw new StoreError('ISCSI_ERR_BACKING', `backing file ${bp} does not exist`);
    backingFormat ??= await probeImageFormat(bp);
    if (size === undefined) size = await imageSize(bp, backingFormat);
  }
  if (size === undefined) throw new StoreError('ISCSI_ERR_BAD_SIZE', 'a size is needed for an image without a backing file');
  const { bits, order, version } = checkCreate(size, opts);
  const cs = 2 ** bits;
  const l1Size = l1EntriesFor(size, bits);
  const l1Clusters = Math.ceil((l1Size * 8) / cs);
  const perBlock = (cs * 8) / 2 ** order;
  // Refcount blocks and table must cover themselves: iterate to a fixed point.
  let rbc = 1;
  let rtc = 1;
  for (;;) {
    const total = 1 + rtc + rbc + l1Clusters;
    const nrbc = Math.ceil(total / perBlock);
    const nrtc = Math.ceil((nrbc * 8) / cs);
    if (nrbc === rbc && nrtc === rtc) break;
    rbc = nrbc;
    rtc = nrtc;
  }
  const rtOff = cs;
  const rbOff = rtOff + rtc * cs;
  const l1Off = rbOff + rbc * cs;
  const used = 1 + rtc + rbc + l1Clusters;

  const header = encodeHeader({
    version,
    clusterBits: bits,
    size,
    l1Size,
    l1TableOffset: l1Size > 0 ? l1Off : 0,
    refcountTableOffset: rtOff,
    refcountTableClusters: rtc,
    refcountOrder: order,
    backingFile: opts.backingFile ?? null,
    backingFormat: opts.backingFile !== undefined ? backingFormat : null,
  });
  const rt = Buffer.alloc(rtc * cs);
  for (let i = 0; i < rbc; i++) putEntry(rt, i * 8, rbOff + i * cs, 0, 0);
  const rb = Buffer.alloc(rbc * cs);
  for (let c = 0; c < used; c++) {
    const blk = Math.floor(c / perBlock);
    refcountSet(rb.subarray(blk * cs, (blk + 1) * cs), c - blk * perBlock, order, 1);
  }

  const fd = await pOpen(file, 'wx+', 0o600);
  try {
    await pFtruncate(fd, l1Off + l1Clusters * cs); // the L1 table: zeros, a hole
    await pWrite(fd, rb, 0, rb.length, rbOff);
    await pWrite(fd, rt, 0, rt.length, rtOff);
    await pWrite(fd, header, 0, header.length, 0);
    await pFsync(fd);
  } catch (e) {
    await pClose(fd).catch(() => undefined);
    await fs.promises.unlink(file).catch(() => undefined);
    throw e;
  }
  await pClose(fd);
}

/** Create a qcow2 image and open it (read-write). */
export async function createQcow2Store(
  file: string,
  sizeBytes: number | undefined,
  opts: Qcow2CreateOptions & Qcow2OpenOptions = {},
): Promise<Qcow2Store> {
  await createQcow2Image(file, sizeBytes, opts);
  try {
    return await openQcow2Store(file, opts);
  } catch (e) {
    await fs.promises.unlink(file).catch(() => undefined);
    throw e;
  }
}

/** Virtual size of a raw or qcow2 image file. */
export async function imageSize(file: string, format?: 'qcow2' | 'raw'): Promise<number> {
  const fmt = format ?? (await probeImageFormat(file));
  if (fmt === 'raw') {
    const fd = await pOpen(file, 'r');
    try {
      return (await pFstat(fd)).size;
    } finally {
      await pClose(fd);
    }
  }
  const s = await openQcow2Store(file, { readOnly: true, backing: 'none' });
  try {
    return s.sizeBytes;
  } finally {
    await s.close();
  }
}

/**
 * Point an image at another backing file, or at none, without copying data
 * (like `qemu-img rebase -u`): the caller guarantees the new backing file
 * has the same contents where this image is unallocated (snapshot merges).
 * Rewrites the header extensions and the backing file name in one write
 * inside the first 4 KiB. The image must not be open for writing elsewhere.
 */
export async function setQcow2BackingFile(
  file: string,
  backingFile: string | null,
  backingFormat?: 'qcow2' | 'raw',
): Promise<void> {
  const h = await readQcow2Header(file);
  let fmt: 'qcow2' | 'raw' | null = null;
  if (backingFile !== null) {
    const bp = resolveBackingPath(file, backingFile);
    if (!fs.existsSync(bp)) throw new StoreError('ISCSI_ERR_BACKING', `backing file ${bp} does not exist`);
    fmt = backingFormat ?? (await probeImageFormat(bp));
  }
  const cs = 2 ** h.clusterBits;
  const fd = await pOpen(file, 'r+');
  try {
    const first = Buffer.alloc(Math.min(cs, 4096));
    await pRead(fd, first, 0, first.length, 0);
    const exts: Buffer[] = [];
    for (const e of h.extensions) {
      if (e.type === EXT_BACKING_FORMAT) continue;
      const b = Buffer.alloc(8 + Math.ceil(e.length / 8) * 8);
      b.writeUInt32BE(e.type, 0);
      b.writeUInt32BE(e.length, 4);
      const src = Buffer.alloc(e.length);
      await pRead(fd, src, 0, e.length, e.offset);
      src.copy(b, 8);
      exts.push(b);
    }
    if (fmt !== null) {
      const d = Buffer.from(fmt, 'latin1');
      const b = Buffer.alloc(8 + Math.ceil(d.length / 8) * 8);
      b.writeUInt32BE(EXT_BACKING_FORMAT, 0);
      b.writeUInt32BE(d.length, 4);
      d.copy(b, 8);
      exts.unshift(b);
    }
    exts.push(Buffer.alloc(8));
    const name = backingFile === null ? Buffer.alloc(0) : Buffer.from(backingFile, 'utf8');
    if (name.length > MAX_BACKING_NAME) throw new StoreError('ISCSI_ERR_BAD_SIZE', `backing file name longer than ${MAX_BACKING_NAME} bytes`);
    const extBytes = Buffer.concat(exts);
    const total = h.headerLength + extBytes.length + name.length;
    if (total > first.length) {
      throw new StoreError('ISCSI_ERR_BAD_SIZE', `${file}: header extensions and backing file name do not fit in 4 KiB`);
    }
    // Zero what the old extensions and name occupied beyond the new ones.
    const oldEnd = Math.max(h.extensionsEnd, h.backingFileOffset > 0 ? h.backingFileOffset + h.backingFileSize : 0);
    const out = Buffer.alloc(Math.min(first.length, Math.max(total, oldEnd)));
    first.copy(out, 0, 0, h.headerLength);
    extBytes.copy(out, h.headerLength);
    name.copy(out, h.headerLength + extBytes.length);
    out.writeBigUInt64BE(name.length > 0 ? BigInt(h.headerLength + extBytes.length) : 0n, 8);
    out.writeUInt32BE(name.length, 16);
    await pWrite(fd, out, 0, out.length, 0);
    await pFsync(fd);
  } finally {
    await pClose(fd);
  }
}
