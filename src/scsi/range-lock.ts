/**
 * Per-logical-unit LBA range lock.
 *
 * Ordinary writes take the range in shared mode: they never wait for each
 * other (SAM-5 SIMPLE tasks may run concurrently). Read-modify-write
 * commands (ORWRITE, COMPARE AND WRITE; SBC-3 §5.8, §5.2) take it
 * exclusively, so no other write to an overlapping range is in flight while
 * they read, combine and write back. Waiters are granted in arrival order
 * where they conflict, so an exclusive request is not starved by a stream of
 * shared ones.
 */

export interface RangeLease {
  readonly start: number;
  readonly end: number;
  readonly exclusive: boolean;
}

interface Entry extends RangeLease {
  grant?: () => void;
}

function overlaps(a: RangeLease, start: number, end: number): boolean {
  return a.start < end && start < a.end;
}

export class RangeLock {
  private readonly held = new Set<Entry>();
  private waiting: Entry[] = [];
  /** Exclusive entries held or waiting; 0 makes shared acquisition a constant-time fast path. */
  private exclusives = 0;

  /** Number of leases held (tests, diagnostics). */
  get size(): number {
    return this.held.size;
  }

  /** Shared lease on [start, end) without waiting, or undefined when it must wait. */
  tryShared(start: number, end: number): RangeLease | undefined {
    if (this.exclusives === 0 || !this.conflicts(start, end, false, this.waiting.length)) {
      const e: Entry = { start, end, exclusive: false };
      this.held.add(e);
      return e;
    }
    return undefined;
  }

  /** Lease on [start, end) (block numbers), waiting for conflicting leases. */
  acquire(start: number, end: number, exclusive: boolean): Promise<RangeLease> {
    if (!exclusive) {
      const fast = this.tryShared(start, end);
      if (fast) return Promise.resolve(fast);
    }
    const e: Entry = { start, end, exclusive };
    if (exclusive) this.exclusives++;
    if (!this.conflicts(start, end, exclusive, this.waiting.length)) {
      this.held.add(e);
      return Promise.resolve(e);
    }
    return new Promise<RangeLease>((resolve) => {
      e.grant = () => resolve(e);
      this.waiting.push(e);
    });
  }

  release(lease: RangeLease): void {
    const e = lease as Entry;
    if (!this.held.delete(e)) return;
    if (e.exclusive) this.exclusives--;
    if (this.waiting.length > 0) this.wake();
  }

  /** Does [start,end) conflict with a held lease or with one of the first `upTo` waiters? */
  private conflicts(start: number, end: number, exclusive: boolean, upTo: number): boolean {
    for (const h of this.held) {
      if ((exclusive || h.exclusive) && overlaps(h, start, end)) return true;
    }
    for (let i = 0; i < upTo; i++) {
      const w = this.waiting[i];
      if ((exclusive || w.exclusive) && overlaps(w, start, end)) return true;
    }
    return false;
  }

  private wake(): void {
    const still: Entry[] = [];
    const queue = this.waiting;
    this.waiting = still;
    for (const w of queue) {
      // Conflicts with held leases, or with earlier waiters that keep waiting.
      let blocked = false;
      for (const h of this.held) {
        if ((w.exclusive || h.exclusive) && overlaps(h, w.start, w.end)) {
          blocked = true;
          break;
        }
      }
      if (!blocked) {
        for (const s of still) {
          if ((w.exclusive || s.exclusive) && overlaps(s, w.start, w.end)) {
            blocked = true;
            break;
          }
        }
      }
      if (blocked) {
        still.push(w);
      } else {
        this.held.add(w);
        const g = w.grant;
        w.grant = undefined;
        g?.();
      }
    }
  }
}
