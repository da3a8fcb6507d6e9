/**
 * Local control API of vstorage-iscsid: a Unix stream socket
 * (ISCSI_RUN_DIR/vstorage-iscsid.sock, mode 0660) carrying one JSON object per
 * line in each direction. A client may send several requests on one
 * connection; responses come back in order, each echoing the request's `id`.
 *
 * Requests:
 *   {"op":"ping"}                                  → {"ok":true,"hostId","pid","protocol":1}
 *   {"op":"status"[,"iqn"]}                        → {"ok":true,"hostId","pid","targets":[TargetStatus]}
 *   {"op":"start","iqn"}                           → {"ok":true,"iqn","alreadyRunning"}
 *   {"op":"stop","iqn"[,"force":true]}             → {"ok":true,"iqn","wasRunning"}
 *   {"op":"reload","iqn"[,"force":true]}           → {"ok":true,"iqn","reloaded"}
 *   {"op":"apply-luns","iqn"}                      → {"ok":true,"iqn","applied":[LUN IDs shown or hidden]}
 *   {"op":"lun-grow","iqn","lun":N,"size":BYTES}   → {"ok":true,"iqn","lun","sizeBytes"} (online grow, CAPACITY DATA HAS CHANGED)
 *   {"op":"alua-set","iqn","group":N,"state":S}    → {"ok":true,"iqn","group","state","previous"} (S: an ALUA state name,
 *                                                   src/scsi/alua.ts; applied to the running target at once)
 *   {"op":"portal-down","iqn","portal":"A:P"}      → {"ok":true,"iqn","portal","changed","dropped"} (stop listening on
 *   {"op":"portal-up","iqn","portal":"A:P"}        → {"ok":true,"iqn","portal","changed"}            one portal / resume)
 *   {"op":"snapshot","action":"create"|"switch"|"delete","iqn","lun":N[,"uuid"][,"description"]}
 *                                                  → {"ok":true,"iqn","lun","uuid"} (src/snapshots/daemon-op.ts; the LUN's
 *                                                   image is detached meanwhile, initiator I/O to it waits)
 * Errors: {"ok":false,"error":{"code":"ISCSI_ERR_...","message":"..."}}; a stop
 * or reload refused because initiators are logged in has code
 * ISCSI_ERR_SESSIONS_ACTIVE and carries "sessions":[SessionInfo].
 */
import type { PortGroupStatus, SessionInfo } from '../target/engine-api.js';

export const CONTROL_PROTOCOL_VERSION = 1;
/** Longest request or response line accepted. */
export const MAX_CONTROL_LINE = 1 << 20;

export type ControlRequest =
  | { id?: unknown; op: 'ping' }
  | { id?: unknown; op: 'status'; iqn?: string }
  | { id?: unknown; op: 'start'; iqn: string }
  | { id?: unknown; op: 'stop'; iqn: string; force?: boolean }
  | { id?: unknown; op: 'reload'; iqn: string; force?: boolean }
  | { id?: unknown; op: 'apply-luns'; iqn: string }
  | { id?: unknown; op: 'lun-grow'; iqn: string; lun: number; size: number }
  | { id?: unknown; op: 'alua-set'; iqn: string; group: number; state: string }
  | { id?: unknown; op: 'portal-down' | 'portal-up'; iqn: string; portal: string }
  | { id?: unknown; op: 'snapshot'; action: 'create' | 'switch' | 'delete'; iqn: string; lun: number; uuid?: string; description?: string };

export type ControlOp = ControlRequest['op'];

export interface TargetStatus {
  iqn: string;
  running: boolean;
  sessions: SessionInfo[];
  /** LUN IDs being served. */
  luns: number[];
  /** Set when the daemon tried to start the target and failed ("service failed"). */
  error?: { code: string; message: string };
  /** ALUA target port groups of a running target: states now, portals listening or not. */
  portGroups?: PortGroupStatus[];
}

export interface ControlError {
  code: string;
  message: string;
}

export type ControlResponse = { id?: unknown; ok: true; [k: string]: unknown } | { id?: unknown; ok: false; error: ControlError; sessions?: SessionInfo[] };

export interface PingResponse {
  ok: true;
  hostId: string;
  pid: number;
  protocol: number;
}

export interface StatusResponse {
  ok: true;
  hostId: string;
  pid: number;
  targets: TargetStatus[];
}
