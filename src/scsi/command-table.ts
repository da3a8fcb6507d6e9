/**
 * THE command table (DESIGN.md §3): every command this device server
 * implements, keyed by named operation code. The dispatcher
 * (scsi-target-device.ts), shape(), the reserved-bit check and REPORT
 * SUPPORTED OPERATION CODES all read it; nothing else lists commands.
 *
 * CDB usage bitmaps follow the CDB layouts of SPC-4 §6 and SBC-3 §5. The
 * CONTROL byte (last) is reported as 00h: NACA and LINK are not supported
 * and are refused by the dispatcher (SAM-5 §5.2, SPC-4 §4.3.3).
 */
import { DataDirection } from './types.js';
import type { CommandDef, LuContext, RangeSpec } from './command.js';
import type { LogicalUnit } from './logical-unit.js';
import { Op, SaIn16, SaMaintIn, SaMaintOut } from './constants.js';
import { Rules } from './reservations.js';
import { u16 } from './cdb.js';
import { RANGE_6, RANGE_10, RANGE_12, RANGE_16, len6, len10, len12, len16, rejectProtection, unlimited } from './sbc/common.js';
import { read } from './sbc/read.js';
import { write } from './sbc/write.js';
import { bytchk, validateVerify, validateWriteAndVerify, verify, verifyTransferBlocks, writeAndVerify } from './sbc/verify.js';
import { WS10_RANGE, WS16_RANGE, validateWriteSame, writeSame, writeSameTransfer } from './sbc/write-same.js';
import { unmap, unmapParameterListLength, validateUnmap } from './sbc/unmap.js';
import { getLbaStatus, getLbaStatusAllocationLength } from './sbc/get-lba-status.js';
import { orWrite } from './sbc/orwrite.js';
import { CAW_RANGE, cawBlocks, cawTransferLength, compareAndWrite, validateCompareAndWrite } from './sbc/compare-and-write.js';
import { readCapacity10, readCapacity16, readCapacity16AllocationLength, validateReadCapacity10 } from './sbc/read-capacity.js';
import { preFetch, synchronizeCache } from './sbc/cache.js';
import { startStopUnit, validateStartStopUnit } from './sbc/start-stop-unit.js';
import { readDefectData, readDefectDataAllocationLength } from './sbc/read-defect-data.js';
import { WA16_RANGE, lenAtomic16, validateWriteAtomic, writeAtomic } from './sbc/write-atomic.js';
import { inquiry, inquiryAllocationLength, validateInquiry } from './spc/inquiry.js';
import { reportLuns, reportLunsAllocationLength, validateReportLuns } from './spc/report-luns.js';
import { requestSense } from './spc/request-sense.js';
import { release, reserve, validateReserveRelease } from './spc/reserve-release.js';
import { testUnitReady } from './spc/test-unit-ready.js';
import { modeSense } from './spc/mode-sense.js';
import { modeSelect, modeSelectParameterListLength, validateModeSelect } from './spc/mode-select.js';
import { reportSupportedOperationCodes, rsocAllocationLength, validateRsoc } from './spc/rsoc.js';
import { reportSupportedTmfs, rstmfAllocationLength } from './spc/rstmf.js';
import { reportTargetPortGroups, rtpgAllocationLength, validateRtpg } from './spc/report-target-port-groups.js';
import { extendedCopy, extendedCopyParameterListLength } from './spc/extended-copy.js';
import { SaCopyIn, SaCopyOut } from './spc/extended-copy-manager.js';
import { receiveCopyOperatingParameters, receiveCopyResultsAllocationLength, receiveCopyStatus } from './spc/receive-copy-results.js';
import { prinCommand } from './spc/persistent-reserve-in.js';
import { proutCommand } from './spc/persistent-reserve-out.js';
import { PrinSa, ProutSa } from './persistent-reservations/types.js';
import { setTargetPortGroups, stpgParameterListLength } from './spc/set-target-port-groups.js';

const none = (): number => 0;
const IO_TIMEOUTS = [1, 30] as const;
const LONG_TIMEOUTS = [5, 120] as const;
const CMD_TIMEOUTS = [1, 10] as const;

/** LBA (4 or 8 bytes) usage helpers. */
const LBA4 = [0xff, 0xff, 0xff, 0xff];
const LBA8 = [...LBA4, ...LBA4];

/** Byte 1 of READ/WRITE(10/12/16): RDPROTECT/WRPROTECT (7-5), DPO (4), FUA (3). */
const RW_FLAGS = 0xf8;
/** Byte 1 of VERIFY / WRITE AND VERIFY: VRPROTECT/WRPROTECT (7-5), DPO (4), BYTCHK (2-1). */
const VERIFY_FLAGS = 0xf6;
/** GROUP NUMBER (bits 4-0). */
const GROUP = 0x1f;

function blocksIn(len: (cdb: Buffer) => number) {
  return (cdb: Buffer, bs: number): number => len(cdb) * bs;
}

function verifyRange(r: RangeSpec): RangeSpec {
  // The MAXIMUM TRANSFER LENGTH limit only applies when data is transferred (BYTCHK != 00b).
  return { ...r, maxBlocks: (lu, cdb) => (bytchk(cdb) === 0 ? Infinity : lu.limits.maxTransferBlocks) };
}

function verifyTransfer(len: (cdb: Buffer) => number) {
  return (cdb: Buffer, bs: number): number => verifyTransferBlocks(cdb, len(cdb)) * bs;
}

/** START STOP UNIT: START = 1 with POWER CONDITION 0 is always allowed; anything else conflicts (SBC-3 §4.17). */
const startStopRule = (cdb: Buffer) => ((cdb[4] & 0x01) === 1 && cdb[4] >> 4 === 0 ? Rules.ALWAYS : Rules.WRITE);

const readOp = (name: string, opcode: number, cdbLength: number, usage: number[], range: RangeSpec, len: (cdb: Buffer) => number): CommandDef => ({
  name,
  opcode,
  cdbLength,
  usage,
  direction: DataDirection.In,
  transferLength: blocksIn(len),
  blockSized: true,
  reservation: Rules.READ,
  validate: rejectProtection,
  range,
  timeouts: IO_TIMEOUTS,
  io: 'read',
  handler: read,
});

const writeOp = (
  name: string,
  opcode: number,
  cdbLength: number,
  usage: number[],
  range: RangeSpec,
  len: (cdb: Buffer) => number,
  handler: (ctx: LuContext) => Promise<import('./types.js').ScsiResponse>,
  validate: (cdb: Buffer, lu: LogicalUnit | null) => void = rejectProtection,
): CommandDef => ({
  name,
  opcode,
  cdbLength,
  usage,
  direction: DataDirection.Out,
  transferLength: blocksIn(len),
  blockSized: true,
  reservation: Rules.WRITE,
  validate,
  range,
  timeouts: IO_TIMEOUTS,
  io: 'write',
  handler,
});

const verifyOp = (name: string, opcode: number, cdbLength: number, usage: number[], range: RangeSpec, len: (cdb: Buffer) => number): CommandDef => ({
  name,
  opcode,
  cdbLength,
  usage,
  direction: DataDirection.Out,
  transferLength: verifyTransfer(len),
  blockSized: true,
  reservation: Rules.READ,
  validate: validateVerify,
  range: verifyRange(range),
  timeouts: IO_TIMEOUTS,
  io: 'read',
  handler: verify,
});

const noDataOp = (
  name: string,
  opcode: number,
  cdbLength: number,
  usage: number[],
  range: RangeSpec,
  handler: (ctx: LuContext) => import('./types.js').ScsiResponse | Promise<import('./types.js').ScsiResponse>,
  reservation: CommandDef['reservation'],
  io: CommandDef['io'],
): CommandDef => ({
  name,
  opcode,
  cdbLength,
  usage,
  direction: DataDirection.None,
  transferLength: none,
  blockSized: false,
  reservation,
  range,
  timeouts: LONG_TIMEOUTS,
  io,
  handler,
});

/** The command table, by named operation code. */
export const COMMANDS = {
  TEST_UNIT_READY: {
    name: 'TEST UNIT READY',
    opcode: Op.TEST_UNIT_READY,
    cdbLength: 6,
    usage: [Op.TEST_UNIT_READY, 0, 0, 0, 0, 0],
    direction: DataDirection.None,
    transferLength: none,
    blockSized: false,
    reservation: Rules.ALWAYS,
    timeouts: CMD_TIMEOUTS,
    io: 'none',
    handler: testUnitReady,
  },
  REQUEST_SENSE: {
    name: 'REQUEST SENSE',
    opcode: Op.REQUEST_SENSE,
    cdbLength: 6,
    usage: [Op.REQUEST_SENSE, 0x01, 0, 0, 0xff, 0],
    direction: DataDirection.In,
    transferLength: (cdb) => cdb[4],
    blockSized: false,
    reservation: Rules.ALWAYS,
    timeouts: CMD_TIMEOUTS,
    io: 'none',
    anyLun: true,
    uaExempt: true,
    handler: requestSense,
  },
  READ_6: readOp('READ(6)', Op.READ_6, 6, [Op.READ_6, 0x1f, 0xff, 0xff, 0xff, 0], RANGE_6, len6),
  WRITE_6: writeOp('WRITE(6)', Op.WRITE_6, 6, [Op.WRITE_6, 0x1f, 0xff, 0xff, 0xff, 0], RANGE_6, len6, write, () => undefined),
  INQUIRY: {
    name: 'INQUIRY',
    opcode: Op.INQUIRY,
    cdbLength: 6,
    usage: [Op.INQUIRY, 0x01, 0xff, 0xff, 0xff, 0],
    direction: DataDirection.In,
    transferLength: inquiryAllocationLength,
    blockSized: false,
    reservation: Rules.ALWAYS,
    validate: validateInquiry,
    timeouts: CMD_TIMEOUTS,
    io: 'none',
    anyLun: true,
    uaExempt: true,
    handler: inquiry,
  },
  MODE_SELECT_6: {
    name: 'MODE SELECT(6)',
    opcode: Op.MODE_SELECT_6,
    cdbLength: 6,
    usage: [Op.MODE_SELECT_6, 0x11, 0, 0, 0xff, 0],
    direction: DataDirection.Out,
    transferLength: modeSelectParameterListLength,
    blockSized: false,
    reservation: Rules.MANAGEMENT,
    validate: validateModeSelect,
    timeouts: CMD_TIMEOUTS,
    io: 'none',
    handler: modeSelect,
  },
  RESERVE_6: {
    name: 'RESERVE(6)',
    opcode: Op.RESERVE_6,
    cdbLength: 6,
    usage: [Op.RESERVE_6, 0, 0, 0, 0, 0],
    direction: DataDirection.None,
    transferLength: none,
    blockSized: false,
    reservation: Rules.RESERVE,
    validate: validateReserveRelease,
    timeouts: CMD_TIMEOUTS,
    io: 'none',
    handler: reserve,
  },
  RELEASE_6: {
    name: 'RELEASE(6)',
    opcode: Op.RELEASE_6,
    cdbLength: 6,
    usage: [Op.RELEASE_6, 0, 0, 0, 0, 0],
    direction: DataDirection.None,
    transferLength: none,
    blockSized: false,
    reservation: Rules.ALWAYS,
    validate: validateReserveRelease,
    timeouts: CMD_TIMEOUTS,
    io: 'none',
    handler: release,
  },
  MODE_SENSE_6: {
    name: 'MODE SENSE(6)',
    opcode: Op.MODE_SENSE_6,
    cdbLength: 6,
    usage: [Op.MODE_SENSE_6, 0x08, 0xff, 0xff, 0xff, 0],
    direction: DataDirection.In,
    transferLength: (cdb) => cdb[4],
    blockSized: false,
    reservation: Rules.MANAGEMENT,
    timeouts: CMD_TIMEOUTS,
    io: 'none',
    handler: modeSense,
  },
  START_STOP_UNIT: {
    name: 'START STOP UNIT',
    opcode: Op.START_STOP_UNIT,
    cdbLength: 6,
    usage: [Op.START_STOP_UNIT, 0x01, 0, 0x0f, 0xf7, 0],
    direction: DataDirection.None,
    transferLength: none,
    blockSized: false,
    reservation: startStopRule,
    validate: validateStartStopUnit,
    timeouts: LONG_TIMEOUTS,
    io: 'write',
    handler: startStopUnit,
  },
  READ_CAPACITY_10: {
    name: 'READ CAPACITY(10)',
    opcode: Op.READ_CAPACITY_10,
    cdbLength: 10,
    usage: [Op.READ_CAPACITY_10, 0, ...LBA4, 0, 0, 0x01, 0],
    direction: DataDirection.In,
    transferLength: () => 8,
    blockSized: false,
    reservation: Rules.ALWAYS,
    validate: validateReadCapacity10,
    timeouts: CMD_TIMEOUTS,
    io: 'none',
    handler: readCapacity10,
  },
  READ_10: readOp('READ(10)', Op.READ_10, 10, [Op.READ_10, RW_FLAGS, ...LBA4, GROUP, 0xff, 0xff, 0], RANGE_10, len10),
  WRITE_10: writeOp('WRITE(10)', Op.WRITE_10, 10, [Op.WRITE_10, RW_FLAGS, ...LBA4, GROUP, 0xff, 0xff, 0], RANGE_10, len10, write),
  WRITE_AND_VERIFY_10: writeOp(
    'WRITE AND VERIFY(10)',
    Op.WRITE_AND_VERIFY_10,
    10,
    [Op.WRITE_AND_VERIFY_10, VERIFY_FLAGS, ...LBA4, GROUP, 0xff, 0xff, 0],
    RANGE_10,
    len10,
    writeAndVerify,
    validateWriteAndVerify,
  ),
  VERIFY_10: verifyOp('VERIFY(10)', Op.VERIFY_10, 10, [Op.VERIFY_10, VERIFY_FLAGS, ...LBA4, GROUP, 0xff, 0xff, 0], RANGE_10, len10),
  PRE_FETCH_10: noDataOp('PRE-FETCH(10)', Op.PRE_FETCH_10, 10, [Op.PRE_FETCH_10, 0x02, ...LBA4, GROUP, 0xff, 0xff, 0], unlimited(RANGE_10), preFetch, Rules.READ, 'read'),
  SYNCHRONIZE_CACHE_10: noDataOp(
    'SYNCHRONIZE CACHE(10)',
    Op.SYNCHRONIZE_CACHE_10,
    10,
    [Op.SYNCHRONIZE_CACHE_10, 0x02, ...LBA4, GROUP, 0xff, 0xff, 0],
    unlimited(RANGE_10),
    synchronizeCache,
    Rules.WRITE,
    'write',
  ),
  READ_DEFECT_DATA_10: {
    name: 'READ DEFECT DATA(10)',
    opcode: Op.READ_DEFECT_DATA_10,
    cdbLength: 10,
    usage: [Op.READ_DEFECT_DATA_10, 0, 0x1f, 0, 0, 0, 0, 0xff, 0xff, 0],
    direction: DataDirection.In,
    transferLength: readDefectDataAllocationLength,
    blockSized: false,
    reservation: Rules.MANAGEMENT,
    timeouts: CMD_TIMEOUTS,
    io: 'none',
    handler: readDefectData,
  },
  WRITE_SAME_10: {
    ...writeOp('WRITE SAME(10)', Op.WRITE_SAME_10, 10, [Op.WRITE_SAME_10, 0xf8, ...LBA4, GROUP, 0xff, 0xff, 0], WS10_RANGE, len10, writeSame, validateWriteSame),
    transferLength: writeSameTransfer,
    timeouts: LONG_TIMEOUTS,
  },
  UNMAP: {
    name: 'UNMAP',
    opcode: Op.UNMAP,
    cdbLength: 10,
    usage: [Op.UNMAP, 0x01, 0, 0, 0, 0, GROUP, 0xff, 0xff, 0],
    direction: DataDirection.Out,
    transferLength: unmapParameterListLength,
    blockSized: false,
    reservation: Rules.WRITE,
    validate: validateUnmap,
    timeouts: LONG_TIMEOUTS,
    io: 'write',
    handler: unmap,
  },
  MODE_SELECT_10: {
    name: 'MODE SELECT(10)',
    opcode: Op.MODE_SELECT_10,
    cdbLength: 10,
    usage: [Op.MODE_SELECT_10, 0x11, 0, 0, 0, 0, 0, 0xff, 0xff, 0],
    direction: DataDirection.Out,
    transferLength: modeSelectParameterListLength,
    blockSized: false,
    reservation: Rules.MANAGEMENT,
    validate: validateModeSelect,
    timeouts: CMD_TIMEOUTS,
    io: 'none',
    handler: modeSelect,
  },
  RESERVE_10: {
    name: 'RESERVE(10)',
    opcode: Op.RESERVE_10,
    cdbLength: 10,
    usage: [Op.RESERVE_10, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    direction: DataDirection.None,
    transferLength: none,
    blockSized: false,
    reservation: Rules.RESERVE,
    validate: validateReserveRelease,
    timeouts: CMD_TIMEOUTS,
    io: 'none',
    handler: reserve,
  },
  RELEASE_10: {
    name: 'RELEASE(10)',
    opcode: Op.RELEASE_10,
    cdbLength: 10,
    usage: [Op.RELEASE_10, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    direction: DataDirection.None,
    transferLength: none,
    blockSized: false,
    reservation: Rules.ALWAYS,
    validate: validateReserveRelease,
    timeouts: CMD_TIMEOUTS,
    io: 'none',
    handler: release,
  },
  MODE_SENSE_10: {
    name: 'MODE SENSE(10)',
    opcode: Op.MODE_SENSE_10,
    cdbLength: 10,
    usage: [Op.MODE_SENSE_10, 0x18, 0xff, 0xff, 0, 0, 0, 0xff, 0xff, 0],
    direction: DataDirection.In,
    transferLength: (cdb) => u16(cdb, 7),
    blockSized: false,
    reservation: Rules.MANAGEMENT,
    timeouts: CMD_TIMEOUTS,
    io: 'none',
    handler: modeSense,
  },
  // SPC-4 §6.15, §6.16: one entry per service action.
  PRIN_READ_KEYS: prinCommand('READ KEYS', PrinSa.READ_KEYS),
  PRIN_READ_RESERVATION: prinCommand('READ RESERVATION', PrinSa.READ_RESERVATION),
  PRIN_REPORT_CAPABILITIES: prinCommand('REPORT CAPABILITIES', PrinSa.REPORT_CAPABILITIES),
  PRIN_READ_FULL_STATUS: prinCommand('READ FULL STATUS', PrinSa.READ_FULL_STATUS),
  PROUT_REGISTER: proutCommand('REGISTER', ProutSa.REGISTER),
  PROUT_RESERVE: proutCommand('RESERVE', ProutSa.RESERVE),
  PROUT_RELEASE: proutCommand('RELEASE', ProutSa.RELEASE),
  PROUT_CLEAR: proutCommand('CLEAR', ProutSa.CLEAR),
  PROUT_PREEMPT: proutCommand('PREEMPT', ProutSa.PREEMPT),
  PROUT_PREEMPT_AND_ABORT: proutCommand('PREEMPT AND ABORT', ProutSa.PREEMPT_AND_ABORT),
  PROUT_REGISTER_AND_IGNORE_EXISTING_KEY: proutCommand('REGISTER AND IGNORE EXISTING KEY', ProutSa.REGISTER_AND_IGNORE_EXISTING_KEY),
  PROUT_REGISTER_AND_MOVE: proutCommand('REGISTER AND MOVE', ProutSa.REGISTER_AND_MOVE),
  EXTENDED_COPY: {
    name: 'EXTENDED COPY(LID1)',
    opcode: Op.THIRD_PARTY_COPY_OUT,
    serviceAction: SaCopyOut.EXTENDED_COPY_LID1,
    cdbLength: 16,
    // SPC-4 §6.4.1: bytes 2-9 reserved, 10-13 PARAMETER LIST LENGTH, 14 reserved.
    usage: [Op.THIRD_PARTY_COPY_OUT, SaCopyOut.EXTENDED_COPY_LID1, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0],
    direction: DataDirection.Out,
    transferLength: extendedCopyParameterListLength,
    blockSized: false,
    // The addressed LU as for a write; each copy source and destination is checked too (spc/extended-copy.ts).
    reservation: Rules.WRITE,
    timeouts: LONG_TIMEOUTS,
    io: 'none',
    handler: extendedCopy,
  },
  RECEIVE_COPY_STATUS: {
    name: 'RECEIVE COPY STATUS(LID1)',
    opcode: Op.THIRD_PARTY_COPY_IN,
    serviceAction: SaCopyIn.COPY_STATUS_LID1,
    cdbLength: 16,
    // SPC-4 §6.21: byte 2 LIST IDENTIFIER, 3-9 reserved, 10-13 ALLOCATION LENGTH, 14 reserved.
    usage: [Op.THIRD_PARTY_COPY_IN, SaCopyIn.COPY_STATUS_LID1, 0xff, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0],
    direction: DataDirection.In,
    transferLength: receiveCopyResultsAllocationLength,
    blockSized: false,
    reservation: Rules.READ,
    timeouts: CMD_TIMEOUTS,
    io: 'none',
    handler: receiveCopyStatus,
  },
  RECEIVE_COPY_OPERATING_PARAMETERS: {
    name: 'RECEIVE COPY OPERATING PARAMETERS',
    opcode: Op.THIRD_PARTY_COPY_IN,
    serviceAction: SaCopyIn.OPERATING_PARAMETERS,
    cdbLength: 16,
    // SPC-4 §6.21: bytes 2-9 reserved, 10-13 ALLOCATION LENGTH, 14 reserved.
    usage: [Op.THIRD_PARTY_COPY_IN, SaCopyIn.OPERATING_PARAMETERS, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0],
    direction: DataDirection.In,
    transferLength: receiveCopyResultsAllocationLength,
    blockSized: false,
    reservation: Rules.READ,
    timeouts: CMD_TIMEOUTS,
    io: 'none',
    handler: receiveCopyOperatingParameters,
  },
  READ_16: readOp('READ(16)', Op.READ_16, 16, [Op.READ_16, RW_FLAGS, ...LBA8, 0xff, 0xff, 0xff, 0xff, GROUP, 0], RANGE_16, len16),
  COMPARE_AND_WRITE: {
    ...writeOp(
      'COMPARE AND WRITE',
      Op.COMPARE_AND_WRITE,
      16,
      // SBC-3 §5.2: bytes 10-12 reserved, 13 NUMBER OF LOGICAL BLOCKS.
      [Op.COMPARE_AND_WRITE, RW_FLAGS, ...LBA8, 0, 0, 0, 0xff, GROUP, 0],
      CAW_RANGE,
      cawBlocks,
      compareAndWrite,
      validateCompareAndWrite,
    ),
    // Verify data and write data: twice NUMBER OF LOGICAL BLOCKS.
    transferLength: cawTransferLength,
  },
  WRITE_16: writeOp('WRITE(16)', Op.WRITE_16, 16, [Op.WRITE_16, RW_FLAGS, ...LBA8, 0xff, 0xff, 0xff, 0xff, GROUP, 0], RANGE_16, len16, write),
  ORWRITE_16: writeOp('ORWRITE(16)', Op.ORWRITE_16, 16, [Op.ORWRITE_16, RW_FLAGS, ...LBA8, 0xff, 0xff, 0xff, 0xff, GROUP, 0], RANGE_16, len16, orWrite),
  WRITE_AND_VERIFY_16: writeOp(
    'WRITE AND VERIFY(16)',
    Op.WRITE_AND_VERIFY_16,
    16,
    [Op.WRITE_AND_VERIFY_16, VERIFY_FLAGS, ...LBA8, 0xff, 0xff, 0xff, 0xff, GROUP, 0],
    RANGE_16,
    len16,
    writeAndVerify,
    validateWriteAndVerify,
  ),
  VERIFY_16: verifyOp('VERIFY(16)', Op.VERIFY_16, 16, [Op.VERIFY_16, VERIFY_FLAGS, ...LBA8, 0xff, 0xff, 0xff, 0xff, GROUP, 0], RANGE_16, len16),
  PRE_FETCH_16: noDataOp(
    'PRE-FETCH(16)',
    Op.PRE_FETCH_16,
    16,
    [Op.PRE_FETCH_16, 0x02, ...LBA8, 0xff, 0xff, 0xff, 0xff, GROUP, 0],
    unlimited(RANGE_16),
    preFetch,
    Rules.READ,
    'read',
  ),
  SYNCHRONIZE_CACHE_16: noDataOp(
    'SYNCHRONIZE CACHE(16)',
    Op.SYNCHRONIZE_CACHE_16,
    16,
    [Op.SYNCHRONIZE_CACHE_16, 0x02, ...LBA8, 0xff, 0xff, 0xff, 0xff, GROUP, 0],
    unlimited(RANGE_16),
    synchronizeCache,
    Rules.WRITE,
    'write',
  ),
  WRITE_SAME_16: {
    ...writeOp(
      'WRITE SAME(16)',
      Op.WRITE_SAME_16,
      16,
      [Op.WRITE_SAME_16, 0xf9, ...LBA8, 0xff, 0xff, 0xff, 0xff, GROUP, 0],
      WS16_RANGE,
      len16,
      writeSame,
      validateWriteSame,
    ),
    transferLength: writeSameTransfer,
    timeouts: LONG_TIMEOUTS,
  },
  WRITE_ATOMIC_16: writeOp(
    'WRITE ATOMIC(16)',
    Op.WRITE_ATOMIC_16,
    16,
    // SBC-4 §5.48: bytes 10-11 ATOMIC BOUNDARY (only 0 accepted, validateWriteAtomic), 12-13 TRANSFER LENGTH.
    [Op.WRITE_ATOMIC_16, RW_FLAGS, ...LBA8, 0xff, 0xff, 0xff, 0xff, GROUP, 0],
    WA16_RANGE,
    lenAtomic16,
    writeAtomic,
    validateWriteAtomic,
  ),
  READ_CAPACITY_16: {
    name: 'READ CAPACITY(16)',
    opcode: Op.SERVICE_ACTION_IN_16,
    serviceAction: SaIn16.READ_CAPACITY_16,
    cdbLength: 16,
    // Bytes 2-9 (LBA) and byte 14 bit 0 (PMI) are obsolete in SBC-3 §5.16: accepted and ignored.
    usage: [Op.SERVICE_ACTION_IN_16, SaIn16.READ_CAPACITY_16, ...LBA8, 0xff, 0xff, 0xff, 0xff, 0x01, 0],
    direction: DataDirection.In,
    transferLength: readCapacity16AllocationLength,
    blockSized: false,
    reservation: Rules.ALWAYS,
    timeouts: CMD_TIMEOUTS,
    io: 'none',
    handler: readCapacity16,
  },
  GET_LBA_STATUS: {
    name: 'GET LBA STATUS',
    opcode: Op.SERVICE_ACTION_IN_16,
    serviceAction: SaIn16.GET_LBA_STATUS,
    cdbLength: 16,
    usage: [Op.SERVICE_ACTION_IN_16, SaIn16.GET_LBA_STATUS, ...LBA8, 0xff, 0xff, 0xff, 0xff, 0, 0],
    direction: DataDirection.In,
    transferLength: getLbaStatusAllocationLength,
    blockSized: false,
    reservation: Rules.READ,
    timeouts: CMD_TIMEOUTS,
    io: 'read',
    handler: getLbaStatus,
  },
  REPORT_LUNS: {
    name: 'REPORT LUNS',
    opcode: Op.REPORT_LUNS,
    cdbLength: 12,
    usage: [Op.REPORT_LUNS, 0, 0xff, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0],
    direction: DataDirection.In,
    transferLength: reportLunsAllocationLength,
    blockSized: false,
    reservation: Rules.ALWAYS,
    validate: validateReportLuns,
    timeouts: CMD_TIMEOUTS,
    io: 'none',
    anyLun: true,
    uaExempt: true,
    handler: reportLuns,
  },
  REPORT_TARGET_PORT_GROUPS: {
    name: 'REPORT TARGET PORT GROUPS',
    opcode: Op.MAINTENANCE_IN,
    serviceAction: SaMaintIn.REPORT_TARGET_PORT_GROUPS,
    cdbLength: 12,
    usage: [Op.MAINTENANCE_IN, 0xe0 | SaMaintIn.REPORT_TARGET_PORT_GROUPS, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0],
    direction: DataDirection.In,
    transferLength: rtpgAllocationLength,
    blockSized: false,
    reservation: Rules.ALWAYS,
    validate: validateRtpg,
    timeouts: CMD_TIMEOUTS,
    io: 'none',
    handler: reportTargetPortGroups,
  },
  SET_TARGET_PORT_GROUPS: {
    name: 'SET TARGET PORT GROUPS',
    opcode: Op.MAINTENANCE_OUT,
    serviceAction: SaMaintOut.SET_TARGET_PORT_GROUPS,
    cdbLength: 12,
    usage: [Op.MAINTENANCE_OUT, SaMaintOut.SET_TARGET_PORT_GROUPS, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0],
    direction: DataDirection.Out,
    transferLength: stpgParameterListLength,
    blockSized: false,
    reservation: Rules.MANAGEMENT,
    timeouts: CMD_TIMEOUTS,
    io: 'none',
    handler: setTargetPortGroups,
  },
  REPORT_SUPPORTED_OPERATION_CODES: {
    name: 'REPORT SUPPORTED OPERATION CODES',
    opcode: Op.MAINTENANCE_IN,
    serviceAction: SaMaintIn.REPORT_SUPPORTED_OPERATION_CODES,
    cdbLength: 12,
    usage: [Op.MAINTENANCE_IN, SaMaintIn.REPORT_SUPPORTED_OPERATION_CODES, 0x87, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0],
    direction: DataDirection.In,
    transferLength: rsocAllocationLength,
    blockSized: false,
    reservation: Rules.MANAGEMENT,
    validate: validateRsoc,
    timeouts: CMD_TIMEOUTS,
    io: 'none',
    handler: reportSupportedOperationCodes,
  },
  REPORT_SUPPORTED_TMFS: {
    name: 'REPORT SUPPORTED TASK MANAGEMENT FUNCTIONS',
    opcode: Op.MAINTENANCE_IN,
    serviceAction: SaMaintIn.REPORT_SUPPORTED_TMFS,
    cdbLength: 12,
    usage: [Op.MAINTENANCE_IN, SaMaintIn.REPORT_SUPPORTED_TMFS, 0x80, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0],
    direction: DataDirection.In,
    transferLength: rstmfAllocationLength,
    blockSized: false,
    reservation: Rules.MANAGEMENT,
    timeouts: CMD_TIMEOUTS,
    io: 'none',
    handler: reportSupportedTmfs,
  },
  READ_12: readOp('READ(12)', Op.READ_12, 12, [Op.READ_12, RW_FLAGS, ...LBA4, 0xff, 0xff, 0xff, 0xff, GROUP, 0], RANGE_12, len12),
  WRITE_12: writeOp('WRITE(12)', Op.WRITE_12, 12, [Op.WRITE_12, RW_FLAGS, ...LBA4, 0xff, 0xff, 0xff, 0xff, GROUP, 0], RANGE_12, len12, write),
  WRITE_AND_VERIFY_12: writeOp(
    'WRITE AND VERIFY(12)',
    Op.WRITE_AND_VERIFY_12,
    12,
    [Op.WRITE_AND_VERIFY_12, VERIFY_FLAGS, ...LBA4, 0xff, 0xff, 0xff, 0xff, GROUP, 0],
    RANGE_12,
    len12,
    writeAndVerify,
    validateWriteAndVerify,
  ),
  VERIFY_12: verifyOp('VERIFY(12)', Op.VERIFY_12, 12, [Op.VERIFY_12, VERIFY_FLAGS, ...LBA4, 0xff, 0xff, 0xff, 0xff, GROUP, 0], RANGE_12, len12),
  READ_DEFECT_DATA_12: {
    name: 'READ DEFECT DATA(12)',
    opcode: Op.READ_DEFECT_DATA_12,
    cdbLength: 12,
    // ADDRESS DESCRIPTOR INDEX (bytes 2-5) is accepted: the lists are empty whatever the index.
    usage: [Op.READ_DEFECT_DATA_12, 0x1f, ...LBA4, 0xff, 0xff, 0xff, 0xff, 0, 0],
    direction: DataDirection.In,
    transferLength: readDefectDataAllocationLength,
    blockSized: false,
    reservation: Rules.MANAGEMENT,
    timeouts: CMD_TIMEOUTS,
    io: 'none',
    handler: readDefectData,
  },
} satisfies Record<string, CommandDef>;

export type CommandName = keyof typeof COMMANDS;

/** Operation-code index built from the table (O(1) dispatch). */
export class CommandIndex {
  readonly all: readonly CommandDef[];
  private readonly direct: (CommandDef | undefined)[] = new Array(256).fill(undefined);
  private readonly bySa: (Map<number, CommandDef> | undefined)[] = new Array(256).fill(undefined);
  /** Per command: bits that may be set in each CDB byte (usage bitmap, service action bits open). */
  readonly masks = new Map<CommandDef, Uint8Array>();

  constructor(defs: readonly CommandDef[]) {
    this.all = defs;
    for (const d of defs) {
      if (d.usage.length !== d.cdbLength) throw new Error(`command table: ${d.name} usage has ${d.usage.length} bytes, CDB is ${d.cdbLength}`);
      if (d.usage[0] !== d.opcode) throw new Error(`command table: ${d.name} usage byte 0 is not its operation code`);
      const mask = Uint8Array.from(d.usage);
      if (d.serviceAction !== undefined) {
        if (this.direct[d.opcode]) throw new Error(`command table: ${d.name} mixes service actions with a plain entry`);
        let m = this.bySa[d.opcode];
        if (!m) this.bySa[d.opcode] = m = new Map();
        if (m.has(d.serviceAction)) throw new Error(`command table: duplicate ${d.name}`);
        m.set(d.serviceAction, d);
        mask[1] = (d.usage[1] & 0xe0) | 0x1f;
      } else {
        if (this.direct[d.opcode] || this.bySa[d.opcode]) throw new Error(`command table: duplicate opcode for ${d.name}`);
        this.direct[d.opcode] = d;
      }
      this.masks.set(d, mask);
    }
  }

  /** The command of a CDB; `undefined` when unknown. */
  lookup(cdb: Buffer): CommandDef | undefined {
    const op = cdb[0];
    const d = this.direct[op];
    if (d) return d;
    const m = this.bySa[op];
    return m ? m.get(cdb[1] & 0x1f) : undefined;
  }

  /** The operation code is known but selects commands by service action. */
  hasServiceActions(opcode: number): boolean {
    return this.bySa[opcode] !== undefined;
  }
}

export const COMMAND_LIST: readonly CommandDef[] = Object.values(COMMANDS);

export const DEFAULT_INDEX = new CommandIndex(COMMAND_LIST);

