import { describe, expect, it } from 'vitest';
import { ScsiTargetDevice } from '../../src/scsi/scsi-target-device.js';
import { IQN, cdb, lunDef, nexus, padCdb, senseOf } from './helpers.js';

function device(ids: number[]) {
  const dev = new ScsiTargetDevice({ targetIqn: IQN, luns: ids.map((id) => lunDef(id, 1 << 20)) });
  const nx = nexus(1);
  dev.nexusAdded(nx);
  const run = (c: number[], lun = 0) => dev.execute({ lun, cdb: padCdb(c), nexus: nx, taskAttr: 1, expectedDataInLength: 4096 });
  return { dev, run };
}

describe('REPORT LUNS (SPC-4 §6.33)', () => {
  it('lists LUNs ascending: peripheral addressing below 256, flat space above', async () => {
    const { run } = device([300, 0, 5]);
    const r = await run(cdb.reportLuns(0, 1024));
    expect([...(r.dataIn as Buffer)]).toEqual([
      0, 0, 0, 24, 0, 0, 0, 0,
      0x00, 0x00, 0, 0, 0, 0, 0, 0,
      0x00, 0x05, 0, 0, 0, 0, 0, 0,
      0x41, 0x2c, 0, 0, 0, 0, 0, 0,
    ]);
  });

  it('works when addressed to a LUN that does not exist, and SELECT REPORT 02h equals 00h', async () => {
    const { run } = device([1, 2]);
    const a = await run(cdb.reportLuns(0, 1024), 9);
    const b = await run(cdb.reportLuns(2, 1024), 0);
    expect(a.status).toBe(0);
    expect(a.dataIn).toEqual(b.dataIn);
    expect((a.dataIn as Buffer).readUInt32BE(0)).toBe(16);
  });

  it('SELECT REPORT 01h (well known LUs) is empty; other values are refused', async () => {
    const { run } = device([0]);
    expect([...((await run(cdb.reportLuns(1, 1024))).dataIn as Buffer)]).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    expect(senseOf(await run(cdb.reportLuns(3, 1024)))).toMatchObject({ key: 5, asc: 0x24, fieldPointer: 2 });
  });

  it('truncates to the allocation length, keeping the full LUN LIST LENGTH', async () => {
    const { run } = device([0, 1, 2]);
    const r = await run(cdb.reportLuns(0, 12));
    expect([...(r.dataIn as Buffer)]).toEqual([0, 0, 0, 24, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect((await run(cdb.reportLuns(0, 0))).dataIn?.length).toBe(0);
  });

  it('hides offline LUNs and follows setLunOnline', async () => {
    const { dev, run } = device([0]);
    dev.addLun({ ...lunDef(4, 1 << 20), online: false });
    expect(((await run(cdb.reportLuns(0, 1024))).dataIn as Buffer).readUInt32BE(0)).toBe(8);
    expect(senseOf(await run(cdb.tur(), 4))).toMatchObject({ asc: 0x25 });
    dev.setLunOnline(4, true);
    expect(((await run(cdb.reportLuns(0, 1024))).dataIn as Buffer).readUInt32BE(0)).toBe(16);
    expect(dev.hasLun(4)).toBe(true);
  });

  it('refuses duplicate and unknown LUN ids with stable codes', () => {
    const { dev } = device([0]);
    expect(() => dev.addLun(lunDef(0, 1 << 20))).toThrow(expect.objectContaining({ code: 'SCSI_LUN_EXISTS' }));
    expect(() => dev.removeLun(3)).toThrow(expect.objectContaining({ code: 'SCSI_NO_SUCH_LUN' }));
    expect(() => dev.addLun({ ...lunDef(2, 1 << 20), blockSize: 1024 })).toThrow(expect.objectContaining({ code: 'SCSI_BAD_LUN_DEFINITION' }));
    expect(() => dev.addLun({ ...lunDef(2, 1 << 20), naa: 'abc' })).toThrow(/NAA/);
  });
});
