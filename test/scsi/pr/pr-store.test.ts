/**
 * src/cluster/pr-store.ts: persistent reservation state in ISCSI_ROOT, one
 * file per LUN keyed by its NAA designator, written atomically, read at
 * target start, corrupt files refuse the start, files of deleted LUNs go.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PrStore, prFileName } from '../../../src/cluster/pr-store.js';
import { ClusterError } from '../../../src/cluster/errors.js';
import { ScsiTargetDevice } from '../../../src/scsi/scsi-target-device.js';
import { IQN, PORT1, PORT2, lunDef } from '../helpers.js';
import { prHarness, portName } from './helpers.js';
import { SA, TYPE } from './pr-codec.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'pr-store-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const LUN0 = lunDef(0, 1 << 20);
const LUN1 = { ...lunDef(1, 1 << 20), naa: '6001405aaaaaaaaaaaaaaaaaaaaaaaaa' };
const opts = () => ({ targetDir: dir, iqn: IQN, hostId: '00112233aabbccdd', now: () => new Date('2026-01-02T03:04:05Z') });

describe('PrStore', () => {
  it('writes pr-<naa>.json atomically on the first change, with who wrote it', async () => {
    const store = await PrStore.open(opts(), [LUN0, LUN1]);
    expect(readdirSync(dir)).toEqual([]);
    const dev = new ScsiTargetDevice({ targetIqn: IQN, luns: [LUN0, LUN1], ports: [PORT1, PORT2], persistentReservations: store });
    const nx = { id: `${portName(1)}|1`, initiatorName: 'iqn.1994-05.com.example:host1', isid: '400000000001', initiatorPortName: portName(1), targetPort: PORT1 };
    dev.nexusAdded(nx);
    const run = (c: number[], data?: Buffer) => dev.execute({ lun: 0, cdb: Buffer.from([...c, 0, 0, 0, 0, 0, 0]), nexus: nx, taskAttr: 1, dataOut: data, expectedDataInLength: 8192 });
    await run([0, 0, 0, 0, 0, 0]);
    const params = Buffer.alloc(24);
    params.writeBigUInt64BE(0xabcn, 8);
    expect((await run([0x5f, SA.REGISTER, 0, 0, 0, 0, 0, 0, 24, 0], params)).status).toBe(0);
    expect(readdirSync(dir)).toEqual([prFileName(LUN0.naa)]);
    const f = JSON.parse(readFileSync(join(dir, prFileName(LUN0.naa)), 'utf8'));
    expect(f).toEqual({
      version: 1,
      generation: 1,
      aptpl: false,
      registrations: [{ key: '0000000000000abc', initiatorPortName: portName(1), relativePortId: 1, allTgPt: false }],
      reservation: null,
      target: IQN,
      lun: 0,
      naa: LUN0.naa,
      host: '00112233aabbccdd',
      updated: '2026-01-02T03:04:05.000Z',
    });
    // Read back by a new store (another start, another node).
    const again = await PrStore.open(opts(), [LUN0, LUN1]);
    expect(again.initial(LUN0)!.registrations.size).toBe(1);
    expect(again.initial(LUN1)).toBeUndefined();
  });

  it('a device over a reopened store keeps registrations and the reservation', async () => {
    const h = await prHarness({ persistence: (await PrStore.open(opts(), [LUN0])) });
    const a = await h.login(1);
    await h.register(a, 5n);
    await h.reserve(a, 5n, TYPE.EA);
    const before = await h.fullStatus(a);
    const h2 = await prHarness({ persistence: (await PrStore.open(opts(), [LUN0])) });
    const b = await h2.login(2);
    expect(await h2.fullStatus(b)).toEqual(before);
    expect((await h2.prout(b, SA.REGISTER_AND_IGNORE, 0, { sark: 6n })).status).toBe(0);
  });

  it('a corrupt file refuses the start with ISCSI_ERR_CORRUPT_RECORD naming the file and what to do', async () => {
    writeFileSync(join(dir, prFileName(LUN0.naa)), '{"version":1,');
    const e = await PrStore.open(opts(), [LUN0]).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ClusterError);
    expect((e as ClusterError).code).toBe('ISCSI_ERR_CORRUPT_RECORD');
    expect((e as Error).message).toContain(prFileName(LUN0.naa));
    expect((e as Error).message).toMatch(/remove it/);
    writeFileSync(join(dir, prFileName(LUN0.naa)), JSON.stringify({ version: 1, generation: 1, aptpl: false, registrations: [], reservation: { type: 1, scope: 0, holder: 'x|1' } }));
    await expect(PrStore.open(opts(), [LUN0])).rejects.toThrow(/holder is not registered/);
  });

  it('removes the files of LUNs the target no longer has, and nothing else', async () => {
    writeFileSync(join(dir, prFileName('6001405bbbbbbbbbbbbbbbbbbbbbbbbb')), '{}');
    writeFileSync(join(dir, 'target.json'), '{}');
    writeFileSync(join(dir, prFileName(LUN0.naa)), JSON.stringify({ version: 1, generation: 0, aptpl: false, registrations: [], reservation: null }));
    await PrStore.open(opts(), [LUN0]);
    expect(readdirSync(dir).sort()).toEqual([prFileName(LUN0.naa), 'target.json'].sort());
    expect(existsSync(join(dir, prFileName(LUN0.naa)))).toBe(true);
  });
});
