/**
 * Incremental PDU receiver: socket chunks in, decoded PDUs out (RFC 7143 §11,
 * DESIGN.md §3 and §8).
 *
 * - Parses in place: chunks are never accumulated with Buffer.concat.
 * - A header (BHS + AHS + header digest) contained in one chunk is used as a
 *   view of that chunk; one that straddles chunks is gathered into a small new buffer.
 * - A data segment is copied at most once: into the `placeData` destination
 *   if the handler gives one, else (when it is contained in one chunk) it is a
 *   view of the chunk (zero copy), else it is gathered into one new buffer.
 *   Consequence: PDU fields (`data`, `lunField`, `isid`, `cdb`) and the
 *   `header` passed to handlers may alias the socket chunk. Node's socket
 *   chunks are not reused, so this is safe; if you push chunks from a buffer
 *   you reuse, copy what you keep.
 *
 * Errors:
 * - Recoverable (the PDU was framed correctly but is unacceptable): unknown or
 *   unexpected opcode, DataSegmentLength over MaxRecvDataSegmentLength, data
 *   digest mismatch, malformed AHS. The PDU's bytes are consumed (without
 *   allocating for its data when it is rejected from its header alone), then
 *   `onBadPdu` is called and parsing continues with the next PDU. The error's
 *   `rejectReason` is the Reject reason (§11.17.1); `formatError` marks the
 *   cases RFC 7143 §7.7 wants answered by closing the connection instead.
 * - Fatal: header digest mismatch (RFC 7143 §7.8: the header, and so the
 *   framing, cannot be trusted). `onFatal` is called and the receiver stops;
 *   the connection must be dropped.
 *
 * Handlers run synchronously inside `push`, in stream order. Digest and
 * MaxRecvDataSegmentLength settings changed from a handler apply to the next
 * PDU whose first byte has not been consumed yet (RFC 7143 §13.1: digests start
 * with the first PDU after the final Login Response). If a handler throws, the
 * receiver stops (the rest of the chunk is not parsed) and the error propagates.
 */
import {
  BHS_LENGTH,
  DEFAULT_MAX_RECV_DATA_SEGMENT_LENGTH,
  DIGEST_LENGTH,
  MAX_DATA_SEGMENT_LENGTH,
  MIN_MAX_RECV_DATA_SEGMENT_LENGTH,
  RejectReason,
  isInitiatorOpcode,
  isKnownOpcode,
  opcodeName,
} from './constants.js';
import { decodePdu, unknownOpcodeError } from './decode.js';
import { crc32c, crc32cJs } from './digest.js';
import { PduFormatError } from './errors.js';
import type { Pdu } from './types.js';

export interface ReceiverHandlers {
  /** A PDU was received. `header` is its 48-byte BHS (useful as the data of a later Reject). */
  onPdu(pdu: Pdu, header: Buffer): void;
  /**
   * Recoverable: the PDU was framed correctly but is bad (unknown opcode, data
   * digest error, data segment over the limit, malformed AHS). `header` is the
   * 48-byte BHS for the Reject PDU's data (RFC 7143 §11.17); `err.rejectReason`
   * is the reason code to use.
   */
  onBadPdu(err: PduFormatError, header: Buffer): void;
  /** Unrecoverable framing error (header digest mismatch): drop the connection; the receiver has stopped. */
  onFatal(err: PduFormatError): void;
  /**
   * Optional: called once the header of a PDU with a data segment is parsed and
   * accepted (digest checked, length within limits). May return where the data
   * segment should be placed directly (e.g. Data-Out into the command's buffer);
   * `buffer` must have `dataLength` bytes free at `offset`. Return undefined to
   * let the receiver provide the data. The PDU's `data` is then
   * `buffer.subarray(offset, offset + dataLength)`. On a data digest error the
   * destination has already been written and the PDU is reported to `onBadPdu`.
   */
  placeData?(bhs: Buffer, dataLength: number): { buffer: Buffer; offset: number } | undefined;
}

export interface ReceiverOptions {
  /** RFC 7143 §13.1 HeaderDigest=CRC32C in force. Default false (login). */
  headerDigest?: boolean;
  /** RFC 7143 §13.1 DataDigest=CRC32C in force. Default false (login). */
  dataDigest?: boolean;
  /** RFC 7143 §13.12: the most data this side accepts in one PDU. Default 8192. */
  maxRecvDataSegmentLength?: number;
  /**
   * Which opcodes are acceptable (RFC 7143 §11.2.1.2): 'initiator' on a target
   * (0x00-0x1f), 'target' on an initiator (0x20-0x3f), 'any' (default) for both.
   * Others are reported to `onBadPdu` as ISCSI_ERR_UNEXPECTED_OPCODE.
   */
  accept?: 'initiator' | 'target' | 'any';
}

const enum State {
  Header,
  Data,
  Trailer,
  Skip,
  Stopped,
}

const EMPTY = Buffer.alloc(0);

export class PduReceiver {
  private headerDigest: boolean;
  private dataDigest: boolean;
  private maxRecv: number;
  private readonly accept: 'initiator' | 'target' | 'any';

  private state = State.Header;
  // Per-PDU state. Digest flags are latched when the PDU's first byte arrives.
  private hd = false;
  private dd = false;
  /** Gather buffer for a header that straddles chunks, and how much of it is filled / needed. */
  private hdrBuf: Buffer | null = null;
  private hdrHave = 0;
  private hdrNeed = 0;
  /** The complete header of the current PDU (BHS + AHS + digest). */
  private header: Buffer = EMPTY;
  private bhs: Buffer = EMPTY;
  private dataLength = 0;
  private dataHave = 0;
  /** Where the data segment is being gathered (placeData target or own buffer), or null before the first byte. */
  private dataBuf: Buffer | null = null;
  private dataOff = 0;
  /** The data segment once complete. */
  private data: Buffer = EMPTY;
  /** Padding (0-3 bytes) then data digest (0 or 4 bytes), gathered here. */
  private readonly trailer = Buffer.alloc(8);
  private trailerHave = 0;
  private trailerNeed = 0;
  private skipLeft = 0;
  private pendingError: PduFormatError | null = null;

  private inPush = false;
  private queue: Buffer[] = [];

  constructor(
    private readonly handlers: ReceiverHandlers,
    options: ReceiverOptions = {},
  ) {
    this.headerDigest = options.headerDigest ?? false;
    this.dataDigest = options.dataDigest ?? false;
    this.maxRecv = DEFAULT_MAX_RECV_DATA_SEGMENT_LENGTH;
    this.accept = options.accept ?? 'any';
    if (options.maxRecvDataSegmentLength !== undefined) {
      this.setMaxRecvDataSegmentLength(options.maxRecvDataSegmentLength);
    }
  }

  /** Turn digests on or off for PDUs not yet started (RFC 7143 §13.1). */
  setDigests(header: boolean, data: boolean): void {
    this.headerDigest = header;
    this.dataDigest = data;
  }

  /**
   * RFC 7143 §13.12: 512 to 2^24-1 bytes. Larger values mean "anything the
   * 24-bit DataSegmentLength can carry" and are clamped to 2^24-1. Applies to
   * PDUs not yet started.
   */
  setMaxRecvDataSegmentLength(length: number): void {
    if (!Number.isInteger(length) || length < MIN_MAX_RECV_DATA_SEGMENT_LENGTH) {
      throw new RangeError(
        `MaxRecvDataSegmentLength ${length} is not an integer >= ${MIN_MAX_RECV_DATA_SEGMENT_LENGTH} (RFC 7143 §13.12)`,
      );
    }
    this.maxRecv = Math.min(length, MAX_DATA_SEGMENT_LENGTH);
  }

  get digests(): { header: boolean; data: boolean } {
    return { header: this.headerDigest, data: this.dataDigest };
  }

  get maxRecvDataSegmentLength(): number {
    return this.maxRecv;
  }

  /** True once a fatal error was reported, a handler threw, or `stop()` was called. */
  get stopped(): boolean {
    return this.state === State.Stopped;
  }

  /** True when no partial PDU is buffered (between PDUs). */
  get idle(): boolean {
    return this.state === State.Header && this.hdrHave === 0;
  }

  /** Stop parsing; later chunks are ignored. */
  stop(): void {
    this.state = State.Stopped;
    this.queue = [];
    this.release();
  }

  /**
   * Feed the next chunk of the byte stream. Re-entrant calls (from a handler)
   * are queued and parsed after the current chunk.
   */
  push(chunk: Buffer): void {
    if (this.state === State.Stopped || chunk.length === 0) return;
    if (this.inPush) {
      this.queue.push(chunk);
      return;
    }
    this.inPush = true;
    try {
      this.parse(chunk);
      while (this.queue.length > 0 && !this.stopped) this.parse(this.queue.shift()!);
    } catch (err) {
      this.stop();
      throw err;
    } finally {
      this.inPush = false;
    }
  }

  private parse(chunk: Buffer): void {
    const len = chunk.length;
    let pos = 0;
    while (pos < len) {
      switch (this.state) {
        case State.Header:
          pos = this.parseHeader(chunk, pos);
          break;
        case State.Data:
          pos = this.parseData(chunk, pos);
          break;
        case State.Trailer: {
          const n = Math.min(this.trailerNeed - this.trailerHave, len - pos);
          chunk.copy(this.trailer, this.trailerHave, pos, pos + n);
          this.trailerHave += n;
          pos += n;
          if (this.trailerHave === this.trailerNeed) this.finishData();
          break;
        }
        case State.Skip: {
          const n = Math.min(this.skipLeft, len - pos);
          this.skipLeft -= n;
          pos += n;
          if (this.skipLeft === 0) this.finishSkip();
          break;
        }
        case State.Stopped:
          return;
      }
    }
  }

  /** Gather the header (BHS, AHS, header digest); zero copy when it is inside this chunk. */
  private parseHeader(chunk: Buffer, pos: number): number {
    const avail = chunk.length - pos;
    if (this.hdrHave === 0) {
      // First byte of a new PDU: latch the digest settings for it.
      this.hd = this.headerDigest;
      this.dd = this.dataDigest;
      if (avail >= BHS_LENGTH) {
        const need = BHS_LENGTH + (chunk[pos + 4] << 2) + (this.hd ? DIGEST_LENGTH : 0);
        if (avail >= need) {
          this.onHeader(chunk.subarray(pos, pos + need));
          return pos + need;
        }
        this.hdrNeed = need;
      } else {
        this.hdrNeed = BHS_LENGTH; // grown once the BHS tells the AHS length
      }
      this.hdrBuf = Buffer.allocUnsafe(this.hdrNeed);
    }
    let buf = this.hdrBuf!;
    let n = Math.min(this.hdrNeed - this.hdrHave, avail);
    chunk.copy(buf, this.hdrHave, pos, pos + n);
    this.hdrHave += n;
    pos += n;
    if (this.hdrHave === BHS_LENGTH && this.hdrNeed === BHS_LENGTH) {
      // BHS complete: now the AHS and digest lengths are known (§11.2.1.4).
      const need = BHS_LENGTH + (buf[4] << 2) + (this.hd ? DIGEST_LENGTH : 0);
      if (need > BHS_LENGTH) {
        const grown = Buffer.allocUnsafe(need);
        buf.copy(grown, 0, 0, BHS_LENGTH);
        this.hdrBuf = buf = grown;
        this.hdrNeed = need;
        n = Math.min(need - BHS_LENGTH, chunk.length - pos);
        chunk.copy(buf, BHS_LENGTH, pos, pos + n);
        this.hdrHave += n;
        pos += n;
      }
    }
    if (this.hdrHave === this.hdrNeed) {
      this.hdrBuf = null;
      this.hdrHave = 0;
      this.onHeader(buf);
    }
    return pos;
  }

  /** A complete header: check its digest and lengths, then decide how to take the data segment. */
  private onHeader(header: Buffer): void {
    const bhs = header.length === BHS_LENGTH ? header : header.subarray(0, BHS_LENGTH);
    if (this.hd) {
      // RFC 7143 §11.2.3 / §7.8: a header digest error means the PDU's lengths
      // cannot be trusted, so the stream cannot be re-synchronized.
      const end = header.length - DIGEST_LENGTH;
      const expected = header.readUInt32LE(end);
      const actual = crc32cJs(header, 0, end);
      if (actual !== expected) {
        this.state = State.Stopped;
        this.release();
        this.handlers.onFatal(
          new PduFormatError(
            'ISCSI_ERR_HEADER_DIGEST',
            `header digest mismatch on ${opcodeName(bhs[0] & 0x3f)}: received 0x${expected.toString(16).padStart(8, '0')}, computed 0x${actual.toString(16).padStart(8, '0')} (RFC 7143 §7.8)`,
            RejectReason.ProtocolError,
            bhs[0] & 0x3f,
          ),
        );
        return;
      }
    }
    this.header = header;
    this.bhs = bhs;
    const dataLength = (bhs[5] << 16) | (bhs[6] << 8) | bhs[7];
    this.dataLength = dataLength;
    const padded = (dataLength + 3) & ~3;
    const digest = dataLength > 0 && this.dd ? DIGEST_LENGTH : 0; // §11.2.4: no data digest without data

    const err = this.checkHeader(bhs, dataLength);
    if (err !== null) {
      // Rejected from the header alone: skip its data without allocating.
      this.pendingError = err;
      this.skipLeft = padded + digest;
      if (this.skipLeft === 0) this.finishSkip();
      else this.state = State.Skip;
      return;
    }
    if (dataLength === 0) {
      this.emit(EMPTY);
      return;
    }
    this.trailerNeed = padded - dataLength + digest;
    this.trailerHave = 0;
    this.dataHave = 0;
    this.dataBuf = null;
    this.dataOff = 0;
    const place = this.handlers.placeData?.(bhs, dataLength);
    if (place !== undefined) {
      if (!Number.isInteger(place.offset) || place.offset < 0 || place.offset + dataLength > place.buffer.length) {
        throw new RangeError(
          `placeData returned offset ${place.offset} in a ${place.buffer.length}-byte buffer for ${dataLength} bytes of data`,
        );
      }
      this.dataBuf = place.buffer;
      this.dataOff = place.offset;
    }
    this.state = State.Data;
  }

  /** Checks possible from the header alone; returns the error to report after skipping the PDU. */
  private checkHeader(bhs: Buffer, dataLength: number): PduFormatError | null {
    const opcode = bhs[0] & 0x3f;
    if (!isKnownOpcode(opcode)) return unknownOpcodeError(opcode);
    if (this.accept !== 'any' && isInitiatorOpcode(opcode) !== (this.accept === 'initiator')) {
      // RFC 7143 §11.2.1.2: initiator opcodes go to targets, target opcodes to initiators.
      return new PduFormatError(
        'ISCSI_ERR_UNEXPECTED_OPCODE',
        `${opcodeName(opcode)} is not sent to ${this.accept === 'initiator' ? 'a target' : 'an initiator'} (RFC 7143 §11.2.1.2)`,
        RejectReason.ProtocolError,
        opcode,
      );
    }
    if (dataLength > this.maxRecv) {
      // RFC 7143 §13.12: a sender must not exceed the receiver's
      // MaxRecvDataSegmentLength; doing so is a protocol error (Reject reason
      // 0x04, §11.17.1). The header is intact, so the data is skipped (never
      // allocated) and the connection goes on.
      return new PduFormatError(
        'ISCSI_ERR_DATA_TOO_LONG',
        `${opcodeName(opcode)} carries ${dataLength} bytes of data, over MaxRecvDataSegmentLength ${this.maxRecv} (RFC 7143 §13.12)`,
        RejectReason.ProtocolError,
        opcode,
      );
    }
    return null;
  }

  /** Copy (or view) the data segment; at most one copy, into its destination. */
  private parseData(chunk: Buffer, pos: number): number {
    const want = this.dataLength - this.dataHave;
    const avail = chunk.length - pos;
    if (this.dataBuf === null) {
      if (avail >= want) {
        // Whole data segment inside this chunk: zero copy.
        this.data = chunk.subarray(pos, pos + want);
        this.endData();
        return pos + want;
      }
      this.dataBuf = Buffer.allocUnsafe(this.dataLength);
      this.dataOff = 0;
    }
    const n = Math.min(want, avail);
    chunk.copy(this.dataBuf, this.dataOff + this.dataHave, pos, pos + n);
    this.dataHave += n;
    if (this.dataHave === this.dataLength) {
      this.data = this.dataBuf.subarray(this.dataOff, this.dataOff + this.dataLength);
      this.endData();
    }
    return pos + n;
  }

  private endData(): void {
    if (this.trailerNeed === 0) this.finishData();
    else this.state = State.Trailer;
  }

  /** Data and trailer complete: verify the data digest (§11.2.4), then emit. */
  private finishData(): void {
    if (this.dd) {
      const pad = this.trailerNeed - DIGEST_LENGTH;
      const expected = this.trailer.readUInt32LE(pad);
      const actual = crc32cJs(this.trailer, 0, pad, crc32c(this.data));
      if (actual !== expected) {
        // RFC 7143 §7.8 (digest errors): the PDU is discarded and rejected with
        // reason 0x02 "Data (payload) digest error" (§11.17.1).
        const bhs = this.bhs;
        this.resetPdu();
        this.handlers.onBadPdu(
          new PduFormatError(
            'ISCSI_ERR_DATA_DIGEST',
            `data digest mismatch on ${opcodeName(bhs[0] & 0x3f)}: received 0x${expected.toString(16).padStart(8, '0')}, computed 0x${actual.toString(16).padStart(8, '0')} (RFC 7143 §7.8)`,
            RejectReason.DataDigestError,
            bhs[0] & 0x3f,
          ),
          bhs,
        );
        return;
      }
    }
    this.emit(this.data);
  }

  private finishSkip(): void {
    const err = this.pendingError!;
    const bhs = this.bhs;
    this.resetPdu();
    this.handlers.onBadPdu(err, bhs);
  }

  /** Decode and deliver the current PDU; decode errors (e.g. malformed AHS) are recoverable. */
  private emit(data: Buffer): void {
    const header = this.header;
    const bhs = this.bhs;
    const ahsEnd = BHS_LENGTH + (bhs[4] << 2);
    const ahs = ahsEnd === BHS_LENGTH ? EMPTY : header.subarray(BHS_LENGTH, ahsEnd);
    this.resetPdu();
    let pdu: Pdu;
    try {
      pdu = decodePdu(bhs, ahs, data);
    } catch (err) {
      if (!(err instanceof PduFormatError)) throw err;
      this.handlers.onBadPdu(err, bhs);
      return;
    }
    this.handlers.onPdu(pdu, bhs);
  }

  /** Back to waiting for the next header; drop references to the finished PDU. */
  private resetPdu(): void {
    if (this.state !== State.Stopped) this.state = State.Header;
    this.release();
  }

  private release(): void {
    this.header = EMPTY;
    this.bhs = EMPTY;
    this.data = EMPTY;
    this.dataBuf = null;
    this.hdrBuf = null;
    this.hdrHave = 0;
    this.pendingError = null;
  }
}
