/**
 * EXTENDED COPY (LID1) (SPC-4 §6.4): THIRD-PARTY COPY OUT (83h), service
 * action 00h. CDB: bytes 2-9 reserved, 10-13 PARAMETER LIST LENGTH, 14
 * reserved, 15 CONTROL.
 *
 * Parameter list (SPC-4 §6.4): a 16-byte header (LIST IDENTIFIER; STR,
 * LIST ID USAGE, PRIORITY; CSCD DESCRIPTOR LIST LENGTH; SEGMENT DESCRIPTOR
 * LIST LENGTH; INLINE DATA LENGTH), the CSCD descriptors, the segment
 * descriptors, inline data. Supported: Identification CSCD descriptors
 * (E4h) naming logical units of this daemon by their NAA
 * designator, and block device to block device segment descriptors (02h,
 * SPC-4 §6.4). Limits: extended-copy-manager.ts XCOPY_LIMITS.
 *
 * Errors found before any segment is processed (SPC-4 §6.4: "errors
 * detected before starting processing of the segment descriptors") end the
 * command with ILLEGAL REQUEST, nothing copied:
 *  - PARAMETER LIST LENGTH ERROR: a list shorter than its header, or than
 *    header + CSCD list + segment list + inline data; CSCD plus segment
 *    lists longer than MAXIMUM DESCRIPTOR LIST LENGTH;
 *  - INLINE DATA LENGTH EXCEEDED;
 *  - INVALID FIELD IN PARAMETER LIST: LIST ID USAGE 01b (reserved), a
 *    non-zero LIST IDENTIFIER with LIST ID USAGE 11b, a CSCD list that is
 *    not whole descriptors, a designator longer than its field, a segment
 *    descriptor with the wrong DESCRIPTOR LENGTH or running past the list;
 *  - TOO MANY TARGET DESCRIPTORS / TOO MANY SEGMENT DESCRIPTORS;
 *  - UNSUPPORTED TARGET DESCRIPTOR TYPE CODE / UNSUPPORTED SEGMENT
 *    DESCRIPTOR TYPE CODE;
 *  - OPERATION IN PROGRESS: the I_T nexus has a copy with the same list
 *    identifier running; INSUFFICIENT RESOURCES: too many copies running.
 * A PARAMETER LIST LENGTH of zero is not an error and does nothing.
 *
 * Segments are then processed in order. An error while processing segment
 * i ("errors detected during processing of segment descriptors") ends the
 * command with sense key COPY ABORTED, COMMAND-SPECIFIC INFORMATION = i
 * (segment number, bytes 2-3; bytes 0-1, the offsets of forwarded copy
 * target sense data, are 0: none is included) and a segment pointer
 * (SKSV = 1, SD = 0: FIELD POINTER relative to the start of the parameter
 * list) to the field at fault. Segments before i have been copied and are
 * counted in COPY STATUS. The additional sense code:
 *  - COPY TARGET DEVICE NOT REACHABLE: a CSCD index with no descriptor, a
 *    designator that names no logical unit the initiator may use;
 *  - INCORRECT COPY TARGET DEVICE TYPE: PERIPHERAL DEVICE TYPE not 00h;
 *  - INVALID FIELD IN PARAMETER LIST: DISK BLOCK LENGTH differs from the
 *    logical unit's block size;
 *  - COPY SEGMENT GRANULARITY VIOLATION: the bytes of a segment are not a
 *    whole number of blocks on both sides (only with different block sizes);
 *  - NO ADDITIONAL SENSE INFORMATION: the copy target refused the access,
 *    as it would have refused the READ or WRITE the copy stands for: a
 *    range beyond its capacity (pointer at the LBA field) or a reservation
 *    conflict (pointer at the CSCD index field). SPC-4 would forward the
 *    copy target's own sense data (LOGICAL BLOCK ADDRESS OUT OF RANGE,
 *    RESERVATION CONFLICT status) inside this sense data; ours does not
 *    carry forwarded sense data, and the field pointer says which field;
 *  - UNRECOVERED READ ERROR / WRITE ERROR: the store failed.
 *
 * Copying: a segment moves NUMBER OF BLOCKS blocks (source blocks, or
 * destination blocks when DC = 1) in chunks (extended-copy-buffers.ts).
 * Each chunk is read under a shared range lease of the source and written
 * under a shared range lease of the destination (sbc/io.ts), like a READ
 * followed by a WRITE: atomic against COMPARE AND WRITE, ORWRITE and WRITE
 * ATOMIC on those blocks, never holding two leases at once (no lock-order
 * deadlock between copies in opposite directions). When source and
 * destination ranges overlap on one logical unit, chunks are taken in the
 * order that reads every source block before it is overwritten, so the
 * result is that of reading the whole source first. Writes are durable
 * before status when the destination's write cache is off (DESIGN.md §6).
 * A task abort stops the copy between chunks.
 *
 * LIST ID USAGE 00b and 10b keep the copy status for RECEIVE COPY RESULTS
 * (receive-copy-results.ts); 11b keeps nothing and needs LIST IDENTIFIER 0.
 * STR and PRIORITY are accepted and have no effect.
 */
import type { LuContext } from '../command.js';
import { GOOD } from '../command.js';
import { CheckCondition, parameterListLengthError, shortDataOut } from '../check-condition.js';
import { u16, u32, u64 } from '../cdb.js';
import { SenseKey } from '../constants.js';
import type { LogicalUnit } from '../logical-unit.js';
import type { ScsiResponse } from '../types.js';
import { readInto, writeBlocks } from '../sbc/io.js';
import { CHUNK_BYTES, acquireBuffer, releaseBuffer } from './extended-copy-buffers.js';
import {
  B2B_LENGTH,
  CSCD_IDENTIFICATION,
  CSCD_LENGTH,
  CopyAsc,
  CopyManagerStatus,
  SEG_BLOCK_TO_BLOCK,
  XCOPY_LIMITS,
  copyManagerOf,
  type CopyRecord,
  type CopyTarget,
} from './extended-copy-manager.js';

const HEADER = 16;

/** PARAMETER LIST LENGTH (bytes 10-13). */
export const extendedCopyParameterListLength = (cdb: Buffer): number => u32(cdb, 10);

/** LIST ID USAGE (SPC-4 §6.4, parameter list header byte 1 bits 4-3). */
const enum ListIdUsage {
  Hold = 0,
  Reserved = 1,
  NoHold = 2,
  None = 3,
}

/** One Identification CSCD descriptor (E4h) as parsed. */
interface Cscd {
  /** Offset in the parameter list. */
  offset: number;
  deviceType: number;
  /** NAA designator as hex, undefined when the designator is of another kind. */
  naa?: string;
  /** DISK BLOCK LENGTH (device type specific parameters, bytes 29-31). */
  blockLength: number;
}

/** One block device to block device segment descriptor (02h). */
interface Segment {
  offset: number;
  dc: boolean;
  src: number;
  dst: number;
  blocks: number;
  srcLba: number;
  dstLba: number;
}

function illegal(asc: number, byte?: number, bit?: number): CheckCondition {
  return CheckCondition.of(SenseKey.ILLEGAL_REQUEST, asc, byte === undefined ? {} : { field: { cdb: false, byte, bit } });
}

/** COPY ABORTED for segment `seg`, pointing at parameter-list byte `byte` (SD = 0). */
function aborted(asc: number, seg: number, byte: number, bit?: number): CheckCondition {
  return CheckCondition.of(SenseKey.COPY_ABORTED, asc, { commandSpecific: seg & 0xffff, field: { cdb: false, byte, bit } });
}

/** Identification CSCD descriptor (E4h, SPC-4 §6.4): the designation descriptor is bytes 4-23. */
function parseCscd(d: Buffer, o: number): Cscd {
  const codeSet = d[o + 4] & 0x0f;
  const association = (d[o + 5] >> 4) & 0x03;
  const designatorType = d[o + 5] & 0x0f;
  const length = d[o + 7];
  // The designator occupies bytes 8-23: at most 16 bytes.
  if (length > 16) throw illegal(CopyAsc.INVALID_FIELD_IN_PARAMETER_LIST, o + 7, 7);
  let naa: string | undefined;
  // NAA (3h), binary, associated with a logical unit (SPC-4 §7.8.6): what VPD 83h reports for ours.
  if (designatorType === 0x3 && association === 0 && codeSet === 0x1 && (length === 8 || length === 16)) {
    naa = d.toString('hex', o + 8, o + 8 + length);
  }
  return { offset: o, deviceType: d[o + 1] & 0x1f, naa, blockLength: (d[o + 29] << 16) | (d[o + 30] << 8) | d[o + 31] };
}

interface ParsedList {
  listId: number;
  usage: ListIdUsage;
  cscds: Cscd[];
  segments: Segment[];
}

/** Everything checked before processing: throws ILLEGAL REQUEST. */
function parseParameterList(d: Buffer, plen: number): ParsedList {
  if (plen < HEADER) throw parameterListLengthError();
  const listId = d[0];
  const usage = ((d[1] >> 3) & 0x03) as ListIdUsage;
  const cscdLength = u16(d, 2);
  const segLength = u32(d, 8);
  const inlineLength = u32(d, 12);
  if (cscdLength + segLength > XCOPY_LIMITS.maxDescriptorListLength) throw parameterListLengthError();
  if (HEADER + cscdLength + segLength + inlineLength > plen) throw parameterListLengthError();
  if (inlineLength > XCOPY_LIMITS.maxInlineDataLength) throw illegal(CopyAsc.INLINE_DATA_LENGTH_EXCEEDED, 12, 7);
  if (usage === ListIdUsage.Reserved) throw illegal(CopyAsc.INVALID_FIELD_IN_PARAMETER_LIST, 1, 4);
  if (usage === ListIdUsage.None && listId !== 0) throw illegal(CopyAsc.INVALID_FIELD_IN_PARAMETER_LIST, 0, 7);

  // CSCD descriptors: every accepted type is 32 bytes.
  if (Math.ceil(cscdLength / CSCD_LENGTH) > XCOPY_LIMITS.maxCscdDescriptors) throw illegal(CopyAsc.TOO_MANY_TARGET_DESCRIPTORS);
  const cscds: Cscd[] = [];
  const cscdEnd = HEADER + cscdLength;
  for (let o = HEADER; o < cscdEnd; o += CSCD_LENGTH) {
    if (o + CSCD_LENGTH > cscdEnd) throw illegal(CopyAsc.INVALID_FIELD_IN_PARAMETER_LIST, 2, 7);
    if (d[o] !== CSCD_IDENTIFICATION) throw illegal(CopyAsc.UNSUPPORTED_TARGET_DESCRIPTOR_TYPE_CODE, o, 7);
    cscds.push(parseCscd(d, o));
  }

  // Segment descriptors: 4-byte header with DESCRIPTOR LENGTH (bytes 2-3) counting what follows it.
  const segments: Segment[] = [];
  const segEnd = cscdEnd + segLength;
  for (let o = cscdEnd; o < segEnd; ) {
    if (segments.length === XCOPY_LIMITS.maxSegmentDescriptors) throw illegal(CopyAsc.TOO_MANY_SEGMENT_DESCRIPTORS);
    if (o + 4 > segEnd) throw illegal(CopyAsc.INVALID_FIELD_IN_PARAMETER_LIST, 8, 7);
    const type = d[o];
    if (type !== SEG_BLOCK_TO_BLOCK) throw illegal(CopyAsc.UNSUPPORTED_SEGMENT_DESCRIPTOR_TYPE_CODE, o, 7);
    if (u16(d, o + 2) !== B2B_LENGTH - 4 || o + B2B_LENGTH > segEnd) throw illegal(CopyAsc.INVALID_FIELD_IN_PARAMETER_LIST, o + 2, 7);
    segments.push({
      offset: o,
      dc: (d[o + 1] & 0x02) !== 0,
      src: u16(d, o + 4),
      dst: u16(d, o + 6),
      blocks: u16(d, o + 10),
      srcLba: u64(d, o + 12),
      dstLba: u64(d, o + 20),
    });
    o += B2B_LENGTH;
  }
  return { listId, usage, cscds, segments };
}

/** The copy target of CSCD index `index` for segment `seg` (field at `field`); cached per command. */
function resolve(ctx: LuContext, list: ParsedList, cache: Map<number, CopyTarget>, index: number, seg: number, field: number): CopyTarget {
  const hit = cache.get(index);
  if (hit) return hit;
  const c = list.cscds[index];
  if (!c) throw aborted(CopyAsc.COPY_TARGET_DEVICE_NOT_REACHABLE, seg, field, 7);
  let target: CopyTarget | undefined;
  if (c.naa !== undefined) {
    const services = ctx.device;
    if (services.copyTarget) target = services.copyTarget(c.naa, ctx.nexus);
    else if (c.naa === ctx.lu.naa) target = { lu: ctx.lu, conflicts: () => false };
  }
  // The designation descriptor names nothing this initiator can reach.
  if (!target) throw aborted(CopyAsc.COPY_TARGET_DEVICE_NOT_REACHABLE, seg, c.offset + 4);
  // Block to block needs direct-access block devices (PERIPHERAL DEVICE TYPE 00h).
  if (c.deviceType !== 0x00) throw aborted(CopyAsc.INCORRECT_COPY_TARGET_DEVICE_TYPE, seg, c.offset + 1, 4);
  if (c.blockLength !== target.lu.blockSize) throw aborted(CopyAsc.INVALID_FIELD_IN_PARAMETER_LIST, seg, c.offset + 29, 7);
  cache.set(index, target);
  return target;
}

/** Copy `bytes` from src at `srcLba` to dst at `dstLba`, chunk by chunk. */
async function copyRange(
  ctx: LuContext,
  src: LogicalUnit,
  srcLba: number,
  dst: LogicalUnit,
  dstLba: number,
  bytes: number,
  seg: Segment,
  index: number,
  record: CopyRecord | undefined,
): Promise<void> {
  const sbs = src.blockSize;
  const dbs = dst.blockSize;
  const fua = dst.fua(false);
  // Same logical unit, destination after an overlapping source: copy from the end backwards.
  const srcStart = srcLba * sbs;
  const dstStart = dstLba * dbs;
  const backwards = src === dst && dstStart > srcStart && dstStart < srcStart + bytes;
  const count = Math.ceil(bytes / CHUNK_BYTES);
  for (let k = 0; k < count; k++) {
    if (ctx.req.signal?.aborted) throw aborted(CopyAsc.NO_ADDITIONAL_SENSE, index, seg.offset);
    const i = backwards ? count - 1 - k : k;
    const off = i * CHUNK_BYTES;
    const n = Math.min(CHUNK_BYTES, bytes - off);
    const buf = await acquireBuffer();
    try {
      const chunk = buf.subarray(0, n);
      try {
        await readInto(src, srcLba + off / sbs, chunk);
      } catch (err) {
        if (err instanceof CheckCondition) throw err;
        throw aborted(CopyAsc.UNRECOVERED_READ_ERROR, index, seg.offset + 12, 7);
      }
      try {
        await writeBlocks(dst, dstLba + off / dbs, chunk, fua);
      } catch (err) {
        if (err instanceof CheckCondition) throw err;
        throw aborted(CopyAsc.WRITE_ERROR, index, seg.offset + 20, 7);
      }
    } finally {
      releaseBuffer(buf);
    }
    if (record) record.bytes += n;
  }
}

async function processSegments(ctx: LuContext, list: ParsedList, record: CopyRecord | undefined): Promise<void> {
  const cache = new Map<number, CopyTarget>();
  for (let i = 0; i < list.segments.length; i++) {
    const s = list.segments[i];
    const src = resolve(ctx, list, cache, s.src, i, s.offset + 4);
    const dst = resolve(ctx, list, cache, s.dst, i, s.offset + 6);
    const sbs = src.lu.blockSize;
    const dbs = dst.lu.blockSize;
    // DC = 0: NUMBER OF BLOCKS counts source blocks; DC = 1: destination blocks.
    const bytes = s.blocks * (s.dc ? dbs : sbs);
    if (bytes % sbs !== 0 || bytes % dbs !== 0) throw aborted(CopyAsc.COPY_SEGMENT_GRANULARITY_VIOLATION, i, s.offset + 10, 7);
    const srcBlocks = bytes / sbs;
    const dstBlocks = bytes / dbs;
    // The copy target would refuse a READ or WRITE beyond its capacity (SBC-3 §4.5).
    if (s.srcLba + srcBlocks > src.lu.numBlocks) throw aborted(CopyAsc.NO_ADDITIONAL_SENSE, i, s.offset + 12, 7);
    if (s.dstLba + dstBlocks > dst.lu.numBlocks) throw aborted(CopyAsc.NO_ADDITIONAL_SENSE, i, s.offset + 20, 7);
    // ... or refuse it with RESERVATION CONFLICT (SPC-4 §5.13.1).
    if (src.conflicts(false)) throw aborted(CopyAsc.NO_ADDITIONAL_SENSE, i, s.offset + 4, 7);
    if (dst.conflicts(true)) throw aborted(CopyAsc.NO_ADDITIONAL_SENSE, i, s.offset + 6, 7);
    // NUMBER OF BLOCKS 0: nothing to transfer, not an error.
    if (bytes > 0) await copyRange(ctx, src.lu, s.srcLba, dst.lu, s.dstLba, bytes, s, i, record);
    if (record) record.segmentsProcessed = i + 1;
  }
}

export async function extendedCopy(ctx: LuContext): Promise<ScsiResponse> {
  const plen = extendedCopyParameterListLength(ctx.cdb);
  // SPC-4 §6.4: zero means no parameter data; not an error.
  if (plen === 0) return GOOD;
  const data = ctx.req.dataOut;
  if (!data || data.length < plen) {
    // A list shorter than even its header is a length error whatever arrived; else the transfer fell short.
    if (plen < HEADER) throw parameterListLengthError();
    throw shortDataOut();
  }
  const list = parseParameterList(data, plen);
  const manager = copyManagerOf(ctx.lu);
  const held = list.usage !== ListIdUsage.None;
  if (held && manager.record(ctx.nexus, list.listId)?.status === CopyManagerStatus.InProgress) {
    throw illegal(CopyAsc.OPERATION_IN_PROGRESS, 0, 7);
  }
  if (manager.running >= XCOPY_LIMITS.maxConcurrentCopies) throw illegal(CopyAsc.INSUFFICIENT_RESOURCES);
  const record = held ? manager.start(ctx.nexus, list.listId) : undefined;
  manager.running++;
  try {
    await processSegments(ctx, list, record);
  } catch (err) {
    if (record) record.status = CopyManagerStatus.CompletedWithErrors;
    throw err;
  } finally {
    manager.running--;
  }
  if (record) record.status = CopyManagerStatus.CompletedWithoutErrors;
  return GOOD;
}
