/**
 * COMPARE AND WRITE (SBC-3 §5.2): compare, write, sense, field checks,
 * Block Limits and REPORT SUPPORTED OPERATION CODES, and atomicity against
 * other commands and other I_T nexuses (range lock, range-lock.ts).
 */
import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/lun/memory-store.js';
import type { ItNexus, ScsiResponse } from '../../src/scsi/types.js';
import { PORT2, SpyStore, be64, cdb, harness, nexus, senseOf, type Harness } from './helpers.js';

/** COMPARE AND WRITE CDB: byte 1 flags, 2-9 LBA, 13 NUMBER OF LOGICAL BLOCKS, 14 GROUP NUMBER. */
const caw = (lba: number | bigint, n: number, b1 = 0, group = 0) => [0x89, b1, ...be64(lba), 0, 0, 0, n & 0xff, group, 0];

const BS = 512;
const fill = (n: number, v: number, bs = BS) => Buffer.alloc(n * bs, v);
/** Data-Out: verify data then write data. */
const dataOut = (verify: Buffer, write: Buffer) => Buffer.concat([verify, write]);

async function medium(h: Harness, lba: number, n: number): Promise<Buffer> {
  const r = await h.run(cdb.read16(lba, n));
  expect(r.status).toBe(0);
  return r.dataIn as Buffer;
}

function setDSense(h: Harness, on: boolean): void {
  const lu = h.dev.logicalUnit(0)!;
  const page = Buffer.from(lu.mode.page(0x0a, 0)!);
  page[2] = on ? page[2] | 0x04 : page[2] & ~0x04; // control mode page D_SENSE (SPC-4 §7.5.8)
  lu.mode.set(0x0a, page);
}

function setWce(h: Harness, on: boolean): void {
  const lu = h.dev.logicalUnit(0)!;
  const page = Buffer.from(lu.mode.page(0x08, 0)!);
  page[2] = on ? page[2] | 0x04 : page[2] & ~0x04; // caching mode page WCE (SBC-3 §6.4.5)
  lu.mode.set(0x08, page);
}

describe('COMPARE AND WRITE (SBC-3 §5.2)', () => {
  it('writes the write data when the verify data matches the medium; FUA and WCE = 0 make it durable; DPO accepted', async () => {
    const store = new SpyStore(1024 * 1024);
    const h = await harness({ store });
    await h.run(cdb.write16(10, 2), { data: fill(2, 0x41) });
    store.writes.length = 0;
    const data = dataOut(fill(2, 0x41), fill(2, 0x42));
    expect(await h.run(caw(10, 2), { data, edol: data.length })).toEqual({ status: 0 });
    expect(await medium(h, 10, 2)).toEqual(fill(2, 0x42));
    expect(store.writes).toEqual([{ offset: 10 * BS, length: 2 * BS, fua: false }]);

    expect((await h.run(caw(10, 2, 0x08), { data: dataOut(fill(2, 0x42), fill(2, 0x43)) })).status).toBe(0); // FUA
    expect((await h.run(caw(10, 2, 0x10), { data: dataOut(fill(2, 0x43), fill(2, 0x44)) })).status).toBe(0); // DPO
    expect((await h.run(caw(10, 2, 0x18), { data: dataOut(fill(2, 0x44), fill(2, 0x45)) })).status).toBe(0); // DPO + FUA
    setWce(h, false);
    expect((await h.run(caw(10, 2), { data: dataOut(fill(2, 0x45), fill(2, 0x46)) })).status).toBe(0);
    expect(store.writes.slice(1).map((w) => w.fua)).toEqual([true, false, true, true]);
    expect(await medium(h, 10, 2)).toEqual(fill(2, 0x46));
    // The neighbours are untouched.
    expect(await medium(h, 9, 1)).toEqual(fill(1, 0));
    expect(await medium(h, 12, 1)).toEqual(fill(1, 0));
    expect(h.dev.logicalUnit(0)?.lock.size).toBe(0);
  });

  it('works on 4096-byte blocks and at the last LBA', async () => {
    const h = await harness({ blockSize: 4096, size: 1024 * 1024 });
    const last = 1024 * 1024 / 4096 - 1;
    const data = dataOut(fill(1, 0, 4096), fill(1, 0x5a, 4096));
    expect((await h.run(caw(last, 1), { data, edol: data.length })).status).toBe(0);
    const r = await h.run(cdb.read16(last, 1));
    expect(r.dataIn).toEqual(fill(1, 0x5a, 4096));
  });

  it('a miscompare writes nothing: MISCOMPARE, MISCOMPARE DURING VERIFY OPERATION, INFORMATION = offset of the first differing byte (fixed sense)', async () => {
    const store = new SpyStore(1024 * 1024);
    const h = await harness({ store });
    await h.run(cdb.write16(0, 3), { data: fill(3, 0x41) });
    store.writes.length = 0;
    for (const off of [0, 1, 511, 512, 1000, 3 * BS - 27, 3 * BS - 1]) {
      const verify = fill(3, 0x41);
      verify[off] = 0x43;
      verify[3 * BS - 1] = 0x43; // a later difference too: the FIRST one is reported
      const r = await h.run(caw(0, 3), { data: dataOut(verify, fill(3, 0x42)), edol: 6 * BS });
      expect(r.status).toBe(2);
      const s = senseOf(r);
      expect(s).toMatchObject({ format: 'fixed', key: 0x0e, asc: 0x1d, ascq: 0x00, information: off });
      expect(r.sense![0] & 0x80).toBe(0x80); // VALID
    }
    expect(store.writes).toEqual([]);
    expect(await medium(h, 0, 3)).toEqual(fill(3, 0x41));
    expect(h.dev.logicalUnit(0)?.lock.size).toBe(0);
  });

  it('a miscompare in descriptor format (D_SENSE = 1) carries the offset in an information descriptor with VALID set', async () => {
    const h = await harness();
    await h.run(cdb.write16(4, 2), { data: fill(2, 0x41) });
    setDSense(h, true);
    const verify = fill(2, 0x41);
    verify[BS + 300] = 0;
    const r = await h.run(caw(4, 2), { data: dataOut(verify, fill(2, 0x42)) });
    const s = senseOf(r);
    expect(s).toMatchObject({ format: 'descriptor', key: 0x0e, asc: 0x1d, ascq: 0x00, information: BS + 300 });
    const sense = r.sense!;
    expect([sense[8], sense[9], sense[10] & 0x80]).toEqual([0x00, 0x0a, 0x80]); // type 00h, length 0Ah, VALID
    expect(await medium(h, 4, 2)).toEqual(fill(2, 0x41));
  });

  it('compares against unwritten (zero) blocks like any others', async () => {
    const h = await harness();
    expect(senseOf(await h.run(caw(7, 1), { data: dataOut(fill(1, 0x25), fill(1, 0x42)) }))).toMatchObject({ key: 0x0e, asc: 0x1d, information: 0 });
    expect(await medium(h, 7, 1)).toEqual(fill(1, 0));
    expect((await h.run(caw(7, 1), { data: dataOut(fill(1, 0), fill(1, 0x42)) })).status).toBe(0);
    expect(await medium(h, 7, 1)).toEqual(fill(1, 0x42));
  });

  it('NUMBER OF LOGICAL BLOCKS 0 is GOOD and touches nothing; the LBA is still checked', async () => {
    const store = new SpyStore(1024 * 1024);
    const h = await harness({ store });
    const reads = store.stats.reads;
    expect(await h.run(caw(0, 0))).toEqual({ status: 0 });
    expect(await h.run(caw(0, 0), { edol: 0 })).toEqual({ status: 0 });
    expect(await h.run(caw(2048, 0), { edol: 0 })).toEqual({ status: 0 });
    expect(store.writes).toEqual([]);
    expect(store.stats.reads).toBe(reads);
    expect(senseOf(await h.run(caw(2049, 0)))).toMatchObject({ key: 5, asc: 0x21 });
    expect(senseOf(await h.run(caw(2n ** 64n - 1n, 0)))).toMatchObject({ key: 5, asc: 0x21 });
  });

  it('NUMBER OF LOGICAL BLOCKS 0 with Data-Out (what 256 blocks wrap to) is INVALID FIELD IN CDB', async () => {
    const store = new SpyStore(1024 * 1024);
    const h = await harness({ store });
    const data = dataOut(fill(256, 0), fill(256, 1));
    expect(senseOf(await h.run(caw(0, 0), { data, edol: data.length }))).toMatchObject({ key: 5, asc: 0x24, cd: true, fieldPointer: 13 });
    expect(store.writes).toEqual([]);
  });

  it('more than MAXIMUM COMPARE AND WRITE LENGTH (VPD B0h byte 5) is INVALID FIELD IN CDB', async () => {
    const h = await harness();
    const vpd = (await h.run(cdb.inquiry(1, 0xb0, 64))).dataIn as Buffer;
    expect(vpd[5]).toBe(255);
    const full = dataOut(fill(255, 0), fill(255, 0x77));
    expect((await h.run(caw(0, 255), { data: full, edol: full.length })).status).toBe(0);
    expect(await medium(h, 0, 255)).toEqual(fill(255, 0x77));

    const one = await harness({ device: { limits: { maxCompareAndWriteBlocks: 1 } } });
    expect(((await one.run(cdb.inquiry(1, 0xb0, 64))).dataIn as Buffer)[5]).toBe(1);
    expect((await one.run(caw(0, 1), { data: dataOut(fill(1, 0), fill(1, 1)) })).status).toBe(0);
    const two = dataOut(fill(2, 0), fill(2, 1));
    expect(senseOf(await one.run(caw(4, 2), { data: two, edol: two.length }))).toMatchObject({ key: 5, asc: 0x24, cd: true, fieldPointer: 13, bit: 7 });
    expect(await medium(one, 4, 2)).toEqual(fill(2, 0));
  });

  it('MAXIMUM COMPARE AND WRITE LENGTH 0 withdraws the command: INVALID COMMAND OPERATION CODE', async () => {
    const h = await harness({ device: { limits: { maxCompareAndWriteBlocks: 0 } } });
    expect(senseOf(await h.run(caw(0, 1), { data: dataOut(fill(1, 0), fill(1, 1)) }))).toMatchObject({ key: 5, asc: 0x20 });
    expect(await medium(h, 0, 1)).toEqual(fill(1, 0));
  });

  it('the announced Data-Out must be exactly 2 x NUMBER OF LOGICAL BLOCKS blocks; nothing is written otherwise', async () => {
    const store = new SpyStore(1024 * 1024);
    const h = await harness({ store });
    const four = dataOut(fill(2, 0), fill(2, 0x33));
    // libiscsi CompareAndWrite.InvalidDataOutSize: 4 blocks of Data-Out with NUMBER OF LOGICAL BLOCKS 1 and 3.
    for (const n of [1, 3]) {
      const s = senseOf(await h.run(caw(0, n), { data: four, edol: four.length }));
      expect(s).toMatchObject({ key: 5, asc: 0x24, cd: true, fieldPointer: 13 });
    }
    // Announced too little (the transport then delivers what was announced).
    expect(senseOf(await h.run(caw(0, 2), { data: four.subarray(0, 3 * BS), edol: 3 * BS }))).toMatchObject({ key: 5, asc: 0x24, fieldPointer: 13 });
    // Without a transport, the buffer given is what was announced.
    expect(senseOf(await h.run(caw(0, 1), { data: four }))).toMatchObject({ key: 5, asc: 0x24, fieldPointer: 13 });
    expect(senseOf(await h.run(caw(0, 1)))).toMatchObject({ key: 5, asc: 0x24, fieldPointer: 13 });
    // Announced right, but the initiator sent less: INVALID FIELD IN COMMAND INFORMATION UNIT.
    expect(senseOf(await h.run(caw(0, 2), { data: four.subarray(0, 3 * BS), edol: four.length }))).toMatchObject({ key: 5, asc: 0x0e, ascq: 0x03 });
    expect(store.writes).toEqual([]);
    expect(await medium(h, 0, 4)).toEqual(fill(4, 0));
  });

  it('refuses WRPROTECT, reserved bits and a range beyond the capacity', async () => {
    const h = await harness();
    const d = dataOut(fill(1, 0), fill(1, 1));
    for (const prot of [0x20, 0x40, 0x80, 0xe0]) {
      expect(senseOf(await h.run(caw(0, 1, prot), { data: d }))).toMatchObject({ key: 5, asc: 0x24, fieldPointer: 1, bit: 7 });
    }
    expect(senseOf(await h.run(caw(0, 1, 0x02), { data: d }))).toMatchObject({ key: 5, asc: 0x24, fieldPointer: 1, bit: 1 }); // FUA_NV: reserved in SBC-4
    const reservedByte = caw(0, 1);
    reservedByte[11] = 1;
    expect(senseOf(await h.run(reservedByte, { data: d }))).toMatchObject({ key: 5, asc: 0x24, fieldPointer: 11 });
    expect((await h.run(caw(0, 1, 0, 0x1f), { data: dataOut(fill(1, 0), fill(1, 1)) })).status).toBe(0); // GROUP NUMBER accepted
    const two = dataOut(fill(2, 0), fill(2, 1));
    expect(senseOf(await h.run(caw(2047, 2), { data: two }))).toMatchObject({ key: 5, asc: 0x21 });
    expect(senseOf(await h.run(caw(2048, 1), { data: d }))).toMatchObject({ key: 5, asc: 0x21 });
    expect(senseOf(await h.run(caw(2n ** 64n - 1n, 1), { data: d }))).toMatchObject({ key: 5, asc: 0x21 });
    expect(await medium(h, 0, 1)).toEqual(fill(1, 1)); // only the GROUP NUMBER command wrote
  });

  it('shape(): Data-Out of twice NUMBER OF LOGICAL BLOCKS blocks', async () => {
    const h = await harness({ blockSize: 4096 });
    expect(h.dev.shape(0, Buffer.from(caw(0, 3)))).toEqual({ direction: 2, transferLength: 6 * 4096 });
    expect(h.dev.shape(0, Buffer.from(caw(0, 0)))).toEqual({ direction: 2, transferLength: 0 });
  });

  it('is listed by REPORT SUPPORTED OPERATION CODES with its CDB usage data (DPO and FUA honoured)', async () => {
    const h = await harness();
    const one = (await h.run(cdb.rsoc(1, 0x89))).dataIn as Buffer;
    expect(one[1] & 0x07).toBe(0x03); // SUPPORT: as the standard defines
    expect(one.readUInt16BE(2)).toBe(16);
    expect([...one.subarray(4, 20)]).toEqual([0x89, 0xf8, ...be64(2n ** 64n - 1n), 0, 0, 0, 0xff, 0x1f, 0]);
    const all = (await h.run(cdb.rsoc(0))).dataIn as Buffer;
    const ops: number[] = [];
    for (let o = 4; o < 4 + all.readUInt32BE(0); o += 8) ops.push(all[o]);
    expect(ops).toContain(0x89);
  });

  it('a WRITE to the blocks waits until the compare and write is done (no update between compare and write)', async () => {
    // Reads take a while, so a WRITE issued during COMPARE AND WRITE's read would land between its compare and its write.
    class SlowReads extends MemoryStore {
      override async read(buf: Buffer, offset: number): Promise<void> {
        await new Promise((r) => setTimeout(r, 20));
        return super.read(buf, offset);
      }
    }
    const store = new SlowReads(1 << 20);
    const h = await harness({ store });
    const c = h.run(caw(0, 1), { data: dataOut(fill(1, 0), fill(1, 0x01)) });
    await new Promise((r) => setTimeout(r, 5));
    const w = h.run(cdb.write10(0, 1), { data: fill(1, 0x10) });
    const [rc, rw] = await Promise.all([c, w]);
    expect([rc.status, rw.status]).toEqual([0, 0]);
    const b = Buffer.alloc(BS);
    await store.read(b, 0);
    expect(b).toEqual(fill(1, 0x10)); // the WRITE came second, after the compare and write
  });
});

/**
 * Many COMPARE AND WRITE commands from two I_T nexuses (two target ports,
 * as through two portals) on one block: each loop increments a counter with
 * read, compare-and-write, retry on miscompare. With the exclusive range
 * lease no increment is lost; without it two commands can both compare
 * equal and both write the same value.
 */
describe('COMPARE AND WRITE atomicity across I_T nexuses', () => {
  /** A store whose reads and writes yield to the event loop halfway, so concurrent commands interleave. */
  class InterleavingStore extends MemoryStore {
    override async read(buf: Buffer, offset: number): Promise<void> {
      await new Promise((r) => setImmediate(r));
      await super.read(buf, offset);
      await new Promise((r) => setImmediate(r));
    }
    override async write(buf: Buffer, offset: number, fua: boolean): Promise<void> {
      await new Promise((r) => setImmediate(r));
      await super.write(buf, offset, fua);
    }
  }

  const LBA = 5;
  const INCREMENTS = 200;

  async function counterRace(h: Harness, nexuses: ItNexus[]): Promise<{ final: number; miscompares: number; goods: number }> {
    let miscompares = 0;
    let goods = 0;
    const run = (nx: ItNexus, c: number[], data?: Buffer): Promise<ScsiResponse> => h.run(c, { nexus: nx, data, edol: data?.length });
    async function loop(nx: ItNexus): Promise<void> {
      let done = 0;
      let current = ((await run(nx, cdb.read16(LBA, 1))).dataIn as Buffer);
      while (done < INCREMENTS) {
        const next = Buffer.from(current);
        next.writeUInt32BE(current.readUInt32BE(0) + 1, 0);
        const r = await run(nx, caw(LBA, 1), dataOut(current, next));
        if (r.status === 0) {
          done++;
          goods++;
          current = next;
        } else {
          const s = senseOf(r);
          expect(s).toMatchObject({ key: 0x0e, asc: 0x1d, ascq: 0 });
          expect(s.information).toBeLessThan(4); // only the counter differs
          miscompares++;
          current = (await run(nx, cdb.read16(LBA, 1))).dataIn as Buffer;
        }
      }
    }
    await Promise.all(nexuses.map((nx) => loop(nx)));
    const final = ((await h.run(cdb.read16(LBA, 1))).dataIn as Buffer).readUInt32BE(0);
    return { final, miscompares, goods };
  }

  async function twoNexusHarness(): Promise<{ h: Harness; nexuses: ItNexus[] }> {
    const h = await harness({ store: new InterleavingStore(1024 * 1024) });
    const other = nexus(2, PORT2);
    h.dev.nexusAdded(other);
    expect((await h.run(cdb.tur(), { nexus: other })).status).toBe(2); // its POWER ON unit attention
    return { h, nexuses: [h.nx, other] };
  }

  it(`two nexuses x ${INCREMENTS} increments with retry on miscompare: the counter ends at ${2 * INCREMENTS}`, async () => {
    const { h, nexuses } = await twoNexusHarness();
    const { final, miscompares, goods } = await counterRace(h, nexuses);
    expect(goods).toBe(2 * INCREMENTS);
    expect(final).toBe(2 * INCREMENTS);
    expect(miscompares).toBeGreaterThan(0); // the loops really raced
    expect(h.dev.logicalUnit(0)?.lock.size).toBe(0);
  });

  it('the same race without the range lock loses updates (the test above can see a missing lock)', async () => {
    const { h, nexuses } = await twoNexusHarness();
    const lock = h.dev.logicalUnit(0)!.lock;
    // Grant every lease at once: COMPARE AND WRITE is then a plain read, compare and write.
    lock.acquire = (start: number, end: number, exclusive: boolean) => Promise.resolve({ start, end, exclusive });
    const { final, goods } = await counterRace(h, nexuses);
    expect(goods).toBe(2 * INCREMENTS);
    expect(final).toBeLessThan(2 * INCREMENTS);
  });
});
