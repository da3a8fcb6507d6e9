/**
 * iSCSI TransportIDs (SPC-4 §7.6.4.6): how PERSISTENT RESERVE OUT names
 * other initiator ports (SPEC_I_PT, REGISTER AND MOVE) and how READ FULL
 * STATUS reports registered ones.
 *
 *   byte 0    FORMAT CODE (bits 7-6) | PROTOCOL IDENTIFIER (bits 3-0, 5h = iSCSI)
 *   byte 1    reserved
 *   bytes 2-3 ADDITIONAL LENGTH (n - 3): at least 20, a multiple of 4
 *   bytes 4-n ISCSI NAME, null terminated, zero padded
 *             format 00b: `<iSCSI name>`                 an initiator device (any ISID)
 *             format 01b: `<iSCSI name>,i,0x<ISID hex>`  one initiator port
 */
import { invalidFieldInParameterList, parameterListLengthError } from '../check-condition.js';
import { PROTOCOL_ID_ISCSI } from '../constants.js';
import { u16 } from '../cdb.js';

export type TransportId =
  /** Format 00b: every initiator port of this iSCSI name. */
  | { kind: 'device'; name: string }
  /** Format 01b: one initiator port. `portName` is `<name>,i,0x<isid>`. */
  | { kind: 'port'; name: string; isid: string; portName: string };

const PORT_SEPARATOR = /,i,0x/i;

/**
 * Parse one TransportID at `data[offset, end)`; returns it and its length.
 * `base` is the offset of `data` within the parameter list, for field pointers.
 * Accepts additional lengths that are not multiples of 4 or below 20 (what
 * some initiators send); refuses other protocols and formats.
 */
export function parseTransportId(data: Buffer, offset: number, end: number, base = 0): { id: TransportId; length: number } {
  if (offset + 4 > end) throw parameterListLengthError();
  const b0 = data[offset];
  if ((b0 & 0x0f) !== PROTOCOL_ID_ISCSI) throw invalidFieldInParameterList(base + offset, 3);
  const format = b0 >> 6;
  if (format > 1 || b0 & 0x30) throw invalidFieldInParameterList(base + offset, 7);
  const additional = u16(data, offset + 2);
  const length = 4 + additional;
  if (offset + length > end) throw parameterListLengthError();
  const raw = data.subarray(offset + 4, offset + length);
  const nul = raw.indexOf(0);
  const text = raw.subarray(0, nul < 0 ? raw.length : nul).toString('utf8');
  if (text.length === 0) throw invalidFieldInParameterList(base + offset + 4, 7);
  if (format === 0) {
    if (PORT_SEPARATOR.test(text)) throw invalidFieldInParameterList(base + offset, 7);
    return { id: { kind: 'device', name: text }, length };
  }
  const parts = text.split(PORT_SEPARATOR);
  if (parts.length !== 2 || parts[0].length === 0 || !/^[0-9a-f]{12}$/i.test(parts[1])) throw invalidFieldInParameterList(base + offset + 4, 7);
  const isid = parts[1].toLowerCase();
  return { id: { kind: 'port', name: parts[0], isid, portName: `${parts[0]},i,0x${isid}` }, length };
}

/** Parse a list of TransportIDs filling exactly `data[offset, end)`. */
export function parseTransportIds(data: Buffer, offset: number, end: number): TransportId[] {
  const out: TransportId[] = [];
  let o = offset;
  while (o < end) {
    const { id, length } = parseTransportId(data, o, end);
    out.push(id);
    o += length;
  }
  return out;
}

/** Encode an initiator port as a format 01b iSCSI TransportID (for READ FULL STATUS). */
export function encodePortTransportId(initiatorPortName: string): Buffer {
  const name = Buffer.from(initiatorPortName, 'utf8');
  // Null terminated, padded to a multiple of 4, ADDITIONAL LENGTH at least 20.
  const additional = Math.max(20, Math.ceil((name.length + 1) / 4) * 4);
  const out = Buffer.alloc(4 + additional);
  out[0] = 0x40 | PROTOCOL_ID_ISCSI;
  out.writeUInt16BE(additional, 2);
  name.copy(out, 4);
  return out;
}
