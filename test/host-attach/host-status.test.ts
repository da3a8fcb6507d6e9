/**
 * host-status joins recorded `iscsiadm -m session -P 3` and `multipath -ll`
 * output into a per-LUN view: map, WWID, each path with its portal, target,
 * device, state, group priority and ALUA state; warnings for what is wrong.
 */
import { afterEach, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  aluaFromPrio,
  aluaFromSysfs,
  buildHostStatus,
  collectLive,
  formatHostStatus,
  parseInputs,
  type ToolRunner,
} from '../../tools/host-attach/host-status.js';

const FIX = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures');
const fixture = (name: string) => fs.readFileSync(path.join(FIX, name), 'utf8');
const T = 'iqn.2014-04.com.vstorage:ps1';

function status(iscsi: string | undefined, mp: string | undefined, alua?: Parameters<typeof buildHostStatus>[2]) {
  const p = parseInputs(iscsi === undefined ? undefined : fixture(iscsi), mp === undefined ? undefined : fixture(mp));
  return buildHostStatus(p.iscsi, p.mp, alua);
}

let tmp: string | undefined;
afterEach(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  tmp = undefined;
});

describe('ALUA state from the alua prioritizer', () => {
  it('maps priorities to access states, +80 meaning the preferred bit', () => {
    expect(aluaFromPrio(50)).toEqual({ state: 'active/optimized', preferred: false });
    expect(aluaFromPrio(10)).toEqual({ state: 'active/non-optimized', preferred: false });
    expect(aluaFromPrio(1)).toEqual({ state: 'standby', preferred: false });
    expect(aluaFromPrio(0)).toEqual({ state: 'unavailable', preferred: false });
    expect(aluaFromPrio(130)).toEqual({ state: 'active/optimized', preferred: true });
    expect(aluaFromPrio(90)).toEqual({ state: 'active/non-optimized', preferred: true });
    expect(aluaFromPrio(37)).toBeUndefined();
    expect(aluaFromPrio(-1)).toBeUndefined();
  });
});

describe('buildHostStatus', () => {
  it('our target through two portals: per LUN a path per portal, optimized and non-optimized group', () => {
    const st = status('iscsiadm-session-P3-2.1.8.txt', 'multipath-ll-vstorage.txt');
    expect(st.warnings).toEqual([]);
    expect(st.luns.map((l) => [l.name, l.wwid, l.lun, l.target, l.ours])).toEqual([
      ['mpatha', '36e6f72616c69737a8e1d4b7c2a5f3000', 0, T, true],
      ['mpathb', '36e6f72616c69737a8e1d4b7c2a5f3001', 1, T, true],
    ]);
    expect(st.luns[0]!.paths).toEqual([
      {
        hctl: '2:0:0:0',
        device: 'sda',
        dmState: 'active',
        checkerState: 'ready',
        onlineState: 'running',
        group: 1,
        groupPrio: 50,
        groupStatus: 'active',
        alua: 'active/optimized',
        aluaPreferred: false,
        aluaSource: 'prio',
        portal: '192.168.10.101:3260,1',
        target: T,
        sid: 1,
        deviceState: 'running',
        up: true,
      },
      expect.objectContaining({ device: 'sdc', group: 2, groupPrio: 10, alua: 'active/non-optimized', portal: '192.168.20.101:3260,2', sid: 2 }),
    ]);
    expect(st.unmapped).toEqual([]);
  });

  it('prints it as a table per LUN, then the sessions', () => {
    const text = formatHostStatus(status('iscsiadm-session-P3-2.1.8.txt', 'multipath-ll-vstorage.txt'));
    expect(text).toBe(
      [
        'mpatha (36e6f72616c69737a8e1d4b7c2a5f3000) dm-0 VSTORAGE,VSTORAGE-LUN',
        "  target iqn.2014-04.com.vstorage:ps1 lun 0 size=100G features='1 queue_if_no_path' hwhandler='1 alua' wp=rw; 2 of 2 paths up",
        '  GROUP  PRIO  GROUP-STATE  ALUA                  PATH     DEV  STATE         PORTAL                 TARGET                        SID',
        '  1      50    active       active/optimized      2:0:0:0  sda  active/ready  192.168.10.101:3260,1  iqn.2014-04.com.vstorage:ps1  1',
        '  2      10    enabled      active/non-optimized  3:0:0:0  sdc  active/ready  192.168.20.101:3260,2  iqn.2014-04.com.vstorage:ps1  2',
        '',
        'mpathb (36e6f72616c69737a8e1d4b7c2a5f3001) dm-1 VSTORAGE,VSTORAGE-LUN',
        "  target iqn.2014-04.com.vstorage:ps1 lun 1 size=10G features='1 queue_if_no_path' hwhandler='1 alua' wp=rw; 2 of 2 paths up",
        '  GROUP  PRIO  GROUP-STATE  ALUA                  PATH     DEV  STATE         PORTAL                 TARGET                        SID',
        '  1      50    active       active/optimized      2:0:0:1  sdb  active/ready  192.168.10.101:3260,1  iqn.2014-04.com.vstorage:ps1  1',
        '  2      10    enabled      active/non-optimized  3:0:0:1  sdd  active/ready  192.168.20.101:3260,2  iqn.2014-04.com.vstorage:ps1  2',
        '',
        'iSCSI sessions:',
        '  SID  TARGET                        PORTAL                 SESSION    CONNECTION  HOST  DEVICES',
        '  1    iqn.2014-04.com.vstorage:ps1  192.168.10.101:3260,1  LOGGED_IN  LOGGED IN   2     sda sdb',
        '  2    iqn.2014-04.com.vstorage:ps1  192.168.20.101:3260,2  LOGGED_IN  LOGGED IN   3     sdc sdd',
        '',
        'All paths up.',
        '',
      ].join('\n'),
    );
  });

  it('a portal down: its paths failed/faulty, its session FAILED, I/O on the non-optimized group', () => {
    const st = status('iscsiadm-session-P3-2.1.8-failed.txt', 'multipath-ll-vstorage-failed-path.txt');
    const a = st.luns[0]!;
    expect(a.paths.map((p) => [p.device, p.dmState, p.checkerState, p.up, p.alua ?? null, p.groupStatus, p.deviceState])).toEqual([
      ['sda', 'failed', 'faulty', false, null, 'enabled', 'transport-offline'],
      ['sdc', 'active', 'ready', true, 'active/non-optimized', 'active', 'running'],
    ]);
    expect(st.warnings).toEqual([
      'mpatha: path sda (2:0:0:0, via 192.168.10.101:3260,1) is down (failed/faulty)',
      'mpathb: path sdb (2:0:0:1, via 192.168.10.101:3260,1) is down (failed/faulty)',
      `session 1 to ${T} via 192.168.10.101:3260,1 is FAILED (connection TRANSPORT WAIT): iscsid keeps logging in again`,
    ]);
    expect(formatHostStatus(st)).toContain('  1      0     enabled      -                     2:0:0:0  sda  failed/faulty  192.168.10.101:3260,1');
  });

  it('every path down: says whether I/O is queued', () => {
    const mp = fixture('multipath-ll-vstorage-failed-path.txt').replace(/3:0:0:(\d) (sd.) (\S+)\s+active ready/g, '3:0:0:$1 $2 $3 failed faulty');
    const p = parseInputs(undefined, mp);
    const st = buildHostStatus(undefined, p.mp);
    expect(st.warnings[0]).toBe('mpatha: no usable path: I/O is queued until a path returns (queue_if_no_path)');
    const noQueue = buildHostStatus(undefined, parseInputs(undefined, mp.replace(/features='1 queue_if_no_path'/g, "features='0'")).mp);
    expect(noQueue.warnings[0]).toBe('mpatha: no usable path: I/O fails');
  });

  it('the sample of seeds/000 with one-line sessions: preferred optimized group, portals unknown without -P 3', () => {
    const st = status('iscsiadm-session-seed000.txt', 'multipath-ll-seed000.txt');
    const l = st.luns[0]!;
    expect(l).toMatchObject({ name: 'mpatha', wwid: '36f4032f00035000000000000000008ab', lun: 120, ours: false });
    expect(l.paths.map((p) => [p.device, p.group, p.groupPrio, p.alua, p.aluaPreferred, p.portal ?? null])).toEqual([
      ['sde', 1, 130, 'active/optimized', true, null],
      ['sdd', 2, 10, 'active/non-optimized', false, null],
      ['sdc', 2, 10, 'active/non-optimized', false, null],
    ]);
    expect(st.sessions).toHaveLength(4);
    // Not our LUN: no advice about our multipath.conf, only that -P 3 would tell the portals.
    expect(st.warnings).toEqual(['portals and targets per path need `iscsiadm -m session -P 3` output (print level 3)']);
  });

  it('our LUN without the ALUA handler, with one path, with a 120 s replacement timeout; disks in no map', () => {
    const mp = [
      'mpathc (36e6f72616c69737a8e1d4b7c2a5f3009) dm-2 VSTORAGE,VSTORAGE-LUN',
      "size=1.0G features='0' hwhandler='0' wp=rw",
      "`-+- policy='service-time 0' prio=1 status=active",
      '  `- 2:0:0:0 sda 8:0 active ready running',
    ].join('\n');
    const iscsi = fixture('iscsiadm-session-P3-2.1.8.txt').replace(/Recovery Timeout: 15/g, 'Recovery Timeout: 120');
    const p = parseInputs(iscsi, mp);
    const st = buildHostStatus(p.iscsi, p.mp);
    expect(st.unmapped.map((u) => [u.device, u.portal])).toEqual([
      ['sdb', '192.168.10.101:3260,1'],
      ['sdc', '192.168.20.101:3260,2'],
      ['sdd', '192.168.20.101:3260,2'],
    ]);
    expect(st.luns[0]!.paths[0]!.alua).toBeUndefined();
    expect(st.warnings).toEqual([
      'mpathc: a single path: no redundancy (expected one path per portal of the target)',
      "mpathc: hwhandler='0': dm-multipath does not use ALUA for this LUN; install the multipath.conf of `vstorage-iscsi host-config --os linux` and run multipathd reconfigure",
      'session 1: replacement_timeout 120 s: I/O stalls that long before dm-multipath moves it to another path (host-config sets 15)',
      `sdb: iSCSI disk of ${T} via 192.168.10.101:3260,1 is in no multipath map`,
      `sdc: iSCSI disk of ${T} via 192.168.20.101:3260,2 is in no multipath map`,
      `sdd: iSCSI disk of ${T} via 192.168.20.101:3260,2 is in no multipath map`,
    ]);
    expect(formatHostStatus(st)).toContain('iSCSI disks in no multipath map:\n  PATH     DEV  STATE    PORTAL');
  });

  it('no maps at all while iSCSI disks are attached: one warning about multipathd', () => {
    const st = buildHostStatus(parseInputs(fixture('iscsiadm-session-P3-2.1.8.txt'), '').iscsi, parseInputs(undefined, '').mp);
    expect(st.luns).toEqual([]);
    expect(st.warnings).toEqual(['no multipath maps although iSCSI disks are attached: is multipathd running with the multipath.conf of host-config?']);
    expect(formatHostStatus(st)).toMatch(/^No multipath maps\.\n/);
  });

  it('without multipath output: one entry per target LUN with a path per session', () => {
    const st = status('iscsiadm-session-P3-2.1.8-failed.txt', undefined);
    expect(st.luns.map((l) => [l.name, l.paths.map((p) => `${p.device}:${p.deviceState}:${p.up}`)])).toEqual([
      [`${T} lun 0`, ['sda:transport-offline:false', 'sdc:running:true']],
      [`${T} lun 1`, ['sdb:transport-offline:false', 'sdd:running:true']],
    ]);
    expect(formatHostStatus(st)).toContain('  PATH     DEV  STATE              ALUA  PORTAL');
  });

  it('takes the ALUA state from the kernel (sysfs access_state) when it can', () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sysfs-'));
    for (const [dev, state, pref] of [['sda', 'standby', '0'], ['sdc', 'active/optimized', '1']] as const) {
      fs.mkdirSync(path.join(tmp, 'block', dev, 'device'), { recursive: true });
      fs.writeFileSync(path.join(tmp, 'block', dev, 'device', 'access_state'), `${state}\n`);
      fs.writeFileSync(path.join(tmp, 'block', dev, 'device', 'preferred_path'), `${pref}\n`);
    }
    expect(aluaFromSysfs(tmp, 'sdc')).toEqual({ state: 'active/optimized', preferred: true });
    expect(aluaFromSysfs(tmp, 'sdz')).toBeUndefined();
    const root = tmp;
    const st = status('iscsiadm-session-P3-2.1.8.txt', 'multipath-ll-vstorage.txt', (d) => aluaFromSysfs(root, d));
    expect(st.luns[0]!.paths.map((p) => [p.device, p.alua, p.aluaPreferred, p.aluaSource])).toEqual([
      ['sda', 'standby', false, 'sysfs'],
      ['sdc', 'active/optimized', true, 'sysfs'],
    ]);
    expect(st.luns[1]!.paths[0]!.aluaSource).toBe('prio');
  });
});

describe('collectLive', () => {
  const found = (names: string[]) => (n: string) => (names.includes(n) ? `/usr/sbin/${n}` : undefined);

  it('runs iscsiadm -m session -P 3 and multipath -ll', async () => {
    const calls: string[] = [];
    const run: ToolRunner = async (file, args) => {
      calls.push(`${file} ${args.join(' ')}`);
      return { code: 0, stdout: file.endsWith('iscsiadm') ? 'I' : 'M', stderr: '' };
    };
    expect(await collectLive({}, run, found(['iscsiadm', 'multipath']))).toEqual({ iscsiadm: 'I', multipath: 'M', notes: [] });
    expect(calls).toEqual(['/usr/sbin/iscsiadm -m session -P 3', '/usr/sbin/multipath -ll']);
  });

  it('iscsiadm exit 21 is "no sessions"; a missing tool is a note; both missing is an error', async () => {
    const run: ToolRunner = async () => ({ code: 21, stdout: '', stderr: 'iscsiadm: No active sessions.\n' });
    expect(await collectLive({}, run, found(['iscsiadm']))).toEqual({
      iscsiadm: '',
      notes: ['multipath not found: LUNs are shown per iSCSI session'],
    });
    await expect(collectLive({}, run, found([]))).rejects.toMatchObject({ code: 'ISCSI_ERR_HOST_TOOLS_MISSING' });
  });

  it('a failing tool is an error with its message', async () => {
    const run: ToolRunner = async (file) =>
      file.endsWith('multipath') ? { code: 1, stdout: '', stderr: 'Nov 23 | DM multipath kernel driver not loaded\n' } : { code: 0, stdout: '', stderr: '' };
    await expect(collectLive({}, run, found(['iscsiadm', 'multipath']))).rejects.toMatchObject({
      code: 'ISCSI_ERR_HOST_TOOL_FAILED',
      message: expect.stringContaining('multipath -ll failed with exit status 1: Nov 23 | DM multipath kernel driver not loaded'),
    });
  });
});
