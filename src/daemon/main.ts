#!/usr/bin/env node
/**
 * vstorage-iscsid: the node daemon (DESIGN.md §1). Runs in the foreground,
 * logs to stderr, serves the targets registered to this node and the local
 * control socket used by `vstorage-iscsi`. Configuration: see
 * src/cluster/config.ts and packaging/config.example.
 */
// DESIGN.md §8: keep the libuv thread pool small; set before first use.
process.env.UV_THREADPOOL_SIZE ??= '4';

import { createTargetEngine } from '../target/engine.js';
import { runDaemon } from './run.js';

const USAGE = `Usage: vstorage-iscsid

Runs the iSCSI target daemon in the foreground (stop it with SIGTERM or Ctrl-C).
Configuration is read from /etc/vstorage/iscsi/config (or the file named by
ISCSI_CONFIG); the environment variables ISCSI_ROOT, ISCSI_RUN_DIR,
ISCSI_STATE_DIR, ISCSI_HOST_ID, ISCSI_IQN_PREFIX, ISCSI_DISCOVERY_ACCOUNT,
ISCSI_DISCOVERY_MUTUAL_ACCOUNT, ISCSI_LOG_LEVEL and ISCSI_LOCK_TIMEOUT
override it.
`;

const args = process.argv.slice(2);
if (args.includes('-h') || args.includes('--help')) {
  process.stdout.write(USAGE);
  process.exit(0);
}
if (args.length > 0) {
  process.stderr.write(`vstorage-iscsid: unexpected argument '${args[0]}'\n${USAGE}`);
  process.exit(2);
}

process.on('uncaughtException', (e) => {
  process.stderr.write(`${new Date().toISOString()} ERROR uncaught exception, exiting: ${e.stack ?? e.message}\n`);
  process.exit(70);
});
process.on('unhandledRejection', (e) => {
  process.stderr.write(`${new Date().toISOString()} ERROR unhandled rejection, exiting: ${(e as Error)?.stack ?? String(e)}\n`);
  process.exit(70);
});

runDaemon({ engineFactory: (opts) => createTargetEngine(opts), handleSignals: true }).catch((e: unknown) => {
  const err = e as { code?: string; message?: string };
  process.stderr.write(`vstorage-iscsid: ${err.message ?? String(e)}${err.code ? ` (${err.code})` : ''}\n`);
  process.exit(1);
});
