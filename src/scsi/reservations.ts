/**
 * Reservation-conflict rules as data (DESIGN.md §3). Each command-table
 * entry says whether the command is allowed or conflicts under each kind of
 * reservation held by ANOTHER I_T nexus, following the columns of SPC-4
 * §5.13.1 (SPC commands) and SBC-3 §4.17 (SBC commands):
 *
 *   reserved        logical unit reserved with RESERVE(6)/(10) by another nexus
 *   writeExclusive  persistent reservation Write Exclusive
 *   exclusiveAccess persistent reservation Exclusive Access
 *   registered      *_REGISTRANTS_ONLY / *_ALL_REGISTRANTS, from a registered nexus
 *   weRegistrantsNotRegistered  Write Exclusive RO/AR, from a nexus that is not registered
 *   eaRegistrantsNotRegistered  Exclusive Access RO/AR, from a nexus that is not registered
 *
 * The dispatcher checks the `reserved` column itself; the persistent
 * reservation columns are read by persistent-reservations/ (the
 * PERSISTENT_RESERVATIONS hook), which knows who holds what.
 */
import type { ItNexus } from './types.js';
import type { CommandDef } from './command.js';
import type { LogicalUnit } from './logical-unit.js';

export type Access = 'allowed' | 'conflict';

export interface ReservationRule {
  readonly reserved: Access;
  readonly writeExclusive: Access;
  readonly exclusiveAccess: Access;
  readonly registered: Access;
  readonly weRegistrantsNotRegistered: Access;
  readonly eaRegistrantsNotRegistered: Access;
}

const A: Access = 'allowed';
const C: Access = 'conflict';

function rule(reserved: Access, we: Access, ea: Access, reg: Access, weNr: Access, eaNr: Access): ReservationRule {
  return Object.freeze({
    reserved,
    writeExclusive: we,
    exclusiveAccess: ea,
    registered: reg,
    weRegistrantsNotRegistered: weNr,
    eaRegistrantsNotRegistered: eaNr,
  });
}

export const Rules = {
  /** Allowed under every reservation (INQUIRY, REPORT LUNS, REQUEST SENSE, READ CAPACITY, TEST UNIT READY, REPORT TARGET PORT GROUPS, ...). */
  ALWAYS: rule(A, A, A, A, A, A),
  /** Reads the medium (READ, VERIFY, PRE-FETCH, GET LBA STATUS; SBC-3 §4.17). */
  READ: rule(C, A, C, A, A, C),
  /** Writes the medium or its cache (WRITE, WRITE SAME, UNMAP, SYNCHRONIZE CACHE, ORWRITE, COMPARE AND WRITE; SBC-3 §4.17). */
  WRITE: rule(C, C, C, A, C, C),
  /** Device configuration from non-holders (MODE SELECT, MODE SENSE, REPORT SUPPORTED OPERATION CODES / TMFs; SPC-4 §5.13.1). */
  MANAGEMENT: rule(C, C, C, A, C, C),
  /**
   * RESERVE(6)/(10): conflicts with a reservation held by another nexus
   * (SPC-2 §5.5.1, SPC-4 §5.13.1). From a registrant under a registrants
   * only or all registrants reservation it is allowed through, and then
   * does nothing (SPC-4 §5.13.3, spc/reserve-release.ts).
   */
  RESERVE: rule(C, C, C, A, C, C),
  /**
   * PERSISTENT RESERVE IN/OUT: conflict with a RESERVE(6)/(10) held by
   * another nexus (SPC-2 §7.11, §7.12); under persistent reservations each
   * service action applies its own rules (SPC-4 §5.13.1, §6.16).
   */
  PERSISTENT_RESERVE: rule(C, A, A, A, A, A),
} as const;

/** The persistent reservation state a dispatcher consults (persistent-reservations/index.ts PERSISTENT_RESERVATIONS). */
export interface ReservationHook {
  /** True when the command must end with RESERVATION CONFLICT (SPC-4 §5.13.1). */
  conflicts(lu: LogicalUnit, nexus: ItNexus, def: CommandDef, cdb: Buffer): boolean;
}

/** No persistent reservations are ever held. */
export const NO_RESERVATIONS: ReservationHook = {
  conflicts: () => false,
};

/** The rule of a command for a particular CDB (START STOP UNIT depends on its fields). */
export function ruleFor(def: CommandDef, cdb: Buffer): ReservationRule {
  const r = def.reservation;
  return typeof r === 'function' ? r(cdb) : r;
}
