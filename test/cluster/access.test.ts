/**
 * Initiator access lists and LUN Online flags in the store (src/cluster/access.ts).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ClusterStore } from '../../src/cluster/store.js';
import {
  applyAccessChanges,
  initiatorAllowed,
  initialAccess,
  setInitiatorAccess,
  setLunOnline,
  validateInitiatorName,
} from '../../src/cluster/access.js';
import { parseTargetRecord } from '../../src/cluster/records.js';

const HOST = 'fefacc38a2f140ca';
const PREFIX = 'iqn.2014-04.com.vstorage';
const T1 = `${PREFIX}:test1`;
const RH = 'iqn.1994-05.com.redhat:c678b9f6f0';
const MS = 'iqn.1991-05.com.microsoft:win-l2dj7g36n7e';

let dir: string;
let store: ClusterStore;

beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'access-'));
  store = await ClusterStore.open(dir, { hostId: HOST, iqnPrefix: PREFIX });
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const file = () => fs.readFileSync(path.join(dir, 'targets', T1, 'target.json'), 'utf8');

describe('initiator names (RFC 3720 §3.2.6.3, RFC 3980)', () => {
  it('accepts iqn., eui. and naa. names, lower-cased', () => {
    expect(validateInitiatorName(RH)).toBe(RH);
    expect(validateInitiatorName('IQN.1994-05.COM.RedHat:ABC')).toBe('iqn.1994-05.com.redhat:abc');
    expect(validateInitiatorName('eui.02004567A425678D')).toBe('eui.02004567a425678d');
    expect(validateInitiatorName('naa.52004567BA64678D')).toBe('naa.52004567ba64678d');
    expect(validateInitiatorName('naa.62004567BA64678D0123456789ABCDEF')).toBe('naa.62004567ba64678d0123456789abcdef');
  });

  it.each(['iqn.x', 'iqn.1994-13.com.redhat:a', 'eui.0123', 'naa.0123456789abcdef01', 'host1', '', 'iqn.1994-05.com.red_hat:a'])(
    'refuses %j with ISCSI_ERR_BAD_INITIATOR',
    (n) => {
      expect(() => validateInitiatorName(n)).toThrow(expect.objectContaining({ code: 'ISCSI_ERR_BAD_INITIATOR' }));
    },
  );
});

describe('access list semantics', () => {
  it('empty lists admit everyone; deny wins; a non-empty allow list admits only its names', () => {
    expect(initiatorAllowed(initialAccess(), RH)).toBe(true);
    expect(initiatorAllowed(initialAccess([], [RH]), RH)).toBe(false);
    expect(initiatorAllowed(initialAccess([], [RH]), MS)).toBe(true);
    expect(initiatorAllowed(initialAccess([RH]), RH)).toBe(true);
    expect(initiatorAllowed(initialAccess([RH]), RH.toUpperCase())).toBe(true);
    expect(initiatorAllowed(initialAccess([RH]), MS)).toBe(false);
  });

  it('allow takes a name off deny and the reverse; unlist and clear', () => {
    let a = initialAccess([RH], [MS]);
    a = applyAccessChanges(a, { allow: [MS] });
    expect(a).toEqual({ allow: [MS, RH].sort(), deny: [] });
    a = applyAccessChanges(a, { deny: [RH] });
    expect(a).toEqual({ allow: [MS], deny: [RH] });
    a = applyAccessChanges(a, { unlist: [MS, RH] });
    expect(a).toEqual({ allow: [], deny: [] });
    a = applyAccessChanges(initialAccess([RH], [MS]), { clear: true, deny: ['eui.02004567a425678d'] });
    expect(a).toEqual({ allow: [], deny: ['eui.02004567a425678d'] });
    expect(() => applyAccessChanges(a, { allow: [RH], deny: [RH.toUpperCase()] })).toThrow(
      expect.objectContaining({ code: 'ISCSI_ERR_BAD_REQUEST', message: `initiator ${RH} is given with both --allow and --deny` }),
    );
  });
});

describe('the store', () => {
  it('create stores the lists; set changes them while the target runs; records without them admit everyone', async () => {
    await store.createTarget({ name: 'test1', portals: ['10.0.0.1'], allow: [RH.toUpperCase()], deny: [MS] });
    expect(JSON.parse(file()).initiators).toEqual({ allow: [RH], deny: [MS] });
    await store.setDesiredState(T1, 'running');
    await store.setTarget(T1, { initiators: { unlist: [RH] } });
    expect((await store.getTarget(T1)).initiators).toEqual({ allow: [], deny: [MS] });
    await setInitiatorAccess(store, T1, { clear: true });
    expect((await store.getTarget(T1)).initiators).toEqual({ allow: [], deny: [] });

    const old = JSON.parse(file());
    delete old.initiators;
    expect(parseTargetRecord(JSON.stringify(old), 'x').initiators).toEqual({ allow: [], deny: [] });
    expect(() => parseTargetRecord(JSON.stringify({ ...old, initiators: { allow: [1], deny: [] } }), 'x')).toThrow(
      expect.objectContaining({ code: 'ISCSI_ERR_CORRUPT_RECORD' }),
    );
  });

  it('a bad name in create or set changes nothing', async () => {
    await expect(store.createTarget({ name: 'test1', portals: ['10.0.0.1'], allow: ['nobody'] })).rejects.toMatchObject({
      code: 'ISCSI_ERR_BAD_INITIATOR',
    });
    expect(fs.readdirSync(path.join(dir, 'targets'))).toEqual([]);
    await store.createTarget({ name: 'test1', portals: ['10.0.0.1'] });
    const before = file();
    await expect(store.setTarget(T1, { portals: ['10.0.0.2'], initiators: { allow: [RH], deny: ['iqn.x'] } })).rejects.toMatchObject({
      code: 'ISCSI_ERR_BAD_INITIATOR',
    });
    expect(file()).toBe(before);
  });

  it('setLunOnline flips the Online flag, on a running target too; unknown LUNs change nothing', async () => {
    await store.createTarget({ name: 'test1', portals: ['10.0.0.1'] });
    await store.addLun(T1, { id: 1, sizeBytes: 1 << 20 });
    await store.setDesiredState(T1, 'running');
    const r = await setLunOnline(store, T1, '1', false);
    expect([r.lun.online, r.changed]).toEqual([false, true]);
    expect(JSON.parse(file()).luns[0].online).toBe(false);
    const before = file();
    expect((await setLunOnline(store, T1, 1, false)).changed).toBe(false);
    expect(file()).toBe(before); // nothing to write
    await expect(setLunOnline(store, T1, 2, true)).rejects.toMatchObject({ code: 'ISCSI_ERR_LUN_NOT_FOUND', message: `target ${T1} has no LUN 2` });
    await expect(setLunOnline(store, T1, 256, true)).rejects.toMatchObject({ code: 'ISCSI_ERR_BAD_LUN_ID' });
    expect(file()).toBe(before);
    await setLunOnline(store, T1, 1, true);
    expect((await store.getTarget(T1)).luns[0]!.online).toBe(true);
  });
});
