/**
 * vstorage-iscsid core: turns ISCSI_ROOT records into running targets on this
 * node (DESIGN.md §3, §4) and answers the control API (control-protocol.ts).
 *
 * - Starts targets registered to this host whose desired state is running.
 * - start/stop/reload hold the target's record lock while they open LUN
 *   images and start or stop the engine, and record the desired state, so
 *   CLI changes (lun-grow, set, delete) never interleave with them.
 * - auth() reads the target's accounts (one-way and mutual CHAP) and their
 *   secrets from the store at every login, so `account-set`, `set -u` and
 *   `set --mutual-user` apply to the next login without a restart. If an
 *   account cannot be read, logins are refused (fail closed) rather than let
 *   in without CHAP or with half the configured authentication.
 */
import { randomBytes } from 'node:crypto';
import type { AuthPolicy, EngineOptions, SessionInfo, TargetDefinition, TargetEngine } from '../target/engine-api.js';
import type { BlockStore } from '../lun/block-store.js';
import { openStore } from '../lun/open-store.js';
import { SwitchableStore } from '../lun/switchable-store.js';
import { assertWholeBlocks } from '../cluster/lun-images.js';
import { ClusterError } from '../cluster/errors.js';
import type { IscsiConfig } from '../cluster/config.js';
import type { ClusterStore } from '../cluster/store.js';
import type { LunRecord, TargetRecord } from '../cluster/records.js';
import { validateIqn } from '../cluster/validate.js';
import { findPortal, parseAluaStateArg } from '../cluster/port-groups.js';
import { PrStore } from '../cluster/pr-store.js';
import { initiatorAllowed } from '../cluster/access.js';
import type { InitiatorAccess } from '../cluster/records.js';
import type { Logger } from './log.js';
import { CONTROL_PROTOCOL_VERSION, type ControlError, type ControlResponse, type TargetStatus } from './control-protocol.js';
import { runSnapshotOp } from '../snapshots/daemon-op.js';

export type EngineFactory = (opts: EngineOptions) => TargetEngine;

export interface DaemonOptions {
  config: IscsiConfig;
  store: ClusterStore;
  engineFactory: EngineFactory;
  log: Logger;
  /** Opens a LUN image (tests inject fakes). */
  openStore?: (path: string, format: string) => Promise<BlockStore>;
}

/** The CHAP accounts bound to a target or to discovery sessions. */
interface AccountBinding {
  /** One-way CHAP: initiators log in with it. */
  account: string | null;
  /** Mutual CHAP: the target authenticates itself with it. */
  mutualAccount: string | null;
}

interface RunningTarget {
  /** One per LUN of `rec`, in its order; swappable for snapshots and online growth. */
  stores: SwitchableStore[];
  luns: number[];
  /** The record it was started from (reload falls back to it). */
  rec: TargetRecord;
}

export function toControlError(e: unknown): ControlError {
  if (e && typeof e === 'object') {
    const code = (e as { code?: unknown }).code;
    const message = (e as { message?: unknown }).message;
    return {
      code: typeof code === 'string' ? code : 'ISCSI_ERR_INTERNAL',
      message: typeof message === 'string' ? message : String(e),
    };
  }
  return { code: 'ISCSI_ERR_INTERNAL', message: String(e) };
}

async function closeAll(stores: BlockStore[], log: Logger): Promise<void> {
  for (const s of stores) {
    await s.close().catch((e: unknown) => log.warn('closing a LUN image failed', { error: e }));
  }
}

export class Daemon {
  readonly engine: TargetEngine;
  readonly hostId: string;
  private readonly store: ClusterStore;
  private readonly config: IscsiConfig;
  private readonly log: Logger;
  private readonly open: (path: string, format: string) => Promise<BlockStore>;
  private readonly running = new Map<string, RunningTarget>();
  private readonly failed = new Map<string, ControlError>();
  private readonly queues = new Map<string, Promise<unknown>>();
  /** Last account binding read per target, used if the record is briefly unreadable. */
  private readonly lastBinding = new Map<string, AccountBinding>();
  /** Last initiator access list read per target, used if the record is briefly unreadable. */
  private readonly lastAccess = new Map<string, InitiatorAccess>();
  private closing = false;

  constructor(opts: DaemonOptions) {
    this.store = opts.store;
    this.config = opts.config;
    this.log = opts.log;
    this.hostId = opts.store.hostId;
    this.open =
      opts.openStore ??
      ((file, format) =>
        openStore(file, format, {
          onLeakReport: (r) =>
            this.log.warn('image was not closed cleanly: leaked clusters reclaimed', { file, ...r }),
        }));
    this.engine = opts.engineFactory({
      discoveryAuth: () => this.discoveryAuth(),
      log: (level, msg, ctx) => this.log.log(level, msg, ctx),
    });
  }

  // ---- authentication --------------------------------------------------------

  /** Fail closed: a secret nobody knows refuses every login. */
  private static refuseAll(user: string): AuthPolicy {
    return { chap: { user, secret: randomBytes(32).toString('hex') } };
  }

  /**
   * The policy of a binding, secrets read now. The login state machine
   * itself refuses (status 0x0300) a pair with equal secrets (RFC 7143 §9.2.1).
   */
  private bindingPolicy(b: AccountBinding, ctx: Record<string, unknown>): AuthPolicy {
    if (b.account === null) {
      if (b.mutualAccount !== null) {
        this.log.error('mutual CHAP account bound without a one-way account; refusing logins', { ...ctx, mutualAccount: b.mutualAccount });
        return Daemon.refuseAll(b.mutualAccount);
      }
      return {};
    }
    let policy: AuthPolicy;
    try {
      const a = this.store.readAccountSync(b.account);
      policy = { chap: { user: a.user, secret: a.secret } };
    } catch (e) {
      this.log.error('cannot read CHAP account; refusing logins', { ...ctx, account: b.account, error: e });
      return Daemon.refuseAll(b.account);
    }
    if (b.mutualAccount === null) return policy;
    try {
      const m = this.store.readAccountSync(b.mutualAccount);
      policy.mutual = { user: m.user, secret: m.secret };
    } catch (e) {
      // Without it the target could not prove itself to initiators that ask; refuse everyone rather than serve half the configuration.
      this.log.error('cannot read mutual CHAP account; refusing logins', { ...ctx, mutualAccount: b.mutualAccount, error: e });
      return Daemon.refuseAll(b.account);
    }
    return policy;
  }

  /** Called by the engine at each login to the target (engine-api.ts TargetDefinition.auth). */
  authFor(iqn: string): AuthPolicy {
    let binding: AccountBinding;
    try {
      const rec = this.store.readTargetSync(iqn);
      binding = { account: rec.account, mutualAccount: rec.mutualAccount };
      this.lastBinding.set(iqn, binding);
    } catch (e) {
      const last = this.lastBinding.get(iqn);
      this.log.warn('cannot read target record at login; using the last known accounts', { target: iqn, error: e });
      if (last === undefined) return Daemon.refuseAll('unknown');
      binding = last;
    }
    return this.bindingPolicy(binding, { target: iqn });
  }

  /**
   * Called by the engine at each login and SendTargets (TargetDefinition.initiatorAllowed):
   * the access list is read from the record every time, so `set --allow/--deny`
   * applies to the next login. Refused initiators get login status 0x0202.
   */
  initiatorAllowedFor(iqn: string, initiatorName: string): boolean {
    let access: InitiatorAccess | undefined;
    try {
      access = this.store.readTargetSync(iqn).initiators;
      this.lastAccess.set(iqn, access);
    } catch (e) {
      access = this.lastAccess.get(iqn);
      this.log.warn('cannot read target record at login; using the last known access list', { target: iqn, error: e });
      if (access === undefined) return false; // fail closed
    }
    const ok = initiatorAllowed(access, initiatorName);
    if (!ok) this.log.info('initiator refused by the access list', { target: iqn, initiator: initiatorName });
    return ok;
  }

  /**
   * SendTargets discovery sessions (RFC 7143 §12.1): ISCSI_DISCOVERY_ACCOUNT
   * (and ISCSI_DISCOVERY_MUTUAL_ACCOUNT for mutual CHAP) or none.
   */
  discoveryAuth(): AuthPolicy {
    return this.bindingPolicy(
      { account: this.config.discoveryAccount ?? null, mutualAccount: this.config.discoveryMutualAccount ?? null },
      { discovery: true },
    );
  }

  // ---- target lifecycle ------------------------------------------------------

  /** One operation at a time per target. */
  private serial<T>(iqn: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.queues.get(iqn) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.queues.set(iqn, tail);
    void tail.then(() => {
      if (this.queues.get(iqn) === tail) this.queues.delete(iqn);
    });
    return run;
  }

  buildDefinition(rec: TargetRecord, stores: BlockStore[]): TargetDefinition {
    const def: TargetDefinition = {
      iqn: rec.iqn,
      portals: rec.portals.map((p) => ({
        address: p.address,
        port: p.port,
        tpgt: p.tpgt,
        relativePortId: p.relativePortId,
        portGroupId: p.portGroupId,
      })),
      luns: rec.luns.map((l, i) => ({
        id: l.id,
        store: stores[i]!,
        blockSize: l.blockSize,
        ...(l.physicalBlockSize ? { physicalBlockSize: l.physicalBlockSize } : {}),
        serial: l.serial,
        naa: l.naa,
        online: l.online,
      })),
      auth: () => this.authFor(rec.iqn),
      initiatorAllowed: (name) => this.initiatorAllowedFor(rec.iqn, name),
      portGroups: (rec.portGroups ?? []).map((g) => ({ id: g.id, state: g.state })),
    };
    if (rec.aluaExplicit) def.aluaExplicit = true;
    if (rec.description) def.alias = rec.description;
    return def;
  }

  /** Open the images and start the engine; caller holds the record lock. */
  private async bringUp(rec: TargetRecord): Promise<RunningTarget> {
    const stores: SwitchableStore[] = [];
    try {
      for (const l of rec.luns) {
        const s = new SwitchableStore(await this.open(this.store.lunPath(rec.iqn, l), l.format));
        if (s.sizeBytes !== l.sizeBytes) {
          this.log.warn('LUN image size differs from its record; serving the image size', {
            target: rec.iqn,
            lun: l.id,
            record: l.sizeBytes,
            image: s.sizeBytes,
          });
        }
        stores.push(s);
      }
      this.lastBinding.set(rec.iqn, { account: rec.account, mutualAccount: rec.mutualAccount });
      this.lastAccess.set(rec.iqn, rec.initiators);
      const def = this.buildDefinition(rec, stores);
      // SPC-4 §5.13: the LUNs' persistent reservations from ISCSI_ROOT, written back durably (src/cluster/pr-store.ts).
      const pr = { targetDir: this.store.targetDir(rec.iqn), iqn: rec.iqn, hostId: this.hostId, log: this.log.log.bind(this.log) };
      def.persistentReservations = await PrStore.open(pr, rec.luns);
      await this.engine.startTarget(def);
    } catch (e) {
      await closeAll(stores, this.log);
      throw e;
    }
    return { stores, luns: rec.luns.map((l) => l.id), rec: structuredClone(rec) };
  }

  private async tearDown(iqn: string): Promise<void> {
    if (this.engine.isRunning(iqn)) await this.engine.stopTarget(iqn, { force: true });
    const r = this.running.get(iqn);
    this.running.delete(iqn);
    if (r) await closeAll(r.stores, this.log);
  }

  private checkOwned(rec: TargetRecord): void {
    if (rec.host === null) {
      throw new ClusterError(
        'ISCSI_ERR_NOT_REGISTERED',
        `target ${rec.iqn} is not registered on any host: register it here first (vstorage-iscsi register -t ${rec.iqn})`,
      );
    }
    if (rec.host !== this.hostId) {
      throw new ClusterError('ISCSI_ERR_TARGET_REMOTE', `target ${rec.iqn} is registered on host ${rec.host}, not this one (${this.hostId})`);
    }
  }

  async startTarget(iqnIn: string): Promise<{ alreadyRunning: boolean }> {
    const iqn = validateIqn(iqnIn);
    return this.serial(iqn, async () => {
      if (this.closing) throw new ClusterError('ISCSI_ERR_DAEMON_UNAVAILABLE', 'vstorage-iscsid is shutting down');
      if (this.engine.isRunning(iqn)) return { alreadyRunning: true };
      let up: RunningTarget | undefined;
      try {
        await this.store.updateTarget(iqn, async (rec) => {
          this.checkOwned(rec);
          up = await this.bringUp(rec);
          rec.desiredState = 'running';
        });
      } catch (e) {
        // Started but the desired state could not be recorded: undo.
        if (up) {
          await this.engine.stopTarget(iqn, { force: true }).catch(() => undefined);
          await closeAll(up.stores, this.log);
        }
        throw e;
      }
      this.running.set(iqn, up!);
      this.failed.delete(iqn);
      this.log.info('target started', { target: iqn, luns: up!.luns.join(',') || 'none' });
      return { alreadyRunning: false };
    });
  }

  /**
   * Without force, refuses while sessions exist (error ISCSI_ERR_SESSIONS_ACTIVE
   * with details.sessions), as `vstorage-iscsi stop` prints (source 4.2.5).
   */
  async stopTarget(iqnIn: string, force: boolean): Promise<{ wasRunning: boolean }> {
    const iqn = validateIqn(iqnIn);
    return this.serial(iqn, async () => {
      const wasRunning = this.engine.isRunning(iqn);
      try {
        await this.store.updateTarget(iqn, async (rec) => {
          if (wasRunning) {
            const r = await this.engine.stopTarget(iqn, { force });
            if (!r.stopped) throw this.sessionsActive(iqn, r.sessions);
          }
          if (rec.host === this.hostId) rec.desiredState = 'stopped';
        });
      } catch (e) {
        // A record that vanished must not keep the target running here.
        if (e instanceof ClusterError && e.code === 'ISCSI_ERR_TARGET_NOT_FOUND' && wasRunning) {
          const r = await this.engine.stopTarget(iqn, { force });
          if (!r.stopped) throw this.sessionsActive(iqn, r.sessions);
        } else if (this.engine.isRunning(iqn)) {
          throw e;
        } else {
          await this.tearDown(iqn);
          throw e;
        }
      }
      await this.tearDown(iqn);
      this.failed.delete(iqn);
      if (wasRunning) this.log.info('target stopped', { target: iqn, force });
      return { wasRunning };
    });
  }

  /** Restart a running target with its current record (new LUNs, portals). */
  async reloadTarget(iqnIn: string, force: boolean): Promise<{ reloaded: boolean }> {
    const iqn = validateIqn(iqnIn);
    return this.serial(iqn, async () => {
      if (!this.engine.isRunning(iqn)) return { reloaded: false };
      const sessions = this.engine.sessions(iqn);
      if (sessions.length > 0 && !force) throw this.sessionsActive(iqn, sessions);
      await this.store.updateTarget(iqn, async (rec) => {
        this.checkOwned(rec);
        const previous = this.running.get(iqn)?.rec;
        await this.tearDown(iqn);
        try {
          this.running.set(iqn, await this.bringUp(rec));
        } catch (e) {
          // Keep serving what ran before rather than leave the target down.
          if (previous) {
            try {
              this.running.set(iqn, await this.bringUp(previous));
              this.log.error('reload failed; target restarted with its previous configuration', { target: iqn, error: e });
              throw e;
            } catch (e2) {
              if (e2 === e) throw e;
            }
          }
          this.failed.set(iqn, toControlError(e));
          this.log.error('reload failed; target is down', { target: iqn, error: e });
          throw e;
        }
      });
      this.log.info('target reloaded', { target: iqn });
      return { reloaded: true };
    });
  }

  /**
   * Show or hide the LUNs of a running target as its record says (`lun-set
   * --online/--offline`). Reads the record now, so concurrent changes converge.
   */
  async applyLunStates(iqnIn: string): Promise<{ applied: number[] }> {
    const iqn = validateIqn(iqnIn);
    return this.serial(iqn, async () => {
      const r = this.running.get(iqn);
      if (!r || !this.engine.isRunning(iqn)) return { applied: [] };
      if (!this.engine.setLunOnline) throw new ClusterError('ISCSI_ERR_INTERNAL', 'this engine cannot change LUNs of a running target');
      const rec = await this.store.getTarget(iqn);
      const applied: number[] = [];
      for (const l of rec.luns) {
        const old = r.rec.luns.find((x) => x.id === l.id);
        if (!old || !r.luns.includes(l.id)) continue; // added later: appears at the next start
        if (this.engine.setLunOnline(iqn, l.id, l.online) && old.online !== l.online) {
          old.online = l.online;
          applied.push(l.id);
          this.log.info(l.online ? 'LUN set online' : 'LUN set offline', { target: iqn, lun: l.id });
        }
      }
      return { applied };
    });
  }

  /**
   * The image handle of one LUN a running target serves, with its entry in
   * the record the target runs from; undefined when the target does not run
   * here or the LUN was added after it started.
   */
  private servedLun(iqn: string, lunId: number): { handle: SwitchableStore; served: LunRecord } | undefined {
    const r = this.running.get(iqn);
    if (!r || !this.engine.isRunning(iqn)) return undefined;
    const i = r.rec.luns.findIndex((l) => l.id === lunId);
    return i < 0 ? undefined : { handle: r.stores[i]!, served: r.rec.luns[i]! };
  }

  private runningLun(iqn: string, lunId: number): { handle: SwitchableStore; served: LunRecord } {
    const found = this.servedLun(iqn, lunId);
    if (found) return found;
    if (!this.running.has(iqn) || !this.engine.isRunning(iqn)) {
      throw new ClusterError('ISCSI_ERR_TARGET_NOT_RUNNING', `target ${iqn} is not running here`);
    }
    throw new ClusterError('ISCSI_ERR_LUN_NOT_FOUND', `LUN ${lunId} of target ${iqn} is not served by the running target (added later: restart the target)`);
  }

  /**
   * Run `fn` while one LUN of a running target has its image closed
   * (snapshot operations change the image chain under it): initiator I/O to
   * the LUN waits, the image is flushed and closed, `fn` runs, and the image
   * the target record names then is opened and served. If the target is
   * not running here, `fn` just runs.
   */
  async withLunDetached<T>(iqnIn: string, lunId: number, fn: () => Promise<T>): Promise<T> {
    const iqn = validateIqn(iqnIn);
    return this.serial(iqn, async () => {
      const found = this.servedLun(iqn, lunId);
      // Not running here, or a LUN added after the start (not served yet): nothing has the image open.
      if (!found) return fn();
      const { handle, served } = found;
      return handle.exclusive(async (image, replace) => {
        await image.flush();
        await image.close();
        try {
          return await fn();
        } finally {
          // Serve what the record names now (a new top after a snapshot, the old image after a failure).
          const rec = await this.store.getTarget(iqn);
          const lun = rec.luns.find((l) => l.id === lunId);
          if (!lun) {
            this.log.error('LUN vanished from the record while its image was detached', { target: iqn, lun: lunId });
          } else {
            try {
              replace(await this.open(this.store.lunPath(iqn, lun), lun.format));
              served.file = lun.file;
              served.format = lun.format;
              this.log.info('LUN image reopened', { target: iqn, lun: lunId, image: lun.file });
            } catch (e) {
              // The closed image stays in place: commands to the LUN fail (MEDIUM ERROR) until the target restarts.
              this.log.error('cannot reopen the LUN image; the LUN fails I/O until the target is restarted', { target: iqn, lun: lunId, error: e });
            }
          }
        }
      });
    });
  }

  /**
   * `lun-grow` of a running target's LUN (beyond the source document, which
   * needs the target stopped): the image grows with initiator I/O held for a
   * moment, the record follows, and every I_T nexus gets CAPACITY DATA HAS
   * CHANGED (SBC-3 §4.8) so initiators re-read the capacity.
   */
  async growLunOnline(iqnIn: string, lunIdIn: unknown, sizeIn: unknown): Promise<{ lun: number; sizeBytes: number }> {
    const iqn = validateIqn(iqnIn);
    if (typeof lunIdIn !== 'number' || !Number.isInteger(lunIdIn)) throw new ClusterError('ISCSI_ERR_BAD_REQUEST', 'op lun-grow needs "lun" (a number)');
    if (typeof sizeIn !== 'number' || !Number.isSafeInteger(sizeIn)) throw new ClusterError('ISCSI_ERR_BAD_REQUEST', 'op lun-grow needs "size" (bytes)');
    const lunId = lunIdIn;
    const size = sizeIn;
    return this.serial(iqn, async () => {
      const { handle, served } = this.runningLun(iqn, lunId);
      await this.store.growLunRecord(iqn, lunId, size, async (lun) => {
        assertWholeBlocks(lun, size);
        await handle.resize(size);
      });
      served.sizeBytes = size;
      this.engine.lunCapacityChanged?.(iqn, lunId);
      this.log.info('LUN grown online', { target: iqn, lun: lunId, sizeBytes: size });
      return { lun: lunId, sizeBytes: size };
    });
  }

  /** `alua-set` on a running target: an implicit ALUA transition at once (the CLI records it in the target record). */
  async setPortGroupState(iqnIn: string, group: unknown, stateIn: unknown): Promise<{ group: number; state: string; previous: string }> {
    const iqn = validateIqn(iqnIn);
    if (typeof group !== 'number' || !Number.isInteger(group)) throw new ClusterError('ISCSI_ERR_BAD_REQUEST', 'op alua-set needs "group" (a number)');
    if (typeof stateIn !== 'string') throw new ClusterError('ISCSI_ERR_BAD_REQUEST', 'op alua-set needs "state"');
    const state = parseAluaStateArg(stateIn);
    return this.serial(iqn, async () => {
      if (!this.engine.isRunning(iqn)) throw new ClusterError('ISCSI_ERR_TARGET_NOT_RUNNING', `target ${iqn} is not running here`);
      if (!this.engine.setPortGroupState) throw new ClusterError('ISCSI_ERR_INTERNAL', 'this engine has no ALUA states');
      const previous = this.engine.setPortGroupState(iqn, group, state);
      this.log.info('ALUA state set', { target: iqn, group, state, previous });
      return { group, state, previous };
    });
  }

  /** `portal-down` / `portal-up`: stop or resume listening on one portal of a running target. */
  async setPortalListening(iqnIn: string, portalIn: unknown, listening: boolean): Promise<{ portal: string; changed: boolean; dropped: number }> {
    const iqn = validateIqn(iqnIn);
    if (typeof portalIn !== 'string') throw new ClusterError('ISCSI_ERR_BAD_REQUEST', `op ${listening ? 'portal-up' : 'portal-down'} needs "portal"`);
    return this.serial(iqn, async () => {
      const r = this.running.get(iqn);
      if (!r || !this.engine.isRunning(iqn)) throw new ClusterError('ISCSI_ERR_TARGET_NOT_RUNNING', `target ${iqn} is not running here`);
      if (!this.engine.setPortalListening) throw new ClusterError('ISCSI_ERR_INTERNAL', 'this engine cannot stop a portal');
      const p = findPortal(r.rec, portalIn);
      const portal = p.address.includes(':') ? `[${p.address}]:${p.port}` : `${p.address}:${p.port}`;
      const res = await this.engine.setPortalListening(iqn, p.address, p.port, listening);
      if (res.changed) this.log.info(listening ? 'portal listening again' : 'portal stopped', { target: iqn, portal, dropped: res.dropped });
      return { portal, ...res };
    });
  }

  private sessionsActive(iqn: string, sessions: SessionInfo[]): ClusterError {
    return new ClusterError('ISCSI_ERR_SESSIONS_ACTIVE', `initiators still connected to ${iqn}`, { sessions });
  }

  /** Start every target registered here whose desired state is running. */
  async startRegisteredTargets(): Promise<void> {
    for (const t of await this.store.listTargets()) {
      if (t.host !== this.hostId || t.desiredState !== 'running') continue;
      try {
        await this.startTarget(t.iqn);
      } catch (e) {
        this.failed.set(t.iqn, toControlError(e));
        this.log.error('cannot start target', { target: t.iqn, error: e });
      }
    }
  }

  status(iqnIn?: string): TargetStatus[] {
    const one = (iqn: string): TargetStatus => {
      const running = this.engine.isRunning(iqn);
      const st: TargetStatus = {
        iqn,
        running,
        sessions: running ? this.engine.sessions(iqn) : [],
        luns: this.running.get(iqn)?.luns ?? [],
      };
      const f = this.failed.get(iqn);
      if (f && !running) st.error = f;
      const groups = running ? this.engine.portGroups?.(iqn) : undefined;
      if (groups) st.portGroups = groups;
      return st;
    };
    if (iqnIn !== undefined) return [one(validateIqn(iqnIn))];
    const all = new Set<string>([...this.running.keys(), ...this.failed.keys()]);
    return [...all].sort().map(one);
  }

  // ---- control API -----------------------------------------------------------

  async handle(req: unknown): Promise<ControlResponse> {
    const id = req && typeof req === 'object' ? (req as { id?: unknown }).id : undefined;
    const base = id === undefined ? {} : { id };
    try {
      if (!req || typeof req !== 'object') throw new ClusterError('ISCSI_ERR_BAD_REQUEST', 'request must be a JSON object');
      const r = req as { op?: unknown; iqn?: unknown; force?: unknown; group?: unknown; state?: unknown; portal?: unknown; lun?: unknown; size?: unknown };
      const iqn = (): string => {
        if (typeof r.iqn !== 'string') throw new ClusterError('ISCSI_ERR_BAD_REQUEST', `op ${String(r.op)} needs "iqn"`);
        return r.iqn;
      };
      const force = r.force === true;
      switch (r.op) {
        case 'ping':
          return { ...base, ok: true, hostId: this.hostId, pid: process.pid, protocol: CONTROL_PROTOCOL_VERSION };
        case 'status':
          return {
            ...base,
            ok: true,
            hostId: this.hostId,
            pid: process.pid,
            targets: this.status(typeof r.iqn === 'string' ? r.iqn : undefined),
          };
        case 'start':
          return { ...base, ok: true, iqn: validateIqn(iqn()), ...(await this.startTarget(iqn())) };
        case 'stop':
          return { ...base, ok: true, iqn: validateIqn(iqn()), ...(await this.stopTarget(iqn(), force)) };
        case 'reload':
          return { ...base, ok: true, iqn: validateIqn(iqn()), ...(await this.reloadTarget(iqn(), force)) };
        case 'apply-luns':
          return { ...base, ok: true, iqn: validateIqn(iqn()), ...(await this.applyLunStates(iqn())) };
        case 'alua-set':
          return { ...base, ok: true, iqn: validateIqn(iqn()), ...(await this.setPortGroupState(iqn(), r.group, r.state)) };
        case 'lun-grow':
          return { ...base, ok: true, iqn: validateIqn(iqn()), ...(await this.growLunOnline(iqn(), r.lun, r.size)) };
        case 'snapshot':
          return { ...base, ok: true, ...(await runSnapshotOp(this.store, (i, l, fn) => this.withLunDetached(i, l, fn), r as Record<string, unknown>)) };
        case 'portal-down':
        case 'portal-up':
          return { ...base, ok: true, iqn: validateIqn(iqn()), ...(await this.setPortalListening(iqn(), r.portal, r.op === 'portal-up')) };
        default:
          throw new ClusterError('ISCSI_ERR_BAD_REQUEST', `unknown op ${JSON.stringify(r.op)}`);
      }
    } catch (e) {
      const error = toControlError(e);
      const res: ControlResponse = { ...base, ok: false, error };
      if (e instanceof ClusterError && Array.isArray(e.details?.sessions)) res.sessions = e.details.sessions as SessionInfo[];
      if (error.code === 'ISCSI_ERR_INTERNAL' || !error.code.startsWith('ISCSI_ERR_')) {
        this.log.error('control request failed', { op: (req as { op?: unknown })?.op, error: e });
      }
      return res;
    }
  }

  /** SIGTERM: stop everything; desired states stay as recorded for the next start. */
  async close(): Promise<void> {
    this.closing = true;
    await Promise.all([...this.queues.values()]);
    await this.engine.close();
    for (const [iqn, r] of this.running) {
      await closeAll(r.stores, this.log);
      this.running.delete(iqn);
    }
  }
}
