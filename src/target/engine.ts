/**
 * The iSCSI engine: running targets, portal listeners shared between targets,
 * and the session table (TSIH allocation, session reinstatement, RFC 7143 §6.3.5).
 */
import { randomBytes } from 'node:crypto';
import type { AuthPolicy, EngineOptions, PortalDefinition, PortGroupStatus, SessionInfo, StopResult, TargetDefinition, TargetEngine } from './engine-api.js';
import { Connection, type ConnectionEnvironment, type ConnectionTimers, type TransportSocket } from './connection.js';
import { PortalListener } from './portal-listener.js';
import type { LoginContext, LoginTargetInfo, NegotiatedLogin } from './login/login-state-machine.js';
import { ScsiTargetDevice } from '../scsi/scsi-target-device.js';
import type { ItNexus, TargetPortInfo } from '../scsi/types.js';
import type { CopyTarget } from '../scsi/spc/extended-copy-manager.js';
import type { DiscoverableTarget } from './discovery.js';
import { TARGET_LIMITS } from './target-limits.js';
import { TargetPortGroups, type AluaStateName } from '../scsi/alua.js';

interface RunningTarget {
  def: TargetDefinition;
  device: ScsiTargetDevice;
  ports: Map<string, TargetPortInfo>;
  /** ALUA access states of its port groups (SPC-4 §5.15). */
  groups: TargetPortGroups;
  /** Portals (portalKey) not listened on (`portal-down`): a failed path, for tests and maintenance. */
  down: Set<string>;
}

/** An engine error with a stable code (DESIGN.md §9), as the control API passes it on. */
function engineError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

export interface EngineTuning {
  timers?: Partial<ConnectionTimers>;
  random?: (n: number) => Buffer;
  /** Sessions the engine admits at once; more get "out of resources" (default 4096). */
  maxSessions?: number;
}

const DEFAULT_TIMERS: ConnectionTimers = { nopInIntervalMs: 5000, nopInTimeoutMs: 15000, loginTimeoutMs: 15000 };

export function portalKey(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

export function targetPortName(iqn: string, tpgt: number): string {
  // SPC-4 §7.8.6.x / RFC 7143 §13: iSCSI target port name = <name>,t,0x<TPGT>.
  return `${iqn},t,0x${tpgt.toString(16).padStart(4, '0')}`;
}

export class IscsiEngine implements TargetEngine {
  private readonly targets = new Map<string, RunningTarget>();
  private readonly listeners = new Map<string, PortalListener>();
  private readonly connections = new Set<Connection>();
  private readonly timers: ConnectionTimers;
  private readonly random: (n: number) => Buffer;
  private nextTsih = 1;
  private readonly maxSessions: number;

  constructor(
    private readonly opts: EngineOptions,
    tuning: EngineTuning = {},
  ) {
    this.timers = { ...DEFAULT_TIMERS, ...tuning.timers };
    this.random = tuning.random ?? ((n) => randomBytes(n));
    this.maxSessions = tuning.maxSessions ?? 4096;
  }

  // ---------------------------------------------------------------- targets

  async startTarget(def: TargetDefinition): Promise<void> {
    if (this.targets.has(def.iqn)) throw new Error(`target ${def.iqn} is already running`);
    const ports = new Map<string, TargetPortInfo>();
    for (const p of def.portals) {
      ports.set(portalKey(p.address, p.port), {
        relativePortId: p.relativePortId,
        tpgt: p.tpgt,
        portGroupId: p.portGroupId,
        name: targetPortName(def.iqn, p.tpgt),
      });
    }
    const groups = new TargetPortGroups(def.portGroups ?? [], { explicit: def.aluaExplicit === true });
    const device = new ScsiTargetDevice({
      alua: groups,
      log: (level, msg, ctx) => this.opts.log(level, msg, ctx),
      targetIqn: def.iqn,
      // Offline LUNs exist but are hidden (the device keeps them for setLunOnline).
      luns: def.luns,
      ports: [...ports.values()],
      persistentReservations: def.persistentReservations,
      // PREEMPT AND ABORT (SPC-4 §5.13.11.2.5): the preempted I_T nexuses' tasks.
      abortTasks: (ids, lun) => this.abortNexusTasks(def.iqn, ids, lun),
      // EXTENDED COPY to and from LUNs of the daemon's other targets.
      copyTargets: (naa, nexus) => this.copyTargetElsewhere(def.iqn, naa, nexus),
    });
    const running: RunningTarget = { def, device, ports, groups, down: new Set() };
    this.targets.set(def.iqn, running);
    const opened: PortalDefinition[] = [];
    try {
      for (const p of def.portals) {
        await this.acquireListener(p);
        opened.push(p);
      }
    } catch (err) {
      for (const p of opened) await this.releaseListener(p);
      this.targets.delete(def.iqn);
      throw err;
    }
    this.opts.log('info', 'target started', { target: def.iqn, portals: def.portals.map((p) => portalKey(p.address, p.port)).join(' ') });
  }

  async stopTarget(iqn: string, opts: { force: boolean }): Promise<StopResult> {
    const t = this.targets.get(iqn);
    if (!t) return { stopped: true, sessions: [] };
    const sessions = this.sessions(iqn);
    const normal = [...this.connections].filter((c) => c.targetIqn === iqn);
    if (normal.length > 0 && !opts.force) return { stopped: false, sessions };
    this.targets.delete(iqn);
    for (const c of normal) c.fail('target stopped');
    for (const p of t.def.portals) if (!t.down.has(portalKey(p.address, p.port))) await this.releaseListener(p);
    this.opts.log('info', 'target stopped', { target: iqn, forced: opts.force, sessions: sessions.length });
    return { stopped: true, sessions };
  }

  isRunning(iqn: string): boolean {
    return this.targets.has(iqn);
  }

  /** Show or hide a LUN of a running target (`lun-set --online/--offline`); false when the target or LUN is unknown. */
  setLunOnline(iqn: string, lunId: number, online: boolean): boolean {
    const device = this.targets.get(iqn)?.device;
    if (!device?.logicalUnit(lunId)) return false;
    device.setLunOnline(lunId, online);
    return true;
  }

  /** Online `lun-grow`: the store already has its new size; initiators learn it from a unit attention. */
  lunCapacityChanged(iqn: string, lunId: number): boolean {
    const device = this.targets.get(iqn)?.device;
    if (!device?.logicalUnit(lunId)) return false;
    device.capacityChanged(lunId);
    return true;
  }

  private running(iqn: string): RunningTarget {
    const t = this.targets.get(iqn);
    if (!t) throw engineError('ISCSI_ERR_TARGET_NOT_RUNNING', `target ${iqn} is not running here`);
    return t;
  }

  /** `alua-set` on a running target: an implicit ALUA transition (SPC-4 §5.15.2); returns the previous state. */
  setPortGroupState(iqn: string, groupId: number, state: AluaStateName): AluaStateName {
    const t = this.running(iqn);
    if (!t.def.portals.some((p) => p.portGroupId === groupId)) {
      const ids = [...new Set(t.def.portals.map((p) => p.portGroupId))].sort((a, b) => a - b);
      throw engineError('ISCSI_ERR_GROUP_NOT_FOUND', `target ${iqn} has no target port group ${groupId} (its groups: ${ids.join(', ')})`);
    }
    const previous = t.groups.stateName(groupId);
    t.device.setPortGroupStates([{ id: groupId, state }]);
    return previous;
  }

  portGroups(iqn: string): PortGroupStatus[] | undefined {
    const t = this.targets.get(iqn);
    if (!t) return undefined;
    const out = new Map<number, PortGroupStatus>();
    for (const p of [...t.def.portals].sort((a, b) => a.portGroupId - b.portGroupId || a.relativePortId - b.relativePortId)) {
      let g = out.get(p.portGroupId);
      if (!g) out.set(p.portGroupId, (g = { id: p.portGroupId, state: t.groups.stateName(p.portGroupId), portals: [] }));
      const listening = !t.down.has(portalKey(p.address, p.port));
      g.portals.push({ address: p.address, port: p.port, relativePortId: p.relativePortId, tpgt: p.tpgt, listening });
    }
    return [...out.values()];
  }

  /** `portal-down` / `portal-up`: stop or resume listening on one portal of a running target. */
  async setPortalListening(iqn: string, address: string, port: number, listening: boolean): Promise<{ changed: boolean; dropped: number }> {
    const t = this.running(iqn);
    const key = portalKey(address, port);
    const p = t.def.portals.find((q) => portalKey(q.address, q.port) === key);
    if (!p) throw engineError('ISCSI_ERR_PORTAL_NOT_FOUND', `target ${iqn} has no portal ${key}`);
    if (listening === !t.down.has(key)) return { changed: false, dropped: 0 };
    if (listening) {
      await this.acquireListener(p);
      t.down.delete(key);
      this.opts.log('info', 'portal up', { target: iqn, portal: key });
      return { changed: true, dropped: 0 };
    }
    t.down.add(key);
    let dropped = 0;
    // Everything that came in through it goes (discovery sessions too: a listener closes once its connections are gone).
    for (const c of [...this.connections]) {
      if (c.localKey !== key || c.closed || (c.targetIqn !== undefined && c.targetIqn !== iqn)) continue;
      if (c.targetIqn === iqn) dropped++;
      c.fail('portal down');
    }
    await this.releaseListener(p);
    this.opts.log('info', 'portal down', { target: iqn, portal: key, dropped });
    return { changed: true, dropped };
  }

  /** The SCSI device of a running target (LUN changes, capacity changes). */
  device(iqn: string): ScsiTargetDevice | undefined {
    return this.targets.get(iqn)?.device;
  }

  /**
   * EXTENDED COPY (src/scsi/spc/extended-copy-manager.ts): the online LUN
   * with NAA designator `naa` on a running target other than `from`, when
   * the initiator of `nexus` is allowed there and logged in to it; its
   * reservations are checked against that session's I_T nexus. A copy never
   * reaches a LUN its initiator could not address itself.
   */
  private copyTargetElsewhere(from: string, naa: string, nexus: ItNexus): CopyTarget | undefined {
    for (const t of this.targets.values()) {
      if (t.def.iqn === from) continue;
      const lu = t.device.lunByNaa(naa);
      if (!lu) continue;
      if (t.def.initiatorAllowed && !t.def.initiatorAllowed(nexus.initiatorName)) return undefined;
      for (const c of this.connections) {
        const there = c.itNexus;
        if (c.closed || c.targetIqn !== t.def.iqn || !there || there.initiatorName !== nexus.initiatorName) continue;
        return { lu, conflicts: (write) => t.device.copyAccessConflicts(lu, there, write) };
      }
      return undefined;
    }
    return undefined;
  }

  sessions(iqn?: string): SessionInfo[] {
    const out: SessionInfo[] = [];
    for (const c of this.connections) {
      if (!c.negotiated || c.negotiated.sessionType !== 'Normal' || c.closed) continue;
      if (iqn !== undefined && c.targetIqn !== iqn) continue;
      out.push({
        targetIqn: c.targetIqn ?? '',
        initiatorName: c.negotiated.initiatorName,
        initiatorAddress: c.remoteAddress,
        isid: c.negotiated.isid,
        tsih: c.tsih,
        portal: portalKey(c.socket.localAddress ?? '', c.socket.localPort ?? 0),
      });
    }
    return out;
  }

  async close(): Promise<void> {
    for (const iqn of [...this.targets.keys()]) await this.stopTarget(iqn, { force: true });
    for (const c of this.connections) c.fail('engine closing');
    for (const l of this.listeners.values()) await l.close();
    this.listeners.clear();
  }

  // ---------------------------------------------------------------- listeners

  private async acquireListener(p: PortalDefinition): Promise<void> {
    const key = portalKey(p.address, p.port);
    let l = this.listeners.get(key);
    if (!l) {
      l = new PortalListener(p.address, p.port, (socket) => this.onConnection(socket, p.address, p.port), this.opts.log);
      this.listeners.set(key, l);
      try {
        await l.listen();
      } catch (err) {
        this.listeners.delete(key);
        throw err;
      }
    }
    l.users++;
  }

  private async releaseListener(p: PortalDefinition): Promise<void> {
    const key = portalKey(p.address, p.port);
    const l = this.listeners.get(key);
    if (!l) return;
    l.users--;
    if (l.users <= 0) {
      this.listeners.delete(key);
      await l.close();
      // Connections that arrived on this portal for other purposes (discovery) go too.
      for (const c of this.connections) if (c.localKey === key) c.fail('portal closed');
    }
  }

  /** Accept a connection that arrived on portal `address:port` (also used by protocol tests with an in-memory duplex). */
  onConnection(socket: TransportSocket, address: string, port: number): void {
    const conn = new Connection(socket, this.environment(address, port));
    conn.localKey = portalKey(address, port);
    this.connections.add(conn);
  }

  // ---------------------------------------------------------------- connection environment

  private environment(address: string, port: number): ConnectionEnvironment {
    const key = portalKey(address, port);
    return {
      localAddress: address,
      localPort: port,
      timers: this.timers,
      log: this.opts.log,
      loginContext: (conn) => this.loginContext(conn, key),
      sessionEstablished: (conn, login, tsih) => this.sessionEstablished(conn, login, tsih, key),
      discoverableTargets: (conn) => this.discoverable(conn),
      abortTasksElsewhere: (conn, scope) => this.abortElsewhere(conn, scope),
      dropAllSessions: (conn) => {
        for (const c of [...this.connections]) if (c !== conn && c.targetIqn === conn.targetIqn) c.fail('target cold reset');
        setImmediate(() => conn.fail('target cold reset'));
      },
      connectionClosed: (conn) => this.connections.delete(conn),
    };
  }

  private loginContext(conn: Connection, key: string): LoginContext {
    const listenerTpgt = (iqn: string) => this.targets.get(iqn)?.ports.get(key)?.tpgt;
    return {
      portalTpgt: 1,
      lookupTarget: (given: string): LoginTargetInfo | undefined => {
        // iSCSI names compare after stringprep, which maps them to lower case (RFC 3720 §3.2.6.2).
        const name = this.targets.has(given) ? given : given.toLowerCase();
        const t = this.targets.get(name);
        const tpgt = listenerTpgt(name);
        if (!t || tpgt === undefined) return undefined;
        return {
          iqn: t.def.iqn,
          alias: t.def.alias,
          tpgt,
          auth: () => t.def.auth(),
          initiatorAllowed: t.def.initiatorAllowed ? (n: string) => t.def.initiatorAllowed!(n) : undefined,
        };
      },
      discoveryAuth: (): AuthPolicy => this.opts.discoveryAuth(),
      random: this.random,
      limits: TARGET_LIMITS,
      admit: (result: NegotiatedLogin) => this.admit(conn, result),
    };
  }

  /** RFC 7143 §6.3.5: TSIH 0 with an existing I_T nexus reinstates (closes) the old session. */
  private admit(conn: Connection, result: NegotiatedLogin): { tsih: number } | { statusClass: number; statusDetail: number } {
    if (result.tsih !== 0) {
      const existing = [...this.connections].find((c) => c !== conn && c.tsih === result.tsih && !c.closed);
      // Session does not exist (0x020a), or a second connection: we negotiate MaxConnections=1 (0x0206 too many connections).
      return existing ? { statusClass: 0x02, statusDetail: 0x06 } : { statusClass: 0x02, statusDetail: 0x0a };
    }
    const established = [...this.connections].filter((c) => c !== conn && c.negotiated && !c.closed).length;
    // RFC 7143 §11.13.5: 0x0302 "out of resources".
    if (established >= this.maxSessions) return { statusClass: 0x03, statusDetail: 0x02 };
    // The session identity includes the target portal group (RFC 7143 §4.4.3: ISID, initiator, target, TPGT):
    // one ISID through two portal groups is two sessions (multipath), not a reinstatement.
    const tpgtOf = (c: Connection, target: string | undefined) => (target === undefined ? undefined : this.targets.get(target)?.ports.get(c.localKey)?.tpgt);
    const tpgt = tpgtOf(conn, result.targetName ?? undefined);
    for (const c of [...this.connections]) {
      if (c === conn || !c.negotiated || c.closed) continue;
      if (
        c.negotiated.initiatorName === result.initiatorName &&
        c.negotiated.isid === result.isid &&
        c.targetIqn === (result.targetName ?? undefined) &&
        tpgtOf(c, c.targetIqn) === tpgt
      ) {
        c.fail('session reinstatement');
      }
    }
    return { tsih: this.allocateTsih() };
  }

  private allocateTsih(): number {
    const used = new Set([...this.connections].map((c) => c.tsih));
    for (let i = 0; i < 0xffff; i++) {
      const t = this.nextTsih;
      this.nextTsih = this.nextTsih >= 0xffff ? 1 : this.nextTsih + 1;
      if (!used.has(t)) return t;
    }
    return 0;
  }

  private sessionEstablished(conn: Connection, login: NegotiatedLogin, _tsih: number, key: string) {
    if (login.sessionType !== 'Normal' || !login.targetName) return { device: undefined, nexus: undefined, targetIqn: undefined };
    const t = this.targets.get(login.targetName);
    const port = t?.ports.get(key);
    if (!t || !port) return { device: undefined, nexus: undefined, targetIqn: login.targetName };
    const initiatorPortName = `${login.initiatorName},i,0x${login.isid}`;
    const nexus: ItNexus = {
      id: `${initiatorPortName}|${port.relativePortId}`,
      initiatorName: login.initiatorName,
      isid: login.isid,
      initiatorPortName,
      targetPort: port,
    };
    t.device.nexusAdded(nexus);
    conn.onClose(() => t.device.nexusRemoved(nexus));
    return { device: t.device, nexus, targetIqn: t.def.iqn };
  }

  private discoverable(conn: Connection): DiscoverableTarget[] {
    const initiator = conn.negotiated?.initiatorName ?? '';
    const out: DiscoverableTarget[] = [];
    for (const t of this.targets.values()) {
      if (t.def.initiatorAllowed && !t.def.initiatorAllowed(initiator)) continue;
      const up = t.def.portals.filter((p) => !t.down.has(portalKey(p.address, p.port)));
      out.push({ iqn: t.def.iqn, portals: up.map((p) => ({ address: p.address, port: p.port, tpgt: p.tpgt })) });
    }
    return out;
  }

  /** Abort the tasks for `lun` of the sessions of these I_T nexuses (ids) of target `iqn`. */
  private async abortNexusTasks(iqn: string, nexusIds: string[], lun: number): Promise<void> {
    const ids = new Set(nexusIds);
    const waits: Promise<void>[] = [];
    for (const c of this.connections) {
      const n = c.itNexus;
      if (c.targetIqn !== iqn || !c.session || !n || !ids.has(n.id)) continue;
      waits.push(c.session.abortTasks((t) => t.lun === lun));
    }
    await Promise.all(waits);
  }

  private async abortElsewhere(conn: Connection, scope: { lun?: number }): Promise<void> {
    const waits: Promise<void>[] = [];
    for (const c of this.connections) {
      if (c === conn || c.targetIqn !== conn.targetIqn || !c.session) continue;
      waits.push(c.session.abortTasks((t) => scope.lun === undefined || t.lun === scope.lun));
    }
    await Promise.all(waits);
  }
}

export function createTargetEngine(opts: EngineOptions, tuning?: EngineTuning): TargetEngine & IscsiEngine {
  return new IscsiEngine(opts, tuning);
}
