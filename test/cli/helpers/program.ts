/**
 * The compiled `vstorage-iscsi` program for CLI tests: one node's temporary
 * ISCSI_ROOT and config, and a run of the program with its exit status and output.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { jsPath } from '../../cluster/helpers/build.js';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Makes `os.tmpdir()/<prefix>XXXXXX` with `root` (ISCSI_ROOT) and a `config` naming it and
 * `<dir>/run`, `<dir>/state`; `env` is what the daemon and the CLI of host `hostId` run with.
 */
export function cliDir(prefix: string, hostId: string): { dir: string; root: string; env: NodeJS.ProcessEnv } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const root = path.join(dir, 'root');
  fs.mkdirSync(root);
  fs.writeFileSync(path.join(dir, 'config'), `ISCSI_ROOT=${root}\nISCSI_RUN_DIR=${dir}/run\nISCSI_STATE_DIR=${dir}/state\n`);
  return { dir, root, env: { PATH: process.env.PATH, ISCSI_CONFIG: path.join(dir, 'config'), ISCSI_HOST_ID: hostId } };
}

/** Runs tools/cli/main.ts as compiled into `build` (buildForTests) with `args` and `env`, `input` on its stdin. */
export function runProgram(build: string, args: string[], env: NodeJS.ProcessEnv, input = ''): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [jsPath(build, 'tools/cli/main.ts'), ...args], { env }, (err, stdout, stderr) => {
      const code = err ? ((err as { code?: number }).code ?? 1) : 0;
      resolve({ code: typeof code === 'number' ? code : 1, stdout: String(stdout), stderr: String(stderr) });
    });
    child.stdin!.end(input);
  });
}
