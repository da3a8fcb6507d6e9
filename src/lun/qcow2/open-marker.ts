/**
 * Unclean-close detection for qcow2 images without touching the image's
 * header (no dirty bit, no custom feature bits: the qcow2 spec's dirty bit
 * means "lazy refcounts", which we do not use).
 *
 * A read-write open makes `.<image name>.open` in the image's directory
 * durable (file and directory fsync) before anything is written; a clean
 * close removes it after its final metadata sync. A marker found at a
 * read-write open means the last writer did not close cleanly (kill -9,
 * power loss, I/O error at close): the store then reclaims leaked clusters
 * (reclaim-leaks.ts) before serving. Read-only opens ignore markers.
 *
 * The dot name matches none of the image or temporary names the ISCSI_ROOT
 * store and src/snapshots create or remove (lun-<id>.qcow2, lun-<id>-<hex>.qcow2,
 * .lun-<id>-<hex>.qcow2.<hex>.tmp, pr-*.json).
 */
import fs from 'node:fs/promises';
import path from 'node:path';

/** Path of the open marker of `image`: `.<name>.open` beside it. */
export function openMarkerPath(image: string): string {
  return path.join(path.dirname(image), `.${path.basename(image)}.open`);
}

export async function openMarkerExists(image: string): Promise<boolean> {
  try {
    await fs.lstat(openMarkerPath(image));
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await fs.open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Create (or refresh) the marker and make it durable. */
export async function createOpenMarker(image: string): Promise<void> {
  const fh = await fs.open(openMarkerPath(image), 'w', 0o600);
  try {
    await fh.writeFile(`pid ${process.pid} opened ${new Date().toISOString()}\n`);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fsyncDir(path.dirname(image));
}

/** Remove the marker (if any) and make the removal durable. */
export async function removeOpenMarker(image: string): Promise<void> {
  try {
    await fs.unlink(openMarkerPath(image));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  await fsyncDir(path.dirname(image));
}
