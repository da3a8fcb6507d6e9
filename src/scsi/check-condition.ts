/**
 * The typed error a handler throws to end a command with CHECK CONDITION
 * (DESIGN.md §3). Only the dispatcher turns it into sense data (sense.ts).
 */
import { Asc, SenseKey } from './constants.js';

/** Sense-key specific field pointer (SPC-4 §4.5.2.4.2). */
export interface FieldPointer {
  /** C/D: true when the field is in the CDB, false when in the parameter list. */
  cdb: boolean;
  /** Byte offset of the (first byte of the) field in error. */
  byte: number;
  /** Most significant bit of the field in error (sets BPV), if known. */
  bit?: number;
}

export interface CheckConditionDetail {
  field?: FieldPointer;
  /** INFORMATION field (SPC-4 §4.5.2.2, fixed format bytes 3-6 / descriptor type 00h). */
  information?: number;
  /** COMMAND-SPECIFIC INFORMATION field (SPC-4 §4.5.2.3). */
  commandSpecific?: number;
}

export class CheckCondition extends Error {
  /** Stable error code (DESIGN.md §9). */
  readonly code = 'SCSI_CHECK_CONDITION';
  constructor(
    readonly senseKey: number,
    readonly asc: number,
    readonly ascq: number,
    readonly detail: CheckConditionDetail = {},
  ) {
    super(`CHECK CONDITION key=${senseKey.toString(16)} asc/ascq=${asc.toString(16).padStart(2, '0')}/${ascq.toString(16).padStart(2, '0')}`);
    this.name = 'CheckCondition';
  }

  /** Build from a combined `ASC << 8 | ASCQ` code (constants.ts `Asc`). */
  static of(senseKey: number, ascCode: number, detail?: CheckConditionDetail): CheckCondition {
    return new CheckCondition(senseKey, ascCode >> 8, ascCode & 0xff, detail);
  }
}

/** ILLEGAL REQUEST, INVALID FIELD IN CDB with a field pointer (SPC-4 §4.5.2.4.2). */
export function invalidFieldInCdb(byte: number, bit?: number): CheckCondition {
  return CheckCondition.of(SenseKey.ILLEGAL_REQUEST, Asc.INVALID_FIELD_IN_CDB, { field: { cdb: true, byte, bit } });
}

/** ILLEGAL REQUEST, INVALID FIELD IN PARAMETER LIST (SPC-4 §4.5.2.4.2, C/D = 0). */
export function invalidFieldInParameterList(byte: number, bit?: number): CheckCondition {
  return CheckCondition.of(SenseKey.ILLEGAL_REQUEST, Asc.INVALID_FIELD_IN_PARAMETER_LIST, { field: { cdb: false, byte, bit } });
}

export function parameterListLengthError(): CheckCondition {
  return CheckCondition.of(SenseKey.ILLEGAL_REQUEST, Asc.PARAMETER_LIST_LENGTH_ERROR);
}

/** SBC-3 §4.5: LOGICAL BLOCK ADDRESS OUT OF RANGE; INFORMATION carries the offending LBA when known. */
export function lbaOutOfRange(lba?: number): CheckCondition {
  return CheckCondition.of(
    SenseKey.ILLEGAL_REQUEST,
    Asc.LBA_OUT_OF_RANGE,
    lba !== undefined && lba <= 0xffffffff ? { information: lba } : {},
  );
}

export function invalidOpcode(): CheckCondition {
  return CheckCondition.of(SenseKey.ILLEGAL_REQUEST, Asc.INVALID_COMMAND_OPERATION_CODE, { field: { cdb: true, byte: 0, bit: 7 } });
}

export function luNotSupported(): CheckCondition {
  return CheckCondition.of(SenseKey.ILLEGAL_REQUEST, Asc.LOGICAL_UNIT_NOT_SUPPORTED);
}

/**
 * MISCOMPARE, MISCOMPARE DURING VERIFY OPERATION (SBC-3 §5.2, §5.29) with
 * the INFORMATION field (VALID = 1) set to the offset of the first byte
 * that differs, from the start of the Data-Out buffer.
 */
export function miscompare(offset: number): CheckCondition {
  return CheckCondition.of(SenseKey.MISCOMPARE, Asc.MISCOMPARE_DURING_VERIFY, { information: offset });
}

/** Data-Out shorter than the command needs (SAM-5 §5.4.3; SPL/iSCSI: INVALID FIELD IN COMMAND INFORMATION UNIT). */
export function shortDataOut(): CheckCondition {
  return CheckCondition.of(SenseKey.ILLEGAL_REQUEST, Asc.INVALID_FIELD_IN_COMMAND_IU);
}

/**
 * The Data-Out the initiator announced (iSCSI ExpectedDataTransferLength,
 * RFC 7143 §11.3.4) is not the exact amount a command defines, for commands
 * whose Data-Out size is fixed by the standard rather than by a CDB length
 * field (WRITE SAME: exactly one logical block, SBC-3 §5.42). The CDB is
 * valid; the command information unit that carries it is not, so: ILLEGAL
 * REQUEST, INVALID FIELD IN COMMAND INFORMATION UNIT (SPC-4 §4.5.6, ASC/ASCQ
 * 0Eh/03h), the same code as a short Data-Out.
 */
export function dataOutLengthMismatch(): CheckCondition {
  return CheckCondition.of(SenseKey.ILLEGAL_REQUEST, Asc.INVALID_FIELD_IN_COMMAND_IU);
}
