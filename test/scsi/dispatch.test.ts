import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/lun/memory-store.js';
import { ScsiTargetDevice } from '../../src/scsi/scsi-target-device.js';
import { CheckCondition } from '../../src/scsi/check-condition.js';
import { DataDirection } from '../../src/scsi/types.js';
import { IQN, cdb, decodeSense, harness, lunDef, nexus, padCdb, senseOf } from './helpers.js';

describe('dispatcher: CDB validation (SPC-4 §4.3, SAM-5 §5.2)', () => {
  it('unknown operation code: INVALID COMMAND OPERATION CODE', async () => {
    const h = await harness();
    expect(senseOf(await h.run([0xc0, 0, 0, 0, 0, 0]))).toMatchObject({ key: 5, asc: 0x20, ascq: 0 });
    // PERSISTENT RESERVE IN exists; its service action 1Fh does not (SPC-4 §6.15.1).
    expect(senseOf(await h.run([0x5e, 0x1f, 0, 0, 0, 0, 0, 0x20, 0, 0]))).toMatchObject({ key: 5, asc: 0x24, fieldPointer: 1 });
  });

  it('unknown service action of a known operation code: INVALID FIELD IN CDB at byte 1', async () => {
    const h = await harness();
    expect(senseOf(await h.run([0x9e, 0x1f, ...new Array(14).fill(0)]))).toMatchObject({ key: 5, asc: 0x24, fieldPointer: 1, bit: 4 });
    expect(senseOf(await h.run([0xa3, 0x05, ...new Array(10).fill(0)]))).toMatchObject({ key: 5, asc: 0x24, fieldPointer: 1 });
  });

  it('reserved bits: field pointer at the byte, bit pointer at the highest offending bit', async () => {
    const h = await harness();
    // READ(6) byte 1 bits 7-5 are reserved.
    expect(senseOf(await h.run([0x08, 0x40, 0, 0, 1, 0]))).toMatchObject({ asc: 0x24, cd: true, fieldPointer: 1, bpv: true, bit: 6 });
    // READ(10) byte 6 bits 7-5 are reserved (GROUP NUMBER is 4-0).
    expect(senseOf(await h.run([0x28, 0, 0, 0, 0, 0, 0xe0, 0, 1, 0]))).toMatchObject({ fieldPointer: 6, bit: 7 });
    // TEST UNIT READY bytes 1-4 are reserved.
    expect(senseOf(await h.run([0x00, 0, 0, 1, 0, 0]))).toMatchObject({ fieldPointer: 3, bit: 0 });
    // Bytes after the CDB length (iSCSI pads to 16) are not looked at.
    expect((await h.run([0x00, 0, 0, 0, 0, 0, 0xff, 0xff]))).toMatchObject({ status: 0 });
  });

  it('CONTROL byte: NACA and LINK are refused', async () => {
    const h = await harness();
    expect(senseOf(await h.run([0x00, 0, 0, 0, 0, 0x04]))).toMatchObject({ asc: 0x24, fieldPointer: 5, bit: 2 });
    expect(senseOf(await h.run([0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0x01]))).toMatchObject({ asc: 0x24, fieldPointer: 9, bit: 0 });
    // Vendor-specific bits 7-6 are ignored.
    expect((await h.run([0x00, 0, 0, 0, 0, 0xc0])).status).toBe(0);
  });

  it('LUN that does not exist: LOGICAL UNIT NOT SUPPORTED, but REQUEST SENSE returns it as data', async () => {
    const h = await harness();
    expect(senseOf(await h.run(cdb.tur(), { lun: 3 }))).toMatchObject({ key: 5, asc: 0x25, ascq: 0 });
    expect(senseOf(await h.run([0xc0, 0, 0, 0, 0, 0], { lun: 3 }))).toMatchObject({ asc: 0x25 });
    const rs = await h.run(cdb.requestSense(false), { lun: 3 });
    expect(rs.status).toBe(0);
    expect(decodeSense(rs.dataIn as Buffer)).toMatchObject({ key: 5, asc: 0x25, ascq: 0 });
    expect(h.dev.hasLun(3)).toBe(false);
    expect(h.dev.hasLun(0)).toBe(true);
  });

  it('REQUEST SENSE truncates to its allocation length', async () => {
    const h = await harness();
    expect((await h.run(cdb.requestSense(false, 8))).dataIn?.length).toBe(8);
    expect((await h.run(cdb.requestSense(false, 0))).dataIn?.length).toBe(0);
  });
});

describe('shape() (SAM-5 §5.1): direction and transfer length from the table', () => {
  const dev = new ScsiTargetDevice({ targetIqn: IQN, luns: [lunDef(0, 1 << 20, 512), lunDef(1, 1 << 20, 4096)] });
  const shape = (c: number[], lun = 0) => dev.shape(lun, padCdb(c));

  it('block commands use the LU block size', () => {
    expect(shape(cdb.read10(0, 8))).toEqual({ direction: DataDirection.In, transferLength: 4096 });
    expect(shape(cdb.read10(0, 8), 1)).toEqual({ direction: DataDirection.In, transferLength: 32768 });
    expect(shape(cdb.write6(0, 0))).toEqual({ direction: DataDirection.Out, transferLength: 256 * 512 });
    expect(shape(cdb.write16(0, 3))).toEqual({ direction: DataDirection.Out, transferLength: 1536 });
    expect(shape(cdb.read10(0, 8), 9)).toEqual({ direction: DataDirection.In, transferLength: undefined });
  });

  it('VERIFY transfers nothing, every block, or one block by BYTCHK', () => {
    expect(shape(cdb.verify10(0, 8, 0))).toEqual({ direction: DataDirection.Out, transferLength: 0 });
    expect(shape(cdb.verify10(0, 8, 0x02))).toEqual({ direction: DataDirection.Out, transferLength: 4096 });
    expect(shape(cdb.verify10(0, 8, 0x06))).toEqual({ direction: DataDirection.Out, transferLength: 512 });
  });

  it('WRITE SAME transfers one block, none with NDOB', () => {
    expect(shape(cdb.ws10(0, 100), 1)).toEqual({ direction: DataDirection.Out, transferLength: 4096 });
    expect(shape(cdb.ws16(0, 100, 0x01))).toEqual({ direction: DataDirection.Out, transferLength: 0 });
  });

  it('parameter lists and allocation lengths', () => {
    expect(shape(cdb.unmap(24))).toEqual({ direction: DataDirection.Out, transferLength: 24 });
    expect(shape(cdb.modeSelect10(300))).toEqual({ direction: DataDirection.Out, transferLength: 300 });
    expect(shape(cdb.inquiry(0, 0, 0x1234), 7)).toEqual({ direction: DataDirection.In, transferLength: 0x1234 });
    expect(shape(cdb.reportLuns(0, 70000), 7)).toEqual({ direction: DataDirection.In, transferLength: 70000 });
    expect(shape(cdb.tur())).toEqual({ direction: DataDirection.None, transferLength: 0 });
    expect(shape([0xc0, 0, 0, 0, 0, 0])).toEqual({ direction: DataDirection.None, transferLength: undefined });
  });
});

describe('failures of the store and the hooks', () => {
  class FailingStore extends MemoryStore {
    override async read(): Promise<void> {
      throw new Error('EIO');
    }
    override async write(): Promise<void> {
      throw new Error('EIO');
    }
  }

  it('store errors become MEDIUM ERROR (read: 11h/00h, write: 0Ch/00h) and are logged', async () => {
    const logs: string[] = [];
    const dev = new ScsiTargetDevice({ targetIqn: IQN, luns: [lunDef(0, 1 << 20, 512, new FailingStore(1 << 20))], log: (_l, m, c) => logs.push(`${m} ${c?.command}`) });
    const nx = nexus(1);
    const run = (c: number[], data?: Buffer) => dev.execute({ lun: 0, cdb: padCdb(c), nexus: nx, taskAttr: 1, dataOut: data, expectedDataInLength: 512 });
    expect(senseOf(await run(cdb.read10(0, 1)))).toMatchObject({ key: 3, asc: 0x11, ascq: 0 });
    expect(senseOf(await run(cdb.write10(0, 1), Buffer.alloc(512)))).toMatchObject({ key: 3, asc: 0x0c, ascq: 0 });
    expect(logs).toEqual(['SCSI command failed READ(10)', 'SCSI command failed WRITE(10)']);
  });

  it('the reservation hook ends commands with RESERVATION CONFLICT; the ALUA hook with its sense', async () => {
    let conflict = true;
    const dev = new ScsiTargetDevice({
      targetIqn: IQN,
      luns: [lunDef(0, 1 << 20)],
      reservations: { conflicts: (_lu, _n, def) => conflict && def.name === 'WRITE(10)' },
      alua: { state: () => 0, check: (_lu, _n, def) => (def.name === 'READ(10)' ? new CheckCondition(2, 0x04, 0x0b) : undefined) },
    });
    const nx = nexus(1);
    const run = (c: number[]) => dev.execute({ lun: 0, cdb: padCdb(c), nexus: nx, taskAttr: 1, dataOut: Buffer.alloc(512), expectedDataInLength: 512 });
    expect(await run(cdb.write10(0, 1))).toEqual({ status: 0x18 });
    expect(senseOf(await run(cdb.read10(0, 1)))).toMatchObject({ key: 2, asc: 0x04, ascq: 0x0b });
    conflict = false;
    expect((await run(cdb.write10(0, 1))).status).toBe(0);
  });
});

describe('RESERVE / RELEASE (SPC-2 §7.21-§7.24)', () => {
  async function two() {
    const h = await harness();
    const b = nexus(2);
    h.dev.nexusAdded(b);
    await h.run(cdb.tur(), { nexus: b });
    return { h, b };
  }

  it('the holder keeps access; others get RESERVATION CONFLICT for conflicting commands only', async () => {
    const { h, b } = await two();
    expect((await h.run([0x16, 0, 0, 0, 0, 0])).status).toBe(0);
    expect((await h.run([0x16, 0, 0, 0, 0, 0])).status).toBe(0);
    expect((await h.run([0x16, 0, 0, 0, 0, 0], { nexus: b })).status).toBe(0x18);
    expect((await h.run(cdb.read10(0, 1), { nexus: b })).status).toBe(0x18);
    expect((await h.run(cdb.modeSense6(0x3f), { nexus: b })).status).toBe(0x18);
    expect((await h.run(cdb.inquiry(0, 0, 36), { nexus: b })).status).toBe(0);
    expect((await h.run(cdb.readCapacity10(), { nexus: b })).status).toBe(0);
    expect((await h.run(cdb.read10(0, 1))).status).toBe(0);
    // RELEASE from a non-holder is a no-op.
    expect((await h.run([0x17, 0, 0, 0, 0, 0], { nexus: b })).status).toBe(0);
    expect((await h.run(cdb.read10(0, 1), { nexus: b })).status).toBe(0x18);
    expect((await h.run([0x17, 0, 0, 0, 0, 0])).status).toBe(0);
    expect((await h.run(cdb.read10(0, 1), { nexus: b })).status).toBe(0);
  });

  it('released by nexus loss, LU reset and target reset', async () => {
    const { h, b } = await two();
    const ends = [
      () => {
        h.dev.nexusRemoved(h.nx);
        h.dev.nexusAdded(h.nx); // logs in again: a new nexus with the same id
      },
      () => h.dev.lunReset(0, b),
      () => h.dev.targetReset(b),
    ];
    for (const end of ends) {
      await h.run(cdb.requestSense(false));
      expect((await h.run([0x56, 0, 0, 0, 0, 0, 0, 0, 0, 0])).status).toBe(0);
      expect((await h.run(cdb.read10(0, 1), { nexus: b })).status).toBe(0x18);
      end();
      await h.run(cdb.requestSense(false), { nexus: b });
      expect((await h.run(cdb.read10(0, 1), { nexus: b })).status).toBe(0);
    }
  });

  it('third-party RESERVE(10) is refused', async () => {
    const h = await harness();
    expect(senseOf(await h.run([0x56, 0x10, 0, 0, 0, 0, 0, 0, 0, 0]))).toMatchObject({ asc: 0x24, fieldPointer: 1, bit: 4 });
  });
});
