/**
 * Several nodes on one machine for end-to-end tests: each node is a real
 * `vstorage-iscsid` process (dist/, the real iSCSI engine) with its own host
 * ID, control socket and state directory, all sharing one ISCSI_ROOT; `cli`
 * runs the real `vstorage-iscsi` as that node.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export { freePort } from '../../helpers/free-port.js';

export const projectRoot = path.resolve(import.meta.dirname, '../../..');
const daemonBin = path.join(projectRoot, 'dist/src/daemon/main.js');
const cliBin = path.join(projectRoot, 'dist/tools/cli/main.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface Node {
  name: string;
  hostId: string;
  env: NodeJS.ProcessEnv;
  proc: ChildProcess;
  /** Daemon output so far (stderr and stdout). */
  log(): string;
  cli(args: string[], input?: string): Promise<CliResult>;
  /** SIGTERM; resolves with the exit code. */
  stop(): Promise<number | null>;
}

export function runCli(env: NodeJS.ProcessEnv, args: string[], input = ''): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [cliBin, ...args], { env, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const code = err ? (err as { code?: unknown }).code : 0;
      resolve({ code: typeof code === 'number' ? code : -1, stdout: String(stdout), stderr: String(stderr) });
    });
    child.stdin!.end(input);
  });
}

/** Start one node's daemon on the shared ISCSI_ROOT `root`; `dir` holds its private directories. */
export async function startNode(opts: { name: string; hostId: string; root: string; dir: string; extraConfig?: string }): Promise<Node> {
  if (!fs.existsSync(daemonBin)) throw new Error(`${daemonBin} is missing: run npm run build first`);
  const own = path.join(opts.dir, `node-${opts.name}`);
  fs.mkdirSync(own, { recursive: true });
  const config = path.join(own, 'config');
  fs.writeFileSync(
    config,
    `ISCSI_ROOT=${opts.root}\nISCSI_RUN_DIR=${own}/run\nISCSI_STATE_DIR=${own}/state\nISCSI_HOST_ID=${opts.hostId}\nISCSI_LOCK_TIMEOUT=60\n${opts.extraConfig ?? ''}`,
  );
  // Only ISCSI_CONFIG: the node's identity comes from its config file, as on a real node.
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, ISCSI_CONFIG: config };
  const out: string[] = [];
  const proc = spawn(process.execPath, [daemonBin], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stdout!.on('data', (d) => out.push(String(d)));
  proc.stderr!.on('data', (d) => out.push(String(d)));
  const node: Node = {
    name: opts.name,
    hostId: opts.hostId,
    env,
    proc,
    log: () => out.join(''),
    cli: (args, input) => runCli(env, args, input),
    stop: async () => {
      if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
      const done = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
      proc.kill('SIGTERM');
      return done;
    },
  };
  const sock = path.join(own, 'run', 'vstorage-iscsid.sock');
  for (let i = 0; ; i++) {
    if (proc.exitCode !== null) throw new Error(`daemon ${opts.name} exited: ${node.log()}`);
    if (fs.existsSync(sock) && node.log().includes('vstorage-iscsid ready')) break;
    if (i > 200) throw new Error(`daemon ${opts.name} did not start: ${node.log()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return node;
}

/** Deterministic PRNG (mulberry32), so a failing mix can be replayed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
