/**
 * VMware ESXi hosts: an NMP SATP claim rule that gives our LUNs the ALUA
 * SATP with Round Robin, the software iSCSI adapter, its path timers, CHAP and
 * discovery (source 4.2.7.3 does the static discovery by hand in the vSphere
 * Client).
 */
import { PRODUCT, VENDOR } from './identity.js';
import { portalWithPort, shQuote, type GeneratedFile, type HostConfig, type HostConfigOptions } from './host-config.js';

export const ESXI_SATP = 'VMW_SATP_ALUA';
export const ESXI_PSP = 'VMW_PSP_RR';
export const ESXI_PSP_OPTION = 'iops=1';
export const ESXI_CLAIM_OPTION = 'tpgs_on';
export const ESXI_RULE_DESCRIPTION = 'vstorage-iscsi ALUA LUNs';

export const ESXI_TIMING = {
  noopOutInterval: 5,
  /** ESXi's minimum. */
  noopOutTimeout: 10,
  recoveryTimeout: 10,
} as const;

/** The `esxcli storage nmp satp rule add` command line for our LUNs. */
export function satpRuleCommand(): string {
  return (
    `esxcli storage nmp satp rule add --satp=${ESXI_SATP} --vendor=${shQuote(VENDOR)} --model=${shQuote(PRODUCT)} ` +
    `--claim-option=${ESXI_CLAIM_OPTION} --psp=${ESXI_PSP} --psp-option=${shQuote(ESXI_PSP_OPTION)} ` +
    `--description=${shQuote(ESXI_RULE_DESCRIPTION)}`
  );
}

function script(o: HostConfigOptions): string {
  const t = ESXI_TIMING;
  const L: string[] = [
    '#!/bin/sh',
    '# vstorage-iscsi host-config: set up this ESXi host (6.7 and later) for',
    '# vstorage-iscsi targets. Run in the ESXi Shell or over SSH as root;',
    '# running it again changes nothing more.',
    'set -eu',
  ];
  if (o.target) L.push(`TARGET=${shQuote(o.target)}`);
  if (o.user) {
    L.push(`: "\${CHAP_SECRET:?set CHAP_SECRET to the secret of CHAP account ${o.user}}"`);
    if (o.mutualUser) L.push(`: "\${MUTUAL_SECRET:?set MUTUAL_SECRET to the secret of CHAP account ${o.mutualUser} (the target's)}"`);
  }
  L.push(
    '',
    `# 1. Claim rule: LUNs whose INQUIRY says vendor "${VENDOR}", model "${PRODUCT}" and`,
    `#    that report ALUA support (${ESXI_CLAIM_OPTION}) get the ALUA SATP with Round Robin:`,
    '#    I/O rotates over the active/optimized paths, switching after every I/O',
    `#    (${ESXI_PSP_OPTION}; the default 1000 leaves one path busy at a time), and moves to`,
    '#    active/non-optimized paths only when no optimized path is left.',
    '#    The rule applies to LUNs claimed after it: for a LUN already present,',
    '#    esxcli storage core claiming reclaim -d naa.XXXX (or reboot).',
    `if ! esxcli storage nmp satp rule list --satp=${ESXI_SATP} | grep -q ${shQuote(PRODUCT)}; then`,
    `  ${satpRuleCommand()}`,
    'fi',
    '',
    '# 2. The software iSCSI adapter.',
    'esxcli iscsi software set --enabled=true',
    "ADAPTER=$(esxcli iscsi adapter list | awk '$2 == \"iscsi_vmk\" { print $1; exit }')",
    '[ -n "$ADAPTER" ] || { echo "no software iSCSI adapter (driver iscsi_vmk) found" >&2; exit 1; }',
    '',
    '# 3. Path failure detection: ping every connection with a NOP-Out every',
    `#    ${t.noopOutInterval} s (default 15) and drop it after ${t.noopOutTimeout} s without an answer; fail its I/O to`,
    `#    the path selection ${t.recoveryTimeout} s later (RecoveryTimeout), which resends it on another path.`,
    `esxcli iscsi adapter param set --adapter="$ADAPTER" --key=NoopOutInterval --value=${t.noopOutInterval}`,
    `esxcli iscsi adapter param set --adapter="$ADAPTER" --key=NoopOutTimeout --value=${t.noopOutTimeout}`,
    `esxcli iscsi adapter param set --adapter="$ADAPTER" --key=RecoveryTimeout --value=${t.recoveryTimeout}`,
  );
  let step = 4;
  if (o.user) {
    L.push(
      '',
      `# ${step++}. CHAP for every target of this adapter: account ${o.user}, required${o.mutualUser ? `; the target answers as ${o.mutualUser} (mutual)` : ''}.`,
      `esxcli iscsi adapter auth chap set --adapter="$ADAPTER" --direction=uni --level=required --authname=${shQuote(o.user)} --secret="$CHAP_SECRET"`,
    );
    if (o.mutualUser) {
      L.push(
        `esxcli iscsi adapter auth chap set --adapter="$ADAPTER" --direction=mutual --level=required --authname=${shQuote(o.mutualUser)} --secret="$MUTUAL_SECRET"`,
      );
    }
  }
  if (o.portals.length === 0) {
    L.push(
      '',
      `# ${step++}. Discovery: run host-config again with --portal ADDR (and --target IQN)`,
      '#    to have the commands written here.',
    );
  } else {
    L.push(
      '',
      o.target
        ? `# ${step++}. Static discovery of the target at every portal (as source 4.2.7.3 does in the vSphere Client).`
        : `# ${step++}. Dynamic (SendTargets) discovery at every portal: ESXi logs in to every target they report.`,
      '#    Portals in different subnets: do not bind VMkernel ports to the adapter',
      '#    (port binding wants every portal reachable from every bound port).',
      '# listed WORD...: some line of the standard input has every WORD as a field.',
      'listed() {',
      '  awk -v words="$*" \'BEGIN { n = split(words, w, " ") }',
      '    { c = 0',
      '      for (i = 1; i <= n; i++) for (j = 1; j <= NF; j++) if ($j == w[i]) { c++; break }',
      '      if (c == n) f = 1 }',
      '    END { exit !f }\'',
      '}',
    );
    for (const p of o.portals) {
      const addr = portalWithPort(p);
      if (o.target) {
        L.push(
          `esxcli iscsi adapter discovery statictarget list --adapter="$ADAPTER" | listed "$TARGET" ${shQuote(addr)} ||`,
          `  esxcli iscsi adapter discovery statictarget add --adapter="$ADAPTER" --address=${shQuote(addr)} --name="$TARGET"`,
        );
      } else {
        L.push(
          `esxcli iscsi adapter discovery sendtarget list --adapter="$ADAPTER" | listed ${shQuote(addr)} ||`,
          `  esxcli iscsi adapter discovery sendtarget add --adapter="$ADAPTER" --address=${shQuote(addr)}`,
        );
      }
    }
  }
  L.push(
    '',
    `# ${step}. Rescan, then check: every ${VENDOR} LUN shows "Storage Array Type: ${ESXI_SATP}"`,
    `#    and "Path Selection Policy: ${ESXI_PSP}", with a path per portal.`,
    '#    With every path down, ESXi holds I/O for Misc.APDTimeout (140 s by default,',
    '#    host-wide), which covers an HA relocation of the target.',
    'esxcli storage core adapter rescan --adapter="$ADAPTER"',
    'esxcli storage nmp device list',
    'esxcli storage core path list',
  );
  return L.join('\n') + '\n';
}

export function esxiConfig(o: HostConfigOptions): HostConfig {
  const files: GeneratedFile[] = [{ name: 'esxi-setup.sh', installTo: 'copy to the host, run as root: sh esxi-setup.sh', content: script(o), mode: 0o755 }];
  const notes = [
    `LUNs answer INQUIRY with vendor "${VENDOR}", product "${PRODUCT}".`,
    o.target ? `Target: ${o.target}` : 'Target: every target the portals report (give --target IQN for one).',
    o.portals.length > 0 ? `Portals: ${o.portals.map(portalWithPort).join(' ')}` : 'Portals: none given (--portal ADDR): no discovery commands.',
  ];
  if (o.user) notes.push(`CHAP: account ${o.user}${o.mutualUser ? `, mutual ${o.mutualUser}` : ''}; secrets are asked from the environment (CHAP_SECRET${o.mutualUser ? ', MUTUAL_SECRET' : ''}).`);
  return {
    os: 'esxi',
    title: 'vstorage-iscsi host-config: VMware ESXi (NMP, software iSCSI)',
    notes,
    files,
    next: [`${o.user ? `CHAP_SECRET=...${o.mutualUser ? ' MUTUAL_SECRET=...' : ''} ` : ''}sh esxi-setup.sh   (on the ESXi host, as root)`],
  };
}
