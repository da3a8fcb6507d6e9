/**
 * LUN image files of the ISCSI_ROOT store (DESIGN.md §4): which files a LUN
 * owns, the formats and cluster sizes `lun-add` accepts, and the checks an
 * image must pass before `lun-add --image` adopts it.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { ClusterError, errnoCode } from './errors.js';
import { TiB } from './validate.js';
import type { LunRecord } from './records.js';
import { IMAGE_FORMATS, type ImageFormat } from '../lun/open-store.js';
import { openQcow2Store, probeImageFormat } from '../lun/qcow2/index.js';

/** Raw images are plain sparse files: ext4 caps a file at 16 TiB. qcow2 LUNs may be larger. */
export const MAX_RAW_LUN_SIZE = 16 * TiB;

/** qcow2 cluster sizes `--cluster-size` accepts (issue 3: 64 KiB default to 2 MiB; QEMU allows 512 B and up). */
export const DEFAULT_CLUSTER_SIZE = 64 * 1024;
const MIN_CLUSTER_SIZE = 4096;
const MAX_CLUSTER_SIZE = 2 * 1024 * 1024;

/** `--format qcow2|raw`. */
export function parseImageFormat(text: string | undefined): ImageFormat | undefined {
  if (text === undefined) return undefined;
  const f = text.trim().toLowerCase();
  if (!(IMAGE_FORMATS as readonly string[]).includes(f)) {
    throw new ClusterError('ISCSI_ERR_BAD_FORMAT', `image format '${text}' is not supported: use qcow2 (thin, snapshots; the default) or raw`);
  }
  return f as ImageFormat;
}

/** `--cluster-size 64K`: a power of two from 4K to 2M (qcow2 spec: cluster_bits 9..21; below 4 KiB every page write would be split). */
export function parseClusterSize(text: string | number | undefined): number {
  if (text === undefined) return DEFAULT_CLUSTER_SIZE;
  const m = /^\s*([0-9]+)\s*([km]?)(?:i?b)?\s*$/i.exec(String(text));
  const n = m ? Number(m[1]) * (m[2]!.toLowerCase() === 'k' ? 1024 : m[2]!.toLowerCase() === 'm' ? 1024 * 1024 : 1) : NaN;
  if (!Number.isSafeInteger(n) || n < MIN_CLUSTER_SIZE || n > MAX_CLUSTER_SIZE || (n & (n - 1)) !== 0) {
    throw new ClusterError('ISCSI_ERR_BAD_CLUSTER_SIZE', `cluster size '${text}' is not valid: use a power of two from 4K to 2M (default 64K)`);
  }
  return n;
}

/** A LUN's new size must be a whole number of its logical blocks (SBC-3 §4.4). */
export function assertWholeBlocks(lun: Pick<LunRecord, 'id' | 'blockSize'>, sizeBytes: number): void {
  if (sizeBytes % lun.blockSize !== 0) {
    throw new ClusterError('ISCSI_ERR_BAD_SIZE', `size ${sizeBytes} is not a multiple of the ${lun.blockSize}-byte block size of LUN ${lun.id}`);
  }
}

/** Every image file of a LUN: the top and its snapshots (src/snapshots). */
export function lunImageFiles(lun: Pick<LunRecord, 'file' | 'snapshots'>): string[] {
  return [lun.file, ...(lun.snapshots ?? []).map((s) => s.file)];
}

export interface AdoptedImage {
  path: string;
  format: ImageFormat;
  sizeBytes: number;
  clusterSize?: number;
}

function bad(file: string, why: string): ClusterError {
  return new ClusterError('ISCSI_ERR_BAD_IMAGE', `cannot adopt ${file}: ${why}`);
}

/**
 * `lun-add --image FILE`: FILE must be a regular qcow2 or raw image without a
 * backing file that our store opens for writing, of a whole number of blocks.
 */
export async function inspectAdoptedImage(file: string, blockSize: number): Promise<AdoptedImage> {
  const abs = path.resolve(file);
  let st;
  try {
    st = await fs.stat(abs);
  } catch (e) {
    if (errnoCode(e) === 'ENOENT') throw bad(file, 'no such file');
    throw bad(file, (e as Error).message);
  }
  if (!st.isFile()) throw bad(file, 'not a regular file');
  const format = await probeImageFormat(abs);
  let sizeBytes: number;
  let clusterSize: number | undefined;
  if (format === 'raw') {
    sizeBytes = st.size;
    if (sizeBytes > MAX_RAW_LUN_SIZE) throw bad(file, 'raw images are at most 16T');
  } else {
    let img;
    try {
      img = await openQcow2Store(abs, { backing: 'none', writebackIntervalMs: 0 });
    } catch (e) {
      throw bad(file, (e as Error).message);
    }
    try {
      if (img.backingFile) {
        throw bad(file, `it has a backing file (${img.backingFile}); flatten it first (qemu-img convert -O qcow2 ${file} NEW) and adopt the copy`);
      }
      if (img.readOnly) {
        throw bad(file, 'it can only be opened read-only (internal snapshots, or marked dirty or corrupt: run qemu-img check -r all, or convert it)');
      }
      sizeBytes = img.sizeBytes;
      clusterSize = img.clusterSize;
    } finally {
      await img.close();
    }
  }
  if (sizeBytes === 0) throw bad(file, 'the image is empty');
  if (sizeBytes % blockSize !== 0) throw bad(file, `its size ${sizeBytes} is not a multiple of the ${blockSize}-byte block size`);
  return { path: abs, format, sizeBytes, ...(clusterSize ? { clusterSize } : {}) };
}
