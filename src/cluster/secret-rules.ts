/**
 * CHAP secret rules of the store: one policy for the whole project, in
 * src/chap/secret-policy.ts (length limits of chap.ts, RFC 7143 §9.2.1, plus
 * no control characters), reported with the store's stable codes:
 *   ISCSI_ERR_BAD_SECRET    a secret too short, too long or with control characters
 *   ISCSI_ERR_SECRET_REUSE  the same secret for initiator and target authentication
 */
import { ChapError } from '../chap/chap.js';
import { validateStoredChapSecret, validateStoredChapSecretPair } from '../chap/secret-policy.js';
import { ClusterError } from './errors.js';

export { MAX_CHAP_SECRET_BYTES, MIN_CHAP_SECRET_BYTES } from '../chap/secret-policy.js';

function asClusterError(e: unknown): unknown {
  if (!(e instanceof ChapError)) return e;
  return new ClusterError(e.code === 'CHAP_ERR_SECRET_REUSE' ? 'ISCSI_ERR_SECRET_REUSE' : 'ISCSI_ERR_BAD_SECRET', e.message);
}

/** @throws ClusterError ISCSI_ERR_BAD_SECRET */
export function validateChapSecret(secret: string, label?: string): void {
  try {
    validateStoredChapSecret(secret, label);
  } catch (e) {
    throw asClusterError(e);
  }
}

/** @throws ClusterError ISCSI_ERR_BAD_SECRET or ISCSI_ERR_SECRET_REUSE */
export function validateChapSecretPair(initiatorSecret: string, targetSecret: string): void {
  try {
    validateStoredChapSecretPair(initiatorSecret, targetSecret);
  } catch (e) {
    throw asClusterError(e);
  }
}
