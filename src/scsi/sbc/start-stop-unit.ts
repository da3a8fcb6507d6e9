/**
 * START STOP UNIT (SBC-3 §5.25) for a non-removable, always-ready logical
 * unit: there is no power state or medium to eject (RMB = 0 in INQUIRY), so
 * valid requests are accepted and leave the unit ready for every initiator;
 * a stop without NO_FLUSH writes the cache to the medium first.
 */
import type { LuContext } from '../command.js';
import { GOOD } from '../command.js';
import { invalidFieldInCdb } from '../check-condition.js';
import type { ScsiResponse } from '../types.js';

/** POWER CONDITION values defined by SBC-3 §5.25, table 81. */
const POWER_CONDITIONS = new Set([0x0, 0x1, 0x2, 0x3, 0x7, 0xa, 0xb]);

export function validateStartStopUnit(cdb: Buffer): void {
  const pc = cdb[4] >> 4;
  if (!POWER_CONDITIONS.has(pc)) throw invalidFieldInCdb(4, 7);
}

export async function startStopUnit(ctx: LuContext): Promise<ScsiResponse> {
  const b4 = ctx.cdb[4];
  const start = b4 & 0x01;
  const noFlush = b4 & 0x04;
  const pc = b4 >> 4;
  if (pc === 0 && !start && !noFlush) await ctx.lu.store.flush();
  return GOOD;
}
