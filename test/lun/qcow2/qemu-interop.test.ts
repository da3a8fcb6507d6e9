/**
 * Interoperability with QEMU's own tools (qemu-utils): images made and
 * filled by qemu-img read back byte-identical through our store, our writes
 * into them keep `qemu-img check` clean and `qemu-img convert` output equal
 * to what we wrote; images with features we do not support are refused with
 * a clear error.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { openQcow2Store, type Qcow2Store } from '../../../src/lun/qcow2/index.js';
import { haveQemuImg, pattern, qemuCheck, qemuImg, qemuInfo, randomBytes, rng, tmpDir } from './helpers.js';

const MiB = 1 << 20;
const SIZE = 24 * MiB;
const qemu = haveQemuImg();
let dir: string;
let src: Buffer;
let srcFile: string;

beforeAll(() => {
  dir = tmpDir('qcow2-qemu-');
  // Random data with holes and zero runs, so qemu-img leaves some clusters unallocated.
  src = randomBytes(SIZE, rng(42));
  for (let off = 0; off < SIZE; off += 5 * MiB) src.fill(0, off, off + MiB + 12345 * 2);
  srcFile = path.join(dir, 'src.raw');
  fs.writeFileSync(srcFile, src);
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

async function readAll(s: Qcow2Store): Promise<Buffer> {
  const out = Buffer.alloc(s.sizeBytes);
  for (let off = 0; off < out.length; off += 4 * MiB) await s.read(out.subarray(off, Math.min(out.length, off + 4 * MiB)), off);
  return out;
}

function expectClean(file: string): void {
  const r = qemuCheck(file);
  expect(r.stderr).not.toMatch(/ERROR|Leaked/);
  expect(r.status).toBe(0);
}

/** qemu-img create + convert; read through us; write through us; check and convert back. */
async function adopt(name: string, createOpts: string[], convertOpts: string[] = []): Promise<void> {
  const img = path.join(dir, `${name}.qcow2`);
  fs.rmSync(img, { force: true });
  qemuImg('create', '-q', '-f', 'qcow2', ...createOpts, img, String(SIZE));
  qemuImg('convert', '-n', '-f', 'raw', '-O', 'qcow2', ...convertOpts, srcFile, img);
  const s = await openQcow2Store(img, { writebackIntervalMs: 0 });
  try {
    expect(s.sizeBytes).toBe(SIZE);
    const got = await readAll(s);
    expect(got.equals(src)).toBe(true);
    // Overwrite parts: within allocated clusters, over holes, partial clusters, discard.
    const model = Buffer.from(src);
    const next = rng(name.length * 7919);
    for (let i = 0; i < 40; i++) {
      const off = Math.floor((next() * (SIZE - 300 * 1024)) / 512) * 512;
      const len = 512 * (1 + Math.floor(next() * 500));
      if (i % 5 === 4) {
        await s.discard(off, len);
        model.fill(0, off, off + len);
      } else {
        const d = randomBytes(len, next);
        await s.write(d, off, false);
        d.copy(model, off);
      }
    }
    await s.close();
    expectClean(img);
    const out = path.join(dir, `${name}.out.raw`);
    qemuImg('convert', '-O', 'raw', img, out);
    expect(fs.readFileSync(out).equals(model)).toBe(true);
    fs.rmSync(out);
  } finally {
    await s.close();
  }
}

describe.skipIf(!qemu)('images made by qemu-img', () => {
  it('default qcow2 (v3, 64 KiB clusters) filled by qemu-img convert reads back byte-identical', async () => {
    await adopt('default', []);
  });
  it('version 2 (compat=0.10)', async () => {
    await adopt('v2', ['-o', 'compat=0.10']);
  });
  for (const cs of ['512', '4k', '2M']) {
    it(`cluster_size=${cs}`, async () => {
      await adopt(`cs${cs}`, ['-o', `cluster_size=${cs}`]);
    });
  }
  for (const bits of [1, 2, 4, 8, 32, 64]) {
    it(`refcount_bits=${bits}`, async () => {
      await adopt(`rc${bits}`, ['-o', `refcount_bits=${bits}`]);
    });
  }
  it('compressed clusters (convert -c): read, and re-allocated on write', async () => {
    await adopt('compressed', [], ['-c']);
  });
  it('preallocation=metadata', async () => {
    await adopt('prealloc', ['-o', 'preallocation=metadata']);
  });
  it('lazy_refcounts=on (clean image)', async () => {
    await adopt('lazy', ['-o', 'lazy_refcounts=on']);
  });

  it('a qemu-img backing chain (qcow2 over raw) reads through and takes our writes', async () => {
    const base = path.join(dir, 'chain-base.raw');
    fs.copyFileSync(srcFile, base);
    const top = path.join(dir, 'chain-top.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', '-b', 'chain-base.raw', '-F', 'raw', top);
    const s = await openQcow2Store(top, { writebackIntervalMs: 0 });
    expect(s.backingFile).toBe('chain-base.raw');
    expect(s.backingFormat).toBe('raw');
    expect((await readAll(s)).equals(src)).toBe(true);
    const model = Buffer.from(src);
    await s.write(pattern(8192, 1), 3 * MiB + 4096, false);
    pattern(8192, 1).copy(model, 3 * MiB + 4096);
    await s.discard(10 * MiB, 2 * MiB + 4096);
    model.fill(0, 10 * MiB, 12 * MiB + 4096);
    await s.close();
    expectClean(top);
    expect(fs.readFileSync(base).equals(src)).toBe(true); // the backing file is untouched
    const out = path.join(dir, 'chain.out.raw');
    qemuImg('convert', '-O', 'raw', top, out);
    expect(fs.readFileSync(out).equals(model)).toBe(true);
  });

  it('images with internal snapshots open read-only, refuse writing', async () => {
    const img = path.join(dir, 'snap.qcow2');
    qemuImg('convert', '-f', 'raw', '-O', 'qcow2', srcFile, img);
    qemuImg('snapshot', '-c', 's1', img);
    await expect(openQcow2Store(img)).rejects.toMatchObject({ code: 'ISCSI_ERR_UNSUPPORTED_IMAGE' });
    const s = await openQcow2Store(img, { readOnly: true });
    expect((await readAll(s)).equals(src)).toBe(true);
    await s.close();
  });

  it('refuses extended L2 entries and zstd compression with a clear error', async () => {
    const ext = path.join(dir, 'extl2.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', '-o', 'extended_l2=on', ext, '16M');
    await expect(openQcow2Store(ext)).rejects.toThrow(/extended L2/);
    const z = path.join(dir, 'zstd.qcow2');
    const r = (() => {
      try {
        qemuImg('create', '-q', '-f', 'qcow2', '-o', 'compression_type=zstd', z, '16M');
        return true;
      } catch {
        return false; // qemu-img built without zstd
      }
    })();
    if (r) await expect(openQcow2Store(z)).rejects.toMatchObject({ code: 'ISCSI_ERR_UNSUPPORTED_IMAGE' });
  });

  it('refuses dirty, corrupt and encrypted images for writing', async () => {
    const make = (name: string, patch: (fd: number) => void) => {
      const p = path.join(dir, name);
      qemuImg('create', '-q', '-f', 'qcow2', p, '16M');
      const fd = fs.openSync(p, 'r+');
      patch(fd);
      fs.closeSync(fd);
      return p;
    };
    const setIncompat = (bit: number) => (fd: number) => {
      const b = Buffer.alloc(8);
      b.writeBigUInt64BE(1n << BigInt(bit));
      fs.writeSync(fd, b, 0, 8, 72);
    };
    const dirty = make('dirty.qcow2', setIncompat(0));
    await expect(openQcow2Store(dirty)).rejects.toThrow(/qemu-img check -r all/);
    await (await openQcow2Store(dirty, { readOnly: true })).close();
    const corrupt = make('corrupt.qcow2', setIncompat(1));
    await expect(openQcow2Store(corrupt)).rejects.toMatchObject({ code: 'ISCSI_ERR_BAD_IMAGE' });
    const unknown = make('unknown.qcow2', setIncompat(40));
    await expect(openQcow2Store(unknown, { readOnly: true })).rejects.toThrow(/unknown incompatible/);
    const enc = make('enc.qcow2', (fd) => {
      const b = Buffer.alloc(4);
      b.writeUInt32BE(2);
      fs.writeSync(fd, b, 0, 4, 32);
    });
    await expect(openQcow2Store(enc, { readOnly: true })).rejects.toThrow(/encrypted/);
    fs.writeFileSync(path.join(dir, 'plain.raw'), Buffer.alloc(4096));
    await expect(openQcow2Store(path.join(dir, 'plain.raw'))).rejects.toMatchObject({ code: 'ISCSI_ERR_BAD_IMAGE' });
  });

  it('clears auto-clear feature bits (bitmaps) before writing', async () => {
    const img = path.join(dir, 'bitmap.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', img, '16M');
    try {
      qemuImg('bitmap', '--add', img, 'b0');
    } catch {
      return; // qemu-img without the bitmap subcommand
    }
    const s = await openQcow2Store(img, { writebackIntervalMs: 0 });
    await s.write(pattern(4096, 1), 0, false);
    await s.close();
    const info = qemuInfo(img);
    expect(info['format']).toBe('qcow2');
    const r = qemuCheck(img);
    expect(r.corruptions).toBe(0);
  });
});
