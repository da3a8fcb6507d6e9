/**
 * Open a LUN image by its recorded format (DESIGN.md §2 src/lun): 'raw'
 * (raw-store.ts) or 'qcow2' (qcow2/, the thin image store).
 */
import type { BlockStore } from './block-store.js';
import { createRawStore, openRawStore, StoreError } from './raw-store.js';
import { createQcow2Store, openQcow2Store, type LeakReport } from './qcow2/index.js';

export type ImageFormat = 'raw' | 'qcow2';

export const IMAGE_FORMATS: readonly ImageFormat[] = ['raw', 'qcow2'];

/** Creation options that apply to some formats only (ignored by 'raw'). */
export interface CreateStoreOptions {
  /** qcow2 cluster size in bytes (64 KiB default; 512 B to 2 MiB, a power of two). */
  clusterSize?: number;
  /** qcow2 backing file (snapshot chains): name relative to the new image's directory, or absolute. */
  backingFile?: string;
  backingFormat?: 'raw' | 'qcow2';
}

export interface OpenStoreOptions {
  /** qcow2: leaked clusters were reclaimed because the image had not been closed cleanly (qcow2/reclaim-leaks.ts). */
  onLeakReport?: (report: LeakReport) => void;
}

export async function openStore(filePath: string, format: string, options: OpenStoreOptions = {}): Promise<BlockStore> {
  switch (format) {
    case 'raw':
      return openRawStore(filePath);
    case 'qcow2':
      return openQcow2Store(filePath, options.onLeakReport ? { onLeakReport: options.onLeakReport } : {});
    default:
      throw new StoreError('ISCSI_ERR_BAD_FORMAT', `unsupported image format '${format}' for ${filePath}`);
  }
}

export async function createStore(
  filePath: string,
  format: string,
  sizeBytes: number,
  options: CreateStoreOptions = {},
): Promise<BlockStore> {
  switch (format) {
    case 'raw':
      return createRawStore(filePath, sizeBytes);
    case 'qcow2':
      return createQcow2Store(filePath, sizeBytes, options);
    default:
      throw new StoreError('ISCSI_ERR_BAD_FORMAT', `unsupported image format '${format}' for ${filePath}`);
  }
}
