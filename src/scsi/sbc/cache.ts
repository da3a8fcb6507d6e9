/**
 * PRE-FETCH(10/16) (SBC-3 §5.9) and SYNCHRONIZE CACHE(10/16) (SBC-3 §5.22,
 * §5.23). The dispatcher has checked the LBA range.
 */
import type { LuContext } from '../command.js';
import { GOOD } from '../command.js';
import { ScsiStatus, type ScsiResponse } from '../types.js';

const CONDITION_MET: ScsiResponse = Object.freeze({ status: ScsiStatus.ConditionMet });

/**
 * SBC-3 §5.9: CONDITION MET when the blocks will fit in the cache. Our
 * "cache" is the host page cache, which always has room, so nothing needs
 * reading ahead of time.
 */
export function preFetch(_ctx: LuContext): ScsiResponse {
  return CONDITION_MET;
}

/**
 * Every completed write reaches stable storage before status (DESIGN.md §6).
 * With IMMED = 1 the standard would allow status before the flush; we still
 * wait, which is stricter than required.
 */
export async function synchronizeCache(ctx: LuContext): Promise<ScsiResponse> {
  await ctx.lu.store.flush();
  return GOOD;
}
