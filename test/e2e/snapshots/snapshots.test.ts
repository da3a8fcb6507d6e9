/**
 * Acceptance, issue 3 part 4 and source 4.2.10, through the real daemon
 * (dist/) over iSCSI with the TypeScript initiator: on a running target,
 * snapshot-create while an initiator stays logged in and writes (its
 * writes keep working, none fails), lun-set --offline, snapshot-switch and
 * snapshot-delete (a snapshot with two children, then one with a single
 * child), lun-set --online; every state is checked with a fresh login and
 * READ over iSCSI, and with qemu-img (convert, check, info --backing-chain).
 * Once for a qcow2 LUN (lun-add's default) and once for a raw LUN.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TestInitiator, cdb } from '../../helpers/initiator.js';
import { clearUnitAttentions, loginTestInitiator } from '../lib/login.js';
import { freePort, startNode, type Node } from '../nodes/cluster.js';

const P = 'iqn.2014-04.com.vstorage';
const QEMU_IMG = '/usr/bin/qemu-img';
const MiB = 1 << 20;
const KiB = 1024;
const SIZE = 8 * MiB;
const BS = 512;

let dir: string;
let root: string;
let node: Node;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'e2e-snap-'));
  root = path.join(dir, 'root');
  fs.mkdirSync(root);
  node = await startNode({ name: 'A', hostId: 'fefacc38a2f140ca', root, dir });
});

afterAll(async () => {
  await node?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function ok(args: string[]): Promise<string> {
  const r = await node.cli(args);
  if (r.code !== 0) throw new Error(`vstorage-iscsi ${args.join(' ')} -> ${r.code}: ${r.stderr}${r.stdout}\n${node.log().slice(-3000)}`);
  return r.stdout;
}

interface Session {
  ini: TestInitiator;
  write(off: number, data: Buffer): Promise<void>;
  read(off: number, len: number): Promise<Buffer>;
  sync(): Promise<void>;
  close(): Promise<void>;
}

async function login(port: number, iqn: string, isid: number): Promise<Session> {
  const ini = await loginTestInitiator(port, { targetName: iqn, initiatorName: 'iqn.2024-01.org.e2e:snapshots', isid: Buffer.from([0x80, 0, 0, 0, 0, isid]) });
  await clearUnitAttentions(ini);
  const CH = 64 * KiB;
  return {
    ini,
    async write(off, data) {
      for (let p = 0; p < data.length; p += CH) {
        const part = data.subarray(p, Math.min(data.length, p + CH));
        const res = await ini.command({ cdb: cdb.write10((off + p) / BS, part.length / BS), dataOut: part });
        if (res.status !== 0) throw new Error(`WRITE at ${off + p}: status ${res.status} sense ${res.sense?.toString('hex')}`);
      }
    },
    async read(off, len) {
      const out: Buffer[] = [];
      for (let p = 0; p < len; p += 256 * KiB) {
        const n = Math.min(256 * KiB, len - p);
        const res = await ini.command({ cdb: cdb.read10((off + p) / BS, n / BS), readLength: n });
        if (res.status !== 0) throw new Error(`READ at ${off + p}: status ${res.status} sense ${res.sense?.toString('hex')}`);
        out.push(Buffer.from(res.dataIn));
      }
      return Buffer.concat(out);
    },
    async sync() {
      const res = await ini.command({ cdb: Buffer.from([0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0]) });
      if (res.status !== 0) throw new Error(`SYNCHRONIZE CACHE: status ${res.status}`);
    },
    async close() {
      if (!ini.closed) await ini.logout().catch(() => undefined);
      ini.close();
    },
  };
}

function pattern(tag: string, off: number, len: number): Buffer {
  const b = Buffer.alloc(len);
  for (let o = 0; o < len; o += BS) b.write(`${tag}@${off + o};`.padEnd(BS, tag[0]), o, 'latin1');
  return b;
}

interface SnapView {
  uuid: string;
  parent: string | null;
  file: string;
  format: string;
  current: boolean;
}

async function snapshots(iqn: string): Promise<SnapView[]> {
  return JSON.parse(await ok(['snapshot-list', '-t', iqn, '-l', '0', '--json'])) as SnapView[];
}

async function lunRecord(iqn: string): Promise<{ file: string; format: string; base?: string | null }> {
  const rec = JSON.parse(fs.readFileSync(path.join(root, 'targets', iqn, 'target.json'), 'utf8')) as { luns: Array<{ id: number; file: string; format: string; base?: string | null }> };
  return rec.luns.find((l) => l.id === 0)!;
}

function qemuRead(file: string, format: string): Buffer {
  const out = path.join(dir, 'convert.raw');
  execFileSync(QEMU_IMG, ['convert', '-U', '-f', format, '-O', 'raw', file, out]);
  const b = fs.readFileSync(out);
  fs.rmSync(out);
  return b;
}

function qemuChecks(file: string, chain: string[]): void {
  const info = JSON.parse(execFileSync(QEMU_IMG, ['info', '-U', '--backing-chain', '--output=json', file], { encoding: 'utf8' })) as Array<{ filename: string; format: string }>;
  expect(info.map((i) => path.basename(i.filename))).toEqual(chain);
  for (const i of info) {
    if (i.format !== 'qcow2') continue;
    const c = JSON.parse(execFileSync(QEMU_IMG, ['check', '-U', '--output=json', i.filename], { encoding: 'utf8' })) as { 'check-errors'?: number; corruptions?: number };
    expect(c.corruptions ?? 0, i.filename).toBe(0);
    expect(c['check-errors'] ?? 0, i.filename).toBe(0);
  }
}

/** The chain of file names from an image down, per the record. */
function chainOf(file: string, parent: string | null | undefined, snaps: SnapView[]): string[] {
  const out = [file];
  for (let u = parent ?? null; u !== null; ) {
    const s = snaps.find((x) => x.uuid === u)!;
    out.push(s.file);
    u = s.parent;
  }
  return out;
}

for (const format of ['qcow2', 'raw']) {
  describe(`snapshots of a ${format} LUN of a running target, over iSCSI`, () => {
    it('create online under I/O, switch and delete offline, bytes over iSCSI and by qemu-img', async () => {
      const port = await freePort();
      const name = `snap${format}`;
      const iqn = `${P}:${name}`;
      await ok(['create', '-n', name, '-a', `127.0.0.1:${port}`]);
      await ok(['lun-add', '-t', iqn, '-l', '0', '-s', '8M', ...(format === 'raw' ? ['--format', 'raw'] : [])]);
      await ok(['start', '-t', iqn]);
      const tdir = path.join(root, 'targets', iqn);
      expect((await lunRecord(iqn)).format).toBe(format);

      const top = Buffer.alloc(SIZE);
      const s = await login(port, iqn, 1);
      const w = async (off: number, b: Buffer) => {
        await s.write(off, b);
        b.copy(top, off);
      };
      await w(0, pattern('A', 0, 1 * MiB));
      await w(5 * MiB + 4 * KiB, pattern('a', 5 * MiB + 4 * KiB, 12 * KiB));

      // Online snapshot while the session writes (the same bytes again, so any order gives one result).
      let writing = true;
      let rewrites = 0;
      const writer = (async () => {
        while (writing) {
          await s.write(0, top.subarray(0, 256 * KiB));
          rewrites++;
        }
      })();
      const out1 = await ok(['snapshot-create', '-t', iqn, '-l', '0', '-d', 'first']);
      await new Promise((r) => setTimeout(r, 200));
      writing = false;
      await writer; // no write failed (it throws otherwise)
      expect(rewrites).toBeGreaterThan(0);
      const s1 = /^Snapshot ([0-9a-f-]{36}) successfully created\.\n$/.exec(out1)![1]!;
      const exp = new Map<string, Buffer>([[s1, Buffer.from(top)]]);
      expect((await lunRecord(iqn)).format).toBe('qcow2');
      // The daemon did it (detached and reopened the image), not the CLI.
      expect(node.log()).toContain('LUN image reopened');

      // Writes keep working on the same session, and read back.
      await w(512 * KiB, pattern('B', 512 * KiB, 1 * MiB));
      await w(7 * MiB, pattern('b', 7 * MiB, 64 * KiB));
      expect((await s.read(0, SIZE)).equals(top)).toBe(true);
      const s2 = /Snapshot (\S+) successfully/.exec(await ok(['snapshot-create', '-t', iqn, '-l', '0']))![1]!;
      exp.set(s2, Buffer.from(top));
      await w(0, pattern('C', 0, 64 * KiB));
      expect((await s.read(0, SIZE)).equals(top)).toBe(true);

      // Frozen snapshots read right by qemu-img while the target runs.
      let snaps = await snapshots(iqn);
      for (const x of snaps) expect(qemuRead(path.join(tdir, x.file), x.format).equals(exp.get(x.uuid)!), x.uuid).toBe(true);

      // Switch: refused online, then offline.
      const refused = await node.cli(['snapshot-switch', '-u', s1]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain('ISCSI_ERR_LUN_ONLINE');
      expect(refused.stderr).toContain('lun-set');
      await ok(['lun-set', '-t', iqn, '-l', '0', '--offline']);
      await ok(['snapshot-switch', '-u', s1]);
      await ok(['lun-set', '-t', iqn, '-l', '0', '--online']);
      top.set(exp.get(s1)!);
      await s.close();
      let f = await login(port, iqn, 2);
      expect((await f.read(0, SIZE)).equals(top)).toBe(true);
      // A branch: S3 over S1.
      await f.write(2 * MiB, pattern('D', 2 * MiB, 256 * KiB));
      pattern('D', 2 * MiB, 256 * KiB).copy(top, 2 * MiB);
      const s3 = /Snapshot (\S+) successfully/.exec(await ok(['snapshot-create', '-t', iqn, '-l', '0']))![1]!;
      exp.set(s3, Buffer.from(top));
      await f.write(6 * MiB, pattern('E', 6 * MiB, 64 * KiB));
      pattern('E', 6 * MiB, 64 * KiB).copy(top, 6 * MiB);
      expect((await f.read(0, SIZE)).equals(top)).toBe(true);
      await f.sync();
      await f.close();

      // Delete S1 (children S2 and S3), then S3 (its single child is the top).
      await ok(['lun-set', '-t', iqn, '-l', '0', '--offline']);
      expect((await node.cli(['snapshot-delete', '-u', s1])).code).toBe(0);
      exp.delete(s1);
      snaps = await snapshots(iqn);
      expect(snaps.map((x) => [x.uuid, x.parent, x.current])).toEqual([
        [s2, null, false],
        [s3, null, true],
      ]);
      await ok(['snapshot-delete', '-u', s3]);
      exp.delete(s3);
      await ok(['lun-set', '-t', iqn, '-l', '0', '--online']);
      f = await login(port, iqn, 3);
      expect((await f.read(0, SIZE)).equals(top)).toBe(true);
      await f.close();

      // Stopped: every image by qemu-img, chains as recorded, no stray files.
      await ok(['stop', '-t', iqn]);
      snaps = await snapshots(iqn);
      const lun = await lunRecord(iqn);
      expect(lun.base).toBeNull();
      expect(qemuRead(path.join(tdir, lun.file), 'qcow2').equals(top)).toBe(true);
      qemuChecks(path.join(tdir, lun.file), chainOf(lun.file, lun.base, snaps));
      for (const x of snaps) {
        expect(qemuRead(path.join(tdir, x.file), x.format).equals(exp.get(x.uuid)!), x.uuid).toBe(true);
        qemuChecks(path.join(tdir, x.file), chainOf(x.file, x.parent, snaps));
      }
      const files = fs.readdirSync(tdir).filter((n) => /\.(qcow2|raw)$/.test(n) || n.endsWith('.tmp'));
      expect(new Set(files)).toEqual(new Set([lun.file, ...snaps.map((x) => x.file)]));
      // And the target serves the result after a restart.
      await ok(['start', '-t', iqn]);
      f = await login(port, iqn, 4);
      expect((await f.read(0, SIZE)).equals(top)).toBe(true);
      await f.close();
      await ok(['stop', '-t', iqn]);
    });
  });
}
