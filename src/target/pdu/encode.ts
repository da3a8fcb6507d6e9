/**
 * Pure encoder: typed PDU -> chunks for writev (RFC 7143 §11, DESIGN.md §3).
 *
 * `encodePdu` returns `[header]`, `[header, data]` or `[header, data, trailer]`:
 * - header: BHS + AHS (+ header digest), a new buffer;
 * - data: `pdu.data` itself, never copied or concatenated into the header;
 * - trailer: padding to a 4-byte boundary (+ data digest), only when non-empty.
 * A connection corks, writes the chunks, uncorks.
 */
import {
  AhsType,
  BHS_CDB_LENGTH,
  BHS_LENGTH,
  DIGEST_LENGTH,
  MAX_DATA_SEGMENT_LENGTH,
  MAX_TOTAL_AHS_LENGTH,
  opcodeName,
} from './constants.js';
import { crc32cJs, dataDigest, writeDigest } from './digest.js';
import {
  writeDataOutBhs,
  writeLoginRequestBhs,
  writeLogoutRequestBhs,
  writeNopOutBhs,
  writeScsiCommandBhs,
  writeSnackBhs,
  writeTaskMgmtRequestBhs,
  writeTextRequestBhs,
} from './encode-initiator.js';
import {
  writeAsyncMessageBhs,
  writeDataInBhs,
  writeLoginResponseBhs,
  writeLogoutResponseBhs,
  writeNopInBhs,
  writeR2TBhs,
  writeRejectBhs,
  writeScsiResponseBhs,
  writeTaskMgmtResponseBhs,
  writeTextResponseBhs,
} from './encode-target.js';
import { Opcode, type Pdu, type ScsiCommandPdu } from './types.js';

/** Which digests were negotiated (RFC 7143 §13.1); both off during login. */
export interface DigestOptions {
  header: boolean;
  data: boolean;
}

/** Digests off: the state during login (RFC 7143 §13.1: digests start after login). */
export const NO_DIGESTS: Readonly<DigestOptions> = Object.freeze({ header: false, data: false });

/**
 * Encode a PDU as writev chunks (see the file comment). DataSegmentLength and
 * TotalAHSLength are computed from `pdu.data` and the AHS.
 *
 * AHS: for SCSI Command the Extended CDB AHS (RFC 7143 §11.2.2.3) is generated
 * from a `cdb` longer than 16 bytes and the Bidirectional Read Expected Data
 * Length AHS (§11.2.2.4) from `bidiReadExpectedLength`; any type 1/2 segments in
 * `pdu.ahs` are ignored in favour of those fields, other segments follow them.
 * For all other PDUs `pdu.ahs` is written as given (each padded to 4 bytes).
 *
 * LUN: `lunField` is written when it holds 8 bytes that decode to `lun` (or
 * `lun` is -1, an address this codec cannot represent); otherwise `lun` is encoded.
 * So replies can echo the initiator's LUN bytes exactly (RFC 7143 §11.7.4).
 * The shared fields' offsets are in bhs-fields.ts.
 *
 * SCSI Response: put SenseLength + sense data (§11.4.7) in `data` yourself,
 * e.g. with `senseDataSegment(sense)`.
 *
 * @throws RangeError for values that do not fit their fields.
 */
export function encodePdu(pdu: Pdu, digests: DigestOptions): Buffer[] {
  const ahsList = pdu.opcode === Opcode.ScsiCommand ? commandAhs(pdu) : pdu.ahs;
  let ahsLength = 0;
  for (const segment of ahsList) ahsLength += paddedAhsLength(segment);
  if (ahsLength > MAX_TOTAL_AHS_LENGTH) {
    throw new RangeError(
      `${opcodeName(pdu.opcode)}: AHS total ${ahsLength} bytes exceeds ${MAX_TOTAL_AHS_LENGTH} (RFC 7143 §11.2.1.4)`,
    );
  }
  const headerLength = BHS_LENGTH + ahsLength + (digests.header ? DIGEST_LENGTH : 0);
  const header = Buffer.allocUnsafe(headerLength);
  encodeBhsInto(pdu, header, 0, ahsLength);
  let off = BHS_LENGTH;
  for (const segment of ahsList) {
    const padded = paddedAhsLength(segment);
    segment.copy(header, off);
    header.fill(0, off + segment.length, off + padded);
    off += padded;
  }
  if (digests.header) writeDigest(header, off, crc32cJs(header, 0, off)); // §11.2.3 covers BHS + AHS

  const data = pdu.data;
  if (data.length === 0) return [header]; // no padding, no data digest without data (§11.2.4)
  const pad = (4 - (data.length & 3)) & 3;
  const trailerLength = pad + (digests.data ? DIGEST_LENGTH : 0);
  if (trailerLength === 0) return [header, data];
  const trailer = Buffer.allocUnsafe(trailerLength);
  trailer.fill(0, 0, pad);
  if (digests.data) writeDigest(trailer, pad, dataDigest(data)); // §11.2.4: covers data + padding
  return [header, data, trailer];
}

/**
 * Write the 48-byte BHS of `pdu` at `offset` (all 48 bytes are written, reserved
 * ones as zero). DataSegmentLength is `pdu.data.length`; TotalAHSLength is
 * `ahsLength` bytes (a multiple of 4). Does not write AHS or digests.
 */
export function encodeBhsInto(pdu: Pdu, buf: Buffer, offset: number, ahsLength = 0): void {
  if (offset < 0 || offset + BHS_LENGTH > buf.length) {
    throw new RangeError(`BHS needs 48 bytes at offset ${offset} of a ${buf.length}-byte buffer`);
  }
  if ((ahsLength & 3) !== 0 || ahsLength < 0 || ahsLength > MAX_TOTAL_AHS_LENGTH) {
    throw new RangeError(`TotalAHSLength ${ahsLength} bytes is not a multiple of 4 in 0..${MAX_TOTAL_AHS_LENGTH}`);
  }
  const dsl = pdu.data.length;
  if (dsl > MAX_DATA_SEGMENT_LENGTH) {
    throw new RangeError(
      `${opcodeName(pdu.opcode)}: data segment of ${dsl} bytes exceeds the 24-bit DataSegmentLength (RFC 7143 §11.2.1.5)`,
    );
  }
  const o = offset;
  buf.fill(0, o, o + BHS_LENGTH);
  // §11.2.1.4-5: TotalAHSLength (4-byte words) and DataSegmentLength.
  buf[o + 4] = ahsLength >> 2;
  buf[o + 5] = dsl >> 16;
  buf[o + 6] = (dsl >> 8) & 0xff;
  buf[o + 7] = dsl & 0xff;
  switch (pdu.opcode) {
    case Opcode.NopOut:
      return writeNopOutBhs(pdu, buf, o);
    case Opcode.ScsiCommand:
      return writeScsiCommandBhs(pdu, buf, o);
    case Opcode.TaskMgmtRequest:
      return writeTaskMgmtRequestBhs(pdu, buf, o);
    case Opcode.LoginRequest:
      return writeLoginRequestBhs(pdu, buf, o);
    case Opcode.TextRequest:
      return writeTextRequestBhs(pdu, buf, o);
    case Opcode.DataOut:
      return writeDataOutBhs(pdu, buf, o);
    case Opcode.LogoutRequest:
      return writeLogoutRequestBhs(pdu, buf, o);
    case Opcode.Snack:
      return writeSnackBhs(pdu, buf, o);
    case Opcode.NopIn:
      return writeNopInBhs(pdu, buf, o);
    case Opcode.ScsiResponse:
      return writeScsiResponseBhs(pdu, buf, o);
    case Opcode.TaskMgmtResponse:
      return writeTaskMgmtResponseBhs(pdu, buf, o);
    case Opcode.LoginResponse:
      return writeLoginResponseBhs(pdu, buf, o);
    case Opcode.TextResponse:
      return writeTextResponseBhs(pdu, buf, o);
    case Opcode.DataIn:
      return writeDataInBhs(pdu, buf, o);
    case Opcode.LogoutResponse:
      return writeLogoutResponseBhs(pdu, buf, o);
    case Opcode.R2T:
      return writeR2TBhs(pdu, buf, o);
    case Opcode.AsyncMessage:
      return writeAsyncMessageBhs(pdu, buf, o);
    case Opcode.Reject:
      return writeRejectBhs(pdu, buf, o);
    default: {
      const unknown: { opcode: number } = pdu;
      throw new RangeError(`cannot encode ${opcodeName(unknown.opcode)}`);
    }
  }
}

/**
 * RFC 7143 §11.4.7.2: the data segment of a SCSI Response carrying sense data:
 * SenseLength (2 bytes, big-endian) followed by the sense data. Padding is added by `encodePdu`.
 */
export function senseDataSegment(sense: Buffer): Buffer {
  if (sense.length > 0xffff) throw new RangeError(`sense data of ${sense.length} bytes exceeds SenseLength's 16 bits`);
  const seg = Buffer.allocUnsafe(2 + sense.length);
  seg.writeUInt16BE(sense.length, 0);
  sense.copy(seg, 2);
  return seg;
}

/** §11.2.2: an AHS occupies 3 + AHSLength bytes rounded up to 4. */
function paddedAhsLength(segment: Buffer): number {
  if (segment.length < 3) throw new RangeError(`AHS segment of ${segment.length} bytes is shorter than its 3-byte header`);
  const padded = (3 + segment.readUInt16BE(0) + 3) & ~3;
  if (segment.length !== padded && segment.length !== 3 + segment.readUInt16BE(0)) {
    throw new RangeError(
      `AHS segment of ${segment.length} bytes does not match its AHSLength ${segment.readUInt16BE(0)} (RFC 7143 §11.2.2)`,
    );
  }
  return padded;
}

/** §11.3.5 / §11.2.2.3-4: the AHS a SCSI Command needs, then any other segments given. */
function commandAhs(pdu: ScsiCommandPdu): Buffer[] {
  if (pdu.cdb.length <= BHS_CDB_LENGTH && pdu.bidiReadExpectedLength === undefined && pdu.ahs.length === 0) {
    return pdu.ahs;
  }
  const list: Buffer[] = [];
  if (pdu.cdb.length > BHS_CDB_LENGTH) {
    const extra = pdu.cdb.length - BHS_CDB_LENGTH;
    const seg = Buffer.allocUnsafe(4 + extra);
    seg.writeUInt16BE(pdu.cdb.length - 15, 0); // AHSLength = CDBLength - 15
    seg[2] = AhsType.ExtendedCdb;
    seg[3] = 0;
    pdu.cdb.copy(seg, 4, BHS_CDB_LENGTH);
    list.push(seg);
  }
  if (pdu.bidiReadExpectedLength !== undefined) {
    const seg = Buffer.allocUnsafe(8);
    seg.writeUInt16BE(5, 0);
    seg[2] = AhsType.BidiReadExpectedLength;
    seg[3] = 0;
    seg.writeUInt32BE(pdu.bidiReadExpectedLength, 4);
    list.push(seg);
  }
  if (pdu.ahs.length === 0) return list;
  for (const seg of pdu.ahs) {
    const type = seg.length >= 3 ? seg[2] & 0x3f : -1;
    if (type !== AhsType.ExtendedCdb && type !== AhsType.BidiReadExpectedLength) list.push(seg);
  }
  return list;
}
