/**
 * GET LBA STATUS (SBC-3 §5.14): provisioning status of the blocks from the
 * STARTING LOGICAL BLOCK ADDRESS on, from BlockStore.allocation(). The first
 * descriptor starts at the requested LBA; descriptors alternate between
 * mapped (0h) and deallocated (1h) extents. A block that is only partly
 * backed by the store counts as mapped.
 */
import type { LuContext } from '../command.js';
import { lbaOutOfRange } from '../check-condition.js';
import { putU32, putU64, u32, u64 } from '../cdb.js';
import type { ScsiResponse } from '../types.js';

/** How far one command looks ahead (bounds the store query); the initiator asks again from the end. */
const MAX_QUERY_BYTES = 1024 * 1024 * 1024;
const MAX_DESCRIPTORS = 1024;

export const getLbaStatusAllocationLength = (cdb: Buffer): number => u32(cdb, 10);

interface Run {
  start: number;
  end: number;
  mapped: boolean;
}

export async function getLbaStatus(ctx: LuContext): Promise<ScsiResponse> {
  const lu = ctx.lu;
  const bs = lu.blockSize;
  const start = u64(ctx.cdb, 2);
  const capacity = lu.numBlocks;
  if (start >= capacity) throw lbaOutOfRange(start);
  const alloc = getLbaStatusAllocationLength(ctx.cdb);
  const want = Math.max(1, Math.min(MAX_DESCRIPTORS, Math.floor((alloc - 8) / 16)));
  const queryBlocks = Math.min(capacity - start, Math.max(1, Math.floor(MAX_QUERY_BYTES / bs)));
  const extents = await lu.store.allocation(start * bs, queryBlocks * bs);

  const runs: Run[] = [];
  for (const e of extents) {
    if (e.length <= 0) continue;
    let s = Math.floor(e.offset / bs);
    let t = Math.ceil((e.offset + e.length) / bs);
    s = Math.max(s, start);
    t = Math.min(t, start + queryBlocks);
    const prev = runs[runs.length - 1];
    if (prev && s < prev.end) {
      // A block shared by two extents is mapped.
      if (e.mapped && !prev.mapped) prev.end = s;
      else s = prev.end;
      if (prev.end <= prev.start) runs.pop();
    }
    if (t <= s) continue;
    const before = runs[runs.length - 1];
    if (before && before.end < s) {
      // A gap the store did not describe reads as zeros: deallocated.
      if (before.mapped) runs.push({ start: before.end, end: s, mapped: false });
      else before.end = s;
    }
    const last = runs[runs.length - 1];
    if (last && last.mapped === e.mapped && last.end === s) last.end = t;
    else runs.push({ start: s, end: t, mapped: e.mapped });
  }
  if (runs.length === 0 || runs[0].start !== start) {
    // The store reported nothing for the first blocks: report them deallocated up to the first extent.
    runs.unshift({ start, end: runs.length > 0 ? runs[0].start : start + queryBlocks, mapped: false });
  }

  const n = Math.min(want, runs.length);
  const out = Buffer.alloc(8 + 16 * n);
  putU32(out, 0, 4 + 16 * n); // PARAMETER DATA LENGTH: bytes that follow the field
  for (let i = 0; i < n; i++) {
    const r = runs[i];
    const o = 8 + 16 * i;
    putU64(out, o, r.start);
    putU32(out, o + 8, Math.min(r.end - r.start, 0xffffffff));
    out[o + 12] = r.mapped ? 0x0 : 0x1; // PROVISIONING STATUS (SBC-3 §5.14.2, table 36)
  }
  return { status: 0, dataIn: out };
}
