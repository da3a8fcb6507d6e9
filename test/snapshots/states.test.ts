/**
 * Snapshot pattern states (source 4.2.10, issue 3): known patterns are
 * written, snapshotted, overwritten, switched and deleted (leaf, single
 * child, several children); after every step each snapshot and the top read
 * exactly what they should, through our stores and through qemu-img, every
 * image checks clean and the backing chains in the files match the record.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import { createSnapshot, deleteSnapshot, switchSnapshot, listSnapshots } from '../../src/snapshots/index.js';
import type { ImageFormat } from '../../src/lun/open-store.js';
import { addLun, IQN, lunRecord, makeEnv, pattern, setOnline, verifyLun, writeLun, zeroLun, type Env } from './helpers.js';

const MiB = 1 << 20;
const KiB = 1024;
const SIZE = 4 * MiB;
const DIRECT = { imageDetached: false };

let env: Env;
beforeEach(async () => {
  env = await makeEnv();
});
afterEach(() => fs.rmSync(env.dir, { recursive: true, force: true }));

/** The expected bytes of the LUN's top, kept in step with what we write. */
class Model {
  top = Buffer.alloc(SIZE);
  write(off: number, b: Buffer): void {
    b.copy(this.top, off);
  }
  zero(off: number, len: number): void {
    this.top.fill(0, off, off + len);
  }
}

async function write(m: Model, off: number, b: Buffer): Promise<void> {
  await writeLun(env, 1, off, b);
  m.write(off, b);
}
async function zero(m: Model, off: number, len: number): Promise<void> {
  await zeroLun(env, 1, off, len);
  m.zero(off, len);
}

for (const format of ['raw', 'qcow2'] as ImageFormat[]) {
  describe(`a ${format} LUN`, () => {
    it('create, overwrite, create, switch, branch, delete with several children, a leaf, a single child, the root', async () => {
      await addLun(env, 1, SIZE, format, format === 'qcow2' ? 64 * KiB : 64 * KiB);
      const m = new Model();
      const exp = new Map<string, Buffer>();
      // State 0: patterns, some not cluster-aligned.
      await write(m, 0, pattern('A', 0, 256 * KiB));
      await write(m, 1 * MiB + 4 * KiB, pattern('a', 1 * MiB + 4 * KiB, 8 * KiB));
      await write(m, 3 * MiB, pattern('Z', 3 * MiB, 512 * KiB));
      exp.set('top', Buffer.from(m.top));
      await verifyLun(env, 1, exp);

      // S1: the frozen first image.
      const s1 = (await createSnapshot(env.store, IQN, 1, 'first', DIRECT)).uuid;
      const l1 = await lunRecord(env, 1);
      expect(l1.format).toBe('qcow2');
      expect(l1.base).toBe(s1);
      expect(l1.snapshots).toEqual([expect.objectContaining({ uuid: s1, parent: null, format, description: 'first' })]);
      exp.set(s1, Buffer.from(m.top));
      await verifyLun(env, 1, exp);

      // Overwrite part of it, zero a range that S1 holds data in (the top hides it), write new data.
      await write(m, 64 * KiB, pattern('B', 64 * KiB, 64 * KiB + 512));
      await zero(m, 3 * MiB, 128 * KiB);
      await write(m, 2 * MiB, pattern('b', 2 * MiB, 4 * KiB));
      exp.set('top', Buffer.from(m.top));
      await verifyLun(env, 1, exp);

      // S2 over S1.
      const s2 = (await createSnapshot(env.store, IQN, 1, undefined, DIRECT)).uuid;
      exp.set(s2, Buffer.from(m.top));
      await write(m, 0, pattern('C', 0, 16 * KiB));
      await zero(m, 1 * MiB, 64 * KiB);
      exp.set('top', Buffer.from(m.top));
      await verifyLun(env, 1, exp);
      expect((await listSnapshots(env.store, IQN, '1')).map((s) => [s.uuid, s.parent, s.current])).toEqual([
        [s1, null, false],
        [s2, s1, true],
      ]);

      // Switch back to S1: only offline; the top (with the C writes) is gone.
      await expect(switchSnapshot(env.store, s1, DIRECT)).rejects.toMatchObject({ code: 'ISCSI_ERR_LUN_ONLINE' });
      await setOnline(env, 1, false);
      const oldTop = (await lunRecord(env, 1)).file;
      await switchSnapshot(env.store, s1, DIRECT);
      expect(fs.existsSync(env.store.lunPath(IQN, { file: oldTop }))).toBe(false);
      expect((await lunRecord(env, 1)).base).toBe(s1);
      m.top = Buffer.from(exp.get(s1)!);
      exp.set('top', Buffer.from(m.top));
      await verifyLun(env, 1, exp);

      // A branch: S3 over S1 after other writes. S1 now has two children (S2, S3).
      await write(m, 128 * KiB, pattern('D', 128 * KiB, 192 * KiB));
      await zero(m, 0, 64 * KiB);
      const s3 = (await createSnapshot(env.store, IQN, 1, 'branch', DIRECT)).uuid;
      exp.set(s3, Buffer.from(m.top));
      await write(m, 3 * MiB + 256 * KiB, pattern('E', 3 * MiB + 256 * KiB, 64 * KiB));
      exp.set('top', Buffer.from(m.top));
      await verifyLun(env, 1, exp);

      // Delete S1 (the root, two children): merged into both.
      await deleteSnapshot(env.store, s1, DIRECT);
      exp.delete(s1);
      await verifyLun(env, 1, exp);
      let snaps = (await lunRecord(env, 1)).snapshots!;
      expect(snaps.map((s) => [s.uuid, s.parent])).toEqual([
        [s2, null],
        [s3, null],
      ]);

      // Delete S2: a leaf (its branch was switched away from).
      await deleteSnapshot(env.store, s2, DIRECT);
      exp.delete(s2);
      await verifyLun(env, 1, exp);

      // Delete S3: its single child is the top.
      await deleteSnapshot(env.store, s3, DIRECT);
      exp.delete(s3);
      await verifyLun(env, 1, exp);
      const last = await lunRecord(env, 1);
      expect(last.snapshots).toBeUndefined();
      expect(last.base).toBeNull();
    });

    it('deleting a middle snapshot keeps its zero clusters hiding the parent, in each of several children', async () => {
      await addLun(env, 1, SIZE, format);
      const m = new Model();
      const exp = new Map<string, Buffer>();
      await write(m, 0, pattern('A', 0, SIZE));
      const s1 = (await createSnapshot(env.store, IQN, 1, undefined, DIRECT)).uuid;
      exp.set(s1, Buffer.from(m.top));
      // S2's own layer: zero clusters (whole and partial) over S1's data, and data.
      await zero(m, 1 * MiB, 256 * KiB);
      await zero(m, 2 * MiB + 512, 1024);
      await write(m, 3 * MiB, pattern('B', 3 * MiB, 128 * KiB));
      const s2 = (await createSnapshot(env.store, IQN, 1, undefined, DIRECT)).uuid;
      exp.set(s2, Buffer.from(m.top));
      await write(m, 1 * MiB + 64 * KiB, pattern('C', 1 * MiB + 64 * KiB, 64 * KiB));
      const s3 = (await createSnapshot(env.store, IQN, 1, undefined, DIRECT)).uuid;
      exp.set(s3, Buffer.from(m.top));
      // Branch: back to S2, other writes, S4. S2 has children S3 and S4, and S4 has the top.
      await setOnline(env, 1, false);
      await switchSnapshot(env.store, s2, DIRECT);
      m.top = Buffer.from(exp.get(s2)!);
      await write(m, 0, pattern('D', 0, 64 * KiB));
      const s4 = (await createSnapshot(env.store, IQN, 1, undefined, DIRECT)).uuid;
      exp.set(s4, Buffer.from(m.top));
      await write(m, 512 * KiB, pattern('E', 512 * KiB, 4 * KiB));
      exp.set('top', Buffer.from(m.top));
      await verifyLun(env, 1, exp);

      await deleteSnapshot(env.store, s2, DIRECT);
      exp.delete(s2);
      await verifyLun(env, 1, exp);
      expect((await lunRecord(env, 1)).snapshots!.map((s) => [s.uuid, s.parent])).toEqual([
        [s1, null],
        [s3, s1],
        [s4, s1],
      ]);
      // Single child with a parent, then the root.
      await deleteSnapshot(env.store, s4, DIRECT);
      exp.delete(s4);
      await verifyLun(env, 1, exp);
      expect((await lunRecord(env, 1)).base).toBe(s1);
      await deleteSnapshot(env.store, s1, DIRECT);
      exp.delete(s1);
      await verifyLun(env, 1, exp);
      await deleteSnapshot(env.store, s3, DIRECT);
      exp.delete(s3);
      await verifyLun(env, 1, exp);
    });
  });
}
