/**
 * The target side of the iSCSI login phase for ONE connection (RFC 7143 §6,
 * §11.12, §11.13), as a pure state machine: no sockets, no clocks, no
 * globals; randomness and target lookup come from the LoginContext.
 *
 * Usage (the connection owns I/O and sequence numbers):
 *
 *   const login = new LoginStateMachine(ctx);
 *   for each Login Request PDU `req`:
 *     const step = login.handle(req);
 *     send step.response (filling statSN / expCmdSN / maxCmdSN);
 *     step.kind === 'continue' -> wait for the next Login Request
 *     step.kind === 'success'  -> Full Feature Phase with step.result
 *     step.kind === 'failure'  -> close the connection after sending
 *
 * Stages (RFC 7143 §6.3, §11.12.3): security negotiation (0), operational
 * negotiation (1), Full Feature Phase (3). The initiator may start in 0 or 1
 * and may skip stage 1; it asks to move with T=1 and NSG; we move only when
 * it asks and only when allowed (never out of security negotiation before
 * authentication has completed).
 *
 * Text may be split over PDUs in both directions with the C bit (§6.1,
 * §11.12.2, §11.13.2): a request with C=1 gets an empty response and we wait
 * for the rest; a response longer than 8192 bytes (the data segment limit in
 * force during login, §13.12) goes out in pieces with C=1, each pulled by an
 * empty request.
 *
 * Any error ends the login with a Login Response carrying the status of
 * RFC 7143 §11.13.5 (initiator errors are class 0x02).
 */
import { randomBytes } from 'node:crypto';
import type { ChapAlgorithmId } from '../../chap/chap.js';
import { CHAP_ALGORITHMS, ChapError, validateChapSecret, validateChapSecretPair } from '../../chap/chap.js';
import { ChapAuthError, ChapTargetExchange } from '../../chap/target-exchange.js';
import type { AuthPolicy } from '../engine-api.js';
import { DEFAULT_MAX_RECV_DATA_SEGMENT_LENGTH, ISCSI_VERSION, LoginStage, LoginStatus } from '../pdu/constants.js';
import type { LoginRequestPdu, LoginResponsePdu } from '../pdu/types.js';
import { Opcode } from '../pdu/types.js';
import type { OperationalParams, TargetLimits } from './keys.js';
import {
  DEFAULT_TARGET_LIMITS,
  LOGIN_DECLARATIVE_KEYS,
  NegotiationError,
  OperationalNegotiator,
  findKey,
  validateTargetLimits,
} from './keys.js';
import type { TextPair } from './text.js';
import { TextAccumulator, TextFormatError, chunkTextData, encodeTextData, parseTextData, splitList } from './text.js';

/** RFC 7143 §13.12: data segments are at most 8192 bytes during login. */
export const LOGIN_MAX_DATA_SEGMENT_LENGTH = DEFAULT_MAX_RECV_DATA_SEGMENT_LENGTH;

// ---------------------------------------------------------------- API types

/** A target as the login needs to see it. */
export interface LoginTargetInfo {
  iqn: string;
  alias?: string;
  /** Target portal group tag reported to the initiator (RFC 7143 §13.9); must equal the portal's. */
  tpgt: number;
  /** Read once per login (so account changes apply to the next login). */
  auth(): AuthPolicy;
  /** Initiator access list; undefined allows everyone. */
  initiatorAllowed?(initiatorName: string): boolean;
}

/**
 * A target that exists but cannot take this login (RFC 7143 §11.13.5):
 * removed 0x0204; moved 0x0101 / 0x0102 (needs `targetAddress`, sent as
 * TargetAddress, e.g. "10.0.0.2:3260,1"); service unavailable 0x0301 (e.g. this
 * node lost its HA lease); out of resources 0x0302.
 */
export interface TargetUnavailable {
  unavailable: 'removed' | 'moved-temporarily' | 'moved-permanently' | 'service-unavailable' | 'out-of-resources';
  targetAddress?: string;
}

export interface LoginContext {
  /**
   * TPGT of the portal the connection arrived on. Informational: the TPGT
   * reported to the initiator is LoginTargetInfo.tpgt, which lookupTarget
   * must give for this portal.
   */
  portalTpgt: number;
  /**
   * Find a target by IQN. Undefined means Not Found (0x0203); a target not
   * served on this portal must also be reported as undefined.
   */
  lookupTarget(name: string): LoginTargetInfo | TargetUnavailable | undefined;
  /** Authentication of Discovery sessions (RFC 7143 §12). */
  discoveryAuth(): AuthPolicy;
  /** Random bytes for CHAP identifiers and challenges; default crypto.randomBytes. */
  random?(n: number): Buffer;
  /** Our negotiation limits; missing fields take DEFAULT_TARGET_LIMITS. */
  limits?: Partial<TargetLimits>;
  /** CHAP algorithms we accept (default 5, 6, 7, 8). */
  chapAlgorithms?: readonly ChapAlgorithmId[];
  /**
   * Called once, when the login is about to enter Full Feature Phase. The
   * caller creates the session (or reinstates one: same initiator name and
   * ISID, RFC 7143 §6.3.5) and returns its TSIH, or refuses with a login
   * status. `result.tsih` is the TSIH the initiator asked for: 0 for a new
   * session; anything else asks to add a connection to an existing session,
   * which we do not support (MaxConnections=1): answer TooManyConnections
   * (0x0206) if that session exists, else SessionDoesNotExist (0x020A).
   */
  admit(result: NegotiatedLogin): { tsih: number } | AdmissionRefusal;
}

export interface AdmissionRefusal {
  statusClass: number;
  statusDetail: number;
  /** For logs. */
  reason?: string;
}

export interface AuthResult {
  method: 'None' | 'CHAP';
  /** CHAP user name the initiator authenticated as. */
  user?: string;
  algorithm?: ChapAlgorithmId;
  /** True when the target also authenticated itself to the initiator. */
  mutual: boolean;
}

/** Everything the login decided. */
export interface NegotiatedLogin {
  sessionType: 'Normal' | 'Discovery';
  initiatorName: string;
  initiatorAlias?: string;
  /** Undefined for Discovery sessions. */
  target?: LoginTargetInfo;
  /** IQN of the target (Normal sessions). */
  targetName?: string;
  /** ISID as 12 lowercase hex digits (RFC 7143 §11.12.5), for comparisons and display. */
  isid: string;
  /** ISID, 6 bytes. */
  isidBytes: Buffer;
  /** TSIH the initiator sent (0: new session). */
  tsih: number;
  cid: number;
  /** CmdSN of the final Login Request: the session's first ExpCmdSN (RFC 7143 §4.2.2.1, login is immediate). */
  cmdSN: number;
  params: OperationalParams;
  auth: AuthResult;
}

/** The Login Response to send: every field except the sequence numbers the connection fills. */
export type LoginResponseFields = Omit<LoginResponsePdu, 'statSN' | 'expCmdSN' | 'maxCmdSN'>;

/**
 * One step of the login. `kind` discriminates; `done`/`failed` say the same
 * in booleans. On success `response.tsih` equals `tsih`.
 */
export type LoginStep =
  | { kind: 'continue'; done: false; failed: false; response: LoginResponseFields; result?: undefined; tsih?: undefined; error?: undefined; reason?: undefined }
  | { kind: 'success'; done: true; failed: false; response: LoginResponseFields; result: NegotiatedLogin; tsih: number; error?: undefined; reason?: undefined }
  | { kind: 'failure'; done: true; failed: true; response: LoginResponseFields; error: LoginError; reason: string; result?: undefined; tsih?: undefined };

export type LoginErrorCode =
  | 'ISCSI_ERR_LOGIN_PROTOCOL'
  | 'ISCSI_ERR_LOGIN_VERSION'
  | 'ISCSI_ERR_LOGIN_MISSING_PARAMETER'
  | 'ISCSI_ERR_LOGIN_SESSION_TYPE'
  | 'ISCSI_ERR_LOGIN_TARGET_NOT_FOUND'
  | 'ISCSI_ERR_LOGIN_TARGET_UNAVAILABLE'
  | 'ISCSI_ERR_LOGIN_AUTHENTICATION'
  | 'ISCSI_ERR_LOGIN_AUTHORIZATION'
  | 'ISCSI_ERR_LOGIN_CONFIGURATION'
  | 'ISCSI_ERR_LOGIN_ADMISSION'
  | 'ISCSI_ERR_LOGIN_RESOURCES';

/** Why a login ended without Full Feature Phase. */
export class LoginError extends Error {
  override readonly name = 'LoginError';
  constructor(
    readonly code: LoginErrorCode,
    readonly status: { statusClass: number; statusDetail: number },
    message: string,
    /** Text to send with the failure (TargetAddress of a redirection). */
    readonly pairs: readonly TextPair[] = [],
    /** Underlying error code (e.g. CHAP_ERR_BAD_RESPONSE). */
    readonly detail?: string,
  ) {
    super(message);
  }
}

// ---------------------------------------------------------------- state machine

type AuthState = 'await-method' | 'chap-await-a' | 'chap-await-response' | 'done';

interface Outgoing {
  chunks: Buffer[];
  next: number;
  /** What the last chunk completes. */
  final: { transit: boolean; nsg: number; tsih: number; success?: { result: NegotiatedLogin; tsih: number } };
}

const EMPTY = Buffer.alloc(0);

export class LoginStateMachine {
  private readonly limits: TargetLimits;
  private readonly random: (n: number) => Buffer;
  private readonly acc = new TextAccumulator();
  /** Keys the initiator sent in this login (RFC 7143 §6.2: none twice). */
  private readonly seen = new Set<string>();

  private finished = false;
  private started = false;
  private stage: number | undefined;
  private isid: Buffer = Buffer.alloc(6);
  private tsih = 0;
  private cid = 0;
  private outgoing: Outgoing | undefined;

  private sessionType: 'Normal' | 'Discovery' = 'Normal';
  private initiatorName = '';
  private initiatorAlias: string | undefined;
  private target: LoginTargetInfo | undefined;
  private policy: AuthPolicy = {};
  private negotiator: OperationalNegotiator | undefined;
  private firstDeclarationsSent = false;

  private authState: AuthState = 'await-method';
  private chap: ChapTargetExchange | undefined;
  private auth: AuthResult = { method: 'None', mutual: false };
  private authorized = false;

  constructor(private readonly ctx: LoginContext) {
    this.limits = { ...DEFAULT_TARGET_LIMITS, ...(ctx.limits ?? {}) };
    validateTargetLimits(this.limits);
    this.random = ctx.random ? (n) => ctx.random!(n) : (n) => randomBytes(n);
  }

  /** True once a step of kind success or failure has been returned. */
  get done(): boolean {
    return this.finished;
  }

  /**
   * Process one Login Request.
   * @throws Error only when called again after the login finished (a caller bug).
   */
  handle(req: LoginRequestPdu): LoginStep {
    if (this.finished) throw new Error('LoginStateMachine.handle called after the login finished');
    try {
      this.checkHeader(req);
      if (this.outgoing) return this.pull(req);
      const text = this.acc.append(req.data, req.continue);
      if (text === undefined) {
        // RFC 7143 §11.12.2 / §6.1: acknowledge a C=1 piece with an empty response and wait.
        return { kind: 'continue', done: false, failed: false, response: this.response(req, { transit: false, nsg: 0, data: EMPTY, more: false }) };
      }
      let pairs: TextPair[];
      try {
        pairs = parseTextData(text);
      } catch (e) {
        if (e instanceof TextFormatError && e.code === 'ISCSI_ERR_TEXT_DUPLICATE_KEY') {
          throw protocolError(e.message);
        }
        throw e;
      }
      return this.process(req, pairs);
    } catch (e) {
      return this.fail(req, toLoginError(e));
    }
  }

  // ------------------------------------------------------------ header checks

  private checkHeader(req: LoginRequestPdu): void {
    // RFC 7143 §11.12.4: we implement version 0 only.
    if (req.versionMin > ISCSI_VERSION || req.versionMax < ISCSI_VERSION) {
      throw new LoginError(
        'ISCSI_ERR_LOGIN_VERSION',
        LoginStatus.UnsupportedVersion,
        `initiator supports iSCSI versions ${req.versionMin}-${req.versionMax}; the target supports ${ISCSI_VERSION}`,
      );
    }
    if (!this.started) {
      this.started = true;
      this.isid = Buffer.from(req.isid);
      this.tsih = req.tsih;
      this.cid = req.cid;
    } else if (!req.isid.equals(this.isid) || req.tsih !== this.tsih || req.cid !== this.cid) {
      // RFC 7143 §11.12.5 - §11.12.7: ISID, TSIH and CID identify the login and stay the same.
      throw protocolError('ISID, TSIH or CID changed during the login (RFC 7143 §11.12)');
    }
    // RFC 7143 §11.12.2: C and T must not both be set.
    if (req.continue && req.transit) throw protocolError('Login Request has both the C and T bits set (RFC 7143 §11.12.2)');
    if (req.csg !== LoginStage.SecurityNegotiation && req.csg !== LoginStage.LoginOperationalNegotiation) {
      throw protocolError(`Login Request with CSG=${req.csg}; only 0 and 1 are valid (RFC 7143 §11.12.3)`);
    }
    if (this.stage === undefined) this.stage = req.csg;
    else if (req.csg !== this.stage) {
      throw protocolError(`Login Request with CSG=${req.csg} while the login is in stage ${this.stage} (RFC 7143 §6.3)`);
    }
    if (req.transit && !(req.nsg > req.csg && (req.nsg === LoginStage.LoginOperationalNegotiation || req.nsg === LoginStage.FullFeaturePhase))) {
      throw protocolError(`Login Request asks to go from stage ${req.csg} to stage ${req.nsg} (RFC 7143 §11.12.3)`);
    }
  }

  // ------------------------------------------------------------ processing

  private process(req: LoginRequestPdu, pairs: TextPair[]): LoginStep {
    const first = !this.negotiator;
    if (first) this.begin(pairs);

    const security = new Map<string, string>();
    const operational: TextPair[] = [];
    for (const p of pairs) {
      if (this.seen.has(p.key)) {
        throw protocolError(`key ${p.key} was already sent in this login (RFC 7143 §6.2)`);
      }
      this.seen.add(p.key);
      if (LOGIN_DECLARATIVE_KEYS.has(p.key)) {
        if (p.key === 'InitiatorAlias') this.initiatorAlias = p.value;
        else if (!first) throw protocolError(`${p.key} may only be sent in the first Login Request (RFC 7143 §6.3.1)`);
        continue;
      }
      if (findKey(p.key)?.kind === 'security') security.set(p.key, p.value);
      else operational.push(p);
    }

    const out: TextPair[] = [];
    if (!this.firstDeclarationsSent) {
      this.firstDeclarationsSent = true;
      if (this.target) {
        // RFC 7143 §13.9: the target reports its portal group tag in the first Login Response of a Normal session.
        out.push({ key: 'TargetPortalGroupTag', value: String(this.target.tpgt) });
        if (this.target.alias) out.push({ key: 'TargetAlias', value: this.target.alias }); // §13.6
      }
    }

    return req.csg === LoginStage.SecurityNegotiation
      ? this.securityStage(req, security, operational, out)
      : this.operationalStage(req, security, operational, out);
  }

  /** First complete request: who is logging in to what (RFC 7143 §6.3.1). */
  private begin(pairs: TextPair[]): void {
    const get = (k: string): string | undefined => pairs.find((p) => p.key === k)?.value;
    const initiatorName = get('InitiatorName');
    if (!initiatorName) {
      throw new LoginError(
        'ISCSI_ERR_LOGIN_MISSING_PARAMETER',
        LoginStatus.MissingParameter,
        'the first Login Request has no InitiatorName (RFC 7143 §6.3.1)',
      );
    }
    this.initiatorName = initiatorName;
    const sessionType = get('SessionType') ?? 'Normal';
    if (sessionType !== 'Normal' && sessionType !== 'Discovery') {
      throw new LoginError(
        'ISCSI_ERR_LOGIN_SESSION_TYPE',
        LoginStatus.SessionTypeNotSupported,
        `SessionType=${sessionType.slice(0, 32)} is not supported (RFC 7143 §13.21: Discovery or Normal)`,
      );
    }
    this.sessionType = sessionType;
    if (sessionType === 'Normal') {
      const targetName = get('TargetName');
      if (!targetName) {
        throw new LoginError(
          'ISCSI_ERR_LOGIN_MISSING_PARAMETER',
          LoginStatus.MissingParameter,
          'a Normal session login has no TargetName (RFC 7143 §6.3.1)',
        );
      }
      const found = this.ctx.lookupTarget(targetName);
      if (!found) {
        throw new LoginError('ISCSI_ERR_LOGIN_TARGET_NOT_FOUND', LoginStatus.NotFound, `target ${targetName} is not served on this portal`);
      }
      if ('unavailable' in found) throw unavailableError(targetName, found);
      this.target = found;
      this.policy = found.auth();
    } else {
      this.policy = this.ctx.discoveryAuth();
    }
    checkPolicy(this.policy, this.target?.iqn);
    this.negotiator = new OperationalNegotiator(this.sessionType, this.limits);
  }

  private securityStage(
    req: LoginRequestPdu,
    security: Map<string, string>,
    operational: TextPair[],
    out: TextPair[],
  ): LoginStep {
    const authMethod = security.get('AuthMethod');
    if (authMethod !== undefined) out.push({ key: 'AuthMethod', value: this.chooseAuthMethod(authMethod) });

    const chapA = security.get('CHAP_A');
    if (chapA !== undefined) {
      if (this.authState !== 'chap-await-a') throw protocolError('CHAP_A sent before AuthMethod=CHAP was agreed (RFC 7143 §12.1.3)');
      out.push(...this.chapStep(() => this.chap!.start(chapA)));
      this.auth.algorithm = this.chap!.algorithm;
      this.authState = 'chap-await-response';
    }

    const chapKeys = ['CHAP_N', 'CHAP_R', 'CHAP_I', 'CHAP_C'].filter((k) => security.has(k));
    if (chapKeys.length > 0 && chapA === undefined) {
      if (this.authState !== 'chap-await-response') {
        throw protocolError(`${chapKeys.join(', ')} sent before the target's CHAP challenge (RFC 7143 §12.1.3)`);
      }
      const r = this.chapStep(() =>
        this.chap!.verify({
          CHAP_N: security.get('CHAP_N'),
          CHAP_R: security.get('CHAP_R'),
          CHAP_I: security.get('CHAP_I'),
          CHAP_C: security.get('CHAP_C'),
        }),
      );
      out.push(...r.pairs);
      this.auth = { method: 'CHAP', user: r.user, algorithm: this.chap!.algorithm, mutual: r.mutual };
      this.authState = 'done';
    } else if (chapKeys.length > 0) {
      throw protocolError('CHAP_N/CHAP_R sent in the same request as CHAP_A (RFC 7143 §12.1.3)');
    } else if (this.authState === 'chap-await-response' && chapA === undefined) {
      throw new LoginError(
        'ISCSI_ERR_LOGIN_AUTHENTICATION',
        LoginStatus.AuthenticationFailure,
        'expected CHAP_N and CHAP_R in answer to the CHAP challenge (RFC 7143 §12.1.3)',
      );
    }
    // Lenient: operational keys offered in the security stage are negotiated where they arrive.
    out.push(...this.negotiator!.answer(operational));

    if (this.authState === 'done') this.authorize();

    if (!req.transit) return this.reply(req, out, { transit: false, nsg: 0 });

    if (this.authState === 'await-method') {
      if (this.policy.chap) {
        throw new LoginError(
          'ISCSI_ERR_LOGIN_AUTHENTICATION',
          LoginStatus.AuthenticationFailure,
          'the initiator tried to leave security negotiation without authenticating; this target requires CHAP',
        );
      }
      // No AuthMethod offered and none required: nothing to authenticate.
      this.authState = 'done';
      this.authorize();
    }
    if (this.authState !== 'done') {
      // RFC 7143 §6.3: a target must not move on before authentication completes; stay in stage 0.
      return this.reply(req, out, { transit: false, nsg: 0 });
    }
    if (req.nsg === LoginStage.FullFeaturePhase) return this.finish(req, out);
    this.stage = LoginStage.LoginOperationalNegotiation;
    return this.reply(req, out, { transit: true, nsg: LoginStage.LoginOperationalNegotiation });
  }

  private operationalStage(
    req: LoginRequestPdu,
    security: Map<string, string>,
    operational: TextPair[],
    out: TextPair[],
  ): LoginStep {
    if (this.authState !== 'done') {
      // The login started in stage 1 (security negotiation skipped, RFC 7143 §6.3).
      if (this.policy.chap) {
        throw new LoginError(
          'ISCSI_ERR_LOGIN_AUTHENTICATION',
          LoginStatus.AuthenticationFailure,
          'the initiator skipped security negotiation; this target requires CHAP',
        );
      }
      this.authState = 'done';
      this.authorize();
    }
    if (security.size > 0) {
      throw protocolError(
        `authentication key ${[...security.keys()][0]} sent in the operational negotiation stage (RFC 7143 §12: security stage only)`,
      );
    }
    const neg = this.negotiator!;
    out.push(...neg.answer(operational));
    out.push(...neg.declarations());
    if (!req.transit) return this.reply(req, out, { transit: false, nsg: 0 });
    if (neg.awaitingReplies) {
      throw new LoginError(
        'ISCSI_ERR_LOGIN_PROTOCOL',
        LoginStatus.InitiatorError,
        'the initiator asked for Full Feature Phase without answering the keys the target proposed (RFC 7143 §6.2)',
      );
    }
    const proposals = neg.proposals(this.seen);
    if (proposals.length > 0) {
      out.push(...proposals);
      return this.reply(req, out, { transit: false, nsg: 0 });
    }
    return this.finish(req, out);
  }

  /** RFC 7143 §12: pick the method. The policy decides; the initiator's list must contain it. */
  private chooseAuthMethod(offer: string): string {
    if (this.authState !== 'await-method') throw protocolError('AuthMethod sent twice (RFC 7143 §6.2)');
    const offered = splitList(offer);
    if (this.policy.chap) {
      if (!offered.includes('CHAP')) {
        throw new LoginError(
          'ISCSI_ERR_LOGIN_AUTHENTICATION',
          LoginStatus.AuthenticationFailure,
          `this target requires CHAP; the initiator offered AuthMethod=${offer.slice(0, 64)}`,
        );
      }
      this.chap = new ChapTargetExchange(
        { chap: this.policy.chap, mutual: this.policy.mutual },
        { random: this.random, algorithms: this.ctx.chapAlgorithms },
      );
      this.authState = 'chap-await-a';
      this.auth = { method: 'CHAP', mutual: false };
      return 'CHAP';
    }
    if (!offered.includes('None')) {
      throw new LoginError(
        'ISCSI_ERR_LOGIN_AUTHENTICATION',
        LoginStatus.AuthenticationFailure,
        `no CHAP account is configured for this ${this.target ? 'target' : 'discovery portal'}; the initiator offered only AuthMethod=${offer.slice(0, 64)}`,
      );
    }
    this.authState = 'done';
    return 'None';
  }

  private chapStep<T>(f: () => T): T {
    try {
      return f();
    } catch (e) {
      if (e instanceof ChapAuthError) {
        throw new LoginError('ISCSI_ERR_LOGIN_AUTHENTICATION', LoginStatus.AuthenticationFailure, e.message, [], e.code);
      }
      throw e;
    }
  }

  /** After authentication: may this initiator use this target? (0x0202) */
  private authorize(): void {
    if (this.authorized) return;
    this.authorized = true;
    const t = this.target;
    if (t?.initiatorAllowed && !t.initiatorAllowed(this.initiatorName)) {
      throw new LoginError(
        'ISCSI_ERR_LOGIN_AUTHORIZATION',
        LoginStatus.AuthorizationFailure,
        `initiator ${this.initiatorName} is not allowed to access ${t.iqn}`,
      );
    }
  }

  private finish(req: LoginRequestPdu, out: TextPair[]): LoginStep {
    const result: NegotiatedLogin = {
      sessionType: this.sessionType,
      initiatorName: this.initiatorName,
      initiatorAlias: this.initiatorAlias,
      target: this.target,
      targetName: this.target?.iqn,
      isid: this.isid.toString('hex'),
      isidBytes: Buffer.from(this.isid),
      tsih: this.tsih,
      cid: this.cid,
      cmdSN: req.cmdSN,
      params: this.negotiator!.params(),
      auth: { ...this.auth },
    };
    const admission = this.ctx.admit(result);
    if (!('tsih' in admission)) {
      throw new LoginError(
        admission.statusClass === LoginStatus.OutOfResources.statusClass ? 'ISCSI_ERR_LOGIN_RESOURCES' : 'ISCSI_ERR_LOGIN_ADMISSION',
        { statusClass: admission.statusClass, statusDetail: admission.statusDetail },
        admission.reason ?? 'the session could not be created',
      );
    }
    return this.reply(req, out, {
      transit: true,
      nsg: LoginStage.FullFeaturePhase,
      tsih: admission.tsih,
      success: { result, tsih: admission.tsih },
    });
  }

  // ------------------------------------------------------------ responses

  private reply(req: LoginRequestPdu, pairs: TextPair[], final: Outgoing['final'] | { transit: boolean; nsg: number }): LoginStep {
    const data = encodeTextData(pairs);
    const chunks = chunkTextData(data, LOGIN_MAX_DATA_SEGMENT_LENGTH);
    const fin: Outgoing['final'] = { tsih: this.tsih, ...final };
    if (chunks.length > 1) {
      this.outgoing = { chunks, next: 0, final: fin };
      return this.pull(req);
    }
    return this.finalStep(req, fin, data);
  }

  /** Send the next piece of a long response (RFC 7143 §11.13.2). */
  private pull(req: LoginRequestPdu): LoginStep {
    const o = this.outgoing!;
    if (o.next > 0 && (req.data.length > 0 || req.continue)) {
      throw protocolError('Login Request with data while the target is still sending a continued response (RFC 7143 §11.13.2)');
    }
    const chunk = o.chunks[o.next++]!;
    if (o.next < o.chunks.length) {
      return { kind: 'continue', done: false, failed: false, response: this.response(req, { transit: false, nsg: 0, data: chunk, more: true }) };
    }
    this.outgoing = undefined;
    return this.finalStep(req, o.final, chunk);
  }

  private finalStep(req: LoginRequestPdu, fin: Outgoing['final'], data: Buffer): LoginStep {
    const response = this.response(req, { transit: fin.transit, nsg: fin.nsg, data, more: false, tsih: fin.tsih });
    if (fin.success) {
      this.finished = true;
      return { kind: 'success', done: true, failed: false, response, result: fin.success.result, tsih: fin.success.tsih };
    }
    return { kind: 'continue', done: false, failed: false, response };
  }

  private response(
    req: LoginRequestPdu,
    r: { transit: boolean; nsg: number; data: Buffer; more: boolean; tsih?: number; status?: { statusClass: number; statusDetail: number } },
  ): LoginResponseFields {
    return {
      opcode: Opcode.LoginResponse,
      ahs: [],
      data: r.data,
      transit: r.transit,
      continue: r.more,
      csg: req.csg,
      nsg: r.transit ? r.nsg : 0,
      versionMax: ISCSI_VERSION,
      versionActive: ISCSI_VERSION,
      isid: Buffer.from(req.isid),
      tsih: r.tsih ?? req.tsih,
      initiatorTaskTag: req.initiatorTaskTag,
      statusClass: r.status?.statusClass ?? 0,
      statusDetail: r.status?.statusDetail ?? 0,
    };
  }

  private fail(req: LoginRequestPdu, error: LoginError): LoginStep {
    this.finished = true;
    this.outgoing = undefined;
    const csg = req.csg === LoginStage.SecurityNegotiation || req.csg === LoginStage.LoginOperationalNegotiation ? req.csg : (this.stage ?? 0);
    const response = this.response({ ...req, csg }, {
      transit: false,
      nsg: 0,
      data: error.pairs.length ? encodeTextData(error.pairs) : EMPTY,
      more: false,
      status: error.status,
    });
    return { kind: 'failure', done: true, failed: true, response, error, reason: error.message };
  }
}

// ---------------------------------------------------------------- helpers

function protocolError(message: string): LoginError {
  return new LoginError('ISCSI_ERR_LOGIN_PROTOCOL', LoginStatus.InitiatorError, message);
}

function toLoginError(e: unknown): LoginError {
  if (e instanceof LoginError) return e;
  if (e instanceof TextFormatError) {
    if (e.code === 'ISCSI_ERR_TEXT_TOO_LONG') return new LoginError('ISCSI_ERR_LOGIN_RESOURCES', LoginStatus.OutOfResources, e.message, [], e.code);
    return new LoginError('ISCSI_ERR_LOGIN_PROTOCOL', LoginStatus.InitiatorError, e.message, [], e.code);
  }
  if (e instanceof NegotiationError) return new LoginError('ISCSI_ERR_LOGIN_PROTOCOL', e.status, e.message, [], e.code);
  const msg = e instanceof Error ? e.message : String(e);
  return new LoginError('ISCSI_ERR_LOGIN_CONFIGURATION', LoginStatus.TargetError, `target error during login: ${msg}`);
}

function unavailableError(name: string, u: TargetUnavailable): LoginError {
  switch (u.unavailable) {
    case 'removed':
      return new LoginError('ISCSI_ERR_LOGIN_TARGET_UNAVAILABLE', LoginStatus.TargetRemoved, `target ${name} has been removed`);
    case 'moved-temporarily':
    case 'moved-permanently': {
      const status = u.unavailable === 'moved-temporarily' ? LoginStatus.TargetMovedTemporarily : LoginStatus.TargetMovedPermanently;
      if (!u.targetAddress) {
        return new LoginError('ISCSI_ERR_LOGIN_CONFIGURATION', LoginStatus.TargetError, `target ${name} moved but no TargetAddress was given`);
      }
      // RFC 7143 §11.13.5: redirection carries TargetAddress (§13.8).
      return new LoginError('ISCSI_ERR_LOGIN_TARGET_UNAVAILABLE', status, `target ${name} moved to ${u.targetAddress}`, [
        { key: 'TargetAddress', value: u.targetAddress },
      ]);
    }
    case 'service-unavailable':
      return new LoginError('ISCSI_ERR_LOGIN_TARGET_UNAVAILABLE', LoginStatus.ServiceUnavailable, `target ${name} is temporarily unavailable`);
    case 'out-of-resources':
      return new LoginError('ISCSI_ERR_LOGIN_RESOURCES', LoginStatus.OutOfResources, `target ${name} is out of resources`);
  }
}

/** A policy with bad secrets is a configuration error: refuse with 0x0300 and say why. */
function checkPolicy(policy: AuthPolicy, iqn: string | undefined): void {
  const where = iqn ? `target ${iqn}` : 'discovery';
  try {
    if (policy.chap && policy.mutual) validateChapSecretPair(policy.chap.secret, policy.mutual.secret);
    else if (policy.chap) validateChapSecret(policy.chap.secret, `CHAP secret of ${where}`);
    else if (policy.mutual) validateChapSecret(policy.mutual.secret, `mutual CHAP secret of ${where}`);
  } catch (e) {
    if (e instanceof ChapError) {
      throw new LoginError('ISCSI_ERR_LOGIN_CONFIGURATION', LoginStatus.TargetError, `${where}: ${e.message}`, [], e.code);
    }
    throw e;
  }
}

/** Name of a CHAP algorithm, for logs. */
export function chapAlgorithmName(id: ChapAlgorithmId | undefined): string | undefined {
  return id === undefined ? undefined : CHAP_ALGORITHMS[id].name;
}
