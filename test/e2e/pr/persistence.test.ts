/**
 * Acceptance, issue 6 (persistent reservations are durable, DESIGN.md §6),
 * against the real daemon (dist/) over TCP with the TypeScript initiator:
 *  - READ FULL STATUS is byte-identical through both portals, before and
 *    after `kill -9` of the daemon and its restart (the target comes back
 *    by itself: its desired state is running), and the reservation is
 *    enforced after it;
 *  - a PERSISTENT RESERVE OUT that got GOOD survives a `kill -9` right
 *    after it (written before status);
 *  - the state moves with the target: stop + unregister on one daemon,
 *    register + start on another daemon (another ISCSI_HOST_ID) sharing
 *    ISCSI_ROOT: READ FULL STATUS identical, reservation enforced there.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, startNode, type Node } from '../nodes/cluster.js';
import { SA, TYPE, iscsiTid } from '../../scsi/pr/pr-codec.js';
import { prSession, type PrSession } from './pr-session.js';

const P = 'iqn.2014-04.com.vstorage';
const HA = 'a0a0a0a0a0a0a0a1';
const HB = 'b0b0b0b0b0b0b0b2';
const N1 = 'iqn.2024-01.org.e2e:cluster-node1';
const N2 = 'iqn.2024-01.org.e2e:cluster-node2';
const N3 = 'iqn.2024-01.org.e2e:outsider';

let dir: string;
let root: string;
const nodes: Node[] = [];

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'e2e-pr-'));
  root = path.join(dir, 'root');
  fs.mkdirSync(root);
});

afterAll(async () => {
  for (const n of nodes) await n.stop().catch(() => undefined);
  fs.rmSync(dir, { recursive: true, force: true });
});

async function node(name: string, hostId: string): Promise<Node> {
  const n = await startNode({ name, hostId, root, dir });
  nodes.push(n);
  return n;
}

async function ok(n: Node, args: string[]): Promise<string> {
  const r = await n.cli(args);
  if (r.code !== 0) throw new Error(`${n.name}: vstorage-iscsi ${args.join(' ')} -> ${r.code}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** A target with one 64 MiB LUN on two portals, started on `n`. */
async function target(n: Node, name: string): Promise<{ iqn: string; ports: [number, number] }> {
  const ports: [number, number] = [await freePort(), await freePort()];
  await ok(n, ['create', '-n', name, '-a', `127.0.0.1:${ports[0]}`, '-a', `127.0.0.1:${ports[1]}`]);
  const iqn = `${P}:${name}`;
  await ok(n, ['lun-add', '-t', iqn, '-l', '0', '-s', '64M']);
  await ok(n, ['start', '-t', iqn]);
  return { iqn, ports };
}

async function waitRunning(n: Node, iqn: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const r = await n.cli(['list', '--json']);
    if (r.code === 0 && (JSON.parse(r.stdout) as Array<{ iqn?: string; name: string; status: string }>).some((v) => (v.iqn === iqn || iqn.endsWith(`:${v.name}`)) && v.status === 'running')) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${iqn} did not come back running on ${n.name}: ${n.log().slice(-2000)}`);
}

/** Two cluster nodes register (node 1 on every portal, node 2 on portal 2 with APTPL, plus a SPEC_I_PT port), node 1 reserves. */
async function makeState(ports: [number, number], iqn: string): Promise<{ s1: PrSession; s2: PrSession }> {
  const s1 = await prSession(ports[0], iqn, N1);
  const s2 = await prSession(ports[1], iqn, N2, 2);
  expect((await s1.prout(SA.REGISTER_AND_IGNORE, 0, { sark: 0x1111222233334444n, allTgPt: true })).status).toBe(0);
  expect((await s2.prout(SA.REGISTER, 0, { sark: 0xabcdn, aptpl: true, specIPt: true, tids: [iscsiTid(`${N2},i,0x800000000009`)] })).status).toBe(0);
  expect((await s1.prout(SA.RESERVE, TYPE.WERO, { rk: 0x1111222233334444n })).status).toBe(0);
  return { s1, s2 };
}

describe('persistent reservations survive kill -9 and move with the target', () => {
  it('READ FULL STATUS is identical through both portals, and after kill -9 and restart; the reservation holds', async () => {
    let a = await node('A', HA);
    const { iqn, ports } = await target(a, 'prkill');
    const { s1, s2 } = await makeState(ports, iqn);
    const before = await s1.fullStatus();
    expect((await s2.fullStatus()).raw).toEqual(before.raw);
    expect(before.entries.map((e) => [e.tid.name, e.relativePortId, e.key, e.holder])).toEqual([
      [`${N1},i,0x800000000001`, 1, 0x1111222233334444n, true],
      [`${N1},i,0x800000000001`, 2, 0x1111222233334444n, false],
      [`${N2},i,0x800000000002`, 2, 0xabcdn, false],
      [`${N2},i,0x800000000009`, 2, 0xabcdn, false],
    ]);
    const outsider = await prSession(ports[0], iqn, N3, 3);
    expect(await outsider.write(10, 0x33)).toBe(0x18);

    // A PERSISTENT RESERVE OUT that got GOOD, then kill -9 at once.
    expect((await outsider.prout(SA.REGISTER_AND_IGNORE, 0, { sark: 0x3333n })).status).toBe(0);
    const expected = await s1.fullStatus();
    expect(expected.generation).toBe(before.generation + 1);
    a.proc.kill('SIGKILL');
    await new Promise((r) => a.proc.once('exit', r));
    for (const s of [s1, s2, outsider]) await s.close();

    nodes.splice(nodes.indexOf(a), 1);
    a = await node('A', HA);
    await waitRunning(a, iqn);
    const t1 = await prSession(ports[0], iqn, N1);
    const t2 = await prSession(ports[1], iqn, N2, 2);
    const after1 = await t1.fullStatus();
    expect(after1.raw).toEqual(expected.raw);
    expect((await t2.fullStatus()).raw).toEqual(expected.raw);
    // Write Exclusive, Registrants Only: the registrants write, an unregistered initiator does not.
    const stranger = await prSession(ports[1], iqn, 'iqn.2024-01.org.e2e:stranger', 4);
    expect(await stranger.write(10, 0x44)).toBe(0x18);
    expect(await t2.write(10, 0x22)).toBe(0);
    expect(await t1.write(10, 0x11)).toBe(0);
    expect(await t1.reservation()).toMatchObject({ reserved: true, key: 0x1111222233334444n, type: TYPE.WERO });
    for (const s of [t1, t2, stranger]) await s.close();
  });

  it('after stop + unregister on one daemon and register + start on another sharing ISCSI_ROOT, READ FULL STATUS is identical', async () => {
    const a = nodes.find((n) => n.name === 'A') ?? (await node('A', HA));
    const b = await node('B', HB);
    const { iqn, ports } = await target(a, 'prmove');
    const { s1, s2 } = await makeState(ports, iqn);
    const before = await s2.fullStatus();
    await s1.close();
    await s2.close();

    await ok(a, ['stop', '-t', iqn]);
    await ok(a, ['unregister', '-t', iqn]);
    await ok(b, ['register', '-t', iqn]);
    await ok(b, ['start', '-t', iqn]);
    await waitRunning(b, iqn);

    const m1 = await prSession(ports[1], iqn, N1);
    const after = await m1.fullStatus();
    expect(after.raw).toEqual(before.raw);
    const m2 = await prSession(ports[0], iqn, N2, 2);
    expect((await m2.fullStatus()).raw).toEqual(before.raw);
    // Node 1 is the holder through portal 1 only; through portal 2 it is a registrant: WERO lets it write.
    expect(await m1.write(20, 1)).toBe(0);
    const outsider = await prSession(ports[0], iqn, N3, 3);
    expect(await outsider.write(20, 3)).toBe(0x18);
    // The state file names the node that wrote it last (A) until B changes something.
    const file = fs.readdirSync(path.join(root, 'targets', iqn)).find((f) => f.startsWith('pr-'))!;
    expect(JSON.parse(fs.readFileSync(path.join(root, 'targets', iqn, file), 'utf8')).host).toBe(HA);
    // Node 2 through portal 1 is another I_T nexus, not registered yet: it registers now, on B.
    expect((await m2.prout(SA.REGISTER, 0, { rk: 0xabcdn, sark: 0xabcen })).status).toBe(0x18);
    expect((await m2.prout(SA.REGISTER, 0, { rk: 0n, sark: 0xabcen })).status).toBe(0);
    expect(JSON.parse(fs.readFileSync(path.join(root, 'targets', iqn, file), 'utf8')).host).toBe(HB);
    for (const s of [m1, m2, outsider]) await s.close();
  });
});
