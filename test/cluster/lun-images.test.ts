/**
 * LUN images in the ISCSI_ROOT store: qcow2 by default, raw on request,
 * adoption of existing images (`lun-add --image`), growth, Used over the
 * chain, and no partial change when something fails. qemu-img checks what
 * we write (skipped where qemu-img is missing).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ClusterStore } from '../../src/cluster/store.js';
import { parseClusterSize, parseImageFormat } from '../../src/cluster/lun-images.js';
import { openStore } from '../../src/lun/open-store.js';

const HOST = '00000000000000aa';
const PREFIX = 'iqn.2014-04.com.vstorage';
const IQN = `${PREFIX}:img1`;
const MiB = 1 << 20;
const GiB = 1 << 30;
const haveQemuImg = spawnSync('qemu-img', ['--version'], { stdio: 'ignore' }).status === 0;

let dir: string;
let root: string;
let store: ClusterStore;

function qemuInfo(file: string): { format: string; 'virtual-size': number; 'cluster-size'?: number } {
  return JSON.parse(execFileSync('qemu-img', ['info', '--output=json', file], { encoding: 'utf8' }));
}

function qemuCheckClean(file: string): void {
  const r = spawnSync('qemu-img', ['check', file], { encoding: 'utf8' });
  expect(r.stdout + r.stderr).not.toMatch(/ERROR|Leaked/);
  expect(r.status).toBe(0);
}

function listing(): string[] {
  const out: string[] = [];
  const walk = (p: string) => {
    for (const e of fs.readdirSync(p, { withFileTypes: true })) {
      const f = path.join(p, e.name);
      if (e.isDirectory()) walk(f);
      else if (!f.includes(`${path.sep}locks${path.sep}`)) out.push(`${path.relative(dir, f)}:${fs.readFileSync(f).toString('base64').length}`);
    }
  };
  walk(dir);
  return out.sort();
}

beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lun-images-'));
  root = path.join(dir, 'root');
  fs.mkdirSync(root);
  store = await ClusterStore.open(root, { hostId: HOST, iqnPrefix: PREFIX, lockTimeoutMs: 2000 });
  await store.createTarget({ name: 'img1', portals: ['10.0.0.1'] });
});

afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('lun-add image formats', () => {
  it('parses --format and --cluster-size', () => {
    expect(parseImageFormat(undefined)).toBeUndefined();
    expect(parseImageFormat('QCOW2')).toBe('qcow2');
    expect(parseImageFormat('raw')).toBe('raw');
    expect(() => parseImageFormat('vhdx')).toThrow(expect.objectContaining({ code: 'ISCSI_ERR_BAD_FORMAT' }));
    expect(parseClusterSize(undefined)).toBe(65536);
    expect(parseClusterSize('4K')).toBe(4096);
    expect(parseClusterSize('2M')).toBe(2 * MiB);
    expect(parseClusterSize('131072')).toBe(131072);
    for (const bad of ['2K', '4M', '96K', 'x', '0', '-64K']) {
      expect(() => parseClusterSize(bad)).toThrow(expect.objectContaining({ code: 'ISCSI_ERR_BAD_CLUSTER_SIZE' }));
    }
  });

  it('creates a thin qcow2 image by default, with the cluster size asked for', async () => {
    const a = await store.addLun(IQN, { id: 1, sizeBytes: 100 * GiB });
    expect(a).toMatchObject({ file: 'lun-1.qcow2', format: 'qcow2', clusterSize: 65536, sizeBytes: 100 * GiB });
    const b = await store.addLun(IQN, { id: 2, sizeBytes: 20 * 1024 * GiB, clusterSize: 2 * MiB });
    expect(b).toMatchObject({ format: 'qcow2', clusterSize: 2 * MiB });
    // Thin: a 100 GiB LUN uses well under a MiB for its metadata.
    expect(await store.lunUsedBytes(IQN, a)).toBeLessThan(MiB);
    if (haveQemuImg) {
      const info = qemuInfo(store.lunPath(IQN, a));
      expect(info).toMatchObject({ format: 'qcow2', 'virtual-size': 100 * GiB, 'cluster-size': 65536 });
      expect(qemuInfo(store.lunPath(IQN, b))).toMatchObject({ 'virtual-size': 20 * 1024 * GiB, 'cluster-size': 2 * MiB });
      qemuCheckClean(store.lunPath(IQN, a));
    }
    const c = await store.addLun(IQN, { id: 3, sizeBytes: GiB, format: 'raw' });
    expect(c).toMatchObject({ file: 'lun-3.raw', format: 'raw' });
    expect(c.clusterSize).toBeUndefined();
    expect(fs.statSync(store.lunPath(IQN, c)).size).toBe(GiB);
  });

  it('refuses raw images over 16T and leaves nothing behind', async () => {
    const before = listing();
    await expect(store.addLun(IQN, { id: 1, sizeBytes: 17 * 1024 * GiB, format: 'raw' })).rejects.toMatchObject({ code: 'ISCSI_ERR_BAD_SIZE' });
    expect(listing()).toEqual(before);
  });

  it('grows a qcow2 LUN of a stopped target; the data stays', async () => {
    const lun = await store.addLun(IQN, { id: 1, sizeBytes: 64 * MiB });
    const s = await openStore(store.lunPath(IQN, lun), 'qcow2');
    await s.write(Buffer.alloc(4096, 0x5a), 60 * MiB, true);
    await s.close();
    const grown = await store.growLun(IQN, 1, 128 * MiB);
    expect(grown.sizeBytes).toBe(128 * MiB);
    const t = await openStore(store.lunPath(IQN, lun), 'qcow2');
    expect(t.sizeBytes).toBe(128 * MiB);
    const b = Buffer.alloc(4096);
    await t.read(b, 60 * MiB);
    expect(b.every((x) => x === 0x5a)).toBe(true);
    await t.read(b, 100 * MiB);
    expect(b.every((x) => x === 0)).toBe(true);
    await t.close();
    if (haveQemuImg) qemuCheckClean(store.lunPath(IQN, lun));
    await store.setDesiredState(IQN, 'running');
    await expect(store.growLun(IQN, 1, 256 * MiB)).rejects.toMatchObject({ code: 'ISCSI_ERR_TARGET_RUNNING' });
    expect((await store.getTarget(IQN)).luns[0]!.sizeBytes).toBe(128 * MiB);
  });

  it('Used counts every image of the chain; lun-delete removes them all', async () => {
    const lun = await store.addLun(IQN, { id: 1, sizeBytes: 64 * MiB, format: 'raw' });
    const img = store.lunPath(IQN, lun);
    const fd = fs.openSync(img, 'r+');
    fs.writeSync(fd, Buffer.alloc(MiB, 1), 0, MiB, 0);
    fs.closeSync(fd);
    const snapFile = path.join(store.targetDir(IQN), 'lun-1-snap.raw');
    fs.writeFileSync(snapFile, Buffer.alloc(2 * MiB, 2));
    await store.updateTarget(IQN, (rec) => {
      rec.luns[0]!.snapshots = [
        { uuid: '11111111-2222-4333-8444-555555555555', parent: null, file: 'lun-1-snap.raw', format: 'raw', created: new Date().toISOString(), description: '' },
      ];
    });
    const rec = await store.getTarget(IQN);
    const used = await store.lunUsedBytes(IQN, rec.luns[0]!);
    expect(used).toBeGreaterThanOrEqual(3 * MiB);
    expect(used).toBeLessThan(4 * MiB);
    await store.deleteLun(IQN, 1);
    expect(fs.existsSync(img)).toBe(false);
    expect(fs.existsSync(snapFile)).toBe(false);
  });
});

describe.skipIf(!haveQemuImg)('lun-add --image (adopting an existing image)', () => {
  it('adopts a qemu-img qcow2 image with its data, moving it into the target', async () => {
    const src = path.join(dir, 'random.raw');
    const data = randomBytes(8 * MiB);
    fs.writeFileSync(src, data);
    const image = path.join(root, 'vm-disk.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-o', 'cluster_size=131072', image, '16M']);
    execFileSync('qemu-img', ['convert', '-n', '-f', 'raw', '-O', 'qcow2', src, image]);
    const lun = await store.addLun(IQN, { id: 5, image });
    expect(lun).toMatchObject({ file: 'lun-5.qcow2', format: 'qcow2', sizeBytes: 16 * MiB, clusterSize: 131072 });
    expect(fs.existsSync(image)).toBe(false);
    const s = await openStore(store.lunPath(IQN, lun), lun.format);
    const b = Buffer.alloc(8 * MiB);
    await s.read(b, 0);
    expect(b.equals(data)).toBe(true);
    await s.read(b, 8 * MiB);
    expect(b.every((x) => x === 0)).toBe(true);
    await s.close();
  });

  it('adopts a raw image and grows it to -s', async () => {
    const image = path.join(root, 'disk.img');
    fs.writeFileSync(image, Buffer.alloc(4 * MiB, 3));
    const lun = await store.addLun(IQN, { id: 6, image, sizeBytes: 8 * MiB });
    expect(lun).toMatchObject({ file: 'lun-6.raw', format: 'raw', sizeBytes: 8 * MiB });
    expect(fs.statSync(store.lunPath(IQN, lun)).size).toBe(8 * MiB);
    expect(fs.readFileSync(store.lunPath(IQN, lun)).subarray(0, 4 * MiB).every((x) => x === 3)).toBe(true);
  });

  it('refuses what it cannot serve and leaves the file where it was', async () => {
    const base = path.join(root, 'base.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', base, '16M']);
    const child = path.join(root, 'child.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', 'base.qcow2', '-F', 'qcow2', child]);
    const odd = path.join(root, 'odd.img');
    fs.writeFileSync(odd, Buffer.alloc(1000));
    const before = listing();
    const cases: Array<[Parameters<ClusterStore['addLun']>[1], string, RegExp]> = [
      [{ id: 7, image: child }, 'ISCSI_ERR_BAD_IMAGE', /has a backing file \(base\.qcow2\)/],
      [{ id: 7, image: odd }, 'ISCSI_ERR_BAD_IMAGE', /not a multiple of the 512-byte block size/],
      [{ id: 7, image: base, sizeBytes: 8 * MiB }, 'ISCSI_ERR_BAD_SIZE', /smaller than the image/],
      [{ id: 7, image: base, format: 'raw' }, 'ISCSI_ERR_BAD_IMAGE', /is a qcow2 image, not raw/],
      [{ id: 7, image: base, clusterSize: 65536 }, 'ISCSI_ERR_BAD_REQUEST', /--cluster-size applies to new images only/],
      [{ id: 7, image: path.join(root, 'missing.qcow2') }, 'ISCSI_ERR_BAD_IMAGE', /no such file/],
    ];
    for (const [input, code, msg] of cases) {
      const e = await store.addLun(IQN, input).then(
        () => undefined,
        (x: unknown) => x as { code: string; message: string },
      );
      expect(e?.code, JSON.stringify(input)).toBe(code);
      expect(e?.message).toMatch(msg);
    }
    // A LUN ID that exists: the image is checked, then the record refuses; the file stays.
    await store.addLun(IQN, { id: 1, sizeBytes: MiB });
    const before2 = listing();
    await expect(store.addLun(IQN, { id: 1, image: base })).rejects.toMatchObject({ code: 'ISCSI_ERR_LUN_EXISTS' });
    expect(listing()).toEqual(before2);
    expect(before2.filter((f) => !before.includes(f)).every((f) => f.includes('lun-1.qcow2') || f.includes('target.json'))).toBe(true);
    expect(fs.existsSync(base)).toBe(true);
  });
});
