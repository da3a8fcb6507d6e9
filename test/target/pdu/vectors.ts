/**
 * Hand-annotated wire vectors for every PDU type of RFC 7143 §11, with the
 * PDU each one decodes to. Built with the test-only annotated-bytes encoder
 * (never with src/ encode), field by field as in the RFC diagrams.
 */
import { bytes, type AnnotatedBytes } from '../../helpers/annotated-bytes.js';
import { Opcode, type Pdu } from '../../../src/target/pdu/types.js';

export interface Digests {
  header: boolean;
  data: boolean;
}

export const DIGEST_COMBOS: Digests[] = [
  { header: false, data: false },
  { header: true, data: false },
  { header: false, data: true },
  { header: true, data: true },
];

export interface Vector {
  name: string;
  /** Expected decode result. */
  pdu: Pdu;
  /** TotalAHSLength in bytes. */
  ahsLength: number;
  /** The BHS, 48 annotated bytes. */
  bhs: AnnotatedBytes;
  /** AHS segments (already padded), if any. */
  ahs?: AnnotatedBytes;
  /** The data segment without padding, if any. */
  data?: AnnotatedBytes;
}

/** Deterministic payload bytes. */
export function pattern(length: number, seed = 0): Buffer {
  const b = Buffer.alloc(length);
  for (let i = 0; i < length; i++) b[i] = (i * 31 + seed * 7 + (i >> 8)) & 0xff;
  return b;
}

/**
 * The full wire image: BHS, AHS, header digest, data, padding, data digest
 * (RFC 7143 §11.1: header digest covers BHS+AHS; data digest covers data+padding
 * and is absent when there is no data).
 */
export function wire(v: Vector, d: Digests): AnnotatedBytes {
  const b = bytes().append(v.bhs, 'BHS: ');
  if (v.ahs) b.append(v.ahs, 'AHS: ');
  b.when(d.header, (x) => x.crc32c(0, 'HeaderDigest CRC32C(BHS+AHS)'));
  if (v.data && v.data.length > 0) {
    const start = b.length;
    b.append(v.data, 'data: ');
    b.pad4('data padding');
    b.when(d.data, (x) => x.crc32c(start, 'DataDigest CRC32C(data+padding)'));
  }
  return b;
}

export function wireBuffer(v: Vector, d: Digests): Buffer {
  return wire(v, d).build();
}

const hexBuf = (h: string): Buffer => Buffer.from(h.replace(/\s+/g, ''), 'hex');
const LUN0 = '00 00 00 00 00 00 00 00';
const LUN1 = '00 01 00 00 00 00 00 00';
/** SAM-5 flat space addressing, LUN 300 = 0x12c. */
const LUN300 = '41 2c 00 00 00 00 00 00';
const ISID = '40 00 01 37 00 00';

// ---------------------------------------------------------------- initiator PDUs

const nopOutData = Buffer.from('ping!');
const nopOut: Vector = {
  name: 'NOP-Out (ping with 5 bytes of data)',
  ahsLength: 0,
  bhs: bytes()
    .u8(0x40 | 0x00, 'I | opcode NOP-Out 0x00')
    .u8(0x80, 'F (always 1)')
    .zeros(2, 'reserved')
    .u8(0, 'TotalAHSLength')
    .u24(5, 'DataSegmentLength')
    .hex(LUN0, 'LUN 0')
    .u32(0x00000010, 'Initiator Task Tag')
    .u32(0xffffffff, 'Target Transfer Tag (reserved)')
    .u32(0x11, 'CmdSN')
    .u32(0x22, 'ExpStatSN')
    .zeros(16, 'reserved'),
  data: bytes().bytes(nopOutData, '"ping!"'),
  pdu: {
    opcode: Opcode.NopOut,
    immediate: true,
    lun: 0,
    lunField: hexBuf(LUN0),
    initiatorTaskTag: 0x10,
    targetTransferTag: 0xffffffff,
    cmdSN: 0x11,
    expStatSN: 0x22,
    ahs: [],
    data: nopOutData,
  },
};

const read10 = '28 00 00 00 10 00 00 00 08 00 00 00 00 00 00 00';
const scsiRead: Vector = {
  name: 'SCSI Command READ(10), no data',
  ahsLength: 0,
  bhs: bytes()
    .u8(0x01, 'opcode SCSI Command 0x01')
    .u8(0x80 | 0x40 | 0x01, 'F | R | ATTR=simple')
    .zeros(2, 'reserved')
    .u8(0, 'TotalAHSLength')
    .u24(0, 'DataSegmentLength')
    .hex(LUN1, 'LUN 1 (peripheral)')
    .u32(0x00001234, 'Initiator Task Tag')
    .u32(4096, 'Expected Data Transfer Length')
    .u32(0x100, 'CmdSN')
    .u32(0x200, 'ExpStatSN')
    .hex(read10, 'CDB READ(10) LBA 0x1000, 8 blocks'),
  pdu: {
    opcode: Opcode.ScsiCommand,
    immediate: false,
    final: true,
    read: true,
    write: false,
    attr: 1,
    lun: 1,
    lunField: hexBuf(LUN1),
    initiatorTaskTag: 0x1234,
    expectedDataTransferLength: 4096,
    cmdSN: 0x100,
    expStatSN: 0x200,
    cdb: hexBuf(read10),
    ahs: [],
    data: Buffer.alloc(0),
  },
};

const write10 = '2a 00 00 00 00 20 00 00 02 00 00 00 00 00 00 00';
const immediateData = pattern(512, 1);
const scsiWrite: Vector = {
  name: 'SCSI Command WRITE(10) with 512 bytes of immediate data, flat LUN 300',
  ahsLength: 0,
  bhs: bytes()
    .u8(0x01, 'opcode SCSI Command 0x01')
    .u8(0x80 | 0x20 | 0x01, 'F | W | ATTR=simple')
    .zeros(2, 'reserved')
    .u8(0, 'TotalAHSLength')
    .u24(512, 'DataSegmentLength')
    .hex(LUN300, 'LUN 300 (flat space addressing)')
    .u32(0x00001235, 'Initiator Task Tag')
    .u32(1024, 'Expected Data Transfer Length')
    .u32(0x101, 'CmdSN')
    .u32(0x200, 'ExpStatSN')
    .hex(write10, 'CDB WRITE(10) LBA 0x20, 2 blocks'),
  data: bytes().bytes(immediateData, 'immediate data'),
  pdu: {
    opcode: Opcode.ScsiCommand,
    immediate: false,
    final: true,
    read: false,
    write: true,
    attr: 1,
    lun: 300,
    lunField: hexBuf(LUN300),
    initiatorTaskTag: 0x1235,
    expectedDataTransferLength: 1024,
    cmdSN: 0x101,
    expStatSN: 0x200,
    cdb: hexBuf(write10),
    ahs: [],
    data: immediateData,
  },
};

// An 18-byte CDB: the first 16 bytes in the BHS, bytes 16-17 in an Extended CDB AHS.
const cdb18 = hexBuf('c0 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f 10 11');
const bidiData = Buffer.from('abc');
const scsiExtCdbBidi: Vector = {
  name: 'SCSI Command, bidirectional, 18-byte CDB (Extended CDB AHS + Bidi AHS), 3 bytes of data',
  ahsLength: 16,
  bhs: bytes()
    .u8(0x40 | 0x01, 'I | opcode SCSI Command 0x01')
    .u8(0x80 | 0x40 | 0x20 | 0x02, 'F | R | W | ATTR=ordered')
    .zeros(2, 'reserved')
    .u8(4, 'TotalAHSLength (4 words = 16 bytes)')
    .u24(3, 'DataSegmentLength')
    .hex(LUN1, 'LUN 1')
    .u32(0x00000042, 'Initiator Task Tag')
    .u32(512, 'Expected Data Transfer Length (write part)')
    .u32(0x102, 'CmdSN')
    .u32(0x201, 'ExpStatSN')
    .bytes(cdb18.subarray(0, 16), 'CDB bytes 0-15'),
  ahs: bytes()
    .u16(3, 'AHSLength = CDB length 18 - 15')
    .u8(0x01, 'AHSType Extended CDB')
    .u8(0, 'reserved')
    .bytes(cdb18.subarray(16), 'CDB bytes 16-17')
    .zeros(2, 'AHS padding')
    .u16(5, 'AHSLength 5')
    .u8(0x02, 'AHSType Bidirectional Read Expected Data Length')
    .u8(0, 'reserved')
    .u32(1024, 'Bidirectional Read Expected Data Transfer Length'),
  data: bytes().bytes(bidiData, '"abc"'),
  pdu: {
    opcode: Opcode.ScsiCommand,
    immediate: true,
    final: true,
    read: true,
    write: true,
    attr: 2,
    lun: 1,
    lunField: hexBuf(LUN1),
    initiatorTaskTag: 0x42,
    expectedDataTransferLength: 512,
    cmdSN: 0x102,
    expStatSN: 0x201,
    cdb: cdb18,
    bidiReadExpectedLength: 1024,
    ahs: [hexBuf('00 03 01 00 10 11'), hexBuf('00 05 02 00 00 00 04 00')],
    data: bidiData,
  },
};

// A 32-byte variable-length CDB (READ(32)-like): 16 extra bytes, AHSLength 17, no AHS padding beyond 4-alignment.
const cdb32 = pattern(32, 9);
cdb32[0] = 0x7f;
const scsiCdb32: Vector = {
  name: 'SCSI Command with a 32-byte CDB (Extended CDB AHS only)',
  ahsLength: 20,
  bhs: bytes()
    .u8(0x01, 'opcode SCSI Command 0x01')
    .u8(0x80 | 0x40 | 0x00, 'F | R | ATTR=untagged')
    .zeros(2, 'reserved')
    .u8(5, 'TotalAHSLength (5 words = 20 bytes)')
    .u24(0, 'DataSegmentLength')
    .hex(LUN0, 'LUN 0')
    .u32(0x00000043, 'Initiator Task Tag')
    .u32(8192, 'Expected Data Transfer Length')
    .u32(0x103, 'CmdSN')
    .u32(0x201, 'ExpStatSN')
    .bytes(cdb32.subarray(0, 16), 'CDB bytes 0-15'),
  ahs: bytes()
    .u16(17, 'AHSLength = 32 - 15')
    .u8(0x01, 'AHSType Extended CDB')
    .u8(0, 'reserved')
    .bytes(cdb32.subarray(16), 'CDB bytes 16-31'),
  pdu: {
    opcode: Opcode.ScsiCommand,
    immediate: false,
    final: true,
    read: true,
    write: false,
    attr: 0,
    lun: 0,
    lunField: hexBuf(LUN0),
    initiatorTaskTag: 0x43,
    expectedDataTransferLength: 8192,
    cmdSN: 0x103,
    expStatSN: 0x201,
    cdb: cdb32,
    ahs: [Buffer.concat([hexBuf('00 11 01 00'), cdb32.subarray(16)])],
    data: Buffer.alloc(0),
  },
};

const oddLun = '01 05 00 00 00 00 00 00';
const scsiOddLun: Vector = {
  name: 'SCSI Command with a LUN in an unsupported addressing (bus 1): lun -1, raw field kept',
  ahsLength: 0,
  bhs: bytes()
    .u8(0x01, 'opcode SCSI Command 0x01')
    .u8(0x80, 'F | ATTR=untagged')
    .zeros(2, 'reserved')
    .u8(0, 'TotalAHSLength')
    .u24(0, 'DataSegmentLength')
    .hex(oddLun, 'LUN: peripheral addressing, bus identifier 1, target 5')
    .u32(0x44, 'Initiator Task Tag')
    .u32(0, 'Expected Data Transfer Length')
    .u32(0x104, 'CmdSN')
    .u32(0x201, 'ExpStatSN')
    .hex('00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00', 'CDB TEST UNIT READY'),
  pdu: {
    opcode: Opcode.ScsiCommand,
    immediate: false,
    final: true,
    read: false,
    write: false,
    attr: 0,
    lun: -1,
    lunField: hexBuf(oddLun),
    initiatorTaskTag: 0x44,
    expectedDataTransferLength: 0,
    cmdSN: 0x104,
    expStatSN: 0x201,
    cdb: Buffer.alloc(16),
    ahs: [],
    data: Buffer.alloc(0),
  },
};

const tmfRequest: Vector = {
  name: 'Task Management Function Request ABORT TASK',
  ahsLength: 0,
  bhs: bytes()
    .u8(0x40 | 0x02, 'I | opcode Task Management Request 0x02')
    .u8(0x80 | 0x01, '1 | Function ABORT TASK')
    .zeros(2, 'reserved')
    .u8(0, 'TotalAHSLength')
    .u24(0, 'DataSegmentLength')
    .hex('00 02 00 00 00 00 00 00', 'LUN 2')
    .u32(0x00000099, 'Initiator Task Tag')
    .u32(0x00001234, 'Referenced Task Tag')
    .u32(0x105, 'CmdSN')
    .u32(0x202, 'ExpStatSN')
    .u32(0x100, 'RefCmdSN')
    .u32(0, 'ExpDataSN')
    .zeros(8, 'reserved'),
  pdu: {
    opcode: Opcode.TaskMgmtRequest,
    immediate: true,
    function: 1,
    lun: 2,
    lunField: hexBuf('00 02 00 00 00 00 00 00'),
    initiatorTaskTag: 0x99,
    referencedTaskTag: 0x1234,
    cmdSN: 0x105,
    expStatSN: 0x202,
    refCmdSN: 0x100,
    expDataSN: 0,
    ahs: [],
    data: Buffer.alloc(0),
  },
};

const loginKeys = Buffer.from(
  'InitiatorName=iqn.2004-10.com.example:host1\0SessionType=Normal\0TargetName=iqn.2024-01.com.example:t1\0HeaderDigest=CRC32C,None\0',
);
const loginRequest: Vector = {
  name: 'Login Request, operational stage, transit to full feature',
  ahsLength: 0,
  bhs: bytes()
    .u8(0x40 | 0x03, 'I | opcode Login Request 0x03')
    .u8(0x80 | (1 << 2) | 3, 'T | CSG=1 | NSG=3')
    .u8(0x00, 'Version-max')
    .u8(0x00, 'Version-min')
    .u8(0, 'TotalAHSLength')
    .u24(loginKeys.length, 'DataSegmentLength')
    .hex(ISID, 'ISID')
    .u16(0, 'TSIH')
    .u32(0, 'Initiator Task Tag')
    .u16(1, 'CID')
    .zeros(2, 'reserved')
    .u32(1, 'CmdSN')
    .u32(0, 'ExpStatSN')
    .zeros(16, 'reserved'),
  data: bytes().bytes(loginKeys, 'text keys'),
  pdu: {
    opcode: Opcode.LoginRequest,
    immediate: true,
    transit: true,
    continue: false,
    csg: 1,
    nsg: 3,
    versionMax: 0,
    versionMin: 0,
    isid: hexBuf(ISID),
    tsih: 0,
    initiatorTaskTag: 0,
    cid: 1,
    cmdSN: 1,
    expStatSN: 0,
    ahs: [],
    data: loginKeys,
  },
};

const sendTargets = Buffer.from('SendTargets=All\0');
const textRequest: Vector = {
  name: 'Text Request SendTargets=All',
  ahsLength: 0,
  bhs: bytes()
    .u8(0x40 | 0x04, 'I | opcode Text Request 0x04')
    .u8(0x80, 'F')
    .zeros(2, 'reserved')
    .u8(0, 'TotalAHSLength')
    .u24(sendTargets.length, 'DataSegmentLength')
    .hex(LUN0, 'LUN')
    .u32(5, 'Initiator Task Tag')
    .u32(0xffffffff, 'Target Transfer Tag')
    .u32(2, 'CmdSN')
    .u32(1, 'ExpStatSN')
    .zeros(16, 'reserved'),
  data: bytes().bytes(sendTargets, 'SendTargets=All\\0'),
  pdu: {
    opcode: Opcode.TextRequest,
    immediate: true,
    final: true,
    continue: false,
    lun: 0,
    lunField: hexBuf(LUN0),
    initiatorTaskTag: 5,
    targetTransferTag: 0xffffffff,
    cmdSN: 2,
    expStatSN: 1,
    ahs: [],
    data: sendTargets,
  },
};

const dataOutPayload = pattern(1001, 3);
const dataOut: Vector = {
  name: 'SCSI Data-Out, 1001 bytes (3 bytes padding)',
  ahsLength: 0,
  bhs: bytes()
    .u8(0x05, 'opcode SCSI Data-Out 0x05')
    .u8(0x80, 'F')
    .zeros(2, 'reserved')
    .u8(0, 'TotalAHSLength')
    .u24(1001, 'DataSegmentLength')
    .hex(LUN1, 'LUN 1')
    .u32(0x1234, 'Initiator Task Tag')
    .u32(0x55, 'Target Transfer Tag')
    .zeros(4, 'reserved')
    .u32(0x203, 'ExpStatSN')
    .zeros(4, 'reserved')
    .u32(2, 'DataSN')
    .u32(8192, 'Buffer Offset')
    .zeros(4, 'reserved'),
  data: bytes().bytes(dataOutPayload, 'write data'),
  pdu: {
    opcode: Opcode.DataOut,
    final: true,
    lun: 1,
    lunField: hexBuf(LUN1),
    initiatorTaskTag: 0x1234,
    targetTransferTag: 0x55,
    expStatSN: 0x203,
    dataSN: 2,
    bufferOffset: 8192,
    ahs: [],
    data: dataOutPayload,
  },
};

const logoutRequest: Vector = {
  name: 'Logout Request close session',
  ahsLength: 0,
  bhs: bytes()
    .u8(0x40 | 0x06, 'I | opcode Logout Request 0x06')
    .u8(0x80 | 0x00, '1 | Reason Code close session')
    .zeros(2, 'reserved')
    .u8(0, 'TotalAHSLength')
    .u24(0, 'DataSegmentLength')
    .zeros(8, 'reserved')
    .u32(7, 'Initiator Task Tag')
    .u16(1, 'CID')
    .zeros(2, 'reserved')
    .u32(0x106, 'CmdSN')
    .u32(0x204, 'ExpStatSN')
    .zeros(16, 'reserved'),
  pdu: {
    opcode: Opcode.LogoutRequest,
    immediate: true,
    reasonCode: 0,
    initiatorTaskTag: 7,
    cid: 1,
    cmdSN: 0x106,
    expStatSN: 0x204,
    ahs: [],
    data: Buffer.alloc(0),
  },
};

const snack: Vector = {
  name: 'SNACK Request, type Status',
  ahsLength: 0,
  bhs: bytes()
    .u8(0x10, 'opcode SNACK 0x10')
    .u8(0x80 | 0x01, '1 | Type=Status')
    .zeros(2, 'reserved')
    .u8(0, 'TotalAHSLength')
    .u24(0, 'DataSegmentLength')
    .hex(LUN0, 'LUN')
    .u32(0xffffffff, 'Initiator Task Tag')
    .u32(0, 'Target Transfer Tag / SNACK Tag')
    .zeros(4, 'reserved')
    .u32(0x205, 'ExpStatSN')
    .zeros(8, 'reserved')
    .u32(5, 'BegRun')
    .u32(2, 'RunLength'),
  pdu: {
    opcode: Opcode.Snack,
    type: 1,
    lun: 0,
    lunField: hexBuf(LUN0),
    initiatorTaskTag: 0xffffffff,
    targetTransferTag: 0,
    expStatSN: 0x205,
    begRun: 5,
    runLength: 2,
    ahs: [],
    data: Buffer.alloc(0),
  },
};

// ---------------------------------------------------------------- target PDUs

const nopIn: Vector = {
  name: 'NOP-In (target ping)',
  ahsLength: 0,
  bhs: bytes()
    .u8(0x20, 'opcode NOP-In 0x20')
    .u8(0x80, 'F (always 1)')
    .zeros(2, 'reserved')
    .u8(0, 'TotalAHSLength')
    .u24(0, 'DataSegmentLength')
    .hex(LUN0, 'LUN')
    .u32(0xffffffff, 'Initiator Task Tag')
    .u32(0x77, 'Target Transfer Tag')
    .u32(0x300, 'StatSN')
    .u32(0x107, 'ExpCmdSN')
    .u32(0x186, 'MaxCmdSN')
    .zeros(12, 'reserved'),
  pdu: {
    opcode: Opcode.NopIn,
    lun: 0,
    lunField: hexBuf(LUN0),
    initiatorTaskTag: 0xffffffff,
    targetTransferTag: 0x77,
    statSN: 0x300,
    expCmdSN: 0x107,
    maxCmdSN: 0x186,
    ahs: [],
    data: Buffer.alloc(0),
  },
};

// Fixed-format sense: ILLEGAL REQUEST, INVALID FIELD IN CDB (24h/00h).
const sense = hexBuf('70 00 05 00 00 00 00 0a 00 00 00 00 24 00 00 00 00 00');
const senseSegment = Buffer.concat([hexBuf('00 12'), sense]);
const scsiResponse: Vector = {
  name: 'SCSI Response CHECK CONDITION with sense data, residual underflow',
  ahsLength: 0,
  bhs: bytes()
    .u8(0x21, 'opcode SCSI Response 0x21')
    .u8(0x80 | 0x02, '1 | U (residual underflow)')
    .u8(0x00, 'Response: command completed at target')
    .u8(0x02, 'Status: CHECK CONDITION')
    .u8(0, 'TotalAHSLength')
    .u24(20, 'DataSegmentLength')
    .zeros(8, 'reserved')
    .u32(0x1234, 'Initiator Task Tag')
    .u32(0, 'SNACK Tag')
    .u32(0x301, 'StatSN')
    .u32(0x108, 'ExpCmdSN')
    .u32(0x187, 'MaxCmdSN')
    .u32(0, 'ExpDataSN')
    .u32(0, 'Bidirectional Read Residual Count')
    .u32(4096, 'Residual Count'),
  data: bytes().u16(18, 'SenseLength').bytes(sense, 'sense data (fixed format)'),
  pdu: {
    opcode: Opcode.ScsiResponse,
    bidiReadResidualOverflow: false,
    bidiReadResidualUnderflow: false,
    residualOverflow: false,
    residualUnderflow: true,
    response: 0,
    status: 2,
    initiatorTaskTag: 0x1234,
    snackTag: 0,
    statSN: 0x301,
    expCmdSN: 0x108,
    maxCmdSN: 0x187,
    expDataSN: 0,
    bidiReadResidualCount: 0,
    residualCount: 4096,
    ahs: [],
    data: senseSegment,
  },
};

const tmfResponse: Vector = {
  name: 'Task Management Function Response: function complete',
  ahsLength: 0,
  bhs: bytes()
    .u8(0x22, 'opcode Task Management Response 0x22')
    .u8(0x80, '1')
    .u8(0x00, 'Response: function complete')
    .zeros(1, 'reserved')
    .u8(0, 'TotalAHSLength')
    .u24(0, 'DataSegmentLength')
    .zeros(8, 'reserved')
    .u32(0x99, 'Initiator Task Tag')
    .zeros(4, 'reserved')
    .u32(0x302, 'StatSN')
    .u32(0x109, 'ExpCmdSN')
    .u32(0x188, 'MaxCmdSN')
    .zeros(12, 'reserved'),
  pdu: {
    opcode: Opcode.TaskMgmtResponse,
    response: 0,
    initiatorTaskTag: 0x99,
    statSN: 0x302,
    expCmdSN: 0x109,
    maxCmdSN: 0x188,
    ahs: [],
    data: Buffer.alloc(0),
  },
};

const loginReplyKeys = Buffer.from('TargetPortalGroupTag=1\0HeaderDigest=None\0');
const loginResponse: Vector = {
  name: 'Login Response success, transit to full feature',
  ahsLength: 0,
  bhs: bytes()
    .u8(0x23, 'opcode Login Response 0x23')
    .u8(0x80 | (1 << 2) | 3, 'T | CSG=1 | NSG=3')
    .u8(0x00, 'Version-max')
    .u8(0x00, 'Version-active')
    .u8(0, 'TotalAHSLength')
    .u24(loginReplyKeys.length, 'DataSegmentLength')
    .hex(ISID, 'ISID')
    .u16(0x0102, 'TSIH')
    .u32(0, 'Initiator Task Tag')
    .zeros(4, 'reserved')
    .u32(0x3000, 'StatSN')
    .u32(2, 'ExpCmdSN')
    .u32(33, 'MaxCmdSN')
    .u8(0x00, 'Status-Class success')
    .u8(0x00, 'Status-Detail')
    .zeros(10, 'reserved'),
  data: bytes().bytes(loginReplyKeys, 'text keys'),
  pdu: {
    opcode: Opcode.LoginResponse,
    transit: true,
    continue: false,
    csg: 1,
    nsg: 3,
    versionMax: 0,
    versionActive: 0,
    isid: hexBuf(ISID),
    tsih: 0x0102,
    initiatorTaskTag: 0,
    statSN: 0x3000,
    expCmdSN: 2,
    maxCmdSN: 33,
    statusClass: 0,
    statusDetail: 0,
    ahs: [],
    data: loginReplyKeys,
  },
};

const targetsReply = Buffer.from('TargetName=iqn.2024-01.com.example:t1\0TargetAddress=192.0.2.10:3260,1\0');
const textResponse: Vector = {
  name: 'Text Response to SendTargets',
  ahsLength: 0,
  bhs: bytes()
    .u8(0x24, 'opcode Text Response 0x24')
    .u8(0x80, 'F')
    .zeros(2, 'reserved')
    .u8(0, 'TotalAHSLength')
    .u24(targetsReply.length, 'DataSegmentLength')
    .hex(LUN0, 'LUN')
    .u32(5, 'Initiator Task Tag')
    .u32(0xffffffff, 'Target Transfer Tag')
    .u32(0x3001, 'StatSN')
    .u32(3, 'ExpCmdSN')
    .u32(34, 'MaxCmdSN')
    .zeros(12, 'reserved'),
  data: bytes().bytes(targetsReply, 'text keys'),
  pdu: {
    opcode: Opcode.TextResponse,
    final: true,
    continue: false,
    lun: 0,
    lunField: hexBuf(LUN0),
    initiatorTaskTag: 5,
    targetTransferTag: 0xffffffff,
    statSN: 0x3001,
    expCmdSN: 3,
    maxCmdSN: 34,
    ahs: [],
    data: targetsReply,
  },
};

const dataInPayload = pattern(509, 5);
const dataIn: Vector = {
  name: 'SCSI Data-In with status (F, S, U), 509 bytes',
  ahsLength: 0,
  bhs: bytes()
    .u8(0x25, 'opcode SCSI Data-In 0x25')
    .u8(0x80 | 0x02 | 0x01, 'F | U | S')
    .zeros(1, 'reserved')
    .u8(0x00, 'Status GOOD')
    .u8(0, 'TotalAHSLength')
    .u24(509, 'DataSegmentLength')
    .hex(LUN1, 'LUN 1')
    .u32(0x1234, 'Initiator Task Tag')
    .u32(0xffffffff, 'Target Transfer Tag')
    .u32(0x303, 'StatSN')
    .u32(0x10a, 'ExpCmdSN')
    .u32(0x189, 'MaxCmdSN')
    .u32(0, 'DataSN')
    .u32(0, 'Buffer Offset')
    .u32(3, 'Residual Count'),
  data: bytes().bytes(dataInPayload, 'read data'),
  pdu: {
    opcode: Opcode.DataIn,
    final: true,
    acknowledge: false,
    residualOverflow: false,
    residualUnderflow: true,
    statusPresent: true,
    status: 0,
    lun: 1,
    lunField: hexBuf(LUN1),
    initiatorTaskTag: 0x1234,
    targetTransferTag: 0xffffffff,
    statSN: 0x303,
    expCmdSN: 0x10a,
    maxCmdSN: 0x189,
    dataSN: 0,
    bufferOffset: 0,
    residualCount: 3,
    ahs: [],
    data: dataInPayload,
  },
};

const logoutResponse: Vector = {
  name: 'Logout Response closed successfully',
  ahsLength: 0,
  bhs: bytes()
    .u8(0x26, 'opcode Logout Response 0x26')
    .u8(0x80, '1')
    .u8(0x00, 'Response: closed successfully')
    .zeros(1, 'reserved')
    .u8(0, 'TotalAHSLength')
    .u24(0, 'DataSegmentLength')
    .zeros(8, 'reserved')
    .u32(7, 'Initiator Task Tag')
    .zeros(4, 'reserved')
    .u32(0x304, 'StatSN')
    .u32(0x10b, 'ExpCmdSN')
    .u32(0x18a, 'MaxCmdSN')
    .zeros(4, 'reserved')
    .u16(2, 'Time2Wait')
    .u16(20, 'Time2Retain')
    .zeros(4, 'reserved'),
  pdu: {
    opcode: Opcode.LogoutResponse,
    response: 0,
    initiatorTaskTag: 7,
    statSN: 0x304,
    expCmdSN: 0x10b,
    maxCmdSN: 0x18a,
    time2Wait: 2,
    time2Retain: 20,
    ahs: [],
    data: Buffer.alloc(0),
  },
};

const r2t: Vector = {
  name: 'Ready To Transfer (R2T)',
  ahsLength: 0,
  bhs: bytes()
    .u8(0x31, 'opcode R2T 0x31')
    .u8(0x80, '1')
    .zeros(2, 'reserved')
    .u8(0, 'TotalAHSLength')
    .u24(0, 'DataSegmentLength')
    .hex(LUN1, 'LUN 1')
    .u32(0x1235, 'Initiator Task Tag')
    .u32(0x55, 'Target Transfer Tag')
    .u32(0x305, 'StatSN')
    .u32(0x10c, 'ExpCmdSN')
    .u32(0x18b, 'MaxCmdSN')
    .u32(0, 'R2TSN')
    .u32(1024, 'Buffer Offset')
    .u32(65536, 'Desired Data Transfer Length'),
  pdu: {
    opcode: Opcode.R2T,
    lun: 1,
    lunField: hexBuf(LUN1),
    initiatorTaskTag: 0x1235,
    targetTransferTag: 0x55,
    statSN: 0x305,
    expCmdSN: 0x10c,
    maxCmdSN: 0x18b,
    r2tSN: 0,
    bufferOffset: 1024,
    desiredDataTransferLength: 65536,
    ahs: [],
    data: Buffer.alloc(0),
  },
};

const asyncSense = hexBuf('70 00 06 00 00 00 00 0a 00 00 00 00 3f 0e 00 00 00 00'); // REPORTED LUNS DATA HAS CHANGED
const asyncSegment = Buffer.concat([hexBuf('00 12'), asyncSense]);
const asyncMessage: Vector = {
  name: 'Asynchronous Message: SCSI async event with sense data',
  ahsLength: 0,
  bhs: bytes()
    .u8(0x32, 'opcode Asynchronous Message 0x32')
    .u8(0x80, '1')
    .zeros(2, 'reserved')
    .u8(0, 'TotalAHSLength')
    .u24(20, 'DataSegmentLength')
    .hex(LUN1, 'LUN 1')
    .u32(0xffffffff, 'Initiator Task Tag 0xffffffff')
    .zeros(4, 'reserved')
    .u32(0x306, 'StatSN')
    .u32(0x10d, 'ExpCmdSN')
    .u32(0x18c, 'MaxCmdSN')
    .u8(0, 'AsyncEvent SCSI async event')
    .u8(0, 'AsyncVCode')
    .u16(0x0102, 'Parameter1')
    .u16(0x0304, 'Parameter2')
    .u16(0x0506, 'Parameter3')
    .zeros(4, 'reserved'),
  data: bytes().u16(18, 'SenseLength').bytes(asyncSense, 'sense data'),
  pdu: {
    opcode: Opcode.AsyncMessage,
    lun: 1,
    lunField: hexBuf(LUN1),
    statSN: 0x306,
    expCmdSN: 0x10d,
    maxCmdSN: 0x18c,
    asyncEvent: 0,
    asyncVCode: 0,
    parameter1: 0x0102,
    parameter2: 0x0304,
    parameter3: 0x0506,
    ahs: [],
    data: asyncSegment,
  },
};

const rejectedHeader = tmfRequest.bhs.build();
const reject: Vector = {
  name: 'Reject (protocol error) carrying the rejected BHS',
  ahsLength: 0,
  bhs: bytes()
    .u8(0x3f, 'opcode Reject 0x3f')
    .u8(0x80, '1')
    .u8(0x04, 'Reason: protocol error')
    .zeros(1, 'reserved')
    .u8(0, 'TotalAHSLength')
    .u24(48, 'DataSegmentLength')
    .zeros(8, 'reserved')
    .u32(0xffffffff, 'Initiator Task Tag 0xffffffff')
    .zeros(4, 'reserved')
    .u32(0x307, 'StatSN')
    .u32(0x10e, 'ExpCmdSN')
    .u32(0x18d, 'MaxCmdSN')
    .u32(0, 'DataSN/R2TSN')
    .zeros(8, 'reserved'),
  data: bytes().bytes(rejectedHeader, 'header of the rejected PDU'),
  pdu: {
    opcode: Opcode.Reject,
    reason: 4,
    statSN: 0x307,
    expCmdSN: 0x10e,
    maxCmdSN: 0x18d,
    dataSN: 0,
    ahs: [],
    data: rejectedHeader,
  },
};

export const VECTORS: Vector[] = [
  nopOut,
  scsiRead,
  scsiWrite,
  scsiExtCdbBidi,
  scsiCdb32,
  scsiOddLun,
  tmfRequest,
  loginRequest,
  textRequest,
  dataOut,
  logoutRequest,
  snack,
  nopIn,
  scsiResponse,
  tmfResponse,
  loginResponse,
  textResponse,
  dataIn,
  logoutResponse,
  r2t,
  asyncMessage,
  reject,
];

export const V = {
  nopOut,
  scsiRead,
  scsiWrite,
  scsiExtCdbBidi,
  scsiCdb32,
  scsiOddLun,
  tmfRequest,
  loginRequest,
  textRequest,
  dataOut,
  logoutRequest,
  snack,
  nopIn,
  scsiResponse,
  tmfResponse,
  loginResponse,
  textResponse,
  dataIn,
  logoutResponse,
  r2t,
  asyncMessage,
  reject,
};
