/**
 * Login/Text negotiation keys: ONE declarative table of RFC 7143 §12 - §13
 * (plus iSCSIProtocolLevel/TaskReporting and the obsoleted marker keys), and
 * the negotiation rules of RFC 7143 §6.2 that apply it. Pure: no I/O.
 *
 * Target's point of view: the initiator proposes, we answer. We propose only
 * MaxRecvDataSegmentLength (declarative, §13.12) and, just before Full
 * Feature Phase, keys whose RFC default would exceed our limits (§6.2: a key
 * not negotiated keeps its default).
 */
import { LoginStatus } from '../pdu/constants.js';
import type { TextPair } from './text.js';
import { TextValue, formatBoolean, parseBoolean, parseNumber, splitList } from './text.js';

// ---------------------------------------------------------------- table types

/** RFC 7143 §13 "Senders". */
export type KeySender = 'initiator' | 'target' | 'both';

/**
 * RFC 7143 §13 "Use": LO leading connection only; IO initialize only (any
 * login); ALL login and Full Feature Phase; FFPO Full Feature Phase only.
 * SEC: §12 authentication keys, security negotiation stage only.
 * OBS: obsoleted by RFC 7143 (markers), answered for old initiators.
 */
export type KeyUse = 'LO' | 'IO' | 'ALL' | 'FFPO' | 'SEC' | 'OBS';

/**
 * How a key is negotiated (RFC 7143 §6.2):
 * list: §6.2.1, first value of the offer we support, Reject if none;
 * min/max: §6.2.2 numerical, result is the smaller/larger of offer and ours;
 * and/or: §6.2.2 boolean, result is AND/OR of offer and ours;
 * declarative: each side states a value, nothing to answer;
 * security: handled by the authentication code (§12);
 * obsolete: answered with a fixed value (markers, see below).
 */
export type NegotiationKind = 'list' | 'min' | 'max' | 'and' | 'or' | 'declarative' | 'security' | 'obsolete';

/** What the target accepts/offers, given to the login state machine by the engine. */
export interface TargetLimits {
  /** §13.12 what we declare: the largest data segment we accept. */
  maxRecvDataSegmentLength: number;
  /** §13.13 our largest burst (min-negotiated). */
  maxBurstLength: number;
  /** §13.14 our largest unsolicited burst (min-negotiated, never above maxBurstLength). */
  firstBurstLength: number;
  /** §13.17 R2Ts we allow outstanding per task (min-negotiated). */
  maxOutstandingR2T: number;
  /** §13.15 our DefaultTime2Wait (max-negotiated). */
  defaultTime2Wait: number;
  /** §13.16 our DefaultTime2Retain (min-negotiated). */
  defaultTime2Retain: number;
  /** §13.2 we run one connection per session: always 1. */
  maxConnections: number;
  /** §13.20 we implement error recovery level 0 only. */
  errorRecoveryLevel: number;
  /** §13.10 true: we require R2T before any non-immediate data (offer Yes, OR-negotiated); false lets the initiator choose. */
  initialR2T: boolean;
  /** §13.11 false turns immediate data off (AND-negotiated). */
  immediateData: boolean;
  /** §13.18 true: we need Data-Out PDUs in order (OR-negotiated). */
  dataPDUInOrder: boolean;
  /** §13.19 true: we need data sequences in order (OR-negotiated). */
  dataSequenceInOrder: boolean;
  /** §13.1 digests we can do, e.g. ['CRC32C', 'None']. */
  headerDigest: readonly string[];
  dataDigest: readonly string[];
  /** RFC 7143 §13.23 TaskReporting values we implement. */
  taskReporting: readonly string[];
  /** RFC 7143 §13.24 / RFC 7144: highest iSCSIProtocolLevel we implement. */
  iscsiProtocolLevel: number;
}

export const DEFAULT_TARGET_LIMITS: Readonly<TargetLimits> = Object.freeze({
  maxRecvDataSegmentLength: 262144,
  maxBurstLength: 1048576,
  firstBurstLength: 65536,
  maxOutstandingR2T: 1,
  defaultTime2Wait: 2,
  defaultTime2Retain: 20,
  maxConnections: 1,
  errorRecoveryLevel: 0,
  // We accept unsolicited Data-Out (the session implements it), so the initiator decides.
  initialR2T: false,
  immediateData: true,
  dataPDUInOrder: true,
  dataSequenceInOrder: true,
  headerDigest: Object.freeze(['CRC32C', 'None']),
  dataDigest: Object.freeze(['CRC32C', 'None']),
  taskReporting: Object.freeze(['RFC3720']),
  iscsiProtocolLevel: 1,
});

export interface KeyDefinition {
  readonly name: string;
  /** Where the key is defined. */
  readonly ref: string;
  readonly sender: KeySender;
  readonly use: KeyUse;
  /** SW session-wide, CO connection-only. */
  readonly scope: 'SW' | 'CO';
  readonly kind: NegotiationKind;
  /** RFC default, as text. Undefined: no default. */
  readonly default?: string;
  /** Inclusive numeric range of min/max/declarative-numeric keys. */
  readonly range?: readonly [number, number];
  /** Values defined for list keys. */
  readonly values?: readonly string[];
  /** "Irrelevant when: SessionType=Discovery" in RFC 7143 §13. */
  readonly irrelevantInDiscovery?: boolean;
  /** Our offer or limit for negotiated keys. */
  readonly ours?: (l: TargetLimits) => number | boolean | readonly string[];
  /** Fixed answer of obsolete keys. */
  readonly answer?: string;
  /**
   * When the initiator leaves this key alone and its RFC default is outside
   * our limit, we propose ours before Full Feature Phase. Not set for keys
   * whose default is harmless to us (DefaultTime2Wait/Retain).
   */
  readonly enforced?: boolean;
}

const MAX_24 = 16777215;

/**
 * Every key of RFC 7143 §12 and §13 (plus RFC 7145's RDMAExtensions, which
 * we answer No to). X- and X# private keys (§13.22) are not listed: they are
 * answered NotUnderstood, as are all unknown keys (§6.2).
 */
export const KEY_TABLE: readonly KeyDefinition[] = Object.freeze([
  // §12: authentication (security stage only; negotiated by the state machine)
  { name: 'AuthMethod', ref: 'RFC 7143 §12', sender: 'both', use: 'SEC', scope: 'CO', kind: 'security', default: 'None', values: ['KRB5', 'SPKM1', 'SPKM2', 'SRP', 'CHAP', 'None'] },
  { name: 'CHAP_A', ref: 'RFC 7143 §12.1.3', sender: 'both', use: 'SEC', scope: 'CO', kind: 'security' },
  { name: 'CHAP_I', ref: 'RFC 7143 §12.1.3', sender: 'both', use: 'SEC', scope: 'CO', kind: 'security' },
  { name: 'CHAP_C', ref: 'RFC 7143 §12.1.3', sender: 'both', use: 'SEC', scope: 'CO', kind: 'security' },
  { name: 'CHAP_N', ref: 'RFC 7143 §12.1.3', sender: 'both', use: 'SEC', scope: 'CO', kind: 'security' },
  { name: 'CHAP_R', ref: 'RFC 7143 §12.1.3', sender: 'both', use: 'SEC', scope: 'CO', kind: 'security' },

  // §13: operational keys, in dependency order (a key's answer may depend on keys above it)
  { name: 'HeaderDigest', enforced: true, ref: 'RFC 7143 §13.1', sender: 'both', use: 'IO', scope: 'CO', kind: 'list', default: 'None', values: ['CRC32C', 'None'], ours: (l) => l.headerDigest },
  { name: 'DataDigest', enforced: true, ref: 'RFC 7143 §13.1', sender: 'both', use: 'IO', scope: 'CO', kind: 'list', default: 'None', values: ['CRC32C', 'None'], ours: (l) => l.dataDigest },
  { name: 'MaxConnections', enforced: true, ref: 'RFC 7143 §13.2', sender: 'both', use: 'LO', scope: 'SW', kind: 'min', default: '1', range: [1, 65535], irrelevantInDiscovery: true, ours: (l) => l.maxConnections },
  { name: 'SendTargets', ref: 'RFC 7143 §13.3', sender: 'initiator', use: 'FFPO', scope: 'SW', kind: 'declarative' },
  { name: 'TargetName', ref: 'RFC 7143 §13.4', sender: 'both', use: 'IO', scope: 'SW', kind: 'declarative' },
  { name: 'InitiatorName', ref: 'RFC 7143 §13.5', sender: 'initiator', use: 'IO', scope: 'SW', kind: 'declarative' },
  { name: 'TargetAlias', ref: 'RFC 7143 §13.6', sender: 'target', use: 'ALL', scope: 'SW', kind: 'declarative' },
  { name: 'InitiatorAlias', ref: 'RFC 7143 §13.7', sender: 'initiator', use: 'ALL', scope: 'SW', kind: 'declarative' },
  { name: 'TargetAddress', ref: 'RFC 7143 §13.8', sender: 'target', use: 'ALL', scope: 'SW', kind: 'declarative' },
  { name: 'TargetPortalGroupTag', ref: 'RFC 7143 §13.9', sender: 'target', use: 'IO', scope: 'SW', kind: 'declarative', range: [0, 65535] },
  { name: 'InitialR2T', enforced: true, ref: 'RFC 7143 §13.10', sender: 'both', use: 'LO', scope: 'SW', kind: 'or', default: 'Yes', irrelevantInDiscovery: true, ours: (l) => l.initialR2T },
  { name: 'ImmediateData', enforced: true, ref: 'RFC 7143 §13.11', sender: 'both', use: 'LO', scope: 'SW', kind: 'and', default: 'Yes', irrelevantInDiscovery: true, ours: (l) => l.immediateData },
  { name: 'MaxRecvDataSegmentLength', ref: 'RFC 7143 §13.12', sender: 'both', use: 'ALL', scope: 'CO', kind: 'declarative', default: '8192', range: [512, MAX_24], ours: (l) => l.maxRecvDataSegmentLength },
  { name: 'MaxBurstLength', enforced: true, ref: 'RFC 7143 §13.13', sender: 'both', use: 'LO', scope: 'SW', kind: 'min', default: '262144', range: [512, MAX_24], irrelevantInDiscovery: true, ours: (l) => l.maxBurstLength },
  { name: 'FirstBurstLength', enforced: true, ref: 'RFC 7143 §13.14', sender: 'both', use: 'LO', scope: 'SW', kind: 'min', default: '65536', range: [512, MAX_24], irrelevantInDiscovery: true, ours: (l) => l.firstBurstLength },
  { name: 'DefaultTime2Wait', ref: 'RFC 7143 §13.15', sender: 'both', use: 'LO', scope: 'SW', kind: 'max', default: '2', range: [0, 3600], ours: (l) => l.defaultTime2Wait },
  { name: 'DefaultTime2Retain', ref: 'RFC 7143 §13.16', sender: 'both', use: 'LO', scope: 'SW', kind: 'min', default: '20', range: [0, 3600], ours: (l) => l.defaultTime2Retain },
  { name: 'MaxOutstandingR2T', enforced: true, ref: 'RFC 7143 §13.17', sender: 'both', use: 'LO', scope: 'SW', kind: 'min', default: '1', range: [1, 65535], irrelevantInDiscovery: true, ours: (l) => l.maxOutstandingR2T },
  { name: 'DataPDUInOrder', enforced: true, ref: 'RFC 7143 §13.18', sender: 'both', use: 'LO', scope: 'SW', kind: 'or', default: 'Yes', irrelevantInDiscovery: true, ours: (l) => l.dataPDUInOrder },
  { name: 'DataSequenceInOrder', enforced: true, ref: 'RFC 7143 §13.19', sender: 'both', use: 'LO', scope: 'SW', kind: 'or', default: 'Yes', irrelevantInDiscovery: true, ours: (l) => l.dataSequenceInOrder },
  { name: 'ErrorRecoveryLevel', enforced: true, ref: 'RFC 7143 §13.20', sender: 'both', use: 'LO', scope: 'SW', kind: 'min', default: '0', range: [0, 2], ours: (l) => l.errorRecoveryLevel },
  { name: 'SessionType', ref: 'RFC 7143 §13.21', sender: 'initiator', use: 'LO', scope: 'SW', kind: 'declarative', default: 'Normal', values: ['Discovery', 'Normal'] },
  { name: 'TaskReporting', ref: 'RFC 7143 §13.23', sender: 'both', use: 'LO', scope: 'SW', kind: 'list', default: 'RFC3720', values: ['RFC3720', 'ResponseFence', 'FastAbort'], irrelevantInDiscovery: true, ours: (l) => l.taskReporting },
  { name: 'iSCSIProtocolLevel', enforced: true, ref: 'RFC 7143 §13.24, RFC 7144', sender: 'both', use: 'LO', scope: 'SW', kind: 'min', default: '1', range: [0, 31], ours: (l) => l.iscsiProtocolLevel },
  // RFC 7145 (iSER): we are iSCSI/TCP only.
  { name: 'RDMAExtensions', ref: 'RFC 7145 §6.3.1', sender: 'both', use: 'LO', scope: 'SW', kind: 'and', default: 'No', ours: () => false },

  // Obsoleted keys (RFC 7143 §13 "Obsoleted Keys"): markers were removed from iSCSI.
  // A responder SHOULD answer IFMarker/OFMarker with Reject and MAY answer No; we answer
  // No, which RFC 3720-era initiators (that offer "No") understand. IFMarkInt/OFMarkInt
  // MUST be answered with Reject.
  { name: 'IFMarker', ref: 'RFC 7143 §13 (obsoleted keys)', sender: 'both', use: 'OBS', scope: 'CO', kind: 'obsolete', answer: TextValue.No },
  { name: 'OFMarker', ref: 'RFC 7143 §13 (obsoleted keys)', sender: 'both', use: 'OBS', scope: 'CO', kind: 'obsolete', answer: TextValue.No },
  { name: 'IFMarkInt', ref: 'RFC 7143 §13 (obsoleted keys)', sender: 'both', use: 'OBS', scope: 'CO', kind: 'obsolete', answer: TextValue.Reject },
  { name: 'OFMarkInt', ref: 'RFC 7143 §13 (obsoleted keys)', sender: 'both', use: 'OBS', scope: 'CO', kind: 'obsolete', answer: TextValue.Reject },
] satisfies KeyDefinition[]);

const KEY_INDEX: ReadonlyMap<string, KeyDefinition> = new Map(KEY_TABLE.map((k) => [k.name, k]));
const KEY_ORDER: ReadonlyMap<string, number> = new Map(KEY_TABLE.map((k, i) => [k.name, i]));

export function findKey(name: string): KeyDefinition | undefined {
  return KEY_INDEX.get(name);
}

/** RFC 7143 §13.22: X- (unregistered) and X# (IANA-registered) private extension keys. */
export function isPrivateKey(name: string): boolean {
  return name.startsWith('X-') || name.startsWith('X#');
}

/**
 * Check limits before use (they come from configuration).
 * @throws RangeError with a message naming the bad limit
 */
export function validateTargetLimits(l: TargetLimits): void {
  const num = (k: keyof TargetLimits, lo: number, hi: number): void => {
    const v = l[k] as number;
    if (!Number.isInteger(v) || v < lo || v > hi) throw new RangeError(`${k} must be an integer from ${lo} to ${hi}, got ${v}`);
  };
  num('maxRecvDataSegmentLength', 512, MAX_24);
  num('maxBurstLength', 512, MAX_24);
  num('firstBurstLength', 512, MAX_24);
  num('maxOutstandingR2T', 1, 65535);
  num('defaultTime2Wait', 0, 3600);
  num('defaultTime2Retain', 0, 3600);
  num('iscsiProtocolLevel', 0, 31);
  if (l.firstBurstLength > l.maxBurstLength) throw new RangeError('firstBurstLength must not exceed maxBurstLength (RFC 7143 §13.14)');
  if (l.maxConnections !== 1) throw new RangeError('maxConnections must be 1: sessions have one connection');
  if (l.errorRecoveryLevel !== 0) throw new RangeError('errorRecoveryLevel must be 0: higher levels are not implemented');
  for (const k of ['headerDigest', 'dataDigest'] as const) {
    if (l[k].length === 0 || l[k].some((v) => v !== 'CRC32C' && v !== 'None')) throw new RangeError(`${k} must list CRC32C and/or None`);
  }
  if (!l.taskReporting.includes('RFC3720')) throw new RangeError('taskReporting must include RFC3720 (the default)');
}

// ---------------------------------------------------------------- negotiation rules (pure)

export interface Answer<T> {
  /** Text to send back. */
  answer: string;
  /** Negotiated value; undefined when the answer is Reject (the key keeps its default). */
  result?: T;
}

/**
 * RFC 7143 §6.2.1 list negotiation: the first value in the originator's list
 * (its order of preference) that we support; Reject when there is none.
 * Values we do not understand are skipped. "None" is only chosen when offered.
 */
export function negotiateList(offered: string, supported: readonly string[]): Answer<string> {
  for (const v of splitList(offered)) {
    if (supported.includes(v)) return { answer: v, result: v };
  }
  return { answer: TextValue.Reject };
}

/**
 * RFC 7143 §6.2.2 numerical negotiation: min or max of the offer and ours.
 * A value that is not a number or is outside the key's range is answered
 * Reject (the key keeps its default).
 */
export function negotiateNumber(
  kind: 'min' | 'max',
  offered: string,
  ours: number,
  range: readonly [number, number],
): Answer<number> {
  const n = parseNumber(offered);
  if (n === undefined || n < range[0] || n > range[1]) return { answer: TextValue.Reject };
  const r = kind === 'min' ? Math.min(n, ours) : Math.max(n, ours);
  return { answer: String(r), result: r };
}

/** RFC 7143 §6.2.2 Boolean negotiation: AND or OR of the offer and ours; Reject for a non-Boolean. */
export function negotiateBoolean(kind: 'and' | 'or', offered: string, ours: boolean): Answer<boolean> {
  const b = parseBoolean(offered);
  if (b === undefined) return { answer: TextValue.Reject };
  const r = kind === 'and' ? b && ours : b || ours;
  return { answer: formatBoolean(r), result: r };
}

// ---------------------------------------------------------------- negotiated parameters

/** Operational parameters in force after login (RFC 7143 §13 defaults unless negotiated). */
export interface OperationalParams {
  /** §13.1: true when CRC32C header digests are in use (the only digest defined). */
  headerDigest: boolean;
  /** §13.1: true when CRC32C data digests are in use. */
  dataDigest: boolean;
  maxConnections: number;
  initialR2T: boolean;
  immediateData: boolean;
  maxBurstLength: number;
  firstBurstLength: number;
  defaultTime2Wait: number;
  defaultTime2Retain: number;
  maxOutstandingR2T: number;
  dataPDUInOrder: boolean;
  dataSequenceInOrder: boolean;
  errorRecoveryLevel: number;
  taskReporting: string;
  iscsiProtocolLevel: number;
  /** §13.12 declared by the initiator: the largest data segment WE may send. */
  initiatorMaxRecvDataSegmentLength: number;
  /** §13.12 declared by us: the largest data segment we accept. */
  targetMaxRecvDataSegmentLength: number;
}

export function defaultOperationalParams(): OperationalParams {
  return {
    headerDigest: false,
    dataDigest: false,
    maxConnections: 1,
    initialR2T: true,
    immediateData: true,
    maxBurstLength: 262144,
    firstBurstLength: 65536,
    defaultTime2Wait: 2,
    defaultTime2Retain: 20,
    maxOutstandingR2T: 1,
    dataPDUInOrder: true,
    dataSequenceInOrder: true,
    errorRecoveryLevel: 0,
    taskReporting: 'RFC3720',
    iscsiProtocolLevel: 1,
    initiatorMaxRecvDataSegmentLength: 8192,
    targetMaxRecvDataSegmentLength: 8192,
  };
}

/** A negotiation the login cannot continue from: status 0x0200 (RFC 7143 §11.13.5). */
export class NegotiationError extends Error {
  override readonly name = 'NegotiationError';
  readonly code = 'ISCSI_ERR_NEGOTIATION';
  readonly status = LoginStatus.InitiatorError;
}

type ParamValue = string | number | boolean;

const PARAM_FIELD: Readonly<Record<string, keyof OperationalParams>> = Object.freeze({
  HeaderDigest: 'headerDigest',
  DataDigest: 'dataDigest',
  MaxConnections: 'maxConnections',
  InitialR2T: 'initialR2T',
  ImmediateData: 'immediateData',
  MaxBurstLength: 'maxBurstLength',
  FirstBurstLength: 'firstBurstLength',
  DefaultTime2Wait: 'defaultTime2Wait',
  DefaultTime2Retain: 'defaultTime2Retain',
  MaxOutstandingR2T: 'maxOutstandingR2T',
  DataPDUInOrder: 'dataPDUInOrder',
  DataSequenceInOrder: 'dataSequenceInOrder',
  ErrorRecoveryLevel: 'errorRecoveryLevel',
  TaskReporting: 'taskReporting',
  iSCSIProtocolLevel: 'iscsiProtocolLevel',
});

/** Keys the login state machine handles itself (declarations of the first request, authentication). */
export const LOGIN_DECLARATIVE_KEYS: ReadonlySet<string> = new Set(['InitiatorName', 'TargetName', 'SessionType', 'InitiatorAlias']);

/**
 * The operational part of one login: answers the initiator's operational
 * keys (RFC 7143 §6.2, §13), remembers results, and produces our own
 * declarations and proposals. One instance per login.
 *
 * Rules beyond the per-kind functions above:
 * - keys from the initiator that only the target may send (TargetAlias,
 *   TargetAddress, TargetPortalGroupTag) or only valid in Full Feature Phase
 *   (SendTargets) are answered Reject;
 * - "Irrelevant" for session keys in a Discovery session (§13 "Irrelevant
 *   when: SessionType=Discovery") and for FirstBurstLength when
 *   InitialR2T=Yes and ImmediateData=No (§13.14);
 * - FirstBurstLength never above the negotiated MaxBurstLength (§13.14);
 * - unknown and X-/X# keys: NotUnderstood (§6.2, §13.22);
 * - a key offered twice in one login is a protocol error (§6.2), detected by
 *   the caller across all keys of the login.
 */
export class OperationalNegotiator {
  private readonly results = new Map<string, ParamValue>();
  private readonly proposed = new Map<string, string>();
  private declared = false;
  private initiatorMrdsl: number | undefined;

  constructor(
    private readonly sessionType: 'Normal' | 'Discovery',
    private readonly limits: TargetLimits,
  ) {}

  /** True while proposals we sent are unanswered. */
  get awaitingReplies(): boolean {
    return this.proposed.size > 0;
  }

  /**
   * Answer the initiator's keys (authentication and login-declarative keys
   * already removed by the caller). Answers come back in the order of the
   * offers; keys are evaluated in table order so that dependent keys
   * (FirstBurstLength) see their inputs.
   *
   * @throws NegotiationError for a bad reply to one of our proposals
   */
  answer(pairs: readonly TextPair[]): TextPair[] {
    const sorted = [...pairs].sort((a, b) => (KEY_ORDER.get(a.key) ?? 1e9) - (KEY_ORDER.get(b.key) ?? 1e9));
    const answers = new Map<TextPair, string | undefined>();
    for (const p of sorted) answers.set(p, this.answerOne(p));
    const out: TextPair[] = [];
    for (const p of pairs) {
      const a = answers.get(p);
      if (a !== undefined) out.push({ key: p.key, value: a });
    }
    return out;
  }

  private answerOne(p: TextPair): string | undefined {
    const proposal = this.proposed.get(p.key);
    if (proposal !== undefined) {
      this.acceptReply(p, proposal);
      return undefined;
    }
    if (isPrivateKey(p.key)) return TextValue.NotUnderstood;
    const def = findKey(p.key);
    if (!def) return TextValue.NotUnderstood;
    if (def.kind === 'obsolete') return def.answer;
    if (def.sender === 'target' || def.use === 'FFPO' || def.kind === 'security') return TextValue.Reject;
    if (def.name === 'MaxRecvDataSegmentLength') {
      const n = parseNumber(p.value);
      if (n === undefined || n < def.range![0] || n > def.range![1]) return TextValue.Reject;
      this.initiatorMrdsl = n;
      return undefined; // declarative: nothing to answer
    }
    if (def.kind === 'declarative') return undefined;
    if (def.irrelevantInDiscovery && this.sessionType === 'Discovery') return TextValue.Irrelevant;
    if (def.name === 'FirstBurstLength' && this.current('InitialR2T') === true && this.current('ImmediateData') === false) {
      return TextValue.Irrelevant;
    }
    const a = this.negotiate(def, p.value);
    if (a.result !== undefined) this.results.set(def.name, a.result);
    return a.answer;
  }

  private negotiate(def: KeyDefinition, offered: string): Answer<ParamValue> {
    const ours = def.ours!(this.limits);
    switch (def.kind) {
      case 'list':
        return negotiateList(offered, ours as readonly string[]);
      case 'min':
      case 'max': {
        let limit = ours as number;
        if (def.name === 'FirstBurstLength') limit = Math.min(limit, this.current('MaxBurstLength') as number);
        return negotiateNumber(def.kind, offered, limit, def.range!);
      }
      case 'and':
      case 'or':
        return negotiateBoolean(def.kind, offered, ours as boolean);
      default:
        return { answer: TextValue.Reject };
    }
  }

  /** Value in force now: negotiated, else RFC default. */
  private current(name: string): ParamValue | undefined {
    const r = this.results.get(name);
    if (r !== undefined) return r;
    const def = findKey(name);
    if (!def || def.default === undefined) return undefined;
    return parseDefault(def);
  }

  /**
   * Our declaration of MaxRecvDataSegmentLength (§13.12), once per login,
   * in the operational stage.
   */
  declarations(): TextPair[] {
    if (this.declared) return [];
    this.declared = true;
    return [{ key: 'MaxRecvDataSegmentLength', value: String(this.limits.maxRecvDataSegmentLength) }];
  }

  /**
   * Keys the initiator did not negotiate whose RFC default we cannot live
   * with (e.g. our MaxBurstLength below 262144): we propose them before Full
   * Feature Phase; the initiator answers in its next request. `negotiated`
   * names every key the initiator has sent in this login. Calling again
   * while proposals are outstanding returns nothing new.
   */
  proposals(negotiated: ReadonlySet<string>): TextPair[] {
    if (this.proposed.size > 0) return [];
    const out: TextPair[] = [];
    for (const def of KEY_TABLE) {
      if (!def.enforced || !def.ours || def.default === undefined || negotiated.has(def.name)) continue;
      if (def.irrelevantInDiscovery && this.sessionType === 'Discovery') continue;
      const ours = def.ours(this.limits);
      const dflt = parseDefault(def);
      let value: string | undefined;
      switch (def.kind) {
        case 'min': {
          let limit = ours as number;
          if (def.name === 'FirstBurstLength') {
            if (this.current('InitialR2T') === true && this.current('ImmediateData') === false) break;
            limit = Math.min(limit, this.current('MaxBurstLength') as number);
          }
          if ((dflt as number) > limit) value = String(limit);
          break;
        }
        case 'max':
          if ((dflt as number) < (ours as number)) value = String(ours);
          break;
        case 'and':
          if (dflt === true && ours === false) value = TextValue.No;
          break;
        case 'or':
          if (dflt === false && ours === true) value = TextValue.Yes;
          break;
        case 'list':
          if (!(ours as readonly string[]).includes(dflt as string)) value = (ours as readonly string[]).join(',');
          break;
        default:
          break;
      }
      if (value !== undefined) {
        this.proposed.set(def.name, value);
        out.push({ key: def.name, value });
      }
    }
    return out;
  }

  /** RFC 7143 §6.2: the initiator's answer to our proposal must be admissible. */
  private acceptReply(p: TextPair, proposal: string): void {
    this.proposed.delete(p.key);
    const def = findKey(p.key)!;
    const bad = (): never => {
      throw new NegotiationError(`initiator answered ${p.key}=${p.value.slice(0, 32)} to our proposal ${p.key}=${proposal} (RFC 7143 §6.2)`);
    };
    switch (def.kind) {
      case 'min':
      case 'max': {
        const n = parseNumber(p.value);
        const ours = Number(proposal);
        if (n === undefined || n < def.range![0] || n > def.range![1]) bad();
        if (def.kind === 'min' ? n! > ours : n! < ours) bad();
        this.results.set(def.name, n!);
        return;
      }
      case 'and':
      case 'or': {
        const b = parseBoolean(p.value);
        const ours = proposal === TextValue.Yes;
        if (b === undefined) bad();
        if (def.kind === 'and' ? b !== (b! && ours) : b !== (b! || ours)) bad();
        this.results.set(def.name, b!);
        return;
      }
      case 'list':
        if (!splitList(proposal).includes(p.value)) bad();
        this.results.set(def.name, p.value);
        return;
      default:
        bad();
    }
  }

  /** Parameters in force; call after the last answer. */
  params(): OperationalParams {
    const p = defaultOperationalParams();
    const rec = p as unknown as Record<string, ParamValue>;
    for (const [key, value] of this.results) {
      const field = PARAM_FIELD[key];
      if (!field) continue;
      rec[field] = key === 'HeaderDigest' || key === 'DataDigest' ? value === 'CRC32C' : value;
    }
    if (this.sessionType === 'Discovery') {
      // Session keys are irrelevant; keep the RFC defaults (already in p).
    }
    if (p.firstBurstLength > p.maxBurstLength) p.firstBurstLength = p.maxBurstLength;
    if (this.initiatorMrdsl !== undefined) p.initiatorMaxRecvDataSegmentLength = this.initiatorMrdsl;
    if (this.declared) p.targetMaxRecvDataSegmentLength = this.limits.maxRecvDataSegmentLength;
    return p;
  }
}

function parseDefault(def: KeyDefinition): ParamValue {
  const d = def.default!;
  if (def.kind === 'and' || def.kind === 'or') return d === TextValue.Yes;
  if (def.kind === 'min' || def.kind === 'max') return Number(d);
  return d;
}
