/**
 * The daemon's auth(): one-way and mutual CHAP accounts read from the store at
 * every login (fake engine), and a real login with mutual CHAP through the
 * real engine over an in-memory duplex (test initiator).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { runDaemon, type RunningDaemon } from '../../src/daemon/run.js';
import { DaemonClient } from '../../src/daemon/control-client.js';
import { createLogger } from '../../src/daemon/log.js';
import { ClusterStore } from '../../src/cluster/store.js';
import { IscsiEngine } from '../../src/target/engine.js';
import { FakeEngine } from './fake-engine.js';
import { duplexPair } from '../helpers/duplex-pair.js';
import { TestInitiator } from '../helpers/initiator.js';
import { freePort } from '../helpers/free-port.js';
import { daemonDir } from './helpers.js';

const HOST = '00000000000000aa';
const PREFIX = 'iqn.2014-04.com.vstorage';
const T1 = `${PREFIX}:test1`;

let dir: string;
let env: NodeJS.ProcessEnv;
let store: ClusterStore;
let running: RunningDaemon | undefined;
let engine: FakeEngine;
let logLines: string[];

async function start(): Promise<DaemonClient> {
  logLines = [];
  running = await runDaemon({
    env,
    engineFactory: (o) => (engine = new FakeEngine(o)),
    log: createLogger({ level: 'debug', write: (l) => logLines.push(l) }),
  });
  return new DaemonClient(path.join(dir, 'run', 'vstorage-iscsid.sock'));
}

async function accounts(): Promise<void> {
  await store.createAccount('user1', 'initiator-secret-1');
  await store.createAccount('user2', 'initiator-secret-2');
  await store.createAccount('tgt1', 'target-secret-001');
  await store.createAccount('tgt2', 'target-secret-002');
}

beforeEach(async () => {
  ({ dir, env, store } = await daemonDir('daemon-mutual-', HOST, PREFIX));
});

afterEach(async () => {
  await running?.shutdown();
  running = undefined;
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('auth() with mutual CHAP', () => {
  it('returns both accounts, read again at each login', async () => {
    await accounts();
    await store.createTarget({ name: 'test1', portals: ['127.0.0.1'], account: 'user1', mutualAccount: 'tgt1' });
    const client = await start();
    await client.start(T1);
    const def = engine.defs.get(T1)!;
    expect(def.auth()).toEqual({
      chap: { user: 'user1', secret: 'initiator-secret-1' },
      mutual: { user: 'tgt1', secret: 'target-secret-001' },
    });
    // account-set of the mutual account: the next login uses the new secret.
    await store.setAccountSecret('tgt1', 'target-secret-new');
    expect(def.auth().mutual).toEqual({ user: 'tgt1', secret: 'target-secret-new' });
    // set --mutual-user while running: the next login uses the other account.
    await store.setTarget(T1, { mutualAccount: 'tgt2' });
    expect(def.auth().mutual).toEqual({ user: 'tgt2', secret: 'target-secret-002' });
    // set -u while running.
    await store.setTarget(T1, { account: 'user2' });
    expect(def.auth()).toEqual({
      chap: { user: 'user2', secret: 'initiator-secret-2' },
      mutual: { user: 'tgt2', secret: 'target-secret-002' },
    });
    // --no-mutual-user: one-way CHAP only.
    await store.setTarget(T1, { mutualAccount: null });
    expect(def.auth()).toEqual({ chap: { user: 'user2', secret: 'initiator-secret-2' } });
    // --no-mutual-user --no-user: no authentication.
    await store.setTarget(T1, { account: null });
    expect(def.auth()).toEqual({});
    expect(engine.isRunning(T1)).toBe(true);
  });

  it('fails closed when the mutual account cannot be read', async () => {
    await accounts();
    await store.createTarget({ name: 'test1', portals: ['127.0.0.1'], account: 'user1', mutualAccount: 'tgt1' });
    const client = await start();
    await client.start(T1);
    const def = engine.defs.get(T1)!;
    fs.rmSync(path.join(dir, 'root', 'accounts', 'tgt1.json'));
    const p = def.auth();
    expect(p.mutual).toBeUndefined();
    expect(p.chap?.user).toBe('user1');
    expect(p.chap?.secret).not.toBe('initiator-secret-1');
    expect(p.chap?.secret).toHaveLength(64);
    expect(logLines.some((l) => l.includes('ERROR cannot read mutual CHAP account; refusing logins') && l.includes('mutualAccount=tgt1'))).toBe(
      true,
    );
  });

  it('fails closed on a record with a mutual account but no one-way account (hand-edited)', async () => {
    await accounts();
    await store.createTarget({ name: 'test1', portals: ['127.0.0.1'] });
    const client = await start();
    await client.start(T1);
    const f = path.join(dir, 'root', 'targets', T1, 'target.json');
    fs.writeFileSync(f, JSON.stringify({ ...JSON.parse(fs.readFileSync(f, 'utf8')), mutualAccount: 'tgt1' }));
    const p = engine.defs.get(T1)!.auth();
    expect(p.mutual).toBeUndefined();
    expect(p.chap?.secret).toHaveLength(64);
    expect(logLines.some((l) => l.includes('mutual CHAP account bound without a one-way account'))).toBe(true);
  });

  it('keeps the last known accounts while the record is unreadable', async () => {
    await accounts();
    await store.createTarget({ name: 'test1', portals: ['127.0.0.1'], account: 'user1', mutualAccount: 'tgt1' });
    const client = await start();
    await client.start(T1);
    const def = engine.defs.get(T1)!;
    const f = path.join(dir, 'root', 'targets', T1, 'target.json');
    const good = fs.readFileSync(f, 'utf8');
    fs.writeFileSync(f, '{ torn');
    expect(def.auth()).toEqual({
      chap: { user: 'user1', secret: 'initiator-secret-1' },
      mutual: { user: 'tgt1', secret: 'target-secret-001' },
    });
    fs.writeFileSync(f, good);
  });

  it('discovery sessions use ISCSI_DISCOVERY_ACCOUNT and ISCSI_DISCOVERY_MUTUAL_ACCOUNT', async () => {
    await store.createAccount('disc', 'discovery-secret-1');
    await store.createAccount('discm', 'discovery-secret-2');
    env.ISCSI_DISCOVERY_ACCOUNT = 'disc';
    env.ISCSI_DISCOVERY_MUTUAL_ACCOUNT = 'discm';
    await start();
    expect(engine.opts.discoveryAuth()).toEqual({
      chap: { user: 'disc', secret: 'discovery-secret-1' },
      mutual: { user: 'discm', secret: 'discovery-secret-2' },
    });
    await store.setAccountSecret('discm', 'discovery-secret-3');
    expect(engine.opts.discoveryAuth().mutual).toEqual({ user: 'discm', secret: 'discovery-secret-3' });
  });

  it('refuses to start with a mutual discovery account but no one-way one', async () => {
    env.ISCSI_DISCOVERY_MUTUAL_ACCOUNT = 'discm';
    await expect(start()).rejects.toMatchObject({ code: 'ISCSI_ERR_CONFIG' });
  });
});

describe('mutual CHAP logins through the real engine', () => {
  it('the target proves the bound mutual account; bindings apply to the next login', async () => {
    await accounts();
    const port = await freePort();
    await store.createTarget({ name: 'test1', portals: [`127.0.0.1:${port}`], account: 'user1' });
    let real!: IscsiEngine;
    running = await runDaemon({
      env,
      engineFactory: (o) => (real = new IscsiEngine(o)),
      log: createLogger({ write: () => undefined }),
    });
    const client = new DaemonClient(path.join(dir, 'run', 'vstorage-iscsid.sock'));
    await client.start(T1);
    const login = async (chap: { user: string; secret: string; mutualSecret?: string }) => {
      const [a, b] = duplexPair();
      real.onConnection(b, '127.0.0.1', port);
      const ini = new TestInitiator(a);
      try {
        return await ini.login({ targetName: T1, chap: { ...chap, algorithms: '7' } });
      } finally {
        a.destroy();
      }
    };
    // One-way only: asking the target to prove itself fails (RFC 7143 §12.1.3), plain one-way works.
    expect((await login({ user: 'user1', secret: 'initiator-secret-1', mutualSecret: 'target-secret-001' })).ok).toBe(false);
    expect((await login({ user: 'user1', secret: 'initiator-secret-1' })).ok).toBe(true);

    await store.setTarget(T1, { mutualAccount: 'tgt1' });
    expect((await login({ user: 'user1', secret: 'initiator-secret-1', mutualSecret: 'target-secret-001' })).ok).toBe(true);
    // The initiator checks the target's answer: a different expected secret is detected.
    await expect(login({ user: 'user1', secret: 'initiator-secret-1', mutualSecret: 'target-secret-002' })).rejects.toThrow(
      'target failed mutual CHAP',
    );
    await store.setTarget(T1, { mutualAccount: 'tgt2' });
    expect((await login({ user: 'user1', secret: 'initiator-secret-1', mutualSecret: 'target-secret-002' })).ok).toBe(true);
    expect((await login({ user: 'user1', secret: 'wrong-secret-000' })).ok).toBe(false);
    // Secrets made equal behind the store's back (RFC 7143 §9.2.1): the login is refused as a target error.
    const f = path.join(dir, 'root', 'accounts', 'tgt2.json');
    fs.writeFileSync(f, JSON.stringify({ ...JSON.parse(fs.readFileSync(f, 'utf8')), secret: 'initiator-secret-1' }));
    const r = await login({ user: 'user1', secret: 'initiator-secret-1' });
    expect([r.ok, r.statusClass]).toEqual([false, 3]);
  });

  it('discovery sessions prove ISCSI_DISCOVERY_MUTUAL_ACCOUNT', async () => {
    await store.createAccount('disc', 'discovery-secret-1');
    await store.createAccount('discm', 'discovery-secret-2');
    env.ISCSI_DISCOVERY_ACCOUNT = 'disc';
    env.ISCSI_DISCOVERY_MUTUAL_ACCOUNT = 'discm';
    let real!: IscsiEngine;
    running = await runDaemon({ env, engineFactory: (o) => (real = new IscsiEngine(o)), log: createLogger({ write: () => undefined }) });
    const discover = async (chap?: { user: string; secret: string; mutualSecret?: string }) => {
      const [a, b] = duplexPair();
      real.onConnection(b, '127.0.0.1', 3260);
      const ini = new TestInitiator(a);
      try {
        return await ini.login({ sessionType: 'Discovery', ...(chap ? { chap: { ...chap, algorithms: '5' } } : {}) });
      } finally {
        a.destroy();
      }
    };
    expect((await discover()).ok).toBe(false);
    expect((await discover({ user: 'disc', secret: 'discovery-secret-1' })).ok).toBe(true);
    expect((await discover({ user: 'disc', secret: 'discovery-secret-1', mutualSecret: 'discovery-secret-2' })).ok).toBe(true);
    await expect(discover({ user: 'disc', secret: 'discovery-secret-1', mutualSecret: 'discovery-secret-9' })).rejects.toThrow(
      'target failed mutual CHAP',
    );
  });
});
