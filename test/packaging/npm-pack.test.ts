/**
 * Acceptance, issue 4 "Packaging": `npm pack` of a clean build makes a
 * package that installs into a clean directory (locally and as a global-style
 * prefix install), and both bins run from there: vstorage-iscsid serves a
 * target that vstorage-iscsi creates, starts and lists, and stops on SIGTERM.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO } from '../cluster/helpers/build.js';
import { ignoreMatcher } from './dockerfile.js';
import { freePort } from '../helpers/free-port.js';

const NPM_ENV = { ...process.env, npm_config_prefer_offline: 'true', npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false', npm_config_loglevel: 'error' };
let work: string;
let tarball: string;
let packed: { files: Array<{ path: string; mode: number }>; name: string; version: string };

function npm(args: string[], cwd: string): string {
  return execFileSync('npm', args, { cwd, env: NPM_ENV, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 });
}

beforeAll(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'npm-pack-'));
  // A clean checkout: the sources as the Docker build context sees them (no node_modules, dist, tests).
  const src = path.join(work, 'src');
  const ignored = ignoreMatcher(fs.readFileSync(path.join(REPO, '.dockerignore'), 'utf8').split('\n'));
  fs.cpSync(REPO, src, { recursive: true, filter: (p) => p === REPO || !ignored(path.relative(REPO, p)) });
  npm(['ci'], src);
  npm(['run', 'build'], src);
  packed = (JSON.parse(npm(['pack', '--json', '--pack-destination', work], src)) as Array<typeof packed>)[0]!;
  tarball = path.join(work, `${packed.name}-${packed.version}.tgz`);
}, 300_000);

afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

/** Start the installed daemon on a fresh ISCSI_ROOT, run `cli` commands, stop it with SIGTERM. */
async function serveWith(binDir: string): Promise<void> {
  const d = fs.mkdtempSync(path.join(work, 'node-'));
  fs.mkdirSync(path.join(d, 'root'));
  fs.writeFileSync(path.join(d, 'config'), `ISCSI_ROOT=${d}/root\nISCSI_RUN_DIR=${d}/run\nISCSI_STATE_DIR=${d}/state\nISCSI_HOST_ID=fefacc38a2f140ca\n`);
  const env = { PATH: `${binDir}:${process.env.PATH}`, ISCSI_CONFIG: path.join(d, 'config') };
  const daemon = spawn('vstorage-iscsid', [], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  daemon.stderr!.on('data', (x) => (log += String(x)));
  const exited = new Promise<number | null>((r) => daemon.once('exit', (c) => r(c)));
  try {
    for (let i = 0; !log.includes('vstorage-iscsid ready'); i++) {
      if (daemon.exitCode !== null || i > 200) throw new Error(`installed daemon did not start: ${log}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const cli = (args: string[]) =>
      new Promise<string>((resolve, reject) =>
        execFile('vstorage-iscsi', args, { env }, (err, stdout, stderr) => (err ? reject(new Error(`${args.join(' ')}: ${stderr}`)) : resolve(String(stdout)))),
      );
    const port = await freePort();
    expect(await cli(['create', '-n', 'pkg1', '-a', `127.0.0.1:${port}`])).toBe('IQN: iqn.2014-04.com.vstorage:pkg1\n');
    await cli(['lun-add', '-t', 'pkg1', '-l', '1', '-s', '16M']);
    await cli(['start', '-t', 'pkg1']);
    expect(await cli(['list'])).toContain(`iqn.2014-04.com.vstorage:pkg1  running  1     fefacc38a2f140ca  127.0.0.1:${port}`);
  } finally {
    daemon.kill('SIGTERM');
  }
  expect(await exited).toBe(0);
}

describe('npm pack', () => {
  it('packs both programs, their docs and packaging files, and no tests or TypeScript sources', () => {
    const files = packed.files.map((f) => f.path);
    for (const f of [
      'package.json',
      'README.md',
      'dist/src/daemon/main.js',
      'dist/tools/cli/main.js',
      'docs/cli.md',
      'packaging/vstorage-iscsid.service',
      'packaging/config.example',
    ]) {
      expect(files, f).toContain(f);
    }
    expect(files.filter((f) => f.startsWith('test/') || f.startsWith('src/') || f.startsWith('node_modules/') || /\.ts$/.test(f))).toEqual([]);
    const pkg = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { bin: Record<string, string> };
    for (const target of Object.values(pkg.bin)) {
      expect(files).toContain(target);
      expect(fs.readFileSync(path.join(work, 'src', target), 'utf8').startsWith('#!/usr/bin/env node\n'), `${target} shebang`).toBe(true);
    }
  });

  it('installs into a clean directory; both bins run from node_modules/.bin', async () => {
    const app = path.join(work, 'app');
    fs.mkdirSync(app);
    npm(['install', '--omit=dev', tarball], app);
    const bin = path.join(app, 'node_modules/.bin');
    expect(fs.existsSync(path.join(app, 'node_modules/typescript'))).toBe(false);
    expect(execFileSync(path.join(bin, 'vstorage-iscsi'), ['--version'], { encoding: 'utf8' })).toBe(`${packed.version}\n`);
    expect(execFileSync(path.join(bin, 'vstorage-iscsi'), ['--help'], { encoding: 'utf8' })).toContain('Usage: vstorage-iscsi [options] [command]');
    expect(execFileSync(path.join(bin, 'vstorage-iscsid'), ['--help'], { encoding: 'utf8' })).toContain('Usage: vstorage-iscsid');
    await serveWith(bin);
  }, 120_000);

  it('installs with a global prefix (npm install -g) and runs from its bin directory', async () => {
    const prefix = path.join(work, 'prefix');
    npm(['install', '-g', '--prefix', prefix, tarball], work);
    const bin = path.join(prefix, 'bin');
    expect(fs.readdirSync(bin).sort()).toEqual(['vstorage-iscsi', 'vstorage-iscsid']);
    await serveWith(bin);
  }, 120_000);
});
