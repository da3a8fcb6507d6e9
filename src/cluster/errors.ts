/**
 * Errors of the cluster store and its tools carry a stable code (DESIGN.md §9)
 * and a message a person can act on.
 */
export type ClusterErrorCode =
  | 'ISCSI_ERR_CONFIG'
  | 'ISCSI_ERR_NO_ROOT'
  | 'ISCSI_ERR_ROOT_MISSING'
  | 'ISCSI_ERR_BAD_HOST_ID'
  | 'ISCSI_ERR_BAD_IQN'
  | 'ISCSI_ERR_BAD_NAME'
  | 'ISCSI_ERR_BAD_DESCRIPTION'
  | 'ISCSI_ERR_BAD_ADDRESS'
  | 'ISCSI_ERR_NO_PORTAL'
  | 'ISCSI_ERR_DUPLICATE_PORTAL'
  | 'ISCSI_ERR_PORTAL_IN_USE'
  | 'ISCSI_ERR_BAD_SIZE'
  | 'ISCSI_ERR_BAD_BLOCK_SIZE'
  | 'ISCSI_ERR_BAD_CLUSTER_SIZE'
  | 'ISCSI_ERR_BAD_FORMAT'
  | 'ISCSI_ERR_BAD_IMAGE'
  | 'ISCSI_ERR_SIZE_NOT_LARGER'
  | 'ISCSI_ERR_BAD_LUN_ID'
  | 'ISCSI_ERR_LUN_EXISTS'
  | 'ISCSI_ERR_LUN_NOT_FOUND'
  | 'ISCSI_ERR_TARGET_EXISTS'
  | 'ISCSI_ERR_TARGET_NOT_FOUND'
  | 'ISCSI_ERR_TARGET_RUNNING'
  | 'ISCSI_ERR_TARGET_REMOTE'
  | 'ISCSI_ERR_NOT_REGISTERED'
  | 'ISCSI_ERR_ALREADY_REGISTERED'
  | 'ISCSI_ERR_BAD_USER'
  | 'ISCSI_ERR_BAD_INITIATOR'
  | 'ISCSI_ERR_BAD_SECRET'
  | 'ISCSI_ERR_SECRET_REUSE'
  | 'ISCSI_ERR_MUTUAL_NEEDS_ACCOUNT'
  | 'ISCSI_ERR_PASSWORD_MISMATCH'
  | 'ISCSI_ERR_ACCOUNT_EXISTS'
  | 'ISCSI_ERR_ACCOUNT_NOT_FOUND'
  | 'ISCSI_ERR_ACCOUNT_IN_USE'
  | 'ISCSI_ERR_LOCK_TIMEOUT'
  | 'ISCSI_ERR_CORRUPT_RECORD'
  | 'ISCSI_ERR_DAEMON_UNAVAILABLE'
  | 'ISCSI_ERR_DAEMON_PROTOCOL'
  | 'ISCSI_ERR_SESSIONS_ACTIVE'
  | 'ISCSI_ERR_BAD_REQUEST'
  | 'ISCSI_ERR_BAD_ALUA_STATE'
  | 'ISCSI_ERR_GROUP_NOT_FOUND'
  | 'ISCSI_ERR_PORTAL_NOT_FOUND'
  | 'ISCSI_ERR_TARGET_NOT_RUNNING'
  | 'ISCSI_ERR_LUN_ONLINE'
  | 'ISCSI_ERR_BAD_UUID'
  | 'ISCSI_ERR_SNAPSHOT_NOT_FOUND'
  | 'ISCSI_ERR_SNAPSHOT_CHAIN'
  | 'ISCSI_ERR_INTERNAL';

export class ClusterError extends Error {
  readonly code: ClusterErrorCode;
  /** Extra data for callers (e.g. the sessions that block a stop). */
  readonly details?: Record<string, unknown>;

  constructor(code: ClusterErrorCode, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = 'ClusterError';
    this.code = code;
    if (details) this.details = details;
  }
}

export function isClusterError(e: unknown, code?: ClusterErrorCode): e is ClusterError {
  return e instanceof ClusterError && (code === undefined || e.code === code);
}

/** Node system errors carry `code` strings such as 'ENOENT'. */
export function errnoCode(e: unknown): string | undefined {
  if (e && typeof e === 'object' && 'code' in e && typeof (e as { code: unknown }).code === 'string') {
    return (e as { code: string }).code;
  }
  return undefined;
}
