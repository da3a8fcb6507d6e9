/**
 * `vstorage-iscsi` with mutual CHAP: create/set --mutual-user, --no-user,
 * --no-mutual-user, list --json, account-list -u, and the refusals (each
 * exits 1, says why with a stable code, and changes nothing). Runs the real
 * program against a temporary ISCSI_ROOT, with the daemon's control socket
 * served in this process over a fake engine.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { buildForTests } from '../cluster/helpers/build.js';
import { runDaemon, type RunningDaemon } from '../../src/daemon/run.js';
import { createLogger } from '../../src/daemon/log.js';
import { FakeEngine } from '../daemon/fake-engine.js';
import { cliDir, runProgram, type CliResult } from './helpers/program.js';

const HOST = 'fefacc38a2f140ca';
const T1 = 'iqn.2014-04.com.vstorage:test1';
const T2 = 'iqn.2014-04.com.vstorage:test2';

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

function cli(args: string[], input = ''): Promise<CliResult> {
  return runProgram(out, args, env, input);
}

async function ok(args: string[], input = ''): Promise<string> {
  const r = await cli(args, input);
  expect(r, `vstorage-iscsi ${args.join(' ')}`).toMatchObject({ code: 0, stderr: '' });
  return r.stdout;
}

function snapshot(): Record<string, string> {
  const res: Record<string, string> = {};
  const walk = (p: string) => {
    for (const e of fs.readdirSync(p, { withFileTypes: true })) {
      const f = path.join(p, e.name);
      if (e.isDirectory()) walk(f);
      else res[path.relative(root, f)] = fs.readFileSync(f).toString('base64');
    }
  };
  walk(root);
  return res;
}

async function setup(): Promise<void> {
  ({ dir, root, env } = cliDir('cli-mutual-', HOST));
  daemon = await runDaemon({ env, engineFactory: (o) => (engine = new FakeEngine(o)), log: createLogger({ write: () => undefined }) });
  await ok(['account-create', '-u', 'user1'], 'initiator-secret-1\ninitiator-secret-1\n');
  await ok(['account-create', '-u', 'user2'], 'initiator-secret-2\n');
  await ok(['account-create', '-u', 'tgt1'], 'target-secret-001\n');
  await ok(['account-create', '-u', 'tgt2'], 'target-secret-002\n');
}

async function teardown(): Promise<void> {
  await daemon?.shutdown();
  daemon = undefined;
  fs.rmSync(dir, { recursive: true, force: true });
}

describe('vstorage-iscsi mutual CHAP', () => {
  beforeEach(setup);
  afterEach(teardown);

  it('create -u --mutual-user; list -t keeps the source layout, --json shows the accounts', async () => {
    expect(await ok(['create', '-n', 'test1', '-a', '192.168.10.100', '-u', 'user1', '--mutual-user', 'tgt1'])).toBe(`IQN: ${T1}\n`);
    await ok(['lun-add', '-t', T1, '-l', '1', '-s', '100G']);
    expect(await ok(['list', '-t', T1])).toBe(
      [
        `Target ${T1}:`,
        'Portals:    192.168.10.100',
        'Status:     stopped',
        'Registered: yes',
        `Host:       ${HOST}`,
        'LUN: 1, Size: 102400M, Used: 1M, Online: Yes',
        '',
      ].join('\n'),
    );
    const v = JSON.parse(await ok(['list', '-t', T1, '--json']));
    expect(v).toMatchObject({ iqn: T1, account: 'user1', mutualAccount: 'tgt1', status: 'stopped' });
    expect(JSON.stringify(v)).not.toContain('secret');
    await ok(['create', '-n', 'test2', '-a', '192.168.10.101']);
    const all = JSON.parse(await ok(['list', '--json'])) as Array<{ iqn: string; account: string | null; mutualAccount: string | null }>;
    expect(all.map((t) => [t.iqn, t.account, t.mutualAccount])).toEqual([
      [T1, 'user1', 'tgt1'],
      [T2, null, null],
    ]);
    expect(await ok(['account-list', '-u', 'tgt1'])).toBe(`${T1}\n`);
    expect(await ok(['account-list', '-u', 'user1'])).toBe(`${T1}\n`);
    expect(JSON.parse(await ok(['account-list', '-u', 'tgt1', '--json']))).toEqual([T1]);
    expect(await ok(['account-list', '-u', 'tgt2'])).toBe('');
  });

  it('set binds and unbinds accounts, on a running target too; the next login sees it', async () => {
    await ok(['create', '-n', 'test1', '-a', '192.168.10.100']);
    await ok(['start', '-t', T1]);
    const def = engine.defs.get(T1)!;
    expect(def.auth()).toEqual({});
    await ok(['set', '-t', 'test1', '-u', 'user1', '--mutual-user', 'tgt1']);
    expect(def.auth()).toEqual({
      chap: { user: 'user1', secret: 'initiator-secret-1' },
      mutual: { user: 'tgt1', secret: 'target-secret-001' },
    });
    await ok(['set', '-t', 'test1', '--mutual-user', 'tgt2']);
    expect(def.auth().mutual?.user).toBe('tgt2');
    await ok(['account-set', '-u', 'tgt2'], 'target-secret-003\n');
    expect(def.auth().mutual).toEqual({ user: 'tgt2', secret: 'target-secret-003' });
    await ok(['set', '-t', 'test1', '--no-mutual-user']);
    expect(def.auth()).toEqual({ chap: { user: 'user1', secret: 'initiator-secret-1' } });
    await ok(['set', '-t', 'test1', '--mutual-user', 'tgt1']);
    await ok(['set', '-t', 'test1', '--no-user', '--no-mutual-user']);
    expect(def.auth()).toEqual({});
    await ok(['set', '-t', 'test1', '-u', 'user2']);
    await ok(['set', '-t', 'test1', '--no-account']); // the older spelling
    expect(def.auth()).toEqual({});
    expect(engine.isRunning(T1)).toBe(true);
    // Portals still need a stopped target.
    const r = await cli(['set', '-t', 'test1', '-a', '10.0.0.9', '-u', 'user1']);
    expect(r).toMatchObject({ code: 1, stderr: expect.stringContaining('(ISCSI_ERR_TARGET_RUNNING)') });
    expect(JSON.parse(await ok(['list', '-t', T1, '--json']))).toMatchObject({ account: null, mutualAccount: null });
  });

  it('help shows the new options', async () => {
    expect(await ok(['create', '--help'])).toContain('--mutual-user <account>');
    const h = await ok(['set', '--help']);
    for (const o of ['-u, --user <account>', '--no-user', '--no-account', '--mutual-user <account>', '--no-mutual-user']) {
      expect(h).toContain(o);
    }
  });
});

describe('vstorage-iscsi mutual CHAP refusals change nothing', () => {
  beforeAll(async () => {
    await setup();
    await ok(['account-create', '-u', 'copy1'], 'initiator-secret-1\n');
    await ok(['create', '-n', 'test1', '-a', '192.168.10.100', '-u', 'user1', '--mutual-user', 'tgt1']);
    await ok(['create', '-n', 'test2', '-a', '192.168.10.101']);
    await ok(['create', '-n', 'test4', '-a', '192.168.10.104', '-u', 'user2']);
  }, 60_000);
  afterAll(teardown);

  const cases: Array<[string, string[], string, string?]> = [
    ['mutual without one-way (create)', ['create', '-n', 'test3', '-a', '10.0.0.3', '--mutual-user', 'tgt2'], 'ISCSI_ERR_MUTUAL_NEEDS_ACCOUNT'],
    ['same account both ways', ['create', '-n', 'test3', '-a', '10.0.0.3', '-u', 'user2', '--mutual-user', 'user2'], 'ISCSI_ERR_SECRET_REUSE'],
    ['same secret both ways', ['create', '-n', 'test3', '-a', '10.0.0.3', '-u', 'user1', '--mutual-user', 'copy1'], 'ISCSI_ERR_SECRET_REUSE'],
    ['unknown mutual account', ['create', '-n', 'test3', '-a', '10.0.0.3', '-u', 'user1', '--mutual-user', 'nobody'], 'ISCSI_ERR_ACCOUNT_NOT_FOUND'],
    ['mutual without one-way (set)', ['set', '-t', 'test2', '--mutual-user', 'tgt2'], 'ISCSI_ERR_MUTUAL_NEEDS_ACCOUNT'],
    ['--no-user leaves a mutual account', ['set', '-t', 'test1', '--no-user'], 'ISCSI_ERR_MUTUAL_NEEDS_ACCOUNT'],
    ['one-way account used as mutual elsewhere', ['set', '-t', 'test2', '-u', 'tgt1'], 'ISCSI_ERR_SECRET_REUSE'],
    ['mutual account used as one-way elsewhere', ['set', '-t', 'test1', '--mutual-user', 'user2'], 'ISCSI_ERR_SECRET_REUSE'],
    ['-u with --no-user', ['set', '-t', 'test1', '-u', 'user2', '--no-user'], 'ISCSI_ERR_BAD_REQUEST'],
    ['--no-account with -u', ['set', '-t', 'test1', '--no-account', '-u', 'user2'], 'ISCSI_ERR_BAD_REQUEST'],
    ['--mutual-user with --no-mutual-user', ['set', '-t', 'test1', '--mutual-user', 'tgt2', '--no-mutual-user'], 'ISCSI_ERR_BAD_REQUEST'],
    ['account-set to the other direction\'s secret', ['account-set', '-u', 'tgt1'], 'ISCSI_ERR_SECRET_REUSE', 'initiator-secret-1\n'],
    ['control characters in a secret', ['account-set', '-u', 'tgt1'], 'ISCSI_ERR_BAD_SECRET', 'target-secret\t01\n'],
    ['delete a mutual account in use', ['account-delete', '-u', 'tgt1'], 'ISCSI_ERR_ACCOUNT_IN_USE'],
    ['set nothing', ['set', '-t', 'test1'], 'ISCSI_ERR_BAD_REQUEST'],
  ];

  it.each(cases)('%s', async (_name, args, code, input) => {
    const before = snapshot();
    const r = await cli(args, input);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(new RegExp(`^vstorage-iscsi: .+ \\(${code}\\)\\n$`));
    expect(snapshot()).toEqual(before);
  });
});
