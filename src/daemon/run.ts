/**
 * Daemon wiring: config → logger → store → engine → control socket →
 * targets; clean shutdown on SIGTERM/SIGINT (engine.close(), socket removed).
 */
import { loadConfig, controlSocketPath, type IscsiConfig } from '../cluster/config.js';
import { ClusterStore } from '../cluster/store.js';
import { createLogger, type Logger } from './log.js';
import { Daemon, type EngineFactory, type DaemonOptions } from './daemon.js';
import { listenControl, type ControlServer } from './control-server.js';

export interface RunOptions {
  engineFactory: EngineFactory;
  env?: NodeJS.ProcessEnv;
  log?: Logger;
  openStore?: DaemonOptions['openStore'];
  /** Install SIGTERM/SIGINT handlers that stop and exit (main.ts). */
  handleSignals?: boolean;
}

export interface RunningDaemon {
  config: IscsiConfig;
  daemon: Daemon;
  control: ControlServer;
  /** Stop serving: close the control socket, stop all targets. Idempotent. */
  shutdown(): Promise<void>;
}

export async function runDaemon(opts: RunOptions): Promise<RunningDaemon> {
  const config = loadConfig(opts.env ?? process.env);
  const log = opts.log ?? createLogger({ level: config.logLevel });
  const store = await ClusterStore.fromConfig(config);
  log.info('vstorage-iscsid starting', { host: store.hostId, root: store.root, pid: process.pid });
  const daemonOpts: DaemonOptions = { config, store, engineFactory: opts.engineFactory, log };
  if (opts.openStore) daemonOpts.openStore = opts.openStore;
  const daemon = new Daemon(daemonOpts);
  let control: ControlServer;
  try {
    control = await listenControl(controlSocketPath(config), (req) => daemon.handle(req), log);
  } catch (e) {
    await daemon.close();
    throw e;
  }
  let stopping: Promise<void> | undefined;
  const shutdown = (): Promise<void> => {
    stopping ??= (async () => {
      log.info('vstorage-iscsid stopping');
      await control.close();
      await daemon.close();
      log.info('vstorage-iscsid stopped');
    })();
    return stopping;
  };
  if (opts.handleSignals) {
    for (const sig of ['SIGTERM', 'SIGINT'] as const) {
      process.on(sig, () => {
        log.info('signal received', { signal: sig });
        shutdown().then(
          () => process.exit(0),
          (e: unknown) => {
            log.error('shutdown failed', { error: e });
            process.exit(1);
          },
        );
      });
    }
  }
  await daemon.startRegisteredTargets();
  log.info('vstorage-iscsid ready', { running: daemon.status().filter((t) => t.running).length });
  return { config, daemon, control, shutdown };
}
