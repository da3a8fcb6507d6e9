/**
 * Test-side encoders for EXTENDED COPY (LID1) parameter lists (SPC-4 §6.4)
 * and RECEIVE COPY RESULTS CDBs (SPC-4 §6.21), written from the standard
 * independently of src/scsi/spc/extended-copy.ts, and a device with
 * several LUNs over memory stores.
 */
import { MemoryStore } from '../../../src/lun/memory-store.js';
import { ScsiTargetDevice, type ScsiTargetDeviceOptions } from '../../../src/scsi/scsi-target-device.js';
import type { ItNexus, ScsiResponse } from '../../../src/scsi/types.js';
import type { LunDefinition } from '../../../src/target/engine-api.js';
import { IQN, PORT1, be16, be32, be64, nexus, padCdb } from '../helpers.js';

/** A distinct NAA designator per (device, LUN): NAA 6h, 32 hex digits. */
export function naaOf(dev: number, lun: number): string {
  return `600140${dev.toString(16).padStart(2, '0')}${lun.toString(16).padStart(4, '0')}0123456789abcdef0123`.slice(0, 32);
}

export function lun(id: number, sizeBytes: number, blockSize = 512, dev = 0, store: MemoryStore = new MemoryStore(sizeBytes)): LunDefinition {
  return { id, store, blockSize, serial: `XC${dev}-${id}`, naa: naaOf(dev, id), online: true };
}

export interface Dev {
  dev: ScsiTargetDevice;
  nx: ItNexus;
  run(cdb: number[] | Buffer, o?: { lun?: number; data?: Buffer; nexus?: ItNexus; signal?: AbortSignal }): Promise<ScsiResponse>;
}

/** A device with the given LUNs and nexus 1 logged in, POWER ON unit attentions consumed on every LUN. */
export async function device(luns: LunDefinition[], opts: Partial<ScsiTargetDeviceOptions> = {}, iqn = IQN): Promise<Dev> {
  const dev = new ScsiTargetDevice({ targetIqn: iqn, luns, ports: [PORT1], ...opts });
  const nx = nexus(1);
  dev.nexusAdded(nx);
  const d: Dev = {
    dev,
    nx,
    run: (c, o = {}) =>
      dev.execute({
        lun: o.lun ?? 0,
        cdb: padCdb(c),
        nexus: o.nexus ?? nx,
        taskAttr: 1,
        dataOut: o.data,
        expectedDataInLength: 1 << 24,
        expectedDataOutLength: o.data?.length,
        signal: o.signal,
      }),
  };
  for (const l of luns) await d.run([0, 0, 0, 0, 0, 0], { lun: l.id });
  return d;
}

/** Identification CSCD descriptor (E4h), SPC-4 §6.4.5: 32 bytes. */
export function cscd(
  naa: string,
  blockSize: number,
  o: { deviceType?: number; luIdType?: number; codeSet?: number; association?: number; designatorType?: number; type?: number } = {},
): Buffer {
  const d = Buffer.alloc(32);
  const id = Buffer.from(naa, 'hex');
  d[0] = o.type ?? 0xe4;
  d[1] = ((o.luIdType ?? 0) << 6) | (o.deviceType ?? 0);
  // Designation descriptor (SPC-4 §7.8.6.1) in bytes 4-23.
  d[4] = o.codeSet ?? 0x01;
  d[5] = ((o.association ?? 0) << 4) | (o.designatorType ?? 0x03);
  d[7] = id.length;
  id.copy(d, 8);
  // Block device type specific parameters: PAD (byte 28 bit 2), DISK BLOCK LENGTH (29-31).
  d[29] = (blockSize >> 16) & 0xff;
  d[30] = (blockSize >> 8) & 0xff;
  d[31] = blockSize & 0xff;
  return d;
}

/** Block device to block device segment descriptor (02h), SPC-4 §6.4.6: 28 bytes. */
export function b2b(src: number, dst: number, blocks: number, srcLba: number | bigint, dstLba: number | bigint, o: { dc?: boolean; type?: number } = {}): Buffer {
  return Buffer.from([
    o.type ?? 0x02,
    o.dc ? 0x02 : 0x00,
    ...be16(0x18),
    ...be16(src),
    ...be16(dst),
    0,
    0,
    ...be16(blocks),
    ...be64(srcLba),
    ...be64(dstLba),
  ]);
}

export const USAGE = { HOLD: 0, RESERVED: 1, NO_HOLD: 2, NONE: 3 } as const;

/** Parameter list: 16-byte header, CSCD descriptors, segment descriptors, inline data. */
export function paramList(
  cscds: Buffer[],
  segs: Buffer[],
  o: { listId?: number; usage?: number; cscdLength?: number; segLength?: number; inline?: Buffer; inlineLength?: number } = {},
): Buffer {
  const c = Buffer.concat(cscds);
  const s = Buffer.concat(segs);
  const inline = o.inline ?? Buffer.alloc(0);
  const h = Buffer.alloc(16);
  h[0] = o.listId ?? 0;
  h[1] = ((o.usage ?? USAGE.NONE) & 3) << 3;
  h.writeUInt16BE(o.cscdLength ?? c.length, 2);
  h.writeUInt32BE(o.segLength ?? s.length, 8);
  h.writeUInt32BE(o.inlineLength ?? inline.length, 12);
  return Buffer.concat([h, c, s, inline]);
}

/** EXTENDED COPY(LID1) CDB: 83h / 00h, PARAMETER LIST LENGTH in bytes 10-13. */
export const xcopyCdb = (plen: number): number[] => [0x83, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, ...be32(plen), 0, 0];

/** RECEIVE COPY RESULTS CDB: 84h / service action, LIST IDENTIFIER byte 2, ALLOCATION LENGTH bytes 10-13. */
export const rcrCdb = (sa: number, listId = 0, alloc = 1024): number[] => [0x84, sa, listId, 0, 0, 0, 0, 0, 0, 0, ...be32(alloc), 0, 0];

export const SA = { COPY_STATUS: 0x00, RECEIVE_DATA: 0x01, OPERATING_PARAMETERS: 0x03, FAILED_SEGMENT_DETAILS: 0x04 } as const;

/** Send an EXTENDED COPY with `list` as its parameter list. */
export function xcopy(d: Dev, list: Buffer, o: { lun?: number; nexus?: ItNexus; plen?: number; signal?: AbortSignal } = {}): Promise<ScsiResponse> {
  return d.run(xcopyCdb(o.plen ?? list.length), { lun: o.lun, data: list, nexus: o.nexus, signal: o.signal });
}

/** Fixed-format sense: key, ASC/ASCQ as one number, COMMAND-SPECIFIC INFORMATION, sense-key specific bytes (SPC-4 §4.5.3). */
export function sense(r: ScsiResponse): { key: number; ascq: number; commandSpecific: number; sksv: boolean; cd: boolean; sd: boolean; bpv: boolean; bit: number; field: number } {
  if (r.status !== 2 || !r.sense) throw new Error(`expected CHECK CONDITION, got status ${r.status}`);
  const s = r.sense;
  if ((s[0] & 0x7f) !== 0x70) throw new Error('expected fixed-format sense data');
  return {
    key: s[2] & 0x0f,
    ascq: (s[12] << 8) | s[13],
    commandSpecific: s.readUInt32BE(8),
    sksv: (s[15] & 0x80) !== 0,
    cd: (s[15] & 0x40) !== 0,
    sd: (s[15] & 0x20) !== 0,
    bpv: (s[15] & 0x08) !== 0,
    bit: s[15] & 0x07,
    field: s.readUInt16BE(16),
  };
}

/** A recognisable pattern: block `i` of `n` filled with byte (seed + i) & 0xff, first 8 bytes = block index. */
export function pattern(n: number, bs: number, seed: number): Buffer {
  const b = Buffer.alloc(n * bs);
  for (let i = 0; i < n; i++) {
    b.fill((seed + i) & 0xff, i * bs, (i + 1) * bs);
    b.writeUInt32BE(i, i * bs);
    b.writeUInt32BE(seed, i * bs + 4);
  }
  return b;
}
