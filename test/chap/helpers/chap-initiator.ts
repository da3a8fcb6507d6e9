/**
 * Test-only: the initiator side of CHAP (RFC 7143 §12.1.3, RFC 1994 §4.1),
 * written independently of src/chap so dialogues test the target against a
 * second implementation: its own algorithm table, its own value decoding.
 */
import { createHash, randomBytes } from 'node:crypto';

const HASH: Record<string, string> = { '5': 'md5', '6': 'sha1', '7': 'sha256', '8': 'sha3-256' };

/** Decode a CHAP binary value: 0x/0X hex or 0b/0B base64. */
export function decodeBinary(v: string): Buffer {
  const p = v.slice(0, 2).toLowerCase();
  if (p === '0x') {
    const h = v.slice(2);
    return Buffer.from(h.length % 2 ? '0' + h : h, 'hex');
  }
  if (p === '0b') return Buffer.from(v.slice(2), 'base64');
  throw new Error(`not a binary value: ${v}`);
}

/** H(id || secret || challenge) for CHAP_A value `alg` ('5'..'8'). */
export function chapHash(alg: string | number, id: number, secret: string, challenge: Buffer): Buffer {
  const name = HASH[String(alg)];
  if (!name) throw new Error(`unknown CHAP_A ${alg}`);
  return createHash(name)
    .update(Buffer.concat([Buffer.from([id & 0xff]), Buffer.from(secret, 'utf8'), challenge]))
    .digest();
}

export interface InitiatorChapOptions {
  user: string;
  secret: string;
  /** Ask the target to authenticate itself. */
  mutual?: { user: string; secret: string; challenge?: Buffer; identifier?: number };
  encoding?: 'hex' | 'base64';
}

/** Plays the initiator: answers the target's CHAP_A/CHAP_I/CHAP_C, then checks the target's mutual answer. */
export class ChapInitiator {
  private alg = '';
  private mutualChallenge: Buffer | undefined;
  private mutualId = 0;

  constructor(private readonly o: InitiatorChapOptions) {}

  /** Pairs answering the target's challenge. */
  respond(target: Map<string, string>): [string, string][] {
    const a = target.get('CHAP_A');
    const i = target.get('CHAP_I');
    const c = target.get('CHAP_C');
    if (a === undefined || i === undefined || c === undefined) throw new Error('target sent no CHAP challenge');
    this.alg = a;
    const r = chapHash(a, Number(i), this.o.secret, decodeBinary(c));
    const enc = (b: Buffer) => (this.o.encoding === 'base64' ? '0b' + b.toString('base64') : '0x' + b.toString('hex'));
    const out: [string, string][] = [
      ['CHAP_N', this.o.user],
      ['CHAP_R', enc(r)],
    ];
    if (this.o.mutual) {
      this.mutualId = this.o.mutual.identifier ?? 77;
      this.mutualChallenge = this.o.mutual.challenge ?? randomBytes(24);
      out.push(['CHAP_I', String(this.mutualId)], ['CHAP_C', enc(this.mutualChallenge)]);
    }
    return out;
  }

  /** True when the target's CHAP_N/CHAP_R prove it knows the mutual secret. */
  verifyTarget(target: Map<string, string>): boolean {
    if (!this.o.mutual || !this.mutualChallenge) return false;
    const n = target.get('CHAP_N');
    const r = target.get('CHAP_R');
    if (n !== this.o.mutual.user || r === undefined) return false;
    return decodeBinary(r).equals(chapHash(this.alg, this.mutualId, this.o.mutual.secret, this.mutualChallenge));
  }
}
