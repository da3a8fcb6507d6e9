/**
 * Packaging files: the systemd unit (restart on failure, clean stop with
 * SIGTERM, directories that match the daemon's defaults; systemd-analyze
 * verify finds nothing to complain about) and packaging/config.example, which
 * documents every configuration key with its default.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildForTests, jsPath, REPO } from '../cluster/helpers/build.js';
import {
  CONFIG_KEYS,
  DEFAULT_CONFIG_PATH,
  DEFAULT_IQN_PREFIX,
  DEFAULT_RUN_DIR,
  DEFAULT_STATE_DIR,
  loadConfig,
  parseConfigText,
} from '../../src/cluster/config.js';

const UNIT = path.join(REPO, 'packaging/vstorage-iscsid.service');
const EXAMPLE = path.join(REPO, 'packaging/config.example');

/** [section] key=value lines of a unit file; repeated keys collect. */
function parseUnit(text: string): Record<string, Record<string, string[]>> {
  const out: Record<string, Record<string, string[]>> = {};
  let sec = '';
  for (const raw of text.split('\n')) {
    const l = raw.trim();
    if (l === '' || l.startsWith('#') || l.startsWith(';')) continue;
    const s = /^\[(.+)\]$/.exec(l);
    if (s) {
      sec = s[1]!;
      out[sec] ??= {};
      continue;
    }
    const i = l.indexOf('=');
    (out[sec]![l.slice(0, i)] ??= []).push(l.slice(i + 1));
  }
  return out;
}

describe('packaging/vstorage-iscsid.service', () => {
  const unit = parseUnit(fs.readFileSync(UNIT, 'utf8'));
  const svc = unit.Service!;

  it('runs the daemon in the foreground and restarts it on failure, not on a usage error', () => {
    expect(svc.Type).toEqual(['simple']);
    expect(svc.ExecStart![0]).toMatch(/(^|[ /])vstorage-iscsid$/);
    expect(svc.Restart).toEqual(['on-failure']);
    expect(svc.RestartPreventExitStatus).toEqual(['2']);
  });

  it('stops it with SIGTERM and gives it time to close sessions and images', () => {
    expect(svc.KillSignal).toEqual(['SIGTERM']);
    expect(Number(svc.TimeoutStopSec![0])).toBeGreaterThanOrEqual(10);
  });

  it('starts after the network and remote file systems (ISCSI_ROOT is on cluster storage); its directories are the defaults', () => {
    expect(unit.Unit!.After![0]!.split(/\s+/)).toEqual(expect.arrayContaining(['network-online.target', 'remote-fs.target']));
    expect(unit.Install!.WantedBy).toEqual(['multi-user.target']);
    const env = Object.fromEntries(svc.Environment!.map((e) => e.split('=') as [string, string]));
    expect(env.ISCSI_RUN_DIR).toBe(DEFAULT_RUN_DIR);
    expect(env.ISCSI_STATE_DIR).toBe(DEFAULT_STATE_DIR);
    expect(`/run/${svc.RuntimeDirectory![0]}`).toBe(DEFAULT_RUN_DIR);
    expect(`/var/lib/${svc.StateDirectory![0]}`).toBe(DEFAULT_STATE_DIR);
    expect(fs.readFileSync(UNIT, 'utf8')).toContain(DEFAULT_CONFIG_PATH);
  });

  it('systemd-analyze verify has nothing to say about it', (ctx) => {
    const probe = spawnSync('systemd-analyze', ['--version']);
    if (probe.error) ctx.skip(); // no systemd tools on this machine
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'unit-'));
    try {
      fs.copyFileSync(UNIT, path.join(dir, 'vstorage-iscsid.service'));
      const r = spawnSync('systemd-analyze', ['verify', path.join(dir, 'vstorage-iscsid.service')], { encoding: 'utf8' });
      expect({ status: r.status, stderr: r.stderr.trim() }).toEqual({ status: 0, stderr: '' });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('what Restart=on-failure and KillSignal rely on: the daemon exit status', () => {
  let out: string;
  beforeAll(() => {
    out = buildForTests(['src/daemon/main.ts']);
  }, 120_000);
  afterAll(() => fs.rmSync(out, { recursive: true, force: true }));

  it('a missing ISCSI_ROOT is a failure (1, restarted); a bad argument is a usage error (2, not restarted)', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'unit-exit-'));
    try {
      const env = { PATH: process.env.PATH, ISCSI_CONFIG: path.join(dir, 'config'), ISCSI_HOST_ID: 'fefacc38a2f140ca' };
      fs.writeFileSync(env.ISCSI_CONFIG, `ISCSI_ROOT=${dir}/not-mounted\nISCSI_RUN_DIR=${dir}/run\n`);
      const r = spawnSync(process.execPath, [jsPath(out, 'src/daemon/main.ts')], { env, encoding: 'utf8' });
      expect(r.status).toBe(1);
      expect(r.stderr).toContain(`ISCSI_ROOT ${dir}/not-mounted does not exist: create the directory on the cluster storage first (ISCSI_ERR_ROOT_MISSING)`);
      expect(spawnSync(process.execPath, [jsPath(out, 'src/daemon/main.ts'), '--frob'], { env }).status).toBe(2);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('packaging/config.example', () => {
  const text = fs.readFileSync(EXAMPLE, 'utf8');

  it('documents every key the programs read, each with a comment above it', () => {
    const lines = text.split('\n');
    for (const k of CONFIG_KEYS) {
      const i = lines.findIndex((l) => new RegExp(`^#?${k}=`).test(l));
      expect(i, k).toBeGreaterThan(0);
      expect(lines[i - 1], `comment above ${k}`).toMatch(/^# \S/);
    }
    expect(text).toContain('ISCSI_CONFIG');
  });

  it('with every line uncommented it is a valid configuration holding the defaults', () => {
    const uncommented = text.replace(/^#([A-Z_]+=)/gm, '$1');
    const values = parseConfigText(uncommented, 'config.example');
    expect(Object.keys(values).sort()).toEqual([...CONFIG_KEYS].sort());
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'config-example-'));
    try {
      fs.writeFileSync(path.join(dir, 'config'), uncommented);
      const cfg = loadConfig({ ISCSI_CONFIG: path.join(dir, 'config') });
      expect(cfg).toMatchObject({
        root: '/vstorage/stor1/iscsi',
        runDir: DEFAULT_RUN_DIR,
        stateDir: DEFAULT_STATE_DIR,
        iqnPrefix: DEFAULT_IQN_PREFIX,
        logLevel: 'info',
        lockTimeoutMs: 10_000,
        discoveryAccount: undefined,
        discoveryMutualAccount: undefined,
      });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('is installed with the package next to the unit', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { files: string[] };
    expect(pkg.files).toContain('packaging/');
    expect(execFileSync('git', ['ls-files', 'packaging'], { cwd: REPO, encoding: 'utf8' }).split('\n')).toEqual(
      expect.arrayContaining(['packaging/config.example', 'packaging/vstorage-iscsid.service']),
    );
  });
});
