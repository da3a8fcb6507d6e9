/**
 * A new, empty qcow2 top image over a frozen image (snapshot-create,
 * snapshot-switch), built under a temporary name and renamed in place
 * (DESIGN.md §6). The backing file is stored by its name relative to the
 * target directory, as `qemu-img create -b NAME -F FMT` stores it, so
 * `qemu-img info --backing-chain` follows the chain (qcow2 spec "Header":
 * backing_file_offset; "Header extensions": backing file format name).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { fsyncDir } from '../cluster/atomic.js';
import type { LunRecord } from '../cluster/records.js';
import type { ClusterStore } from '../cluster/store.js';
import type { ImageFormat } from '../lun/open-store.js';
import { createQcow2Image } from '../lun/qcow2/index.js';
import { DEFAULT_CLUSTER_SIZE } from '../cluster/lun-images.js';
import { newTopName, tempNameOf } from './names.js';
import { reach, type SnapshotOptions } from './options.js';

export { DEFAULT_CLUSTER_SIZE };

/** Make the image durable before it becomes a read-only snapshot. */
export async function syncImage(file: string): Promise<void> {
  const fh = await fs.open(file, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Returns the new file's name (inside the target directory); it exists under that name when this returns. */
export async function makeTop(
  store: ClusterStore,
  iqn: string,
  lun: LunRecord,
  backing: { file: string; format: ImageFormat },
  opts: SnapshotOptions,
): Promise<string> {
  const dir = store.targetDir(iqn);
  const name = newTopName(lun.id);
  const tmp = path.join(dir, tempNameOf(name));
  try {
    await createQcow2Image(tmp, lun.sizeBytes, {
      clusterSize: lun.clusterSize ?? DEFAULT_CLUSTER_SIZE,
      backingFile: backing.file,
      backingFormat: backing.format,
    });
    await reach(opts, 'top-created');
    await fs.rename(tmp, path.join(dir, name));
  } catch (e) {
    await fs.rm(tmp, { force: true }).catch(() => undefined);
    throw e;
  }
  await fsyncDir(dir);
  return name;
}
