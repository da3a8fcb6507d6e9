/**
 * qcow2 thin image BlockStore (DESIGN.md §3, §6, §8; issue 3 item 1).
 *
 * Format: QEMU's docs/interop/qcow2.txt ("qcow2 spec"). Version 3 images are
 * created; version 2 images are read and written too. Cluster sizes 512 B to
 * 2 MiB (64 KiB default), refcount widths 1 to 64 bits, backing files (raw
 * or qcow2, read-through along the chain), zero clusters, compressed
 * clusters (read; a write re-allocates), discard.
 *
 * Hot path (DESIGN.md §8). A read, or a write into a cluster that is
 * allocated with refcount 1 (L2 COPIED flag), whose L2 table is cached,
 * costs one table lookup and one callback fs.read/fs.write at the computed
 * host offset: no metadata I/O, no async function, one Promise.
 *
 * Metadata ordering (DESIGN.md §6). Metadata is written back, QEMU-style,
 * in a sync (flush(), FUA, a short timer, cache pressure):
 *   A. dirty refcount blocks (then, after a barrier, the refcount table);
 *      fdatasync: data and refcounts of every allocation are durable;
 *   B. dirty L2 tables; if the L1 table changed, fdatasync, then L1;
 *      fdatasync: the new mappings are durable;
 *   C. clusters unreferenced by B (discard, re-allocation) wait until no
 *      I/O that looked up their old mapping is still running, get their
 *      file space punched out (in the background: a flush does not wait),
 *      and only then their refcount drops (in memory; in the file at the
 *      next A), so they become reusable.
 * Allocation takes the gate shared, the sync (A, B) exclusive: the L2
 * tables written in B never point to a cluster whose refcount is not in
 * the file. So at every instant, after kill -9 or a power loss, the file
 * has refcounts >= references (at most leaked clusters), and no L2 entry
 * points to a cluster whose data is not written. A write is acknowledged
 * once its data is in the page cache and its mapping in memory; flush()
 * makes all of it durable.
 *
 * Allocation is serialised per guest cluster: a write into an unallocated
 * cluster holds that cluster's lock until its L2 entry is set, so two
 * writes never allocate the same cluster twice. A re-used host cluster is
 * always written whole (new data plus the old guest contents or zeros)
 * before any L2 entry points to it, so a freed cluster never shows its old
 * contents; clusters beyond the highest one ever written are file holes
 * and need only the new data.
 */
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import type { AllocationExtent, BlockStore } from '../block-store.js';
import { RawFileStore, StoreError } from '../raw-store.js';
import {
  checkSupported,
  entryOffset,
  hasQcow2Magic,
  HI_COMPRESSED,
  HI_COPIED,
  l1EntriesFor,
  LO_ZERO,
  MAX_L1_BYTES,
  parseHeader,
  putEntry,
  TWO32,
  type Qcow2Header,
} from './format.js';
import { Gate } from './gate.js';
import {
  pClose,
  pFdatasync,
  pFstat,
  pOpen,
  pRead,
  punchRanges,
  pWrite,
  pWritev,
  readFull,
  writeFull,
} from './io.js';
import { Refcounts, settleAll } from './refcounts.js';
import { createOpenMarker, openMarkerExists, removeOpenMarker } from './open-marker.js';
import { reclaimLeaks, type LeakReport } from './reclaim-leaks.js';

export interface Qcow2OpenOptions {
  /** Open without write access (backing files are always opened so). */
  readOnly?: boolean;
  /**
   * Backing file handling: 'auto' (default) opens the file named in the
   * header (relative names are relative to the image's directory), read-only,
   * and closes it with this store; a BlockStore is used as the backing store
   * as is (not closed by this store); 'none' ignores the backing file, so
   * unallocated clusters read as zeros (tools that look at one layer only).
   */
  backing?: 'auto' | 'none' | BlockStore;
  /** L2 table cache size in bytes (default 32 MiB; at least 4 tables). */
  l2CacheBytes?: number;
  /** Refcount block cache size in bytes (default 4 MiB; at least 4 blocks). */
  refcountCacheBytes?: number;
  /** Write dirty metadata back after this many ms even without a flush (default 1000; 0: only on flush). */
  writebackIntervalMs?: number;
  /** Punch the file space of freed clusters ('auto', default) or only make them reusable ('off'). */
  punchHoles?: 'auto' | 'off';
  /** Name or path of util-linux fallocate (tests). */
  fallocateCommand?: string;
  /** Called with the leak reclamation report when a read-write open found the image not closed cleanly (open-marker.ts). */
  onLeakReport?: (report: LeakReport) => void;
}

/** State of one guest cluster in one layer (layerAllocation). */
export type LayerState = 'data' | 'zero' | 'unallocated';

export interface LayerExtent {
  offset: number;
  length: number;
  state: LayerState;
}

interface L2Table {
  l1i: number;
  host: number;
  buf: Buffer;
  dirtyLo: number;
  dirtyHi: number;
  pins: number;
  used: number;
}

// Kinds of L2 entries (classify()).
const K_UNALLOC = 0;
const K_ZERO = 1; // zero flag, no host cluster
const K_ZERO_ALLOC = 2; // zero flag with a preallocated host cluster
const K_DATA = 3; // standard cluster, refcount 1 (COPIED)
const K_DATA_SHARED = 4; // standard cluster without COPIED: must be copied on write
const K_COMPRESSED = 5;

const MAX_CHAIN = 64;
const SOON_MS = 20;

function closedError(file: string): StoreError {
  return new StoreError('ISCSI_ERR_STORE_CLOSED', `store ${file} is closed`);
}

export class Qcow2Store implements BlockStore {
  readonly format = 'qcow2';
  readonly path: string;
  readonly readOnly: boolean;
  readonly clusterSize: number;
  readonly clusterBits: number;
  readonly version: 2 | 3;
  /** A whole cluster is what discard releases (smaller ranges are zeroed in place). */
  get unmapGranularityBytes(): number {
    return this.clusterSize;
  }
  private fd: number;
  private size: number;
  private readonly hdr: Qcow2Header;
  private readonly l2Entries: number;
  /** Guest bytes mapped by one L2 table. */
  private readonly l2Span: number;
  private readonly zeroMask: number;
  private l1: Buffer;
  private l1Size: number;
  private l1Offset: number;
  private l1DirtyLo = -1;
  private l1DirtyHi = 0;
  private readonly l2 = new Map<number, L2Table>();
  private readonly l2Loading = new Map<number, Promise<void>>();
  private readonly l2Creating = new Map<number, Promise<void>>();
  private readonly l2Capacity: number;
  private dirtyL2 = 0;
  private tick = 0;
  private readonly rc: Refcounts;
  private backingStore: BlockStore | null;
  private readonly ownsBacking: boolean;
  private readonly clusterLocks = new Map<number, Promise<void>>();
  private readonly gate = new Gate();
  /** Host clusters whose last reference is gone from memory but maybe not from the file. */
  private pendingFrees: number[] = [];
  // Quiescence of data I/O by parity (applyFrees).
  private par = 0;
  private readonly inflight = [0, 0];
  private quiesceWaiter: (() => void) | null = null;
  // Open operations, for close().
  private ops = 0;
  private drained: (() => void) | null = null;
  private closed = false;
  private syncing = false;
  private syncTail: Promise<void> = Promise.resolve();
  private queuedSync: Promise<void> | null = null;
  private writebackTimer: NodeJS.Timeout | null = null;
  private soonTimer: NodeJS.Timeout | null = null;
  private punchMode: 'auto' | 'off';
  private readonly fallocateCommand: string;
  private zeroBuf: Buffer | null = null;
  /** Released clusters (L2 change durable, no I/O on them) waiting to be punched and decremented. */
  private freeQueue: number[] = [];
  private puncher: Promise<void> | null = null;
  /** Counters for tests and tools. */
  readonly stats = { syncs: 0, allocations: 0, frees: 0, punches: 0 };
  /** Leak reclamation at this open (the image had not been closed cleanly), else null. */
  lastOpenReport: LeakReport | null = null;

  /** @internal use openQcow2Store / createQcow2Store. */
  constructor(
    file: string,
    fd: number,
    hdr: Qcow2Header,
    l1: Buffer,
    rt: Buffer,
    fileSize: number,
    backing: BlockStore | null,
    ownsBacking: boolean,
    opts: Qcow2OpenOptions,
  ) {
    this.path = file;
    this.fd = fd;
    this.hdr = hdr;
    this.readOnly = opts.readOnly ?? false;
    this.clusterBits = hdr.clusterBits;
    this.clusterSize = 2 ** hdr.clusterBits;
    this.version = hdr.version;
    this.size = hdr.size;
    this.l2Entries = this.clusterSize / 8;
    this.l2Span = this.l2Entries * this.clusterSize;
    this.zeroMask = hdr.version === 3 ? LO_ZERO : 0;
    this.l1 = l1;
    this.l1Size = hdr.l1Size;
    this.l1Offset = hdr.l1TableOffset;
    this.l2Capacity = Math.max(4, Math.floor((opts.l2CacheBytes ?? 32 * 1024 * 1024) / this.clusterSize));
    const rcCapacity = Math.max(4, Math.floor((opts.refcountCacheBytes ?? 4 * 1024 * 1024) / this.clusterSize));
    this.rc = new Refcounts(
      fd,
      file,
      hdr.clusterBits,
      hdr.refcountOrder,
      rt,
      hdr.refcountTableOffset,
      hdr.refcountTableClusters,
      Math.ceil(fileSize / this.clusterSize),
      rcCapacity,
    );
    this.backingStore = backing;
    this.ownsBacking = ownsBacking;
    this.punchMode = opts.punchHoles ?? 'auto';
    this.fallocateCommand = opts.fallocateCommand ?? 'fallocate';
    const wb = opts.writebackIntervalMs ?? 1000;
    if (!this.readOnly && wb > 0) {
      this.writebackTimer = setInterval(() => this.backgroundSync(), wb);
      this.writebackTimer.unref();
    }
  }

  get sizeBytes(): number {
    return this.size;
  }

  /** The backing store (parent of this layer), or null. */
  get backing(): BlockStore | null {
    return this.backingStore;
  }

  /** Backing file name as stored in the header (relative to this image's directory unless absolute), or null. */
  get backingFile(): string | null {
    return this.hdr.backingFile;
  }

  /** Backing file format from the header extension, or null. */
  get backingFormat(): string | null {
    return this.hdr.backingFormat;
  }

  /** Absolute path of the backing file, or null. */
  get backingPath(): string | null {
    return this.hdr.backingFile === null ? null : resolveBackingPath(this.path, this.hdr.backingFile);
  }

  get refcountBits(): number {
    return 2 ** this.hdr.refcountOrder;
  }

  // ---- BlockStore: data path ------------------------------------------------

  read(buf: Buffer, offset: number): Promise<void> {
    if (this.closed) return Promise.reject(closedError(this.path));
    const len = buf.length;
    if (!this.inRange(offset, len)) return Promise.reject(this.rangeError(offset, len));
    if (len === 0) return Promise.resolve();
    const host = this.hostFor(offset, len, false);
    if (host > 0) return this.directIo(false, buf, 0, len, host, true);
    return this.guard(() => this.slowRead(buf, offset));
  }

  write(buf: Buffer, offset: number, fua: boolean): Promise<void> {
    if (this.closed) return Promise.reject(closedError(this.path));
    if (this.readOnly) return Promise.reject(this.readOnlyError());
    const len = buf.length;
    if (!this.inRange(offset, len)) return Promise.reject(this.rangeError(offset, len));
    if (len === 0) return fua ? this.flush() : Promise.resolve();
    const host = this.hostFor(offset, len, true);
    if (host > 0) {
      if (!fua) return this.directIo(true, buf, 0, len, host, true);
      return this.guard(async () => {
        await this.directIo(true, buf, 0, len, host, false);
        await this.fuaBarrier();
      });
    }
    return this.guard(() => this.slowWrite(buf, offset, fua));
  }

  flush(): Promise<void> {
    if (this.closed) return Promise.reject(closedError(this.path));
    if (this.readOnly) return Promise.resolve();
    return this.guard(() => this.syncMetadata());
  }

  discard(offset: number, length: number): Promise<void> {
    return this.writeZeroes(offset, length, true);
  }

  async writeZeroes(offset: number, length: number, deallocate: boolean): Promise<void> {
    return this.guard(async () => {
      if (this.readOnly) throw this.readOnlyError();
      if (!this.inRange(offset, length)) throw this.rangeError(offset, length);
      if (length === 0) return;
      const cs = this.clusterSize;
      const end = offset + length;
      // A cluster is whole when the range covers it up to the end of the disk.
      const g0 = Math.ceil(offset / cs);
      const g1 = end >= this.size ? Math.ceil(end / cs) : Math.floor(end / cs);
      const jobs: Promise<void>[] = [];
      if (g0 >= g1) {
        // No whole cluster: one or two partial clusters.
        const mid = Math.floor(end / cs) * cs;
        if (mid > offset && mid < end) {
          jobs.push(this.zeroPartial(offset, mid - offset), this.zeroPartial(mid, end - mid));
        } else jobs.push(this.zeroPartial(offset, length));
      } else {
        if (offset < g0 * cs) jobs.push(this.zeroPartial(offset, g0 * cs - offset));
        if (end > g1 * cs) jobs.push(this.zeroPartial(g1 * cs, end - g1 * cs));
        jobs.push(this.zeroClusters(g0, g1, deallocate));
      }
      await settleAll(jobs);
    });
  }

  async allocation(offset: number, length: number): Promise<AllocationExtent[]> {
    return this.guard(async () => {
      if (!this.inRange(offset, length)) throw this.rangeError(offset, length);
      const out: AllocationExtent[] = [];
      const push = (off: number, len: number, mapped: boolean) => {
        if (len <= 0) return;
        const last = out[out.length - 1];
        if (last && last.mapped === mapped && last.offset + last.length === off) last.length += len;
        else out.push({ offset: off, length: len, mapped });
      };
      for (const e of await this.layerExtents(offset, length)) {
        if (e.state === 'data') push(e.offset, e.length, true);
        else if (e.state === 'zero') push(e.offset, e.length, false);
        else {
          const b = this.backingStore;
          const lim = b ? Math.min(b.sizeBytes, this.size) : 0;
          let p = e.offset;
          const end = e.offset + e.length;
          if (b && p < lim) {
            const n = Math.min(end, lim) - p;
            for (const x of await b.allocation(p, n)) push(x.offset, x.length, x.mapped);
            p += n;
          }
          push(p, end - p, false);
        }
      }
      return out;
    });
  }

  /**
   * Allocation of this layer only, without the backing chain: 'data'
   * (allocated, including preallocated zero clusters), 'zero' (zero flag:
   * reads as zeros, hides the backing file) or 'unallocated' (reads through
   * to the backing file). For snapshot merges (stream/commit).
   */
  async layerAllocation(offset: number, length: number): Promise<LayerExtent[]> {
    return this.guard(async () => {
      if (!this.inRange(offset, length)) throw this.rangeError(offset, length);
      return this.layerExtents(offset, length);
    });
  }

  /** File space used by this image and its whole backing chain (st_blocks). */
  async allocatedBytes(): Promise<number> {
    return this.guard(async () => {
      const st = await pFstat(this.fd);
      const own = st.blocks * 512;
      return own + (this.backingStore ? await this.backingStore.allocatedBytes() : 0);
    });
  }

  /** File space used by this image alone. */
  async ownAllocatedBytes(): Promise<number> {
    return this.guard(async () => (await pFstat(this.fd)).blocks * 512);
  }

  async resize(newSizeBytes: number): Promise<void> {
    return this.guard(async () => {
      if (this.readOnly) throw this.readOnlyError();
      if (!Number.isSafeInteger(newSizeBytes) || newSizeBytes < 0 || newSizeBytes % 512 !== 0) {
        throw new StoreError('ISCSI_ERR_BAD_SIZE', `new size ${newSizeBytes} must be a non-negative multiple of 512 bytes`);
      }
      if (newSizeBytes < this.size) {
        throw new StoreError(
          'ISCSI_ERR_SHRINK',
          `cannot shrink ${this.path} from ${this.size} to ${newSizeBytes} bytes: only growing is supported`,
        );
      }
      if (newSizeBytes === this.size) return;
      await this.resizeLocked(newSizeBytes);
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.writebackTimer) clearInterval(this.writebackTimer);
    if (this.soonTimer) clearTimeout(this.soonTimer);
    this.writebackTimer = this.soonTimer = null;
    if (this.ops > 0) await new Promise<void>((r) => (this.drained = r));
    let clean = false;
    try {
      if (!this.readOnly) await this.drainInternal();
      await this.syncTail;
      while (this.puncher) await this.puncher;
      clean = !this.readOnly;
    } finally {
      await pClose(this.fd);
      if (this.ownsBacking && this.backingStore) await this.backingStore.close();
    }
    if (clean) await removeOpenMarker(this.path); // after the final sync: closed cleanly
  }

  /**
   * Write all dirty metadata in the order described at the top and
   * fdatasync; applies pending frees. flush() is this plus the closed check.
   * Calls made while a sync runs are served by one later sync.
   */
  syncMetadata(): Promise<void> {
    if (this.queuedSync) return this.queuedSync;
    const run = this.syncTail.then(() => {
      this.queuedSync = null;
      return this.doSync();
    });
    this.queuedSync = run;
    this.syncTail = run.catch(() => undefined);
    return run;
  }

  /** Clusters with a non-zero refcount (scans all refcount blocks; tests, tools). */
  async usedClusters(): Promise<number> {
    return this.guard(() => this.rc.countUsed());
  }

  // ---- hot path --------------------------------------------------------------

  private inRange(offset: number, len: number): boolean {
    return Number.isSafeInteger(offset) && Number.isSafeInteger(len) && offset >= 0 && len >= 0 && offset + len <= this.size;
  }

  /**
   * Host position for a request inside one cluster whose L2 table is cached
   * and whose entry allows direct I/O (for writes: allocated with refcount 1),
   * else -1.
   */
  private hostFor(offset: number, len: number, write: boolean): number {
    const cs = this.clusterSize;
    const gc = Math.floor(offset / cs);
    const inOff = offset - gc * cs;
    if (inOff + len > cs) return -1;
    const l1i = Math.floor(gc / this.l2Entries);
    const t = this.l2.get(l1i);
    if (t === undefined) return -1;
    const e = (gc - l1i * this.l2Entries) * 8;
    const hi = t.buf.readUInt32BE(e);
    const lo = t.buf.readUInt32BE(e + 4);
    if (write ? hi >>> 30 !== 2 : (hi & HI_COMPRESSED) !== 0) return -1;
    if ((lo & this.zeroMask) !== 0) return -1;
    const host = entryOffset(hi, lo);
    if (host === 0) return -1;
    t.used = ++this.tick;
    return host + inOff;
  }

  /**
   * One positioned read or write of host data. Enters the current I/O parity
   * synchronously (the mapping was looked up in the same tick).
   */
  private directIo(write: boolean, buf: Buffer, off: number, len: number, pos: number, isOp: boolean): Promise<void> {
    return new Promise((resolve, reject) => {
      const p = this.par;
      this.inflight[p]!++;
      if (isOp) this.ops++;
      const done = (err: Error | null) => {
        if (--this.inflight[p]! === 0 && p !== this.par && this.quiesceWaiter) {
          const w = this.quiesceWaiter;
          this.quiesceWaiter = null;
          w();
        }
        if (isOp) this.opDone();
        if (err) reject(err);
        else resolve();
      };
      if (write) writeFull(this.fd, buf, off, len, pos, done);
      else readFull(this.fd, buf, off, len, pos, done);
    });
  }

  private opDone(): void {
    if (--this.ops === 0 && this.drained) {
      const d = this.drained;
      this.drained = null;
      d();
    }
  }

  private async guard<T>(fn: () => Promise<T>): Promise<T> {
    if (this.closed) throw closedError(this.path);
    this.ops++;
    try {
      return await fn();
    } finally {
      this.opDone();
    }
  }

  /** Wait until all data I/O started before this call has finished. Serialised by the sync chain. */
  private quiesce(): Promise<void> {
    const old = this.par;
    this.par ^= 1;
    if (this.inflight[old] === 0) return Promise.resolve();
    return new Promise((r) => (this.quiesceWaiter = r));
  }

  // ---- L1 / L2 -----------------------------------------------------------------

  private l1Get(l1i: number): number {
    if (l1i >= this.l1Size) return 0;
    return entryOffset(this.l1.readUInt32BE(l1i * 8), this.l1.readUInt32BE(l1i * 8 + 4));
  }

  private l1Set(l1i: number, host: number): void {
    putEntry(this.l1, l1i * 8, host, HI_COPIED, 0);
    const lo = l1i * 8;
    if (this.l1DirtyLo < 0) {
      this.l1DirtyLo = lo;
      this.l1DirtyHi = lo + 8;
    } else {
      this.l1DirtyLo = Math.min(this.l1DirtyLo, lo);
      this.l1DirtyHi = Math.max(this.l1DirtyHi, lo + 8);
    }
  }

  private markL2Dirty(t: L2Table, lo: number, hi: number): void {
    if (t.dirtyLo < 0) {
      this.dirtyL2++;
      t.dirtyLo = lo;
      t.dirtyHi = hi;
    } else {
      if (lo < t.dirtyLo) t.dirtyLo = lo;
      if (hi > t.dirtyHi) t.dirtyHi = hi;
    }
  }

  private insertL2(t: L2Table): void {
    this.l2.set(t.l1i, t);
    if (this.l2.size > this.l2Capacity) this.trimL2(t);
  }

  /** Evict least recently used clean, unpinned tables down to the capacity. */
  private trimL2(keep: L2Table | null): void {
    while (this.l2.size > this.l2Capacity) {
      let victim: L2Table | null = null;
      for (const c of this.l2.values()) {
        if (c.dirtyLo >= 0 || c.pins > 0 || c === keep) continue;
        if (!victim || c.used < victim.used) victim = c;
      }
      if (!victim) {
        if (this.dirtyL2 > 0) this.scheduleSoonSync();
        return;
      }
      this.l2.delete(victim.l1i);
    }
  }

  /** Load L2 table l1i into the cache (no-op when cached or unallocated). */
  private loadL2(l1i: number): Promise<void> {
    const pending = this.l2Loading.get(l1i);
    if (pending) return pending;
    const host = this.l1Get(l1i);
    if (host === 0 || this.l2.has(l1i)) return Promise.resolve();
    const buf = Buffer.allocUnsafe(this.clusterSize);
    const p = pRead(this.fd, buf, 0, buf.length, host)
      .then(() => {
        if (!this.l2.has(l1i) && this.l1Get(l1i) === host) {
          this.insertL2({ l1i, host, buf, dirtyLo: -1, dirtyHi: 0, pins: 0, used: ++this.tick });
        }
      })
      .finally(() => this.l2Loading.delete(l1i));
    this.l2Loading.set(l1i, p);
    return p;
  }

  /** The cached table l1i (loaded if needed), or null when its L1 entry is 0. Not pinned. */
  private async tableOrNull(l1i: number): Promise<L2Table | null> {
    for (;;) {
      const t = this.l2.get(l1i);
      if (t) return t;
      if (this.l1Get(l1i) === 0) return null;
      await this.loadL2(l1i);
    }
  }

  /** The table l1i, created if absent, pinned. Call with the gate held shared. */
  private async tableForWrite(l1i: number): Promise<L2Table> {
    for (;;) {
      const t = this.l2.get(l1i);
      if (t) {
        t.pins++;
        t.used = ++this.tick;
        return t;
      }
      if (this.l1Get(l1i) !== 0) {
        await this.loadL2(l1i);
        continue;
      }
      const creating = this.l2Creating.get(l1i);
      if (creating) {
        await creating;
        continue;
      }
      const p = this.createL2(l1i).finally(() => this.l2Creating.delete(l1i));
      this.l2Creating.set(l1i, p);
      await p;
    }
  }

  private async createL2(l1i: number): Promise<void> {
    if (l1i >= this.l1Size) throw new StoreError('ISCSI_ERR_BAD_IMAGE', `${this.path}: L1 index ${l1i} out of range`);
    const r = await this.rc.allocRun(1);
    const cs = this.clusterSize;
    const t: L2Table = { l1i, host: r.start * cs, buf: Buffer.alloc(cs), dirtyLo: -1, dirtyHi: 0, pins: 0, used: ++this.tick };
    this.markL2Dirty(t, 0, cs);
    this.insertL2(t);
    this.l1Set(l1i, t.host);
  }

  private classify(hi: number, lo: number): number {
    if ((hi & HI_COMPRESSED) !== 0) return K_COMPRESSED;
    const host = entryOffset(hi, lo);
    if ((lo & this.zeroMask) !== 0) return host === 0 ? K_ZERO : K_ZERO_ALLOC;
    if (host === 0) return K_UNALLOC;
    return hi >>> 31 === 1 ? K_DATA : K_DATA_SHARED;
  }

  /** Host clusters covered by a compressed cluster descriptor, and where its bytes are. */
  private compressedSpan(hi: number, lo: number): { off: number; size: number } {
    const x = 62 - (this.clusterBits - 8); // qcow2 spec, "Compressed Clusters Descriptor"
    const hb = x - 32;
    const off = (hi & ((1 << hb) - 1)) * TWO32 + lo;
    const nb = (hi & 0x3fffffff) >>> hb;
    return { off, size: (nb + 1) * 512 - (off & 511) };
  }

  /** Queue the host clusters an L2 entry holds for release after its change is durable. */
  private releaseEntry(hi: number, lo: number): void {
    const k = this.classify(hi, lo);
    const cs = this.clusterSize;
    if (k === K_DATA || k === K_DATA_SHARED || k === K_ZERO_ALLOC) {
      this.pendingFrees.push(entryOffset(hi, lo) / cs);
    } else if (k === K_COMPRESSED) {
      const { off, size } = this.compressedSpan(hi, lo);
      for (let c = Math.floor(off / cs); c <= Math.floor((off + size - 1) / cs); c++) this.pendingFrees.push(c);
    }
  }

  private readCompressed(hi: number, lo: number): Promise<Buffer> {
    const { off, size } = this.compressedSpan(hi, lo);
    const raw = Buffer.allocUnsafe(size);
    return this.directIo(false, raw, 0, size, off, false).then(() => {
      let out: Buffer;
      try {
        out = zlib.inflateRawSync(raw, { finishFlush: zlib.constants.Z_SYNC_FLUSH });
      } catch (e) {
        throw new StoreError('ISCSI_ERR_BAD_IMAGE', `${this.path}: corrupt compressed cluster at ${off}: ${(e as Error).message}`);
      }
      if (out.length < this.clusterSize) {
        throw new StoreError('ISCSI_ERR_BAD_IMAGE', `${this.path}: compressed cluster at ${off} is short (${out.length} bytes)`);
      }
      return out;
    });
  }

  /** [l1 index, start, end) of each piece of [offset, end) that one L2 table maps. */
  private *l2Segments(offset: number, end: number): Generator<[l1i: number, pos: number, segEnd: number]> {
    for (let pos = offset; pos < end; ) {
      const l1i = Math.floor(pos / this.l2Span);
      const segEnd = Math.min(end, (l1i + 1) * this.l2Span);
      yield [l1i, pos, segEnd];
      pos = segEnd;
    }
  }

  // ---- reads -----------------------------------------------------------------

  private async slowRead(buf: Buffer, offset: number): Promise<void> {
    const jobs: Promise<void>[] = [];
    for (const [l1i, pos, segEnd] of this.l2Segments(offset, offset + buf.length)) {
      jobs.push(this.readSeg(buf, pos - offset, pos, segEnd - pos, l1i));
    }
    await settleAll(jobs);
  }

  private async readSeg(buf: Buffer, bufOff: number, pos: number, len: number, l1i: number): Promise<void> {
    const t = await this.tableOrNull(l1i);
    if (!t) return this.readBacking(buf, bufOff, len, pos);
    t.used = ++this.tick;
    // Synchronous walk: look up and issue each run in the same tick.
    const cs = this.clusterSize;
    const end = pos + len;
    const jobs: Promise<void>[] = [];
    let runHost = 0;
    let runPos = 0;
    let runLen = 0;
    let uPos = 0;
    let uLen = 0;
    const flushRun = () => {
      if (runLen > 0) jobs.push(this.directIo(false, buf, bufOff + runPos - pos, runLen, runHost, false));
      runLen = 0;
    };
    const flushUnalloc = () => {
      if (uLen > 0) jobs.push(this.readBacking(buf, bufOff + uPos - pos, uLen, uPos));
      uLen = 0;
    };
    for (let p = pos; p < end; ) {
      const gc = Math.floor(p / cs);
      const cEnd = Math.min(end, (gc + 1) * cs);
      const inOff = p - gc * cs;
      const e = (gc - l1i * this.l2Entries) * 8;
      const hi = t.buf.readUInt32BE(e);
      const lo = t.buf.readUInt32BE(e + 4);
      const k = this.classify(hi, lo);
      if (k !== K_UNALLOC) flushUnalloc();
      if (k !== K_DATA && k !== K_DATA_SHARED) flushRun();
      if (k === K_DATA || k === K_DATA_SHARED) {
        const h = entryOffset(hi, lo) + inOff;
        if (runLen > 0 && runHost + runLen === h) runLen += cEnd - p;
        else {
          flushRun();
          runHost = h;
          runPos = p;
          runLen = cEnd - p;
        }
      } else if (k === K_UNALLOC) {
        if (uLen === 0) uPos = p;
        uLen += cEnd - p;
      } else if (k === K_COMPRESSED) {
        const dst = bufOff + p - pos;
        const n = cEnd - p;
        jobs.push(this.readCompressed(hi, lo).then((c) => void c.copy(buf, dst, inOff, inOff + n)));
      } else {
        buf.fill(0, bufOff + p - pos, bufOff + cEnd - pos);
      }
      p = cEnd;
    }
    flushRun();
    flushUnalloc();
    await settleAll(jobs);
  }

  /** Fill from the backing chain (clipped to its size), zeros elsewhere. */
  private async readBacking(dst: Buffer, dstOff: number, len: number, pos: number): Promise<void> {
    const b = this.backingStore;
    let n = 0;
    if (b) {
      const lim = Math.min(b.sizeBytes, this.size);
      if (pos < lim) {
        n = Math.min(len, lim - pos);
        await b.read(dst.subarray(dstOff, dstOff + n), pos);
      }
    }
    if (n < len) dst.fill(0, dstOff + n, dstOff + len);
  }

  private backingCovers(gc: number): boolean {
    const b = this.backingStore;
    return b !== null && gc * this.clusterSize < Math.min(b.sizeBytes, this.size);
  }

  // ---- writes ----------------------------------------------------------------

  private needsBackpressure(): boolean {
    return this.dirtyL2 > this.l2Capacity / 2 || this.pendingFrees.length > 1 << 16 || this.rc.dirtyBlockCount > 64;
  }

  private async slowWrite(buf: Buffer, offset: number, fua: boolean): Promise<void> {
    if (this.needsBackpressure()) await this.syncMetadata();
    const jobs: Promise<void>[] = [];
    for (const [l1i, pos, segEnd] of this.l2Segments(offset, offset + buf.length)) {
      jobs.push(this.writeSeg(buf, pos - offset, pos, segEnd - pos, l1i));
    }
    await settleAll(jobs);
    if (fua) await this.fuaBarrier();
  }

  /** Write [pos, pos+len) inside L2 table l1i: direct runs now, allocating groups under locks. */
  private async writeSeg(buf: Buffer, bufOff: number, pos: number, len: number, l1i: number): Promise<void> {
    const t = await this.tableOrNull(l1i);
    const cs = this.clusterSize;
    const end = pos + len;
    const jobs: Promise<void>[] = [];
    let runHost = 0;
    let runPos = 0;
    let runLen = 0;
    let aPos = -1;
    const flushRun = () => {
      if (runLen > 0) jobs.push(this.directIo(true, buf, bufOff + runPos - pos, runLen, runHost, false));
      runLen = 0;
    };
    for (let p = pos; p < end; ) {
      const gc = Math.floor(p / cs);
      const cEnd = Math.min(end, (gc + 1) * cs);
      let host = 0;
      if (t) {
        const e = (gc - l1i * this.l2Entries) * 8;
        const hi = t.buf.readUInt32BE(e);
        const lo = t.buf.readUInt32BE(e + 4);
        if (hi >>> 30 === 2 && (lo & this.zeroMask) === 0) host = entryOffset(hi, lo);
      }
      if (host !== 0) {
        if (aPos >= 0) {
          jobs.push(this.allocGroup(buf, bufOff + aPos - pos, aPos, p - aPos, l1i));
          aPos = -1;
        }
        const h = host + (p - gc * cs);
        if (runLen > 0 && runHost + runLen === h) runLen += cEnd - p;
        else {
          flushRun();
          runHost = h;
          runPos = p;
          runLen = cEnd - p;
        }
      } else {
        flushRun();
        if (aPos < 0) aPos = p;
      }
      p = cEnd;
    }
    flushRun();
    if (aPos >= 0) jobs.push(this.allocGroup(buf, bufOff + aPos - pos, aPos, end - aPos, l1i));
    await settleAll(jobs);
  }

  /** Allocating write of [pos, pos+len) (whole clusters not directly writable), under cluster locks. */
  private async allocGroup(buf: Buffer, bufOff: number, pos: number, len: number, l1i: number): Promise<void> {
    const cs = this.clusterSize;
    const g0 = Math.floor(pos / cs);
    const g1 = Math.floor((pos + len - 1) / cs);
    for (let g = g0; g <= g1; g++) {
      const w = this.clusterLocks.get(g);
      if (w) {
        await w;
        return this.writeSeg(buf, bufOff, pos, len, l1i);
      }
    }
    let unlock!: () => void;
    const lock = new Promise<void>((r) => (unlock = r));
    for (let g = g0; g <= g1; g++) this.clusterLocks.set(g, lock);
    try {
      await this.gate.shared();
      try {
        const t = await this.tableForWrite(l1i);
        try {
          await this.allocWrite(t, buf, bufOff, pos, len);
        } finally {
          t.pins--;
        }
      } finally {
        this.gate.releaseShared();
      }
    } finally {
      for (let g = g0; g <= g1; g++) this.clusterLocks.delete(g);
      unlock();
    }
  }

  private async allocWrite(t: L2Table, buf: Buffer, bufOff: number, pos: number, len: number): Promise<void> {
    const cs = this.clusterSize;
    const gN = Math.floor((pos + len - 1) / cs) + 1;
    let g = Math.floor(pos / cs);
    while (g < gN) {
      const run = await this.rc.allocRun(gN - g);
      this.stats.allocations += run.count;
      const gEnd = g + run.count;
      try {
        await this.fillAndWrite(t, buf, bufOff, pos, len, g, gEnd, run.start, run.freshFrom);
      } catch (e) {
        this.rc.release(run);
        throw e;
      }
      const base = t.l1i * this.l2Entries;
      for (let x = g; x < gEnd; x++) {
        const e = (x - base) * 8;
        this.releaseEntry(t.buf.readUInt32BE(e), t.buf.readUInt32BE(e + 4));
        putEntry(t.buf, e, (run.start + x - g) * cs, HI_COPIED, 0);
      }
      this.markL2Dirty(t, (g - base) * 8, (gEnd - base) * 8);
      g = gEnd;
    }
  }

  /**
   * Write guest clusters [gA, gB) into the new host clusters from hostStart:
   * the request bytes, and for partly written clusters the rest of the
   * cluster as it reads now (backing file, old or compressed cluster, zeros),
   * skipped for never-written host clusters whose guest cluster reads as zeros.
   */
  private async fillAndWrite(
    t: L2Table,
    buf: Buffer,
    bufOff: number,
    pos: number,
    len: number,
    gA: number,
    gB: number,
    hostStart: number,
    freshFrom: number,
  ): Promise<void> {
    const cs = this.clusterSize;
    const wStart = Math.max(pos, gA * cs);
    const wEnd = Math.min(pos + len, gB * cs);
    const iov: Buffer[] = [];
    const fills: Promise<void>[] = [];
    let writeAt = hostStart * cs;
    const base = t.l1i * this.l2Entries;
    for (let x = gA; x < gB; x++) {
      const cStart = x * cs;
      const a = Math.max(wStart, cStart);
      const b = Math.min(wEnd, cStart + cs);
      const src = buf.subarray(bufOff + a - pos, bufOff + b - pos);
      if (a === cStart && b === cStart + cs) {
        iov.push(src);
        continue;
      }
      const e = (x - base) * 8;
      const hi = t.buf.readUInt32BE(e);
      const lo = t.buf.readUInt32BE(e + 4);
      const k = this.classify(hi, lo);
      const readsZero = k === K_ZERO || k === K_ZERO_ALLOC || (k === K_UNALLOC && !this.backingCovers(x));
      if (readsZero && hostStart + (x - gA) >= freshFrom) {
        // Only the first cluster can start late and only the last can end early.
        if (x === gA) writeAt += a - cStart;
        iov.push(src);
        continue;
      }
      const cb = Buffer.allocUnsafe(cs);
      fills.push(this.fillCluster(x, hi, lo, k, cb).then(() => void src.copy(cb, a - cStart)));
      iov.push(cb);
    }
    await settleAll(fills);
    await pWritev(this.fd, iov, writeAt);
  }

  /** The current contents of guest cluster x (entry hi/lo of kind k) into dst. */
  private async fillCluster(x: number, hi: number, lo: number, k: number, dst: Buffer): Promise<void> {
    const cs = this.clusterSize;
    switch (k) {
      case K_DATA:
      case K_DATA_SHARED:
        await pRead(this.fd, dst, 0, cs, entryOffset(hi, lo));
        return;
      case K_COMPRESSED:
        (await this.readCompressed(hi, lo)).copy(dst, 0, 0, cs);
        return;
      case K_UNALLOC:
        await this.readBacking(dst, 0, cs, x * cs);
        return;
      default:
        dst.fill(0);
    }
  }

  /** After a FUA write: make it durable with its metadata. */
  private fuaBarrier(): Promise<void> {
    if (this.metaDirty() || this.syncing || this.queuedSync) return this.syncMetadata();
    return pFdatasync(this.fd);
  }

  // ---- zeroing and discard ----------------------------------------------------

  private zeros(): Buffer {
    return (this.zeroBuf ??= Buffer.alloc(this.clusterSize));
  }

  /** Zero part of one cluster: nothing to do when it already reads as zeros. */
  private async zeroPartial(pos: number, len: number): Promise<void> {
    const cs = this.clusterSize;
    const gc = Math.floor(pos / cs);
    const l1i = Math.floor(gc / this.l2Entries);
    const t = await this.tableOrNull(l1i);
    let k = K_UNALLOC;
    if (t) {
      const e = (gc - l1i * this.l2Entries) * 8;
      k = this.classify(t.buf.readUInt32BE(e), t.buf.readUInt32BE(e + 4));
    }
    if (k === K_ZERO || k === K_ZERO_ALLOC) return;
    if (k === K_UNALLOC && !(this.backingStore && pos < Math.min(this.backingStore.sizeBytes, this.size))) return;
    await this.slowWrite(this.zeros().subarray(0, len), pos, false);
  }

  /**
   * Make whole guest clusters [g0, g1) read as zeros. With a backing file
   * behind them (v3): the zero flag; without: unallocated. deallocate=false
   * keeps allocated clusters allocated (zero flag on the mapping), so they
   * stay mapped. Version 2 has no zero flag: clusters over a backing file
   * get zeros written.
   */
  private async zeroClusters(g0: number, g1: number, deallocate: boolean): Promise<void> {
    const cs = this.clusterSize;
    const v2Writes: number[] = [];
    let freed = false;
    let g = g0;
    while (g < g1) {
      const l1i = Math.floor(g / this.l2Entries);
      const base = l1i * this.l2Entries;
      const tEnd = Math.min(g1, base + this.l2Entries);
      if (this.needsBackpressure()) await this.syncMetadata();
      const t = await this.tableOrNull(l1i);
      if (!t) {
        if (!this.backingCovers(g)) {
          g = tEnd;
          continue;
        }
        if (this.version === 2) {
          for (let x = g; x < tEnd && this.backingCovers(x); x++) v2Writes.push(x);
          g = tEnd;
          continue;
        }
        await this.gate.shared();
        try {
          (await this.tableForWrite(l1i)).pins--;
        } finally {
          this.gate.releaseShared();
        }
        continue;
      }
      if (this.clusterLocks.size > 0) {
        const waits: Promise<void>[] = [];
        for (let x = g; x < tEnd; x++) {
          const w = this.clusterLocks.get(x);
          if (w) waits.push(w);
        }
        if (waits.length > 0) {
          await Promise.all(waits);
          continue;
        }
      }
      // Synchronous pass over the table: no await until the end of the loop body.
      if (this.l2.get(l1i) !== t) continue;
      let dLo = -1;
      let dHi = 0;
      for (let x = g; x < tEnd; x++) {
        const e = (x - base) * 8;
        const hi = t.buf.readUInt32BE(e);
        const lo = t.buf.readUInt32BE(e + 4);
        const k = this.classify(hi, lo);
        const hidesBacking = this.backingCovers(x);
        let nHi = 0;
        let nLo = 0;
        if (hidesBacking) {
          if (this.version === 2) {
            v2Writes.push(x);
            continue;
          }
          nLo = LO_ZERO;
        }
        if (k === K_DATA && !deallocate && this.version === 3) {
          nHi = hi;
          nLo = lo | LO_ZERO;
        } else if (k === K_ZERO_ALLOC && !deallocate) {
          continue;
        } else if (k === K_DATA && !deallocate && this.version === 2 && !hidesBacking) {
          v2Writes.push(x); // v2 keeps the allocation: write zeros into it
          continue;
        } else if (k === K_DATA || k === K_DATA_SHARED || k === K_ZERO_ALLOC || k === K_COMPRESSED) {
          this.releaseEntry(hi, lo);
          freed = true;
        }
        if (nHi === hi && nLo === lo) continue;
        putEntry(t.buf, e, entryOffset(nHi, nLo), nHi & HI_COPIED, nLo & LO_ZERO);
        if (dLo < 0) dLo = e;
        dHi = e + 8;
      }
      if (dLo >= 0) this.markL2Dirty(t, dLo, dHi);
      g = tEnd;
    }
    if (freed) this.scheduleSoonSync();
    for (let i = 0; i < v2Writes.length; ) {
      // Write zeros into runs of consecutive clusters, a cluster at a time buffer-wise.
      const x = v2Writes[i]!;
      const n = Math.min(cs, this.size - x * cs);
      await this.slowWrite(this.zeros().subarray(0, n), x * cs, false);
      i++;
    }
  }

  // ---- allocation queries --------------------------------------------------------

  private async layerExtents(offset: number, length: number): Promise<LayerExtent[]> {
    const out: LayerExtent[] = [];
    const push = (off: number, len: number, state: LayerState) => {
      if (len <= 0) return;
      const last = out[out.length - 1];
      if (last && last.state === state && last.offset + last.length === off) last.length += len;
      else out.push({ offset: off, length: len, state });
    };
    const cs = this.clusterSize;
    for (const [l1i, pos, segEnd] of this.l2Segments(offset, offset + length)) {
      const t = await this.tableOrNull(l1i);
      if (!t) {
        push(pos, segEnd - pos, 'unallocated');
        continue;
      }
      for (let p = pos; p < segEnd; ) {
        const gc = Math.floor(p / cs);
        const cEnd = Math.min(segEnd, (gc + 1) * cs);
        const e = (gc - l1i * this.l2Entries) * 8;
        const k = this.classify(t.buf.readUInt32BE(e), t.buf.readUInt32BE(e + 4));
        push(p, cEnd - p, k === K_UNALLOC ? 'unallocated' : k === K_ZERO ? 'zero' : 'data');
        p = cEnd;
      }
    }
    return out;
  }

  // ---- metadata sync ---------------------------------------------------------------

  private metaDirty(): boolean {
    return this.dirtyL2 > 0 || this.l1DirtyLo >= 0 || this.rc.dirty || this.pendingFrees.length > 0;
  }

  private backgroundSync(): void {
    if (this.closed || this.syncing || this.queuedSync || !this.metaDirty()) return;
    this.syncMetadata().catch(() => undefined); // a failing sync fails the next flush, which retries it
  }

  private scheduleSoonSync(): void {
    if (this.soonTimer || this.closed || this.readOnly) return;
    this.soonTimer = setTimeout(() => {
      this.soonTimer = null;
      this.backgroundSync();
    }, SOON_MS);
    this.soonTimer.unref();
  }

  private writeHeaderBytes(off: number, data: Buffer): Promise<void> {
    return pWrite(this.fd, data, 0, data.length, off);
  }

  private async doSync(): Promise<void> {
    if (this.readOnly) return;
    this.syncing = true;
    try {
      await this.gate.exclusive();
      let frees: number[];
      try {
        frees = await this.syncLocked();
      } finally {
        this.gate.releaseExclusive();
      }
      if (frees.length > 0) {
        // Phase C: no I/O that looked up an old mapping may still run when a
        // cluster becomes reusable; then punch and release in the background.
        await this.quiesce();
        for (const c of frees) this.freeQueue.push(c);
        this.startPuncher();
      }
      this.trimL2(null);
      this.stats.syncs++;
    } finally {
      this.syncing = false;
    }
  }

  /** Phases A and B (gate held exclusive). Returns the clusters phase C may release. */
  private async syncLocked(): Promise<number[]> {
    // A: refcounts, then the data and refcounts are durable.
    const freedTables = await this.rc.writeDirty((off, data) => this.writeHeaderBytes(off, data));
    await pFdatasync(this.fd);
    // B: mappings. Frees are captured before the tables are copied, so their clears are in the copies.
    const frees = this.pendingFrees;
    this.pendingFrees = [];
    for (const c of freedTables) frees.push(c);
    try {
      const writes: Promise<void>[] = [];
      for (const t of this.l2.values()) {
        if (t.dirtyLo < 0) continue;
        const lo = t.dirtyLo - (t.dirtyLo % 512);
        const hi = Math.min(this.clusterSize, Math.ceil(t.dirtyHi / 512) * 512);
        const copy = Buffer.from(t.buf.subarray(lo, hi));
        t.dirtyLo = -1;
        this.dirtyL2--;
        writes.push(
          pWrite(this.fd, copy, 0, copy.length, t.host + lo).catch((e) => {
            this.markL2Dirty(t, lo, hi);
            throw e;
          }),
        );
      }
      await settleAll(writes);
      if (this.l1DirtyLo >= 0) {
        await pFdatasync(this.fd); // new L2 tables are durable before L1 points to them
        const lo = this.l1DirtyLo - (this.l1DirtyLo % 512);
        const hi = Math.min(this.l1.length, Math.ceil(this.l1DirtyHi / 512) * 512);
        const copy = Buffer.from(this.l1.subarray(lo, hi));
        this.l1DirtyLo = -1;
        try {
          await pWrite(this.fd, copy, 0, copy.length, this.l1Offset + lo);
        } catch (e) {
          this.l1DirtyLo = lo;
          this.l1DirtyHi = hi;
          throw e;
        }
      }
      await pFdatasync(this.fd);
    } catch (e) {
      this.pendingFrees = frees.concat(this.pendingFrees);
      throw e;
    }
    return frees;
  }

  private startPuncher(): void {
    if (this.puncher || this.freeQueue.length === 0) return;
    this.puncher = this.runPuncher().finally(() => {
      this.puncher = null;
      this.startPuncher(); // clusters queued while the last batch finished
    });
  }

  /**
   * Phase C, in the background (a flush does not wait for it): punch the
   * file space of released clusters, then drop their refcounts in memory;
   * the next sync writes them. Until then a cluster keeps its refcount, so
   * it is neither re-used nor lost if we crash (a leak at worst).
   */
  private async runPuncher(): Promise<void> {
    while (this.freeQueue.length > 0) {
      const frees = this.freeQueue.splice(0).sort((a, b) => a - b);
      try {
        if (this.punchMode === 'auto') {
          // Punch runs of clusters whose every reference goes now (a compressed
          // cluster can be shared: then its refcount exceeds the releases here).
          const cs = this.clusterSize;
          const ranges: Array<[number, number]> = [];
          for (let i = 0; i < frees.length; ) {
            const c = frees[i]!;
            let j = i + 1;
            while (j < frees.length && frees[j] === c) j++;
            if ((await this.rc.get(c)) <= j - i) {
              const last = ranges[ranges.length - 1];
              if (last && last[0] + last[1] === c * cs) last[1] += cs;
              else ranges.push([c * cs, cs]);
            }
            i = j;
          }
          if (ranges.length > 0) {
            if (await punchRanges(this.fd, ranges, this.fallocateCommand)) this.stats.punches += ranges.length;
            else this.punchMode = 'off';
          }
        }
        for (const c of frees) await this.rc.decrement(c);
        this.stats.frees += frees.length;
      } catch {
        // An I/O error reading refcounts: these clusters stay allocated (leaked), which is safe.
      }
    }
    this.scheduleSoonSync();
  }

  /**
   * Wait until released clusters are punched and their refcounts written:
   * afterwards the image has no leaks and allocatedBytes() reflects discards.
   */
  drain(): Promise<void> {
    if (this.closed) return Promise.reject(closedError(this.path));
    if (this.readOnly) return Promise.resolve();
    return this.guard(() => this.drainInternal());
  }

  private async drainInternal(): Promise<void> {
    // A sync can queue releases, and the puncher's releases dirty refcounts: repeat until quiet.
    for (let i = 0; i < 8; i++) {
      while (this.puncher) await this.puncher;
      await this.syncMetadata();
      if (!this.puncher && this.freeQueue.length === 0 && !this.metaDirty()) return;
    }
  }


  // ---- resize -------------------------------------------------------------------------

  private async resizeLocked(newSize: number): Promise<void> {
    const cs = this.clusterSize;
    const need = l1EntriesFor(newSize, this.clusterBits);
    if (need * 8 > MAX_L1_BYTES) {
      throw new StoreError('ISCSI_ERR_BAD_SIZE', `${newSize} bytes needs an L1 table larger than 32 MiB; use a larger cluster size`);
    }
    await this.gate.exclusive();
    try {
      const frees = await this.syncLocked();
      for (const c of frees) this.pendingFrees.push(c);
      const onDisk = Math.ceil((this.l1Size * 8) / cs); // clusters of the current table
      const hdr = Buffer.alloc(24); // size, crypt_method, l1_size, l1_table_offset
      hdr.writeBigUInt64BE(BigInt(newSize), 0);
      hdr.writeUInt32BE(0, 8);
      if (need * 8 <= onDisk * cs && this.l1Offset !== 0) {
        const l1Size = Math.max(need, this.l1Size);
        hdr.writeUInt32BE(l1Size, 12);
        hdr.writeBigUInt64BE(BigInt(this.l1Offset), 16);
        if (this.l1.length < onDisk * cs) {
          const b = Buffer.alloc(onDisk * cs);
          this.l1.copy(b);
          this.l1 = b;
        }
        await this.writeHeaderBytes(24, hdr);
        await pFdatasync(this.fd);
        this.l1Size = l1Size;
      } else {
        const clusters = Math.ceil((need * 8) / cs);
        const start = await this.rc.allocContiguous(clusters);
        const l1 = Buffer.alloc(clusters * cs);
        this.l1.copy(l1, 0, 0, this.l1Size * 8);
        await pWrite(this.fd, l1, 0, l1.length, start * cs);
        await this.rc.writeDirty((off, data) => this.writeHeaderBytes(off, data));
        await pFdatasync(this.fd); // new table and its refcounts before the header points to it
        hdr.writeUInt32BE(need, 12);
        hdr.writeBigUInt64BE(BigInt(start * cs), 16);
        await this.writeHeaderBytes(24, hdr);
        await pFdatasync(this.fd);
        if (this.l1Offset !== 0) for (let i = 0; i < onDisk; i++) this.pendingFrees.push(this.l1Offset / cs + i);
        this.l1 = l1;
        this.l1Offset = start * cs;
        this.l1Size = need;
      }
      this.size = newSize;
      this.hdr.size = newSize;
      this.hdr.l1Size = this.l1Size;
      this.hdr.l1TableOffset = this.l1Offset;
    } finally {
      this.gate.releaseExclusive();
    }
    if (this.pendingFrees.length > 0) this.scheduleSoonSync();
  }

  // ---- errors ----------------------------------------------------------------------------

  private rangeError(offset: number, length: number): StoreError {
    return new StoreError(
      'ISCSI_ERR_OUT_OF_RANGE',
      `range offset=${offset} length=${length} is outside ${this.path} (size ${this.size})`,
    );
  }

  private readOnlyError(): StoreError {
    return new StoreError('ISCSI_ERR_READ_ONLY', `${this.path} is open read-only`);
  }
}

// ---- opening -------------------------------------------------------------------------------

/** Absolute path of a backing file named in `image`'s header (qcow2 spec: relative to the image). */
export function resolveBackingPath(image: string, backingFile: string): string {
  return path.isAbsolute(backingFile) ? backingFile : path.resolve(path.dirname(image), backingFile);
}

/** Read and parse the header of a qcow2 file (no other checks). */
export async function readQcow2Header(file: string): Promise<Qcow2Header> {
  const fd = await pOpen(file, 'r');
  try {
    return await readHeaderFd(fd, file);
  } finally {
    await pClose(fd);
  }
}

async function readHeaderFd(fd: number, file: string): Promise<Qcow2Header> {
  const st = await pFstat(fd);
  const first = Buffer.alloc(Math.min(4096, st.size));
  await pRead(fd, first, 0, first.length, 0);
  if (first.length < 24 || !hasQcow2Magic(first)) {
    throw new StoreError('ISCSI_ERR_BAD_IMAGE', `${file}: not a qcow2 image (no QFI\\xfb magic)`);
  }
  const bits = first.readUInt32BE(20);
  const cs = bits >= 9 && bits <= 21 ? 2 ** bits : 4096;
  let buf = first;
  if (cs > first.length && st.size > first.length) {
    buf = Buffer.alloc(Math.min(cs, st.size));
    await pRead(fd, buf, 0, buf.length, 0);
  }
  return parseHeader(buf, file);
}

/** 'qcow2' when the file starts with the qcow2 magic, else 'raw'. */
export async function probeImageFormat(file: string): Promise<'qcow2' | 'raw'> {
  const fd = await pOpen(file, 'r');
  try {
    const b = Buffer.alloc(4);
    await pRead(fd, b, 0, 4, 0);
    return hasQcow2Magic(b) ? 'qcow2' : 'raw';
  } finally {
    await pClose(fd);
  }
}

/** Open a backing file read-only by format (given or probed). */
async function openBacking(file: string, format: string | null, depth: number, seen: Set<string>): Promise<BlockStore> {
  const fmt = format ?? (await probeImageFormat(file));
  if (fmt === 'qcow2') return openQcow2Internal(file, { readOnly: true }, depth + 1, seen);
  if (fmt === 'raw') {
    const fd = await pOpen(file, 'r');
    try {
      const st = await pFstat(fd);
      if (!st.isFile() && !st.isBlockDevice()) {
        throw new StoreError('ISCSI_ERR_BACKING', `backing file ${file} is not a regular file`);
      }
      return RawFileStore.fromFd(fd, file, st.size);
    } catch (e) {
      await pClose(fd).catch(() => undefined);
      throw e;
    }
  }
  throw new StoreError('ISCSI_ERR_BACKING', `backing file ${file} has unsupported format '${fmt}' (raw and qcow2 are)`);
}

/**
 * Open a qcow2 image, with its backing chain (see Qcow2OpenOptions.backing).
 * Refuses images with features that are not supported (encryption, external
 * data files, subclusters, zstd) and, for writing, images marked dirty or
 * corrupt and images with internal snapshots.
 */
export function openQcow2Store(file: string, opts: Qcow2OpenOptions = {}): Promise<Qcow2Store> {
  return openQcow2Internal(file, opts, 0, new Set());
}

async function openQcow2Internal(file: string, opts: Qcow2OpenOptions, depth: number, seen: Set<string>): Promise<Qcow2Store> {
  if (depth > MAX_CHAIN) throw new StoreError('ISCSI_ERR_BACKING', `${file}: backing chain longer than ${MAX_CHAIN}`);
  const real = await fs.promises.realpath(file);
  if (seen.has(real)) throw new StoreError('ISCSI_ERR_BACKING', `${file}: backing chain loops back to ${real}`);
  seen.add(real);
  const readOnly = opts.readOnly ?? false;
  const fd = await pOpen(file, readOnly ? 'r' : 'r+');
  let backing: BlockStore | null = null;
  let owns = false;
  let report: LeakReport | null = null;
  try {
    const st = await pFstat(fd);
    if (!st.isFile()) throw new StoreError('ISCSI_ERR_BAD_IMAGE', `${file} is not a regular file`);
    const h = await readHeaderFd(fd, file);
    checkSupported(h, file, !readOnly);
    // Not closed cleanly last time: reclaim leaked clusters before anything is cached (reclaim-leaks.ts).
    const unclean = !readOnly && (await openMarkerExists(file));
    if (unclean) report = await reclaimLeaks(fd, file, h, { punchHoles: opts.punchHoles, fallocateCommand: opts.fallocateCommand });
    const cs = 2 ** h.clusterBits;
    const l1Clusters = Math.ceil((h.l1Size * 8) / cs);
    const l1 = Buffer.alloc(Math.max(l1Clusters * cs, h.l1Size * 8));
    if (h.l1Size > 0) await pRead(fd, l1, 0, h.l1Size * 8, h.l1TableOffset);
    const rt = Buffer.alloc(h.refcountTableClusters * cs);
    await pRead(fd, rt, 0, rt.length, h.refcountTableOffset);
    if (h.backingFile !== null) {
      if (opts.backing && typeof opts.backing === 'object') backing = opts.backing;
      else if (opts.backing !== 'none') {
        if (/^[a-z][a-z0-9+.-]*:/i.test(h.backingFile) && !h.backingFile.startsWith('/')) {
          if (!/^file:/i.test(h.backingFile)) {
            throw new StoreError('ISCSI_ERR_BACKING', `${file}: backing file '${h.backingFile}' uses an unsupported protocol`);
          }
        }
        const bp = resolveBackingPath(file, h.backingFile.replace(/^file:/i, ''));
        if (h.backingFormat !== null && h.backingFormat !== 'raw' && h.backingFormat !== 'qcow2') {
          throw new StoreError('ISCSI_ERR_BACKING', `${file}: backing file format '${h.backingFormat}' is not supported`);
        }
        try {
          backing = await openBacking(bp, h.backingFormat, depth, seen);
        } catch (e) {
          const err = e as NodeJS.ErrnoException;
          if (err.code === 'ENOENT') {
            throw new StoreError('ISCSI_ERR_BACKING', `${file}: backing file ${bp} does not exist`);
          }
          throw e;
        }
        owns = true;
      }
    }
    if (!readOnly) await createOpenMarker(file); // durable before anything is written
    if (!readOnly && h.autoclearFeatures !== 0n) {
      // qcow2 spec: clear unknown/unmaintained auto-clear bits (e.g. bitmaps) before writing.
      await pWrite(fd, Buffer.alloc(8), 0, 8, 88);
      await pFdatasync(fd);
      h.autoclearFeatures = 0n;
    }
    const store = new Qcow2Store(file, fd, h, l1, rt, st.size, backing, owns, opts);
    store.lastOpenReport = report;
    if (report) opts.onLeakReport?.(report);
    return store;
  } catch (e) {
    if (owns && backing) await backing.close().catch(() => undefined);
    await pClose(fd).catch(() => undefined);
    throw e;
  }
}
