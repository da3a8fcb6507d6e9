/**
 * One logical unit as the SCSI layer sees it: its definition, mode
 * parameters, unit attentions, block limits and the LBA range lock.
 */
import type { LunDefinition } from '../target/engine-api.js';
import type { BlockStore } from '../lun/block-store.js';
import { ModeParameters, type ModeDefaults } from './mode-pages.js';
import { UnitAttentions } from './unit-attention.js';
import { RangeLock } from './range-lock.js';

/** Block limits reported in VPD B0h (SBC-3 §6.5.3) and enforced by the dispatcher and handlers. */
export interface BlockLimits {
  /** MAXIMUM TRANSFER LENGTH in blocks. */
  maxTransferBlocks: number;
  /** OPTIMAL TRANSFER LENGTH GRANULARITY in blocks. */
  optimalGranularityBlocks: number;
  /** MAXIMUM UNMAP LBA COUNT. */
  maxUnmapBlocks: number;
  /** MAXIMUM UNMAP BLOCK DESCRIPTOR COUNT. */
  maxUnmapDescriptors: number;
  /** OPTIMAL UNMAP GRANULARITY in blocks. */
  unmapGranularityBlocks: number;
  /** MAXIMUM WRITE SAME LENGTH in blocks. */
  maxWriteSameBlocks: number;
}

/** Byte-denominated defaults, turned into blocks per logical block size. */
export const DEFAULT_LIMITS_BYTES = {
  maxTransfer: 8 * 1024 * 1024,
  optimalGranularity: 4096,
  maxUnmap: 1024 * 1024 * 1024,
  /** libiscsi (Inquiry.BlockLimits) and common sense: at most 2^20 blocks. */
  maxUnmapBlocksCap: 1024 * 1024,
  /** (65535 - 8) / 16 descriptors fit in UNMAP's 16-bit parameter list length; keep well below. */
  maxUnmapDescriptors: 2048,
  unmapGranularity: 4096,
  /**
   * In blocks: 65535 keeps a single WRITE SAME bounded (32 MiB of 512-byte blocks)
   * and below the 65536 blocks that would make libiscsi's WriteSame16.Unmap issue
   * a WRITE(16) longer than MAXIMUM TRANSFER LENGTH.
   */
  maxWriteSameBlocks: 0xffff,
} as const;

export function defaultLimits(blockSize: number): BlockLimits {
  const d = DEFAULT_LIMITS_BYTES;
  return {
    maxTransferBlocks: Math.max(1, d.maxTransfer / blockSize),
    optimalGranularityBlocks: Math.max(1, d.optimalGranularity / blockSize),
    maxUnmapBlocks: Math.min(d.maxUnmapBlocksCap, Math.max(1, d.maxUnmap / blockSize)),
    maxUnmapDescriptors: d.maxUnmapDescriptors,
    unmapGranularityBlocks: Math.max(1, d.unmapGranularity / blockSize),
    maxWriteSameBlocks: d.maxWriteSameBlocks,
  };
}

export class LunDefinitionError extends Error {
  readonly code = 'SCSI_BAD_LUN_DEFINITION';
}

export function validateLunDefinition(l: LunDefinition): void {
  if (!Number.isInteger(l.id) || l.id < 0 || l.id > 16383) {
    throw new LunDefinitionError(`LUN id ${l.id} is outside 0..16383 (SAM-5 single level flat addressing)`);
  }
  if (l.blockSize !== 512 && l.blockSize !== 4096) {
    throw new LunDefinitionError(`LUN ${l.id}: block size ${l.blockSize} is not 512 or 4096`);
  }
  if (!/^[0-9a-fA-F]{32}$/.test(l.naa) || (parseInt(l.naa[0], 16) !== 6)) {
    throw new LunDefinitionError(`LUN ${l.id}: NAA designator "${l.naa}" must be 32 hex digits starting with 6 (NAA IEEE Registered Extended)`);
  }
  if (!/^[\x20-\x7e]*$/.test(l.serial)) {
    throw new LunDefinitionError(`LUN ${l.id}: serial number must be printable ASCII`);
  }
}

export class LogicalUnit {
  readonly id: number;
  readonly store: BlockStore;
  readonly blockSize: number;
  readonly serial: string;
  readonly naa: string;
  readonly mode: ModeParameters;
  readonly ua = new UnitAttentions();
  readonly lock = new RangeLock();
  readonly limits: BlockLimits;
  /** I_T nexus holding the RESERVE(6)/(10) reservation (spc/reserve-release.ts), if any. */
  reservationHolder: string | undefined = undefined;

  constructor(
    readonly definition: LunDefinition,
    modeDefaults: ModeDefaults,
    limits?: Partial<BlockLimits>,
  ) {
    validateLunDefinition(definition);
    this.id = definition.id;
    this.store = definition.store;
    this.blockSize = definition.blockSize;
    this.serial = definition.serial;
    this.naa = definition.naa.toLowerCase();
    this.mode = new ModeParameters(modeDefaults);
    this.limits = { ...defaultLimits(definition.blockSize), ...limits };
  }

  /** Number of logical blocks (capacity); follows the store when it grows (lun-grow). */
  get numBlocks(): number {
    return Math.floor(this.store.sizeBytes / this.blockSize);
  }

  /** DESIGN.md §6: a write is durable before status when FUA is set or the write cache is off (WCE = 0). */
  fua(fuaBit: boolean): boolean {
    return fuaBit || !this.mode.wce;
  }
}
