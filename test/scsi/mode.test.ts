import { describe, expect, it } from 'vitest';
import { ScsiTargetDevice } from '../../src/scsi/scsi-target-device.js';
import { IQN, PORT1, SpyStore, cdb, harness, lunDef, nexus, padCdb, senseOf } from './helpers.js';

const ALL = 0x3f;

const RW_RECOVERY = [0x01, 0x0a, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
const CACHING_WCE = [0x08, 0x12, 0x04, ...new Array(17).fill(0)];
// TST 001b (task set per I_T nexus) | GLTSD; QUEUE ALGORITHM MODIFIER 1h; BUSY TIMEOUT FFFFh.
const CONTROL = [0x0a, 0x0a, 0x22, 0x10, 0, 0, 0, 0, 0xff, 0xff, 0, 0];
const IEC = [0x1c, 0x0a, 0x08, 0, 0, 0, 0, 0, 0, 0, 0, 0];

describe('MODE SENSE (SPC-4 §6.13, §6.14)', () => {
  it('MODE SENSE(6) all pages with a short block descriptor is byte exact', async () => {
    const h = await harness(); // 1 MiB of 512-byte blocks = 2048 blocks
    const r = await h.run(cdb.modeSense6(ALL));
    expect(r.status).toBe(0);
    expect([...(r.dataIn as Buffer)]).toEqual([
      67, 0x00, 0x10, 8, // MODE DATA LENGTH, MEDIUM TYPE, DPOFUA, BLOCK DESCRIPTOR LENGTH
      0, 0, 0x08, 0x00, 0, 0, 0x02, 0x00, // 2048 blocks of 512 bytes
      ...RW_RECOVERY,
      ...CACHING_WCE,
      ...CONTROL,
      ...IEC,
    ]);
  });

  it('MODE SENSE(10) with LLBAA returns a long LBA block descriptor', async () => {
    const h = await harness({ blockSize: 4096 });
    const r = await h.run(cdb.modeSense10(0x08, { llbaa: true }));
    const d = r.dataIn as Buffer;
    expect([...d.subarray(0, 8)]).toEqual([0, 6 + 16 + 20, 0, 0x10, 0x01, 0, 0, 16]);
    expect(d.readBigUInt64BE(8)).toBe(256n);
    expect(d.readUInt32BE(20)).toBe(4096);
    expect([...d.subarray(24)]).toEqual(CACHING_WCE);
  });

  it('DBD omits the block descriptor; the allocation length truncates', async () => {
    const h = await harness();
    const r = await h.run(cdb.modeSense6(0x0a, { dbd: true }));
    expect([...(r.dataIn as Buffer)]).toEqual([15, 0, 0x10, 0, ...CONTROL]);
    const t = await h.run(cdb.modeSense6(ALL, { alloc: 4 }));
    expect([...(t.dataIn as Buffer)]).toEqual([67, 0, 0x10, 8]);
  });

  it('page control: changeable masks and defaults; saved is not supported', async () => {
    const h = await harness();
    const ch = await h.run(cdb.modeSense6(0x0a, { pc: 1, dbd: true }));
    expect([...(ch.dataIn as Buffer).subarray(4)]).toEqual([0x0a, 0x0a, 0x04, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    const cc = await h.run(cdb.modeSense6(0x08, { pc: 1, dbd: true }));
    expect((cc.dataIn as Buffer)[6]).toBe(0x04);
    const def = await h.run(cdb.modeSense6(0x0a, { pc: 2, dbd: true }));
    expect([...(def.dataIn as Buffer).subarray(4)]).toEqual(CONTROL);
    expect(senseOf(await h.run(cdb.modeSense6(0x0a, { pc: 3 })))).toMatchObject({ key: 5, asc: 0x39, ascq: 0, fieldPointer: 2, bit: 7 });
  });

  it('unknown pages and subpages are INVALID FIELD IN CDB', async () => {
    const h = await harness();
    expect(senseOf(await h.run(cdb.modeSense6(0x19)))).toMatchObject({ key: 5, asc: 0x24, fieldPointer: 2, bit: 5 });
    expect(senseOf(await h.run(cdb.modeSense6(0x0a, { sub: 1 })))).toMatchObject({ key: 5, asc: 0x24, fieldPointer: 3 });
    expect(senseOf(await h.run(cdb.modeSense6(ALL, { sub: 2 })))).toMatchObject({ key: 5, asc: 0x24, fieldPointer: 3 });
    expect((await h.run(cdb.modeSense6(ALL, { sub: 0xff }))).status).toBe(0);
  });
});

/** MODE SELECT(6) parameter list: header without block descriptor, then pages. */
function select6(...pages: number[][]): Buffer {
  const body = pages.flat();
  return Buffer.from([0, 0, 0, 0, ...body]);
}

describe('MODE SELECT (SPC-4 §6.11, §6.12)', () => {
  it('round trip: WCE off, read back, default unchanged', async () => {
    const h = await harness();
    const cachingOff = [0x08, 0x12, 0x00, ...new Array(17).fill(0)];
    const data = select6(cachingOff);
    expect((await h.run(cdb.modeSelect6(data.length), { data })).status).toBe(0);
    const cur = await h.run(cdb.modeSense6(0x08, { dbd: true }));
    expect([...(cur.dataIn as Buffer).subarray(4)]).toEqual(cachingOff);
    const def = await h.run(cdb.modeSense6(0x08, { pc: 2, dbd: true }));
    expect((def.dataIn as Buffer)[6]).toBe(0x04);
  });

  it('MODE SELECT(10) with a block descriptor that restates the capacity', async () => {
    const h = await harness();
    const hdr = [0, 0, 0, 0, 0, 0, 0, 8];
    const bd = [0, 0, 0x08, 0x00, 0, 0, 0x02, 0x00];
    const ctl = [...CONTROL];
    ctl[2] |= 0x04; // D_SENSE
    const data = Buffer.from([...hdr, ...bd, ...ctl]);
    expect((await h.run(cdb.modeSelect10(data.length), { data })).status).toBe(0);
    // The change is visible: sense data is now descriptor format.
    const s = senseOf(await h.run(cdb.read10(5000, 1)));
    expect(s).toMatchObject({ format: 'descriptor', key: 5, asc: 0x21 });
    // A block descriptor that changes the block length is refused.
    const bad = Buffer.from([...hdr, 0, 0, 0x08, 0x00, 0, 0, 0x10, 0x00, ...ctl]);
    expect(senseOf(await h.run(cdb.modeSelect10(bad.length), { data: bad }))).toMatchObject({ asc: 0x26, cd: false, fieldPointer: 13 });
  });

  it('a change to a bit that is not changeable points at that byte and bit, and changes nothing', async () => {
    const h = await harness();
    const ctl = [...CONTROL];
    ctl[2] |= 0x04; // D_SENSE (changeable)
    ctl[4] |= 0x08; // SWP (not changeable)
    const data = select6(ctl);
    const s = senseOf(await h.run(cdb.modeSelect6(data.length), { data }));
    expect(s).toMatchObject({ key: 5, asc: 0x26, ascq: 0, cd: false, fieldPointer: 4 + 4, bpv: true, bit: 3 });
    const cur = await h.run(cdb.modeSense6(0x0a, { dbd: true }));
    expect([...(cur.dataIn as Buffer).subarray(4)]).toEqual(CONTROL);
  });

  it('validates page codes, page lengths and list length', async () => {
    const h = await harness();
    const unknown = select6([0x19, 0x06, 0, 0, 0, 0, 0, 0]);
    expect(senseOf(await h.run(cdb.modeSelect6(unknown.length), { data: unknown }))).toMatchObject({ asc: 0x26, fieldPointer: 4 });
    const badLen = select6([0x0a, 0x08, 0x02, 0x10, 0, 0, 0, 0, 0xff, 0xff]);
    expect(senseOf(await h.run(cdb.modeSelect6(badLen.length), { data: badLen }))).toMatchObject({ asc: 0x26, fieldPointer: 5 });
    const truncated = select6(CONTROL).subarray(0, 10);
    expect(senseOf(await h.run(cdb.modeSelect6(truncated.length), { data: truncated }))).toMatchObject({ asc: 0x1a, ascq: 0 });
    const medium = Buffer.from([0, 0x05, 0, 0]);
    expect(senseOf(await h.run(cdb.modeSelect6(4), { data: medium }))).toMatchObject({ asc: 0x26, fieldPointer: 1 });
    // Data-Out shorter than the parameter list length.
    expect(senseOf(await h.run(cdb.modeSelect6(16), { data: Buffer.alloc(8) }))).toMatchObject({ asc: 0x1a });
  });

  it('SP = 1 and PF = 0 are refused; zero length is a no-op', async () => {
    const h = await harness();
    const data = select6(CONTROL);
    expect(senseOf(await h.run(cdb.modeSelect6(data.length, 0x11), { data }))).toMatchObject({ asc: 0x24, fieldPointer: 1, bit: 0 });
    expect(senseOf(await h.run(cdb.modeSelect6(data.length, 0x00), { data }))).toMatchObject({ asc: 0x24, fieldPointer: 1, bit: 4 });
    expect((await h.run(cdb.modeSelect6(0, 0x00))).status).toBe(0);
  });

  it('a change raises MODE PARAMETERS CHANGED for the other nexuses only', async () => {
    const h = await harness();
    const other = nexus(2);
    h.dev.nexusAdded(other);
    expect(senseOf(await h.run(cdb.tur(), { nexus: other }))).toMatchObject({ asc: 0x29 });
    const ctl = [...CONTROL];
    ctl[2] |= 0x04;
    const data = select6(ctl);
    expect((await h.run(cdb.modeSelect6(data.length), { data })).status).toBe(0);
    expect((await h.run(cdb.tur())).status).toBe(0);
    const s = senseOf(await h.run(cdb.tur(), { nexus: other }));
    expect(s).toMatchObject({ key: 6, asc: 0x2a, ascq: 0x01, format: 'descriptor' });
    expect((await h.run(cdb.tur(), { nexus: other })).status).toBe(0);
    // Selecting the same values again changes nothing and raises nothing.
    await h.run(cdb.modeSelect6(data.length), { data });
    expect((await h.run(cdb.tur(), { nexus: other })).status).toBe(0);
  });

  it('a logical unit reset returns mode parameters to their defaults', async () => {
    const h = await harness();
    const data = select6([0x08, 0x12, 0x00, ...new Array(17).fill(0)]);
    await h.run(cdb.modeSelect6(data.length), { data });
    h.dev.lunReset(0, h.nx);
    await h.run(cdb.tur());
    const cur = await h.run(cdb.modeSense6(0x08, { dbd: true }));
    expect((cur.dataIn as Buffer)[6]).toBe(0x04);
  });
});

describe('WCE switches write-through (DESIGN.md §6)', () => {
  it('WCE=1: writes without FUA are cached; FUA passes through; WCE=0: every write is FUA', async () => {
    const store = new SpyStore(1024 * 1024);
    const dev = new ScsiTargetDevice({ targetIqn: IQN, luns: [lunDef(0, store.sizeBytes, 512, store)], ports: [PORT1] });
    const nx = nexus(1);
    dev.nexusAdded(nx);
    const run = (c: number[], data?: Buffer) => dev.execute({ lun: 0, cdb: padCdb(c), nexus: nx, taskAttr: 1, dataOut: data, expectedDataInLength: 0 });
    await run(cdb.tur());
    const block = Buffer.alloc(512, 7);
    expect((await run(cdb.write10(0, 1), block)).status).toBe(0);
    expect((await run(cdb.write10(1, 1, 0x08), block)).status).toBe(0); // FUA
    expect(store.writes.map((w) => w.fua)).toEqual([false, true]);

    const off = Buffer.from([0, 0, 0, 0, 0x08, 0x12, 0x00, ...new Array(17).fill(0)]);
    expect((await run(cdb.modeSelect6(off.length), off)).status).toBe(0);
    store.writes.length = 0;
    await run(cdb.write10(2, 1), block);
    await run(cdb.write6(3, 1), block);
    await run(cdb.write16(4, 1), block);
    await run(cdb.write12(5, 1), block);
    expect(store.writes.map((w) => w.fua)).toEqual([true, true, true, true]);

    // WRITE SAME and UNMAP have no FUA: with WCE = 0 they flush before status.
    const flushes = store.flushCount;
    await run(cdb.ws10(0, 4, 0x08), Buffer.alloc(512));
    expect(store.flushCount).toBe(flushes + 1);
  });

  it('WRITE AND VERIFY always writes durably', async () => {
    const store = new SpyStore(1024 * 1024);
    const dev = new ScsiTargetDevice({ targetIqn: IQN, luns: [lunDef(0, store.sizeBytes, 512, store)] });
    const nx = nexus(1);
    const r = await dev.execute({ lun: 0, cdb: padCdb(cdb.writeVerify10(0, 1, 0x02)), nexus: nx, taskAttr: 1, dataOut: Buffer.alloc(512, 1), expectedDataInLength: 0 });
    expect(r.status).toBe(0);
    expect(store.writes).toEqual([{ offset: 0, length: 512, fua: true }]);
  });
});
