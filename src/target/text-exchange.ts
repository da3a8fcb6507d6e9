/**
 * Text requests in full feature phase (RFC 7143 §11.10, §11.11, §6.2):
 * SendTargets, unknown keys answered NotUnderstood, long answers split over
 * several Text Responses with the C bit and a Target Transfer Tag.
 */
import { Opcode, type TextRequestPdu } from './pdu/types.js';
import { answerSendTargets } from './discovery.js';
import { BHS_LENGTH, RejectReason } from './pdu/constants.js';
import { encodeBhsInto } from './pdu/encode.js';
import type { SessionHost } from './session.js';
import { decodeTextPairs, encodeTextPairs } from './text-pairs.js';

const RESERVED_TAG = 0xffffffff;
/** Largest text a request may accumulate over C-bit PDUs (RFC 7143 §6.1 bounds key/value sizes). */
const MAX_TEXT_REQUEST = 64 * 1024;

interface Continuation {
  itt: number;
  ttt: number;
  remaining: Buffer;
}

export class TextExchange {
  private requestParts: Buffer[] = [];
  private requestBytes = 0;
  private requestItt = RESERVED_TAG;
  private continuation: Continuation | undefined;
  private nextTag = 0x40000000;

  constructor(
    private readonly params: { initiatorMaxRecvDataSegmentLength: number },
    private readonly host: SessionHost,
  ) {}

  handle(pdu: TextRequestPdu, expCmdSN: number, maxCmdSN: number): void {
    const reply = (data: Buffer, final: boolean, cont: boolean, ttt: number) =>
      this.host.send(
        {
          opcode: Opcode.TextResponse,
          final,
          continue: cont,
          lun: 0,
          lunField: Buffer.alloc(8),
          initiatorTaskTag: pdu.initiatorTaskTag,
          targetTransferTag: ttt,
          statSN: 0,
          expCmdSN,
          maxCmdSN,
          ahs: [],
          data,
        },
        true,
      );

    // The initiator pulls the rest of a long answer (RFC 7143 §11.10.4).
    if (pdu.targetTransferTag !== RESERVED_TAG) {
      const c = this.continuation;
      if (!c || c.ttt !== pdu.targetTransferTag || c.itt !== pdu.initiatorTaskTag) {
        reply(EMPTY, true, false, RESERVED_TAG);
        return;
      }
      this.sendChunk(c, reply);
      return;
    }
    // A new request abandons an unfinished answer (RFC 7143 §11.10.4: TTT reserved resets).
    this.continuation = undefined;
    if (this.requestItt !== pdu.initiatorTaskTag) {
      this.requestParts = [];
      this.requestBytes = 0;
      this.requestItt = pdu.initiatorTaskTag;
    }
    this.requestBytes += pdu.data.length;
    if (this.requestBytes > MAX_TEXT_REQUEST) {
      this.requestParts = [];
      this.requestBytes = 0;
      // Reject carries the offending PDU's header (RFC 7143 §11.17.1); the
      // request went through CmdSN ordering, so rebuild it from the decoded PDU.
      const bhs = Buffer.alloc(BHS_LENGTH);
      encodeBhsInto(pdu, bhs, 0);
      this.host.reject(RejectReason.ProtocolError, bhs);
      return;
    }
    this.requestParts.push(Buffer.from(pdu.data));
    if (pdu.continue) {
      reply(EMPTY, false, false, this.allocateTag());
      return;
    }
    const text = Buffer.concat(this.requestParts);
    this.requestParts = [];
    this.requestBytes = 0;
    this.requestItt = RESERVED_TAG;
    const answer = encodeTextPairs(this.answer(text));
    const c: Continuation = { itt: pdu.initiatorTaskTag, ttt: RESERVED_TAG, remaining: answer };
    this.sendChunk(c, reply);
  }

  private sendChunk(c: Continuation, reply: (data: Buffer, final: boolean, cont: boolean, ttt: number) => void): void {
    const max = this.params.initiatorMaxRecvDataSegmentLength;
    if (c.remaining.length <= max) {
      this.continuation = undefined;
      reply(c.remaining, true, false, RESERVED_TAG);
      return;
    }
    const chunk = c.remaining.subarray(0, max);
    c.remaining = c.remaining.subarray(max);
    c.ttt = this.allocateTag();
    this.continuation = c;
    reply(chunk, false, true, c.ttt);
  }

  private allocateTag(): number {
    this.nextTag = this.nextTag >= 0x7fffffff ? 0x40000000 : this.nextTag + 1;
    return this.nextTag;
  }

  private answer(text: Buffer): [string, string][] {
    const out: [string, string][] = [];
    let pairs: [string, string][];
    try {
      pairs = decodeTextPairs(text);
    } catch {
      return [];
    }
    for (const [key, value] of pairs) {
      if (key === 'SendTargets') {
        const a = answerSendTargets(value, this.host.discoverableTargets(), this.host.sessionType === 'Normal' ? this.host.targetIqn : undefined);
        if (a.kind === 'reject') out.push(['SendTargets', 'Reject']);
        else out.push(...a.pairs);
      } else {
        // RFC 7143 §6.2: keys we do not renegotiate in full feature phase.
        out.push([key, 'NotUnderstood']);
      }
    }
    return out;
  }
}

const EMPTY = Buffer.alloc(0);
