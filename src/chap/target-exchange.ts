/**
 * The target side of one CHAP exchange (RFC 7143 §12.1.3), pure: no sockets,
 * randomness injected.
 *
 *   I->T  CHAP_A=<A1,A2,...>
 *   T->I  CHAP_A=<A> CHAP_I=<I> CHAP_C=<C>                       (start)
 *   I->T  CHAP_N=<N> CHAP_R=<R>  [CHAP_I=<I2> CHAP_C=<C2>]        (verify)
 *   T->I  [CHAP_N=<N2> CHAP_R=<R2>]      (only for mutual CHAP)
 */
import type { ChapSecret } from '../target/engine-api.js';
import type { TextPair } from '../target/login/text.js';
import { splitList } from '../target/login/text.js';
import {
  CHAP_ALGORITHMS,
  ChapError,
  MAX_CHAP_CHALLENGE_BYTES,
  SUPPORTED_CHAP_ALGORITHMS,
  challengeLength,
  chapResponse,
  chapResponsesEqual,
  decodeChapBinary,
  decodeChapIdentifier,
  encodeChapBinary,
  selectChapAlgorithm,
  type ChapAlgorithmId,
} from './chap.js';

export type ChapAuthErrorCode =
  /** None of the initiator's CHAP_A values is supported. */
  | 'CHAP_ERR_NO_ALGORITHM'
  /** CHAP_N is not the configured user. */
  | 'CHAP_ERR_UNKNOWN_USER'
  /** CHAP_R does not match. */
  | 'CHAP_ERR_BAD_RESPONSE'
  /** Mutual CHAP requested but the target has no mutual secret. */
  | 'CHAP_ERR_NO_MUTUAL_SECRET'
  /** The initiator's challenge equals ours (reflection attack, RFC 7143 §12.1.3). */
  | 'CHAP_ERR_REFLECTED_CHALLENGE'
  /** Keys missing, repeated, out of order, or malformed. */
  | 'CHAP_ERR_PROTOCOL';

/** Authentication failed: the login ends with status 0x0201 (RFC 7143 §11.13.5). */
export class ChapAuthError extends Error {
  override readonly name = 'ChapAuthError';
  constructor(
    readonly code: ChapAuthErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export interface ChapTargetOptions {
  /** Random bytes (crypto.randomBytes in production; fixed in tests). */
  random(n: number): Buffer;
  /** Algorithms we accept; default all of 5, 6, 7, 8. */
  algorithms?: readonly ChapAlgorithmId[];
  /** Encoding of CHAP_C/CHAP_R we send; default hex. */
  encoding?: 'hex' | 'base64';
}

export interface ChapVerifyInput {
  CHAP_N?: string;
  CHAP_R?: string;
  CHAP_I?: string;
  CHAP_C?: string;
}

export interface ChapVerifyResult {
  /** Pairs to send back (CHAP_N, CHAP_R for mutual CHAP; empty otherwise). */
  pairs: TextPair[];
  /** True when the target also authenticated itself. */
  mutual: boolean;
  user: string;
}

type State = 'initial' | 'challenged' | 'done';

export class ChapTargetExchange {
  private state: State = 'initial';
  private algorithmId: ChapAlgorithmId | undefined;
  private identifier = 0;
  private challenge: Buffer = Buffer.alloc(0);

  /**
   * @param secrets `chap` authenticates the initiator; `mutual`, when set,
   *        is what the target answers with when the initiator asks.
   */
  constructor(
    private readonly secrets: { chap: ChapSecret; mutual?: ChapSecret },
    private readonly opts: ChapTargetOptions,
  ) {}

  get algorithm(): ChapAlgorithmId | undefined {
    return this.algorithmId;
  }

  /**
   * Answer CHAP_A: choose an algorithm and issue the challenge.
   * @throws ChapAuthError
   */
  start(chapA: string): TextPair[] {
    if (this.state !== 'initial') {
      throw new ChapAuthError('CHAP_ERR_PROTOCOL', 'CHAP_A sent twice in one login (RFC 7143 §12.1.3)');
    }
    const offered = splitList(chapA);
    const alg = selectChapAlgorithm(offered, this.opts.algorithms ?? SUPPORTED_CHAP_ALGORITHMS);
    if (alg === undefined) {
      const ours = (this.opts.algorithms ?? SUPPORTED_CHAP_ALGORITHMS).map((a) => `${a} (${CHAP_ALGORITHMS[a].name})`);
      throw new ChapAuthError(
        'CHAP_ERR_NO_ALGORITHM',
        `initiator offered CHAP_A=${chapA.slice(0, 64)}; the target supports ${ours.join(', ')}`,
      );
    }
    this.algorithmId = alg;
    const id = this.opts.random(1);
    this.identifier = id.length > 0 ? id[0]! : 0;
    const len = challengeLength(alg);
    const c = this.opts.random(len);
    if (c.length !== len) throw new Error(`random(${len}) returned ${c.length} bytes`);
    this.challenge = Buffer.from(c);
    this.state = 'challenged';
    return [
      { key: 'CHAP_A', value: String(alg) },
      { key: 'CHAP_I', value: String(this.identifier) },
      { key: 'CHAP_C', value: encodeChapBinary(this.challenge, this.opts.encoding) },
    ];
  }

  /**
   * Check CHAP_N/CHAP_R and, when the initiator sent CHAP_I/CHAP_C, answer
   * its challenge with the mutual secret.
   * @throws ChapAuthError
   */
  verify(input: ChapVerifyInput): ChapVerifyResult {
    if (this.state !== 'challenged' || this.algorithmId === undefined) {
      throw new ChapAuthError('CHAP_ERR_PROTOCOL', 'CHAP_N/CHAP_R received before the target sent its challenge (RFC 7143 §12.1.3)');
    }
    this.state = 'done';
    const alg = this.algorithmId;
    if (input.CHAP_N === undefined || input.CHAP_R === undefined) {
      throw new ChapAuthError('CHAP_ERR_PROTOCOL', 'expected CHAP_N and CHAP_R in answer to the challenge (RFC 7143 §12.1.3)');
    }
    let received: Buffer;
    try {
      received = decodeChapBinary('CHAP_R', input.CHAP_R);
    } catch (e) {
      throw new ChapAuthError('CHAP_ERR_PROTOCOL', (e as ChapError).message);
    }
    const expected = chapResponse(alg, this.identifier, this.secrets.chap.secret, this.challenge);
    // Always compute and compare, whatever the user name, so timing does not tell valid names.
    const responseOk = chapResponsesEqual(expected, received);
    const userOk = input.CHAP_N === this.secrets.chap.user;
    if (!userOk) {
      throw new ChapAuthError('CHAP_ERR_UNKNOWN_USER', `CHAP user "${input.CHAP_N.slice(0, 64)}" is not the account configured for this target`);
    }
    if (!responseOk) {
      throw new ChapAuthError('CHAP_ERR_BAD_RESPONSE', `CHAP response of user "${input.CHAP_N}" is wrong (wrong secret?)`);
    }

    const wantsMutual = input.CHAP_I !== undefined || input.CHAP_C !== undefined;
    if (!wantsMutual) return { pairs: [], mutual: false, user: input.CHAP_N };
    if (input.CHAP_I === undefined || input.CHAP_C === undefined) {
      throw new ChapAuthError('CHAP_ERR_PROTOCOL', 'mutual CHAP needs both CHAP_I and CHAP_C (RFC 7143 §12.1.3)');
    }
    if (!this.secrets.mutual) {
      throw new ChapAuthError(
        'CHAP_ERR_NO_MUTUAL_SECRET',
        'the initiator asked the target to authenticate itself (mutual CHAP) but no mutual CHAP account is configured for this target',
      );
    }
    let id2: number;
    let c2: Buffer;
    try {
      id2 = decodeChapIdentifier(input.CHAP_I);
      c2 = decodeChapBinary('CHAP_C', input.CHAP_C);
    } catch (e) {
      throw new ChapAuthError('CHAP_ERR_PROTOCOL', (e as ChapError).message);
    }
    if (c2.length > MAX_CHAP_CHALLENGE_BYTES) {
      throw new ChapAuthError('CHAP_ERR_PROTOCOL', `initiator's CHAP_C is ${c2.length} bytes; the limit is ${MAX_CHAP_CHALLENGE_BYTES}`);
    }
    // RFC 7143 §12.1.3: a target receiving the challenge it sent must not answer it
    // (reflection attack: the initiator would use our answer as its own).
    if (c2.equals(this.challenge)) {
      throw new ChapAuthError(
        'CHAP_ERR_REFLECTED_CHALLENGE',
        'the initiator sent back the challenge the target issued (reflection attack, RFC 7143 §12.1.3)',
      );
    }
    const r2 = chapResponse(alg, id2, this.secrets.mutual.secret, c2);
    return {
      pairs: [
        { key: 'CHAP_N', value: this.secrets.mutual.user },
        { key: 'CHAP_R', value: encodeChapBinary(r2, this.opts.encoding) },
      ],
      mutual: true,
      user: input.CHAP_N,
    };
  }
}
