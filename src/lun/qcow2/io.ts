/**
 * Positioned file I/O for the qcow2 store (DESIGN.md §8): callback
 * `fs.read` / `fs.write` / `fs.writev` with explicit positions, looping on
 * short transfers. Callback forms for the hot path, promise forms for the
 * rest. A read past the end of the file fills the remainder with zeros (a
 * sparse image's unwritten tail reads as zeros).
 */
import fs from 'node:fs';
import { spawn } from 'node:child_process';
import { StoreError } from '../raw-store.js';

export type Done = (err: Error | null) => void;

export function readFull(fd: number, buf: Buffer, off: number, len: number, pos: number, cb: Done): void {
  fs.read(fd, buf, off, len, pos, (err, n) => {
    if (err) return cb(err);
    if (n === len) return cb(null);
    if (n === 0) {
      buf.fill(0, off, off + len);
      return cb(null);
    }
    readFull(fd, buf, off + n, len - n, pos + n, cb);
  });
}

export function writeFull(fd: number, buf: Buffer, off: number, len: number, pos: number, cb: Done): void {
  fs.write(fd, buf, off, len, pos, (err, n) => {
    if (err) return cb(err);
    if (n === len) return cb(null);
    if (n <= 0) return cb(new StoreError('ENOSPC', `no space left writing at ${pos}`));
    writeFull(fd, buf, off + n, len - n, pos + n, cb);
  });
}

export function pRead(fd: number, buf: Buffer, off: number, len: number, pos: number): Promise<void> {
  return new Promise((resolve, reject) => readFull(fd, buf, off, len, pos, (e) => (e ? reject(e) : resolve())));
}

export function pWrite(fd: number, buf: Buffer, off: number, len: number, pos: number): Promise<void> {
  return new Promise((resolve, reject) => writeFull(fd, buf, off, len, pos, (e) => (e ? reject(e) : resolve())));
}

/** Gathered write of `bufs` at `pos`, looping on short writes. */
export function pWritev(fd: number, bufs: Buffer[], pos: number): Promise<void> {
  if (bufs.length === 1) return pWrite(fd, bufs[0]!, 0, bufs[0]!.length, pos);
  return new Promise((resolve, reject) => {
    const step = (list: Buffer[], at: number): void => {
      fs.writev(fd, list, at, (err, n) => {
        if (err) return reject(err);
        let total = 0;
        for (const b of list) total += b.length;
        if (n === total) return resolve();
        if (n <= 0) return reject(new StoreError('ENOSPC', `no space left writing at ${at}`));
        let skip = n;
        const rest: Buffer[] = [];
        for (const b of list) {
          if (skip >= b.length) skip -= b.length;
          else {
            rest.push(skip > 0 ? b.subarray(skip) : b);
            skip = 0;
          }
        }
        step(rest, at + n);
      });
    };
    step(bufs, pos);
  });
}

export function pFdatasync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.fdatasync(fd, (err) => (err ? reject(err) : resolve())));
}

export function pFsync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.fsync(fd, (err) => (err ? reject(err) : resolve())));
}

export function pFstat(fd: number): Promise<fs.Stats> {
  return new Promise((resolve, reject) => fs.fstat(fd, (err, st) => (err ? reject(err) : resolve(st))));
}

export function pFtruncate(fd: number, len: number): Promise<void> {
  return new Promise((resolve, reject) => fs.ftruncate(fd, len, (err) => (err ? reject(err) : resolve())));
}

export function pOpen(p: string, flags: string, mode?: number): Promise<number> {
  return new Promise((resolve, reject) => fs.open(p, flags, mode, (err, fd) => (err ? reject(err) : resolve(fd))));
}

export function pClose(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.close(fd, (err) => (err ? reject(err) : resolve())));
}

/**
 * Punch holes with util-linux `fallocate --punch-hole --keep-size`, run on
 * our own descriptor (child fd 3; Node has no fallocate(2) binding, as in
 * the raw store). One `sh` runs fallocate for up to 256 ranges, so a batch
 * costs one spawn from Node. Resolves true when all were punched, false
 * when the helper is missing or the file system refuses (the caller stops
 * trying and only re-uses the clusters).
 */
export async function punchRanges(fd: number, ranges: Array<[number, number]>, command = 'fallocate'): Promise<boolean> {
  const script =
    'f=$1; shift; while [ $# -gt 1 ]; do "$f" --punch-hole --keep-size --offset "$1" --length "$2" /proc/self/fd/3 || exit 1; shift 2; done';
  for (let i = 0; i < ranges.length; i += 256) {
    const args = ranges.slice(i, i + 256).flatMap(([o, l]) => [String(o), String(l)]);
    const ok = await new Promise<boolean>((resolve) => {
      let child;
      try {
        child = spawn('sh', ['-c', script, 'sh', command, ...args], { stdio: ['ignore', 'ignore', 'ignore', fd] });
      } catch {
        resolve(false);
        return;
      }
      child.on('error', () => resolve(false));
      child.on('close', (code) => resolve(code === 0));
    });
    if (!ok) return false;
  }
  return true;
}
