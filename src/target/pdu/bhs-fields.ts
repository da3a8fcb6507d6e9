/**
 * The BHS fields that families of PDUs share at the same offsets (RFC 7143 §11):
 * each shared field's offset and width is stated here once, for the decoder and
 * the encoder alike.
 *
 * Plain functions with fixed offsets, small enough for the JIT to inline. The
 * writers take values rather than PDUs, so the property loads stay at the
 * callers' (monomorphic) sites. The `read*` helpers return field groups to
 * spread into the PDUs off the hot path; the hot decoders (SCSI Command,
 * Data-Out) read with `BhsOffset` directly.
 */
import { BhsByte0, BhsFlag } from './constants.js';
import { LUN_FIELD_LENGTH, decodeLun, encodeLunInto } from './lun.js';
import type { InitiatorSequence, LoginRequestPdu, LunFields, TargetSequence, TransferTags } from './types.js';

/** RFC 7143 §11: byte offsets of the shared BHS fields (all 4 bytes wide unless noted). */
export const enum BhsOffset {
  /** LUN, 8 bytes (§11.2.1; SAM-5 §4.7). */
  Lun = 8,
  /** Login PDUs: ISID, 6 bytes (§11.12.5), where the LUN is in others. */
  Isid = 8,
  /** Login PDUs: TSIH, 2 bytes (§11.12, §11.13). */
  Tsih = 14,
  /** Initiator Task Tag (§11.2.1.8). */
  Itt = 16,
  /** Target Transfer Tag (§11.7.4), or the opcode's own field there: EDTL (§11.3), Referenced Task Tag (§11.5), SNACK Tag (§11.4). */
  Ttt = 20,
  /** CmdSN of initiator PDUs (§4.2.2.1), StatSN of target PDUs. */
  Sn = 24,
  /** ExpStatSN of initiator PDUs, ExpCmdSN of target PDUs (§4.2.2.1). */
  ExpSn = 28,
  /** MaxCmdSN of target PDUs (§4.2.2.1). */
  MaxCmdSn = 32,
  /** DataSN of Data-In/Out (§11.7), R2TSN (§11.8), ExpDataSN (§11.4, §11.5), DataSN of Reject (§11.17). */
  DataSn = 36,
  /** Buffer Offset of Data-In, Data-Out and R2T (§11.7, §11.8). */
  BufferOffset = 40,
  /** Residual Count of SCSI Response and Data-In (§11.4.5, §11.7). */
  ResidualCount = 44,
}

/** The raw 8-byte LUN field, a view of `bhs`. */
export function lunFieldOf(bhs: Buffer): Buffer {
  return bhs.subarray(BhsOffset.Lun, BhsOffset.Lun + LUN_FIELD_LENGTH);
}

/** The LUN field as a number and as its raw 8 bytes (a view of `bhs`). */
export function readLunFields(bhs: Buffer): LunFields {
  return { lun: decodeLun(bhs, BhsOffset.Lun), lunField: lunFieldOf(bhs) };
}

/** ITT and TTT. */
export function readTransferTags(bhs: Buffer): TransferTags {
  return { initiatorTaskTag: bhs.readUInt32BE(BhsOffset.Itt), targetTransferTag: bhs.readUInt32BE(BhsOffset.Ttt) };
}

/** CmdSN and ExpStatSN of an initiator PDU. */
export function readInitiatorSeq(bhs: Buffer): InitiatorSequence {
  return { cmdSN: bhs.readUInt32BE(BhsOffset.Sn), expStatSN: bhs.readUInt32BE(BhsOffset.ExpSn) };
}

/** StatSN, ExpCmdSN and MaxCmdSN of a target PDU. */
export function readTargetSeq(bhs: Buffer): TargetSequence {
  return {
    statSN: bhs.readUInt32BE(BhsOffset.Sn),
    expCmdSN: bhs.readUInt32BE(BhsOffset.ExpSn),
    maxCmdSN: bhs.readUInt32BE(BhsOffset.MaxCmdSn),
  };
}

/**
 * Write the LUN field: `lunField` when it holds 8 bytes that decode to `lun` (or
 * `lun` is -1, an address this codec cannot represent), so replies echo the
 * initiator's bytes exactly (RFC 7143 §11.7.4); otherwise `lun` encoded.
 */
export function writeLunField(buf: Buffer, o: number, lun: number, lunField: Buffer | undefined): void {
  const off = o + BhsOffset.Lun;
  if (lunField !== undefined && lunField.length === LUN_FIELD_LENGTH && (lun === -1 || decodeLun(lunField) === lun)) {
    lunField.copy(buf, off);
  } else {
    encodeLunInto(lun, buf, off);
  }
}

/** ITT and TTT (or the opcode's own field at byte 20) of the BHS at `o`. */
export function writeTags(buf: Buffer, o: number, initiatorTaskTag: number, targetTransferTag: number): void {
  buf.writeUInt32BE(initiatorTaskTag, o + BhsOffset.Itt);
  buf.writeUInt32BE(targetTransferTag, o + BhsOffset.Ttt);
}

/** CmdSN and ExpStatSN of the initiator BHS at `o`. */
export function writeInitiatorSeq(buf: Buffer, o: number, cmdSN: number, expStatSN: number): void {
  buf.writeUInt32BE(cmdSN, o + BhsOffset.Sn);
  buf.writeUInt32BE(expStatSN, o + BhsOffset.ExpSn);
}

/** StatSN, ExpCmdSN and MaxCmdSN of the target BHS at `o`. */
export function writeTargetSeq(buf: Buffer, o: number, statSN: number, expCmdSN: number, maxCmdSN: number): void {
  buf.writeUInt32BE(statSN, o + BhsOffset.Sn);
  buf.writeUInt32BE(expCmdSN, o + BhsOffset.ExpSn);
  buf.writeUInt32BE(maxCmdSN, o + BhsOffset.MaxCmdSn);
}

/** §11.2.1.1: the I bit of byte 0. */
export function immediateBit(immediate: boolean): number {
  return immediate ? BhsByte0.Immediate : 0;
}

/** `mask` when `set`: one flag bit of byte 1 (§11.2.1.3 and each PDU's section). */
export function flagBit(set: boolean, mask: number): number {
  return set ? mask : 0;
}

/** The fields Login Request and Login Response share, bytes 1-19 (§11.12, §11.13). */
export type LoginHead = Pick<
  LoginRequestPdu,
  'transit' | 'continue' | 'csg' | 'nsg' | 'versionMax' | 'isid' | 'tsih' | 'initiatorTaskTag'
>;

/**
 * Bytes 1-19 of a Login PDU at `o` (§11.12, §11.13): T, C, CSG and NSG in
 * byte 1, Version-max, then Version-min or Version-active (`version`), the
 * 6-byte ISID, TSIH and ITT.
 */
export function writeLoginHead(buf: Buffer, o: number, pdu: LoginHead, version: number): void {
  buf[o + 1] =
    flagBit(pdu.transit, BhsFlag.Transit) |
    flagBit(pdu.continue, BhsFlag.Continue) |
    ((pdu.csg & 0x03) << 2) |
    (pdu.nsg & 0x03);
  buf[o + 2] = pdu.versionMax & 0xff;
  buf[o + 3] = version & 0xff;
  if (pdu.isid.length !== 6) throw new RangeError(`ISID must be 6 bytes (RFC 7143 §11.12.5), got ${pdu.isid.length}`);
  pdu.isid.copy(buf, o + BhsOffset.Isid);
  buf.writeUInt16BE(pdu.tsih, o + BhsOffset.Tsih);
  buf.writeUInt32BE(pdu.initiatorTaskTag, o + BhsOffset.Itt);
}
