/**
 * CHAP secret policy, kept here until src/chap/secret-policy.ts exports
 * `validateChapSecret` with the same rule (then this file forwards to it).
 *
 * RFC 7143 §12.1.3 (CHAP): "the secret MUST be at least 96 bits" for CHAP used
 * without IPsec, i.e. 12 bytes. We also cap the length at 255 bytes, which
 * is what common initiators (open-iscsi, Windows) accept, and refuse control
 * characters because secrets are typed at a prompt or read as a line.
 */
import { ClusterError } from './errors.js';

export const MIN_CHAP_SECRET_BYTES = 12;
export const MAX_CHAP_SECRET_BYTES = 255;

export function validateChapSecret(secret: string): void {
  const n = Buffer.byteLength(secret, 'utf8');
  if (n < MIN_CHAP_SECRET_BYTES) {
    throw new ClusterError(
      'ISCSI_ERR_BAD_SECRET',
      `CHAP secret is too short (${n} bytes): it must be at least ${MIN_CHAP_SECRET_BYTES} bytes (96 bits, RFC 7143 §12.1.3)`,
    );
  }
  if (n > MAX_CHAP_SECRET_BYTES) {
    throw new ClusterError('ISCSI_ERR_BAD_SECRET', `CHAP secret is too long (${n} bytes): at most ${MAX_CHAP_SECRET_BYTES} bytes`);
  }
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(secret)) {
    throw new ClusterError('ISCSI_ERR_BAD_SECRET', 'CHAP secret must not contain control characters');
  }
}
