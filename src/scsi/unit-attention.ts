/**
 * Unit attention conditions of one logical unit, per I_T nexus (SAM-5 §5.14).
 *
 * Conditions are kept as `ASC << 8 | ASCQ` codes in arrival order, reported
 * one at a time, each cleared when reported (UA_INTLCK_CTRL = 00b, SPC-4
 * §7.5.8). A reset condition (ASC 29h) supersedes everything queued before
 * it, since the reset itself invalidates what they announced.
 */

const MAX_QUEUED = 16;

export class UnitAttentions {
  private readonly byNexus = new Map<string, number[]>();
  /** Total queued conditions: lets the dispatcher skip the map lookup on the hot path. */
  private count = 0;

  get pending(): number {
    return this.count;
  }

  establish(nexusId: string, code: number): void {
    let q = this.byNexus.get(nexusId);
    if (!q) {
      q = [];
      this.byNexus.set(nexusId, q);
    }
    if (code >> 8 === 0x29) {
      this.count -= q.length;
      q.length = 0;
    } else if (q.includes(code) || q.length >= MAX_QUEUED) {
      return;
    }
    q.push(code);
    this.count++;
  }

  establishFor(nexusIds: Iterable<string>, code: number, except?: string): void {
    for (const id of nexusIds) if (id !== except) this.establish(id, code);
  }

  peek(nexusId: string): number | undefined {
    if (this.count === 0) return undefined;
    const q = this.byNexus.get(nexusId);
    return q && q.length > 0 ? q[0] : undefined;
  }

  /** Report (remove and return) the oldest condition for the nexus. */
  take(nexusId: string): number | undefined {
    if (this.count === 0) return undefined;
    const q = this.byNexus.get(nexusId);
    if (!q || q.length === 0) return undefined;
    this.count--;
    return q.shift();
  }

  /** Clear conditions with this code for the nexus (e.g. REPORT LUNS clears 3Fh/0Eh). */
  clear(nexusId: string, code: number): void {
    const q = this.byNexus.get(nexusId);
    if (!q) return;
    const before = q.length;
    const kept = q.filter((c) => c !== code);
    this.count -= before - kept.length;
    this.byNexus.set(nexusId, kept);
  }

  forget(nexusId: string): void {
    const q = this.byNexus.get(nexusId);
    if (q) this.count -= q.length;
    this.byNexus.delete(nexusId);
  }

  list(nexusId: string): readonly number[] {
    return this.byNexus.get(nexusId) ?? [];
  }
}
