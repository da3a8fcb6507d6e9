/**
 * Test helpers for the SCSI layer: a device over in-memory stores, nexuses,
 * CDB builders and a sense decoder (independent of src/scsi/sense.ts).
 */
import { MemoryStore } from '../../src/lun/memory-store.js';
import { ScsiTargetDevice, type ScsiTargetDeviceOptions } from '../../src/scsi/scsi-target-device.js';
import type { ItNexus, ScsiResponse, TargetPortInfo } from '../../src/scsi/types.js';
import type { LunDefinition } from '../../src/target/engine-api.js';

export const IQN = 'iqn.2014-04.com.vstorage:test';

export const PORT1: TargetPortInfo = { relativePortId: 1, tpgt: 1, portGroupId: 1, name: `${IQN},t,0x0001` };
export const PORT2: TargetPortInfo = { relativePortId: 2, tpgt: 2, portGroupId: 2, name: `${IQN},t,0x0002` };

export function nexus(n = 1, port: TargetPortInfo = PORT1): ItNexus {
  const isid = `40000000000${n}`;
  const initiatorName = `iqn.1994-05.com.example:host${n}`;
  const initiatorPortName = `${initiatorName},i,0x${isid}`;
  return { id: `${initiatorPortName}|${port.relativePortId}`, initiatorName, isid, initiatorPortName, targetPort: port };
}

export function lunDef(id: number, sizeBytes: number, blockSize = 512, store = new MemoryStore(sizeBytes)): LunDefinition {
  return {
    id,
    store,
    blockSize,
    serial: `SER${id.toString().padStart(5, '0')}`,
    naa: `6001405${id.toString(16).padStart(2, '0')}0123456789abcdef01234567`.slice(0, 32),
    online: true,
  };
}

export interface Harness {
  dev: ScsiTargetDevice;
  store: MemoryStore;
  nx: ItNexus;
  /**
   * Run a CDB on LUN `lun` (default 0) from `nx`. `edtl`: Data-In buffer size; `edol`: the
   * announced Data-Out length (iSCSI write EDTL, ScsiRequest.expectedDataOutLength), none by default.
   */
  run(cdb: number[] | Buffer, opts?: { lun?: number; data?: Buffer; nexus?: ItNexus; edtl?: number; edol?: number }): Promise<ScsiResponse>;
}

/** A device with LUN 0 (default 1 MiB, 512-byte blocks) and one logged-in nexus whose POWER ON UA was consumed. */
export async function harness(
  opts: { size?: number; blockSize?: number; device?: Partial<ScsiTargetDeviceOptions>; keepUa?: boolean; store?: MemoryStore } = {},
): Promise<Harness> {
  const size = opts.size ?? 1024 * 1024;
  const store = opts.store ?? new MemoryStore(size);
  const dev = new ScsiTargetDevice({ targetIqn: IQN, luns: [lunDef(0, size, opts.blockSize ?? 512, store)], ports: [PORT1], ...opts.device });
  const nx = nexus(1);
  dev.nexusAdded(nx);
  const h: Harness = {
    dev,
    store,
    nx,
    run: (cdb, o = {}) =>
      dev.execute({
        lun: o.lun ?? 0,
        cdb: padCdb(cdb),
        nexus: o.nexus ?? nx,
        taskAttr: 1,
        dataOut: o.data,
        expectedDataInLength: o.edtl ?? 1 << 24,
        expectedDataOutLength: o.edol,
      }),
  };
  if (!opts.keepUa) {
    const r = await h.run([0x00, 0, 0, 0, 0, 0]);
    if (r.status !== 2) throw new Error('expected the POWER ON unit attention');
  }
  return h;
}

/** iSCSI carries at least 16 CDB bytes: pad like the transport does. */
export function padCdb(cdb: number[] | Buffer): Buffer {
  const b = Buffer.isBuffer(cdb) ? cdb : Buffer.from(cdb);
  if (b.length >= 16) return b;
  const p = Buffer.alloc(16);
  b.copy(p);
  return p;
}

export interface DecodedSense {
  format: 'fixed' | 'descriptor';
  key: number;
  asc: number;
  ascq: number;
  information?: number;
  sksv?: boolean;
  cd?: boolean;
  bpv?: boolean;
  bit?: number;
  fieldPointer?: number;
}

/** Decode sense data per SPC-4 §4.5 (test-side, independent implementation). */
export function decodeSense(s: Buffer): DecodedSense {
  const rc = s[0] & 0x7f;
  if (rc === 0x70 || rc === 0x71) {
    const d: DecodedSense = { format: 'fixed', key: s[2] & 0x0f, asc: s[12], ascq: s[13] };
    if (s[0] & 0x80) d.information = s.readUInt32BE(3);
    if (s[15] & 0x80) {
      d.sksv = true;
      d.cd = (s[15] & 0x40) !== 0;
      d.bpv = (s[15] & 0x08) !== 0;
      d.bit = s[15] & 0x07;
      d.fieldPointer = s.readUInt16BE(16);
    }
    return d;
  }
  if (rc !== 0x72 && rc !== 0x73) throw new Error(`not sense data: response code ${rc.toString(16)}`);
  const d: DecodedSense = { format: 'descriptor', key: s[1] & 0x0f, asc: s[2], ascq: s[3] };
  let o = 8;
  const end = 8 + s[7];
  while (o < end) {
    const type = s[o];
    const len = s[o + 1];
    if (type === 0x00) d.information = Number(s.readBigUInt64BE(o + 4));
    if (type === 0x02 && s[o + 4] & 0x80) {
      d.sksv = true;
      d.cd = (s[o + 4] & 0x40) !== 0;
      d.bpv = (s[o + 4] & 0x08) !== 0;
      d.bit = s[o + 4] & 0x07;
      d.fieldPointer = s.readUInt16BE(o + 5);
    }
    o += 2 + len;
  }
  return d;
}

/** Sense of a CHECK CONDITION response (throws otherwise). */
export function senseOf(r: ScsiResponse): DecodedSense {
  if (r.status !== 2 || !r.sense) throw new Error(`expected CHECK CONDITION, got status ${r.status}`);
  return decodeSense(r.sense);
}

export function be32(v: number): number[] {
  return [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
}

export function be64(v: number | bigint): number[] {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(v));
  return [...b];
}

export function be16(v: number): number[] {
  return [(v >> 8) & 0xff, v & 0xff];
}

export const cdb = {
  read6: (lba: number, n: number) => [0x08, (lba >> 16) & 0x1f, (lba >> 8) & 0xff, lba & 0xff, n & 0xff, 0],
  write6: (lba: number, n: number) => [0x0a, (lba >> 16) & 0x1f, (lba >> 8) & 0xff, lba & 0xff, n & 0xff, 0],
  read10: (lba: number, n: number, b1 = 0) => [0x28, b1, ...be32(lba), 0, ...be16(n), 0],
  write10: (lba: number, n: number, b1 = 0) => [0x2a, b1, ...be32(lba), 0, ...be16(n), 0],
  read12: (lba: number, n: number, b1 = 0) => [0xa8, b1, ...be32(lba), ...be32(n), 0, 0],
  write12: (lba: number, n: number, b1 = 0) => [0xaa, b1, ...be32(lba), ...be32(n), 0, 0],
  read16: (lba: number | bigint, n: number, b1 = 0) => [0x88, b1, ...be64(lba), ...be32(n), 0, 0],
  write16: (lba: number | bigint, n: number, b1 = 0) => [0x8a, b1, ...be64(lba), ...be32(n), 0, 0],
  verify10: (lba: number, n: number, b1 = 0) => [0x2f, b1, ...be32(lba), 0, ...be16(n), 0],
  verify16: (lba: number, n: number, b1 = 0) => [0x8f, b1, ...be64(lba), ...be32(n), 0, 0],
  writeVerify10: (lba: number, n: number, b1 = 0) => [0x2e, b1, ...be32(lba), 0, ...be16(n), 0],
  ws10: (lba: number, n: number, b1 = 0) => [0x41, b1, ...be32(lba), 0, ...be16(n), 0],
  ws16: (lba: number | bigint, n: number, b1 = 0) => [0x93, b1, ...be64(lba), ...be32(n), 0, 0],
  orwrite: (lba: number | bigint, n: number, b1 = 0) => [0x8b, b1, ...be64(lba), ...be32(n), 0, 0],
  /** WRITE ATOMIC(16) (SBC-4 §5.48): ATOMIC BOUNDARY in bytes 10-11, TRANSFER LENGTH in 12-13. */
  writeAtomic16: (lba: number | bigint, n: number, b1 = 0, boundary = 0) => [0x9c, b1, ...be64(lba), ...be16(boundary), ...be16(n), 0, 0],
  unmap: (plen: number, b1 = 0) => [0x42, b1, 0, 0, 0, 0, 0, ...be16(plen), 0],
  getLbaStatus: (lba: number | bigint, alloc: number) => [0x9e, 0x12, ...be64(lba), ...be32(alloc), 0, 0],
  readCapacity10: () => [0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0],
  readCapacity16: (alloc = 32) => [0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, ...be32(alloc), 0, 0],
  inquiry: (evpd: number, page: number, alloc: number) => [0x12, evpd, page, ...be16(alloc), 0],
  modeSense6: (page: number, opts: { pc?: number; dbd?: boolean; sub?: number; alloc?: number } = {}) => [
    0x1a,
    opts.dbd ? 0x08 : 0,
    ((opts.pc ?? 0) << 6) | page,
    opts.sub ?? 0,
    opts.alloc ?? 255,
    0,
  ],
  modeSense10: (page: number, opts: { pc?: number; dbd?: boolean; llbaa?: boolean; sub?: number; alloc?: number } = {}) => [
    0x5a,
    (opts.dbd ? 0x08 : 0) | (opts.llbaa ? 0x10 : 0),
    ((opts.pc ?? 0) << 6) | page,
    opts.sub ?? 0,
    0,
    0,
    0,
    ...be16(opts.alloc ?? 1024),
    0,
  ],
  modeSelect6: (plen: number, b1 = 0x10) => [0x15, b1, 0, 0, plen, 0],
  modeSelect10: (plen: number, b1 = 0x10) => [0x55, b1, 0, 0, 0, 0, 0, ...be16(plen), 0],
  reportLuns: (select: number, alloc: number) => [0xa0, 0, select, 0, 0, 0, ...be32(alloc), 0, 0],
  rsoc: (options: number, opcode = 0, sa = 0, alloc = 65535, rctd = false) => [0xa3, 0x0c, (rctd ? 0x80 : 0) | options, opcode, ...be16(sa), ...be32(alloc), 0, 0],
  rtpg: (format: number, alloc = 1024) => [0xa3, (format << 5) | 0x0a, 0, 0, 0, 0, ...be32(alloc), 0, 0],
  requestSense: (desc: boolean, alloc = 252) => [0x03, desc ? 1 : 0, 0, 0, alloc, 0],
  tur: () => [0, 0, 0, 0, 0, 0],
};

/** A store wrapper that records write FUA flags and flushes. */
export class SpyStore extends MemoryStore {
  readonly writes: Array<{ offset: number; length: number; fua: boolean }> = [];
  flushCount = 0;
  override async write(buf: Buffer, offset: number, fua: boolean): Promise<void> {
    this.writes.push({ offset, length: buf.length, fua });
    return super.write(buf, offset, fua);
  }
  override async flush(): Promise<void> {
    this.flushCount++;
    return super.flush();
  }
}
