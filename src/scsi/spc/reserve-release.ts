/**
 * RESERVE(6)/(10) and RELEASE(6)/(10) (SPC-2 §7.21-§7.24, kept by SPC-4 as
 * the "reserve/release" management method; SPC-4 §5.13.1 column A).
 *
 * The logical unit is reserved for one I_T nexus. While it is, other nexuses
 * get RESERVATION CONFLICT for every command whose reservation rule says
 * `reserved: 'conflict'` (the dispatcher checks it). RESERVE from the holder
 * succeeds again; RELEASE from anyone else does nothing and returns GOOD.
 * The reservation ends with RELEASE from the holder, a logical unit reset, a
 * target reset or the loss of the holder's I_T nexus (SPC-2 §5.5.1).
 * Third-party reservations (RESERVE(10) 3RDPTY) and extents are not supported.
 *
 * With persistent reservations (SPC-4 §5.13.3, CRH = 1 in REPORT
 * CAPABILITIES): while any I_T nexus is registered, RESERVE returns GOOD
 * and changes nothing when it comes from a persistent reservation holder or
 * from a registrant under a registrants only / all registrants reservation,
 * and RESERVATION CONFLICT from anyone else; RELEASE never releases a
 * persistent reservation (it returns GOOD, releasing only the sender's own
 * RESERVE(6)/(10) reservation if it has one).
 */
import type { LuContext } from '../command.js';
import { GOOD } from '../command.js';
import { invalidFieldInCdb } from '../check-condition.js';
import { Op } from '../constants.js';
import { ScsiStatus, type ScsiResponse } from '../types.js';
import { reservationsOf } from '../persistent-reservations/index.js';

const RESERVATION_CONFLICT: ScsiResponse = Object.freeze({ status: ScsiStatus.ReservationConflict });

export function validateReserveRelease(cdb: Buffer): void {
  // RESERVE(10)/RELEASE(10) byte 1: 3RDPTY (bit 4), LONGID (bit 1): third-party reservations are not supported.
  if ((cdb[0] === Op.RESERVE_10 || cdb[0] === Op.RELEASE_10) && cdb[1] & 0x10) throw invalidFieldInCdb(1, 4);
}

export function reserve(ctx: LuContext): ScsiResponse {
  const lu = ctx.lu;
  // SPC-4 §5.13.3: registrations exist.
  const pr = reservationsOf(lu)?.reserve6Outcome(ctx.nexus);
  if (pr === 'good') return GOOD;
  if (pr === 'conflict') return RESERVATION_CONFLICT;
  const holder = lu.reservationHolder;
  if (holder !== undefined && holder !== ctx.nexus.id) return RESERVATION_CONFLICT;
  lu.reservationHolder = ctx.nexus.id;
  return GOOD;
}

export function release(ctx: LuContext): ScsiResponse {
  const lu = ctx.lu;
  if (lu.reservationHolder === ctx.nexus.id) lu.reservationHolder = undefined;
  return GOOD;
}
