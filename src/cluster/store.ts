/**
 * The ISCSI_ROOT store (DESIGN.md §4): targets, LUN images and CHAP accounts
 * on a directory every node can reach.
 *
 * Layout:
 *   ISCSI_ROOT/
 *     targets/<iqn>/target.json      TargetRecord (records.ts)
 *     targets/<iqn>/lun-<id>.qcow2   LUN images (qcow2 thin images, src/lun/qcow2, or
 *     targets/<iqn>/lun-<id>.raw       sparse raw, src/lun/raw-store.ts), snapshot
 *                                      chains beside them (src/snapshots)
 *     accounts/<user>.json           AccountRecord, mode 0600 (directory 0700)
 *     locks/global.lock              create/delete/portal and account changes
 *     locks/<iqn>.lock               one target's read-modify-write cycles
 * Other components add their own entries (HA files, reservation state).
 *
 * Every change is atomic (atomic.ts) and done under locks (lock.ts), taken
 * in the order global → target. A new target directory is built under a
 * dot-name and renamed into place; a deleted one is renamed away before it
 * is removed, so readers never see half a target.
 */
import fs from 'node:fs/promises';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { ClusterError, errnoCode } from './errors.js';
import { fsyncDir, writeJsonAtomic } from './atomic.js';
import { withLock } from './lock.js';
import { defaultRandomBytes, generateNaa, generateSerial, type RandomBytes } from './ids.js';
import {
  formatPortal,
  formatSizeM,
  iqnFromName,
  LUN_BLOCK_SIZE,
  parseLunId,
  parsePortal,
  portalsConflict,
  resolveTargetIqn,
  validateDescription,
  validateIqn,
  validateTargetName,
  validateUserName,
} from './validate.js';
import { validateChapSecret } from './secret-rules.js';
import {
  parseAccountRecord,
  parseTargetRecord,
  RECORD_VERSION,
  type AccountRecord,
  type DesiredState,
  type LunRecord,
  type PortalRecord,
  type TargetRecord,
} from './records.js';
import { requireRoot, resolveHostId, type IscsiConfig } from './config.js';
import { createStore, openStore, type ImageFormat } from '../lun/open-store.js';
import { openMarkerPath } from '../lun/qcow2/open-marker.js';
import { assertWholeBlocks, inspectAdoptedImage, lunImageFiles, MAX_RAW_LUN_SIZE, parseClusterSize } from './lun-images.js';
import { applyAccessChanges, initialAccess, normalizeAccessChanges, type AccessChanges } from './access.js';

export interface ClusterStoreOptions {
  /** This node's host ID (16 hex digits). */
  hostId: string;
  iqnPrefix: string;
  lockTimeoutMs?: number;
  lockStaleMs?: number;
  random?: RandomBytes;
  now?: () => Date;
  /**
   * The accounts of SendTargets discovery sessions (ISCSI_DISCOVERY_ACCOUNT,
   * ISCSI_DISCOVERY_MUTUAL_ACCOUNT): they take part in the account checks
   * (in-use on delete, one secret per direction).
   */
  discovery?: { account?: string | undefined; mutualAccount?: string | undefined };
}

export interface CreateTargetInput {
  name: string;
  /** Portal addresses as typed (`-a`), at least one. */
  portals: string[];
  account?: string | undefined;
  /** Mutual CHAP account (the target's own credentials); needs `account`. */
  mutualAccount?: string | undefined;
  description?: string | undefined;
  /** Initiator access list (`--allow`, `--deny`); default: everyone. */
  allow?: string[] | undefined;
  deny?: string[] | undefined;
}

export interface AddLunInput {
  id: number | string;
  /** Required for a new image; for an adopted one it may grow it (never shrink). */
  sizeBytes?: number | undefined;
  blockSize?: 512 | 4096;
  physicalBlockSize?: 4096 | undefined;
  /** Default qcow2 (thin, snapshots); raw for a plain sparse file. */
  format?: ImageFormat | undefined;
  /** qcow2 cluster size in bytes (`--cluster-size`). */
  clusterSize?: number | string | undefined;
  /** Adopt this existing qcow2 or raw image instead of creating one (`--image FILE`). */
  image?: string | undefined;
}

export interface SetTargetInput {
  portals?: string[];
  /** null removes the account binding. */
  account?: string | null;
  /** null removes the mutual CHAP binding. */
  mutualAccount?: string | null;
  description?: string;
  /** Initiator access list changes (`--allow`, `--deny`, `--unlist`, `--allow-all`). */
  initiators?: AccessChanges;
}

/** Which side a CHAP account authenticates (RFC 7143 §9.2.1 keeps the two apart). */
export type AccountRole = 'initiator' | 'target';

/** Where an account is bound (`account-list -u`, `account-delete`). */
export interface AccountUsage {
  /** Targets whose initiators log in with it (`-u`). */
  targets: string[];
  /** Targets that authenticate themselves with it (`--mutual-user`). */
  mutualTargets: string[];
  /** Bound by the configuration for discovery sessions, if at all. */
  discovery: 'account' | 'mutual' | undefined;
}

interface Binding {
  user: string;
  role: AccountRole;
  /** e.g. "target iqn...", "discovery sessions". */
  where: string;
}

const ROLE_TEXT: Record<AccountRole, string> = {
  initiator: 'authenticates initiators',
  target: 'authenticates the target (mutual CHAP)',
};

const MAX_PORTAL_ID = 65535;

function notFound(iqn: string): ClusterError {
  return new ClusterError('ISCSI_ERR_TARGET_NOT_FOUND', `target ${iqn} does not exist`);
}

export function assertStopped(rec: TargetRecord, action: string): void {
  if (rec.desiredState === 'running') {
    throw new ClusterError(
      'ISCSI_ERR_TARGET_RUNNING',
      `target ${rec.iqn} is running: stop it first (vstorage-iscsi stop -t ${rec.iqn}) before ${action}`,
    );
  }
}

/** A mutual account needs a one-way account, and a different one. */
function checkBindingShape(iqn: string, account: string | null, mutualAccount: string | null): void {
  if (mutualAccount === null) return;
  if (account === null) {
    throw new ClusterError(
      'ISCSI_ERR_MUTUAL_NEEDS_ACCOUNT',
      `target ${iqn} cannot have a mutual CHAP account without a one-way CHAP account (the target authenticates ` +
        'itself only after the initiator did): bind one with -u ACCOUNT, or remove the mutual account (--no-mutual-user)',
    );
  }
  if (account === mutualAccount) {
    throw new ClusterError(
      'ISCSI_ERR_SECRET_REUSE',
      `the mutual CHAP account of target ${iqn} must be another account than its one-way account ${account}: ` +
        'RFC 7143 §9.2.1 forbids one secret in both directions',
    );
  }
}

export class ClusterStore {
  readonly root: string;
  readonly hostId: string;
  readonly iqnPrefix: string;
  private readonly lockTimeoutMs: number;
  private readonly lockStaleMs: number;
  private readonly random: RandomBytes;
  private readonly now: () => Date;
  private readonly discovery: { account?: string | undefined; mutualAccount?: string | undefined };

  private constructor(root: string, opts: ClusterStoreOptions) {
    this.root = root;
    this.hostId = opts.hostId;
    this.iqnPrefix = opts.iqnPrefix;
    this.lockTimeoutMs = opts.lockTimeoutMs ?? 10_000;
    this.lockStaleMs = opts.lockStaleMs ?? 60_000;
    this.random = opts.random ?? defaultRandomBytes;
    this.now = opts.now ?? (() => new Date());
    this.discovery = { ...opts.discovery };
  }

  /** Open ISCSI_ROOT (it must exist: source 4.2.1 step 3) and create the subdirectories. */
  static async open(root: string, opts: ClusterStoreOptions): Promise<ClusterStore> {
    let st;
    try {
      st = await fs.stat(root);
    } catch (e) {
      if (errnoCode(e) === 'ENOENT') {
        throw new ClusterError('ISCSI_ERR_ROOT_MISSING', `ISCSI_ROOT ${root} does not exist: create the directory on the cluster storage first`);
      }
      throw e;
    }
    if (!st.isDirectory()) throw new ClusterError('ISCSI_ERR_ROOT_MISSING', `ISCSI_ROOT ${root} is not a directory`);
    const s = new ClusterStore(root, opts);
    await fs.mkdir(s.targetsDir, { recursive: true, mode: 0o755 });
    await fs.mkdir(s.accountsDir, { recursive: true, mode: 0o700 });
    await fs.mkdir(s.locksDir, { recursive: true, mode: 0o755 });
    return s;
  }

  static async fromConfig(config: IscsiConfig, extra: Partial<ClusterStoreOptions> = {}): Promise<ClusterStore> {
    return ClusterStore.open(requireRoot(config), {
      hostId: extra.hostId ?? resolveHostId(config),
      iqnPrefix: config.iqnPrefix,
      lockTimeoutMs: config.lockTimeoutMs,
      discovery: { account: config.discoveryAccount, mutualAccount: config.discoveryMutualAccount },
      ...extra,
    });
  }

  // ---- paths ---------------------------------------------------------------

  get targetsDir(): string {
    return path.join(this.root, 'targets');
  }
  get accountsDir(): string {
    return path.join(this.root, 'accounts');
  }
  get locksDir(): string {
    return path.join(this.root, 'locks');
  }
  targetDir(iqn: string): string {
    return path.join(this.targetsDir, iqn);
  }
  targetFile(iqn: string): string {
    return path.join(this.targetDir(iqn), 'target.json');
  }
  lunPath(iqn: string, lun: Pick<LunRecord, 'file'>): string {
    return path.join(this.targetDir(iqn), lun.file);
  }
  accountFile(user: string): string {
    return path.join(this.accountsDir, `${user}.json`);
  }

  /** `-t` argument: full IQN or the short name. */
  resolveIqn(nameOrIqn: string): string {
    return resolveTargetIqn(this.iqnPrefix, nameOrIqn);
  }

  // ---- locking -------------------------------------------------------------

  private withGlobalLock<T>(fn: () => Promise<T>): Promise<T> {
    return withLock(
      path.join(this.locksDir, 'global.lock'),
      { hostId: this.hostId, timeoutMs: this.lockTimeoutMs, staleMs: this.lockStaleMs, what: 'the ISCSI_ROOT store' },
      fn,
    );
  }

  /** Run `fn` holding the lock of one target (other components use this too). */
  withTargetLock<T>(iqn: string, fn: () => Promise<T>): Promise<T> {
    return withLock(
      path.join(this.locksDir, `${iqn}.lock`),
      { hostId: this.hostId, timeoutMs: this.lockTimeoutMs, staleMs: this.lockStaleMs, what: `target ${iqn}` },
      fn,
    );
  }

  private stamp(): string {
    return this.now().toISOString();
  }

  // ---- targets: reading ----------------------------------------------------

  async listTargets(): Promise<TargetRecord[]> {
    const names = await fs.readdir(this.targetsDir);
    const out: TargetRecord[] = [];
    for (const n of names.sort()) {
      if (n.startsWith('.')) continue; // being created or deleted
      try {
        out.push(parseTargetRecord(await fs.readFile(this.targetFile(n), 'utf8'), this.targetFile(n)));
      } catch (e) {
        if (errnoCode(e) === 'ENOENT' || errnoCode(e) === 'ENOTDIR') continue; // vanished meanwhile
        throw e;
      }
    }
    return out;
  }

  async getTarget(iqn: string): Promise<TargetRecord> {
    const v = validateIqn(iqn);
    try {
      return parseTargetRecord(await fs.readFile(this.targetFile(v), 'utf8'), this.targetFile(v));
    } catch (e) {
      if (errnoCode(e) === 'ENOENT' || errnoCode(e) === 'ENOTDIR') throw notFound(v);
      throw e;
    }
  }

  /** Synchronous read for the per-login auth() callback (engine-api.ts AuthPolicy). */
  readTargetSync(iqn: string): TargetRecord {
    try {
      return parseTargetRecord(readFileSync(this.targetFile(iqn), 'utf8'), this.targetFile(iqn));
    } catch (e) {
      if (errnoCode(e) === 'ENOENT' || errnoCode(e) === 'ENOTDIR') throw notFound(iqn);
      throw e;
    }
  }

  /**
   * Locked read-modify-write of one target record. `fn` gets a copy to
   * mutate (and may do work such as starting the target); the record is
   * written only if `fn` returns without throwing.
   */
  async updateTarget(iqn: string, fn: (rec: TargetRecord) => void | Promise<void>): Promise<TargetRecord> {
    const v = validateIqn(iqn);
    return this.withTargetLock(v, async () => {
      const rec = await this.getTarget(v);
      const before = JSON.stringify(rec);
      await fn(rec);
      if (JSON.stringify(rec) === before) return rec;
      rec.updated = this.stamp();
      await writeJsonAtomic(this.targetFile(v), rec);
      return rec;
    });
  }

  // ---- targets: create / set / delete --------------------------------------

  private parsePortals(list: string[]): Array<{ address: string; port: number }> {
    if (list.length === 0) {
      throw new ClusterError('ISCSI_ERR_NO_PORTAL', 'a target needs at least one portal address (-a ADDRESS)');
    }
    const out: Array<{ address: string; port: number }> = [];
    for (const a of list) {
      const p = parsePortal(a);
      if (out.some((q) => portalsConflict(q, p))) {
        throw new ClusterError('ISCSI_ERR_DUPLICATE_PORTAL', `portal ${formatPortal(p)} is given more than once`);
      }
      out.push({ address: p.address, port: p.port });
    }
    return out;
  }

  private async checkPortalsFree(portals: Array<{ address: string; port: number }>, exceptIqn?: string): Promise<void> {
    for (const t of await this.listTargets()) {
      if (t.iqn === exceptIqn) continue;
      for (const p of portals) {
        const clash = t.portals.find((q) => portalsConflict(q, p));
        if (clash) {
          throw new ClusterError(
            'ISCSI_ERR_PORTAL_IN_USE',
            `portal ${formatPortal(p)} is already used by target ${t.iqn} (${formatPortal(clash)}); each target needs its own address`,
          );
        }
      }
    }
  }

  private async checkAccountExists(user: string): Promise<void> {
    await this.getAccount(user);
  }

  /** Give portals stable IDs, keeping those of addresses the target already had. */
  private assignPortals(rec: Pick<TargetRecord, 'portals' | 'nextPortalId'>, wanted: Array<{ address: string; port: number }>): PortalRecord[] {
    return wanted.map((w) => {
      const old = rec.portals.find((p) => p.address === w.address && p.port === w.port);
      if (old) return old;
      const id = rec.nextPortalId;
      if (id > MAX_PORTAL_ID) throw new ClusterError('ISCSI_ERR_INTERNAL', 'no portal IDs left for this target');
      rec.nextPortalId = id + 1;
      return { address: w.address, port: w.port, tpgt: id, relativePortId: id, portGroupId: id };
    });
  }

  /**
   * `create -n NAME -a ADDR... [-u USER [--mutual-user USER2]]`: the new
   * target is registered on this node, stopped.
   */
  async createTarget(input: CreateTargetInput): Promise<TargetRecord> {
    const name = validateTargetName(input.name);
    const iqn = iqnFromName(this.iqnPrefix, name);
    const wanted = this.parsePortals(input.portals);
    const account = input.account === undefined ? null : validateUserName(input.account);
    const mutualAccount = input.mutualAccount === undefined ? null : validateUserName(input.mutualAccount);
    checkBindingShape(iqn, account, mutualAccount);
    const description = validateDescription(input.description ?? '');
    const initiators = initialAccess(input.allow, input.deny);
    return this.withGlobalLock(async () => {
      if (await this.exists(this.targetDir(iqn))) {
        throw new ClusterError('ISCSI_ERR_TARGET_EXISTS', `target ${iqn} already exists: target names must be unique in the cluster`);
      }
      await this.checkPortalsFree(wanted);
      if (account) await this.checkAccountExists(account);
      if (mutualAccount) await this.checkAccountExists(mutualAccount);
      await this.checkBindings(iqn, { account, mutualAccount }, null);
      const now = this.stamp();
      const rec: TargetRecord = {
        version: RECORD_VERSION,
        iqn,
        name,
        description,
        portals: [],
        nextPortalId: 1,
        luns: [],
        account,
        mutualAccount,
        initiators,
        host: this.hostId,
        desiredState: 'stopped',
        created: now,
        updated: now,
      };
      rec.portals = this.assignPortals(rec, wanted);
      const tmpDir = path.join(this.targetsDir, `.creating-${this.random(6).toString('hex')}`);
      await fs.mkdir(tmpDir, { mode: 0o755 });
      try {
        await writeJsonAtomic(path.join(tmpDir, 'target.json'), rec);
        await fs.rename(tmpDir, this.targetDir(iqn));
      } catch (e) {
        await fs.rm(tmpDir, { recursive: true, force: true });
        const c = errnoCode(e);
        if (c === 'EEXIST' || c === 'ENOTEMPTY') {
          throw new ClusterError('ISCSI_ERR_TARGET_EXISTS', `target ${iqn} already exists`);
        }
        throw e;
      }
      await fsyncDir(this.targetsDir);
      return rec;
    });
  }

  /**
   * `set -t IQN [-a ADDR...] [-d TEXT] [-u USER|--no-user] [--mutual-user USER2|--no-mutual-user]`.
   * Portals and the description need a stopped target (source 4.2.2 note 1);
   * account bindings may change while it runs: the daemon reads them at each
   * login, so they apply to the next login and leave sessions alone.
   */
  async setTarget(iqn: string, changes: SetTargetInput): Promise<TargetRecord> {
    const v = validateIqn(iqn);
    const wanted = changes.portals === undefined ? undefined : this.parsePortals(changes.portals);
    const account = changes.account === undefined || changes.account === null ? changes.account : validateUserName(changes.account);
    const mutual =
      changes.mutualAccount === undefined || changes.mutualAccount === null ? changes.mutualAccount : validateUserName(changes.mutualAccount);
    if (changes.description !== undefined) validateDescription(changes.description);
    if (changes.initiators) normalizeAccessChanges(changes.initiators);
    return this.withGlobalLock(async () => {
      if (wanted) await this.checkPortalsFree(wanted, v);
      if (account) await this.checkAccountExists(account);
      if (mutual) await this.checkAccountExists(mutual);
      return this.updateTarget(v, async (rec) => {
        if (wanted || changes.description !== undefined) assertStopped(rec, 'changing its portals or description');
        if (wanted) rec.portals = this.assignPortals(rec, wanted);
        if (changes.description !== undefined) rec.description = changes.description;
        if (changes.initiators) rec.initiators = applyAccessChanges(rec.initiators, changes.initiators);
        const next = {
          account: account === undefined ? rec.account : account,
          mutualAccount: mutual === undefined ? rec.mutualAccount : mutual,
        };
        if (next.account !== rec.account || next.mutualAccount !== rec.mutualAccount) {
          checkBindingShape(rec.iqn, next.account, next.mutualAccount);
          await this.checkBindings(rec.iqn, next, rec);
          rec.account = next.account;
          rec.mutualAccount = next.mutualAccount;
        }
      });
    });
  }

  /**
   * `delete -t IQN [--force]`: removes the target and all its LUN images.
   * The target must be stopped; one registered on another node needs force
   * (source 4.2.6).
   */
  async deleteTarget(iqn: string, opts: { force?: boolean } = {}): Promise<void> {
    const v = validateIqn(iqn);
    await this.withGlobalLock(() =>
      this.withTargetLock(v, async () => {
        const rec = await this.getTarget(v);
        assertStopped(rec, 'deleting it');
        if (rec.host !== null && rec.host !== this.hostId && !opts.force) {
          throw new ClusterError(
            'ISCSI_ERR_TARGET_REMOTE',
            `target ${v} is registered on host ${rec.host}, not this one (${this.hostId}): add --force to delete it from here`,
          );
        }
        const grave = path.join(this.targetsDir, `.deleting-${this.random(6).toString('hex')}`);
        await fs.rename(this.targetDir(v), grave);
        await fsyncDir(this.targetsDir);
        await fs.rm(grave, { recursive: true, force: true });
        // Remove our own lock file while we still hold it (release then finds nothing to do).
        await fs.rm(path.join(this.locksDir, `${v}.lock`), { force: true });
      }),
    );
  }

  // ---- registration / desired state ----------------------------------------

  /** `register -t IQN`: take ownership of an unregistered target (source 4.2.4). */
  async register(iqn: string): Promise<TargetRecord> {
    return this.updateTarget(iqn, (rec) => {
      if (rec.host === this.hostId) return;
      if (rec.host !== null) {
        throw new ClusterError(
          'ISCSI_ERR_ALREADY_REGISTERED',
          `target ${rec.iqn} is registered on host ${rec.host}: unregister it there first (vstorage-iscsi unregister -t ${rec.iqn})`,
        );
      }
      rec.host = this.hostId;
      rec.desiredState = 'stopped';
    });
  }

  /** `unregister -t IQN`: release a stopped target of this node (source 4.2.4). */
  async unregister(iqn: string): Promise<TargetRecord> {
    return this.updateTarget(iqn, (rec) => {
      if (rec.host === null) {
        throw new ClusterError('ISCSI_ERR_NOT_REGISTERED', `target ${rec.iqn} is not registered on any host`);
      }
      if (rec.host !== this.hostId) {
        throw new ClusterError('ISCSI_ERR_TARGET_REMOTE', `target ${rec.iqn} is registered on host ${rec.host}, not this one (${this.hostId})`);
      }
      assertStopped(rec, 'unregistering it');
      rec.host = null;
    });
  }

  async setDesiredState(iqn: string, state: DesiredState): Promise<TargetRecord> {
    return this.updateTarget(iqn, (rec) => {
      rec.desiredState = state;
    });
  }

  // ---- LUNs ----------------------------------------------------------------

  private findLun(rec: TargetRecord, id: number): LunRecord {
    const lun = rec.luns.find((l) => l.id === id);
    if (!lun) throw new ClusterError('ISCSI_ERR_LUN_NOT_FOUND', `target ${rec.iqn} has no LUN ${id}`);
    return lun;
  }

  /**
   * `lun-add -t IQN -l ID -s SIZE [--format qcow2|raw] [--cluster-size N]`:
   * creates a thin image (qcow2 v3 by default, src/lun/qcow2) and the LUN
   * with a new NAA designator and serial; with `image` it adopts an existing
   * qcow2 or raw image instead, moving it into the target directory (like a
   * storage array's "manage existing volume"). Allowed while the target
   * runs; the daemon serves the LUN after a reload.
   */
  async addLun(iqn: string, input: AddLunInput): Promise<LunRecord> {
    const id = parseLunId(input.id);
    const blockSize = input.blockSize ?? LUN_BLOCK_SIZE;
    const adopt = input.image === undefined ? undefined : await inspectAdoptedImage(input.image, blockSize);
    const format: ImageFormat = adopt?.format ?? input.format ?? 'qcow2';
    if (adopt && input.format !== undefined && input.format !== adopt.format) {
      throw new ClusterError('ISCSI_ERR_BAD_IMAGE', `${input.image} is a ${adopt.format} image, not ${input.format}`);
    }
    if (adopt && input.clusterSize !== undefined) {
      throw new ClusterError('ISCSI_ERR_BAD_REQUEST', '--cluster-size applies to new images only, not to an adopted one (--image)');
    }
    const sizeBytes = input.sizeBytes ?? adopt?.sizeBytes;
    if (sizeBytes === undefined) throw new ClusterError('ISCSI_ERR_BAD_SIZE', 'a new LUN needs a size (-s SIZE)');
    if (adopt && sizeBytes < adopt.sizeBytes) {
      throw new ClusterError('ISCSI_ERR_BAD_SIZE', `size ${formatSizeM(sizeBytes)} is smaller than the image ${input.image} (${formatSizeM(adopt.sizeBytes)}); images never shrink`);
    }
    if (sizeBytes % blockSize !== 0) {
      throw new ClusterError('ISCSI_ERR_BAD_SIZE', `size ${sizeBytes} is not a multiple of the ${blockSize}-byte block size`);
    }
    if (format === 'raw' && sizeBytes > MAX_RAW_LUN_SIZE) {
      throw new ClusterError('ISCSI_ERR_BAD_SIZE', 'raw images are at most 16T (the ext4 file size limit): use the default qcow2 format for larger LUNs');
    }
    const clusterSize = format === 'qcow2' ? (adopt?.clusterSize ?? parseClusterSize(input.clusterSize)) : undefined;
    let added: LunRecord | undefined;
    let adoptedFrom: string | undefined;
    await this.updateTarget(iqn, async (rec) => {
      if (rec.luns.some((l) => l.id === id)) {
        throw new ClusterError('ISCSI_ERR_LUN_EXISTS', `target ${rec.iqn} already has LUN ${id}`);
      }
      const file = `lun-${id}.${format}`;
      const final = this.lunPath(rec.iqn, { file });
      if (adopt) {
        await this.moveAdoptedImage(adopt.path, final);
        adoptedFrom = adopt.path;
        if (sizeBytes > adopt.sizeBytes) await this.resizeImage(final, format, sizeBytes);
      } else {
        // Build the image under a temporary name; an image left at the final
        // name by a crash is an orphan (no record names it) and is replaced.
        const tmp = path.join(this.targetDir(rec.iqn), `.${file}.${this.random(4).toString('hex')}.tmp`);
        try {
          const store = await createStore(tmp, format, sizeBytes, clusterSize ? { clusterSize } : {});
          await store.close();
          await fs.rename(tmp, final);
        } catch (e) {
          await fs.rm(tmp, { force: true }).catch(() => undefined);
          throw e;
        }
      }
      await fsyncDir(this.targetDir(rec.iqn));
      added = {
        id,
        sizeBytes,
        file,
        format,
        ...(clusterSize ? { clusterSize } : {}),
        blockSize,
        ...(input.physicalBlockSize ? { physicalBlockSize: input.physicalBlockSize } : {}),
        serial: generateSerial(this.random),
        naa: generateNaa(this.random),
        online: true,
        created: this.stamp(),
      };
      rec.luns.push(added);
      rec.luns.sort((a, b) => a.id - b.id);
    }).catch(async (e) => {
      // No partial change: an adopted image goes back where it was, a created one is removed.
      if (added) {
        const at = this.lunPath(validateIqn(iqn), added);
        if (adoptedFrom) await fs.rename(at, adoptedFrom).catch(() => undefined);
        else await fs.rm(at, { force: true }).catch(() => undefined);
      }
      throw e;
    });
    return added!;
  }

  /** Move an adopted image into a target directory: a rename, so it must be on the ISCSI_ROOT file system. */
  private async moveAdoptedImage(from: string, to: string): Promise<void> {
    try {
      await fs.link(from, to);
    } catch (e) {
      const c = errnoCode(e);
      if (c === 'EXDEV') {
        throw new ClusterError(
          'ISCSI_ERR_BAD_IMAGE',
          `${from} is on another file system than ISCSI_ROOT ${this.root}: copy it there first (e.g. qemu-img convert -O qcow2 ${from} ${this.root}/image.qcow2) and adopt the copy`,
        );
      }
      if (c === 'EPERM' || c === 'ENOTSUP' || c === 'EOPNOTSUPP') {
        // No hard links on this file system: a rename (`to` does not exist unless a crash left an orphan there).
        await fs.rename(from, to);
        return;
      }
      if (c !== 'EEXIST') throw e;
      // An orphan from an earlier crash: no record names it.
      await fs.rm(to, { force: true });
      await fs.link(from, to);
    }
    await fs.rm(from);
  }

  private async resizeImage(file: string, format: ImageFormat, sizeBytes: number): Promise<void> {
    const store = await openStore(file, format);
    try {
      await store.resize(sizeBytes);
    } finally {
      await store.close();
    }
  }

  /**
   * Grow a LUN's record to `sizeBytes` after `resizeImage` grew its image
   * (the record is written only if that succeeded). Sizes only grow.
   */
  async growLunRecord(
    iqn: string,
    idText: number | string,
    sizeBytes: number,
    resizeImage: (lun: LunRecord, rec: TargetRecord) => Promise<void>,
  ): Promise<LunRecord> {
    const id = parseLunId(idText);
    let grown: LunRecord | undefined;
    await this.updateTarget(iqn, async (rec) => {
      const lun = this.findLun(rec, id);
      if (sizeBytes <= lun.sizeBytes) {
        throw new ClusterError(
          'ISCSI_ERR_SIZE_NOT_LARGER',
          `new size ${formatSizeM(sizeBytes)} of LUN ${id} is not larger than its current size ${formatSizeM(lun.sizeBytes)}`,
        );
      }
      if (lun.format === 'raw' && sizeBytes > MAX_RAW_LUN_SIZE) {
        throw new ClusterError('ISCSI_ERR_BAD_SIZE', `LUN ${id} is a raw image, and raw images are at most 16T`);
      }
      await resizeImage(lun, rec);
      lun.sizeBytes = sizeBytes;
      grown = lun;
    });
    return grown!;
  }

  /**
   * `lun-grow -t IQN -l ID -s SIZE` of a stopped target (source 4.2.2 note 2;
   * a running target's LUN grows through its daemon, Daemon.growLunOnline).
   * If the record cannot be written after the image grew, a raw image is cut
   * back; a qcow2 image keeps its larger virtual size, which is harmless
   * (nothing was written past the old end, and the record size is served
   * until the next grow).
   */
  async growLun(iqn: string, idText: number | string, sizeBytes: number): Promise<LunRecord> {
    let grown: LunRecord | undefined;
    return this.growLunRecord(iqn, idText, sizeBytes, async (lun, rec) => {
      assertStopped(rec, 'growing a LUN');
      assertWholeBlocks(lun, sizeBytes);
      await this.resizeImage(this.lunPath(rec.iqn, lun), lun.format, sizeBytes);
      grown = { ...lun };
    }).catch(async (e) => {
      if (grown && grown.format === 'raw') {
        await fs.truncate(this.lunPath(validateIqn(iqn), grown), grown.sizeBytes).catch(() => undefined);
      }
      throw e;
    });
  }

  /** `lun-delete -t IQN -l ID`: the target must be stopped; the image and its snapshots are removed. */
  async deleteLun(iqn: string, idText: number | string): Promise<void> {
    const id = parseLunId(idText);
    let removed: LunRecord | undefined;
    const rec = await this.updateTarget(iqn, (r) => {
      assertStopped(r, 'deleting a LUN');
      removed = this.findLun(r, id);
      r.luns = r.luns.filter((l) => l.id !== id);
    });
    if (!removed) return;
    for (const f of lunImageFiles(removed)) {
      await fs.rm(this.lunPath(rec.iqn, { file: f }), { force: true });
      await fs.rm(openMarkerPath(this.lunPath(rec.iqn, { file: f })), { force: true }); // a crashed daemon's marker
    }
  }

  /** Bytes allocated by a LUN's images, its snapshots included (source 4.2.3 "Used"). */
  async lunUsedBytes(iqn: string, lun: LunRecord): Promise<number> {
    let total = 0;
    for (const file of lunImageFiles(lun)) {
      try {
        total += (await fs.stat(this.lunPath(iqn, { file }))).blocks * 512;
      } catch (e) {
        if (errnoCode(e) !== 'ENOENT') throw e;
      }
    }
    return total;
  }

  // ---- accounts ------------------------------------------------------------

  async listAccounts(): Promise<string[]> {
    const names = await fs.readdir(this.accountsDir);
    return names
      .filter((n) => n.endsWith('.json') && !n.startsWith('.'))
      .map((n) => n.slice(0, -5))
      .sort();
  }

  async getAccount(user: string): Promise<AccountRecord> {
    validateUserName(user);
    const file = this.accountFile(user);
    try {
      return parseAccountRecord(await fs.readFile(file, 'utf8'), file);
    } catch (e) {
      if (errnoCode(e) === 'ENOENT') {
        throw new ClusterError('ISCSI_ERR_ACCOUNT_NOT_FOUND', `CHAP account ${user} does not exist (create it with vstorage-iscsi account-create -u ${user})`);
      }
      throw e;
    }
  }

  readAccountSync(user: string): AccountRecord {
    const file = this.accountFile(validateUserName(user));
    try {
      return parseAccountRecord(readFileSync(file, 'utf8'), file);
    } catch (e) {
      if (errnoCode(e) === 'ENOENT') throw new ClusterError('ISCSI_ERR_ACCOUNT_NOT_FOUND', `CHAP account ${user} does not exist`);
      throw e;
    }
  }

  async createAccount(user: string, secret: string): Promise<AccountRecord> {
    validateUserName(user);
    validateChapSecret(secret, `CHAP secret of account ${user}`);
    return this.withGlobalLock(async () => {
      const now = this.stamp();
      const rec: AccountRecord = { version: RECORD_VERSION, user, secret, created: now, updated: now };
      try {
        await writeJsonAtomic(this.accountFile(user), rec, { mode: 0o600, noClobber: true });
      } catch (e) {
        if (errnoCode(e) === 'EEXIST') throw new ClusterError('ISCSI_ERR_ACCOUNT_EXISTS', `CHAP account ${user} already exists (change its password with account-set)`);
        throw e;
      }
      return rec;
    });
  }

  /**
   * `account-set`: new logins use the new secret at once (auth() reads the
   * store per login). Refused when the new secret equals that of an account
   * bound for the other direction (RFC 7143 §9.2.1).
   */
  async setAccountSecret(user: string, secret: string): Promise<AccountRecord> {
    validateUserName(user);
    validateChapSecret(secret, `CHAP secret of account ${user}`);
    return this.withGlobalLock(async () => {
      const rec = await this.getAccount(user);
      const bindings = await this.allBindings();
      const roles = new Set(bindings.filter((b) => b.user === user).map((b) => b.role));
      for (const role of roles) await this.checkSecretAgainst(user, secret, role, bindings);
      rec.secret = secret;
      rec.updated = this.stamp();
      await writeJsonAtomic(this.accountFile(user), rec, { mode: 0o600 });
      return rec;
    });
  }

  async deleteAccount(user: string): Promise<void> {
    validateUserName(user);
    await this.withGlobalLock(async () => {
      await this.getAccount(user);
      const u = await this.accountUsage(user);
      const users = [...new Set([...u.targets, ...u.mutualTargets])].sort();
      if (u.discovery) {
        const key = u.discovery === 'account' ? 'ISCSI_DISCOVERY_ACCOUNT' : 'ISCSI_DISCOVERY_MUTUAL_ACCOUNT';
        users.push(`discovery sessions (${key} in the configuration)`);
      }
      if (users.length > 0) {
        throw new ClusterError('ISCSI_ERR_ACCOUNT_IN_USE', `CHAP account ${user} is used by ${users.join(', ')}`);
      }
      await fs.rm(this.accountFile(user));
      await fsyncDir(this.accountsDir);
    });
  }

  /** Targets bound to an account either way (one-way or mutual CHAP), sorted (`account-list -u`). */
  async targetsUsingAccount(user: string): Promise<string[]> {
    return (await this.listTargets()).filter((t) => t.account === user || t.mutualAccount === user).map((t) => t.iqn);
  }

  async accountUsage(user: string): Promise<AccountUsage> {
    const targets = await this.listTargets();
    return {
      targets: targets.filter((t) => t.account === user).map((t) => t.iqn),
      mutualTargets: targets.filter((t) => t.mutualAccount === user).map((t) => t.iqn),
      discovery: this.discovery.account === user ? 'account' : this.discovery.mutualAccount === user ? 'mutual' : undefined,
    };
  }

  // ---- account bindings: one secret per direction (RFC 7143 §9.2.1) ---------

  /** Every account binding: targets' (`replace` stands in for its record on disk) and discovery's. */
  private async allBindings(replace?: Pick<TargetRecord, 'iqn' | 'account' | 'mutualAccount'>): Promise<Binding[]> {
    const out: Binding[] = [];
    const add = (t: Pick<TargetRecord, 'iqn' | 'account' | 'mutualAccount'>) => {
      if (t.account) out.push({ user: t.account, role: 'initiator', where: `target ${t.iqn}` });
      if (t.mutualAccount) out.push({ user: t.mutualAccount, role: 'target', where: `target ${t.iqn}` });
    };
    for (const t of await this.listTargets()) {
      if (t.iqn !== replace?.iqn) add(t);
    }
    if (replace) add(replace);
    if (this.discovery.account) out.push({ user: this.discovery.account, role: 'initiator', where: 'discovery sessions' });
    if (this.discovery.mutualAccount) out.push({ user: this.discovery.mutualAccount, role: 'target', where: 'discovery sessions' });
    return out;
  }

  /**
   * RFC 7143 §9.2.1: "Any CHAP secret used for initiator authentication MUST
   * NOT be configured for authentication of any target, and any CHAP secret
   * used for target authentication MUST NOT be configured for authentication
   * of any initiator." So an account is bound for one direction only, and its
   * secret differs from every account bound for the other direction.
   * Checks the bindings a target would have after a change (`previous` is its
   * record before, null for a new target); only new bindings are checked.
   */
  private async checkBindings(
    iqn: string,
    next: Pick<TargetRecord, 'account' | 'mutualAccount'>,
    previous: Pick<TargetRecord, 'account' | 'mutualAccount'> | null,
  ): Promise<void> {
    const bindings = await this.allBindings({ iqn, ...next });
    const changed: Array<[string, AccountRole]> = [];
    if (next.account && next.account !== previous?.account) changed.push([next.account, 'initiator']);
    if (next.mutualAccount && next.mutualAccount !== previous?.mutualAccount) changed.push([next.mutualAccount, 'target']);
    // Each new binding is checked against every binding of the other role,
    // including the other one of this target.
    for (const [user, role] of changed) {
      const clash = bindings.find((b) => b.user === user && b.role !== role);
      if (clash) {
        throw new ClusterError(
          'ISCSI_ERR_SECRET_REUSE',
          `CHAP account ${user} cannot be bound for ${role === 'initiator' ? 'one-way' : 'mutual'} CHAP of target ${iqn}: ` +
            `it already ${ROLE_TEXT[clash.role]} for ${clash.where}, and RFC 7143 §9.2.1 forbids one secret in both directions; ` +
            'use a separate account',
        );
      }
      const secret = (await this.getAccount(user)).secret;
      await this.checkSecretAgainst(user, secret, role, bindings);
    }
  }

  /** `secret` (of `user`, bound as `role`) must differ from every account bound for the other role. */
  private async checkSecretAgainst(user: string, secret: string, role: AccountRole, bindings: Binding[]): Promise<void> {
    const others = new Map<string, string>();
    for (const b of bindings) {
      if (b.role !== role && b.user !== user && !others.has(b.user)) others.set(b.user, b.where);
    }
    for (const [other, where] of others) {
      let otherSecret: string;
      try {
        otherSecret = (await this.getAccount(other)).secret;
      } catch (e) {
        if (e instanceof ClusterError && e.code === 'ISCSI_ERR_ACCOUNT_NOT_FOUND') continue;
        throw e;
      }
      if (otherSecret === secret) {
        const otherRole: AccountRole = role === 'initiator' ? 'target' : 'initiator';
        throw new ClusterError(
          'ISCSI_ERR_SECRET_REUSE',
          `CHAP account ${user} would have the same secret as account ${other}, which ${ROLE_TEXT[otherRole]} for ${where}; ` +
            'RFC 7143 §9.2.1 forbids one secret in both directions: give one of them another password (account-set)',
        );
      }
    }
  }

  // ---- helpers -------------------------------------------------------------

  private async exists(p: string): Promise<boolean> {
    try {
      await fs.stat(p);
      return true;
    } catch (e) {
      if (errnoCode(e) === 'ENOENT') return false;
      throw e;
    }
  }

  /** Synchronous existence check of ISCSI_ROOT (for status displays). */
  rootReachable(): boolean {
    try {
      return statSync(this.root).isDirectory();
    } catch {
      return false;
    }
  }
}
