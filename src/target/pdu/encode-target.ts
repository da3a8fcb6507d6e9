/**
 * BHS writers of the target PDUs (RFC 7143 §11), one per opcode; `encodeBhsInto`
 * (encode.ts) validates, zeroes the 48 bytes and writes the lengths first.
 * Shared fields go through bhs-fields.ts, where their offsets are stated; the
 * helpers take values, so each writer's property loads stay monomorphic.
 */
import {
  BhsOffset,
  flagBit,
  writeLoginHead,
  writeLunField,
  writeTags,
  writeTargetSeq,
} from './bhs-fields.js';
import { BhsFlag, RESERVED_TAG } from './constants.js';
import {
  Opcode,
  type AsyncMessagePdu,
  type DataInPdu,
  type LoginResponsePdu,
  type LogoutResponsePdu,
  type NopInPdu,
  type R2TPdu,
  type RejectPdu,
  type ScsiResponsePdu,
  type TaskMgmtResponsePdu,
  type TextResponsePdu,
} from './types.js';

/** RFC 7143 §11.19 */
export function writeNopInBhs(pdu: NopInPdu, buf: Buffer, o: number): void {
  buf[o] = Opcode.NopIn;
  buf[o + 1] = BhsFlag.Final;
  writeLunField(buf, o, pdu.lun, pdu.lunField);
  writeTags(buf, o, pdu.initiatorTaskTag, pdu.targetTransferTag);
  writeTargetSeq(buf, o, pdu.statSN, pdu.expCmdSN, pdu.maxCmdSN);
}

/** RFC 7143 §11.4 (hot path) */
export function writeScsiResponseBhs(pdu: ScsiResponsePdu, buf: Buffer, o: number): void {
  buf[o] = Opcode.ScsiResponse;
  buf[o + 1] =
    BhsFlag.Final |
    flagBit(pdu.bidiReadResidualOverflow, BhsFlag.BidiOverflow) |
    flagBit(pdu.bidiReadResidualUnderflow, BhsFlag.BidiUnderflow) |
    flagBit(pdu.residualOverflow, BhsFlag.Overflow) |
    flagBit(pdu.residualUnderflow, BhsFlag.Underflow);
  buf[o + 2] = pdu.response & 0xff;
  buf[o + 3] = pdu.status & 0xff;
  writeTags(buf, o, pdu.initiatorTaskTag, pdu.snackTag);
  writeTargetSeq(buf, o, pdu.statSN, pdu.expCmdSN, pdu.maxCmdSN);
  buf.writeUInt32BE(pdu.expDataSN, o + BhsOffset.DataSn);
  buf.writeUInt32BE(pdu.bidiReadResidualCount, o + 40);
  buf.writeUInt32BE(pdu.residualCount, o + BhsOffset.ResidualCount);
}

/** RFC 7143 §11.6 */
export function writeTaskMgmtResponseBhs(pdu: TaskMgmtResponsePdu, buf: Buffer, o: number): void {
  writeResponseHead(buf, o, Opcode.TaskMgmtResponse, pdu);
}

/** RFC 7143 §11.13 */
export function writeLoginResponseBhs(pdu: LoginResponsePdu, buf: Buffer, o: number): void {
  buf[o] = Opcode.LoginResponse;
  writeLoginHead(buf, o, pdu, pdu.versionActive);
  writeTargetSeq(buf, o, pdu.statSN, pdu.expCmdSN, pdu.maxCmdSN);
  buf[o + 36] = pdu.statusClass & 0xff;
  buf[o + 37] = pdu.statusDetail & 0xff;
}

/** RFC 7143 §11.11 */
export function writeTextResponseBhs(pdu: TextResponsePdu, buf: Buffer, o: number): void {
  buf[o] = Opcode.TextResponse;
  buf[o + 1] = flagBit(pdu.final, BhsFlag.Final) | flagBit(pdu.continue, BhsFlag.Continue);
  writeLunField(buf, o, pdu.lun, pdu.lunField);
  writeTags(buf, o, pdu.initiatorTaskTag, pdu.targetTransferTag);
  writeTargetSeq(buf, o, pdu.statSN, pdu.expCmdSN, pdu.maxCmdSN);
}

/** RFC 7143 §11.7 (hot path) */
export function writeDataInBhs(pdu: DataInPdu, buf: Buffer, o: number): void {
  buf[o] = Opcode.DataIn;
  buf[o + 1] =
    flagBit(pdu.final, BhsFlag.Final) |
    flagBit(pdu.acknowledge, BhsFlag.Acknowledge) |
    flagBit(pdu.residualOverflow, BhsFlag.Overflow) |
    flagBit(pdu.residualUnderflow, BhsFlag.Underflow) |
    flagBit(pdu.statusPresent, BhsFlag.StatusPresent);
  buf[o + 3] = pdu.statusPresent ? pdu.status & 0xff : 0; // §11.7.4: reserved without S
  writeLunField(buf, o, pdu.lun, pdu.lunField);
  writeTags(buf, o, pdu.initiatorTaskTag, pdu.targetTransferTag);
  writeTargetSeq(buf, o, pdu.statSN, pdu.expCmdSN, pdu.maxCmdSN);
  buf.writeUInt32BE(pdu.dataSN, o + BhsOffset.DataSn);
  buf.writeUInt32BE(pdu.bufferOffset, o + BhsOffset.BufferOffset);
  buf.writeUInt32BE(pdu.residualCount, o + BhsOffset.ResidualCount);
}

/** RFC 7143 §11.15 */
export function writeLogoutResponseBhs(pdu: LogoutResponsePdu, buf: Buffer, o: number): void {
  writeResponseHead(buf, o, Opcode.LogoutResponse, pdu);
  buf.writeUInt16BE(pdu.time2Wait, o + 40);
  buf.writeUInt16BE(pdu.time2Retain, o + 42);
}

/** RFC 7143 §11.8 (hot path) */
export function writeR2TBhs(pdu: R2TPdu, buf: Buffer, o: number): void {
  buf[o] = Opcode.R2T;
  buf[o + 1] = BhsFlag.Final;
  writeLunField(buf, o, pdu.lun, pdu.lunField);
  writeTags(buf, o, pdu.initiatorTaskTag, pdu.targetTransferTag);
  writeTargetSeq(buf, o, pdu.statSN, pdu.expCmdSN, pdu.maxCmdSN);
  buf.writeUInt32BE(pdu.r2tSN, o + BhsOffset.DataSn);
  buf.writeUInt32BE(pdu.bufferOffset, o + BhsOffset.BufferOffset);
  buf.writeUInt32BE(pdu.desiredDataTransferLength, o + 44);
}

/** RFC 7143 §11.9 */
export function writeAsyncMessageBhs(pdu: AsyncMessagePdu, buf: Buffer, o: number): void {
  buf[o] = Opcode.AsyncMessage;
  buf[o + 1] = BhsFlag.Final;
  writeLunField(buf, o, pdu.lun, pdu.lunField);
  buf.writeUInt32BE(RESERVED_TAG, o + BhsOffset.Itt); // §11.9: ITT is 0xffffffff
  writeTargetSeq(buf, o, pdu.statSN, pdu.expCmdSN, pdu.maxCmdSN);
  buf[o + 36] = pdu.asyncEvent & 0xff;
  buf[o + 37] = pdu.asyncVCode & 0xff;
  buf.writeUInt16BE(pdu.parameter1, o + 38);
  buf.writeUInt16BE(pdu.parameter2, o + 40);
  buf.writeUInt16BE(pdu.parameter3, o + 42);
}

/** RFC 7143 §11.17 */
export function writeRejectBhs(pdu: RejectPdu, buf: Buffer, o: number): void {
  buf[o] = Opcode.Reject;
  buf[o + 1] = BhsFlag.Final;
  buf[o + 2] = pdu.reason & 0xff;
  buf.writeUInt32BE(RESERVED_TAG, o + BhsOffset.Itt); // §11.17: ITT is 0xffffffff
  writeTargetSeq(buf, o, pdu.statSN, pdu.expCmdSN, pdu.maxCmdSN);
  buf.writeUInt32BE(pdu.dataSN, o + BhsOffset.DataSn);
}

/**
 * The head Task Management and Logout Responses share (§11.6, §11.15): opcode,
 * F bit, Response at byte 2, ITT, then StatSN, ExpCmdSN and MaxCmdSN.
 */
function writeResponseHead(
  buf: Buffer,
  o: number,
  opcode: Opcode.TaskMgmtResponse | Opcode.LogoutResponse,
  pdu: TaskMgmtResponsePdu | LogoutResponsePdu,
): void {
  buf[o] = opcode;
  buf[o + 1] = BhsFlag.Final;
  buf[o + 2] = pdu.response & 0xff;
  buf.writeUInt32BE(pdu.initiatorTaskTag, o + BhsOffset.Itt);
  writeTargetSeq(buf, o, pdu.statSN, pdu.expCmdSN, pdu.maxCmdSN);
}
