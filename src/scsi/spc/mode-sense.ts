/**
 * MODE SENSE(6) and MODE SENSE(10) (SPC-4 §6.13, §6.14) with the SBC-3
 * mode parameter header device-specific parameter (SBC-3 §6.4.1: WP = 0,
 * DPOFUA = 1) and block descriptors (SBC-3 §6.4.2: short, or long when
 * LLBAA = 1 in MODE SENSE(10)).
 */
import type { LuContext } from '../command.js';
import { CheckCondition, invalidFieldInCdb } from '../check-condition.js';
import { putU16, putU32, putU64 } from '../cdb.js';
import { Asc, Op, SenseKey } from '../constants.js';
import type { LogicalUnit } from '../logical-unit.js';
import { MODE_PAGES, PageControl, modePageDef } from '../mode-pages.js';
import type { ScsiResponse } from '../types.js';

/** SBC-3 §6.4.1: DPOFUA = 1 (DPO and FUA are honoured in READ/WRITE CDBs). */
export const DEVICE_SPECIFIC_PARAMETER = 0x10;

export const ALL_PAGES = 0x3f;

/** Short (8-byte) or long (16-byte) LBA mode parameter block descriptor (SBC-3 §6.4.2). */
export function blockDescriptor(lu: LogicalUnit, long: boolean, changeable: boolean): Buffer {
  const b = Buffer.alloc(long ? 16 : 8);
  if (changeable) return b; // nothing in the block descriptor can be changed
  const n = lu.numBlocks;
  if (long) {
    putU64(b, 0, n);
    putU32(b, 12, lu.blockSize);
  } else {
    putU32(b, 0, n > 0xffffffff ? 0xffffffff : n);
    b[5] = (lu.blockSize >> 16) & 0xff;
    b[6] = (lu.blockSize >> 8) & 0xff;
    b[7] = lu.blockSize & 0xff;
  }
  return b;
}

/** The pages a MODE SENSE CDB asks for, in order. */
function selectPages(lu: LogicalUnit, cdb: Buffer, pc: number): Buffer[] {
  const code = cdb[2] & 0x3f;
  const sub = cdb[3];
  if (code === ALL_PAGES) {
    // SPC-4 §6.13: subpage 00h = all pages, FFh = all pages and subpages (we have no subpages).
    if (sub !== 0x00 && sub !== 0xff) throw invalidFieldInCdb(3, 7);
    return MODE_PAGES.map((p) => lu.mode.page(p.code, pc) as Buffer);
  }
  const def = modePageDef(code);
  if (!def) throw invalidFieldInCdb(2, 5);
  if (sub !== 0x00 && sub !== 0xff) throw invalidFieldInCdb(3, 7);
  return [lu.mode.page(code, pc) as Buffer];
}

export function modeSense(ctx: LuContext): ScsiResponse {
  const lu = ctx.lu;
  const cdb = ctx.cdb;
  const ten = cdb[0] === Op.MODE_SENSE_10;
  const pc = cdb[2] >> 6;
  if (pc === PageControl.SAVED) {
    // SPC-4 §6.13: saved values are not implemented.
    throw CheckCondition.of(SenseKey.ILLEGAL_REQUEST, Asc.SAVING_PARAMETERS_NOT_SUPPORTED, { field: { cdb: true, byte: 2, bit: 7 } });
  }
  const pages = selectPages(lu, cdb, pc);
  const dbd = (cdb[1] & 0x08) !== 0;
  const long = ten && (cdb[1] & 0x10) !== 0;
  const bd = dbd ? undefined : blockDescriptor(lu, long, pc === PageControl.CHANGEABLE);
  const hdr = ten ? 8 : 4;
  const bdLen = bd ? bd.length : 0;
  let total = hdr + bdLen;
  for (const p of pages) total += p.length;
  const out = Buffer.alloc(total);
  if (ten) {
    putU16(out, 0, total - 2); // MODE DATA LENGTH
    out[3] = DEVICE_SPECIFIC_PARAMETER;
    out[4] = long ? 0x01 : 0x00; // LONGLBA
    putU16(out, 6, bdLen);
  } else {
    out[0] = total - 1;
    out[2] = DEVICE_SPECIFIC_PARAMETER;
    out[3] = bdLen;
  }
  let o = hdr;
  if (bd) {
    bd.copy(out, o);
    o += bd.length;
  }
  for (const p of pages) {
    p.copy(out, o);
    out[o] &= 0x3f; // PS = 0: no page is saveable; SPF = 0
    o += p.length;
  }
  return { status: 0, dataIn: out };
}
