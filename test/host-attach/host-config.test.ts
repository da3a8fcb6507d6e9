/**
 * host-config output per OS. The multipath.conf is checked for syntax
 * (balanced braces, keywords multipath-tools knows in each section), for our
 * INQUIRY identity taken from src/scsi, and, when the e2e VM cache holds
 * multipath-tools, by multipath itself (`multipath -t` reports every line it
 * rejects). The setup scripts run for real against fake iscsiadm, multipath,
 * udevadm and esxcli in a private mount namespace with a scratch /etc.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PRODUCT_ID, VENDOR_ID } from '../../src/scsi/constants.js';
import { parsePortal } from '../../src/cluster/validate.js';
import { generateHostConfig, type HostConfigOptions } from '../../tools/host-attach/host-config.js';
import { mpclaimHardwareId, multipathProductRegex, multipathVendorRegex } from '../../tools/host-attach/identity.js';
import { noPathRetry } from '../../tools/host-attach/linux.js';
import { satpRuleCommand } from '../../tools/host-attach/esxi.js';
import { deviceEntries, parseMultipathConf } from '../../tools/host-attach/parse-multipath-conf.js';
import { REPO } from '../cluster/helpers/build.js';

const T = 'iqn.2014-04.com.vstorage:ps1';
const PORTALS = [parsePortal('192.168.10.101'), parsePortal('192.168.20.101')];

function gen(o: Partial<HostConfigOptions> & Pick<HostConfigOptions, 'os'>) {
  return generateHostConfig({ portals: [], queueTime: 120, ...o });
}
function file(cfg: ReturnType<typeof gen>, name: string): string {
  const f = cfg.files.find((x) => x.name === name);
  if (!f) throw new Error(`no ${name} in ${cfg.files.map((x) => x.name).join(', ')}`);
  return f.content;
}

let tmp: string | undefined;
afterEach(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  tmp = undefined;
});

describe('our INQUIRY identity (from src/scsi/constants)', () => {
  it('mpclaim hardware ID: vendor padded to 8, product padded to 16', () => {
    const id = mpclaimHardwareId();
    expect(id).toBe('VSTORAGEVSTORAGE-LUN    ');
    expect(id).toHaveLength(24);
    expect(id.slice(0, 8).trimEnd()).toBe(VENDOR_ID);
    expect(id.slice(8).trimEnd()).toBe(PRODUCT_ID);
  });

  it('multipath regexes match the trimmed sysfs values and nothing longer', () => {
    const v = new RegExp(multipathVendorRegex());
    const p = new RegExp(multipathProductRegex());
    expect(v.test(VENDOR_ID)).toBe(true);
    expect(p.test(PRODUCT_ID)).toBe(true);
    expect(v.test(`${VENDOR_ID}X`)).toBe(false);
    expect(p.test(`X${PRODUCT_ID}`)).toBe(false);
  });
});

describe('Linux', () => {
  const cfg = gen({ os: 'linux', target: T, portals: PORTALS, user: 'user1', mutualUser: 'tgt1' });

  it('writes iscsid.conf, multipath.conf (whole and conf.d), the udev rule and the setup script', () => {
    expect(cfg.files.map((f) => [f.name, f.mode.toString(8)])).toEqual([
      ['iscsid.conf', '644'],
      ['multipath.conf', '644'],
      ['multipath-vstorage-iscsi.conf', '644'],
      ['99-vstorage-iscsi.rules', '644'],
      ['setup-linux.sh', '755'],
    ]);
  });

  it('iscsid.conf: replacement timeout, NOP-Out ping, automatic startup, each explained', () => {
    const text = file(cfg, 'iscsid.conf');
    const settings = text.split('\n').filter((l) => l && !l.startsWith('#'));
    expect(settings).toEqual([
      'node.startup = automatic',
      'node.session.timeo.replacement_timeout = 15',
      'node.conn[0].timeo.noop_out_interval = 5',
      'node.conn[0].timeo.noop_out_timeout = 5',
    ]);
    expect(text).toMatch(/# Log in to the portals at boot/);
    expect(text).toMatch(/default of 120 s would freeze I\/O/);
    expect(text).toMatch(/a dead path [\s\S]* is found within 10 s/);
  });

  for (const name of ['multipath.conf', 'multipath-vstorage-iscsi.conf']) {
    it(`${name}: balanced braces, only known keywords, our vendor/product with the ALUA settings`, () => {
      const text = file(cfg, name);
      expect(text.split('{').length).toBe(text.split('}').length);
      const { nodes, errors } = parseMultipathConf(text);
      expect(errors).toEqual([]);
      const devices = deviceEntries(nodes);
      expect(devices).toHaveLength(1);
      expect(Object.fromEntries(devices[0]!)).toEqual({
        vendor: `^${VENDOR_ID}$`,
        product: `^${PRODUCT_ID}$`,
        path_grouping_policy: 'group_by_prio',
        prio: 'alua',
        hardware_handler: '1 alua',
        path_selector: 'service-time 0',
        path_checker: 'tur',
        failback: 'immediate',
        no_path_retry: '24',
      });
      expect(text).toContain(`vendor "^${VENDOR_ID}$"`);
      expect(text).toContain(`product "^${PRODUCT_ID}$"`);
    });
  }

  it('multipath.conf sets the defaults the conf.d file leaves alone', () => {
    const defaults = parseMultipathConf(file(cfg, 'multipath.conf')).nodes.find((n) => n.name === 'defaults')!;
    expect(defaults.children!.map((k) => `${k.name} ${k.value}`)).toEqual(['user_friendly_names yes', 'find_multipaths yes', 'polling_interval 5']);
    expect(parseMultipathConf(file(cfg, 'multipath-vstorage-iscsi.conf')).nodes.map((n) => n.name)).toEqual(['devices']);
  });

  it('no_path_retry follows --queue-time: checks of 5 s, "queue" for forever, "fail" for 0', () => {
    expect([noPathRetry(120), noPathRetry(7), noPathRetry(1), noPathRetry(0), noPathRetry('forever')]).toEqual(['24', '2', '1', 'fail', 'queue']);
    const forever = file(gen({ os: 'linux', queueTime: 'forever' }), 'multipath.conf');
    expect(forever).toContain('\t\tno_path_retry queue\n');
    expect(forever).toMatch(/queue I\/O until a path returns/);
    expect(file(gen({ os: 'linux', queueTime: 0 }), 'multipath.conf')).toContain('\t\tno_path_retry fail\n');
  });

  it('the checker finds what multipathd would reject', () => {
    const bad = 'devices {\n\tdevice {\n\t\tvendor "X"\n\t\tprio_bogus 1\n\t\tpath_selector service-time 0\n\t}\n';
    expect(parseMultipathConf(bad).errors).toEqual([
      "line 4: unknown keyword 'prio_bogus' in section device",
      "line 5: value of 'path_selector' has blanks: put it in double quotes",
      "section 'devices' (line 1) is not closed",
    ]);
    expect(parseMultipathConf('device {\n}\n}\npolling_interval 5\n').errors).toEqual([
      "line 1: unknown section 'device' in the top level",
      "line 3: '}' without an open section",
      "line 4: keyword 'polling_interval' outside a section that takes keywords",
    ]);
  });

  it('udev rule: SCSI disks with our vendor and model get a 60 s command timeout', () => {
    const rules = file(cfg, '99-vstorage-iscsi.rules').split('\n').filter((l) => l && !l.startsWith('#'));
    expect(rules).toEqual([
      `ACTION=="add|change", SUBSYSTEM=="scsi", ENV{DEVTYPE}=="scsi_device", ATTR{type}=="0", ATTR{vendor}=="${VENDOR_ID}", ATTR{model}=="${PRODUCT_ID}", ATTR{timeout}="60"`,
    ]);
  });

  it('setup-linux.sh is valid sh; without portals it has no discovery', () => {
    for (const c of [cfg, gen({ os: 'linux' })]) {
      expect(spawnSync('sh', ['-n', '-c', file(c, 'setup-linux.sh')]).status).toBe(0);
    }
    expect(file(gen({ os: 'linux' }), 'setup-linux.sh')).not.toContain('iscsiadm -m discovery');
  });
});

/** multipath-tools of the e2e VM image (test/e2e/vm/build-image.sh), when it has been built here. */
const VM_ROOT = path.join(process.env.VM_CACHE_DIR ?? path.join(REPO, '.vm-cache'), 'root');
const MULTIPATH = path.join(VM_ROOT, 'sbin/multipath');
function canUnshare(): boolean {
  return spawnSync('unshare', ['-rm', 'true']).status === 0;
}
const haveMultipath = fs.existsSync(MULTIPATH) && canUnshare();

describe.skipIf(!haveMultipath)('multipath-tools itself (multipath -t with our file as /etc/multipath.conf)', () => {
  function multipathT(conf: string): string {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mpconf-'));
    fs.writeFileSync(path.join(tmp, 'multipath.conf'), conf);
    const libs = [path.join(VM_ROOT, 'lib'), path.join(VM_ROOT, 'usr/lib/x86_64-linux-gnu'), '/lib/x86_64-linux-gnu'].join(':');
    return execFileSync(
      'unshare',
      ['-rm', 'sh', '-c', `mount -t tmpfs none /etc && cp "$1/multipath.conf" /etc/multipath.conf && LD_LIBRARY_PATH="$2" "$3" -t 2>&1`, 'sh', tmp, libs, MULTIPATH],
      { encoding: 'utf8' },
    );
  }

  for (const name of ['multipath.conf', 'multipath-vstorage-iscsi.conf']) {
    it(`${name} is taken without a complaint and yields our device entry`, () => {
      const out = multipathT(file(gen({ os: 'linux' }), name));
      expect(out).not.toMatch(/multipath\.conf line \d+|invalid|unknown/i);
      const entry = out.slice(out.indexOf(`vendor "^${VENDOR_ID}$"`));
      const block = entry.slice(0, entry.indexOf('}'));
      for (const l of [
        `product "^${PRODUCT_ID}$"`,
        'path_grouping_policy "group_by_prio"',
        'path_checker "tur"',
        'hardware_handler "1 alua"',
        'prio "alua"',
        'failback "immediate"',
        'no_path_retry 24',
      ]) {
        expect(block).toContain(l);
      }
    });
  }

  it('and it does complain about a keyword it does not know (so the check above means something)', () => {
    expect(multipathT('devices {\n\tdevice {\n\t\tvendor "X"\n\t\tprio_bogus 1\n\t}\n}\n')).toMatch(/line 4, invalid keyword.*prio_bogus/);
  });
});

describe('Windows', () => {
  const cfg = gen({ os: 'windows', target: T, portals: PORTALS });

  it('mpio-setup.ps1: MPIO feature, mpclaim with the padded hardware ID, Round Robin with Subset, MPIO timers', () => {
    const ps = file(cfg, 'mpio-setup.ps1');
    expect(ps).toContain('Install-WindowsFeature -Name Multipath-IO\n');
    expect(ps).toContain('mpclaim.exe -n -i -d "VSTORAGEVSTORAGE-LUN    "\n');
    expect(ps).toContain('mpclaim.exe -l -t "VSTORAGEVSTORAGE-LUN    " 3\n');
    expect(ps).toContain("New-MSDSMSupportedHW -VendorId 'VSTORAGE' -ProductId 'VSTORAGE-LUN'");
    expect(ps).toContain(
      'Set-MPIOSetting -NewPathVerificationState Enabled -NewPathVerificationPeriod 30 -NewPDORemovePeriod 120 -NewRetryCount 3 -NewRetryInterval 1 -CustomPathRecovery Enabled -NewPathRecoveryInterval 20 -NewDiskTimeout 60\n',
    );
    expect(file(gen({ os: 'windows', queueTime: 30 }), 'mpio-setup.ps1')).toContain('-NewPDORemovePeriod 30 -NewRetryCount 3 -NewRetryInterval 1 -CustomPathRecovery Enabled -NewPathRecoveryInterval 15');
  });

  it('iscsi-connect.ps1: a portal and a multipath session per portal; registry timers of the initiator', () => {
    const ps = file(cfg, 'iscsi-connect.ps1');
    expect(ps.split('\n').filter((l) => /^(New-IscsiTargetPortal|Connect-IscsiTarget|\$Target)/.test(l))).toEqual([
      "New-IscsiTargetPortal -TargetPortalAddress '192.168.10.101' -TargetPortalPortNumber 3260",
      "New-IscsiTargetPortal -TargetPortalAddress '192.168.20.101' -TargetPortalPortNumber 3260",
      `$Target = '${T}'`,
      "Connect-IscsiTarget -NodeAddress $Target -TargetPortalAddress '192.168.10.101' -TargetPortalPortNumber 3260 -IsMultipathEnabled $true -IsPersistent $true",
      "Connect-IscsiTarget -NodeAddress $Target -TargetPortalAddress '192.168.20.101' -TargetPortalPortNumber 3260 -IsMultipathEnabled $true -IsPersistent $true",
    ]);
    expect(ps).toContain('Set-Service -Name MSiSCSI -StartupType Automatic');
    for (const v of ['MaxRequestHoldTime -Type DWord -Value 15', 'LinkDownTime -Type DWord -Value 15', 'EnableNOPOut -Type DWord -Value 1']) expect(ps).toContain(v);
  });

  it('CHAP: one-way and mutual options of Connect-IscsiTarget, the initiator secret for mutual', () => {
    const one = file(gen({ os: 'windows', target: T, portals: PORTALS, user: 'user1' }), 'iscsi-connect.ps1');
    expect(one).toContain("-AuthenticationType ONEWAYCHAP -ChapUsername 'user1' -ChapSecret $ChapSecret");
    expect(one).toContain('12 to 16 characters');
    expect(one).not.toContain('Set-IscsiChapSecret');
    const mutual = file(gen({ os: 'windows', target: T, portals: PORTALS, user: 'user1', mutualUser: 'tgt1' }), 'iscsi-connect.ps1');
    expect(mutual).toContain("-AuthenticationType MUTUALCHAP -ChapUsername 'user1' -ChapSecret $ChapSecret");
    expect(mutual).toContain('Set-IscsiChapSecret -ChapSecret $MutualSecret');
  });

  it('without --target it connects every target the portals report', () => {
    const ps = file(gen({ os: 'windows', portals: PORTALS }), 'iscsi-connect.ps1');
    expect(ps).toContain('foreach ($Target in (Get-IscsiTarget).NodeAddress) {\n  Connect-IscsiTarget -NodeAddress $Target');
  });
});

describe('ESXi', () => {
  it('the SATP claim rule: VMW_SATP_ALUA for our vendor/model with tpgs_on, Round Robin with iops=1', () => {
    expect(satpRuleCommand()).toBe(
      "esxcli storage nmp satp rule add --satp=VMW_SATP_ALUA --vendor='VSTORAGE' --model='VSTORAGE-LUN' --claim-option=tpgs_on " +
        "--psp=VMW_PSP_RR --psp-option='iops=1' --description='vstorage-iscsi ALUA LUNs'",
    );
  });

  it('esxi-setup.sh is valid sh: adapter, timers, CHAP both ways, static discovery per portal', () => {
    const sh = file(gen({ os: 'esxi', target: T, portals: PORTALS, user: 'user1', mutualUser: 'tgt1' }), 'esxi-setup.sh');
    expect(spawnSync('sh', ['-n', '-c', sh]).status).toBe(0);
    expect(sh).toContain('esxcli iscsi software set --enabled=true\n');
    expect(sh).toContain(`esxcli iscsi adapter auth chap set --adapter="$ADAPTER" --direction=uni --level=required --authname='user1' --secret="$CHAP_SECRET"`);
    expect(sh).toContain(`--direction=mutual --level=required --authname='tgt1' --secret="$MUTUAL_SECRET"`);
    expect(sh.match(/discovery statictarget add/g)).toHaveLength(2);
    expect(file(gen({ os: 'esxi', portals: PORTALS }), 'esxi-setup.sh').match(/discovery sendtarget add/g)).toHaveLength(2);
  });
});

// ---- the scripts, run --------------------------------------------------------

const haveUnshare = canUnshare();

/** A fake command that logs its arguments (one line per call) and prints canned output. */
function fakeTool(bin: string, name: string, body = ''): void {
  fs.writeFileSync(path.join(bin, name), `#!/bin/sh\necho "${name} $*" >> "$FAKE_LOG"\n${body}\nexit 0\n`, { mode: 0o755 });
}

describe.skipIf(!haveUnshare)('setup scripts, run against fake tools', () => {
  function writeConfig(cfg: ReturnType<typeof gen>, dir: string) {
    for (const f of cfg.files) fs.writeFileSync(path.join(dir, f.name), f.content, { mode: f.mode });
  }

  let runs = 0;
  /** Runs `script` under a scratch /etc prepared by `prepare` (sh), returns the log and a copy of /etc. */
  function runIsolated(cfgDir: string, script: string, prepare: string, env: Record<string, string>) {
    const bin = path.join(tmp!, 'bin');
    const etcOut = path.join(tmp!, 'etc-after');
    const log = path.join(tmp!, 'log');
    fs.writeFileSync(log, '');
    const r = spawnSync(
      'unshare',
      [
        '-rm',
        'sh',
        '-c',
        // A scratch /etc that keeps /etc/alternatives (awk lives behind it on Debian).
        `mkdir "$3" && cp -a /etc/alternatives "$3"/ && mount --bind "$3" /etc && ${prepare} && sh "$1/${script}" && rm -rf "$2" && cp -a /etc "$2"`,
        'sh',
        cfgDir,
        etcOut,
        path.join(tmp!, `etc-${++runs}`),
      ],
      { encoding: 'utf8', env: { PATH: `${bin}:${process.env.PATH}`, FAKE_LOG: log, ...env } },
    );
    return { status: r.status, stderr: r.stderr, log: fs.readFileSync(log, 'utf8').trim().split('\n'), etc: etcOut };
  }

  it('setup-linux.sh sets iscsid.conf keys, installs multipath.conf and the udev rule, discovers, configures and logs in; twice is once', () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'setup-linux-'));
    const bin = path.join(tmp, 'bin');
    fs.mkdirSync(bin);
    for (const t of ['iscsiadm', 'multipath', 'multipathd', 'udevadm', 'systemctl', 'modprobe', 'sleep']) fakeTool(bin, t);
    const cfgDir = path.join(tmp, 'cfg');
    fs.mkdirSync(cfgDir);
    const cfg = gen({ os: 'linux', target: T, portals: PORTALS, user: 'user1' });
    writeConfig(cfg, cfgDir);
    const original = '# iscsid.conf\nnode.startup = manual\n#node.session.timeo.replacement_timeout = 120\nnode.session.timeo.replacement_timeout = 120\n';
    fs.writeFileSync(path.join(tmp, 'iscsid.orig'), original);
    const prepare = `mkdir -p /etc/iscsi /etc/udev/rules.d && cp "$1/../iscsid.orig" /etc/iscsi/iscsid.conf && chmod 600 /etc/iscsi/iscsid.conf`;
    const r = runIsolated(cfgDir, 'setup-linux.sh', prepare, { CHAP_SECRET: 'secret-of-user1' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const iscsid = fs.readFileSync(path.join(r.etc, 'iscsi/iscsid.conf'), 'utf8');
    expect(iscsid).toBe(
      '# iscsid.conf\nnode.startup = automatic\n#node.session.timeo.replacement_timeout = 120\nnode.session.timeo.replacement_timeout = 15\n' +
        'node.conn[0].timeo.noop_out_interval = 5\nnode.conn[0].timeo.noop_out_timeout = 5\n',
    );
    expect(fs.statSync(path.join(r.etc, 'iscsi/iscsid.conf')).mode & 0o777).toBe(0o600);
    expect(fs.readFileSync(path.join(r.etc, 'iscsi/iscsid.conf.orig-vstorage'), 'utf8')).toBe(original);
    expect(fs.readFileSync(path.join(r.etc, 'multipath.conf'), 'utf8')).toBe(file(cfg, 'multipath.conf'));
    expect(fs.readFileSync(path.join(r.etc, 'udev/rules.d/99-vstorage-iscsi.rules'), 'utf8')).toBe(file(cfg, '99-vstorage-iscsi.rules'));
    const iscsiadm = r.log.filter((l) => l.startsWith('iscsiadm'));
    expect(iscsiadm.filter((l) => l.includes('discovery'))).toEqual([
      'iscsiadm -m discovery -t sendtargets -p 192.168.10.101:3260',
      'iscsiadm -m discovery -t sendtargets -p 192.168.20.101:3260',
    ]);
    expect(iscsiadm).toContain(`iscsiadm -m node -T ${T} -p 192.168.20.101:3260 -o update -n node.session.timeo.replacement_timeout -v 15`);
    expect(iscsiadm).toContain(`iscsiadm -m node -T ${T} -p 192.168.10.101:3260 -o update -n node.session.auth.password -v secret-of-user1`);
    expect(iscsiadm).toContain(`iscsiadm -m node -T ${T} -p 192.168.10.101:3260 -o update -n node.session.auth.chap_algs -v SHA3-256,SHA256,SHA1,MD5`);
    expect(iscsiadm.filter((l) => l.endsWith('--login'))).toEqual([
      `iscsiadm -m node -T ${T} -p 192.168.10.101:3260 --login`,
      `iscsiadm -m node -T ${T} -p 192.168.20.101:3260 --login`,
    ]);
    expect(r.log).toContain('udevadm trigger --subsystem-match=scsi --action=change');
    expect(r.log).toContain('multipathd reconfigure');

    // Again, on the result: the same files.
    fs.cpSync(r.etc, path.join(tmp, 'etc-first'), { recursive: true });
    const again = runIsolated(cfgDir, 'setup-linux.sh', `cp -a "$1/../etc-first/." /etc/`, { CHAP_SECRET: 'secret-of-user1' });
    expect(again.status).toBe(0);
    expect(fs.readFileSync(path.join(again.etc, 'iscsi/iscsid.conf'), 'utf8')).toBe(iscsid);
    expect(fs.readFileSync(path.join(again.etc, 'iscsi/iscsid.conf.orig-vstorage'), 'utf8')).toBe(original);
  });

  it('setup-linux.sh leaves a host\'s own multipath.conf alone and adds ours in conf.d; it wants CHAP_SECRET', () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'setup-linux-'));
    const bin = path.join(tmp, 'bin');
    fs.mkdirSync(bin);
    for (const t of ['iscsiadm', 'multipath', 'multipathd', 'udevadm', 'systemctl', 'modprobe', 'sleep']) fakeTool(bin, t);
    const cfgDir = path.join(tmp, 'cfg');
    fs.mkdirSync(cfgDir);
    writeConfig(gen({ os: 'linux', user: 'user1' }), cfgDir);
    const prepare =
      'mkdir -p /etc/iscsi /etc/udev/rules.d && echo "node.startup = manual" > /etc/iscsi/iscsid.conf && ' +
      'printf "defaults {\\n\\tuser_friendly_names no\\n}\\n" > /etc/multipath.conf';
    const r = runIsolated(cfgDir, 'setup-linux.sh', prepare, { CHAP_SECRET: 'x' });
    expect(r.status).toBe(0);
    expect(fs.readFileSync(path.join(r.etc, 'multipath.conf'), 'utf8')).toBe('defaults {\n\tuser_friendly_names no\n}\n');
    expect(fs.readFileSync(path.join(r.etc, 'multipath/conf.d/vstorage-iscsi.conf'), 'utf8')).toBe(fs.readFileSync(path.join(cfgDir, 'multipath-vstorage-iscsi.conf'), 'utf8'));
    expect(r.log.some((l) => l.includes('discovery'))).toBe(false);
    const noSecret = runIsolated(cfgDir, 'setup-linux.sh', prepare, {});
    expect(noSecret.status).not.toBe(0);
    expect(noSecret.stderr).toContain('set CHAP_SECRET to the secret of CHAP account user1');
  });

  it('esxi-setup.sh adds the claim rule and static targets once, sets the adapter up, rescans', () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'setup-esxi-'));
    const bin = path.join(tmp, 'bin');
    fs.mkdirSync(bin);
    const state = path.join(tmp, 'state');
    fs.writeFileSync(state, '');
    // A fake esxcli that remembers rules and static targets in $FAKE_STATE.
    fakeTool(
      bin,
      'esxcli',
      [
        'case "$*" in',
        '  "iscsi adapter list") printf "Adapter  Driver     State   UID            Description\\n-------  ---------  ------  -------------  -----------\\nvmhba64  iscsi_vmk  online  iscsi.vmhba64  iSCSI Software Adapter\\n" ;;',
        '  "storage nmp satp rule list --satp=VMW_SATP_ALUA") grep "^rule " "$FAKE_STATE" || true ;;',
        '  "storage nmp satp rule add "*) echo "rule VMW_SATP_ALUA VSTORAGE VSTORAGE-LUN" >> "$FAKE_STATE" ;;',
        '  "iscsi adapter discovery statictarget list "*) echo "Adapter  Target Name  Target Address  Boot  Last Error"; grep "^static " "$FAKE_STATE" | cut -d" " -f2- || true ;;',
        '  "iscsi adapter discovery statictarget add "*) a=${7#--address=}; n=${8#--name=}; echo "static vmhba64 $n $a false No_Error" >> "$FAKE_STATE" ;;',
        'esac',
      ].join('\n'),
    );
    const cfgDir = path.join(tmp, 'cfg');
    fs.mkdirSync(cfgDir);
    writeConfig(gen({ os: 'esxi', target: T, portals: PORTALS }), cfgDir);
    const env = { FAKE_STATE: state };
    const first = runIsolated(cfgDir, 'esxi-setup.sh', 'true', env);
    expect(first.stderr).toBe('');
    expect(first.status).toBe(0);
    expect(first.log.filter((l) => / add /.test(l))).toEqual([
      "esxcli storage nmp satp rule add --satp=VMW_SATP_ALUA --vendor=VSTORAGE --model=VSTORAGE-LUN --claim-option=tpgs_on --psp=VMW_PSP_RR --psp-option=iops=1 --description=vstorage-iscsi ALUA LUNs",
      `esxcli iscsi adapter discovery statictarget add --adapter=vmhba64 --address=192.168.10.101:3260 --name=${T}`,
      `esxcli iscsi adapter discovery statictarget add --adapter=vmhba64 --address=192.168.20.101:3260 --name=${T}`,
    ]);
    expect(first.log).toContain('esxcli iscsi adapter param set --adapter=vmhba64 --key=NoopOutInterval --value=5');
    expect(first.log[first.log.length - 3]).toBe('esxcli storage core adapter rescan --adapter=vmhba64');
    const second = runIsolated(cfgDir, 'esxi-setup.sh', 'true', env);
    expect(second.status).toBe(0);
    expect(second.log.filter((l) => / add /.test(l))).toEqual([]);
  });
});
