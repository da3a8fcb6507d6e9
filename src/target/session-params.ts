/**
 * Operational parameters of a session in full feature phase, as negotiated at
 * login (RFC 7143 §13). Byte counts are in bytes.
 */
export interface SessionParams {
  headerDigest: boolean;
  dataDigest: boolean;
  initialR2T: boolean;
  immediateData: boolean;
  maxBurstLength: number;
  firstBurstLength: number;
  maxOutstandingR2T: number;
  dataPDUInOrder: boolean;
  dataSequenceInOrder: boolean;
  defaultTime2Wait: number;
  defaultTime2Retain: number;
  /** Largest data segment we may send (the initiator's declared MaxRecvDataSegmentLength). */
  initiatorMaxRecvDataSegmentLength: number;
  /** Largest data segment we accept (our declared MaxRecvDataSegmentLength). */
  targetMaxRecvDataSegmentLength: number;
}

/** Largest write buffer a single command may make us allocate (also VPD B0 MAXIMUM TRANSFER LENGTH bound). */
export const MAX_COMMAND_BUFFER = 32 * 1024 * 1024;

/** Commands a session may have queued or running at once (CmdSN window, RFC 7143 §4.2.2.1). */
export const SESSION_QUEUE_DEPTH = 128;
