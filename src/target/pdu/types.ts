/**
 * iSCSI PDU types as a discriminated union on `opcode` (RFC 7143 §11).
 *
 * Field names follow the RFC's, in camelCase. Sequence numbers and tags are
 * unsigned 32-bit numbers. `data` is the data segment without padding or digest.
 * `lun` is the LUN number decoded from the 8-byte LUN field (SAM-5 §4.7:
 * peripheral and flat addressing); `lunField` keeps the raw 8 bytes for
 * PDUs that carry one, so unknown addressing can be reported as such.
 */

/** RFC 7143 §11.2.1.2: opcodes. Initiator opcodes are 0x00-0x1f, target opcodes 0x20-0x3f. */
export const enum Opcode {
  NopOut = 0x00,
  ScsiCommand = 0x01,
  TaskMgmtRequest = 0x02,
  LoginRequest = 0x03,
  TextRequest = 0x04,
  DataOut = 0x05,
  LogoutRequest = 0x06,
  Snack = 0x10,
  NopIn = 0x20,
  ScsiResponse = 0x21,
  TaskMgmtResponse = 0x22,
  LoginResponse = 0x23,
  TextResponse = 0x24,
  DataIn = 0x25,
  LogoutResponse = 0x26,
  R2T = 0x31,
  AsyncMessage = 0x32,
  Reject = 0x3f,
}

interface PduBase {
  /** Additional header segments, raw (RFC 7143 §11.2.2). Empty for most PDUs. */
  ahs: Buffer[];
  /** Data segment without padding and digest. */
  data: Buffer;
}

/*
 * Field groups several PDUs share at the same BHS offsets (RFC 7143 §11); the
 * PDU interfaces below extend them. Offsets are stated once, in bhs-fields.ts.
 */

/** The LUN field, bytes 8-15 (RFC 7143 §11.2.1; SAM-5 §4.7 addressing). */
export interface LunFields {
  lun: number;
  lunField: Buffer;
}

/** Initiator Task Tag at byte 16 (RFC 7143 §11.2.1.8). */
export interface TaskTagged {
  initiatorTaskTag: number;
}

/** ITT at byte 16 and Target Transfer Tag at byte 20 (RFC 7143 §11.2.1.8, §11.7.4). */
export interface TransferTags extends TaskTagged {
  targetTransferTag: number;
}

/** Initiator PDUs: CmdSN at byte 24, ExpStatSN at byte 28 (RFC 7143 §4.2.2.1). */
export interface InitiatorSequence {
  cmdSN: number;
  expStatSN: number;
}

/** Target PDUs: StatSN at 24, ExpCmdSN at 28, MaxCmdSN at 32 (RFC 7143 §4.2.2.1). */
export interface TargetSequence {
  statSN: number;
  expCmdSN: number;
  maxCmdSN: number;
}

/** RFC 7143 §11.18 */
export interface NopOutPdu extends LunFields, TransferTags, InitiatorSequence, PduBase {
  opcode: Opcode.NopOut;
  immediate: boolean;
}

/** RFC 7143 §11.3 */
export interface ScsiCommandPdu extends LunFields, TaskTagged, InitiatorSequence, PduBase {
  opcode: Opcode.ScsiCommand;
  immediate: boolean;
  final: boolean;
  read: boolean;
  write: boolean;
  /** Task attribute, RFC 7143 §11.3.1.2: 0 untagged, 1 simple, 2 ordered, 3 head of queue, 4 ACA. */
  attr: number;
  expectedDataTransferLength: number;
  /** 16-byte CDB from the BHS, extended by an Extended CDB AHS when present (§11.3.5). */
  cdb: Buffer;
  /** Bidirectional Read Expected Data Transfer Length AHS (§11.2.2.4), if present. */
  bidiReadExpectedLength?: number;
}

/** RFC 7143 §11.5 */
export interface TaskMgmtRequestPdu extends LunFields, TaskTagged, InitiatorSequence, PduBase {
  opcode: Opcode.TaskMgmtRequest;
  immediate: boolean;
  /** §11.5.1: 1 ABORT TASK, 2 ABORT TASK SET, 3 CLEAR ACA, 4 CLEAR TASK SET, 5 LUN RESET, 6 TARGET WARM RESET, 7 TARGET COLD RESET, 8 TASK REASSIGN. */
  function: number;
  referencedTaskTag: number;
  refCmdSN: number;
  expDataSN: number;
}

/** RFC 7143 §11.12 */
export interface LoginRequestPdu extends TaskTagged, InitiatorSequence, PduBase {
  opcode: Opcode.LoginRequest;
  /** The I bit is always 1 on login requests; kept for round-trip fidelity. */
  immediate: boolean;
  transit: boolean;
  continue: boolean;
  /** Current stage: 0 security negotiation, 1 operational negotiation, 3 full feature phase. */
  csg: number;
  nsg: number;
  versionMax: number;
  versionMin: number;
  /** 6 bytes. */
  isid: Buffer;
  tsih: number;
  cid: number;
}

/** RFC 7143 §11.10 */
export interface TextRequestPdu extends LunFields, TransferTags, InitiatorSequence, PduBase {
  opcode: Opcode.TextRequest;
  immediate: boolean;
  final: boolean;
  continue: boolean;
}

/** RFC 7143 §11.7 */
export interface DataOutPdu extends LunFields, TransferTags, PduBase {
  opcode: Opcode.DataOut;
  final: boolean;
  expStatSN: number;
  dataSN: number;
  bufferOffset: number;
}

/** RFC 7143 §11.14 */
export interface LogoutRequestPdu extends TaskTagged, InitiatorSequence, PduBase {
  opcode: Opcode.LogoutRequest;
  immediate: boolean;
  /** §11.14.1: 0 close session, 1 close connection, 2 remove connection for recovery. */
  reasonCode: number;
  cid: number;
}

/** RFC 7143 §11.16 */
export interface SnackPdu extends LunFields, TransferTags, PduBase {
  opcode: Opcode.Snack;
  /** §11.16.1: 0 Data/R2T, 1 status, 2 DataACK, 3 R-Data. */
  type: number;
  expStatSN: number;
  begRun: number;
  runLength: number;
}

/** RFC 7143 §11.19 */
export interface NopInPdu extends LunFields, TransferTags, TargetSequence, PduBase {
  opcode: Opcode.NopIn;
}

/** RFC 7143 §11.4 */
export interface ScsiResponsePdu extends TaskTagged, TargetSequence, PduBase {
  opcode: Opcode.ScsiResponse;
  bidiReadResidualOverflow: boolean;
  bidiReadResidualUnderflow: boolean;
  residualOverflow: boolean;
  residualUnderflow: boolean;
  /** §11.4.3: 0 command completed at target, 1 target failure. */
  response: number;
  /** SCSI status byte (SAM-5). */
  status: number;
  snackTag: number;
  expDataSN: number;
  bidiReadResidualCount: number;
  residualCount: number;
  /** For CHECK CONDITION the data segment is SenseLength (2 bytes) + sense data (§11.4.7). */
}

/** RFC 7143 §11.6 */
export interface TaskMgmtResponsePdu extends TaskTagged, TargetSequence, PduBase {
  opcode: Opcode.TaskMgmtResponse;
  /** §11.6.1: 0 complete, 1 task does not exist, 2 LUN does not exist, 3 task still allegiant, 4 reassignment unsupported, 5 function not supported, 6 authorization failed, 255 rejected. */
  response: number;
}

/** RFC 7143 §11.13 */
export interface LoginResponsePdu extends TaskTagged, TargetSequence, PduBase {
  opcode: Opcode.LoginResponse;
  transit: boolean;
  continue: boolean;
  csg: number;
  nsg: number;
  versionMax: number;
  versionActive: number;
  isid: Buffer;
  tsih: number;
  statusClass: number;
  statusDetail: number;
}

/** RFC 7143 §11.11 */
export interface TextResponsePdu extends LunFields, TransferTags, TargetSequence, PduBase {
  opcode: Opcode.TextResponse;
  final: boolean;
  continue: boolean;
}

/** RFC 7143 §11.7 */
export interface DataInPdu extends LunFields, TransferTags, TargetSequence, PduBase {
  opcode: Opcode.DataIn;
  final: boolean;
  acknowledge: boolean;
  residualOverflow: boolean;
  residualUnderflow: boolean;
  statusPresent: boolean;
  /** Valid only when statusPresent. */
  status: number;
  dataSN: number;
  bufferOffset: number;
  residualCount: number;
}

/** RFC 7143 §11.15 */
export interface LogoutResponsePdu extends TaskTagged, TargetSequence, PduBase {
  opcode: Opcode.LogoutResponse;
  /** §11.15.1: 0 closed successfully, 1 CID not found, 2 recovery not supported, 3 cleanup failed. */
  response: number;
  time2Wait: number;
  time2Retain: number;
}

/** RFC 7143 §11.8 */
export interface R2TPdu extends LunFields, TransferTags, TargetSequence, PduBase {
  opcode: Opcode.R2T;
  r2tSN: number;
  bufferOffset: number;
  desiredDataTransferLength: number;
}

/** RFC 7143 §11.9 */
export interface AsyncMessagePdu extends LunFields, TargetSequence, PduBase {
  opcode: Opcode.AsyncMessage;
  asyncEvent: number;
  asyncVCode: number;
  parameter1: number;
  parameter2: number;
  parameter3: number;
}

/** RFC 7143 §11.17 */
export interface RejectPdu extends TargetSequence, PduBase {
  opcode: Opcode.Reject;
  /** §11.17.1 reason codes. */
  reason: number;
  dataSN: number;
}

export type InitiatorPdu =
  | NopOutPdu
  | ScsiCommandPdu
  | TaskMgmtRequestPdu
  | LoginRequestPdu
  | TextRequestPdu
  | DataOutPdu
  | LogoutRequestPdu
  | SnackPdu;

export type TargetPdu =
  | NopInPdu
  | ScsiResponsePdu
  | TaskMgmtResponsePdu
  | LoginResponsePdu
  | TextResponsePdu
  | DataInPdu
  | LogoutResponsePdu
  | R2TPdu
  | AsyncMessagePdu
  | RejectPdu;

export type Pdu = InitiatorPdu | TargetPdu;
