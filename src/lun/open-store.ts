/**
 * Open a LUN image by its recorded format (DESIGN.md §2 src/lun). Only 'raw'
 * exists today; the qcow2 thin store (own issue) adds its case here.
 */
import type { BlockStore } from './block-store.js';
import { createRawStore, openRawStore, StoreError } from './raw-store.js';

export type ImageFormat = 'raw';

export const IMAGE_FORMATS: readonly ImageFormat[] = ['raw'];

export async function openStore(filePath: string, format: string): Promise<BlockStore> {
  switch (format) {
    case 'raw':
      return openRawStore(filePath);
    default:
      throw new StoreError('ISCSI_ERR_BAD_FORMAT', `unsupported image format '${format}' for ${filePath}`);
  }
}

export async function createStore(filePath: string, format: string, sizeBytes: number): Promise<BlockStore> {
  switch (format) {
    case 'raw':
      return createRawStore(filePath, sizeBytes);
    default:
      throw new StoreError('ISCSI_ERR_BAD_FORMAT', `unsupported image format '${format}' for ${filePath}`);
  }
}
