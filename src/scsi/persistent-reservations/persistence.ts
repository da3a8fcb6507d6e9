/**
 * Where the persistent reservation state of a logical unit is kept
 * (DESIGN.md §4, §6). The daemon gives the target device one backed by
 * ISCSI_ROOT (src/cluster/pr-store.ts): state loaded before the target
 * starts, each change written durably before GOOD status. Without one the
 * state lives in memory only (tests, tools).
 */
import { fromSnapshot, type PrSnapshot, type PrState } from './types.js';

/** A logical unit's stable identity: the NAA designator never changes (DESIGN.md §5). */
export interface PrLunIdentity {
  id: number;
  naa: string;
}

export interface PrPersistence {
  /** State stored for the logical unit, if any (already loaded: the device asks synchronously). */
  initial(lun: PrLunIdentity): PrState | undefined;
  /** Write the state durably; resolves once it is on stable storage. */
  save(lun: PrLunIdentity, snapshot: PrSnapshot): Promise<void>;
}

/** Keeps the last saved snapshot per NAA in memory; `failNext` makes the next save fail (tests). */
export class MemoryPrPersistence implements PrPersistence {
  readonly saved = new Map<string, PrSnapshot>();
  saves = 0;
  failNext: Error | undefined;

  initial(lun: PrLunIdentity): PrState | undefined {
    const s = this.saved.get(lun.naa.toLowerCase());
    return s ? fromSnapshot(s) : undefined;
  }

  async save(lun: PrLunIdentity, snapshot: PrSnapshot): Promise<void> {
    const e = this.failNext;
    if (e) {
      this.failNext = undefined;
      throw e;
    }
    this.saves++;
    this.saved.set(lun.naa.toLowerCase(), structuredClone(snapshot));
  }
}
