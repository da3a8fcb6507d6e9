/**
 * Test-only: builds Login Requests and plays the initiator side of a login
 * against a LoginStateMachine (no sockets). Response text is parsed here with
 * its own small parser, not src/target/login/text.ts.
 */
import type { AuthPolicy } from '../../../../src/target/engine-api.js';
import {
  LoginStateMachine,
  type LoginContext,
  type LoginStep,
  type LoginTargetInfo,
  type NegotiatedLogin,
  type TargetUnavailable,
} from '../../../../src/target/login/login-state-machine.js';
import { Opcode, type LoginRequestPdu } from '../../../../src/target/pdu/types.js';
import { ChapInitiator, type InitiatorChapOptions } from '../../../chap/helpers/chap-initiator.js';

export const ISID = Buffer.from([0x80, 0x12, 0x34, 0x56, 0x00, 0x01]);
export const INITIATOR = 'iqn.2004-10.com.example:host1';
export const TARGET = 'iqn.2024-01.org.example:disk1';

/** Deterministic "random": bytes counting up from a seed. */
export function counterRandom(seed = 1): (n: number) => Buffer {
  let next = seed;
  return (n) => {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = next++ & 0xff;
    return b;
  };
}

export function encodePairs(pairs: [string, string][]): Buffer {
  return Buffer.from(pairs.map(([k, v]) => `${k}=${v}\0`).join(''), 'utf8');
}

export function parsePairs(data: Buffer): Map<string, string> {
  const m = new Map<string, string>();
  for (const entry of data.toString('utf8').split('\0')) {
    if (!entry) continue;
    const eq = entry.indexOf('=');
    m.set(entry.slice(0, eq), entry.slice(eq + 1));
  }
  return m;
}

export interface RequestOptions {
  csg: number;
  nsg?: number;
  transit?: boolean;
  continue?: boolean;
  pairs?: [string, string][];
  data?: Buffer;
  isid?: Buffer;
  tsih?: number;
  cid?: number;
  itt?: number;
  cmdSN?: number;
  versionMax?: number;
  versionMin?: number;
}

export function loginRequest(o: RequestOptions): LoginRequestPdu {
  return {
    opcode: Opcode.LoginRequest,
    immediate: true,
    transit: o.transit ?? false,
    continue: o.continue ?? false,
    csg: o.csg,
    nsg: o.nsg ?? 0,
    versionMax: o.versionMax ?? 0,
    versionMin: o.versionMin ?? 0,
    isid: o.isid ?? ISID,
    tsih: o.tsih ?? 0,
    initiatorTaskTag: o.itt ?? 1,
    cid: o.cid ?? 0,
    cmdSN: o.cmdSN ?? 7,
    expStatSN: 0,
    ahs: [],
    data: o.data ?? encodePairs(o.pairs ?? []),
  };
}

export interface TestTarget {
  policy?: AuthPolicy;
  alias?: string;
  tpgt?: number;
  allowed?: (name: string) => boolean;
  unavailable?: TargetUnavailable;
}

export interface ContextOptions {
  targets?: Record<string, TestTarget>;
  discovery?: AuthPolicy;
  limits?: LoginContext['limits'];
  seed?: number;
  admit?: LoginContext['admit'];
}

export function makeContext(o: ContextOptions = {}): LoginContext & { admitted: NegotiatedLogin[] } {
  const targets = o.targets ?? { [TARGET]: {} };
  const admitted: NegotiatedLogin[] = [];
  return {
    admitted,
    portalTpgt: 1,
    lookupTarget(name: string): LoginTargetInfo | TargetUnavailable | undefined {
      const t = targets[name];
      if (!t) return undefined;
      if (t.unavailable) return t.unavailable;
      return {
        iqn: name,
        alias: t.alias,
        tpgt: t.tpgt ?? 1,
        auth: () => t.policy ?? {},
        initiatorAllowed: t.allowed,
      };
    },
    discoveryAuth: () => o.discovery ?? {},
    random: counterRandom(o.seed ?? 1),
    limits: o.limits,
    admit(result) {
      admitted.push(result);
      return o.admit ? o.admit(result) : { tsih: 0x1234 };
    },
  };
}

/** One exchange: the request, then pulls while the target answers C=1. */
export interface Exchange {
  steps: LoginStep[];
  last: LoginStep;
  /** Joined response text. */
  text: Map<string, string>;
  raw: Buffer;
}

export class TestInitiator {
  readonly sm: LoginStateMachine;
  readonly log: Exchange[] = [];

  constructor(readonly ctx: LoginContext) {
    this.sm = new LoginStateMachine(ctx);
  }

  send(o: RequestOptions): Exchange {
    const steps: LoginStep[] = [this.sm.handle(loginRequest(o))];
    const parts: Buffer[] = [steps[0]!.response.data];
    // RFC 7143 §11.13.2: the target set C; pull the rest with empty requests.
    while (steps.at(-1)!.kind === 'continue' && steps.at(-1)!.response.continue) {
      const s = this.sm.handle(loginRequest({ ...o, pairs: [], data: Buffer.alloc(0), continue: false, transit: o.transit }));
      steps.push(s);
      parts.push(s.response.data);
    }
    const raw = Buffer.concat(parts);
    const ex = { steps, last: steps.at(-1)!, text: parsePairs(raw), raw };
    this.log.push(ex);
    return ex;
  }
}

export interface LoginScript {
  initiatorName?: string | null;
  targetName?: string | null;
  sessionType?: 'Normal' | 'Discovery';
  authMethod?: string;
  chap?: InitiatorChapOptions;
  /** Operational keys sent in stage 1. */
  operational?: [string, string][];
  /** Start directly in the operational stage. */
  skipSecurity?: boolean;
}

export interface LoginOutcome {
  last: LoginStep;
  initiator: TestInitiator;
  chap?: ChapInitiator;
  /** Text the target sent in its last exchange. */
  text: Map<string, string>;
}

/** A complete, well-behaved login dialogue, as open-iscsi does it. Stops at the first failure. */
export function runLogin(ctx: LoginContext, s: LoginScript = {}): LoginOutcome {
  const ini = new TestInitiator(ctx);
  const decl: [string, string][] = [];
  if (s.initiatorName !== null) decl.push(['InitiatorName', s.initiatorName ?? INITIATOR]);
  if (s.sessionType) decl.push(['SessionType', s.sessionType]);
  if (s.targetName !== null && s.sessionType !== 'Discovery') decl.push(['TargetName', s.targetName ?? TARGET]);
  const done = (ex: Exchange, chap?: ChapInitiator): LoginOutcome => ({ last: ex.last, initiator: ini, chap, text: ex.text });

  let chap: ChapInitiator | undefined;
  let first = true;
  if (!s.skipSecurity) {
    let ex = ini.send({ csg: 0, nsg: 1, transit: true, pairs: [...decl, ['AuthMethod', s.authMethod ?? (s.chap ? 'CHAP,None' : 'None')]] });
    first = false;
    if (ex.last.kind !== 'continue') return done(ex);
    if (ex.text.get('AuthMethod') === 'CHAP') {
      ex = ini.send({ csg: 0, nsg: 1, transit: false, pairs: [['CHAP_A', '7,6,5']] });
      if (ex.last.kind !== 'continue') return done(ex);
      chap = new ChapInitiator(s.chap ?? { user: 'nobody', secret: 'nobody-secret-123' });
      ex = ini.send({ csg: 0, nsg: 1, transit: true, pairs: chap.respond(ex.text) });
      if (ex.last.kind !== 'continue') return done(ex, chap);
    }
    if (!ex.last.response.transit) throw new Error('target did not leave the security stage');
  }
  const ops: [string, string][] = s.operational ?? [
    ['HeaderDigest', 'None'],
    ['DataDigest', 'None'],
    ['MaxRecvDataSegmentLength', '262144'],
  ];
  let ex = ini.send({ csg: 1, nsg: 3, transit: true, pairs: first ? [...decl, ...ops] : ops });
  // Answer target proposals (if any) by accepting them.
  for (let i = 0; i < 3 && ex.last.kind === 'continue'; i++) {
    const answers: [string, string][] = [...ex.text].filter(([k]) => ['MaxBurstLength', 'FirstBurstLength', 'ImmediateData', 'DefaultTime2Wait', 'HeaderDigest', 'DataDigest', 'MaxOutstandingR2T', 'DefaultTime2Retain'].includes(k) && !ops.some(([o]) => o === k)).map(([k, v]) => [k, v.split(',')[0]!]);
    ex = ini.send({ csg: 1, nsg: 3, transit: true, pairs: answers });
  }
  return done(ex, chap);
}
