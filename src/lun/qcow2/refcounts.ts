/**
 * Host cluster allocation through the refcount table and refcount blocks
 * (qcow2 spec, "Host cluster management").
 *
 * The in-memory refcounts are authoritative: allocation sets a cluster's
 * refcount to 1 in memory at once, so two allocations never hand out the
 * same cluster, and the refcount reaches the file later (writeDirty(), the
 * first phase of a metadata sync, before any L2 entry that points to the
 * cluster is written). Decrements are applied only by the caller once the
 * L2 change that unreferenced the cluster is durable, so the refcounts in
 * the file are never lower than the references in the file: a crash leaves
 * at most leaked clusters (DESIGN.md §6).
 *
 * Refcount blocks we create are self-describing: the block for range k
 * (clusters k*E .. k*E+E-1, E entries per block) is placed at cluster k*E,
 * which is free whenever block k does not exist yet. A growing refcount
 * table moves to the start of a new range, right after that range's block.
 */
import { StoreError } from '../raw-store.js';
import { entryOffset, putEntry, refcountByteRange, refcountGet, refcountSet } from './format.js';
import { pRead, pWrite, pFdatasync } from './io.js';

interface RcBlock {
  k: number;
  host: number;
  buf: Buffer;
  /** Dirty byte range [dirtyLo, dirtyHi) or dirtyLo = -1 when clean. */
  dirtyLo: number;
  dirtyHi: number;
  used: number;
}

export interface ClusterRun {
  /** First host cluster index. */
  start: number;
  count: number;
  /** Clusters at or after this index were never written: they read as zeros. */
  freshFrom: number;
}

export class Refcounts {
  readonly entriesPerBlock: number;
  private rt: Buffer;
  private rtOffset: number;
  private rtClusters: number;
  private rtDirtyLo = -1;
  private rtDirtyHi = 0;
  /** Tables replaced by a growth whose header switch is not yet written. */
  private relocated = false;
  private oldTables: Array<{ offset: number; clusters: number }> = [];
  private readonly blocks = new Map<number, RcBlock>();
  private readonly loading = new Map<number, Promise<void>>();
  private dirtyBlocks = 0;
  private tick = 0;
  private growing: Promise<void> | null = null;
  /** First cluster that may be free. */
  private freeHint = 0;

  constructor(
    private readonly fd: number,
    private readonly file: string,
    private readonly clusterBits: number,
    readonly order: number,
    rt: Buffer,
    rtOffset: number,
    rtClusters: number,
    /** One past the highest cluster ever written in the file. */
    public hwm: number,
    private readonly capacity: number,
  ) {
    this.entriesPerBlock = (2 ** clusterBits * 8) / 2 ** order;
    this.rt = rt;
    this.rtOffset = rtOffset;
    this.rtClusters = rtClusters;
  }

  private get cs(): number {
    return 2 ** this.clusterBits;
  }

  private get rtEntries(): number {
    return (this.rtClusters * this.cs) / 8;
  }

  get maxRefcount(): number {
    return 2 ** 2 ** this.order - 1;
  }

  /** True when refcount metadata awaits writing. */
  get dirty(): boolean {
    return this.dirtyBlocks > 0 || this.rtDirtyLo >= 0 || this.relocated;
  }

  get dirtyBlockCount(): number {
    return this.dirtyBlocks;
  }

  private rtGet(k: number): number {
    if (k >= this.rtEntries) return 0;
    return entryOffset(this.rt.readUInt32BE(k * 8), this.rt.readUInt32BE(k * 8 + 4));
  }

  private rtSet(k: number, host: number): void {
    putEntry(this.rt, k * 8, host, 0, 0);
    const lo = k * 8;
    if (this.rtDirtyLo < 0) {
      this.rtDirtyLo = lo;
      this.rtDirtyHi = lo + 8;
    } else {
      this.rtDirtyLo = Math.min(this.rtDirtyLo, lo);
      this.rtDirtyHi = Math.max(this.rtDirtyHi, lo + 8);
    }
  }

  private markDirty(b: RcBlock, lo: number, hi: number): void {
    if (b.dirtyLo < 0) {
      this.dirtyBlocks++;
      b.dirtyLo = lo;
      b.dirtyHi = hi;
    } else {
      if (lo < b.dirtyLo) b.dirtyLo = lo;
      if (hi > b.dirtyHi) b.dirtyHi = hi;
    }
  }

  private insert(b: RcBlock): void {
    this.blocks.set(b.k, b);
    if (this.blocks.size <= this.capacity) return;
    let victim: RcBlock | null = null;
    for (const c of this.blocks.values()) {
      if (c.dirtyLo >= 0 || c === b) continue;
      if (!victim || c.used < victim.used) victim = c;
    }
    if (victim) this.blocks.delete(victim.k);
  }

  /** Load block k into the cache (no-op when cached or absent). */
  private load(k: number): Promise<void> {
    const pending = this.loading.get(k);
    if (pending) return pending;
    const host = this.rtGet(k);
    if (host === 0 || this.blocks.has(k)) return Promise.resolve();
    const buf = Buffer.allocUnsafe(this.cs);
    const p = pRead(this.fd, buf, 0, this.cs, host)
      .then(() => {
        if (!this.blocks.has(k)) this.insert({ k, host, buf, dirtyLo: -1, dirtyHi: 0, used: ++this.tick });
      })
      .finally(() => this.loading.delete(k));
    this.loading.set(k, p);
    return p;
  }

  /** Refcount of host cluster `c`. */
  async get(c: number): Promise<number> {
    const k = Math.floor(c / this.entriesPerBlock);
    for (;;) {
      if (this.rtGet(k) === 0) return 0;
      const b = this.blocks.get(k);
      if (b) {
        b.used = ++this.tick;
        return refcountGet(b.buf, c - k * this.entriesPerBlock, this.order);
      }
      await this.load(k);
    }
  }

  /**
   * Allocate up to `n` contiguous free clusters (at least one), first fit
   * from the free hint, within one refcount block. Their refcount is 1 in
   * memory when this resolves.
   */
  async allocRun(n: number): Promise<ClusterRun> {
    const E = this.entriesPerBlock;
    for (;;) {
      const c = this.freeHint;
      const k = Math.floor(c / E);
      if (k >= this.rtEntries) {
        await this.grow(k);
        continue;
      }
      if (this.rtGet(k) === 0) {
        this.createBlock(k);
        continue;
      }
      const b = this.blocks.get(k);
      if (!b) {
        await this.load(k);
        continue;
      }
      b.used = ++this.tick;
      // Synchronous from here: scan and mark without yielding.
      const base = k * E;
      let i = c - base;
      while (i < E && refcountGet(b.buf, i, this.order) !== 0) i++;
      if (i === E) {
        this.freeHint = base + E;
        continue;
      }
      let count = 1;
      while (count < n && i + count < E && refcountGet(b.buf, i + count, this.order) === 0) count++;
      for (let j = 0; j < count; j++) refcountSet(b.buf, i + j, this.order, 1);
      this.markDirty(b, refcountByteRange(i, this.order)[0], refcountByteRange(i + count - 1, this.order)[1]);
      const start = base + i;
      this.freeHint = start + count;
      const freshFrom = Math.max(start, this.hwm);
      if (start + count > this.hwm) this.hwm = start + count;
      return { start, count, freshFrom };
    }
  }

  /** Allocate exactly `n` contiguous clusters (metadata tables). */
  async allocContiguous(n: number): Promise<number> {
    if (n >= this.entriesPerBlock) {
      throw new StoreError('ISCSI_ERR_BAD_SIZE', `${this.file}: cannot allocate ${n} contiguous clusters for metadata`);
    }
    const held: ClusterRun[] = [];
    try {
      for (;;) {
        const r = await this.allocRun(n);
        if (r.count === n) return r.start;
        held.push(r);
      }
    } finally {
      for (const r of held) this.release(r);
    }
  }

  /** Undo an allocation that was never referenced (in memory only). */
  release(r: { start: number; count: number }): void {
    const E = this.entriesPerBlock;
    for (let c = r.start; c < r.start + r.count; c++) {
      const k = Math.floor(c / E);
      const b = this.blocks.get(k);
      if (!b) continue; // cannot happen: blocks with allocations are dirty, never evicted
      const i = c - k * E;
      refcountSet(b.buf, i, this.order, 0);
      const [lo, hi] = refcountByteRange(i, this.order);
      this.markDirty(b, lo, hi);
    }
    if (r.start < this.freeHint) this.freeHint = r.start;
  }

  /**
   * Drop one reference to host cluster `c` (in memory). Only for clusters
   * whose last reference is already gone from the file.
   */
  async decrement(c: number): Promise<void> {
    const E = this.entriesPerBlock;
    const k = Math.floor(c / E);
    for (;;) {
      if (this.rtGet(k) === 0) return; // refcount already 0 (leaked reference): nothing to drop
      const b = this.blocks.get(k);
      if (!b) {
        await this.load(k);
        continue;
      }
      const i = c - k * E;
      const v = refcountGet(b.buf, i, this.order);
      if (v === 0) return;
      refcountSet(b.buf, i, this.order, v - 1);
      const [lo, hi] = refcountByteRange(i, this.order);
      this.markDirty(b, lo, hi);
      if (v === 1 && c < this.freeHint) this.freeHint = c;
      return;
    }
  }

  /** Add one reference to host cluster `c` (in memory); used when sharing is set up (tests, tools). */
  async increment(c: number): Promise<void> {
    const E = this.entriesPerBlock;
    const k = Math.floor(c / E);
    for (;;) {
      if (k >= this.rtEntries) await this.grow(k);
      if (this.rtGet(k) === 0) this.createBlock(k);
      const b = this.blocks.get(k);
      if (!b) {
        await this.load(k);
        continue;
      }
      const i = c - k * E;
      const v = refcountGet(b.buf, i, this.order);
      if (v >= this.maxRefcount) throw new StoreError('ISCSI_ERR_BAD_IMAGE', `${this.file}: refcount overflow at cluster ${c}`);
      refcountSet(b.buf, i, this.order, v + 1);
      const [lo, hi] = refcountByteRange(i, this.order);
      this.markDirty(b, lo, hi);
      return;
    }
  }

  /** A new, self-describing refcount block for range k at cluster k*E. */
  private createBlock(k: number): void {
    const E = this.entriesPerBlock;
    const host = k * E * this.cs;
    const b: RcBlock = { k, host, buf: Buffer.alloc(this.cs), dirtyLo: -1, dirtyHi: 0, used: ++this.tick };
    refcountSet(b.buf, 0, this.order, 1);
    this.markDirty(b, 0, this.cs);
    this.insert(b);
    this.rtSet(k, host);
    if (k * E + 1 > this.hwm) this.hwm = k * E + 1;
  }

  /** Grow the refcount table so that block k has an entry. Serialised. */
  private async grow(k: number): Promise<void> {
    while (this.growing) await this.growing;
    if (k < this.rtEntries) return;
    const run = async () => {
      const E = this.entriesPerBlock;
      const cs = this.cs;
      let entries = Math.max(this.rtEntries * 2, k + 1);
      const T = Math.ceil((entries * 8) / cs);
      entries = (T * cs) / 8;
      if (T * cs > 8 * 1024 * 1024 || T + 1 >= E) {
        throw new StoreError('ISCSI_ERR_BAD_SIZE', `${this.file}: the refcount table cannot grow to ${T} clusters`);
      }
      // Range k has no block (it lies beyond the old table), so clusters k*E.. are free.
      const rt = Buffer.alloc(T * cs);
      this.rt.copy(rt, 0, 0, Math.min(this.rt.length, rt.length));
      this.oldTables.push({ offset: this.rtOffset, clusters: this.rtClusters });
      this.rt = rt;
      this.rtOffset = (k * E + 1) * cs;
      this.rtClusters = T;
      this.relocated = true;
      this.createBlock(k);
      const b = this.blocks.get(k)!;
      for (let j = 1; j <= T; j++) refcountSet(b.buf, j, this.order, 1);
      if (k * E + 1 + T > this.hwm) this.hwm = k * E + 1 + T;
    };
    this.growing = run().finally(() => (this.growing = null));
    await this.growing;
  }

  /**
   * Phase A of a metadata sync: write dirty refcount blocks, then the
   * refcount table (after a barrier, so it never points to an unwritten
   * block), moving the table in the header if it grew. The caller issues
   * the closing fdatasync. Returns host clusters of replaced tables, which
   * are free once that fdatasync is done.
   */
  async writeDirty(writeHeader: (off: number, data: Buffer) => Promise<void>): Promise<number[]> {
    const writes: Promise<void>[] = [];
    for (const b of this.blocks.values()) {
      if (b.dirtyLo < 0) continue;
      const lo = b.dirtyLo - (b.dirtyLo % 512);
      const hi = Math.min(this.cs, Math.ceil(b.dirtyHi / 512) * 512);
      const copy = Buffer.from(b.buf.subarray(lo, hi));
      b.dirtyLo = -1;
      this.dirtyBlocks--;
      writes.push(
        pWrite(this.fd, copy, 0, copy.length, b.host + lo).catch((e) => {
          this.markDirty(b, lo, hi);
          throw e;
        }),
      );
    }
    await settleAll(writes);
    const freed: number[] = [];
    if (this.relocated) {
      const copy = Buffer.from(this.rt);
      await pWrite(this.fd, copy, 0, copy.length, this.rtOffset);
      await pFdatasync(this.fd);
      const hdr = Buffer.alloc(12);
      hdr.writeBigUInt64BE(BigInt(this.rtOffset), 0);
      hdr.writeUInt32BE(this.rtClusters, 8);
      await writeHeader(48, hdr); // refcount_table_offset, refcount_table_clusters
      this.relocated = false;
      this.rtDirtyLo = -1;
      for (const t of this.oldTables) for (let j = 0; j < t.clusters; j++) freed.push(t.offset / this.cs + j);
      this.oldTables = [];
    } else if (this.rtDirtyLo >= 0) {
      await pFdatasync(this.fd); // new blocks are durable before the table points to them
      const lo = this.rtDirtyLo - (this.rtDirtyLo % 512);
      const hi = Math.min(this.rt.length, Math.ceil(this.rtDirtyHi / 512) * 512);
      const copy = Buffer.from(this.rt.subarray(lo, hi));
      this.rtDirtyLo = -1;
      try {
        await pWrite(this.fd, copy, 0, copy.length, this.rtOffset + lo);
      } catch (e) {
        this.rtDirtyLo = lo;
        this.rtDirtyHi = hi;
        throw e;
      }
    }
    return freed;
  }

  /** Number of clusters with a non-zero refcount (scans every block; for tests and tools). */
  async countUsed(): Promise<number> {
    let n = 0;
    for (let k = 0; k < this.rtEntries; k++) {
      if (this.rtGet(k) === 0) continue;
      for (let i = 0; i < this.entriesPerBlock; i++) {
        if ((await this.get(k * this.entriesPerBlock + i)) !== 0) n++;
      }
    }
    return n;
  }
}

/** Wait for every promise; then throw the first rejection, if any. */
export async function settleAll(ps: Promise<unknown>[]): Promise<void> {
  if (ps.length === 0) return;
  if (ps.length === 1) {
    await ps[0];
    return;
  }
  const r = await Promise.allSettled(ps);
  for (const x of r) if (x.status === 'rejected') throw x.reason;
}
