/**
 * Finding a LUN or a snapshot in the records, and the preconditions of the
 * changing operations (source 4.2.10 notes: switch and delete only while the
 * LUN is offline).
 */
import { ClusterError } from '../cluster/errors.js';
import type { LunRecord, SnapshotRecord, TargetRecord } from '../cluster/records.js';
import type { ClusterStore } from '../cluster/store.js';
import type { SnapshotOptions } from './options.js';
import { removeOrphans } from './orphans.js';

export function lunOf(rec: TargetRecord, id: number): LunRecord {
  const lun = rec.luns.find((l) => l.id === id);
  if (!lun) throw new ClusterError('ISCSI_ERR_LUN_NOT_FOUND', `target ${rec.iqn} has no LUN ${id}`);
  return lun;
}

export interface SnapshotPlace {
  iqn: string;
  lunId: number;
}

function notFound(uuid: string): ClusterError {
  return new ClusterError('ISCSI_ERR_SNAPSHOT_NOT_FOUND', `no LUN has a snapshot ${uuid} (see vstorage-iscsi snapshot-list -t IQN -l ID)`);
}

/** The target and LUN a snapshot belongs to (UUIDs are unique across ISCSI_ROOT). */
export async function locateSnapshot(store: ClusterStore, uuid: string): Promise<SnapshotPlace> {
  for (const rec of await store.listTargets()) {
    for (const lun of rec.luns) {
      if (lun.snapshots?.some((s) => s.uuid === uuid)) return { iqn: rec.iqn, lunId: lun.id };
    }
  }
  throw notFound(uuid);
}

/** The snapshot in a freshly read record (it may have gone since locateSnapshot). */
export function snapshotIn(lun: LunRecord, uuid: string): SnapshotRecord {
  const s = lun.snapshots?.find((x) => x.uuid === uuid);
  if (!s) throw notFound(uuid);
  return s;
}

/**
 * In-process (not from the daemon), the image must not be open anywhere:
 * the target's desired state says whether a daemon serves it. Run under the
 * target lock, so no daemon starts it meanwhile.
 */
export function assertImageFree(rec: TargetRecord, opts: SnapshotOptions, action: string): void {
  if (opts.imageDetached || rec.desiredState !== 'running') return;
  const where = rec.host === null ? '' : ` on host ${rec.host}`;
  throw new ClusterError(
    'ISCSI_ERR_TARGET_RUNNING',
    `target ${rec.iqn} is running${where}: ${action} there through its daemon (run the command on that host), or stop the target first`,
  );
}

/** Source 4.2.10.3/4.2.10.5 notes: switch and delete only while the LUN is offline. */
export function assertOffline(rec: TargetRecord, lun: LunRecord, action: string): void {
  if (lun.online !== false) {
    throw new ClusterError(
      'ISCSI_ERR_LUN_ONLINE',
      `LUN ${lun.id} of target ${rec.iqn} is online: ${action} needs it offline first ` +
        `(vstorage-iscsi lun-set -t ${rec.iqn} -l ${lun.id} --offline; afterwards --online)`,
    );
  }
}

/**
 * The start of snapshot-switch and snapshot-delete inside the target lock:
 * the LUN and the snapshot from the fresh record, the preconditions, and
 * the orphans of an earlier crash removed.
 */
export async function beginOfflineChange(
  store: ClusterStore,
  rec: TargetRecord,
  lunId: number,
  uuid: string,
  opts: SnapshotOptions,
  action: string,
): Promise<{ lun: LunRecord; snap: SnapshotRecord }> {
  const lun = lunOf(rec, lunId);
  const snap = snapshotIn(lun, uuid);
  assertOffline(rec, lun, action);
  assertImageFree(rec, opts, action);
  await removeOrphans(store, rec.iqn, lun);
  return { lun, snap };
}
