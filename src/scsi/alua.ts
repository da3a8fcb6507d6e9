/**
 * Asymmetric logical unit access (SPC-4 §5.15): target port groups and their
 * access states, and which commands each state lets through.
 *
 * Every target port (portal) belongs to one target port group (its stable
 * ALUA group ID). A group's primary target port asymmetric access state
 * applies to every logical unit of the target through every port of the
 * group. States change two ways:
 *  - implicitly (SPC-4 §5.15.2, implicit transitions): the administrator (`vstorage-iscsi
 *    alua-set`) or the daemon itself; every I_T nexus gets the ASYMMETRIC
 *    ACCESS STATE CHANGED unit attention;
 *  - explicitly (SPC-4 §5.15.2, explicit transitions): an initiator sends SET TARGET PORT
 *    GROUPS (spc/set-target-port-groups.ts); every I_T nexus except the
 *    sender's gets the unit attention. Only when the target offers explicit
 *    ALUA (TPGS 11b, `alua-set --explicit on`). By default it does not
 *    (TPGS 01b): Linux's scsi_dh_alua sends SET TARGET PORT GROUPS to make
 *    active/optimized every group it switches I/O to, even an
 *    active/non-optimized one at map creation, which would undo the
 *    administrator's preference (one network optimized, the other not).
 * The dispatcher (scsi-target-device.ts) calls `check` after the reservation
 * check: in standby, unavailable and transitioning only the commands of
 * SPC-4 §5.15.2 lists for those states pass (plus READ CAPACITY, see below); the
 * others end with NOT READY and the state's ASC/ASCQ.
 */
import type { ItNexus } from './types.js';
import type { CommandDef } from './command.js';
import type { LogicalUnit } from './logical-unit.js';
import { CheckCondition } from './check-condition.js';
import { Asc, Op, SaIn16, SaMaintIn, SaMaintOut, SenseKey } from './constants.js';

/** Asymmetric access states (SPC-4 §6.27, table 172). */
export const AluaState = {
  ACTIVE_OPTIMIZED: 0x0,
  ACTIVE_NON_OPTIMIZED: 0x1,
  STANDBY: 0x2,
  UNAVAILABLE: 0x3,
  LBA_DEPENDENT: 0x4,
  OFFLINE: 0xe,
  TRANSITIONING: 0xf,
} as const;

/** The states a group of ours can be in, by the names the CLI, the records and the control API use. */
export const ALUA_STATE_NAMES = ['active-optimized', 'active-non-optimized', 'standby', 'unavailable', 'transitioning'] as const;
export type AluaStateName = (typeof ALUA_STATE_NAMES)[number];

export const ALUA_STATE_CODE: Readonly<Record<AluaStateName, number>> = {
  'active-optimized': AluaState.ACTIVE_OPTIMIZED,
  'active-non-optimized': AluaState.ACTIVE_NON_OPTIMIZED,
  standby: AluaState.STANDBY,
  unavailable: AluaState.UNAVAILABLE,
  transitioning: AluaState.TRANSITIONING,
};

/** Name of a state code, undefined for codes we never use (offline, LBA dependent, reserved). */
export function aluaStateName(code: number): AluaStateName | undefined {
  return ALUA_STATE_NAMES.find((n) => ALUA_STATE_CODE[n] === code);
}

/** How SPC-4 and `multipath -ll`/`sg_rtpg` print a state: "active/optimized", ... */
export function aluaStateText(name: AluaStateName): string {
  return name.replace(/^active-/, 'active/');
}

const ALIASES: Record<string, AluaStateName> = {
  'active-optimized': 'active-optimized',
  'active/optimized': 'active-optimized',
  optimized: 'active-optimized',
  ao: 'active-optimized',
  'active-non-optimized': 'active-non-optimized',
  'active/non-optimized': 'active-non-optimized',
  'non-optimized': 'active-non-optimized',
  an: 'active-non-optimized',
  standby: 'standby',
  sb: 'standby',
  unavailable: 'unavailable',
  ua: 'unavailable',
  transitioning: 'transitioning',
};

/** Parse a state as typed (`active-optimized`, `active/optimized`, `ao`, `standby`, ...); undefined if unknown. */
export function parseAluaState(text: string): AluaStateName | undefined {
  return ALIASES[text.trim().toLowerCase()];
}

/**
 * SUPPORTED states in each REPORT TARGET PORT GROUPS descriptor (SPC-4
 * §6.27, byte 1): T_SUP, U_SUP, S_SUP, AN_SUP, AO_SUP. Not offline (O_SUP:
 * a port of ours is either listening or not) and not LBA dependent (LBD_SUP).
 */
export const SUPPORTED_STATES = 0x80 | 0x08 | 0x04 | 0x02 | 0x01;

/** STATUS CODE of a descriptor (SPC-4 §6.27, table 174). */
export const AluaStatus = {
  NONE: 0x00,
  /** Altered by SET TARGET PORT GROUPS. */
  BY_STPG: 0x01,
  /** Altered by implicit asymmetric logical unit access behavior. */
  IMPLICIT: 0x02,
} as const;

/**
 * IMPLICIT TRANSITION TIME (SPC-4 §6.27.3, extended header): seconds hosts
 * should allow an implicit transition before giving up on a group reported
 * as transitioning. The daemon's own transitions are immediate; a group is
 * transitioning only while the administrator (or, later, the HA agent
 * moving the target) says so, and hosts keep retrying for this long.
 */
export const DEFAULT_IMPLICIT_TRANSITION_SECONDS = 30;

export interface AluaHook {
  /** Access state of a target port group for a logical unit. */
  state(lu: LogicalUnit | null, portGroupId: number): number;
  /** A CheckCondition to end the command with, or undefined to proceed. */
  check(lu: LogicalUnit, nexus: ItNexus, def: CommandDef): CheckCondition | undefined;
  /** STATUS CODE of the group's last transition (SPC-4 §6.27); default 00h. */
  statusCode?(portGroupId: number): number;
  /** Seconds reported as IMPLICIT TRANSITION TIME; default 0 (unspecified). */
  readonly implicitTransitionSeconds?: number;
  /** Explicit ALUA: SET TARGET PORT GROUPS is supported and TPGS is 11b; else implicit only (01b). */
  readonly explicit?: boolean;
  /**
   * Apply state changes (already validated by the device). Without it the
   * states are fixed: SET TARGET PORT GROUPS is refused.
   */
  apply?(changes: readonly PortGroupChange[], explicit: boolean): PortGroupChange[];
}

export interface PortGroupChange {
  id: number;
  state: AluaStateName;
}

export const ALL_ACTIVE_OPTIMIZED: AluaHook = {
  state: () => AluaState.ACTIVE_OPTIMIZED,
  check: () => undefined,
};

// ---------------------------------------------------------------- command filtering

/** Identity of a command for the tables below: opcode, or opcode << 8 | service action. */
const key = (opcode: number, sa?: number): number => (sa === undefined ? opcode : (opcode << 8) | sa);
const keyOf = (def: CommandDef): number => key(def.opcode, def.serviceAction);

/** Opcodes of SPC-4 commands we may not implement (yet), named for the tables. */
const LOG_SELECT = 0x4c;
const LOG_SENSE = 0x4d;
const RECEIVE_DIAGNOSTIC_RESULTS = 0x1c;
const SEND_DIAGNOSTIC = 0x1d;
const PERSISTENT_RESERVE_IN = 0x5e;
const PERSISTENT_RESERVE_OUT = 0x5f;

/** Allowed in transitioning (SPC-4 §5.15.2, transitioning state): INQUIRY, REPORT LUNS, REPORT TARGET PORT GROUPS, REQUEST SENSE. */
const TRANSITIONING_ALLOWED = new Set([
  key(Op.INQUIRY),
  key(Op.REPORT_LUNS),
  key(Op.MAINTENANCE_IN, SaMaintIn.REPORT_TARGET_PORT_GROUPS),
  key(Op.REQUEST_SENSE),
]);

/**
 * Allowed in unavailable (SPC-4 §5.15.2, unavailable state): the transitioning set plus
 * LOG SELECT/SENSE, MODE SELECT/SENSE, RECEIVE DIAGNOSTIC RESULTS, SEND
 * DIAGNOSTIC, SET TARGET PORT GROUPS (echo-buffer READ/WRITE BUFFER is not
 * implemented). "The device server may support other commands": READ
 * CAPACITY(10)/(16), so that a host that scans the port while it is not
 * active (Linux sd reads the capacity when the disk appears) learns the
 * real size instead of 0 and can add the path to the multipath map; and
 * the REPORT SUPPORTED OPERATION CODES / TASK MANAGEMENT FUNCTIONS
 * inventories. None of them touches the medium.
 */
const UNAVAILABLE_ALLOWED = new Set([
  ...TRANSITIONING_ALLOWED,
  key(LOG_SELECT),
  key(LOG_SENSE),
  key(Op.MODE_SELECT_6),
  key(Op.MODE_SELECT_10),
  key(Op.MODE_SENSE_6),
  key(Op.MODE_SENSE_10),
  key(RECEIVE_DIAGNOSTIC_RESULTS),
  key(SEND_DIAGNOSTIC),
  key(Op.MAINTENANCE_OUT, SaMaintOut.SET_TARGET_PORT_GROUPS),
  key(Op.READ_CAPACITY_10),
  key(Op.SERVICE_ACTION_IN_16, SaIn16.READ_CAPACITY_16),
  key(Op.MAINTENANCE_IN, SaMaintIn.REPORT_SUPPORTED_OPERATION_CODES),
  key(Op.MAINTENANCE_IN, SaMaintIn.REPORT_SUPPORTED_TMFS),
]);

/**
 * Allowed in standby (SPC-4 §5.15.2, standby state): the unavailable set plus
 * PERSISTENT RESERVE IN/OUT (every service action). TEST UNIT READY is not
 * in the list: a standby port answers it with NOT READY, 04h/0Bh, which is
 * what dm-multipath's tur checker reads as a standby ("ghost") path.
 */
const STANDBY_ALLOWED = new Set([...UNAVAILABLE_ALLOWED]);
const STANDBY_ALLOWED_OPCODES = new Set([PERSISTENT_RESERVE_IN, PERSISTENT_RESERVE_OUT]);

function allowed(state: number, def: CommandDef): boolean {
  switch (state) {
    case AluaState.ACTIVE_OPTIMIZED:
    case AluaState.ACTIVE_NON_OPTIMIZED:
      return true;
    case AluaState.STANDBY:
      return STANDBY_ALLOWED.has(keyOf(def)) || STANDBY_ALLOWED_OPCODES.has(def.opcode);
    case AluaState.UNAVAILABLE:
      return UNAVAILABLE_ALLOWED.has(keyOf(def));
    default:
      return TRANSITIONING_ALLOWED.has(keyOf(def));
  }
}

/** NOT READY sense of a state that refuses a command (SPC-4 §5.15.2; ASC/ASCQ 04h/0Ah, 04h/0Bh, 04h/0Ch). */
export function notAccessible(state: number): CheckCondition {
  switch (state) {
    case AluaState.STANDBY:
      return CheckCondition.of(SenseKey.NOT_READY, Asc.LU_NOT_ACCESSIBLE_TARGET_PORT_IN_STANDBY);
    case AluaState.UNAVAILABLE:
      return CheckCondition.of(SenseKey.NOT_READY, Asc.LU_NOT_ACCESSIBLE_TARGET_PORT_UNAVAILABLE);
    default:
      return CheckCondition.of(SenseKey.NOT_READY, Asc.LU_NOT_ACCESSIBLE_ASYMMETRIC_ACCESS_STATE_TRANSITION);
  }
}

/** Whether a command may run in a state (for tests and documentation). */
export function aluaAllows(state: AluaStateName, def: CommandDef): boolean {
  return allowed(ALUA_STATE_CODE[state], def);
}

// ---------------------------------------------------------------- the groups of one target

interface GroupState {
  code: number;
  status: number;
}

/**
 * The access states of one target's port groups. Groups not set are
 * active/optimized. Created by the engine from the target definition; the
 * device (scsi-target-device.ts) changes states through `apply` so that the
 * unit attentions go out.
 */
export class TargetPortGroups implements AluaHook {
  private readonly groups = new Map<number, GroupState>();
  /** True while every group is active (the hot path skips the lookup). */
  private allActive = true;

  readonly implicitTransitionSeconds: number;
  readonly explicit: boolean;

  constructor(initial: readonly PortGroupChange[] = [], opts: { explicit?: boolean; implicitTransitionSeconds?: number } = {}) {
    this.explicit = opts.explicit ?? false;
    this.implicitTransitionSeconds = opts.implicitTransitionSeconds ?? DEFAULT_IMPLICIT_TRANSITION_SECONDS;
    for (const g of initial) this.groups.set(g.id, { code: ALUA_STATE_CODE[g.state], status: AluaStatus.NONE });
    this.recompute();
  }

  state(_lu: LogicalUnit | null, portGroupId: number): number {
    return this.groups.get(portGroupId)?.code ?? AluaState.ACTIVE_OPTIMIZED;
  }

  stateName(portGroupId: number): AluaStateName {
    return aluaStateName(this.state(null, portGroupId)) ?? 'active-optimized';
  }

  statusCode(portGroupId: number): number {
    return this.groups.get(portGroupId)?.status ?? AluaStatus.NONE;
  }

  check(_lu: LogicalUnit, nexus: ItNexus, def: CommandDef): CheckCondition | undefined {
    if (this.allActive) return undefined;
    const state = this.state(null, nexus.targetPort.portGroupId);
    return allowed(state, def) ? undefined : notAccessible(state);
  }

  /** Set states; returns the groups whose state really changed. */
  apply(changes: readonly PortGroupChange[], explicit: boolean): PortGroupChange[] {
    const changed: PortGroupChange[] = [];
    for (const c of changes) {
      const code = ALUA_STATE_CODE[c.state];
      const g = this.groups.get(c.id);
      if (g && g.code === code) continue;
      if (!g && code === AluaState.ACTIVE_OPTIMIZED) continue;
      this.groups.set(c.id, { code, status: explicit ? AluaStatus.BY_STPG : AluaStatus.IMPLICIT });
      changed.push({ id: c.id, state: c.state });
    }
    this.recompute();
    return changed;
  }

  private recompute(): void {
    this.allActive = [...this.groups.values()].every((g) => g.code === AluaState.ACTIVE_OPTIMIZED || g.code === AluaState.ACTIVE_NON_OPTIMIZED);
  }
}
