/**
 * Administering ALUA: port-group records (src/cluster/port-groups.ts), the
 * daemon's control verbs (alua-set, portal-down, portal-up, status) over the
 * real engine, and the CLI commands (alua-list, alua-set, portal-group,
 * portal-down, portal-up) run in-process against that daemon.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { runDaemon, type RunningDaemon } from '../../../src/daemon/run.js';
import { DaemonClient, callDaemon } from '../../../src/daemon/control-client.js';
import { createLogger } from '../../../src/daemon/log.js';
import { ClusterStore } from '../../../src/cluster/store.js';
import { parseTargetRecord, type TargetRecord } from '../../../src/cluster/records.js';
import { findPortal, parseAluaStateArg, parseGroupArg, portGroupViews, setGroupState, setPortalGroup } from '../../../src/cluster/port-groups.js';
import { createTargetEngine } from '../../../src/target/engine.js';
import { runCli } from '../../../tools/cli/program.js';
import { TestInitiator, cdb } from '../../helpers/initiator.js';
import { decodeSense } from '../helpers.js';
import { freePort } from '../../helpers/free-port.js';
import { daemonDir } from '../../daemon/helpers.js';

const HOST = '00000000000000aa';
const PREFIX = 'iqn.2014-04.com.vstorage';
const PS = `${PREFIX}:ps1`;

function record(portals: Array<[string, number, number]>, extra: Partial<TargetRecord> = {}): TargetRecord {
  return {
    version: 1,
    iqn: PS,
    name: 'ps1',
    description: '',
    portals: portals.map(([address, port, id], i) => ({ address, port, tpgt: i + 1, relativePortId: i + 1, portGroupId: id })),
    nextPortalId: portals.length + 1,
    luns: [],
    account: null,
    mutualAccount: null,
    initiators: { allow: [], deny: [] },
    host: HOST,
    desiredState: 'stopped',
    created: '',
    updated: '',
    ...extra,
  };
}

describe('port-group records (src/cluster/port-groups.ts)', () => {
  it('parses states with their aliases and refuses others', () => {
    expect(['ao', 'Active/Optimized', 'an', 'standby', 'unavailable', 'transitioning'].map(parseAluaStateArg)).toEqual([
      'active-optimized',
      'active-optimized',
      'active-non-optimized',
      'standby',
      'unavailable',
      'transitioning',
    ]);
    expect(() => parseAluaStateArg('offline')).toThrow(expect.objectContaining({ code: 'ISCSI_ERR_BAD_ALUA_STATE' }));
  });

  it('finds groups and portals; an address without a port matches the only portal on it', () => {
    const rec = record([['192.168.10.1', 3260, 1], ['192.168.20.1', 3261, 2], ['fd00::1', 3260, 3]]);
    expect(parseGroupArg(rec, '2')).toBe(2);
    expect(() => parseGroupArg(rec, '4')).toThrow(expect.objectContaining({ code: 'ISCSI_ERR_GROUP_NOT_FOUND' }));
    expect(() => parseGroupArg(rec, 'x')).toThrow(expect.objectContaining({ code: 'ISCSI_ERR_GROUP_NOT_FOUND' }));
    expect(findPortal(rec, '192.168.20.1').relativePortId).toBe(2);
    expect(findPortal(rec, '192.168.20.1:3261').relativePortId).toBe(2);
    expect(findPortal(rec, '[fd00::1]:3260').relativePortId).toBe(3);
    expect(findPortal(rec, 'fd00::1').relativePortId).toBe(3);
    expect(() => findPortal(rec, '192.168.20.1:3260')).toThrow(expect.objectContaining({ code: 'ISCSI_ERR_PORTAL_NOT_FOUND' }));
    expect(() => findPortal(rec, '10.0.0.1')).toThrow(expect.objectContaining({ code: 'ISCSI_ERR_PORTAL_NOT_FOUND' }));
  });

  it('records states per existing group, sorted; regrouping needs a stopped target and forgets empty groups', () => {
    const rec = record([['10.0.0.1', 3260, 1], ['10.0.0.2', 3260, 2], ['10.0.0.3', 3260, 3]]);
    expect(setGroupState(rec, 3, 'standby')).toBe('active-optimized');
    expect(setGroupState(rec, 2, 'active-non-optimized')).toBe('active-optimized');
    expect(setGroupState(rec, 3, 'unavailable')).toBe('standby');
    expect(rec.portGroups).toEqual([{ id: 2, state: 'active-non-optimized' }, { id: 3, state: 'unavailable' }]);
    // Portal 3 joins group 1: group 3 is gone with its state.
    expect(setPortalGroup(rec, '10.0.0.3', '1')).toMatchObject({ from: 3, to: 1 });
    expect(rec.portGroups).toEqual([{ id: 2, state: 'active-non-optimized' }]);
    expect(portGroupViews(rec).map((g) => [g.id, g.state, g.portals.map((p) => p.portal)])).toEqual([
      [1, 'active-optimized', ['10.0.0.1', '10.0.0.3']],
      [2, 'active-non-optimized', ['10.0.0.2']],
    ]);
    // Only another portal's group or its own number.
    expect(() => setPortalGroup(rec, '10.0.0.3', '7')).toThrow(expect.objectContaining({ code: 'ISCSI_ERR_GROUP_NOT_FOUND' }));
    expect(setPortalGroup(rec, '10.0.0.3', '3')).toMatchObject({ from: 1, to: 3 });
    rec.desiredState = 'running';
    expect(() => setPortalGroup(rec, '10.0.0.3', '1')).toThrow(expect.objectContaining({ code: 'ISCSI_ERR_TARGET_RUNNING' }));
    expect(setPortalGroup(rec, '10.0.0.3', '3')).toMatchObject({ from: 3, to: 3 }); // no change: allowed
  });

  it('target records: portGroups is optional and checked', () => {
    const base = record([['10.0.0.1', 3260, 1]]);
    const { portGroups: _, ...without } = { ...base, portGroups: undefined };
    expect(parseTargetRecord(JSON.stringify(without), 'f').portGroups).toBeUndefined();
    expect(parseTargetRecord(JSON.stringify({ ...base, portGroups: [{ id: 1, state: 'standby' }] }), 'f').portGroups).toEqual([{ id: 1, state: 'standby' }]);
    for (const bad of [{}, [{ id: 1 }], [{ id: 1, state: 'offline' }], [{ id: 'x', state: 'standby' }]]) {
      expect(() => parseTargetRecord(JSON.stringify({ ...base, portGroups: bad }), 'f')).toThrow(expect.objectContaining({ code: 'ISCSI_ERR_CORRUPT_RECORD' }));
    }
  });
});

// ------------------------------------------------------------------ daemon + CLI

let dir: string;
let env: NodeJS.ProcessEnv;
let store: ClusterStore;
let daemon: RunningDaemon | undefined;
let client: DaemonClient;
let sock: string;
let ports: number[];

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(args, { stdout: (s) => (out += s), stderr: (s) => (err += s), stdin: process.stdin, env });
  return { code, out, err };
}

beforeEach(async () => {
  ({ dir, env, store } = await daemonDir('alua-admin-', HOST, PREFIX));
  ports = [await freePort(), await freePort()];
  await store.createTarget({ name: 'ps1', portals: ports.map((p) => `127.0.0.1:${p}`) });
  await store.addLun(PS, { id: 0, sizeBytes: 4 << 20 });
  daemon = await runDaemon({ env, engineFactory: (o) => createTargetEngine(o), log: createLogger({ write: () => undefined }) });
  sock = path.join(dir, 'run', 'vstorage-iscsid.sock');
  client = new DaemonClient(sock);
});

afterEach(async () => {
  await daemon?.shutdown();
  daemon = undefined;
  fs.rmSync(dir, { recursive: true, force: true });
});

async function login(port: number): Promise<TestInitiator> {
  const s = net.connect({ host: '127.0.0.1', port });
  await new Promise((res, rej) => s.once('connect', res).once('error', rej));
  const ini = new TestInitiator(s);
  expect((await ini.login({ targetName: PS, initiatorName: 'iqn.1994-05.com.example:h1' })).ok).toBe(true);
  await ini.command({ cdb: cdb.testUnitReady() }); // POWER ON
  return ini;
}

describe('daemon control verbs and CLI', () => {
  it('a target starts with the stored states; alua-set changes a running target at once', async () => {
    expect((await cli(['alua-set', '-t', 'ps1', '-g', '2', '-s', 'an'])).code).toBe(0);
    expect((await cli(['start', '-t', 'ps1'])).code).toBe(0);
    const st = await client.status(PS);
    expect(st.targets[0]!.portGroups?.map((g) => [g.id, g.state])).toEqual([[1, 'active-optimized'], [2, 'active-non-optimized']]);

    const ini = await login(ports[0]!);
    const r = await cli(['alua-set', '-t', 'ps1', '-a', `127.0.0.1:${ports[0]}`, '-s', 'standby']);
    expect(r).toEqual({ code: 0, out: '', err: '' });
    expect(decodeSense((await ini.command({ cdb: cdb.read10(0, 1), readLength: 512 })).sense!)).toMatchObject({ key: 6, asc: 0x2a, ascq: 0x06 });
    expect(decodeSense((await ini.command({ cdb: cdb.read10(0, 1), readLength: 512 })).sense!)).toMatchObject({ key: 2, asc: 0x04, ascq: 0x0b });
    expect((await store.getTarget(PS)).portGroups).toEqual([{ id: 1, state: 'standby' }, { id: 2, state: 'active-non-optimized' }]);

    const list = await cli(['alua-list', '-t', 'ps1']);
    expect(list.out).toBe(
      [
        `Target ${PS} (running, implicit ALUA):`,
        'GROUP  STATE                 PORTAL           TPGT  LISTENING',
        `1      standby               127.0.0.1:${ports[0]}  1     yes`,
        `2      active/non-optimized  127.0.0.1:${ports[1]}  2     yes`,
        '',
      ].join('\n'),
    );
    ini.close();
  });

  it('explicit ALUA on: shows a state an initiator set with SET TARGET PORT GROUPS next to the stored one', async () => {
    await cli(['alua-set', '-t', 'ps1', '-g', '2', '-s', 'standby']);
    expect(await cli(['alua-set', '-t', 'ps1', '--explicit', 'on'])).toEqual({ code: 0, out: '', err: '' });
    expect((await store.getTarget(PS)).aluaExplicit).toBe(true);
    await cli(['start', '-t', 'ps1']);
    expect(await cli(['alua-set', '-t', 'ps1', '--explicit', 'off'])).toMatchObject({ code: 1, err: expect.stringContaining('ISCSI_ERR_TARGET_RUNNING') });
    const ini = await login(ports[1]!);
    const list = Buffer.from([0, 0, 0, 0, 0x00, 0, 0, 2]);
    const stpg = Buffer.from([0xa4, 0x0a, 0, 0, 0, 0, 0, 0, 0, list.length, 0, 0]);
    expect((await ini.command({ cdb: stpg, dataOut: list })).status).toBe(0);
    const j = JSON.parse((await cli(['alua-list', '-t', 'ps1', '--json'])).out);
    expect(j).toMatchObject({ explicit: true });
    expect(j.groups[1]).toMatchObject({ id: 2, state: 'active-optimized', configuredState: 'standby' });
    const text = (await cli(['alua-list', '-t', 'ps1'])).out;
    expect(text).toContain('(running, implicit and explicit ALUA)');
    expect(text).toContain('active/optimized (alua-set: standby)');
    ini.close();
    await cli(['stop', '-t', 'ps1', '-f']);
    expect((await cli(['alua-set', '-t', 'ps1', '--explicit', 'off'])).code).toBe(0);
    expect((await store.getTarget(PS)).aluaExplicit).toBeUndefined();
  });

  it('explicit ALUA off (default): SET TARGET PORT GROUPS is INVALID COMMAND OPERATION CODE and changes nothing', async () => {
    await cli(['start', '-t', 'ps1']);
    const ini = await login(ports[1]!);
    const list = Buffer.from([0, 0, 0, 0, 0x02, 0, 0, 1]);
    const stpg = Buffer.from([0xa4, 0x0a, 0, 0, 0, 0, 0, 0, 0, list.length, 0, 0]);
    const r = await ini.command({ cdb: stpg, dataOut: list });
    expect(decodeSense(r.sense!)).toMatchObject({ key: 5, asc: 0x20 });
    expect((await client.status(PS)).targets[0]!.portGroups?.map((g) => g.state)).toEqual(['active-optimized', 'active-optimized']);
    expect(await cli(['alua-set', '-t', 'ps1', '--explicit', 'maybe'])).toMatchObject({ code: 1, err: expect.stringContaining('ISCSI_ERR_BAD_REQUEST') });
    expect(await cli(['alua-set', '-t', 'ps1', '--explicit', 'on', '-g', '1'])).toMatchObject({ code: 1, err: expect.stringContaining('ISCSI_ERR_BAD_REQUEST') });
    ini.close();
  });

  it('portal-down drops the sessions of that portal and portal-up listens again', async () => {
    await cli(['start', '-t', 'ps1']);
    const a = await login(ports[0]!);
    const b = await login(ports[1]!);
    expect((await cli(['portal-down', '-t', 'ps1', '-a', `127.0.0.1:${ports[0]}`])).code).toBe(0);
    await a.next(() => false, 2000);
    expect(a.closed).toBe(true);
    expect((await b.command({ cdb: cdb.read10(0, 1), readLength: 512 })).status).toBe(0);
    expect((await cli(['alua-list', '-t', 'ps1'])).out).toContain('no (portal-down)');
    expect((await cli(['portal-up', '-t', 'ps1', '-a', `127.0.0.1:${ports[0]}`])).code).toBe(0);
    (await login(ports[0]!)).close();
    b.close();
  });

  it('control verbs refuse bad requests with stable codes', async () => {
    const code = async (req: object) => {
      const r = await callDaemon(sock, req as never);
      return r.ok ? 'ok' : r.error.code;
    };
    expect(await code({ op: 'alua-set', iqn: PS, group: 1, state: 'standby' })).toBe('ISCSI_ERR_TARGET_NOT_RUNNING');
    expect(await code({ op: 'portal-down', iqn: PS, portal: `127.0.0.1:${ports[0]}` })).toBe('ISCSI_ERR_TARGET_NOT_RUNNING');
    await client.start(PS);
    expect(await code({ op: 'alua-set', iqn: PS, group: 9, state: 'standby' })).toBe('ISCSI_ERR_GROUP_NOT_FOUND');
    expect(await code({ op: 'alua-set', iqn: PS, group: 1, state: 'sideways' })).toBe('ISCSI_ERR_BAD_ALUA_STATE');
    expect(await code({ op: 'alua-set', iqn: PS, group: '1', state: 'standby' })).toBe('ISCSI_ERR_BAD_REQUEST');
    expect(await code({ op: 'portal-down', iqn: PS, portal: '127.0.0.9:1' })).toBe('ISCSI_ERR_PORTAL_NOT_FOUND');
    expect(await code({ op: 'portal-up', iqn: PS })).toBe('ISCSI_ERR_BAD_REQUEST');
    expect(await code({ op: 'alua-set', iqn: PS, group: 1, state: 'standby' })).toBe('ok');
  });

  it('CLI errors: both or neither of -g/-a, a running target for portal-group, a stopped one for portal-down', async () => {
    expect(await cli(['alua-set', '-t', 'ps1', '-s', 'standby'])).toMatchObject({ code: 1, err: expect.stringContaining('ISCSI_ERR_BAD_REQUEST') });
    expect(await cli(['alua-set', '-t', 'ps1', '-g', '1', '-a', '127.0.0.1', '-s', 'ao'])).toMatchObject({ code: 1, err: expect.stringContaining('ISCSI_ERR_BAD_REQUEST') });
    expect(await cli(['portal-down', '-t', 'ps1', '-a', `127.0.0.1:${ports[0]}`])).toMatchObject({ code: 1, err: expect.stringContaining('ISCSI_ERR_TARGET_NOT_RUNNING') });
    expect((await cli(['portal-group', '-t', 'ps1', '-a', `127.0.0.1:${ports[1]}`, '-g', '1'])).code).toBe(0);
    expect((await store.getTarget(PS)).portals.map((p) => p.portGroupId)).toEqual([1, 1]);
    await cli(['start', '-t', 'ps1']);
    expect(await cli(['portal-group', '-t', 'ps1', '-a', `127.0.0.1:${ports[1]}`, '-g', '2'])).toMatchObject({ code: 1, err: expect.stringContaining('ISCSI_ERR_TARGET_RUNNING') });
    // Both portals are one group now: one descriptor with two ports.
    const st = await client.status(PS);
    expect(st.targets[0]!.portGroups?.map((g) => [g.id, g.portals.length])).toEqual([[1, 2]]);
  });
});
