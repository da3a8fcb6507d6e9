/**
 * DESIGN.md §6 and issue 3: "A failed or interrupted snapshot operation
 * leaves the LUN as it was". An error injected at each step of create,
 * switch and delete leaves the record and every image's bytes as before;
 * a delete interrupted after merging one of two children runs again;
 * orphans of a crash are removed by the next operation; preconditions.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { createSnapshot, deleteSnapshot, switchSnapshot, snapshotInfo } from '../../src/snapshots/index.js';
import type { SnapshotOptions } from '../../src/snapshots/index.js';
import { mergeIntoChild } from '../../src/snapshots/merge.js';
import { rawDataExtents } from '../../src/snapshots/raw-extents.js';
import { addLun, IQN, makeEnv, pattern, qemuChain, readImage, setOnline, verifyLun, writeLun, zeroLun, type Env } from './helpers.js';

const MiB = 1 << 20;
const KiB = 1024;
const SIZE = 2 * MiB;
const DIRECT: SnapshotOptions = { imageDetached: false };

let env: Env;
beforeEach(async () => {
  env = await makeEnv();
});
afterEach(() => fs.rmSync(env.dir, { recursive: true, force: true }));

const failAt = (step: string): SnapshotOptions => ({
  imageDetached: false,
  step: (s) => {
    if (s === step) throw new Error(`injected at ${step}`);
  },
});

const recordText = () => fs.readFileSync(env.store.targetFile(IQN), 'utf8');

/** S1 (data) ← S2 (zeros and data) ← {S3, top over S4 over S2}: S2 has two children. */
async function branchy(): Promise<{ exp: Map<string, Buffer>; s: string[] }> {
  await addLun(env, 1, SIZE, 'qcow2');
  const top = Buffer.alloc(SIZE);
  const exp = new Map<string, Buffer>();
  const w = async (off: number, b: Buffer) => {
    await writeLun(env, 1, off, b);
    b.copy(top, off);
  };
  await w(0, pattern('A', 0, SIZE));
  const s1 = (await createSnapshot(env.store, IQN, 1, undefined, DIRECT)).uuid;
  exp.set(s1, Buffer.from(top));
  await zeroLun(env, 1, 512 * KiB, 128 * KiB);
  top.fill(0, 512 * KiB, 640 * KiB);
  await w(MiB, pattern('B', MiB, 64 * KiB));
  const s2 = (await createSnapshot(env.store, IQN, 1, undefined, DIRECT)).uuid;
  exp.set(s2, Buffer.from(top));
  await w(0, pattern('C', 0, 4 * KiB));
  const s3 = (await createSnapshot(env.store, IQN, 1, undefined, DIRECT)).uuid;
  exp.set(s3, Buffer.from(top));
  await setOnline(env, 1, false);
  await switchSnapshot(env.store, s2, DIRECT);
  top.set(exp.get(s2)!);
  await w(4 * KiB, pattern('D', 4 * KiB, 4 * KiB));
  const s4 = (await createSnapshot(env.store, IQN, 1, undefined, DIRECT)).uuid;
  exp.set(s4, Buffer.from(top));
  await w(8 * KiB, pattern('E', 8 * KiB, 4 * KiB));
  exp.set('top', Buffer.from(top));
  await verifyLun(env, 1, exp);
  return { exp, s: [s1, s2, s3, s4] };
}

describe('failure injection', () => {
  it('create: a failure at any step leaves the record and the bytes as they were', async () => {
    const { exp } = await branchy();
    await setOnline(env, 1, true);
    for (const step of ['top-created', 'top-renamed', 'before-record']) {
      const before = recordText();
      await expect(createSnapshot(env.store, IQN, 1, 'x', failAt(step))).rejects.toThrow(`injected at ${step}`);
      expect(recordText(), step).toBe(before);
      await verifyLun(env, 1, exp); // also: no file left behind
    }
  });

  it('switch: a failure at any step leaves the record and the bytes as they were', async () => {
    const { exp, s } = await branchy();
    for (const step of ['top-created', 'top-renamed', 'before-record']) {
      const before = recordText();
      await expect(switchSnapshot(env.store, s[0]!, failAt(step))).rejects.toThrow(`injected at ${step}`);
      expect(recordText(), step).toBe(before);
      await verifyLun(env, 1, exp);
    }
  });

  it('delete: a failure after merging one of two children, or before the record, changes nothing; it runs again', async () => {
    const { exp, s } = await branchy();
    for (const step of ['child-merged', 'before-record']) {
      const before = recordText();
      await expect(deleteSnapshot(env.store, s[1]!, failAt(step))).rejects.toThrow(`injected at ${step}`);
      expect(recordText(), step).toBe(before);
      await verifyLun(env, 1, exp); // children pointed back at S2: chains as recorded
    }
    await deleteSnapshot(env.store, s[1]!, DIRECT);
    exp.delete(s[1]!);
    await verifyLun(env, 1, exp);
  });

  it('delete: a child already merged and rebased by an interrupted run (crash before the record) is recognised', async () => {
    const { exp, s } = await branchy();
    const lun = (await env.store.getTarget(IQN)).luns[0]!;
    const [r1, r2, r3] = s.slice(0, 3).map((u) => lun.snapshots!.find((x) => x.uuid === u)!);
    // What a crash after the first child's merge leaves: S3 over S1 in its file, over S2 in the record.
    await mergeIntoChild(env.store.targetDir(IQN), r3!.file, r2!, r1!);
    expect(qemuChain(path.join(env.store.targetDir(IQN), r3!.file))).toEqual([r3!.file, r1!.file]);
    expect((await readImage(path.join(env.store.targetDir(IQN), r3!.file), 'qcow2')).equals(exp.get(s[2]!)!)).toBe(true);
    await deleteSnapshot(env.store, s[1]!, DIRECT);
    exp.delete(s[1]!);
    await verifyLun(env, 1, exp);
  });

  it('raw data extents: holes are skipped (SEEK_DATA/SEEK_HOLE)', async () => {
    const f = path.join(env.dir, 'sparse.raw');
    fs.writeFileSync(f, '');
    fs.truncateSync(f, 64 * MiB);
    const fd = fs.openSync(f, 'r+');
    fs.writeSync(fd, Buffer.alloc(4096, 1), 0, 4096, 8 * MiB);
    fs.writeSync(fd, Buffer.alloc(8192, 1), 0, 8192, 40 * MiB);
    fs.closeSync(fd);
    const ext = await rawDataExtents(f, 64 * MiB);
    const total = ext.reduce((n, e) => n + e.length, 0);
    expect(total).toBeLessThan(4 * MiB); // not the whole file
    for (const at of [8 * MiB, 40 * MiB, 40 * MiB + 4096]) expect(ext.some((e) => e.offset <= at && at < e.offset + e.length)).toBe(true);
    fs.truncateSync(f, 0);
    fs.truncateSync(f, MiB);
    expect(await rawDataExtents(f, MiB)).toEqual([]);
  });

  it('orphans of an interrupted switch are removed by the next operation', async () => {
    const { exp, s } = await branchy();
    const old = (await env.store.getTarget(IQN)).luns[0]!.file;
    await expect(switchSnapshot(env.store, s[0]!, failAt('after-record'))).rejects.toThrow('injected');
    expect(fs.existsSync(path.join(env.store.targetDir(IQN), old))).toBe(true); // left behind
    fs.writeFileSync(path.join(env.store.targetDir(IQN), '.lun-1-0123abcd.qcow2.beef.tmp'), 'x');
    fs.writeFileSync(path.join(env.store.targetDir(IQN), 'keep-me.img'), 'x'); // not ours: stays
    fs.writeFileSync(path.join(env.store.targetDir(IQN), 'lun-2.qcow2'), 'x'); // another LUN's name: stays
    // The LUN's first image, once no record names it (a merge interrupted before its file was removed).
    const lun = (await env.store.getTarget(IQN)).luns[0]!;
    const named = new Set([lun.file, ...(lun.snapshots ?? []).map((x) => x.file)]);
    const firstImages = ['lun-1.qcow2', 'lun-1.raw'].filter((n) => !named.has(n));
    expect(firstImages.length).toBeGreaterThan(0);
    for (const n of firstImages) fs.writeFileSync(path.join(env.store.targetDir(IQN), n), 'x');
    await createSnapshot(env.store, IQN, 1, undefined, DIRECT);
    const names = fs.readdirSync(env.store.targetDir(IQN));
    for (const n of firstImages) expect(names).not.toContain(n);
    expect(names).toContain('lun-2.qcow2');
    expect(names).not.toContain(old);
    expect(names).not.toContain('.lun-1-0123abcd.qcow2.beef.tmp');
    expect(names).toContain('keep-me.img');
    expect(exp.size).toBe(5);
  });
});

describe('preconditions', () => {
  it('switch and delete need the LUN offline; in-process operations refuse a running target; the daemon path does not', async () => {
    await addLun(env, 1, SIZE, 'raw');
    const s1 = (await createSnapshot(env.store, IQN, 1, undefined, DIRECT)).uuid;
    const s2 = (await createSnapshot(env.store, IQN, 1, undefined, DIRECT)).uuid;
    await expect(switchSnapshot(env.store, s1, DIRECT)).rejects.toMatchObject({ code: 'ISCSI_ERR_LUN_ONLINE', message: expect.stringContaining('lun-set') });
    await expect(deleteSnapshot(env.store, s1, DIRECT)).rejects.toMatchObject({ code: 'ISCSI_ERR_LUN_ONLINE' });
    await env.store.updateTarget(IQN, (r) => {
      r.host = '00000000000000aa';
      r.desiredState = 'running';
    });
    await expect(createSnapshot(env.store, IQN, 1, undefined, DIRECT)).rejects.toMatchObject({ code: 'ISCSI_ERR_TARGET_RUNNING' });
    await setOnline(env, 1, false);
    await expect(switchSnapshot(env.store, s1, DIRECT)).rejects.toMatchObject({ code: 'ISCSI_ERR_TARGET_RUNNING' });
    await switchSnapshot(env.store, s1, { imageDetached: true });
    await deleteSnapshot(env.store, s2, { imageDetached: true });
    const s3 = await createSnapshot(env.store, IQN, 1, 'while running', { imageDetached: true });
    expect(s3.parent).toBe(s1);
    const info = await snapshotInfo(env.store, s3.uuid.toUpperCase());
    expect(info).toMatchObject({ target: IQN, lun: 1, uuid: s3.uuid, parent: s1, description: 'while running', current: true });
  });

  it('bad and unknown UUIDs, unknown LUNs, bad descriptions', async () => {
    await addLun(env, 1, SIZE, 'qcow2');
    await expect(switchSnapshot(env.store, 'not-a-uuid', DIRECT)).rejects.toMatchObject({ code: 'ISCSI_ERR_BAD_UUID' });
    await expect(deleteSnapshot(env.store, '9c98b442-7482-4fd0-9c45-9259374ca84e', DIRECT)).rejects.toMatchObject({ code: 'ISCSI_ERR_SNAPSHOT_NOT_FOUND' });
    await expect(snapshotInfo(env.store, '9c98b442-7482-4fd0-9c45-9259374ca84e')).rejects.toMatchObject({ code: 'ISCSI_ERR_SNAPSHOT_NOT_FOUND' });
    await expect(createSnapshot(env.store, IQN, 7, undefined, DIRECT)).rejects.toMatchObject({ code: 'ISCSI_ERR_LUN_NOT_FOUND' });
    await expect(createSnapshot(env.store, IQN, 1, 'bad\nline', DIRECT)).rejects.toMatchObject({ code: 'ISCSI_ERR_BAD_DESCRIPTION' });
  });
});

describe('merging a large LUN with little data is fast', () => {
  for (const format of ['raw', 'qcow2'] as const) {
    it(`100 GiB ${format} base`, async () => {
      const G100 = 100 * 1024 * MiB;
      await addLun(env, 1, G100, format);
      const a = pattern('A', 50 * 1024 * MiB, 1 * MiB);
      await writeLun(env, 1, 50 * 1024 * MiB, a);
      await writeLun(env, 1, G100 - 64 * KiB, pattern('Z', G100 - 64 * KiB, 64 * KiB));
      const s1 = (await createSnapshot(env.store, IQN, 1, undefined, DIRECT)).uuid;
      await writeLun(env, 1, 50 * 1024 * MiB + 512 * KiB, pattern('B', 0, 4 * KiB));
      await setOnline(env, 1, false);
      const t0 = Date.now();
      await deleteSnapshot(env.store, s1, DIRECT);
      expect(Date.now() - t0).toBeLessThan(10_000);
      const lun = (await env.store.getTarget(IQN)).luns[0]!;
      const { openQcow2Store } = await import('../../src/lun/qcow2/index.js');
      const top = await openQcow2Store(env.store.lunPath(IQN, lun), { readOnly: true });
      try {
        expect(top.backingFile).toBeNull();
        const b = Buffer.alloc(MiB);
        await top.read(b, 50 * 1024 * MiB);
        const want = Buffer.from(a);
        pattern('B', 0, 4 * KiB).copy(want, 512 * KiB);
        expect(b.equals(want)).toBe(true);
        const z = Buffer.alloc(64 * KiB);
        await top.read(z, G100 - 64 * KiB);
        expect(z.equals(pattern('Z', G100 - 64 * KiB, 64 * KiB))).toBe(true);
        expect(await top.ownAllocatedBytes()).toBeLessThan(16 * MiB);
      } finally {
        await top.close();
      }
    }, 60_000);
  }
});
