/**
 * qcow2 thin image store (issue 3): see qcow2-store.ts for the design.
 *
 * API for snapshot chains (src/snapshots):
 *   createQcow2Image(file, size | undefined, { backingFile, backingFormat })  new top over a parent
 *   openQcow2Store(file, { readOnly, backing })   a chain; reads fall through to the parent
 *   store.backing / backingFile / backingPath / backingFormat   the parent
 *   store.layerAllocation(off, len)   'data' | 'zero' | 'unallocated' of this layer alone
 *   setQcow2BackingFile(file, parent | null, format)   rebase without copying (merges)
 *   readQcow2Header(file), probeImageFormat(file), imageSize(file)
 */
export {
  Qcow2Store,
  openQcow2Store,
  readQcow2Header,
  probeImageFormat,
  resolveBackingPath,
  type Qcow2OpenOptions,
  type LayerExtent,
  type LayerState,
} from './qcow2-store.js';
export { createQcow2Image, createQcow2Store, imageSize, setQcow2BackingFile, type Qcow2CreateOptions } from './create.js';
export type { Qcow2Header } from './format.js';
export { reclaimLeaks, type LeakReport, type ReclaimOptions } from './reclaim-leaks.js';
export { openMarkerPath, removeOpenMarker } from './open-marker.js';
