import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { runDaemon, type RunningDaemon } from '../../src/daemon/run.js';
import { DaemonClient, callDaemon, sessionsOf } from '../../src/daemon/control-client.js';
import { createLogger, formatLogLine } from '../../src/daemon/log.js';
import { ClusterStore } from '../../src/cluster/store.js';
import { FakeEngine } from './fake-engine.js';
import { daemonDir } from './helpers.js';

const HOST = '00000000000000aa';
const OTHER = '00000000000000bb';
const PREFIX = 'iqn.2014-04.com.vstorage';
const T1 = `${PREFIX}:test1`;
const T2 = `${PREFIX}:test2`;
const MiB = 1 << 20;

let dir: string;
let env: NodeJS.ProcessEnv;
let store: ClusterStore;
let running: RunningDaemon | undefined;
let engine: FakeEngine;
let logLines: string[];

async function start(): Promise<{ d: RunningDaemon; client: DaemonClient }> {
  logLines = [];
  running = await runDaemon({
    env,
    engineFactory: (o) => (engine = new FakeEngine(o)),
    log: createLogger({ level: 'debug', write: (l) => logLines.push(l) }),
  });
  return { d: running, client: new DaemonClient(path.join(dir, 'run', 'vstorage-iscsid.sock')) };
}

beforeEach(async () => {
  ({ dir, env, store } = await daemonDir('daemon-', HOST, PREFIX));
});

afterEach(async () => {
  await running?.shutdown();
  running = undefined;
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('vstorage-iscsid', () => {
  it('starts targets registered here with desired state running, from the store records', async () => {
    await store.createTarget({ name: 'test1', portals: ['127.0.0.1:3261', '[::1]:3261'] });
    const lun = await store.addLun(T1, { id: 1, sizeBytes: 4 * MiB });
    await store.setDesiredState(T1, 'running');
    await store.createTarget({ name: 'test2', portals: ['127.0.0.2'] }); // stopped
    const other = await ClusterStore.open(path.join(dir, 'root'), { hostId: OTHER, iqnPrefix: PREFIX });
    await other.createTarget({ name: 'test3', portals: ['127.0.0.3'] });
    await other.setDesiredState(`${PREFIX}:test3`, 'running');

    const { client } = await start();
    expect([...engine.defs.keys()]).toEqual([T1]);
    const def = engine.defs.get(T1)!;
    expect(def.portals).toEqual([
      { address: '127.0.0.1', port: 3261, tpgt: 1, relativePortId: 1, portGroupId: 1 },
      { address: '::1', port: 3261, tpgt: 2, relativePortId: 2, portGroupId: 2 },
    ]);
    expect(def.luns).toHaveLength(1);
    expect(def.luns[0]).toMatchObject({ id: 1, blockSize: 512, serial: lun.serial, naa: lun.naa, online: true });
    expect(def.luns[0]!.store.sizeBytes).toBe(4 * MiB);
    expect(def.auth()).toEqual({});

    const ping = await client.ping();
    expect(ping).toMatchObject({ ok: true, hostId: HOST, protocol: 1 });
    const st = await client.status();
    expect(st.targets).toEqual([{ iqn: T1, running: true, sessions: [], luns: [1] }]);
    expect(logLines.some((l) => / INFO  target started target=iqn\.2014-04\.com\.vstorage:test1 luns=1\n$/.test(l))).toBe(true);
  });

  it('start and stop over the control socket record the desired state', async () => {
    await store.createTarget({ name: 'test1', portals: ['127.0.0.1'] });
    await store.addLun(T1, { id: 1, sizeBytes: MiB });
    const { client } = await start();
    expect(engine.isRunning(T1)).toBe(false);
    expect(await client.start(T1)).toEqual({ alreadyRunning: false });
    expect(engine.isRunning(T1)).toBe(true);
    expect((await store.getTarget(T1)).desiredState).toBe('running');
    expect(await client.start(T1)).toEqual({ alreadyRunning: true });
    expect(await client.stop(T1, false)).toEqual({ wasRunning: true });
    expect(engine.isRunning(T1)).toBe(false);
    expect((await store.getTarget(T1)).desiredState).toBe('stopped');
    expect(await client.stop(T1, false)).toEqual({ wasRunning: false });
  });

  it('refuses to stop while initiators are connected unless forced, returning the sessions', async () => {
    await store.createTarget({ name: 'test1', portals: ['127.0.0.1'] });
    const { client } = await start();
    await client.start(T1);
    engine.addSession(T1, 'iqn.1994-05.com.redhat:c678b9f6f0', '192.168.30.100');
    const err = await client.stop(T1, false).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ISCSI_ERR_SESSIONS_ACTIVE' });
    expect(sessionsOf(err)).toEqual([expect.objectContaining({ initiatorName: 'iqn.1994-05.com.redhat:c678b9f6f0', initiatorAddress: '192.168.30.100' })]);
    expect(engine.isRunning(T1)).toBe(true);
    expect((await store.getTarget(T1)).desiredState).toBe('running');
    expect((await client.status(T1)).targets[0]!.sessions).toHaveLength(1);
    expect(await client.stop(T1, true)).toEqual({ wasRunning: true });
    expect(engine.calls).toContain(`stop ${T1} force`);
    expect((await store.getTarget(T1)).desiredState).toBe('stopped');
  });

  it('refuses targets of other hosts and unknown targets with stable codes', async () => {
    const other = await ClusterStore.open(path.join(dir, 'root'), { hostId: OTHER, iqnPrefix: PREFIX });
    await other.createTarget({ name: 'test2', portals: ['127.0.0.2'] });
    const { client } = await start();
    await expect(client.start(T2)).rejects.toMatchObject({ code: 'ISCSI_ERR_TARGET_REMOTE' });
    await expect(client.start(T1)).rejects.toMatchObject({ code: 'ISCSI_ERR_TARGET_NOT_FOUND' });
    await expect(client.start('not an iqn')).rejects.toMatchObject({ code: 'ISCSI_ERR_BAD_IQN' });
    expect(engine.defs.size).toBe(0);
  });

  it('auth() reads the account at each login: account-set applies at once; missing account fails closed', async () => {
    await store.createAccount('user1', 'first-secret-1');
    await store.createTarget({ name: 'test1', portals: ['127.0.0.1'], account: 'user1' });
    const { client } = await start();
    await client.start(T1);
    const def = engine.defs.get(T1)!;
    expect(def.auth()).toEqual({ chap: { user: 'user1', secret: 'first-secret-1' } });
    await store.setAccountSecret('user1', 'second-secret-2');
    expect(def.auth()).toEqual({ chap: { user: 'user1', secret: 'second-secret-2' } });
    fs.rmSync(path.join(dir, 'root', 'accounts', 'user1.json'));
    const p = def.auth();
    expect(p.chap?.user).toBe('user1');
    expect(p.chap?.secret).not.toMatch(/secret/);
    expect(p.chap?.secret.length).toBe(64);
    expect(logLines.some((l) => l.includes('ERROR cannot read CHAP account'))).toBe(true);
  });

  it('discovery is unauthenticated by default and uses ISCSI_DISCOVERY_ACCOUNT when set', async () => {
    await start();
    expect(engine.opts.discoveryAuth()).toEqual({});
    await running!.shutdown();
    running = undefined;
    await store.createAccount('disc', 'discovery-secret');
    env.ISCSI_DISCOVERY_ACCOUNT = 'disc';
    await start();
    expect(engine.opts.discoveryAuth()).toEqual({ chap: { user: 'disc', secret: 'discovery-secret' } });
  });

  it('reload restarts a running target with its new LUNs', async () => {
    await store.createTarget({ name: 'test1', portals: ['127.0.0.1'] });
    await store.addLun(T1, { id: 1, sizeBytes: MiB });
    const { client } = await start();
    await client.start(T1);
    await store.addLun(T1, { id: 2, sizeBytes: MiB });
    engine.addSession(T1, 'iqn.x:y', '10.0.0.1');
    await expect(client.reload(T1, false)).rejects.toMatchObject({ code: 'ISCSI_ERR_SESSIONS_ACTIVE' });
    expect(await client.reload(T1, true)).toEqual({ reloaded: true });
    expect(engine.defs.get(T1)!.luns.map((l) => l.id)).toEqual([1, 2]);
    expect(await client.reload(T2.replace('test2', 'nope'), false)).toEqual({ reloaded: false });
  });

  it('a reload that cannot start the new configuration keeps the previous one running', async () => {
    await store.createTarget({ name: 'test1', portals: ['127.0.0.1'] });
    await store.addLun(T1, { id: 1, sizeBytes: MiB });
    const { client } = await start();
    await client.start(T1);
    await store.addLun(T1, { id: 2, sizeBytes: MiB });
    fs.rmSync(path.join(dir, 'root', 'targets', T1, 'lun-2.qcow2'));
    await expect(client.reload(T1, false)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(engine.isRunning(T1)).toBe(true);
    expect(engine.defs.get(T1)!.luns.map((l) => l.id)).toEqual([1]);
    expect((await client.status(T1)).targets[0]).toMatchObject({ running: true, luns: [1] });
  });

  it('a target that fails to start is reported with its error and stays desired running', async () => {
    await store.createTarget({ name: 'test1', portals: ['127.0.0.1'] });
    await store.setDesiredState(T1, 'running');
    const orig = FakeEngine.prototype.startTarget;
    FakeEngine.prototype.startTarget = async function () {
      throw Object.assign(new Error('listen EADDRINUSE 127.0.0.1:3260'), { code: 'EADDRINUSE' });
    };
    try {
      const { client } = await start();
      const st = await client.status();
      expect(st.targets).toEqual([
        { iqn: T1, running: false, sessions: [], luns: [], error: { code: 'EADDRINUSE', message: 'listen EADDRINUSE 127.0.0.1:3260' } },
      ]);
      expect((await store.getTarget(T1)).desiredState).toBe('running');
    } finally {
      FakeEngine.prototype.startTarget = orig;
    }
  });

  it('answers bad requests with errors, several requests per connection', async () => {
    const { d } = await start();
    const sock = d.control.socketPath;
    expect(await callDaemon(sock, { op: 'nope' } as never)).toMatchObject({ ok: false, error: { code: 'ISCSI_ERR_BAD_REQUEST' } });
    expect(await callDaemon(sock, { op: 'start' } as never)).toMatchObject({ ok: false, error: { code: 'ISCSI_ERR_BAD_REQUEST' } });
    const replies = await new Promise<string[]>((resolve) => {
      const c = net.createConnection({ path: sock });
      let data = '';
      c.setEncoding('utf8');
      c.on('data', (s: string) => {
        data += s;
        if (data.split('\n').length > 3) {
          c.destroy();
          resolve(data.trim().split('\n'));
        }
      });
      c.write('{"id":1,"op":"ping"}\nnot json\n{"id":3,"op":"status"}\n');
    });
    expect(replies.map((r) => JSON.parse(r))).toEqual([
      expect.objectContaining({ id: 1, ok: true }),
      expect.objectContaining({ ok: false, error: expect.objectContaining({ code: 'ISCSI_ERR_BAD_REQUEST' }) }),
      expect.objectContaining({ id: 3, ok: true, targets: [] }),
    ]);
  });

  it('shuts down cleanly: engine closed, stores closed, socket removed, desired state kept', async () => {
    await store.createTarget({ name: 'test1', portals: ['127.0.0.1'] });
    await store.addLun(T1, { id: 1, sizeBytes: MiB });
    const { d, client } = await start();
    await client.start(T1);
    const lunStore = engine.defs.get(T1)!.luns[0]!.store;
    await d.shutdown();
    running = undefined;
    expect(engine.closed).toBe(true);
    expect(fs.existsSync(d.control.socketPath)).toBe(false);
    await expect(lunStore.read(Buffer.alloc(512), 0)).rejects.toMatchObject({ code: 'ISCSI_ERR_STORE_CLOSED' });
    expect((await store.getTarget(T1)).desiredState).toBe('running');
    await expect(client.ping()).rejects.toMatchObject({ code: 'ISCSI_ERR_DAEMON_UNAVAILABLE', details: { reason: 'not-running' } });
  });

  it('refuses to start a second daemon on the same socket and replaces a stale socket', async () => {
    const { d } = await start();
    await expect(runDaemon({ env, engineFactory: (o) => new FakeEngine(o), log: createLogger({ write: () => undefined }) })).rejects.toThrow(
      /already running/,
    );
    expect(fs.existsSync(d.control.socketPath)).toBe(true);
    await d.shutdown();
    running = undefined;
    // A socket file left by a crashed daemon is replaced.
    const stale = net.createServer();
    await new Promise<void>((r) => stale.listen(d.control.socketPath, r));
    await new Promise<void>((r) => stale.close(() => r()));
    fs.writeFileSync(d.control.socketPath, '');
    const again = await start();
    expect((await again.client.ping()).ok).toBe(true);
  });

  it('formats log lines with time, level, message and context', () => {
    expect(formatLogLine(new Date(0), 'warn', 'login failed', { target: 'iqn.x:y', reason: 'bad secret', n: 2 })).toBe(
      '1970-01-01T00:00:00.000Z WARN  login failed target=iqn.x:y reason="bad secret" n=2\n',
    );
    const lines: string[] = [];
    const log = createLogger({ level: 'info', write: (l) => lines.push(l), now: () => new Date(0) }).child({ session: 7 });
    log.debug('hidden');
    log.error('boom', { error: Object.assign(new Error('no space'), { code: 'ENOSPC' }) });
    expect(lines).toEqual(['1970-01-01T00:00:00.000Z ERROR boom session=7 error="ENOSPC: no space"\n']);
  });
});
