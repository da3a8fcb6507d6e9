/**
 * Full feature phase of one iSCSI session (one connection, ErrorRecoveryLevel 0):
 * CmdSN ordering, Data-Out collection and R2T, Data-In and status, task
 * management, NOP, Text and Logout (RFC 7143 §3.2, §4.2, §10, §11).
 */
import {
  Opcode,
  type DataOutPdu,
  type InitiatorPdu,
  type LogoutRequestPdu,
  type NopOutPdu,
  type ScsiCommandPdu,
  type TargetPdu,
  type TaskMgmtRequestPdu,
  type TextRequestPdu,
} from './pdu/types.js';
import { ScsiTask, type OutstandingR2T } from './scsi-task.js';
import { RejectReason, TaskAttribute, TmfFunction, TmfResponse } from './pdu/constants.js';
import { MAX_COMMAND_BUFFER, SESSION_QUEUE_DEPTH, type SessionParams } from './session-params.js';
import { snAdd, snInWindow, snLess } from './serial-number.js';
import { DataDirection, ScsiStatus, type ItNexus, type ScsiResponse, type ScsiTarget } from '../scsi/types.js';
import { sendDataInAndStatus } from './data-in.js';
import { encodeSense } from '../scsi/sense.js';
import { SenseKey } from '../scsi/constants.js';
import { TextExchange } from './text-exchange.js';
import type { DiscoverableTarget } from './discovery.js';

const RESERVED_TAG = 0xffffffff;
const Tmf = TmfFunction;

export interface SessionHost {
  readonly sessionType: 'Normal' | 'Discovery';
  /** The SCSI device of the session's target (undefined for discovery sessions). */
  readonly device: ScsiTarget | undefined;
  readonly nexus: ItNexus | undefined;
  readonly targetIqn: string | undefined;
  /** Fill StatSN (advancing it when `advanceStatSN`) and write the PDU. */
  send(pdu: TargetPdu, advanceStatSN: boolean): void;
  /** Send a Reject for `header` (the rejected PDU's BHS). */
  reject(reason: number, header: Buffer): void;
  /** Close the connection after pending writes. */
  close(reason: string): void;
  /** Targets this initiator may see, for SendTargets. */
  discoverableTargets(): DiscoverableTarget[];
  /** Other sessions of the same target (TARGET RESET, CLEAR TASK SET): abort their tasks. */
  abortTasksElsewhere(scope: { lun?: number }): Promise<void>;
  /** TARGET COLD RESET: drop every session of the target after answering (RFC 7143 §11.5.1). */
  dropAllSessions(): void;
  log(level: 'debug' | 'info' | 'warn' | 'error', msg: string, ctx?: Record<string, unknown>): void;
}

export class Session {
  expCmdSN: number;
  private maxCmdSNAdvertised: number;
  /** Non-immediate PDUs that arrived ahead of ExpCmdSN, keyed by CmdSN. */
  private readonly pending = new Map<number, InitiatorPdu>();
  private readonly tasks = new Map<number, ScsiTask>();
  private nextTargetTransferTag = 1;
  /** SCSI tasks delivered and not finished, oldest first (SAM-5 §8.6 task set ordering). */
  private readonly taskSet: ScsiTask[] = [];
  /** ORDERED tasks in `taskSet`: when zero, SIMPLE tasks start at once. */
  private orderedInTaskSet = 0;
  private readonly text: TextExchange;
  private closed = false;
  loggingOut = false;

  constructor(
    readonly params: SessionParams,
    private readonly host: SessionHost,
    initialCmdSN: number,
  ) {
    this.expCmdSN = initialCmdSN >>> 0;
    this.maxCmdSNAdvertised = snAdd(this.expCmdSN, SESSION_QUEUE_DEPTH - 1);
    this.text = new TextExchange(params, host);
  }

  /** MaxCmdSN: the window shrinks while commands are in flight and never goes backwards (RFC 7143 §4.2.2.1). */
  get maxCmdSN(): number {
    const free = Math.max(0, SESSION_QUEUE_DEPTH - this.tasks.size);
    const candidate = snAdd(this.expCmdSN, free - 1);
    if (snLess(this.maxCmdSNAdvertised, candidate)) this.maxCmdSNAdvertised = candidate;
    return this.maxCmdSNAdvertised;
  }

  get activeTasks(): number {
    return this.tasks.size;
  }

  // ---------------------------------------------------------------- input

  handlePdu(pdu: InitiatorPdu, header: Buffer): void {
    if (this.closed) return;
    switch (pdu.opcode) {
      case Opcode.DataOut:
        this.onDataOut(pdu, header);
        return;
      case Opcode.Snack:
        // ErrorRecoveryLevel 0: SNACK is not supported (RFC 7143 §11.16, §7.1.4).
        this.host.reject(RejectReason.SnackReject, header);
        return;
      case Opcode.LoginRequest:
        // A login request in full feature phase is a protocol error (RFC 7143 §6.1).
        this.host.reject(RejectReason.ProtocolError, header);
        return;
      case Opcode.NopOut:
        if (pdu.initiatorTaskTag === RESERVED_TAG) {
          // Answer to our NOP-In ping, or a ping wanting no answer: no CmdSN (RFC 7143 §11.18).
          return;
        }
        break;
      default:
        break;
    }
    if (this.host.sessionType === 'Discovery' && pdu.opcode !== Opcode.TextRequest && pdu.opcode !== Opcode.LogoutRequest && pdu.opcode !== Opcode.NopOut) {
      // RFC 7143 §4.3: a discovery session carries only Text, Logout (and NOP) requests.
      this.host.reject(RejectReason.ProtocolError, header);
      return;
    }
    if (pdu.opcode === Opcode.ScsiCommand && !this.acceptCommand(pdu, header)) return;
    this.order(pdu);
  }

  /** RFC 7143 §3.2.2.1: deliver immediate PDUs at once, others in CmdSN order. */
  private order(pdu: InitiatorPdu): void {
    const cmdSN = (pdu as { cmdSN: number }).cmdSN;
    const immediate = (pdu as { immediate?: boolean }).immediate === true;
    if (immediate) {
      this.deliver(pdu);
      return;
    }
    if (cmdSN === this.expCmdSN) {
      this.expCmdSN = snAdd(this.expCmdSN, 1);
      this.deliver(pdu);
      this.drainPending();
      return;
    }
    if (snInWindow(cmdSN, snAdd(this.expCmdSN, 1), this.maxCmdSN) && !this.pending.has(cmdSN)) {
      this.pending.set(cmdSN, pdu);
      return;
    }
    // Outside the window, or a duplicate: silently ignored (RFC 7143 §3.2.2.1).
    this.host.log('debug', 'PDU outside the CmdSN window ignored', { cmdSN, expCmdSN: this.expCmdSN });
    if (pdu.opcode === Opcode.ScsiCommand) this.forgetTask(pdu.initiatorTaskTag);
  }

  private drainPending(): void {
    for (;;) {
      const next = this.pending.get(this.expCmdSN);
      if (!next) return;
      this.pending.delete(this.expCmdSN);
      this.expCmdSN = snAdd(this.expCmdSN, 1);
      this.deliver(next);
    }
  }

  private deliver(pdu: InitiatorPdu): void {
    switch (pdu.opcode) {
      case Opcode.ScsiCommand: {
        const task = this.tasks.get(pdu.initiatorTaskTag);
        if (!task || task.aborted) {
          if (task) this.finishTask(task);
          return;
        }
        task.delivered = true;
        this.taskSet.push(task);
        if (task.pdu.attr === TaskAttribute.Ordered) this.orderedInTaskSet++;
        this.solicit(task);
        this.maybeExecute(task);
        return;
      }
      case Opcode.NopOut:
        this.onNopOut(pdu);
        return;
      case Opcode.TaskMgmtRequest:
        void this.onTaskManagement(pdu);
        return;
      case Opcode.TextRequest:
        this.onText(pdu);
        return;
      case Opcode.LogoutRequest:
        void this.onLogout(pdu);
        return;
      default:
        return;
    }
  }

  // ---------------------------------------------------------------- SCSI commands

  /** Create the task and check transport-level rules; returns false when the PDU was rejected. */
  private acceptCommand(pdu: ScsiCommandPdu, header: Buffer): boolean {
    const p = this.params;
    if (this.tasks.has(pdu.initiatorTaskTag)) {
      // RFC 7143 §11.3.3 / §11.17.1: ITT of a task still in progress.
      this.host.reject(RejectReason.TaskInProgress, header);
      return false;
    }
    if (this.loggingOut) {
      this.host.reject(RejectReason.WaitingForLogout, header);
      return false;
    }
    const immediateLength = pdu.data.length;
    if (immediateLength > 0) {
      // RFC 7143 §13.11, §13.14: immediate data only when negotiated, and within FirstBurstLength and EDTL.
      if (!p.immediateData || immediateLength > p.firstBurstLength || immediateLength > pdu.expectedDataTransferLength || !pdu.write) {
        this.host.reject(RejectReason.ProtocolError, header);
        return false;
      }
    }
    if (this.tasks.size >= SESSION_QUEUE_DEPTH * 2) {
      this.host.reject(RejectReason.LongOperationReject, header);
      return false;
    }
    const device = this.host.device;
    const shape = device ? device.shape(pdu.lun, pdu.cdb) : { direction: DataDirection.None, transferLength: 0 };
    const task = new ScsiTask(pdu, shape);
    if (pdu.write) {
      const edtl = pdu.expectedDataTransferLength;
      const wanted = shape.direction === DataDirection.Out && shape.transferLength !== undefined ? shape.transferLength : 0;
      const need = Math.min(edtl, wanted);
      if (need > MAX_COMMAND_BUFFER) {
        task.buffer = Buffer.alloc(0);
      } else if (need > 0 && immediateLength >= need) {
        // All the data came as immediate data: use it where it lies (DESIGN.md §8, no copy).
        task.buffer = pdu.data.subarray(0, need);
      } else if (need > 0) {
        task.buffer = Buffer.allocUnsafe(need);
        pdu.data.copy(task.buffer, 0, 0, Math.min(immediateLength, need));
      }
      // Unsolicited data: immediate data, plus Data-Out up to FirstBurstLength when InitialR2T=No
      // and the F bit is clear (RFC 7143 §11.3.1, §13.10, §13.14).
      task.unsolicitedEnd = !p.initialR2T && !pdu.final ? Math.min(p.firstBurstLength, edtl) : immediateLength;
      task.unsolicitedDone = task.unsolicitedEnd <= immediateLength;
      task.received = immediateLength;
      task.nextR2TOffset = Math.max(task.unsolicitedEnd, 0);
    }
    this.tasks.set(task.itt, task);
    return true;
  }

  /** RFC 7143 §10.8: send R2Ts for what the unsolicited data does not cover, at most MaxOutstandingR2T at a time. */
  private solicit(task: ScsiTask): void {
    if (!task.delivered || task.aborted || task.transportError) return;
    const needed = task.needed;
    while (task.r2ts.size < this.params.maxOutstandingR2T && task.nextR2TOffset < needed) {
      const offset = task.nextR2TOffset;
      const length = Math.min(this.params.maxBurstLength, needed - offset);
      const r2t: OutstandingR2T = {
        targetTransferTag: this.allocateTargetTransferTag(),
        r2tSN: task.nextR2TSN,
        offset,
        length,
        received: 0,
        nextDataSN: 0,
      };
      task.nextR2TSN = snAdd(task.nextR2TSN, 1);
      task.nextR2TOffset = offset + length;
      task.r2ts.set(r2t.targetTransferTag, r2t);
      this.host.send(
        {
          opcode: Opcode.R2T,
          lun: task.lun,
          lunField: task.pdu.lunField,
          initiatorTaskTag: task.itt,
          targetTransferTag: r2t.targetTransferTag,
          statSN: 0,
          expCmdSN: this.expCmdSN,
          maxCmdSN: this.maxCmdSN,
          r2tSN: r2t.r2tSN,
          bufferOffset: offset,
          desiredDataTransferLength: length,
          ahs: [],
          data: EMPTY,
        },
        false,
      );
    }
  }

  private allocateTargetTransferTag(): number {
    const tag = this.nextTargetTransferTag;
    this.nextTargetTransferTag = this.nextTargetTransferTag >= 0x7fffffff ? 1 : this.nextTargetTransferTag + 1;
    return tag;
  }

  /**
   * Receiver hook (DESIGN.md §8): place a Data-Out segment straight into its task's
   * buffer when it lies wholly inside it.
   */
  placeData(bhs: Buffer, dataLength: number): { buffer: Buffer; offset: number } | undefined {
    if ((bhs[0] & 0x3f) !== Opcode.DataOut) return undefined;
    const task = this.tasks.get(bhs.readUInt32BE(16));
    if (!task || !task.buffer || task.aborted) return undefined;
    const offset = bhs.readUInt32BE(40);
    if (offset + dataLength > task.buffer.length) return undefined;
    const ttt = bhs.readUInt32BE(20);
    if (ttt !== RESERVED_TAG) {
      const r2t = task.r2ts.get(ttt);
      if (!r2t || offset < r2t.offset || offset + dataLength > r2t.offset + r2t.length) return undefined;
    } else if (offset + dataLength > task.unsolicitedEnd) {
      return undefined;
    }
    return { buffer: task.buffer, offset };
  }

  private onDataOut(pdu: DataOutPdu, header: Buffer): void {
    const task = this.tasks.get(pdu.initiatorTaskTag);
    if (!task) {
      if (pdu.targetTransferTag !== RESERVED_TAG) this.host.reject(RejectReason.InvalidPduField, header);
      // Unsolicited data for a command already answered: discard (RFC 7143 §11.7.4).
      return;
    }
    if (task.aborted || task.executing || task.finished) return;
    const len = pdu.data.length;
    const offset = pdu.bufferOffset;
    const edtl = task.pdu.expectedDataTransferLength;
    if (len > this.params.targetMaxRecvDataSegmentLength || offset + len > edtl) {
      this.host.reject(RejectReason.ProtocolError, header);
      return;
    }
    if (pdu.targetTransferTag === RESERVED_TAG) {
      // Unsolicited Data-Out (RFC 7143 §10.7.1): within FirstBurstLength, DataSN in order.
      if (task.unsolicitedDone || offset + len > task.unsolicitedEnd) {
        this.host.reject(RejectReason.ProtocolError, header);
        return;
      }
      if (pdu.dataSN !== task.unsolicitedNextDataSN || offset !== task.received) {
        task.transportError = `unsolicited Data-Out out of order (DataSN ${pdu.dataSN}, expected ${task.unsolicitedNextDataSN})`;
      }
      task.unsolicitedNextDataSN = snAdd(task.unsolicitedNextDataSN, 1);
      this.copyIn(task, pdu, offset);
      task.received = Math.max(task.received, offset + len);
      if (pdu.final || task.received >= task.unsolicitedEnd) task.unsolicitedDone = true;
    } else {
      const r2t = task.r2ts.get(pdu.targetTransferTag);
      if (!r2t || offset < r2t.offset || offset + len > r2t.offset + r2t.length) {
        this.host.reject(RejectReason.InvalidPduField, header);
        return;
      }
      // RFC 7143 §10.7.5: DataSN restarts at 0 for each R2T; DataPDUInOrder=Yes.
      if (pdu.dataSN !== r2t.nextDataSN || offset !== r2t.offset + r2t.received) {
        task.transportError = `solicited Data-Out out of order (DataSN ${pdu.dataSN}, expected ${r2t.nextDataSN})`;
      }
      r2t.nextDataSN = snAdd(r2t.nextDataSN, 1);
      this.copyIn(task, pdu, offset);
      r2t.received += len;
      task.received = Math.max(task.received, offset + len);
      if (pdu.final || r2t.received >= r2t.length) {
        task.r2ts.delete(r2t.targetTransferTag);
        this.solicit(task);
      }
    }
    this.maybeExecute(task);
  }

  private copyIn(task: ScsiTask, pdu: DataOutPdu, offset: number): void {
    const buf = task.buffer;
    if (!buf || offset >= buf.length) return;
    const data = pdu.data;
    // Already placed by the receiver when `data` is a view of `buf` at `offset`.
    if (data.buffer === buf.buffer && data.byteOffset === buf.byteOffset + offset) return;
    data.copy(buf, offset, 0, Math.min(data.length, buf.length - offset));
  }

  private maybeExecute(task: ScsiTask): void {
    if (!task.delivered || task.executing || task.finished || task.aborted) return;
    if (!task.dataComplete) return;
    if (!this.mayEnter(task)) return;
    task.executing = true;
    void this.execute(task);
  }

  private async execute(task: ScsiTask): Promise<void> {
    const device = this.host.device;
    const nexus = this.host.nexus;
    let response: ScsiResponse;
    if (task.transportError) {
      this.host.log('warn', 'command failed by a Data-Out sequence error', { itt: task.itt, error: task.transportError });
      response = transportFailure(device, task.lun);
    } else if (!device || !nexus) {
      response = transportFailure(device, task.lun);
    } else {
      const pdu = task.pdu;
      try {
        response = await device.execute({
          lun: task.lun,
          cdb: pdu.cdb,
          nexus,
          taskAttr: pdu.attr,
          dataOut: task.buffer ? task.buffer.subarray(0, Math.min(task.received, task.buffer.length)) : pdu.write ? EMPTY : undefined,
          expectedDataInLength: pdu.read ? pdu.expectedDataTransferLength : 0,
          expectedDataOutLength: pdu.write ? pdu.expectedDataTransferLength : 0,
          // Created only if the SCSI layer looks at it (long operations).
          get signal() {
            return task.signal;
          },
        });
      } catch (err) {
        this.host.log('error', 'SCSI layer threw', { itt: task.itt, error: String(err) });
        response = transportFailure(device, task.lun);
      }
    }
    if (!task.aborted && !this.closed) {
      sendDataInAndStatus(this, task, response, this.host);
    }
    this.finishTask(task);
  }

  /**
   * SAM-5 §8.6: a HEAD OF QUEUE task starts at once; an ORDERED task waits for
   * every older task of the LU; a SIMPLE task waits for older ORDERED tasks.
   */
  private mayEnter(task: ScsiTask): boolean {
    const attr = task.pdu.attr;
    if (attr === TaskAttribute.HeadOfQueue) return true;
    if (this.orderedInTaskSet === 0 && attr !== TaskAttribute.Ordered) return true;
    for (const older of this.taskSet) {
      if (older === task) return true;
      if (older.lun !== task.lun || older.pdu.attr === TaskAttribute.HeadOfQueue) continue;
      if (attr === TaskAttribute.Ordered || older.pdu.attr === TaskAttribute.Ordered) return false;
    }
    return true;
  }

  private finishTask(task: ScsiTask): void {
    if (this.tasks.get(task.itt) === task) this.tasks.delete(task.itt);
    task.markFinished();
    const i = this.taskSet.indexOf(task);
    if (i < 0) return;
    this.taskSet.splice(i, 1);
    if (task.pdu.attr === TaskAttribute.Ordered) this.orderedInTaskSet--;
    // Tasks held back by ordering may start now.
    if (this.orderedInTaskSet > 0 || task.pdu.attr === TaskAttribute.Ordered) {
      for (const t of [...this.taskSet]) if (!t.executing) this.maybeExecute(t);
    }
  }

  private forgetTask(itt: number): void {
    const task = this.tasks.get(itt);
    if (task && !task.delivered) this.finishTask(task);
  }

  // ---------------------------------------------------------------- NOP

  private onNopOut(pdu: NopOutPdu): void {
    // RFC 7143 §11.19: answer a NOP-Out ping with its data, TTT reserved.
    const data = pdu.data.length > this.params.initiatorMaxRecvDataSegmentLength ? pdu.data.subarray(0, this.params.initiatorMaxRecvDataSegmentLength) : pdu.data;
    this.host.send(
      {
        opcode: Opcode.NopIn,
        lun: pdu.lun,
        lunField: pdu.lunField,
        initiatorTaskTag: pdu.initiatorTaskTag,
        targetTransferTag: RESERVED_TAG,
        statSN: 0,
        expCmdSN: this.expCmdSN,
        maxCmdSN: this.maxCmdSN,
        ahs: [],
        data: Buffer.from(data),
      },
      true,
    );
  }

  // ---------------------------------------------------------------- Text

  private onText(pdu: TextRequestPdu): void {
    this.text.handle(pdu, this.expCmdSN, this.maxCmdSN);
  }

  // ---------------------------------------------------------------- Task management

  private async onTaskManagement(pdu: TaskMgmtRequestPdu): Promise<void> {
    const fn = pdu.function & 0x7f;
    const device = this.host.device;
    const nexus = this.host.nexus;
    let response: number = TmfResponse.FunctionComplete;
    const lunScoped = fn === Tmf.AbortTask || fn === Tmf.AbortTaskSet || fn === Tmf.ClearTaskSet || fn === Tmf.LogicalUnitReset || fn === Tmf.ClearAca;
    if (!device || !nexus) {
      response = TmfResponse.FunctionRejected;
    } else if (lunScoped && !device.hasLun(pdu.lun)) {
      response = TmfResponse.LunDoesNotExist;
    } else {
      switch (fn) {
        case Tmf.AbortTask:
          response = await this.abortTask(pdu);
          break;
        case Tmf.AbortTaskSet:
          await this.abortTasks((t) => t.lun === pdu.lun);
          break;
        case Tmf.ClearTaskSet:
          // Control mode page TST=001b: each I_T nexus has its own task set (SPC-4 §7.5.8, SAM-5 §7.6).
          await this.abortTasks((t) => t.lun === pdu.lun);
          break;
        case Tmf.LogicalUnitReset:
          await this.abortTasks((t) => t.lun === pdu.lun);
          await this.host.abortTasksElsewhere({ lun: pdu.lun });
          device.lunReset(pdu.lun, nexus);
          break;
        case Tmf.TargetWarmReset:
        case Tmf.TargetColdReset:
          await this.abortTasks(() => true);
          await this.host.abortTasksElsewhere({});
          device.targetReset(nexus);
          break;
        case Tmf.ClearAca:
          // We never establish ACA (NACA=1 is refused), so there is nothing to clear (SAM-5 §7.4).
          break;
        case Tmf.TaskReassign:
          // ErrorRecoveryLevel 0: reassignment is not supported (RFC 7143 §11.5.1).
          response = TmfResponse.TaskReassignmentNotSupported;
          break;
        default:
          response = TmfResponse.FunctionNotSupported;
      }
    }
    if (this.closed) return;
    this.host.send(
      {
        opcode: Opcode.TaskMgmtResponse,
        response,
        initiatorTaskTag: pdu.initiatorTaskTag,
        statSN: 0,
        expCmdSN: this.expCmdSN,
        maxCmdSN: this.maxCmdSN,
        ahs: [],
        data: EMPTY,
      },
      true,
    );
    if (fn === Tmf.TargetColdReset && response === TmfResponse.FunctionComplete) this.host.dropAllSessions();
  }

  /** RFC 7143 §11.5.1 ABORT TASK, including the RefCmdSN rules for tasks we have not seen. */
  private async abortTask(pdu: TaskMgmtRequestPdu): Promise<number> {
    const task = this.tasks.get(pdu.referencedTaskTag);
    if (task) {
      if (task.lun !== pdu.lun) return TmfResponse.TaskDoesNotExist;
      await this.abortTasks((t) => t === task);
      return TmfResponse.FunctionComplete;
    }
    // Not found: if its CmdSN is within the window and not yet received, treat it as received and aborted.
    if (snInWindow(pdu.refCmdSN, this.expCmdSN, this.maxCmdSN) && !this.pending.has(pdu.refCmdSN)) {
      return TmfResponse.FunctionComplete;
    }
    return TmfResponse.TaskDoesNotExist;
  }

  /** Abort matching tasks of this session; resolves when running ones have stopped. No response is sent for them. */
  async abortTasks(match: (t: ScsiTask) => boolean): Promise<void> {
    const waits: Promise<void>[] = [];
    for (const task of [...this.tasks.values()]) {
      if (!match(task)) continue;
      task.aborted = true;
      task.abortWork();
      task.r2ts.clear();
      if (task.executing) {
        waits.push(task.done);
      } else if (task.delivered || task.immediate) {
        this.finishTask(task);
      }
      // Tasks still waiting for their CmdSN stay in the map until their turn, so ExpCmdSN advances over them.
    }
    await Promise.all(waits);
  }

  // ---------------------------------------------------------------- Logout

  private async onLogout(pdu: LogoutRequestPdu): Promise<void> {
    const reason = pdu.reasonCode & 0x7f;
    // RFC 7143 §11.15.1: 0 closed successfully, 2 connection recovery is not supported.
    let response = 0;
    if (reason === 2) {
      response = 2;
    } else {
      this.loggingOut = true;
      await this.abortTasks(() => true);
    }
    if (this.closed) return;
    this.host.send(
      {
        opcode: Opcode.LogoutResponse,
        response,
        initiatorTaskTag: pdu.initiatorTaskTag,
        statSN: 0,
        expCmdSN: this.expCmdSN,
        maxCmdSN: this.maxCmdSN,
        time2Wait: this.params.defaultTime2Wait,
        time2Retain: 0,
        ahs: [],
        data: EMPTY,
      },
      true,
    );
    if (response === 0) this.host.close('logout');
  }

  /** Connection gone: abort everything (ErrorRecoveryLevel 0 session failure, RFC 7143 §6.3.5). */
  async shutdown(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.pending.clear();
    await this.abortTasks(() => true);
    for (const task of [...this.tasks.values()]) this.finishTask(task);
  }
}

const EMPTY = Buffer.alloc(0);

/** ABORTED COMMAND, DATA PHASE ERROR (SPC-4 Annex D 4Bh/00h), fixed format. */
/**
 * ABORTED COMMAND, DATA PHASE ERROR for a command the transport failed: the
 * device encodes it (its D_SENSE decides the format, DESIGN.md §3: only the
 * SCSI layer encodes sense); without a device (no SCSI layer behind the
 * session), fixed format (SPC-4 §4.5.1 default).
 */
function transportFailure(device: ScsiTarget | undefined, lun: number): ScsiResponse {
  if (device) return device.transportFailure(lun);
  return { status: ScsiStatus.CheckCondition, sense: encodeSense({ key: SenseKey.ABORTED_COMMAND, asc: 0x4b, ascq: 0x00 }, false) };
}

