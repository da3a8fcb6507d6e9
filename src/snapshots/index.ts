/**
 * LUN snapshots (source 4.2.10; issue 3): chains of qcow2 images in the
 * target directory, described by LunRecord.snapshots/base (records.ts).
 *
 *   createSnapshot   freeze the top, continue on a new top over it
 *   switchSnapshot   discard the top, continue on a new top over a snapshot
 *   deleteSnapshot   remove a snapshot, merging it into its children
 *   listSnapshots / snapshotInfo   read-only views
 */
export { createSnapshot } from './create.js';
export { switchSnapshot } from './switch.js';
export { deleteSnapshot } from './delete.js';
export { listSnapshots, snapshotInfo, type SnapshotInfo, type SnapshotView } from './read.js';
export { NULL_UUID, parseSnapshotUuid } from './names.js';
export type { SnapshotOptions } from './options.js';
