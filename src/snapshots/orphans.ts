/**
 * Image files of a LUN that no record names: left by a crash between making
 * a file and writing the record, or between writing the record and removing
 * a file (DESIGN.md §6). Removed at the start of the next snapshot
 * operation on the LUN, under the target lock; only names src/snapshots
 * makes (names.ts) are touched.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { LunRecord } from '../cluster/records.js';
import type { ClusterStore } from '../cluster/store.js';
import { isSnapshotImageName } from './names.js';
import { lunImageFiles } from '../cluster/lun-images.js';
import { openMarkerPath } from '../lun/qcow2/index.js';

export async function removeOrphans(store: ClusterStore, iqn: string, lun: LunRecord): Promise<string[]> {
  const dir = store.targetDir(iqn);
  const named = new Set(lunImageFiles(lun));
  const removed: string[] = [];
  for (const name of await fs.readdir(dir)) {
    if (named.has(name) || !isSnapshotImageName(lun.id, name)) continue;
    await fs.rm(path.join(dir, name), { force: true });
    await fs.rm(openMarkerPath(path.join(dir, name)), { force: true }); // its unclean-close marker, if any
    removed.push(name);
  }
  return removed;
}

/** Remove files after a record was written, unless the record (read again) still names them. */
export async function removeUnnamed(store: ClusterStore, iqn: string, lunId: number, files: string[]): Promise<void> {
  if (files.length === 0) return;
  let named = new Set<string>();
  try {
    const lun = (await store.getTarget(iqn)).luns.find((l) => l.id === lunId);
    if (lun) named = new Set(lunImageFiles(lun));
  } catch {
    return; // cannot tell: leave them (the next operation removes orphans)
  }
  for (const f of files) {
    if (named.has(f)) continue;
    await fs.rm(path.join(store.targetDir(iqn), f), { force: true }).catch(() => undefined);
    await fs.rm(openMarkerPath(path.join(store.targetDir(iqn), f)), { force: true }).catch(() => undefined);
  }
}
