/**
 * A deliberately small iSCSI target (test-only) that puts the SCSI layer on
 * the wire so libiscsi's iscsi-test-cu can exercise it before, and
 * independently of, the real transport in src/target. One connection per
 * session, no digests, InitialR2T=Yes, ImmediateData=Yes, MaxOutstandingR2T=1,
 * ErrorRecoveryLevel=0 (RFC 7143). Not for production: it trusts the
 * initiator and skips most protocol checks.
 */
import net from 'node:net';
import type { ScsiTarget, TargetPortInfo, ItNexus, ScsiResponse } from '../../../src/scsi/types.js';

interface Task {
  itt: number;
  lun: number;
  lunField: Buffer;
  cdb: Buffer;
  edtl: number;
  read: boolean;
  write: boolean;
  attr: number;
  buffer?: Buffer;
  need: number;
  received: number;
  transferLength?: number;
  direction: number;
  r2tOffset: number;
  r2tsn: number;
  ttt: number;
  aborted?: boolean;
}

const MAX_RECV = 262144;

function parseKeys(data: Buffer): Map<string, string> {
  const m = new Map<string, string>();
  for (const kv of data.toString('latin1').split('\0')) {
    if (!kv) continue;
    const i = kv.indexOf('=');
    if (i > 0) m.set(kv.slice(0, i), kv.slice(i + 1));
  }
  return m;
}

function keysData(pairs: Array<[string, string]>): Buffer {
  return Buffer.from(pairs.map(([k, v]) => `${k}=${v}\0`).join(''), 'latin1');
}

function decodeLun(b: Buffer): number {
  const method = b[0] >> 6;
  if (method === 0) return b[1];
  if (method === 1) return ((b[0] & 0x3f) << 8) | b[1];
  return -1;
}

class Conn {
  private buf: Buffer = Buffer.alloc(0);
  private statSN = 0;
  private expCmdSN = 0;
  private fullFeature = false;
  private isid = '';
  private initiatorName = '';
  private nexus?: ItNexus;
  private maxSend = 8192;
  private maxBurst = 262144;
  private readonly tasks = new Map<number, Task>();
  private nextTtt = 1;
  private closed = false;

  constructor(
    private readonly sock: net.Socket,
    private readonly target: ScsiTarget,
    private readonly port: TargetPortInfo,
    private readonly iqn: string,
  ) {
    sock.setNoDelay(true);
    sock.on('data', (d: Buffer) => this.onData(d));
    sock.on('close', () => this.close());
    sock.on('error', () => this.close());
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.nexus) this.target.nexusRemoved(this.nexus);
    this.sock.destroy();
  }

  private onData(d: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    for (;;) {
      if (this.buf.length < 48) return;
      const ahs = this.buf[4] * 4;
      const dsl = this.buf.readUIntBE(5, 3);
      const total = 48 + ahs + ((dsl + 3) & ~3);
      if (this.buf.length < total) return;
      const bhs = this.buf.subarray(0, 48);
      const data = Buffer.from(this.buf.subarray(48 + ahs, 48 + ahs + dsl));
      this.buf = this.buf.subarray(total);
      try {
        this.onPdu(Buffer.from(bhs), data);
      } catch (e) {
        console.error('mini-target: PDU handling failed', e);
        this.close();
        return;
      }
    }
  }

  private send(bhs: Buffer, data?: Buffer): void {
    if (this.closed) return;
    const dsl = data ? data.length : 0;
    bhs.writeUIntBE(dsl, 5, 3);
    this.sock.cork();
    this.sock.write(bhs);
    if (data && dsl > 0) {
      this.sock.write(data);
      const pad = (4 - (dsl % 4)) % 4;
      if (pad) this.sock.write(Buffer.alloc(pad));
    }
    this.sock.uncork();
  }

  private sn(bhs: Buffer, advanceStat: boolean): void {
    bhs.writeUInt32BE(this.statSN >>> 0, 24);
    if (advanceStat) this.statSN = (this.statSN + 1) >>> 0;
    bhs.writeUInt32BE(this.expCmdSN >>> 0, 28);
    bhs.writeUInt32BE((this.expCmdSN + 64) >>> 0, 32);
  }

  private onPdu(bhs: Buffer, data: Buffer): void {
    const op = bhs[0] & 0x3f;
    const immediate = (bhs[0] & 0x40) !== 0;
    if (op !== 0x05 && op !== 0x03) {
      const cmdSN = bhs.readUInt32BE(24);
      if (!immediate && cmdSN === this.expCmdSN) this.expCmdSN = (this.expCmdSN + 1) >>> 0;
    }
    switch (op) {
      case 0x03:
        return this.login(bhs, data);
      case 0x00:
        return this.nop(bhs);
      case 0x01:
        return this.command(bhs, data);
      case 0x05:
        return this.dataOut(bhs, data);
      case 0x02:
        return this.tmf(bhs);
      case 0x04:
        return this.text(bhs);
      case 0x06:
        return this.logout(bhs);
      default:
        return this.reject(bhs, 0x05);
    }
  }

  private reject(hdr: Buffer, reason: number): void {
    const r = Buffer.alloc(48);
    r[0] = 0x3f;
    r[1] = 0x80;
    r[2] = reason;
    r.writeUInt32BE(0xffffffff, 16);
    this.sn(r, true);
    this.send(r, hdr);
  }

  private login(bhs: Buffer, data: Buffer): void {
    const keys = parseKeys(data);
    const csg = (bhs[1] >> 2) & 3;
    const nsg = bhs[1] & 3;
    const transit = (bhs[1] & 0x80) !== 0;
    this.isid = bhs.subarray(8, 14).toString('hex');
    this.expCmdSN = bhs.readUInt32BE(24);
    const out: Array<[string, string]> = [];
    for (const [k, v] of keys) {
      switch (k) {
        case 'InitiatorName':
          this.initiatorName = v;
          break;
        case 'SessionType':
        case 'TargetName':
        case 'InitiatorAlias':
          break;
        case 'AuthMethod':
          out.push([k, 'None']);
          break;
        case 'HeaderDigest':
        case 'DataDigest':
          out.push([k, 'None']);
          break;
        case 'MaxRecvDataSegmentLength':
          this.maxSend = Number(v);
          break;
        case 'MaxBurstLength':
          this.maxBurst = Math.min(Number(v), 262144);
          out.push([k, String(this.maxBurst)]);
          break;
        case 'FirstBurstLength':
          out.push([k, String(Math.min(Number(v), 65536))]);
          break;
        case 'InitialR2T':
          out.push([k, 'Yes']);
          break;
        case 'ImmediateData':
          out.push([k, v === 'Yes' ? 'Yes' : 'No']);
          break;
        case 'MaxOutstandingR2T':
        case 'MaxConnections':
          out.push([k, '1']);
          break;
        case 'ErrorRecoveryLevel':
          out.push([k, '0']);
          break;
        case 'DataPDUInOrder':
        case 'DataSequenceInOrder':
          out.push([k, 'Yes']);
          break;
        case 'DefaultTime2Wait':
        case 'DefaultTime2Retain':
          out.push([k, v]);
          break;
        default:
          out.push([k, 'NotUnderstood']);
      }
    }
    if (csg === 0) out.push(['TargetPortalGroupTag', String(this.port.tpgt)]);
    if (csg === 1 || (transit && nsg === 3)) out.push(['MaxRecvDataSegmentLength', String(MAX_RECV)]);
    const r = Buffer.alloc(48);
    r[0] = 0x23;
    r[1] = (transit ? 0x80 : 0) | (csg << 2) | (transit ? nsg : 0);
    bhs.copy(r, 8, 8, 14);
    r.writeUInt16BE(transit && nsg === 3 ? 1 : 0, 14);
    bhs.copy(r, 16, 16, 20);
    this.sn(r, true);
    this.send(r, keysData(out));
    if (transit && nsg === 3) {
      this.fullFeature = true;
      const initiatorPortName = `${this.initiatorName},i,0x${this.isid}`;
      this.nexus = {
        id: `${initiatorPortName}|${this.port.relativePortId}`,
        initiatorName: this.initiatorName,
        isid: this.isid,
        initiatorPortName,
        targetPort: this.port,
      };
      this.target.nexusAdded(this.nexus);
    }
  }

  private nop(bhs: Buffer): void {
    const itt = bhs.readUInt32BE(16);
    if (itt === 0xffffffff) return;
    const r = Buffer.alloc(48);
    r[0] = 0x20;
    r[1] = 0x80;
    bhs.copy(r, 8, 8, 16);
    r.writeUInt32BE(itt, 16);
    r.writeUInt32BE(0xffffffff, 20);
    this.sn(r, true);
    this.send(r);
  }

  private text(bhs: Buffer): void {
    const r = Buffer.alloc(48);
    r[0] = 0x24;
    r[1] = 0x80;
    r.writeUInt32BE(bhs.readUInt32BE(16), 16);
    r.writeUInt32BE(0xffffffff, 20);
    this.sn(r, true);
    this.send(r, keysData([['TargetName', this.iqn]]));
  }

  private logout(bhs: Buffer): void {
    const r = Buffer.alloc(48);
    r[0] = 0x26;
    r[1] = 0x80;
    r.writeUInt32BE(bhs.readUInt32BE(16), 16);
    this.sn(r, true);
    this.send(r);
    this.sock.end();
  }

  private tmf(bhs: Buffer): void {
    const fn = bhs[1] & 0x7f;
    const lun = decodeLun(bhs.subarray(8, 16));
    let response = 0;
    if (!this.nexus) response = 0xff;
    else if (fn === 5) {
      if (this.target.hasLun(lun)) {
        for (const t of this.tasks.values()) if (t.lun === lun) t.aborted = true;
        this.target.lunReset(lun, this.nexus);
      } else response = 1;
    } else if (fn === 6 || fn === 7) {
      for (const t of this.tasks.values()) t.aborted = true;
      this.target.targetReset(this.nexus);
    } else if (fn === 1) {
      // ABORT TASK (RFC 7143 §11.5.1): an outstanding task gets no response, "function complete".
      // A task already answered gets "task does not exist" (RFC 7143 §11.6.1 would also allow
      // "function complete" for a RefCmdSN inside the window; libiscsi's
      // iSCSITMF.AbortTaskSimpleAsync expects this answer when the write already completed).
      const t = this.tasks.get(bhs.readUInt32BE(20));
      if (t) t.aborted = true;
      else response = 1;
    } else if (fn === 2 || fn === 3) {
      for (const t of this.tasks.values()) if (t.lun === lun) t.aborted = true;
    }
    const r = Buffer.alloc(48);
    r[0] = 0x22;
    r[1] = 0x80;
    r[2] = response;
    r.writeUInt32BE(bhs.readUInt32BE(16), 16);
    this.sn(r, true);
    this.send(r);
  }

  private command(bhs: Buffer, data: Buffer): void {
    if (!this.fullFeature) return this.reject(bhs, 0x0b);
    const lunField = Buffer.from(bhs.subarray(8, 16));
    const lun = decodeLun(lunField);
    const cdb = Buffer.from(bhs.subarray(32, 48));
    const shape = this.target.shape(lun, cdb);
    const t: Task = {
      itt: bhs.readUInt32BE(16),
      lun,
      lunField,
      cdb,
      edtl: bhs.readUInt32BE(20),
      read: (bhs[1] & 0x40) !== 0,
      write: (bhs[1] & 0x20) !== 0,
      attr: bhs[1] & 0x07,
      need: 0,
      received: 0,
      transferLength: shape.transferLength,
      direction: shape.direction,
      r2tOffset: 0,
      r2tsn: 0,
      ttt: 0,
    };
    if (t.write) {
      const wanted = shape.direction === 2 && shape.transferLength !== undefined ? shape.transferLength : 0;
      t.need = Math.min(t.edtl, wanted);
      t.buffer = Buffer.alloc(t.need);
      data.copy(t.buffer, 0, 0, Math.min(data.length, t.need));
      t.received = data.length;
      t.r2tOffset = data.length;
    }
    this.tasks.set(t.itt, t);
    if (t.write && t.r2tOffset < t.need) this.solicit(t);
    else void this.execute(t);
  }

  private solicit(t: Task): void {
    const len = Math.min(this.maxBurst, t.need - t.r2tOffset);
    t.ttt = this.nextTtt++;
    const r = Buffer.alloc(48);
    r[0] = 0x31;
    r[1] = 0x80;
    t.lunField.copy(r, 8);
    r.writeUInt32BE(t.itt, 16);
    r.writeUInt32BE(t.ttt, 20);
    this.sn(r, false);
    r.writeUInt32BE(t.r2tsn++, 36);
    r.writeUInt32BE(t.r2tOffset, 40);
    r.writeUInt32BE(len, 44);
    t.r2tOffset += len;
    this.send(r);
  }

  private dataOut(bhs: Buffer, data: Buffer): void {
    const t = this.tasks.get(bhs.readUInt32BE(16));
    if (!t || !t.buffer) return;
    const off = bhs.readUInt32BE(40);
    if (off < t.buffer.length) data.copy(t.buffer, off, 0, Math.min(data.length, t.buffer.length - off));
    t.received = Math.max(t.received, off + data.length);
    if ((bhs[1] & 0x80) === 0) return;
    if (t.r2tOffset < t.need) this.solicit(t);
    else if (t.received >= t.need || t.r2tOffset >= t.need) void this.execute(t);
  }

  private async execute(t: Task): Promise<void> {
    const nexus = this.nexus as ItNexus;
    let res: ScsiResponse;
    try {
      res = await this.target.execute({
        lun: t.lun,
        cdb: t.cdb,
        nexus,
        taskAttr: t.attr,
        dataOut: t.buffer ? t.buffer.subarray(0, Math.min(t.received, t.buffer.length)) : t.write ? Buffer.alloc(0) : undefined,
        expectedDataInLength: t.read ? t.edtl : 0,
        // As the real transport (src/target/session.ts): the write EDTL, whatever the CDB asks for.
        expectedDataOutLength: t.write ? t.edtl : 0,
      });
    } catch (e) {
      console.error('mini-target: execute threw', e);
      res = { status: 2, sense: Buffer.from([0x70, 0, 0x04, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x44, 0, 0, 0, 0, 0]) };
    }
    this.tasks.delete(t.itt);
    if (!t.aborted) this.respond(t, res);
  }

  private respond(t: Task, res: ScsiResponse): void {
    let over = false;
    let under = false;
    let count = 0;
    const residual = (edtl: number, spdtl: number) => {
      if (spdtl > edtl) {
        over = true;
        count = spdtl - edtl;
      } else if (spdtl < edtl) {
        under = true;
        count = edtl - spdtl;
      }
    };
    let dataIn = res.dataIn;
    if (dataIn && dataIn.length > 0 && t.read) {
      residual(t.edtl, dataIn.length);
      if (dataIn.length > t.edtl) dataIn = dataIn.subarray(0, t.edtl);
    } else if (t.write || t.direction === 2) {
      residual(t.write ? t.edtl : 0, t.direction === 2 ? (t.transferLength ?? 0) : 0);
      dataIn = undefined;
    } else {
      residual(t.read ? t.edtl : 0, 0);
      dataIn = undefined;
    }
    const flags = (over ? 0x04 : 0) | (under ? 0x02 : 0);
    const collapse = !!dataIn && dataIn.length > 0 && res.status === 0 && !res.sense;
    let dataSN = 0;
    if (dataIn && dataIn.length > 0) {
      for (let off = 0; off < dataIn.length; ) {
        const len = Math.min(this.maxSend, dataIn.length - off);
        const last = off + len >= dataIn.length;
        const r = Buffer.alloc(48);
        r[0] = 0x25;
        r[1] = last ? 0x80 : 0;
        if (last && collapse) {
          r[1] |= 0x01 | flags;
          r[3] = res.status;
        }
        t.lunField.copy(r, 8);
        r.writeUInt32BE(t.itt, 16);
        r.writeUInt32BE(0xffffffff, 20);
        this.sn(r, last && collapse);
        r.writeUInt32BE(dataSN++, 36);
        r.writeUInt32BE(off, 40);
        if (last && collapse) r.writeUInt32BE(count, 44);
        this.send(r, dataIn.subarray(off, off + len));
        off += len;
      }
      if (collapse) return;
    }
    const r = Buffer.alloc(48);
    r[0] = 0x21;
    r[1] = 0x80 | flags;
    r[3] = res.status;
    r.writeUInt32BE(t.itt, 16);
    this.sn(r, true);
    r.writeUInt32BE(dataSN, 36);
    r.writeUInt32BE(count, 44);
    let data: Buffer | undefined;
    if (res.sense) {
      data = Buffer.alloc(2 + res.sense.length);
      data.writeUInt16BE(res.sense.length, 0);
      res.sense.copy(data, 2);
    }
    this.send(r, data);
  }
}

export interface MiniTarget {
  ports: number[];
  close(): Promise<void>;
}

/** Listen on 127.0.0.1, one listener per target port. */
export async function startMiniTarget(target: ScsiTarget, iqn: string, ports: TargetPortInfo[]): Promise<MiniTarget> {
  const servers: net.Server[] = [];
  const sockets = new Set<net.Socket>();
  const bound: number[] = [];
  for (const p of ports) {
    const srv = net.createServer((s) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      new Conn(s, target, p, iqn);
    });
    await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
    servers.push(srv);
    bound.push((srv.address() as net.AddressInfo).port);
  }
  return {
    ports: bound,
    close: async () => {
      for (const s of sockets) s.destroy();
      await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
    },
  };
}
