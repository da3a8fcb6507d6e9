/**
 * `vstorage-iscsi host-config` and `host-status` through the CLI: options,
 * usage errors (exit 2), failures with codes (exit 1), --write, the target's
 * portals and CHAP accounts read from ISCSI_ROOT, recorded output from files
 * and standard input, and the live mode running (fake) iscsiadm and multipath.
 */
import { afterEach, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { runCli } from '../../tools/cli/program.js';
import { findTool } from '../../tools/host-attach/host-status.js';

const FIX = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures');
const T = 'iqn.2014-04.com.vstorage:ps1';

interface Result {
  code: number;
  out: string;
  err: string;
}

async function run(args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<Result> {
  let out = '';
  let err = '';
  const stdin = new PassThrough();
  stdin.end(opts.input ?? '');
  const env = opts.env ?? { ISCSI_CONFIG: path.join(FIX, 'no-root.config') };
  const code = await runCli(args, { stdout: (s) => (out += s), stderr: (s) => (err += s), stdin, env });
  return { code, out, err };
}

let tmp: string | undefined;
afterEach(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  tmp = undefined;
});
function scratch(): string {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'host-cli-'));
  return tmp;
}

describe('host-config', () => {
  it('prints every file of the chosen OS under a banner naming where it goes', async () => {
    const r = await run(['host-config', '--os', 'linux', '-t', 'ps1', '-p', '192.168.10.101', '-p', '192.168.20.101']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out.split('\n').filter((l) => l.startsWith('#### '))).toEqual([
      '#### iscsid.conf -> set these keys in /etc/iscsi/iscsid.conf',
      '#### multipath.conf -> /etc/multipath.conf (on a host without one)',
      '#### multipath-vstorage-iscsi.conf -> /etc/multipath/conf.d/vstorage-iscsi.conf (on a host with its own multipath.conf)',
      '#### 99-vstorage-iscsi.rules -> /etc/udev/rules.d/99-vstorage-iscsi.rules',
      '#### setup-linux.sh -> run as root: sh setup-linux.sh',
    ]);
    expect(r.out).toContain(`# Target: ${T}\n# Portals: 192.168.10.101:3260 192.168.20.101:3260\n`);
    expect(r.out).toContain('\t\tvendor "^VSTORAGE$"\n\t\tproduct "^VSTORAGE-LUN$"\n');
    const win = await run(['host-config', '--os', 'windows', '-p', '[fd00::1]:3261']);
    expect(win.code).toBe(0);
    expect(win.out).toContain("New-IscsiTargetPortal -TargetPortalAddress 'fd00::1' -TargetPortalPortNumber 3261");
    const esxi = await run(['host-config', '--os', 'esxi', '-p', '[fd00::1]:3261']);
    expect(esxi.out).toContain("--address='[fd00::1]:3261'");
  });

  it('usage errors exit 2 and print nothing on standard output', async () => {
    for (const [args, msg] of [
      [['host-config'], "required option '--os <os>' not specified"],
      [['host-config', '--os', 'aix'], "option '--os <os>' argument 'aix' is invalid. Allowed choices are linux, windows, esxi."],
      [['host-config', '--os', 'linux', '--mutual-user', 'tgt1'], '--mutual-user needs -u'],
      [['host-config', '--os', 'linux', '--queue-time', 'soon'], 'expected a number of seconds'],
      [['host-config', '--os', 'windows', '--queue-time', 'forever'], 'Windows MPIO keeps a disk without paths for a number of seconds only'],
      [['host-config', '--os', 'esxi', '--queue-time', '60'], 'Misc.APDTimeout'],
      [['host-config', '--os', 'linux', '-f'], '--force only goes with --write DIR'],
      [['host-status', '--iscsiadm', '-', '--multipath', '-'], 'only one of --iscsiadm and --multipath can read standard input'],
    ] as const) {
      const r = await run([...args]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.out).toBe('');
      expect(r.err).toContain(msg);
    }
  });

  it('bad values are errors with codes (exit 1)', async () => {
    for (const [args, code] of [
      [['host-config', '--os', 'linux', '-p', 'storage.example'], 'ISCSI_ERR_BAD_ADDRESS'],
      [['host-config', '--os', 'linux', '-p', '0.0.0.0'], 'ISCSI_ERR_BAD_ADDRESS'],
      [['host-config', '--os', 'linux', '-p', '10.0.0.1', '-p', '10.0.0.1:3260'], 'ISCSI_ERR_DUPLICATE_PORTAL'],
      [['host-config', '--os', 'linux', '-t', 'iqn.bad'], 'ISCSI_ERR_BAD_IQN'],
      [['host-config', '--os', 'linux', '-u', 'bad user'], 'ISCSI_ERR_BAD_USER'],
      [['host-config', '--os', 'linux', '-u', 'user1', '--mutual-user', 'user1'], 'ISCSI_ERR_SECRET_REUSE'],
      [['host-config', '--os', 'linux', '-t', 'ps1'], 'ISCSI_ERR_NO_PORTAL'],
    ] as const) {
      const r = await run([...args]);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.out).toBe('');
      expect(r.err).toMatch(new RegExp(`^vstorage-iscsi: .*\\(${code}\\)\\n$`));
    }
  });

  it('--write DIR writes the files (scripts executable), refuses to replace them without --force', async () => {
    const dir = path.join(scratch(), 'out');
    const r = await run(['host-config', '--os', 'linux', '-t', T, '-p', '192.168.10.101', '-u', 'user1', '-w', dir]);
    expect(r.code).toBe(0);
    expect(r.out).toBe(
      [
        `wrote ${dir}/iscsid.conf`,
        `wrote ${dir}/multipath.conf`,
        `wrote ${dir}/multipath-vstorage-iscsi.conf`,
        `wrote ${dir}/99-vstorage-iscsi.rules`,
        `wrote ${dir}/setup-linux.sh`,
        'Next:',
        `  CHAP_SECRET=... sh ${dir}/setup-linux.sh   (as root)`,
        '  multipath -ll; vstorage-iscsi host-status   (every LUN: a path per portal)',
        '',
      ].join('\n'),
    );
    expect(fs.statSync(path.join(dir, 'setup-linux.sh')).mode & 0o777).toBe(0o755);
    expect(fs.statSync(path.join(dir, 'multipath.conf')).mode & 0o777).toBe(0o644);
    fs.writeFileSync(path.join(dir, 'multipath.conf'), 'mine\n');
    const again = await run(['host-config', '--os', 'linux', '-w', dir]);
    expect(again.code).toBe(1);
    expect(again.err).toContain('already exist: choose another directory or add --force to replace them (ISCSI_ERR_HOST_FILE_EXISTS)');
    expect(fs.readFileSync(path.join(dir, 'multipath.conf'), 'utf8')).toBe('mine\n');
    expect((await run(['host-config', '--os', 'linux', '-w', dir, '--force'])).code).toBe(0);
    expect(fs.readFileSync(path.join(dir, 'multipath.conf'), 'utf8')).toContain('group_by_prio');
    expect(fs.readdirSync(dir).sort()).toEqual(['99-vstorage-iscsi.rules', 'iscsid.conf', 'multipath-vstorage-iscsi.conf', 'multipath.conf', 'setup-linux.sh']);

    const file = path.join(tmp!, 'a-file');
    fs.writeFileSync(file, '');
    const notDir = await run(['host-config', '--os', 'esxi', '-w', file]);
    expect(notDir.code).toBe(1);
    expect(notDir.err).toContain('(ISCSI_ERR_HOST_WRITE_FAILED)');
  });

  it('-t alone reads the target\'s portals and CHAP accounts from ISCSI_ROOT', async () => {
    const dir = scratch();
    fs.mkdirSync(path.join(dir, 'root'));
    fs.writeFileSync(path.join(dir, 'config'), `ISCSI_ROOT=${dir}/root\nISCSI_RUN_DIR=${dir}/run\nISCSI_STATE_DIR=${dir}/state\n`);
    const env = { ISCSI_CONFIG: path.join(dir, 'config'), ISCSI_HOST_ID: 'fefacc38a2f140ca' };
    expect((await run(['account-create', '-u', 'user1'], { env, input: 'secret-of-user1\n' })).code).toBe(0);
    expect((await run(['account-create', '-u', 'tgt1'], { env, input: 'secret-of-tgt1-x\n' })).code).toBe(0);
    const c = await run(['create', '-n', 'ps1', '-a', '192.168.10.110', '-a', '[fd00:20::110]:3261', '-u', 'user1', '--mutual-user', 'tgt1'], { env });
    expect(c.err).toBe('');
    const r = await run(['host-config', '--os', 'linux', '-t', 'ps1'], { env });
    expect(r.code).toBe(0);
    expect(r.out).toContain(`# Target: ${T}\n# Portals: 192.168.10.110:3260 [fd00:20::110]:3261\n# CHAP: account user1, mutual tgt1;`);
    expect(r.out).toContain(`PORTALS='192.168.10.110:3260 [fd00:20::110]:3261'`);
    expect(r.out).toContain("-o update -n node.session.auth.username_in -v 'tgt1'");
    const other = await run(['host-config', '--os', 'linux', '-t', 'nosuch'], { env });
    expect(other.code).toBe(1);
    expect(other.err).toContain('(ISCSI_ERR_TARGET_NOT_FOUND)');
    // Explicit portals and account win over the record.
    const explicit = await run(['host-config', '--os', 'windows', '-t', 'ps1', '-p', '10.1.1.1'], { env });
    expect(explicit.out).toContain("New-IscsiTargetPortal -TargetPortalAddress '10.1.1.1'");
    expect(explicit.out).not.toContain('192.168.10.110');
    expect(explicit.out).not.toContain('ChapUsername');
  });
});

describe('host-status', () => {
  const f = (n: string) => path.join(FIX, n);

  it('reads recorded output from files', async () => {
    const r = await run(['host-status', '--iscsiadm', f('iscsiadm-session-P3-2.1.8-failed.txt'), '--multipath', f('multipath-ll-vstorage-failed-path.txt')]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^mpatha \(36e6f72616c69737a8e1d4b7c2a5f3000\) dm-0 VSTORAGE,VSTORAGE-LUN\n/);
    expect(r.out).toContain('  2      10    active       active/non-optimized  3:0:0:0  sdc  active/ready   192.168.20.101:3260,2');
    expect(r.out).toContain('Warnings:\n  - mpatha: path sda (2:0:0:0, via 192.168.10.101:3260,1) is down (failed/faulty)\n');
  });

  it('reads one of them from standard input; --json gives the same data', async () => {
    const r = await run(['host-status', '--multipath', '-', '--iscsiadm', f('iscsiadm-session-P3-2.1.8.txt'), '--json'], {
      input: fs.readFileSync(f('multipath-ll-vstorage.txt'), 'utf8'),
    });
    expect(r.code).toBe(0);
    const st = JSON.parse(r.out);
    expect(st.luns.map((l: { name: string; paths: unknown[] }) => [l.name, l.paths.length])).toEqual([
      ['mpatha', 2],
      ['mpathb', 2],
    ]);
    expect(st.luns[0].paths[0]).toMatchObject({ device: 'sda', portal: '192.168.10.101:3260,1', target: T, alua: 'active/optimized', groupPrio: 50 });
    expect(st.warnings).toEqual([]);
  });

  it('only multipath output: LUNs without portals; the seed sample', async () => {
    const r = await run(['host-status', '--multipath', f('multipath-ll-seed000.txt')]);
    expect(r.code).toBe(0);
    expect(r.out).toContain('  1      130   active       active/optimized,pref  10:0:0:120  sde  active/ready  -       -       -\n');
    expect(r.out).not.toContain('iSCSI sessions');
    expect(r.out).toMatch(/All paths up\.\n$/);
  });

  it('unreadable or wrong input is an error with a code', async () => {
    const missing = await run(['host-status', '--multipath', '/nonexistent/mp.txt']);
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/^vstorage-iscsi: cannot read multipath -ll output from \/nonexistent\/mp\.txt: .*\(ISCSI_ERR_HOST_BAD_INPUT\)\n$/);
    const swapped = await run(['host-status', '--multipath', f('iscsiadm-session-seed000.txt')]);
    expect(swapped.code).toBe(1);
    expect(swapped.err).toContain('(it looks like iscsiadm output: give that with --iscsiadm) (ISCSI_ERR_HOST_BAD_INPUT)');
  });

  it('without files it runs iscsiadm -m session -P 3 and multipath -ll', async () => {
    const dir = scratch();
    const log = path.join(dir, 'log');
    const tool = (name: string, body: string) =>
      fs.writeFileSync(path.join(dir, name), `#!/bin/sh\necho "${name} $*" >> "${log}"\n${body}\n`, { mode: 0o755 });
    tool('iscsiadm', `cat "${f('iscsiadm-session-P3-2.1.8.txt')}"`);
    tool('multipath', `cat "${f('multipath-ll-vstorage.txt')}"`);
    const env = { PATH: dir, ISCSI_CONFIG: f('no-root.config') };
    const r = await run(['host-status'], { env });
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(fs.readFileSync(log, 'utf8')).toBe('iscsiadm -m session -P 3\nmultipath -ll\n');
    expect(r.out).toContain('  1      50    active       active/optimized      2:0:0:0  sda  active/ready  192.168.10.101:3260,1');

    tool('iscsiadm', 'echo "iscsiadm: No active sessions." >&2; exit 21');
    tool('multipath', 'exit 0');
    const none = await run(['host-status'], { env });
    expect(none.code).toBe(0);
    expect(none.out).toBe('No multipath maps.\nNo iSCSI sessions.\n\nAll paths up.\n');

    tool('multipath', 'echo "Nov 23 | /etc/multipath.conf does not exist" >&2; exit 1');
    const failed = await run(['host-status'], { env });
    expect(failed.code).toBe(1);
    expect(failed.err).toContain('multipath -ll failed with exit status 1: Nov 23 | /etc/multipath.conf does not exist (ISCSI_ERR_HOST_TOOL_FAILED)');

    fs.rmSync(path.join(dir, 'multipath'));
    tool('iscsiadm', `cat "${f('iscsiadm-session-P3-2.1.8.txt')}"`);
    const noMp = await run(['host-status'], { env });
    expect(noMp.code).toBe(0);
    expect(noMp.out).toMatch(/^\(multipath not found: LUNs are shown per iSCSI session\)\niqn\.2014-04\.com\.vstorage:ps1 lun 0\n/);
  });

  it.skipIf(findTool('iscsiadm', { PATH: '' }) !== undefined || findTool('multipath', { PATH: '' }) !== undefined)(
    'with neither tool installed it says how to give recorded output',
    async () => {
      const r = await run(['host-status'], { env: { PATH: scratch(), ISCSI_CONFIG: f('no-root.config') } });
      expect(r.code).toBe(1);
      expect(r.err).toContain('give recorded output with --iscsiadm FILE and --multipath FILE (ISCSI_ERR_HOST_TOOLS_MISSING)');
    },
  );
});
