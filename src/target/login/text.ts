/**
 * iSCSI text data: key=value pairs as carried by Login and Text PDUs
 * (RFC 7143 §6.1). Pure functions and a small accumulator; no sockets.
 *
 * Format (RFC 7143 §6.1): UTF-8 `key=value` pairs, each (including the last)
 * followed by one NUL byte. Keys are case sensitive. A pair may be split
 * across PDUs with the C (continue) bit (§11.10.2, §11.12.2), even in the
 * middle of a key or value, so text is joined before it is parsed.
 *
 * Used for Login (src/target/login) and later for Text requests
 * (SendTargets), so nothing here is login specific.
 */

/** Stable error codes of text parsing. */
export type TextErrorCode =
  /** A pair without '=' or an empty key (RFC 7143 §6.1). */
  | 'ISCSI_ERR_TEXT_SYNTAX'
  /** Key name longer than 63 bytes (RFC 7143 §6.1). */
  | 'ISCSI_ERR_TEXT_KEY_TOO_LONG'
  /** Value longer than its limit (RFC 7143 §6.1: 255 bytes unless the key says otherwise). */
  | 'ISCSI_ERR_TEXT_VALUE_TOO_LONG'
  /** Bytes that are not valid UTF-8 (RFC 7143 §6.1). */
  | 'ISCSI_ERR_TEXT_ENCODING'
  /** Data not terminated by NUL (RFC 7143 §6.1: every pair, including the last, ends with NUL). */
  | 'ISCSI_ERR_TEXT_UNTERMINATED'
  /** The same key twice in one text (RFC 7143 §6.2: keys are not renegotiated). */
  | 'ISCSI_ERR_TEXT_DUPLICATE_KEY'
  /** More text accumulated across C-bit PDUs than we accept. */
  | 'ISCSI_ERR_TEXT_TOO_LONG';

export class TextFormatError extends Error {
  override readonly name = 'TextFormatError';
  constructor(
    readonly code: TextErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export interface TextPair {
  readonly key: string;
  readonly value: string;
}

/** RFC 7143 §6.1: key names MUST NOT exceed 63 bytes. */
export const MAX_KEY_NAME_LENGTH = 63;
/** RFC 7143 §6.1: a text value MUST NOT exceed 255 bytes unless the key specifies otherwise. */
export const MAX_VALUE_LENGTH = 255;
/**
 * RFC 7143 §6.1 / §12: large binary values (authentication challenges and
 * responses) are allowed up to 8192 bytes of encoded text.
 */
export const MAX_LARGE_VALUE_LENGTH = 8192;
/**
 * Total text accepted in one sequence of C-bit PDUs. RFC 7143 §6.1 requires
 * at least 8192 bytes to be accepted; we allow 64 KiB and refuse more so a
 * peer cannot make us buffer without bound.
 */
export const DEFAULT_MAX_TEXT_LENGTH = 65536;

/** The special values of RFC 7143 §6.2. */
export const TextValue = Object.freeze({
  Reject: 'Reject',
  Irrelevant: 'Irrelevant',
  NotUnderstood: 'NotUnderstood',
  None: 'None',
  Yes: 'Yes',
  No: 'No',
} as const);

/**
 * Keys whose values may be "large-binary-value"s (RFC 7143 §6.1, §12.1 - §12.1.3):
 * challenges, responses and tokens of the authentication methods.
 */
export function defaultValueLimit(key: string): number {
  if (
    key === 'CHAP_C' ||
    key === 'CHAP_R' ||
    key.startsWith('SRP_') ||
    key.startsWith('KRB_') ||
    key.startsWith('SPKM_')
  ) {
    return MAX_LARGE_VALUE_LENGTH;
  }
  return MAX_VALUE_LENGTH;
}

export interface ParseTextOptions {
  /**
   * Allow the same key more than once. Off for requests (RFC 7143 §6.2); on
   * for parsing SendTargets responses, where TargetName/TargetAddress repeat
   * (RFC 7143 §13.3, Appendix C).
   */
  allowDuplicates?: boolean;
  /** Byte limit of a value, by key. Default: `defaultValueLimit`. */
  valueLimit?: (key: string) => number;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function decodeUtf8(bytes: Buffer, what: string): string {
  try {
    return utf8.decode(bytes);
  } catch {
    throw new TextFormatError('ISCSI_ERR_TEXT_ENCODING', `${what} is not valid UTF-8 (RFC 7143 §6.1)`);
  }
}

/**
 * Parse complete text data (all C-bit pieces already joined) into pairs, in
 * the order received. Empty entries (two NULs in a row, e.g. zero padding
 * left by a sender) are skipped.
 *
 * @throws TextFormatError
 */
export function parseTextData(data: Buffer, opts: ParseTextOptions = {}): TextPair[] {
  const limit = opts.valueLimit ?? defaultValueLimit;
  const pairs: TextPair[] = [];
  const seen = opts.allowDuplicates ? undefined : new Set<string>();
  let start = 0;
  while (start < data.length) {
    const nul = data.indexOf(0, start);
    if (nul < 0) {
      throw new TextFormatError(
        'ISCSI_ERR_TEXT_UNTERMINATED',
        `text data ends with ${data.length - start} bytes not terminated by NUL (RFC 7143 §6.1)`,
      );
    }
    if (nul === start) {
      start++;
      continue;
    }
    const entry = data.subarray(start, nul);
    start = nul + 1;
    const eq = entry.indexOf(0x3d);
    if (eq < 0) {
      throw new TextFormatError(
        'ISCSI_ERR_TEXT_SYNTAX',
        `text entry "${printable(entry)}" has no '=' (RFC 7143 §6.1: key=value)`,
      );
    }
    if (eq === 0) {
      throw new TextFormatError('ISCSI_ERR_TEXT_SYNTAX', `text entry "${printable(entry)}" has an empty key (RFC 7143 §6.1)`);
    }
    if (eq > MAX_KEY_NAME_LENGTH) {
      throw new TextFormatError(
        'ISCSI_ERR_TEXT_KEY_TOO_LONG',
        `key "${printable(entry.subarray(0, 40))}..." is ${eq} bytes; the limit is ${MAX_KEY_NAME_LENGTH} (RFC 7143 §6.1)`,
      );
    }
    const key = decodeUtf8(entry.subarray(0, eq), 'key');
    const valueBytes = entry.subarray(eq + 1);
    const max = limit(key);
    if (valueBytes.length > max) {
      throw new TextFormatError(
        'ISCSI_ERR_TEXT_VALUE_TOO_LONG',
        `value of ${key} is ${valueBytes.length} bytes; the limit is ${max} (RFC 7143 §6.1)`,
      );
    }
    const value = decodeUtf8(valueBytes, `value of ${key}`);
    if (seen) {
      if (seen.has(key)) {
        throw new TextFormatError('ISCSI_ERR_TEXT_DUPLICATE_KEY', `key ${key} appears twice (RFC 7143 §6.2)`);
      }
      seen.add(key);
    }
    pairs.push({ key, value });
  }
  return pairs;
}

function printable(b: Buffer): string {
  return b.toString('latin1').replace(/[^\x20-\x7e]/g, '.');
}

/** Encode pairs as text data: `key=value\0` each (RFC 7143 §6.1). */
export function encodeTextData(pairs: Iterable<TextPair | readonly [string, string]>): Buffer {
  const parts: string[] = [];
  for (const p of pairs) {
    const [key, value] = isTuple(p) ? p : [p.key, p.value];
    if (key.length === 0 || key.includes('=') || key.includes('\0') || value.includes('\0')) {
      throw new TextFormatError('ISCSI_ERR_TEXT_SYNTAX', `cannot encode key "${key}" (RFC 7143 §6.1)`);
    }
    parts.push(`${key}=${value}\0`);
  }
  return Buffer.from(parts.join(''), 'utf8');
}

/**
 * Tuple forms of parseTextData/encodeTextData, for Text requests in Full
 * Feature Phase (src/target/text-exchange.ts).
 * @throws TextFormatError
 */
export function decodeTextPairs(data: Buffer, opts: ParseTextOptions = {}): [string, string][] {
  return parseTextData(data, opts).map((p) => [p.key, p.value]);
}

export function encodeTextPairs(pairs: Iterable<TextPair | readonly [string, string]>): Buffer {
  return encodeTextData(pairs);
}

function isTuple(p: TextPair | readonly [string, string]): p is readonly [string, string] {
  return Array.isArray(p);
}

/**
 * Split text data into data segments of at most `max` bytes. RFC 7143 §6.1
 * allows the split anywhere, even inside a key or value; all pieces but the
 * last go out with the C bit set. Always returns at least one (possibly
 * empty) piece.
 */
export function chunkTextData(data: Buffer, max: number): Buffer[] {
  if (!(max > 0)) throw new RangeError(`chunk size must be positive, got ${max}`);
  if (data.length <= max) return [data];
  const out: Buffer[] = [];
  for (let off = 0; off < data.length; off += max) out.push(data.subarray(off, Math.min(off + max, data.length)));
  return out;
}

/**
 * Joins the text of a sequence of Login or Text requests sent with the C bit
 * (RFC 7143 §11.10.2, §11.12.2). `append` returns undefined while more is
 * expected and the whole text once the PDU without C arrives.
 */
export class TextAccumulator {
  private chunks: Buffer[] = [];
  private total = 0;

  constructor(private readonly maxTotal: number = DEFAULT_MAX_TEXT_LENGTH) {}

  /** True while a C-bit sequence is incomplete. */
  get pending(): boolean {
    return this.chunks.length > 0;
  }

  /**
   * @param more the C bit of the PDU carrying `data`
   * @throws TextFormatError when the total exceeds the limit (state is reset)
   */
  append(data: Buffer, more: boolean): Buffer | undefined {
    this.total += data.length;
    if (this.total > this.maxTotal) {
      this.reset();
      throw new TextFormatError(
        'ISCSI_ERR_TEXT_TOO_LONG',
        `text split over C-bit PDUs exceeds ${this.maxTotal} bytes`,
      );
    }
    if (more) {
      // Copy: the PDU buffer may be reused by the receiver after this call.
      if (data.length > 0) this.chunks.push(Buffer.from(data));
      else this.chunks.push(Buffer.alloc(0));
      return undefined;
    }
    if (this.chunks.length === 0) {
      this.total = 0;
      return data;
    }
    this.chunks.push(data);
    const all = Buffer.concat(this.chunks);
    this.reset();
    return all;
  }

  reset(): void {
    this.chunks = [];
    this.total = 0;
  }
}

// ---------------------------------------------------------------- value types (RFC 7143 §6.1)

/**
 * Parse a numerical value (RFC 7143 §6.1: decimal-constant, hex-constant
 * `0x...`, or base64-constant `0b...`) of at most 53 bits. Returns undefined
 * for anything else. Leading zeros in decimal are tolerated.
 */
export function parseNumber(value: string): number | undefined {
  let n: bigint;
  if (/^[0-9]+$/.test(value)) {
    n = BigInt(value);
  } else if (/^0[xX][0-9a-fA-F]+$/.test(value)) {
    n = BigInt('0x' + value.slice(2));
  } else if (/^0[bB]/.test(value)) {
    const bytes = decodeBinaryValue(value);
    if (!bytes || bytes.length === 0 || bytes.length > 8) return undefined;
    n = BigInt('0x' + bytes.toString('hex'));
  } else {
    return undefined;
  }
  if (n > BigInt(Number.MAX_SAFE_INTEGER)) return undefined;
  return Number(n);
}

/**
 * Decode a binary value (RFC 7143 §6.1): `0x`/`0X` + hex digits (an odd
 * count gets an implied leading zero) or `0b`/`0B` + base64. Undefined when
 * malformed.
 */
export function decodeBinaryValue(value: string): Buffer | undefined {
  if (value.length < 3) return undefined;
  const prefix = value.slice(0, 2);
  const body = value.slice(2);
  if (prefix === '0x' || prefix === '0X') {
    if (!/^[0-9a-fA-F]+$/.test(body)) return undefined;
    return Buffer.from(body.length % 2 ? '0' + body : body, 'hex');
  }
  if (prefix === '0b' || prefix === '0B') {
    // RFC 4648 base64 with padding; Buffer.from silently skips junk, so check first.
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(body) || body.length % 4 !== 0) return undefined;
    return Buffer.from(body, 'base64');
  }
  return undefined;
}

/** Encode bytes as a hex-constant (`0x` + lowercase hex). */
export function encodeHexValue(bytes: Buffer): string {
  return '0x' + bytes.toString('hex');
}

/** Encode bytes as a base64-constant (`0b` + base64). */
export function encodeBase64Value(bytes: Buffer): string {
  return '0b' + bytes.toString('base64');
}

/** RFC 7143 §6.1 boolean-value: exactly `Yes` or `No`. */
export function parseBoolean(value: string): boolean | undefined {
  if (value === 'Yes') return true;
  if (value === 'No') return false;
  return undefined;
}

export function formatBoolean(b: boolean): 'Yes' | 'No' {
  return b ? 'Yes' : 'No';
}

/** RFC 7143 §6.1 list-of-values: comma separated, in order of preference. */
export function splitList(value: string): string[] {
  return value.split(',');
}
