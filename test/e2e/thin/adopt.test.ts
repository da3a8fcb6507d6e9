/**
 * `lun-add --image FILE` adopts an existing image, through the real daemon
 * and iSCSI:
 *  - a qcow2 image made by `qemu-img create -f qcow2` and filled by
 *    `qemu-img convert` from 64 MiB of random data with zero regions (holes
 *    in the qcow2) reads back byte-identical with READ(16); a pattern written
 *    over iSCSI (also into holes and across cluster edges) and flushed with
 *    SYNCHRONIZE CACHE is in the image that `qemu-img convert -O raw` reads
 *    after the target stops; `qemu-img check` is clean;
 *  - the same for a raw image, grown on adoption with -s;
 *  - a failed adoption (LUN ID taken, unknown target) leaves the file where
 *    it was, unchanged.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { BLOCK, createTarget, firstDiff, lunInfo, openSession, pattern, qemuCheck, qemuImg, startEnv, type Env, type Session } from './lib.js';

const MiB = 1 << 20;
let env: Env;

beforeAll(async () => {
  env = await startEnv('adopt');
});
afterAll(async () => {
  await env?.cleanup();
});

/** Read the whole LUN with READ(16) in 1 MiB chunks, several in flight. */
async function readAll(s: Session, bytes: number): Promise<Buffer> {
  const out = Buffer.alloc(bytes);
  const chunk = MiB / BLOCK;
  const total = bytes / BLOCK;
  let next = 0;
  const worker = async () => {
    while (next < total) {
      const lba = next;
      const n = Math.min(chunk, total - lba);
      next += n;
      (await s.read(lba, n)).copy(out, lba * BLOCK);
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  return out;
}

/** Random data with zero regions: whole 64 KiB clusters, a run of several, and sub-cluster zero spans. */
function sourceData(bytes: number): Buffer {
  const src = randomBytes(bytes);
  const zero = (off: number, len: number) => src.fill(0, off, Math.min(bytes, off + len));
  zero(0, 64 * 1024); // first cluster
  zero(3 * MiB, 5 * MiB); // a long hole
  zero(bytes - 2 * MiB, 2 * MiB); // the end
  for (let off = 9 * MiB; off < bytes - 4 * MiB; off += 7 * MiB + 4096) zero(off, 192 * 1024); // scattered holes
  zero(20 * MiB + 1000, 3000); // zeros inside an allocated cluster
  return src;
}

/** Writes over iSCSI: into holes, across cluster edges, over data; applied to `expected` as well. */
async function writePatterns(s: Session, expected: Buffer): Promise<void> {
  const writes: Array<[off: number, len: number]> = [
    [0, 128 * 1024], // the zero first cluster and the next one
    [4 * MiB - 3 * BLOCK, 64 * 1024 + 5 * BLOCK], // inside the long hole, unaligned to clusters
    [10 * MiB + 37 * BLOCK, 3 * MiB], // over data, three megabytes
    [expected.length - BLOCK, BLOCK], // the last block
  ];
  let seed = 77;
  for (const [off, len] of writes) {
    const data = pattern(len, seed++);
    await s.write(off / BLOCK, data);
    data.copy(expected, off);
  }
  await s.sync();
}

async function imageBytes(image: string, format: 'qcow2' | 'raw'): Promise<Buffer> {
  const out = path.join(env.dir, `out-${path.basename(image)}.raw`);
  const r = await qemuImg(['convert', '-f', format, '-O', 'raw', image, out]);
  if (r.code !== 0) throw new Error(`qemu-img convert: ${r.stderr}`);
  const b = fs.readFileSync(out);
  fs.rmSync(out);
  return b;
}

const sha = (f: string) => createHash('sha256').update(fs.readFileSync(f)).digest('hex');

describe('lun-add --image adopts an existing image', () => {
  it('a qcow2 image filled by qemu-img convert reads back byte-identical; iSCSI writes land in it', async () => {
    const size = 64 * MiB;
    const src = sourceData(size);
    const srcFile = path.join(env.dir, 'src.raw');
    fs.writeFileSync(srcFile, src);
    const image = path.join(env.root, 'import.qcow2');
    expect((await qemuImg(['create', '-q', '-f', 'qcow2', image, String(size)])).code).toBe(0);
    const conv = await qemuImg(['convert', '-n', '-f', 'raw', '-O', 'qcow2', srcFile, image]);
    expect(conv.code, conv.stderr).toBe(0);
    fs.rmSync(srcFile);
    // The zero regions are holes in the image, not allocated clusters.
    const map = JSON.parse((await qemuImg(['map', '--output=json', image])).stdout) as Array<{ length: number; data: boolean }>;
    const holes = map.filter((e) => !e.data).reduce((a, e) => a + e.length, 0);
    expect(holes).toBeGreaterThanOrEqual(7 * MiB);

    const { iqn, port } = await createTarget(env, 'adoptq');
    await env.ok(['lun-add', '-t', iqn, '-l', '1', '--image', image]);
    const adopted = env.targetFile(iqn, 'lun-1.qcow2');
    expect(fs.existsSync(image)).toBe(false);
    expect(fs.existsSync(adopted)).toBe(true);
    const info = await lunInfo(env, iqn, 1);
    expect(info).toMatchObject({ sizeBytes: size, format: 'qcow2' });
    // Used counts allocated clusters: about the data, not the holes.
    expect(info.usedBytes).toBeGreaterThan(size - 20 * MiB);
    expect(info.usedBytes).toBeLessThan(size);

    await env.ok(['start', '-t', iqn]);
    const s = await openSession(port, iqn, 1);
    const cap = await s.readCapacity();
    expect(cap.lastLba).toBe(BigInt(size / BLOCK - 1));
    const got = await readAll(s, size);
    expect(firstDiff(got, src), 'first differing byte read over iSCSI').toBe(-1);

    const expected = Buffer.from(src);
    await writePatterns(s, expected);
    expect(firstDiff(await readAll(s, size), expected), 'first differing byte after the writes').toBe(-1);
    await s.close();
    await env.ok(['stop', '-t', iqn]);
    await env.waitStatus(iqn, 'stopped');

    await qemuCheck(adopted);
    expect(firstDiff(await imageBytes(adopted, 'qcow2'), expected), 'first differing byte of qemu-img convert -O raw').toBe(-1);
  });

  it('a raw image is adopted (and grown with -s); data reads back, writes land in it', async () => {
    const size = 16 * MiB;
    const grown = 24 * MiB;
    const src = sourceData(size);
    const image = path.join(env.root, 'import.img');
    fs.writeFileSync(image, src);

    const { iqn, port } = await createTarget(env, 'adoptr');
    await env.ok(['lun-add', '-t', iqn, '-l', '2', '--image', image, '-s', '24M']);
    const adopted = env.targetFile(iqn, 'lun-2.raw');
    expect(fs.existsSync(image)).toBe(false);
    expect(fs.existsSync(adopted)).toBe(true);
    expect(await lunInfo(env, iqn, 2)).toMatchObject({ sizeBytes: grown, format: 'raw' });

    await env.ok(['start', '-t', iqn]);
    const s = await openSession(port, iqn, 2);
    expect((await s.readCapacity()).lastLba).toBe(BigInt(grown / BLOCK - 1));
    const expected = Buffer.concat([src, Buffer.alloc(grown - size)]);
    expect(firstDiff(await readAll(s, grown), expected), 'first differing byte read over iSCSI').toBe(-1);
    await writePatterns(s, expected);
    // And across the old end of the image.
    const across = pattern(256 * 1024, 991);
    await s.write((size - 128 * 1024) / BLOCK, across);
    across.copy(expected, size - 128 * 1024);
    await s.sync();
    await s.close();
    await env.ok(['stop', '-t', iqn]);
    await env.waitStatus(iqn, 'stopped');

    expect(fs.statSync(adopted).size).toBe(grown);
    expect(firstDiff(await imageBytes(adopted, 'raw'), expected), 'first differing byte of the raw image').toBe(-1);
    expect((await qemuImg(['check', '-f', 'raw', adopted])).stderr).not.toMatch(/error/i);
  });

  it('a failed adoption leaves the image where it was', async () => {
    const { iqn } = await createTarget(env, 'adoptfail');
    await env.ok(['lun-add', '-t', iqn, '-l', '1', '-s', '8M']);
    const image = path.join(env.root, 'keep.qcow2');
    const raw = path.join(env.dir, 'keep.raw');
    fs.writeFileSync(raw, Buffer.concat([pattern(MiB, 5), Buffer.alloc(7 * MiB)]));
    expect((await qemuImg(['convert', '-f', 'raw', '-O', 'qcow2', raw, image])).code).toBe(0);
    const before = sha(image);
    const lunFiles = () => fs.readdirSync(path.join(env.root, 'targets', iqn)).filter((f) => f.startsWith('lun-')).sort();
    const filesBefore = lunFiles();

    // LUN ID already taken.
    const taken = await env.node.cli(['lun-add', '-t', iqn, '-l', '1', '--image', image]);
    expect(taken.code).not.toBe(0);
    expect(taken.stderr).toMatch(/LUN 1|LUN_EXISTS/);
    expect(fs.existsSync(image)).toBe(true);
    expect(sha(image)).toBe(before);
    expect(lunFiles()).toEqual(filesBefore);

    // Unknown target.
    const unknown = await env.node.cli(['lun-add', '-t', 'iqn.2014-04.com.vstorage:nosuch', '-l', '3', '--image', image]);
    expect(unknown.code).not.toBe(0);
    expect(fs.existsSync(image)).toBe(true);
    expect(sha(image)).toBe(before);

    // A size smaller than the image.
    const small = await env.node.cli(['lun-add', '-t', iqn, '-l', '4', '--image', image, '-s', '4M']);
    expect(small.code).not.toBe(0);
    expect(fs.existsSync(image)).toBe(true);
    expect(sha(image)).toBe(before);
    expect(lunFiles()).toEqual(filesBefore);

    // The record did not change, and a good adoption of the same file still works.
    const t = JSON.parse(await env.ok(['list', '-t', iqn, '--json'])) as { luns: Array<{ id: number }> };
    expect(t.luns.map((l) => l.id)).toEqual([1]);
    await env.ok(['lun-add', '-t', iqn, '-l', '5', '--image', image]);
    expect(fs.existsSync(image)).toBe(false);
    expect(sha(env.targetFile(iqn, 'lun-5.qcow2'))).toBe(before);
  });
});
