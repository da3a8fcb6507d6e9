/**
 * Backing chains (the base of LUN snapshots): read-through to the parent,
 * copy-on-write into the top, zero clusters hiding the parent, allocation
 * and used space over the chain, rebasing, and the chain seen by qemu-img.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import {
  createQcow2Image,
  createQcow2Store,
  openQcow2Store,
  setQcow2BackingFile,
  type Qcow2Store,
} from '../../../src/lun/qcow2/index.js';
import { createRawStore } from '../../../src/lun/raw-store.js';
import { haveQemuImg, pattern, qemuCheck, qemuImg, tmpDir } from './helpers.js';

const KiB = 1024;
const MiB = 1 << 20;
const CS = 64 * KiB;
const qemu = haveQemuImg();
let dir: string;
const opened: Array<{ close(): Promise<void> }> = [];

beforeEach(() => {
  dir = tmpDir('qcow2-chain-');
});
afterEach(async () => {
  for (const s of opened.splice(0)) await s.close().catch(() => undefined);
  fs.rmSync(dir, { recursive: true, force: true });
});

const f = (n: string) => path.join(dir, n);
const sha = (p: string) => crypto.createHash('sha256').update(fs.readFileSync(p)).digest('hex');

async function readAt(s: { read(b: Buffer, o: number): Promise<void> }, off: number, len: number): Promise<Buffer> {
  const b = Buffer.alloc(len, 0xee);
  await s.read(b, off);
  return b;
}

/** raw base (8 MiB, 0x11..) <- mid.qcow2 (0x22 at 2-4 MiB) <- top.qcow2; returns the model of top. */
async function makeChain(): Promise<Buffer> {
  const base = await createRawStore(f('base.raw'), 8 * MiB);
  await base.write(Buffer.alloc(8 * MiB, 0x11), 0, false);
  await base.close();
  await createQcow2Image(f('mid.qcow2'), 16 * MiB, { backingFile: 'base.raw' });
  const mid = await openQcow2Store(f('mid.qcow2'), { writebackIntervalMs: 0 });
  await mid.write(Buffer.alloc(2 * MiB, 0x22), 2 * MiB, false);
  await mid.discard(6 * MiB, MiB); // zero clusters over the base
  await mid.close();
  await createQcow2Image(f('top.qcow2'), undefined, { backingFile: 'mid.qcow2', clusterSize: 4096 });
  const model = Buffer.alloc(16 * MiB);
  model.fill(0x11, 0, 8 * MiB);
  model.fill(0x22, 2 * MiB, 4 * MiB);
  model.fill(0, 6 * MiB, 7 * MiB);
  return model;
}

describe('backing chains', () => {
  it('reads through a three-level chain and writes only into the top', async () => {
    const model = await makeChain();
    const hBase = sha(f('base.raw'));
    const hMid = sha(f('mid.qcow2'));
    const top = await openQcow2Store(f('top.qcow2'), { writebackIntervalMs: 0 });
    opened.push(top);
    expect(top.sizeBytes).toBe(16 * MiB);
    expect(top.backingFile).toBe('mid.qcow2');
    expect(top.backingFormat).toBe('qcow2');
    expect(top.backingPath).toBe(f('mid.qcow2'));
    expect((top.backing as Qcow2Store).backingFile).toBe('base.raw');
    expect((await readAt(top, 0, 16 * MiB)).equals(model)).toBe(true);

    // Copy-on-write: partial writes inside clusters that the parents hold.
    await top.write(pattern(512, 1), 2 * MiB - 1024, false); // across the base/mid boundary
    pattern(512, 1).copy(model, 2 * MiB - 1024);
    await top.write(pattern(1024, 2), 7 * MiB + 512, false); // after mid's zero clusters
    pattern(1024, 2).copy(model, 7 * MiB + 512);
    // Discard over parent data: reads zeros (zero clusters), parents untouched.
    await top.discard(3 * MiB, 64 * KiB);
    model.fill(0, 3 * MiB, 3 * MiB + 64 * KiB);
    await top.discard(5 * MiB + 1024, 2048); // partial: zeroed in a copied cluster
    model.fill(0, 5 * MiB + 1024, 5 * MiB + 3072);
    expect((await readAt(top, 0, 16 * MiB)).equals(model)).toBe(true);

    // Allocation across the chain: mapped where any layer has data.
    const ext = await top.allocation(0, 16 * MiB);
    const mappedAt = (o: number) => ext.find((e) => e.offset <= o && o < e.offset + e.length)!.mapped;
    expect(mappedAt(0)).toBe(true); // base (raw: mapped)
    expect(mappedAt(3 * MiB + 4096)).toBe(false); // zero cluster in top
    expect(mappedAt(6 * MiB + 4096)).toBe(false); // zero cluster in mid
    expect(mappedAt(12 * MiB)).toBe(false); // beyond the 8 MiB base
    expect(await top.layerAllocation(3 * MiB - 4096, 3 * 4096)).toEqual([
      { offset: 3 * MiB - 4096, length: 4096, state: 'unallocated' },
      { offset: 3 * MiB, length: 8192, state: 'zero' },
    ]);
    const used = await top.allocatedBytes();
    const files = ['base.raw', 'mid.qcow2', 'top.qcow2'].map((n) => fs.statSync(f(n)).blocks * 512);
    expect(used).toBeGreaterThanOrEqual(files[0]! + files[1]!);
    expect(await top.ownAllocatedBytes()).toBeLessThan(used);

    await top.close();
    expect(sha(f('base.raw'))).toBe(hBase);
    expect(sha(f('mid.qcow2'))).toBe(hMid);
    const again = await openQcow2Store(f('top.qcow2'), { readOnly: true });
    opened.push(again);
    expect((await readAt(again, 0, 16 * MiB)).equals(model)).toBe(true);
    if (qemu) {
      for (const n of ['mid.qcow2', 'top.qcow2']) {
        const c = qemuCheck(f(n));
        expect(c.stderr).not.toMatch(/ERROR|Leaked/);
        expect(c.status).toBe(0);
      }
      const chain = JSON.parse(qemuImg('info', '--backing-chain', '--output=json', f('top.qcow2'))) as Array<
        Record<string, unknown>
      >;
      expect(chain.map((i) => path.basename(String(i['filename'])))).toEqual(['top.qcow2', 'mid.qcow2', 'base.raw']);
      expect(chain[0]!['backing-filename-format']).toBe('qcow2');
      qemuImg('convert', '-O', 'raw', f('top.qcow2'), f('top.raw'));
      expect(fs.readFileSync(f('top.raw')).equals(model)).toBe(true);
    }
  });

  it('rebases without copying (setQcow2BackingFile) and drops the backing file', async () => {
    const model = await makeChain();
    // Flatten mid: copy the base's data where mid is unallocated (a stream), then drop its backing file.
    const mid = await openQcow2Store(f('mid.qcow2'), { writebackIntervalMs: 0 });
    const baseSize = mid.backing!.sizeBytes;
    for (const e of await mid.layerAllocation(0, baseSize)) {
      if (e.state !== 'unallocated') continue;
      const d = Buffer.alloc(e.length);
      await mid.backing!.read(d, e.offset);
      await mid.write(d, e.offset, false);
    }
    await mid.close();
    await setQcow2BackingFile(f('mid.qcow2'), null);
    fs.rmSync(f('base.raw'));
    const top = await openQcow2Store(f('top.qcow2'), { readOnly: true });
    opened.push(top);
    expect((top.backing as Qcow2Store).backingFile).toBeNull();
    expect((await readAt(top, 0, 16 * MiB)).equals(model)).toBe(true);
    // And back: give mid a (new) raw backing file; the name and format are in the header.
    fs.writeFileSync(f('other.raw'), Buffer.alloc(MiB, 0x77));
    await setQcow2BackingFile(f('mid.qcow2'), 'other.raw', 'raw');
    const m2 = await openQcow2Store(f('mid.qcow2'), { readOnly: true });
    opened.push(m2);
    expect(m2.backingFile).toBe('other.raw');
    expect(m2.backingFormat).toBe('raw');
    if (qemu) {
      const c = qemuCheck(f('mid.qcow2'));
      expect(c.status).toBe(0);
    }
  });

  it('uses a given backing store, or none', async () => {
    await makeChain();
    const parent = await openQcow2Store(f('mid.qcow2'), { readOnly: true });
    opened.push(parent);
    const top = await openQcow2Store(f('top.qcow2'), { backing: parent, writebackIntervalMs: 0 });
    expect(top.backing).toBe(parent);
    expect((await readAt(top, 2 * MiB, 512)).equals(Buffer.alloc(512, 0x22))).toBe(true);
    await top.close(); // does not close a backing store it was given
    expect((await readAt(parent, 2 * MiB, 512)).equals(Buffer.alloc(512, 0x22))).toBe(true);
    const alone = await openQcow2Store(f('top.qcow2'), { backing: 'none', readOnly: true });
    opened.push(alone);
    expect(alone.backing).toBeNull();
    expect((await readAt(alone, 2 * MiB, 512)).equals(Buffer.alloc(512))).toBe(true);
  });

  it('reports missing backing files and loops', async () => {
    await makeChain();
    fs.rmSync(f('base.raw'));
    await expect(openQcow2Store(f('top.qcow2'))).rejects.toMatchObject({ code: 'ISCSI_ERR_BACKING' });
    fs.writeFileSync(f('base.raw'), Buffer.alloc(4096));
    await createQcow2Image(f('a.qcow2'), MiB, { backingFile: 'base.raw' });
    await createQcow2Image(f('b.qcow2'), MiB, { backingFile: 'a.qcow2' });
    await setQcow2BackingFile(f('a.qcow2'), 'b.qcow2', 'qcow2');
    await expect(openQcow2Store(f('b.qcow2'))).rejects.toThrow(/loops/);
  });

  it('snapshot-style use: freeze the top, continue on a new top, switch back', async () => {
    // What src/snapshots will do, with the store API alone.
    const s0 = await createQcow2Store(f('lun.0.qcow2'), 4 * MiB, { writebackIntervalMs: 0 });
    await s0.write(Buffer.alloc(MiB, 0xa1), 0, false);
    await s0.close(); // freeze: lun.0 becomes read-only history
    await createQcow2Image(f('lun.1.qcow2'), undefined, { backingFile: 'lun.0.qcow2' });
    const s1 = await openQcow2Store(f('lun.1.qcow2'), { writebackIntervalMs: 0 });
    opened.push(s1);
    await s1.write(Buffer.alloc(4096, 0xb2), 4096, false);
    expect((await readAt(s1, 0, 8192)).equals(Buffer.concat([Buffer.alloc(4096, 0xa1), Buffer.alloc(4096, 0xb2)]))).toBe(true);
    await s1.close();
    // Switch back to lun.0: discard the current top, new empty top on lun.0.
    fs.rmSync(f('lun.1.qcow2'));
    await createQcow2Image(f('lun.2.qcow2'), undefined, { backingFile: 'lun.0.qcow2' });
    const s2 = await openQcow2Store(f('lun.2.qcow2'), { writebackIntervalMs: 0 });
    opened.push(s2);
    expect((await readAt(s2, 0, 8192)).equals(Buffer.alloc(8192, 0xa1))).toBe(true);
  });
});
