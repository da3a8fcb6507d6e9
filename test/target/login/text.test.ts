import { describe, expect, it } from 'vitest';
import {
  TextAccumulator,
  TextFormatError,
  chunkTextData,
  decodeBinaryValue,
  decodeTextPairs,
  encodeTextData,
  encodeTextPairs,
  parseBoolean,
  parseNumber,
  parseTextData,
  splitList,
} from '../../../src/target/login/text.js';

const b = (s: string) => Buffer.from(s, 'utf8');
const code = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    return (e as TextFormatError).code;
  }
  return 'no error';
};

describe('parseTextData (RFC 7143 §6.1)', () => {
  it('parses NUL-terminated pairs in order', () => {
    expect(parseTextData(b('InitiatorName=iqn.x\0AuthMethod=CHAP,None\0'))).toEqual([
      { key: 'InitiatorName', value: 'iqn.x' },
      { key: 'AuthMethod', value: 'CHAP,None' },
    ]);
  });
  it('keeps "=" inside values and allows empty values', () => {
    expect(parseTextData(b('X-a=b=c\0TargetAlias=\0'))).toEqual([
      { key: 'X-a', value: 'b=c' },
      { key: 'TargetAlias', value: '' },
    ]);
  });
  it('empty data and stray NULs are fine', () => {
    expect(parseTextData(Buffer.alloc(0))).toEqual([]);
    expect(parseTextData(b('A=1\0\0\0'))).toEqual([{ key: 'A', value: '1' }]);
  });
  it('UTF-8 values', () => {
    expect(parseTextData(b('InitiatorAlias=hôte-δ\0'))[0]!.value).toBe('hôte-δ');
    expect(code(() => parseTextData(Buffer.from([0x41, 0x3d, 0xff, 0x00])))).toBe('ISCSI_ERR_TEXT_ENCODING');
  });
  it('errors have stable codes', () => {
    expect(code(() => parseTextData(b('A=1')))).toBe('ISCSI_ERR_TEXT_UNTERMINATED');
    expect(code(() => parseTextData(b('novalue\0')))).toBe('ISCSI_ERR_TEXT_SYNTAX');
    expect(code(() => parseTextData(b('=x\0')))).toBe('ISCSI_ERR_TEXT_SYNTAX');
    expect(code(() => parseTextData(b('A=1\0A=2\0')))).toBe('ISCSI_ERR_TEXT_DUPLICATE_KEY');
  });
  it('key names up to 63 bytes', () => {
    expect(parseTextData(b(`${'K'.repeat(63)}=1\0`))).toHaveLength(1);
    expect(code(() => parseTextData(b(`${'K'.repeat(64)}=1\0`)))).toBe('ISCSI_ERR_TEXT_KEY_TOO_LONG');
  });
  it('values up to 255 bytes, 8192 for CHAP_C/CHAP_R', () => {
    expect(parseTextData(b(`TargetAlias=${'v'.repeat(255)}\0`))).toHaveLength(1);
    expect(code(() => parseTextData(b(`TargetAlias=${'v'.repeat(256)}\0`)))).toBe('ISCSI_ERR_TEXT_VALUE_TOO_LONG');
    expect(parseTextData(b(`CHAP_C=0x${'a'.repeat(8190)}\0`))).toHaveLength(1);
    expect(code(() => parseTextData(b(`CHAP_R=0x${'a'.repeat(8191)}\0`)))).toBe('ISCSI_ERR_TEXT_VALUE_TOO_LONG');
  });
  it('duplicates allowed on request (SendTargets responses)', () => {
    const data = b('TargetName=a\0TargetAddress=1\0TargetName=b\0TargetAddress=2\0');
    expect(parseTextData(data, { allowDuplicates: true })).toHaveLength(4);
  });
});

describe('encodeTextData', () => {
  it('round-trips pairs and tuples', () => {
    const data = encodeTextData([{ key: 'A', value: '1' }, ['B', 'x=y']]);
    expect(data.toString('latin1')).toBe('A=1\0B=x=y\0');
    expect(decodeTextPairs(encodeTextPairs([['A', '1'], ['B', '2']]))).toEqual([
      ['A', '1'],
      ['B', '2'],
    ]);
  });
  it('refuses keys it cannot encode', () => {
    expect(() => encodeTextData([['', 'x']])).toThrow(TextFormatError);
    expect(() => encodeTextData([['A=B', 'x']])).toThrow(TextFormatError);
    expect(() => encodeTextData([['A', 'x\0']])).toThrow(TextFormatError);
  });
});

describe('TextAccumulator (C bit)', () => {
  it('joins pieces split anywhere, even inside a key', () => {
    const full = b('InitiatorName=iqn.x\0TargetName=iqn.y\0');
    for (let cut = 0; cut <= full.length; cut++) {
      const acc = new TextAccumulator();
      expect(acc.append(full.subarray(0, cut), true)).toBeUndefined();
      expect(acc.pending).toBe(true);
      const all = acc.append(full.subarray(cut), false)!;
      expect(all.equals(full)).toBe(true);
      expect(acc.pending).toBe(false);
    }
  });
  it('three pieces; the input buffers may be reused afterwards', () => {
    const acc = new TextAccumulator();
    const piece = b('A=1');
    acc.append(piece, true);
    piece.fill(0x5a);
    acc.append(b('23\0B'), true);
    expect(acc.append(b('=4\0'), false)!.toString()).toBe('A=123\0B=4\0');
  });
  it('refuses more than the limit and resets', () => {
    const acc = new TextAccumulator(10);
    acc.append(b('A=12345'), true);
    expect(code(() => acc.append(b('67890'), true))).toBe('ISCSI_ERR_TEXT_TOO_LONG');
    expect(acc.pending).toBe(false);
    expect(acc.append(b('B=1\0'), false)!.toString()).toBe('B=1\0');
  });
});

describe('chunkTextData', () => {
  it('splits into pieces of at most max bytes', () => {
    const data = Buffer.alloc(20000, 0x41);
    const chunks = chunkTextData(data, 8192);
    expect(chunks.map((c) => c.length)).toEqual([8192, 8192, 3616]);
    expect(Buffer.concat(chunks).equals(data)).toBe(true);
    expect(chunkTextData(Buffer.alloc(0), 8192)).toEqual([Buffer.alloc(0)]);
    expect(() => chunkTextData(data, 0)).toThrow(RangeError);
  });
});

describe('value types', () => {
  it('numbers: decimal, hex, base64', () => {
    expect(parseNumber('8192')).toBe(8192);
    expect(parseNumber('0x2000')).toBe(8192);
    expect(parseNumber('0X2000')).toBe(8192);
    expect(parseNumber('0b' + Buffer.from([0x20, 0x00]).toString('base64'))).toBe(8192);
    expect(parseNumber('007')).toBe(7);
    for (const bad of ['', '-1', '1.5', '12a', '0x', ' 1', '0xg', '99999999999999999999']) expect(parseNumber(bad), bad).toBeUndefined();
  });
  it('binary values', () => {
    expect(decodeBinaryValue('0xabc')!.toString('hex')).toBe('0abc');
    expect(decodeBinaryValue('0bAAEC')!.toString('hex')).toBe('000102');
    expect(decodeBinaryValue('0bAAE')).toBeUndefined();
    expect(decodeBinaryValue('abc')).toBeUndefined();
  });
  it('booleans are exactly Yes or No', () => {
    expect(parseBoolean('Yes')).toBe(true);
    expect(parseBoolean('No')).toBe(false);
    expect(parseBoolean('yes')).toBeUndefined();
    expect(parseBoolean('1')).toBeUndefined();
  });
  it('lists', () => {
    expect(splitList('CRC32C,None')).toEqual(['CRC32C', 'None']);
    expect(splitList('None')).toEqual(['None']);
  });
});
