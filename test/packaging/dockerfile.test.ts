/**
 * Acceptance, issue 4 "Packaging": the Dockerfile builds the daemon the way
 * it says, checked without a Docker engine: its steps are replayed in clean
 * directories (dockerfile.ts), the final stage is inspected, and a
 * "container" of it is run: its ENTRYPOINT with its ENV, ISCSI_ROOT and the
 * state directory as volumes, serving a target that the image's own
 * vstorage-iscsi manages; `docker stop`'s SIGTERM ends it with status 0.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { REPO } from '../cluster/helpers/build.js';
import { containerEnv, ignoreMatcher, parseDockerfile, replayDockerfile, type Stage } from './dockerfile.js';
import { freePort } from '../helpers/free-port.js';

const DOCKERFILE = path.join(REPO, 'Dockerfile');
let work: string;
let stages: Stage[];
let final: Stage;

beforeAll(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'dockerfile-'));
  stages = replayDockerfile({
    dockerfile: DOCKERFILE,
    context: REPO,
    work,
    runEnv: { npm_config_prefer_offline: 'true', npm_config_update_notifier: 'false', npm_config_loglevel: 'error' },
  });
  final = stages[stages.length - 1]!;
}, 300_000);

afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

describe('Dockerfile', () => {
  it('parses: a build stage and a runtime stage from the Node.js 20 image; the replay uses the same Node.js major', () => {
    expect(stages.map((s) => [s.name, s.image])).toEqual([
      ['build', 'node:20-bookworm-slim'],
      [undefined, 'node:20-bookworm-slim'],
    ]);
    expect(process.versions.node.split('.')[0]).toBe(/^node:(\d+)/.exec(final.image)![1]);
    // The replay understands every instruction (it throws on others).
    expect(new Set(parseDockerfile(fs.readFileSync(DOCKERFILE, 'utf8')).map((i) => i.op))).toEqual(
      new Set(['FROM', 'WORKDIR', 'COPY', 'RUN', 'ENV', 'VOLUME', 'STOPSIGNAL', 'ENTRYPOINT']),
    );
  });

  it('the build stage compiled the project and packed it with npm pack', () => {
    const build = path.join(stages[0]!.dir, stages[0]!.workdir);
    expect(fs.existsSync(path.join(build, 'dist/src/daemon/main.js'))).toBe(true);
    expect(fs.existsSync(path.join(build, 'node_modules/typescript'))).toBe(true);
    // Context excluded by .dockerignore never reached the image.
    expect(fs.existsSync(path.join(build, 'test'))).toBe(false);
    expect(stages[0]!.runs.at(-1)!.output).toMatch(/^vstorage-iscsi-\d+\.\d+\.\d+\.tgz$/m);
  });

  it('the runtime stage holds the installed package without build tools, sources or the tarball', () => {
    const app = path.join(final.dir, final.workdir);
    expect(final.workdir).toBe('/opt/vstorage-iscsi');
    expect(fs.readdirSync(app).sort()).toEqual(['node_modules', 'package-lock.json', 'package.json']);
    const pkg = path.join(app, 'node_modules/vstorage-iscsi');
    expect(fs.existsSync(path.join(pkg, 'dist/src/daemon/main.js'))).toBe(true);
    expect(fs.existsSync(path.join(pkg, 'packaging/vstorage-iscsid.service'))).toBe(true);
    expect(fs.existsSync(path.join(pkg, 'src'))).toBe(false);
    expect(fs.existsSync(path.join(app, 'node_modules/typescript'))).toBe(false);
    expect(fs.existsSync(path.join(app, 'node_modules/vitest'))).toBe(false);
    for (const bin of ['vstorage-iscsid', 'vstorage-iscsi']) {
      fs.accessSync(path.join(app, 'node_modules/.bin', bin), fs.constants.X_OK);
    }
  });

  it('ISCSI_ROOT and the state directory are volumes; the daemon is the entrypoint; SIGTERM stops it; host networking is documented', () => {
    expect(final.env.ISCSI_ROOT).toBe('/vstorage/iscsi');
    expect(final.volumes).toEqual([final.env.ISCSI_ROOT, final.env.ISCSI_STATE_DIR]);
    expect(final.entrypoint).toEqual(['vstorage-iscsid']);
    expect(final.stopSignal).toBe('SIGTERM');
    expect(final.env.PATH!.split(':')[0]).toBe('/opt/vstorage-iscsi/node_modules/.bin');
    const text = fs.readFileSync(DOCKERFILE, 'utf8');
    const run = /^#\s+docker run .*(?:\n#\s+.*\\?)*$/m.exec(text.replace(/\\\n#\s+/g, ''))?.[0] ?? '';
    expect(run).toContain('--network host');
    expect(run).toContain(`:${final.env.ISCSI_ROOT} `);
    expect(run).toContain(`:${final.env.ISCSI_STATE_DIR}`);
  });

  it('.dockerignore keeps build output and tests out of the context', () => {
    const ignored = ignoreMatcher(fs.readFileSync(path.join(REPO, '.dockerignore'), 'utf8').split('\n'));
    for (const p of ['node_modules', 'node_modules/commander/index.js', 'dist/src/daemon/main.js', 'test/cli/cli.test.ts', '.git/HEAD', 'x.tgz']) expect(ignored(p), p).toBe(true);
    for (const p of ['src/daemon/main.ts', 'package.json', 'package-lock.json', 'tools/cli/main.ts', 'packaging/config.example', 'README.md', 'docs/cli.md']) expect(ignored(p), p).toBe(false);
  });

  it('a container of the image serves targets managed with its own vstorage-iscsi, and stops cleanly on SIGTERM', async () => {
    const volumes = fs.mkdtempSync(path.join(work, 'volumes-'));
    const root = path.join(volumes, 'iscsi');
    const state = path.join(volumes, 'state');
    fs.mkdirSync(root);
    fs.mkdirSync(state);
    // The container's paths under this run's directories; no config file, like the image.
    const env = containerEnv(final, {
      ISCSI_ROOT: root,
      ISCSI_STATE_DIR: state,
      ISCSI_RUN_DIR: path.join(final.dir, final.env.ISCSI_RUN_DIR!),
      ISCSI_CONFIG: '',
    });
    const daemon = spawn(final.entrypoint![0]!, final.entrypoint!.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    daemon.stderr!.on('data', (d) => (log += String(d)));
    const exited = new Promise<number | null>((r) => daemon.once('exit', (code) => r(code)));
    try {
      for (let i = 0; !log.includes('vstorage-iscsid ready'); i++) {
        if (daemon.exitCode !== null || i > 200) throw new Error(`the container's daemon did not start: ${log}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      const cli = (args: string[]) =>
        new Promise<{ code: number; out: string }>((resolve) =>
          execFile('vstorage-iscsi', args, { env }, (err, stdout, stderr) => resolve({ code: err ? 1 : 0, out: String(stdout) + String(stderr) })),
        );
      const port = await freePort();
      expect(await cli(['create', '-n', 'c1', '-a', `127.0.0.1:${port}`])).toEqual({ code: 0, out: 'IQN: iqn.2014-04.com.vstorage:c1\n' });
      expect((await cli(['lun-add', '-t', 'c1', '-l', '1', '-s', '16M'])).code).toBe(0);
      expect((await cli(['start', '-t', 'c1'])).code).toBe(0);
      // The host ID was made once in the state volume, and the daemon listens on the portal.
      const hostId = fs.readFileSync(path.join(state, 'host-id'), 'utf8').trim();
      expect(hostId).toMatch(/^[0-9a-f]{16}$/);
      expect((await cli(['list'])).out).toContain(`iqn.2014-04.com.vstorage:c1  running  1     ${hostId}  127.0.0.1:${port}`);
      await new Promise<void>((resolve, reject) => net.connect(port, '127.0.0.1', function (this: net.Socket) { this.destroy(); resolve(); }).once('error', reject));
      expect(fs.existsSync(path.join(root, 'targets', 'iqn.2014-04.com.vstorage:c1', 'lun-1.qcow2'))).toBe(true);
    } finally {
      daemon.kill(final.stopSignal as NodeJS.Signals);
    }
    expect(await exited).toBe(0);
    expect(log).toMatch(/INFO  vstorage-iscsid stopped\n$/);
  }, 60_000);
});
