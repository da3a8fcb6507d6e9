/**
 * An in-memory, sparse BlockStore (lun/block-store.ts) for tests and demos:
 * a Map of fixed-size chunks (64 KiB by default). Unwritten chunks read as
 * zeros and are reported deallocated by allocation(); discarding a whole
 * chunk frees it, discarding part of one zeroes that part (so deallocated
 * ranges always read as zeros, LBPRZ = 1).
 */
import type { AllocationExtent, BlockStore } from './block-store.js';

export interface MemoryStoreOptions {
  /** Chunk (allocation unit) size in bytes, a power of two >= 512. Default 64 KiB. */
  chunkSize?: number;
}

export class MemoryStoreError extends Error {
  constructor(
    readonly code: 'LUN_STORE_RANGE' | 'LUN_STORE_CLOSED' | 'LUN_STORE_SHRINK' | 'LUN_STORE_ARGUMENT',
    message: string,
  ) {
    super(message);
    this.name = 'MemoryStoreError';
  }
}

export class MemoryStore implements BlockStore {
  readonly format = 'memory';
  readonly chunkSize: number;
  private size: number;
  private readonly chunks = new Map<number, Buffer>();
  private closed = false;
  /** Counters for tests: how many flushes and FUA writes reached the store. */
  readonly stats = { reads: 0, writes: 0, fuaWrites: 0, flushes: 0, discards: 0, writeZeroes: 0 };

  constructor(sizeBytes: number, opts: MemoryStoreOptions = {}) {
    const chunk = opts.chunkSize ?? 64 * 1024;
    if (!Number.isInteger(chunk) || chunk < 512 || (chunk & (chunk - 1)) !== 0) {
      throw new MemoryStoreError('LUN_STORE_ARGUMENT', `chunk size ${chunk} must be a power of two of at least 512 bytes`);
    }
    if (!Number.isSafeInteger(sizeBytes) || sizeBytes < 0) {
      throw new MemoryStoreError('LUN_STORE_ARGUMENT', `size ${sizeBytes} must be a non-negative integer`);
    }
    this.chunkSize = chunk;
    this.size = sizeBytes;
  }

  get sizeBytes(): number {
    return this.size;
  }

  private check(offset: number, length: number): void {
    if (this.closed) throw new MemoryStoreError('LUN_STORE_CLOSED', 'memory store is closed');
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > this.size) {
      throw new MemoryStoreError('LUN_STORE_RANGE', `range [${offset}, ${offset + length}) is outside the store (size ${this.size})`);
    }
  }

  async read(buf: Buffer, offset: number): Promise<void> {
    this.check(offset, buf.length);
    this.stats.reads++;
    const cs = this.chunkSize;
    let pos = 0;
    while (pos < buf.length) {
      const abs = offset + pos;
      const idx = Math.floor(abs / cs);
      const within = abs - idx * cs;
      const n = Math.min(cs - within, buf.length - pos);
      const c = this.chunks.get(idx);
      if (c) c.copy(buf, pos, within, within + n);
      else buf.fill(0, pos, pos + n);
      pos += n;
    }
  }

  async write(buf: Buffer, offset: number, fua: boolean): Promise<void> {
    this.check(offset, buf.length);
    this.stats.writes++;
    if (fua) this.stats.fuaWrites++;
    const cs = this.chunkSize;
    let pos = 0;
    while (pos < buf.length) {
      const abs = offset + pos;
      const idx = Math.floor(abs / cs);
      const within = abs - idx * cs;
      const n = Math.min(cs - within, buf.length - pos);
      let c = this.chunks.get(idx);
      if (!c) {
        c = Buffer.alloc(cs);
        this.chunks.set(idx, c);
      }
      buf.copy(c, within, pos, pos + n);
      pos += n;
    }
  }

  async flush(): Promise<void> {
    if (this.closed) throw new MemoryStoreError('LUN_STORE_CLOSED', 'memory store is closed');
    this.stats.flushes++;
  }

  async discard(offset: number, length: number): Promise<void> {
    this.check(offset, length);
    this.stats.discards++;
    this.zeroRange(offset, length, true);
  }

  async writeZeroes(offset: number, length: number, deallocate: boolean): Promise<void> {
    this.check(offset, length);
    this.stats.writeZeroes++;
    this.zeroRange(offset, length, deallocate);
  }

  /** Zero [offset, offset+length): whole chunks are freed (deallocate) or kept allocated as zeros. */
  private zeroRange(offset: number, length: number, deallocate: boolean): void {
    const cs = this.chunkSize;
    let pos = offset;
    const end = offset + length;
    while (pos < end) {
      const idx = Math.floor(pos / cs);
      const within = pos - idx * cs;
      const n = Math.min(cs - within, end - pos);
      const c = this.chunks.get(idx);
      if (n === cs && deallocate) {
        this.chunks.delete(idx);
      } else if (c) {
        c.fill(0, within, within + n);
      } else if (!deallocate) {
        this.chunks.set(idx, Buffer.alloc(cs));
      }
      pos += n;
    }
  }

  async allocation(offset: number, length: number): Promise<AllocationExtent[]> {
    this.check(offset, length);
    const out: AllocationExtent[] = [];
    const cs = this.chunkSize;
    let pos = offset;
    const end = offset + length;
    while (pos < end) {
      const idx = Math.floor(pos / cs);
      const n = Math.min((idx + 1) * cs, end) - pos;
      const mapped = this.chunks.has(idx);
      const last = out[out.length - 1];
      if (last && last.mapped === mapped) last.length += n;
      else out.push({ offset: pos, length: n, mapped });
      pos += n;
    }
    return out;
  }

  async allocatedBytes(): Promise<number> {
    return this.chunks.size * this.chunkSize;
  }

  async resize(newSizeBytes: number): Promise<void> {
    if (this.closed) throw new MemoryStoreError('LUN_STORE_CLOSED', 'memory store is closed');
    if (!Number.isSafeInteger(newSizeBytes) || newSizeBytes < this.size) {
      throw new MemoryStoreError('LUN_STORE_SHRINK', `cannot resize from ${this.size} to ${newSizeBytes} bytes: stores only grow`);
    }
    this.size = newSizeBytes;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.chunks.clear();
  }
}
