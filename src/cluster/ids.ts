/**
 * Identifiers generated once and stored in ISCSI_ROOT (DESIGN.md §5).
 */
import { randomBytes as nodeRandomBytes } from 'node:crypto';

export type RandomBytes = (n: number) => Buffer;
export const defaultRandomBytes: RandomBytes = (n) => nodeRandomBytes(n);

/**
 * Company identifier used in our NAA designators. It is not an IEEE-assigned
 * OUI: 0x1AC51D has the "CID" form (second nibble 0xA, the local bit set), so
 * it cannot collide with a registered OUI.
 */
export const NAA_COMPANY_ID = 0x1ac51d;

/**
 * NAA IEEE Registered Extended designator (SPC-4 §7.8.6.6.5): NAA=6 (4 bits),
 * IEEE company ID (24 bits), vendor specific identifier (36 bits) and vendor
 * specific identifier extension (64 bits) = 128 bits, 32 hex digits. The 100
 * vendor-specific bits are random.
 */
export function generateNaa(random: RandomBytes = defaultRandomBytes): string {
  const vendor = random(13).toString('hex').slice(0, 25); // 100 bits
  return `6${NAA_COMPANY_ID.toString(16).padStart(6, '0')}${vendor}`;
}

/** Unit serial number (SPC-4 §7.8.15, VPD 80h): 16 hex digits. */
export function generateSerial(random: RandomBytes = defaultRandomBytes): string {
  return random(8).toString('hex');
}

/** Node identity (DESIGN.md §4): 16 hex digits, like `fefacc38a2f140ca` in source 4.2.2. */
export function generateHostId(random: RandomBytes = defaultRandomBytes): string {
  return random(8).toString('hex');
}
