/**
 * Rules for CHAP secrets an administrator stores (accounts in ISCSI_ROOT),
 * on top of what the login path enforces (chap.ts validateChapSecret):
 *
 * - at least 12 bytes (96 bits) and at most 255 bytes: chap.ts, which the
 *   login state machine also applies, so a stored secret is never one that
 *   logins would then refuse;
 * - no control characters: secrets are typed at a prompt or read as one line
 *   of standard input, and initiators' configuration files are line based;
 * - a pair (one-way secret, mutual secret) must differ (RFC 7143 §9.2.1):
 *   chap.ts validateChapSecretPair.
 *
 * Errors are ChapError; src/cluster/secret-rules.ts turns them into the
 * store's ClusterError codes.
 */
import { ChapError, validateChapSecret, validateChapSecretPair } from './chap.js';

export { MAX_CHAP_SECRET_BYTES, MIN_CHAP_SECRET_BYTES } from './chap.js';

// eslint-disable-next-line no-control-regex
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f]/;

/**
 * Check a secret before it is stored.
 *
 * @param label what the secret is for, used in messages ("CHAP secret of account user1")
 * @throws ChapError CHAP_ERR_WEAK_SECRET (length) or CHAP_ERR_BAD_VALUE (control characters)
 */
export function validateStoredChapSecret(secret: string, label = 'CHAP secret'): void {
  validateChapSecret(secret, label);
  if (CONTROL_CHARACTERS.test(secret)) {
    throw new ChapError('CHAP_ERR_BAD_VALUE', `${label} must not contain control characters (tabs, newlines, ...)`);
  }
}

/**
 * Check the secrets of a target's one-way account (initiator authentication)
 * and mutual account (target authentication): each valid, and different.
 *
 * @throws ChapError CHAP_ERR_SECRET_REUSE when they are equal
 */
export function validateStoredChapSecretPair(initiatorSecret: string, targetSecret: string): void {
  validateStoredChapSecret(initiatorSecret, 'CHAP secret (initiator authentication)');
  validateStoredChapSecret(targetSecret, 'mutual CHAP secret (target authentication)');
  validateChapSecretPair(initiatorSecret, targetSecret);
}
