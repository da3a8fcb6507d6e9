/**
 * A TypeScript test initiator (DESIGN.md §9): drives the target over any duplex
 * stream with real PDUs. Handles login (with CHAP), SCSI commands with
 * immediate/unsolicited/solicited data, Data-In reassembly, NOP, TMF, Text, Logout.
 */
import { createHash } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { Opcode, type Pdu, type TargetPdu, type ScsiCommandPdu, type InitiatorPdu } from '../../src/target/pdu/types.js';
import { encodePdu } from '../../src/target/pdu/encode.js';
import { PduReceiver } from '../../src/target/pdu/receiver.js';

export interface ChapOptions {
  user: string;
  secret: string;
  /** CHAP_A list to offer, e.g. "5" or "8,7,6,5". */
  algorithms?: string;
  /** Mutual CHAP: the secret the target must prove. */
  mutualSecret?: string;
  /** Challenge we send in mutual CHAP (for reflection tests). */
  mutualChallenge?: Buffer;
}

export interface LoginOptions {
  initiatorName?: string;
  targetName?: string;
  sessionType?: 'Normal' | 'Discovery';
  isid?: Buffer;
  tsih?: number;
  chap?: ChapOptions;
  /** Operational keys to propose (overrides defaults). */
  keys?: Record<string, string>;
}

export interface LoginResult {
  ok: boolean;
  statusClass: number;
  statusDetail: number;
  tsih: number;
  keys: Map<string, string>;
}

export interface CommandOptions {
  lun?: number;
  cdb: Buffer;
  dataOut?: Buffer;
  /** ExpectedDataTransferLength; defaults to dataOut length or readLength. */
  edtl?: number;
  readLength?: number;
  attr?: number;
  immediate?: boolean;
}

export interface CommandResult {
  status: number;
  sense?: Buffer;
  dataIn: Buffer;
  residualOverflow: boolean;
  residualUnderflow: boolean;
  residualCount: number;
  response: number;
}

const ALG: Record<string, string> = { '5': 'md5', '6': 'sha1', '7': 'sha256', '8': 'sha3-256' };

export function parseText(data: Buffer): Map<string, string> {
  const m = new Map<string, string>();
  for (const part of data.toString('utf8').split('\0')) {
    if (!part) continue;
    const i = part.indexOf('=');
    m.set(part.slice(0, i), part.slice(i + 1));
  }
  return m;
}

export function textData(pairs: Record<string, string> | [string, string][]): Buffer {
  const list = Array.isArray(pairs) ? pairs : Object.entries(pairs);
  return Buffer.from(list.map(([k, v]) => `${k}=${v}\0`).join(''), 'utf8');
}

function hexToBuf(v: string): Buffer {
  if (v.startsWith('0x') || v.startsWith('0X')) return Buffer.from(v.slice(2), 'hex');
  if (v.startsWith('0b') || v.startsWith('0B')) return Buffer.from(v.slice(2), 'base64');
  throw new Error(`bad binary value ${v}`);
}

interface Waiter {
  match: (p: TargetPdu) => boolean;
  resolve: (p: TargetPdu) => void;
}

export class TestInitiator {
  cmdSN = 1;
  expStatSN = 0;
  itt = 1;
  digests = { header: false, data: false };
  params = { maxRecvDataSegmentLength: 8192, firstBurstLength: 65536, maxBurstLength: 262144, immediateData: true, initialR2T: true };
  readonly received: TargetPdu[] = [];
  private waiters: Waiter[] = [];
  private receiver: PduReceiver;
  closed = false;
  /** Answer target NOP-In pings automatically. */
  autoPong = true;

  constructor(readonly socket: Duplex) {
    this.receiver = new PduReceiver(
      {
        onPdu: (pdu: Pdu) => this.onPdu(pdu as TargetPdu),
        onBadPdu: (err: Error) => {
          throw err;
        },
        onFatal: (err: Error) => {
          throw err;
        },
      },
      { headerDigest: false, dataDigest: false, maxRecvDataSegmentLength: 16 * 1024 * 1024 },
    );
    socket.on('data', (c: Buffer) => this.receiver.push(c));
    socket.on('close', () => {
      this.closed = true;
      for (const w of this.waiters) w.resolve(undefined as unknown as TargetPdu);
      this.waiters = [];
    });
    socket.on('end', () => {
      this.closed = true;
      for (const w of this.waiters) w.resolve(undefined as unknown as TargetPdu);
      this.waiters = [];
    });
    socket.on('error', () => {});
  }

  private onPdu(pdu: TargetPdu): void {
    if ('statSN' in pdu && pdu.opcode !== Opcode.R2T && !(pdu.opcode === Opcode.DataIn && !pdu.statusPresent)) {
      this.expStatSN = (pdu.statSN + 1) >>> 0;
    }
    if (pdu.opcode === Opcode.NopIn && pdu.initiatorTaskTag === 0xffffffff && this.autoPong) {
      this.send({
        opcode: Opcode.NopOut, immediate: true, lun: 0, lunField: Buffer.alloc(8), initiatorTaskTag: 0xffffffff,
        targetTransferTag: pdu.targetTransferTag, cmdSN: this.cmdSN, expStatSN: this.expStatSN, ahs: [], data: Buffer.alloc(0),
      });
    }
    const i = this.waiters.findIndex((w) => w.match(pdu));
    if (i >= 0) {
      const [w] = this.waiters.splice(i, 1);
      w.resolve(pdu);
      return;
    }
    this.received.push(pdu);
  }

  /** Next PDU satisfying `match` (from the backlog or future input); undefined when the connection closes. */
  next(match: (p: TargetPdu) => boolean = () => true, timeoutMs = 10000): Promise<TargetPdu | undefined> {
    const i = this.received.findIndex(match);
    if (i >= 0) return Promise.resolve(this.received.splice(i, 1)[0]);
    if (this.closed) return Promise.resolve(undefined);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error('timed out waiting for a PDU'));
      }, timeoutMs);
      const waiter: Waiter = {
        match,
        resolve: (p) => {
          clearTimeout(timer);
          resolve(p);
        },
      };
      this.waiters.push(waiter);
    });
  }

  send(pdu: InitiatorPdu): void {
    for (const c of encodePdu(pdu, this.digests)) this.socket.write(c);
  }

  sendRaw(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  nextItt(): number {
    const t = this.itt;
    this.itt = (this.itt + 1) >>> 0;
    return t;
  }

  // ---------------------------------------------------------------- login

  async login(opts: LoginOptions = {}): Promise<LoginResult> {
    const isid = opts.isid ?? Buffer.from([0x80, 0x12, 0x34, 0x56, 0x00, 0x01]);
    const itt = this.nextItt();
    const sessionType = opts.sessionType ?? 'Normal';
    const initiatorName = opts.initiatorName ?? 'iqn.2024-01.org.test:initiator';
    const all = new Map<string, string>();
    const exchange = async (csg: number, nsg: number, transit: boolean, keys: [string, string][]) => {
      this.send({
        opcode: Opcode.LoginRequest, immediate: true, transit, continue: false, csg, nsg, versionMax: 0, versionMin: 0,
        isid, tsih: opts.tsih ?? 0, initiatorTaskTag: itt, cid: 0, cmdSN: this.cmdSN, expStatSN: this.expStatSN, ahs: [], data: textData(keys),
      });
      const r = await this.next((p) => p.opcode === Opcode.LoginResponse);
      if (!r || r.opcode !== Opcode.LoginResponse) throw new Error('connection closed during login');
      const k = parseText(r.data);
      for (const [a, b] of k) all.set(a, b);
      return { r, k };
    };
    const fail = (r: { statusClass: number; statusDetail: number; tsih: number }): LoginResult => ({ ok: false, statusClass: r.statusClass, statusDetail: r.statusDetail, tsih: r.tsih, keys: all });
    const base: [string, string][] = [['InitiatorName', initiatorName], ['SessionType', sessionType]];
    if (opts.targetName) base.push(['TargetName', opts.targetName]);
    const chap = opts.chap;
    if (chap) {
      let { r } = await exchange(0, 1, false, [...base, ['AuthMethod', 'CHAP,None']]);
      if (r.statusClass !== 0) return fail(r);
      ({ r } = await exchange(0, 1, false, [['CHAP_A', chap.algorithms ?? '5']]));
      if (r.statusClass !== 0) return fail(r);
      const k = parseText(r.data);
      const a = k.get('CHAP_A')!;
      const id = Number(k.get('CHAP_I'));
      const challenge = hexToBuf(k.get('CHAP_C')!);
      const hash = ALG[a];
      const response = createHash(hash).update(Buffer.from([id])).update(chap.secret).update(challenge).digest();
      const keys: [string, string][] = [['CHAP_N', chap.user], ['CHAP_R', '0x' + response.toString('hex')]];
      const mutualId = 77;
      const mutualChallenge = chap.mutualChallenge ?? Buffer.alloc(response.length, 0x5a);
      if (chap.mutualSecret !== undefined) keys.push(['CHAP_I', String(mutualId)], ['CHAP_C', '0x' + mutualChallenge.toString('hex')]);
      ({ r } = await exchange(0, 1, true, keys));
      if (r.statusClass !== 0) return fail(r);
      if (chap.mutualSecret !== undefined) {
        const rk = parseText(r.data);
        const expected = createHash(hash).update(Buffer.from([mutualId])).update(chap.mutualSecret).update(mutualChallenge).digest();
        if (!rk.get('CHAP_R') || !hexToBuf(rk.get('CHAP_R')!).equals(expected)) throw new Error('target failed mutual CHAP');
      }
      const op = await exchange(1, 3, true, this.operationalKeys(opts));
      if (op.r.statusClass !== 0) return fail(op.r);
      return this.finishLogin(op.r, all);
    }
    const first = await exchange(0, 1, true, [...base, ['AuthMethod', 'None']]);
    if (first.r.statusClass !== 0) return fail(first.r);
    const op = await exchange(1, 3, true, this.operationalKeys(opts));
    if (op.r.statusClass !== 0) return fail(op.r);
    return this.finishLogin(op.r, all);
  }

  private operationalKeys(opts: LoginOptions): [string, string][] {
    const keys: Record<string, string> = {
      HeaderDigest: 'None',
      DataDigest: 'None',
      InitialR2T: 'Yes',
      ImmediateData: 'Yes',
      MaxRecvDataSegmentLength: '262144',
      MaxBurstLength: '262144',
      FirstBurstLength: '65536',
      MaxOutstandingR2T: '1',
      ErrorRecoveryLevel: '0',
      ...opts.keys,
    };
    return Object.entries(keys);
  }

  private finishLogin(r: TargetPdu & { opcode: Opcode.LoginResponse }, all: Map<string, string>): LoginResult {
    if (!r.transit || r.nsg !== 3) return { ok: false, statusClass: r.statusClass, statusDetail: r.statusDetail, tsih: r.tsih, keys: all };
    const yes = (k: string) => all.get(k) === 'Yes';
    this.digests = { header: all.get('HeaderDigest') === 'CRC32C', data: all.get('DataDigest') === 'CRC32C' };
    this.receiver.setDigests(this.digests.header, this.digests.data);
    this.params.immediateData = yes('ImmediateData');
    this.params.initialR2T = yes('InitialR2T');
    if (all.has('FirstBurstLength')) this.params.firstBurstLength = Number(all.get('FirstBurstLength'));
    if (all.has('MaxBurstLength')) this.params.maxBurstLength = Number(all.get('MaxBurstLength'));
    if (all.has('MaxRecvDataSegmentLength')) this.params.maxRecvDataSegmentLength = Number(all.get('MaxRecvDataSegmentLength'));
    return { ok: true, statusClass: 0, statusDetail: 0, tsih: r.tsih, keys: all };
  }

  // ---------------------------------------------------------------- SCSI

  async command(o: CommandOptions): Promise<CommandResult> {
    const itt = this.nextItt();
    const dataOut = o.dataOut ?? Buffer.alloc(0);
    const write = dataOut.length > 0 || (o.edtl !== undefined && o.readLength === undefined && o.dataOut !== undefined);
    const read = o.readLength !== undefined;
    const edtl = o.edtl ?? (read ? o.readLength! : dataOut.length);
    const immLen = write && this.params.immediateData ? Math.min(dataOut.length, this.params.firstBurstLength, this.params.maxRecvDataSegmentLength, edtl) : 0;
    const cdb = Buffer.alloc(Math.max(16, o.cdb.length));
    o.cdb.copy(cdb);
    const cmdSN = this.cmdSN;
    if (!o.immediate) this.cmdSN = (this.cmdSN + 1) >>> 0;
    const unsolicitedEnd = write && !this.params.initialR2T ? Math.min(this.params.firstBurstLength, edtl, dataOut.length) : immLen;
    const pdu: ScsiCommandPdu = {
      opcode: Opcode.ScsiCommand, immediate: o.immediate ?? false, final: unsolicitedEnd <= immLen, read, write,
      attr: o.attr ?? 1, lun: o.lun ?? 0, lunField: lunField(o.lun ?? 0), initiatorTaskTag: itt, expectedDataTransferLength: edtl,
      cmdSN, expStatSN: this.expStatSN, cdb, ahs: [], data: dataOut.subarray(0, immLen),
    };
    this.send(pdu);
    // Unsolicited Data-Out (InitialR2T=No).
    if (unsolicitedEnd > immLen) this.sendDataOut(itt, o.lun ?? 0, 0xffffffff, dataOut, immLen, unsolicitedEnd - immLen);
    const dataIn = Buffer.alloc(read ? edtl : 0);
    let dataInLen = 0;
    for (;;) {
      const p = await this.next((x) => 'initiatorTaskTag' in x && x.initiatorTaskTag === itt, 30000);
      if (!p) throw new Error('connection closed before the command completed');
      if (p.opcode === Opcode.R2T) {
        this.sendDataOut(itt, o.lun ?? 0, p.targetTransferTag, dataOut, p.bufferOffset, p.desiredDataTransferLength);
        continue;
      }
      if (p.opcode === Opcode.DataIn) {
        p.data.copy(dataIn, p.bufferOffset);
        dataInLen = Math.max(dataInLen, p.bufferOffset + p.data.length);
        if (p.statusPresent) {
          return { status: p.status, dataIn: dataIn.subarray(0, dataInLen), residualOverflow: p.residualOverflow, residualUnderflow: p.residualUnderflow, residualCount: p.residualCount, response: 0 };
        }
        continue;
      }
      if (p.opcode === Opcode.ScsiResponse) {
        const sense = p.data.length >= 2 ? p.data.subarray(2, 2 + p.data.readUInt16BE(0)) : undefined;
        return { status: p.status, sense, dataIn: dataIn.subarray(0, dataInLen), residualOverflow: p.residualOverflow, residualUnderflow: p.residualUnderflow, residualCount: p.residualCount, response: p.response };
      }
      if (p.opcode === Opcode.Reject) throw new Error(`command rejected: reason 0x${p.reason.toString(16)}`);
    }
  }

  private sendDataOut(itt: number, lun: number, ttt: number, data: Buffer, offset: number, length: number): void {
    const max = this.params.maxRecvDataSegmentLength;
    let sn = 0;
    const end = offset + length;
    for (let o = offset; o < end; o += max) {
      const len = Math.min(max, end - o);
      this.send({
        opcode: Opcode.DataOut, final: o + len >= end, lun, lunField: lunField(lun), initiatorTaskTag: itt, targetTransferTag: ttt,
        expStatSN: this.expStatSN, dataSN: sn++, bufferOffset: o, ahs: [], data: data.subarray(o, o + len),
      });
    }
  }

  // ---------------------------------------------------------------- other requests

  async nop(data: Buffer = Buffer.alloc(0)): Promise<TargetPdu | undefined> {
    const itt = this.nextItt();
    this.send({ opcode: Opcode.NopOut, immediate: true, lun: 0, lunField: Buffer.alloc(8), initiatorTaskTag: itt, targetTransferTag: 0xffffffff, cmdSN: this.cmdSN, expStatSN: this.expStatSN, ahs: [], data });
    return this.next((p) => 'initiatorTaskTag' in p && p.initiatorTaskTag === itt);
  }

  async taskManagement(fn: number, lun = 0, referencedTaskTag = 0xffffffff, refCmdSN = 0): Promise<number | undefined> {
    const itt = this.nextItt();
    this.send({ opcode: Opcode.TaskMgmtRequest, immediate: true, function: fn, lun, lunField: lunField(lun), initiatorTaskTag: itt, referencedTaskTag, cmdSN: this.cmdSN, expStatSN: this.expStatSN, refCmdSN, expDataSN: 0, ahs: [], data: Buffer.alloc(0) });
    const r = await this.next((p) => p.opcode === Opcode.TaskMgmtResponse && p.initiatorTaskTag === itt);
    return r && r.opcode === Opcode.TaskMgmtResponse ? r.response : undefined;
  }

  async text(pairs: [string, string][]): Promise<Map<string, string>> {
    const itt = this.nextItt();
    let ttt = 0xffffffff;
    let data = textData(pairs);
    const parts: Buffer[] = [];
    for (;;) {
      this.send({ opcode: Opcode.TextRequest, immediate: true, final: true, continue: false, lun: 0, lunField: Buffer.alloc(8), initiatorTaskTag: itt, targetTransferTag: ttt, cmdSN: this.cmdSN, expStatSN: this.expStatSN, ahs: [], data });
      const r = await this.next((p) => p.opcode === Opcode.TextResponse && p.initiatorTaskTag === itt);
      if (!r || r.opcode !== Opcode.TextResponse) throw new Error('no text response');
      parts.push(r.data);
      if (r.final) break;
      ttt = r.targetTransferTag;
      data = Buffer.alloc(0);
    }
    return parseText(Buffer.concat(parts));
  }

  /** All TargetName/TargetAddress pairs of a SendTargets answer, in order. */
  async sendTargets(value = 'All'): Promise<[string, string][]> {
    const itt = this.nextItt();
    this.send({ opcode: Opcode.TextRequest, immediate: true, final: true, continue: false, lun: 0, lunField: Buffer.alloc(8), initiatorTaskTag: itt, targetTransferTag: 0xffffffff, cmdSN: this.cmdSN, expStatSN: this.expStatSN, ahs: [], data: textData([['SendTargets', value]]) });
    const r = await this.next((p) => p.opcode === Opcode.TextResponse && p.initiatorTaskTag === itt);
    if (!r) throw new Error('no text response');
    return r.data.toString('utf8').split('\0').filter(Boolean).map((s) => {
      const i = s.indexOf('=');
      return [s.slice(0, i), s.slice(i + 1)] as [string, string];
    });
  }

  async logout(reason = 0): Promise<number | undefined> {
    const itt = this.nextItt();
    this.send({ opcode: Opcode.LogoutRequest, immediate: true, reasonCode: reason | 0x80, initiatorTaskTag: itt, cid: 0, cmdSN: this.cmdSN, expStatSN: this.expStatSN, ahs: [], data: Buffer.alloc(0) });
    const r = await this.next((p) => p.opcode === Opcode.LogoutResponse && p.initiatorTaskTag === itt);
    return r && r.opcode === Opcode.LogoutResponse ? r.response : undefined;
  }

  close(): void {
    this.socket.destroy();
  }
}

export function lunField(lun: number): Buffer {
  const b = Buffer.alloc(8);
  if (lun < 256) b[1] = lun;
  else b.writeUInt16BE(0x4000 | lun, 0);
  return b;
}

// CDB builders used across protocol tests.
export const cdb = {
  testUnitReady: () => Buffer.from([0x00, 0, 0, 0, 0, 0]),
  inquiry: (alloc = 255, evpd = false, page = 0) => Buffer.from([0x12, evpd ? 1 : 0, page, (alloc >> 8) & 0xff, alloc & 0xff, 0]),
  readCapacity16: () => {
    const b = Buffer.alloc(16);
    b[0] = 0x9e;
    b[1] = 0x10;
    b.writeUInt32BE(32, 10);
    return b;
  },
  read10: (lba: number, blocks: number) => {
    const b = Buffer.alloc(10);
    b[0] = 0x28;
    b.writeUInt32BE(lba, 2);
    b.writeUInt16BE(blocks, 7);
    return b;
  },
  write10: (lba: number, blocks: number) => {
    const b = Buffer.alloc(10);
    b[0] = 0x2a;
    b.writeUInt32BE(lba, 2);
    b.writeUInt16BE(blocks, 7);
    return b;
  },
  reportLuns: (alloc = 4096) => {
    const b = Buffer.alloc(12);
    b[0] = 0xa0;
    b.writeUInt32BE(alloc, 6);
    return b;
  },
};
