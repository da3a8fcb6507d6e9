/**
 * Incremental receiver (DESIGN.md §8): every vector split at every byte
 * offset and byte by byte, digests on and off, back-to-back PDUs, placeData,
 * zero copy, and the recoverable / fatal error paths.
 */
import { describe, expect, it } from 'vitest';
import { RejectReason } from '../../../src/target/pdu/constants.js';
import type { PduFormatError } from '../../../src/target/pdu/decode.js';
import { PduReceiver, type ReceiverHandlers, type ReceiverOptions } from '../../../src/target/pdu/receiver.js';
import { Opcode, type Pdu } from '../../../src/target/pdu/types.js';
import { bytes } from '../../helpers/annotated-bytes.js';
import { DIGEST_COMBOS, V, VECTORS, pattern, wire, wireBuffer, type Digests, type Vector } from './vectors.js';

type Event =
  | { kind: 'pdu'; pdu: Pdu; header: Buffer }
  | { kind: 'bad'; err: PduFormatError; header: Buffer }
  | { kind: 'fatal'; err: PduFormatError };

function receiver(
  options: ReceiverOptions = {},
  extra: Partial<ReceiverHandlers> = {},
): { r: PduReceiver; events: Event[] } {
  const events: Event[] = [];
  const r = new PduReceiver(
    {
      onPdu: (pdu, header) => events.push({ kind: 'pdu', pdu, header: Buffer.from(header) }),
      onBadPdu: (err, header) => events.push({ kind: 'bad', err, header: Buffer.from(header) }),
      onFatal: (err) => events.push({ kind: 'fatal', err }),
      ...extra,
    },
    options,
  );
  return { r, events };
}

const opts = (d: Digests, more: ReceiverOptions = {}): ReceiverOptions => ({
  headerDigest: d.header,
  dataDigest: d.data,
  ...more,
});

const label = (d: Digests): string => `header digest ${d.header ? 'on' : 'off'}, data digest ${d.data ? 'on' : 'off'}`;

/** Deep equality, with the (possibly large) data segment compared by Buffer.equals for speed. */
function expectSamePdu(actual: Pdu, expected: Pdu, context: string): void {
  expect(actual.data.equals(expected.data), `${context}: data`).toBe(true);
  expect({ ...actual, data: null }, context).toEqual({ ...expected, data: null });
}

function expectOnePdu(events: Event[], v: Vector, bhs: Buffer, context: string): void {
  expect(events.length, context).toBe(1);
  const e = events[0];
  expect(e.kind, context).toBe('pdu');
  if (e.kind !== 'pdu') return;
  expectSamePdu(e.pdu, v.pdu, context);
  expect(e.header.equals(bhs), context).toBe(true);
}

/** Deterministic PRNG (mulberry32) so random splits are reproducible. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function pushSplit(r: PduReceiver, buf: Buffer, cuts: number[]): void {
  let prev = 0;
  for (const c of [...cuts, buf.length]) {
    r.push(buf.subarray(prev, c));
    prev = c;
  }
}

/** A well-framed PDU with an opcode RFC 7143 does not define. */
function unknownOpcodePdu(d: Digests, dataLength: number): Buffer {
  const bhs = bytes()
    .u8(0x1c, 'undefined opcode 0x1c')
    .u8(0x80, 'flags')
    .zeros(2, 'reserved')
    .u8(0, 'TotalAHSLength')
    .u24(dataLength, 'DataSegmentLength')
    .zeros(40, 'rest of BHS');
  return wire({ name: 'unknown', pdu: V.nopOut.pdu, ahsLength: 0, bhs, data: bytes().bytes(pattern(dataLength), 'data') }, d).build();
}

describe.each(VECTORS.map((v) => [v.name, v] as const))('receiver: %s', (_name, v) => {
  it.each(DIGEST_COMBOS.map((d) => [label(d), d] as const))('whole, split at every offset, and byte by byte (%s)', (_l, d) => {
    const buf = wireBuffer(v, d);
    const bhs = v.bhs.build();
    {
      const { r, events } = receiver(opts(d));
      r.push(buf);
      expectOnePdu(events, v, bhs, 'one chunk');
      expect(r.idle).toBe(true);
    }
    for (let cut = 1; cut < buf.length; cut++) {
      const { r, events } = receiver(opts(d));
      r.push(buf.subarray(0, cut));
      r.push(buf.subarray(cut));
      expectOnePdu(events, v, bhs, `split at ${cut} of ${buf.length}`);
    }
    {
      const { r, events } = receiver(opts(d));
      for (let i = 0; i < buf.length; i++) {
        r.push(buf.subarray(i, i + 1));
        if (i < buf.length - 1) expect(events.length, `byte ${i}`).toBe(0);
      }
      expectOnePdu(events, v, bhs, 'byte by byte');
    }
  });
});

describe('receiver: PDUs back to back', () => {
  it.each(DIGEST_COMBOS.map((d) => [label(d), d] as const))('all vectors in one chunk (%s)', (_l, d) => {
    const { r, events } = receiver(opts(d));
    r.push(Buffer.concat(VECTORS.map((v) => wireBuffer(v, d))));
    expect(events.map((e) => (e.kind === 'pdu' ? e.pdu : e))).toEqual(VECTORS.map((v) => v.pdu));
  });

  it('a stream of several PDUs split at every offset', () => {
    const d = { header: true, data: true };
    const list = [V.scsiExtCdbBidi, V.nopOut, V.dataIn, V.r2t, V.loginRequest];
    const buf = Buffer.concat(list.map((v) => wireBuffer(v, d)));
    for (let cut = 1; cut < buf.length; cut++) {
      const { r, events } = receiver(opts(d));
      r.push(buf.subarray(0, cut));
      r.push(buf.subarray(cut));
      expect(
        events.map((e) => (e.kind === 'pdu' ? e.pdu : e)),
        `split at ${cut}`,
      ).toEqual(list.map((v) => v.pdu));
    }
  });

  it('all vectors in random chunks (seeded)', () => {
    const random = rng(7143);
    for (const d of DIGEST_COMBOS) {
      const buf = Buffer.concat(VECTORS.map((v) => wireBuffer(v, d)));
      for (let round = 0; round < 50; round++) {
        const cuts: number[] = [];
        let at = 0;
        while (true) {
          at += 1 + Math.floor(random() * 97);
          if (at >= buf.length) break;
          cuts.push(at);
        }
        const { r, events } = receiver(opts(d));
        pushSplit(r, buf, cuts);
        expect(events.map((e) => (e.kind === 'pdu' ? e.pdu : e))).toEqual(VECTORS.map((v) => v.pdu));
      }
    }
  });
});

describe('receiver: zero copy and single copy', () => {
  it('a data segment inside one chunk is a view of that chunk', () => {
    const chunk = wireBuffer(V.dataOut, { header: true, data: true });
    const { r, events } = receiver({ headerDigest: true, dataDigest: true });
    r.push(chunk);
    const e = events[0];
    expect(e.kind).toBe('pdu');
    if (e.kind !== 'pdu') return;
    expect(e.pdu.data.buffer).toBe(chunk.buffer);
    expect(e.pdu.data.byteOffset).toBe(chunk.byteOffset + 52);
  });

  it('a data segment across chunks is gathered into one new buffer of exactly its size', () => {
    const buf = wireBuffer(V.dataOut, { header: false, data: false });
    const first = Buffer.from(buf.subarray(0, 500));
    const second = Buffer.from(buf.subarray(500));
    const { r, events } = receiver();
    r.push(first);
    r.push(second);
    const e = events[0];
    if (e.kind !== 'pdu') throw new Error('expected a PDU');
    expect(e.pdu.data.length).toBe(1001);
    expect(e.pdu.data.equals(V.dataOut.pdu.data)).toBe(true);
    // Not a view of either chunk: overwriting them leaves the data intact.
    first.fill(0);
    second.fill(0);
    expect(e.pdu.data.equals(V.dataOut.pdu.data)).toBe(true);
  });
});

describe('receiver: placeData', () => {
  const OFFSET = 100;

  function placing(d: Digests): { r: PduReceiver; events: Event[]; dest: Buffer; calls: [Buffer, number][] } {
    const dest = Buffer.alloc(4096, 0xee);
    const calls: [Buffer, number][] = [];
    const { r, events } = receiver(opts(d), {
      placeData: (bhs, length) => {
        calls.push([Buffer.from(bhs), length]);
        return bhs[0] === Opcode.DataOut ? { buffer: dest, offset: OFFSET } : undefined;
      },
    });
    return { r, events, dest, calls };
  }

  function check(ctx: ReturnType<typeof placing>, context: string): void {
    const payload = V.dataOut.pdu.data;
    expect(ctx.calls.length, context).toBe(1);
    expect(ctx.calls[0][0].equals(V.dataOut.bhs.build()), context).toBe(true);
    expect(ctx.calls[0][1], context).toBe(1001);
    expect(ctx.dest.subarray(OFFSET, OFFSET + 1001).equals(payload), context).toBe(true);
    expect(ctx.dest.subarray(0, OFFSET).every((b) => b === 0xee), context).toBe(true);
    expect(ctx.dest.subarray(OFFSET + 1001).every((b) => b === 0xee), context).toBe(true);
    const e = ctx.events[0];
    if (e?.kind !== 'pdu') throw new Error(`${context}: expected a PDU`);
    expect(e.pdu.data.buffer, context).toBe(ctx.dest.buffer);
    expect(e.pdu.data.byteOffset, context).toBe(ctx.dest.byteOffset + OFFSET);
    expectSamePdu(e.pdu, V.dataOut.pdu, context);
  }

  it.each(DIGEST_COMBOS.map((d) => [label(d), d] as const))(
    'puts the data at the right offset, whole, split anywhere, byte by byte (%s)',
    (_l, d) => {
      const buf = wireBuffer(V.dataOut, d);
      {
        const ctx = placing(d);
        ctx.r.push(buf);
        check(ctx, 'one chunk');
      }
      for (let cut = 1; cut < buf.length; cut++) {
        const ctx = placing(d);
        ctx.r.push(buf.subarray(0, cut));
        ctx.r.push(buf.subarray(cut));
        check(ctx, `split at ${cut}`);
      }
      {
        const ctx = placing(d);
        for (let i = 0; i < buf.length; i++) ctx.r.push(buf.subarray(i, i + 1));
        check(ctx, 'byte by byte');
      }
    },
  );

  it('is not asked for PDUs without data, and undefined lets the receiver provide it', () => {
    const ctx = placing({ header: false, data: false });
    ctx.r.push(Buffer.concat([wireBuffer(V.r2t, { header: false, data: false }), wireBuffer(V.nopOut, { header: false, data: false })]));
    expect(ctx.calls.map(([b, n]) => [b[0], n])).toEqual([[0x40, 5]]);
    expect(ctx.events.map((e) => e.kind === 'pdu' && e.pdu)).toEqual([V.r2t.pdu, V.nopOut.pdu]);
  });

  it('a destination without room is a programming error (RangeError) and stops the receiver', () => {
    const { r } = receiver({}, { placeData: () => ({ buffer: Buffer.alloc(1000), offset: 0 }) });
    expect(() => r.push(wireBuffer(V.dataOut, { header: false, data: false }))).toThrow(RangeError);
    expect(r.stopped).toBe(true);
  });
});

describe('receiver: header digest error is fatal', () => {
  it.each([0, 10, 47, 48, 51])('flipping byte %i of the header', (flip) => {
    const d = { header: true, data: true };
    const bad = wireBuffer(V.dataOut, d);
    bad[flip] ^= 0x01;
    const next = wireBuffer(V.nopOut, d);
    for (const cut of [bad.length, 20, 49]) {
      const { r, events } = receiver(opts(d));
      const stream = Buffer.concat([bad, next]);
      r.push(stream.subarray(0, cut));
      r.push(stream.subarray(cut));
      r.push(next);
      expect(events.length).toBe(1);
      const e = events[0];
      expect(e.kind).toBe('fatal');
      if (e.kind === 'fatal') expect(e.err.code).toBe('ISCSI_ERR_HEADER_DIGEST');
      expect(r.stopped).toBe(true);
    }
  });
});

describe('receiver: recoverable errors, then the next PDU parses', () => {
  it('data digest error -> onBadPdu with reason 0x02 and the BHS; PDU discarded', () => {
    const d = { header: true, data: true };
    const bad = wireBuffer(V.dataOut, d);
    bad[52 + 500] ^= 0xff; // corrupt the data
    const stream = Buffer.concat([bad, wireBuffer(V.nopOut, d)]);
    for (let cut = 1; cut < stream.length; cut += 7) {
      const { r, events } = receiver(opts(d));
      r.push(stream.subarray(0, cut));
      r.push(stream.subarray(cut));
      expect(events.length, `split at ${cut}`).toBe(2);
      const [first, second] = events;
      expect(first.kind).toBe('bad');
      if (first.kind === 'bad') {
        expect(first.err.code).toBe('ISCSI_ERR_DATA_DIGEST');
        expect(first.err.rejectReason).toBe(RejectReason.DataDigestError);
        expect(first.header.equals(V.dataOut.bhs.build())).toBe(true);
      }
      expect(second.kind === 'pdu' && second.pdu).toEqual(V.nopOut.pdu);
    }
  });

  it('a corrupted pad byte is a data digest error too (digest covers padding)', () => {
    const d = { header: false, data: true };
    const bad = wireBuffer(V.dataOut, d);
    bad[48 + 1001] = 0x01;
    const { r, events } = receiver(opts(d));
    r.push(bad);
    expect(events[0].kind === 'bad' && events[0].err.code).toBe('ISCSI_ERR_DATA_DIGEST');
  });

  it.each(DIGEST_COMBOS.map((d) => [label(d), d] as const))(
    'unknown opcode -> Command not supported, data skipped (%s)',
    (_l, d) => {
      for (const length of [0, 10, 4096]) {
        const stream = Buffer.concat([unknownOpcodePdu(d, length), wireBuffer(V.nopOut, d)]);
        for (const cut of [1, 48, 50, stream.length - 3]) {
          const { r, events } = receiver(opts(d));
          r.push(stream.subarray(0, cut));
          r.push(stream.subarray(cut));
          expect(events.length).toBe(2);
          const [first, second] = events;
          if (first.kind !== 'bad') throw new Error('expected a bad PDU');
          expect(first.err.code).toBe('ISCSI_ERR_UNKNOWN_OPCODE');
          expect(first.err.rejectReason).toBe(RejectReason.CommandNotSupported);
          expect(first.header[0]).toBe(0x1c);
          expect(first.header.length).toBe(48);
          expect(second.kind === 'pdu' && second.pdu).toEqual(V.nopOut.pdu);
        }
      }
    },
  );

  it.each(DIGEST_COMBOS.map((d) => [label(d), d] as const))(
    'data over MaxRecvDataSegmentLength -> protocol error, skipped without placeData (%s)',
    (_l, d) => {
      const big = { ...V.dataOut, data: bytes().bytes(pattern(10001), 'too much data'), bhs: bytes().append(V.dataOut.bhs) };
      const bhs = big.bhs.build();
      bhs.writeUIntBE(10001, 5, 3);
      const bigWire = wire({ ...big, bhs: bytes().bytes(bhs, 'BHS with DataSegmentLength 10001') }, d).build();
      const stream = Buffer.concat([bigWire, wireBuffer(V.nopOut, d)]);
      for (const cut of [1, 30, 48, 60, 5000, stream.length - 1]) {
        const placeCalls: number[] = [];
        const { r, events } = receiver(opts(d, { maxRecvDataSegmentLength: 8192 }), {
          placeData: (header) => {
            placeCalls.push(header[0] & 0x3f);
            return undefined;
          },
        });
        r.push(stream.subarray(0, cut));
        r.push(stream.subarray(cut));
        expect(events.length).toBe(2);
        const [first, second] = events;
        if (first.kind !== 'bad') throw new Error('expected a bad PDU');
        expect(first.err.code).toBe('ISCSI_ERR_DATA_TOO_LONG');
        expect(first.err.rejectReason).toBe(RejectReason.ProtocolError);
        expect(first.header.readUIntBE(5, 3)).toBe(10001);
        expect(second.kind === 'pdu' && second.pdu).toEqual(V.nopOut.pdu);
        expect(placeCalls).toEqual([Opcode.NopOut]); // asked only for the NOP-Out's data
      }
    },
  );

  it('the largest DataSegmentLength (2^24-1) is skipped, not allocated', () => {
    const bhs = V.dataOut.bhs.build();
    bhs.writeUIntBE(0xffffff, 5, 3);
    const { r, events } = receiver();
    r.push(bhs);
    const chunk = Buffer.alloc(1 << 20);
    for (let i = 0; i < 16; i++) r.push(chunk); // 16 MiB: the data and one byte of padding
    expect(events.length).toBe(1);
    expect(events[0].kind === 'bad' && events[0].err.code).toBe('ISCSI_ERR_DATA_TOO_LONG');
    r.push(wireBuffer(V.nopOut, { header: false, data: false }));
    expect(events.length).toBe(2);
    expect(events[1].kind === 'pdu' && events[1].pdu).toEqual(V.nopOut.pdu);
  });

  it('malformed AHS -> ISCSI_ERR_BAD_AHS, then continue', () => {
    const bhs = V.scsiRead.bhs.build();
    bhs[4] = 1;
    const badAhs = bytes().u16(1, 'AHSLength 1 (Extended CDB needs >= 2)').u8(1, 'type').u8(0, 'reserved').build();
    const stream = Buffer.concat([bhs, badAhs, wireBuffer(V.r2t, { header: false, data: false })]);
    const { r, events } = receiver();
    r.push(stream);
    expect(events.map((e) => e.kind)).toEqual(['bad', 'pdu']);
    expect(events[0].kind === 'bad' && events[0].err.code).toBe('ISCSI_ERR_BAD_AHS');
  });

  it("accept: 'initiator' rejects target opcodes as unexpected", () => {
    const d = { header: false, data: false };
    const { r, events } = receiver({ accept: 'initiator' });
    r.push(Buffer.concat([wireBuffer(V.textResponse, d), wireBuffer(V.nopOut, d)]));
    expect(events.map((e) => e.kind)).toEqual(['bad', 'pdu']);
    expect(events[0].kind === 'bad' && events[0].err.code).toBe('ISCSI_ERR_UNEXPECTED_OPCODE');
    expect(events[0].kind === 'bad' && events[0].err.rejectReason).toBe(RejectReason.ProtocolError);
  });

  it("accept: 'target' rejects initiator opcodes as unexpected", () => {
    const { r, events } = receiver({ accept: 'target' });
    r.push(Buffer.concat([wireBuffer(V.nopOut, { header: false, data: false }), wireBuffer(V.nopIn, { header: false, data: false })]));
    expect(events.map((e) => e.kind)).toEqual(['bad', 'pdu']);
  });
});

describe('receiver: settings change between PDUs', () => {
  it('digests switched on from onPdu apply to the next PDU in the same chunk (RFC 7143 §13.1)', () => {
    const events: Pdu[] = [];
    const r: PduReceiver = new PduReceiver({
      onPdu: (pdu) => {
        events.push(pdu);
        if (pdu.opcode === Opcode.LoginResponse) r.setDigests(true, true);
      },
      onBadPdu: (err) => {
        throw err;
      },
      onFatal: (err) => {
        throw err;
      },
    });
    const on = { header: true, data: true };
    const stream = Buffer.concat([
      wireBuffer(V.loginResponse, { header: false, data: false }),
      wireBuffer(V.dataIn, on),
      wireBuffer(V.nopIn, on),
    ]);
    r.push(stream);
    expect(events).toEqual([V.loginResponse.pdu, V.dataIn.pdu, V.nopIn.pdu]);
    expect(r.digests).toEqual(on);
  });

  it('a PDU already started keeps the digest setting it started with', () => {
    const { r, events } = receiver();
    const buf = wireBuffer(V.nopOut, { header: false, data: false });
    r.push(buf.subarray(0, 10));
    r.setDigests(true, true);
    r.push(buf.subarray(10));
    expect(events[0].kind === 'pdu' && events[0].pdu).toEqual(V.nopOut.pdu);
    r.push(wireBuffer(V.nopOut, { header: true, data: true }));
    expect(events.length).toBe(2);
    expect(events[1].kind === 'pdu' && events[1].pdu).toEqual(V.nopOut.pdu);
  });

  it('MaxRecvDataSegmentLength can be lowered and raised', () => {
    const { r, events } = receiver({ maxRecvDataSegmentLength: 512 });
    expect(r.maxRecvDataSegmentLength).toBe(512);
    const d = { header: false, data: false };
    r.push(wireBuffer(V.dataOut, d)); // 1001 > 512
    r.setMaxRecvDataSegmentLength(1001);
    r.push(wireBuffer(V.dataOut, d));
    expect(events.map((e) => e.kind)).toEqual(['bad', 'pdu']);
  });

  it('defaults to 8192 (RFC 7143 §13.12), refuses values below 512, clamps above 2^24-1', () => {
    const { r } = receiver();
    expect(r.maxRecvDataSegmentLength).toBe(8192);
    expect(() => r.setMaxRecvDataSegmentLength(511)).toThrow(RangeError);
    expect(() => r.setMaxRecvDataSegmentLength(1000.5)).toThrow(RangeError);
    expect(() => receiver({ maxRecvDataSegmentLength: 100 })).toThrow(RangeError);
    r.setMaxRecvDataSegmentLength(16 * 1024 * 1024);
    expect(r.maxRecvDataSegmentLength).toBe(0xffffff);
  });
});

describe('receiver: handler behaviour', () => {
  it('a throwing handler stops the receiver and the error propagates', () => {
    const d = { header: false, data: false };
    let calls = 0;
    const r = new PduReceiver({
      onPdu: () => {
        calls++;
        throw new Error('handler bug');
      },
      onBadPdu: () => undefined,
      onFatal: () => undefined,
    });
    const two = Buffer.concat([wireBuffer(V.nopOut, d), wireBuffer(V.nopOut, d)]);
    expect(() => r.push(two)).toThrow('handler bug');
    expect(r.stopped).toBe(true);
    r.push(two);
    expect(calls).toBe(1);
  });

  it('stop() from a handler ends parsing of the rest of the chunk', () => {
    const d = { header: false, data: false };
    const seen: Pdu[] = [];
    const r: PduReceiver = new PduReceiver({
      onPdu: (pdu) => {
        seen.push(pdu);
        r.stop();
      },
      onBadPdu: () => undefined,
      onFatal: () => undefined,
    });
    r.push(Buffer.concat([wireBuffer(V.nopOut, d), wireBuffer(V.r2t, d)]));
    expect(seen.length).toBe(1);
  });

  it('push from inside a handler is queued and parsed in order', () => {
    const d = { header: false, data: false };
    const seen: number[] = [];
    const r: PduReceiver = new PduReceiver({
      onPdu: (pdu) => {
        seen.push(pdu.opcode);
        if (pdu.opcode === Opcode.NopOut) r.push(wireBuffer(V.nopIn, d));
      },
      onBadPdu: () => undefined,
      onFatal: () => undefined,
    });
    r.push(Buffer.concat([wireBuffer(V.nopOut, d), wireBuffer(V.r2t, d)]));
    expect(seen).toEqual([Opcode.NopOut, Opcode.R2T, Opcode.NopIn]);
  });

  it('idle is false inside a PDU and true between PDUs; empty chunks are ignored', () => {
    const { r } = receiver();
    const buf = wireBuffer(V.dataOut, { header: false, data: false });
    expect(r.idle).toBe(true);
    r.push(Buffer.alloc(0));
    r.push(buf.subarray(0, 60));
    expect(r.idle).toBe(false);
    r.push(buf.subarray(60));
    expect(r.idle).toBe(true);
  });
});
