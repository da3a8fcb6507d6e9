/**
 * Account bindings of targets: one-way (`account`) and mutual CHAP
 * (`mutualAccount`), and the rule of RFC 7143 §9.2.1 that a secret
 * authenticates one direction only.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ClusterStore, type ClusterStoreOptions } from '../../src/cluster/store.js';

const HOST = '00000000000000aa';
const PREFIX = 'iqn.2014-04.com.vstorage';
const T1 = `${PREFIX}:test1`;
const T2 = `${PREFIX}:test2`;

let dir: string;
let root: string;

async function open(extra: Partial<ClusterStoreOptions> = {}): Promise<ClusterStore> {
  return ClusterStore.open(root, { hostId: HOST, iqnPrefix: PREFIX, lockTimeoutMs: 2000, ...extra });
}

function snapshot(): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (p: string) => {
    for (const e of fs.readdirSync(p, { withFileTypes: true })) {
      const f = path.join(p, e.name);
      if (e.isDirectory()) walk(f);
      else out[path.relative(root, f)] = fs.readFileSync(f, 'utf8');
    }
  };
  walk(root);
  return out;
}

/** Accounts used below: initiator-side ones and target-side ones, all different secrets. */
async function withAccounts(s: ClusterStore): Promise<void> {
  await s.createAccount('user1', 'initiator-secret-1');
  await s.createAccount('user2', 'initiator-secret-2');
  await s.createAccount('tgt1', 'target-secret-001');
  await s.createAccount('tgt2', 'target-secret-002');
}

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mutual-'));
  root = path.join(dir, 'root');
  fs.mkdirSync(root);
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('mutual CHAP bindings', () => {
  it('create stores both accounts; the record file has mutualAccount', async () => {
    const s = await open();
    await withAccounts(s);
    const t = await s.createTarget({ name: 'test1', portals: ['10.0.0.1'], account: 'user1', mutualAccount: 'tgt1' });
    expect(t).toMatchObject({ account: 'user1', mutualAccount: 'tgt1' });
    const onDisk = JSON.parse(fs.readFileSync(path.join(root, 'targets', T1, 'target.json'), 'utf8'));
    expect(onDisk).toMatchObject({ account: 'user1', mutualAccount: 'tgt1' });
    const plain = await s.createTarget({ name: 'test2', portals: ['10.0.0.2'] });
    expect(plain).toMatchObject({ account: null, mutualAccount: null });
  });

  it('reads records written before mutualAccount existed as having none', async () => {
    const s = await open();
    await s.createTarget({ name: 'test1', portals: ['10.0.0.1'] });
    const f = path.join(root, 'targets', T1, 'target.json');
    const rec = JSON.parse(fs.readFileSync(f, 'utf8'));
    delete rec.mutualAccount;
    fs.writeFileSync(f, JSON.stringify(rec));
    expect((await s.getTarget(T1)).mutualAccount).toBeNull();
    expect(s.readTargetSync(T1).mutualAccount).toBeNull();
    fs.writeFileSync(f, JSON.stringify({ ...rec, mutualAccount: 7 }));
    await expect(s.getTarget(T1)).rejects.toMatchObject({ code: 'ISCSI_ERR_CORRUPT_RECORD' });
  });

  it('refuses a mutual account without a one-way account, the same account twice, or equal secrets; nothing changes', async () => {
    const s = await open();
    await withAccounts(s);
    await s.createAccount('copy1', 'initiator-secret-1'); // same secret as user1
    const before = snapshot();
    await expect(s.createTarget({ name: 'test1', portals: ['10.0.0.1'], mutualAccount: 'tgt1' })).rejects.toMatchObject({
      code: 'ISCSI_ERR_MUTUAL_NEEDS_ACCOUNT',
    });
    await expect(s.createTarget({ name: 'test1', portals: ['10.0.0.1'], account: 'user1', mutualAccount: 'user1' })).rejects.toMatchObject({
      code: 'ISCSI_ERR_SECRET_REUSE',
      message: expect.stringContaining('must be another account'),
    });
    await expect(s.createTarget({ name: 'test1', portals: ['10.0.0.1'], account: 'user1', mutualAccount: 'copy1' })).rejects.toMatchObject({
      code: 'ISCSI_ERR_SECRET_REUSE',
      message: expect.stringContaining('RFC 7143 §9.2.1'),
    });
    await expect(s.createTarget({ name: 'test1', portals: ['10.0.0.1'], account: 'user1', mutualAccount: 'nobody' })).rejects.toMatchObject({
      code: 'ISCSI_ERR_ACCOUNT_NOT_FOUND',
    });
    expect(snapshot()).toEqual(before);
  });

  it('set binds and removes accounts; a mutual account needs the one-way one', async () => {
    const s = await open();
    await withAccounts(s);
    await s.createTarget({ name: 'test1', portals: ['10.0.0.1'] });
    await expect(s.setTarget(T1, { mutualAccount: 'tgt1' })).rejects.toMatchObject({ code: 'ISCSI_ERR_MUTUAL_NEEDS_ACCOUNT' });
    expect(await s.setTarget(T1, { account: 'user1', mutualAccount: 'tgt1' })).toMatchObject({ account: 'user1', mutualAccount: 'tgt1' });
    expect(await s.setTarget(T1, { mutualAccount: 'tgt2' })).toMatchObject({ account: 'user1', mutualAccount: 'tgt2' });
    expect(await s.setTarget(T1, { account: 'user2' })).toMatchObject({ account: 'user2', mutualAccount: 'tgt2' });
    await expect(s.setTarget(T1, { account: null })).rejects.toMatchObject({
      code: 'ISCSI_ERR_MUTUAL_NEEDS_ACCOUNT',
      message: expect.stringContaining('--no-mutual-user'),
    });
    await expect(s.setTarget(T1, { account: 'tgt2' })).rejects.toMatchObject({ code: 'ISCSI_ERR_SECRET_REUSE' });
    expect(await s.setTarget(T1, { mutualAccount: null })).toMatchObject({ account: 'user2', mutualAccount: null });
    expect(await s.setTarget(T1, { account: null })).toMatchObject({ account: null, mutualAccount: null });
  });

  it('account bindings change while the target runs; portals and description do not', async () => {
    const s = await open();
    await withAccounts(s);
    await s.createTarget({ name: 'test1', portals: ['10.0.0.1'] });
    await s.setDesiredState(T1, 'running');
    expect(await s.setTarget(T1, { account: 'user1', mutualAccount: 'tgt1' })).toMatchObject({ account: 'user1', mutualAccount: 'tgt1' });
    const before = snapshot();
    await expect(s.setTarget(T1, { portals: ['10.0.0.9'], account: 'user2' })).rejects.toMatchObject({ code: 'ISCSI_ERR_TARGET_RUNNING' });
    await expect(s.setTarget(T1, { description: 'x' })).rejects.toMatchObject({ code: 'ISCSI_ERR_TARGET_RUNNING' });
    expect(snapshot()).toEqual(before);
  });

  it('an account authenticates one direction only, across all targets', async () => {
    const s = await open();
    await withAccounts(s);
    await s.createTarget({ name: 'test1', portals: ['10.0.0.1'], account: 'user1', mutualAccount: 'tgt1' });
    // user1 authenticates initiators of test1: it cannot authenticate test2 to initiators, and vice versa.
    await expect(s.createTarget({ name: 'test2', portals: ['10.0.0.2'], account: 'user2', mutualAccount: 'user1' })).rejects.toMatchObject({
      code: 'ISCSI_ERR_SECRET_REUSE',
      message: expect.stringContaining(`authenticates initiators for target ${T1}`),
    });
    await expect(s.createTarget({ name: 'test2', portals: ['10.0.0.2'], account: 'tgt1' })).rejects.toMatchObject({
      code: 'ISCSI_ERR_SECRET_REUSE',
      message: expect.stringContaining('authenticates the target (mutual CHAP)'),
    });
    // Sharing an account in the same direction is fine.
    await s.createTarget({ name: 'test2', portals: ['10.0.0.2'], account: 'user1', mutualAccount: 'tgt1' });
    // An unrelated account with a target-side secret cannot become a one-way account.
    await s.createAccount('user3', 'target-secret-001');
    await expect(s.setTarget(T2, { account: 'user3' })).rejects.toMatchObject({ code: 'ISCSI_ERR_SECRET_REUSE' });
  });

  it('account-set refuses a secret already used in the other direction', async () => {
    const s = await open();
    await withAccounts(s);
    await s.createTarget({ name: 'test1', portals: ['10.0.0.1'], account: 'user1', mutualAccount: 'tgt1' });
    await s.createTarget({ name: 'test2', portals: ['10.0.0.2'], account: 'user2' });
    const before = snapshot();
    await expect(s.setAccountSecret('tgt1', 'initiator-secret-1')).rejects.toMatchObject({ code: 'ISCSI_ERR_SECRET_REUSE' });
    // Any initiator-side account counts, not only the target's own (user2 is bound to test2).
    await expect(s.setAccountSecret('tgt1', 'initiator-secret-2')).rejects.toMatchObject({ code: 'ISCSI_ERR_SECRET_REUSE' });
    await expect(s.setAccountSecret('user2', 'target-secret-001')).rejects.toMatchObject({ code: 'ISCSI_ERR_SECRET_REUSE' });
    expect(snapshot()).toEqual(before);
    // Same direction, or an unbound account: allowed.
    await s.setAccountSecret('user2', 'initiator-secret-1');
    await s.setAccountSecret('tgt2', 'initiator-secret-1');
    expect(s.readAccountSync('tgt2').secret).toBe('initiator-secret-1');
  });

  it('account-list -u and account-delete see mutual bindings', async () => {
    const s = await open();
    await withAccounts(s);
    await s.createTarget({ name: 'test1', portals: ['10.0.0.1'], account: 'user1', mutualAccount: 'tgt1' });
    await s.createTarget({ name: 'test2', portals: ['10.0.0.2'], account: 'user1' });
    expect(await s.targetsUsingAccount('user1')).toEqual([T1, T2]);
    expect(await s.targetsUsingAccount('tgt1')).toEqual([T1]);
    expect(await s.targetsUsingAccount('tgt2')).toEqual([]);
    expect(await s.accountUsage('tgt1')).toEqual({ targets: [], mutualTargets: [T1], discovery: undefined });
    await expect(s.deleteAccount('tgt1')).rejects.toMatchObject({ code: 'ISCSI_ERR_ACCOUNT_IN_USE', message: expect.stringContaining(T1) });
    await s.setTarget(T1, { mutualAccount: null });
    await s.deleteAccount('tgt1');
    expect(await s.listAccounts()).toEqual(['tgt2', 'user1', 'user2']);
  });

  it('discovery accounts from the configuration take part in the checks', async () => {
    const s0 = await open();
    await withAccounts(s0);
    await s0.createAccount('disc', 'discovery-secret-1');
    await s0.createAccount('discm', 'discovery-secret-2');
    const s = await open({ discovery: { account: 'disc', mutualAccount: 'discm' } });
    expect(await s.accountUsage('disc')).toEqual({ targets: [], mutualTargets: [], discovery: 'account' });
    await expect(s.deleteAccount('disc')).rejects.toMatchObject({ code: 'ISCSI_ERR_ACCOUNT_IN_USE', message: expect.stringContaining('ISCSI_DISCOVERY_ACCOUNT') });
    await expect(s.deleteAccount('discm')).rejects.toMatchObject({ message: expect.stringContaining('ISCSI_DISCOVERY_MUTUAL_ACCOUNT') });
    await expect(s.createTarget({ name: 'test1', portals: ['10.0.0.1'], account: 'user1', mutualAccount: 'disc' })).rejects.toMatchObject({
      code: 'ISCSI_ERR_SECRET_REUSE',
      message: expect.stringContaining('discovery sessions'),
    });
    await expect(s.setAccountSecret('discm', 'discovery-secret-1')).rejects.toMatchObject({ code: 'ISCSI_ERR_SECRET_REUSE' });
    await s.createTarget({ name: 'test1', portals: ['10.0.0.1'], account: 'disc', mutualAccount: 'discm' });
  });
});
