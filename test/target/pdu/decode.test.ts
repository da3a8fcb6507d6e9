/** Decoder errors and edge cases: typed PduFormatError with stable codes and Reject reasons. */
import { describe, expect, it } from 'vitest';
import { RejectReason } from '../../../src/target/pdu/constants.js';
import { PduFormatError, decodePdu } from '../../../src/target/pdu/decode.js';
import { Opcode, type DataInPdu, type ScsiCommandPdu } from '../../../src/target/pdu/types.js';
import { bytes } from '../../helpers/annotated-bytes.js';
import { V } from './vectors.js';

const EMPTY = Buffer.alloc(0);

function catchError(fn: () => unknown): PduFormatError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(PduFormatError);
    return err as PduFormatError;
  }
  throw new Error('expected a PduFormatError');
}

/** A SCSI Command BHS declaring `ahsWords` words of AHS and no data. */
function commandBhs(ahsWords: number): Buffer {
  const b = V.scsiRead.bhs.build();
  b[4] = ahsWords;
  return b;
}

describe('decodePdu errors', () => {
  it.each([0x07, 0x1c, 0x27, 0x3e])('unknown opcode 0x%s -> ISCSI_ERR_UNKNOWN_OPCODE, Command not supported', (op) => {
    const bhs = Buffer.alloc(48);
    bhs[0] = op;
    const err = catchError(() => decodePdu(bhs, EMPTY, EMPTY));
    expect(err.code).toBe('ISCSI_ERR_UNKNOWN_OPCODE');
    expect(err.rejectReason).toBe(RejectReason.CommandNotSupported);
    expect(err.reason).toBe(RejectReason.CommandNotSupported);
    expect(err.opcode).toBe(op);
    expect(err.formatError).toBe(false); // §7.7 excludes the opcode from format errors
    expect(err.message).toMatch(/unknown iSCSI opcode/);
  });

  it('a BHS shorter than 48 bytes', () => {
    expect(catchError(() => decodePdu(Buffer.alloc(47), EMPTY, EMPTY)).code).toBe('ISCSI_ERR_BAD_LENGTH');
  });

  it('data length different from DataSegmentLength', () => {
    const err = catchError(() => decodePdu(V.nopOut.bhs.build(), EMPTY, Buffer.alloc(4)));
    expect(err.code).toBe('ISCSI_ERR_BAD_LENGTH');
  });

  it('AHS length different from TotalAHSLength', () => {
    expect(catchError(() => decodePdu(commandBhs(1), EMPTY, EMPTY)).code).toBe('ISCSI_ERR_BAD_AHS');
  });

  it('an AHS that overruns TotalAHSLength', () => {
    const ahs = bytes().u16(9, 'AHSLength 9 (needs 12 bytes)').u8(1, 'type').u8(0, 'reserved').zeros(4, '…').build();
    const err = catchError(() => decodePdu(commandBhs(2), ahs, EMPTY));
    expect(err.code).toBe('ISCSI_ERR_BAD_AHS');
    expect(err.rejectReason).toBe(RejectReason.InvalidPduField);
    expect(err.formatError).toBe(true); // RFC 7143 §7.7
  });

  it('an Extended CDB AHS too short to extend the CDB', () => {
    const ahs = bytes().u16(1, 'AHSLength 1').u8(1, 'type Extended CDB').u8(0, 'reserved').build();
    expect(catchError(() => decodePdu(commandBhs(1), ahs, EMPTY)).code).toBe('ISCSI_ERR_BAD_AHS');
  });

  it('a Bidirectional AHS with the wrong length', () => {
    const ahs = bytes().u16(4, 'AHSLength 4 (must be 5)').u8(2, 'type Bidi').u8(0, 'reserved').zeros(4, '…').build();
    expect(catchError(() => decodePdu(commandBhs(2), ahs, EMPTY)).code).toBe('ISCSI_ERR_BAD_AHS');
  });

  it('two Extended CDB AHS', () => {
    const one = bytes().u16(3, 'AHSLength').u8(1, 'type').u8(0, 'reserved').u16(0x1011, 'CDB 16-17').zeros(2, 'pad');
    const ahs = bytes().append(one).append(one).build();
    expect(catchError(() => decodePdu(commandBhs(4), ahs, EMPTY)).message).toMatch(/more than one Extended CDB/);
  });

  it('two Bidirectional AHS', () => {
    const one = bytes().u16(5, 'AHSLength').u8(2, 'type').u8(0, 'reserved').u32(1, 'length');
    const ahs = bytes().append(one).append(one).build();
    expect(catchError(() => decodePdu(commandBhs(4), ahs, EMPTY)).code).toBe('ISCSI_ERR_BAD_AHS');
  });
});

describe('decodePdu edge cases', () => {
  it('keeps unknown AHS types raw and ignores them', () => {
    const ahs = bytes().u16(1, 'AHSLength 1').u8(0x3f, 'type 63').u8(0x99, 'specific').build();
    const pdu = decodePdu(commandBhs(1), ahs, EMPTY) as ScsiCommandPdu;
    expect(pdu.ahs.map((a) => a.toString('hex'))).toEqual(['00013f99']);
    expect(pdu.cdb.length).toBe(16);
    expect(pdu.bidiReadExpectedLength).toBeUndefined();
  });

  it('reads the AHS type from the low 6 bits (RFC 7143 §11.2.2.2)', () => {
    const ahs = bytes().u16(5, 'AHSLength').u8(0xc2, 'reserved bits | type 2').u8(0, 'reserved').u32(77, 'len').build();
    expect((decodePdu(commandBhs(2), ahs, EMPTY) as ScsiCommandPdu).bidiReadExpectedLength).toBe(77);
  });

  it('ignores the reserved bit 7 of byte 0', () => {
    const bhs = V.r2t.bhs.build();
    bhs[0] |= 0x80;
    expect(decodePdu(bhs, EMPTY, EMPTY).opcode).toBe(Opcode.R2T);
  });

  it('accepts a BHS longer than 48 bytes (a header with its digest)', () => {
    const bhs = Buffer.concat([V.r2t.bhs.build(), Buffer.alloc(4, 0xff)]);
    expect(decodePdu(bhs, EMPTY, EMPTY)).toEqual(V.r2t.pdu);
  });

  it('decodes Data-In flags individually', () => {
    const bhs = V.dataIn.bhs.build();
    bhs[1] = 0x40 | 0x04; // A | O
    bhs[5] = bhs[6] = bhs[7] = 0;
    const pdu = decodePdu(bhs, EMPTY, EMPTY) as DataInPdu;
    expect([pdu.final, pdu.acknowledge, pdu.residualOverflow, pdu.residualUnderflow, pdu.statusPresent]).toEqual([
      false,
      true,
      true,
      false,
      false,
    ]);
  });

  it('decodes Login continue bit and stages', () => {
    const bhs = V.loginRequest.bhs.build();
    bhs[1] = 0x40 | (0 << 2) | 1; // C, CSG=0, NSG=1
    bhs[5] = bhs[6] = bhs[7] = 0;
    const pdu = decodePdu(bhs, EMPTY, EMPTY);
    expect(pdu).toMatchObject({ transit: false, continue: true, csg: 0, nsg: 1 });
  });

  it('decodes every SCSI Response residual flag', () => {
    const bhs = V.scsiResponse.bhs.build();
    bhs[1] = 0x80 | 0x10 | 0x08 | 0x04;
    bhs[5] = bhs[6] = bhs[7] = 0;
    expect(decodePdu(bhs, EMPTY, EMPTY)).toMatchObject({
      bidiReadResidualOverflow: true,
      bidiReadResidualUnderflow: true,
      residualOverflow: true,
      residualUnderflow: false,
    });
  });
});
