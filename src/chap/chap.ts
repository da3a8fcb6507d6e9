/**
 * CHAP primitives (RFC 1994 §4.1, as profiled for iSCSI by RFC 7143 §12.1.3).
 *
 * Response = H(Identifier || secret || Challenge), where Identifier is one
 * byte and H is the algorithm negotiated with CHAP_A. Algorithm numbers are
 * those of IANA's "PPP Authentication Algorithms" registry that RFC 7143
 * §12.1.3 refers to: 5 = MD5 (RFC 1994), 6 = SHA-1, 7 = SHA-256,
 * 8 = SHA3-256 (the same numbers Linux's iSCSI target and open-iscsi use).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { decodeBinaryValue, encodeBase64Value, encodeHexValue, parseNumber } from '../target/login/text.js';

export type ChapAlgorithmId = 5 | 6 | 7 | 8;

export interface ChapAlgorithm {
  readonly id: ChapAlgorithmId;
  readonly name: string;
  /** node:crypto hash name. */
  readonly hash: string;
  /** Digest length in bytes. */
  readonly digestLength: number;
}

export const CHAP_ALGORITHMS: Readonly<Record<ChapAlgorithmId, ChapAlgorithm>> = Object.freeze({
  5: Object.freeze({ id: 5, name: 'MD5', hash: 'md5', digestLength: 16 }),
  6: Object.freeze({ id: 6, name: 'SHA-1', hash: 'sha1', digestLength: 20 }),
  7: Object.freeze({ id: 7, name: 'SHA-256', hash: 'sha256', digestLength: 32 }),
  8: Object.freeze({ id: 8, name: 'SHA3-256', hash: 'sha3-256', digestLength: 32 }),
} as const);

/** All algorithms we implement. */
export const SUPPORTED_CHAP_ALGORITHMS: readonly ChapAlgorithmId[] = Object.freeze([5, 6, 7, 8] as ChapAlgorithmId[]);

/**
 * RFC 7143 §9.2.1 (CHAP considerations) asks for random CHAP secrets of at
 * least 96 bits (12 bytes) when the link is not otherwise protected: a
 * shorter secret falls to an offline dictionary attack on one captured
 * exchange. We refuse anything shorter.
 */
export const MIN_CHAP_SECRET_BYTES = 12;
/** Upper bound we accept for a secret (keeps configuration and hashing sane). */
export const MAX_CHAP_SECRET_BYTES = 255;
/** Smallest challenge we send, whatever the digest (RFC 1994 §2.3 asks for unpredictable, sufficiently long challenges). */
export const MIN_CHAP_CHALLENGE_BYTES = 16;
/** Largest challenge we accept from an initiator (mutual CHAP). */
export const MAX_CHAP_CHALLENGE_BYTES = 1024;

export type ChapErrorCode =
  /** A secret that is too short, too long or empty. */
  | 'CHAP_ERR_WEAK_SECRET'
  /** The same secret configured for both directions (RFC 7143 §9.2.1). */
  | 'CHAP_ERR_SECRET_REUSE'
  /** A malformed CHAP key value. */
  | 'CHAP_ERR_BAD_VALUE';

export class ChapError extends Error {
  override readonly name = 'ChapError';
  constructor(
    readonly code: ChapErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export function isChapAlgorithmId(n: number): n is ChapAlgorithmId {
  return n === 5 || n === 6 || n === 7 || n === 8;
}

/**
 * Check a CHAP secret before it is stored or used. Exported for the CLI.
 *
 * @param label what the secret is for, used in the message ("CHAP secret of user alice")
 * @throws ChapError CHAP_ERR_WEAK_SECRET
 */
export function validateChapSecret(secret: string, label = 'CHAP secret'): void {
  const bytes = Buffer.byteLength(secret, 'utf8');
  if (bytes < MIN_CHAP_SECRET_BYTES) {
    throw new ChapError(
      'CHAP_ERR_WEAK_SECRET',
      `${label} is ${bytes} bytes long; use at least ${MIN_CHAP_SECRET_BYTES} bytes (96 bits, RFC 7143 §9.2.1), ` +
        'preferably a random string of 16 or more characters',
    );
  }
  if (bytes > MAX_CHAP_SECRET_BYTES) {
    throw new ChapError('CHAP_ERR_WEAK_SECRET', `${label} is ${bytes} bytes long; the limit is ${MAX_CHAP_SECRET_BYTES} bytes`);
  }
}

/**
 * Check a one-way/mutual pair: each secret valid, and not the same secret in
 * both directions (RFC 7143 §9.2.1: a secret used to authenticate initiators
 * must not be used to authenticate targets; otherwise a reflected challenge
 * lets an attacker use the target as an oracle).
 *
 * @throws ChapError
 */
export function validateChapSecretPair(initiatorSecret: string, targetSecret: string): void {
  validateChapSecret(initiatorSecret, 'CHAP secret (initiator authentication)');
  validateChapSecret(targetSecret, 'mutual CHAP secret (target authentication)');
  if (initiatorSecret === targetSecret) {
    throw new ChapError(
      'CHAP_ERR_SECRET_REUSE',
      'the mutual CHAP secret must differ from the CHAP secret (RFC 7143 §9.2.1)',
    );
  }
}

/** RFC 1994 §4.1: H(Identifier || secret || Challenge). */
export function chapResponse(
  algorithm: ChapAlgorithmId,
  identifier: number,
  secret: string | Buffer,
  challenge: Buffer,
): Buffer {
  if (!Number.isInteger(identifier) || identifier < 0 || identifier > 255) {
    throw new RangeError(`CHAP identifier must be 0-255, got ${identifier}`);
  }
  const h = createHash(CHAP_ALGORITHMS[algorithm].hash);
  h.update(Buffer.of(identifier));
  h.update(typeof secret === 'string' ? Buffer.from(secret, 'utf8') : secret);
  h.update(challenge);
  return h.digest();
}

/**
 * RFC 7143 §12.1.3: the initiator offers CHAP_A as a list; the target picks
 * one. We take the first entry of the initiator's list that we support, which
 * honours the initiator's order of preference (open-iscsi lists its
 * algorithms strongest first). Entries that are not numbers are ignored
 * (RFC 7143 §6.2.1: unknown list values are ignored).
 */
export function selectChapAlgorithm(
  offered: readonly string[],
  supported: readonly ChapAlgorithmId[] = SUPPORTED_CHAP_ALGORITHMS,
): ChapAlgorithmId | undefined {
  for (const v of offered) {
    const n = parseNumber(v.trim());
    if (n !== undefined && isChapAlgorithmId(n) && supported.includes(n)) return n;
  }
  return undefined;
}

/** Challenge length we send for an algorithm: the digest length, at least 16 bytes. */
export function challengeLength(algorithm: ChapAlgorithmId): number {
  return Math.max(MIN_CHAP_CHALLENGE_BYTES, CHAP_ALGORITHMS[algorithm].digestLength);
}

/** Encode CHAP_C / CHAP_R (RFC 7143 §12.1.3: binary values, §6.1 encodings). */
export function encodeChapBinary(bytes: Buffer, encoding: 'hex' | 'base64' = 'hex'): string {
  return encoding === 'hex' ? encodeHexValue(bytes) : encodeBase64Value(bytes);
}

/**
 * Decode CHAP_C / CHAP_R, hex (`0x`) or base64 (`0b`).
 * @throws ChapError CHAP_ERR_BAD_VALUE
 */
export function decodeChapBinary(key: string, value: string): Buffer {
  const b = decodeBinaryValue(value);
  if (!b || b.length === 0) {
    throw new ChapError('CHAP_ERR_BAD_VALUE', `${key} is not a hex (0x...) or base64 (0b...) binary value`);
  }
  return b;
}

/**
 * Decode CHAP_I (RFC 7143 §12.1.3: a numerical value 0-255).
 * @throws ChapError CHAP_ERR_BAD_VALUE
 */
export function decodeChapIdentifier(value: string): number {
  const n = parseNumber(value);
  if (n === undefined || n > 255) {
    throw new ChapError('CHAP_ERR_BAD_VALUE', `CHAP_I must be a number from 0 to 255, got "${value.slice(0, 32)}"`);
  }
  return n;
}

/**
 * Compare a received response with the expected one in time that does not
 * depend on where they differ (crypto.timingSafeEqual). A length mismatch is
 * compared against the expected value itself so the work done is the same.
 */
export function chapResponsesEqual(expected: Buffer, received: Buffer): boolean {
  if (received.length !== expected.length) {
    timingSafeEqual(expected, expected);
    return false;
  }
  return timingSafeEqual(expected, received);
}
