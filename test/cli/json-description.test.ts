/**
 * `--json` on the commands that print data (create, list, list -t,
 * account-list), for scripts; a description per target (`create -d`,
 * `set -d`) kept in the record and shown in `list --json` (the daemon sends
 * it as the TargetAlias, test/daemon/access-online.test.ts).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli } from '../../tools/cli/program.js';

let dir: string;
let env: NodeJS.ProcessEnv;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cli-json-'));
  fs.mkdirSync(path.join(dir, 'root'));
  fs.writeFileSync(path.join(dir, 'config'), `ISCSI_ROOT=${dir}/root\nISCSI_RUN_DIR=${dir}/run\nISCSI_STATE_DIR=${dir}/state\n`);
  env = { ISCSI_CONFIG: path.join(dir, 'config'), ISCSI_HOST_ID: 'fefacc38a2f140ca' };
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

async function run(args: string[], input = ''): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const { PassThrough } = await import('node:stream');
  const stdin = new PassThrough();
  stdin.end(input);
  const code = await runCli(args, { stdout: (s) => (out += s), stderr: (s) => (err += s), stdin, env });
  return { code, out, err };
}

describe('--json', () => {
  it('create, list, list -t and account-list print JSON that scripts can read', async () => {
    const c = await run(['create', '-n', 'test1', '-a', '192.168.10.100', '-d', 'scratch space', '--allow', 'iqn.1994-05.com.redhat:c678b9f6f0', '--json']);
    expect(c).toEqual({ code: 0, out: '{"iqn":"iqn.2014-04.com.vstorage:test1"}\n', err: '' });
    await run(['lun-add', '-t', 'test1', '-l', '1', '-s', '1G']);
    await run(['lun-set', '-t', 'test1', '-l', '1', '--offline']);
    await run(['account-create', '-u', 'user1'], 'secret-of-user1\n');
    const one = JSON.parse((await run(['list', '-t', 'test1', '--json'])).out);
    expect(one).toMatchObject({
      iqn: 'iqn.2014-04.com.vstorage:test1',
      name: 'test1',
      description: 'scratch space',
      status: 'stopped',
      registered: true,
      host: 'fefacc38a2f140ca',
      desiredState: 'stopped',
      account: null,
      mutualAccount: null,
      initiators: { allow: ['iqn.1994-05.com.redhat:c678b9f6f0'], deny: [] },
      portals: [{ address: '192.168.10.100', port: 3260, tpgt: 1, relativePortId: 1, portGroupId: 1 }],
      luns: [{ id: 1, sizeBytes: 1 << 30, usedBytes: expect.any(Number), online: false, format: 'qcow2', clusterSize: 65536 }],
      sessions: [],
    });
    expect(one.luns[0].naa).toMatch(/^6[0-9a-f]{31}$/);
    // A new thin image holds only its metadata: header, L1 and refcount tables.
    expect(one.luns[0].usedBytes).toBeGreaterThan(0);
    expect(one.luns[0].usedBytes).toBeLessThan(1 << 20);
    const all = JSON.parse((await run(['list', '--json'])).out);
    expect(all).toEqual([one]);
    expect(JSON.parse((await run(['account-list', '--json'])).out)).toEqual(['user1']);
    expect(JSON.parse((await run(['account-list', '-u', 'user1', '--json'])).out)).toEqual([]);
    // Secrets are never printed.
    expect(JSON.stringify(all)).not.toContain('secret');
  });
});

describe('a description per target', () => {
  it('is set by create -d and set -d, kept out of the source layout of list -t, and checked', async () => {
    await run(['create', '-n', 'test1', '-a', '192.168.10.100']);
    expect(JSON.parse((await run(['list', '-t', 'test1', '--json'])).out).description).toBe('');
    expect((await run(['set', '-t', 'test1', '-d', 'Exchange logs, 2nd floor'])).code).toBe(0);
    expect(JSON.parse((await run(['list', '-t', 'test1', '--json'])).out).description).toBe('Exchange logs, 2nd floor');
    expect((await run(['list', '-t', 'test1'])).out).not.toContain('Exchange');
    const bad = await run(['set', '-t', 'test1', '-d', 'two\nlines']);
    expect(bad).toEqual({
      code: 1,
      out: '',
      err: 'vstorage-iscsi: description must be at most 255 bytes of text without control characters (ISCSI_ERR_BAD_DESCRIPTION)\n',
    });
  });
});
