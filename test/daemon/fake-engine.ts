/** A TargetEngine stand-in for daemon and CLI tests. */
import type { EngineOptions, SessionInfo, StopResult, TargetDefinition, TargetEngine } from '../../src/target/engine-api.js';

export class FakeEngine implements TargetEngine {
  readonly defs = new Map<string, TargetDefinition>();
  readonly fakeSessions = new Map<string, SessionInfo[]>();
  readonly calls: string[] = [];
  closed = false;
  /** Make the next startTarget fail with this error. */
  failNextStart: Error | undefined;

  constructor(readonly opts: EngineOptions) {}

  async startTarget(def: TargetDefinition): Promise<void> {
    this.calls.push(`start ${def.iqn}`);
    if (this.failNextStart) {
      const e = this.failNextStart;
      this.failNextStart = undefined;
      throw e;
    }
    if (this.defs.has(def.iqn)) throw new Error(`already running: ${def.iqn}`);
    this.defs.set(def.iqn, def);
  }

  async stopTarget(iqn: string, opts: { force: boolean }): Promise<StopResult> {
    this.calls.push(`stop ${iqn}${opts.force ? ' force' : ''}`);
    const sessions = this.sessions(iqn);
    if (sessions.length > 0 && !opts.force) return { stopped: false, sessions };
    this.defs.delete(iqn);
    this.fakeSessions.delete(iqn);
    this.lunOnline.delete(iqn);
    return { stopped: true, sessions };
  }

  isRunning(iqn: string): boolean {
    return this.defs.has(iqn);
  }

  sessions(iqn?: string): SessionInfo[] {
    if (iqn !== undefined) return this.fakeSessions.get(iqn) ?? [];
    return [...this.fakeSessions.values()].flat();
  }

  /** LUN IDs hidden by setLunOnline, per target (on top of the definition's online flags). */
  readonly lunOnline = new Map<string, Map<number, boolean>>();

  setLunOnline(iqn: string, lunId: number, online: boolean): boolean {
    const def = this.defs.get(iqn);
    if (!def?.luns.some((l) => l.id === lunId)) return false;
    this.calls.push(`lun ${iqn} ${lunId} ${online ? 'online' : 'offline'}`);
    const m = this.lunOnline.get(iqn) ?? new Map<number, boolean>();
    m.set(lunId, online);
    this.lunOnline.set(iqn, m);
    return true;
  }

  lunCapacityChanged(iqn: string, lunId: number): boolean {
    const def = this.defs.get(iqn);
    if (!def?.luns.some((l) => l.id === lunId)) return false;
    this.calls.push(`capacity ${iqn} ${lunId}`);
    return true;
  }

  /** LUN IDs an initiator would see now. */
  visibleLuns(iqn: string): number[] {
    const def = this.defs.get(iqn);
    if (!def) return [];
    const m = this.lunOnline.get(iqn);
    return def.luns.filter((l) => m?.get(l.id) ?? l.online).map((l) => l.id);
  }

  addSession(iqn: string, initiatorName: string, initiatorAddress: string): void {
    const list = this.fakeSessions.get(iqn) ?? [];
    list.push({ targetIqn: iqn, initiatorName, initiatorAddress, isid: '400001370000', tsih: list.length + 1, portal: '127.0.0.1:3260' });
    this.fakeSessions.set(iqn, list);
  }

  async close(): Promise<void> {
    this.calls.push('close');
    this.closed = true;
    this.defs.clear();
  }
}
