/**
 * Linux hosts: open-iscsi (iscsid.conf), dm-multipath (multipath.conf) and a
 * udev rule for the SCSI command timeout, as the vendor guide of seeds/000
 * ships them, plus a setup script that installs them, discovers the portals
 * and logs in.
 */
import { PRODUCT, VENDOR, multipathProductRegex, multipathVendorRegex } from './identity.js';
import { parseMultipathConf } from './parse-multipath-conf.js';
import { portalWithPort, shQuote, type GeneratedFile, type HostConfig, type HostConfigOptions, type QueueTime } from './host-config.js';

/** Seconds; see the comments written into the files for the reasons. */
export const LINUX_TIMING = {
  replacementTimeout: 15,
  noopOutInterval: 5,
  noopOutTimeout: 5,
  /** multipathd path checker interval; no_path_retry counts in these. */
  pollingInterval: 5,
  /** SCSI command timeout set by the udev rule (kernel default 30). */
  diskTimeout: 60,
} as const;

export const MULTIPATH_CONF_MARKER = 'vstorage-iscsi host-config';
export const UDEV_RULE_FILE = '99-vstorage-iscsi.rules';

/** multipath.conf no_path_retry for a queue time in seconds. */
export function noPathRetry(q: QueueTime): string {
  if (q === 'forever') return 'queue';
  if (q === 0) return 'fail';
  return String(Math.max(1, Math.ceil(q / LINUX_TIMING.pollingInterval)));
}

function noPathRetryComment(q: QueueTime): string[] {
  const p = LINUX_TIMING.pollingInterval;
  if (q === 'forever') {
    return [
      '# With no path left, queue I/O until a path returns (never fails it).',
      '# No write is lost, but every process touching the disk hangs while the',
      '# target is gone; `dmsetup message MAP 0 fail_if_no_path` ends the wait.',
    ];
  }
  if (q === 0) {
    return ['# With no path left, fail I/O at once (applications see errors at', '# the first moment every path is down, e.g. during an HA relocation).'];
  }
  const n = Number(noPathRetry(q));
  return [
    `# With no path left, queue I/O for ${n} path checks (${n} x ${p} s = ${n * p} s),`,
    '# long enough for the HA agent to move the target to another node, then',
    '# fail it: a number, not "queue", so a target that is gone for good gives',
    '# I/O errors instead of hanging every process that touches the disk.',
  ];
}

function iscsidConf(o: HostConfigOptions): string {
  const t = LINUX_TIMING;
  const lines = [
    `# ${MULTIPATH_CONF_MARKER}: open-iscsi settings for vstorage-iscsi targets used`,
    '# through dm-multipath. Set these keys in /etc/iscsi/iscsid.conf: they apply',
    '# to node records discovered afterwards. setup-linux.sh sets them there and',
    '# in the existing node records of the target (iscsiadm -m node -o update).',
    '',
    '# Log in to the portals at boot (the iscsi / open-iscsi service logs in to',
    '# "automatic" nodes), so the multipath device is back after a reboot.',
    'node.startup = automatic',
    '',
    '# When a connection fails, iscsid keeps logging in again; SCSI commands wait',
    `# ${t.replacementTimeout} s and then fail to dm-multipath, which resends them on another`,
    '# path, or queues them when no path is left (no_path_retry in multipath.conf).',
    "# open-iscsi's default of 120 s would freeze I/O for two minutes before",
    '# multipath even learns of the failure. Only with dm-multipath: a host with',
    `# a single path should keep 120, or I/O errors reach the file system after ${t.replacementTimeout} s.`,
    `node.session.timeo.replacement_timeout = ${t.replacementTimeout}`,
    '',
    `# Ping every connection with a NOP-Out every ${t.noopOutInterval} s and declare it dead when the`,
    `# answer takes more than ${t.noopOutTimeout} s: a dead path (cable, switch, a node that stopped)`,
    `# is found within ${t.noopOutInterval + t.noopOutTimeout} s even while no I/O is running.`,
    `node.conn[0].timeo.noop_out_interval = ${t.noopOutInterval}`,
    `node.conn[0].timeo.noop_out_timeout = ${t.noopOutTimeout}`,
  ];
  if (o.user) {
    lines.push(
      '',
      `# CHAP (account ${o.user}${o.mutualUser ? `, mutual ${o.mutualUser}` : ''}) is set per target in its node records by`,
      '# setup-linux.sh, not here: keys here would apply to every target of the host.',
    );
  }
  return lines.join('\n') + '\n';
}

function deviceSection(o: HostConfigOptions, indent: string): string[] {
  const i = indent;
  return [
    `${i}device {`,
    `${i}\t# Our LUNs: standard INQUIRY vendor "${VENDOR}", product "${PRODUCT}".`,
    `${i}\tvendor "${multipathVendorRegex()}"`,
    `${i}\tproduct "${multipathProductRegex()}"`,
    `${i}\t# One path group per ALUA access state: I/O goes to the group of the`,
    `${i}\t# active/optimized target port group, the others wait in priority order.`,
    `${i}\tpath_grouping_policy group_by_prio`,
    `${i}\t# Path priority from the ALUA state of its target port group (REPORT`,
    `${i}\t# TARGET PORT GROUPS): active/optimized 50, active/non-optimized 10,`,
    `${i}\t# standby 1, unavailable 0 (+80 with the preferred bit).`,
    `${i}\tprio alua`,
    `${i}\t# The kernel's ALUA device handler (scsi_dh_alua) follows state changes`,
    `${i}\t# and switches the target port group when I/O moves.`,
    `${i}\thardware_handler "1 alua"`,
    `${i}\t# Spread I/O over the paths of the active group by expected service time.`,
    `${i}\tpath_selector "service-time 0"`,
    `${i}\t# Check every path with TEST UNIT READY each polling_interval.`,
    `${i}\tpath_checker tur`,
    `${i}\t# Go back to a higher-priority group as soon as one of its paths is up.`,
    `${i}\tfailback immediate`,
    ...noPathRetryComment(o.queueTime).map((c) => `${i}\t${c}`),
    `${i}\tno_path_retry ${noPathRetry(o.queueTime)}`,
    `${i}}`,
  ];
}

function multipathConf(o: HostConfigOptions): string {
  return (
    [
      `# ${MULTIPATH_CONF_MARKER}: dm-multipath settings for vstorage-iscsi LUNs.`,
      '# Install as /etc/multipath.conf on a host without one (a host that has one',
      '# gets multipath-vstorage-iscsi.conf in /etc/multipath/conf.d/ instead),',
      '# then: multipathd reconfigure',
      '',
      'defaults {',
      '\t# Name maps mpatha, mpathb, ...; multipath -ll still shows each WWID.',
      '\tuser_friendly_names yes',
      '\t# Make a map for a LUN once it has two paths (or was multipathed before).',
      '\tfind_multipaths yes',
      `\t# Path check interval in seconds; no_path_retry counts in these.`,
      `\tpolling_interval ${LINUX_TIMING.pollingInterval}`,
      '}',
      '',
      'devices {',
      ...deviceSection(o, '\t'),
      '}',
    ].join('\n') + '\n'
  );
}

function multipathConfD(o: HostConfigOptions): string {
  return (
    [
      `# ${MULTIPATH_CONF_MARKER}: dm-multipath device settings for vstorage-iscsi LUNs,`,
      '# for a host that already has /etc/multipath.conf: install as',
      '# /etc/multipath/conf.d/vstorage-iscsi.conf, then: multipathd reconfigure',
      `# (no_path_retry counts path checks of polling_interval, ${LINUX_TIMING.pollingInterval} s by default).`,
      '',
      'devices {',
      ...deviceSection(o, '\t'),
      '}',
    ].join('\n') + '\n'
  );
}

/** udev match values are shell-style patterns: ours must not contain pattern characters. */
function udevLiteral(s: string): string {
  if (/[*?[\]|"\\]/.test(s)) throw new Error(`'${s}' cannot be matched literally by udev`);
  return s;
}

function udevRule(): string {
  const t = LINUX_TIMING;
  return (
    [
      `# ${MULTIPATH_CONF_MARKER}: SCSI command timeout of vstorage-iscsi LUNs (INQUIRY`,
      `# vendor "${VENDOR}", product "${PRODUCT}"). Install as /etc/udev/rules.d/${UDEV_RULE_FILE}, then:`,
      '#   udevadm control --reload-rules && udevadm trigger --subsystem-match=scsi --action=change',
      `# ${t.diskTimeout} s instead of the kernel's 30 s: a slow moment of the cluster storage under`,
      '# a LUN does not start SCSI error handling (aborts, then resets of every LUN on',
      `# the session). Dead connections are still found within ${t.noopOutInterval + t.noopOutTimeout} s by the NOP-Out ping`,
      '# of iscsid.conf, so failover to another path is not slowed down.',
      `ACTION=="add|change", SUBSYSTEM=="scsi", ENV{DEVTYPE}=="scsi_device", ATTR{type}=="0", ` +
        `ATTR{vendor}=="${udevLiteral(VENDOR)}", ATTR{model}=="${udevLiteral(PRODUCT)}", ATTR{timeout}="${t.diskTimeout}"`,
    ].join('\n') + '\n'
  );
}

/** The iscsid.conf keys, in the order written. */
export function iscsidSettings(): Array<[string, string]> {
  const t = LINUX_TIMING;
  return [
    ['node.startup', 'automatic'],
    ['node.session.timeo.replacement_timeout', String(t.replacementTimeout)],
    ['node.conn[0].timeo.noop_out_interval', String(t.noopOutInterval)],
    ['node.conn[0].timeo.noop_out_timeout', String(t.noopOutTimeout)],
  ];
}

function setupScript(o: HostConfigOptions): string {
  const L: string[] = [];
  const portals = o.portals.map(portalWithPort);
  L.push(
    '#!/bin/sh',
    `# ${MULTIPATH_CONF_MARKER}: set up this Linux host for vstorage-iscsi targets`,
    '# (open-iscsi + dm-multipath). Run as root from the directory holding the',
    '# files host-config wrote; running it again changes nothing more.',
    'set -eu',
    'HERE=$(cd "$(dirname "$0")" && pwd)',
  );
  if (o.target) L.push(`TARGET=${shQuote(o.target)}`);
  if (portals.length > 0) L.push(`PORTALS=${shQuote(portals.join(' '))}`);
  if (o.user) {
    L.push(`: "\${CHAP_SECRET:?set CHAP_SECRET to the secret of CHAP account ${o.user}}"`);
    if (o.mutualUser) L.push(`: "\${MUTUAL_SECRET:?set MUTUAL_SECRET to the secret of CHAP account ${o.mutualUser} (the target's)}"`);
  }
  L.push(
    '',
    '# 1. Software: Debian/Ubuntu: apt-get install open-iscsi multipath-tools',
    '#              RHEL and clones: dnf install iscsi-initiator-utils device-mapper-multipath',
    'for tool in iscsiadm multipath multipathd; do',
    '  command -v "$tool" >/dev/null 2>&1 || { echo "$tool not found: install open-iscsi and multipath-tools first" >&2; exit 1; }',
    'done',
    'modprobe dm_multipath 2>/dev/null || true',
    'modprobe scsi_dh_alua 2>/dev/null || true',
    '',
    '# 2. iscsid.conf: set each key (uncommented "key = value" lines are replaced,',
    '#    missing keys appended; the file keeps its owner and mode).',
    'conf=/etc/iscsi/iscsid.conf',
    '[ -e "$conf.orig-vstorage" ] || cp -p "$conf" "$conf.orig-vstorage"',
    'set_key() {',
    '  awk -v k="$1" -v v="$2" \'',
    '    { line = $0; sub(/^[ \\t]+/, "", line) }',
    '    index(line, k) == 1 && substr(line, length(k) + 1) ~ /^[ \\t]*=/ { print k " = " v; done = 1; next }',
    '    { print }',
    '    END { if (!done) print k " = " v }',
    '  \' "$conf" > "$conf.vstorage-tmp"',
    '  cat "$conf.vstorage-tmp" > "$conf"',
    '  rm -f "$conf.vstorage-tmp"',
    '}',
  );
  for (const [k, v] of iscsidSettings()) L.push(`set_key ${shQuote(k)} ${shQuote(v)}`);
  L.push(
    '',
    '# 3. multipath.conf: ours where there is none (or an older one of ours),',
    '#    else our devices section in conf.d next to the host\'s own settings.',
    `if [ ! -e /etc/multipath.conf ] || grep -q ${shQuote(MULTIPATH_CONF_MARKER)} /etc/multipath.conf; then`,
    '  install -m 0644 "$HERE/multipath.conf" /etc/multipath.conf',
    'else',
    '  mkdir -p /etc/multipath/conf.d',
    '  install -m 0644 "$HERE/multipath-vstorage-iscsi.conf" /etc/multipath/conf.d/vstorage-iscsi.conf',
    'fi',
    '',
    '# 4. udev rule for the SCSI command timeout, applied to LUNs already present too.',
    `install -m 0644 "$HERE/${UDEV_RULE_FILE}" /etc/udev/rules.d/${UDEV_RULE_FILE}`,
    'udevadm control --reload-rules',
    'udevadm trigger --subsystem-match=scsi --action=change',
    '',
    '# 5. Services: iscsid, the boot-time login of "automatic" nodes (open-iscsi on',
    '#    Debian/Ubuntu, iscsi on RHEL), multipathd.',
    'if command -v systemctl >/dev/null 2>&1; then',
    '  systemctl enable --now iscsid.service 2>/dev/null || systemctl enable --now iscsid.socket || true',
    '  systemctl enable open-iscsi.service 2>/dev/null || systemctl enable iscsi.service 2>/dev/null || true',
    '  systemctl enable --now multipathd.service',
    'fi',
    'multipathd reconfigure 2>/dev/null || multipathd -k"reconfigure" || true',
  );
  if (portals.length > 0) {
    // Without -T the node commands apply to every target recorded for that portal.
    const sel = o.target ? '-T "$TARGET" -p "$p"' : '-p "$p"';
    L.push(
      '',
      o.target
        ? '# 6. Discover the portals, configure the target\'s node records (one per portal) and log in.'
        : '# 6. Discover the portals, configure every node record they reported and log in.',
      'for p in $PORTALS; do',
      '  iscsiadm -m discovery -t sendtargets -p "$p"',
      'done',
      'for p in $PORTALS; do',
    );
    for (const [k, v] of iscsidSettings()) L.push(`  iscsiadm -m node ${sel} -o update -n ${shQuote(k)} -v ${shQuote(v)}`);
    if (o.user) {
      L.push(
        `  iscsiadm -m node ${sel} -o update -n node.session.auth.authmethod -v CHAP`,
        `  iscsiadm -m node ${sel} -o update -n node.session.auth.username -v ${shQuote(o.user)}`,
        `  iscsiadm -m node ${sel} -o update -n node.session.auth.password -v "$CHAP_SECRET"`,
        '  # open-iscsi 2.1.4 and later: offer the stronger CHAP hashes first (older ones lack the key).',
        `  iscsiadm -m node ${sel} -o update -n node.session.auth.chap_algs -v SHA3-256,SHA256,SHA1,MD5 2>/dev/null || true`,
      );
      if (o.mutualUser) {
        L.push(
          `  iscsiadm -m node ${sel} -o update -n node.session.auth.username_in -v ${shQuote(o.mutualUser)}`,
          `  iscsiadm -m node ${sel} -o update -n node.session.auth.password_in -v "$MUTUAL_SECRET"`,
        );
      }
    }
    L.push(
      '  # 15: already logged in',
      `  iscsiadm -m node ${sel} --login || [ $? -eq 15 ]`,
      'done',
    );
  } else {
    L.push(
      '',
      '# 6. Discovery and login: run host-config again with --portal ADDR (and',
      '#    --target IQN) to have the commands written here.',
    );
  }
  L.push(
    '',
    '# 7. Every LUN should show one map with a path per portal and hwhandler=\'1 alua\'.',
    'sleep 2',
    'multipath -ll',
  );
  return L.join('\n') + '\n';
}

/** A generated multipath.conf that multipathd would not take is a bug here, not the user's problem. */
function checked(text: string): string {
  const errors = parseMultipathConf(text).errors;
  if (errors.length > 0) throw new Error(`generated multipath.conf is invalid: ${errors.join('; ')}`);
  return text;
}

export function linuxConfig(o: HostConfigOptions): HostConfig {
  const files: GeneratedFile[] = [
    { name: 'iscsid.conf', installTo: 'set these keys in /etc/iscsi/iscsid.conf', content: iscsidConf(o), mode: 0o644 },
    {
      name: 'multipath.conf',
      installTo: '/etc/multipath.conf (on a host without one)',
      content: checked(multipathConf(o)),
      mode: 0o644,
    },
    {
      name: 'multipath-vstorage-iscsi.conf',
      installTo: '/etc/multipath/conf.d/vstorage-iscsi.conf (on a host with its own multipath.conf)',
      content: checked(multipathConfD(o)),
      mode: 0o644,
    },
    { name: UDEV_RULE_FILE, installTo: `/etc/udev/rules.d/${UDEV_RULE_FILE}`, content: udevRule(), mode: 0o644 },
    { name: 'setup-linux.sh', installTo: 'run as root: sh setup-linux.sh', content: setupScript(o), mode: 0o755 },
  ];
  const notes = [
    `LUNs answer INQUIRY with vendor "${VENDOR}", product "${PRODUCT}".`,
    o.target ? `Target: ${o.target}` : 'Target: every target the portals report (give --target IQN for one).',
    o.portals.length > 0 ? `Portals: ${o.portals.map(portalWithPort).join(' ')}` : 'Portals: none given (--portal ADDR): no discovery or login commands.',
  ];
  if (o.user) notes.push(`CHAP: account ${o.user}${o.mutualUser ? `, mutual ${o.mutualUser}` : ''}; secrets are asked from the environment (CHAP_SECRET${o.mutualUser ? ', MUTUAL_SECRET' : ''}).`);
  return {
    os: 'linux',
    title: 'vstorage-iscsi host-config: Linux (open-iscsi, dm-multipath)',
    notes,
    files,
    next: [
      `${o.user ? `CHAP_SECRET=...${o.mutualUser ? ' MUTUAL_SECRET=...' : ''} ` : ''}sh DIR/setup-linux.sh   (as root)`,
      'multipath -ll; vstorage-iscsi host-status   (every LUN: a path per portal)',
    ],
  };
}
