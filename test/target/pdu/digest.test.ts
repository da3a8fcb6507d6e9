/**
 * CRC32C digests: RFC 7143 Appendix B.4 vectors, byte order on the wire,
 * JS and native agreement, continuation, padding.
 */
import { crc32c as nativeCrc32c } from '@node-rs/crc32';
import { describe, expect, it } from 'vitest';
import {
  crc32c,
  crc32cJs,
  dataDigest,
  digestBytes,
  headerDigest,
  readDigest,
  writeDigest,
} from '../../../src/target/pdu/digest.js';
import { bytes, referenceCrc32c } from '../../helpers/annotated-bytes.js';
import { pattern } from './vectors.js';

/** RFC 7143 Appendix B.4: inputs and the CRC bytes as they appear on the wire. */
const APPENDIX_B4: { name: string; input: Buffer; wire: string }[] = [
  { name: '32 bytes of zeros', input: Buffer.alloc(32, 0x00), wire: 'aa 36 91 8a' },
  { name: '32 bytes of 0xff', input: Buffer.alloc(32, 0xff), wire: '43 ab a8 62' },
  { name: '32 incrementing bytes 00..1f', input: Buffer.from([...Array(32).keys()]), wire: '4e 79 dd 46' },
  { name: '32 decrementing bytes 1f..00', input: Buffer.from([...Array(32).keys()].reverse()), wire: '5c db 3f 11' },
  {
    name: 'an iSCSI SCSI Read (10) command PDU',
    input: bytes()
      .u8(0x01, 'opcode SCSI Command')
      .u8(0xc0, 'F | R')
      .zeros(2, 'reserved')
      .u8(0, 'TotalAHSLength')
      .u24(0, 'DataSegmentLength')
      .zeros(8, 'LUN')
      .u32(0x14000000, 'Initiator Task Tag')
      .u32(0x00000400, 'Expected Data Transfer Length')
      .u32(0x00000014, 'CmdSN')
      .u32(0x00000018, 'ExpStatSN')
      .hex('28 00 00 00 00 00 00 00 02 00 00 00 00 00 00 00', 'CDB READ(10)')
      .build(),
    wire: '56 3a 96 d9',
  },
];

const wireBytes = (h: string): Buffer => Buffer.from(h.replace(/\s+/g, ''), 'hex');

describe('CRC32C, RFC 7143 Appendix B.4', () => {
  it.each(APPENDIX_B4.map((t) => [t.name, t] as const))('%s', (_n, t) => {
    const expectedValue = wireBytes(t.wire).readUInt32LE(0);
    expect(crc32cJs(t.input)).toBe(expectedValue);
    expect(nativeCrc32c(t.input) >>> 0).toBe(expectedValue);
    expect(crc32c(t.input)).toBe(expectedValue);
    expect(referenceCrc32c(t.input)).toBe(expectedValue);
    expect(headerDigest(t.input)).toBe(expectedValue);
    // Written in wire order the bytes match the RFC's listing.
    expect(digestBytes(headerDigest(t.input)).equals(wireBytes(t.wire))).toBe(true);
  });

  it('the read command example is the 48-byte BHS', () => {
    expect(APPENDIX_B4[4].input.length).toBe(48);
  });

  it('check value of "123456789" is 0xe3069283', () => {
    expect(crc32cJs(Buffer.from('123456789'))).toBe(0xe3069283);
  });
});

describe('JS and native CRC32C agree', () => {
  it('on every length 0..300 and on large buffers', () => {
    for (let n = 0; n <= 300; n++) {
      const b = pattern(n, n);
      expect(crc32cJs(b), `length ${n}`).toBe(nativeCrc32c(b) >>> 0);
    }
    const big = pattern(256 * 1024 + 3, 7);
    expect(crc32cJs(big)).toBe(nativeCrc32c(big) >>> 0);
    expect(crc32c(big)).toBe(crc32cJs(big));
  });

  it('continue from a previous CRC: crc(b, crc(a)) === crc(a‖b)', () => {
    const a = pattern(77, 1);
    const b = pattern(1000, 2);
    const whole = crc32cJs(Buffer.concat([a, b]));
    expect(crc32cJs(b, 0, b.length, crc32cJs(a))).toBe(whole);
    expect(crc32c(b, crc32c(a))).toBe(whole);
    expect(crc32cJs(b, 0, b.length, nativeCrc32c(a))).toBe(whole);
  });

  it('crc32cJs honours start and end', () => {
    const b = pattern(100, 3);
    expect(crc32cJs(b, 10, 57)).toBe(crc32cJs(b.subarray(10, 57)));
  });
});

describe('dataDigest', () => {
  it('covers the data and its zero padding (RFC 7143 §11.2.4)', () => {
    for (const n of [1, 2, 3, 4, 5, 509, 1001, 4096]) {
      const data = pattern(n, n);
      const padded = Buffer.concat([data, Buffer.alloc((4 - (n % 4)) % 4)]);
      expect(dataDigest(data), `length ${n}`).toBe(referenceCrc32c(padded));
    }
  });

  it('uses the padding bytes as received when given', () => {
    const data = pattern(5, 1);
    const pad = Buffer.from([1, 2, 3]);
    expect(dataDigest(data, pad)).toBe(referenceCrc32c(Buffer.concat([data, pad])));
  });
});

describe('digest byte order helpers', () => {
  it('write and read are little-endian (wire order)', () => {
    const buf = Buffer.alloc(6);
    writeDigest(buf, 1, 0x8a9136aa);
    expect(buf.toString('hex')).toBe('00aa36918a00');
    expect(readDigest(buf, 1)).toBe(0x8a9136aa);
  });
});
