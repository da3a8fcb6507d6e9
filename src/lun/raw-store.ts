/**
 * Raw sparse-file BlockStore (DESIGN.md §3, §6, §8).
 *
 * I/O uses the callback `fs.read` / `fs.write` with explicit positions into the
 * caller's buffers (DESIGN.md §8: `fs.promises` file handles are several times
 * slower), wrapped in promises, looping on short transfers.
 *
 * Durability (DESIGN.md §6, block-store.ts): a plain write returns once the data
 * is in the page cache; `fua` writes and `flush()` call fdatasync(2) before they
 * resolve.
 *
 * Deallocation (discard / writeZeroes with deallocate). Node has no
 * fallocate(2) binding, so without a native addon the choices are:
 *   1. A range that reaches the end of the image is deallocated exactly with
 *      ftruncate(2) down to the range start and back up to the logical size.
 *      This is what a whole-device discard (mkfs, blkdiscard) produces and
 *      costs two syscalls.
 *   2. Any other range is punched with util-linux `fallocate --punch-hole
 *      --keep-size` (util-linux is Essential on Debian), run on our own file
 *      descriptor passed as the child's fd 3 so a rename of the image cannot
 *      redirect it. One spawn costs about 3 ms, which is acceptable for UNMAP,
 *      an infrequent command; spawns are limited to a few at a time.
 *   3. When the helper is missing or the file system refuses hole punching
 *      (EOPNOTSUPP), the range is zero-filled instead. That is correct (LBPRZ=1:
 *      reads return zeros) but not thin; to avoid allocating space that is
 *      already a hole, each 1 MiB chunk is read first and only written when it
 *      is not already all zeros (reading a hole costs no disk I/O).
 *   The qcow2 thin store (own issue) has real deallocation metadata.
 *
 * Allocation status: Node cannot reach lseek(SEEK_DATA/SEEK_HOLE) either, so
 * `allocation()` is conservative and honest: a file with no allocated blocks
 * reports the whole range deallocated, anything else reports it mapped
 * ("mapped" is always a truthful answer for data that reads back correctly;
 * SBC-4 §5.7 GET LBA STATUS lets a device report mapped for a zero range).
 *
 * Errors: native errors are passed through unchanged, so a full disk surfaces
 * as an Error with `code === 'ENOSPC'` that the SCSI layer maps to sense data;
 * nothing here throws synchronously or crashes the process.
 */
import fs from 'node:fs';
import { spawn } from 'node:child_process';
import type { AllocationExtent, BlockStore } from './block-store.js';

/** Error with a stable code (DESIGN.md §9). */
export class StoreError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'StoreError';
  }
}

export interface RawStoreOptions {
  /**
   * Hole punching: 'auto' (default) tries `fallocate --punch-hole` and falls
   * back to zero-fill if it is unavailable; 'zero-fill' never spawns.
   */
  punchHole?: 'auto' | 'zero-fill';
  /** Name or path of the util-linux fallocate program (tests). */
  fallocateCommand?: string;
}

const ZERO_CHUNK = 1 << 20;
const ZEROES = Buffer.alloc(ZERO_CHUNK);
/** Files smaller than this may keep data inline in the inode (st_blocks 0). */
const INLINE_DATA_LIMIT = 64 * 1024;
const MAX_PUNCH_SPAWNS = 4;

function pRead(fd: number, buf: Buffer, off: number, len: number, pos: number): Promise<number> {
  return new Promise((resolve, reject) => {
    fs.read(fd, buf, off, len, pos, (err, n) => (err ? reject(err) : resolve(n)));
  });
}

function pWrite(fd: number, buf: Buffer, off: number, len: number, pos: number): Promise<number> {
  return new Promise((resolve, reject) => {
    fs.write(fd, buf, off, len, pos, (err, n) => (err ? reject(err) : resolve(n)));
  });
}

function pFdatasync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.fdatasync(fd, (err) => (err ? reject(err) : resolve())));
}

function pFtruncate(fd: number, len: number): Promise<void> {
  return new Promise((resolve, reject) => fs.ftruncate(fd, len, (err) => (err ? reject(err) : resolve())));
}

function pFstat(fd: number): Promise<fs.Stats> {
  return new Promise((resolve, reject) => fs.fstat(fd, (err, st) => (err ? reject(err) : resolve(st))));
}

function pClose(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.close(fd, (err) => (err ? reject(err) : resolve())));
}

function pOpen(p: string, flags: string, mode?: number): Promise<number> {
  return new Promise((resolve, reject) => fs.open(p, flags, mode, (err, fd) => (err ? reject(err) : resolve(fd))));
}

function isAllZero(buf: Buffer, len: number): boolean {
  // Compare in 1 MiB slices against the shared zero buffer (memcmp speed).
  return buf.compare(ZEROES, 0, len, 0, len) === 0;
}

function checkSize(n: number, what: string): void {
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new StoreError('ISCSI_ERR_BAD_SIZE', `${what} must be a non-negative integer number of bytes, got ${n}`);
  }
}

export class RawFileStore implements BlockStore {
  readonly format = 'raw';
  private size: number;
  private closed = false;
  private inflight = 0;
  private drained: (() => void) | null = null;
  /** Serialises operations that change the file length (resize, tail discard). */
  private lengthChain: Promise<unknown> = Promise.resolve();
  private punchMode: 'unknown' | 'spawn' | 'zero-fill';
  private punchSpawns = 0;
  private punchWaiters: Array<() => void> = [];
  private readonly fallocateCommand: string;

  private constructor(
    private readonly fd: number,
    readonly path: string,
    size: number,
    opts: RawStoreOptions,
  ) {
    this.size = size;
    this.punchMode = opts.punchHole === 'zero-fill' ? 'zero-fill' : 'unknown';
    this.fallocateCommand = opts.fallocateCommand ?? 'fallocate';
  }

  /** Wrap an already open descriptor (tests: e.g. /dev/full). The store owns `fd`. */
  static fromFd(fd: number, filePath: string, sizeBytes: number, opts: RawStoreOptions = {}): RawFileStore {
    checkSize(sizeBytes, 'size');
    return new RawFileStore(fd, filePath, sizeBytes, opts);
  }

  get sizeBytes(): number {
    return this.size;
  }

  /** True while hole punching is known to work or not yet tried. */
  get canPunchHoles(): boolean {
    return this.punchMode !== 'zero-fill';
  }

  async read(buf: Buffer, offset: number): Promise<void> {
    return this.guard(async () => {
      this.checkRange(offset, buf.length);
      let done = 0;
      while (done < buf.length) {
        const n = await pRead(this.fd, buf, done, buf.length - done, offset + done);
        if (n === 0) {
          // Past the end of a (sparse or shortened) file: reads as zeros.
          buf.fill(0, done);
          return;
        }
        done += n;
      }
    });
  }

  async write(buf: Buffer, offset: number, fua: boolean): Promise<void> {
    return this.guard(async () => {
      this.checkRange(offset, buf.length);
      await this.writeAll(buf, 0, buf.length, offset);
      if (fua) await pFdatasync(this.fd);
    });
  }

  async flush(): Promise<void> {
    return this.guard(() => pFdatasync(this.fd));
  }

  async discard(offset: number, length: number): Promise<void> {
    return this.guard(() => this.deallocate(offset, length));
  }

  async writeZeroes(offset: number, length: number, deallocate: boolean): Promise<void> {
    return this.guard(async () => {
      if (deallocate) return this.deallocate(offset, length);
      this.checkRange(offset, length);
      let pos = offset;
      const end = offset + length;
      while (pos < end) {
        const n = Math.min(ZERO_CHUNK, end - pos);
        await this.writeAll(ZEROES, 0, n, pos);
        pos += n;
      }
    });
  }

  async allocation(offset: number, length: number): Promise<AllocationExtent[]> {
    return this.guard(async () => {
      this.checkRange(offset, length);
      if (length === 0) return [];
      const st = await pFstat(this.fd);
      const mapped = !(st.blocks === 0 && this.size >= INLINE_DATA_LIMIT);
      return [{ offset, length, mapped }];
    });
  }

  async allocatedBytes(): Promise<number> {
    return this.guard(async () => (await pFstat(this.fd)).blocks * 512);
  }

  async resize(newSizeBytes: number): Promise<void> {
    return this.guard(() =>
      this.withLength(async () => {
        checkSize(newSizeBytes, 'new size');
        if (newSizeBytes < this.size) {
          throw new StoreError(
            'ISCSI_ERR_SHRINK',
            `cannot shrink ${this.path} from ${this.size} to ${newSizeBytes} bytes: only growing is supported`,
          );
        }
        if (newSizeBytes === this.size) return;
        await pFtruncate(this.fd, newSizeBytes);
        await pFdatasync(this.fd);
        this.size = newSizeBytes;
      }),
    );
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.inflight > 0) await new Promise<void>((r) => (this.drained = r));
    await pClose(this.fd);
  }

  // ---- internals -------------------------------------------------------

  private async guard<T>(fn: () => Promise<T>): Promise<T> {
    if (this.closed) throw new StoreError('ISCSI_ERR_STORE_CLOSED', `store ${this.path} is closed`);
    this.inflight++;
    try {
      return await fn();
    } finally {
      if (--this.inflight === 0 && this.drained) {
        const d = this.drained;
        this.drained = null;
        d();
      }
    }
  }

  private checkRange(offset: number, length: number): void {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > this.size) {
      throw new StoreError(
        'ISCSI_ERR_OUT_OF_RANGE',
        `range offset=${offset} length=${length} is outside ${this.path} (size ${this.size})`,
      );
    }
  }

  private async writeAll(buf: Buffer, off: number, len: number, pos: number): Promise<void> {
    let done = 0;
    while (done < len) {
      const n = await pWrite(this.fd, buf, off + done, len - done, pos + done);
      if (n <= 0) {
        // A zero-length write without an error: treat as out of space so the
        // caller sees a mappable code instead of looping forever.
        throw new StoreError('ENOSPC', `no space left writing ${this.path} at ${pos + done}`);
      }
      done += n;
    }
  }

  private withLength<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lengthChain.then(fn, fn);
    this.lengthChain = run.catch(() => undefined);
    return run;
  }

  private async deallocate(offset: number, length: number): Promise<void> {
    this.checkRange(offset, length);
    if (length === 0) return;
    if (offset + length === this.size) {
      // Option 1: exact deallocation of a tail range with two ftruncate calls.
      await this.withLength(async () => {
        const size = this.size;
        if (offset + length !== size) return this.deallocateMiddle(offset, length);
        await pFtruncate(this.fd, offset);
        await pFtruncate(this.fd, size);
      });
      return;
    }
    await this.deallocateMiddle(offset, length);
  }

  private async deallocateMiddle(offset: number, length: number): Promise<void> {
    if (this.punchMode !== 'zero-fill') {
      const ok = await this.punch(offset, length);
      if (ok) {
        this.punchMode = 'spawn';
        return;
      }
      this.punchMode = 'zero-fill';
    }
    await this.zeroFillSparse(offset, length);
  }

  /** Option 2: util-linux fallocate on our descriptor. Resolves false when unsupported. */
  private async punch(offset: number, length: number): Promise<boolean> {
    while (this.punchSpawns >= MAX_PUNCH_SPAWNS) await new Promise<void>((r) => this.punchWaiters.push(r));
    this.punchSpawns++;
    try {
      return await new Promise<boolean>((resolve, reject) => {
        let stderr = '';
        const child = spawn(
          this.fallocateCommand,
          ['--punch-hole', '--keep-size', '--offset', String(offset), '--length', String(length), '/proc/self/fd/3'],
          { stdio: ['ignore', 'ignore', 'pipe', this.fd] },
        );
        child.stderr?.setEncoding('utf8');
        child.stderr?.on('data', (d: string) => {
          if (stderr.length < 4096) stderr += d;
        });
        child.on('error', (err: NodeJS.ErrnoException) => {
          // ENOENT / EACCES: helper not installed or not runnable.
          if (err.code === 'ENOENT' || err.code === 'EACCES') resolve(false);
          else reject(err);
        });
        child.on('close', (code) => {
          if (code === 0) return resolve(true);
          if (/not supported|Operation not permitted|unrecognized option|invalid option/i.test(stderr)) return resolve(false);
          if (/No space left/i.test(stderr)) {
            return reject(new StoreError('ENOSPC', `no space left punching a hole in ${this.path}`));
          }
          // Unknown failure: fall back to zero-fill, which is always correct.
          resolve(false);
        });
      });
    } finally {
      this.punchSpawns--;
      this.punchWaiters.shift()?.();
    }
  }

  /** Option 3: zero-fill, skipping chunks that already read as zeros. */
  private async zeroFillSparse(offset: number, length: number): Promise<void> {
    const scratch = Buffer.allocUnsafe(Math.min(ZERO_CHUNK, length));
    let pos = offset;
    const end = offset + length;
    while (pos < end) {
      const n = Math.min(ZERO_CHUNK, end - pos);
      let got = 0;
      while (got < n) {
        const r = await pRead(this.fd, scratch, got, n - got, pos + got);
        if (r === 0) {
          scratch.fill(0, got, n);
          break;
        }
        got += r;
      }
      if (!isAllZero(scratch, n)) await this.writeAll(ZEROES, 0, n, pos);
      pos += n;
    }
  }
}

/** Open an existing raw image; its logical size is the file length. */
export async function openRawStore(filePath: string, opts: RawStoreOptions = {}): Promise<RawFileStore> {
  const fd = await pOpen(filePath, 'r+');
  try {
    const st = await pFstat(fd);
    if (!st.isFile()) {
      throw new StoreError('ISCSI_ERR_BAD_IMAGE', `${filePath} is not a regular file`);
    }
    return RawFileStore.fromFd(fd, filePath, st.size, opts);
  } catch (e) {
    await pClose(fd).catch(() => undefined);
    throw e;
  }
}

/**
 * Create a new sparse raw image of `sizeBytes` (fails with EEXIST if the file
 * exists). The file is created mode 0600, sized with ftruncate and fsynced;
 * the caller fsyncs the directory when it publishes the image.
 */
export async function createRawStore(filePath: string, sizeBytes: number, opts: RawStoreOptions = {}): Promise<RawFileStore> {
  checkSize(sizeBytes, 'size');
  const fd = await pOpen(filePath, 'wx+', 0o600);
  try {
    await pFtruncate(fd, sizeBytes);
    await new Promise<void>((resolve, reject) => fs.fsync(fd, (err) => (err ? reject(err) : resolve())));
    return RawFileStore.fromFd(fd, filePath, sizeBytes, opts);
  } catch (e) {
    await pClose(fd).catch(() => undefined);
    await fs.promises.unlink(filePath).catch(() => undefined);
    throw e;
  }
}
