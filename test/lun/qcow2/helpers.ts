/**
 * Test helpers for the qcow2 store: temp dirs, a seeded PRNG, qemu-img.
 * qemu-img comes from Debian's qemu-utils; when it is missing we try
 * test/e2e/lib/install-deps.sh once (needs root or sudo), and the tests
 * that need it are skipped if that fails.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const REPO = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../..');

let qemuChecked: boolean | null = null;

/** True when qemu-img is available (installing qemu-utils if possible). */
export function haveQemuImg(): boolean {
  if (qemuChecked !== null) return qemuChecked;
  const probe = () => spawnSync('qemu-img', ['--version'], { stdio: 'ignore' }).status === 0;
  if (!probe()) {
    spawnSync('bash', [path.join(REPO, 'test/e2e/lib/install-deps.sh')], { stdio: 'ignore', timeout: 600_000 });
  }
  qemuChecked = probe();
  return qemuChecked;
}

export function qemuImg(...args: string[]): string {
  return execFileSync('qemu-img', args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
}

export interface CheckResult {
  /** qemu-img check exit status: 0 clean, 3 leaks only, 2 corruptions, 1 error. */
  status: number;
  corruptions: number;
  leaks: number;
  checkErrors: number;
  json: Record<string, unknown>;
  stderr: string;
}

export function qemuCheck(file: string): CheckResult {
  const r = spawnSync('qemu-img', ['check', '--output=json', file], { encoding: 'utf8' });
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(r.stdout) as Record<string, unknown>;
  } catch {
    /* no JSON on hard errors */
  }
  return {
    status: r.status ?? -1,
    corruptions: Number(json['corruptions'] ?? 0),
    leaks: Number(json['leaks'] ?? 0),
    checkErrors: Number(json['check-errors'] ?? 0),
    json,
    stderr: r.stderr + r.stdout,
  };
}

export function qemuInfo(file: string): Record<string, unknown> {
  return JSON.parse(qemuImg('info', '--output=json', file)) as Record<string, unknown>;
}

export function tmpDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** xorshift128+ style PRNG, deterministic per seed. */
export function rng(seed: number): () => number {
  let a = seed >>> 0 || 1;
  let b = (seed * 2654435761) >>> 0 || 2;
  return () => {
    let t = a ^ (a << 11);
    a = b;
    b = (b ^ (b >>> 19) ^ (t ^ (t >>> 8))) >>> 0;
    t = b;
    return t / 4294967296;
  };
}

export function randomBytes(len: number, next: () => number): Buffer {
  const b = Buffer.allocUnsafe(len);
  for (let i = 0; i < len; i += 4) {
    const v = (next() * 4294967296) >>> 0;
    b[i] = v & 0xff;
    if (i + 1 < len) b[i + 1] = (v >>> 8) & 0xff;
    if (i + 2 < len) b[i + 2] = (v >>> 16) & 0xff;
    if (i + 3 < len) b[i + 3] = v >>> 24;
  }
  return b;
}

/** A buffer filled with a recognisable pattern. */
export function pattern(len: number, seed: number): Buffer {
  const b = Buffer.alloc(len);
  for (let i = 0; i < len; i++) b[i] = (i * 31 + seed * 7 + (i >> 9)) & 0xff;
  return b;
}
