/**
 * The daemon's control op for snapshots of a running target
 * (control-protocol.ts): {"op":"snapshot","action":"create"|"switch"|"delete",
 * "iqn","lun","uuid"?,"description"?}. The operation runs while the LUN's
 * image is detached (Daemon.withLunDetached): initiator I/O to the LUN
 * waits, and the image the record names afterwards is served.
 */
import { ClusterError } from '../cluster/errors.js';
import type { ClusterStore } from '../cluster/store.js';
import { parseLunId, validateIqn } from '../cluster/validate.js';
import { createSnapshot } from './create.js';
import { deleteSnapshot } from './delete.js';
import { locateSnapshot } from './locate.js';
import { parseSnapshotUuid } from './names.js';
import { switchSnapshot } from './switch.js';

export type Detach = <T>(iqn: string, lun: number, fn: () => Promise<T>) => Promise<T>;

export async function runSnapshotOp(store: ClusterStore, detach: Detach, req: Record<string, unknown>): Promise<Record<string, unknown>> {
  if (typeof req.iqn !== 'string') throw new ClusterError('ISCSI_ERR_BAD_REQUEST', 'op snapshot needs "iqn"');
  if (typeof req.lun !== 'number') throw new ClusterError('ISCSI_ERR_BAD_REQUEST', 'op snapshot needs "lun" (a number)');
  const iqn = validateIqn(req.iqn);
  const lun = parseLunId(req.lun);
  const opts = { imageDetached: true };
  switch (req.action) {
    case 'create': {
      if (req.description !== undefined && typeof req.description !== 'string') {
        throw new ClusterError('ISCSI_ERR_BAD_REQUEST', 'op snapshot: "description" must be a string');
      }
      const desc = req.description;
      const s = await detach(iqn, lun, () => createSnapshot(store, iqn, lun, desc, opts));
      return { iqn, lun, uuid: s.uuid };
    }
    case 'switch':
    case 'delete': {
      if (typeof req.uuid !== 'string') throw new ClusterError('ISCSI_ERR_BAD_REQUEST', `op snapshot ${req.action} needs "uuid"`);
      const uuid = parseSnapshotUuid(req.uuid);
      const place = await locateSnapshot(store, uuid);
      if (place.iqn !== iqn || place.lunId !== lun) {
        throw new ClusterError('ISCSI_ERR_SNAPSHOT_NOT_FOUND', `snapshot ${uuid} belongs to LUN ${place.lunId} of target ${place.iqn}, not LUN ${lun} of ${iqn}`);
      }
      const action = req.action;
      await detach(iqn, lun, () => (action === 'switch' ? switchSnapshot(store, uuid, opts) : deleteSnapshot(store, uuid, opts)));
      return { iqn, lun, uuid };
    }
    default:
      throw new ClusterError('ISCSI_ERR_BAD_REQUEST', `op snapshot: unknown action ${JSON.stringify(req.action)} (create, switch or delete)`);
  }
}
