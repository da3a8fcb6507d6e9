/**
 * Changes to a LUN of a running target that the daemon makes online:
 * `lun-grow` (image and record grow, CAPACITY DATA HAS CHANGED raised) and
 * withLunDetached (the image is closed around a change, then the image the
 * record names is served) — with I/O continuing through the same LU store.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { runDaemon, type RunningDaemon } from '../../src/daemon/run.js';
import { DaemonClient } from '../../src/daemon/control-client.js';
import { createLogger } from '../../src/daemon/log.js';
import { ClusterStore } from '../../src/cluster/store.js';
import { createStore, openStore } from '../../src/lun/open-store.js';
import { FakeEngine } from './fake-engine.js';
import { daemonDir } from './helpers.js';

const HOST = '00000000000000aa';
const PREFIX = 'iqn.2014-04.com.vstorage';
const T1 = `${PREFIX}:test1`;
const MiB = 1 << 20;

let dir: string;
let store: ClusterStore;
let running: RunningDaemon | undefined;
let engine: FakeEngine;
let client: DaemonClient;

beforeEach(async () => {
  const d = await daemonDir('daemon-lun-', HOST, PREFIX);
  ({ dir, store } = d);
  await store.createTarget({ name: 'test1', portals: ['127.0.0.1:3261'] });
  await store.addLun(T1, { id: 1, sizeBytes: 8 * MiB });
  await store.setDesiredState(T1, 'running');
  running = await runDaemon({
    env: d.env,
    engineFactory: (o) => (engine = new FakeEngine(o)),
    log: createLogger({ level: 'error', write: () => undefined }),
  });
  client = new DaemonClient(path.join(dir, 'run', 'vstorage-iscsid.sock'));
});

afterEach(async () => {
  await running?.shutdown();
  running = undefined;
  fs.rmSync(dir, { recursive: true, force: true });
});

const lunStore = () => engine.defs.get(T1)!.luns[0]!.store;

describe('online LUN changes', () => {
  it('lun-grow grows the served image and the record, and raises CAPACITY DATA HAS CHANGED', async () => {
    const s = lunStore();
    await s.write(Buffer.alloc(4096, 1), 4 * MiB, true);
    expect(await client.lunGrow(T1, 1, 16 * MiB)).toEqual({ sizeBytes: 16 * MiB });
    expect(s.sizeBytes).toBe(16 * MiB);
    expect(engine.calls).toContain(`capacity ${T1} 1`);
    expect((await store.getTarget(T1)).luns[0]!.sizeBytes).toBe(16 * MiB);
    await s.write(Buffer.alloc(4096, 2), 12 * MiB, true);
    const b = Buffer.alloc(4096);
    await s.read(b, 4 * MiB);
    expect(b.every((x) => x === 1)).toBe(true);
    await s.read(b, 12 * MiB);
    expect(b.every((x) => x === 2)).toBe(true);
    // Not larger, not whole blocks, unknown LUN: refused, nothing changed.
    await expect(client.lunGrow(T1, 1, 8 * MiB)).rejects.toMatchObject({ code: 'ISCSI_ERR_SIZE_NOT_LARGER' });
    await expect(client.lunGrow(T1, 1, 16 * MiB + 100)).rejects.toMatchObject({ code: 'ISCSI_ERR_BAD_SIZE' });
    await expect(client.lunGrow(T1, 9, 32 * MiB)).rejects.toMatchObject({ code: 'ISCSI_ERR_LUN_NOT_FOUND' });
    expect(s.sizeBytes).toBe(16 * MiB);
    expect((await store.getTarget(T1)).luns[0]!.sizeBytes).toBe(16 * MiB);
  });

  it('withLunDetached closes the image around a change and serves what the record names afterwards', async () => {
    const s = lunStore();
    await s.write(Buffer.alloc(4096, 7), 0, false);
    const dirOf = store.targetDir(T1);
    // The change: a new image with other contents becomes the LUN's file.
    await running!.daemon.withLunDetached(T1, 1, async () => {
      const next = await createStore(path.join(dirOf, 'lun-1-next.qcow2'), 'qcow2', 8 * MiB);
      await next.write(Buffer.alloc(4096, 9), 0, true);
      await next.close();
      await store.updateTarget(T1, (rec) => {
        rec.luns[0]!.file = 'lun-1-next.qcow2';
      });
    });
    const b = Buffer.alloc(4096);
    await s.read(b, 0);
    expect(b.every((x) => x === 9)).toBe(true);
    // The old image was flushed and closed before the change: its data is in the file.
    const old = await openStore(path.join(dirOf, 'lun-1.qcow2'), 'qcow2');
    await old.read(b, 0);
    expect(b.every((x) => x === 7)).toBe(true);
    await old.close();
    // A failing change: the record still names the same image, which is served again.
    await expect(
      running!.daemon.withLunDetached(T1, 1, async () => {
        throw new Error('change failed');
      }),
    ).rejects.toThrow('change failed');
    await s.write(Buffer.alloc(4096, 3), 4096, false);
    await s.read(b, 4096);
    expect(b.every((x) => x === 3)).toBe(true);
  });
});
