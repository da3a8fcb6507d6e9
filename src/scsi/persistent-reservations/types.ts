/**
 * Persistent reservations (SPC-4 §5.13): the state of one logical unit as
 * data. Keys are 64-bit and kept as bigint; the snapshot form (PrSnapshot)
 * is plain JSON, what src/cluster/pr-store.ts writes to ISCSI_ROOT.
 */

/** PERSISTENT RESERVE OUT service actions (SPC-4 §6.16.2, table 211). */
export const ProutSa = {
  REGISTER: 0x00,
  RESERVE: 0x01,
  RELEASE: 0x02,
  CLEAR: 0x03,
  PREEMPT: 0x04,
  PREEMPT_AND_ABORT: 0x05,
  REGISTER_AND_IGNORE_EXISTING_KEY: 0x06,
  REGISTER_AND_MOVE: 0x07,
} as const;

/** PERSISTENT RESERVE IN service actions (SPC-4 §6.15.1, table 200). */
export const PrinSa = {
  READ_KEYS: 0x00,
  READ_RESERVATION: 0x01,
  REPORT_CAPABILITIES: 0x02,
  READ_FULL_STATUS: 0x03,
} as const;

/** Persistent reservation TYPE values (SPC-4 §6.15.3.4, table 204). */
export const PrType = {
  WRITE_EXCLUSIVE: 0x1,
  EXCLUSIVE_ACCESS: 0x3,
  WRITE_EXCLUSIVE_REGISTRANTS_ONLY: 0x5,
  EXCLUSIVE_ACCESS_REGISTRANTS_ONLY: 0x6,
  WRITE_EXCLUSIVE_ALL_REGISTRANTS: 0x7,
  EXCLUSIVE_ACCESS_ALL_REGISTRANTS: 0x8,
} as const;

export type PrTypeValue = (typeof PrType)[keyof typeof PrType];

/** SCOPE: only LU_SCOPE exists in SPC-4 (§6.15.3.3). */
export const LU_SCOPE = 0x0;

export function isValidType(t: number): t is PrTypeValue {
  return t === 1 || t === 3 || t === 5 || t === 6 || t === 7 || t === 8;
}

/** All registrants types: every registered I_T nexus is a reservation holder (SPC-4 §5.13.10). */
export function isAllRegistrants(t: number): boolean {
  return t === PrType.WRITE_EXCLUSIVE_ALL_REGISTRANTS || t === PrType.EXCLUSIVE_ACCESS_ALL_REGISTRANTS;
}

/** Registrants only types (SPC-4 §5.13.10). */
export function isRegistrantsOnly(t: number): boolean {
  return t === PrType.WRITE_EXCLUSIVE_REGISTRANTS_ONLY || t === PrType.EXCLUSIVE_ACCESS_REGISTRANTS_ONLY;
}

export const TYPE_NAMES: Record<PrTypeValue, string> = {
  1: 'Write Exclusive',
  3: 'Exclusive Access',
  5: 'Write Exclusive, Registrants Only',
  6: 'Exclusive Access, Registrants Only',
  7: 'Write Exclusive, All Registrants',
  8: 'Exclusive Access, All Registrants',
};

/**
 * One registration: a reservation key registered for one I_T nexus
 * (initiator port x target port, SPC-4 §5.13.7). `allTgPt` records that it
 * was made with ALL_TG_PT = 1 (one registration per target port).
 */
export interface Registration {
  key: bigint;
  /** SCSI initiator port name `<iSCSI name>,i,0x<ISID>` as the initiator gave it (READ FULL STATUS). */
  initiatorPortName: string;
  relativePortId: number;
  allTgPt: boolean;
}

export interface Reservation {
  type: PrTypeValue;
  scope: number;
  /**
   * Registration (nexus key, see nexusKey) of the holder for the types
   * with one holder; null for the all registrants types, whose holders
   * are every registrant.
   */
  holder: string | null;
}

/** The whole persistent reservation state of one logical unit. */
export interface PrState {
  /** PRgeneration (SPC-4 §6.15.2), 32 bits, wraps. */
  generation: number;
  /** APTPL from the last successful REGISTER / REGISTER AND IGNORE EXISTING KEY / REGISTER AND MOVE (SPC-4 §5.13.5). */
  aptpl: boolean;
  /** By nexus key, in registration order. */
  registrations: Map<string, Registration>;
  reservation: Reservation | null;
}

export const SNAPSHOT_VERSION = 1;

/** JSON form of PrState (what is stored in ISCSI_ROOT). */
export interface PrSnapshot {
  version: number;
  generation: number;
  aptpl: boolean;
  registrations: Array<{ key: string; initiatorPortName: string; relativePortId: number; allTgPt: boolean }>;
  reservation: { type: number; scope: number; holder: string | null } | null;
}

export function emptyState(): PrState {
  return { generation: 0, aptpl: false, registrations: new Map(), reservation: null };
}

/**
 * Canonical SCSI initiator port name: iSCSI names compare case-insensitively
 * (RFC 3722 folds them to lower case) and so does the ISID's hex.
 */
export function canonicalPortName(initiatorPortName: string): string {
  return initiatorPortName.toLowerCase();
}

/** The key of an I_T nexus in the registration map: `<canonical initiator port name>|<relative target port id>`. */
export function nexusKey(initiatorPortName: string, relativePortId: number): string {
  return `${canonicalPortName(initiatorPortName)}|${relativePortId}`;
}

export function cloneState(s: PrState): PrState {
  return {
    generation: s.generation,
    aptpl: s.aptpl,
    registrations: new Map([...s.registrations].map(([k, r]) => [k, { ...r }])),
    reservation: s.reservation ? { ...s.reservation } : null,
  };
}

export function toSnapshot(s: PrState): PrSnapshot {
  return {
    version: SNAPSHOT_VERSION,
    generation: s.generation,
    aptpl: s.aptpl,
    registrations: [...s.registrations.values()].map((r) => ({
      key: r.key.toString(16).padStart(16, '0'),
      initiatorPortName: r.initiatorPortName,
      relativePortId: r.relativePortId,
      allTgPt: r.allTgPt,
    })),
    reservation: s.reservation ? { type: s.reservation.type, scope: s.reservation.scope, holder: s.reservation.holder } : null,
  };
}

export class PrSnapshotError extends Error {
  readonly code = 'SCSI_PR_BAD_STATE';
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Validate and convert a stored snapshot; throws PrSnapshotError with what is wrong. */
export function fromSnapshot(v: unknown): PrState {
  const bad = (why: string) => new PrSnapshotError(`persistent reservation state: ${why}`);
  if (!isObj(v)) throw bad('not a JSON object');
  if (v.version !== SNAPSHOT_VERSION) throw bad(`unknown version ${String(v.version)}`);
  if (typeof v.generation !== 'number' || !Number.isInteger(v.generation) || v.generation < 0 || v.generation > 0xffffffff) throw bad('bad generation');
  if (typeof v.aptpl !== 'boolean') throw bad('bad aptpl');
  if (!Array.isArray(v.registrations)) throw bad('bad registrations');
  const registrations = new Map<string, Registration>();
  for (const r of v.registrations) {
    if (!isObj(r) || typeof r.key !== 'string' || !/^[0-9a-f]{16}$/i.test(r.key)) throw bad('bad registration key');
    if (typeof r.initiatorPortName !== 'string' || !/,i,0x[0-9a-f]{12}$/i.test(r.initiatorPortName)) throw bad('bad initiator port name');
    if (typeof r.relativePortId !== 'number' || !Number.isInteger(r.relativePortId) || r.relativePortId < 1 || r.relativePortId > 0xffff) throw bad('bad relative target port id');
    const key = BigInt(`0x${r.key}`);
    if (key === 0n) throw bad('zero registration key');
    const reg: Registration = { key, initiatorPortName: r.initiatorPortName, relativePortId: r.relativePortId, allTgPt: r.allTgPt === true };
    registrations.set(nexusKey(reg.initiatorPortName, reg.relativePortId), reg);
  }
  let reservation: Reservation | null = null;
  if (v.reservation !== null && v.reservation !== undefined) {
    const r = v.reservation;
    if (!isObj(r) || typeof r.type !== 'number' || !isValidType(r.type)) throw bad('bad reservation type');
    if (r.scope !== LU_SCOPE) throw bad('bad reservation scope');
    const holder = r.holder;
    if (isAllRegistrants(r.type)) {
      if (holder !== null) throw bad('an all registrants reservation has no single holder');
      if (registrations.size === 0) throw bad('an all registrants reservation without registrants');
    } else if (typeof holder !== 'string' || !registrations.has(holder)) {
      throw bad('reservation holder is not registered');
    }
    reservation = { type: r.type, scope: LU_SCOPE, holder: holder as string | null };
  }
  return { generation: v.generation, aptpl: v.aptpl, registrations, reservation };
}
