/**
 * Test helpers for src/snapshots: a temporary ISCSI_ROOT with one target,
 * LUN images of a chosen format, reading and writing LUN bytes through our
 * stores, and the independent view of qemu-img (convert, check, info).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'vitest';
import { ClusterStore } from '../../src/cluster/store.js';
import type { LunRecord } from '../../src/cluster/records.js';
import { openStore, type ImageFormat } from '../../src/lun/open-store.js';
import { createQcow2Image, openQcow2Store } from '../../src/lun/qcow2/index.js';
import { createRawStore } from '../../src/lun/raw-store.js';
import type { BlockStore } from '../../src/lun/block-store.js';

export const HOST = '00000000000000aa';
export const PREFIX = 'iqn.2014-04.com.vstorage';
export const IQN = `${PREFIX}:snap1`;
export const QEMU_IMG = '/usr/bin/qemu-img';

export interface Env {
  dir: string;
  store: ClusterStore;
}

export async function makeEnv(): Promise<Env> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'snapshots-'));
  const root = path.join(dir, 'root');
  fs.mkdirSync(root);
  const store = await ClusterStore.open(root, { hostId: HOST, iqnPrefix: PREFIX, lockTimeoutMs: 2000 });
  await store.createTarget({ name: 'snap1', portals: ['192.168.10.100'] });
  return { dir, store };
}

/** A LUN whose image is of `format` (whatever lun-add makes by default), named lun-<id>.<format>. */
export async function addLun(env: Env, id: number, sizeBytes: number, format: ImageFormat, clusterSize = 65536): Promise<void> {
  await env.store.addLun(IQN, { id, sizeBytes });
  await env.store.updateTarget(IQN, async (rec) => {
    const lun = rec.luns.find((l) => l.id === id)!;
    fs.rmSync(env.store.lunPath(IQN, lun));
    const file = `lun-${id}.${format}`;
    const p = path.join(env.store.targetDir(IQN), file);
    if (format === 'raw') await (await createRawStore(p, sizeBytes)).close();
    else await createQcow2Image(p, sizeBytes, { clusterSize });
    lun.file = file;
    lun.format = format;
    if (format === 'qcow2') lun.clusterSize = clusterSize;
    else delete lun.clusterSize;
  });
}

export async function lunRecord(env: Env, id: number): Promise<LunRecord> {
  return (await env.store.getTarget(IQN)).luns.find((l) => l.id === id)!;
}

export async function setOnline(env: Env, id: number, online: boolean): Promise<void> {
  await env.store.updateTarget(IQN, (rec) => {
    rec.luns.find((l) => l.id === id)!.online = online;
  });
}

async function withTop<T>(env: Env, id: number, fn: (s: BlockStore) => Promise<T>): Promise<T> {
  const lun = await lunRecord(env, id);
  const s = await openStore(env.store.lunPath(IQN, lun), lun.format);
  try {
    return await fn(s);
  } finally {
    await s.close();
  }
}

/** Write through the LUN's top image, as the daemon would. */
export function writeLun(env: Env, id: number, offset: number, data: Buffer): Promise<void> {
  return withTop(env, id, async (s) => {
    await s.write(data, offset, false);
    await s.flush();
  });
}

export function zeroLun(env: Env, id: number, offset: number, length: number): Promise<void> {
  return withTop(env, id, async (s) => {
    await s.discard(offset, length);
    await s.flush();
  });
}

/** Every byte of an image file and its chain, read by our store (read-only). */
export async function readImage(file: string, format: ImageFormat): Promise<Buffer> {
  const s: BlockStore = format === 'qcow2' ? await openQcow2Store(file, { readOnly: true }) : await openStore(file, 'raw');
  try {
    const b = Buffer.alloc(s.sizeBytes);
    await s.read(b, 0);
    return b;
  } finally {
    await s.close();
  }
}

/** Every byte of an image file and its chain, read by qemu-img. */
export function qemuRead(file: string, format: ImageFormat, tmpDir: string): Buffer {
  const out = path.join(tmpDir, `convert-${path.basename(file)}.raw`);
  execFileSync(QEMU_IMG, ['convert', '-f', format, '-O', 'raw', file, out]);
  const b = fs.readFileSync(out);
  fs.rmSync(out);
  return b;
}

/** qemu-img check passes (no errors, no leaks) on a qcow2 image. */
export function qemuCheck(file: string): void {
  const r = execFileSync(QEMU_IMG, ['check', '-f', 'qcow2', '--output=json', file], { encoding: 'utf8' });
  const j = JSON.parse(r) as { 'check-errors'?: number; corruptions?: number; leaks?: number };
  expect(j['check-errors'] ?? 0, `check errors in ${file}`).toBe(0);
  expect(j.corruptions ?? 0, `corruptions in ${file}`).toBe(0);
  expect(j.leaks ?? 0, `leaks in ${file}`).toBe(0);
}

/** File names along the backing chain of an image, as qemu-img sees it. */
export function qemuChain(file: string): string[] {
  const r = execFileSync(QEMU_IMG, ['info', '--backing-chain', '--output=json', file], { encoding: 'utf8' });
  return (JSON.parse(r) as Array<{ filename: string }>).map((x) => path.basename(x.filename));
}

/** A recognisable pattern: every 512-byte sector carries the tag and its offset. */
export function pattern(tag: string, offset: number, length: number): Buffer {
  const b = Buffer.alloc(length);
  for (let o = 0; o < length; o += 512) b.write(`${tag}@${offset + o};`.padEnd(512, tag[0]), o, 'latin1');
  return b;
}

/**
 * Checks one LUN against the expected bytes of its top ('top') and of each
 * snapshot (by UUID): through our store and through qemu-img; every qcow2
 * image checks clean; every image's backing chain (qemu-img info) is what
 * the record says; no image file exists that the record does not name.
 */
export async function verifyLun(env: Env, id: number, expected: Map<string, Buffer>): Promise<void> {
  const lun = await lunRecord(env, id);
  const dir = env.store.targetDir(IQN);
  const snaps = lun.snapshots ?? [];
  const images: Array<{ key: string; file: string; format: ImageFormat; parent: string | null }> = [
    { key: 'top', file: lun.file, format: lun.format, parent: lun.base ?? null },
    ...snaps.map((s) => ({ key: s.uuid, file: s.file, format: s.format, parent: s.parent })),
  ];
  expect(new Set(images.map((i) => i.key)), 'expected states').toEqual(new Set(expected.keys()));
  for (const img of images) {
    const p = path.join(dir, img.file);
    const want = expected.get(img.key)!;
    const ours = await readImage(p, img.format);
    expect(ours.equals(want), `${img.key} (${img.file}) read by our store`).toBe(true);
    const theirs = qemuRead(p, img.format, env.dir);
    expect(theirs.equals(want), `${img.key} (${img.file}) read by qemu-img convert`).toBe(true);
    if (img.format === 'qcow2') qemuCheck(p);
    // The chain in the files is the chain in the record.
    const chain = [img.file];
    for (let u = img.parent; u !== null; ) {
      const s = snaps.find((x) => x.uuid === u)!;
      chain.push(s.file);
      u = s.parent;
    }
    expect(qemuChain(p), `backing chain of ${img.key}`).toEqual(chain);
  }
  const files = fs.readdirSync(dir).filter((f) => f !== 'target.json');
  expect(new Set(files), 'files in the target directory').toEqual(new Set(images.map((i) => i.file)));
}
