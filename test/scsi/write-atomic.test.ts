/**
 * WRITE ATOMIC(16) (SBC-4 §5.48, §4.29) and the Block Limits atomic fields
 * (SBC-4 §6.6.4) as the command sees them.
 */
import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/lun/memory-store.js';
import { SpyStore, cdb, harness, senseOf } from './helpers.js';

const block = (n: number, v: number, bs = 512) => Buffer.alloc(n * bs, v);

/**
 * A store whose writes and reads can be held half done: a write copies the
 * first half of its buffer, then waits for `gate` before the second half, so
 * a store without the range lock would expose a torn write.
 */
class TearableStore extends MemoryStore {
  gate: Promise<void> | undefined;
  entered: (() => void) | undefined;
  holdReads = false;
  override async write(buf: Buffer, offset: number, fua: boolean): Promise<void> {
    if (!this.gate) return super.write(buf, offset, fua);
    const half = Math.floor(buf.length / 1024) * 512;
    await super.write(buf.subarray(0, half), offset, fua);
    this.entered?.();
    await this.gate;
    await super.write(buf.subarray(half), offset + half, fua);
  }
  override async read(buf: Buffer, offset: number): Promise<void> {
    if (this.holdReads && this.gate) {
      this.entered?.();
      await this.gate;
    }
    return super.read(buf, offset);
  }
  /** Hold the next writes (or reads) until the returned release is called; `started` resolves when one is held. */
  hold(): { started: Promise<void>; release: () => void } {
    let release!: () => void;
    this.gate = new Promise<void>((r) => (release = r));
    const started = new Promise<void>((r) => (this.entered = r));
    return {
      started,
      release: () => {
        this.gate = undefined;
        release();
      },
    };
  }
}

describe('WRITE ATOMIC(16) (SBC-4 §5.48)', () => {
  it('writes the whole range with one store write, FUA as for WRITE', async () => {
    const store = new SpyStore(1024 * 1024);
    const h = await harness({ store });
    const data = Buffer.alloc(16 * 512);
    for (let i = 0; i < data.length; i++) data[i] = i % 251;
    expect(await h.run(cdb.writeAtomic16(8, 16), { data, edol: data.length })).toEqual({ status: 0 });
    expect(store.writes).toEqual([{ offset: 8 * 512, length: 16 * 512, fua: false }]);
    expect((await h.run(cdb.read16(8, 16))).dataIn).toEqual(data);
    expect((await h.run(cdb.writeAtomic16(0, 8, 0x08), { data: block(8, 1) })).status).toBe(0);
    expect((await h.run(cdb.writeAtomic16(0, 8, 0x10), { data: block(8, 2) })).status).toBe(0); // DPO accepted
    expect(store.writes.slice(1).map((w) => w.fua)).toEqual([true, false]);
    expect(h.dev.logicalUnit(0)?.lock.size).toBe(0);
  });

  it('TRANSFER LENGTH 0 is GOOD and writes nothing; the LBA is still checked', async () => {
    const store = new SpyStore(1024 * 1024);
    const h = await harness({ store });
    expect(await h.run(cdb.writeAtomic16(0, 0))).toEqual({ status: 0 });
    expect(await h.run(cdb.writeAtomic16(2048, 0))).toEqual({ status: 0 });
    expect(store.writes).toEqual([]);
    expect(senseOf(await h.run(cdb.writeAtomic16(2048 + 8, 0)))).toMatchObject({ key: 5, asc: 0x21 });
    expect(senseOf(await h.run(cdb.writeAtomic16(2n ** 63n, 0)))).toMatchObject({ key: 5, asc: 0x21 });
    expect(senseOf(await h.run(cdb.writeAtomic16(2n ** 64n - 8n, 0)))).toMatchObject({ key: 5, asc: 0x21 });
  });

  it('ATOMIC ALIGNMENT and ATOMIC TRANSFER LENGTH GRANULARITY: one 4 KiB unit', async () => {
    const h = await harness();
    expect(senseOf(await h.run(cdb.writeAtomic16(1, 8), { data: block(8, 1) }))).toMatchObject({ key: 5, asc: 0x24, fieldPointer: 2 });
    expect(senseOf(await h.run(cdb.writeAtomic16(0, 1), { data: block(1, 1) }))).toMatchObject({ key: 5, asc: 0x24, fieldPointer: 12 });
    expect(senseOf(await h.run(cdb.writeAtomic16(0, 12), { data: block(12, 1) }))).toMatchObject({ key: 5, asc: 0x24, fieldPointer: 12 });
    expect((await h.run(cdb.writeAtomic16(2040, 8), { data: block(8, 1) })).status).toBe(0);
    // 4096-byte blocks: every block is a unit.
    const k = await harness({ blockSize: 4096 });
    expect((await k.run(cdb.writeAtomic16(3, 1), { data: block(1, 7, 4096) })).status).toBe(0);
    expect((await k.run(cdb.read16(3, 1))).dataIn).toEqual(block(1, 7, 4096));
  });

  it('MAXIMUM ATOMIC TRANSFER LENGTH: 256 blocks; longer is INVALID FIELD IN CDB, after the LBA range check', async () => {
    const h = await harness({ size: 4 * 1024 * 1024 }); // 8192 blocks
    expect((await h.run(cdb.writeAtomic16(0, 256), { data: block(256, 3) })).status).toBe(0);
    expect(senseOf(await h.run(cdb.writeAtomic16(0, 264), { data: block(264, 3) }))).toMatchObject({ key: 5, asc: 0x24, fieldPointer: 12, bit: 7 });
    // libiscsi WriteAtomic16.BeyondEol: 2i blocks at capacity - i is LBA OUT OF RANGE, even above the maximum.
    expect(senseOf(await h.run(cdb.writeAtomic16(8192 - 256, 512), { data: block(512, 3) }))).toMatchObject({ key: 5, asc: 0x21 });
    const big = await harness({ device: { limits: { maxAtomicTransferBlocks: 1024 } }, size: 4 * 1024 * 1024 });
    expect((await big.run(cdb.writeAtomic16(0, 1024), { data: block(1024, 3) })).status).toBe(0);
  });

  it('WRPROTECT, a non-zero ATOMIC BOUNDARY and reserved bits are refused', async () => {
    const h = await harness();
    for (let wp = 1; wp < 8; wp++) {
      expect(senseOf(await h.run(cdb.writeAtomic16(0, 8, wp << 5), { data: block(8, 1) }))).toMatchObject({ key: 5, asc: 0x24, fieldPointer: 1, bit: 7 });
    }
    expect(senseOf(await h.run(cdb.writeAtomic16(0, 8, 0, 8), { data: block(8, 1) }))).toMatchObject({ key: 5, asc: 0x24, fieldPointer: 10, bit: 7 });
    expect(senseOf(await h.run(cdb.writeAtomic16(0, 8, 0x04), { data: block(8, 1) }))).toMatchObject({ key: 5, asc: 0x24, fieldPointer: 1, bit: 2 });
  });

  it('a short Data-Out is refused and nothing is written', async () => {
    const store = new SpyStore(1024 * 1024);
    const h = await harness({ store });
    expect(senseOf(await h.run(cdb.writeAtomic16(0, 16), { data: block(8, 9) }))).toMatchObject({ key: 5, asc: 0x0e, ascq: 0x03 });
    expect(senseOf(await h.run(cdb.writeAtomic16(0, 16)))).toMatchObject({ key: 5, asc: 0x0e, ascq: 0x03 });
    expect(store.writes).toEqual([]);
  });

  it('is INVALID COMMAND OPERATION CODE when withdrawn (MAXIMUM ATOMIC TRANSFER LENGTH 0)', async () => {
    const h = await harness({ device: { limits: { maxAtomicTransferBlocks: 0 } } });
    expect(senseOf(await h.run(cdb.writeAtomic16(0, 8), { data: block(8, 1) }))).toMatchObject({ key: 5, asc: 0x20 });
  });

  it('transfer length for the transport: TRANSFER LENGTH x block size', async () => {
    const h = await harness();
    expect(h.dev.shape(0, Buffer.from(cdb.writeAtomic16(0, 24)))).toEqual({ direction: 2, transferLength: 24 * 512 });
  });

  it('a READ overlapping an atomic write returns all old or all new data, never a mix', async () => {
    const store = new TearableStore(1024 * 1024);
    const h = await harness({ store });
    await h.run(cdb.write16(0, 16), { data: block(16, 0x01) });
    const held = store.hold();
    const atomic = h.run(cdb.writeAtomic16(0, 16), { data: block(16, 0x02) });
    await held.started; // the first half of the atomic write is in the store
    const read = h.run(cdb.read16(4, 8));
    await new Promise((r) => setTimeout(r, 10));
    held.release();
    expect((await atomic).status).toBe(0);
    const d = (await read).dataIn as Buffer;
    expect(d.every((x) => x === 0x02)).toBe(true);
  });

  it('an overlapping WRITE waits for the atomic write (and the atomic write for an in-flight WRITE)', async () => {
    const store = new TearableStore(1024 * 1024);
    const h = await harness({ store });
    let held = store.hold();
    const atomic = h.run(cdb.writeAtomic16(0, 16), { data: block(16, 0x02) });
    await held.started;
    const plain = h.run(cdb.write16(8, 8), { data: block(8, 0x03) });
    await new Promise((r) => setTimeout(r, 10));
    held.release();
    expect((await atomic).status).toBe(0);
    expect((await plain).status).toBe(0);
    let d = (await h.run(cdb.read16(0, 16))).dataIn as Buffer;
    expect(d.subarray(0, 4096).every((x) => x === 0x02)).toBe(true);
    expect(d.subarray(4096).every((x) => x === 0x03)).toBe(true); // the WRITE came second
    // The other way round: a WRITE in the store holds the atomic write back.
    held = store.hold();
    const first = h.run(cdb.write16(0, 16), { data: block(16, 0x04) });
    await held.started;
    const second = h.run(cdb.writeAtomic16(0, 16), { data: block(16, 0x05) });
    await new Promise((r) => setTimeout(r, 10));
    held.release();
    await Promise.all([first, second]);
    d = (await h.run(cdb.read16(0, 16))).dataIn as Buffer;
    expect(d.every((x) => x === 0x05)).toBe(true);
  });

  it('an atomic write waits for an in-flight READ of its blocks', async () => {
    const store = new TearableStore(1024 * 1024);
    const h = await harness({ store });
    await h.run(cdb.write16(0, 16), { data: block(16, 0x01) });
    store.holdReads = true;
    const held = store.hold();
    const read = h.run(cdb.read16(0, 16));
    await held.started; // the READ holds its lease inside the store
    store.holdReads = false;
    const atomic = h.run(cdb.writeAtomic16(0, 16), { data: block(16, 0x02) });
    await new Promise((r) => setTimeout(r, 10));
    held.release();
    expect(((await read).dataIn as Buffer).every((x) => x === 0x01)).toBe(true);
    expect((await atomic).status).toBe(0);
    expect(((await h.run(cdb.read16(0, 16))).dataIn as Buffer).every((x) => x === 0x02)).toBe(true);
  });

  it('REPORT SUPPORTED OPERATION CODES: 16-byte CDB with DPO/FUA, ATOMIC BOUNDARY and TRANSFER LENGTH', async () => {
    const h = await harness();
    const d = (await h.run(cdb.rsoc(1, 0x9c))).dataIn as Buffer;
    expect([...d]).toEqual([0, 0x03, 0, 16, 0x9c, 0xf8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, 0x00]);
  });
});
