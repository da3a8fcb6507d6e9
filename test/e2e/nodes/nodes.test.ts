/**
 * Acceptance, issue 4 "Nodes": two real daemons (different ISCSI_HOST_ID,
 * one ISCSI_ROOT) on this machine, driven by the real CLI, with libiscsi's
 * iscsi-inq/iscsi-ls as initiators:
 *  - register/unregister moves a stopped target; `list` on each node shows
 *    running/remote; the node that does not own it cannot start it;
 *  - the access list and LUN Online apply to the running target on its node;
 *  - 50 mixed CLI commands from both nodes at once leave a consistent store;
 *  - log lines carry level and target/session context; SIGTERM stops cleanly.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort, prng, startNode, type CliResult, type Node } from './cluster.js';
import { parseTargetRecord, type TargetRecord } from '../../../src/cluster/records.js';
import { imageSize } from '../../../src/lun/qcow2/index.js';

const run = promisify(execFile);
const P = 'iqn.2014-04.com.vstorage';
const HA = 'aaaaaaaaaaaa0001';
const HB = 'bbbbbbbbbbbb0002';
const T1 = `${P}:move1`;
const GOOD = 'iqn.2024-01.org.e2e:good';
const BAD = 'iqn.2024-01.org.e2e:bad';

let dir: string;
let root: string;
let a: Node;
let b: Node;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'e2e-nodes-'));
  root = path.join(dir, 'root');
  fs.mkdirSync(root);
  a = await startNode({ name: 'A', hostId: HA, root, dir });
  b = await startNode({ name: 'B', hostId: HB, root, dir });
});

afterAll(async () => {
  await a?.stop();
  await b?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function ok(node: Node, args: string[], input?: string): Promise<string> {
  const r = await node.cli(args, input);
  if (r.code !== 0) throw new Error(`${node.name}: vstorage-iscsi ${args.join(' ')} -> ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/** STATUS column of `list` on a node, by target name. */
async function statuses(node: Node): Promise<Record<string, string>> {
  const views = JSON.parse(await ok(node, ['list', '--json'])) as Array<{ name: string; status: string }>;
  return Object.fromEntries(views.map((v) => [v.name, v.status]));
}

function record(iqn: string): string {
  return fs.readFileSync(path.join(root, 'targets', iqn, 'target.json'), 'utf8');
}

/** iscsi-inq as `initiator` against LUN `lun` of `iqn` at 127.0.0.1:port. */
async function inquiry(port: number, iqn: string, lun: number, initiator: string): Promise<{ ok: boolean; text: string }> {
  try {
    const r = await run('iscsi-inq', ['-i', initiator, `iscsi://127.0.0.1:${port}/${iqn}/${lun}`], { timeout: 20_000 });
    return { ok: true, text: r.stdout };
  } catch (e) {
    const x = e as { stdout?: string; stderr?: string };
    return { ok: false, text: `${x.stdout ?? ''}${x.stderr ?? ''}` };
  }
}

async function lunsSeen(port: number, initiator: string): Promise<string[]> {
  const r = await run('iscsi-ls', ['-s', '-i', initiator, `iscsi://127.0.0.1:${port}`], { timeout: 20_000 });
  return r.stdout.split('\n').filter((l) => l.startsWith('Lun:')).map((l) => l.split(/\s+/)[0]!);
}

describe('two nodes, one ISCSI_ROOT', () => {
  let port1: number;

  it('list on each node shows running on the owner and remote on the other; the other cannot start it', async () => {
    port1 = await freePort();
    expect(await ok(a, ['create', '-n', 'move1', '-a', `127.0.0.1:${port1}`])).toBe(`IQN: ${T1}\n`);
    await ok(a, ['lun-add', '-t', 'move1', '-l', '1', '-s', '64M']);
    await ok(a, ['start', '-t', 'move1']);
    expect((await statuses(a)).move1).toBe('running');
    expect((await statuses(b)).move1).toBe('remote');
    expect((await b.cli(['list'])).stdout).toContain(`${T1}  remote  1     ${HA}  127.0.0.1:${port1}`);
    expect((await inquiry(port1, T1, 1, GOOD)).ok).toBe(true);

    const before = record(T1);
    expect(await b.cli(['start', '-t', T1])).toEqual({
      code: 1,
      stdout: '',
      stderr: `vstorage-iscsi: target ${T1} is registered on host ${HA}; start it there (ISCSI_ERR_TARGET_REMOTE)\n`,
    });
    expect(await b.cli(['unregister', '-t', T1])).toMatchObject({ code: 1, stderr: expect.stringContaining('(ISCSI_ERR_TARGET_REMOTE)') });
    expect(await b.cli(['register', '-t', T1])).toMatchObject({ code: 1, stderr: expect.stringContaining('(ISCSI_ERR_ALREADY_REGISTERED)') });
    expect(await a.cli(['unregister', '-t', T1])).toMatchObject({ code: 1, stderr: expect.stringContaining('(ISCSI_ERR_TARGET_RUNNING)') });
    expect(await b.cli(['delete', '-t', T1, '--force'])).toMatchObject({ code: 1, stderr: expect.stringContaining('(ISCSI_ERR_TARGET_RUNNING)') });
    expect(record(T1)).toBe(before);
  });

  it('unregister on its node and register on the other moves the target; it serves from there', async () => {
    await ok(a, ['stop', '-t', T1]);
    await ok(a, ['unregister', '-t', T1]);
    expect([(await statuses(a)).move1, (await statuses(b)).move1]).toEqual(['unregistered', 'unregistered']);
    await ok(b, ['register', '-t', T1]);
    expect([(await statuses(a)).move1, (await statuses(b)).move1]).toEqual(['remote', 'stopped']);
    expect(await a.cli(['start', '-t', T1])).toMatchObject({ code: 1, stderr: `vstorage-iscsi: target ${T1} is registered on host ${HB}; start it there (ISCSI_ERR_TARGET_REMOTE)\n` });
    await ok(b, ['start', '-t', T1]);
    expect([(await statuses(a)).move1, (await statuses(b)).move1]).toEqual(['remote', 'running']);
    const r = await inquiry(port1, T1, 1, GOOD);
    expect(r.ok).toBe(true);
    // B's daemon served that login (same portal, now in B's process).
    expect(b.log()).toMatch(new RegExp(`INFO  session established .*initiator=${GOOD} target=${T1} type=Normal tsih=\\d+`));
    expect(JSON.parse(record(T1))).toMatchObject({ host: HB, desiredState: 'running' });
  });

  it('the access list applies to the next login on the running target (refused: 0x0202)', async () => {
    await ok(b, ['set', '-t', T1, '--allow', GOOD]);
    expect((await inquiry(port1, T1, 1, GOOD)).ok).toBe(true);
    const refused = await inquiry(port1, T1, 1, BAD);
    expect(refused.ok).toBe(false);
    expect(refused.text).toContain('Authorization failure(514)');
    expect(b.log()).toContain(`INFO  initiator refused by the access list target=${T1} initiator=${BAD}`);
    await ok(a, ['set', '-t', T1, '--allow-all']); // from the other node: the record is shared
    expect((await inquiry(port1, T1, 1, BAD)).ok).toBe(true);
  });

  it('lun-set hides and shows a LUN of the running target', async () => {
    await ok(b, ['lun-add', '-t', T1, '-l', '2', '-s', '32M']); // no sessions: the daemon reloads the target
    expect(await lunsSeen(port1, GOOD)).toEqual(['Lun:1', 'Lun:2']);
    await ok(b, ['lun-set', '-t', T1, '-l', '2', '--offline']);
    expect(await lunsSeen(port1, GOOD)).toEqual(['Lun:1']);
    expect((await inquiry(port1, T1, 2, GOOD)).ok).toBe(false);
    expect((await ok(a, ['list', '-t', T1])).split('\n').slice(5, 7)).toEqual([
      'LUN: 1, Size: 64M, Used: 1M, Online: Yes',
      'LUN: 2, Size: 32M, Used: 1M, Online: No',
    ]);
    expect(await a.cli(['lun-set', '-t', T1, '-l', '2', '--online'])).toMatchObject({
      code: 1,
      stderr: `vstorage-iscsi: target ${T1} is registered on host ${HB} and runs there; run lun-set on that host (ISCSI_ERR_TARGET_REMOTE)\n`,
    });
    await ok(b, ['lun-set', '-t', T1, '-l', '2', '--online']);
    expect(await lunsSeen(port1, GOOD)).toEqual(['Lun:1', 'Lun:2']);
    expect(b.log()).toContain(`INFO  LUN set offline target=${T1} lun=2`);
  });
});

describe('50 mixed commands from both nodes at once', () => {
  interface Cmd {
    node: Node;
    args: string[];
    input?: string;
    /** Error codes this command may meet because of the others (races); anything else fails the test. */
    may: string[];
  }
  const results: Array<{ cmd: Cmd; r: CliResult }> = [];

  it('each command succeeds or fails cleanly with a code its race allows', async () => {
    // Targets to work on: m1..m3 on A, n1..n3 on B, each with LUN 0 (stopped).
    const ports = new Map<string, number>();
    for (const [node, names] of [
      [a, ['m1', 'm2', 'm3']],
      [b, ['n1', 'n2', 'n3']],
    ] as const) {
      for (const n of names) {
        ports.set(n, await freePort());
        await ok(node, ['create', '-n', n, '-a', `127.0.0.1:${ports.get(n)}`]);
        await ok(node, ['lun-add', '-t', n, '-l', '0', '-s', '16M']);
      }
    }
    const rand = prng(4242);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
    const own = (node: Node) => (node === a ? ['m1', 'm2', 'm3'] : ['n1', 'n2', 'n3']);
    const RACE = ['ISCSI_ERR_TARGET_RUNNING', 'ISCSI_ERR_SESSIONS_ACTIVE'];
    const cmds: Cmd[] = [];
    for (let i = 0; i < 10; i++) {
      const node = i % 2 ? b : a;
      cmds.push({ node, args: ['create', '-n', `c${i}`, '-a', `127.0.0.1:${await freePort()}`, '-d', `made by ${node.name}`], may: [] });
    }
    // Two nodes creating the same name and the same address: exactly one of each wins.
    const shared = await freePort();
    cmds.push({ node: a, args: ['create', '-n', 'dup', '-a', `127.0.0.1:${shared}`], may: ['ISCSI_ERR_TARGET_EXISTS'] });
    cmds.push({ node: b, args: ['create', '-n', 'dup', '-a', `127.0.0.1:${shared}`], may: ['ISCSI_ERR_TARGET_EXISTS'] });
    cmds.push({ node: a, args: ['create', '-n', 'pa', '-a', `127.0.0.1:${shared + 1}`], may: ['ISCSI_ERR_PORTAL_IN_USE'] });
    cmds.push({ node: b, args: ['create', '-n', 'pb', '-a', `127.0.0.1:${shared + 1}`], may: ['ISCSI_ERR_PORTAL_IN_USE'] });
    for (let i = 0; i < 8; i++) {
      const node = i % 2 ? b : a;
      cmds.push({ node, args: ['lun-add', '-t', pick(own(node)), '-l', String(1 + i), '-s', '8M'], may: [] });
    }
    for (let i = 0; i < 4; i++) {
      const node = i % 2 ? b : a;
      const t = pick(own(node));
      cmds.push({ node, args: ['start', '-t', t], may: [] });
      cmds.push({ node, args: ['stop', '-t', pick(own(node))], may: [] });
    }
    for (let i = 0; i < 4; i++) {
      const node = i % 2 ? b : a;
      cmds.push({ node, args: ['set', '-t', pick(own(node)), '-d', `description ${i}`], may: RACE });
    }
    for (let i = 0; i < 3; i++) {
      const node = i % 2 ? b : a;
      cmds.push({ node, args: ['lun-set', '-t', pick(own(node)), '-l', '0', pick(['--offline', '--online'])], may: [] });
      cmds.push({ node, args: ['set', '-t', pick(own(node)), '--deny', `iqn.2024-01.org.e2e:mix${i}`], may: [] });
    }
    // The moved target goes back from B to A while others look at it.
    cmds.push({ node: b, args: ['stop', '-t', T1, '-f'], may: [] });
    cmds.push({ node: b, args: ['unregister', '-t', T1], may: RACE });
    cmds.push({ node: a, args: ['register', '-t', T1], may: ['ISCSI_ERR_ALREADY_REGISTERED'] });
    for (let i = 0; i < 2; i++) cmds.push({ node: i ? b : a, args: ['account-create', '-u', `mix${i}`], input: `secret-of-mix-${i}x\n`, may: [] });
    while (cmds.length < 50) {
      const node = cmds.length % 2 ? b : a;
      cmds.push({ node, args: pick([['list'], ['list', '--json'], ['account-list'], ['list', '-t', T1]]), may: [] });
    }
    expect(cmds).toHaveLength(50);

    const settled = await Promise.all(cmds.map(async (cmd) => ({ cmd, r: await cmd.node.cli(cmd.args, cmd.input) })));
    results.push(...settled);
    const unexpected = settled.filter(({ cmd, r }) => {
      if (r.code === 0) return false;
      const code = /\((ISCSI_ERR_[A-Z_]+)\)\n$/.exec(r.stderr)?.[1];
      return !(r.code === 1 && r.stdout === '' && code !== undefined && cmd.may.includes(code));
    });
    expect(unexpected.map(({ cmd, r }) => `${cmd.node.name}: ${cmd.args.join(' ')} -> ${r.code} ${r.stderr.trim()}`)).toEqual([]);
    // The races that must have one winner each.
    const outcome = (args: string[], node: Node) => settled.find((x) => x.cmd.node === node && x.cmd.args.join(' ').startsWith(args.join(' ')))!.r.code;
    expect([outcome(['create', '-n', 'dup'], a), outcome(['create', '-n', 'dup'], b)].sort()).toEqual([0, 1]);
    expect([outcome(['create', '-n', 'pa'], a), outcome(['create', '-n', 'pb'], b)].sort()).toEqual([0, 1]);
  }, 180_000);

  it('the store is consistent afterwards and both nodes agree on it', async () => {
    const targetsDir = path.join(root, 'targets');
    const recs: TargetRecord[] = [];
    for (const e of fs.readdirSync(targetsDir)) {
      expect(e.startsWith('.'), `left-over ${e}`).toBe(false);
      // (.<image>.open: the unclean-close marker of an image a running target has open, src/lun/qcow2/open-marker.ts)
      const files = fs.readdirSync(path.join(targetsDir, e)).filter((f) => !/^\..+\.open$/.test(f));
      expect(files.filter((f) => f.startsWith('.') || f.endsWith('.tmp')), `temp files in ${e}`).toEqual([]);
      const rec = parseTargetRecord(record(e), e);
      recs.push(rec);
      // Every LUN has its image at its (virtual) size, and there is no image without a LUN.
      const images = files.filter((f) => f !== 'target.json').sort();
      expect(images).toEqual(rec.luns.map((l) => l.file).sort());
      for (const l of rec.luns) expect(await imageSize(path.join(targetsDir, e, l.file), l.format)).toBe(l.sizeBytes);
      expect([HA, HB, null]).toContain(rec.host);
    }
    expect(fs.readdirSync(path.join(root, 'locks'))).toEqual([]); // no lock left behind
    expect(fs.readdirSync(path.join(root, 'accounts')).filter((f) => !/^[a-z0-9]+\.json$/.test(f))).toEqual([]);
    // Portals are unique in the cluster; stable portal IDs are unique per target.
    const portals = recs.flatMap((r) => r.portals.map((p) => `${p.address}:${p.port}`));
    expect(new Set(portals).size).toBe(portals.length);
    // Every successful create and lun-add and account-create is there.
    for (const { cmd, r } of results.filter((x) => x.r.code === 0)) {
      if (cmd.args[0] === 'create') expect(recs.map((x) => x.name)).toContain(cmd.args[2]);
      if (cmd.args[0] === 'lun-add') expect(recs.find((x) => x.name === cmd.args[2])!.luns.map((l) => l.id)).toContain(Number(cmd.args[4]));
      if (cmd.args[0] === 'account-create') expect(fs.existsSync(path.join(root, 'accounts', `${cmd.args[2]}.json`))).toBe(true);
    }
    // Both nodes list the same targets with the same facts; status differs only as running/stopped vs remote.
    const viewsA = JSON.parse(await ok(a, ['list', '--json'])) as Array<Record<string, unknown>>;
    const viewsB = JSON.parse(await ok(b, ['list', '--json'])) as Array<Record<string, unknown>>;
    const strip = (v: Record<string, unknown>) => ({ ...v, status: undefined, sessions: undefined });
    expect(viewsA.map(strip)).toEqual(viewsB.map(strip));
    for (const rec of recs) {
      const sa = viewsA.find((v) => v.iqn === rec.iqn)!.status;
      const sb = viewsB.find((v) => v.iqn === rec.iqn)!.status;
      const want = (host: string) =>
        rec.host === null ? 'unregistered' : rec.host !== host ? 'remote' : rec.desiredState === 'running' ? 'running' : 'stopped';
      expect([rec.name, sa, sb]).toEqual([rec.name, want(HA), want(HB)]);
    }
    // The daemons are alive and serve exactly what their records say.
    for (const n of [a, b]) {
      expect(n.proc.exitCode).toBe(null);
      const running = (JSON.parse(await ok(n, ['list', '--json'])) as Array<{ iqn: string; status: string }>).filter((v) => v.status === 'running');
      expect(running.map((v) => v.iqn).sort()).toEqual(recs.filter((r) => r.host === n.hostId && r.desiredState === 'running').map((r) => r.iqn).sort());
    }
  });
});

describe('logs and shutdown', () => {
  it('every log line has time, level and message; target and session events carry their context', () => {
    for (const n of [a, b]) {
      const lines = n.log().trim().split('\n');
      for (const l of lines) expect(l).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (DEBUG|INFO |WARN |ERROR) \S/);
      for (const l of lines.filter((x) => / (target started|target stopped|LUN set \w+|initiator refused)/.test(x))) expect(l).toMatch(/ target=iqn\./);
      for (const l of lines.filter((x) => x.includes('session established'))) expect(l).toMatch(/ peer=\S+ initiator=\S+ .*tsih=\d+/);
    }
    expect(a.log()).toContain(`INFO  vstorage-iscsid starting host=${HA} root=${root}`);
    expect(b.log()).toContain(`INFO  vstorage-iscsid starting host=${HB} root=${root}`);
  });

  it('SIGTERM stops each daemon cleanly (exit 0, targets stopped, socket removed); desired states stay', async () => {
    const before = fs.readdirSync(path.join(root, 'targets')).map((e) => [e, JSON.parse(record(e)).desiredState]);
    expect(await a.stop()).toBe(0);
    expect(await b.stop()).toBe(0);
    for (const n of [a, b]) {
      expect(n.log()).toMatch(/INFO  vstorage-iscsid stopped\n$/);
      expect(fs.existsSync(path.join(dir, `node-${n.name}`, 'run', 'vstorage-iscsid.sock'))).toBe(false);
    }
    expect(fs.readdirSync(path.join(root, 'targets')).map((e) => [e, JSON.parse(record(e)).desiredState])).toEqual(before);
  });
});
