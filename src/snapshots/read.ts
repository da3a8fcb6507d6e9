/**
 * What snapshot-list and snapshot-info show (source 4.2.10.2, 4.2.10.4):
 * read-only views of the records.
 */
import type { ClusterStore } from '../cluster/store.js';
import { parseLunId } from '../cluster/validate.js';
import { locateSnapshot, lunOf, snapshotIn } from './locate.js';
import { parseSnapshotUuid } from './names.js';

export interface SnapshotView {
  uuid: string;
  /** null: the first of a chain (printed as the all-zero UUID). */
  parent: string | null;
  /** ISO 8601 (UTC). */
  created: string;
  description: string;
  /** The LUN's top continues on it (`*` in column C). */
  current: boolean;
  file: string;
  format: string;
}

export interface SnapshotInfo extends SnapshotView {
  target: string;
  lun: number;
}

export async function listSnapshots(store: ClusterStore, iqnIn: string, lunIdIn: number | string): Promise<SnapshotView[]> {
  const rec = await store.getTarget(store.resolveIqn(iqnIn));
  const lun = lunOf(rec, parseLunId(lunIdIn));
  return (lun.snapshots ?? []).map((s) => ({ ...s, current: lun.base === s.uuid }));
}

export async function snapshotInfo(store: ClusterStore, uuidIn: string): Promise<SnapshotInfo> {
  const uuid = parseSnapshotUuid(uuidIn);
  const { iqn, lunId } = await locateSnapshot(store, uuid);
  const lun = lunOf(await store.getTarget(iqn), lunId);
  const s = snapshotIn(lun, uuid);
  return { target: iqn, lun: lunId, ...s, current: lun.base === uuid };
}
