import { describe, expect, it } from 'vitest';
import {
  formatPortal,
  formatSizeM,
  iqnFromName,
  parseLunId,
  parsePortal,
  parseSize,
  portalsConflict,
  resolveTargetIqn,
  validateIqn,
  validateUserName,
} from '../../src/cluster/validate.js';
import { MAX_CHAP_SECRET_BYTES, MIN_CHAP_SECRET_BYTES, validateChapSecret, validateChapSecretPair } from '../../src/cluster/secret-rules.js';
import { validateChapSecret as chapValidate } from '../../src/chap/chap.js';
import { generateNaa, generateSerial } from '../../src/cluster/ids.js';

const P = 'iqn.2014-04.com.vstorage';

describe('iSCSI names (RFC 3720 §3.2.6.3.1)', () => {
  it('builds the IQN from a name like the source document', () => {
    expect(iqnFromName(P, 'test1')).toBe('iqn.2014-04.com.vstorage:test1');
    expect(iqnFromName(P, 'PS1')).toBe('iqn.2014-04.com.vstorage:ps1');
  });
  it('accepts valid IQNs and lower-cases them', () => {
    expect(validateIqn('iqn.1994-05.com.redhat:c678b9f6f0')).toBe('iqn.1994-05.com.redhat:c678b9f6f0');
    expect(validateIqn('IQN.2014-04.COM.vstorage:Test1')).toBe('iqn.2014-04.com.vstorage:test1');
    expect(validateIqn('iqn.2001-04.com.example')).toBe('iqn.2001-04.com.example');
  });
  it.each([
    'iqn.2014-13.com.x:a',
    'iqn.14-04.com.x:a',
    'eui.0123456789abcdef',
    'iqn.2014-04.com.x:under_score',
    'iqn.2014-04.-com.x:a',
    'iqn.2014-04.com.x:sp ace',
    `iqn.2014-04.com.x:${'a'.repeat(220)}`,
  ])('refuses %s with ISCSI_ERR_BAD_IQN', (bad) => {
    expect(() => validateIqn(bad)).toThrow(expect.objectContaining({ code: 'ISCSI_ERR_BAD_IQN' }));
  });
  it('refuses bad names', () => {
    for (const n of ['', '-a', 'a_b', 'a/b', 'a:b', 'a.']) {
      expect(() => iqnFromName(P, n)).toThrow(expect.objectContaining({ code: 'ISCSI_ERR_BAD_NAME' }));
    }
  });
  it('-t accepts the short name or the IQN', () => {
    expect(resolveTargetIqn(P, 'test1')).toBe('iqn.2014-04.com.vstorage:test1');
    expect(resolveTargetIqn(P, 'iqn.2014-04.com.vstorage:test1')).toBe('iqn.2014-04.com.vstorage:test1');
  });
});

describe('portals', () => {
  it('parses IPv4 and IPv6 with optional ports', () => {
    expect(parsePortal('192.168.10.100')).toEqual({ address: '192.168.10.100', port: 3260, family: 4 });
    expect(parsePortal('192.168.10.100:3261')).toEqual({ address: '192.168.10.100', port: 3261, family: 4 });
    expect(parsePortal('FE80:0:0::1')).toEqual({ address: 'fe80::1', port: 3260, family: 6 });
    expect(parsePortal('[2001:db8::10]:860')).toEqual({ address: '2001:db8::10', port: 860, family: 6 });
    expect(parsePortal('[::1]')).toEqual({ address: '::1', port: 3260, family: 6 });
  });
  it.each(['host.example.com', '1.2.3', '256.1.1.1', '1.2.3.4:0', '1.2.3.4:70000', '1.2.3.4:x', '[::1', '[::1]x', '[1.2.3.4]:1', ''])(
    'refuses %s with ISCSI_ERR_BAD_ADDRESS',
    (bad) => {
      expect(() => parsePortal(bad)).toThrow(expect.objectContaining({ code: 'ISCSI_ERR_BAD_ADDRESS' }));
    },
  );
  it('detects conflicts including wildcards', () => {
    expect(portalsConflict({ address: '1.1.1.1', port: 3260 }, { address: '1.1.1.1', port: 3260 })).toBe(true);
    expect(portalsConflict({ address: '1.1.1.1', port: 3260 }, { address: '1.1.1.1', port: 3261 })).toBe(false);
    expect(portalsConflict({ address: '0.0.0.0', port: 3260 }, { address: '1.1.1.1', port: 3260 })).toBe(true);
  });
  it('formats like the source (port only when not 3260)', () => {
    expect(formatPortal({ address: '192.168.10.100', port: 3260 })).toBe('192.168.10.100');
    expect(formatPortal({ address: '10.0.0.1', port: 3261 })).toBe('10.0.0.1:3261');
    expect(formatPortal({ address: 'fe80::1', port: 3261 })).toBe('[fe80::1]:3261');
  });
});

describe('sizes', () => {
  it('parses binary units; 100G prints as 102400M like source 4.2.2', () => {
    expect(parseSize('100G')).toBe(100 * 2 ** 30);
    expect(formatSizeM(parseSize('100G'))).toBe('102400M');
    expect(parseSize('512M')).toBe(512 * 2 ** 20);
    expect(parseSize('1T')).toBe(2 ** 40);
    expect(parseSize('1gib')).toBe(2 ** 30);
    expect(parseSize('4096')).toBe(4096);
    expect(parseSize('16T')).toBe(16 * 2 ** 40);
  });
  it.each(['', '0', '-1G', '1.5G', '100X', '1025T', '1000', 'G'])('refuses %s with ISCSI_ERR_BAD_SIZE', (bad) => {
    expect(() => parseSize(bad)).toThrow(expect.objectContaining({ code: 'ISCSI_ERR_BAD_SIZE' }));
  });
  it('rounds Used up to whole MiB', () => {
    expect(formatSizeM(0)).toBe('0M');
    expect(formatSizeM(4096)).toBe('1M');
  });
});

describe('LUN IDs, users, secrets, identifiers', () => {
  it('LUN IDs are 0..255', () => {
    expect(parseLunId('1')).toBe(1);
    expect(parseLunId(0)).toBe(0);
    expect(parseLunId('255')).toBe(255);
    for (const b of ['256', '-1', 'x', '1.5', '']) {
      expect(() => parseLunId(b)).toThrow(expect.objectContaining({ code: 'ISCSI_ERR_BAD_LUN_ID' }));
    }
  });
  it('user names', () => {
    expect(validateUserName('user1')).toBe('user1');
    for (const b of ['', '../x', 'a/b', '.hidden', 'a b']) {
      expect(() => validateUserName(b)).toThrow(expect.objectContaining({ code: 'ISCSI_ERR_BAD_USER' }));
    }
  });
  it('CHAP secrets need at least 96 bits', () => {
    expect(() => validateChapSecret('short')).toThrow(expect.objectContaining({ code: 'ISCSI_ERR_BAD_SECRET' }));
    expect(() => validateChapSecret('12345678901')).toThrow(/at least 12 bytes/);
    expect(() => validateChapSecret('123456789012')).not.toThrow();
    expect(() => validateChapSecret('123456789012\n')).toThrow(/control/);
  });
  it('CHAP secrets: the store applies src/chap rules plus its own', () => {
    // At most 255 bytes, counted in UTF-8, as chap.ts and the login path.
    expect(() => validateChapSecret('x'.repeat(255))).not.toThrow();
    expect(() => validateChapSecret('x'.repeat(256))).toThrow(expect.objectContaining({ code: 'ISCSI_ERR_BAD_SECRET', message: expect.stringMatching(/255 bytes/) }));
    expect(() => validateChapSecret('é'.repeat(128))).toThrow(expect.objectContaining({ code: 'ISCSI_ERR_BAD_SECRET' }));
    for (const c of ['\t', '\r', '\u0000', '\u007f']) {
      expect(() => validateChapSecret(`good-secret-${c}-x`)).toThrow(expect.objectContaining({ code: 'ISCSI_ERR_BAD_SECRET', message: expect.stringMatching(/control/) }));
    }
    expect(() => validateChapSecret('short', 'CHAP secret of account user1')).toThrow(/^CHAP secret of account user1 is 5 bytes/);
    // Whatever chap.ts refuses (what logins refuse), the store refuses too.
    for (const secret of ['', 'a', '12345678901', 'x'.repeat(300)]) {
      expect(() => chapValidate(secret)).toThrow();
      expect(() => validateChapSecret(secret)).toThrow(expect.objectContaining({ code: 'ISCSI_ERR_BAD_SECRET' }));
    }
    expect(MIN_CHAP_SECRET_BYTES).toBe(12);
    expect(MAX_CHAP_SECRET_BYTES).toBe(255);
  });
  it('CHAP secret pairs must differ (RFC 7143 §9.2.1)', () => {
    expect(() => validateChapSecretPair('same-secret-1234', 'same-secret-1234')).toThrow(
      expect.objectContaining({ code: 'ISCSI_ERR_SECRET_REUSE' }),
    );
    expect(() => validateChapSecretPair('initiator-secret', 'short')).toThrow(expect.objectContaining({ code: 'ISCSI_ERR_BAD_SECRET' }));
    expect(() => validateChapSecretPair('initiator-secret', 'target-secret-1')).not.toThrow();
  });
  it('NAA 6 designators have 32 hex digits with our company ID', () => {
    const naa = generateNaa();
    expect(naa).toMatch(/^61ac51d[0-9a-f]{25}$/);
    expect(generateNaa()).not.toBe(naa);
    expect(generateSerial()).toMatch(/^[0-9a-f]{16}$/);
  });
});
