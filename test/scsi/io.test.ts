import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/lun/memory-store.js';
import { ScsiTargetDevice } from '../../src/scsi/scsi-target-device.js';
import { IQN, SpyStore, be32, cdb, harness, lunDef, nexus, padCdb, senseOf } from './helpers.js';

function pattern(len: number, seed: number): Buffer {
  const b = Buffer.alloc(len);
  for (let i = 0; i < len; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

describe.each([512, 4096])('READ / WRITE with %i-byte blocks (SBC-3 §5.10-§5.13, §5.32-§5.35)', (bs) => {
  it('round trips through every CDB size', async () => {
    const h = await harness({ blockSize: bs });
    const cases: Array<[number[], number[], number, number]> = [
      [cdb.write6(1, 2), cdb.read6(1, 2), 1, 2],
      [cdb.write10(10, 3), cdb.read10(10, 3), 10, 3],
      [cdb.write12(20, 4), cdb.read12(20, 4), 20, 4],
      [cdb.write16(30, 5), cdb.read16(30, 5), 30, 5],
    ];
    for (const [w, r, lba, n] of cases) {
      const data = pattern(n * bs, lba);
      expect((await h.run(w, { data })).status).toBe(0);
      const got = await h.run(r);
      expect(got.status).toBe(0);
      expect(data.equals(got.dataIn as Buffer)).toBe(true);
      const raw = Buffer.alloc(n * bs);
      await h.store.read(raw, lba * bs);
      expect(raw.equals(data)).toBe(true);
    }
  });

  it('READ(6)/WRITE(6) TRANSFER LENGTH 0 means 256 blocks', async () => {
    const h = await harness({ blockSize: bs, size: 512 * bs });
    const data = pattern(256 * bs, 9);
    expect((await h.run(cdb.write6(0, 0), { data })).status).toBe(0);
    const r = await h.run(cdb.read6(0, 0));
    expect(r.dataIn?.length).toBe(256 * bs);
    expect(data.equals(r.dataIn as Buffer)).toBe(true);
  });

  it('zero-length transfers are GOOD without data, yet the LBA is still checked', async () => {
    const h = await harness({ blockSize: bs });
    const blocks = (1024 * 1024) / bs;
    expect(await h.run(cdb.read10(0, 0))).toEqual({ status: 0 });
    expect(await h.run(cdb.write10(blocks, 0), { data: Buffer.alloc(0) })).toEqual({ status: 0 });
    expect(senseOf(await h.run(cdb.read10(blocks + 1, 0)))).toMatchObject({ key: 5, asc: 0x21 });
    expect(senseOf(await h.run(cdb.write16(2n ** 64n - 1n, 0)))).toMatchObject({ key: 5, asc: 0x21 });
  });

  it('LBA OUT OF RANGE at and beyond the end, with the LBA in INFORMATION', async () => {
    const h = await harness({ blockSize: bs });
    const blocks = (1024 * 1024) / bs;
    expect((await h.run(cdb.read10(blocks - 1, 1))).status).toBe(0);
    expect(senseOf(await h.run(cdb.read10(blocks - 1, 2)))).toMatchObject({ key: 5, asc: 0x21, ascq: 0, information: blocks - 1 });
    expect(senseOf(await h.run(cdb.read16(2n ** 63n, 1)))).toMatchObject({ asc: 0x21 });
    expect(senseOf(await h.run(cdb.read16(2n ** 64n - 1n, 1)))).toMatchObject({ asc: 0x21 });
    expect(senseOf(await h.run(cdb.write10(0xffffffff, 1), { data: Buffer.alloc(bs) }))).toMatchObject({ asc: 0x21 });
    expect(senseOf(await h.run(cdb.read6(0x1fffff, 1)))).toMatchObject({ asc: 0x21 });
  });
});

describe('READ / WRITE field checks', () => {
  it('transfer length above MAXIMUM TRANSFER LENGTH is INVALID FIELD IN CDB at the length field', async () => {
    const h = await harness({ size: 64 * 1024 * 1024 });
    expect((await h.run(cdb.read10(0, 16384))).dataIn?.length).toBe(16384 * 512);
    expect(senseOf(await h.run(cdb.read10(0, 16385)))).toMatchObject({ key: 5, asc: 0x24, fieldPointer: 7, bit: 7 });
    expect(senseOf(await h.run(cdb.read16(0, 16385)))).toMatchObject({ asc: 0x24, fieldPointer: 10 });
    expect(senseOf(await h.run(cdb.write12(0, 16385), { data: Buffer.alloc(0) }))).toMatchObject({ asc: 0x24, fieldPointer: 6 });
  });

  it('RDPROTECT / WRPROTECT other than 0 are refused (no protection information)', async () => {
    const h = await harness();
    for (let p = 1; p < 8; p++) {
      expect(senseOf(await h.run(cdb.read10(0, 1, p << 5)))).toMatchObject({ asc: 0x24, fieldPointer: 1, bit: 7 });
      expect(senseOf(await h.run(cdb.write16(0, 1, p << 5), { data: Buffer.alloc(512) }))).toMatchObject({ asc: 0x24, fieldPointer: 1 });
    }
  });

  it('DPO and FUA are accepted on reads and writes', async () => {
    const h = await harness();
    expect((await h.run(cdb.read10(0, 1, 0x18))).status).toBe(0);
    expect((await h.run(cdb.write12(0, 1, 0x18), { data: Buffer.alloc(512) })).status).toBe(0);
    expect(h.store.stats.fuaWrites).toBe(1);
  });

  it('Data-Out shorter than the CDB: whole blocks are written, a partial block is refused', async () => {
    const h = await harness();
    await h.run(cdb.write10(0, 2), { data: Buffer.alloc(1024, 0x61) });
    expect((await h.run(cdb.write10(0, 2), { data: Buffer.alloc(512, 0x62) })).status).toBe(0);
    const r = (await h.run(cdb.read10(0, 2))).dataIn as Buffer;
    expect(r.subarray(0, 512).every((x) => x === 0x62)).toBe(true);
    expect(r.subarray(512).every((x) => x === 0x61)).toBe(true);
    expect(senseOf(await h.run(cdb.write10(0, 1), { data: Buffer.alloc(200, 0x63) }))).toMatchObject({ key: 5, asc: 0x0e, ascq: 0x03 });
    expect(((await h.run(cdb.read10(0, 1))).dataIn as Buffer)[0]).toBe(0x62);
    // More Data-Out than needed: only the first blocks count.
    expect((await h.run(cdb.write10(0, 1), { data: Buffer.alloc(10000, 0x64) })).status).toBe(0);
    expect(((await h.run(cdb.read10(1, 1))).dataIn as Buffer)[0]).toBe(0x61);
  });
});

describe('VERIFY and WRITE AND VERIFY (SBC-3 §5.29-§5.31, §5.36-§5.38)', () => {
  it('BYTCHK 00b verifies without data; 01b compares; a difference is MISCOMPARE with its offset', async () => {
    const h = await harness();
    const data = pattern(4 * 512, 3);
    await h.run(cdb.write10(8, 4), { data });
    expect(await h.run(cdb.verify10(8, 4, 0))).toEqual({ status: 0 });
    expect((await h.run(cdb.verify16(8, 4, 0x02), { data })).status).toBe(0);
    const bad = Buffer.from(data);
    bad[1500] ^= 0x58;
    const s = senseOf(await h.run(cdb.verify10(8, 4, 0x02), { data: bad }));
    expect(s).toMatchObject({ key: 0x0e, asc: 0x1d, ascq: 0x00, information: 1500 });
  });

  it('BYTCHK 11b compares one block with every block; 10b is reserved', async () => {
    const h = await harness();
    const block = pattern(512, 5);
    await h.run(cdb.ws10(0, 6), { data: block });
    expect((await h.run(cdb.verify10(0, 6, 0x06), { data: block })).status).toBe(0);
    await h.run(cdb.write10(3, 1), { data: Buffer.alloc(512, 1) });
    expect(senseOf(await h.run(cdb.verify10(0, 6, 0x06), { data: block }))).toMatchObject({ key: 0x0e, asc: 0x1d });
    expect(senseOf(await h.run(cdb.verify10(0, 6, 0x04), { data: block }))).toMatchObject({ key: 5, asc: 0x24, fieldPointer: 1, bit: 2 });
  });

  it('VERIFY checks range, protection and (only with data) the transfer limit', async () => {
    const h = await harness({ size: 64 * 1024 * 1024 });
    expect(senseOf(await h.run(cdb.verify10(131071, 2, 0)))).toMatchObject({ asc: 0x21 });
    expect(senseOf(await h.run(cdb.verify10(0, 1, 0x20)))).toMatchObject({ asc: 0x24, fieldPointer: 1 });
    expect((await h.run(cdb.verify10(0, 20000, 0))).status).toBe(0);
    expect(senseOf(await h.run(cdb.verify10(0, 20000, 0x02), { data: Buffer.alloc(0) }))).toMatchObject({ asc: 0x24, fieldPointer: 7 });
  });

  it('WRITE AND VERIFY writes the data', async () => {
    const h = await harness();
    const data = pattern(1024, 11);
    expect((await h.run(cdb.writeVerify10(4, 2, 0x02), { data })).status).toBe(0);
    expect((await h.run(cdb.writeVerify10(6, 2, 0x00), { data })).status).toBe(0);
    expect((await h.run(cdb.read10(4, 4))).dataIn).toEqual(Buffer.concat([data, data]));
    expect(senseOf(await h.run(cdb.writeVerify10(0, 1, 0x06), { data }))).toMatchObject({ asc: 0x24, fieldPointer: 1 });
  });
});

describe('WRITE SAME (SBC-3 §5.42, §5.43)', () => {
  it('writes the block to every LBA of the range', async () => {
    const h = await harness();
    const block = pattern(512, 7);
    expect((await h.run(cdb.ws16(100, 1900), { data: block })).status).toBe(0);
    const r = (await h.run(cdb.read10(99, 1902))).dataIn as Buffer;
    expect(r.subarray(0, 512).every((x) => x === 0)).toBe(true);
    let same = 0;
    for (let i = 1; i <= 1900; i++) if (r.subarray(i * 512, (i + 1) * 512).equals(block)) same++;
    expect(same).toBe(1900);
    expect(r.subarray(1901 * 512).every((x) => x === 0)).toBe(true);
  });

  it('a zero block takes the writeZeroes path and stays mapped; UNMAP deallocates', async () => {
    const h = await harness();
    await h.run(cdb.write10(0, 256), { data: Buffer.alloc(256 * 512, 0xff) });
    expect((await h.run(cdb.ws10(0, 128), { data: Buffer.alloc(512) })).status).toBe(0);
    expect(h.store.stats.writeZeroes).toBe(1);
    expect(await h.store.allocation(0, 65536)).toEqual([{ offset: 0, length: 65536, mapped: true }]);
    expect((await h.run(cdb.ws16(0, 128, 0x08), { data: Buffer.alloc(512, 0xaa) })).status).toBe(0);
    expect(await h.store.allocation(0, 65536)).toEqual([{ offset: 0, length: 65536, mapped: false }]);
    const r = (await h.run(cdb.read10(0, 256))).dataIn as Buffer;
    expect(r.subarray(0, 128 * 512).every((x) => x === 0)).toBe(true);
    expect(r.subarray(128 * 512).every((x) => x === 0xff)).toBe(true);
  });

  it('NDOB (WRITE SAME(16)) needs no Data-Out', async () => {
    const h = await harness();
    await h.run(cdb.write10(5, 1), { data: Buffer.alloc(512, 1) });
    expect((await h.run(cdb.ws16(5, 1, 0x01))).status).toBe(0);
    expect(((await h.run(cdb.read10(5, 1))).dataIn as Buffer).every((x) => x === 0)).toBe(true);
  });

  it('NUMBER OF LOGICAL BLOCKS 0 writes to the end; limits and range', async () => {
    const h = await harness(); // 2048 blocks
    const block = pattern(512, 1);
    expect((await h.run(cdb.ws10(2040, 0), { data: block })).status).toBe(0);
    expect(((await h.run(cdb.read10(2047, 1))).dataIn as Buffer)).toEqual(block);
    expect((await h.run(cdb.ws10(2048, 0), { data: block })).status).toBe(0);
    expect(senseOf(await h.run(cdb.ws10(2049, 0), { data: block }))).toMatchObject({ asc: 0x21 });
    expect(senseOf(await h.run(cdb.ws10(2047, 2), { data: block }))).toMatchObject({ asc: 0x21 });
    const big = await harness({ size: 64 * 1024 * 1024 });
    expect(senseOf(await big.run(cdb.ws16(0, 0x10000), { data: block }))).toMatchObject({ asc: 0x24, fieldPointer: 10 });
    expect(senseOf(await big.run(cdb.ws10(0, 0), { data: block }))).toMatchObject({ asc: 0x24, fieldPointer: 7 });
    expect((await big.run(cdb.ws16(0, 0xffff, 0x08), { data: Buffer.alloc(512) })).status).toBe(0);
  });

  it('ANCHOR, WRPROTECT and a short Data-Out are refused', async () => {
    const h = await harness();
    expect(senseOf(await h.run(cdb.ws10(0, 1, 0x18), { data: Buffer.alloc(512) }))).toMatchObject({ asc: 0x24, fieldPointer: 1, bit: 4 });
    expect(senseOf(await h.run(cdb.ws10(0, 1, 0x10), { data: Buffer.alloc(512) }))).toMatchObject({ asc: 0x24, fieldPointer: 1, bit: 4 });
    expect(senseOf(await h.run(cdb.ws16(0, 1, 0x40), { data: Buffer.alloc(512) }))).toMatchObject({ asc: 0x24, fieldPointer: 1, bit: 7 });
    expect(senseOf(await h.run(cdb.ws10(0, 1), { data: Buffer.alloc(100) }))).toMatchObject({ key: 5, asc: 0x0e, ascq: 0x03 });
  });

  it('the announced Data-Out must be exactly one block (none with NDOB); nothing is written otherwise', async () => {
    const h = await harness();
    await h.run(cdb.write10(0, 16), { data: Buffer.alloc(16 * 512, 0x11) });
    const block = Buffer.alloc(512, 0xa6);
    const writesBefore = h.store.stats.writes + h.store.stats.discards + h.store.stats.writeZeroes;
    const cases: Array<[number[], Buffer | undefined, number]> = [
      // iSCSI EDTL half a block (the transport delivers what it got) / two blocks (it delivers one).
      [cdb.ws10(0, 1, 0x08), block.subarray(0, 256), 256],
      [cdb.ws10(0, 1, 0x08), block, 1024],
      [cdb.ws16(0, 8), block, 1024],
      [cdb.ws16(0, 8), block, 0],
      // NDOB = 1 with a Data-Out announced.
      [cdb.ws16(0, 8, 0x01), block, 512],
    ];
    for (const [c, data, edol] of cases) {
      expect(senseOf(await h.run(c, { data, edol }))).toMatchObject({ key: 5, asc: 0x0e, ascq: 0x03 });
    }
    // In-process callers (no EDTL): the buffer given is what was announced.
    expect(senseOf(await h.run(cdb.ws10(0, 1), { data: Buffer.alloc(1024, 0xa6) }))).toMatchObject({ key: 5, asc: 0x0e, ascq: 0x03 });
    expect(h.store.stats.writes + h.store.stats.discards + h.store.stats.writeZeroes).toBe(writesBefore);
    expect(((await h.run(cdb.read10(0, 16))).dataIn as Buffer).every((x) => x === 0x11)).toBe(true);
    // Exactly one block, and NDOB with nothing announced, are fine.
    expect((await h.run(cdb.ws10(0, 2), { data: block, edol: 512 })).status).toBe(0);
    expect((await h.run(cdb.ws16(2, 2, 0x01), { edol: 0 })).status).toBe(0);
    const r = (await h.run(cdb.read10(0, 4))).dataIn as Buffer;
    expect(r.subarray(0, 1024).every((x) => x === 0xa6)).toBe(true);
    expect(r.subarray(1024).every((x) => x === 0)).toBe(true);
  });

  it('UNMAP of a range that is not whole physical blocks succeeds and reads back zeros (512e)', async () => {
    const h = await harness({ device: { physicalBlockBytes: 4096 } });
    await h.run(cdb.write10(0, 16), { data: Buffer.alloc(16 * 512, 0x5a) });
    const block = Buffer.alloc(512, 0xa6);
    // libiscsi WriteSame*.UnmapUnaligned: LBA i, LBPPB - i blocks, for i = 1..7.
    for (let i = 1; i < 8; i++) {
      expect((await h.run(cdb.ws10(i, 8 - i, 0x08), { data: block, edol: 512 })).status).toBe(0);
      expect((await h.run(cdb.ws16(8 + i, 8 - i, 0x08), { data: block, edol: 512 })).status).toBe(0);
    }
    const r = (await h.run(cdb.read10(0, 17))).dataIn as Buffer;
    expect(r.subarray(0, 512).every((x) => x === 0x5a)).toBe(true); // LBA 0 untouched
    expect(r.subarray(512, 8 * 512).every((x) => x === 0)).toBe(true);
    expect(r.subarray(8 * 512, 9 * 512).every((x) => x === 0x5a)).toBe(true); // LBA 8 untouched
    expect(r.subarray(9 * 512, 16 * 512).every((x) => x === 0)).toBe(true);
    expect(r.subarray(16 * 512).every((x) => x === 0)).toBe(true); // never written
  });
});

function unmapList(descs: Array<[number, number]>): Buffer {
  const b = Buffer.alloc(8 + 16 * descs.length);
  b.writeUInt16BE(6 + 16 * descs.length, 0);
  b.writeUInt16BE(16 * descs.length, 2);
  descs.forEach(([lba, n], i) => {
    b.writeBigUInt64BE(BigInt(lba), 8 + 16 * i);
    b.writeUInt32BE(n, 16 + 16 * i);
  });
  return b;
}

describe('UNMAP (SBC-3 §5.28)', () => {
  it('deallocates every descriptor; reads return zeros', async () => {
    const h = await harness();
    await h.run(cdb.write10(0, 512), { data: Buffer.alloc(512 * 512, 0x33) });
    const list = unmapList([[0, 128], [256, 130]]);
    expect((await h.run(cdb.unmap(list.length), { data: list })).status).toBe(0);
    const r = (await h.run(cdb.read10(0, 512))).dataIn as Buffer;
    expect(r.subarray(0, 128 * 512).every((x) => x === 0)).toBe(true);
    expect(r.subarray(128 * 512, 256 * 512).every((x) => x === 0x33)).toBe(true);
    expect(r.subarray(256 * 512, 386 * 512).every((x) => x === 0)).toBe(true);
    expect(r.subarray(386 * 512).every((x) => x === 0x33)).toBe(true);
    expect(h.store.stats.discards).toBe(2);
  });

  it('validates the parameter list before changing anything', async () => {
    const h = await harness(); // 2048 blocks
    await h.run(cdb.write10(0, 8), { data: Buffer.alloc(8 * 512, 0x44) });
    expect((await h.run(cdb.unmap(0))).status).toBe(0);
    expect(senseOf(await h.run(cdb.unmap(6), { data: Buffer.alloc(6) }))).toMatchObject({ key: 5, asc: 0x1a });
    const oob = unmapList([[0, 8], [2040, 9]]);
    expect(senseOf(await h.run(cdb.unmap(oob.length), { data: oob }))).toMatchObject({ key: 5, asc: 0x21, information: 2040 });
    expect(((await h.run(cdb.read10(0, 1))).dataIn as Buffer)[0]).toBe(0x44);
    expect(senseOf(await h.run(cdb.unmap(24, 0x01), { data: unmapList([[0, 1]]) }))).toMatchObject({ asc: 0x24, fieldPointer: 1, bit: 0 });
    // An LBA count above MAXIMUM UNMAP LBA COUNT.
    const big = await harness({ size: 2 * 1024 * 1024 * 1024 });
    const tooMany = unmapList([[0, 1048576], [2000000, 1]]);
    expect(senseOf(await big.run(cdb.unmap(tooMany.length), { data: tooMany }))).toMatchObject({ asc: 0x26, cd: false, fieldPointer: 32 });
    // More descriptors than MAXIMUM UNMAP BLOCK DESCRIPTOR COUNT.
    const many = unmapList(new Array(2049).fill(0).map((_, i) => [i, 0] as [number, number]));
    expect(senseOf(await h.run(cdb.unmap(many.length), { data: many }))).toMatchObject({ asc: 0x26, fieldPointer: 2 });
  });

  it('zero-length descriptors and LBA = capacity with 0 blocks are GOOD; partial descriptors are ignored', async () => {
    const h = await harness();
    const list = unmapList([[2048, 0], [5, 0]]);
    expect((await h.run(cdb.unmap(list.length), { data: list })).status).toBe(0);
    const partial = Buffer.concat([unmapList([[0, 8]]), Buffer.alloc(10)]);
    partial.writeUInt16BE(26, 2);
    expect((await h.run(cdb.unmap(partial.length), { data: partial })).status).toBe(0);
  });
});

describe('GET LBA STATUS (SBC-3 §5.14)', () => {
  function descriptors(d: Buffer): Array<[number, number, number]> {
    const out: Array<[number, number, number]> = [];
    for (let o = 8; o + 16 <= d.length; o += 16) out.push([Number(d.readBigUInt64BE(o)), d.readUInt32BE(o + 8), d[o + 12]]);
    return out;
  }

  it('reports mapped and deallocated extents starting at the requested LBA', async () => {
    const h = await harness(); // 64 KiB chunks = 128 blocks
    await h.run(cdb.write10(128, 1), { data: Buffer.alloc(512, 1) });
    await h.run(cdb.write10(512, 1), { data: Buffer.alloc(512, 1) });
    const r = await h.run(cdb.getLbaStatus(10, 1024));
    const d = r.dataIn as Buffer;
    expect(d.readUInt32BE(0)).toBe(4 + 16 * 5);
    expect(descriptors(d)).toEqual([
      [10, 118, 1],
      [128, 128, 0],
      [256, 256, 1],
      [512, 128, 0],
      [640, 2048 - 640, 1],
    ]);
  });

  it('the allocation length limits the descriptors; the LBA must exist', async () => {
    const h = await harness();
    await h.run(cdb.write10(128, 1), { data: Buffer.alloc(512, 1) });
    const d = (await h.run(cdb.getLbaStatus(0, 24))).dataIn as Buffer;
    expect(d.length).toBe(24);
    expect(descriptors(d)).toEqual([[0, 128, 1]]);
    expect(descriptors((await h.run(cdb.getLbaStatus(2047, 24))).dataIn as Buffer)).toEqual([[2047, 1, 1]]);
    expect(senseOf(await h.run(cdb.getLbaStatus(2048, 24)))).toMatchObject({ key: 5, asc: 0x21 });
    expect(senseOf(await h.run(cdb.getLbaStatus(2n ** 64n - 1n, 24)))).toMatchObject({ asc: 0x21 });
  });

  it('follows UNMAP and WRITE SAME with UNMAP', async () => {
    const h = await harness();
    await h.run(cdb.write10(0, 384), { data: Buffer.alloc(384 * 512, 7) });
    const list = unmapList([[128, 128]]);
    await h.run(cdb.unmap(list.length), { data: list });
    await h.run(cdb.ws10(256, 128, 0x08), { data: Buffer.alloc(512) });
    expect(descriptors((await h.run(cdb.getLbaStatus(0, 1024))).dataIn as Buffer)).toEqual([
      [0, 128, 0],
      [128, 1920, 1],
    ]);
  });
});

describe('ORWRITE(16) (SBC-3 §5.8)', () => {
  it('ORs the Data-Out into the blocks', async () => {
    const h = await harness();
    await h.run(cdb.write10(3, 2), { data: Buffer.alloc(1024, 0xa0) });
    expect((await h.run(cdb.orwrite(3, 2), { data: Buffer.alloc(1024, 0x05) })).status).toBe(0);
    expect(((await h.run(cdb.read10(3, 2))).dataIn as Buffer).every((x) => x === 0xa5)).toBe(true);
    expect(senseOf(await h.run(cdb.orwrite(2047, 2), { data: Buffer.alloc(1024) }))).toMatchObject({ asc: 0x21 });
    expect(senseOf(await h.run(cdb.orwrite(0, 1, 0x20), { data: Buffer.alloc(512) }))).toMatchObject({ asc: 0x24, fieldPointer: 1 });
  });

  it('is atomic with respect to a concurrent overlapping write', async () => {
    // A store whose reads take a while: the write issued during ORWRITE's read must not be lost.
    class SlowStore extends MemoryStore {
      override async read(buf: Buffer, offset: number): Promise<void> {
        await new Promise((r) => setTimeout(r, 20));
        return super.read(buf, offset);
      }
    }
    const store = new SlowStore(1 << 20);
    const dev = new ScsiTargetDevice({ targetIqn: IQN, luns: [lunDef(0, 1 << 20, 512, store)] });
    const nx = nexus(1);
    const run = (c: number[], data?: Buffer) => dev.execute({ lun: 0, cdb: padCdb(c), nexus: nx, taskAttr: 1, dataOut: data, expectedDataInLength: 512 });
    const or = run(cdb.orwrite(0, 1), Buffer.alloc(512, 0x01));
    await new Promise((r) => setTimeout(r, 5));
    const w = run(cdb.write10(0, 1), Buffer.alloc(512, 0x10));
    await Promise.all([or, w]);
    const b = Buffer.alloc(512);
    await store.read(b, 0);
    // The write waited for ORWRITE to finish: its data is the final content.
    expect(b.every((x) => x === 0x10)).toBe(true);
  });
});

describe('READ CAPACITY (SBC-3 §5.15, §5.16)', () => {
  it('READ CAPACITY(10) and (16) for 512 and 4096 bytes', async () => {
    const h = await harness({ size: 8 * 1024 * 1024 });
    expect([...((await h.run(cdb.readCapacity10())).dataIn as Buffer)]).toEqual([0, 0, 0x3f, 0xff, 0, 0, 2, 0]);
    const d = (await h.run(cdb.readCapacity16())).dataIn as Buffer;
    expect([...d]).toEqual([0, 0, 0, 0, 0, 0, 0x3f, 0xff, 0, 0, 2, 0, 0, 0, 0xc0, 0, ...new Array(16).fill(0)]);
    const k = await harness({ size: 8 * 1024 * 1024, blockSize: 4096 });
    expect([...((await k.run(cdb.readCapacity10())).dataIn as Buffer)]).toEqual([0, 0, 0x07, 0xff, 0, 0, 0x10, 0]);
    const k16 = (await k.run(cdb.readCapacity16())).dataIn as Buffer;
    expect([k16.readUInt32BE(8), k16[13], k16[14], k16[15]]).toEqual([4096, 0, 0xc0, 0]);
  });

  it('LOGICAL BLOCKS PER PHYSICAL BLOCK EXPONENT: 0 by default, 3 for 512-byte blocks on 4 KiB physical blocks', async () => {
    const e = await harness({ device: { physicalBlockBytes: 4096 } });
    const d = (await e.run(cdb.readCapacity16())).dataIn as Buffer;
    // Byte 13 bits 3-0: exponent 3; bytes 14-15: LBPME, LBPRZ, LOWEST ALIGNED LOGICAL BLOCK ADDRESS 0.
    expect([d.readUInt32BE(8), d[13], d[14], d[15]]).toEqual([512, 3, 0xc0, 0]);
    expect(e.dev.logicalUnit(0)?.physicalBlockBytes).toBe(4096);
    // A 4096-byte LUN with 4 KiB physical blocks: one logical block per physical block.
    const f = await harness({ blockSize: 4096, device: { physicalBlockBytes: 4096 } });
    expect(((await f.run(cdb.readCapacity16())).dataIn as Buffer)[13]).toBe(0);
    // Not a power-of-two multiple: rounded down; larger than 2^15 blocks: capped (4-bit exponent).
    expect((await harness({ device: { physicalBlockBytes: 3000 } })).dev.logicalUnit(0)?.lbppbExponent).toBe(2);
    expect((await harness({ device: { physicalBlockBytes: 2 ** 30 } })).dev.logicalUnit(0)?.lbppbExponent).toBe(15);
  });

  it('READ CAPACITY(10) reports FFFFFFFFh when the last LBA does not fit', async () => {
    const store = new MemoryStore(2 ** 33 * 512);
    const dev = new ScsiTargetDevice({ targetIqn: IQN, luns: [lunDef(0, store.sizeBytes, 512, store)] });
    const nx = nexus(1);
    const run = (c: number[]) => dev.execute({ lun: 0, cdb: padCdb(c), nexus: nx, taskAttr: 1, expectedDataInLength: 64 });
    expect([...((await run(cdb.readCapacity10())).dataIn as Buffer)]).toEqual([0xff, 0xff, 0xff, 0xff, 0, 0, 2, 0]);
    expect(((await run(cdb.readCapacity16())).dataIn as Buffer).readBigUInt64BE(0)).toBe(2n ** 33n - 1n);
  });

  it('allocation length truncates READ CAPACITY(16); PMI = 0 needs LBA 0', async () => {
    const h = await harness();
    expect((await h.run(cdb.readCapacity16(12))).dataIn?.length).toBe(12);
    expect((await h.run(cdb.readCapacity16(0))).dataIn?.length).toBe(0);
    expect(senseOf(await h.run([0x25, 0, ...be32(5), 0, 0, 0, 0]))).toMatchObject({ asc: 0x24, fieldPointer: 2 });
    expect((await h.run([0x25, 0, ...be32(5), 0, 0, 1, 0])).status).toBe(0);
  });
});

describe('PRE-FETCH, SYNCHRONIZE CACHE, START STOP UNIT, READ DEFECT DATA', () => {
  it('PRE-FETCH returns CONDITION MET within range', async () => {
    const h = await harness();
    expect(await h.run([0x34, 0x02, ...be32(0), 0x03, 0, 16, 0])).toEqual({ status: 4 });
    expect(await h.run([0x90, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 16, 0, 0])).toEqual({ status: 4 });
    expect(senseOf(await h.run([0x34, 0, ...be32(2047), 0, 0, 2, 0]))).toMatchObject({ asc: 0x21 });
  });

  it('SYNCHRONIZE CACHE flushes the store; range checked', async () => {
    const store = new SpyStore(1 << 20);
    const dev = new ScsiTargetDevice({ targetIqn: IQN, luns: [lunDef(0, 1 << 20, 512, store)] });
    const nx = nexus(1);
    const run = (c: number[]) => dev.execute({ lun: 0, cdb: padCdb(c), nexus: nx, taskAttr: 1, expectedDataInLength: 0 });
    expect(await run([0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0])).toEqual({ status: 0 });
    expect(await run([0x91, 0x02, ...new Array(12).fill(0), 0, 0])).toEqual({ status: 0 });
    expect(store.flushCount).toBe(2);
    expect(senseOf(await run([0x35, 0, ...be32(2048), 0, 0, 1, 0]))).toMatchObject({ asc: 0x21 });
    expect(store.flushCount).toBe(2);
  });

  it('START STOP UNIT: accepted; a stop without NO_FLUSH flushes; unknown power conditions refused', async () => {
    const store = new SpyStore(1 << 20);
    const dev = new ScsiTargetDevice({ targetIqn: IQN, luns: [lunDef(0, 1 << 20, 512, store)] });
    const nx = nexus(1);
    const run = (c: number[]) => dev.execute({ lun: 0, cdb: padCdb(c), nexus: nx, taskAttr: 1, expectedDataInLength: 0 });
    expect((await run([0x1b, 0, 0, 0, 0x01, 0])).status).toBe(0);
    expect(store.flushCount).toBe(0);
    expect((await run([0x1b, 0, 0, 0, 0x00, 0])).status).toBe(0);
    expect(store.flushCount).toBe(1);
    expect((await run([0x1b, 0, 0, 0, 0x04, 0])).status).toBe(0);
    expect(store.flushCount).toBe(1);
    expect((await run([0x1b, 0x01, 0, 0, 0x30, 0])).status).toBe(0);
    expect(senseOf(await run([0x1b, 0, 0, 0, 0x40, 0]))).toMatchObject({ asc: 0x24, fieldPointer: 4, bit: 7 });
    // The unit stays ready.
    expect((await run(cdb.tur())).status).toBe(0);
  });

  it('READ DEFECT DATA returns empty lists in the requested format', async () => {
    const h = await harness();
    expect([...((await h.run([0x37, 0, 0x1d, 0, 0, 0, 0, 0, 32, 0])).dataIn as Buffer)]).toEqual([0, 0x1d, 0, 0]);
    expect([...((await h.run([0xb7, 0x0b, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0])).dataIn as Buffer)]).toEqual([0, 0x0b, 0, 0, 0, 0, 0, 0]);
  });
});
