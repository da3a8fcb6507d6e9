/**
 * `snapshot-delete -u UUID` (source 4.2.10.5): a snapshot without children
 * is removed; one with children is merged into each child (merge.ts; the
 * document supports a single child only, we merge into every one). Only
 * while the LUN is offline.
 *
 * Children: snapshots whose parent it is, and the top when the LUN
 * continues on it. Commit point (DESIGN.md §6): the record write; the
 * snapshot's file is removed after it. Before it, every step keeps what
 * each image reads, so a failure or crash leaves the LUN as it was and the
 * delete can run again. On a failure, children already rebased are pointed
 * back at the snapshot (equivalent then: it contributes nothing they read).
 */
import path from 'node:path';
import type { ClusterStore } from '../cluster/store.js';
import { setQcow2BackingFile } from '../lun/qcow2/index.js';
import { beginOfflineChange, locateSnapshot } from './locate.js';
import { lockKeepAlive } from './lock-keepalive.js';
import { mergeIntoChild, type ImageRef } from './merge.js';
import { parseSnapshotUuid } from './names.js';
import { removeUnnamed } from './orphans.js';
import { reach, type SnapshotOptions } from './options.js';

export async function deleteSnapshot(store: ClusterStore, uuidIn: string, opts: SnapshotOptions): Promise<{ iqn: string; lun: number; merged: number }> {
  const uuid = parseSnapshotUuid(uuidIn);
  const { iqn, lunId } = await locateSnapshot(store, uuid);
  const rebased: string[] = [];
  let deleted: ImageRef | undefined;
  let merged = 0;
  let committed = false;
  try {
    await store.updateTarget(iqn, async (rec) => {
      const { lun, snap } = await beginOfflineChange(store, rec, lunId, uuid, opts, 'snapshot-delete');
      const snaps = lun.snapshots ?? [];
      const parentRec = snap.parent === null ? undefined : snaps.find((s) => s.uuid === snap.parent);
      const parent: ImageRef | null = parentRec ? { file: parentRec.file, format: parentRec.format } : null;
      deleted = { file: snap.file, format: snap.format };
      const children = snaps.filter((s) => s.parent === uuid).map((s) => s.file);
      if (lun.base === uuid) children.push(lun.file);
      const dir = store.targetDir(rec.iqn);
      const tick = lockKeepAlive(store, rec.iqn);
      for (const child of children) {
        const r = await mergeIntoChild(dir, child, deleted, parent, tick);
        rebased.push(child);
        if (r === 'merged') merged++;
        await reach(opts, 'child-merged');
      }
      for (const s of snaps) if (s.parent === uuid) s.parent = snap.parent;
      if (lun.base === uuid) lun.base = snap.parent;
      lun.snapshots = snaps.filter((s) => s.uuid !== uuid);
      if (lun.snapshots.length === 0) delete lun.snapshots;
      await reach(opts, 'before-record');
    });
    committed = true;
  } catch (e) {
    if (!committed && deleted && rebased.length > 0) await rebaseBack(store, iqn, lunId, uuid, deleted, rebased);
    throw e;
  }
  await reach(opts, 'after-record');
  await removeUnnamed(store, iqn, lunId, [deleted!.file]);
  return { iqn, lun: lunId, merged };
}

/** The record still has the snapshot: point the rebased children back at it (best effort). */
async function rebaseBack(store: ClusterStore, iqn: string, lunId: number, uuid: string, deleted: ImageRef, children: string[]): Promise<void> {
  try {
    const lun = (await store.getTarget(iqn)).luns.find((l) => l.id === lunId);
    if (!lun?.snapshots?.some((s) => s.uuid === uuid)) return;
    for (const c of children) await setQcow2BackingFile(path.join(store.targetDir(iqn), c), deleted.file, deleted.format);
  } catch {
    // Reads are right either way; a repeated delete finds the child rebased already.
  }
}
