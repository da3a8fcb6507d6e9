/**
 * Client of the daemon's control socket (control-protocol.ts), used by the
 * CLI and the TUI.
 */
import net from 'node:net';
import { ClusterError, errnoCode } from '../cluster/errors.js';
import type { SessionInfo } from '../target/engine-api.js';
import {
  MAX_CONTROL_LINE,
  type ControlRequest,
  type ControlResponse,
  type PingResponse,
  type StatusResponse,
  type TargetStatus,
} from './control-protocol.js';

export interface CallOptions {
  /** Whole-call timeout (default 30 s; start/stop can bind listeners and drain sessions). */
  timeoutMs?: number;
}

/** Why the daemon could not be asked: it is not running, refused us, or did not answer. */
export type UnavailableReason = 'not-running' | 'denied' | 'timeout' | 'closed';

function unavailable(socketPath: string, reason: UnavailableReason, detail: string): ClusterError {
  const what =
    reason === 'not-running'
      ? `vstorage-iscsid is not running (no daemon listening on ${socketPath})`
      : reason === 'denied'
        ? `permission denied on the control socket ${socketPath} (run as root)`
        : reason === 'timeout'
          ? `vstorage-iscsid did not answer on ${socketPath} in time`
          : `vstorage-iscsid closed the connection on ${socketPath}`;
  return new ClusterError('ISCSI_ERR_DAEMON_UNAVAILABLE', `${what}${detail ? `: ${detail}` : ''}`, { reason });
}

export function callDaemon(socketPath: string, req: ControlRequest, opts: CallOptions = {}): Promise<ControlResponse> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  return new Promise((resolve, reject) => {
    let buf = '';
    let done = false;
    const sock = net.createConnection({ path: socketPath });
    const finish = (err: Error | null, res?: ControlResponse) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(res!);
    };
    const timer = setTimeout(() => finish(unavailable(socketPath, 'timeout', `no reply after ${timeoutMs} ms`)), timeoutMs);
    sock.setEncoding('utf8');
    sock.on('connect', () => sock.write(JSON.stringify(req) + '\n'));
    sock.on('data', (chunk: string) => {
      buf += chunk;
      const nl = buf.indexOf('\n');
      if (nl < 0) {
        if (buf.length > MAX_CONTROL_LINE) finish(new ClusterError('ISCSI_ERR_DAEMON_PROTOCOL', 'control reply too long'));
        return;
      }
      try {
        const v = JSON.parse(buf.slice(0, nl)) as ControlResponse;
        if (typeof v !== 'object' || v === null || typeof v.ok !== 'boolean') throw new Error('not a reply object');
        finish(null, v);
      } catch (e) {
        finish(new ClusterError('ISCSI_ERR_DAEMON_PROTOCOL', `bad reply from vstorage-iscsid: ${(e as Error).message}`));
      }
    });
    sock.on('error', (e) => {
      const c = errnoCode(e);
      if (c === 'ENOENT' || c === 'ECONNREFUSED' || c === 'ENOTDIR') finish(unavailable(socketPath, 'not-running', ''));
      else if (c === 'EACCES' || c === 'EPERM') finish(unavailable(socketPath, 'denied', ''));
      else finish(unavailable(socketPath, 'closed', e.message));
    });
    sock.on('close', () => finish(unavailable(socketPath, 'closed', 'no reply')));
  });
}

/** Turn an error reply into a ClusterError (code from the daemon, sessions in details). */
function check(res: ControlResponse): Record<string, unknown> {
  if (res.ok) return res;
  const details: Record<string, unknown> = {};
  if (res.sessions) details.sessions = res.sessions;
  // Codes come from the daemon, which uses the same ClusterErrorCode set.
  throw new ClusterError(res.error.code as ClusterError['code'], res.error.message, details);
}

export class DaemonClient {
  constructor(
    readonly socketPath: string,
    private readonly opts: CallOptions = {},
  ) {}

  async ping(timeoutMs = 3000): Promise<PingResponse> {
    return check(await callDaemon(this.socketPath, { op: 'ping' }, { timeoutMs })) as unknown as PingResponse;
  }

  async status(iqn?: string): Promise<StatusResponse> {
    const req: ControlRequest = iqn === undefined ? { op: 'status' } : { op: 'status', iqn };
    return check(await callDaemon(this.socketPath, req, { timeoutMs: this.opts.timeoutMs ?? 5000 })) as unknown as StatusResponse;
  }

  async start(iqn: string): Promise<{ alreadyRunning: boolean }> {
    const r = check(await callDaemon(this.socketPath, { op: 'start', iqn }, this.opts));
    return { alreadyRunning: r.alreadyRunning === true };
  }

  /** Throws ISCSI_ERR_SESSIONS_ACTIVE (details.sessions) when initiators are connected and not forced. */
  async stop(iqn: string, force: boolean): Promise<{ wasRunning: boolean }> {
    const r = check(await callDaemon(this.socketPath, { op: 'stop', iqn, force }, this.opts));
    return { wasRunning: r.wasRunning === true };
  }

  /** Change a port group's ALUA state on the running target; returns the previous state. */
  async aluaSet(iqn: string, group: number, state: string): Promise<{ previous: string }> {
    const r = check(await callDaemon(this.socketPath, { op: 'alua-set', iqn, group, state }, this.opts));
    return { previous: String(r.previous) };
  }

  /** Stop (false) or resume (true) listening on one portal of the running target. */
  async portalListening(iqn: string, portal: string, listening: boolean): Promise<{ portal: string; changed: boolean; dropped: number }> {
    const r = check(await callDaemon(this.socketPath, { op: listening ? 'portal-up' : 'portal-down', iqn, portal }, this.opts));
    return { portal: String(r.portal), changed: r.changed === true, dropped: typeof r.dropped === 'number' ? r.dropped : 0 };
  }

  async reload(iqn: string, force: boolean): Promise<{ reloaded: boolean }> {
    const r = check(await callDaemon(this.socketPath, { op: 'reload', iqn, force }, this.opts));
    return { reloaded: r.reloaded === true };
  }

  /** Grow a LUN of the running target (its image and record); initiators get CAPACITY DATA HAS CHANGED. */
  async lunGrow(iqn: string, lun: number, size: number): Promise<{ sizeBytes: number }> {
    const r = check(await callDaemon(this.socketPath, { op: 'lun-grow', iqn, lun, size }, this.opts));
    return { sizeBytes: Number(r.sizeBytes) };
  }

  /** Show or hide LUNs of a running target as its record says (lun-set). */
  async applyLuns(iqn: string): Promise<{ applied: number[] }> {
    const r = check(await callDaemon(this.socketPath, { op: 'apply-luns', iqn }, this.opts));
    return { applied: Array.isArray(r.applied) ? (r.applied as number[]) : [] };
  }

  /** A snapshot operation on a LUN of the running target (src/snapshots/daemon-op.ts); merges may take long. */
  async snapshot(req: { action: 'create' | 'switch' | 'delete'; iqn: string; lun: number; uuid?: string; description?: string }): Promise<{ uuid: string }> {
    const r = check(await callDaemon(this.socketPath, { op: 'snapshot', ...req }, { ...this.opts, timeoutMs: this.opts.timeoutMs ?? 3_600_000 }));
    return { uuid: String(r.uuid) };
  }
}

export function sessionsOf(e: unknown): SessionInfo[] {
  if (e instanceof ClusterError && Array.isArray(e.details?.sessions)) return e.details.sessions as SessionInfo[];
  return [];
}

export type { TargetStatus };
