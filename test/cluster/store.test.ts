import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ClusterStore } from '../../src/cluster/store.js';
import { writeFileAtomic } from '../../src/cluster/atomic.js';
import { acquireLock } from '../../src/cluster/lock.js';
import { buildForTests, jsPath } from './helpers/build.js';

const HOST = '00000000000000aa';
const OTHER = '00000000000000bb';
const PREFIX = 'iqn.2014-04.com.vstorage';
const IQN1 = `${PREFIX}:test1`;
const MiB = 1 << 20;

let dir: string;
let root: string;

async function open(hostId = HOST): Promise<ClusterStore> {
  return ClusterStore.open(root, { hostId, iqnPrefix: PREFIX, lockTimeoutMs: 2000 });
}

function snapshot(d: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (p: string) => {
    for (const e of fs.readdirSync(p, { withFileTypes: true })) {
      const f = path.join(p, e.name);
      if (e.isDirectory()) walk(f);
      else out[path.relative(d, f)] = fs.readFileSync(f).toString('base64');
    }
  };
  walk(d);
  return out;
}

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'store-'));
  root = path.join(dir, 'root');
  fs.mkdirSync(root);
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('ClusterStore', () => {
  it('requires an existing ISCSI_ROOT', async () => {
    await expect(ClusterStore.open(path.join(dir, 'missing'), { hostId: HOST, iqnPrefix: PREFIX })).rejects.toMatchObject({
      code: 'ISCSI_ERR_ROOT_MISSING',
    });
  });

  it('creates a target registered on this host with stable portal IDs', async () => {
    const s = await open();
    const t = await s.createTarget({ name: 'test1', portals: ['192.168.10.100', '192.168.20.100:3261'] });
    expect(t.iqn).toBe(IQN1);
    expect(t.host).toBe(HOST);
    expect(t.desiredState).toBe('stopped');
    expect(t.portals).toEqual([
      { address: '192.168.10.100', port: 3260, tpgt: 1, relativePortId: 1, portGroupId: 1 },
      { address: '192.168.20.100', port: 3261, tpgt: 2, relativePortId: 2, portGroupId: 2 },
    ]);
    const again = await (await open()).getTarget(IQN1);
    expect(again).toEqual(t);
    expect(fs.readdirSync(path.join(root, 'targets'))).toEqual([IQN1]);
  });

  it('keeps portal IDs of kept addresses and never reuses IDs on set', async () => {
    const s = await open();
    await s.createTarget({ name: 'test1', portals: ['10.0.0.1', '10.0.0.2'] });
    const t = await s.setTarget(IQN1, { portals: ['10.0.0.2', '10.0.0.3'] });
    expect(t.portals.map((p) => [p.address, p.tpgt])).toEqual([
      ['10.0.0.2', 2],
      ['10.0.0.3', 3],
    ]);
    const t2 = await s.setTarget(IQN1, { portals: ['10.0.0.1'] });
    expect(t2.portals[0]!.tpgt).toBe(4);
  });

  it('validates with stable codes and leaves nothing behind', async () => {
    const s = await open();
    await s.createTarget({ name: 'test1', portals: ['10.0.0.1'] });
    const before = snapshot(root);
    await expect(s.createTarget({ name: 'test1', portals: ['10.0.0.9'] })).rejects.toMatchObject({ code: 'ISCSI_ERR_TARGET_EXISTS' });
    await expect(s.createTarget({ name: 'test2', portals: ['10.0.0.1'] })).rejects.toMatchObject({ code: 'ISCSI_ERR_PORTAL_IN_USE' });
    await expect(s.createTarget({ name: 'test2', portals: ['0.0.0.0'] })).rejects.toMatchObject({ code: 'ISCSI_ERR_PORTAL_IN_USE' });
    await expect(s.createTarget({ name: 'test2', portals: [] })).rejects.toMatchObject({ code: 'ISCSI_ERR_NO_PORTAL' });
    await expect(s.createTarget({ name: 'test2', portals: ['10.0.0.2', '10.0.0.2:3260'] })).rejects.toMatchObject({
      code: 'ISCSI_ERR_DUPLICATE_PORTAL',
    });
    await expect(s.createTarget({ name: 'test2', portals: ['x.example'] })).rejects.toMatchObject({ code: 'ISCSI_ERR_BAD_ADDRESS' });
    await expect(s.createTarget({ name: 'bad_name', portals: ['10.0.0.2'] })).rejects.toMatchObject({ code: 'ISCSI_ERR_BAD_NAME' });
    await expect(s.createTarget({ name: 'test2', portals: ['10.0.0.2'], account: 'nobody' })).rejects.toMatchObject({
      code: 'ISCSI_ERR_ACCOUNT_NOT_FOUND',
    });
    await expect(s.createTarget({ name: 'test2', portals: ['10.0.0.2'], description: 'a\nb' })).rejects.toMatchObject({
      code: 'ISCSI_ERR_BAD_DESCRIPTION',
    });
    await expect(s.getTarget(`${PREFIX}:nope`)).rejects.toMatchObject({ code: 'ISCSI_ERR_TARGET_NOT_FOUND' });
    await expect(s.addLun(IQN1, { id: 300, sizeBytes: MiB })).rejects.toMatchObject({ code: 'ISCSI_ERR_BAD_LUN_ID' });
    await expect(s.addLun(`${PREFIX}:nope`, { id: 1, sizeBytes: MiB })).rejects.toMatchObject({ code: 'ISCSI_ERR_TARGET_NOT_FOUND' });
    expect(snapshot(root)).toEqual(before);
  });

  it('adds LUNs with NAA/serial generated once, stable across reloads', async () => {
    const s = await open();
    await s.createTarget({ name: 'test1', portals: ['10.0.0.1'] });
    const lun = await s.addLun(IQN1, { id: 1, sizeBytes: 100 * MiB, format: 'raw' });
    expect(lun).toMatchObject({ id: 1, sizeBytes: 100 * MiB, file: 'lun-1.raw', format: 'raw', blockSize: 512, online: true });
    expect(lun.naa).toMatch(/^6[0-9a-f]{31}$/);
    const img = path.join(root, 'targets', IQN1, 'lun-1.raw');
    expect(fs.statSync(img).size).toBe(100 * MiB);
    expect(await s.lunUsedBytes(IQN1, lun)).toBe(0);
    await expect(s.addLun(IQN1, { id: 1, sizeBytes: MiB })).rejects.toMatchObject({ code: 'ISCSI_ERR_LUN_EXISTS' });

    const grown = await s.growLun(IQN1, 1, 200 * MiB);
    expect(grown.naa).toBe(lun.naa);
    expect(grown.serial).toBe(lun.serial);
    expect(fs.statSync(img).size).toBe(200 * MiB);
    await expect(s.growLun(IQN1, 1, 100 * MiB)).rejects.toMatchObject({ code: 'ISCSI_ERR_SIZE_NOT_LARGER' });
    await expect(s.growLun(IQN1, 2, 300 * MiB)).rejects.toMatchObject({ code: 'ISCSI_ERR_LUN_NOT_FOUND' });

    const reloaded = await (await open()).getTarget(IQN1);
    expect(reloaded.luns[0]).toMatchObject({ naa: lun.naa, serial: lun.serial, sizeBytes: 200 * MiB });

    await s.deleteLun(IQN1, 1);
    expect(fs.existsSync(img)).toBe(false);
    expect((await s.getTarget(IQN1)).luns).toEqual([]);
  });

  it('refuses set, delete and lun-grow on a running target', async () => {
    const s = await open();
    await s.createTarget({ name: 'test1', portals: ['10.0.0.1'] });
    await s.addLun(IQN1, { id: 1, sizeBytes: MiB });
    await s.setDesiredState(IQN1, 'running');
    const before = snapshot(root);
    await expect(s.setTarget(IQN1, { portals: ['10.0.0.2'] })).rejects.toMatchObject({ code: 'ISCSI_ERR_TARGET_RUNNING' });
    await expect(s.deleteTarget(IQN1)).rejects.toMatchObject({ code: 'ISCSI_ERR_TARGET_RUNNING' });
    await expect(s.growLun(IQN1, 1, 2 * MiB)).rejects.toMatchObject({ code: 'ISCSI_ERR_TARGET_RUNNING' });
    await expect(s.deleteLun(IQN1, 1)).rejects.toMatchObject({ code: 'ISCSI_ERR_TARGET_RUNNING' });
    await expect(s.unregister(IQN1)).rejects.toMatchObject({ code: 'ISCSI_ERR_TARGET_RUNNING' });
    // Locks were released: only the records, unchanged.
    expect(snapshot(root)).toEqual(before);
  });

  it('registration moves a stopped target between hosts; remote delete needs force', async () => {
    const a = await open(HOST);
    const b = await open(OTHER);
    await a.createTarget({ name: 'test1', portals: ['10.0.0.1'] });
    await expect(b.register(IQN1)).rejects.toMatchObject({ code: 'ISCSI_ERR_ALREADY_REGISTERED' });
    await expect(b.unregister(IQN1)).rejects.toMatchObject({ code: 'ISCSI_ERR_TARGET_REMOTE' });
    await a.unregister(IQN1);
    await expect(a.unregister(IQN1)).rejects.toMatchObject({ code: 'ISCSI_ERR_NOT_REGISTERED' });
    expect((await b.register(IQN1)).host).toBe(OTHER);
    await expect(a.deleteTarget(IQN1)).rejects.toMatchObject({ code: 'ISCSI_ERR_TARGET_REMOTE' });
    await a.deleteTarget(IQN1, { force: true });
    expect(await a.listTargets()).toEqual([]);
    expect(fs.readdirSync(path.join(root, 'targets'))).toEqual([]);
    expect(fs.readdirSync(path.join(root, 'locks'))).toEqual([]);
  });

  it('stores accounts mode 0600 and tracks their use', async () => {
    const s = await open();
    await expect(s.createAccount('user1', 'short')).rejects.toMatchObject({ code: 'ISCSI_ERR_BAD_SECRET' });
    await s.createAccount('user1', 'a-long-secret-1');
    await expect(s.createAccount('user1', 'a-long-secret-2')).rejects.toMatchObject({ code: 'ISCSI_ERR_ACCOUNT_EXISTS' });
    const f = path.join(root, 'accounts', 'user1.json');
    expect(fs.statSync(f).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.join(root, 'accounts')).mode & 0o777).toBe(0o700);
    expect(s.readAccountSync('user1').secret).toBe('a-long-secret-1');
    await s.setAccountSecret('user1', 'another-secret-3');
    expect(s.readAccountSync('user1').secret).toBe('another-secret-3');
    expect(fs.statSync(f).mode & 0o777).toBe(0o600);
    await s.createTarget({ name: 'test1', portals: ['10.0.0.1'], account: 'user1' });
    expect(await s.listAccounts()).toEqual(['user1']);
    expect(await s.targetsUsingAccount('user1')).toEqual([IQN1]);
    await expect(s.deleteAccount('user1')).rejects.toMatchObject({ code: 'ISCSI_ERR_ACCOUNT_IN_USE' });
    await s.setTarget(IQN1, { account: null });
    await s.deleteAccount('user1');
    expect(await s.listAccounts()).toEqual([]);
    expect(fs.readdirSync(path.join(root, 'accounts'))).toEqual([]);
  });

  it('writes atomically: a failed write keeps the old file and leaves no temp file', async () => {
    const f = path.join(dir, 'x.json');
    await writeFileAtomic(f, 'old');
    await writeFileAtomic(f, 'new');
    expect(fs.readFileSync(f, 'utf8')).toBe('new');
    await expect(writeFileAtomic(f, 'newer', { noClobber: true })).rejects.toMatchObject({ code: 'EEXIST' });
    expect(fs.readFileSync(f, 'utf8')).toBe('new');
    await expect(writeFileAtomic(path.join(dir, 'nodir', 'y'), 'z')).rejects.toMatchObject({ code: 'ENOENT' });
    expect(fs.readdirSync(dir).sort()).toEqual(['root', 'x.json']);
  });

  it('breaks a stale lock of a dead process on this host, waits on a live one', async () => {
    const lockFile = path.join(dir, 'l.lock');
    fs.writeFileSync(lockFile, JSON.stringify({ host: HOST, pid: 2 ** 22 + 12345, nonce: 'x', acquired: 'then' }));
    const l = await acquireLock(lockFile, { hostId: HOST, timeoutMs: 1000 });
    await expect(acquireLock(lockFile, { hostId: HOST, timeoutMs: 200, what: 'thing' })).rejects.toMatchObject({
      code: 'ISCSI_ERR_LOCK_TIMEOUT',
      message: expect.stringContaining(`pid ${process.pid}`),
    });
    await l.release();
    expect(fs.existsSync(lockFile)).toBe(false);
    // Another host's lock is stale only after staleMs.
    fs.writeFileSync(lockFile, JSON.stringify({ host: OTHER, pid: 1, nonce: 'y', acquired: 'then' }));
    await expect(acquireLock(lockFile, { hostId: HOST, timeoutMs: 100, staleMs: 60_000 })).rejects.toMatchObject({
      code: 'ISCSI_ERR_LOCK_TIMEOUT',
    });
    const old = new Date(Date.now() - 120_000);
    fs.utimesSync(lockFile, old, old);
    const l2 = await acquireLock(lockFile, { hostId: HOST, timeoutMs: 1000, staleMs: 60_000 });
    await l2.release();
    expect(fs.readdirSync(dir).filter((n) => n.startsWith('l.lock'))).toEqual([]);
  });
});

describe('concurrency across processes', () => {
  let out: string;
  const worker = 'test/cluster/fixtures/lock-worker.ts';
  beforeAll(() => {
    out = buildForTests([worker]);
  }, 60_000);
  afterAll(() => fs.rmSync(out, { recursive: true, force: true }));

  function run(args: string[]): Promise<{ ok: boolean; code?: string }> {
    return new Promise((resolve) => {
      execFile(process.execPath, [jsPath(out, worker), ...args], (_err, stdout) => resolve(JSON.parse(stdout || '{"ok":false}')));
    });
  }

  it('serialises read-modify-write cycles of parallel processes', async () => {
    fs.writeFileSync(path.join(root, 'counter.json'), '{"n":0}');
    const procs = 6;
    const each = 15;
    const res = await Promise.all(Array.from({ length: procs }, () => run(['counter', root, String(each)])));
    expect(res.every((r) => r.ok)).toBe(true);
    expect(JSON.parse(fs.readFileSync(path.join(root, 'counter.json'), 'utf8')).n).toBe(procs * each);
  }, 60_000);

  it('parallel lun-add to one target keeps every LUN', async () => {
    const s = await open();
    await s.createTarget({ name: 'test1', portals: ['10.0.0.1'] });
    const ids = [1, 2, 3, 4, 5, 6, 7, 8];
    const res = await Promise.all(ids.map((id) => run(['addlun', root, IQN1, String(id)])));
    expect(res.every((r) => r.ok)).toBe(true);
    const t = await s.getTarget(IQN1);
    expect(t.luns.map((l) => l.id)).toEqual(ids);
    expect(new Set(t.luns.map((l) => l.naa)).size).toBe(ids.length);
  }, 60_000);

  it('parallel creates of the same portal: exactly one wins', async () => {
    const res = await Promise.all([1, 2, 3, 4, 5].map((i) => run(['create', root, `t${i}`, '10.9.9.9'])));
    expect(res.filter((r) => r.ok)).toHaveLength(1);
    expect(res.filter((r) => !r.ok).every((r) => r.code === 'ISCSI_ERR_PORTAL_IN_USE')).toBe(true);
    expect(await (await open()).listTargets()).toHaveLength(1);
  }, 60_000);
});
