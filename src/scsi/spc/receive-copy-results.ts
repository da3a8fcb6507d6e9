/**
 * RECEIVE COPY RESULTS (SPC-4 §6.21): THIRD-PARTY COPY IN (84h), LID1
 * service actions of the copy manager in extended-copy.ts. CDB: byte 2
 * LIST IDENTIFIER (COPY STATUS only; reserved for OPERATING PARAMETERS),
 * bytes 10-13 ALLOCATION LENGTH.
 *
 *  - COPY STATUS (00h): the status of the EXTENDED COPY (LID1) the same I_T
 *    nexus sent with this LIST IDENTIFIER and LIST ID USAGE 00b or 10b,
 *    running or completed. A list identifier the copy manager knows
 *    nothing about for this nexus: ILLEGAL REQUEST, INVALID FIELD IN CDB
 *    (field pointer at byte 2). The status of a completed copy is
 *    discarded once it has been returned in full (SPC-4 §6.21: retained
 *    until transferred); while the copy runs it can be read any number of
 *    times and shows the segments processed and bytes written so far.
 *  - OPERATING PARAMETERS (03h): the limits of extended-copy-manager.ts.
 *
 * RECEIVE DATA and FAILED SEGMENT DETAILS are not offered: no supported
 * segment type holds data, and the sense data of a failed copy is returned
 * with the EXTENDED COPY command itself.
 */
import type { LuContext } from '../command.js';
import { invalidFieldInCdb } from '../check-condition.js';
import { putU16, putU32, u32 } from '../cdb.js';
import type { ScsiResponse } from '../types.js';
import { CopyManagerStatus, XCOPY_LIMITS, copyManagerOf } from './extended-copy-manager.js';

/** ALLOCATION LENGTH (bytes 10-13). */
export const receiveCopyResultsAllocationLength = (cdb: Buffer): number => u32(cdb, 10);

const COPY_STATUS_LENGTH = 12;

/** TRANSFER COUNT and TRANSFER COUNT UNITS: bytes, or 2^10n bytes (units 0..6) so it fits 32 bits. */
function transferCount(bytes: number): { units: number; count: number } {
  let units = 0;
  let count = bytes;
  while (count > 0xffffffff && units < 6) {
    units++;
    count = Math.floor(count / 1024);
  }
  return { units, count: Math.min(count, 0xffffffff) };
}

/** COPY STATUS (LID1) parameter data. */
export function receiveCopyStatus(ctx: LuContext): ScsiResponse {
  const listId = ctx.cdb[2];
  const manager = copyManagerOf(ctx.lu);
  const r = manager.record(ctx.nexus, listId);
  if (!r) throw invalidFieldInCdb(2, 7);
  const b = Buffer.alloc(COPY_STATUS_LENGTH);
  putU32(b, 0, COPY_STATUS_LENGTH - 4); // AVAILABLE DATA
  b[4] = r.status & 0x7f; // HDD = 0: no held data was discarded
  putU16(b, 5, Math.min(r.segmentsProcessed, 0xffff)); // SEGMENTS PROCESSED
  const t = transferCount(r.bytes);
  b[7] = t.units; // TRANSFER COUNT UNITS
  putU32(b, 8, t.count); // TRANSFER COUNT
  if (r.status !== CopyManagerStatus.InProgress && receiveCopyResultsAllocationLength(ctx.cdb) >= COPY_STATUS_LENGTH) {
    manager.discard(ctx.nexus, listId);
  }
  return { status: 0, dataIn: b };
}

/** OPERATING PARAMETERS parameter data (SPC-4 §6.21). */
export function receiveCopyOperatingParameters(ctx: LuContext): ScsiResponse {
  const L = XCOPY_LIMITS;
  const types = L.descriptorTypes;
  const b = Buffer.alloc(44 + types.length);
  putU32(b, 0, b.length - 4); // AVAILABLE DATA
  b[4] = 0x01; // SNLID: LIST ID USAGE 11b (no list identifier) is supported
  putU16(b, 8, L.maxCscdDescriptors); // MAXIMUM CSCD DESCRIPTOR COUNT
  putU16(b, 10, L.maxSegmentDescriptors); // MAXIMUM SEGMENT DESCRIPTOR COUNT
  putU32(b, 12, L.maxDescriptorListLength); // MAXIMUM DESCRIPTOR LIST LENGTH
  putU32(b, 16, L.maxSegmentBytes); // MAXIMUM SEGMENT LENGTH
  putU32(b, 20, L.maxInlineDataLength); // MAXIMUM INLINE DATA LENGTH
  // 24-27 HELD DATA LIMIT 0, 28-31 MAXIMUM STREAM DEVICE TRANSFER SIZE 0: no held data, no stream devices.
  putU16(b, 34, L.maxConcurrentCopies); // TOTAL CONCURRENT COPIES
  b[36] = L.maxConcurrentCopies; // MAXIMUM CONCURRENT COPIES (with a list identifier)
  b[37] = Math.log2(ctx.lu.blockSize); // DATA SEGMENT GRANULARITY (log2 bytes): one logical block
  // 38 INLINE DATA GRANULARITY, 39 HELD DATA GRANULARITY: 0.
  b[43] = types.length; // IMPLEMENTED DESCRIPTOR LIST LENGTH
  types.forEach((t, i) => (b[44 + i] = t));
  return { status: 0, dataIn: b };
}
