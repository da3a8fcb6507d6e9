/**
 * UNMAP (SBC-3 §5.28). Parameter list: 8-byte header (UNMAP DATA LENGTH,
 * UNMAP BLOCK DESCRIPTOR DATA LENGTH) and 16-byte block descriptors (LBA,
 * NUMBER OF LOGICAL BLOCKS). Every descriptor is validated before anything
 * is deallocated, so a bad list changes nothing.
 */
import type { LuContext } from '../command.js';
import { GOOD } from '../command.js';
import { invalidFieldInCdb, invalidFieldInParameterList, lbaOutOfRange, parameterListLengthError } from '../check-condition.js';
import { u16, u32, u64 } from '../cdb.js';
import type { ScsiResponse } from '../types.js';
import { zeroBlocks } from './io.js';

export const unmapParameterListLength = (cdb: Buffer): number => u16(cdb, 7);

export function validateUnmap(cdb: Buffer): void {
  // SBC-3 §5.28.1: ANCHOR = 1 with ANC_SUP = 0 (VPD B2h).
  if (cdb[1] & 0x01) throw invalidFieldInCdb(1, 0);
}

export async function unmap(ctx: LuContext): Promise<ScsiResponse> {
  const lu = ctx.lu;
  const plen = unmapParameterListLength(ctx.cdb);
  // SBC-3 §5.28.1: a zero PARAMETER LIST LENGTH is not an error; 1..7 is.
  if (plen === 0) return GOOD;
  const data = ctx.req.dataOut;
  if (plen < 8 || !data || data.length < 8) throw parameterListLengthError();
  const avail = Math.min(plen, data.length);
  const bdLength = u16(data, 2);
  // Only whole descriptors inside both the declared and the received list count (SBC-3 §5.28.2).
  const count = Math.floor(Math.min(bdLength, avail - 8) / 16);
  if (count > lu.limits.maxUnmapDescriptors) throw invalidFieldInParameterList(2, 7);
  const capacity = lu.numBlocks;
  let total = 0;
  for (let i = 0, o = 8; i < count; i++, o += 16) {
    const lba = u64(data, o);
    const n = u32(data, o + 8);
    if (lba + n > capacity) throw lbaOutOfRange(lba);
    total += n;
    if (total > lu.limits.maxUnmapBlocks) throw invalidFieldInParameterList(o + 8, 7);
  }
  const durable = lu.fua(false);
  for (let i = 0, o = 8; i < count; i++, o += 16) {
    const n = u32(data, o + 8);
    if (n > 0) await zeroBlocks(lu, u64(data, o), n, true, false);
  }
  if (durable && total > 0) await lu.store.flush();
  return GOOD;
}
