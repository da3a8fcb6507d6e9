/**
 * BHS writers of the initiator PDUs (RFC 7143 §11), one per opcode; `encodeBhsInto`
 * (encode.ts) validates, zeroes the 48 bytes and writes the lengths first.
 * Shared fields go through bhs-fields.ts, where their offsets are stated.
 */
import {
  BhsOffset,
  flagBit,
  immediateBit,
  writeInitiatorSeq,
  writeLoginHead,
  writeLunField,
  writeTags,
} from './bhs-fields.js';
import { BHS_CDB_LENGTH, BhsFlag } from './constants.js';
import {
  Opcode,
  type DataOutPdu,
  type LoginRequestPdu,
  type LogoutRequestPdu,
  type NopOutPdu,
  type ScsiCommandPdu,
  type SnackPdu,
  type TaskMgmtRequestPdu,
  type TextRequestPdu,
} from './types.js';

/** RFC 7143 §11.18 */
export function writeNopOutBhs(pdu: NopOutPdu, buf: Buffer, o: number): void {
  buf[o] = Opcode.NopOut | immediateBit(pdu.immediate);
  buf[o + 1] = BhsFlag.Final;
  writeLunField(buf, o, pdu.lun, pdu.lunField);
  writeTags(buf, o, pdu.initiatorTaskTag, pdu.targetTransferTag);
  writeInitiatorSeq(buf, o, pdu.cmdSN, pdu.expStatSN);
}

/** RFC 7143 §11.3 */
export function writeScsiCommandBhs(pdu: ScsiCommandPdu, buf: Buffer, o: number): void {
  buf[o] = Opcode.ScsiCommand | immediateBit(pdu.immediate);
  buf[o + 1] =
    flagBit(pdu.final, BhsFlag.Final) |
    flagBit(pdu.read, BhsFlag.Read) |
    flagBit(pdu.write, BhsFlag.Write) |
    (pdu.attr & BhsFlag.AttrMask);
  writeLunField(buf, o, pdu.lun, pdu.lunField);
  writeTags(buf, o, pdu.initiatorTaskTag, pdu.expectedDataTransferLength);
  writeInitiatorSeq(buf, o, pdu.cmdSN, pdu.expStatSN);
  pdu.cdb.copy(buf, o + 32, 0, Math.min(pdu.cdb.length, BHS_CDB_LENGTH));
}

/** RFC 7143 §11.5 */
export function writeTaskMgmtRequestBhs(pdu: TaskMgmtRequestPdu, buf: Buffer, o: number): void {
  buf[o] = Opcode.TaskMgmtRequest | immediateBit(pdu.immediate);
  buf[o + 1] = BhsFlag.Final | (pdu.function & 0x7f);
  writeLunField(buf, o, pdu.lun, pdu.lunField);
  writeTags(buf, o, pdu.initiatorTaskTag, pdu.referencedTaskTag);
  writeInitiatorSeq(buf, o, pdu.cmdSN, pdu.expStatSN);
  buf.writeUInt32BE(pdu.refCmdSN, o + 32);
  buf.writeUInt32BE(pdu.expDataSN, o + BhsOffset.DataSn);
}

/** RFC 7143 §11.12 */
export function writeLoginRequestBhs(pdu: LoginRequestPdu, buf: Buffer, o: number): void {
  buf[o] = Opcode.LoginRequest | immediateBit(pdu.immediate);
  writeLoginHead(buf, o, pdu, pdu.versionMin);
  buf.writeUInt16BE(pdu.cid, o + 20);
  writeInitiatorSeq(buf, o, pdu.cmdSN, pdu.expStatSN);
}

/** RFC 7143 §11.10 */
export function writeTextRequestBhs(pdu: TextRequestPdu, buf: Buffer, o: number): void {
  buf[o] = Opcode.TextRequest | immediateBit(pdu.immediate);
  buf[o + 1] = flagBit(pdu.final, BhsFlag.Final) | flagBit(pdu.continue, BhsFlag.Continue);
  writeLunField(buf, o, pdu.lun, pdu.lunField);
  writeTags(buf, o, pdu.initiatorTaskTag, pdu.targetTransferTag);
  writeInitiatorSeq(buf, o, pdu.cmdSN, pdu.expStatSN);
}

/** RFC 7143 §11.7 */
export function writeDataOutBhs(pdu: DataOutPdu, buf: Buffer, o: number): void {
  buf[o] = Opcode.DataOut;
  buf[o + 1] = flagBit(pdu.final, BhsFlag.Final);
  writeLunField(buf, o, pdu.lun, pdu.lunField);
  writeTags(buf, o, pdu.initiatorTaskTag, pdu.targetTransferTag);
  buf.writeUInt32BE(pdu.expStatSN, o + BhsOffset.ExpSn);
  buf.writeUInt32BE(pdu.dataSN, o + BhsOffset.DataSn);
  buf.writeUInt32BE(pdu.bufferOffset, o + BhsOffset.BufferOffset);
}

/** RFC 7143 §11.14 */
export function writeLogoutRequestBhs(pdu: LogoutRequestPdu, buf: Buffer, o: number): void {
  buf[o] = Opcode.LogoutRequest | immediateBit(pdu.immediate);
  buf[o + 1] = BhsFlag.Final | (pdu.reasonCode & 0x7f);
  buf.writeUInt32BE(pdu.initiatorTaskTag, o + BhsOffset.Itt);
  buf.writeUInt16BE(pdu.cid, o + 20);
  writeInitiatorSeq(buf, o, pdu.cmdSN, pdu.expStatSN);
}

/** RFC 7143 §11.16 */
export function writeSnackBhs(pdu: SnackPdu, buf: Buffer, o: number): void {
  buf[o] = Opcode.Snack;
  buf[o + 1] = BhsFlag.Final | (pdu.type & 0x0f);
  writeLunField(buf, o, pdu.lun, pdu.lunField);
  writeTags(buf, o, pdu.initiatorTaskTag, pdu.targetTransferTag);
  buf.writeUInt32BE(pdu.expStatSN, o + BhsOffset.ExpSn);
  buf.writeUInt32BE(pdu.begRun, o + 40);
  buf.writeUInt32BE(pdu.runLength, o + 44);
}
