/**
 * The daemon and the per-target settings that apply without a restart:
 * initiator access lists (read at every login; refused logins get 0x0202) and
 * LUN Online flags (control op apply-luns), with the fake engine and through
 * the real engine with the test initiator.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { runDaemon, type RunningDaemon } from '../../src/daemon/run.js';
import { DaemonClient } from '../../src/daemon/control-client.js';
import { createLogger } from '../../src/daemon/log.js';
import { ClusterStore } from '../../src/cluster/store.js';
import { setLunOnline } from '../../src/cluster/access.js';
import { IscsiEngine } from '../../src/target/engine.js';
import { FakeEngine } from './fake-engine.js';
import { duplexPair } from '../helpers/duplex-pair.js';
import { TestInitiator, cdb } from '../helpers/initiator.js';
import { freePort } from '../helpers/free-port.js';
import { daemonDir } from './helpers.js';

const HOST = '00000000000000aa';
const PREFIX = 'iqn.2014-04.com.vstorage';
const T1 = `${PREFIX}:test1`;
const RH = 'iqn.1994-05.com.redhat:c678b9f6f0';
const MS = 'iqn.1991-05.com.microsoft:win-l2dj7g36n7e';

let dir: string;
let env: NodeJS.ProcessEnv;
let store: ClusterStore;
let running: RunningDaemon | undefined;
let logLines: string[];

beforeEach(async () => {
  ({ dir, env, store } = await daemonDir('daemon-access-', HOST, PREFIX));
  logLines = [];
});

afterEach(async () => {
  await running?.shutdown();
  running = undefined;
  fs.rmSync(dir, { recursive: true, force: true });
});

const client = () => new DaemonClient(path.join(dir, 'run', 'vstorage-iscsid.sock'));
const log = () => createLogger({ level: 'debug', write: (l) => logLines.push(l) });

async function withFake(): Promise<FakeEngine> {
  let engine!: FakeEngine;
  running = await runDaemon({ env, engineFactory: (o) => (engine = new FakeEngine(o)), log: log() });
  return engine;
}

describe('access lists in the daemon (fake engine)', () => {
  it('initiatorAllowed reads the record at each call; falls back to the last list read; logs refusals with context', async () => {
    await store.createTarget({ name: 'test1', portals: ['127.0.0.1:3260'], allow: [RH] });
    const engine = await withFake();
    await client().start(T1);
    const def = engine.defs.get(T1)!;
    expect(def.initiatorAllowed?.(RH)).toBe(true);
    expect(def.initiatorAllowed?.(MS)).toBe(false);
    expect(logLines.join('')).toMatch(/ INFO  initiator refused by the access list target=iqn\.2014-04\.com\.vstorage:test1 initiator=iqn\.1991-05\.com\.microsoft:win-l2dj7g36n7e\n/);
    await store.setTarget(T1, { initiators: { allow: [MS], deny: [RH] } });
    expect([def.initiatorAllowed?.(RH), def.initiatorAllowed?.(MS)]).toEqual([false, true]);
    // A record that cannot be read for a moment: the last list read applies (not "everyone").
    const f = path.join(dir, 'root', 'targets', T1, 'target.json');
    const saved = fs.readFileSync(f, 'utf8');
    fs.writeFileSync(f, '{ torn');
    expect([def.initiatorAllowed?.(RH), def.initiatorAllowed?.(MS)]).toEqual([false, true]);
    expect(logLines.join('')).toContain('WARN  cannot read target record at login; using the last known access list target=');
    fs.writeFileSync(f, saved);
    await store.setTarget(T1, { initiators: { clear: true } });
    expect([def.initiatorAllowed?.(RH), def.initiatorAllowed?.(MS)]).toEqual([true, true]);
  });

  it('apply-luns shows and hides LUNs of a running target as the record says', async () => {
    await store.createTarget({ name: 'test1', portals: ['127.0.0.1:3260'] });
    await store.addLun(T1, { id: 1, sizeBytes: 1 << 20 });
    await store.addLun(T1, { id: 2, sizeBytes: 1 << 20 });
    await setLunOnline(store, T1, 2, false);
    const engine = await withFake();
    const c = client();
    expect(await c.applyLuns(T1)).toEqual({ applied: [] }); // not running: nothing to do
    await c.start(T1);
    expect(engine.visibleLuns(T1)).toEqual([1]); // started with LUN 2 offline
    await setLunOnline(store, T1, 1, false);
    await setLunOnline(store, T1, 2, true);
    expect(await c.applyLuns(T1)).toEqual({ applied: [1, 2] });
    expect(engine.visibleLuns(T1)).toEqual([2]);
    expect(await c.applyLuns(T1)).toEqual({ applied: [] }); // already applied
    expect(logLines.join('')).toMatch(/INFO  LUN set offline target=iqn\.2014-04\.com\.vstorage:test1 lun=1\n/);
    // A LUN added while running (not served yet) is left for the next start.
    await store.addLun(T1, { id: 3, sizeBytes: 1 << 20 });
    await setLunOnline(store, T1, 3, false);
    expect(await c.applyLuns(T1)).toEqual({ applied: [] });
    await expect(c.applyLuns('iqn.bad')).rejects.toMatchObject({ code: 'ISCSI_ERR_BAD_IQN' });
  });
});

describe('through the real engine', () => {
  it('refused initiators get login status 0x0202 and do not discover the target; changes apply to the next login', async () => {
    const port = await freePort();
    await store.createTarget({ name: 'test1', portals: [`127.0.0.1:${port}`], deny: [MS] });
    let real!: IscsiEngine;
    running = await runDaemon({ env, engineFactory: (o) => (real = new IscsiEngine(o)), log: log() });
    await client().start(T1);
    const login = async (initiatorName: string, sessionType: 'Normal' | 'Discovery' = 'Normal') => {
      const [a, b] = duplexPair();
      real.onConnection(b, '127.0.0.1', port);
      const ini = new TestInitiator(a);
      const r = await ini.login({ initiatorName, ...(sessionType === 'Normal' ? { targetName: T1 } : { sessionType }) });
      const targets = r.ok && sessionType === 'Discovery' ? (await ini.sendTargets()).filter(([k]) => k === 'TargetName').map(([, v]) => v) : [];
      a.destroy();
      return { ok: r.ok, status: (r.statusClass << 8) | r.statusDetail, targets };
    };
    expect(await login(MS)).toMatchObject({ ok: false, status: 0x0202 });
    expect(await login(RH)).toMatchObject({ ok: true, status: 0 });
    expect((await login(MS, 'Discovery')).targets).toEqual([]);
    expect((await login(RH, 'Discovery')).targets).toEqual([T1]);
    // Allow list: only RH from now on, MS off the deny list; the target keeps running.
    await store.setTarget(T1, { initiators: { allow: [RH], unlist: [MS] } });
    expect(await login('iqn.2024-01.org.test:other')).toMatchObject({ ok: false, status: 0x0202 });
    expect(await login(MS)).toMatchObject({ ok: false, status: 0x0202 });
    expect(await login(RH)).toMatchObject({ ok: true });
    expect(real.isRunning(T1)).toBe(true);
    expect(logLines.join('')).toMatch(/login refused .*status=0x0202/);
  });

  it('the description is the TargetAlias initiators see at login', async () => {
    const port = await freePort();
    await store.createTarget({ name: 'test1', portals: [`127.0.0.1:${port}`], description: 'scratch space' });
    let real!: IscsiEngine;
    running = await runDaemon({ env, engineFactory: (o) => (real = new IscsiEngine(o)), log: log() });
    await client().start(T1);
    const [a, b] = duplexPair();
    real.onConnection(b, '127.0.0.1', port);
    const r = await new TestInitiator(a).login({ targetName: T1 });
    a.destroy();
    expect([r.ok, r.keys.get('TargetAlias')]).toEqual([true, 'scratch space']);
  });

  it('lun-set --offline hides a LUN from a logged-in initiator at once; --online brings it back', async () => {
    const port = await freePort();
    await store.createTarget({ name: 'test1', portals: [`127.0.0.1:${port}`] });
    await store.addLun(T1, { id: 0, sizeBytes: 1 << 20 });
    await store.addLun(T1, { id: 1, sizeBytes: 1 << 20 });
    await setLunOnline(store, T1, 1, false);
    let real!: IscsiEngine;
    running = await runDaemon({ env, engineFactory: (o) => (real = new IscsiEngine(o)), log: log() });
    const c = client();
    await c.start(T1);
    const [a, b] = duplexPair();
    real.onConnection(b, '127.0.0.1', port);
    const ini = new TestInitiator(a);
    expect((await ini.login({ targetName: T1 })).ok).toBe(true);
    const reportLuns = async (): Promise<number[]> => {
      for (;;) {
        const r = await ini.command({ lun: 0, cdb: cdb.reportLuns(), readLength: 4096 });
        if (r.status === 0x02) continue; // unit attention first
        const n = r.dataIn.readUInt32BE(0) / 8;
        return Array.from({ length: n }, (_, i) => r.dataIn[8 + i * 8 + 1]!);
      }
    };
    const tur = async (lun: number) => {
      const r = await ini.command({ lun, cdb: cdb.testUnitReady() });
      return r.status === 0 ? 'GOOD' : `asc=${r.sense?.[12]?.toString(16)}`;
    };
    expect(await reportLuns()).toEqual([0]);
    expect(await tur(1)).toBe('asc=25'); // LOGICAL UNIT NOT SUPPORTED
    await setLunOnline(store, T1, 1, true);
    expect(await c.applyLuns(T1)).toEqual({ applied: [1] });
    // LUN 0 reports REPORTED LUNS DATA HAS CHANGED (3Fh/0Eh) among its unit attentions.
    const attentions: string[] = [];
    for (let r = await ini.command({ lun: 0, cdb: cdb.testUnitReady() }); r.status === 0x02; r = await ini.command({ lun: 0, cdb: cdb.testUnitReady() })) {
      attentions.push(`${r.sense![12]!.toString(16)}/${r.sense![13]!.toString(16)}`);
    }
    expect(attentions).toContain('3f/e');
    expect(await reportLuns()).toEqual([0, 1]);
    await setLunOnline(store, T1, 1, false);
    await c.applyLuns(T1);
    expect(await reportLuns()).toEqual([0]);
    expect(real.sessions(T1)).toHaveLength(1); // the session stayed
    a.destroy();
  });
});
