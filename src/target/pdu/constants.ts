/**
 * iSCSI protocol constants (RFC 7143). Values only: no logic beyond name lookup.
 *
 * Each table is a frozen object of named numbers plus a union type of its
 * values, so callers can write `RejectReason.ProtocolError` and type fields as
 * `RejectReason`.
 */

/** RFC 7143 §11.2: the Basic Header Segment is always 48 bytes. */
export const BHS_LENGTH = 48;
/** RFC 7143 §11.1: header and data digests are 4 bytes (CRC32C, §13.1). */
export const DIGEST_LENGTH = 4;
/** RFC 7143 §11.2.1.5: DataSegmentLength is a 24-bit field. */
export const MAX_DATA_SEGMENT_LENGTH = 0xffffff;
/** RFC 7143 §11.2.1.4: TotalAHSLength counts 4-byte words in one byte, so at most 1020 bytes. */
export const MAX_TOTAL_AHS_LENGTH = 255 * 4;
/** RFC 7143 §13.12: MaxRecvDataSegmentLength default, also the value in force during login. */
export const DEFAULT_MAX_RECV_DATA_SEGMENT_LENGTH = 8192;
/** RFC 7143 §13.12: MaxRecvDataSegmentLength range is 512 to 2^24-1. */
export const MIN_MAX_RECV_DATA_SEGMENT_LENGTH = 512;
/** RFC 7143 §11.2.1.8 / §11.18.3: the reserved tag value 0xffffffff. */
export const RESERVED_TAG = 0xffffffff;
/** RFC 7143 §11.12.4: the only defined version number (Version-max/min/active). */
export const ISCSI_VERSION = 0x00;
/** RFC 7143 §11.3.5: a CDB longer than this needs an Extended CDB AHS. */
export const BHS_CDB_LENGTH = 16;

/** RFC 7143 §11.2.1.1: byte 0 bits. */
export const BhsByte0 = Object.freeze({
  /** Immediate delivery (I bit). */
  Immediate: 0x40,
  /** The opcode is the low 6 bits. */
  OpcodeMask: 0x3f,
} as const);

/** RFC 7143 §11.2.1.3 and per-PDU sections: byte 1 flag bits. */
export const BhsFlag = Object.freeze({
  /** F (Final) bit; also the fixed "1" bit of PDUs without an F bit. */
  Final: 0x80,
  /** §11.3.1: R (read) bit of SCSI Command. */
  Read: 0x40,
  /** §11.3.1: W (write) bit of SCSI Command. */
  Write: 0x20,
  /** §11.3.1: ATTR field mask of SCSI Command. */
  AttrMask: 0x07,
  /** §11.10.2 / §11.12.2: C (continue) bit of Text and Login PDUs. */
  Continue: 0x40,
  /** §11.12.1: T (transit) bit of Login PDUs. */
  Transit: 0x80,
  /** §11.7.1: A (acknowledge) bit of Data-In. */
  Acknowledge: 0x40,
  /** §11.4.5.1: o bit (bidirectional read residual overflow). */
  BidiOverflow: 0x10,
  /** §11.4.5.2: u bit (bidirectional read residual underflow). */
  BidiUnderflow: 0x08,
  /** §11.4.5.3 / §11.7.5: O bit (residual overflow). */
  Overflow: 0x04,
  /** §11.4.5.4 / §11.7.5: U bit (residual underflow). */
  Underflow: 0x02,
  /** §11.7.4: S bit (status present) of Data-In. */
  StatusPresent: 0x01,
} as const);

/** RFC 7143 §11.2.2.1: AHS types. */
export const AhsType = Object.freeze({
  /** §11.2.2.3 */
  ExtendedCdb: 1,
  /** §11.2.2.4 */
  BidiReadExpectedLength: 2,
} as const);
export type AhsType = (typeof AhsType)[keyof typeof AhsType];

/** RFC 7143 §11.3.1.2: task attributes (ATTR). */
export const TaskAttribute = Object.freeze({
  Untagged: 0,
  Simple: 1,
  Ordered: 2,
  HeadOfQueue: 3,
  Aca: 4,
} as const);
export type TaskAttribute = (typeof TaskAttribute)[keyof typeof TaskAttribute];

/** RFC 7143 §11.4.3: SCSI Response "Response" field. */
export const ScsiResponseCode = Object.freeze({
  CommandCompleted: 0x00,
  TargetFailure: 0x01,
} as const);
export type ScsiResponseCode = (typeof ScsiResponseCode)[keyof typeof ScsiResponseCode];

/** RFC 7143 §11.5.1: task management functions. */
export const TmfFunction = Object.freeze({
  AbortTask: 1,
  AbortTaskSet: 2,
  ClearAca: 3,
  ClearTaskSet: 4,
  LogicalUnitReset: 5,
  TargetWarmReset: 6,
  TargetColdReset: 7,
  TaskReassign: 8,
} as const);
export type TmfFunction = (typeof TmfFunction)[keyof typeof TmfFunction];

/** RFC 7143 §11.6.1: task management responses. */
export const TmfResponse = Object.freeze({
  FunctionComplete: 0,
  TaskDoesNotExist: 1,
  LunDoesNotExist: 2,
  TaskStillAllegiant: 3,
  TaskReassignmentNotSupported: 4,
  FunctionNotSupported: 5,
  AuthorizationFailed: 6,
  FunctionRejected: 255,
} as const);
export type TmfResponse = (typeof TmfResponse)[keyof typeof TmfResponse];

/** RFC 7143 §11.12.3: login stages (CSG/NSG). Value 2 is reserved. */
export const LoginStage = Object.freeze({
  SecurityNegotiation: 0,
  LoginOperationalNegotiation: 1,
  FullFeaturePhase: 3,
} as const);
export type LoginStage = (typeof LoginStage)[keyof typeof LoginStage];

/** RFC 7143 §11.13.5: login Status-Class. */
export const LoginStatusClass = Object.freeze({
  Success: 0x00,
  Redirection: 0x01,
  InitiatorError: 0x02,
  TargetError: 0x03,
} as const);
export type LoginStatusClass = (typeof LoginStatusClass)[keyof typeof LoginStatusClass];

/** A login status as the (Status-Class, Status-Detail) pair of RFC 7143 §11.13.5. */
export interface LoginStatus {
  readonly statusClass: number;
  readonly statusDetail: number;
}

function status(statusClass: number, statusDetail: number): LoginStatus {
  return Object.freeze({ statusClass, statusDetail });
}

/** RFC 7143 §11.13.5: every defined login status. */
export const LoginStatus = Object.freeze({
  Success: status(0x00, 0x00),
  TargetMovedTemporarily: status(0x01, 0x01),
  TargetMovedPermanently: status(0x01, 0x02),
  InitiatorError: status(0x02, 0x00),
  AuthenticationFailure: status(0x02, 0x01),
  AuthorizationFailure: status(0x02, 0x02),
  NotFound: status(0x02, 0x03),
  TargetRemoved: status(0x02, 0x04),
  UnsupportedVersion: status(0x02, 0x05),
  TooManyConnections: status(0x02, 0x06),
  MissingParameter: status(0x02, 0x07),
  CannotIncludeInSession: status(0x02, 0x08),
  SessionTypeNotSupported: status(0x02, 0x09),
  SessionDoesNotExist: status(0x02, 0x0a),
  InvalidDuringLogin: status(0x02, 0x0b),
  TargetError: status(0x03, 0x00),
  ServiceUnavailable: status(0x03, 0x01),
  OutOfResources: status(0x03, 0x02),
} as const);

/** RFC 7143 §11.14.1: logout reason codes. */
export const LogoutReason = Object.freeze({
  CloseSession: 0,
  CloseConnection: 1,
  RemoveConnectionForRecovery: 2,
} as const);
export type LogoutReason = (typeof LogoutReason)[keyof typeof LogoutReason];

/** RFC 7143 §11.15.1: logout response codes. */
export const LogoutResponse = Object.freeze({
  ClosedSuccessfully: 0,
  CidNotFound: 1,
  RecoveryNotSupported: 2,
  CleanupFailed: 3,
} as const);
export type LogoutResponse = (typeof LogoutResponse)[keyof typeof LogoutResponse];

/** RFC 7143 §11.9.1: AsyncEvent codes. */
export const AsyncEvent = Object.freeze({
  /** Sense data in the data segment reports a SCSI asynchronous event. */
  ScsiAsyncEvent: 0,
  /** Target requests logout (Parameter3: time to wait before forced logout). */
  LogoutRequest: 1,
  /** Target will drop the connection (Parameter1: CID, Parameter2: Time2Wait, Parameter3: Time2Retain). */
  ConnectionDrop: 2,
  /** Target will drop all connections of the session (Parameter2/3 as above). */
  SessionDrop: 3,
  /** Target requests parameter negotiation on this connection. */
  NegotiationRequest: 4,
  /** Vendor-specific event (AsyncVCode). */
  VendorSpecific: 255,
} as const);
export type AsyncEvent = (typeof AsyncEvent)[keyof typeof AsyncEvent];

/** RFC 7143 §11.16.1: SNACK types. */
export const SnackType = Object.freeze({
  DataR2T: 0,
  Status: 1,
  DataAck: 2,
  RData: 3,
} as const);
export type SnackType = (typeof SnackType)[keyof typeof SnackType];

/** RFC 7143 §11.17.1: Reject reason codes. */
export const RejectReason = Object.freeze({
  Reserved: 0x01,
  DataDigestError: 0x02,
  SnackReject: 0x03,
  ProtocolError: 0x04,
  CommandNotSupported: 0x05,
  ImmediateCommandReject: 0x06,
  TaskInProgress: 0x07,
  InvalidDataAck: 0x08,
  InvalidPduField: 0x09,
  LongOperationReject: 0x0a,
  /** Deprecated in RFC 7143 (was "Negotiation Reset"); never sent. */
  DeprecatedNegotiationReset: 0x0b,
  WaitingForLogout: 0x0c,
} as const);
export type RejectReason = (typeof RejectReason)[keyof typeof RejectReason];

/** RFC 7143 §11.2.1.2: opcode names, for messages and logs. */
const OPCODE_NAMES: Readonly<Record<number, string>> = Object.freeze({
  0x00: 'NOP-Out',
  0x01: 'SCSI Command',
  0x02: 'Task Management Function Request',
  0x03: 'Login Request',
  0x04: 'Text Request',
  0x05: 'SCSI Data-Out',
  0x06: 'Logout Request',
  0x10: 'SNACK Request',
  0x20: 'NOP-In',
  0x21: 'SCSI Response',
  0x22: 'Task Management Function Response',
  0x23: 'Login Response',
  0x24: 'Text Response',
  0x25: 'SCSI Data-In',
  0x26: 'Logout Response',
  0x31: 'Ready To Transfer (R2T)',
  0x32: 'Asynchronous Message',
  0x3f: 'Reject',
});

/** Human-readable opcode name, or `opcode 0xNN` for undefined ones. */
export function opcodeName(opcode: number): string {
  return OPCODE_NAMES[opcode] ?? `opcode 0x${opcode.toString(16).padStart(2, '0')}`;
}

/** RFC 7143 §11.2.1.2: true for the 18 opcodes defined there. */
export function isKnownOpcode(opcode: number): boolean {
  return OPCODE_NAMES[opcode] !== undefined;
}

/** RFC 7143 §11.2.1.2: initiator opcodes are 0x00-0x1f, target opcodes 0x20-0x3f. */
export function isInitiatorOpcode(opcode: number): boolean {
  return opcode < 0x20;
}
