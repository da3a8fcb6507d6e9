/**
 * SCSI constants used by the SCSI layer: operation codes (SPC-4 / SBC-3),
 * service actions, sense keys, additional sense codes and product identity.
 */

/** Operation codes by name (SPC-4 Annex D, SBC-3 §5, SBC-4 §5). */
export const Op = {
  TEST_UNIT_READY: 0x00,
  REQUEST_SENSE: 0x03,
  READ_6: 0x08,
  WRITE_6: 0x0a,
  INQUIRY: 0x12,
  MODE_SELECT_6: 0x15,
  RESERVE_6: 0x16,
  RELEASE_6: 0x17,
  MODE_SENSE_6: 0x1a,
  START_STOP_UNIT: 0x1b,
  READ_CAPACITY_10: 0x25,
  READ_10: 0x28,
  WRITE_10: 0x2a,
  WRITE_AND_VERIFY_10: 0x2e,
  VERIFY_10: 0x2f,
  PRE_FETCH_10: 0x34,
  SYNCHRONIZE_CACHE_10: 0x35,
  READ_DEFECT_DATA_10: 0x37,
  WRITE_SAME_10: 0x41,
  UNMAP: 0x42,
  MODE_SELECT_10: 0x55,
  RESERVE_10: 0x56,
  RELEASE_10: 0x57,
  MODE_SENSE_10: 0x5a,
  /** SPC-4 §6.15, §6.16. */
  PERSISTENT_RESERVE_IN: 0x5e,
  PERSISTENT_RESERVE_OUT: 0x5f,
  /** SPC-4 §6.4, §6.21: EXTENDED COPY, RECEIVE COPY RESULTS (service actions: spc/extended-copy-manager.ts). */
  THIRD_PARTY_COPY_OUT: 0x83,
  THIRD_PARTY_COPY_IN: 0x84,
  READ_16: 0x88,
  /** SBC-3 §5.2. */
  COMPARE_AND_WRITE: 0x89,
  WRITE_16: 0x8a,
  ORWRITE_16: 0x8b,
  WRITE_AND_VERIFY_16: 0x8e,
  VERIFY_16: 0x8f,
  PRE_FETCH_16: 0x90,
  SYNCHRONIZE_CACHE_16: 0x91,
  WRITE_SAME_16: 0x93,
  /** SBC-4 §5.48. */
  WRITE_ATOMIC_16: 0x9c,
  SERVICE_ACTION_IN_16: 0x9e,
  REPORT_LUNS: 0xa0,
  MAINTENANCE_IN: 0xa3,
  MAINTENANCE_OUT: 0xa4,
  READ_12: 0xa8,
  WRITE_12: 0xaa,
  WRITE_AND_VERIFY_12: 0xae,
  VERIFY_12: 0xaf,
  READ_DEFECT_DATA_12: 0xb7,
} as const;

/** Service actions of SERVICE ACTION IN(16) (SBC-3 §5.16, §5.14). */
export const SaIn16 = {
  READ_CAPACITY_16: 0x10,
  GET_LBA_STATUS: 0x12,
} as const;

/** Service actions of MAINTENANCE IN (SPC-4 §6.27, §6.35, §6.36). */
export const SaMaintIn = {
  REPORT_TARGET_PORT_GROUPS: 0x0a,
  REPORT_SUPPORTED_OPERATION_CODES: 0x0c,
  REPORT_SUPPORTED_TMFS: 0x0d,
} as const;

/** Service actions of MAINTENANCE OUT (SPC-4 §6.40). */
export const SaMaintOut = {
  SET_TARGET_PORT_GROUPS: 0x0a,
} as const;

/** Sense keys (SPC-4 §4.5.6, table 27). */
export const SenseKey = {
  NO_SENSE: 0x0,
  RECOVERED_ERROR: 0x1,
  NOT_READY: 0x2,
  MEDIUM_ERROR: 0x3,
  HARDWARE_ERROR: 0x4,
  ILLEGAL_REQUEST: 0x5,
  UNIT_ATTENTION: 0x6,
  DATA_PROTECT: 0x7,
  COPY_ABORTED: 0xa,
  ABORTED_COMMAND: 0xb,
  MISCOMPARE: 0xe,
} as const;

/**
 * Additional sense code and qualifier as one 16-bit number `ASC << 8 | ASCQ`
 * (SPC-4 §4.5.6, table 28).
 */
export const Asc = {
  NO_ADDITIONAL_SENSE: 0x0000,
  /** SPC-4 §5.15.2: the three NOT READY codes of inaccessible ALUA states. */
  LU_NOT_ACCESSIBLE_ASYMMETRIC_ACCESS_STATE_TRANSITION: 0x040a,
  LU_NOT_ACCESSIBLE_TARGET_PORT_IN_STANDBY: 0x040b,
  LU_NOT_ACCESSIBLE_TARGET_PORT_UNAVAILABLE: 0x040c,
  WRITE_ERROR: 0x0c00,
  INVALID_FIELD_IN_COMMAND_IU: 0x0e03,
  UNRECOVERED_READ_ERROR: 0x1100,
  PARAMETER_LIST_LENGTH_ERROR: 0x1a00,
  MISCOMPARE_DURING_VERIFY: 0x1d00,
  INVALID_COMMAND_OPERATION_CODE: 0x2000,
  LBA_OUT_OF_RANGE: 0x2100,
  INVALID_FIELD_IN_CDB: 0x2400,
  LOGICAL_UNIT_NOT_SUPPORTED: 0x2500,
  INVALID_FIELD_IN_PARAMETER_LIST: 0x2600,
  /** SPC-4 §5.13.11.2.2: RELEASE with another TYPE or SCOPE than the reservation's. */
  INVALID_RELEASE_OF_PERSISTENT_RESERVATION: 0x2604,
  POWER_ON_RESET_OR_BUS_DEVICE_RESET: 0x2900,
  BUS_DEVICE_RESET_FUNCTION_OCCURRED: 0x2903,
  I_T_NEXUS_LOSS_OCCURRED: 0x2907,
  MODE_PARAMETERS_CHANGED: 0x2a01,
  /** SPC-4 §5.13: unit attentions of persistent reservations. */
  RESERVATIONS_PREEMPTED: 0x2a03,
  RESERVATIONS_RELEASED: 0x2a04,
  REGISTRATIONS_PREEMPTED: 0x2a05,
  ASYMMETRIC_ACCESS_STATE_CHANGED: 0x2a06,
  CAPACITY_DATA_HAS_CHANGED: 0x2a09,
  SAVING_PARAMETERS_NOT_SUPPORTED: 0x3900,
  REPORTED_LUNS_DATA_HAS_CHANGED: 0x3f0e,
  INTERNAL_TARGET_FAILURE: 0x4400,
  /** SPC-4 Annex D: the transport failed the command's data transfer (iSCSI Data-Out sequence errors, RFC 7143 §7.4.1). */
  DATA_PHASE_ERROR: 0x4b00,
  /** SPC-4 §5.13.7: no room for another registration. */
  INSUFFICIENT_REGISTRATION_RESOURCES: 0x5504,
} as const;

/** Version descriptors (SPC-4 §6.6.2, table 143 excerpt). */
export const VersionDescriptor = {
  SAM_5: 0x00a0,
  ISCSI: 0x0960,
  SPC_4: 0x0460,
  SBC_3: 0x04c0,
} as const;

/** Standard INQUIRY identity (SPC-4 §6.6.2): ASCII, space padded on the wire. */
export const VENDOR_ID = 'VSTORAGE';
export const PRODUCT_ID = 'VSTORAGE-LUN';
export const PRODUCT_REVISION = '0001';

/** SPC-4 §6.6.2: VERSION field value claiming SPC-4. */
export const SPC4_VERSION = 0x06;

/** iSCSI protocol identifier (SPC-4 §7.6.1, table 362). */
export const PROTOCOL_ID_ISCSI = 0x5;
