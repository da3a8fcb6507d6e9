/**
 * Persistent reservations (SPC-4 §5.13): public surface for the target
 * device, the PERSISTENT RESERVE IN/OUT and RESERVE/RELEASE handlers, and
 * the daemon's ISCSI_ROOT store.
 *
 * Each logical unit's LuReservations is attached to it here (the device
 * does that when it creates the logical unit); handlers and the
 * dispatcher's conflict hook look it up.
 */
import type { LogicalUnit } from '../logical-unit.js';
import { ruleFor, type ReservationHook } from '../reservations.js';
import type { LuReservations } from './lu-reservations.js';

export * from './types.js';
export * from './transport-id.js';
export * from './persistence.js';
export { LuReservations, MAX_REGISTRATIONS, keyOf, type PrEnvironment, type ProutRequest } from './lu-reservations.js';

const byLu = new WeakMap<LogicalUnit, LuReservations>();

export function attachReservations(lu: LogicalUnit, pr: LuReservations): void {
  byLu.set(lu, pr);
}

/** The persistent reservations of a logical unit (undefined for one built outside a target device). */
export function reservationsOf(lu: LogicalUnit): LuReservations | undefined {
  return byLu.get(lu);
}

/** The dispatcher's conflict test (SPC-4 §5.13.1) from the persistent reservation state and the table's rules. */
export const PERSISTENT_RESERVATIONS: ReservationHook = {
  conflicts(lu, nexus, def, cdb) {
    const pr = byLu.get(lu);
    if (pr === undefined || pr.reservationType === undefined) return false;
    return pr.conflicts(nexus, ruleFor(def, cdb));
  },
};
