import { createHash } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import * as nodeCrypto from 'node:crypto';
import {
  CHAP_ALGORITHMS,
  ChapError,
  MIN_CHAP_SECRET_BYTES,
  challengeLength,
  chapResponse,
  chapResponsesEqual,
  decodeChapBinary,
  decodeChapIdentifier,
  encodeChapBinary,
  selectChapAlgorithm,
  validateChapSecret,
  validateChapSecretPair,
  type ChapAlgorithmId,
} from '../../src/chap/chap.js';
import { ChapAuthError, ChapTargetExchange } from '../../src/chap/target-exchange.js';
import { ChapInitiator, chapHash, decodeBinary } from './helpers/chap-initiator.js';

const ID = 0x2a;
const SECRET = 'correct horse battery';
const CHALLENGE = Buffer.from(Array.from({ length: 32 }, (_, i) => 0x10 + i));

// Known answers computed outside Node (Python hashlib) for H(0x2a || SECRET || 0x10..0x2f).
const KNOWN: Record<ChapAlgorithmId, string> = {
  5: '98407c34b93fdfc23d921ef3aa09f686',
  6: '0043777528fc41965e95105b8d7321a786f7cb5e',
  7: '148a0e8ea51f8a10eeda629066595ed591b77264c39dc243ed74d97664880942',
  8: 'c312cc02ac951141c1ba541eaec17fa541f472756aaf977816f52af8a50adf85',
};
const NODE_HASH: Record<ChapAlgorithmId, string> = { 5: 'md5', 6: 'sha1', 7: 'sha256', 8: 'sha3-256' };

function counter(seed: number): (n: number) => Buffer {
  let v = seed;
  return (n) => Buffer.from(Array.from({ length: n }, () => v++ & 0xff));
}

describe('CHAP algorithms (IANA PPP Authentication Algorithms numbers)', () => {
  it('numbers 5, 6, 7, 8 are MD5, SHA-1, SHA-256, SHA3-256', () => {
    expect(CHAP_ALGORITHMS[5].name).toBe('MD5');
    expect(CHAP_ALGORITHMS[6].name).toBe('SHA-1');
    expect(CHAP_ALGORITHMS[7].name).toBe('SHA-256');
    expect(CHAP_ALGORITHMS[8].name).toBe('SHA3-256');
  });

  for (const alg of [5, 6, 7, 8] as ChapAlgorithmId[]) {
    it(`algorithm ${alg}: response matches the known answer and an independent computation`, () => {
      const r = chapResponse(alg, ID, SECRET, CHALLENGE);
      expect(r.toString('hex')).toBe(KNOWN[alg]);
      const independent = createHash(NODE_HASH[alg]).update(Buffer.concat([Buffer.of(ID), Buffer.from(SECRET), CHALLENGE])).digest();
      expect(r.equals(independent)).toBe(true);
      expect(r.length).toBe(CHAP_ALGORITHMS[alg].digestLength);
      expect(chapHash(alg, ID, SECRET, CHALLENGE).equals(r)).toBe(true);
    });
  }

  it('identifier out of range is a programming error', () => {
    expect(() => chapResponse(5, 256, SECRET, CHALLENGE)).toThrow(RangeError);
    expect(() => chapResponse(5, -1, SECRET, CHALLENGE)).toThrow(RangeError);
  });

  it('challenges are at least the digest length and at least 16 bytes', () => {
    expect(challengeLength(5)).toBe(16);
    expect(challengeLength(6)).toBe(20);
    expect(challengeLength(7)).toBe(32);
    expect(challengeLength(8)).toBe(32);
  });
});

describe('CHAP_A selection', () => {
  it('takes the first algorithm of the initiator list that we support', () => {
    expect(selectChapAlgorithm(['7', '6', '5'])).toBe(7);
    expect(selectChapAlgorithm(['5', '7'])).toBe(5);
    expect(selectChapAlgorithm(['8', '7'])).toBe(8);
  });
  it('skips values we do not know or do not allow', () => {
    expect(selectChapAlgorithm(['129', 'foo', '6'])).toBe(6);
    expect(selectChapAlgorithm(['7', '5'], [5])).toBe(5);
    expect(selectChapAlgorithm(['0x07'])).toBe(7);
  });
  it('none supported -> undefined', () => {
    expect(selectChapAlgorithm(['128', '129'])).toBeUndefined();
    expect(selectChapAlgorithm(['5'], [7, 8])).toBeUndefined();
  });
});

describe('CHAP binary values', () => {
  it('hex and base64 encodings decode to the same bytes', () => {
    const b = Buffer.from('00ff10a5', 'hex');
    expect(encodeChapBinary(b)).toBe('0x00ff10a5');
    expect(encodeChapBinary(b, 'base64')).toBe('0b' + b.toString('base64'));
    expect(decodeChapBinary('CHAP_R', '0x00FF10A5').equals(b)).toBe(true);
    expect(decodeChapBinary('CHAP_R', '0X00ff10a5').equals(b)).toBe(true);
    expect(decodeChapBinary('CHAP_R', '0b' + b.toString('base64')).equals(b)).toBe(true);
    expect(decodeChapBinary('CHAP_R', '0B' + b.toString('base64')).equals(b)).toBe(true);
  });
  it('malformed values are refused', () => {
    for (const v of ['', '0x', '00ff', '0xzz', '0b!!!!', 'abc', '0b QQ==']) {
      expect(() => decodeChapBinary('CHAP_R', v), v).toThrow(ChapError);
    }
  });
  it('CHAP_I is 0-255', () => {
    expect(decodeChapIdentifier('0')).toBe(0);
    expect(decodeChapIdentifier('255')).toBe(255);
    expect(decodeChapIdentifier('0x10')).toBe(16);
    expect(() => decodeChapIdentifier('256')).toThrow(ChapError);
    expect(() => decodeChapIdentifier('-1')).toThrow(ChapError);
    expect(() => decodeChapIdentifier('x')).toThrow(ChapError);
  });
});

describe('secrets', () => {
  it('refuses secrets shorter than 96 bits with a clear message', () => {
    expect(MIN_CHAP_SECRET_BYTES).toBe(12);
    expect(() => validateChapSecret('short')).toThrow(/at least 12 bytes \(96 bits/);
    expect(() => validateChapSecret('12345678901')).toThrow(ChapError);
    expect(() => validateChapSecret('')).toThrow(ChapError);
    expect(() => validateChapSecret('123456789012')).not.toThrow();
    // Bytes, not characters: 6 two-byte characters are 12 bytes.
    expect(() => validateChapSecret('éééééé')).not.toThrow();
    expect(() => validateChapSecret('x'.repeat(256))).toThrow(ChapError);
  });
  it('the error names what the secret is for', () => {
    expect(() => validateChapSecret('abc', 'CHAP secret of user alice')).toThrow(/^CHAP secret of user alice is 3 bytes/);
    try {
      validateChapSecret('abc');
    } catch (e) {
      expect((e as ChapError).code).toBe('CHAP_ERR_WEAK_SECRET');
    }
  });
  it('refuses the same secret in both directions', () => {
    expect(() => validateChapSecretPair('same-secret-1234', 'same-secret-1234')).toThrow(/must differ/);
    expect(() => validateChapSecretPair('initiator-secret1', 'target-secret-123')).not.toThrow();
  });
});

describe('constant-time comparison', () => {
  it('compares equal and unequal values', () => {
    const a = Buffer.from('0011223344556677', 'hex');
    expect(chapResponsesEqual(a, Buffer.from(a))).toBe(true);
    expect(chapResponsesEqual(a, Buffer.from('0011223344556678', 'hex'))).toBe(false);
    expect(chapResponsesEqual(a, a.subarray(0, 7))).toBe(false);
    expect(chapResponsesEqual(a, Buffer.alloc(0))).toBe(false);
  });
  it('uses crypto.timingSafeEqual for the response check, even for a wrong length', async () => {
    vi.resetModules();
    const calls: number[] = [];
    vi.doMock('node:crypto', async () => {
      const real = await vi.importActual<typeof nodeCrypto>('node:crypto');
      return {
        ...real,
        timingSafeEqual: (x: NodeJS.ArrayBufferView, y: NodeJS.ArrayBufferView) => {
          calls.push(x.byteLength);
          return real.timingSafeEqual(x, y);
        },
      };
    });
    const mod = await import('../../src/chap/chap.js');
    const a = Buffer.alloc(16, 1);
    expect(mod.chapResponsesEqual(a, Buffer.alloc(16, 1))).toBe(true);
    expect(mod.chapResponsesEqual(a, Buffer.alloc(3))).toBe(false);
    expect(calls).toEqual([16, 16]);
    vi.doUnmock('node:crypto');
    vi.resetModules();
  });
});

describe('ChapTargetExchange', () => {
  const chap = { user: 'alice', secret: 'alice-secret-0001' };
  const mutual = { user: 'disk1', secret: 'target-secret-0002' };

  function exchange(opts: { mutual?: boolean; encoding?: 'hex' | 'base64'; algorithms?: ChapAlgorithmId[] } = {}) {
    return new ChapTargetExchange(
      { chap, mutual: opts.mutual ? mutual : undefined },
      { random: counter(0xa0), encoding: opts.encoding, algorithms: opts.algorithms },
    );
  }
  const asMap = (pairs: { key: string; value: string }[]) => new Map(pairs.map((p) => [p.key, p.value]));
  const toInput = (pairs: [string, string][]) => Object.fromEntries(pairs);

  for (const alg of [5, 6, 7, 8] as ChapAlgorithmId[]) {
    it(`one-way CHAP with algorithm ${alg}`, () => {
      const t = exchange();
      const challenge = asMap(t.start(`${alg}`));
      expect(challenge.get('CHAP_A')).toBe(String(alg));
      expect(challenge.get('CHAP_I')).toBe(String(0xa0)); // first random byte
      const c = decodeBinary(challenge.get('CHAP_C')!);
      expect(c.length).toBe(challengeLength(alg));
      expect(c[0]).toBe(0xa1); // deterministic: follows the identifier
      const ini = new ChapInitiator(chap);
      const r = t.verify(toInput(ini.respond(challenge)));
      expect(r).toEqual({ pairs: [], mutual: false, user: 'alice' });
    });
  }

  it('accepts a base64 response and sends base64 when asked', () => {
    const t = exchange({ encoding: 'base64' });
    const challenge = asMap(t.start('7'));
    expect(challenge.get('CHAP_C')!.startsWith('0b')).toBe(true);
    const ini = new ChapInitiator({ ...chap, encoding: 'base64' });
    expect(t.verify(toInput(ini.respond(challenge))).mutual).toBe(false);
  });

  it('mutual CHAP: the target answers the initiator challenge with the mutual secret', () => {
    const t = exchange({ mutual: true });
    const challenge = asMap(t.start('8,7'));
    expect(challenge.get('CHAP_A')).toBe('8');
    const ini = new ChapInitiator({ ...chap, mutual: { ...mutual, identifier: 3 } });
    const r = t.verify(toInput(ini.respond(challenge)));
    expect(r.mutual).toBe(true);
    expect(ini.verifyTarget(asMap(r.pairs))).toBe(true);
    expect(asMap(r.pairs).get('CHAP_N')).toBe('disk1');
  });

  it('refuses a reflected challenge', () => {
    const t = exchange({ mutual: true });
    const challenge = asMap(t.start('5'));
    const ini = new ChapInitiator({ ...chap, mutual: { ...mutual, challenge: decodeBinary(challenge.get('CHAP_C')!) } });
    expect(() => t.verify(toInput(ini.respond(challenge)))).toThrow(expect.objectContaining({ code: 'CHAP_ERR_REFLECTED_CHALLENGE' }));
  });

  it('mutual requested without a mutual secret configured', () => {
    const t = exchange();
    const challenge = asMap(t.start('5'));
    const ini = new ChapInitiator({ ...chap, mutual });
    expect(() => t.verify(toInput(ini.respond(challenge)))).toThrow(expect.objectContaining({ code: 'CHAP_ERR_NO_MUTUAL_SECRET' }));
  });

  it('wrong secret and wrong user fail', () => {
    let t = exchange();
    let challenge = asMap(t.start('7'));
    expect(() => t.verify(toInput(new ChapInitiator({ user: 'alice', secret: 'wrong-secret-9999' }).respond(challenge)))).toThrow(
      expect.objectContaining({ code: 'CHAP_ERR_BAD_RESPONSE' }),
    );
    t = exchange();
    challenge = asMap(t.start('7'));
    expect(() => t.verify(toInput(new ChapInitiator({ user: 'mallory', secret: chap.secret }).respond(challenge)))).toThrow(
      expect.objectContaining({ code: 'CHAP_ERR_UNKNOWN_USER' }),
    );
  });

  it('protocol misuse: no algorithm, repeated CHAP_A, response before challenge, half a mutual request', () => {
    expect(() => exchange().start('128,129')).toThrow(expect.objectContaining({ code: 'CHAP_ERR_NO_ALGORITHM' }));
    expect(() => exchange({ algorithms: [7] }).start('5')).toThrow(ChapAuthError);
    const t = exchange();
    t.start('5');
    expect(() => t.start('5')).toThrow(expect.objectContaining({ code: 'CHAP_ERR_PROTOCOL' }));
    expect(() => exchange().verify({ CHAP_N: 'alice', CHAP_R: '0x00' })).toThrow(expect.objectContaining({ code: 'CHAP_ERR_PROTOCOL' }));
    const t2 = exchange({ mutual: true });
    const challenge = asMap(t2.start('5'));
    const pairs = new ChapInitiator(chap).respond(challenge);
    expect(() => t2.verify({ ...toInput(pairs), CHAP_I: '1' })).toThrow(expect.objectContaining({ code: 'CHAP_ERR_PROTOCOL' }));
    const t3 = exchange();
    t3.start('5');
    expect(() => t3.verify({ CHAP_N: 'alice', CHAP_R: 'nothex' })).toThrow(expect.objectContaining({ code: 'CHAP_ERR_PROTOCOL' }));
    const t4 = exchange();
    t4.start('5');
    expect(() => t4.verify({ CHAP_N: 'alice' })).toThrow(expect.objectContaining({ code: 'CHAP_ERR_PROTOCOL' }));
  });

  it('a response of the wrong length is simply wrong', () => {
    const t = exchange();
    t.start('7');
    expect(() => t.verify({ CHAP_N: 'alice', CHAP_R: '0x0102' })).toThrow(expect.objectContaining({ code: 'CHAP_ERR_BAD_RESPONSE' }));
  });
});
