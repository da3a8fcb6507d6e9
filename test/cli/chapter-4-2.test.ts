/**
 * Acceptance: every `vstorage-iscsi` example of chapter 4.2 of the source
 * document (fixtures/chapter-4.2.txt, verbatim) is run with the real CLI
 * program, and what it prints is compared with the document: field names,
 * columns, statuses and messages. Two nodes (two daemons with different host
 * IDs, fake engines) share one ISCSI_ROOT for the transfer of 4.2.4 and the
 * forced delete of 4.2.6. The snapshot commands of 4.2.10 belong to the
 * thin-image issue: their test is skipped until the commands exist.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { buildForTests, jsPath, REPO } from '../cluster/helpers/build.js';
import { runDaemon, type RunningDaemon } from '../../src/daemon/run.js';
import { createLogger } from '../../src/daemon/log.js';
import { FakeEngine } from '../daemon/fake-engine.js';
import { buildProgram, runCli } from '../../tools/cli/program.js';
import { CliContext } from '../../tools/cli/context.js';
import { HOST_A, HOST_B, twoNodeEnvs } from './helpers/two-nodes.js';

const A = HOST_A;
const B = HOST_B;
const P = 'iqn.2014-04.com.vstorage';
const T1 = `${P}:test1`;

// ---- the source document's examples -------------------------------------------

interface Example {
  /** Arguments after `vstorage-iscsi`. */
  args: string[];
  /** Lines printed under it in the source document. */
  output: string[];
}

const FIXTURE = fs.readFileSync(path.join(REPO, 'test/cli/fixtures/chapter-4.2.txt'), 'utf8');

function blocks(): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let cur: string[] | undefined;
  for (const line of FIXTURE.split('\n')) {
    if (line.startsWith('#@ ')) out.set(line.slice(3), (cur = []));
    else if (cur && line.trim() !== '') cur.push(line.trimEnd());
  }
  return out;
}

const BLOCKS = blocks();

/** The commands this CLI has (the snapshot ones come with the thin-image issue). */
const COMMANDS = buildProgram(new CliContext({ stdout: () => undefined, stderr: () => undefined, stdin: process.stdin, env: {} })).commands.map((c) => c.name());

function examples(name: string): Example[] {
  const lines = BLOCKS.get(name);
  if (!lines) throw new Error(`no block "${name}" in the fixture`);
  const out: Example[] = [];
  for (const l of lines) {
    if (l.startsWith('# vstorage-iscsi ')) out.push({ args: l.slice('# vstorage-iscsi '.length).split(/\s+/), output: [] });
    else out[out.length - 1]!.output.push(l);
  }
  return out;
}

// ---- two nodes on one ISCSI_ROOT -----------------------------------------------------

let build: string;
let dir: string;
let root: string;
const nodes: Record<string, { env: NodeJS.ProcessEnv; daemon?: RunningDaemon; engine?: FakeEngine }> = {};

beforeAll(() => {
  build = buildForTests(['tools/cli/main.ts']);
}, 90_000);
afterAll(() => fs.rmSync(build, { recursive: true, force: true }));

beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chapter42-'));
  root = path.join(dir, 'root');
  fs.mkdirSync(root);
  const envs = twoNodeEnvs(dir, root);
  for (const n of ['A', 'B'] as const) {
    nodes[n] = { env: envs[n] };
    const node = nodes[n]!;
    node.daemon = await runDaemon({
      env: node.env,
      engineFactory: (o) => (node.engine = new FakeEngine(o)),
      log: createLogger({ write: () => undefined }),
    });
  }
});

afterEach(async () => {
  for (const n of Object.values(nodes)) await n.daemon?.shutdown();
  fs.rmSync(dir, { recursive: true, force: true });
});

interface Result {
  code: number;
  /** stdout then stderr, as lines without trailing blanks (a terminal shows both). */
  lines: string[];
}

function cli(node: 'A' | 'B', args: string[], input = ''): Promise<Result> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [jsPath(build, 'tools/cli/main.ts'), ...args], { env: nodes[node]!.env }, (err, stdout, stderr) => {
      const code = err ? ((err as { code?: number }).code ?? 1) : 0;
      const text = String(stdout) + String(stderr);
      resolve({ code: typeof code === 'number' ? code : 1, lines: text === '' ? [] : text.replace(/\n$/, '').split('\n').map((l) => l.trimEnd()) });
    });
    child.stdin!.end(input);
  });
}

/** Run a source example on a node and compare with the document. */
async function runExample(node: 'A' | 'B', ex: Example, code = 0): Promise<void> {
  const r = await cli(node, ex.args);
  expect({ args: ex.args.join(' '), code: r.code, lines: r.lines }).toEqual({ args: ex.args.join(' '), code, lines: ex.output });
}

/** A terminal that types the given keys (for the password prompts). */
function fakeTty(keys: string[]): PassThrough & { isTTY: boolean; setRawMode: (m: boolean) => void } {
  const s = new PassThrough() as PassThrough & { isTTY: boolean; setRawMode: (m: boolean) => void };
  s.isTTY = true;
  s.setRawMode = () => undefined;
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

async function onTerminal(node: 'A' | 'B', ex: Example, typed: string[]): Promise<void> {
  let text = '';
  const code = await runCli(ex.args, {
    stdout: (s) => (text += s),
    stderr: (s) => (text += s),
    stdin: fakeTty(typed),
    env: nodes[node]!.env,
  });
  expect({ code, lines: text.replace(/\n$/, '').split('\n').map((l) => l.trimEnd()) }).toEqual({ code: 0, lines: ex.output });
}

// ---- the chapter ---------------------------------------------------------------------

describe('chapter 4.2 of the source document, command by command', () => {
  it('the fixture is the source document, verbatim (when the workspace has it)', () => {
    const seed = path.join(REPO, '../shared/seeds/003_e7af9c4bc3d3717a.txt');
    if (!fs.existsSync(seed)) return;
    const doc = fs.readFileSync(seed, 'utf8').split('\n').map((l) => l.trimEnd());
    for (const [name, lines] of BLOCKS) {
      const at = doc.findIndex((_, i) => lines.every((l, j) => doc[i + j] === l));
      expect(at, `block "${name}"`).toBeGreaterThan(0);
    }
    expect(BLOCKS.size).toBe(21);
  });

  it('4.2.2: create, lun-add, start, list -t; set -a and lun-grow on the stopped target', async () => {
    const [create, lunAdd, start] = examples('4.2.2 create, lun-add, start');
    await runExample('A', create!);
    await runExample('A', lunAdd!);
    await runExample('A', start!);
    expect(nodes.A!.engine!.isRunning(T1)).toBe(true);
    // Used: 1M as in the source: a new 100G qcow2 image holds its header, L1 and refcount tables (~256 KiB).
    await runExample('A', examples('4.2.2 list -t')[0]!);
    // Notes 1 and 2: `set -t <target_name> -a <new_IP_address>`, `lun-grow -t <target_name> -l <lun_ID> -s <new_size>`.
    expect(await cli('A', ['set', '-t', 'test1', '-a', '192.168.10.200'])).toMatchObject({ code: 1 }); // running: stop first
    expect(await cli('A', ['stop', '-t', T1])).toEqual({ code: 0, lines: [] });
    expect(await cli('A', ['set', '-t', 'test1', '-a', '192.168.10.200'])).toEqual({ code: 0, lines: [] });
    expect(await cli('A', ['lun-grow', '-t', 'test1', '-l', '1', '-s', '200G'])).toEqual({ code: 0, lines: [] });
    expect((await cli('A', ['list', '-t', T1])).lines).toEqual([
      `Target ${T1}:`,
      'Portals:    192.168.10.200',
      'Status:     stopped',
      'Registered: yes',
      `Host:       ${A}`,
      'LUN: 1, Size: 204800M, Used: 1M, Online: Yes',
    ]);
  });

  it('4.2.3: list shows the table; its rows are the source rows, its columns the source columns', async () => {
    for (let i = 1; i <= 4; i++) {
      expect((await cli('A', ['create', '-n', `test${i}`, '-a', `192.168.10.${99 + i}`])).code).toBe(0);
      if (i < 4) expect((await cli('A', ['lun-add', '-t', `${P}:test${i}`, '-l', '1', '-s', '100G'])).code).toBe(0);
    }
    await cli('A', ['start', '-t', `${P}:test1`]);
    await cli('A', ['start', '-t', `${P}:test2`]);
    const [ex] = examples('4.2.3 list');
    const r = await cli('A', ex!.args);
    expect(r.code).toBe(0);
    // Data rows: exactly the document's.
    expect(r.lines.slice(1)).toEqual(ex!.output.slice(1));
    // Header: the document's column names (it does not align them to the rows; we do).
    expect(r.lines[0]!.split(/\s+/)).toEqual(ex!.output[0]!.split(/\s+/));
    expect(r.lines[0]).toBe('IQN                             STATUS   LUNs  HOST              PORTAL(s)');
    for (const row of r.lines.slice(1)) {
      expect(row.indexOf('running') >= 0 ? row.indexOf('running') : row.indexOf('stopped')).toBe(r.lines[0]!.indexOf('STATUS'));
    }
  });

  it('4.2.3: every Status value of the document, each where it says', async () => {
    // running / stopped (local), remote (another node), unregistered (no node), service failed (daemon down).
    await cli('A', ['create', '-n', 'test1', '-a', '192.168.10.100']);
    await cli('A', ['create', '-n', 'test2', '-a', '192.168.10.101']);
    await cli('A', ['create', '-n', 'test3', '-a', '192.168.10.102']);
    await cli('B', ['create', '-n', 'test4', '-a', '192.168.10.103']);
    await cli('A', ['start', '-t', 'test1']);
    await cli('A', ['unregister', '-t', 'test3']);
    const status = async (node: 'A' | 'B') =>
      Object.fromEntries((await cli(node, ['list'])).lines.slice(1).map((l) => [l.split(/\s+/)[0]!.split(':')[1], /^\S+\s+(\S+(?: failed)?)/.exec(l)![1]]));
    expect(await status('A')).toEqual({ test1: 'running', test2: 'stopped', test3: 'unregistered', test4: 'remote' });
    expect(await status('B')).toEqual({ test1: 'remote', test2: 'remote', test3: 'unregistered', test4: 'stopped' });
    await nodes.A!.daemon!.shutdown(); // the iSCSI service is down on A
    nodes.A!.daemon = undefined;
    expect(await status('A')).toEqual({ test1: 'service failed', test2: 'stopped', test3: 'unregistered', test4: 'remote' });
    const d = await cli('A', ['list', '-t', 'test1']);
    expect(d.lines.map((l) => l.split(':')[0])).toEqual(['Target iqn.2014-04.com.vstorage', 'Portals', 'Status', 'Registered', 'Host']);
    expect(d.lines[2]).toBe('Status:     service failed');
    expect((await cli('A', ['list', '-t', 'test3'])).lines.slice(2, 5)).toEqual(['Status:     unregistered', 'Registered: no', 'Host:       -']);
  });

  it('4.2.4: a stopped target moves to another node with unregister and register', async () => {
    await cli('A', ['create', '-n', 'test1', '-a', '192.168.10.100']);
    await cli('A', ['lun-add', '-t', T1, '-l', '1', '-s', '100G']);
    await runExample('A', examples('4.2.4 unregister')[0]!);
    await runExample('B', examples('4.2.4 register')[0]!);
    expect((await cli('B', ['list', '-t', T1])).lines.slice(2, 5)).toEqual(['Status:     stopped', 'Registered: yes', `Host:       ${B}`]);
    expect((await cli('A', ['list', '-t', T1])).lines.slice(2, 5)).toEqual(['Status:     remote', 'Registered: yes', `Host:       ${B}`]);
    // Only the destination can start it now.
    expect(await cli('A', ['start', '-t', T1])).toEqual({
      code: 1,
      lines: [`vstorage-iscsi: target ${T1} is registered on host ${B}; start it there (ISCSI_ERR_TARGET_REMOTE)`],
    });
    expect(await cli('B', ['start', '-t', T1])).toEqual({ code: 0, lines: [] });
    expect([nodes.A!.engine!.isRunning(T1), nodes.B!.engine!.isRunning(T1)]).toEqual([false, true]);
  });

  it('4.2.5: stop, the refusal with connected initiators, stop -f', async () => {
    await cli('A', ['create', '-n', 'test1', '-a', '192.168.10.100']);
    await cli('A', ['start', '-t', T1]);
    await runExample('A', examples('4.2.5 stop')[0]!);
    expect(nodes.A!.engine!.isRunning(T1)).toBe(false);
    await cli('A', ['start', '-t', T1]);
    nodes.A!.engine!.addSession(T1, 'iqn.1994-05.com.redhat:c678b9f6f0', '192.168.30.100');
    await runExample('A', examples('4.2.5 stop with initiators')[0]!, 1);
    expect(nodes.A!.engine!.isRunning(T1)).toBe(true);
    await runExample('A', examples('4.2.5 stop -f')[0]!);
    expect(nodes.A!.engine!.isRunning(T1)).toBe(false);
  });

  it('4.2.6: delete a stopped target; --force for one registered on another node', async () => {
    await cli('A', ['create', '-n', 'test1', '-a', '192.168.10.100']);
    await cli('A', ['lun-add', '-t', T1, '-l', '1', '-s', '100G']);
    await runExample('A', examples('4.2.6 delete')[0]!);
    expect(fs.existsSync(path.join(root, 'targets', T1))).toBe(false);
    await cli('B', ['create', '-n', 'test1', '-a', '192.168.10.100']);
    expect(await cli('A', ['delete', '-t', T1])).toEqual({
      code: 1,
      lines: [`vstorage-iscsi: target ${T1} is registered on host ${B}, not this one (${A}): add --force to delete it from here (ISCSI_ERR_TARGET_REMOTE)`],
    });
    await runExample('A', examples('4.2.6 delete --force')[0]!);
    expect(fs.readdirSync(path.join(root, 'targets'))).toEqual([]);
  });

  it('4.2.8: a target with one address per network', async () => {
    const [ex] = examples('4.2.8 multipath');
    // The document leaves out the output here; it is the IQN line of 4.2.2.
    expect(await cli('A', ex!.args)).toEqual({ code: 0, lines: [`IQN: ${P}:ps1`] });
    expect((await cli('A', ['list', '-t', 'ps1'])).lines[1]).toBe('Portals:    192.168.10.101,192.168.20.101');
  });

  it('4.2.9: CHAP accounts: create (prompts), a bound target, password change, lists', async () => {
    await onTerminal('A', examples('4.2.9.1 account-create')[0]!, ['secret-of-user1\r', 'secret-of-user1\r']);
    await runExample('A', examples('4.2.9.2 create -u')[0]!);
    await onTerminal('A', examples('4.2.9.3 account-set')[0]!, ['another-secret-1\r', 'another-secret-1\r']);
    expect(JSON.parse(fs.readFileSync(path.join(root, 'accounts', 'user1.json'), 'utf8')).secret).toBe('another-secret-1');
    await runExample('A', examples('4.2.9.4 account-list')[0]!);
    await runExample('A', examples('4.2.9.4 account-list -u')[0]!);
    // From the other node too: the accounts live in ISCSI_ROOT.
    await runExample('B', examples('4.2.9.4 account-list -u')[0]!);
  });

  // 4.2.10: the thin-image issue builds these commands; until they exist the test is skipped
  // (and listed as skipped). The layouts below are the document's.
  const SNAPSHOT_COMMANDS = ['snapshot-create', 'snapshot-list', 'snapshot-switch', 'snapshot-info', 'snapshot-delete'];
  const haveSnapshots = SNAPSHOT_COMMANDS.every((c) => COMMANDS.includes(c));
  it.skipIf(!haveSnapshots)('4.2.10: snapshot-create, -list, -switch (LUN offline), -info, -delete in the layouts of the document', async () => {
    const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
    await cli('A', ['create', '-n', 'test1', '-a', '192.168.10.100']);
    await cli('A', ['lun-add', '-t', T1, '-l', '1', '-s', '100M']);
    // 4.2.10.1: "Snapshot <uuid> successfully created."
    const [create] = examples('4.2.10.1 snapshot-create');
    const made: string[] = [];
    for (let i = 0; i < 2; i++) {
      const r = await cli('A', create!.args);
      expect(r.code).toBe(0);
      expect(create!.output[0]).toMatch(new RegExp(`^Snapshot ${UUID} successfully created\\.$`));
      expect(r.lines).toHaveLength(1);
      made.push(new RegExp(`^Snapshot (${UUID}) successfully created\\.$`).exec(r.lines[0]!)![1]!);
    }
    // 4.2.10.2: columns CREATED C UUID PARENT_UUID; * marks the current snapshot; the first has the null parent.
    const [list] = examples('4.2.10.2 snapshot-list');
    const rows = async () => {
      const r = await cli('A', ['snapshot-list', '-t', T1, '-l', '1']);
      expect(r.code).toBe(0);
      expect(r.lines[0]!.split(/\s+/)).toEqual(list!.output[0]!.split(/\s+/));
      return r.lines.slice(1).map((l) => {
        const m = /^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) +(\*)? *([0-9a-f-]+(?:\.\.\.)?) +([0-9a-f-]+(?:\.\.\.)?)$/.exec(l);
        expect(m, `row '${l}'`).not.toBeNull();
        return { current: m![2] === '*', uuid: m![3]!, parent: m![4]! };
      });
    };
    const same = (cell: string, uuid: string) => cell === uuid || (cell.endsWith('...') && uuid.startsWith(cell.slice(0, -3)));
    let r = await rows();
    expect(r).toHaveLength(2);
    expect(same(r[0]!.uuid, made[0]!) && same(r[0]!.parent, '00000000-0000-0000-0000-000000000000')).toBe(true);
    expect(same(r[1]!.uuid, made[1]!) && same(r[1]!.parent, made[0]!)).toBe(true);
    expect(r.map((x) => x.current)).toEqual([false, true]);
    // 4.2.10.4: Target, LUN, Created, Parent, Description.
    const [info] = examples('4.2.10.4 snapshot-info');
    const i = await cli('A', ['snapshot-info', '-u', made[1]!]);
    expect(i.code).toBe(0);
    expect(i.lines[0]).toBe(`Target: ${T1}`);
    expect(i.lines[1]).toBe('LUN: 1');
    expect(i.lines[2]).toMatch(/^Created: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    expect(i.lines.map((l) => l.split(':')[0])).toEqual(expect.arrayContaining(['Parent', 'Description']));
    expect(info!.output.map((l) => l.split(':')[0])).toEqual(expect.arrayContaining(['Target', 'LUN', 'Created', 'Parent', 'Description']));
    // 4.2.10.3: only while the LUN is offline; then no output.
    const [sw] = examples('4.2.10.3 snapshot-switch');
    expect(sw!.output).toEqual([]);
    expect((await cli('A', ['snapshot-switch', '-u', made[0]!])).code).toBe(1);
    await cli('A', ['lun-set', '-t', T1, '-l', '1', '--offline']);
    expect(await cli('A', ['snapshot-switch', '-u', made[0]!])).toEqual({ code: 0, lines: [] });
    r = await rows();
    expect(r.find((x) => same(x.uuid, made[0]!))!.current).toBe(true);
    // 4.2.10.5: no output.
    const [del] = examples('4.2.10.5 snapshot-delete');
    expect(del!.output).toEqual([]);
    expect(await cli('A', ['snapshot-delete', '-u', made[1]!])).toEqual({ code: 0, lines: [] });
    expect((await rows()).some((x) => same(x.uuid, made[1]!))).toBe(false);
  });
});
