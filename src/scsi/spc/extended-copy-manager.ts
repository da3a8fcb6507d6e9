/**
 * The copy manager of EXTENDED COPY (LID1) (SPC-4 §6.4): its limits, the
 * copy targets it can reach, and the copy status it keeps for RECEIVE COPY
 * RESULTS (SPC-4 §6.21).
 *
 * Limits are reported identically in three places: RECEIVE COPY RESULTS
 * OPERATING PARAMETERS (spc/receive-copy-results.ts), the Third-party Copy
 * VPD page (spc/vpd/third-party-copy.ts) and the checks of
 * spc/extended-copy.ts.
 *
 * Copy targets (CSCDs, "copy source or copy destination") are named by
 * Identification CSCD descriptors (E4h) carrying the NAA designator of a
 * logical unit (VPD 83h). This daemon resolves them to its own logical
 * units: those of the target the command arrived on, and those of any other
 * target it serves that the same initiator is logged in to
 * (ScsiTargetDeviceOptions.copyTargets, target/engine.ts). A copy can never
 * reach a logical unit its initiator could not address itself.
 */
import type { LogicalUnit } from '../logical-unit.js';
import type { ItNexus } from '../types.js';

/** Additional sense codes of the copy manager, `ASC << 8 | ASCQ` (SPC-4 Annex D). */
export const CopyAsc = {
  NO_ADDITIONAL_SENSE: 0x0000,
  OPERATION_IN_PROGRESS: 0x0016,
  COPY_TARGET_DEVICE_NOT_REACHABLE: 0x0d02,
  INCORRECT_COPY_TARGET_DEVICE_TYPE: 0x0d03,
  UNRECOVERED_READ_ERROR: 0x1100,
  WRITE_ERROR: 0x0c00,
  PARAMETER_LIST_LENGTH_ERROR: 0x1a00,
  INVALID_FIELD_IN_PARAMETER_LIST: 0x2600,
  TOO_MANY_TARGET_DESCRIPTORS: 0x2606,
  UNSUPPORTED_TARGET_DESCRIPTOR_TYPE_CODE: 0x2607,
  TOO_MANY_SEGMENT_DESCRIPTORS: 0x2608,
  UNSUPPORTED_SEGMENT_DESCRIPTOR_TYPE_CODE: 0x2609,
  INLINE_DATA_LENGTH_EXCEEDED: 0x260b,
  COPY_SEGMENT_GRANULARITY_VIOLATION: 0x260d,
  INSUFFICIENT_RESOURCES: 0x5503,
} as const;

/** Service actions of THIRD-PARTY COPY OUT (83h) and IN (84h) (SPC-4 §6.4, §6.21). */
export const SaCopyOut = { EXTENDED_COPY_LID1: 0x00 } as const;
export const SaCopyIn = { COPY_STATUS_LID1: 0x00, OPERATING_PARAMETERS: 0x03 } as const;

/** Segment descriptor type code (SPC-4 §6.4): block device to block device. */
export const SEG_BLOCK_TO_BLOCK = 0x02;
/** CSCD descriptor type code (SPC-4 §6.4): Identification CSCD descriptor. */
export const CSCD_IDENTIFICATION = 0xe4;
/** Length of every CSCD descriptor type this copy manager accepts (SPC-4 §6.4). */
export const CSCD_LENGTH = 32;
/** Block device to block device segment descriptor: DESCRIPTOR LENGTH 0018h, 28 bytes in all (SPC-4 §6.4). */
export const B2B_LENGTH = 28;

/**
 * What the copy manager accepts and reports. Counts are per EXTENDED COPY
 * command; concurrency is per copy manager (the logical unit addressed).
 */
export const XCOPY_LIMITS = {
  /** MAXIMUM CSCD DESCRIPTOR COUNT: a copy can name several logical units (VMware names two). */
  maxCscdDescriptors: 32,
  /** MAXIMUM SEGMENT DESCRIPTOR COUNT. */
  maxSegmentDescriptors: 256,
  /** MAXIMUM DESCRIPTOR LIST LENGTH: room for both maxima above (32 x 32 + 256 x 28 bytes). */
  maxDescriptorListLength: 32 * CSCD_LENGTH + 256 * B2B_LENGTH,
  /** MAXIMUM INLINE DATA LENGTH: no segment type that uses inline data is supported. */
  maxInlineDataLength: 0,
  /**
   * MAXIMUM SEGMENT LENGTH in bytes: the largest block to block segment
   * (NUMBER OF BLOCKS is 16 bits) on 4096-byte blocks.
   */
  maxSegmentBytes: 0xffff * 4096,
  /** TOTAL CONCURRENT COPIES / MAXIMUM IDENTIFIED CONCURRENT COPIES per copy manager. */
  maxConcurrentCopies: 64,
  /** Implemented descriptor type codes, ascending (segment 02h, CSCD E4h). */
  descriptorTypes: [SEG_BLOCK_TO_BLOCK, CSCD_IDENTIFICATION] as readonly number[],
} as const;

/** A logical unit the copy manager may read from or write to, for one initiator. */
export interface CopyTarget {
  readonly lu: LogicalUnit;
  /**
   * Would this access by the copy's initiator be refused with RESERVATION
   * CONFLICT if it had sent a READ (write = false) or WRITE (write = true)
   * to the logical unit itself (SPC-4 §5.13.1)?
   */
  conflicts(write: boolean): boolean;
}

/**
 * Finds the logical unit whose NAA designator (32 or 16 hex digits, lower
 * case) is `naa` among those the initiator of `nexus` may use. Undefined:
 * not reachable.
 */
export type CopyTargetResolver = (naa: string, nexus: ItNexus) => CopyTarget | undefined;

/** COPY MANAGER STATUS (SPC-4 §6.21, COPY STATUS(LID1)). */
export const enum CopyManagerStatus {
  InProgress = 0x00,
  CompletedWithoutErrors = 0x01,
  CompletedWithErrors = 0x02,
}

/** What RECEIVE COPY RESULTS COPY STATUS reports for one list identifier. */
export interface CopyRecord {
  status: CopyManagerStatus;
  segmentsProcessed: number;
  /** Bytes written to copy destinations so far. */
  bytes: number;
}

/**
 * Per logical unit (copy manager): copies running and the copy status kept
 * per I_T nexus and list identifier. The status is keyed by the ItNexus
 * object of the session, so it lives exactly as long as the I_T nexus: a
 * logout, a dropped connection or a session reinstatement (a new nexus
 * object) discards it: copy results belong to the I_T nexus (SPC-4 §6.21).
 */
export class CopyManagerState {
  running = 0;
  private readonly records = new WeakMap<ItNexus, Map<number, CopyRecord>>();

  record(nexus: ItNexus, listId: number): CopyRecord | undefined {
    return this.records.get(nexus)?.get(listId);
  }

  /** Start tracking a copy (replaces a completed record with the same list identifier). */
  start(nexus: ItNexus, listId: number): CopyRecord {
    let m = this.records.get(nexus);
    if (!m) this.records.set(nexus, (m = new Map()));
    const r: CopyRecord = { status: CopyManagerStatus.InProgress, segmentsProcessed: 0, bytes: 0 };
    m.set(listId, r);
    return r;
  }

  discard(nexus: ItNexus, listId: number): void {
    this.records.get(nexus)?.delete(listId);
  }
}

const states = new WeakMap<LogicalUnit, CopyManagerState>();

export function copyManagerOf(lu: LogicalUnit): CopyManagerState {
  let s = states.get(lu);
  if (!s) states.set(lu, (s = new CopyManagerState()));
  return s;
}
