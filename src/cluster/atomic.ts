/**
 * Atomic file updates (DESIGN.md §4): write a temp file in the same directory,
 * fsync it, rename (or link, to refuse clobbering) over the final name, fsync
 * the directory. Readers see the old or the new content, never a mix.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { errnoCode } from './errors.js';

export async function fsyncDir(dir: string): Promise<void> {
  let fh: fs.FileHandle | undefined;
  try {
    fh = await fs.open(dir, 'r');
    await fh.sync();
  } catch (e) {
    // Some file systems do not support fsync on directories.
    const c = errnoCode(e);
    if (c !== 'EINVAL' && c !== 'ENOTSUP' && c !== 'EOPNOTSUPP' && c !== 'EISDIR') throw e;
  } finally {
    await fh?.close();
  }
}

export function tempNameFor(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

export interface AtomicWriteOptions {
  /** File mode of the new file (default 0644). */
  mode?: number;
  /** Fail with EEXIST instead of replacing an existing file. */
  noClobber?: boolean;
}

export async function writeFileAtomic(file: string, data: string | Buffer, opts: AtomicWriteOptions = {}): Promise<void> {
  const tmp = tempNameFor(file);
  const mode = opts.mode ?? 0o644;
  let published = false;
  try {
    const fh = await fs.open(tmp, 'wx', mode);
    try {
      await fh.writeFile(data);
      await fh.chmod(mode); // umask must not widen or narrow the mode (accounts are 0600)
      await fh.sync();
    } finally {
      await fh.close();
    }
    if (opts.noClobber) {
      await fs.link(tmp, file); // EEXIST if someone else published first
      published = true;
      await fs.unlink(tmp);
    } else {
      await fs.rename(tmp, file);
      published = true;
    }
    await fsyncDir(path.dirname(file));
  } catch (e) {
    if (!published || opts.noClobber) await fs.unlink(tmp).catch(() => undefined);
    throw e;
  }
}

export async function writeJsonAtomic(file: string, value: unknown, opts: AtomicWriteOptions = {}): Promise<void> {
  await writeFileAtomic(file, JSON.stringify(value, null, 2) + '\n', opts);
}
