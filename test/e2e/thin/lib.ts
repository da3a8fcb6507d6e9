/**
 * Shared pieces of the thin-provisioning e2e tests (test/e2e/thin): a real
 * daemon (dist/) on a private ISCSI_ROOT that can be killed and restarted on
 * the same directories, and an iSCSI session of the TypeScript test
 * initiator with the SBC commands these tests need (READ/WRITE(16), UNMAP,
 * SYNCHRONIZE CACHE, READ CAPACITY(16), Block Limits VPD).
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { TestInitiator, type CommandResult } from '../../helpers/initiator.js';
import { clearUnitAttentions, loginTestInitiator } from '../lib/login.js';
import { freePort, startNode, type Node } from '../nodes/cluster.js';

const execFileP = promisify(execFile);
export const IQN_PREFIX = 'iqn.2014-04.com.vstorage';
export const BLOCK = 512;

export async function qemuImg(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await execFileP('qemu-img', args, { maxBuffer: 64 << 20 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof err.code === 'number' ? err.code : -1, stdout: String(err.stdout ?? ''), stderr: String(err.stderr ?? '') };
  }
}

/** `qemu-img check --output=json`: throws unless clean (leaked clusters allowed when `allowLeaks`). */
export async function qemuCheck(image: string, allowLeaks = false): Promise<{ leaks: number }> {
  const r = await qemuImg(['check', '--output=json', image]);
  const res = JSON.parse(r.stdout || '{}') as Record<string, number>;
  const okCodes = allowLeaks ? [0, 3] : [0];
  if (!okCodes.includes(r.code) || (res['corruptions'] ?? 0) !== 0 || (res['check-errors'] ?? 0) !== 0 || /ERROR/.test(r.stderr)) {
    throw new Error(`qemu-img check ${image}: exit ${r.code}\n${r.stdout}\n${r.stderr}`);
  }
  if (!allowLeaks && (res['leaks'] ?? 0) !== 0) throw new Error(`qemu-img check ${image}: ${res['leaks']} leaked clusters`);
  return { leaks: res['leaks'] ?? 0 };
}

export interface Env {
  dir: string;
  root: string;
  node: Node;
  ok(args: string[]): Promise<string>;
  /** Kill -9 the daemon (and wait for its exit). */
  kill(): Promise<void>;
  /** Start the daemon again on the same ISCSI_ROOT and private directories. */
  restart(): Promise<void>;
  /** ISCSI_ROOT/targets/<iqn>/<file>. */
  targetFile(iqn: string, file: string): string;
  waitStatus(iqn: string, status: string): Promise<void>;
  cleanup(): Promise<void>;
}

export async function startEnv(tag: string): Promise<Env> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `e2e-thin-${tag}-`));
  const root = path.join(dir, 'root');
  fs.mkdirSync(root);
  const start = () => startNode({ name: 'A', hostId: 'c0ffee00c0ffee01', root, dir });
  const env: Env = {
    dir,
    root,
    node: await start(),
    async ok(args) {
      const r = await env.node.cli(args);
      if (r.code !== 0) throw new Error(`vstorage-iscsi ${args.join(' ')} -> ${r.code}: ${r.stderr}${r.stdout}`);
      return r.stdout;
    },
    async kill() {
      const p = env.node.proc;
      if (p.exitCode !== null || p.signalCode !== null) return;
      const gone = new Promise((r) => p.once('exit', r));
      p.kill('SIGKILL');
      await gone;
    },
    async restart() {
      env.node = await start();
    },
    targetFile: (iqn, file) => path.join(root, 'targets', iqn, file),
    async waitStatus(iqn, status) {
      for (let i = 0; i < 300; i++) {
        const r = await env.node.cli(['list', '--json']);
        if (r.code === 0) {
          const list = JSON.parse(r.stdout) as Array<{ iqn?: string; name: string; status: string }>;
          if (list.some((t) => (t.iqn === iqn || iqn.endsWith(`:${t.name}`)) && t.status === status)) return;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`${iqn} is not ${status}: ${env.node.log().slice(-3000)}`);
    },
    async cleanup() {
      await env.node.stop().catch(() => undefined);
      if (!process.env.E2E_KEEP) fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  return env;
}

/** `create -n NAME -a 127.0.0.1:PORT`; returns the IQN and port. */
export async function createTarget(env: Env, name: string): Promise<{ iqn: string; port: number }> {
  const port = await freePort();
  await env.ok(['create', '-n', name, '-a', `127.0.0.1:${port}`]);
  return { iqn: `${IQN_PREFIX}:${name}`, port };
}

export interface LunInfo {
  id: number;
  sizeBytes: number;
  usedBytes: number;
  format: string;
  file?: string;
}

export async function lunInfo(env: Env, iqn: string, lun: number): Promise<LunInfo> {
  const t = JSON.parse(await env.ok(['list', '-t', iqn, '--json'])) as { luns: LunInfo[] };
  const l = t.luns.find((x) => x.id === lun);
  if (!l) throw new Error(`LUN ${lun} missing in list -t ${iqn} --json`);
  return l;
}

/** The `LUN: N, Size: ..., Used: ..., Online: ...` line of `list -t`. */
export async function lunLine(env: Env, iqn: string, lun: number): Promise<{ size: string; used: string; online: string; line: string }> {
  const out = await env.ok(['list', '-t', iqn]);
  const line = out.split('\n').find((l) => l.startsWith(`LUN: ${lun},`));
  const m = line && /^LUN: \d+, Size: (\S+), Used: (\S+), Online: (\S+)$/.exec(line.trim());
  if (!m) throw new Error(`no LUN ${lun} line in list -t:\n${out}`);
  return { size: m[1]!, used: m[2]!, online: m[3]!, line: line! };
}

// ------------------------------------------------------------------ SCSI

export interface Sense {
  key: number;
  asc: number;
  ascq: number;
}

export function parseSense(s: Buffer | undefined): Sense | undefined {
  if (!s || s.length < 3) return undefined;
  const code = s[0]! & 0x7f;
  if (code === 0x72 || code === 0x73) return { key: s[1]! & 0x0f, asc: s[2]!, ascq: s[3]! };
  return { key: s[2]! & 0x0f, asc: s[12] ?? 0, ascq: s[13] ?? 0 };
}

function describe(r: CommandResult): string {
  const s = parseSense(r.sense);
  return `status 0x${r.status.toString(16)}${s ? ` sense ${s.key.toString(16)}/${s.asc.toString(16)}/${s.ascq.toString(16)}` : ''}`;
}

export const cdb16 = {
  read16(lba: number, blocks: number): Buffer {
    const b = Buffer.alloc(16);
    b[0] = 0x88;
    b.writeBigUInt64BE(BigInt(lba), 2);
    b.writeUInt32BE(blocks, 10);
    return b;
  },
  write16(lba: number, blocks: number, fua = false): Buffer {
    const b = Buffer.alloc(16);
    b[0] = 0x8a;
    if (fua) b[1] = 0x08;
    b.writeBigUInt64BE(BigInt(lba), 2);
    b.writeUInt32BE(blocks, 10);
    return b;
  },
  /** SYNCHRONIZE CACHE(16) of the whole LUN. */
  sync16(): Buffer {
    const b = Buffer.alloc(16);
    b[0] = 0x91;
    return b;
  },
  unmap(paramLen: number): Buffer {
    const b = Buffer.alloc(10);
    b[0] = 0x42;
    b.writeUInt16BE(paramLen, 7);
    return b;
  },
  readCapacity16(): Buffer {
    const b = Buffer.alloc(16);
    b[0] = 0x9e;
    b[1] = 0x10;
    b.writeUInt32BE(32, 10);
    return b;
  },
  testUnitReady: () => Buffer.alloc(6),
  inquiryVpd(page: number, alloc = 255): Buffer {
    return Buffer.from([0x12, 1, page, (alloc >> 8) & 0xff, alloc & 0xff, 0]);
  },
};

export interface Session {
  ini: TestInitiator;
  lun: number;
  read(lba: number, blocks: number): Promise<Buffer>;
  write(lba: number, data: Buffer, fua?: boolean): Promise<void>;
  sync(): Promise<void>;
  unmap(ranges: Array<[lba: number, blocks: number]>): Promise<void>;
  readCapacity(): Promise<{ lastLba: bigint; blockSize: number; lbpme: boolean }>;
  blockLimits(): Promise<{ maxUnmapLbaCount: number; maxUnmapDescriptors: number; maxTransferLength: number }>;
  /** Any command; the raw result (no status check). */
  raw(cdb: Buffer, opts?: { dataOut?: Buffer; readLength?: number }): Promise<CommandResult>;
  close(): Promise<void>;
}

/**
 * Log in to `iqn` at 127.0.0.1:`port` and clear the unit attentions of `lun`
 * (POWER ON etc.) with TEST UNIT READY, unless `keepUa`.
 */
export async function openSession(port: number, iqn: string, lun: number, opts: { initiatorName?: string; isid?: number; keepUa?: boolean } = {}): Promise<Session> {
  const ini = await loginTestInitiator(port, {
    targetName: iqn,
    initiatorName: opts.initiatorName ?? 'iqn.2024-01.org.e2e:thin',
    isid: Buffer.from([0x80, 0, 0, 0, 0, opts.isid ?? 1]),
    keys: { MaxBurstLength: '1048576', FirstBurstLength: '262144' },
  });
  const raw: Session['raw'] = (c, o = {}) => ini.command({ lun, cdb: c, ...o });
  const must = async (what: string, c: Buffer, o: { dataOut?: Buffer; readLength?: number } = {}) => {
    const res = await raw(c, o);
    if (res.status !== 0) throw new Error(`${what}: ${describe(res)}`);
    return res;
  };
  if (!opts.keepUa && !(await clearUnitAttentions(ini, lun))) throw new Error(`LUN ${lun} of ${iqn} does not become ready`);
  const s: Session = {
    ini,
    lun,
    raw,
    async read(lba, blocks) {
      const res = await must(`READ(16) ${lba}+${blocks}`, cdb16.read16(lba, blocks), { readLength: blocks * BLOCK });
      if (res.dataIn.length !== blocks * BLOCK) throw new Error(`READ(16) ${lba}+${blocks}: ${res.dataIn.length} bytes`);
      return res.dataIn;
    },
    async write(lba, data, fua = false) {
      await must(`WRITE(16) ${lba}+${data.length / BLOCK}`, cdb16.write16(lba, data.length / BLOCK, fua), { dataOut: data });
    },
    async sync() {
      await must('SYNCHRONIZE CACHE(16)', cdb16.sync16());
    },
    async unmap(ranges) {
      const p = Buffer.alloc(8 + 16 * ranges.length);
      p.writeUInt16BE(p.length - 2, 0);
      p.writeUInt16BE(16 * ranges.length, 2);
      ranges.forEach(([lba, n], i) => {
        p.writeBigUInt64BE(BigInt(lba), 8 + 16 * i);
        p.writeUInt32BE(n, 16 + 16 * i);
      });
      await must(`UNMAP of ${ranges.length} ranges`, cdb16.unmap(p.length), { dataOut: p });
    },
    async readCapacity() {
      const d = (await must('READ CAPACITY(16)', cdb16.readCapacity16(), { readLength: 32 })).dataIn;
      return { lastLba: d.readBigUInt64BE(0), blockSize: d.readUInt32BE(8), lbpme: (d[14]! & 0x80) !== 0 };
    },
    async blockLimits() {
      const d = (await must('INQUIRY VPD B0h', cdb16.inquiryVpd(0xb0), { readLength: 255 })).dataIn;
      if (d[1] !== 0xb0) throw new Error(`VPD page ${d[1]} instead of B0h`);
      return { maxTransferLength: d.readUInt32BE(8), maxUnmapLbaCount: d.readUInt32BE(20), maxUnmapDescriptors: d.readUInt32BE(24) };
    },
    async close() {
      if (!ini.closed) await ini.logout().catch(() => undefined);
      ini.close();
    },
  };
  return s;
}

/** Deterministic bytes (xorshift32 stream from `seed`). */
export function pattern(len: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(len);
  let x = seed >>> 0 || 1;
  for (let o = 0; o + 4 <= len; o += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b.writeUInt32LE(x >>> 0, o);
  }
  for (let o = len - (len % 4); o < len; o++) b[o] = o & 0xff;
  return b;
}

export function firstDiff(a: Buffer, b: Buffer): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i += 4096) {
    const e = Math.min(n, i + 4096);
    if (!a.subarray(i, e).equals(b.subarray(i, e))) {
      for (let j = i; j < e; j++) if (a[j] !== b[j]) return j;
    }
  }
  return a.length === b.length ? -1 : n;
}
