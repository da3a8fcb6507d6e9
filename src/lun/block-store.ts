/**
 * The storage behind a logical unit (DESIGN.md §3, §6).
 *
 * Offsets and lengths are in bytes and always multiples of the LUN's logical
 * block size; callers validate ranges against `sizeBytes` before calling.
 * Durability (DESIGN.md §6): `write` with `fua: false` may return once data is
 * in the OS page cache; `fua: true` and `flush()` return only after the data
 * (and any metadata needed to find it) reach stable storage (fdatasync).
 * Implementations: raw sparse file (raw-store.ts), qcow2 v3 thin image (own issue).
 */
export interface AllocationExtent {
  offset: number;
  length: number;
  /** false: deallocated (reads return zeros); true: mapped. */
  mapped: boolean;
}

export interface BlockStore {
  /** Logical size in bytes. */
  readonly sizeBytes: number;
  /** Human-readable kind for logs and `list` (e.g. "raw", "qcow2"). */
  readonly format: string;
  /**
   * Smallest range `discard` deallocates, in bytes (a qcow2 cluster);
   * smaller ranges are zeroed in place. Reported as OPTIMAL UNMAP
   * GRANULARITY (SBC-3 §6.5.3). Absent: the 4 KiB store unit.
   */
  readonly unmapGranularityBytes?: number;
  /** Fill `buf` entirely from `offset`. Unallocated ranges read as zeros. */
  read(buf: Buffer, offset: number): Promise<void>;
  /** Write all of `buf` at `offset`. */
  write(buf: Buffer, offset: number, fua: boolean): Promise<void>;
  /** Make every completed write durable. */
  flush(): Promise<void>;
  /** Deallocate a range; afterwards it reads as zeros (LBPRZ=1). */
  discard(offset: number, length: number): Promise<void>;
  /** Make a range read as zeros; with `deallocate` the store may free the space. */
  writeZeroes(offset: number, length: number, deallocate: boolean): Promise<void>;
  /** Mapped/deallocated extents covering [offset, offset+length), in order, merged. */
  allocation(offset: number, length: number): Promise<AllocationExtent[]>;
  /** Bytes of backing storage in use (for `list` Used). */
  allocatedBytes(): Promise<number>;
  /** Grow (never shrink) the logical size. */
  resize(newSizeBytes: number): Promise<void>;
  close(): Promise<void>;
}
