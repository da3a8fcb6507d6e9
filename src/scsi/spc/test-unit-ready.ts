/**
 * TEST UNIT READY (SPC-4 §6.47): the logical unit is always ready; unit
 * attentions and LUN errors are handled by the dispatcher before this.
 */
import { GOOD, type LuContext } from '../command.js';
import type { ScsiResponse } from '../types.js';

export function testUnitReady(_ctx: LuContext): ScsiResponse {
  return GOOD;
}
