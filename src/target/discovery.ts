/**
 * SendTargets (RFC 7143 §12.3 and Appendix C): the answer a target gives to
 * `SendTargets=All`, `SendTargets=<iSCSI name>` or `SendTargets=` (empty: the
 * session's own target).
 */

export interface DiscoverableTarget {
  iqn: string;
  portals: { address: string; port: number; tpgt: number }[];
}

/** RFC 7143 §4.2.7.1 / §13.8: IPv6 literals are written in brackets. */
export function formatTargetAddress(address: string, port: number, tpgt: number): string {
  const host = address.includes(':') ? `[${address}]` : address;
  return `${host}:${port},${tpgt}`;
}

/** RFC 3720 §3.2.6.3: iqn., eui. and naa. name formats (loose syntax check). */
export function looksLikeIscsiName(value: string): boolean {
  return /^(iqn\.\d{4}-\d{2}\.[^\s]+|eui\.[0-9A-Fa-f]{16}|naa\.[0-9A-Fa-f]{16}([0-9A-Fa-f]{16})?)$/.test(value);
}

export type SendTargetsAnswer = { kind: 'targets'; pairs: [string, string][] } | { kind: 'reject' };

/**
 * Build the key=value pairs of a SendTargets answer.
 * - `All` lists every target the initiator may see (discovery sessions), or
 *   the session's own target in a normal session (§12.3: a normal session
 *   reports the target it is logged in to).
 * - an iSCSI name lists that target if the initiator may see it, else nothing.
 * - empty value: the session's target (normal sessions only).
 * - anything else is not a valid SendTargets value: Reject (§6.2, §13.3).
 */
export function answerSendTargets(
  value: string,
  visible: DiscoverableTarget[],
  sessionTarget: string | undefined,
): SendTargetsAnswer {
  let chosen: DiscoverableTarget[];
  if (value === 'All') {
    chosen = sessionTarget === undefined ? visible : visible.filter((t) => t.iqn === sessionTarget);
  } else if (value === '') {
    if (sessionTarget === undefined) return { kind: 'reject' };
    chosen = visible.filter((t) => t.iqn === sessionTarget);
  } else if (looksLikeIscsiName(value)) {
    // Names compare after stringprep's mapping to lower case (RFC 3720 §3.2.6.2).
    const wanted = value.toLowerCase();
    chosen = visible.filter((t) => t.iqn.toLowerCase() === wanted);
  } else {
    return { kind: 'reject' };
  }
  const pairs: [string, string][] = [];
  for (const t of chosen) {
    pairs.push(['TargetName', t.iqn]);
    for (const p of t.portals) pairs.push(['TargetAddress', formatTargetAddress(p.address, p.port, p.tpgt)]);
  }
  return { kind: 'targets', pairs };
}
