/**
 * Per-target settings that apply to a running target without a restart:
 *
 * - the initiator access list (`create/set --allow IQN --deny IQN`): the
 *   daemon consults it at every login (and for SendTargets), and refuses an
 *   initiator it excludes with login status 0x0202, "authorization failure"
 *   (RFC 7143 §11.13.5);
 * - a LUN's Online flag (`lun-set --online/--offline`, source 4.2.3 "Online"):
 *   the record changes here, the local daemon then shows or hides the LUN.
 *
 * Both are locked read-modify-writes of the target record (store.updateTarget).
 */
import { ClusterError } from './errors.js';
import { parseLunId, validateIqn } from './validate.js';
import type { InitiatorAccess, LunRecord, TargetRecord } from './records.js';
import type { ClusterStore } from './store.js';

/** RFC 3720 §3.2.6.3.2 "eui." followed by 16 hex digits (EUI-64). */
const EUI_RE = /^eui\.[0-9a-f]{16}$/;
/** RFC 3980 "naa." followed by 16 or 32 hex digits (NAA 64- or 128-bit). */
const NAA_RE = /^naa\.(?:[0-9a-f]{16}|[0-9a-f]{32})$/;

/**
 * An initiator's iSCSI name as typed for `--allow`/`--deny`: any of the three
 * RFC 3720 §3.2.6.3 formats (iqn., eui., naa.). iSCSI names are compared
 * case-insensitively (RFC 3722 stringprep maps them to lower case), so the
 * stored form is lower case.
 */
export function validateInitiatorName(text: string): string {
  const v = text.trim().toLowerCase();
  if (v.startsWith('iqn.')) {
    try {
      return validateIqn(v);
    } catch (e) {
      throw new ClusterError('ISCSI_ERR_BAD_INITIATOR', `initiator name: ${(e as Error).message}`);
    }
  }
  if (EUI_RE.test(v) || NAA_RE.test(v)) return v;
  throw new ClusterError(
    'ISCSI_ERR_BAD_INITIATOR',
    `'${text}' is not a valid initiator name: expected iqn.YYYY-MM.reversed.domain[:unique-name], ` +
      'eui. and 16 hex digits, or naa. and 16 or 32 hex digits (RFC 3720 §3.2.6.3, RFC 3980)',
  );
}

export function emptyAccess(): InitiatorAccess {
  return { allow: [], deny: [] };
}

/**
 * Whether an initiator may log in: never when it is on the deny list; when
 * the allow list is not empty, only when it is on it; otherwise yes.
 */
export function initiatorAllowed(access: InitiatorAccess, initiatorName: string): boolean {
  const n = initiatorName.trim().toLowerCase();
  if (access.deny.includes(n)) return false;
  return access.allow.length === 0 || access.allow.includes(n);
}

/** Changes of `set`: applied in this order. */
export interface AccessChanges {
  /** `--allow-all`: empty both lists first. */
  clear?: boolean;
  /** `--unlist IQN`: take names off both lists. */
  unlist?: string[];
  /** `--allow IQN`: add to the allow list (and take off the deny list). */
  allow?: string[];
  /** `--deny IQN`: add to the deny list (and take off the allow list). */
  deny?: string[];
}

export function hasAccessChanges(c: AccessChanges): boolean {
  return c.clear === true || (c.unlist?.length ?? 0) > 0 || (c.allow?.length ?? 0) > 0 || (c.deny?.length ?? 0) > 0;
}

/** Validate every name and refuse one name both allowed and denied, before anything is written. */
export function normalizeAccessChanges(c: AccessChanges): Required<AccessChanges> {
  const out = {
    clear: c.clear === true,
    unlist: (c.unlist ?? []).map(validateInitiatorName),
    allow: (c.allow ?? []).map(validateInitiatorName),
    deny: (c.deny ?? []).map(validateInitiatorName),
  };
  const both = out.allow.find((n) => out.deny.includes(n));
  if (both !== undefined) {
    throw new ClusterError('ISCSI_ERR_BAD_REQUEST', `initiator ${both} is given with both --allow and --deny`);
  }
  return out;
}

/** The access list after the changes (a new object; the input is untouched). */
export function applyAccessChanges(access: InitiatorAccess, changes: AccessChanges): InitiatorAccess {
  const c = normalizeAccessChanges(changes);
  let allow = c.clear ? [] : [...access.allow];
  let deny = c.clear ? [] : [...access.deny];
  allow = allow.filter((n) => !c.unlist.includes(n));
  deny = deny.filter((n) => !c.unlist.includes(n));
  for (const n of c.allow) {
    deny = deny.filter((d) => d !== n);
    if (!allow.includes(n)) allow.push(n);
  }
  for (const n of c.deny) {
    allow = allow.filter((a) => a !== n);
    if (!deny.includes(n)) deny.push(n);
  }
  return { allow: allow.sort(), deny: deny.sort() };
}

/** The initial access list of `create --allow/--deny`. */
export function initialAccess(allow: string[] = [], deny: string[] = []): InitiatorAccess {
  return applyAccessChanges(emptyAccess(), { allow, deny });
}

/**
 * `set --allow/--deny/--unlist/--allow-all`: allowed while the target runs;
 * the daemon reads the list at every login, so it applies to the next login
 * and leaves logged-in sessions alone.
 */
export async function setInitiatorAccess(store: ClusterStore, iqn: string, changes: AccessChanges): Promise<TargetRecord> {
  normalizeAccessChanges(changes); // refuse bad names before taking the lock
  return store.updateTarget(iqn, (rec) => {
    rec.initiators = applyAccessChanges(rec.initiators, changes);
  });
}

/**
 * `lun-set -t IQN -l ID --online|--offline`: Online: Yes/No of source 4.2.3.
 * Allowed while the target runs (the daemon applies it); returns the LUN and
 * whether the flag changed.
 */
export async function setLunOnline(
  store: ClusterStore,
  iqn: string,
  idText: number | string,
  online: boolean,
): Promise<{ lun: LunRecord; changed: boolean; target: TargetRecord }> {
  const id = parseLunId(idText);
  let lun: LunRecord | undefined;
  let changed = false;
  const target = await store.updateTarget(iqn, (rec) => {
    const l = rec.luns.find((x) => x.id === id);
    if (!l) throw new ClusterError('ISCSI_ERR_LUN_NOT_FOUND', `target ${rec.iqn} has no LUN ${id}`);
    changed = l.online !== online;
    l.online = online;
    lun = { ...l };
  });
  return { lun: lun!, changed, target };
}
