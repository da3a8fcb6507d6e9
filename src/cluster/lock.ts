/**
 * Record locks in ISCSI_ROOT (DESIGN.md §4) so that concurrent CLI
 * invocations, the daemon and other nodes never interleave read-modify-write
 * cycles on a record.
 *
 * A lock is a file created with O_CREAT|O_EXCL (atomic on local file systems
 * and NFSv3+) holding JSON: host ID, pid, the pid's start time, a random
 * nonce and the acquisition time. Node has no flock(2), and flock is not
 * reliable on every cluster file system anyway.
 *
 * Stale locks (holder crashed):
 *  - same host: the pid no longer exists, or exists with another start time
 *    (pid reuse), so the lock is stale at once;
 *  - another host: we cannot see its processes, so the lock is stale once
 *    its file is older than `staleMs` (default 60 s). Critical sections are
 *    short (no I/O proportional to data), far below that.
 * Breaking a stale lock renames it to a unique name first (only one breaker
 * can win the rename), then checks that what it moved is the lock it judged
 * stale; if a live lock was moved by mistake it is linked back.
 */
import fs from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { ClusterError, errnoCode } from './errors.js';

export interface LockOptions {
  hostId: string;
  /** Give up after this long (default 10 s). */
  timeoutMs?: number;
  /** Locks of other hosts older than this are stale (default 60 s). */
  staleMs?: number;
  /** Human description for the timeout message, e.g. "target iqn...". */
  what?: string;
}

interface LockInfo {
  host: string;
  pid: number;
  pidStart?: string;
  nonce: string;
  acquired: string;
}

export interface Lock {
  readonly file: string;
  release(): Promise<void>;
}

/** Start time of a process (field 22 of /proc/PID/stat), to detect pid reuse. */
function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19]; // field 22 overall; fields after "(comm)" start at field 3
  } catch {
    return undefined;
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return errnoCode(e) === 'EPERM';
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function readLock(file: string): Promise<{ raw: string; info: LockInfo | null; mtimeMs: number } | null> {
  try {
    const [raw, st] = await Promise.all([fs.readFile(file, 'utf8'), fs.stat(file)]);
    let info: LockInfo | null = null;
    try {
      const v = JSON.parse(raw) as LockInfo;
      if (v && typeof v.pid === 'number' && typeof v.host === 'string' && typeof v.nonce === 'string') info = v;
    } catch {
      info = null;
    }
    return { raw, info, mtimeMs: st.mtimeMs };
  } catch (e) {
    if (errnoCode(e) === 'ENOENT') return null;
    throw e;
  }
}

function isStale(cur: { info: LockInfo | null; mtimeMs: number }, hostId: string, staleMs: number): boolean {
  const age = Date.now() - cur.mtimeMs;
  if (!cur.info) return age > 5000; // creator died between create and write, or garbage
  if (cur.info.host === hostId) {
    if (cur.info.pid === process.pid) return false; // our own (another in-process holder)
    if (!pidAlive(cur.info.pid)) return true;
    const start = processStartTime(cur.info.pid);
    return cur.info.pidStart !== undefined && start !== undefined && start !== cur.info.pidStart;
  }
  return age > staleMs;
}

async function breakStale(file: string, staleRaw: string): Promise<void> {
  const moved = `${file}.stale.${randomBytes(6).toString('hex')}`;
  try {
    await fs.rename(file, moved);
  } catch (e) {
    if (errnoCode(e) === 'ENOENT') return; // someone else broke or released it
    throw e;
  }
  const raw = await fs.readFile(moved, 'utf8').catch(() => '');
  if (raw !== staleRaw) {
    // We moved a fresh lock that replaced the stale one: put it back.
    await fs.link(moved, file).catch(() => undefined);
  }
  await fs.unlink(moved).catch(() => undefined);
}

export async function acquireLock(file: string, opts: LockOptions): Promise<Lock> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const staleMs = opts.staleMs ?? 60_000;
  const deadline = Date.now() + timeoutMs;
  const info: LockInfo = {
    host: opts.hostId,
    pid: process.pid,
    nonce: randomBytes(8).toString('hex'),
    acquired: new Date().toISOString(),
  };
  const start = processStartTime(process.pid);
  if (start !== undefined) info.pidStart = start;
  const content = JSON.stringify(info) + '\n';
  let delay = 5;
  for (;;) {
    try {
      const fh = await fs.open(file, 'wx', 0o644);
      try {
        await fh.writeFile(content);
      } finally {
        await fh.close();
      }
      return {
        file,
        release: async () => {
          const cur = await readLock(file).catch(() => null);
          if (cur && cur.raw === content) await fs.unlink(file).catch(() => undefined);
        },
      };
    } catch (e) {
      if (errnoCode(e) !== 'EEXIST') throw e;
    }
    const cur = await readLock(file);
    if (cur && isStale(cur, opts.hostId, staleMs)) {
      await breakStale(file, cur.raw);
      continue;
    }
    if (Date.now() >= deadline) {
      const holder = cur?.info ? ` (held by pid ${cur.info.pid} on host ${cur.info.host} since ${cur.info.acquired})` : '';
      throw new ClusterError(
        'ISCSI_ERR_LOCK_TIMEOUT',
        `${opts.what ?? file} is locked by another operation${holder}; try again, or remove ${file} if that process is gone`,
      );
    }
    await sleep(delay + Math.floor(Math.random() * delay));
    delay = Math.min(delay * 2, 100);
  }
}

export async function withLock<T>(file: string, opts: LockOptions, fn: () => Promise<T>): Promise<T> {
  const lock = await acquireLock(file, opts);
  try {
    return await fn();
  } finally {
    await lock.release();
  }
}
