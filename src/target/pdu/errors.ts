/**
 * Typed errors of the PDU codec and receiver (DESIGN.md §9: stable codes).
 */
import type { RejectReason } from './constants.js';

/** Stable error codes of PDU framing and decoding. */
export type PduErrorCode =
  /** Opcode not defined by RFC 7143 §11.2.1.2. */
  | 'ISCSI_ERR_UNKNOWN_OPCODE'
  /** A defined opcode that this side of the connection must never receive (e.g. NOP-In sent to a target). */
  | 'ISCSI_ERR_UNEXPECTED_OPCODE'
  /** Malformed Additional Header Segment (RFC 7143 §11.2.2). */
  | 'ISCSI_ERR_BAD_AHS'
  /** Buffer lengths inconsistent with the BHS length fields (caller passed wrong slices). */
  | 'ISCSI_ERR_BAD_LENGTH'
  /** Header digest mismatch (RFC 7143 §7.8): framing can no longer be trusted. */
  | 'ISCSI_ERR_HEADER_DIGEST'
  /** Data digest mismatch (RFC 7143 §7.8): the PDU is discarded. */
  | 'ISCSI_ERR_DATA_DIGEST'
  /** DataSegmentLength above MaxRecvDataSegmentLength (RFC 7143 §13.12). */
  | 'ISCSI_ERR_DATA_TOO_LONG';

/**
 * A PDU that cannot be accepted. `rejectReason` is the RFC 7143 §11.17.1
 * reason code to put in a Reject PDU when the error is recoverable.
 */
export class PduFormatError extends Error {
  override readonly name = 'PduFormatError';
  readonly code: PduErrorCode;
  readonly rejectReason: RejectReason;
  /** Opcode of the offending PDU, when known. */
  readonly opcode: number | undefined;
  /**
   * RFC 7143 §7.7: a "format error" (illegal or inconsistent header field
   * contents other than the opcode, e.g. a malformed AHS). The RFC requires
   * the receiver to terminate the connection(s) rather than Reject. The
   * receiver still reports it through `onBadPdu` because framing is intact;
   * the connection decides.
   */
  readonly formatError: boolean;

  constructor(code: PduErrorCode, message: string, rejectReason: RejectReason, opcode?: number) {
    super(message);
    this.code = code;
    this.rejectReason = rejectReason;
    this.opcode = opcode;
    this.formatError = code === 'ISCSI_ERR_BAD_AHS' || code === 'ISCSI_ERR_BAD_LENGTH';
  }

  /** Alias of `rejectReason`. */
  get reason(): RejectReason {
    return this.rejectReason;
  }
}
