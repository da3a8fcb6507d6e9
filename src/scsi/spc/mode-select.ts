/**
 * MODE SELECT(6) and MODE SELECT(10) (SPC-4 §6.11, §6.12).
 *
 * The whole parameter list is validated before anything changes: header,
 * block descriptor (may only restate the current capacity and block length),
 * then each page against the changeable mask (a change to a bit that is not
 * changeable is INVALID FIELD IN PARAMETER LIST pointing at that byte and
 * bit). Only PF = 1 (page format) lists are accepted; SP = 1 is refused since
 * nothing can be saved. A change raises MODE PARAMETERS CHANGED for the other
 * I_T nexuses.
 */
import type { LuContext } from '../command.js';
import { GOOD } from '../command.js';
import { invalidFieldInCdb, invalidFieldInParameterList, parameterListLengthError } from '../check-condition.js';
import { u16, u32, u64 } from '../cdb.js';
import { Op } from '../constants.js';
import { PageControl, modePageDef } from '../mode-pages.js';
import type { ScsiResponse } from '../types.js';

export const modeSelectParameterListLength = (cdb: Buffer): number =>
  cdb[0] === Op.MODE_SELECT_10 ? u16(cdb, 7) : cdb[4];

export function validateModeSelect(cdb: Buffer): void {
  if (cdb[1] & 0x01) throw invalidFieldInCdb(1, 0); // SP: no saved pages
  if ((cdb[1] & 0x10) === 0 && modeSelectParameterListLength(cdb) > 0) throw invalidFieldInCdb(1, 4); // PF = 0: vendor format
}

function highestBit(v: number): number {
  for (let b = 7; b >= 0; b--) if (v & (1 << b)) return b;
  return 0;
}

export function modeSelect(ctx: LuContext): ScsiResponse {
  const lu = ctx.lu;
  const cdb = ctx.cdb;
  const ten = cdb[0] === Op.MODE_SELECT_10;
  const plen = modeSelectParameterListLength(cdb);
  if (plen === 0) return GOOD; // SPC-4 §6.11: no data, not an error
  const data = ctx.req.dataOut;
  const hdr = ten ? 8 : 4;
  if (!data || data.length < plen || plen < hdr) throw parameterListLengthError();
  const d = data.subarray(0, plen);

  // Mode parameter header (SPC-4 §7.5.4/§7.5.5). MODE DATA LENGTH is reserved in MODE SELECT;
  // the device-specific parameter (WP, DPOFUA) is ignored for SBC devices.
  if (d[1] !== 0) throw invalidFieldInParameterList(1, 7); // MEDIUM TYPE
  const bdLen = ten ? u16(d, 6) : d[3];
  const long = ten && (d[4] & 0x01) !== 0;
  const bdField = ten ? 6 : 3;
  if (bdLen !== 0 && bdLen !== (long ? 16 : 8)) throw invalidFieldInParameterList(bdField, 7);
  if (hdr + bdLen > plen) throw parameterListLengthError();
  if (bdLen > 0) {
    // SBC-3 §6.4.2: the capacity and block length cannot be changed here; restating them is fine.
    const o = hdr;
    const blocks = long ? u64(d, o) : u32(d, o);
    const blen = long ? u32(d, o + 12) : (d[o + 5] << 16) | (d[o + 6] << 8) | d[o + 7];
    const n = lu.numBlocks;
    const current = long ? n : Math.min(n, 0xffffffff);
    if (blocks !== 0 && blocks !== current) throw invalidFieldInParameterList(o, 7);
    if (blen !== lu.blockSize) throw invalidFieldInParameterList(long ? o + 12 : o + 5, 7);
  }

  const updates: Array<[number, Buffer]> = [];
  let o = hdr + bdLen;
  while (o < plen) {
    if (o + 2 > plen) throw parameterListLengthError();
    // PS is reserved in MODE SELECT (SPC-4 §7.5.7) but copied back from MODE SENSE by some initiators: ignored.
    if (d[o] & 0x40) throw invalidFieldInParameterList(o, 6); // SPF: we have no subpages
    const code = d[o] & 0x3f;
    const def = modePageDef(code);
    if (!def) throw invalidFieldInParameterList(o, 5);
    const len = d[o + 1] + 2;
    if (len !== def.length) throw invalidFieldInParameterList(o + 1, 7);
    if (o + len > plen) throw parameterListLengthError();
    const cur = lu.mode.page(code, PageControl.CURRENT) as Buffer;
    const mask = def.changeable;
    for (let i = 2; i < len; i++) {
      const bad = (d[o + i] ^ cur[i]) & ~mask[i] & 0xff;
      if (bad) throw invalidFieldInParameterList(o + i, highestBit(bad));
    }
    const values = Buffer.from(d.subarray(o, o + len));
    values[0] = code;
    updates.push([code, values]);
    o += len;
  }
  let changed = false;
  for (const [code, values] of updates) if (lu.mode.set(code, values)) changed = true;
  if (changed) ctx.device.modeParametersChanged(lu, ctx.nexus);
  return GOOD;
}
