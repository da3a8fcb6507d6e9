/**
 * Start the real daemon (dist/) with a private ISCSI_ROOT and drive the real CLI,
 * for end-to-end tests written in TypeScript.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, existsSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const projectRoot = resolve(import.meta.dirname, '../../..');
const daemonBin = join(projectRoot, 'dist/src/daemon/main.js');
const cliBin = join(projectRoot, 'dist/tools/cli/main.js');

export interface DaemonHandle {
  proc: ChildProcess;
  env: NodeJS.ProcessEnv;
  dir: string;
  log: string[];
  cli(args: string[], input?: string): Promise<{ stdout: string; stderr: string; code: number }>;
  rssKiB(): number;
  stop(): Promise<void>;
}

export async function startDaemon(opts: { base?: string; hostId?: string } = {}): Promise<DaemonHandle> {
  const dir = mkdtempSync(join(opts.base ?? tmpdir(), 'vstor-e2e-'));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ISCSI_ROOT: join(dir, 'root'),
    ISCSI_RUN_DIR: join(dir, 'run'),
    ISCSI_STATE_DIR: join(dir, 'state'),
    ISCSI_CONFIG: join(dir, 'config'),
    ISCSI_HOST_ID: opts.hostId ?? 'fefacc38a2f140ca',
  };
  mkdirSync(env.ISCSI_ROOT!, { recursive: true });
  writeFileSync(env.ISCSI_CONFIG!, `ISCSI_ROOT=${env.ISCSI_ROOT}\n`);
  const log: string[] = [];
  const proc = spawn(process.execPath, [daemonBin], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stdout!.on('data', (d) => log.push(String(d)));
  proc.stderr!.on('data', (d) => log.push(String(d)));
  const cli = async (args: string[], input?: string) => {
    return new Promise<{ stdout: string; stderr: string; code: number }>((res) => {
      const child = execFile(process.execPath, [cliBin, ...args], { env }, (err, stdout, stderr) => {
        res({ stdout: String(stdout), stderr: String(stderr), code: err ? ((err as { code?: number }).code ?? 1) : 0 });
      });
      if (input !== undefined) child.stdin!.end(input);
      else child.stdin!.end();
    });
  };
  // Wait for the control socket.
  for (let i = 0; i < 100; i++) {
    if (proc.exitCode !== null) throw new Error(`daemon exited: ${log.join('')}`);
    const r = await cli(['list']);
    if (r.code === 0) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    proc,
    env,
    dir,
    log,
    cli,
    rssKiB: () => {
      const status = readFileSync(`/proc/${proc.pid}/status`, 'utf8');
      return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
    },
    stop: async () => {
      if (proc.exitCode === null) {
        proc.kill('SIGTERM');
        await new Promise((r) => proc.once('exit', r));
      }
      if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function sh(cmd: string, args: string[]): Promise<string> {
  const r = await run(cmd, args, { maxBuffer: 64 * 1024 * 1024 });
  return r.stdout;
}
