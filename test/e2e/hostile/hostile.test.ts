/**
 * Hostile input: at least 10,000 malformed or mutated PDUs over many
 * connections against the real daemon. The daemon must not crash, a well-behaved
 * session must keep working throughout, and memory must stay bounded.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type Socket } from 'node:net';
import { encodePdu } from '../../../src/target/pdu/encode.js';
import { Opcode, type InitiatorPdu } from '../../../src/target/pdu/types.js';
import { TestInitiator, cdb, lunField, textData } from '../../helpers/initiator.js';
import { startDaemon, type DaemonHandle } from '../lib/daemon.js';

const PORT = 43260;
let d: DaemonHandle;
let iqn: string;

/** Deterministic PRNG (mulberry32) so a failure can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function tcp(): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port: PORT }, () => resolve(s));
    s.on('error', reject);
  });
}

function samplePdus(target: string): InitiatorPdu[] {
  const isid = Buffer.from([0x80, 1, 2, 3, 4, 5]);
  const scsi = (c: Buffer, data = Buffer.alloc(0), edtl = data.length, write = data.length > 0): InitiatorPdu => ({
    opcode: Opcode.ScsiCommand, immediate: false, final: true, read: !write, write, attr: 1, lun: 0, lunField: lunField(0),
    initiatorTaskTag: 7, expectedDataTransferLength: edtl, cmdSN: 1, expStatSN: 1, cdb: Buffer.concat([c, Buffer.alloc(16 - c.length)]), ahs: [], data,
  });
  return [
    {
      opcode: Opcode.LoginRequest, immediate: true, transit: true, continue: false, csg: 1, nsg: 3, versionMax: 0, versionMin: 0, isid, tsih: 0,
      initiatorTaskTag: 1, cid: 0, cmdSN: 1, expStatSN: 0, ahs: [], data: textData({ InitiatorName: 'iqn.2024-01.org.hostile:x', TargetName: target, SessionType: 'Normal' }),
    },
    scsi(cdb.inquiry(255), Buffer.alloc(0), 255, false),
    scsi(cdb.read10(0, 8), Buffer.alloc(0), 4096, false),
    scsi(cdb.write10(0, 1), Buffer.alloc(512, 0x55)),
    { opcode: Opcode.DataOut, final: true, lun: 0, lunField: lunField(0), initiatorTaskTag: 7, targetTransferTag: 0xffffffff, expStatSN: 1, dataSN: 0, bufferOffset: 0, ahs: [], data: Buffer.alloc(512) },
    { opcode: Opcode.NopOut, immediate: true, lun: 0, lunField: lunField(0), initiatorTaskTag: 9, targetTransferTag: 0xffffffff, cmdSN: 1, expStatSN: 1, ahs: [], data: Buffer.from('hello') },
    { opcode: Opcode.TextRequest, immediate: true, final: true, continue: false, lun: 0, lunField: lunField(0), initiatorTaskTag: 10, targetTransferTag: 0xffffffff, cmdSN: 1, expStatSN: 1, ahs: [], data: textData({ SendTargets: 'All' }) },
    { opcode: Opcode.TaskMgmtRequest, immediate: true, function: 0x80 | 5, lun: 0, lunField: lunField(0), initiatorTaskTag: 11, referencedTaskTag: 0xffffffff, cmdSN: 1, expStatSN: 1, refCmdSN: 0, expDataSN: 0, ahs: [], data: Buffer.alloc(0) },
    { opcode: Opcode.LogoutRequest, immediate: true, reasonCode: 0x80, initiatorTaskTag: 12, cid: 0, cmdSN: 1, expStatSN: 1, ahs: [], data: Buffer.alloc(0) },
    { opcode: Opcode.Snack, type: 1, lun: 0, lunField: lunField(0), initiatorTaskTag: 13, targetTransferTag: 0xffffffff, expStatSN: 1, begRun: 0, runLength: 0, ahs: [], data: Buffer.alloc(0) },
  ];
}

/** One mutated PDU, as raw bytes. */
function mutate(rand: () => number, base: Buffer): Buffer {
  const b = Buffer.from(base);
  switch (Math.floor(rand() * 8)) {
    case 0: // flip random bytes anywhere
      for (let i = 0, n = 1 + Math.floor(rand() * 6); i < n; i++) b[Math.floor(rand() * b.length)] ^= 1 << Math.floor(rand() * 8);
      return b;
    case 1: // truncated header
      return b.subarray(0, Math.floor(rand() * 48));
    case 2: // absurd DataSegmentLength
      b.writeUIntBE(Math.floor(rand() * 0xffffff), 5, 3);
      return b;
    case 3: // unknown opcode
      b[0] = (b[0] & 0xc0) | [0x07, 0x0f, 0x11, 0x1c, 0x1e, 0x22, 0x3f][Math.floor(rand() * 7)];
      return b;
    case 4: // TotalAHSLength garbage
      b[4] = Math.floor(rand() * 256);
      return b;
    case 5: // oversize data segment that is really sent
      {
        const big = Buffer.alloc(48 + 300000);
        b.copy(big, 0, 0, 48);
        big.writeUIntBE(300000, 5, 3);
        return big;
      }
    case 6: // random opcode-specific fields
      for (let i = 1; i < 48; i++) if (rand() < 0.2) b[i] = Math.floor(rand() * 256);
      return b;
    default: // pure noise
      return Buffer.from(Array.from({ length: 48 + Math.floor(rand() * 64) }, () => Math.floor(rand() * 256)));
  }
}

function flat(pdu: InitiatorPdu, digests = { header: false, data: false }): Buffer {
  return Buffer.concat(encodePdu(pdu, digests));
}

/** A PDU encoded with CRC32C digests, then one digest corrupted (RFC 7143 §13.1). */
function wrongDigest(rand: () => number, pdu: InitiatorPdu): Buffer {
  const b = flat(pdu, { header: true, data: true });
  const hasData = pdu.data.length > 0;
  // Header digest sits right after the 48-byte BHS (no AHS here); the data digest is the last 4 bytes.
  const at = hasData && rand() < 0.7 ? b.length - 1 - Math.floor(rand() * 4) : 48 + Math.floor(rand() * 4);
  b[at] ^= 0x5a;
  return b;
}

/**
 * READ as a real initiator does it: retry after UNIT ATTENTION (sense key 6),
 * which hostile peers legitimately cause (e.g. a LOGICAL UNIT RESET, SAM-5 §5.14).
 */
async function readBack(ini: TestInitiator, lba: number, blocks: number) {
  for (let attempt = 0; ; attempt++) {
    const r = await ini.command({ cdb: cdb.read10(lba, blocks), readLength: blocks * 512 });
    const unitAttention = r.status === 2 && r.sense !== undefined && (r.sense[2] & 0x0f) === 6;
    if (!unitAttention || attempt >= 3) return r;
  }
}

beforeAll(async () => {
  d = await startDaemon();
  const created = await d.cli(['create', '-n', 'hostile', '-a', `127.0.0.1:${PORT}`]);
  expect(created.code, created.stderr).toBe(0);
  iqn = /IQN: (\S+)/.exec(created.stdout)![1];
  expect((await d.cli(['lun-add', '-t', iqn, '-l', '0', '-s', '64M'])).code).toBe(0);
  const started = await d.cli(['start', '-t', iqn]);
  expect(started.code, started.stderr + started.stdout).toBe(0);
}, 60000);

afterAll(async () => {
  await d?.stop();
});

describe('hostile input', () => {
  it('survives 10,000+ malformed PDUs while a good session keeps working', async () => {
    const good = new TestInitiator(await tcp());
    expect((await good.login({ targetName: iqn, initiatorName: 'iqn.2024-01.org.good:host' })).ok).toBe(true);
    await good.command({ cdb: cdb.testUnitReady() });
    const pattern = Buffer.alloc(4096, 0xc3);
    expect((await good.command({ cdb: cdb.write10(64, 8), dataOut: pattern })).status).toBe(0);

    const rand = prng(20261123);
    const pdus = samplePdus(iqn);
    const samples = pdus.map((p) => flat(p));
    const loginPdu = samples[0];
    const digestLogin = flat({ ...(pdus[0] as Extract<InitiatorPdu, { opcode: Opcode.LoginRequest }>), data: textData({ InitiatorName: 'iqn.2024-01.org.hostile:d', TargetName: iqn, SessionType: 'Normal', HeaderDigest: 'CRC32C', DataDigest: 'CRC32C' }) });
    let sent = 0;
    const rssStart = d.rssKiB();
    let rssMax = rssStart;
    const connections = 200;
    for (let c = 0; c < connections; c++) {
      const s = await tcp();
      s.on('error', () => {});
      s.on('data', () => {});
      // Half the connections log in first, so mutations hit full feature phase too;
      // a quarter negotiate digests and then send PDUs with wrong digests.
      if (c % 4 === 1) {
        s.write(digestLogin);
        await new Promise((r) => setTimeout(r, 2));
        for (let i = 0; i < 55; i++) {
          if (!s.destroyed) s.write(wrongDigest(rand, pdus[1 + Math.floor(rand() * (pdus.length - 1))]));
          sent++;
        }
      } else {
        if (c % 4 === 0) s.write(loginPdu);
        for (let i = 0; i < 55; i++) {
          const base = samples[Math.floor(rand() * samples.length)];
          if (!s.destroyed) s.write(mutate(rand, base));
          sent++;
        }
      }
      await new Promise((r) => setTimeout(r, 5));
      s.destroy();
      if (c % 20 === 0) {
        // The good session still answers, and its data is intact.
        const r = await readBack(good, 64, 8);
        expect(r.status, r.sense?.toString('hex')).toBe(0);
        expect(r.dataIn.equals(pattern)).toBe(true);
        rssMax = Math.max(rssMax, d.rssKiB());
      }
    }
    expect(sent).toBeGreaterThanOrEqual(10000);
    expect(d.proc.exitCode).toBeNull();
    const final = await readBack(good, 64, 8);
    expect(final.dataIn.equals(pattern)).toBe(true);
    // Memory stays bounded: no more than 200 MiB above where it started.
    expect(rssMax - rssStart).toBeLessThan(200 * 1024);
    good.close();
  }, 300000);
});
