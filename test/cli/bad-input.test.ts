/**
 * Acceptance: every bad input the issue names gets its own message, a
 * non-zero exit status, nothing on standard output, and leaves ISCSI_ROOT
 * exactly as it was (every file's bytes, sizes and times compared). The
 * cases run against two nodes (two daemons with fake engines) sharing one
 * ISCSI_ROOT, so "running" and "registered elsewhere" are real states.
 *
 * Unknown target, bad IQN (RFC 3720), duplicate name, address used by another
 * target, size syntax, LUN ID out of range, target running when it must be
 * stopped, plus the other refusals of the commands.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildForTests, jsPath } from '../cluster/helpers/build.js';
import { runDaemon, type RunningDaemon } from '../../src/daemon/run.js';
import { createLogger } from '../../src/daemon/log.js';
import { FakeEngine } from '../daemon/fake-engine.js';
import { HOST_A, HOST_B, twoNodeEnvs } from './helpers/two-nodes.js';

const A = HOST_A;
const B = HOST_B;
const P = 'iqn.2014-04.com.vstorage';
const stopFirst = (t: string, what: string) => `target ${P}:${t} is running: stop it first (vstorage-iscsi stop -t ${P}:${t}) before ${what}`;
const BAD_IQN = (t: string) =>
  `'${t}' is not a valid iSCSI qualified name: expected iqn.YYYY-MM.reversed.domain[:unique-name] using only a-z, 0-9, '-', '.' and ':' (RFC 3720 §3.2.6.3.1)`;
const BAD_NAME = (n: string) => `target name '${n}' is not valid: use letters, digits, '-' and '.', starting and ending with a letter or digit`;
const BAD_SIZE = (s: string) => `size '${s}' is not valid: use a whole number with an optional unit K, M, G or T (e.g. 100G)`;
const BAD_LUN = (l: string) => `LUN ID '${l}' is not valid: use a number from 0 to 255`;
const NOT_FOUND = `target ${P}:nope does not exist`;
const LONG = `${P}:${'a'.repeat(200)}`;

let build: string;
let dir: string;
let root: string;
const env: Record<'A' | 'B', NodeJS.ProcessEnv> = { A: {}, B: {} };
const daemons: RunningDaemon[] = [];
const engines: Record<string, FakeEngine> = {};

function cli(node: 'A' | 'B', args: string[], input = ''): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [jsPath(build, 'tools/cli/main.ts'), ...args], { env: env[node] }, (err, stdout, stderr) => {
      const code = err ? ((err as { code?: number }).code ?? 1) : 0;
      resolve({ code: typeof code === 'number' ? code : 1, stdout: String(stdout), stderr: String(stderr) });
    });
    child.stdin!.end(input);
  });
}

async function ok(node: 'A' | 'B', args: string[], input = ''): Promise<void> {
  const r = await cli(node, args, input);
  if (r.code !== 0) throw new Error(`${args.join(' ')}: ${r.stderr}`);
}

/** Every entry of ISCSI_ROOT: file bytes (or size/blocks/mtime for images), modes and times. */
function snapshot(): Record<string, string> {
  const res: Record<string, string> = {};
  const walk = (p: string) => {
    for (const e of fs.readdirSync(p, { withFileTypes: true })) {
      const f = path.join(p, e.name);
      const st = fs.statSync(f);
      const key = path.relative(root, f);
      if (e.isDirectory()) {
        res[key + '/'] = `mode=${st.mode}`;
        walk(f);
      } else {
        res[key] = `mode=${st.mode} size=${st.size} blocks=${st.blocks} mtime=${st.mtimeMs} ${st.size <= 1 << 16 ? fs.readFileSync(f).toString('base64') : ''}`;
      }
    }
  };
  walk(root);
  return res;
}

beforeAll(async () => {
  build = buildForTests(['tools/cli/main.ts']);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bad-input-'));
  root = path.join(dir, 'root');
  fs.mkdirSync(root);
  const envs = twoNodeEnvs(dir, root);
  for (const n of ['A', 'B'] as const) {
    env[n] = envs[n];
    daemons.push(await runDaemon({ env: env[n], engineFactory: (o) => (engines[n] = new FakeEngine(o)), log: createLogger({ write: () => undefined }) }));
  }
  await ok('A', ['account-create', '-u', 'user1'], 'secret-of-user1\n');
  await ok('A', ['create', '-n', 'test1', '-a', '192.168.10.100']);
  await ok('A', ['lun-add', '-t', 'test1', '-l', '1', '-s', '1G']);
  await ok('A', ['create', '-n', 'run1', '-a', '192.168.10.111']);
  await ok('A', ['lun-add', '-t', 'run1', '-l', '1', '-s', '1G']);
  await ok('A', ['start', '-t', 'run1']);
  await ok('B', ['create', '-n', 'test2', '-a', '192.168.10.101']);
  await ok('B', ['create', '-n', 'brun', '-a', '192.168.10.121']);
  await ok('B', ['lun-add', '-t', 'brun', '-l', '1', '-s', '1G']);
  await ok('B', ['start', '-t', 'brun']);
}, 120_000);

afterAll(async () => {
  for (const d of daemons) await d.shutdown();
  fs.rmSync(dir, { recursive: true, force: true });
  fs.rmSync(build, { recursive: true, force: true });
});

type Case = [name: string, node: 'A' | 'B', args: string[], code: string, message: string, input?: string];

const cases: Record<string, Case[]> = {
  'unknown target': [
    ['lun-add', 'A', ['lun-add', '-t', 'nope', '-l', '1', '-s', '1G'], 'ISCSI_ERR_TARGET_NOT_FOUND', NOT_FOUND],
    ['lun-grow', 'A', ['lun-grow', '-t', 'nope', '-l', '1', '-s', '2G'], 'ISCSI_ERR_TARGET_NOT_FOUND', NOT_FOUND],
    ['lun-delete', 'A', ['lun-delete', '-t', 'nope', '-l', '1'], 'ISCSI_ERR_TARGET_NOT_FOUND', NOT_FOUND],
    ['lun-set', 'A', ['lun-set', '-t', 'nope', '-l', '1', '--offline'], 'ISCSI_ERR_TARGET_NOT_FOUND', NOT_FOUND],
    ['set', 'A', ['set', '-t', 'nope', '-a', '10.0.0.1'], 'ISCSI_ERR_TARGET_NOT_FOUND', NOT_FOUND],
    ['start', 'A', ['start', '-t', 'nope'], 'ISCSI_ERR_TARGET_NOT_FOUND', NOT_FOUND],
    ['stop', 'A', ['stop', '-t', 'nope'], 'ISCSI_ERR_TARGET_NOT_FOUND', NOT_FOUND],
    ['list -t', 'A', ['list', '-t', `${P}:nope`], 'ISCSI_ERR_TARGET_NOT_FOUND', NOT_FOUND],
    ['delete', 'B', ['delete', '-t', 'nope', '--force'], 'ISCSI_ERR_TARGET_NOT_FOUND', NOT_FOUND],
    ['register', 'B', ['register', '-t', 'nope'], 'ISCSI_ERR_TARGET_NOT_FOUND', NOT_FOUND],
    ['unregister', 'B', ['unregister', '-t', 'nope'], 'ISCSI_ERR_TARGET_NOT_FOUND', NOT_FOUND],
  ],
  'bad IQN (RFC 3720)': [
    ['no date and domain', 'A', ['list', '-t', 'iqn.bad'], 'ISCSI_ERR_BAD_IQN', BAD_IQN('iqn.bad')],
    ['month 13', 'A', ['start', '-t', 'iqn.2014-13.com.vstorage:test1'], 'ISCSI_ERR_BAD_IQN', BAD_IQN('iqn.2014-13.com.vstorage:test1')],
    ['underscore', 'A', ['delete', '-t', `${P}:test_1`], 'ISCSI_ERR_BAD_IQN', BAD_IQN(`${P}:test_1`)],
    ['space', 'A', ['lun-add', '-t', `${P}:test 1`, '-l', '2', '-s', '1G'], 'ISCSI_ERR_BAD_IQN', BAD_IQN(`${P}:test 1`)],
    ['longer than 223 bytes', 'A', ['register', '-t', LONG], 'ISCSI_ERR_BAD_IQN', `iSCSI name '${LONG}' is longer than 223 bytes (RFC 3720 §3.2.6.1)`],
    ['bad short name', 'A', ['stop', '-t', 'test_1'], 'ISCSI_ERR_BAD_NAME', BAD_NAME('test_1')],
    ['create: underscore (Hyper-V refuses it)', 'A', ['create', '-n', 'test_2', '-a', '10.0.0.9'], 'ISCSI_ERR_BAD_NAME', BAD_NAME('test_2')],
    ['create: leading dot', 'A', ['create', '-n', '.x', '-a', '10.0.0.9'], 'ISCSI_ERR_BAD_NAME', BAD_NAME('.x')],
    ['create: name too long', 'A', ['create', '-n', 'a'.repeat(200), '-a', '10.0.0.9'], 'ISCSI_ERR_BAD_NAME', `target name '${'a'.repeat(200)}' makes the IQN longer than 223 bytes`],
    [
      'initiator name',
      'A',
      ['set', '-t', 'test1', '--allow', 'iqn.x'],
      'ISCSI_ERR_BAD_INITIATOR',
      `initiator name: ${BAD_IQN('iqn.x')}`,
    ],
    [
      'initiator name (not iqn/eui/naa)',
      'A',
      ['create', '-n', 'test9', '-a', '10.0.0.9', '--deny', 'host1'],
      'ISCSI_ERR_BAD_INITIATOR',
      `'host1' is not a valid initiator name: expected iqn.YYYY-MM.reversed.domain[:unique-name], eui. and 16 hex digits, or naa. and 16 or 32 hex digits (RFC 3720 §3.2.6.3, RFC 3980)`,
    ],
  ],
  'duplicate name': [
    ['same node', 'A', ['create', '-n', 'test1', '-a', '10.0.0.9'], 'ISCSI_ERR_TARGET_EXISTS', `target ${P}:test1 already exists: target names must be unique in the cluster`],
    ['other node', 'A', ['create', '-n', 'test2', '-a', '10.0.0.9'], 'ISCSI_ERR_TARGET_EXISTS', `target ${P}:test2 already exists: target names must be unique in the cluster`],
    ['case-insensitive', 'B', ['create', '-n', 'TEST1', '-a', '10.0.0.9'], 'ISCSI_ERR_TARGET_EXISTS', `target ${P}:test1 already exists: target names must be unique in the cluster`],
    ['account', 'B', ['account-create', '-u', 'user1'], 'ISCSI_ERR_ACCOUNT_EXISTS', 'CHAP account user1 already exists (change its password with account-set)', 'secret-number-1\n'],
    ['LUN', 'A', ['lun-add', '-t', 'test1', '-l', '1', '-s', '1G'], 'ISCSI_ERR_LUN_EXISTS', `target ${P}:test1 already has LUN 1`],
  ],
  'address used by another target': [
    [
      'create, same node',
      'A',
      ['create', '-n', 'test9', '-a', '192.168.10.100'],
      'ISCSI_ERR_PORTAL_IN_USE',
      `portal 192.168.10.100 is already used by target ${P}:test1 (192.168.10.100); each target needs its own address`,
    ],
    [
      'create, other node',
      'A',
      ['create', '-n', 'test9', '-a', '10.0.0.9', '-a', '192.168.10.101'],
      'ISCSI_ERR_PORTAL_IN_USE',
      `portal 192.168.10.101 is already used by target ${P}:test2 (192.168.10.101); each target needs its own address`,
    ],
    [
      'create, wildcard',
      'B',
      ['create', '-n', 'test9', '-a', '0.0.0.0'],
      'ISCSI_ERR_PORTAL_IN_USE',
      `portal 0.0.0.0 is already used by target ${P}:brun (192.168.10.121); each target needs its own address`,
    ],
    [
      'set',
      'A',
      ['set', '-t', 'test1', '-a', '192.168.10.121'],
      'ISCSI_ERR_PORTAL_IN_USE',
      `portal 192.168.10.121 is already used by target ${P}:brun (192.168.10.121); each target needs its own address`,
    ],
    ['twice in one command', 'A', ['create', '-n', 'test9', '-a', '10.0.0.9', '-a', '10.0.0.9:3260'], 'ISCSI_ERR_DUPLICATE_PORTAL', 'portal 10.0.0.9 is given more than once'],
    [
      'not an address',
      'A',
      ['create', '-n', 'test9', '-a', 'node1.example'],
      'ISCSI_ERR_BAD_ADDRESS',
      "portal address 'node1.example' is not valid: not an IPv4 address (host names are not accepted) (expected IPv4[:PORT], IPv6 or [IPv6]:PORT)",
    ],
    ['no address', 'A', ['create', '-n', 'test9'], 'ISCSI_ERR_NO_PORTAL', 'a target needs at least one portal address (-a ADDRESS)'],
  ],
  'size syntax': [
    ['unknown unit', 'A', ['lun-add', '-t', 'test1', '-l', '2', '-s', '100Q'], 'ISCSI_ERR_BAD_SIZE', BAD_SIZE('100Q')],
    ['fraction', 'A', ['lun-add', '-t', 'test1', '-l', '2', '-s', '1.5G'], 'ISCSI_ERR_BAD_SIZE', BAD_SIZE('1.5G')],
    ['negative', 'A', ['lun-add', '-t', 'test1', '-l', '2', '-s', '-1G'], 'ISCSI_ERR_BAD_SIZE', BAD_SIZE('-1G')],
    ['zero', 'A', ['lun-add', '-t', 'test1', '-l', '2', '-s', '0'], 'ISCSI_ERR_BAD_SIZE', "size '0' must be larger than zero"],
    ['not whole blocks', 'A', ['lun-add', '-t', 'test1', '-l', '2', '-s', '1000'], 'ISCSI_ERR_BAD_SIZE', "size '1000' is not a multiple of the 512-byte block size"],
    ['over 1024T', 'A', ['lun-add', '-t', 'test1', '-l', '2', '-s', '1025T'], 'ISCSI_ERR_BAD_SIZE', "size '1025T' is larger than the 1024T maximum"],
    [
      'raw over 16T',
      'A',
      ['lun-add', '-t', 'test1', '-l', '2', '-s', '17T', '--format', 'raw'],
      'ISCSI_ERR_BAD_SIZE',
      'raw images are at most 16T (the ext4 file size limit): use the default qcow2 format for larger LUNs',
    ],
    ['no size and no image', 'A', ['lun-add', '-t', 'test1', '-l', '2'], 'ISCSI_ERR_BAD_SIZE', 'a new LUN needs a size (-s SIZE), or an image to adopt (--image FILE)'],
    ['lun-grow', 'A', ['lun-grow', '-t', 'test1', '-l', '1', '-s', 'abc'], 'ISCSI_ERR_BAD_SIZE', BAD_SIZE('abc')],
    ['lun-grow smaller', 'A', ['lun-grow', '-t', 'test1', '-l', '1', '-s', '512M'], 'ISCSI_ERR_SIZE_NOT_LARGER', 'new size 512M of LUN 1 is not larger than its current size 1024M'],
  ],
  'LUN ID out of range': [
    ['lun-add 256', 'A', ['lun-add', '-t', 'test1', '-l', '256', '-s', '1G'], 'ISCSI_ERR_BAD_LUN_ID', BAD_LUN('256')],
    ['lun-add -1', 'A', ['lun-add', '-t', 'test1', '-l', '-1', '-s', '1G'], 'ISCSI_ERR_BAD_LUN_ID', BAD_LUN('-1')],
    ['lun-add abc', 'A', ['lun-add', '-t', 'test1', '-l', 'abc', '-s', '1G'], 'ISCSI_ERR_BAD_LUN_ID', BAD_LUN('abc')],
    ['lun-grow', 'A', ['lun-grow', '-t', 'test1', '-l', '300', '-s', '2G'], 'ISCSI_ERR_BAD_LUN_ID', BAD_LUN('300')],
    ['lun-delete', 'A', ['lun-delete', '-t', 'test1', '-l', '1000'], 'ISCSI_ERR_BAD_LUN_ID', BAD_LUN('1000')],
    ['lun-set', 'A', ['lun-set', '-t', 'test1', '-l', '65536', '--offline'], 'ISCSI_ERR_BAD_LUN_ID', BAD_LUN('65536')],
    ['no such LUN', 'A', ['lun-set', '-t', 'test1', '-l', '7', '--offline'], 'ISCSI_ERR_LUN_NOT_FOUND', `target ${P}:test1 has no LUN 7`],
  ],
  'target running when it must be stopped': [
    ['set -a', 'A', ['set', '-t', 'run1', '-a', '10.0.0.9'], 'ISCSI_ERR_TARGET_RUNNING', stopFirst('run1', 'changing its portals or description')],
    ['set -d', 'A', ['set', '-t', 'run1', '-d', 'new text'], 'ISCSI_ERR_TARGET_RUNNING', stopFirst('run1', 'changing its portals or description')],
    ['lun-delete', 'A', ['lun-delete', '-t', 'run1', '-l', '1'], 'ISCSI_ERR_TARGET_RUNNING', stopFirst('run1', 'deleting a LUN')],
    ['delete', 'A', ['delete', '-t', 'run1'], 'ISCSI_ERR_TARGET_RUNNING', stopFirst('run1', 'deleting it')],
    ['unregister', 'A', ['unregister', '-t', 'run1'], 'ISCSI_ERR_TARGET_RUNNING', stopFirst('run1', 'unregistering it')],
    ['delete --force, running on the other node', 'A', ['delete', '-t', 'brun', '--force'], 'ISCSI_ERR_TARGET_RUNNING', stopFirst('brun', 'deleting it')],
    ['set -a, running on the other node', 'A', ['set', '-t', 'brun', '-a', '10.0.0.9'], 'ISCSI_ERR_TARGET_RUNNING', stopFirst('brun', 'changing its portals or description')],
  ],
  'registered on another node': [
    ['lun-grow', 'A', ['lun-grow', '-t', 'brun', '-l', '1', '-s', '2G'], 'ISCSI_ERR_TARGET_REMOTE', `target ${P}:brun runs on host ${B}: grow its LUN there, or stop the target first`],
    ['start', 'A', ['start', '-t', 'brun'], 'ISCSI_ERR_TARGET_REMOTE', `target ${P}:brun is registered on host ${B}; start it there`],
    ['stop', 'A', ['stop', '-t', 'brun'], 'ISCSI_ERR_TARGET_REMOTE', `target ${P}:brun is registered on host ${B}; stop it there`],
    ['lun-set', 'A', ['lun-set', '-t', 'brun', '-l', '1', '--offline'], 'ISCSI_ERR_TARGET_REMOTE', `target ${P}:brun is registered on host ${B} and runs there; run lun-set on that host`],
    ['unregister', 'A', ['unregister', '-t', 'test2'], 'ISCSI_ERR_TARGET_REMOTE', `target ${P}:test2 is registered on host ${B}, not this one (${A})`],
    ['delete', 'A', ['delete', '-t', 'test2'], 'ISCSI_ERR_TARGET_REMOTE', `target ${P}:test2 is registered on host ${B}, not this one (${A}): add --force to delete it from here`],
    [
      'register',
      'A',
      ['register', '-t', 'test2'],
      'ISCSI_ERR_ALREADY_REGISTERED',
      `target ${P}:test2 is registered on host ${B}: unregister it there first (vstorage-iscsi unregister -t ${P}:test2)`,
    ],
  ],
  'image format, cluster size, adopted image': [
    ['unknown format', 'A', ['lun-add', '-t', 'test1', '-l', '2', '-s', '1G', '--format', 'vmdk'], 'ISCSI_ERR_BAD_FORMAT', "image format 'vmdk' is not supported: use qcow2 (thin, snapshots; the default) or raw"],
    ['cluster size not a power of two', 'A', ['lun-add', '-t', 'test1', '-l', '2', '-s', '1G', '--cluster-size', '96K'], 'ISCSI_ERR_BAD_CLUSTER_SIZE', "cluster size '96K' is not valid: use a power of two from 4K to 2M (default 64K)"],
    ['cluster size too large', 'A', ['lun-add', '-t', 'test1', '-l', '2', '-s', '1G', '--cluster-size', '4M'], 'ISCSI_ERR_BAD_CLUSTER_SIZE', "cluster size '4M' is not valid: use a power of two from 4K to 2M (default 64K)"],
    ['cluster size of a raw image', 'A', ['lun-add', '-t', 'test1', '-l', '2', '-s', '1G', '--format', 'raw', '--cluster-size', '64K'], 'ISCSI_ERR_BAD_REQUEST', '--cluster-size applies to qcow2 images only, not to --format raw'],
    ['missing image', 'A', ['lun-add', '-t', 'test1', '-l', '2', '--image', '/nonexistent/disk.qcow2'], 'ISCSI_ERR_BAD_IMAGE', 'cannot adopt /nonexistent/disk.qcow2: no such file'],
    ['image is a directory', 'A', ['lun-add', '-t', 'test1', '-l', '2', '--image', '/tmp'], 'ISCSI_ERR_BAD_IMAGE', 'cannot adopt /tmp: not a regular file'],
  ],
  'conflicting or missing options': [
    ['lun-set neither', 'A', ['lun-set', '-t', 'test1', '-l', '1'], 'ISCSI_ERR_BAD_REQUEST', 'give either --online or --offline'],
    ['lun-set both', 'A', ['lun-set', '-t', 'test1', '-l', '1', '--online', '--offline'], 'ISCSI_ERR_BAD_REQUEST', 'give either --online or --offline'],
    [
      '--allow and --deny of one initiator',
      'A',
      ['set', '-t', 'test1', '--allow', 'iqn.1994-05.com.redhat:a', '--deny', 'IQN.1994-05.com.redhat:A'],
      'ISCSI_ERR_BAD_REQUEST',
      'initiator iqn.1994-05.com.redhat:a is given with both --allow and --deny',
    ],
    [
      'set nothing',
      'A',
      ['set', '-t', 'test1'],
      'ISCSI_ERR_BAD_REQUEST',
      'nothing to change: give -a, -d, -u, --no-user, --mutual-user, --no-mutual-user, --allow, --deny, --unlist or --allow-all',
    ],
    ['completion for an unknown shell', 'A', ['completion', 'fish'], 'ISCSI_ERR_BAD_REQUEST', "no completion for shell 'fish': supported: bash"],
    ['description', 'A', ['set', '-t', 'test1', '-d', 'x'.repeat(256)], 'ISCSI_ERR_BAD_DESCRIPTION', 'description must be at most 255 bytes of text without control characters'],
    [
      'unknown account',
      'A',
      ['set', '-t', 'test1', '-u', 'nobody'],
      'ISCSI_ERR_ACCOUNT_NOT_FOUND',
      'CHAP account nobody does not exist (create it with vstorage-iscsi account-create -u nobody)',
    ],
    ['account-delete of an unknown account', 'B', ['account-delete', '-u', 'nobody'], 'ISCSI_ERR_ACCOUNT_NOT_FOUND', 'CHAP account nobody does not exist (create it with vstorage-iscsi account-create -u nobody)'],
    ['password mismatch', 'A', ['account-set', '-u', 'user1'], 'ISCSI_ERR_PASSWORD_MISMATCH', 'the two password lines on standard input do not match; nothing was changed', 'secret-number-1\nsecret-number-2\n'],
  ],
};

describe.each(Object.keys(cases))('%s: message, exit status 1, nothing changed', (group) => {
  it.each(cases[group]!)('%s', async (_name, node, args, code, message, input) => {
    const before = snapshot();
    const running = Object.fromEntries(Object.entries(engines).map(([n, e]) => [n, [...e.defs.keys()].sort()]));
    const r = await cli(node, args, input ?? '');
    expect(r).toEqual({ code: 1, stdout: '', stderr: `vstorage-iscsi: ${message} (${code})\n` });
    expect(snapshot()).toEqual(before);
    expect(Object.fromEntries(Object.entries(engines).map(([n, e]) => [n, [...e.defs.keys()].sort()]))).toEqual(running);
  });
});

describe('usage errors: exit status 2, commander names the problem, nothing changed', () => {
  it.each([
    [['lun-add', '-t', 'test1', '-s', '1G'], "error: required option '-l, --lun <id>' not specified"],
    [['create', '-a', '10.0.0.1'], "error: required option '-n, --name <name>' not specified"],
    [['frobnicate'], "error: unknown command 'frobnicate'"],
    [['list', '--frob'], "error: unknown option '--frob'"],
    [['completion'], "error: missing required argument 'shell'"],
  ])('%j', async (args, message) => {
    const before = snapshot();
    const r = await cli('A', args);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.split('\n')[0]).toBe(message);
    expect(snapshot()).toEqual(before);
  });
});

describe('a CLI whose host ID differs from its daemon', () => {
  it('refuses to guess the statuses, says which settings to align, changes nothing', async () => {
    const before = snapshot();
    const wrong = { ...env.A, ISCSI_HOST_ID: 'cccccccccccccccc' };
    const r = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, [jsPath(build, 'tools/cli/main.ts'), 'list'], { env: wrong }, (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout: String(stdout), stderr: String(stderr) }),
      );
    });
    expect(r).toEqual({
      code: 1,
      stdout: '',
      stderr:
        `vstorage-iscsi: the daemon on ${dir}/run-A/vstorage-iscsid.sock is host ${A}, but this command runs as host cccccccccccccccc: ` +
        'give both the same configuration (ISCSI_HOST_ID, ISCSI_STATE_DIR) (ISCSI_ERR_CONFIG)\n',
    });
    expect(snapshot()).toEqual(before);
  });
});
