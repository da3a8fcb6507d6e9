/**
 * Layouts of snapshot-list and snapshot-info (source 4.2.10.2, 4.2.10.4):
 * local time as YYYY-MM-DD HH:MM:SS, `*` in column C for the current
 * snapshot, a first snapshot's parent as the all-zero UUID. The document
 * shortens UUIDs with "..."; we print them whole (snapshot-switch/-delete
 * need them).
 */
import { NULL_UUID, type SnapshotInfo, type SnapshotView } from '../../src/snapshots/index.js';

const two = (n: number) => String(n).padStart(2, '0');

export function localTime(iso: string): string {
  const d = new Date(iso);
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

export function formatSnapshotTable(list: SnapshotView[]): string {
  const lines = ['CREATED'.padEnd(21) + 'C  ' + 'UUID'.padEnd(38) + 'PARENT_UUID'];
  for (const s of list) {
    lines.push(localTime(s.created).padEnd(21) + (s.current ? '*' : ' ') + '  ' + s.uuid.padEnd(38) + (s.parent ?? NULL_UUID));
  }
  return lines.join('\n') + '\n';
}

export function formatSnapshotInfo(i: SnapshotInfo): string {
  return (
    [
      `Target: ${i.target}`,
      `LUN: ${i.lun}`,
      `Created: ${localTime(i.created)}`,
      `Parent: ${i.parent ?? NULL_UUID}`,
      `Description: ${i.description === '' ? 'None' : i.description}`,
    ].join('\n') + '\n'
  );
}
