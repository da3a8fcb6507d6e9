/** Encoder contract: writev chunks, lengths, LUN echo, AHS generation, range errors. */
import { describe, expect, it } from 'vitest';
import { encodeBhsInto, encodePdu, senseDataSegment, NO_DIGESTS } from '../../../src/target/pdu/encode.js';
import { Opcode, type DataInPdu, type NopOutPdu, type ScsiCommandPdu } from '../../../src/target/pdu/types.js';
import { referenceCrc32c } from '../../helpers/annotated-bytes.js';
import { V, pattern } from './vectors.js';

const ON = { header: true, data: true };

describe('encodePdu chunks', () => {
  it('returns only the header when there is no data, even with digests on', () => {
    const chunks = encodePdu(V.r2t.pdu, ON);
    expect(chunks.length).toBe(1);
    expect(chunks[0].length).toBe(52);
  });

  it('returns [header, data] when the data is aligned and no data digest', () => {
    const chunks = encodePdu(V.textRequest.pdu, NO_DIGESTS); // 16 bytes of data
    expect(chunks.length).toBe(2);
    expect(chunks[0].length).toBe(48);
  });

  it('passes the data buffer itself, never a copy, never concatenated into the header', () => {
    const chunks = encodePdu(V.dataIn.pdu, ON);
    expect(chunks.length).toBe(3);
    expect(chunks[1]).toBe(V.dataIn.pdu.data);
    expect(chunks[0].length).toBe(52);
  });

  it('trailer is padding then data digest over data + padding', () => {
    const chunks = encodePdu(V.dataOut.pdu, ON); // 1001 bytes -> 3 bytes padding
    const trailer = chunks[2];
    expect(trailer.length).toBe(7);
    expect([...trailer.subarray(0, 3)]).toEqual([0, 0, 0]);
    const expected = referenceCrc32c(Buffer.concat([V.dataOut.pdu.data, Buffer.alloc(3)]));
    expect(trailer.readUInt32LE(3)).toBe(expected);
  });

  it('trailer is padding only without data digest', () => {
    const chunks = encodePdu(V.dataOut.pdu, NO_DIGESTS);
    expect(chunks[2].length).toBe(3);
  });

  it('sets DataSegmentLength and TotalAHSLength from the PDU', () => {
    const pdu: NopOutPdu = { ...(V.nopOut.pdu as NopOutPdu), data: pattern(70000) };
    const [header] = encodePdu(pdu, NO_DIGESTS);
    expect(header.readUIntBE(5, 3)).toBe(70000);
    const [cmdHeader] = encodePdu(V.scsiExtCdbBidi.pdu, NO_DIGESTS);
    expect(cmdHeader[4]).toBe(4);
  });

  it('header digest covers BHS + AHS', () => {
    const [header] = encodePdu(V.scsiCdb32.pdu, { header: true, data: false });
    const body = header.subarray(0, header.length - 4);
    expect(body.length).toBe(48 + 20);
    expect(header.readUInt32LE(header.length - 4)).toBe(referenceCrc32c(body));
  });
});

describe('SCSI Command AHS generation', () => {
  const base = V.scsiRead.pdu as ScsiCommandPdu;

  it('builds the Extended CDB AHS from a long cdb (RFC 7143 §11.2.2.3)', () => {
    const cdb = pattern(17, 4);
    const [header] = encodePdu({ ...base, cdb }, NO_DIGESTS);
    // AHSLength 17 - 15 = 2, type 1, reserved, CDB byte 16, then 3 bytes of padding: 2 words.
    expect(header[4]).toBe(2);
    expect(header.subarray(48).toString('hex')).toBe('00020100' + cdb.subarray(16).toString('hex') + '000000');
  });

  it('pads a short cdb with zeros in the BHS', () => {
    const [header] = encodePdu({ ...base, cdb: Buffer.from([0x00, 0x01]) }, NO_DIGESTS);
    expect(header.subarray(32, 48).toString('hex')).toBe('0001' + '00'.repeat(14));
  });

  it('fields win over stale type 1/2 segments in ahs; other segments follow', () => {
    const stale = Buffer.from('0005020000000001', 'hex');
    const vendor = Buffer.from('00013f77', 'hex'); // AHSLength 1, type 63, one byte
    const pdu: ScsiCommandPdu = { ...base, bidiReadExpectedLength: 9, ahs: [stale, vendor] };
    const [header] = encodePdu(pdu, NO_DIGESTS);
    expect(header[4]).toBe(3);
    expect(header.subarray(48).toString('hex')).toBe('0005020000000009' + '00013f77');
  });

  it('refuses an AHS whose AHSLength does not match its size', () => {
    const pdu = { ...V.nopIn.pdu, ahs: [Buffer.from('000a0100', 'hex')] };
    expect(() => encodePdu(pdu, NO_DIGESTS)).toThrow(RangeError);
  });

  it('refuses AHS over 1020 bytes', () => {
    const big = Buffer.alloc(1024);
    big.writeUInt16BE(1021, 0);
    const pdu = { ...V.nopIn.pdu, ahs: [big] };
    expect(() => encodePdu(pdu, NO_DIGESTS)).toThrow(/1020/);
  });
});

describe('LUN field', () => {
  const base = V.dataIn.pdu as DataInPdu;

  it('echoes lunField when it decodes to lun (e.g. flat addressing of a small LUN)', () => {
    const flat5 = Buffer.from('4005000000000000', 'hex');
    const [header] = encodePdu({ ...base, lun: 5, lunField: flat5 }, NO_DIGESTS);
    expect(header.subarray(8, 16).toString('hex')).toBe('4005000000000000');
  });

  it('echoes an undecodable lunField when lun is -1', () => {
    const odd = Buffer.from('c100000000000000', 'hex');
    const [header] = encodePdu({ ...base, lun: -1, lunField: odd }, NO_DIGESTS);
    expect(header.subarray(8, 16).toString('hex')).toBe('c100000000000000');
  });

  it('encodes lun when lunField is stale or empty', () => {
    const [a] = encodePdu({ ...base, lun: 7, lunField: Buffer.from('0001000000000000', 'hex') }, NO_DIGESTS);
    expect(a.subarray(8, 16).toString('hex')).toBe('0007000000000000');
    const [b] = encodePdu({ ...base, lun: 400, lunField: Buffer.alloc(0) }, NO_DIGESTS);
    expect(b.subarray(8, 16).toString('hex')).toBe('4190000000000000');
  });

  it('throws for lun -1 without a usable lunField', () => {
    expect(() => encodePdu({ ...base, lun: -1, lunField: Buffer.alloc(0) }, NO_DIGESTS)).toThrow(RangeError);
  });
});

describe('field checks', () => {
  it('throws on a data segment over 2^24-1 bytes', () => {
    const pdu = { ...V.dataIn.pdu, data: Buffer.alloc(0x1000000) };
    expect(() => encodePdu(pdu, NO_DIGESTS)).toThrow(/24-bit/);
  });

  it('throws on a 32-bit field out of range', () => {
    const pdu = { ...V.r2t.pdu, statSN: 2 ** 32 };
    expect(() => encodePdu(pdu, NO_DIGESTS)).toThrow(RangeError);
  });

  it('throws on an ISID that is not 6 bytes', () => {
    const pdu = { ...V.loginResponse.pdu, isid: Buffer.alloc(5) };
    expect(() => encodePdu(pdu, NO_DIGESTS)).toThrow(/ISID/);
  });

  it('writes the reserved tag 0xffffffff as ITT of Reject and Async Message', () => {
    expect(encodePdu(V.reject.pdu, NO_DIGESTS)[0].readUInt32BE(16)).toBe(0xffffffff);
    expect(encodePdu(V.asyncMessage.pdu, NO_DIGESTS)[0].readUInt32BE(16)).toBe(0xffffffff);
  });

  it('leaves Data-In status reserved (0) without the S bit', () => {
    const pdu: DataInPdu = { ...(V.dataIn.pdu as DataInPdu), statusPresent: false, status: 2 };
    const [header] = encodePdu(pdu, NO_DIGESTS);
    expect(header[1] & 0x01).toBe(0);
    expect(header[3]).toBe(0);
  });
});

describe('encodeBhsInto', () => {
  it('writes exactly 48 bytes at an offset, clearing reserved bytes', () => {
    const buf = Buffer.alloc(100, 0xee);
    encodeBhsInto(V.r2t.pdu, buf, 10);
    expect(buf.subarray(0, 10).every((b) => b === 0xee)).toBe(true);
    expect(buf.subarray(58).every((b) => b === 0xee)).toBe(true);
    expect(buf.subarray(10, 58).equals(encodePdu(V.r2t.pdu, NO_DIGESTS)[0])).toBe(true);
  });

  it('refuses a buffer without room', () => {
    expect(() => encodeBhsInto(V.r2t.pdu, Buffer.alloc(50), 4)).toThrow(RangeError);
  });
});

describe('senseDataSegment', () => {
  it('prefixes SenseLength (RFC 7143 §11.4.7.2)', () => {
    const sense = Buffer.from('700005000000000a00000000240000000000', 'hex');
    const seg = senseDataSegment(sense);
    expect(seg.toString('hex')).toBe('0012' + sense.toString('hex'));
    expect(seg.equals(V.scsiResponse.pdu.data)).toBe(true);
  });

  it('works with encodePdu: padding added by the encoder', () => {
    const seg = senseDataSegment(Buffer.alloc(17, 1)); // 19 bytes -> 1 byte padding
    const chunks = encodePdu({ ...V.scsiResponse.pdu, data: seg }, NO_DIGESTS);
    expect(chunks[0].readUIntBE(5, 3)).toBe(19);
    expect(chunks[2].length).toBe(1);
  });
});

describe('opcodes', () => {
  it('every vector encodes its opcode in byte 0', () => {
    for (const v of Object.values(V)) {
      const [header] = encodePdu(v.pdu, NO_DIGESTS);
      expect(header[0] & 0x3f).toBe(v.pdu.opcode);
    }
    expect(Opcode.Reject).toBe(0x3f);
  });
});
