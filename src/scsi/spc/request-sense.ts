/**
 * REQUEST SENSE (SPC-4 §6.39). Returns, with GOOD status, the oldest pending
 * unit attention of the I_T nexus (and clears it, SAM-5 §5.14), otherwise NO
 * SENSE. Addressed to a LUN that does not exist it returns ILLEGAL REQUEST,
 * LOGICAL UNIT NOT SUPPORTED as parameter data. DESC = 1 selects descriptor
 * format.
 */
import type { CommandContext } from '../command.js';
import { Asc, SenseKey } from '../constants.js';
import { encodeSense } from '../sense.js';
import type { ScsiResponse } from '../types.js';

export function requestSense(ctx: CommandContext): ScsiResponse {
  const desc = (ctx.cdb[1] & 0x01) !== 0;
  const lu = ctx.lu;
  let key: number = SenseKey.NO_SENSE;
  let code: number = Asc.NO_ADDITIONAL_SENSE;
  if (!lu) {
    key = SenseKey.ILLEGAL_REQUEST;
    code = Asc.LOGICAL_UNIT_NOT_SUPPORTED;
  } else {
    const ua = lu.ua.take(ctx.nexus.id);
    if (ua !== undefined) {
      key = SenseKey.UNIT_ATTENTION;
      code = ua;
    }
  }
  return { status: 0, dataIn: encodeSense({ key, asc: code >> 8, ascq: code & 0xff }, desc) };
}
