/**
 * A shared/exclusive gate with writer preference. Metadata allocation
 * (new clusters, new L2 tables) runs shared; a metadata sync and a resize
 * run exclusive, so the metadata they write is a consistent cut. Holders of
 * the gate never wait for per-cluster locks (no lock-order cycles).
 */
export class Gate {
  private readers = 0;
  private writer = false;
  private readonly rq: Array<() => void> = [];
  private readonly wq: Array<() => void> = [];

  shared(): Promise<void> {
    if (!this.writer && this.wq.length === 0) {
      this.readers++;
      return Promise.resolve();
    }
    return new Promise((r) => this.rq.push(r));
  }

  releaseShared(): void {
    if (--this.readers === 0 && this.wq.length > 0) {
      this.writer = true;
      this.wq.shift()!();
    }
  }

  exclusive(): Promise<void> {
    if (!this.writer && this.readers === 0) {
      this.writer = true;
      return Promise.resolve();
    }
    return new Promise((r) => this.wq.push(r));
  }

  releaseExclusive(): void {
    this.writer = false;
    if (this.rq.length > 0) {
      // Readers that queued behind this writer go first, all at once.
      const rs = this.rq.splice(0);
      this.readers += rs.length;
      for (const r of rs) r();
    } else if (this.wq.length > 0) {
      this.writer = true;
      this.wq.shift()!();
    }
  }
}
