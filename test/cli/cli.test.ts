/**
 * Drives the real `vstorage-iscsi` program (compiled to a temp directory) against
 * a temporary ISCSI_ROOT, with the real daemon control socket served in this
 * process over a fake engine. Output layouts are compared with the source
 * document (seeds/003, chapter 4.2).
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { buildForTests } from '../cluster/helpers/build.js';
import { runDaemon, type RunningDaemon } from '../../src/daemon/run.js';
import { createLogger } from '../../src/daemon/log.js';
import { ClusterStore } from '../../src/cluster/store.js';
import { FakeEngine } from '../daemon/fake-engine.js';
import { runCli } from '../../tools/cli/program.js';
import { cliDir, runProgram, type CliResult } from './helpers/program.js';

const HOST = 'fefacc38a2f140ca';
const OTHER = '1111222233334444';
const PREFIX = 'iqn.2014-04.com.vstorage';
const T1 = `${PREFIX}:test1`;

let out: string;
let dir: string;
let root: string;
let env: NodeJS.ProcessEnv;
let daemon: RunningDaemon | undefined;
let engine: FakeEngine;

beforeAll(() => {
  out = buildForTests(['tools/cli/main.ts']);
}, 60_000);
afterAll(() => fs.rmSync(out, { recursive: true, force: true }));

function setupDir(): void {
  ({ dir, root, env } = cliDir('cli-', HOST));
}

async function teardown(): Promise<void> {
  await daemon?.shutdown();
  daemon = undefined;
  fs.rmSync(dir, { recursive: true, force: true });
}

function cli(args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  return runProgram(out, args, opts.env ?? env, opts.input);
}

async function startDaemon(): Promise<void> {
  daemon = await runDaemon({ env, engineFactory: (o) => (engine = new FakeEngine(o)), log: createLogger({ write: () => undefined }) });
}

function snapshot(d: string): Record<string, string> {
  const res: Record<string, string> = {};
  const walk = (p: string) => {
    for (const e of fs.readdirSync(p, { withFileTypes: true })) {
      const f = path.join(p, e.name);
      if (e.isDirectory()) {
        res[path.relative(d, f) + '/'] = '';
        walk(f);
      } else {
        const st = fs.statSync(f);
        // Images are large and sparse: compare their metadata, not their bytes.
        res[path.relative(d, f)] =
          st.size > 1 << 20 ? `size=${st.size} blocks=${st.blocks} mtime=${st.mtimeMs}` : fs.readFileSync(f).toString('base64');
      }
    }
  };
  walk(d);
  return res;
}

describe('vstorage-iscsi: the source document flows', () => {
  beforeEach(setupDir);
  afterEach(teardown);

  it('create, lun-add, start, list -t print exactly what section 4.2.2 shows', async () => {
    await startDaemon();
    expect(await cli(['create', '-n', 'test1', '-a', '192.168.10.100'])).toEqual({
      code: 0,
      stdout: 'IQN: iqn.2014-04.com.vstorage:test1\n',
      stderr: '',
    });
    expect(await cli(['lun-add', '-t', T1, '-l', '1', '-s', '100G'])).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(await cli(['start', '-t', T1])).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(engine.isRunning(T1)).toBe(true);
    // Used: 1M as in the source: a new 100G qcow2 image holds its header, L1 and refcount tables (~256 KiB).
    const r = await cli(['list', '-t', T1]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      [
        'Target iqn.2014-04.com.vstorage:test1:',
        'Portals:    192.168.10.100',
        'Status:     running',
        'Registered: yes',
        'Host:       fefacc38a2f140ca',
        'LUN: 1, Size: 102400M, Used: 1M, Online: Yes',
        '',
      ].join('\n'),
    );
  });

  it('list prints the table of section 4.2.3', async () => {
    await startDaemon();
    for (let i = 1; i <= 4; i++) {
      expect((await cli(['create', '-n', `test${i}`, '-a', `192.168.10.${99 + i}`])).code).toBe(0);
      if (i < 4) expect((await cli(['lun-add', '-t', `${PREFIX}:test${i}`, '-l', '1', '-s', '100G'])).code).toBe(0);
    }
    expect((await cli(['start', '-t', `${PREFIX}:test1`])).code).toBe(0);
    expect((await cli(['start', '-t', `${PREFIX}:test2`])).code).toBe(0);
    const r = await cli(['list']);
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    // Data rows exactly as in the source document.
    expect(lines.slice(1)).toEqual([
      'iqn.2014-04.com.vstorage:test1  running  1     fefacc38a2f140ca  192.168.10.100',
      'iqn.2014-04.com.vstorage:test2  running  1     fefacc38a2f140ca  192.168.10.101',
      'iqn.2014-04.com.vstorage:test3  stopped  1     fefacc38a2f140ca  192.168.10.102',
      'iqn.2014-04.com.vstorage:test4  stopped  0     fefacc38a2f140ca  192.168.10.103',
      '',
    ]);
    // The header has the source's columns, aligned to the rows.
    expect(lines[0]).toBe('IQN                             STATUS   LUNs  HOST              PORTAL(s)');
    expect(lines[0]!.split(/\s+/)).toEqual(['IQN', 'STATUS', 'LUNs', 'HOST', 'PORTAL(s)']);

    const j = await cli(['list', '--json']);
    const views = JSON.parse(j.stdout) as Array<{ iqn: string; status: string; luns: Array<{ naa: string }> }>;
    expect(views.map((v) => v.status)).toEqual(['running', 'running', 'stopped', 'stopped']);
    expect(views[0]!.luns[0]!.naa).toMatch(/^6[0-9a-f]{31}$/);
  });

  it('stop refuses with connected initiators exactly as section 4.2.5, and -f forces', async () => {
    await startDaemon();
    await cli(['create', '-n', 'test1', '-a', '192.168.10.100']);
    await cli(['start', '-t', T1]);
    engine.addSession(T1, 'iqn.1994-05.com.redhat:c678b9f6f0', '192.168.30.100');
    const before = snapshot(root);
    expect(await cli(['stop', '-t', T1])).toEqual({
      code: 1,
      stdout: '',
      stderr: [
        'initiators still connected',
        'Initiator:   iqn.1994-05.com.redhat:c678b9f6f0 (192.168.30.100)',
        'Unable stop target iqn.2014-04.com.vstorage:test1',
        '',
      ].join('\n'),
    });
    expect(engine.isRunning(T1)).toBe(true);
    expect(snapshot(root)).toEqual(before);
    expect(await cli(['stop', '-t', T1, '-f'])).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(engine.isRunning(T1)).toBe(false);
    expect((await cli(['list', '-t', T1])).stdout).toContain('Status:     stopped\n');
  });

  it('CHAP accounts as section 4.2.9', async () => {
    expect(await cli(['account-create', '-u', 'user1'], { input: 'secret-of-user1\nsecret-of-user1\n' })).toEqual({
      code: 0,
      stdout: '',
      stderr: '',
    });
    expect((await cli(['create', '-n', 'test1', '-a', '192.168.10.100', '-u', 'user1'])).stdout).toBe('IQN: iqn.2014-04.com.vstorage:test1\n');
    expect((await cli(['account-list'])).stdout).toBe('user1\n');
    expect((await cli(['account-list', '-u', 'user1'])).stdout).toBe('iqn.2014-04.com.vstorage:test1\n');
    expect(JSON.parse((await cli(['account-list', '--json'])).stdout)).toEqual(['user1']);
    expect((await cli(['account-set', '-u', 'user1'], { input: 'a-new-secret-2\n' })).code).toBe(0);
    const acc = path.join(root, 'accounts', 'user1.json');
    expect(JSON.parse(fs.readFileSync(acc, 'utf8')).secret).toBe('a-new-secret-2');
    expect(fs.statSync(acc).mode & 0o777).toBe(0o600);
    const r = await cli(['account-delete', '-u', 'user1']);
    expect(r).toMatchObject({ code: 1, stderr: expect.stringContaining('ISCSI_ERR_ACCOUNT_IN_USE') });
  });

  it('delete, set, lun-grow, register/unregister on stopped targets', async () => {
    await startDaemon();
    await cli(['create', '-n', 'test1', '-a', '192.168.10.100']);
    await cli(['lun-add', '-t', 'test1', '-l', '1', '-s', '1G']);
    expect((await cli(['set', '-t', 'test1', '-a', '192.168.10.200', '-a', '[fd00::5]:3261'])).code).toBe(0);
    expect((await cli(['lun-grow', '-t', 'test1', '-l', '1', '-s', '2G'])).code).toBe(0);
    const d = (await cli(['list', '-t', 'test1'])).stdout;
    expect(d).toContain('Portals:    192.168.10.200,[fd00::5]:3261\n');
    expect(d).toContain('LUN: 1, Size: 2048M, Used: 1M, Online: Yes\n');
    expect((await cli(['unregister', '-t', 'test1'])).code).toBe(0);
    expect((await cli(['list'])).stdout).toContain('iqn.2014-04.com.vstorage:test1  unregistered  1     -     192.168.10.200');
    expect((await cli(['list', '-t', 'test1'])).stdout).toContain('Registered: no\nHost:       -\n');
    expect((await cli(['register', '-t', 'test1'])).code).toBe(0);
    expect((await cli(['delete', '-t', T1])).code).toBe(0);
    expect(fs.readdirSync(path.join(root, 'targets'))).toEqual([]);
    expect((await cli(['list'])).stdout).toBe('IQN  STATUS  LUNs  HOST  PORTAL(s)\n');
  });
});

describe('vstorage-iscsi: errors exit non-zero, say why, and change nothing', () => {
  // One store for all cases: each case checks that it changed nothing.
  afterAll(teardown);
  beforeAll(async () => {
    setupDir();
    await startDaemon();
    await cli(['create', '-n', 'test1', '-a', '192.168.10.100']);
    await cli(['lun-add', '-t', T1, '-l', '1', '-s', '1G']);
    await cli(['create', '-n', 'run1', '-a', '192.168.10.111']);
    await cli(['lun-add', '-t', 'run1', '-l', '1', '-s', '1G']);
    await cli(['start', '-t', 'run1']);
    await cli(['account-create', '-u', 'user1'], { input: 'secret-of-user1\n' });
  }, 60_000);

  const cases: Array<[string, string[], string, string?]> = [
    ['duplicate name', ['create', '-n', 'test1', '-a', '10.0.0.1'], 'ISCSI_ERR_TARGET_EXISTS'],
    ['address in use', ['create', '-n', 'test2', '-a', '192.168.10.100'], 'ISCSI_ERR_PORTAL_IN_USE'],
    ['bad address', ['create', '-n', 'test2', '-a', '192.168.10'], 'ISCSI_ERR_BAD_ADDRESS'],
    ['bad name', ['create', '-n', 'Test_2', '-a', '10.0.0.1'], 'ISCSI_ERR_BAD_NAME'],
    ['no address', ['create', '-n', 'test2'], 'ISCSI_ERR_NO_PORTAL'],
    ['unknown account', ['create', '-n', 'test2', '-a', '10.0.0.1', '-u', 'nobody'], 'ISCSI_ERR_ACCOUNT_NOT_FOUND'],
    ['bad size', ['lun-add', '-t', T1, '-l', '2', '-s', '100Q'], 'ISCSI_ERR_BAD_SIZE'],
    ['too big', ['lun-add', '-t', T1, '-l', '2', '-s', '2000T'], 'ISCSI_ERR_BAD_SIZE'],
    ['raw too big', ['lun-add', '-t', T1, '-l', '2', '-s', '17T', '--format', 'raw'], 'ISCSI_ERR_BAD_SIZE'],
    ['bad LUN ID', ['lun-add', '-t', T1, '-l', '256', '-s', '1G'], 'ISCSI_ERR_BAD_LUN_ID'],
    ['LUN exists', ['lun-add', '-t', T1, '-l', '1', '-s', '1G'], 'ISCSI_ERR_LUN_EXISTS'],
    ['unknown target', ['lun-add', '-t', 'nope', '-l', '1', '-s', '1G'], 'ISCSI_ERR_TARGET_NOT_FOUND'],
    ['bad IQN', ['list', '-t', 'iqn.bad'], 'ISCSI_ERR_BAD_IQN'],
    ['delete running', ['delete', '-t', 'run1'], 'ISCSI_ERR_TARGET_RUNNING'],
    ['set running', ['set', '-t', 'run1', '-a', '10.0.0.9'], 'ISCSI_ERR_TARGET_RUNNING'],
    ['grow smaller', ['lun-grow', '-t', T1, '-l', '1', '-s', '512M'], 'ISCSI_ERR_SIZE_NOT_LARGER'],
    ['set nothing', ['set', '-t', T1], 'ISCSI_ERR_BAD_REQUEST'],
    ['short secret', ['account-create', '-u', 'user2'], 'ISCSI_ERR_BAD_SECRET', 'short\n'],
    ['mismatch', ['account-create', '-u', 'user2'], 'ISCSI_ERR_PASSWORD_MISMATCH', 'secret-number-1\nsecret-number-2\n'],
    ['account exists', ['account-create', '-u', 'user1'], 'ISCSI_ERR_ACCOUNT_EXISTS', 'secret-number-1\n'],
    ['unknown account set', ['account-set', '-u', 'nobody'], 'ISCSI_ERR_ACCOUNT_NOT_FOUND', 'secret-number-1\n'],
    ['bad user', ['account-create', '-u', '../x'], 'ISCSI_ERR_BAD_USER', 'secret-number-1\n'],
  ];

  it.each(cases)('%s', async (_name, args, code, input) => {
    const before = snapshot(root);
    const r = await cli(args, input === undefined ? {} : { input });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(new RegExp(`^vstorage-iscsi: .+ \\(${code}\\)\\n$`));
    expect(snapshot(root)).toEqual(before);
  });

  it('usage errors exit 2', async () => {
    const r = await cli(['lun-add', '-t', T1, '-s', '1G']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("required option '-l, --lun <id>' not specified");
    expect((await cli(['frobnicate'])).code).toBe(2);
    expect((await cli([])).code).toBe(2);
    expect((await cli(['--help'])).code).toBe(0);
  });
});

describe('vstorage-iscsi without a daemon', () => {
  beforeEach(setupDir);
  afterEach(teardown);

  it('shows service failed / stopped / remote / unregistered and refuses start', async () => {
    const other = await ClusterStore.open(root, { hostId: OTHER, iqnPrefix: PREFIX });
    await other.createTarget({ name: 'remote1', portals: ['10.0.0.3'] });
    await other.createTarget({ name: 'loose1', portals: ['10.0.0.4'] });
    await other.unregister(`${PREFIX}:loose1`);
    await cli(['create', '-n', 'test1', '-a', '10.0.0.1']);
    await cli(['create', '-n', 'test2', '-a', '10.0.0.2']);
    const here = await ClusterStore.open(root, { hostId: HOST, iqnPrefix: PREFIX });
    await here.setDesiredState(T1, 'running');

    const r = await cli(['list']);
    expect(r.stdout.split('\n').slice(1, -1)).toEqual([
      'iqn.2014-04.com.vstorage:loose1   unregistered    0     -                 10.0.0.4',
      'iqn.2014-04.com.vstorage:remote1  remote          0     1111222233334444  10.0.0.3',
      'iqn.2014-04.com.vstorage:test1    service failed  0     fefacc38a2f140ca  10.0.0.1',
      'iqn.2014-04.com.vstorage:test2    stopped         0     fefacc38a2f140ca  10.0.0.2',
    ]);

    const before = snapshot(root);
    const s = await cli(['start', '-t', 'test2']);
    expect(s.code).toBe(1);
    expect(s.stderr).toContain('vstorage-iscsid is not running');
    expect(s.stderr).toContain('(ISCSI_ERR_DAEMON_UNAVAILABLE)');
    expect((await cli(['start', '-t', 'remote1'])).stderr).toContain('ISCSI_ERR_TARGET_REMOTE');
    expect((await cli(['start', '-t', 'loose1'])).stderr).toContain('ISCSI_ERR_NOT_REGISTERED');
    expect(snapshot(root)).toEqual(before);

    // stop without a daemon: nothing runs here, so it just records "stopped".
    expect((await cli(['stop', '-t', 'test1'])).code).toBe(0);
    expect((await cli(['list', '-t', 'test1'])).stdout).toContain('Status:     stopped\n');
  });

  it('explains a missing ISCSI_ROOT', async () => {
    fs.writeFileSync(path.join(dir, 'config'), '# empty\n');
    const r = await cli(['list']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/ISCSI_ROOT is not set: add ISCSI_ROOT=.* \(ISCSI_ERR_NO_ROOT\)/);
    const r2 = await cli(['list'], { env: { ...env, ISCSI_ROOT: path.join(dir, 'missing') } });
    expect(r2.stderr).toContain('ISCSI_ERR_ROOT_MISSING');
  });
});

describe('password prompts on a terminal', () => {
  beforeEach(setupDir);
  afterEach(teardown);

  function fakeTty(keys: string[]): PassThrough & { isTTY: boolean; setRawMode: (m: boolean) => void; raw: boolean[] } {
    const s = new PassThrough() as PassThrough & { isTTY: boolean; setRawMode: (m: boolean) => void; raw: boolean[] };
    s.isTTY = true;
    s.raw = [];
    s.setRawMode = (m) => void s.raw.push(m);
    let i = 0;
    const feed = () => {
      if (i < keys.length) {
        s.write(keys[i++]);
        setTimeout(feed, 5);
      }
    };
    setTimeout(feed, 5);
    return s;
  }

  it('prompts Enter password / Verify password without echo', async () => {
    let stdout = '';
    let stderr = '';
    const stdin = fakeTty(['secret-of-', 'userX\r', 'secret-of-usxx\u007f\u007ferX\r']);
    const code = await runCli(['account-create', '-u', 'userx'], {
      stdout: (s) => (stdout += s),
      stderr: (s) => (stderr += s),
      stdin,
      env,
    });
    expect(code).toBe(0);
    expect(stdout).toBe('');
    expect(stderr).toBe('Enter password: \nVerify password: \n');
    expect(stdin.raw).toEqual([true, false]);
    expect(JSON.parse(fs.readFileSync(path.join(root, 'accounts', 'userx.json'), 'utf8')).secret).toBe('secret-of-userX');
  });

  it('turns echo off before it prompts', async () => {
    const events: string[] = [];
    const stdin = fakeTty(['secret-of-userw\r', 'secret-of-userw\r']);
    const setRaw = stdin.setRawMode;
    stdin.setRawMode = (m) => {
      events.push(`raw ${m}`);
      setRaw(m);
    };
    const code = await runCli(['account-create', '-u', 'userw'], {
      stdout: () => undefined,
      stderr: (s) => void events.push(s),
      stdin,
      env,
    });
    expect(code).toBe(0);
    expect(events).toEqual(['raw true', 'Enter password: ', '\n', 'Verify password: ', '\n', 'raw false']);
  });

  it('splits pasted input across the two prompts', async () => {
    let stderr = '';
    const code = await runCli(['account-create', '-u', 'userz'], {
      stdout: () => undefined,
      stderr: (s) => (stderr += s),
      stdin: fakeTty(['pasted-secret-1\rpasted-secret-1\r']),
      env,
    });
    expect(code).toBe(0);
    expect(stderr).toBe('Enter password: \nVerify password: \n');
    expect(JSON.parse(fs.readFileSync(path.join(root, 'accounts', 'userz.json'), 'utf8')).secret).toBe('pasted-secret-1');
  });

  it('a mismatch changes nothing', async () => {
    let stderr = '';
    const code = await runCli(['account-create', '-u', 'usery'], {
      stdout: () => undefined,
      stderr: (s) => (stderr += s),
      stdin: fakeTty(['secret-number-1\r', 'secret-number-2\r']),
      env,
    });
    expect(code).toBe(1);
    expect(stderr).toContain('passwords do not match');
    expect(fs.existsSync(path.join(root, 'accounts', 'usery.json'))).toBe(false);
  });
});
