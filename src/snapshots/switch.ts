/**
 * `snapshot-switch -u UUID` (source 4.2.10.3): the LUN continues on a new
 * empty top over the chosen snapshot; the current top image is removed
 * ("After you switch to a snapshot, the current LUN image will be
 * removed"). Only while the LUN is offline. The old top is removed after
 * the record no longer names it (DESIGN.md §6).
 */
import type { ClusterStore } from '../cluster/store.js';
import { beginOfflineChange, locateSnapshot } from './locate.js';
import { DEFAULT_CLUSTER_SIZE, makeTop } from './new-top.js';
import { parseSnapshotUuid } from './names.js';
import { removeUnnamed } from './orphans.js';
import { reach, type SnapshotOptions } from './options.js';

export async function switchSnapshot(store: ClusterStore, uuidIn: string, opts: SnapshotOptions): Promise<{ iqn: string; lun: number }> {
  const uuid = parseSnapshotUuid(uuidIn);
  const { iqn, lunId } = await locateSnapshot(store, uuid);
  let made: string | undefined;
  let old: string | undefined;
  try {
    await store.updateTarget(iqn, async (rec) => {
      const { lun, snap } = await beginOfflineChange(store, rec, lunId, uuid, opts, 'snapshot-switch');
      made = await makeTop(store, rec.iqn, lun, { file: snap.file, format: snap.format }, opts);
      await reach(opts, 'top-renamed');
      old = lun.file;
      lun.file = made;
      lun.format = 'qcow2';
      lun.clusterSize ??= DEFAULT_CLUSTER_SIZE;
      lun.base = uuid;
      await reach(opts, 'before-record');
    });
  } catch (e) {
    if (made) await removeUnnamed(store, iqn, lunId, [made]);
    throw e;
  }
  await reach(opts, 'after-record');
  if (old) await removeUnnamed(store, iqn, lunId, [old]);
  return { iqn, lun: lunId };
}
