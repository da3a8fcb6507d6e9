/**
 * What this target offers in login negotiation (RFC 7143 §13). One place, so
 * the login key table, the session and the SCSI block limits agree.
 */
export const TARGET_LIMITS = {
  /** Largest data segment we accept (declared to the initiator, §13.12). */
  maxRecvDataSegmentLength: 262144,
  /** Largest solicited burst we accept (§13.13). */
  maxBurstLength: 1048576,
  /** Largest unsolicited burst we accept (§13.14). */
  firstBurstLength: 262144,
  /** R2Ts outstanding per task (§13.17). */
  maxOutstandingR2T: 8,
  defaultTime2Wait: 2,
  defaultTime2Retain: 0,
} as const;
