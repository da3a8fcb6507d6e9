/**
 * Syntax rules for what administrators type: iSCSI names, portal addresses,
 * sizes, LUN IDs and CHAP user names. Every failure is a ClusterError with a
 * stable code (DESIGN.md §9).
 */
import net from 'node:net';
import { ClusterError } from './errors.js';

/** RFC 3720 §3.2.6.1: an iSCSI name is at most 223 bytes. */
export const MAX_ISCSI_NAME_LENGTH = 223;

const LABEL = '[a-z0-9](?:[a-z0-9-]*[a-z0-9])?';
/**
 * RFC 3720 §3.2.6.3.1 "iqn." type: `iqn.` yyyy-mm `.` reversed domain name,
 * optionally `:` and a unique string. After the stringprep of §3.2.6.2 the
 * allowed ASCII characters are lower-case letters, digits, '-', '.' and ':'.
 * We accept only ASCII (no underscore: Hyper-V refuses it, source 4.2.7.5).
 */
const IQN_RE = new RegExp(`^iqn\\.[0-9]{4}-(?:0[1-9]|1[0-2])\\.${LABEL}(?:\\.${LABEL})*(?::[a-z0-9.:-]+)?$`);
/** The IQN prefix itself: everything before the ':'. */
const IQN_PREFIX_RE = new RegExp(`^iqn\\.[0-9]{4}-(?:0[1-9]|1[0-2])\\.${LABEL}(?:\\.${LABEL})*$`);
/** Target short names given to `create -n`. */
const NAME_RE = /^[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?$/;

export function validateIqn(iqn: string): string {
  // iSCSI names are case-insensitive; stringprep maps them to lower case (RFC 3722).
  const v = iqn.trim().toLowerCase();
  if (Buffer.byteLength(v) > MAX_ISCSI_NAME_LENGTH) {
    throw new ClusterError('ISCSI_ERR_BAD_IQN', `iSCSI name '${iqn}' is longer than ${MAX_ISCSI_NAME_LENGTH} bytes (RFC 3720 §3.2.6.1)`);
  }
  if (!IQN_RE.test(v)) {
    throw new ClusterError(
      'ISCSI_ERR_BAD_IQN',
      `'${iqn}' is not a valid iSCSI qualified name: expected iqn.YYYY-MM.reversed.domain[:unique-name] ` +
        `using only a-z, 0-9, '-', '.' and ':' (RFC 3720 §3.2.6.3.1)`,
    );
  }
  return v;
}

export function validateIqnPrefix(prefix: string): string {
  const v = prefix.trim().toLowerCase();
  if (!IQN_PREFIX_RE.test(v)) {
    throw new ClusterError(
      'ISCSI_ERR_CONFIG',
      `ISCSI_IQN_PREFIX '${prefix}' is not valid: expected iqn.YYYY-MM.reversed.domain without ':' (RFC 3720 §3.2.6.3.1)`,
    );
  }
  return v;
}

export function validateTargetName(name: string): string {
  const v = name.trim().toLowerCase();
  if (!NAME_RE.test(v)) {
    throw new ClusterError(
      'ISCSI_ERR_BAD_NAME',
      `target name '${name}' is not valid: use letters, digits, '-' and '.', starting and ending with a letter or digit`,
    );
  }
  return v;
}

/**
 * Descriptions become the TargetAlias (RFC 7143 §13.6: UTF-8 text): at most
 * 255 bytes, no control characters.
 */
export function validateDescription(text: string): string {
  // eslint-disable-next-line no-control-regex
  if (Buffer.byteLength(text) > 255 || /[\u0000-\u001f\u007f]/.test(text)) {
    throw new ClusterError('ISCSI_ERR_BAD_DESCRIPTION', 'description must be at most 255 bytes of text without control characters');
  }
  return text;
}

/** `create -n NAME` → `<prefix>:<name>`, validated as a whole. */
export function iqnFromName(prefix: string, name: string): string {
  const iqn = `${validateIqnPrefix(prefix)}:${validateTargetName(name)}`;
  if (Buffer.byteLength(iqn) > MAX_ISCSI_NAME_LENGTH) {
    throw new ClusterError('ISCSI_ERR_BAD_NAME', `target name '${name}' makes the IQN longer than ${MAX_ISCSI_NAME_LENGTH} bytes`);
  }
  return validateIqn(iqn);
}

/** `-t` accepts a full IQN or the short name given to `create -n`. */
export function resolveTargetIqn(prefix: string, nameOrIqn: string): string {
  const v = nameOrIqn.trim().toLowerCase();
  if (v.startsWith('iqn.')) return validateIqn(v);
  return iqnFromName(prefix, v);
}

// ---- portals --------------------------------------------------------------

export const DEFAULT_ISCSI_PORT = 3260; // RFC 7143 §13.1 well-known port

export interface PortalAddress {
  /** Canonical IPv4 or IPv6 literal (IPv6 compressed, lower case, no brackets). */
  address: string;
  port: number;
  family: 4 | 6;
}

function canonicalIpv6(addr: string): string {
  const [base, zone] = addr.split('%', 2) as [string, string | undefined];
  const host = new URL(`http://[${base}]/`).hostname; // WHATWG URL canonicalises IPv6
  const canon = host.slice(1, -1);
  return zone ? `${canon}%${zone}` : canon;
}

/**
 * Portal syntax: `IPv4`, `IPv4:PORT`, `IPv6`, `[IPv6]` or `[IPv6]:PORT`.
 * Host names are refused: a target portal is an address the target owns.
 */
export function parsePortal(text: string): PortalAddress {
  const s = text.trim();
  const bad = (why: string) =>
    new ClusterError(
      'ISCSI_ERR_BAD_ADDRESS',
      `portal address '${text}' is not valid: ${why} (expected IPv4[:PORT], IPv6 or [IPv6]:PORT)`,
    );
  let host: string;
  let portText: string | undefined;
  if (s.startsWith('[')) {
    const close = s.indexOf(']');
    if (close < 0) throw bad("missing ']'");
    host = s.slice(1, close);
    const rest = s.slice(close + 1);
    if (rest !== '') {
      if (!rest.startsWith(':')) throw bad("unexpected text after ']'");
      portText = rest.slice(1);
    }
    if (!net.isIPv6(host)) throw bad('not an IPv6 address');
  } else if (s.split(':').length > 2) {
    host = s;
    if (!net.isIPv6(host)) throw bad('not an IPv6 address');
  } else {
    const i = s.indexOf(':');
    host = i < 0 ? s : s.slice(0, i);
    if (i >= 0) portText = s.slice(i + 1);
    if (!net.isIPv4(host)) throw bad('not an IPv4 address (host names are not accepted)');
  }
  let port = DEFAULT_ISCSI_PORT;
  if (portText !== undefined) {
    if (!/^[0-9]{1,5}$/.test(portText)) throw bad(`port '${portText}' is not a number`);
    port = Number(portText);
    if (port < 1 || port > 65535) throw bad(`port ${port} is outside 1-65535`);
  }
  if (net.isIPv6(host)) return { address: canonicalIpv6(host), port, family: 6 };
  return { address: host, port, family: 4 };
}

export function isWildcard(address: string): boolean {
  return address === '0.0.0.0' || address === '::';
}

/** Two portals cannot both be bound on one node (or, cluster-wide, belong to two targets). */
export function portalsConflict(a: { address: string; port: number }, b: { address: string; port: number }): boolean {
  if (a.port !== b.port) return false;
  if (a.address === b.address) return true;
  return isWildcard(a.address) || isWildcard(b.address);
}

/** Portal as shown to people: the port only when it is not 3260 (source 4.2.3 shows bare addresses). */
export function formatPortal(p: { address: string; port: number }): string {
  const v6 = p.address.includes(':');
  if (p.port === DEFAULT_ISCSI_PORT) return p.address;
  return v6 ? `[${p.address}]:${p.port}` : `${p.address}:${p.port}`;
}

// ---- sizes ----------------------------------------------------------------

export const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;
export const TiB = 1024 * GiB;
/**
 * Source 4.2.3 caps a LUN at 16 TB; qcow2 images need not (issue 3): 1 PiB
 * here, half of what a 64 KiB-cluster qcow2 can address. Raw images keep
 * the 16 TiB limit (cluster/lun-images.ts MAX_RAW_LUN_SIZE).
 */
export const MAX_LUN_SIZE = 1024 * TiB;
export const LUN_BLOCK_SIZE = 512;
/** Logical block sizes a LUN may have (SBC-3 §4.4). */
export const LUN_BLOCK_SIZES = [512, 4096] as const;

/** `--physical-block-size 4096`: only a 512-byte LUN can have a larger physical block (512e). */
export function parsePhysicalBlockSize(text: string | number | undefined, blockSize: 512 | 4096): 4096 | undefined {
  if (text === undefined) return undefined;
  if (Number(text) === blockSize) return undefined;
  if (Number(text) !== 4096 || blockSize !== 512) {
    throw new ClusterError('ISCSI_ERR_BAD_BLOCK_SIZE', `physical block size '${text}' is not supported for ${blockSize}-byte blocks: use 4096 with --block-size 512`);
  }
  return 4096;
}

/** `--block-size 512|4096`. */
export function parseBlockSize(text: string | number | undefined): 512 | 4096 {
  if (text === undefined) return LUN_BLOCK_SIZE;
  const n = Number(text);
  if (n !== 512 && n !== 4096) {
    throw new ClusterError('ISCSI_ERR_BAD_BLOCK_SIZE', `block size '${text}' is not supported: use 512 or 4096`);
  }
  return n;
}

const UNITS: Record<string, number> = { '': 1, K: KiB, M: MiB, G: GiB, T: TiB };

/**
 * Sizes as in the source document: `100G`, `512M`, `1T`, `4096K` or plain
 * bytes. Units are binary (100G is printed back as 102400M, source 4.2.2);
 * `GB`/`GiB` spellings are accepted as the same unit. The result must be a
 * whole number of 512-byte blocks, at least one block and at most 1 PiB.
 */
export function parseSize(text: string): number {
  const m = /^\s*([0-9]+)\s*([kmgt]?)(?:i?b)?\s*$/i.exec(text);
  if (!m) {
    throw new ClusterError('ISCSI_ERR_BAD_SIZE', `size '${text}' is not valid: use a whole number with an optional unit K, M, G or T (e.g. 100G)`);
  }
  const n = Number(m[1]) * UNITS[m[2]!.toUpperCase()]!;
  if (!Number.isSafeInteger(n) || n > MAX_LUN_SIZE) {
    throw new ClusterError('ISCSI_ERR_BAD_SIZE', `size '${text}' is larger than the ${MAX_LUN_SIZE / TiB}T maximum`);
  }
  if (n === 0) throw new ClusterError('ISCSI_ERR_BAD_SIZE', `size '${text}' must be larger than zero`);
  if (n % LUN_BLOCK_SIZE !== 0) {
    throw new ClusterError('ISCSI_ERR_BAD_SIZE', `size '${text}' is not a multiple of the ${LUN_BLOCK_SIZE}-byte block size`);
  }
  return n;
}

/** Sizes are printed in MiB like the source (`Size: 102400M`, `Used: 1M`), rounded up. */
export function formatSizeM(bytes: number): string {
  return `${Math.ceil(bytes / MiB)}M`;
}

// ---- LUN IDs --------------------------------------------------------------

/**
 * LUN IDs 0..255: the SAM-5 §4.7.7.2 peripheral device addressing method
 * (single level), which every initiator understands; larger numbers would
 * need flat space addressing. The source document uses LUN 1.
 */
export const MAX_LUN_ID = 255;

export function parseLunId(text: string | number): number {
  const s = String(text).trim();
  if (!/^[0-9]{1,5}$/.test(s) || Number(s) > MAX_LUN_ID) {
    throw new ClusterError('ISCSI_ERR_BAD_LUN_ID', `LUN ID '${text}' is not valid: use a number from 0 to ${MAX_LUN_ID}`);
  }
  return Number(s);
}

// ---- CHAP user names ------------------------------------------------------

/** CHAP_N (RFC 7143 §12.1.3) as we store it: it is also a file name, so no '/'. */
const USER_RE = /^[A-Za-z0-9][A-Za-z0-9._@:-]{0,63}$/;

export function validateUserName(user: string): string {
  if (!USER_RE.test(user)) {
    throw new ClusterError(
      'ISCSI_ERR_BAD_USER',
      `account name '${user}' is not valid: 1-64 characters from letters, digits, '.', '_', '@', ':' and '-', starting with a letter or digit`,
    );
  }
  return user;
}

export function validateHostId(id: string, where: string): string {
  const v = id.trim().toLowerCase();
  if (!/^[0-9a-f]{16}$/.test(v)) {
    throw new ClusterError('ISCSI_ERR_BAD_HOST_ID', `host ID '${id}' from ${where} is not 16 hexadecimal digits`);
  }
  return v;
}
