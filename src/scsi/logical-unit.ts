/**
 * One logical unit as the SCSI layer sees it: its definition, mode
 * parameters, unit attentions, block limits and the LBA range lock.
 */
import type { LunDefinition } from '../target/engine-api.js';
import type { BlockStore } from '../lun/block-store.js';
import { ModeParameters, type ModeDefaults } from './mode-pages.js';
import { UnitAttentions } from './unit-attention.js';
import { RangeLock } from './range-lock.js';

/**
 * The 4 KiB unit of the stores. They sit on files in the host page cache,
 * whose unit is the 4 KiB page, over file systems with 4 KiB blocks: a
 * write that covers part of such a unit costs a read-modify-write of the
 * page, the smallest range a file system can deallocate is one, and a
 * 4 KiB-aligned 4 KiB unit is what the page cache writes back (and Linux
 * file systems and 4Kn/512e disks write) as one piece. The Block Limits
 * granularities and the atomic write alignment are this unit.
 */
export const STORE_UNIT_BYTES = 4096;

/**
 * Physical block size reported by default (SBC-3 §4.6): the logical block
 * size, i.e. LOGICAL BLOCKS PER PHYSICAL BLOCK EXPONENT 0 in READ
 * CAPACITY(16). Truthful would be STORE_UNIT_BYTES (exponent 3 for
 * 512-byte LUNs), which ScsiTargetDeviceOptions.physicalBlockBytes selects;
 * it is not the default because libiscsi 1.19 (the conformance suite the
 * project is accepted by, Debian's build) breaks when LBPPB > 1: its
 * CompareAndWrite.InvalidDataOutSize test installs a PDU hook that rewrites
 * CDB byte 13 and never removes it (that build runs no per-test setup), so
 * every later 16-byte CDB of the run carries a wrong transfer length, and
 * GetLBAStatus.UnmapSingle asks for LBA i+1 but demands a first descriptor
 * at i+LBPPB, contrary to SBC-4 §5.8.2.3 (first descriptor = STARTING LBA).
 */
export function physicalBlockBytesFor(blockSize: number, requested?: number): number {
  if (requested === undefined || requested <= blockSize) return blockSize;
  // SBC-3 §5.16.2: a power-of-two number of logical blocks, exponent in 4 bits.
  const exp = Math.min(15, Math.floor(Math.log2(requested / blockSize)));
  return blockSize * 2 ** exp;
}

/** Block limits reported in VPD B0h (SBC-3 §6.5.3, SBC-4 §6.6.4) and enforced by the dispatcher and handlers. */
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
  /**
   * MAXIMUM ATOMIC TRANSFER LENGTH in blocks (SBC-4 §6.6.4); 0: WRITE
   * ATOMIC(16) is not offered. Clamped to MAXIMUM TRANSFER LENGTH and to a
   * multiple of the granularity. See sbc/write-atomic.ts for what
   * "atomic" covers here.
   */
  maxAtomicTransferBlocks: number;
  /** ATOMIC ALIGNMENT in blocks: an atomic write starts on a multiple of it. */
  atomicAlignmentBlocks: number;
  /** ATOMIC TRANSFER LENGTH GRANULARITY in blocks: an atomic write is a multiple of it. */
  atomicGranularityBlocks: number;
  /**
   * MAXIMUM COMPARE AND WRITE LENGTH in blocks (SBC-3 §6.5.3, byte 5 of VPD
   * B0h): the largest NUMBER OF LOGICAL BLOCKS COMPARE AND WRITE accepts
   * (sbc/compare-and-write.ts); 0: the command is not offered. At most 255
   * (a one-byte field) and at most MAXIMUM TRANSFER LENGTH.
   */
  maxCompareAndWriteBlocks: number;
}

/** Byte-denominated defaults, turned into blocks per logical block size. */
export const DEFAULT_LIMITS_BYTES = {
  maxTransfer: 8 * 1024 * 1024,
  /** One store unit: smaller or unaligned transfers cost a read-modify-write. */
  optimalGranularity: STORE_UNIT_BYTES,
  maxUnmap: 1024 * 1024 * 1024,
  /** libiscsi (Inquiry.BlockLimits) and common sense: at most 2^20 blocks. */
  maxUnmapBlocksCap: 1024 * 1024,
  /** (65535 - 8) / 16 descriptors fit in UNMAP's 16-bit parameter list length; keep well below. */
  maxUnmapDescriptors: 2048,
  /** One store unit: the smallest range a store can deallocate (a file-system block). */
  unmapGranularity: STORE_UNIT_BYTES,
  /**
   * In blocks: 65535 keeps a single WRITE SAME bounded (32 MiB of 512-byte blocks)
   * and below the 65536 blocks that would make libiscsi's WriteSame16.Unmap issue
   * a WRITE(16) longer than MAXIMUM TRANSFER LENGTH.
   */
  maxWriteSameBlocks: 0xffff,
  /**
   * In blocks (whatever the block size): 256, i.e. 128 KiB of 512-byte or
   * 1 MiB of 4096-byte blocks. sbc/write-atomic.ts explains what is atomic
   * and why this is more than one 4 KiB store unit.
   */
  maxAtomicTransferBlocks: 256,
  /** Alignment and granularity of atomic writes: one store unit (what survives a crash untorn). */
  atomicUnit: STORE_UNIT_BYTES,
  /**
   * In blocks: 255, the largest the one-byte field can report (SBC-3
   * §6.5.3). The whole compare and write holds the range exclusively, and
   * its Data-Out is 2 x 255 blocks at most (about 2 MiB of 4096-byte
   * blocks). VMware ATS uses one block; more costs nothing.
   */
  maxCompareAndWriteBlocks: 255,
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
    maxAtomicTransferBlocks: d.maxAtomicTransferBlocks,
    atomicAlignmentBlocks: Math.max(1, d.atomicUnit / blockSize),
    atomicGranularityBlocks: Math.max(1, d.atomicUnit / blockSize),
    maxCompareAndWriteBlocks: d.maxCompareAndWriteBlocks,
  };
}

/** SBC-4 §6.6.4: the atomic limits must agree with each other and with MAXIMUM TRANSFER LENGTH. */
function consistentLimits(l: BlockLimits): BlockLimits {
  const gran = Math.max(1, Math.floor(l.atomicGranularityBlocks));
  const align = Math.max(1, Math.floor(l.atomicAlignmentBlocks));
  let maxAtomic = Math.min(Math.max(0, Math.floor(l.maxAtomicTransferBlocks)), l.maxTransferBlocks, 0xffff);
  maxAtomic -= maxAtomic % gran;
  // SBC-3 §6.5.3: MAXIMUM COMPARE AND WRITE LENGTH is one byte; never more than MAXIMUM TRANSFER LENGTH.
  const maxCaw = Math.min(Math.max(0, Math.floor(l.maxCompareAndWriteBlocks)), l.maxTransferBlocks, 0xff);
  return { ...l, maxAtomicTransferBlocks: maxAtomic, atomicGranularityBlocks: gran, atomicAlignmentBlocks: align, maxCompareAndWriteBlocks: maxCaw };
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
  /** Physical block size in bytes (SBC-3 §4.6): see physicalBlockBytesFor. */
  readonly physicalBlockBytes: number;
  /** LOGICAL BLOCKS PER PHYSICAL BLOCK EXPONENT (SBC-3 §5.16.2): log2(physicalBlockBytes / blockSize). */
  readonly lbppbExponent: number;
  /** I_T nexus holding the RESERVE(6)/(10) reservation (spc/reserve-release.ts), if any. */
  reservationHolder: string | undefined = undefined;

  constructor(
    readonly definition: LunDefinition,
    modeDefaults: ModeDefaults,
    limits?: Partial<BlockLimits>,
    opts: { physicalBlockBytes?: number } = {},
  ) {
    validateLunDefinition(definition);
    this.id = definition.id;
    this.store = definition.store;
    this.blockSize = definition.blockSize;
    this.serial = definition.serial;
    this.naa = definition.naa.toLowerCase();
    this.mode = new ModeParameters(modeDefaults);
    const storeGranularity = definition.store.unmapGranularityBytes;
    const unmapGranularity =
      storeGranularity !== undefined && storeGranularity > definition.blockSize
        ? { unmapGranularityBlocks: storeGranularity / definition.blockSize }
        : {};
    this.limits = consistentLimits({ ...defaultLimits(definition.blockSize), ...unmapGranularity, ...limits });
    this.physicalBlockBytes = physicalBlockBytesFor(definition.blockSize, opts.physicalBlockBytes);
    this.lbppbExponent = Math.log2(this.physicalBlockBytes / definition.blockSize);
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
