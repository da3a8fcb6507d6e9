/**
 * Shape of the command table (DESIGN.md §3): one entry per command (an
 * operation code, or an operation code plus service action), holding the
 * handler, CDB length, data direction and transfer length, reservation rule,
 * CDB usage bitmap (for REPORT SUPPORTED OPERATION CODES and for reserved
 * bit checks) and the LBA range the dispatcher checks before the handler.
 */
import type { DataDirection, ItNexus, ScsiRequest, ScsiResponse, TargetPortInfo } from './types.js';
import type { ReservationRule } from './reservations.js';
import type { LogicalUnit } from './logical-unit.js';
import type { CopyTarget } from './spc/extended-copy-manager.js';
import type { AluaHook, PortGroupChange } from './alua.js';

/** LBA range of a medium-access command, checked by the dispatcher (SBC-3 §4.5). */
export interface RangeSpec {
  lba(cdb: Buffer): number;
  /** Number of blocks; `lba` already parsed. May depend on the LU (WRITE SAME 0 = to the end). */
  blocks(cdb: Buffer, lba: number, lu: LogicalUnit): number;
  /** Largest accepted number of blocks (INVALID FIELD IN CDB above it); undefined: no limit. */
  maxBlocks?(lu: LogicalUnit, cdb: Buffer): number;
  /** CDB byte of the transfer length field (field pointer when too long). */
  blocksField: number;
}

export interface CommandContext {
  readonly device: DeviceServices;
  readonly req: ScsiRequest;
  readonly cdb: Buffer;
  readonly nexus: ItNexus;
  /** The addressed logical unit; only commands with `anyLun` see null here. */
  readonly lu: LogicalUnit | null;
  /** Parsed by the dispatcher from `range` (0 when the command has none). */
  lba: number;
  blocks: number;
}

/** Context of a command that always addresses an existing logical unit. */
export interface LuContext extends CommandContext {
  readonly lu: LogicalUnit;
}

export type Handler<C extends CommandContext = LuContext> = (ctx: C) => ScsiResponse | Promise<ScsiResponse>;

interface CommandDefBase {
  /** Name as in the standards, e.g. "READ(10)". */
  readonly name: string;
  readonly opcode: number;
  /** Service action (in CDB byte 1 bits 4-0) for commands that have them. */
  readonly serviceAction?: number;
  readonly cdbLength: number;
  /**
   * CDB USAGE DATA (SPC-4 §6.35.3): byte 0 is the operation code, byte 1 of
   * a service-action command carries the service action; other set bits are
   * the bits the device server looks at. Bits clear here (except the service
   * action and the CONTROL byte) must be zero in a CDB.
   */
  readonly usage: readonly number[];
  readonly direction: DataDirection;
  /** Bytes transferred in `direction` (allocation length for Data-In, parameter list length for Data-Out); `bs` is 0 with no LU. */
  transferLength(cdb: Buffer, bs: number): number;
  /** transferLength needs the logical block size. */
  readonly blockSized: boolean;
  readonly reservation: ReservationRule | ((cdb: Buffer) => ReservationRule);
  /** Field checks beyond reserved bits, after the reservation and ALUA checks (throw CheckCondition). */
  validate?(cdb: Buffer, lu: LogicalUnit | null): void;
  readonly range?: RangeSpec;
  /** NOMINAL / RECOMMENDED command timeouts in seconds (SPC-4 §6.35.4). */
  readonly timeouts: readonly [number, number];
  /** How a store failure is reported: MEDIUM ERROR for reads/writes (SBC-3 §4.12), HARDWARE ERROR otherwise. */
  readonly io: 'read' | 'write' | 'none';
  /** SAM-5 §5.14: INQUIRY, REPORT LUNS and REQUEST SENSE neither report nor clear unit attentions. */
  readonly uaExempt?: boolean;
}

export interface LuCommandDef extends CommandDefBase {
  readonly anyLun?: false;
  readonly handler: Handler<LuContext>;
}

/** A command that is processed even when the addressed LU does not exist (INQUIRY, REPORT LUNS, REQUEST SENSE). */
export interface AnyLunCommandDef extends CommandDefBase {
  readonly anyLun: true;
  readonly handler: Handler<CommandContext>;
}

export type CommandDef = LuCommandDef | AnyLunCommandDef;

/** What handlers may ask of the target device. */
export interface DeviceServices {
  readonly targetIqn: string;
  /** Visible logical units, ascending LUN. */
  luns(): LogicalUnit[];
  /** Target ports, ascending relative port id (configured plus any seen on a nexus). */
  ports(): TargetPortInfo[];
  readonly alua: AluaHook;
  /** Every command of the table (REPORT SUPPORTED OPERATION CODES). */
  readonly commands: readonly CommandDef[];
  /** MODE SELECT changed parameters: MODE PARAMETERS CHANGED for the other nexuses (SPC-4 §6.11). */
  modeParametersChanged(lu: LogicalUnit, by: ItNexus): void;
  /** REPORT LUNS was processed: clear REPORTED LUNS DATA HAS CHANGED for the nexus (SPC-4 §6.33). */
  reportLunsDone(nexus: ItNexus): void;
  /**
   * EXTENDED COPY: the logical unit with NAA designator `naa` (hex, lower
   * case) that `nexus`'s initiator may use as a copy source or destination,
   * on this target or another one of the daemon (spc/extended-copy-manager.ts).
   */
  copyTarget?(naa: string, nexus: ItNexus): CopyTarget | undefined;
  /**
   * Change target port group access states (SPC-4 §5.15.2): explicit when `by`
   * (the nexus of SET TARGET PORT GROUPS) is given, else implicit.
   * ASYMMETRIC ACCESS STATE CHANGED goes to every other I_T nexus.
   */
  setPortGroupStates(changes: readonly PortGroupChange[], by?: ItNexus): PortGroupChange[];
}

export const GOOD: ScsiResponse = Object.freeze({ status: 0 });
