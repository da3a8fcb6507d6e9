import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/lun/memory-store.js';
import { ScsiTargetDevice } from '../../src/scsi/scsi-target-device.js';
import { UnitAttentions } from '../../src/scsi/unit-attention.js';
import { IQN, PORT1, cdb, decodeSense, lunDef, nexus, padCdb, senseOf } from './helpers.js';

function setup() {
  const dev = new ScsiTargetDevice({ targetIqn: IQN, luns: [lunDef(0, 1 << 20), lunDef(1, 1 << 20)], ports: [PORT1] });
  const a = nexus(1);
  const b = nexus(2);
  dev.nexusAdded(a);
  dev.nexusAdded(b);
  const run = (c: number[], nx = a, lun = 0) => dev.execute({ lun, cdb: padCdb(c), nexus: nx, taskAttr: 1, expectedDataInLength: 4096 });
  return { dev, a, b, run };
}

async function drain(run: (c: number[]) => Promise<{ status: number; sense?: Buffer }>): Promise<number[]> {
  const seen: number[] = [];
  for (let i = 0; i < 20; i++) {
    const r = await run(cdb.tur());
    if (r.status === 0) return seen;
    const s = decodeSense(r.sense as Buffer);
    seen.push((s.asc << 8) | s.ascq);
  }
  throw new Error('unit attentions never cleared');
}

describe('unit attentions (SAM-5 §5.14)', () => {
  it('a new nexus sees POWER ON, RESET, OR BUS DEVICE RESET OCCURRED once per LU', async () => {
    const { run } = setup();
    const s = senseOf(await run(cdb.tur()));
    expect(s).toMatchObject({ key: 6, asc: 0x29, ascq: 0x00 });
    expect((await run(cdb.tur())).status).toBe(0);
    expect(senseOf(await run(cdb.read10(0, 1), undefined, 1))).toMatchObject({ key: 6, asc: 0x29 });
  });

  it('INQUIRY and REPORT LUNS are neither blocked nor clear it; REQUEST SENSE reports and clears it', async () => {
    const { run } = setup();
    expect((await run(cdb.inquiry(0, 0, 36))).status).toBe(0);
    expect((await run(cdb.reportLuns(0, 1024))).status).toBe(0);
    const rs = await run(cdb.requestSense(false));
    expect(rs.status).toBe(0);
    expect(decodeSense(rs.dataIn as Buffer)).toMatchObject({ format: 'fixed', key: 6, asc: 0x29, ascq: 0 });
    const again = await run(cdb.requestSense(true));
    expect(decodeSense(again.dataIn as Buffer)).toMatchObject({ format: 'descriptor', key: 0, asc: 0, ascq: 0 });
    expect((await run(cdb.tur())).status).toBe(0);
  });

  it('an unknown command reports the unit attention before INVALID COMMAND OPERATION CODE', async () => {
    const { run } = setup();
    expect(senseOf(await run([0xc5, 0, 0, 0, 0, 0]))).toMatchObject({ key: 6 });
    expect(senseOf(await run([0xc5, 0, 0, 0, 0, 0]))).toMatchObject({ key: 5, asc: 0x20, ascq: 0 });
  });

  it('capacity change: CAPACITY DATA HAS CHANGED for every nexus, on that LU only', async () => {
    const { dev, a, b, run } = setup();
    await drain((c) => run(c, a, 0));
    await drain((c) => run(c, b, 0));
    await drain((c) => run(c, a, 1));
    await (dev.logicalUnit(0)?.store as MemoryStore).resize(2 << 20);
    dev.capacityChanged(0);
    expect(await drain((c) => run(c, a, 0))).toEqual([0x2a09]);
    expect(await drain((c) => run(c, b, 0))).toEqual([0x2a09]);
    expect(await drain((c) => run(c, a, 1))).toEqual([]);
    const rc = await run(cdb.readCapacity10());
    expect((rc.dataIn as Buffer).readUInt32BE(0)).toBe(4095);
  });

  it('LUN reset: BUS DEVICE RESET FUNCTION OCCURRED for every nexus, the requester included', async () => {
    const { dev, a, b, run } = setup();
    for (const nx of [a, b]) await drain((c) => run(c, nx, 0));
    dev.lunReset(0, a);
    expect(await drain((c) => run(c, a, 0))).toEqual([0x2903]);
    expect(await drain((c) => run(c, b, 0))).toEqual([0x2903]);
  });

  it('target reset: POWER ON, RESET for every nexus on every LU; a reset supersedes queued conditions', async () => {
    const { dev, a, run } = setup();
    await drain((c) => run(c, a, 0));
    dev.capacityChanged(0);
    dev.targetReset(a);
    expect(await drain((c) => run(c, a, 0))).toEqual([0x2900]);
    expect(await drain((c) => run(c, a, 1))).toEqual([0x2900]);
  });

  it('LUN added/removed: REPORTED LUNS DATA HAS CHANGED on the other LUs, cleared by REPORT LUNS', async () => {
    const { dev, a, b, run } = setup();
    for (const nx of [a, b]) for (const l of [0, 1]) await drain((c) => run(c, nx, l));
    dev.addLun(lunDef(7, 1 << 20));
    // The new LU starts with a reset condition; the others learn the inventory changed.
    expect(await drain((c) => run(c, a, 7))).toEqual([0x2900]);
    expect(await drain((c) => run(c, a, 0))).toEqual([0x3f0e]);
    const rl = await run(cdb.reportLuns(0, 1024), b, 0);
    expect((rl.dataIn as Buffer).readUInt32BE(0)).toBe(24);
    expect(await drain((c) => run(c, b, 0))).toEqual([]);
    expect(await drain((c) => run(c, b, 1))).toEqual([]);
    dev.removeLun(7);
    expect(await drain((c) => run(c, a, 1))).toEqual([0x3f0e]);
    expect(senseOf(await run(cdb.tur(), a, 7))).toMatchObject({ key: 5, asc: 0x25, ascq: 0 });
  });

  it('a removed nexus forgets its conditions; a re-added one starts with POWER ON again', async () => {
    const { dev, a, run } = setup();
    await drain((c) => run(c, a, 0));
    dev.capacityChanged(0);
    dev.nexusRemoved(a);
    dev.nexusAdded(a);
    expect(await drain((c) => run(c, a, 0))).toEqual([0x2900]);
  });

  it('reference counts overlapping logins of the same nexus id', async () => {
    const { dev, a, run } = setup();
    dev.nexusAdded(a); // reinstatement before the old connection closed
    dev.nexusRemoved(a); // old connection closes
    expect(await drain((c) => run(c, a, 0))).toEqual([0x2900]);
  });
});

describe('UnitAttentions queue', () => {
  it('queues in order, deduplicates, clears and counts', () => {
    const q = new UnitAttentions();
    q.establish('n', 0x2a09);
    q.establish('n', 0x2a01);
    q.establish('n', 0x2a09);
    expect(q.pending).toBe(2);
    expect(q.take('n')).toBe(0x2a09);
    q.establish('n', 0x3f0e);
    q.clear('n', 0x3f0e);
    expect(q.list('n')).toEqual([0x2a01]);
    q.establish('n', 0x2903);
    expect(q.list('n')).toEqual([0x2903]);
    q.forget('n');
    expect(q.pending).toBe(0);
    expect(q.take('n')).toBeUndefined();
  });
});
