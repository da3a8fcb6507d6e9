/**
 * snapshot-* commands (source 4.2.10) beyond the document's examples: where
 * they run (the local daemon for a running target, refused for a target
 * running on another node, in-process otherwise), --json, errors and exit
 * statuses. Two nodes (daemons with fake engines) share one ISCSI_ROOT.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
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
const T = 'iqn.2014-04.com.vstorage:snap1';
const UUID = /^Snapshot ([0-9a-f-]{36}) successfully created\.$/;

let build: string;
let dir: string;
let root: string;
const nodes: Record<string, { env: NodeJS.ProcessEnv; daemon?: RunningDaemon; logs: string[] }> = {};

beforeAll(() => {
  build = buildForTests(['tools/cli/main.ts']);
}, 90_000);
afterAll(() => fs.rmSync(build, { recursive: true, force: true }));

beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cli-snap-'));
  root = path.join(dir, 'root');
  fs.mkdirSync(root);
  const envs = twoNodeEnvs(dir, root);
  for (const n of ['A', 'B'] as const) {
    const logs: string[] = [];
    nodes[n] = { env: envs[n], logs };
    nodes[n]!.daemon = await runDaemon({
      env: nodes[n]!.env,
      engineFactory: (o) => new FakeEngine(o),
      log: createLogger({ write: (l: string) => void logs.push(l) }),
    });
  }
});

afterEach(async () => {
  for (const n of Object.values(nodes)) await n.daemon?.shutdown();
  fs.rmSync(dir, { recursive: true, force: true });
});

function cli(node: 'A' | 'B', args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [jsPath(build, 'tools/cli/main.ts'), ...args], { env: nodes[node]!.env }, (err, stdout, stderr) => {
      const code = err ? ((err as { code?: number }).code ?? 1) : 0;
      resolve({ code: typeof code === 'number' ? code : 1, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

async function ok(node: 'A' | 'B', args: string[]): Promise<string> {
  const r = await cli(node, args);
  if (r.code !== 0) throw new Error(`${args.join(' ')}: ${r.code} ${r.stderr}`);
  return r.stdout;
}

describe('snapshot commands', () => {
  it('a running target: its daemon takes the snapshot (image detached and reopened); another node is told to run it there', async () => {
    await ok('A', ['create', '-n', 'snap1', '-a', '192.168.10.100']);
    await ok('A', ['lun-add', '-t', T, '-l', '0', '-s', '16M']);
    await ok('A', ['start', '-t', T]);
    const made = UUID.exec((await ok('A', ['snapshot-create', '-t', T, '-l', '0', '-d', 'online'])).trim())![1]!;
    expect(nodes.A!.logs.join('')).toContain('LUN image reopened');
    const remote = await cli('B', ['snapshot-create', '-t', T, '-l', '0']);
    expect(remote.code).toBe(1);
    expect(remote.stderr).toContain('ISCSI_ERR_TARGET_REMOTE');
    expect(remote.stderr).toContain(`host ${A}`);
    expect((await cli('B', ['snapshot-delete', '-u', made])).stderr).toContain('ISCSI_ERR_TARGET_REMOTE');
    // Read-only commands work from any node.
    const list = JSON.parse(await ok('B', ['snapshot-list', '-t', T, '-l', '0', '--json'])) as Array<Record<string, unknown>>;
    expect(list).toEqual([expect.objectContaining({ uuid: made, parent: null, current: true, description: 'online' })]);
    const info = JSON.parse(await ok('B', ['snapshot-info', '-u', made, '--json'])) as Record<string, unknown>;
    expect(info).toMatchObject({ target: T, lun: 0, uuid: made, parent: null, description: 'online', current: true });
    // Switch and delete through the daemon, LUN offline.
    expect((await cli('A', ['snapshot-switch', '-u', made])).stderr).toContain('ISCSI_ERR_LUN_ONLINE');
    await ok('A', ['lun-set', '-t', T, '-l', '0', '--offline']);
    expect(await ok('A', ['snapshot-switch', '-u', made])).toBe('');
    expect(await ok('A', ['snapshot-delete', '-u', made])).toBe('');
    expect(await ok('A', ['snapshot-list', '-t', T, '-l', '0'])).toBe('CREATED              C  UUID                                  PARENT_UUID\n');
    await ok('A', ['stop', '-t', T]);
    // Stopped: in-process, same results.
    const again = UUID.exec((await ok('A', ['snapshot-create', '-t', T, '-l', '0'])).trim())![1]!;
    const text = await ok('A', ['snapshot-info', '-u', again]);
    expect(text).toMatch(new RegExp(`^Target: ${T}\nLUN: 0\nCreated: \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d\nParent: 0{8}-0{4}-0{4}-0{4}-0{12}\nDescription: None\n$`));
  });

  it('bad input: exit 1 with a code, or 2 for usage errors', async () => {
    await ok('A', ['create', '-n', 'snap1', '-a', '192.168.10.100']);
    await ok('A', ['lun-add', '-t', T, '-l', '0', '-s', '16M']);
    for (const [args, code] of [
      [['snapshot-info', '-u', 'nope'], 'ISCSI_ERR_BAD_UUID'],
      [['snapshot-delete', '-u', '9c98b442-7482-4fd0-9c45-9259374ca84e'], 'ISCSI_ERR_SNAPSHOT_NOT_FOUND'],
      [['snapshot-switch', '-u', '9C98B442-7482-4FD0-9C45-9259374CA84E'], 'ISCSI_ERR_SNAPSHOT_NOT_FOUND'],
      [['snapshot-create', '-t', T, '-l', '3'], 'ISCSI_ERR_LUN_NOT_FOUND'],
      [['snapshot-list', '-t', 'nosuch', '-l', '0'], 'ISCSI_ERR_TARGET_NOT_FOUND'],
    ] as const) {
      const r = await cli('A', [...args]);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr).toContain(code);
    }
    expect((await cli('A', ['snapshot-create', '-t', T])).code).toBe(2);
    expect((await cli('A', ['snapshot-info'])).code).toBe(2);
  });
});
