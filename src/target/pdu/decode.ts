/**
 * Pure decoder: BHS + AHS + data segment -> typed PDU (RFC 7143 §11).
 *
 * No copies: `data`, `lunField`, `isid` and (without an Extended CDB AHS)
 * `cdb` are views of the buffers passed in, so the PDU aliases them.
 */
import { AhsType, BHS_CDB_LENGTH, BHS_LENGTH, BhsByte0, BhsFlag, RejectReason, opcodeName } from './constants.js';
import { PduFormatError } from './errors.js';
import { BhsOffset, lunFieldOf, readInitiatorSeq, readLunFields, readTargetSeq, readTransferTags } from './bhs-fields.js';
import { decodeLun } from './lun.js';
import {
  Opcode,
  type AsyncMessagePdu,
  type DataInPdu,
  type DataOutPdu,
  type LoginRequestPdu,
  type LoginResponsePdu,
  type LogoutRequestPdu,
  type LogoutResponsePdu,
  type NopInPdu,
  type NopOutPdu,
  type Pdu,
  type R2TPdu,
  type RejectPdu,
  type ScsiCommandPdu,
  type ScsiResponsePdu,
  type SnackPdu,
  type TaskMgmtRequestPdu,
  type TaskMgmtResponsePdu,
  type TextRequestPdu,
  type TextResponsePdu,
} from './types.js';

export { PduFormatError } from './errors.js';
export type { PduErrorCode } from './errors.js';

/** RFC 7143 §11.2.1.4: TotalAHSLength in bytes. */
export function totalAhsLength(bhs: Buffer): number {
  return bhs[4] << 2;
}

/** RFC 7143 §11.2.1.5: DataSegmentLength (24 bits, excludes padding). */
export function dataSegmentLength(bhs: Buffer): number {
  return (bhs[5] << 16) | (bhs[6] << 8) | bhs[7];
}

/**
 * Decode one PDU.
 * @param bhs the 48-byte Basic Header Segment (longer buffers are fine; only 48 bytes are read)
 * @param ahs exactly TotalAHSLength bytes of AHS (empty if none)
 * @param data exactly DataSegmentLength bytes, without padding or digest
 * @throws PduFormatError for unknown opcodes, malformed AHS, or inconsistent lengths
 */
export function decodePdu(bhs: Buffer, ahs: Buffer, data: Buffer): Pdu {
  if (bhs.length < BHS_LENGTH) {
    throw new PduFormatError(
      'ISCSI_ERR_BAD_LENGTH',
      `BHS is ${bhs.length} bytes; RFC 7143 §11.2 requires 48`,
      RejectReason.ProtocolError,
    );
  }
  const opcode = bhs[0] & BhsByte0.OpcodeMask;
  if (ahs.length !== totalAhsLength(bhs)) {
    throw new PduFormatError(
      'ISCSI_ERR_BAD_AHS',
      `${opcodeName(opcode)}: TotalAHSLength says ${totalAhsLength(bhs)} bytes but ${ahs.length} were given`,
      RejectReason.ProtocolError,
      opcode,
    );
  }
  if (data.length !== dataSegmentLength(bhs)) {
    throw new PduFormatError(
      'ISCSI_ERR_BAD_LENGTH',
      `${opcodeName(opcode)}: DataSegmentLength says ${dataSegmentLength(bhs)} bytes but ${data.length} were given`,
      RejectReason.ProtocolError,
      opcode,
    );
  }
  const ahsList = ahs.length === 0 ? [] : splitAhs(ahs, opcode);
  switch (opcode) {
    case Opcode.NopOut:
      return decodeNopOut(bhs, ahsList, data);
    case Opcode.ScsiCommand:
      return decodeScsiCommand(bhs, ahsList, data);
    case Opcode.TaskMgmtRequest:
      return decodeTaskMgmtRequest(bhs, ahsList, data);
    case Opcode.LoginRequest:
      return decodeLoginRequest(bhs, ahsList, data);
    case Opcode.TextRequest:
      return decodeTextRequest(bhs, ahsList, data);
    case Opcode.DataOut:
      return decodeDataOut(bhs, ahsList, data);
    case Opcode.LogoutRequest:
      return decodeLogoutRequest(bhs, ahsList, data);
    case Opcode.Snack:
      return decodeSnack(bhs, ahsList, data);
    case Opcode.NopIn:
      return decodeNopIn(bhs, ahsList, data);
    case Opcode.ScsiResponse:
      return decodeScsiResponse(bhs, ahsList, data);
    case Opcode.TaskMgmtResponse:
      return decodeTaskMgmtResponse(bhs, ahsList, data);
    case Opcode.LoginResponse:
      return decodeLoginResponse(bhs, ahsList, data);
    case Opcode.TextResponse:
      return decodeTextResponse(bhs, ahsList, data);
    case Opcode.DataIn:
      return decodeDataIn(bhs, ahsList, data);
    case Opcode.LogoutResponse:
      return decodeLogoutResponse(bhs, ahsList, data);
    case Opcode.R2T:
      return decodeR2T(bhs, ahsList, data);
    case Opcode.AsyncMessage:
      return decodeAsyncMessage(bhs, ahsList, data);
    case Opcode.Reject:
      return decodeReject(bhs, ahsList, data);
    default:
      throw unknownOpcodeError(opcode);
  }
}

/**
 * The error for an opcode RFC 7143 §11.2.1.2 does not define. Rejected with
 * "Command not supported" (§11.17.1), as the PDU is well framed but cannot be executed.
 */
export function unknownOpcodeError(opcode: number): PduFormatError {
  return new PduFormatError(
    'ISCSI_ERR_UNKNOWN_OPCODE',
    `unknown iSCSI opcode 0x${opcode.toString(16).padStart(2, '0')} (RFC 7143 §11.2.1.2)`,
    RejectReason.CommandNotSupported,
    opcode,
  );
}

function badAhs(opcode: number, message: string): PduFormatError {
  return new PduFormatError('ISCSI_ERR_BAD_AHS', `${opcodeName(opcode)}: ${message}`, RejectReason.InvalidPduField, opcode);
}

/**
 * RFC 7143 §11.2.2: split the AHS area into segments. Each returned buffer
 * runs from the AHSLength field to the end of the AHS-specific bytes (3 +
 * AHSLength bytes, padding excluded).
 */
function splitAhs(ahs: Buffer, opcode: number): Buffer[] {
  const list: Buffer[] = [];
  let off = 0;
  while (off < ahs.length) {
    const length = ahs.readUInt16BE(off);
    const padded = (3 + length + 3) & ~3; // §11.2.2: padded to a 4-byte boundary
    if (off + padded > ahs.length) {
      throw badAhs(opcode, `AHS at offset ${off} with AHSLength ${length} overruns TotalAHSLength ${ahs.length}`);
    }
    list.push(ahs.subarray(off, off + 3 + length));
    off += padded;
  }
  return list;
}

/** RFC 7143 §11.2.2.2: AHSType, low 6 bits (bits 0-1 of the byte are reserved). */
function ahsType(segment: Buffer): number {
  return segment[2] & 0x3f;
}

/** RFC 7143 §11.18 */
function decodeNopOut(bhs: Buffer, ahs: Buffer[], data: Buffer): NopOutPdu {
  return {
    opcode: Opcode.NopOut,
    immediate: immediate(bhs),
    ...readLunFields(bhs),
    ...readTransferTags(bhs),
    ...readInitiatorSeq(bhs),
    ahs,
    data,
  };
}

/** RFC 7143 §11.3 (hot path: fields read in place), with the Extended CDB (§11.2.2.3) and Bidirectional Read Expected Data Length (§11.2.2.4) AHS. */
function decodeScsiCommand(bhs: Buffer, ahs: Buffer[], data: Buffer): ScsiCommandPdu {
  const flags = bhs[1];
  const pdu: ScsiCommandPdu = {
    opcode: Opcode.ScsiCommand,
    immediate: (bhs[0] & BhsByte0.Immediate) !== 0,
    final: (flags & BhsFlag.Final) !== 0,
    read: (flags & BhsFlag.Read) !== 0,
    write: (flags & BhsFlag.Write) !== 0,
    attr: flags & BhsFlag.AttrMask,
    lun: decodeLun(bhs, BhsOffset.Lun),
    lunField: lunFieldOf(bhs),
    initiatorTaskTag: bhs.readUInt32BE(BhsOffset.Itt),
    expectedDataTransferLength: bhs.readUInt32BE(BhsOffset.Ttt),
    cmdSN: bhs.readUInt32BE(BhsOffset.Sn),
    expStatSN: bhs.readUInt32BE(BhsOffset.ExpSn),
    cdb: bhs.subarray(32, 32 + BHS_CDB_LENGTH),
    ahs,
    data,
  };
  let sawCdb = false;
  for (const segment of ahs) {
    const type = ahsType(segment);
    const length = segment.length - 3;
    if (type === AhsType.ExtendedCdb) {
      // §11.2.2.3: AHSLength = CDBLength - 15; one reserved byte, then CDB bytes 16 and up.
      if (sawCdb) throw badAhs(Opcode.ScsiCommand, 'more than one Extended CDB AHS');
      if (length < 2) throw badAhs(Opcode.ScsiCommand, `Extended CDB AHS with AHSLength ${length} (minimum 2)`);
      sawCdb = true;
      const extra = length - 1;
      const cdb = Buffer.allocUnsafe(BHS_CDB_LENGTH + extra);
      bhs.copy(cdb, 0, 32, 32 + BHS_CDB_LENGTH);
      segment.copy(cdb, BHS_CDB_LENGTH, 4, 4 + extra);
      pdu.cdb = cdb;
    } else if (type === AhsType.BidiReadExpectedLength) {
      // §11.2.2.4: AHSLength is 0x0005; one reserved byte, then the 4-byte length.
      if (pdu.bidiReadExpectedLength !== undefined) {
        throw badAhs(Opcode.ScsiCommand, 'more than one Bidirectional Read Expected Data Length AHS');
      }
      if (length !== 5) {
        throw badAhs(Opcode.ScsiCommand, `Bidirectional Read Expected Data Length AHS with AHSLength ${length} (must be 5)`);
      }
      pdu.bidiReadExpectedLength = segment.readUInt32BE(4);
    }
  }
  return pdu;
}

/** RFC 7143 §11.5 */
function decodeTaskMgmtRequest(bhs: Buffer, ahs: Buffer[], data: Buffer): TaskMgmtRequestPdu {
  return {
    opcode: Opcode.TaskMgmtRequest,
    immediate: immediate(bhs),
    function: bhs[1] & 0x7f,
    ...readLunFields(bhs),
    initiatorTaskTag: bhs.readUInt32BE(BhsOffset.Itt),
    referencedTaskTag: bhs.readUInt32BE(BhsOffset.Ttt),
    ...readInitiatorSeq(bhs),
    refCmdSN: bhs.readUInt32BE(32),
    expDataSN: bhs.readUInt32BE(36),
    ahs,
    data,
  };
}

/** RFC 7143 §11.12 */
function decodeLoginRequest(bhs: Buffer, ahs: Buffer[], data: Buffer): LoginRequestPdu {
  return {
    opcode: Opcode.LoginRequest,
    immediate: immediate(bhs),
    ...readLoginFlags(bhs),
    versionMax: bhs[2],
    versionMin: bhs[3],
    isid: bhs.subarray(BhsOffset.Isid, BhsOffset.Tsih),
    tsih: bhs.readUInt16BE(BhsOffset.Tsih),
    initiatorTaskTag: bhs.readUInt32BE(BhsOffset.Itt),
    cid: bhs.readUInt16BE(20),
    ...readInitiatorSeq(bhs),
    ahs,
    data,
  };
}

/** RFC 7143 §11.10 */
function decodeTextRequest(bhs: Buffer, ahs: Buffer[], data: Buffer): TextRequestPdu {
  return {
    opcode: Opcode.TextRequest,
    immediate: immediate(bhs),
    final: (bhs[1] & BhsFlag.Final) !== 0,
    continue: (bhs[1] & BhsFlag.Continue) !== 0,
    ...readLunFields(bhs),
    ...readTransferTags(bhs),
    ...readInitiatorSeq(bhs),
    ahs,
    data,
  };
}

/** RFC 7143 §11.7 (Data-Out; hot path: fields read in place). `data` is the buffer given, not a copy. */
function decodeDataOut(bhs: Buffer, ahs: Buffer[], data: Buffer): DataOutPdu {
  return {
    opcode: Opcode.DataOut,
    final: (bhs[1] & BhsFlag.Final) !== 0,
    lun: decodeLun(bhs, BhsOffset.Lun),
    lunField: lunFieldOf(bhs),
    initiatorTaskTag: bhs.readUInt32BE(BhsOffset.Itt),
    targetTransferTag: bhs.readUInt32BE(BhsOffset.Ttt),
    expStatSN: bhs.readUInt32BE(BhsOffset.ExpSn),
    dataSN: bhs.readUInt32BE(BhsOffset.DataSn),
    bufferOffset: bhs.readUInt32BE(BhsOffset.BufferOffset),
    ahs,
    data,
  };
}

/** RFC 7143 §11.14 */
function decodeLogoutRequest(bhs: Buffer, ahs: Buffer[], data: Buffer): LogoutRequestPdu {
  return {
    opcode: Opcode.LogoutRequest,
    immediate: immediate(bhs),
    reasonCode: bhs[1] & 0x7f,
    initiatorTaskTag: bhs.readUInt32BE(BhsOffset.Itt),
    cid: bhs.readUInt16BE(20),
    ...readInitiatorSeq(bhs),
    ahs,
    data,
  };
}

/** RFC 7143 §11.16 */
function decodeSnack(bhs: Buffer, ahs: Buffer[], data: Buffer): SnackPdu {
  return {
    opcode: Opcode.Snack,
    type: bhs[1] & 0x0f,
    ...readLunFields(bhs),
    ...readTransferTags(bhs),
    expStatSN: bhs.readUInt32BE(BhsOffset.ExpSn),
    begRun: bhs.readUInt32BE(40),
    runLength: bhs.readUInt32BE(44),
    ahs,
    data,
  };
}

/** RFC 7143 §11.19 */
function decodeNopIn(bhs: Buffer, ahs: Buffer[], data: Buffer): NopInPdu {
  return {
    opcode: Opcode.NopIn,
    ...readLunFields(bhs),
    ...readTransferTags(bhs),
    ...readTargetSeq(bhs),
    ahs,
    data,
  };
}

/** RFC 7143 §11.4 */
function decodeScsiResponse(bhs: Buffer, ahs: Buffer[], data: Buffer): ScsiResponsePdu {
  const flags = bhs[1];
  return {
    opcode: Opcode.ScsiResponse,
    bidiReadResidualOverflow: (flags & BhsFlag.BidiOverflow) !== 0,
    bidiReadResidualUnderflow: (flags & BhsFlag.BidiUnderflow) !== 0,
    residualOverflow: (flags & BhsFlag.Overflow) !== 0,
    residualUnderflow: (flags & BhsFlag.Underflow) !== 0,
    response: bhs[2],
    status: bhs[3],
    initiatorTaskTag: bhs.readUInt32BE(BhsOffset.Itt),
    snackTag: bhs.readUInt32BE(BhsOffset.Ttt),
    ...readTargetSeq(bhs),
    expDataSN: bhs.readUInt32BE(BhsOffset.DataSn),
    bidiReadResidualCount: bhs.readUInt32BE(40),
    residualCount: bhs.readUInt32BE(BhsOffset.ResidualCount),
    ahs,
    data,
  };
}

/** RFC 7143 §11.6 */
function decodeTaskMgmtResponse(bhs: Buffer, ahs: Buffer[], data: Buffer): TaskMgmtResponsePdu {
  return {
    opcode: Opcode.TaskMgmtResponse,
    response: bhs[2],
    initiatorTaskTag: bhs.readUInt32BE(BhsOffset.Itt),
    ...readTargetSeq(bhs),
    ahs,
    data,
  };
}

/** RFC 7143 §11.13 */
function decodeLoginResponse(bhs: Buffer, ahs: Buffer[], data: Buffer): LoginResponsePdu {
  return {
    opcode: Opcode.LoginResponse,
    ...readLoginFlags(bhs),
    versionMax: bhs[2],
    versionActive: bhs[3],
    isid: bhs.subarray(BhsOffset.Isid, BhsOffset.Tsih),
    tsih: bhs.readUInt16BE(BhsOffset.Tsih),
    initiatorTaskTag: bhs.readUInt32BE(BhsOffset.Itt),
    ...readTargetSeq(bhs),
    statusClass: bhs[36],
    statusDetail: bhs[37],
    ahs,
    data,
  };
}

/** RFC 7143 §11.11 */
function decodeTextResponse(bhs: Buffer, ahs: Buffer[], data: Buffer): TextResponsePdu {
  return {
    opcode: Opcode.TextResponse,
    final: (bhs[1] & BhsFlag.Final) !== 0,
    continue: (bhs[1] & BhsFlag.Continue) !== 0,
    ...readLunFields(bhs),
    ...readTransferTags(bhs),
    ...readTargetSeq(bhs),
    ahs,
    data,
  };
}

/** RFC 7143 §11.7 (Data-In) */
function decodeDataIn(bhs: Buffer, ahs: Buffer[], data: Buffer): DataInPdu {
  const flags = bhs[1];
  return {
    opcode: Opcode.DataIn,
    final: (flags & BhsFlag.Final) !== 0,
    acknowledge: (flags & BhsFlag.Acknowledge) !== 0,
    residualOverflow: (flags & BhsFlag.Overflow) !== 0,
    residualUnderflow: (flags & BhsFlag.Underflow) !== 0,
    statusPresent: (flags & BhsFlag.StatusPresent) !== 0,
    status: bhs[3],
    ...readLunFields(bhs),
    ...readTransferTags(bhs),
    ...readTargetSeq(bhs),
    dataSN: bhs.readUInt32BE(BhsOffset.DataSn),
    bufferOffset: bhs.readUInt32BE(BhsOffset.BufferOffset),
    residualCount: bhs.readUInt32BE(BhsOffset.ResidualCount),
    ahs,
    data,
  };
}

/** RFC 7143 §11.15 */
function decodeLogoutResponse(bhs: Buffer, ahs: Buffer[], data: Buffer): LogoutResponsePdu {
  return {
    opcode: Opcode.LogoutResponse,
    response: bhs[2],
    initiatorTaskTag: bhs.readUInt32BE(BhsOffset.Itt),
    ...readTargetSeq(bhs),
    time2Wait: bhs.readUInt16BE(40),
    time2Retain: bhs.readUInt16BE(42),
    ahs,
    data,
  };
}

/** RFC 7143 §11.8 */
function decodeR2T(bhs: Buffer, ahs: Buffer[], data: Buffer): R2TPdu {
  return {
    opcode: Opcode.R2T,
    ...readLunFields(bhs),
    ...readTransferTags(bhs),
    ...readTargetSeq(bhs),
    r2tSN: bhs.readUInt32BE(BhsOffset.DataSn),
    bufferOffset: bhs.readUInt32BE(BhsOffset.BufferOffset),
    desiredDataTransferLength: bhs.readUInt32BE(44),
    ahs,
    data,
  };
}

/** RFC 7143 §11.9 */
function decodeAsyncMessage(bhs: Buffer, ahs: Buffer[], data: Buffer): AsyncMessagePdu {
  return {
    opcode: Opcode.AsyncMessage,
    ...readLunFields(bhs),
    ...readTargetSeq(bhs),
    asyncEvent: bhs[36],
    asyncVCode: bhs[37],
    parameter1: bhs.readUInt16BE(38),
    parameter2: bhs.readUInt16BE(40),
    parameter3: bhs.readUInt16BE(42),
    ahs,
    data,
  };
}

/** RFC 7143 §11.17. The data segment is the complete header of the rejected PDU. */
function decodeReject(bhs: Buffer, ahs: Buffer[], data: Buffer): RejectPdu {
  return {
    opcode: Opcode.Reject,
    reason: bhs[2],
    ...readTargetSeq(bhs),
    dataSN: bhs.readUInt32BE(BhsOffset.DataSn),
    ahs,
    data,
  };
}

/** §11.2.1.1: the I bit. */
function immediate(bhs: Buffer): boolean {
  return (bhs[0] & BhsByte0.Immediate) !== 0;
}

/** §11.12.1 / §11.13: T, C, CSG and NSG share byte 1 of Login PDUs. */
function readLoginFlags(bhs: Buffer): Pick<LoginRequestPdu, 'transit' | 'continue' | 'csg' | 'nsg'> {
  const flags = bhs[1];
  return {
    transit: (flags & BhsFlag.Transit) !== 0,
    continue: (flags & BhsFlag.Continue) !== 0,
    csg: (flags >> 2) & 0x03,
    nsg: flags & 0x03,
  };
}
