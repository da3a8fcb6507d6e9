import { describe, expect, it } from 'vitest';
import { encodeDescriptorSense, encodeFixedSense, encodeSense } from '../../src/scsi/sense.js';
import { CheckCondition, invalidFieldInCdb, invalidFieldInParameterList, lbaOutOfRange } from '../../src/scsi/check-condition.js';
import { decodeSense } from './helpers.js';

describe('sense encoding (SPC-4 §4.5)', () => {
  it('fixed format: ILLEGAL REQUEST / INVALID FIELD IN CDB with field pointer byte 2 bit 5', () => {
    const s = encodeFixedSense({ key: 0x5, asc: 0x24, ascq: 0x00, field: { cdb: true, byte: 2, bit: 5 } });
    expect([...s]).toEqual([
      0x70, 0x00, 0x05, 0, 0, 0, 0, 0x0a, // response code, key, INFORMATION, additional length 10
      0, 0, 0, 0, // COMMAND-SPECIFIC INFORMATION
      0x24, 0x00, 0x00, // ASC, ASCQ, FRU
      0xcd, 0x00, 0x02, // SKSV | C/D | BPV | bit 5, field pointer 2
    ]);
  });

  it('fixed format: INFORMATION sets VALID', () => {
    const s = encodeFixedSense({ key: 0xe, asc: 0x1d, ascq: 0, information: 0x01020304 });
    expect(s[0]).toBe(0xf0);
    expect([...s.subarray(3, 7)]).toEqual([1, 2, 3, 4]);
    expect(s[2]).toBe(0x0e);
    expect(s[12]).toBe(0x1d);
    expect(s[15]).toBe(0); // no sense-key specific data
  });

  it('fixed format: parameter list field pointer has C/D = 0 and no BPV without a bit', () => {
    const s = encodeFixedSense({ key: 5, asc: 0x26, ascq: 0, field: { cdb: false, byte: 0x1234 } });
    expect([...s.subarray(15, 18)]).toEqual([0x80, 0x12, 0x34]);
  });

  it('descriptor format: header and sense key specific descriptor', () => {
    const s = encodeDescriptorSense({ key: 0x5, asc: 0x24, ascq: 0x00, field: { cdb: true, byte: 1, bit: 7 } });
    expect([...s]).toEqual([0x72, 0x05, 0x24, 0x00, 0, 0, 0, 8, 0x02, 0x06, 0, 0, 0xcf, 0x00, 0x01, 0]);
  });

  it('descriptor format: information descriptor holds 64-bit values', () => {
    const s = encodeDescriptorSense({ key: 0xe, asc: 0x1d, ascq: 0, information: 2 ** 40 + 5 });
    expect([...s.subarray(0, 8)]).toEqual([0x72, 0x0e, 0x1d, 0, 0, 0, 0, 12]);
    expect([...s.subarray(8, 12)]).toEqual([0x00, 0x0a, 0x80, 0x00]);
    expect(s.readBigUInt64BE(12)).toBe(2n ** 40n + 5n);
  });

  it('encodeSense switches format; decoder round trip', () => {
    for (const desc of [false, true]) {
      const d = decodeSense(encodeSense({ key: 6, asc: 0x2a, ascq: 0x09 }, desc));
      expect(d).toMatchObject({ format: desc ? 'descriptor' : 'fixed', key: 6, asc: 0x2a, ascq: 0x09 });
    }
  });

  it('CheckCondition helpers carry the right codes', () => {
    const a = invalidFieldInCdb(7, 7);
    expect([a.senseKey, a.asc, a.ascq]).toEqual([5, 0x24, 0]);
    expect(a.detail.field).toEqual({ cdb: true, byte: 7, bit: 7 });
    const b = invalidFieldInParameterList(3);
    expect([b.asc, b.detail.field?.cdb]).toEqual([0x26, false]);
    const c = lbaOutOfRange(99);
    expect([c.asc, c.detail.information]).toEqual([0x21, 99]);
    expect(CheckCondition.of(6, 0x3f0e).ascq).toBe(0x0e);
  });
});
