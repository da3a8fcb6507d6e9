/**
 * Every PDU type (RFC 7143 §11): decode of a hand-annotated vector, encode
 * equals the vector, round trip — with header and data digests on and off.
 */
import { describe, expect, it } from 'vitest';
import { decodePdu } from '../../../src/target/pdu/decode.js';
import { encodePdu } from '../../../src/target/pdu/encode.js';
import { Opcode } from '../../../src/target/pdu/types.js';
import { DIGEST_COMBOS, VECTORS, wire, type Vector } from './vectors.js';

const ALL_OPCODES = [
  Opcode.NopOut,
  Opcode.ScsiCommand,
  Opcode.TaskMgmtRequest,
  Opcode.LoginRequest,
  Opcode.TextRequest,
  Opcode.DataOut,
  Opcode.LogoutRequest,
  Opcode.Snack,
  Opcode.NopIn,
  Opcode.ScsiResponse,
  Opcode.TaskMgmtResponse,
  Opcode.LoginResponse,
  Opcode.TextResponse,
  Opcode.DataIn,
  Opcode.LogoutResponse,
  Opcode.R2T,
  Opcode.AsyncMessage,
  Opcode.Reject,
];

/** Split a vector's wire bytes (no digests) into the decoder's three inputs. */
function parts(v: Vector): { bhs: Buffer; ahs: Buffer; data: Buffer } {
  const buf = wire(v, { header: false, data: false }).build();
  const dataStart = 48 + v.ahsLength;
  return {
    bhs: buf.subarray(0, 48),
    ahs: buf.subarray(48, dataStart),
    data: buf.subarray(dataStart, dataStart + v.pdu.data.length),
  };
}

function annotatedDiff(v: Vector, actual: Buffer, expected: Buffer): string {
  const at = actual.findIndex((b, i) => b !== expected[i]);
  return `first difference at byte ${at}\nexpected vector:\n${wire(v, { header: false, data: false }).describe()}`;
}

describe('PDU vectors cover all 18 opcodes', () => {
  it('has a vector for each opcode', () => {
    const covered = new Set(VECTORS.map((v) => v.pdu.opcode));
    for (const op of ALL_OPCODES) expect(covered.has(op), `opcode 0x${op.toString(16)}`).toBe(true);
  });
  it('each BHS is 48 bytes and declares its AHS and data lengths', () => {
    for (const v of VECTORS) {
      const bhs = v.bhs.build();
      expect(bhs.length, v.name).toBe(48);
      expect(bhs[4] * 4, v.name).toBe(v.ahsLength);
      expect(bhs.readUIntBE(5, 3), v.name).toBe(v.pdu.data.length);
    }
  });
});

describe.each(VECTORS.map((v) => [v.name, v] as const))('%s', (_name, v) => {
  it('decodes to the expected PDU', () => {
    const { bhs, ahs, data } = parts(v);
    expect(decodePdu(bhs, ahs, data)).toEqual(v.pdu);
  });

  it('decode keeps the data segment without copying', () => {
    const { bhs, ahs, data } = parts(v);
    const pdu = decodePdu(bhs, ahs, data);
    expect(pdu.data).toBe(data);
  });

  it.each(DIGEST_COMBOS.map((d) => [`header ${d.header}, data ${d.data}`, d] as const))(
    'encodes to the vector (%s)',
    (_label, d) => {
      const chunks = encodePdu(v.pdu, d);
      const actual = Buffer.concat(chunks);
      const expected = wire(v, d).build();
      expect(actual.equals(expected), annotatedDiff(v, actual, expected)).toBe(true);
    },
  );

  it.each(DIGEST_COMBOS.map((d) => [`header ${d.header}, data ${d.data}`, d] as const))(
    'round trips through encode and decode (%s)',
    (_label, d) => {
      const chunks = encodePdu(v.pdu, d);
      const header = chunks[0];
      const bhs = header.subarray(0, 48);
      const ahs = header.subarray(48, 48 + bhs[4] * 4);
      const data = chunks.length > 1 ? chunks[1] : Buffer.alloc(0);
      const again = decodePdu(bhs, ahs, data);
      expect(again).toEqual(v.pdu);
      expect(Buffer.concat(encodePdu(again, d)).equals(Buffer.concat(chunks))).toBe(true);
    },
  );
});
