/**
 * What every command needs: output streams, configuration, the ISCSI_ROOT
 * store and the daemon's control socket. Built lazily so `--help` works
 * without a configured ISCSI_ROOT.
 */
import type { Command } from 'commander';
import { loadConfig, controlSocketPath, type IscsiConfig } from '../../src/cluster/config.js';
import { ClusterStore } from '../../src/cluster/store.js';
import { ClusterError, isClusterError } from '../../src/cluster/errors.js';
import { DaemonClient } from '../../src/daemon/control-client.js';
import type { StatusResponse, TargetStatus } from '../../src/daemon/control-protocol.js';

export interface CliInput extends NodeJS.ReadableStream {
  isTTY?: boolean;
  setRawMode?: (mode: boolean) => unknown;
}

export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  stdin: CliInput;
  env: NodeJS.ProcessEnv;
}

/** Ends the command with an exit code; the command already printed what it had to say. */
export class CliExit extends Error {
  constructor(readonly exitCode: number) {
    super(`exit ${exitCode}`);
  }
}

export class CliContext {
  private cfg: IscsiConfig | undefined;
  private storePromise: Promise<ClusterStore> | undefined;
  private client: DaemonClient | undefined;

  constructor(readonly io: CliIo) {}

  out(line: string): void {
    this.io.stdout(line + '\n');
  }

  err(line: string): void {
    this.io.stderr(line + '\n');
  }

  get config(): IscsiConfig {
    this.cfg ??= loadConfig(this.io.env);
    return this.cfg;
  }

  store(): Promise<ClusterStore> {
    this.storePromise ??= ClusterStore.fromConfig(this.config);
    return this.storePromise;
  }

  get daemon(): DaemonClient {
    this.client ??= new DaemonClient(controlSocketPath(this.config));
    return this.client;
  }

  /** Daemon status, or undefined when the daemon is not reachable ("service failed"). */
  async daemonStatus(iqn?: string): Promise<StatusResponse | undefined> {
    let st: StatusResponse;
    try {
      st = await this.daemon.status(iqn);
    } catch (e) {
      if (isClusterError(e, 'ISCSI_ERR_DAEMON_UNAVAILABLE')) return undefined;
      throw e;
    }
    // A daemon of another node identity would make every status wrong (running shown as remote...).
    const me = (await this.store()).hostId;
    if (st.hostId !== me) {
      throw new ClusterError(
        'ISCSI_ERR_CONFIG',
        `the daemon on ${this.daemon.socketPath} is host ${st.hostId}, but this command runs as host ${me}: ` +
          'give both the same configuration (ISCSI_HOST_ID, ISCSI_STATE_DIR)',
      );
    }
    return st;
  }

  /**
   * set/delete/lun-grow need a stopped target (source 4.2.2 notes): the
   * record says so (store.assertStopped) and the local daemon must agree.
   */
  async assertNotRunningHere(iqn: string, action: string): Promise<void> {
    const st = await this.daemonStatus(iqn);
    const t: TargetStatus | undefined = st?.targets.find((x) => x.iqn === iqn);
    if (t?.running) {
      throw new ClusterError(
        'ISCSI_ERR_TARGET_RUNNING',
        `target ${iqn} is running: stop it first (vstorage-iscsi stop -t ${iqn}) before ${action}`,
      );
    }
  }
}

/**
 * Long names (without `--`) of the given options that appear on the command
 * line, negations included (`no-user`): commander stores `-u X` and `--no-user`
 * in one attribute, last one winning, so conflicts are found this way.
 */
export function flagsSeen(cmd: Command, names: string[]): Set<string> {
  const seen = new Set<string>();
  for (const n of names) cmd.on(`option:${n}`, () => seen.add(n));
  return seen;
}

export function collect(value: string, previous: string[]): string[] {
  return previous.concat([value]);
}
