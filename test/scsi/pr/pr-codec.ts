/**
 * Test-side PERSISTENT RESERVE IN/OUT codec (SPC-4 §6.15, §6.16), written
 * from the standard independently of src/: CDBs, parameter lists,
 * TransportIDs and decoders of the PR IN parameter data. Used by the unit
 * tests (test/scsi/pr) and the e2e tests (test/e2e/pr).
 */

export const SA = {
  REGISTER: 0,
  RESERVE: 1,
  RELEASE: 2,
  CLEAR: 3,
  PREEMPT: 4,
  PREEMPT_AND_ABORT: 5,
  REGISTER_AND_IGNORE: 6,
  REGISTER_AND_MOVE: 7,
} as const;

export const IN = { READ_KEYS: 0, READ_RESERVATION: 1, REPORT_CAPABILITIES: 2, READ_FULL_STATUS: 3 } as const;

export const TYPE = { WE: 1, EA: 3, WERO: 5, EARO: 6, WEAR: 7, EAAR: 8 } as const;
export const ALL_TYPES = [TYPE.WE, TYPE.EA, TYPE.WERO, TYPE.EARO, TYPE.WEAR, TYPE.EAAR] as const;
export const isAllRegistrants = (t: number) => t === TYPE.WEAR || t === TYPE.EAAR;

/** PERSISTENT RESERVE IN CDB (10 bytes). */
export function prinCdb(sa: number, alloc = 8192): Buffer {
  const b = Buffer.alloc(10);
  b[0] = 0x5e;
  b[1] = sa;
  b.writeUInt16BE(alloc, 7);
  return b;
}

/** PERSISTENT RESERVE OUT CDB (10 bytes). */
export function proutCdb(sa: number, type: number, plen: number, scope = 0): Buffer {
  const b = Buffer.alloc(10);
  b[0] = 0x5f;
  b[1] = sa;
  b[2] = (scope << 4) | type;
  b.writeUInt32BE(plen, 5);
  return b;
}

export interface BasicParams {
  rk?: bigint;
  sark?: bigint;
  specIPt?: boolean;
  allTgPt?: boolean;
  aptpl?: boolean;
  /** TransportIDs (with SPEC_I_PT). */
  tids?: Buffer[];
}

/** Basic PR OUT parameter list (§6.16.3): 24 bytes, or 28 + TransportIDs with SPEC_I_PT. */
export function basicParams(p: BasicParams = {}): Buffer {
  const tids = p.tids ?? [];
  const tidLen = tids.reduce((n, t) => n + t.length, 0);
  const b = Buffer.alloc(p.specIPt ? 28 + tidLen : 24);
  b.writeBigUInt64BE(p.rk ?? 0n, 0);
  b.writeBigUInt64BE(p.sark ?? 0n, 8);
  b[20] = (p.specIPt ? 0x08 : 0) | (p.allTgPt ? 0x04 : 0) | (p.aptpl ? 0x01 : 0);
  if (p.specIPt) {
    b.writeUInt32BE(tidLen, 24);
    let o = 28;
    for (const t of tids) {
      t.copy(b, o);
      o += t.length;
    }
  }
  return b;
}

/** REGISTER AND MOVE parameter list (§6.16.4). */
export function moveParams(p: { rk: bigint; sark: bigint; unreg?: boolean; aptpl?: boolean; rtpi: number; tid: Buffer }): Buffer {
  const b = Buffer.alloc(24 + p.tid.length);
  b.writeBigUInt64BE(p.rk, 0);
  b.writeBigUInt64BE(p.sark, 8);
  b[17] = (p.unreg ? 0x02 : 0) | (p.aptpl ? 0x01 : 0);
  b.writeUInt16BE(p.rtpi, 18);
  b.writeUInt32BE(p.tid.length, 20);
  p.tid.copy(b, 24);
  return b;
}

/** iSCSI TransportID (§7.6.4.6): format 01b for `name,i,0xISID`, 00b for a bare name. */
export function iscsiTid(text: string, opts: { pad?: boolean } = {}): Buffer {
  const port = /,i,0x/i.test(text);
  const name = Buffer.from(text, 'utf8');
  const add = opts.pad === false ? name.length + 1 : Math.max(20, Math.ceil((name.length + 1) / 4) * 4);
  const b = Buffer.alloc(4 + add);
  b[0] = (port ? 0x40 : 0x00) | 0x05;
  b.writeUInt16BE(add, 2);
  name.copy(b, 4);
  return b;
}

export interface Keys {
  generation: number;
  additionalLength: number;
  keys: bigint[];
}

export function decodeReadKeys(d: Buffer): Keys {
  const additionalLength = d.readUInt32BE(4);
  const keys: bigint[] = [];
  for (let o = 8; o + 8 <= Math.min(d.length, 8 + additionalLength); o += 8) keys.push(d.readBigUInt64BE(o));
  return { generation: d.readUInt32BE(0), additionalLength, keys };
}

export interface ReadReservation {
  generation: number;
  reserved: boolean;
  key?: bigint;
  scope?: number;
  type?: number;
}

export function decodeReadReservation(d: Buffer): ReadReservation {
  const generation = d.readUInt32BE(0);
  const len = d.readUInt32BE(4);
  if (len === 0) return { generation, reserved: false };
  return { generation, reserved: true, key: d.readBigUInt64BE(8), scope: d[21] >> 4, type: d[21] & 0x0f };
}

export interface Capabilities {
  length: number;
  crh: boolean;
  sipC: boolean;
  atpC: boolean;
  ptplC: boolean;
  tmv: boolean;
  allowCommands: number;
  ptplA: boolean;
  typeMask: number;
}

export function decodeCapabilities(d: Buffer): Capabilities {
  return {
    length: d.readUInt16BE(0),
    crh: (d[2] & 0x10) !== 0,
    sipC: (d[2] & 0x08) !== 0,
    atpC: (d[2] & 0x04) !== 0,
    ptplC: (d[2] & 0x01) !== 0,
    tmv: (d[3] & 0x80) !== 0,
    allowCommands: (d[3] >> 4) & 0x07,
    ptplA: (d[3] & 0x01) !== 0,
    typeMask: d.readUInt16BE(4),
  };
}

export interface FullStatusEntry {
  key: bigint;
  allTgPt: boolean;
  holder: boolean;
  scope: number;
  type: number;
  relativePortId: number;
  /** TransportID: format, protocol and the name string. */
  tid: { format: number; protocol: number; additionalLength: number; name: string };
}

export interface FullStatus {
  generation: number;
  additionalLength: number;
  entries: FullStatusEntry[];
}

export function decodeFullStatus(d: Buffer): FullStatus {
  const generation = d.readUInt32BE(0);
  const additionalLength = d.readUInt32BE(4);
  const entries: FullStatusEntry[] = [];
  let o = 8;
  const end = Math.min(d.length, 8 + additionalLength);
  while (o + 24 <= end) {
    const len = d.readUInt32BE(o + 20);
    const t = d.subarray(o + 24, o + 24 + len);
    const nameBytes = t.subarray(4, 4 + t.readUInt16BE(2));
    const nul = nameBytes.indexOf(0);
    entries.push({
      key: d.readBigUInt64BE(o),
      allTgPt: (d[o + 12] & 0x02) !== 0,
      holder: (d[o + 12] & 0x01) !== 0,
      scope: d[o + 13] >> 4,
      type: d[o + 13] & 0x0f,
      relativePortId: d.readUInt16BE(o + 18),
      tid: { format: t[0] >> 6, protocol: t[0] & 0x0f, additionalLength: t.readUInt16BE(2), name: nameBytes.subarray(0, nul < 0 ? nameBytes.length : nul).toString('utf8') },
    });
    o += 24 + len;
  }
  return { generation, additionalLength, entries };
}
