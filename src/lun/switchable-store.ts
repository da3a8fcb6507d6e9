/**
 * The image a running LUN serves, behind a handle the daemon can swap
 * (DESIGN.md §3): online snapshots, snapshot switch/delete and online
 * `lun-grow` need the image quiet for a moment, and sometimes a different
 * image afterwards. `exclusive()` holds new I/O back, waits for the I/O in
 * flight, runs the change, and lets the held I/O continue on whatever
 * store the change left in place. Initiators see a pause, never an error.
 *
 * The hot path costs one counter and one `finally` per command.
 */
import type { AllocationExtent, BlockStore } from './block-store.js';

export class SwitchableStore implements BlockStore {
  private current: BlockStore;
  private inFlight = 0;
  /** Settles when the running exclusive section ends; null when none runs. */
  private gate: Promise<void> | null = null;
  private drained: (() => void) | null = null;
  /** Exclusive sections run one after another. */
  private chain: Promise<unknown> = Promise.resolve();

  constructor(store: BlockStore) {
    this.current = store;
  }

  /** The store I/O goes to now. */
  get inner(): BlockStore {
    return this.current;
  }

  get sizeBytes(): number {
    return this.current.sizeBytes;
  }

  get format(): string {
    return this.current.format;
  }

  get unmapGranularityBytes(): number | undefined {
    return this.current.unmapGranularityBytes;
  }

  read(buf: Buffer, offset: number): Promise<void> {
    return this.gate ? this.held(() => this.read(buf, offset)) : this.track(this.current.read(buf, offset));
  }

  write(buf: Buffer, offset: number, fua: boolean): Promise<void> {
    return this.gate ? this.held(() => this.write(buf, offset, fua)) : this.track(this.current.write(buf, offset, fua));
  }

  flush(): Promise<void> {
    return this.gate ? this.held(() => this.flush()) : this.track(this.current.flush());
  }

  discard(offset: number, length: number): Promise<void> {
    return this.gate ? this.held(() => this.discard(offset, length)) : this.track(this.current.discard(offset, length));
  }

  writeZeroes(offset: number, length: number, deallocate: boolean): Promise<void> {
    return this.gate
      ? this.held(() => this.writeZeroes(offset, length, deallocate))
      : this.track(this.current.writeZeroes(offset, length, deallocate));
  }

  allocation(offset: number, length: number): Promise<AllocationExtent[]> {
    return this.gate ? this.held(() => this.allocation(offset, length)) : this.track(this.current.allocation(offset, length));
  }

  allocatedBytes(): Promise<number> {
    return this.gate ? this.held(() => this.allocatedBytes()) : this.track(this.current.allocatedBytes());
  }

  resize(newSizeBytes: number): Promise<void> {
    return this.exclusive((s) => s.resize(newSizeBytes));
  }

  /** Closing waits for I/O in flight; the store is unusable afterwards. */
  close(): Promise<void> {
    return this.exclusive((s) => s.close());
  }

  /**
   * Run `change` with no I/O in flight and none starting. `change` gets the
   * current store and a `replace` function to install another one (the
   * caller closes the old one if it should be closed). I/O that arrived
   * meanwhile then runs on the store in place when `change` settles, even
   * if it failed.
   */
  exclusive<T>(change: (store: BlockStore, replace: (next: BlockStore) => void) => Promise<T>): Promise<T> {
    const run = this.chain.then(async () => {
      let open!: () => void;
      this.gate = new Promise<void>((resolve) => (open = resolve));
      try {
        if (this.inFlight > 0) await new Promise<void>((resolve) => (this.drained = resolve));
        return await change(this.current, (next) => {
          this.current = next;
        });
      } finally {
        this.gate = null;
        open();
      }
    });
    this.chain = run.catch(() => undefined);
    return run;
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.inFlight++;
    return p.finally(() => {
      if (--this.inFlight === 0 && this.drained) {
        const d = this.drained;
        this.drained = null;
        d();
      }
    });
  }

  private async held<T>(again: () => Promise<T>): Promise<T> {
    while (this.gate) await this.gate;
    return again();
  }
}
