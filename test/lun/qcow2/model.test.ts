/**
 * Randomised qcow2 store test against an in-memory model: batches of
 * concurrent, non-overlapping writes, reads, discards and zeroing, with
 * flushes, reopens and resizes; the image must read back like the model,
 * pass `qemu-img check` without errors or leaks after a flush, and convert
 * with `qemu-img convert -O raw` to exactly the model's bytes.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import type { BlockStore } from '../../../src/lun/block-store.js';
import { createRawStore } from '../../../src/lun/raw-store.js';
import { createQcow2Store, openQcow2Store, type Qcow2CreateOptions, type Qcow2OpenOptions } from '../../../src/lun/qcow2/index.js';
import { haveQemuImg, qemuCheck, qemuImg, randomBytes, rng, tmpDir } from './helpers.js';

const MiB = 1 << 20;
let dir: string;
beforeEach(() => {
  dir = tmpDir('qcow2-model-');
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

interface ModelCase {
  name: string;
  size: number;
  create: Qcow2CreateOptions;
  open?: Qcow2OpenOptions;
  /** Fill a backing image first: 'raw' or 'qcow2'. */
  backing?: 'raw' | 'qcow2';
  batches: number;
  seed: number;
  maxLen?: number;
}

function overlaps(ranges: Array<[number, number]>, a: number, b: number): boolean {
  return ranges.some(([x, y]) => a < y && x < b);
}

function mismatch(got: Buffer, model: Buffer, off: number, what: string): string {
  let i = 0;
  while (i < got.length && got[i] === model[off + i]) i++;
  let j = i;
  while (j < got.length && got[j] !== model[off + j]) j++;
  return `${what}: mismatch reading ${off}+${got.length}: bytes ${off + i}..${off + j} differ (got ${got.subarray(i, i + 8).toString('hex')}, want ${model.subarray(off + i, off + i + 8).toString('hex')})`;
}

async function expectReads(store: BlockStore, model: Buffer, next: () => number, samples: number): Promise<void> {
  for (let i = 0; i < samples; i++) {
    const off = Math.floor((next() * model.length) / 512) * 512;
    const len = Math.min(model.length - off, 512 * (1 + Math.floor(next() * 600)));
    const got = Buffer.alloc(len, 0xee);
    await store.read(got, off);
    if (!got.equals(model.subarray(off, off + len))) throw new Error(mismatch(got, model, off, 'read'));
  }
}

async function readAll(store: BlockStore): Promise<Buffer> {
  const out = Buffer.alloc(store.sizeBytes);
  const step = 4 * MiB;
  for (let off = 0; off < out.length; off += step) await store.read(out.subarray(off, Math.min(out.length, off + step)), off);
  return out;
}

async function runModel(c: ModelCase): Promise<void> {
  const next = rng(c.seed);
  const file = path.join(dir, 'top.qcow2');
  let model = Buffer.alloc(c.size);
  const createOpts: Qcow2CreateOptions & Qcow2OpenOptions = { ...c.create, ...c.open };
  if (c.backing) {
    const base = path.join(dir, `base.${c.backing}`);
    // The base is smaller than the top, so the top's tail reads zeros past it.
    const baseSize = c.size - 2 * (c.create.clusterSize ?? 65536) - 4096;
    const b =
      c.backing === 'raw' ? await createRawStore(base, baseSize) : await createQcow2Store(base, baseSize, { clusterSize: 4096 });
    const data = randomBytes(baseSize, next);
    // Leave holes in the base so the chain has unallocated parts too.
    for (let off = 0; off < baseSize; off += 3 * 65536) data.fill(0, off, Math.min(baseSize, off + 65536));
    await b.write(data, 0, false);
    await b.close();
    data.copy(model);
    createOpts.backingFile = path.basename(base);
    createOpts.backingFormat = c.backing;
  }
  let store = await createQcow2Store(file, c.size, createOpts);
  const maxLen = c.maxLen ?? 256 * 1024;
  try {
    for (let batch = 0; batch < c.batches; batch++) {
      const ranges: Array<[number, number]> = [];
      const ops: Array<() => Promise<void>> = [];
      const effects: Array<() => void> = [];
      const n = 1 + Math.floor(next() * 24);
      for (let i = 0; i < n; i++) {
        const off = Math.floor((next() * model.length) / 512) * 512;
        const r = next();
        // Mostly small writes, sometimes spanning clusters or L2 tables.
        const len = Math.min(model.length - off, 512 * (1 + Math.floor((r < 0.7 ? next() * 16 : next() * (maxLen / 512)))));
        if (len <= 0 || overlaps(ranges, off, off + len)) continue;
        ranges.push([off, off + len]);
        const kind = next();
        if (kind < 0.6) {
          const data = randomBytes(len, next);
          const fua = next() < 0.05;
          ops.push(() => store.write(data, off, fua));
          effects.push(() => data.copy(model, off));
        } else if (kind < 0.75) {
          ops.push(async () => {
            const got = Buffer.alloc(len, 0xcc);
            await store.read(got, off);
            if (!got.equals(model.subarray(off, off + len))) throw new Error(mismatch(got, model, off, `batch ${batch}`));
          });
        } else if (kind < 0.88) {
          ops.push(() => store.discard(off, len));
          effects.push(() => model.fill(0, off, off + len));
        } else {
          const dealloc = next() < 0.5;
          ops.push(() => store.writeZeroes(off, len, dealloc));
          effects.push(() => model.fill(0, off, off + len));
        }
      }
      await Promise.all(ops.map((f) => f()));
      for (const e of effects) e();
      const r = next();
      if (r < 0.08) await store.flush();
      else if (r < 0.12) {
        await store.close();
        store = await openQcow2Store(file, c.open);
      } else if (r < 0.13 && model.length < c.size * 2) {
        const grow = 512 * Math.floor((next() * c.size) / 512);
        await store.resize(model.length + grow);
        const m = Buffer.alloc(model.length + grow);
        model.copy(m);
        model = m;
      }
      if (batch % 10 === 9) await expectReads(store, model, next, 8);
    }
    await store.flush();
    expect((await readAll(store)).equals(model)).toBe(true);
    await store.close();
    if (haveQemuImg()) {
      const chk = qemuCheck(file);
      expect(chk.stderr).not.toMatch(/ERROR/);
      expect({ status: chk.status, corruptions: chk.corruptions, leaks: chk.leaks }).toEqual({
        status: 0,
        corruptions: 0,
        leaks: 0,
      });
      const out = path.join(dir, 'out.raw');
      qemuImg('convert', '-O', 'raw', file, out);
      const raw = fs.readFileSync(out);
      expect(raw.length).toBe(model.length);
      expect(raw.equals(model)).toBe(true);
    }
    // And once more through a fresh open.
    store = await openQcow2Store(file, { readOnly: true });
    expect((await readAll(store)).equals(model)).toBe(true);
  } finally {
    await store.close();
  }
}

describe('qcow2 store against a model', () => {
  const cases: ModelCase[] = [
    { name: '64 KiB clusters', size: 48 * MiB, create: {}, batches: 150, seed: 1 },
    { name: '64 KiB clusters, tiny caches', size: 48 * MiB, create: {}, open: { l2CacheBytes: 1, refcountCacheBytes: 1 }, batches: 120, seed: 2 },
    {
      name: '512 B clusters (many L2 tables, refcount table growth)',
      size: 24 * MiB,
      create: { clusterSize: 512 },
      open: { l2CacheBytes: 64 * 512, refcountCacheBytes: 8 * 512 },
      batches: 120,
      seed: 3,
      maxLen: 64 * 1024,
    },
    { name: '4 KiB clusters, 1-bit refcounts', size: 16 * MiB, create: { clusterSize: 4096, refcountBits: 1 }, batches: 100, seed: 4 },
    { name: '64 KiB clusters, 64-bit refcounts', size: 16 * MiB, create: { refcountBits: 64 }, batches: 80, seed: 5 },
    { name: '2 MiB clusters', size: 64 * MiB, create: { clusterSize: 2 * MiB }, batches: 80, seed: 6, maxLen: 3 * MiB },
    { name: 'version 2', size: 16 * MiB, create: { version: 2 }, batches: 100, seed: 7 },
    { name: 'raw backing file', size: 16 * MiB, create: {}, backing: 'raw', batches: 100, seed: 8 },
    { name: 'qcow2 backing file, 4 KiB clusters', size: 16 * MiB, create: { clusterSize: 4096 }, backing: 'qcow2', batches: 100, seed: 9 },
    { name: 'version 2 over a qcow2 backing file', size: 16 * MiB, create: { version: 2 }, backing: 'qcow2', batches: 80, seed: 10 },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      await runModel(c);
    }, 120_000);
  }
});
