/**
 * Configuration of the daemon and the CLI (DESIGN.md §4): `/etc/vstorage/iscsi/config`
 * holds `KEY=VALUE` lines (source 4.2.1: `ISCSI_ROOT=/vstorage/stor1/iscsi`);
 * environment variables of the same names override the file. `ISCSI_CONFIG`
 * names another config file (tests, several daemons on one machine).
 *
 * Keys (all documented in packaging/config.example):
 *   ISCSI_ROOT               cluster directory holding targets, LUNs, accounts
 *   ISCSI_RUN_DIR            control socket directory      (/run/vstorage-iscsi)
 *   ISCSI_STATE_DIR          per-node state, the host-id   (/var/lib/vstorage-iscsi)
 *   ISCSI_HOST_ID            this node's ID, 16 hex digits (default: generated once
 *                            into ISCSI_STATE_DIR/host-id)
 *   ISCSI_IQN_PREFIX         prefix of IQNs made by `create -n` (iqn.2014-04.com.vstorage)
 *   ISCSI_DISCOVERY_ACCOUNT  CHAP account required for SendTargets discovery
 *                            sessions; empty = no authentication (default)
 *   ISCSI_DISCOVERY_MUTUAL_ACCOUNT
 *                            CHAP account the target answers with when a
 *                            discovery session asks for mutual CHAP; needs
 *                            ISCSI_DISCOVERY_ACCOUNT; empty = none (default)
 *   ISCSI_LOG_LEVEL          debug | info | warn | error (info)
 *   ISCSI_LOCK_TIMEOUT       seconds to wait for a record lock (10)
 * Other keys are kept in `values` for other components (e.g. HA settings).
 */
import fs from 'node:fs';
import path from 'node:path';
import { ClusterError, errnoCode } from './errors.js';
import { generateHostId, type RandomBytes, defaultRandomBytes } from './ids.js';
import { validateHostId, validateIqnPrefix, validateUserName } from './validate.js';

export const DEFAULT_CONFIG_PATH = '/etc/vstorage/iscsi/config';
export const DEFAULT_RUN_DIR = '/run/vstorage-iscsi';
export const DEFAULT_STATE_DIR = '/var/lib/vstorage-iscsi';
export const DEFAULT_IQN_PREFIX = 'iqn.2014-04.com.vstorage';
export const CONTROL_SOCKET_NAME = 'vstorage-iscsid.sock';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface IscsiConfig {
  /** The config file that was read, or undefined when none existed. */
  configPath: string | undefined;
  /** ISCSI_ROOT, absolute; undefined when not configured. */
  root: string | undefined;
  runDir: string;
  stateDir: string;
  /** From ISCSI_HOST_ID when set; otherwise resolved by `hostId(config)`. */
  hostIdOverride: string | undefined;
  iqnPrefix: string;
  discoveryAccount: string | undefined;
  /** Mutual CHAP account of discovery sessions (only with discoveryAccount). */
  discoveryMutualAccount: string | undefined;
  logLevel: LogLevel;
  lockTimeoutMs: number;
  /** Every key seen, file first then environment. */
  values: Record<string, string>;
}

/** Parse `KEY=VALUE` lines; `#` comments, blank lines, optional `export ` and quotes. */
export function parseConfigText(text: string, source: string): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = text.split(/\r?\n/);
  lines.forEach((line, i) => {
    const t = line.trim();
    if (t === '' || t.startsWith('#')) return;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(t);
    if (!m) {
      throw new ClusterError('ISCSI_ERR_CONFIG', `${source}:${i + 1}: expected KEY=VALUE, got '${t}'`);
    }
    let v = m[2]!;
    const q = v[0];
    if ((q === '"' || q === "'") && v.length >= 2 && v.endsWith(q)) {
      v = v.slice(1, -1);
    } else {
      const hash = v.search(/\s#/);
      if (hash >= 0) v = v.slice(0, hash);
      v = v.trim();
    }
    out[m[1]!] = v;
  });
  return out;
}

/** Keys this module interprets. */
export const CONFIG_KEYS = [
  'ISCSI_ROOT',
  'ISCSI_RUN_DIR',
  'ISCSI_STATE_DIR',
  'ISCSI_HOST_ID',
  'ISCSI_IQN_PREFIX',
  'ISCSI_DISCOVERY_ACCOUNT',
  'ISCSI_DISCOVERY_MUTUAL_ACCOUNT',
  'ISCSI_LOG_LEVEL',
  'ISCSI_LOCK_TIMEOUT',
];

export function loadConfig(env: NodeJS.ProcessEnv = process.env): IscsiConfig {
  const explicit = env.ISCSI_CONFIG;
  const file = explicit && explicit !== '' ? explicit : DEFAULT_CONFIG_PATH;
  let values: Record<string, string> = {};
  let configPath: string | undefined;
  try {
    values = parseConfigText(fs.readFileSync(file, 'utf8'), file);
    configPath = file;
  } catch (e) {
    if (e instanceof ClusterError) throw e;
    // The default file may be absent (defaults apply); a file named explicitly must exist.
    if (!(errnoCode(e) === 'ENOENT' && !explicit)) {
      throw new ClusterError('ISCSI_ERR_CONFIG', `cannot read config file ${file}: ${(e as Error).message}`);
    }
  }
  for (const k of Object.keys(env)) {
    if (k.startsWith('ISCSI_') && k !== 'ISCSI_CONFIG' && env[k] !== undefined) values[k] = env[k]!;
  }
  const get = (k: string): string | undefined => {
    const v = values[k];
    return v === undefined || v === '' ? undefined : v;
  };
  const root = get('ISCSI_ROOT');
  const level = (get('ISCSI_LOG_LEVEL') ?? 'info').toLowerCase();
  if (!['debug', 'info', 'warn', 'error'].includes(level)) {
    throw new ClusterError('ISCSI_ERR_CONFIG', `ISCSI_LOG_LEVEL '${level}' is not one of debug, info, warn, error`);
  }
  const lockTimeout = get('ISCSI_LOCK_TIMEOUT');
  let lockTimeoutMs = 10_000;
  if (lockTimeout !== undefined) {
    const n = Number(lockTimeout);
    if (!Number.isFinite(n) || n <= 0) {
      throw new ClusterError('ISCSI_ERR_CONFIG', `ISCSI_LOCK_TIMEOUT '${lockTimeout}' is not a positive number of seconds`);
    }
    lockTimeoutMs = Math.round(n * 1000);
  }
  const hostId = get('ISCSI_HOST_ID');
  const account = (k: string): string | undefined => {
    const v = get(k);
    if (v === undefined || v.toLowerCase() === 'none') return undefined;
    try {
      return validateUserName(v);
    } catch (e) {
      throw new ClusterError('ISCSI_ERR_CONFIG', `${k}: ${(e as Error).message}`);
    }
  };
  const discovery = account('ISCSI_DISCOVERY_ACCOUNT');
  const discoveryMutual = account('ISCSI_DISCOVERY_MUTUAL_ACCOUNT');
  if (discoveryMutual !== undefined && discovery === undefined) {
    throw new ClusterError(
      'ISCSI_ERR_CONFIG',
      'ISCSI_DISCOVERY_MUTUAL_ACCOUNT needs ISCSI_DISCOVERY_ACCOUNT: mutual CHAP is only possible after the initiator authenticated itself',
    );
  }
  if (discoveryMutual !== undefined && discoveryMutual === discovery) {
    throw new ClusterError(
      'ISCSI_ERR_CONFIG',
      'ISCSI_DISCOVERY_MUTUAL_ACCOUNT must name another account than ISCSI_DISCOVERY_ACCOUNT: ' +
        'the same secret must not authenticate both sides (RFC 7143 §9.2.1)',
    );
  }
  return {
    configPath,
    root: root === undefined ? undefined : path.resolve(root),
    runDir: path.resolve(get('ISCSI_RUN_DIR') ?? DEFAULT_RUN_DIR),
    stateDir: path.resolve(get('ISCSI_STATE_DIR') ?? DEFAULT_STATE_DIR),
    hostIdOverride: hostId === undefined ? undefined : validateHostId(hostId, 'ISCSI_HOST_ID'),
    iqnPrefix: validateIqnPrefix(get('ISCSI_IQN_PREFIX') ?? DEFAULT_IQN_PREFIX),
    discoveryAccount: discovery,
    discoveryMutualAccount: discoveryMutual,
    logLevel: level as LogLevel,
    lockTimeoutMs,
    values,
  };
}

export function controlSocketPath(config: Pick<IscsiConfig, 'runDir'>): string {
  return path.join(config.runDir, CONTROL_SOCKET_NAME);
}

/** ISCSI_ROOT or a clear error telling where to set it (source 4.2.1 step 4). */
export function requireRoot(config: IscsiConfig): string {
  if (!config.root) {
    throw new ClusterError(
      'ISCSI_ERR_NO_ROOT',
      `ISCSI_ROOT is not set: add ISCSI_ROOT=/path/to/cluster/dir to ${config.configPath ?? DEFAULT_CONFIG_PATH} or the environment`,
    );
  }
  return config.root;
}

/**
 * This node's stable host ID: ISCSI_HOST_ID, else ISCSI_STATE_DIR/host-id,
 * generated once (published with link(2) so two first runs agree).
 */
export function resolveHostId(config: IscsiConfig, random: RandomBytes = defaultRandomBytes): string {
  if (config.hostIdOverride) return config.hostIdOverride;
  const file = path.join(config.stateDir, 'host-id');
  const read = (): string | undefined => {
    try {
      return validateHostId(fs.readFileSync(file, 'utf8'), file);
    } catch (e) {
      if (errnoCode(e) === 'ENOENT') return undefined;
      throw e;
    }
  };
  const existing = read();
  if (existing) return existing;
  try {
    fs.mkdirSync(config.stateDir, { recursive: true, mode: 0o755 });
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, generateHostId(random) + '\n', { mode: 0o644 });
    const fd = fs.openSync(tmp, 'r');
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    try {
      fs.linkSync(tmp, file);
    } catch (e) {
      if (errnoCode(e) !== 'EEXIST') throw e;
    } finally {
      fs.unlinkSync(tmp);
    }
  } catch (e) {
    if (e instanceof ClusterError) throw e;
    throw new ClusterError(
      'ISCSI_ERR_BAD_HOST_ID',
      `cannot create the host ID file ${file}: ${(e as Error).message} (set ISCSI_HOST_ID or ISCSI_STATE_DIR)`,
    );
  }
  const id = read();
  if (!id) throw new ClusterError('ISCSI_ERR_BAD_HOST_ID', `host ID file ${file} vanished while it was being created`);
  return id;
}
