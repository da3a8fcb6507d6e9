/**
 * The contract between the iSCSI session layer and the SCSI layer (DESIGN.md §3).
 *
 * The session gathers all Data-Out for a command into `dataOut` (exactly
 * ExpectedDataTransferLength bytes, or fewer if the initiator sent fewer) and
 * calls `ScsiTarget.execute`. The SCSI layer decides everything about the CDB
 * and returns status, sense (already encoded in fixed or descriptor format per
 * the control page D_SENSE) and Data-In. The session computes residuals by
 * comparing `dataIn.length` / `transferLength` with the iSCSI
 * ExpectedDataTransferLength.
 */

/** A target port (one portal of a target): SPC-4 §3.1 target port. */
export interface TargetPortInfo {
  /** Relative target port identifier, 1-based, stable (DESIGN.md §5). */
  relativePortId: number;
  /** Target portal group tag (RFC 7143 §13.9). */
  tpgt: number;
  /** ALUA target port group ID (SPC-4 §5.15), stable. */
  portGroupId: number;
  /** SCSI target port name: `<target IQN>,t,0x<tpgt 4 hex digits>` (RFC 7143 §13.? / SPC-4 VPD 83h SCSI name string). */
  name: string;
}

/** I_T nexus: initiator port x target port (SAM-5 §4.6). */
export interface ItNexus {
  /** Stable key: `${initiatorPortName}|${targetPort.relativePortId}`. */
  id: string;
  initiatorName: string;
  /** ISID as 12 hex digits. */
  isid: string;
  /** SCSI initiator port name: `<initiator name>,i,0x<isid>`. */
  initiatorPortName: string;
  targetPort: TargetPortInfo;
}

export const enum DataDirection {
  None = 0,
  /** Target to initiator (READ). */
  In = 1,
  /** Initiator to target (WRITE). */
  Out = 2,
}

export interface ScsiRequest {
  lun: number;
  cdb: Buffer;
  nexus: ItNexus;
  /** Task attribute from the transport (0 untagged, 1 simple, 2 ordered, 3 head of queue, 4 ACA). */
  taskAttr: number;
  /** Data received from the initiator (WRITE direction); length <= expectedDataTransferLength. */
  dataOut?: Buffer;
  /** The initiator's buffer size for Data-In (iSCSI ExpectedDataTransferLength when R bit set). */
  expectedDataInLength: number;
  /** iSCSI ExpectedDataTransferLength when the W bit is set, else 0: what the initiator meant to send (may differ from the CDB's transfer length). */
  expectedDataOutLength?: number;
  /** Aborted by task management; long operations may check it and stop early. */
  signal?: AbortSignal;
}

/** SAM-5 status codes. */
export const enum ScsiStatus {
  Good = 0x00,
  CheckCondition = 0x02,
  ConditionMet = 0x04,
  Busy = 0x08,
  ReservationConflict = 0x18,
  TaskSetFull = 0x28,
  AcaActive = 0x30,
  TaskAborted = 0x40,
}

export interface ScsiResponse {
  status: number;
  /** Encoded sense data (no iSCSI SenseLength prefix) when status is CHECK CONDITION. */
  sense?: Buffer;
  /** Data-In, already truncated to the CDB's allocation length (not to the iSCSI EDTL). */
  dataIn?: Buffer;
}

/** What the SCSI layer tells the transport about a CDB before data transfer (SAM-5 §5.1). */
export interface CommandShape {
  direction: DataDirection;
  /** Bytes the CDB asks to transfer in `direction` (0 when None). Undefined if the CDB is unknown/invalid: the transport then just delivers it to `execute` for the error. */
  transferLength?: number;
}

/** One SCSI target device (all LUNs of an iSCSI target) as the session sees it. */
export interface ScsiTarget {
  /** Inspect a CDB for its data direction and length (used for residual and Data-Out decisions). */
  shape(lun: number, cdb: Buffer): CommandShape;
  execute(req: ScsiRequest): Promise<ScsiResponse>;
  /** A new I_T nexus logged in: establish POWER ON / RESET unit attention for it (SAM-5 §6.3). */
  nexusAdded(nexus: ItNexus): void;
  /** The I_T nexus is gone (session closed). */
  nexusRemoved(nexus: ItNexus): void;
  /** LOGICAL UNIT RESET from `nexus` (SAM-5 §7.7): UA for other nexuses, clear task state. */
  lunReset(lun: number, nexus: ItNexus): void;
  /** TARGET WARM/COLD RESET (RFC 7143 §11.5.1). */
  targetReset(nexus: ItNexus): void;
  /** Whether a LUN exists (TMF responses). */
  hasLun(lun: number): boolean;
  /**
   * The CHECK CONDITION for a command the transport failed (Data-Out
   * sequence errors): the SCSI layer encodes it, in the LU's sense format.
   */
  transportFailure(lun: number): ScsiResponse;
}
