import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/lun/memory-store.js';
import { ScsiTargetDevice, type ScsiTargetDeviceOptions } from '../../src/scsi/scsi-target-device.js';
import { IQN, PORT1, PORT2, cdb, nexus, padCdb, senseOf } from './helpers.js';

const NAA = '6001405abcdef0123456789abcdef012';

function device(blockSize = 512, ports = [PORT1], opts: Partial<ScsiTargetDeviceOptions> = {}) {
  const size = 1024 * 1024;
  const dev = new ScsiTargetDevice({
    targetIqn: IQN,
    luns: [{ id: 0, store: new MemoryStore(size), blockSize, serial: 'VS-0001', naa: NAA, online: true }],
    ports,
    ...opts,
  });
  const nx = nexus(1);
  dev.nexusAdded(nx);
  const run = (c: number[], lun = 0) => dev.execute({ lun, cdb: padCdb(c), nexus: nx, taskAttr: 1, expectedDataInLength: 4096 });
  return { dev, nx, run };
}

const ascii = (s: string, len: number) => [...Buffer.from(s.padEnd(len, ' '), 'latin1')];
const zeros = (n: number) => new Array<number>(n).fill(0);

describe('standard INQUIRY (SPC-4 §6.6.2)', () => {
  it('is byte exact', async () => {
    const { run } = device();
    const r = await run(cdb.inquiry(0, 0, 255));
    expect(r.status).toBe(0);
    const expected = [
      0x00, 0x00, 0x06, 0x12, 91, 0x18, 0x00, 0x02, // byte 5: TPGS 01b (implicit ALUA), 3PC
      ...ascii('VSTORAGE', 8),
      ...ascii('VSTORAGE-LUN', 16),
      ...ascii('0001', 4),
      ...zeros(22), // 36-57: vendor specific, reserved
      0x00, 0xa0, 0x09, 0x60, 0x04, 0x60, 0x04, 0xc0, // 58-65: SAM-5, iSCSI, SPC-4, SBC-3
      ...zeros(30), // 66-95
    ];
    expect([...(r.dataIn as Buffer)]).toEqual(expected);
  });

  it('is not blocked by, and does not clear, a unit attention', async () => {
    const { run } = device();
    expect((await run(cdb.inquiry(0, 0, 36))).status).toBe(0);
    expect(senseOf(await run(cdb.tur()))).toMatchObject({ key: 6, asc: 0x29, ascq: 0 });
  });

  it('truncates to the allocation length (16-bit)', async () => {
    const { run } = device();
    expect((await run(cdb.inquiry(0, 0, 5))).dataIn?.length).toBe(5);
    const a = await run(cdb.inquiry(0, 0, 511));
    const b = await run(cdb.inquiry(0, 0, 512));
    expect(a.dataIn).toEqual(b.dataIn);
    expect(a.dataIn?.length).toBe(96);
  });

  it('sets MULTIP with more than one target port', async () => {
    const { run } = device(512, [PORT1, PORT2]);
    expect((await run(cdb.inquiry(0, 0, 96))).dataIn?.[6]).toBe(0x10);
  });

  it('answers for a LUN that does not exist with qualifier 011b / type 1Fh', async () => {
    const { run } = device();
    const r = await run(cdb.inquiry(0, 0, 96), 5);
    expect(r.status).toBe(0);
    expect(r.dataIn?.[0]).toBe(0x7f);
    expect(senseOf(await run(cdb.inquiry(1, 0x80, 96), 5))).toMatchObject({ key: 5, asc: 0x25, ascq: 0 });
  });

  it('refuses PAGE CODE without EVPD and unknown VPD pages, pointing at byte 2', async () => {
    const { run } = device();
    await run(cdb.tur());
    expect(senseOf(await run(cdb.inquiry(0, 1, 256)))).toMatchObject({ key: 5, asc: 0x24, fieldPointer: 2, cd: true });
    expect(senseOf(await run(cdb.inquiry(1, 0x81, 256)))).toMatchObject({ key: 5, asc: 0x24, fieldPointer: 2 });
    // CMDDT (byte 1 bit 1) is obsolete, hence reserved.
    expect(senseOf(await run([0x12, 0x02, 0, 0, 255, 0]))).toMatchObject({ asc: 0x24, fieldPointer: 1, bit: 1, bpv: true });
  });
});

describe('VPD pages (SPC-4 §7.8, SBC-3 §6.5)', () => {
  it('00h lists the pages in ascending order', async () => {
    const { run } = device();
    const r = await run(cdb.inquiry(1, 0x00, 255));
    expect([...(r.dataIn as Buffer)]).toEqual([0, 0x00, 0, 8, 0x00, 0x80, 0x83, 0x86, 0x8f, 0xb0, 0xb1, 0xb2]);
  });

  it('80h carries the serial number', async () => {
    const { run } = device();
    const r = await run(cdb.inquiry(1, 0x80, 255));
    expect([...(r.dataIn as Buffer)]).toEqual([0, 0x80, 0, 7, ...Buffer.from('VS-0001')]);
  });

  it('83h: NAA, relative port, port group, port name and device name designators', async () => {
    const { run } = device();
    const r = await run(cdb.inquiry(1, 0x83, 1024));
    const portName = Buffer.alloc(40);
    portName.write(`${IQN},t,0x0001`);
    const devName = Buffer.alloc(32);
    devName.write(IQN);
    const payload = [
      0x01, 0x03, 0x00, 0x10, ...Buffer.from(NAA, 'hex'), // binary, LU, NAA
      0x51, 0x94, 0x00, 0x04, 0, 0, 0, 1, // iSCSI, PIV, target port, relative target port 1
      0x51, 0x95, 0x00, 0x04, 0, 0, 0, 1, // target port group 1
      0x53, 0x98, 0x00, 40, ...portName, // UTF-8, target port, SCSI name string
      0x53, 0xa8, 0x00, 32, ...devName, // UTF-8, target device, SCSI name string
    ];
    expect([...(r.dataIn as Buffer)]).toEqual([0, 0x83, 0, payload.length, ...payload]);
  });

  it('83h describes the port the command came through', async () => {
    const { dev } = device(512, [PORT1, PORT2]);
    const nx2 = nexus(2, PORT2);
    dev.nexusAdded(nx2);
    const r = await dev.execute({ lun: 0, cdb: padCdb(cdb.inquiry(1, 0x83, 1024)), nexus: nx2, taskAttr: 1, expectedDataInLength: 1024 });
    const d = r.dataIn as Buffer;
    expect([...d.subarray(24, 32)]).toEqual([0x51, 0x94, 0, 4, 0, 0, 0, 2]);
    expect([...d.subarray(32, 40)]).toEqual([0x51, 0x95, 0, 4, 0, 0, 0, 2]);
    expect(d.subarray(44, 44 + 38).toString()).toBe(`${IQN},t,0x0002`);
  });

  it('86h extended INQUIRY data', async () => {
    const { run } = device();
    const r = await run(cdb.inquiry(1, 0x86, 255));
    expect([...(r.dataIn as Buffer)]).toEqual([0, 0x86, 0, 0x3c, 0, 0x01, 0x01, ...zeros(0x3c - 3)]);
  });

  it('B0h block limits for 512-byte blocks', async () => {
    const { run } = device(512);
    const r = await run(cdb.inquiry(1, 0xb0, 255));
    const e = Buffer.alloc(64);
    e.set([0, 0xb0, 0, 0x3c]);
    e[5] = 255; // MAXIMUM COMPARE AND WRITE LENGTH
    e.writeUInt16BE(8, 6); // optimal granularity: 4 KiB
    e.writeUInt32BE(16384, 8); // max transfer: 8 MiB
    e.writeUInt32BE(1048576, 20); // max unmap LBA count
    e.writeUInt32BE(2048, 24); // max unmap descriptors
    e.writeUInt32BE(8, 28); // optimal unmap granularity
    e.writeUInt32BE(0x80000000, 32); // UGAVALID
    e.writeBigUInt64BE(0xffffn, 36); // max write same length
    e.writeUInt32BE(256, 44); // SBC-4: MAXIMUM ATOMIC TRANSFER LENGTH
    e.writeUInt32BE(8, 48); // ATOMIC ALIGNMENT: 4 KiB
    e.writeUInt32BE(8, 52); // ATOMIC TRANSFER LENGTH GRANULARITY: 4 KiB
    // 56-63: no atomic boundary support
    expect(r.dataIn).toEqual(e);
  });

  it('B0h block limits scale with 4096-byte blocks', async () => {
    const { run } = device(4096);
    const d = (await run(cdb.inquiry(1, 0xb0, 255))).dataIn as Buffer;
    expect(d.readUInt16BE(6)).toBe(1);
    expect(d.readUInt32BE(8)).toBe(2048);
    expect(d.readUInt32BE(20)).toBe(262144);
    expect(d.readUInt32BE(28)).toBe(1);
    expect([d.readUInt32BE(44), d.readUInt32BE(48), d.readUInt32BE(52), d.readUInt32BE(56), d.readUInt32BE(60)]).toEqual([256, 1, 1, 0, 0]);
  });

  it('B0h atomic fields follow the limits: clamped to MAXIMUM TRANSFER LENGTH and the granularity; 0 withdraws them', async () => {
    const clamp = (await device(512, [PORT1], { limits: { maxTransferBlocks: 100 } }).run(cdb.inquiry(1, 0xb0, 255))).dataIn as Buffer;
    expect(clamp.readUInt32BE(8)).toBe(100);
    expect(clamp.readUInt32BE(44)).toBe(96); // <= 100 and a multiple of 8 (SBC-4 §6.6.4)
    const off = (await device(512, [PORT1], { limits: { maxAtomicTransferBlocks: 0 } }).run(cdb.inquiry(1, 0xb0, 255))).dataIn as Buffer;
    expect([...off.subarray(44, 64)]).toEqual(zeros(20));
  });

  it('B0h MAXIMUM COMPARE AND WRITE LENGTH follows the limits: at most 255 and MAXIMUM TRANSFER LENGTH; 0 withdraws it', async () => {
    const at = async (opts: Parameters<typeof device>[2]) => ((await device(512, [PORT1], opts).run(cdb.inquiry(1, 0xb0, 255))).dataIn as Buffer)[5];
    expect(await at({ limits: { maxCompareAndWriteBlocks: 1 } })).toBe(1);
    expect(await at({ limits: { maxCompareAndWriteBlocks: 1000 } })).toBe(255);
    expect(await at({ limits: { maxTransferBlocks: 16 } })).toBe(16);
    expect(await at({ limits: { maxCompareAndWriteBlocks: 0 } })).toBe(0);
  });

  it('B1h: non-rotating medium', async () => {
    const { run } = device();
    const r = await run(cdb.inquiry(1, 0xb1, 255));
    expect([...(r.dataIn as Buffer)]).toEqual([0, 0xb1, 0, 0x3c, 0x00, 0x01, ...zeros(0x3a)]);
  });

  it('B2h: thin, LBPU, LBPWS, LBPWS10, LBPRZ, no anchors', async () => {
    const { run } = device();
    const r = await run(cdb.inquiry(1, 0xb2, 255));
    expect([...(r.dataIn as Buffer)]).toEqual([0, 0xb2, 0, 4, 0, 0xe4, 0x02, 0]);
  });
});
