/**
 * The real `vstorage-iscsid` entry point with the real engine: starts in the
 * foreground, serves a registered target on a loopback portal, answers the
 * control socket, logs to stderr and stops cleanly on SIGTERM.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { buildForTests, jsPath } from '../cluster/helpers/build.js';
import { ClusterStore } from '../../src/cluster/store.js';
import { DaemonClient } from '../../src/daemon/control-client.js';
import { freePort } from '../helpers/free-port.js';

const HOST = '00000000000000aa';
const PREFIX = 'iqn.2014-04.com.vstorage';
const IQN = `${PREFIX}:main1`;

let out: string;
beforeAll(() => {
  out = buildForTests(['src/daemon/main.ts']);
}, 120_000);
afterAll(() => fs.rmSync(out, { recursive: true, force: true }));

describe('vstorage-iscsid main', () => {
  it('serves a registered running target and stops on SIGTERM', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iscsid-'));
    try {
      const root = path.join(dir, 'root');
      fs.mkdirSync(root);
      fs.writeFileSync(path.join(dir, 'config'), `ISCSI_ROOT=${root}\nISCSI_RUN_DIR=${dir}/run\nISCSI_STATE_DIR=${dir}/state\n`);
      const port = await freePort();
      const store = await ClusterStore.open(root, { hostId: HOST, iqnPrefix: PREFIX });
      await store.createTarget({ name: 'main1', portals: [`127.0.0.1:${port}`] });
      await store.addLun(IQN, { id: 1, sizeBytes: 16 << 20 });
      await store.setDesiredState(IQN, 'running');

      const child = spawn(process.execPath, [jsPath(out, 'src/daemon/main.ts')], {
        env: { PATH: process.env.PATH, ISCSI_CONFIG: path.join(dir, 'config'), ISCSI_HOST_ID: HOST },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
      const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));

      const sock = path.join(dir, 'run', 'vstorage-iscsid.sock');
      const client = new DaemonClient(sock);
      for (let i = 0; i < 100 && !/vstorage-iscsid ready/.test(stderr); i++) await new Promise((r) => setTimeout(r, 100));
      expect(stderr).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z INFO  vstorage-iscsid starting host=00000000000000aa/m);
      expect(stderr).toMatch(/INFO  target started target=iqn\.2014-04\.com\.vstorage:main1 luns=1/);
      const st = await client.status();
      expect(st.targets).toEqual([expect.objectContaining({ iqn: IQN, running: true, luns: [1] })]);

      // The portal accepts TCP connections.
      await new Promise<void>((resolve, reject) => {
        const c = net.createConnection({ host: '127.0.0.1', port }, () => {
          c.destroy();
          resolve();
        });
        c.on('error', reject);
      });

      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(fs.existsSync(sock)).toBe(false);
      expect(stderr).toMatch(/INFO  vstorage-iscsid stopped/);
      expect((await store.getTarget(IQN)).desiredState).toBe('running');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('--help prints usage; a bad argument exits 2', () => {
    const bin = jsPath(out, 'src/daemon/main.ts');
    expect(execFileSync(process.execPath, [bin, '--help'], { encoding: 'utf8' })).toMatch(/^Usage: vstorage-iscsid/);
    let code = 0;
    try {
      execFileSync(process.execPath, [bin, '--bogus'], { stdio: 'pipe' });
    } catch (e) {
      code = (e as { status: number }).status;
    }
    expect(code).toBe(2);
  });
});
