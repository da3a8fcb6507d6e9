/**
 * Errors of the host-attach toolkit: a stable code (DESIGN.md §9) and a
 * message that says what to do. The CLI prints `vstorage-iscsi: MESSAGE (CODE)`
 * and exits with status 1.
 */
export type HostAttachErrorCode =
  /** Neither iscsiadm nor multipath could be run, and no recorded output was given. */
  | 'ISCSI_ERR_HOST_TOOLS_MISSING'
  /** iscsiadm or multipath ran but failed (not "no sessions"). */
  | 'ISCSI_ERR_HOST_TOOL_FAILED'
  /** Recorded output is unreadable or is not what the option names. */
  | 'ISCSI_ERR_HOST_BAD_INPUT'
  /** --write would replace a file that already exists (use --force). */
  | 'ISCSI_ERR_HOST_FILE_EXISTS'
  /** --write could not create or write the directory or a file. */
  | 'ISCSI_ERR_HOST_WRITE_FAILED';

export class HostAttachError extends Error {
  readonly code: HostAttachErrorCode;

  constructor(code: HostAttachErrorCode, message: string) {
    super(message);
    this.name = 'HostAttachError';
    this.code = code;
  }
}
