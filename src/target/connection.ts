/**
 * One iSCSI TCP connection: framing (receiver), writes (cork, writev), the
 * login phase, then full feature phase through a Session; NOP-In pings of idle
 * connections (RFC 7143 §6, §7.2, §11.19).
 */
import type { Duplex } from 'node:stream';
import { Opcode, type InitiatorPdu, type LoginRequestPdu, type Pdu, type TargetPdu } from './pdu/types.js';
import { PduReceiver } from './pdu/receiver.js';
import { encodePdu } from './pdu/encode.js';
import type { PduFormatError } from './pdu/decode.js';
import { LoginStateMachine, type LoginContext, type NegotiatedLogin } from './login/login-state-machine.js';
import { Session, type SessionHost } from './session.js';
import { RejectReason } from './pdu/constants.js';
import { SESSION_QUEUE_DEPTH, type SessionParams } from './session-params.js';
import { snAdd } from './serial-number.js';
import type { ItNexus, ScsiTarget } from '../scsi/types.js';
import type { DiscoverableTarget } from './discovery.js';

export type LogFn = (level: 'debug' | 'info' | 'warn' | 'error', msg: string, ctx?: Record<string, unknown>) => void;

/** A TCP socket, or an in-memory duplex in protocol tests. */
export interface TransportSocket extends Duplex {
  remoteAddress?: string;
  remotePort?: number;
  localAddress?: string;
  localPort?: number;
  setNoDelay?(noDelay?: boolean): unknown;
}

/** What a connection needs from the engine. */
export interface ConnectionEnvironment {
  /** Address and port the connection arrived on. */
  readonly localAddress: string;
  readonly localPort: number;
  /** Build the login context for this connection (targets, auth, admission). */
  loginContext(conn: Connection): LoginContext;
  /** Called once login succeeded: returns the SCSI device and nexus for a normal session. */
  sessionEstablished(conn: Connection, login: NegotiatedLogin, tsih: number): { device: ScsiTarget | undefined; nexus: ItNexus | undefined; targetIqn: string | undefined };
  discoverableTargets(conn: Connection): DiscoverableTarget[];
  abortTasksElsewhere(conn: Connection, scope: { lun?: number }): Promise<void>;
  dropAllSessions(conn: Connection): void;
  connectionClosed(conn: Connection): void;
  readonly timers: ConnectionTimers;
  log: LogFn;
}

export interface ConnectionTimers {
  /** Idle time before the target pings with a NOP-In (ms). */
  nopInIntervalMs: number;
  /** How long a ping may stay unanswered before the connection is dropped (ms). */
  nopInTimeoutMs: number;
  /** Longest a login may take (ms). */
  loginTimeoutMs: number;
}

/** During login and before negotiation, PDUs are limited to 8192 bytes of data (RFC 7143 §13.12). */
const LOGIN_MAX_RECV = 8192;

export class Connection {
  private readonly receiver: PduReceiver;
  private phase: 'login' | 'full' | 'closed' = 'login';
  private login: LoginStateMachine | undefined;
  private statSN = 0;
  private loginExpCmdSN = 0;
  private sendDigests = { header: false, data: false };
  private corked = false;
  session: Session | undefined;
  negotiated: NegotiatedLogin | undefined;
  tsih = 0;
  targetIqn: string | undefined;
  private device: ScsiTarget | undefined;
  private nexus: ItNexus | undefined;
  private lastReceive = Date.now();
  private pingTag = 0;
  private pingOutstandingSince = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly loginDeadline: number;
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** `address:port` of the portal listener the connection arrived on. */
  localKey = '';
  private readonly closeHooks: (() => void)[] = [];

  constructor(
    readonly socket: TransportSocket,
    private readonly env: ConnectionEnvironment,
  ) {
    this.remoteAddress = normalizeAddress(socket.remoteAddress ?? '');
    this.remotePort = socket.remotePort ?? 0;
    this.loginDeadline = Date.now() + env.timers.loginTimeoutMs;
    socket.setNoDelay?.(true);
    this.receiver = new PduReceiver(
      {
        onPdu: (pdu: Pdu, header?: Buffer) => this.onPdu(pdu, header),
        onBadPdu: (err: PduFormatError, header: Buffer) => this.onBadPdu(err, header),
        onFatal: (err: PduFormatError) => this.fail(`unrecoverable framing error: ${err.message}`),
        placeData: (bhs: Buffer, len: number) => this.session?.placeData(bhs, len),
      },
      { headerDigest: false, dataDigest: false, maxRecvDataSegmentLength: LOGIN_MAX_RECV, accept: 'initiator' },
    );
    socket.on('data', (chunk: Buffer) => {
      this.lastReceive = Date.now();
      this.pingOutstandingSince = 0;
      try {
        this.receiver.push(chunk);
      } catch (err) {
        // A bug must never take the daemon down: drop only this connection.
        this.env.log('error', 'connection failed while handling input', { peer: this.peer, error: String((err as Error)?.stack ?? err) });
        this.fail('internal error');
      }
    });
    socket.on('error', (err) => this.env.log('debug', 'socket error', { peer: this.peer, error: err.message }));
    socket.on('close', () => this.onClosed());
    this.timer = setInterval(() => this.tick(), Math.max(250, Math.min(1000, env.timers.nopInIntervalMs / 2)));
    this.timer.unref();
  }

  get peer(): string {
    return `${this.remoteAddress}:${this.remotePort}`;
  }

  get closed(): boolean {
    return this.phase === 'closed';
  }

  // ---------------------------------------------------------------- input

  private onPdu(pdu: Pdu, header?: Buffer): void {
    if (this.phase === 'closed') return;
    const bhs = header ?? Buffer.alloc(48);
    if ((pdu.opcode & 0x20) !== 0) {
      // A target opcode sent to the target (RFC 7143 §11.2.1.2).
      this.reject(RejectReason.ProtocolError, bhs);
      return;
    }
    if (this.phase === 'login') {
      if (pdu.opcode !== Opcode.LoginRequest) {
        // RFC 7143 §6.1.1: only Login Requests before full feature phase; anything else ends the login.
        this.fail(`opcode 0x${pdu.opcode.toString(16)} during login`);
        return;
      }
      this.onLoginRequest(pdu);
      return;
    }
    this.session?.handlePdu(pdu as InitiatorPdu, bhs);
  }

  private onBadPdu(err: PduFormatError, header: Buffer): void {
    this.env.log('debug', 'bad PDU', { peer: this.peer, error: err.message });
    // RFC 7143 §7.7 (format errors): a malformed header field other than the opcode ends the connection.
    if (this.phase === 'login' || err.formatError) {
      this.fail(`bad PDU during login: ${err.message}`);
      return;
    }
    this.reject(err.rejectReason ?? RejectReason.ProtocolError, header);
  }

  // ---------------------------------------------------------------- login

  private onLoginRequest(pdu: LoginRequestPdu): void {
    if (!this.login) {
      this.login = new LoginStateMachine(this.env.loginContext(this));
      // The first Login Request's CmdSN becomes ExpCmdSN; StatSN starts at the initiator's ExpStatSN (RFC 7143 §11.12.7).
      this.loginExpCmdSN = pdu.cmdSN >>> 0;
      this.statSN = pdu.expStatSN >>> 0;
    }
    const step = this.login.handle(pdu);
    const r = step.response;
    const maxCmdSN = snAdd(this.loginExpCmdSN, SESSION_QUEUE_DEPTH - 1);
    const success = step.done && !step.failed && step.result !== undefined;
    this.writePdu(
      {
        opcode: Opcode.LoginResponse,
        transit: r.transit,
        continue: r.continue,
        csg: r.csg,
        nsg: r.nsg,
        versionMax: r.versionMax ?? 0,
        versionActive: r.versionActive ?? 0,
        isid: r.isid ?? pdu.isid,
        tsih: r.tsih ?? 0,
        initiatorTaskTag: pdu.initiatorTaskTag,
        statSN: this.statSN,
        expCmdSN: this.loginExpCmdSN,
        maxCmdSN,
        statusClass: r.statusClass,
        statusDetail: r.statusDetail,
        ahs: [],
        data: r.data,
      },
      r.statusClass === 0,
    );
    if (step.done && step.failed) {
      this.env.log('info', 'login refused', { peer: this.peer, status: `0x${((r.statusClass << 8) | r.statusDetail).toString(16).padStart(4, '0')}`, reason: step.reason });
      this.closeAfterWrite();
      return;
    }
    if (success) this.enterFullFeature(step.result!, r.tsih ?? 0);
  }

  private enterFullFeature(login: NegotiatedLogin, tsih: number): void {
    const p = login.params;
    const params: SessionParams = {
      headerDigest: p.headerDigest,
      dataDigest: p.dataDigest,
      initialR2T: p.initialR2T,
      immediateData: p.immediateData,
      maxBurstLength: p.maxBurstLength,
      firstBurstLength: p.firstBurstLength,
      maxOutstandingR2T: p.maxOutstandingR2T,
      dataPDUInOrder: p.dataPDUInOrder,
      dataSequenceInOrder: p.dataSequenceInOrder,
      defaultTime2Wait: p.defaultTime2Wait,
      defaultTime2Retain: p.defaultTime2Retain,
      initiatorMaxRecvDataSegmentLength: p.initiatorMaxRecvDataSegmentLength,
      targetMaxRecvDataSegmentLength: p.targetMaxRecvDataSegmentLength,
    };
    this.negotiated = login;
    this.tsih = tsih;
    const established = this.env.sessionEstablished(this, login, tsih);
    this.device = established.device;
    this.nexus = established.nexus;
    this.targetIqn = established.targetIqn;
    const conn = this;
    const host: SessionHost = {
      sessionType: login.sessionType,
      device: established.device,
      nexus: established.nexus,
      targetIqn: established.targetIqn,
      send: (pdu, advance) => conn.sendFfp(pdu, advance),
      reject: (reason, header) => conn.reject(reason, header),
      close: (reason) => conn.closeAfterWrite(reason),
      discoverableTargets: () => conn.env.discoverableTargets(conn),
      abortTasksElsewhere: (scope) => conn.env.abortTasksElsewhere(conn, scope),
      dropAllSessions: () => conn.env.dropAllSessions(conn),
      log: (level, msg, ctx) => conn.env.log(level, msg, { ...ctx, peer: conn.peer, target: conn.targetIqn, tsih }),
    };
    this.session = new Session(params, host, this.loginExpCmdSN);
    this.phase = 'full';
    // RFC 7143 §13.1: digests start with the first PDU after the final Login Response.
    this.sendDigests = { header: params.headerDigest, data: params.dataDigest };
    this.receiver.setDigests(params.headerDigest, params.dataDigest);
    this.receiver.setMaxRecvDataSegmentLength(params.targetMaxRecvDataSegmentLength);
    this.env.log('info', 'session established', {
      peer: this.peer,
      initiator: login.initiatorName,
      target: established.targetIqn,
      type: login.sessionType,
      tsih,
    });
  }

  // ---------------------------------------------------------------- output

  /** Full feature phase send: fill StatSN (RFC 7143 §3.2.2.2). */
  private sendFfp(pdu: TargetPdu, advanceStatSN: boolean): void {
    (pdu as { statSN: number }).statSN = this.statSN;
    if (advanceStatSN) this.statSN = snAdd(this.statSN, 1);
    this.writePdu(pdu, false);
  }

  /**
   * Write one PDU as header/data/trailer chunks (DESIGN.md §8). The socket stays
   * corked until the end of this event-loop turn (setImmediate runs after the
   * poll phase), so every response completed by the I/O callbacks of one turn
   * leaves in a single writev instead of a send() each.
   */
  private writePdu(pdu: TargetPdu, advanceStatSN: boolean): void {
    if (this.phase === 'closed' || this.socket.destroyed) return;
    if (advanceStatSN) this.statSN = snAdd(this.statSN, 1);
    const chunks = encodePdu(pdu, this.sendDigests);
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      setImmediate(() => {
        this.corked = false;
        this.socket.uncork();
      });
    }
    for (const c of chunks) this.socket.write(c);
  }

  reject(reason: number, header: Buffer): void {
    if (this.phase !== 'full') {
      this.fail('reject outside full feature phase');
      return;
    }
    const s = this.session!;
    // RFC 7143 §11.17: the data segment carries the rejected PDU's header.
    this.sendFfp(
      {
        opcode: Opcode.Reject,
        reason,
        statSN: 0,
        expCmdSN: s.expCmdSN,
        maxCmdSN: s.maxCmdSN,
        dataSN: 0,
        ahs: [],
        data: Buffer.from(header.subarray(0, 48)),
      },
      false,
    );
  }

  // ---------------------------------------------------------------- timers

  private tick(): void {
    const now = Date.now();
    if (this.phase === 'login') {
      if (now > this.loginDeadline) this.fail('login timed out');
      return;
    }
    if (this.phase !== 'full' || !this.session) return;
    const t = this.env.timers;
    if (this.pingOutstandingSince !== 0) {
      if (now - this.pingOutstandingSince > t.nopInTimeoutMs) this.fail('initiator did not answer NOP-In');
      return;
    }
    if (now - this.lastReceive >= t.nopInIntervalMs) {
      // RFC 7143 §11.19: a ping from the target carries a valid TTT and ITT 0xffffffff; StatSN is not advanced.
      this.pingTag = this.pingTag >= 0x3fffffff ? 1 : this.pingTag + 1;
      this.pingOutstandingSince = now;
      this.sendFfp(
        {
          opcode: Opcode.NopIn,
          lun: 0,
          lunField: Buffer.alloc(8),
          initiatorTaskTag: 0xffffffff,
          targetTransferTag: this.pingTag,
          statSN: 0,
          expCmdSN: this.session.expCmdSN,
          maxCmdSN: this.session.maxCmdSN,
          ahs: [],
          data: Buffer.alloc(0),
        },
        false,
      );
    }
  }

  // ---------------------------------------------------------------- closing

  /** Close after queued writes are flushed. */
  closeAfterWrite(reason = 'closed'): void {
    if (this.phase === 'closed') return;
    this.env.log('debug', 'closing connection', { peer: this.peer, reason });
    this.phase = 'closed';
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 2000).unref();
    void this.cleanup();
  }

  /** Drop the connection now (protocol failure, dead peer, forced stop). */
  fail(reason: string): void {
    if (this.phase === 'closed') {
      this.socket.destroy();
      return;
    }
    this.env.log('warn', 'dropping connection', { peer: this.peer, target: this.targetIqn, reason });
    this.phase = 'closed';
    this.socket.destroy();
    void this.cleanup();
  }

  private onClosed(): void {
    if (this.phase !== 'closed') {
      this.phase = 'closed';
      this.env.log('info', 'connection closed by peer', { peer: this.peer, target: this.targetIqn });
    }
    void this.cleanup();
  }

  private cleaned = false;
  private async cleanup(): Promise<void> {
    if (this.cleaned) return;
    this.cleaned = true;
    if (this.timer) clearInterval(this.timer);
    await this.session?.shutdown();
    for (const hook of this.closeHooks) hook();
    this.env.connectionClosed(this);
  }

  /** Run `fn` once the connection is gone and its tasks are finished. */
  onClose(fn: () => void): void {
    if (this.cleaned) fn();
    else this.closeHooks.push(fn);
  }

  get itNexus(): ItNexus | undefined {
    return this.nexus;
  }

  get scsiDevice(): ScsiTarget | undefined {
    return this.device;
  }
}

/** `::ffff:127.0.0.1` → `127.0.0.1`. */
export function normalizeAddress(a: string): string {
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}
