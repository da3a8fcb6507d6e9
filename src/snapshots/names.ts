/**
 * Names of snapshot images in a target directory and of their temporary
 * files (DESIGN.md §6: new files are built under a temporary name and
 * renamed in place before the record that names them is written).
 *
 *   lun-<id>-<8 hex>.qcow2                   a top image made by src/snapshots
 *   .lun-<id>-<8 hex>.qcow2.<hex>.tmp        one being built
 */
import { randomBytes } from 'node:crypto';
import { ClusterError } from '../cluster/errors.js';

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The parent of a first snapshot, as snapshot-list and snapshot-info print it (source 4.2.10.2). */
export const NULL_UUID = '00000000-0000-0000-0000-000000000000';

/** `-u UUID`: RFC 4122 text form (8-4-4-4-12 hex digits), any case; returned lower case. */
export function parseSnapshotUuid(text: string): string {
  const u = String(text).trim().toLowerCase();
  if (!UUID_RE.test(u)) {
    throw new ClusterError('ISCSI_ERR_BAD_UUID', `'${text}' is not a snapshot UUID (like a1f54314-bc06-40c6-a587-965feb9d85bb; see snapshot-list)`);
  }
  return u;
}

export function newTopName(lunId: number): string {
  return `lun-${lunId}-${randomBytes(4).toString('hex')}.qcow2`;
}

export function tempNameOf(file: string): string {
  return `.${file}.${randomBytes(4).toString('hex')}.tmp`;
}

/**
 * Files that belong to this LUN alone: the images src/snapshots makes and
 * their temporaries, and the LUN's first image as `lun-add` made it
 * (`lun-<id>.qcow2`/`.raw`, cluster/store.ts), which a switch interrupted
 * after its record write leaves behind. With the LUN in the record and its
 * target lock held, none of them is anyone else's.
 */
export function isSnapshotImageName(lunId: number, name: string): boolean {
  return (
    new RegExp(`^lun-${lunId}-[0-9a-f]{8}\\.qcow2$`).test(name) ||
    new RegExp(`^\\.lun-${lunId}-[0-9a-f]{8}\\.qcow2\\.[0-9a-f]+\\.tmp$`).test(name) ||
    new RegExp(`^lun-${lunId}\\.(qcow2|raw)$`).test(name)
  );
}
