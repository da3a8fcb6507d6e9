/**
 * Records stored in ISCSI_ROOT (DESIGN.md §4, §5). JSON files, written
 * atomically; fields marked stable are generated once and never change.
 */
import { ClusterError } from './errors.js';
import { ALUA_STATE_NAMES, type AluaStateName } from '../scsi/alua.js';
import type { ImageFormat } from '../lun/open-store.js';

export const RECORD_VERSION = 1;

export interface PortalRecord {
  /** Canonical IPv4/IPv6 literal. */
  address: string;
  port: number;
  /** Target portal group tag (RFC 7143 §13.9), stable, 1..65535. */
  tpgt: number;
  /** Relative target port identifier (SPC-4 §7.8.6.x), stable, 1..65535. */
  relativePortId: number;
  /** ALUA target port group ID (SPC-4 §7.8.6.x), stable. */
  portGroupId: number;
}

export interface LunRecord {
  /** 0..255 (validate.ts MAX_LUN_ID). */
  id: number;
  sizeBytes: number;
  /**
   * File name, inside the target directory, of the image initiators write
   * to: the top of the LUN's snapshot chain (src/snapshots).
   */
  file: string;
  /** Format of that image (src/lun/open-store.ts). Records written before qcow2 existed say 'raw'. */
  format: ImageFormat;
  /** qcow2 cluster size in bytes of images made for this LUN (`lun-add --cluster-size`); absent for raw LUNs. */
  clusterSize?: number;
  /**
   * Snapshots of the LUN, oldest first (src/snapshots, source 4.2.10). Each
   * is a frozen image of the chain; the top image (`file`) continues on
   * `base`. Absent: no snapshots.
   */
  snapshots?: SnapshotRecord[];
  /** UUID of the snapshot the top image continues on (the current snapshot, `*` in snapshot-list), or null/absent. */
  base?: string | null;
  /** Logical block size in bytes (SBC-3 §4.4): 512 (default) or 4096. */
  blockSize: 512 | 4096;
  /** Physical block size reported in READ CAPACITY(16) (SBC-3 §4.6): 4096 on a 512-byte LUN makes it 512e; absent = the logical block size. */
  physicalBlockSize?: 4096;
  /** Unit serial number (VPD 80h), stable. */
  serial: string;
  /** NAA IEEE Registered Extended designator (VPD 83h), 32 hex digits, stable. */
  naa: string;
  /** false hides the LUN from initiators (source 4.2.3 "Online: No"). */
  online: boolean;
  created: string;
}

/** One LUN snapshot (source 4.2.10): a read-only image in the LUN's qcow2 backing chain. */
export interface SnapshotRecord {
  /** RFC 4122 UUID, lower case. */
  uuid: string;
  /** UUID of the snapshot this one continues on, or null for the first of a chain. */
  parent: string | null;
  /** Image file name inside the target directory. */
  file: string;
  format: ImageFormat;
  created: string;
  description: string;
}

export type DesiredState = 'running' | 'stopped';

/** ALUA state of a target port group (`alua-set`, src/cluster/port-groups.ts). */
export interface PortGroupRecord {
  /** A portGroupId of the target's portals. */
  id: number;
  state: AluaStateName;
}

/**
 * Initiator access list of a target (`--allow`/`--deny`, src/cluster/access.ts):
 * lower-case iSCSI names. An initiator on `deny` is refused; when `allow` is
 * not empty only the initiators on it are admitted.
 */
export interface InitiatorAccess {
  allow: string[];
  deny: string[];
}

export interface TargetRecord {
  version: number;
  iqn: string;
  /** The name given to `create -n`. */
  name: string;
  description: string;
  portals: PortalRecord[];
  /** Next stable portal number: tpgt/relativePortId/portGroupId are never reused. */
  nextPortalId: number;
  luns: LunRecord[];
  /** CHAP account initiators must log in with, or null for no authentication. */
  account: string | null;
  /**
   * CHAP account the target authenticates itself with when an initiator asks
   * for mutual CHAP, or null. Only with `account` set, and never the same
   * secret (RFC 7143 §9.2.1). Records written before it existed lack the
   * field: parseTargetRecord reads that as null.
   */
  mutualAccount: string | null;
  /** Who may log in; records written before it existed lack it: everyone. */
  initiators: InitiatorAccess;
  /**
   * States of its ALUA target port groups; a group without an entry is
   * active/optimized. Records written before it existed lack it.
   */
  portGroups?: PortGroupRecord[];
  /** Explicit ALUA offered to initiators (`alua-set --explicit on`); absent: implicit only. */
  aluaExplicit?: boolean;
  /** Host ID of the node the target is registered on, or null (unregistered). */
  host: string | null;
  /** What the owning node should do with it (its daemon writes this on start/stop). */
  desiredState: DesiredState;
  created: string;
  updated: string;
}

export interface AccountRecord {
  version: number;
  user: string;
  /** CHAP needs the secret itself; the file is mode 0600. */
  secret: string;
  created: string;
  updated: string;
}

function corrupt(file: string, why: string): ClusterError {
  return new ClusterError('ISCSI_ERR_CORRUPT_RECORD', `${file} is not a valid record: ${why}`);
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v);

export function parseTargetRecord(text: string, file: string): TargetRecord {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw corrupt(file, (e as Error).message);
  }
  if (!isObj(v)) throw corrupt(file, 'not a JSON object');
  if (typeof v.iqn !== 'string') throw corrupt(file, 'missing iqn');
  if (!Array.isArray(v.portals) || !Array.isArray(v.luns)) throw corrupt(file, 'missing portals or luns');
  for (const p of v.portals) {
    if (!isObj(p) || typeof p.address !== 'string' || !isInt(p.port) || !isInt(p.tpgt) || !isInt(p.relativePortId) || !isInt(p.portGroupId)) {
      throw corrupt(file, 'bad portal entry');
    }
  }
  for (const l of v.luns) {
    if (!isObj(l) || !isInt(l.id) || !isInt(l.sizeBytes) || typeof l.file !== 'string' || typeof l.naa !== 'string' || typeof l.serial !== 'string') {
      throw corrupt(file, 'bad LUN entry');
    }
    if (l.format !== 'raw' && l.format !== 'qcow2') throw corrupt(file, `bad format of LUN ${l.id}`);
    if (l.snapshots !== undefined) {
      const snapOk = (x: unknown) =>
        isObj(x) && typeof x.uuid === 'string' && (x.parent === null || typeof x.parent === 'string') && typeof x.file === 'string' &&
        (x.format === 'raw' || x.format === 'qcow2') && typeof x.created === 'string' && typeof x.description === 'string';
      if (!Array.isArray(l.snapshots) || !l.snapshots.every(snapOk)) throw corrupt(file, `bad snapshots of LUN ${l.id}`);
    }
    if (!(l.base === undefined || l.base === null || typeof l.base === 'string')) throw corrupt(file, `bad base of LUN ${l.id}`);
  }
  if (v.desiredState !== 'running' && v.desiredState !== 'stopped') throw corrupt(file, 'bad desiredState');
  if (!(v.host === null || typeof v.host === 'string')) throw corrupt(file, 'bad host');
  if (!(v.account === null || typeof v.account === 'string')) throw corrupt(file, 'bad account');
  if (v.mutualAccount === undefined) v.mutualAccount = null;
  if (!(v.mutualAccount === null || typeof v.mutualAccount === 'string')) throw corrupt(file, 'bad mutualAccount');
  if (!isInt(v.nextPortalId)) throw corrupt(file, 'bad nextPortalId');
  const stateNames: readonly string[] = ALUA_STATE_NAMES;
  const groupOk = (g: unknown) => isObj(g) && isInt(g.id) && typeof g.state === 'string' && stateNames.includes(g.state);
  if (v.portGroups !== undefined && !(Array.isArray(v.portGroups) && v.portGroups.every(groupOk))) throw corrupt(file, 'bad portGroups');
  if (v.aluaExplicit !== undefined && typeof v.aluaExplicit !== 'boolean') throw corrupt(file, 'bad aluaExplicit');
  if (v.initiators === undefined) v.initiators = { allow: [], deny: [] };
  const strings = (a: unknown): boolean => Array.isArray(a) && a.every((x) => typeof x === 'string');
  if (!isObj(v.initiators) || !strings(v.initiators.allow) || !strings(v.initiators.deny)) throw corrupt(file, 'bad initiators');
  return v as unknown as TargetRecord;
}

export function parseAccountRecord(text: string, file: string): AccountRecord {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw corrupt(file, (e as Error).message);
  }
  if (!isObj(v) || typeof v.user !== 'string' || typeof v.secret !== 'string') throw corrupt(file, 'missing user or secret');
  return v as unknown as AccountRecord;
}
