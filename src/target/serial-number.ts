/**
 * 32-bit serial number arithmetic (RFC 1982), as RFC 7143 §4.2.2.1 requires for
 * CmdSN, StatSN, DataSN and R2TSN comparisons.
 */
const HALF = 0x80000000;

/** s1 < s2 in serial arithmetic. */
export function snLess(s1: number, s2: number): boolean {
  return s1 !== s2 && ((s1 < s2 && s2 - s1 < HALF) || (s1 > s2 && s1 - s2 > HALF));
}

export function snLessOrEqual(s1: number, s2: number): boolean {
  return s1 === s2 || snLess(s1, s2);
}

export function snAdd(s: number, n: number): number {
  return (s + n) >>> 0;
}

/** Whether `sn` lies in the closed window [low, high] (serial arithmetic). */
export function snInWindow(sn: number, low: number, high: number): boolean {
  return snLessOrEqual(low, sn) && snLessOrEqual(sn, high);
}
