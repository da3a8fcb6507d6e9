/** The 8-byte LUN field (SAM-5 §4.7): peripheral and flat space addressing. */
import { describe, expect, it } from 'vitest';
import { MAX_LUN, decodeLun, encodeLun, encodeLunInto } from '../../../src/target/pdu/lun.js';

const hex = (h: string): Buffer => Buffer.from(h.replace(/\s+/g, ''), 'hex');

describe('decodeLun', () => {
  it.each([
    ['00 00 00 00 00 00 00 00', 0, 'peripheral LUN 0'],
    ['00 01 00 00 00 00 00 00', 1, 'peripheral LUN 1'],
    ['00 ff 00 00 00 00 00 00', 255, 'peripheral LUN 255'],
    ['40 00 00 00 00 00 00 00', 0, 'flat LUN 0'],
    ['40 05 00 00 00 00 00 00', 5, 'flat LUN 5 (small LUN in flat form still decodes)'],
    ['41 00 00 00 00 00 00 00', 256, 'flat LUN 256'],
    ['41 2c 00 00 00 00 00 00', 300, 'flat LUN 300'],
    ['7f ff 00 00 00 00 00 00', 16383, 'flat LUN 16383'],
    ['01 00 00 00 00 00 00 00', -1, 'peripheral with bus identifier 1'],
    ['80 01 00 00 00 00 00 00', -1, 'logical unit addressing (10b)'],
    ['c1 00 00 00 00 00 00 00', -1, 'extended addressing (11b)'],
    ['00 01 00 02 00 00 00 00', -1, 'second level present'],
    ['00 01 00 00 00 00 00 01', -1, 'non-zero last byte'],
  ])('%s -> %i (%s)', (field, lun) => {
    expect(decodeLun(hex(field))).toBe(lun);
  });

  it('reads at an offset and refuses a short buffer', () => {
    const buf = Buffer.concat([Buffer.alloc(8, 0xee), hex('00 07 00 00 00 00 00 00')]);
    expect(decodeLun(buf, 8)).toBe(7);
    expect(decodeLun(Buffer.alloc(4))).toBe(-1);
  });
});

describe('encodeLun', () => {
  it('uses peripheral addressing below 256 and flat space addressing above', () => {
    expect(encodeLun(0).toString('hex')).toBe('0000000000000000');
    expect(encodeLun(255).toString('hex')).toBe('00ff000000000000');
    expect(encodeLun(256).toString('hex')).toBe('4100000000000000');
    expect(encodeLun(300).toString('hex')).toBe('412c000000000000');
    expect(encodeLun(MAX_LUN).toString('hex')).toBe('7fff000000000000');
  });

  it('round trips every LUN', () => {
    for (let lun = 0; lun <= MAX_LUN; lun++) expect(decodeLun(encodeLun(lun))).toBe(lun);
  });

  it('writes in place, clearing the lower levels', () => {
    const buf = Buffer.alloc(12, 0xaa);
    encodeLunInto(2, buf, 2);
    expect(buf.toString('hex')).toBe('aaaa0002000000000000aaaa');
  });

  it.each([-1, 16384, 1.5, Number.NaN])('rejects %s with a RangeError', (lun) => {
    expect(() => encodeLun(lun)).toThrow(RangeError);
  });
});
