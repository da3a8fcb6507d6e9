/**
 * `snapshot-create -t IQN -l ID [-d TEXT]` (source 4.2.10.1): the LUN's top
 * image is frozen and becomes the snapshot; a new empty qcow2 top continues
 * on it. A raw LUN becomes a qcow2 top over its raw image. Allowed while the
 * LUN is online: from a running target's daemon with the image detached.
 *
 * Commit point (DESIGN.md §6): the record write. The new top exists under
 * its final name before it; if the record is not written it is removed.
 */
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import type { SnapshotRecord } from '../cluster/records.js';
import type { ClusterStore } from '../cluster/store.js';
import { parseLunId, validateDescription } from '../cluster/validate.js';
import { assertImageFree, lunOf } from './locate.js';
import { DEFAULT_CLUSTER_SIZE, makeTop, syncImage } from './new-top.js';
import { removeOrphans, removeUnnamed } from './orphans.js';
import { reach, type SnapshotOptions } from './options.js';

export async function createSnapshot(
  store: ClusterStore,
  iqnIn: string,
  lunIdIn: number | string,
  description: string | undefined,
  opts: SnapshotOptions,
): Promise<SnapshotRecord> {
  const lunId = parseLunId(lunIdIn);
  const desc = validateDescription(description ?? '');
  let made: string | undefined;
  let snap: SnapshotRecord | undefined;
  const iqn = store.resolveIqn(iqnIn);
  try {
    await store.updateTarget(iqn, async (rec) => {
      const lun = lunOf(rec, lunId);
      assertImageFree(rec, opts, 'snapshot-create');
      await removeOrphans(store, rec.iqn, lun);
      const frozen = { file: lun.file, format: lun.format };
      await syncImage(path.join(store.targetDir(rec.iqn), frozen.file));
      made = await makeTop(store, rec.iqn, lun, frozen, opts);
      await reach(opts, 'top-renamed');
      snap = {
        uuid: randomUUID(),
        parent: lun.base ?? null,
        file: frozen.file,
        format: frozen.format,
        created: (opts.now?.() ?? new Date()).toISOString(),
        description: desc,
      };
      lun.snapshots = [...(lun.snapshots ?? []), snap];
      lun.base = snap.uuid;
      lun.file = made;
      lun.format = 'qcow2';
      lun.clusterSize ??= DEFAULT_CLUSTER_SIZE;
      await reach(opts, 'before-record');
    });
  } catch (e) {
    if (made) await removeUnnamed(store, iqn, lunId, [made]);
    throw e;
  }
  return snap!;
}
