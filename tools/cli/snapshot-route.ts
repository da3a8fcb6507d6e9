/**
 * Where a changing snapshot command runs (source 4.2.10; DESIGN.md §2):
 *  - target registered on this host and meant to run: its daemon does it,
 *    with the LUN's image detached (src/snapshots/daemon-op.ts);
 *  - running on another host: refused, run the command there;
 *  - otherwise (stopped or unregistered): in this process, which refuses,
 *    under the target lock, if the target was started meanwhile.
 */
import { ClusterError } from '../../src/cluster/errors.js';
import { createSnapshot, deleteSnapshot, switchSnapshot } from '../../src/snapshots/index.js';
import type { CliContext } from './context.js';

export type SnapshotAction =
  | { action: 'create'; iqn: string; lun: number; description?: string | undefined }
  | { action: 'switch' | 'delete'; iqn: string; lun: number; uuid: string };

export async function runSnapshotAction(ctx: CliContext, a: SnapshotAction): Promise<{ uuid: string }> {
  const store = await ctx.store();
  const rec = await store.getTarget(a.iqn);
  if (rec.desiredState === 'running' && rec.host !== null && rec.host !== store.hostId) {
    throw new ClusterError(
      'ISCSI_ERR_TARGET_REMOTE',
      `target ${a.iqn} runs on host ${rec.host}: run vstorage-iscsi snapshot-${a.action} on that host (its daemon owns the LUN's image)`,
    );
  }
  if (rec.desiredState === 'running' && rec.host === store.hostId) {
    return ctx.daemon.snapshot(a.action === 'create' ? { ...a, ...(a.description === undefined ? {} : { description: a.description }) } : a);
  }
  const opts = { imageDetached: false };
  switch (a.action) {
    case 'create':
      return { uuid: (await createSnapshot(store, a.iqn, a.lun, a.description, opts)).uuid };
    case 'switch':
      await switchSnapshot(store, a.uuid, opts);
      return { uuid: a.uuid };
    case 'delete':
      await deleteSnapshot(store, a.uuid, opts);
      return { uuid: a.uuid };
  }
}
