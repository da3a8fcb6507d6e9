/**
 * What `list` shows (source 4.2.3): statuses, the table and the detail
 * layout, and the --json form.
 */
import type { ClusterStore } from '../../src/cluster/store.js';
import type { TargetRecord } from '../../src/cluster/records.js';
import { formatPortal, formatSizeM } from '../../src/cluster/validate.js';
import type { StatusResponse } from '../../src/daemon/control-protocol.js';
import type { SessionInfo } from '../../src/target/engine-api.js';

/** Source 4.2.3 "Status" values. */
export type TargetState = 'running' | 'stopped' | 'service failed' | 'remote' | 'unregistered';

export interface LunView {
  id: number;
  sizeBytes: number;
  usedBytes: number;
  online: boolean;
  naa: string;
  serial: string;
  /** Format of the top image: qcow2 or raw. */
  format: string;
  /** qcow2 cluster size in bytes. */
  clusterSize?: number;
  /** Number of snapshots (snapshot-list shows them). */
  snapshots: number;
}

export interface TargetView {
  iqn: string;
  name: string;
  description: string;
  status: TargetState;
  registered: boolean;
  host: string | null;
  desiredState: string;
  /** CHAP account initiators log in with (`-u`), or null: no authentication. */
  account: string | null;
  /** CHAP account the target answers mutual CHAP with (`--mutual-user`), or null. */
  mutualAccount: string | null;
  /** Initiator access list: `deny` never, and when `allow` has names only they. */
  initiators: TargetRecord['initiators'];
  portals: TargetRecord['portals'];
  luns: LunView[];
  sessions: SessionInfo[];
  /** Why the daemon could not start it, when it tried. */
  error?: { code: string; message: string };
}

/**
 * - unregistered: no node owns it; remote: another node owns it;
 * - for targets of this node: running when the daemon serves it; service
 *   failed when it should run but the daemon is down or failed to start it;
 *   stopped otherwise.
 */
export function targetState(rec: TargetRecord, hostId: string, daemon: StatusResponse | undefined): TargetState {
  if (rec.host === null) return 'unregistered';
  if (rec.host !== hostId) return 'remote';
  const t = daemon?.targets.find((x) => x.iqn === rec.iqn);
  if (t?.running) return 'running';
  return rec.desiredState === 'running' ? 'service failed' : 'stopped';
}

export async function targetView(store: ClusterStore, rec: TargetRecord, daemon: StatusResponse | undefined): Promise<TargetView> {
  const t = daemon?.targets.find((x) => x.iqn === rec.iqn);
  const luns: LunView[] = [];
  for (const l of rec.luns) {
    luns.push({
      id: l.id,
      sizeBytes: l.sizeBytes,
      usedBytes: await store.lunUsedBytes(rec.iqn, l),
      online: l.online,
      naa: l.naa,
      serial: l.serial,
      format: l.format,
      ...(l.clusterSize ? { clusterSize: l.clusterSize } : {}),
      snapshots: l.snapshots?.length ?? 0,
    });
  }
  const v: TargetView = {
    iqn: rec.iqn,
    name: rec.name,
    description: rec.description,
    status: targetState(rec, store.hostId, daemon),
    registered: rec.host !== null,
    host: rec.host,
    desiredState: rec.desiredState,
    account: rec.account,
    mutualAccount: rec.mutualAccount,
    initiators: rec.initiators,
    portals: rec.portals,
    luns,
    sessions: t?.sessions ?? [],
  };
  if (t?.error && rec.host === store.hostId) v.error = t.error;
  return v;
}

function portalsText(v: TargetView): string {
  return v.portals.map(formatPortal).join(',');
}

/**
 * The table of source 4.2.3. Each column is as wide as its longest entry
 * (header included) plus two spaces, which reproduces the document's data
 * rows exactly (its header line is not aligned to them; ours is).
 */
export function formatTable(views: TargetView[]): string {
  const header = ['IQN', 'STATUS', 'LUNs', 'HOST', 'PORTAL(s)'];
  const rows = views.map((v) => [v.iqn, v.status, String(v.luns.length), v.host ?? '-', portalsText(v)]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)) + 2);
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('').trimEnd();
  return [header, ...rows].map(line).join('\n') + '\n';
}

/**
 * The detail layout of source 4.2.2/4.2.3 (`list -t`), unchanged: the bound
 * CHAP accounts and other fields it does not define are in `list -t --json`.
 */
export function formatDetail(v: TargetView): string {
  const lines = [
    `Target ${v.iqn}:`,
    `Portals:    ${portalsText(v)}`,
    `Status:     ${v.status}`,
    `Registered: ${v.registered ? 'yes' : 'no'}`,
    `Host:       ${v.host ?? '-'}`,
  ];
  for (const l of v.luns) {
    lines.push(`LUN: ${l.id}, Size: ${formatSizeM(l.sizeBytes)}, Used: ${formatSizeM(l.usedBytes)}, Online: ${l.online ? 'Yes' : 'No'}`);
  }
  return lines.join('\n') + '\n';
}
