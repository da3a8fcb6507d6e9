/**
 * RECEIVE COPY RESULTS (SPC-4 §6.21) COPY STATUS and OPERATING PARAMETERS,
 * the Third-party Copy VPD page (SPC-4 §7.8.17) and the 3PC bit of
 * standard INQUIRY: one set of limits, reported the same everywhere.
 */
import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../../src/lun/memory-store.js';
import { cdb, nexus } from '../helpers.js';
import { b2b, cscd, device, lun, naaOf, paramList, rcrCdb, SA, sense, USAGE, xcopy, type Dev } from './xcopy-helpers.js';

const MiB = 1024 * 1024;

/** A store whose reads wait until `open()` is called. */
class GatedStore extends MemoryStore {
  private gate: Promise<void> | undefined;
  private release: (() => void) | undefined;
  close_(): void {
    this.gate = new Promise((r) => (this.release = r));
  }
  open(): void {
    this.release?.();
    this.gate = undefined;
  }
  override async read(buf: Buffer, offset: number): Promise<void> {
    if (this.gate) await this.gate;
    return super.read(buf, offset);
  }
}

async function copyStatus(d: Dev, listId: number, o: { alloc?: number; nexus?: ReturnType<typeof nexus> } = {}) {
  const r = await d.run(rcrCdb(SA.COPY_STATUS, listId, o.alloc ?? 1024), { nexus: o.nexus });
  if (r.status !== 0) return { status: r.status, sense: sense(r) };
  const b = r.dataIn as Buffer;
  return {
    status: 0,
    length: b.length,
    availableData: b.readUInt32BE(0),
    hdd: b[4] >> 7,
    copyManagerStatus: b[4] & 0x7f,
    segmentsProcessed: b.readUInt16BE(5),
    units: b[7],
    transferCount: b.readUInt32BE(8),
  };
}

describe('RECEIVE COPY RESULTS: OPERATING PARAMETERS (03h)', () => {
  it('reports the copy manager limits, byte exact', async () => {
    const d = await device([lun(0, MiB, 512)]);
    const r = await d.run(rcrCdb(SA.OPERATING_PARAMETERS));
    expect(r.status).toBe(0);
    // prettier-ignore
    expect([...(r.dataIn as Buffer)]).toEqual([
      0, 0, 0, 42, // AVAILABLE DATA
      0x01, 0, 0, 0, // SNLID = 1
      0, 32, // MAXIMUM CSCD DESCRIPTOR COUNT
      1, 0, // MAXIMUM SEGMENT DESCRIPTOR COUNT 256
      0, 0, 0x20, 0, // MAXIMUM DESCRIPTOR LIST LENGTH 8192
      0x0f, 0xff, 0xf0, 0x00, // MAXIMUM SEGMENT LENGTH 65535 x 4096
      0, 0, 0, 0, // MAXIMUM INLINE DATA LENGTH
      0, 0, 0, 0, // HELD DATA LIMIT
      0, 0, 0, 0, // MAXIMUM STREAM DEVICE TRANSFER SIZE
      0, 0, 0, 64, // reserved, TOTAL CONCURRENT COPIES
      64, 9, 0, 0, // MAXIMUM CONCURRENT COPIES, DATA SEGMENT GRANULARITY (2^9), INLINE, HELD DATA GRANULARITY
      0, 0, 0, 2, // reserved, IMPLEMENTED DESCRIPTOR LIST LENGTH
      0x02, 0xe4, // block to block segment, Identification CSCD descriptor
    ]);
    const d4 = await device([lun(0, MiB, 4096)]);
    expect(((await d4.run(rcrCdb(SA.OPERATING_PARAMETERS))).dataIn as Buffer)[37]).toBe(12);
  });

  it('truncates to the ALLOCATION LENGTH and refuses a LIST IDENTIFIER (reserved) and unknown service actions', async () => {
    const d = await device([lun(0, MiB)]);
    expect((await d.run(rcrCdb(SA.OPERATING_PARAMETERS, 0, 10))).dataIn?.length).toBe(10);
    expect((await d.run(rcrCdb(SA.OPERATING_PARAMETERS, 0, 0))).dataIn?.length ?? 0).toBe(0);
    expect(sense(await d.run(rcrCdb(SA.OPERATING_PARAMETERS, 1)))).toMatchObject({ key: 5, ascq: 0x2400, cd: true, field: 2 });
    for (const sa of [SA.RECEIVE_DATA, SA.FAILED_SEGMENT_DETAILS, 0x05, 0x1f]) {
      expect(sense(await d.run(rcrCdb(sa, 1)))).toMatchObject({ key: 5, ascq: 0x2400, cd: true, field: 1 });
    }
  });
});

describe('RECEIVE COPY RESULTS: COPY STATUS (00h)', () => {
  it('INVALID FIELD IN CDB for a list identifier without a copy', async () => {
    const d = await device([lun(0, MiB)]);
    expect(await copyStatus(d, 1)).toMatchObject({ status: 2, sense: { key: 5, ascq: 0x2400, cd: true, field: 2 } });
  });

  it('reports a completed copy (LIST ID USAGE 00b and 10b) once, then forgets it', async () => {
    const d = await device([lun(0, MiB)]);
    for (const usage of [USAGE.HOLD, USAGE.NO_HOLD]) {
      const list = paramList([cscd(naaOf(0, 0), 512)], [b2b(0, 0, 8, 0, 100), b2b(0, 0, 2, 0, 200)], { listId: 7, usage });
      expect((await xcopy(d, list)).status).toBe(0);
      // A short allocation length returns part of it and keeps it.
      expect((await d.run(rcrCdb(SA.COPY_STATUS, 7, 5))).dataIn?.length).toBe(5);
      expect(await copyStatus(d, 7)).toEqual({
        status: 0,
        length: 12,
        availableData: 8,
        hdd: 0,
        copyManagerStatus: 0x01,
        segmentsProcessed: 2,
        units: 0,
        transferCount: 10 * 512,
      });
      expect(await copyStatus(d, 7)).toMatchObject({ status: 2, sense: { ascq: 0x2400 } });
    }
  });

  it('keeps nothing for LIST ID USAGE 11b', async () => {
    const d = await device([lun(0, MiB)]);
    expect((await xcopy(d, paramList([cscd(naaOf(0, 0), 512)], [b2b(0, 0, 1, 0, 1)], { usage: USAGE.NONE }))).status).toBe(0);
    expect((await copyStatus(d, 0)).status).toBe(2);
  });

  it('reports a failed copy as completed with errors, with the segments processed before the failure', async () => {
    const d = await device([lun(0, MiB)]);
    const list = paramList([cscd(naaOf(0, 0), 512)], [b2b(0, 0, 4, 0, 10), b2b(0, 0, 4, 0, 4000)], { listId: 3, usage: USAGE.HOLD });
    expect(sense(await xcopy(d, list))).toMatchObject({ key: 0xa, commandSpecific: 1 });
    expect(await copyStatus(d, 3)).toMatchObject({ status: 0, copyManagerStatus: 0x02, segmentsProcessed: 1, transferCount: 2048 });
  });

  it('is kept per I_T nexus and per copy manager (LUN)', async () => {
    const d = await device([lun(0, MiB), lun(1, MiB)]);
    const other = nexus(2);
    d.dev.nexusAdded(other);
    await d.run(cdb.tur(), { nexus: other });
    expect((await xcopy(d, paramList([cscd(naaOf(0, 0), 512)], [b2b(0, 0, 1, 0, 1)], { listId: 4, usage: USAGE.HOLD }))).status).toBe(0);
    expect((await copyStatus(d, 4, { nexus: other })).status).toBe(2);
    expect((await d.run(rcrCdb(SA.COPY_STATUS, 4), { lun: 1 })).status).toBe(2);
    expect((await copyStatus(d, 4)).status).toBe(0);
  });

  it('shows a running copy as in progress, refuses its list identifier again (OPERATION IN PROGRESS), and allows others', async () => {
    const store = new GatedStore(4 * MiB);
    const d = await device([lun(0, 4 * MiB, 512, 0, store)]);
    const c = [cscd(naaOf(0, 0), 512)];
    store.close_();
    const running = xcopy(d, paramList(c, [b2b(0, 0, 16, 0, 100)], { listId: 5, usage: USAGE.HOLD }));
    await new Promise((r) => setTimeout(r, 10));
    expect(await copyStatus(d, 5)).toMatchObject({ status: 0, copyManagerStatus: 0x00, segmentsProcessed: 0, transferCount: 0 });
    // Read again while running: still there.
    expect(await copyStatus(d, 5)).toMatchObject({ status: 0, copyManagerStatus: 0x00 });
    expect(sense(await xcopy(d, paramList(c, [b2b(0, 0, 1, 0, 1)], { listId: 5, usage: USAGE.NO_HOLD })))).toMatchObject({ key: 5, ascq: 0x0016 });
    // Another nexus may use the same list identifier.
    const other = nexus(2);
    d.dev.nexusAdded(other);
    await d.run(cdb.tur(), { nexus: other });
    const second = xcopy(d, paramList(c, [b2b(0, 0, 1, 0, 1)], { listId: 5, usage: USAGE.HOLD }), { nexus: other });
    store.open();
    expect((await running).status).toBe(0);
    expect((await second).status).toBe(0);
    expect(await copyStatus(d, 5)).toMatchObject({ copyManagerStatus: 0x01, segmentsProcessed: 1, transferCount: 16 * 512 });
  });
});

/** Third-party copy descriptors of VPD 8Fh by type. */
function descriptors(page: Buffer): Map<number, Buffer> {
  expect(page[1]).toBe(0x8f);
  const end = 4 + page.readUInt16BE(2);
  expect(end).toBe(page.length);
  const m = new Map<number, Buffer>();
  for (let o = 4; o < end; ) {
    const len = page.readUInt16BE(o + 2);
    expect(len % 4).toBe(0);
    m.set(page.readUInt16BE(o), page.subarray(o, o + 4 + len));
    o += 4 + len;
  }
  return m;
}

describe('Third-party Copy VPD page (8Fh) and standard INQUIRY 3PC', () => {
  it('sets 3PC in standard INQUIRY and lists page 8Fh', async () => {
    const d = await device([lun(0, MiB)]);
    expect(((await d.run(cdb.inquiry(0, 0, 96))).dataIn as Buffer)[5] & 0x08).toBe(0x08);
    expect([...((await d.run(cdb.inquiry(1, 0, 255))).dataIn as Buffer).subarray(4)]).toContain(0x8f);
  });

  it('describes the supported commands, limits and descriptors like OPERATING PARAMETERS', async () => {
    const d = await device([lun(0, MiB, 4096)]);
    const r = await d.run(cdb.inquiry(1, 0x8f, 1024));
    expect(r.status).toBe(0);
    const m = descriptors(r.dataIn as Buffer);
    expect([...m.keys()]).toEqual([0x0001, 0x0004, 0x0008, 0x8001]);
    // Supported Commands: 83h [00h], 84h [00h, 03h].
    const sc = m.get(0x0001)!;
    expect([...sc.subarray(4, 4 + 1 + sc[4])]).toEqual([7, 0x83, 1, 0x00, 0x84, 2, 0x00, 0x03]);
    // Parameter Data.
    const pd = m.get(0x0004)!;
    expect(pd.readUInt16BE(2)).toBe(0x1c);
    expect([pd.readUInt16BE(8), pd.readUInt16BE(10), pd.readUInt32BE(12), pd.readUInt32BE(16)]).toEqual([32, 256, 8192, 0]);
    // Supported Descriptors.
    const sd = m.get(0x0008)!;
    expect([...sd.subarray(4, 4 + 1 + sd[4])]).toEqual([2, 0x02, 0xe4]);
    // General Copy Operations.
    const g = m.get(0x8001)!;
    expect(g.readUInt16BE(2)).toBe(0x20);
    expect([g.readUInt32BE(4), g.readUInt32BE(8), g.readUInt32BE(12), g[16], g[17]]).toEqual([64, 64, 0xffff * 4096, 12, 0]);
    // The same numbers as OPERATING PARAMETERS.
    const op = (await d.run(rcrCdb(SA.OPERATING_PARAMETERS))).dataIn as Buffer;
    expect([op.readUInt16BE(8), op.readUInt16BE(10), op.readUInt32BE(12), op.readUInt32BE(16), op.readUInt32BE(20), op.readUInt16BE(34), op[37]]).toEqual([
      32,
      256,
      8192,
      0xffff * 4096,
      0,
      64,
      12,
    ]);
  });

  it('RECEIVE COPY RESULTS service actions are in REPORT SUPPORTED OPERATION CODES', async () => {
    const d = await device([lun(0, MiB)]);
    const r = await d.run(cdb.rsoc(0x02, 0x84, 0x03));
    expect([...(r.dataIn as Buffer)]).toEqual([0, 0x03, 0, 16, 0x84, 0x03, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0]);
    const s = await d.run(cdb.rsoc(0x02, 0x84, 0x00));
    expect([...(s.dataIn as Buffer)]).toEqual([0, 0x03, 0, 16, 0x84, 0x00, 0xff, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0]);
  });
});
