/**
 * The persistent reservations of one logical unit (SPC-4 §5.13): state,
 * the conflict test the dispatcher asks for every command, and the
 * PERSISTENT RESERVE OUT service actions.
 *
 * An I_T nexus is identified by its SCSI initiator port name (iSCSI name +
 * ISID, compared case-insensitively) and relative target port identifier
 * (types.ts nexusKey), so a registration is the same whichever session or
 * portal carries it, and survives the session.
 *
 * Every PERSISTENT RESERVE OUT runs alone (one queue per logical unit): it
 * computes the next state on a copy, has it written durably (the
 * environment's save: ISCSI_ROOT in the daemon, DESIGN.md §6) and only then
 * makes it current, establishes the unit attentions and, for PREEMPT AND
 * ABORT, aborts the preempted nexuses' tasks, before GOOD status. A failed
 * write leaves the state as it was and ends the command with HARDWARE ERROR.
 */
import type { ItNexus, ScsiResponse, TargetPortInfo } from '../types.js';
import { ScsiStatus } from '../types.js';
import type { ReservationRule } from '../reservations.js';
import { CheckCondition, invalidFieldInCdb, invalidFieldInParameterList, parameterListLengthError } from '../check-condition.js';
import { Asc, SenseKey } from '../constants.js';
import { putU16, putU32, u32 } from '../cdb.js';
import type { UnitAttentions } from '../unit-attention.js';
import {
  LU_SCOPE,
  ProutSa,
  PrType,
  cloneState,
  emptyState,
  isAllRegistrants,
  isRegistrantsOnly,
  isValidType,
  nexusKey,
  toSnapshot,
  type PrSnapshot,
  type PrState,
  type PrTypeValue,
  type Registration,
} from './types.js';
import { encodePortTransportId, parseTransportId, parseTransportIds, type TransportId } from './transport-id.js';

/** What the logical unit's reservations need from the target device and the daemon. */
export interface PrEnvironment {
  /** LUN (for aborting tasks). */
  readonly lun: number;
  /** Unit attentions of the logical unit. */
  readonly ua: UnitAttentions;
  /** Every target port of the target (ALL_TG_PT, REGISTER AND MOVE). */
  ports(): readonly TargetPortInfo[];
  /** The I_T nexuses logged in now. */
  nexuses(): Iterable<ItNexus>;
  /** Abort the tasks of these I_T nexuses (ItNexus ids) for the LUN; resolves once they have stopped (PREEMPT AND ABORT). */
  abortTasks(nexusIds: string[], lun: number): Promise<void>;
  /** Write the state durably; GOOD status waits for it. */
  save(snapshot: PrSnapshot): Promise<void>;
}

/** Registrations one logical unit holds at most (then INSUFFICIENT REGISTRATION RESOURCES). */
export const MAX_REGISTRATIONS = 2048;

/** Basic parameter list: 24 bytes (SPC-4 §6.16.3); with SPEC_I_PT 4 more plus TransportIDs. */
const BASIC_LENGTH = 24;
/** REGISTER AND MOVE parameter list header (SPC-4 §6.16.4). */
const MOVE_HEADER_LENGTH = 24;

const RESERVATION_CONFLICT: ScsiResponse = Object.freeze({ status: ScsiStatus.ReservationConflict });
const GOOD: ScsiResponse = Object.freeze({ status: ScsiStatus.Good });

/** PERSISTENT RESERVE OUT as the handler decoded it. */
export interface ProutRequest {
  serviceAction: number;
  scope: number;
  type: number;
  /** The parameter list (PARAMETER LIST LENGTH bytes). */
  params: Buffer;
}

/** Effects of a service action, applied once the new state is durable. */
interface Effects {
  /** Unit attention code by nexus key. */
  ua: Array<{ keys: Iterable<string>; code: number }>;
  /** Nexus keys whose tasks are aborted (PREEMPT AND ABORT). */
  abort: string[];
}

const keyCache = new WeakMap<ItNexus, string>();

/** The registration key of a live I_T nexus. */
export function keyOf(nexus: ItNexus): string {
  let k = keyCache.get(nexus);
  if (k === undefined) {
    k = nexusKey(nexus.initiatorPortName, nexus.targetPort.relativePortId);
    keyCache.set(nexus, k);
  }
  return k;
}

function conflict(): never {
  throw new ReservationConflict();
}

/** Thrown inside a service action: ends it with RESERVATION CONFLICT and changes nothing. */
class ReservationConflict extends Error {}

function illegal(code: number): CheckCondition {
  return CheckCondition.of(SenseKey.ILLEGAL_REQUEST, code);
}

function readKey(b: Buffer, o: number): bigint {
  return b.readBigUInt64BE(o);
}

export class LuReservations {
  private state: PrState;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly env: PrEnvironment,
    initial?: PrState,
  ) {
    this.state = initial ? cloneState(initial) : emptyState();
  }

  // ---------------------------------------------------------------- queries

  /** A copy of the current state (tests, inspection). */
  snapshot(): PrSnapshot {
    return toSnapshot(this.state);
  }

  get generation(): number {
    return this.state.generation;
  }

  get registrationCount(): number {
    return this.state.registrations.size;
  }

  get reservationType(): PrTypeValue | undefined {
    return this.state.reservation?.type;
  }

  isRegistered(nexus: ItNexus): boolean {
    return this.state.registrations.has(keyOf(nexus));
  }

  /** SPC-4 §5.13.10: the holder, or any registrant of an all registrants reservation. */
  isHolder(nexus: ItNexus): boolean {
    return LuReservations.holds(this.state, keyOf(nexus));
  }

  private static holds(s: PrState, k: string): boolean {
    const r = s.reservation;
    if (r === null) return false;
    return r.holder === null ? s.registrations.has(k) : r.holder === k;
  }

  /**
   * SPC-4 §5.13.1 / SBC-3 §4.17: does a command with this rule conflict
   * with the persistent reservation, coming from `nexus`? Holders never
   * conflict; the rule's columns say the rest.
   */
  conflicts(nexus: ItNexus, rule: ReservationRule): boolean {
    const r = this.state.reservation;
    if (r === null) return false;
    const k = keyOf(nexus);
    if (r.holder === k) return false;
    const registered = this.state.registrations.has(k);
    switch (r.type) {
      case PrType.WRITE_EXCLUSIVE:
        return rule.writeExclusive === 'conflict';
      case PrType.EXCLUSIVE_ACCESS:
        return rule.exclusiveAccess === 'conflict';
      case PrType.WRITE_EXCLUSIVE_REGISTRANTS_ONLY:
      case PrType.WRITE_EXCLUSIVE_ALL_REGISTRANTS:
        return (registered ? rule.registered : rule.weRegistrantsNotRegistered) === 'conflict';
      default:
        return (registered ? rule.registered : rule.eaRegistrantsNotRegistered) === 'conflict';
    }
  }

  /**
   * SPC-4 §5.13.3 (exceptions to SPC-2 RESERVE and RELEASE, CRH = 1): while
   * any I_T nexus is registered, RESERVE(6)/(10) does nothing and returns
   * GOOD from a reservation holder or from a registrant when the
   * reservation is registrants only or all registrants, and conflicts from
   * everyone else. `undefined`: no registrations, SPC-2 rules apply.
   */
  reserve6Outcome(nexus: ItNexus): 'good' | 'conflict' | undefined {
    const s = this.state;
    if (s.registrations.size === 0) return undefined;
    const k = keyOf(nexus);
    if (LuReservations.holds(s, k)) return 'good';
    const r = s.reservation;
    if (r !== null && s.registrations.has(k) && (isRegistrantsOnly(r.type) || isAllRegistrants(r.type))) return 'good';
    return 'conflict';
  }

  // ---------------------------------------------------------------- PERSISTENT RESERVE IN (SPC-4 §6.15)

  /** READ KEYS (§6.15.2): PRGENERATION, ADDITIONAL LENGTH, one key per registered I_T nexus. */
  readKeys(): Buffer {
    const regs = [...this.state.registrations.values()];
    const out = Buffer.alloc(8 + 8 * regs.length);
    putU32(out, 0, this.state.generation);
    putU32(out, 4, 8 * regs.length);
    regs.forEach((r, i) => out.writeBigUInt64BE(r.key, 8 + 8 * i));
    return out;
  }

  /** READ RESERVATION (§6.15.3): the reservation key is zero for all registrants types. */
  readReservation(): Buffer {
    const r = this.state.reservation;
    if (r === null) {
      const out = Buffer.alloc(8);
      putU32(out, 0, this.state.generation);
      return out;
    }
    const out = Buffer.alloc(24);
    putU32(out, 0, this.state.generation);
    putU32(out, 4, 16);
    const key = r.holder === null ? 0n : (this.state.registrations.get(r.holder)?.key ?? 0n);
    out.writeBigUInt64BE(key, 8);
    out[21] = (r.scope << 4) | r.type;
    return out;
  }

  /**
   * REPORT CAPABILITIES (§6.15.4): CRH (RESERVE/RELEASE per §5.13.3),
   * SIP_C, ATP_C, PTPL_C; TMV with ALLOW COMMANDS 010b (TEST UNIT READY is
   * allowed through Write Exclusive and Exclusive Access, MODE SENSE, READ
   * DEFECT DATA, REPORT SUPPORTED OPERATION CODES and the like are not
   * allowed through Write Exclusive: Rules.MANAGEMENT); PTPL_A; all six
   * types.
   */
  reportCapabilities(): Buffer {
    const out = Buffer.alloc(8);
    putU16(out, 0, 8);
    out[2] = 0x10 | 0x08 | 0x04 | 0x01; // CRH, SIP_C, ATP_C, PTPL_C (RLR_C = 0)
    out[3] = 0x80 | (0b010 << 4) | (this.state.aptpl ? 0x01 : 0); // TMV, ALLOW COMMANDS, PTPL_A
    out[4] = 0x80 | 0x40 | 0x20 | 0x08 | 0x02; // WR_EX_AR, EX_AC_RO, WR_EX_RO, EX_AC, WR_EX
    out[5] = 0x01; // EX_AC_AR
    return out;
  }

  /**
   * READ FULL STATUS (§6.15.5): a descriptor per registered I_T nexus, in
   * registration order: key, ALL_TG_PT, R_HOLDER with SCOPE/TYPE, RELATIVE
   * TARGET PORT IDENTIFIER and the initiator port's TransportID (format 01b).
   */
  readFullStatus(): Buffer {
    const s = this.state;
    const parts: Buffer[] = [];
    let total = 0;
    for (const [k, r] of s.registrations) {
      const tid = encodePortTransportId(r.initiatorPortName);
      const d = Buffer.alloc(24 + tid.length);
      d.writeBigUInt64BE(r.key, 0);
      const holder = LuReservations.holds(s, k);
      d[12] = (r.allTgPt ? 0x02 : 0) | (holder ? 0x01 : 0);
      if (holder && s.reservation) d[13] = (s.reservation.scope << 4) | s.reservation.type;
      putU16(d, 18, r.relativePortId);
      putU32(d, 20, tid.length);
      tid.copy(d, 24);
      parts.push(d);
      total += d.length;
    }
    const head = Buffer.alloc(8);
    putU32(head, 0, s.generation);
    putU32(head, 4, total);
    return Buffer.concat([head, ...parts], 8 + total);
  }

  // ---------------------------------------------------------------- PERSISTENT RESERVE OUT (SPC-4 §6.16)

  /**
   * Run one PERSISTENT RESERVE OUT from `nexus` (serialized per logical
   * unit). PREEMPT AND ABORT waits for the aborted tasks after leaving the
   * queue: a preempted nexus's own PERSISTENT RESERVE OUT queued behind it
   * (two cluster nodes fencing each other at once) must be able to finish.
   */
  async out(nexus: ItNexus, req: ProutRequest): Promise<ScsiResponse> {
    const run = () => this.process(nexus, req);
    const p = this.queue.then(run, run);
    this.queue = p.catch(() => undefined);
    const { response, abort } = await p;
    if (abort.length > 0) await this.env.abortTasks(abort, this.env.lun);
    return response;
  }

  private async process(nexus: ItNexus, req: ProutRequest): Promise<{ response: ScsiResponse; abort: string[] }> {
    const next = cloneState(this.state);
    const fx: Effects = { ua: [], abort: [] };
    let changed: boolean;
    try {
      changed = this.apply(next, fx, nexus, req);
    } catch (e) {
      if (e instanceof ReservationConflict) return { response: RESERVATION_CONFLICT, abort: [] };
      throw e;
    }
    if (changed) {
      next.generation >>>= 0;
      await this.env.save(toSnapshot(next));
      this.state = next;
    }
    this.applyEffects(fx);
    // The I_T nexuses logged in now whose registrations were preempted (ItNexus ids).
    return { response: GOOD, abort: fx.abort.length > 0 ? this.liveIdsOf(fx.abort) : [] };
  }

  private liveIdsOf(keys: Iterable<string>): string[] {
    const want = new Set(keys);
    const ids: string[] = [];
    for (const n of this.env.nexuses()) if (want.has(keyOf(n))) ids.push(n.id);
    return ids;
  }

  private applyEffects(fx: Effects): void {
    for (const { keys, code } of fx.ua) for (const id of this.liveIdsOf(keys)) this.env.ua.establish(id, code);
  }

  /** Validate and apply a service action to `s`; returns whether the state changed (needs saving). */
  private apply(s: PrState, fx: Effects, nexus: ItNexus, req: ProutRequest): boolean {
    const p = req.params;
    const sa = req.serviceAction;
    if (sa === ProutSa.REGISTER_AND_MOVE) return this.registerAndMove(s, nexus, req);
    // SPC-4 §6.16.3: the basic parameter list.
    if (p.length < BASIC_LENGTH) throw parameterListLengthError();
    const specIPt = (p[20] & 0x08) !== 0;
    const allTgPt = (p[20] & 0x04) !== 0;
    const aptpl = (p[20] & 0x01) !== 0;
    if (specIPt) {
      // Only REGISTER may name other initiator ports.
      if (sa !== ProutSa.REGISTER) throw invalidFieldInParameterList(20, 3);
      if (p.length < BASIC_LENGTH + 4) throw parameterListLengthError();
      if (BASIC_LENGTH + 4 + u32(p, 24) > p.length) throw parameterListLengthError();
    } else if (p.length !== BASIC_LENGTH) {
      throw parameterListLengthError();
    }
    const rk = readKey(p, 0);
    const sark = readKey(p, 8);
    const k = keyOf(nexus);
    switch (sa) {
      case ProutSa.REGISTER:
      case ProutSa.REGISTER_AND_IGNORE_EXISTING_KEY:
        return this.register(s, fx, nexus, k, { ignoreKey: sa !== ProutSa.REGISTER, rk, sark, specIPt, allTgPt, aptpl, params: p });
      case ProutSa.RESERVE:
        checkScopeType(req);
        return this.reserve(s, k, rk, req.type as PrTypeValue);
      case ProutSa.RELEASE:
        checkScopeType(req);
        return this.release(s, fx, k, rk, req.type as PrTypeValue);
      case ProutSa.CLEAR:
        return this.clear(s, fx, k, rk);
      case ProutSa.PREEMPT:
      case ProutSa.PREEMPT_AND_ABORT:
        return this.preempt(s, fx, k, rk, sark, req, sa === ProutSa.PREEMPT_AND_ABORT);
      default:
        // REPLACE LOST RESERVATION (SPC-5) and reserved codes.
        throw invalidFieldInCdb(1, 4);
    }
  }

  /** The registered key of `k`, checked against RESERVATION KEY (SPC-4 §6.16.3): otherwise RESERVATION CONFLICT. */
  private static checkKey(s: PrState, k: string, rk: bigint): Registration {
    const reg = s.registrations.get(k);
    if (!reg || reg.key !== rk) conflict();
    return reg;
  }

  private static addRegistration(s: PrState, k: string, reg: Registration): void {
    if (!s.registrations.has(k) && s.registrations.size >= MAX_REGISTRATIONS) throw illegal(Asc.INSUFFICIENT_REGISTRATION_RESOURCES);
    s.registrations.set(k, reg);
  }

  /**
   * Remove the registration of `k` (SPC-4 §5.13.11.3, unregistering): the
   * reservation goes with its holder (all registrants: with the last
   * registrant); a registrants only reservation released this way tells
   * the remaining registrants RESERVATIONS RELEASED.
   */
  private static unregister(s: PrState, fx: Effects, k: string): void {
    s.registrations.delete(k);
    const r = s.reservation;
    if (r === null) return;
    if (r.holder === null) {
      if (s.registrations.size === 0) s.reservation = null;
    } else if (r.holder === k) {
      s.reservation = null;
      if (isRegistrantsOnly(r.type)) fx.ua.push({ keys: [...s.registrations.keys()], code: Asc.RESERVATIONS_RELEASED });
    }
  }

  /** REGISTER and REGISTER AND IGNORE EXISTING KEY (SPC-4 §5.13.7, §5.13.11.3). */
  private register(
    s: PrState,
    fx: Effects,
    nexus: ItNexus,
    k: string,
    o: { ignoreKey: boolean; rk: bigint; sark: bigint; specIPt: boolean; allTgPt: boolean; aptpl: boolean; params: Buffer },
  ): boolean {
    const reg = s.registrations.get(k);
    if (reg === undefined) {
      // An unregistered I_T nexus registers with RESERVATION KEY zero (REGISTER).
      if (!o.ignoreKey && o.rk !== 0n) conflict();
      // SERVICE ACTION RESERVATION KEY zero: nothing to do.
      if (o.sark === 0n) return false;
      const ports = o.allTgPt ? this.env.ports().map((p) => p.relativePortId) : [nexus.targetPort.relativePortId];
      if (!ports.includes(nexus.targetPort.relativePortId)) ports.push(nexus.targetPort.relativePortId);
      const initiatorPorts = new Map<string, string>([[nexus.initiatorPortName.toLowerCase(), nexus.initiatorPortName]]);
      if (o.specIPt) {
        const p = o.params;
        for (const id of parseTransportIds(p, BASIC_LENGTH + 4, BASIC_LENGTH + 4 + u32(p, 24))) {
          for (const name of this.expand(id)) initiatorPorts.set(name.toLowerCase(), name);
        }
      }
      const adds: Array<[string, Registration]> = [];
      const own = nexus.initiatorPortName.toLowerCase();
      for (const [canonical, portName] of initiatorPorts) {
        for (const rtpi of ports) {
          const key = nexusKey(portName, rtpi);
          // An I_T nexus named by SPEC_I_PT or ALL_TG_PT that is already registered: refused as a whole.
          if (s.registrations.has(key)) throw canonical === own ? invalidFieldInParameterList(20, 2) : invalidFieldInParameterList(BASIC_LENGTH + 4, 7);
          adds.push([key, { key: o.sark, initiatorPortName: portName, relativePortId: rtpi, allTgPt: o.allTgPt }]);
        }
      }
      for (const [key, r] of adds) LuReservations.addRegistration(s, key, r);
      s.aptpl = o.aptpl;
      s.generation++;
      return true;
    }
    if (!o.ignoreKey && o.rk !== reg.key) conflict();
    // SPC-4 §5.13.7: SPEC_I_PT from a registered I_T nexus.
    if (o.specIPt) throw illegal(Asc.INVALID_FIELD_IN_CDB);
    if (o.sark === 0n) LuReservations.unregister(s, fx, k);
    else reg.key = o.sark;
    s.aptpl = o.aptpl;
    s.generation++;
    return true;
  }

  /**
   * Initiator port names a TransportID stands for: a port (format 01b) as
   * given; an initiator device (format 00b) is every port of that name
   * logged in now (the target cannot know the others).
   */
  private expand(id: TransportId): string[] {
    if (id.kind === 'port') return [id.portName];
    const want = id.name.toLowerCase();
    const out = new Set<string>();
    for (const n of this.env.nexuses()) if (n.initiatorName.toLowerCase() === want) out.add(n.initiatorPortName);
    if (out.size === 0) throw invalidFieldInParameterList(BASIC_LENGTH + 4, 7);
    return [...out];
  }

  /** RESERVE (SPC-4 §5.13.9): PRgeneration does not change. */
  private reserve(s: PrState, k: string, rk: bigint, type: PrTypeValue): boolean {
    LuReservations.checkKey(s, k, rk);
    const r = s.reservation;
    if (r !== null) {
      // Only a holder may reserve again, with the same scope and type (a no-op).
      if (!LuReservations.holds(s, k) || r.type !== type || r.scope !== LU_SCOPE) conflict();
      return false;
    }
    s.reservation = { type, scope: LU_SCOPE, holder: isAllRegistrants(type) ? null : k };
    return true;
  }

  /** RELEASE (SPC-4 §5.13.11.2.2): PRgeneration does not change. */
  private release(s: PrState, fx: Effects, k: string, rk: bigint, type: PrTypeValue): boolean {
    LuReservations.checkKey(s, k, rk);
    const r = s.reservation;
    // No reservation, or another nexus holds it: GOOD, nothing changes.
    if (r === null || !LuReservations.holds(s, k)) return false;
    if (r.type !== type || r.scope !== LU_SCOPE) throw illegal(Asc.INVALID_RELEASE_OF_PERSISTENT_RESERVATION);
    s.reservation = null;
    if (isRegistrantsOnly(r.type) || isAllRegistrants(r.type)) {
      fx.ua.push({ keys: [...s.registrations.keys()].filter((x) => x !== k), code: Asc.RESERVATIONS_RELEASED });
    }
    return true;
  }

  /** CLEAR (SPC-4 §5.13.11.2.3): every registration and the reservation go; RESERVATIONS PREEMPTED for the others. */
  private clear(s: PrState, fx: Effects, k: string, rk: bigint): boolean {
    LuReservations.checkKey(s, k, rk);
    fx.ua.push({ keys: [...s.registrations.keys()].filter((x) => x !== k), code: Asc.RESERVATIONS_PREEMPTED });
    s.registrations.clear();
    s.reservation = null;
    s.generation++;
    return true;
  }

  /**
   * PREEMPT and PREEMPT AND ABORT (SPC-4 §5.13.11.2.4, §5.13.11.2.5):
   * - SERVICE ACTION RESERVATION KEY names the reservation (the holder's
   *   key; zero for an all registrants reservation): the reservation is
   *   replaced by one of the CDB's TYPE held by the requester, and every
   *   other I_T nexus registered with that key loses its registration;
   * - otherwise it names registrations to remove (the reservation stays):
   *   at least one must exist, and zero is not a key.
   * Preempted I_T nexuses get REGISTRATIONS PREEMPTED; when the
   * reservation changed type, the remaining registrants get RESERVATIONS
   * RELEASED. With ABORT, the preempted I_T nexuses' tasks are aborted.
   */
  private preempt(s: PrState, fx: Effects, k: string, rk: bigint, sark: bigint, req: ProutRequest, abort: boolean): boolean {
    LuReservations.checkKey(s, k, rk);
    const r = s.reservation;
    const holderKey = r === null ? undefined : r.holder === null ? 0n : s.registrations.get(r.holder)?.key;
    if (r !== null && sark === holderKey) {
      checkScopeType(req);
      const type = req.type as PrTypeValue;
      const victims = [...s.registrations].filter(([x, reg]) => x !== k && (r.holder === null || reg.key === sark)).map(([x]) => x);
      for (const x of victims) s.registrations.delete(x);
      s.reservation = { type, scope: LU_SCOPE, holder: isAllRegistrants(type) ? null : k };
      fx.ua.push({ keys: victims, code: Asc.REGISTRATIONS_PREEMPTED });
      if (type !== r.type || req.scope !== r.scope) {
        fx.ua.push({ keys: [...s.registrations.keys()].filter((x) => x !== k), code: Asc.RESERVATIONS_RELEASED });
      }
      if (abort) fx.abort.push(...victims);
    } else {
      // Removing registrations (the reservation, if any, is not touched).
      if (sark === 0n) throw invalidFieldInParameterList(8, 7);
      const victims = [...s.registrations].filter(([, reg]) => reg.key === sark).map(([x]) => x);
      if (victims.length === 0) conflict();
      for (const x of victims) LuReservations.unregister(s, fx, x);
      const others = victims.filter((x) => x !== k);
      fx.ua.push({ keys: others, code: Asc.REGISTRATIONS_PREEMPTED });
      if (abort) fx.abort.push(...others);
    }
    s.generation++;
    return true;
  }

  /**
   * REGISTER AND MOVE (SPC-4 §5.13.8): the holder of a reservation other
   * than all registrants registers another I_T nexus (TransportID +
   * RELATIVE TARGET PORT IDENTIFIER) with SERVICE ACTION RESERVATION KEY,
   * moves the reservation to it with the CDB's TYPE, and with UNREG
   * unregisters itself.
   */
  private registerAndMove(s: PrState, nexus: ItNexus, req: ProutRequest): boolean {
    const p = req.params;
    if (p.length < MOVE_HEADER_LENGTH) throw parameterListLengthError();
    const tidLength = u32(p, 20);
    if (MOVE_HEADER_LENGTH + tidLength > p.length) throw parameterListLengthError();
    checkScopeType(req);
    const k = keyOf(nexus);
    LuReservations.checkKey(s, k, readKey(p, 0));
    const r = s.reservation;
    if (r === null || r.holder === null || r.holder !== k) conflict();
    const sark = readKey(p, 8);
    if (sark === 0n) throw invalidFieldInParameterList(8, 7);
    const unreg = (p[17] & 0x02) !== 0;
    const aptpl = (p[17] & 0x01) !== 0;
    const rtpi = (p[18] << 8) | p[19];
    if (!this.env.ports().some((t) => t.relativePortId === rtpi)) throw invalidFieldInParameterList(18, 7);
    const { id } = parseTransportId(p, MOVE_HEADER_LENGTH, MOVE_HEADER_LENGTH + tidLength);
    let portName: string;
    if (id.kind === 'port') {
      portName = id.portName;
    } else {
      // An initiator device: the one port of that name logged in through that target port.
      const want = id.name.toLowerCase();
      const found = [...this.env.nexuses()].filter((n) => n.initiatorName.toLowerCase() === want && n.targetPort.relativePortId === rtpi);
      const names = new Set(found.map((n) => n.initiatorPortName));
      if (names.size !== 1) throw invalidFieldInParameterList(MOVE_HEADER_LENGTH, 7);
      portName = [...names][0];
    }
    const dest = nexusKey(portName, rtpi);
    if (dest === k) throw invalidFieldInParameterList(MOVE_HEADER_LENGTH, 7);
    const existing = s.registrations.get(dest);
    if (existing) existing.key = sark;
    else LuReservations.addRegistration(s, dest, { key: sark, initiatorPortName: portName, relativePortId: rtpi, allTgPt: false });
    s.reservation = { type: req.type as PrTypeValue, scope: LU_SCOPE, holder: dest };
    if (unreg) s.registrations.delete(k);
    s.aptpl = aptpl;
    s.generation++;
    return true;
  }
}

/** SCOPE must be LU_SCOPE and TYPE one of the six (SPC-4 §6.15.3.3, §6.15.3.4): INVALID FIELD IN CDB. */
function checkScopeType(req: ProutRequest): void {
  if (req.scope !== LU_SCOPE) throw invalidFieldInCdb(2, 7);
  if (!isValidType(req.type)) throw invalidFieldInCdb(2, 3);
}
