/**
 * One SCSI command's transport state inside a session: where its Data-Out goes,
 * which R2Ts are outstanding, and whether it may run (RFC 7143 §4.2.2, §10.7, §11.8).
 */
import type { ScsiCommandPdu } from './pdu/types.js';
import type { CommandShape } from '../scsi/types.js';

export interface OutstandingR2T {
  targetTransferTag: number;
  r2tSN: number;
  offset: number;
  length: number;
  received: number;
  nextDataSN: number;
}

export class ScsiTask {
  readonly itt: number;
  readonly cmdSN: number;
  readonly lun: number;
  readonly immediate: boolean;
  private controller: AbortController | undefined;
  /** Reached in CmdSN order (or immediate). */
  delivered = false;
  executing = false;
  finished = false;
  aborted = false;
  /** Write data destination; length = bytes we need (min of EDTL and the CDB's transfer length, capped). */
  buffer: Buffer | undefined;
  /** Highest contiguous byte received from offset 0. */
  received = 0;
  /** Bytes the initiator will send unsolicited (immediate + unsolicited Data-Out), RFC 7143 §10.7. */
  unsolicitedEnd = 0;
  unsolicitedDone = true;
  unsolicitedNextDataSN = 0;
  /** Next offset to solicit with an R2T. */
  nextR2TOffset = 0;
  nextR2TSN = 0;
  readonly r2ts = new Map<number, OutstandingR2T>();
  /** Set when a transport error (e.g. DataSN out of order) must fail the command. */
  transportError: string | undefined;
  private donePromise: Promise<void> | undefined;
  private resolveDone: (() => void) | undefined;

  constructor(
    readonly pdu: ScsiCommandPdu,
    readonly shape: CommandShape,
  ) {
    this.itt = pdu.initiatorTaskTag;
    this.cmdSN = pdu.cmdSN;
    this.lun = pdu.lun;
    this.immediate = pdu.immediate;
  }

  /** Signals an abort to long-running SCSI work; created on first use (hot path stays allocation-light). */
  get signal(): AbortSignal {
    this.controller ??= new AbortController();
    return this.controller.signal;
  }

  abortWork(): void {
    this.controller?.abort();
  }

  /** Settles when the task is complete (response sent or suppressed); created on first use. */
  get done(): Promise<void> {
    if (this.finished) return Promise.resolve();
    this.donePromise ??= new Promise((resolve) => (this.resolveDone = resolve));
    return this.donePromise;
  }

  /** Bytes of Data-Out we need before executing. */
  get needed(): number {
    return this.buffer ? this.buffer.length : 0;
  }

  get dataComplete(): boolean {
    return this.unsolicitedDone && this.r2ts.size === 0 && this.nextR2TOffset >= this.needed;
  }

  markFinished(): void {
    if (this.finished) return;
    this.finished = true;
    this.resolveDone?.();
  }
}
