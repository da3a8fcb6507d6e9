/**
 * A daemon in a temporary directory: `<dir>/root` is ISCSI_ROOT, `<dir>/run` and
 * `<dir>/state` its run and state directories, `<dir>/config` names them; the
 * cluster store is opened on the root as the daemon's host.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ClusterStore } from '../../src/cluster/store.js';

export interface DaemonDir {
  dir: string;
  /** The config file (ISCSI_CONFIG). */
  cfg: string;
  /** What runDaemon() runs with: ISCSI_CONFIG and ISCSI_HOST_ID. */
  env: NodeJS.ProcessEnv;
  /** The cluster store on `<dir>/root`, as host `hostId`. */
  store: ClusterStore;
}

/** Makes `os.tmpdir()/<prefix>XXXXXX` with its root and config; remove it with fs.rmSync(dir, { recursive: true, force: true }). */
export async function daemonDir(prefix: string, hostId: string, iqnPrefix: string): Promise<DaemonDir> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  fs.mkdirSync(path.join(dir, 'root'));
  const cfg = path.join(dir, 'config');
  fs.writeFileSync(cfg, `ISCSI_ROOT=${dir}/root\nISCSI_RUN_DIR=${dir}/run\nISCSI_STATE_DIR=${dir}/state\n`);
  const store = await ClusterStore.open(path.join(dir, 'root'), { hostId, iqnPrefix });
  return { dir, cfg, env: { ISCSI_CONFIG: cfg, ISCSI_HOST_ID: hostId }, store };
}
