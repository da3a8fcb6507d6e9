/**
 * Merging a deleted snapshot into one child (source 4.2.10.5: "If the
 * snapshot has a single child, it will be merged to that child"), like
 * QEMU's block-stream of one layer followed by `qemu-img rebase -u`:
 *
 *  1. Where the child's own layer is unallocated (qcow2 spec "Cluster
 *     mapping": reads fall through to the backing file) and the deleted
 *     layer decides what is read (its data, or its zero clusters hiding
 *     the parent), the child gets what it reads now, read through itself.
 *     Every write stores what the child already reads there, so what the
 *     child (and every image over it) reads never changes, and an
 *     interrupted merge can simply run again.
 *  2. The child is rebased onto the deleted snapshot's parent (or none)
 *     without copying (setQcow2BackingFile): after step 1 the deleted layer
 *     no longer contributes anything the child reads.
 *
 * Only ranges the deleted layer provides are visited (its L2 mapping, or a
 * raw base's data extents), so merging a large, mostly empty LUN is fast.
 */
import path from 'node:path';
import { ClusterError } from '../cluster/errors.js';
import type { ImageFormat } from '../lun/open-store.js';
import { openQcow2Store, readQcow2Header, type Qcow2Store } from '../lun/qcow2/index.js';
import { imageSize, setQcow2BackingFile } from '../lun/qcow2/index.js';
import { rawDataExtents, type Extent } from './raw-extents.js';

export interface ImageRef {
  file: string;
  format: ImageFormat;
}

interface Provided extends Extent {
  /** true: the deleted layer reads as zeros here, hiding its parent. */
  zero: boolean;
}

const CHUNK = 1 << 20;
const SECTOR = 512;

/** Ranges whose contents the deleted layer (not its parent) decides. */
async function providedRanges(file: string, format: ImageFormat, hasParent: boolean): Promise<Provided[]> {
  if (format === 'raw') {
    const size = await imageSize(file, 'raw');
    const data = await rawDataExtents(file, size);
    const out: Provided[] = data.map((e) => ({ ...e, zero: false }));
    if (hasParent) {
      // A raw image hides everything below it: its holes read as zeros.
      let p = 0;
      for (const e of data) {
        if (e.offset > p) out.push({ offset: p, length: e.offset - p, zero: true });
        p = e.offset + e.length;
      }
      if (p < size) out.push({ offset: p, length: size - p, zero: true });
      out.sort((a, b) => a.offset - b.offset);
    }
    return out;
  }
  const s = await openQcow2Store(file, { readOnly: true, backing: 'none' });
  try {
    const out: Provided[] = [];
    for (const e of await s.layerAllocation(0, s.sizeBytes)) {
      if (e.state === 'data') out.push({ offset: e.offset, length: e.length, zero: false });
      else if (e.state === 'zero' && hasParent) out.push({ offset: e.offset, length: e.length, zero: true });
    }
    return out;
  } finally {
    await s.close();
  }
}

/** Intersection of the child's unallocated ranges with the provided ones (both sorted). */
function intersect(holes: Extent[], provided: Provided[], size: number): Provided[] {
  const out: Provided[] = [];
  let j = 0;
  for (const h of holes) {
    const hEnd = h.offset + h.length;
    while (j < provided.length && provided[j]!.offset + provided[j]!.length <= h.offset) j++;
    for (let k = j; k < provided.length && provided[k]!.offset < hEnd; k++) {
      const p = provided[k]!;
      // Sector-aligned (raw extents are file-system blocks; clipped to the child).
      const a = Math.floor(Math.max(h.offset, p.offset) / SECTOR) * SECTOR;
      const b = Math.min(Math.ceil(Math.min(hEnd, p.offset + p.length) / SECTOR) * SECTOR, size);
      if (b > a) out.push({ offset: a, length: b - a, zero: p.zero });
    }
  }
  return out;
}

async function fill(child: Qcow2Store, r: Provided, hasParent: boolean, tick: () => Promise<void>): Promise<void> {
  if (r.zero) {
    await child.writeZeroes(r.offset, r.length, false);
    return;
  }
  const buf = Buffer.allocUnsafe(Math.min(CHUNK, r.length));
  for (let off = r.offset; off < r.offset + r.length; off += CHUNK) {
    const n = Math.min(CHUNK, r.offset + r.length - off);
    const b = buf.subarray(0, n);
    await child.read(b, off);
    if (isZero(b)) {
      // Without a parent, unallocated reads as zeros after the rebase anyway.
      if (hasParent) await child.writeZeroes(off, n, false);
    } else {
      await child.write(b, off, false);
    }
    await tick();
  }
}

function isZero(b: Buffer): boolean {
  for (let i = 0; i < b.length; i += 8192) {
    const end = Math.min(b.length, i + 8192);
    if (b.subarray(i, end).some((x) => x !== 0)) return false;
  }
  return true;
}

export type MergeResult = 'merged' | 'already-rebased';

/**
 * Merge `deleted` into `childFile` (all names relative to `dir`) and rebase
 * the child onto `parent`. `tick` runs now and then during the copy.
 */
export async function mergeIntoChild(
  dir: string,
  childFile: string,
  deleted: ImageRef,
  parent: ImageRef | null,
  tick: () => Promise<void> = async () => undefined,
): Promise<MergeResult> {
  const childPath = path.join(dir, childFile);
  const h = await readQcow2Header(childPath);
  // A merge interrupted after its rebase (record not yet written) is done already.
  if (h.backingFile === (parent?.file ?? null)) return 'already-rebased';
  if (h.backingFile !== deleted.file) {
    throw new ClusterError(
      'ISCSI_ERR_SNAPSHOT_CHAIN',
      `image ${childPath} continues on '${h.backingFile ?? '(none)'}', not on ${deleted.file} as the record says: not changed`,
    );
  }
  const hasParent = parent !== null;
  const provided = await providedRanges(path.join(dir, deleted.file), deleted.format, hasParent);
  const child = await openQcow2Store(childPath);
  try {
    const holes = (await child.layerAllocation(0, child.sizeBytes)).filter((e) => e.state === 'unallocated');
    for (const r of intersect(holes, provided, child.sizeBytes)) await fill(child, r, hasParent, tick);
    await child.flush();
  } finally {
    await child.close();
  }
  await setQcow2BackingFile(childPath, parent?.file ?? null, parent?.format);
  return 'merged';
}
