/**
 * EXTENDED COPY (LID1) (SPC-4 §6.4) against memory stores: copies within a
 * LUN, between LUNs (also of different block sizes), overlapping ranges,
 * multi-chunk copies, and every error of the parameter list and of segment
 * processing with its sense data.
 */
import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../../src/lun/memory-store.js';
import { cdb, nexus } from '../helpers.js';
import { b2b, cscd, device, lun, naaOf, paramList, pattern, sense, USAGE, xcopy, xcopyCdb, type Dev } from './xcopy-helpers.js';

const MiB = 1024 * 1024;
const ILLEGAL_REQUEST = 0x5;
const COPY_ABORTED = 0xa;

async function write(d: Dev, lba: number, data: Buffer, l = 0): Promise<void> {
  const bs = d.dev.logicalUnit(l)!.blockSize;
  expect((await d.run(cdb.write16(lba, data.length / bs), { lun: l, data })).status).toBe(0);
}

async function read(d: Dev, lba: number, blocks: number, l = 0): Promise<Buffer> {
  const r = await d.run(cdb.read16(lba, blocks), { lun: l });
  expect(r.status).toBe(0);
  return r.dataIn as Buffer;
}

describe('EXTENDED COPY (LID1): copying', () => {
  it('copies blocks within a LUN (block to block, one Identification CSCD descriptor) and nothing else', async () => {
    const d = await device([lun(0, 4 * MiB)]);
    const src = pattern(2048, 512, 1);
    await write(d, 0, src);
    const list = paramList([cscd(naaOf(0, 0), 512)], [b2b(0, 0, 2048, 0, 8192 - 2048)], { listId: 1, usage: USAGE.NO_HOLD });
    expect(await xcopy(d, list)).toEqual({ status: 0 });
    expect((await read(d, 8192 - 2048, 2048)).equals(src)).toBe(true);
    // Untouched around the destination; the source is unchanged.
    expect(await read(d, 8192 - 2049, 1)).toEqual(Buffer.alloc(512));
    expect((await read(d, 0, 2048)).equals(src)).toBe(true);
    expect(d.dev.logicalUnit(0)!.lock.size).toBe(0);
  });

  it('copies several segments in order, a later one reading what an earlier one wrote', async () => {
    const d = await device([lun(0, MiB)]);
    await write(d, 10, pattern(4, 512, 7));
    const list = paramList([cscd(naaOf(0, 0), 512)], [b2b(0, 0, 4, 10, 100), b2b(0, 0, 4, 100, 200), b2b(0, 0, 0, 0, 300)]);
    expect((await xcopy(d, list)).status).toBe(0);
    expect(await read(d, 200, 4)).toEqual(pattern(4, 512, 7));
    // NUMBER OF BLOCKS 0 transfers nothing and is not an error.
    expect(await read(d, 300, 1)).toEqual(Buffer.alloc(512));
  });

  it('copies between two LUNs of the target, in both directions, naming each by its NAA designator', async () => {
    const d = await device([lun(0, MiB), lun(1, 2 * MiB)]);
    await write(d, 5, pattern(64, 512, 3), 0);
    await write(d, 0, pattern(8, 512, 9), 1);
    const cscds = [cscd(naaOf(0, 0), 512), cscd(naaOf(0, 1), 512)];
    // Sent to LUN 0 (copy manager), copying LUN 0 -> LUN 1 and LUN 1 -> LUN 0.
    const list = paramList(cscds, [b2b(0, 1, 64, 5, 3000), b2b(1, 0, 8, 0, 1000)]);
    expect((await xcopy(d, list)).status).toBe(0);
    expect(await read(d, 3000, 64, 1)).toEqual(pattern(64, 512, 3));
    expect(await read(d, 1000, 8, 0)).toEqual(pattern(8, 512, 9));
    // The copy manager can be a LUN that is neither source nor destination.
    const d2 = await device([lun(0, MiB), lun(1, MiB), lun(2, MiB)]);
    await write(d2, 0, pattern(2, 512, 11), 1);
    const l2 = paramList([cscd(naaOf(0, 1), 512), cscd(naaOf(0, 2), 512)], [b2b(0, 1, 2, 0, 7)]);
    expect((await xcopy(d2, l2, { lun: 0 })).status).toBe(0);
    expect(await read(d2, 7, 2, 2)).toEqual(pattern(2, 512, 11));
  });

  it('copies between LUNs of different block sizes: DC = 0 counts source blocks, DC = 1 destination blocks', async () => {
    const d = await device([lun(0, 2 * MiB, 512), lun(1, 2 * MiB, 4096)]);
    const data = pattern(16, 512, 5); // 8 KiB = two 4096-byte blocks
    await write(d, 8, data, 0);
    const cscds = [cscd(naaOf(0, 0), 512), cscd(naaOf(0, 1), 4096)];
    expect((await xcopy(d, paramList(cscds, [b2b(0, 1, 16, 8, 3)]))).status).toBe(0);
    expect(await read(d, 3, 2, 1)).toEqual(data);
    expect((await xcopy(d, paramList(cscds, [b2b(1, 0, 2, 3, 100, { dc: false })]))).status).toBe(0);
    expect(await read(d, 100, 16, 0)).toEqual(data);
    expect((await xcopy(d, paramList(cscds, [b2b(0, 1, 1, 8, 10, { dc: true })]))).status).toBe(0);
    expect(await read(d, 10, 1, 1)).toEqual(data.subarray(0, 4096));
    // 3 source blocks of 512 bytes are not whole 4096-byte blocks: COPY SEGMENT GRANULARITY VIOLATION.
    const s = sense(await xcopy(d, paramList(cscds, [b2b(0, 1, 3, 8, 20)])));
    expect(s).toMatchObject({ key: COPY_ABORTED, ascq: 0x260d, commandSpecific: 0, sksv: true, cd: false, sd: false, field: 16 + 64 + 10 });
  });

  it('copies more than one chunk (1 MiB) exactly', async () => {
    const d = await device([lun(0, 16 * MiB, 4096)]);
    const n = 1000; // 4000 KiB: four chunks, the last partial
    const data = pattern(n, 4096, 21);
    await write(d, 0, data);
    expect((await xcopy(d, paramList([cscd(naaOf(0, 0), 4096)], [b2b(0, 0, n, 0, 2500)]))).status).toBe(0);
    expect((await read(d, 2500, n)).equals(data)).toBe(true);
  });

  it('overlapping ranges on one LUN give the result of reading the whole source first (destination after or before the source)', async () => {
    const bs = 512;
    const n = 5000; // about 2.4 MiB: three chunks, so the overlap crosses chunk boundaries
    for (const [from, to] of [
      [0, 1000],
      [1000, 0],
      [0, 1],
      [1, 0],
      [100, 100],
    ]) {
      const d = await device([lun(0, 8 * MiB, bs)]);
      const data = pattern(n, bs, 33);
      await write(d, from, data);
      expect((await xcopy(d, paramList([cscd(naaOf(0, 0), bs)], [b2b(0, 0, n, from, to)]))).status).toBe(0);
      expect((await read(d, to, n)).equals(data)).toBe(true);
    }
  });

  it('makes the writes durable when the destination write cache is off (WCE = 0)', async () => {
    const store = new MemoryStore(MiB);
    const d = await device([lun(0, MiB, 512, 0, store)]);
    const lu = d.dev.logicalUnit(0)!;
    const page = Buffer.from(lu.mode.page(0x08, 0)!);
    page[2] &= ~0x04;
    lu.mode.set(0x08, page);
    const before = store.stats.fuaWrites;
    expect((await xcopy(d, paramList([cscd(naaOf(0, 0), 512)], [b2b(0, 0, 8, 0, 100)]))).status).toBe(0);
    expect(store.stats.fuaWrites).toBeGreaterThan(before);
  });

  it('ignores LU ID TYPE (SPC-4) and accepts LIST ID USAGE 00b, 10b and 11b', async () => {
    const d = await device([lun(0, MiB)]);
    for (const luIdType of [0, 1, 2, 3]) {
      expect((await xcopy(d, paramList([cscd(naaOf(0, 0), 512, { luIdType })], [b2b(0, 0, 1, 0, 1)]))).status).toBe(0);
    }
    for (const usage of [USAGE.HOLD, USAGE.NO_HOLD]) {
      expect((await xcopy(d, paramList([cscd(naaOf(0, 0), 512)], [b2b(0, 0, 1, 0, 1)], { usage, listId: 9 + usage }))).status).toBe(0);
    }
  });

  it('with PARAMETER LIST LENGTH 0 does nothing and reports GOOD', async () => {
    const d = await device([lun(0, MiB)]);
    expect(await d.run(xcopyCdb(0))).toEqual({ status: 0 });
  });

  it('is listed by REPORT SUPPORTED OPERATION CODES with its CDB usage (83h/00h)', async () => {
    const d = await device([lun(0, MiB)]);
    const r = await d.run(cdb.rsoc(0x02, 0x83, 0x00));
    expect(r.status).toBe(0);
    expect([...(r.dataIn as Buffer)]).toEqual([0, 0x03, 0, 16, 0x83, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0]);
    // Reserved CDB bytes are refused.
    const c = xcopyCdb(0);
    c[5] = 1;
    expect(sense(await d.run(c))).toMatchObject({ key: ILLEGAL_REQUEST, ascq: 0x2400, cd: true, field: 5 });
  });
});

describe('EXTENDED COPY (LID1): errors before segment processing (ILLEGAL REQUEST, nothing copied)', () => {
  const one = () => [cscd(naaOf(0, 0), 512)];
  const seg = () => [b2b(0, 0, 8, 0, 100)];

  it('PARAMETER LIST LENGTH ERROR: shorter than the header, or truncating a CSCD or segment descriptor', async () => {
    const d = await device([lun(0, MiB)]);
    const list = paramList(one(), seg());
    for (const plen of [1, 15, 16, 16 + 31, 16 + 32, 16 + 32 + 27]) {
      expect(sense(await xcopy(d, list.subarray(0, plen), { plen }))).toMatchObject({ key: ILLEGAL_REQUEST, ascq: 0x1a00 });
    }
    expect(await read(d, 100, 8)).toEqual(Buffer.alloc(8 * 512));
  });

  it('PARAMETER LIST LENGTH ERROR: descriptor lists longer than MAXIMUM DESCRIPTOR LIST LENGTH (8192)', async () => {
    const d = await device([lun(0, MiB)]);
    const cscds = Array.from({ length: 33 }, () => cscd(naaOf(0, 0), 512));
    const segs = Array.from({ length: 257 }, () => b2b(0, 0, 1, 0, 1));
    expect(sense(await xcopy(d, paramList(cscds, segs)))).toMatchObject({ key: ILLEGAL_REQUEST, ascq: 0x1a00 });
  });

  it('TOO MANY TARGET DESCRIPTORS (33 > 32) and TOO MANY SEGMENT DESCRIPTORS (257 > 256); the maxima are accepted', async () => {
    const d = await device([lun(0, MiB)]);
    const c = (n: number) => Array.from({ length: n }, () => cscd(naaOf(0, 0), 512));
    const s = (n: number) => Array.from({ length: n }, () => b2b(0, 0, 1, 0, 1));
    expect(sense(await xcopy(d, paramList(c(33), s(1))))).toMatchObject({ key: ILLEGAL_REQUEST, ascq: 0x2606 });
    expect(sense(await xcopy(d, paramList(c(1), s(257))))).toMatchObject({ key: ILLEGAL_REQUEST, ascq: 0x2608 });
    expect((await xcopy(d, paramList(c(32), s(256)))).status).toBe(0);
  });

  it('UNSUPPORTED TARGET DESCRIPTOR TYPE CODE and UNSUPPORTED SEGMENT DESCRIPTOR TYPE CODE, pointing at the type byte', async () => {
    const d = await device([lun(0, MiB)]);
    for (const type of [0xe0, 0xe5, 0xe8, 0x00]) {
      const s = sense(await xcopy(d, paramList([cscd(naaOf(0, 0), 512), cscd(naaOf(0, 0), 512, { type })], seg())));
      expect(s).toMatchObject({ key: ILLEGAL_REQUEST, ascq: 0x2607, sksv: true, cd: false, field: 48 });
    }
    // Stream to stream (03h, 20 bytes), block to stream (00h), block to block with offsets (0Ah).
    for (const type of [0x03, 0x00, 0x0a]) {
      const bad = Buffer.concat([Buffer.from([type, 0, 0, 0x10]), Buffer.alloc(16)]);
      const s = sense(await xcopy(d, paramList(one(), [b2b(0, 0, 1, 0, 1), bad])));
      expect(s).toMatchObject({ key: ILLEGAL_REQUEST, ascq: 0x2609, field: 16 + 32 + 28 });
    }
  });

  it('INVALID FIELD IN PARAMETER LIST: LIST ID USAGE 01b, LIST IDENTIFIER with 11b, wrong DESCRIPTOR LENGTH, partial descriptors, long designator', async () => {
    const d = await device([lun(0, MiB)]);
    expect(sense(await xcopy(d, paramList(one(), seg(), { usage: USAGE.RESERVED })))).toMatchObject({ ascq: 0x2600, field: 1, bit: 4 });
    expect(sense(await xcopy(d, paramList(one(), seg(), { usage: USAGE.NONE, listId: 3 })))).toMatchObject({ ascq: 0x2600, field: 0 });
    const badLen = b2b(0, 0, 1, 0, 1);
    badLen.writeUInt16BE(0x14, 2);
    expect(sense(await xcopy(d, paramList(one(), [badLen])))).toMatchObject({ ascq: 0x2600, field: 16 + 32 + 2 });
    // A CSCD list that is not whole 32-byte descriptors.
    const partial = paramList(one(), seg(), { cscdLength: 40 });
    expect(sense(await xcopy(d, Buffer.concat([partial, Buffer.alloc(8)])))).toMatchObject({ ascq: 0x2600, field: 2 });
    // A segment list ending inside a descriptor.
    expect(sense(await xcopy(d, paramList(one(), [b2b(0, 0, 1, 0, 1), Buffer.from([2, 0, 0, 0x18, 0, 0])])))).toMatchObject({ ascq: 0x2600 });
    // DESIGNATOR LENGTH beyond the 16 bytes of its field.
    const long = cscd(naaOf(0, 0), 512);
    long[7] = 17;
    expect(sense(await xcopy(d, paramList([long], seg())))).toMatchObject({ ascq: 0x2600, field: 16 + 7 });
    expect(await read(d, 100, 8)).toEqual(Buffer.alloc(8 * 512));
  });

  it('INLINE DATA LENGTH EXCEEDED: no inline data is supported', async () => {
    const d = await device([lun(0, MiB)]);
    expect(sense(await xcopy(d, paramList(one(), seg(), { inline: Buffer.alloc(4) })))).toMatchObject({ key: ILLEGAL_REQUEST, ascq: 0x260b, field: 12 });
  });

  it('a Data-Out shorter than PARAMETER LIST LENGTH is refused before anything is parsed', async () => {
    const d = await device([lun(0, MiB)]);
    const list = paramList(one(), seg());
    const r = await d.run(xcopyCdb(list.length + 10), { data: list });
    expect(sense(r)).toMatchObject({ key: ILLEGAL_REQUEST, ascq: 0x0e03 });
  });
});

describe('EXTENDED COPY (LID1): errors during segment processing (COPY ABORTED)', () => {
  it('COPY TARGET DEVICE NOT REACHABLE: a CSCD index without a descriptor, segment number and pointer set', async () => {
    const d = await device([lun(0, MiB)]);
    const s = sense(await xcopy(d, paramList([cscd(naaOf(0, 0), 512)], [b2b(0, 1, 8, 0, 100)])));
    expect(s).toMatchObject({ key: COPY_ABORTED, ascq: 0x0d02, commandSpecific: 0, sksv: true, cd: false, sd: false, field: 16 + 32 + 6 });
    const s2 = sense(await xcopy(d, paramList([cscd(naaOf(0, 0), 512)], [b2b(0, 0, 1, 0, 1), b2b(5, 0, 8, 0, 100)])));
    expect(s2).toMatchObject({ key: COPY_ABORTED, ascq: 0x0d02, commandSpecific: 1, field: 16 + 32 + 28 + 4 });
  });

  it('COPY TARGET DEVICE NOT REACHABLE: a designator naming no LUN of the daemon, an offline LUN, or not an NAA', async () => {
    const d = await device([lun(0, MiB), { ...lun(1, MiB), online: false }]);
    for (const c of [
      cscd('6001405fffffffffffffffffffffffff', 512),
      cscd(naaOf(0, 1), 512),
      cscd(naaOf(0, 0), 512, { designatorType: 0x2 }), // EUI-64 type code
      cscd(naaOf(0, 0), 512, { association: 1 }), // target port association
    ]) {
      const s = sense(await xcopy(d, paramList([cscd(naaOf(0, 0), 512), c], [b2b(0, 1, 8, 0, 100)])));
      expect(s).toMatchObject({ key: COPY_ABORTED, ascq: 0x0d02, field: 48 + 4 });
    }
  });

  it('INCORRECT COPY TARGET DEVICE TYPE (not 00h) and a DISK BLOCK LENGTH that is not the LUN block size', async () => {
    const d = await device([lun(0, MiB)]);
    expect(sense(await xcopy(d, paramList([cscd(naaOf(0, 0), 512, { deviceType: 1 })], [b2b(0, 0, 1, 0, 1)])))).toMatchObject({
      key: COPY_ABORTED,
      ascq: 0x0d03,
      field: 17,
    });
    expect(sense(await xcopy(d, paramList([cscd(naaOf(0, 0), 4096)], [b2b(0, 0, 1, 0, 1)])))).toMatchObject({
      key: COPY_ABORTED,
      ascq: 0x2600,
      field: 16 + 29,
    });
  });

  it('a range beyond the capacity of the destination or the source: COPY ABORTED pointing at that LBA field', async () => {
    const d = await device([lun(0, MiB)]); // 2048 blocks
    const c = [cscd(naaOf(0, 0), 512)];
    expect(sense(await xcopy(d, paramList(c, [b2b(0, 0, 2048, 0, 2047)])))).toMatchObject({ key: COPY_ABORTED, ascq: 0, field: 16 + 32 + 20, bpv: true, bit: 7 });
    expect(sense(await xcopy(d, paramList(c, [b2b(0, 0, 2, 2047, 0)])))).toMatchObject({ key: COPY_ABORTED, ascq: 0, field: 16 + 32 + 12 });
    expect(sense(await xcopy(d, paramList(c, [b2b(0, 0, 1, 0n, 0xffffffffffffffffn)])))).toMatchObject({ key: COPY_ABORTED, ascq: 0 });
    expect((await xcopy(d, paramList(c, [b2b(0, 0, 1, 2047, 0)]))).status).toBe(0);
  });

  it('segments before the failing one are copied; the failing one and later ones are not', async () => {
    const d = await device([lun(0, MiB)]);
    await write(d, 0, pattern(4, 512, 2));
    const list = paramList([cscd(naaOf(0, 0), 512)], [b2b(0, 0, 4, 0, 100), b2b(0, 0, 4, 0, 5000), b2b(0, 0, 4, 0, 200)]);
    expect(sense(await xcopy(d, list))).toMatchObject({ key: COPY_ABORTED, commandSpecific: 1 });
    expect(await read(d, 100, 4)).toEqual(pattern(4, 512, 2));
    expect(await read(d, 200, 4)).toEqual(Buffer.alloc(4 * 512));
  });

  it('a copy source or destination reserved by another I_T nexus (RESERVE(6)) refuses the copy', async () => {
    const d = await device([lun(0, MiB), lun(1, MiB)]);
    const other = nexus(2);
    d.dev.nexusAdded(other);
    await d.run(cdb.tur(), { lun: 0, nexus: other });
    await d.run(cdb.tur(), { lun: 1, nexus: other });
    expect((await d.run([0x16, 0, 0, 0, 0, 0], { lun: 1, nexus: other })).status).toBe(0); // RESERVE(6)
    const c = [cscd(naaOf(0, 0), 512), cscd(naaOf(0, 1), 512)];
    expect(sense(await xcopy(d, paramList(c, [b2b(0, 1, 1, 0, 0)])))).toMatchObject({ key: COPY_ABORTED, ascq: 0, field: 16 + 64 + 6 });
    expect(sense(await xcopy(d, paramList(c, [b2b(1, 0, 1, 0, 0)])))).toMatchObject({ key: COPY_ABORTED, ascq: 0, field: 16 + 64 + 4 });
    // The holder itself may copy.
    expect((await xcopy(d, paramList(c, [b2b(0, 1, 1, 0, 0)]), { nexus: other })).status).toBe(0);
    // Sent to the reserved LUN itself, EXTENDED COPY is a RESERVATION CONFLICT like a write.
    expect((await xcopy(d, paramList(c, [b2b(0, 0, 1, 0, 1)]), { lun: 1 })).status).toBe(0x18);
  });

  it('a store failure aborts the copy with UNRECOVERED READ ERROR or WRITE ERROR', async () => {
    class Failing extends MemoryStore {
      failRead = false;
      failWrite = false;
      override async read(buf: Buffer, offset: number): Promise<void> {
        if (this.failRead) throw new Error('EIO');
        return super.read(buf, offset);
      }
      override async write(buf: Buffer, offset: number, fua: boolean): Promise<void> {
        if (this.failWrite) throw new Error('EIO');
        return super.write(buf, offset, fua);
      }
    }
    const store = new Failing(MiB);
    const d = await device([lun(0, MiB, 512, 0, store)]);
    const list = paramList([cscd(naaOf(0, 0), 512)], [b2b(0, 0, 1, 0, 1)]);
    store.failRead = true;
    expect(sense(await xcopy(d, list))).toMatchObject({ key: COPY_ABORTED, ascq: 0x1100 });
    store.failRead = false;
    store.failWrite = true;
    expect(sense(await xcopy(d, list))).toMatchObject({ key: COPY_ABORTED, ascq: 0x0c00 });
  });

  it('stops between chunks when the task is aborted', async () => {
    const store = new MemoryStore(8 * MiB);
    const d = await device([lun(0, 8 * MiB, 512, 0, store)]);
    const ac = new AbortController();
    ac.abort();
    const writes = store.stats.writes;
    const r = await xcopy(d, paramList([cscd(naaOf(0, 0), 512)], [b2b(0, 0, 8192, 0, 8192)]), { signal: ac.signal });
    expect(r.status).toBe(2);
    expect(store.stats.writes).toBe(writes);
  });
});

describe('EXTENDED COPY (LID1): between targets of one daemon (copyTargets resolver)', () => {
  it('reaches a LUN of another device through the resolver, checking that device\'s reservations for the initiator', async () => {
    const b = await device([lun(0, MiB, 512, 1)], {}, 'iqn.2014-04.com.vstorage:b');
    let asked: string | undefined;
    const a = await device([lun(0, MiB, 512, 0)], {
      copyTargets: (naa, nx) => {
        asked = nx.initiatorName;
        const lu = b.dev.lunByNaa(naa);
        return lu ? { lu, conflicts: (w) => b.dev.copyAccessConflicts(lu, b.nx, w) } : undefined;
      },
    });
    await write(a, 0, pattern(16, 512, 40));
    const c = [cscd(naaOf(0, 0), 512), cscd(naaOf(1, 0), 512)];
    expect((await xcopy(a, paramList(c, [b2b(0, 1, 16, 0, 50)]))).status).toBe(0);
    expect(asked).toBe(a.nx.initiatorName);
    expect(await read(b, 50, 16)).toEqual(pattern(16, 512, 40));
    // Another initiator reserves the LUN on device b: the copy into it is refused.
    const other = nexus(3);
    b.dev.nexusAdded(other);
    await b.run(cdb.tur(), { nexus: other });
    expect((await b.run([0x16, 0, 0, 0, 0, 0], { nexus: other })).status).toBe(0);
    expect(sense(await xcopy(a, paramList(c, [b2b(0, 1, 16, 0, 50)])))).toMatchObject({ key: COPY_ABORTED, ascq: 0 });
    // Without a resolver, only the device's own LUNs are reachable.
    const alone = await device([lun(0, MiB, 512, 0)]);
    expect(sense(await xcopy(alone, paramList(c, [b2b(0, 1, 1, 0, 0)])))).toMatchObject({ key: COPY_ABORTED, ascq: 0x0d02 });
  });
});
