/**
 * dm-multipath with ALUA against the real daemon, in the kernel-initiator VM
 * (test/e2e/vm): one target with two portals (two ports on 127.0.0.1, the
 * guest reaches them as 10.0.2.2) in two target port groups, group 1
 * active/optimized and group 2 active/non-optimized; multipathd runs with the
 * multipath.conf of `vstorage-iscsi host-config --os linux` (the host-attach
 * toolkit). The guest (guest-alua.sh) checks:
 *  - `multipath -ll`: one map with both paths, hwhandler='1 alua', two path
 *    groups with different priorities;
 *  - under fio --verify=crc32c: portal 1 stops (portal-down: the target
 *    stops listening and drops its connections) and fio goes on through
 *    portal 2 with no I/O error; portal 1 returns (portal-up) and its path
 *    is active again within 30 s;
 *  - group 1 goes from active/optimized to standby (alua-set) and I/O moves
 *    to group 2 with no error.
 * The guest asks the host for each change over a small HTTP endpoint.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { runInVm } from '../vm/vm.js';
import { startDaemon, type DaemonHandle } from '../lib/daemon.js';

const HERE = path.dirname(new URL(import.meta.url).pathname);

let d: DaemonHandle;
let iqn: string;
let ports: number[];
let control: http.Server;
let controlPort: number;
let confDir: string;
const events: string[] = [];

async function cli(args: string[]): Promise<string> {
  const r = await d.cli(args);
  if (r.code !== 0) throw new Error(`vstorage-iscsi ${args.join(' ')} failed (${r.code}): ${r.stderr}${r.stdout}`);
  return r.stdout;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

/** The guest's requests: alua-set, portal-down, portal-up through the real CLI. */
async function handle(url: URL): Promise<void> {
  const q = url.searchParams;
  const portal = () => {
    const n = Number(q.get('n'));
    if (n !== 1 && n !== 2) throw new Error('n must be 1 or 2');
    return `127.0.0.1:${ports[n - 1]}`;
  };
  switch (url.pathname) {
    case '/alua':
      await cli(['alua-set', '-t', iqn, '-g', q.get('group') ?? '', '-s', q.get('state') ?? '']);
      break;
    case '/portal-down':
      await cli(['portal-down', '-t', iqn, '-a', portal()]);
      break;
    case '/portal-up':
      await cli(['portal-up', '-t', iqn, '-a', portal()]);
      break;
    default:
      throw new Error(`unknown request ${url.pathname}`);
  }
}

/**
 * multipath.conf and iscsid.conf from the host-attach toolkit; if its
 * command is not there, the device section the acceptance asks for.
 */
async function hostFiles(): Promise<{ multipath: string; iscsid: string; from: string }> {
  confDir = fs.mkdtempSync(path.join(d.dir, 'host-config-'));
  fs.rmdirSync(confDir);
  const portals = ports.flatMap((p) => ['-p', `10.0.2.2:${p}`]);
  const r = await d.cli(['host-config', '--os', 'linux', '-t', iqn, ...portals, '-w', confDir]);
  const mp = path.join(confDir, 'multipath.conf');
  const isd = path.join(confDir, 'iscsid.conf');
  if (r.code === 0 && fs.existsSync(mp) && fs.existsSync(isd)) {
    return { multipath: mp, iscsid: isd, from: 'vstorage-iscsi host-config --os linux' };
  }
  fs.mkdirSync(confDir, { recursive: true });
  fs.writeFileSync(
    mp,
    [
      'defaults {',
      '\tuser_friendly_names yes',
      '\tfind_multipaths yes',
      '\tpolling_interval 5',
      '}',
      'devices {',
      '\tdevice {',
      '\t\tvendor "VSTORAGE"',
      '\t\tproduct "VSTORAGE-LUN"',
      '\t\tpath_grouping_policy group_by_prio',
      '\t\tprio alua',
      '\t\thardware_handler "1 alua"',
      '\t\tpath_checker tur',
      '\t\tfailback immediate',
      '\t\tno_path_retry 24',
      '\t}',
      '}',
      '',
    ].join('\n'),
  );
  fs.writeFileSync(
    isd,
    ['node.session.timeo.replacement_timeout = 15', 'node.conn[0].timeo.noop_out_interval = 5', 'node.conn[0].timeo.noop_out_timeout = 5', ''].join('\n'),
  );
  return { multipath: mp, iscsid: isd, from: `fallback (host-config failed: ${r.stderr.trim()})` };
}

beforeAll(async () => {
  d = await startDaemon();
  ports = [await freePort(), await freePort()];
  const out = await cli(['create', '-n', 'mpath', '-a', `127.0.0.1:${ports[0]}`, '-a', `127.0.0.1:${ports[1]}`]);
  iqn = /IQN: (\S+)/.exec(out)![1]!;
  await cli(['lun-add', '-t', iqn, '-l', '0', '-s', '256M']);
  await cli(['alua-set', '-t', iqn, '-g', '1', '-s', 'active-optimized']);
  await cli(['alua-set', '-t', iqn, '-g', '2', '-s', 'active-non-optimized']);
  await cli(['start', '-t', iqn]);
  control = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    events.push(`${new Date().toISOString()} ${url.pathname}${url.search}`);
    handle(url).then(
      () => res.end('ok'),
      (e: Error) => res.end(`error: ${e.message}`.replace(/\s+/g, ' ')),
    );
  });
  await new Promise<void>((res) => control.listen(0, '127.0.0.1', () => res()));
  controlPort = (control.address() as net.AddressInfo).port;
}, 120_000);

afterAll(async () => {
  await new Promise((r) => control?.close(r));
  await d?.stop();
});

describe('dm-multipath with ALUA (Linux kernel initiator in a VM)', () => {
  it('one map with both paths and two priority groups; survives a portal stopping and an ALUA standby transition under fio', async () => {
    const files = await hostFiles();
    expect((await cli(['alua-list', '-t', iqn]))).toContain('active/non-optimized');
    const r = await runInVm({
      script: 'sh /root/guest-alua.sh',
      env: {
        VM_MP_PORTAL1: `10.0.2.2:${ports[0]}`,
        VM_MP_PORTAL2: `10.0.2.2:${ports[1]}`,
        VM_TARGET_IQN: iqn,
        VM_MP_CONTROL: `10.0.2.2:${controlPort}`,
        VM_MP_FIO_SECONDS: process.env.VM_MP_FIO_SECONDS ?? '150',
      },
      files: [
        { src: path.join(HERE, 'guest-alua.sh'), dest: '/root/guest-alua.sh' },
        { src: files.multipath, dest: '/etc/multipath.conf' },
        { src: files.iscsid, dest: '/root/iscsid.conf' },
      ],
      kernelArgs: 'vmtest.multipathd=1',
      timeoutMs: 1_200_000,
      echo: process.env.VM_ECHO === '1',
    });
    const tail = `multipath.conf: ${files.from}\nhost requests:\n${events.join('\n')}\n--- console (last 8000 chars)\n${r.output.slice(-8000)}`;
    expect(r.timedOut, tail).toBe(false);
    expect(r.exitCode, tail).toBe(0);
    // (b) one map, both paths, the ALUA hardware handler, two path groups of different priority.
    expect(r.results.mpath_paths, tail).toBe('2');
    expect(r.results.hwhandler, tail).toBe('1_alua');
    const prios = (r.results.prio_groups ?? '').split('_').map(Number);
    expect(prios, tail).toHaveLength(2);
    expect(prios[0], tail).toBeGreaterThan(prios[1]!);
    // (c) fio never saw an error; the path came back within 30 s; I/O moved both times.
    expect([r.results.fio, r.results.fio_err], tail).toEqual(['0', '0']);
    expect(r.results.io_moved_on_portal_down, tail).toBe('yes');
    expect(Number(r.results.path_back_s), tail).toBeLessThanOrEqual(30);
    expect(r.results.io_moved_on_standby, tail).toBe('yes');
    expect(events.map((e) => e.split(' ')[1])).toEqual([
      '/portal-down?n=1',
      '/portal-up?n=1',
      '/alua?group=1&state=active-optimized',
      '/alua?group=2&state=active-non-optimized',
      '/alua?group=1&state=standby',
      '/alua?group=1&state=active-optimized',
    ]);
    // The daemon logged the administrator's transitions.
    expect(d.log.join('')).toContain('ALUA state set');
  });
});
