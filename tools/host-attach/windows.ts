/**
 * Windows Server hosts: the Multipath I/O feature, the Microsoft DSM claim of
 * our LUNs (`mpclaim`), MPIO and iSCSI initiator timers, and the iSCSI
 * initiator PowerShell that connects through every portal (source 4.2.7.2,
 * 4.2.7.5 do the single-portal version by hand).
 */
import { PRODUCT, VENDOR, mpclaimHardwareId } from './identity.js';
import { psQuote, type GeneratedFile, type HostConfig, type HostConfigOptions } from './host-config.js';

export const WINDOWS_TIMING = {
  /** MPIO checks idle paths this often (seconds). */
  pathVerificationPeriod: 30,
  retryCount: 3,
  retryInterval: 1,
  /** Upper bound for how often MPIO retries a failed path (seconds). */
  pathRecoveryInterval: 20,
  /** Disk class TimeOutValue (seconds). */
  diskTimeout: 60,
  /** iSCSI initiator: fail I/O to MPIO this long after a connection is lost. */
  maxRequestHoldTime: 15,
  linkDownTime: 15,
} as const;

/** Load balance policy 3 of mpclaim: Round Robin with Subset. */
export const MPCLAIM_RR_WITH_SUBSET = 3;

/** Class GUID of SCSI adapters; the Microsoft iSCSI Initiator is one instance under it. */
const SCSI_ADAPTER_CLASS = 'HKLM:\\SYSTEM\\CurrentControlSet\\Control\\Class\\{4D36E97B-E325-11CE-BFC1-08002BE10318}';

function pdoRemovePeriod(o: HostConfigOptions): number {
  if (o.queueTime === 'forever') {
    throw new Error("Windows MPIO cannot queue forever: give --queue-time in seconds");
  }
  return o.queueTime;
}

function mpioScript(o: HostConfigOptions): string {
  const t = WINDOWS_TIMING;
  const hwid = mpclaimHardwareId();
  const pdo = pdoRemovePeriod(o);
  const recovery = Math.max(1, Math.min(t.pathRecoveryInterval, Math.floor(pdo / 2)));
  return (
    [
      '# vstorage-iscsi host-config: Multipath I/O for vstorage-iscsi LUNs on Windows',
      '# Server 2012 R2 and later. Run in an elevated PowerShell, then restart.',
      '#Requires -RunAsAdministrator',
      "$ErrorActionPreference = 'Stop'",
      '',
      '# 1. The Multipath I/O feature.',
      'Install-WindowsFeature -Name Multipath-IO',
      '',
      '# 2. Let the Microsoft DSM claim our LUNs. mpclaim wants the hardware ID as',
      `#    the LUN reports it: the INQUIRY vendor padded to 8 characters ("${VENDOR}")`,
      `#    followed by the product padded to 16 ("${PRODUCT.padEnd(16, ' ')}"). -n: no restart now.`,
      `mpclaim.exe -n -i -d "${hwid}"`,
      '#    The MPIO module does the same without the padding:',
      `#    New-MSDSMSupportedHW -VendorId ${psQuote(VENDOR)} -ProductId ${psQuote(PRODUCT)}`,
      '',
      `# 3. Load balancing for this hardware ID: Round Robin with Subset (${MPCLAIM_RR_WITH_SUBSET}) sends I/O`,
      '#    over the active/optimized paths and keeps the active/non-optimized ones',
      "#    for when no optimized path is left. It is MSDSM's default for ALUA disks;",
      '#    set here so an MSDSM-wide default (mpclaim -l -m) does not override it.',
      `mpclaim.exe -l -t "${hwid}" ${MPCLAIM_RR_WITH_SUBSET}`,
      '',
      '# 4. MPIO timers:',
      `#    - check idle paths every ${t.pathVerificationPeriod} s, so a dead path is found without I/O;`,
      `#    - keep the MPIO disk ${pdo} s after its last path is gone (PDORemovePeriod), long enough`,
      '#      for the HA agent to move the target to another node; I/O waits meanwhile;',
      `#    - retry a failed path every ${recovery} s (custom path recovery), so a portal that`,
      '#      returns is used again without a rescan;',
      `#    - disk timeout ${t.diskTimeout} s (Disk\\TimeOutValue): a slow moment of the cluster`,
      '#      storage does not fail commands that are merely late.',
      `Set-MPIOSetting -NewPathVerificationState Enabled -NewPathVerificationPeriod ${t.pathVerificationPeriod} ` +
        `-NewPDORemovePeriod ${pdo} -NewRetryCount ${t.retryCount} -NewRetryInterval ${t.retryInterval} ` +
        `-CustomPathRecovery Enabled -NewPathRecoveryInterval ${recovery} -NewDiskTimeout ${t.diskTimeout}`,
      '',
      '# 5. Restart so the claim takes effect, then run iscsi-connect.ps1.',
      '#    Restart-Computer',
    ].join('\n') + '\n'
  );
}

function connectArgs(o: HostConfigOptions, node: string, address: string, port: number): string {
  let s = `Connect-IscsiTarget -NodeAddress ${node} -TargetPortalAddress ${psQuote(address)} -TargetPortalPortNumber ${port} -IsMultipathEnabled $true -IsPersistent $true`;
  if (o.user) {
    s += ` -AuthenticationType ${o.mutualUser ? 'MUTUALCHAP' : 'ONEWAYCHAP'} -ChapUsername ${psQuote(o.user)} -ChapSecret $ChapSecret`;
  }
  return s;
}

function connectScript(o: HostConfigOptions): string {
  const t = WINDOWS_TIMING;
  const L: string[] = [
    '# vstorage-iscsi host-config: connect this Windows host to vstorage-iscsi',
    `# ${o.target ? `target ${o.target}` : 'targets'} through every portal, with MPIO. Run after mpio-setup.ps1`,
    '# and the restart, in an elevated PowerShell.',
    '#Requires -RunAsAdministrator',
    "$ErrorActionPreference = 'Stop'",
    '',
    '# 1. The iSCSI initiator service, started now and at every boot.',
    'Set-Service -Name MSiSCSI -StartupType Automatic',
    'Start-Service -Name MSiSCSI',
    '',
    '# 2. iSCSI initiator timers (the Parameters key of the Microsoft iSCSI Initiator',
    '#    instance; used from the next restart):',
    `#    - MaxRequestHoldTime ${t.maxRequestHoldTime} (default 60): after a connection is lost, fail its`,
    '#      I/O to MPIO after this many seconds so MPIO resends it on another path;',
    `#    - LinkDownTime ${t.linkDownTime}: how long to wait for a link that went down;`,
    '#    - EnableNOPOut 1: ping idle connections with NOP-Out so a dead one is noticed.',
    `Get-ChildItem -Path ${psQuote(SCSI_ADAPTER_CLASS)} -ErrorAction SilentlyContinue |`,
    "  Where-Object { (Get-ItemProperty -Path $_.PSPath -ErrorAction SilentlyContinue).DriverDesc -eq 'Microsoft iSCSI Initiator' } |",
    '  ForEach-Object {',
    "    $p = Join-Path $_.PSPath 'Parameters'",
    `    Set-ItemProperty -Path $p -Name MaxRequestHoldTime -Type DWord -Value ${t.maxRequestHoldTime}`,
    `    Set-ItemProperty -Path $p -Name LinkDownTime -Type DWord -Value ${t.linkDownTime}`,
    '    Set-ItemProperty -Path $p -Name EnableNOPOut -Type DWord -Value 1',
    '  }',
  ];
  if (o.user) {
    L.push(
      '',
      `# 3. CHAP: account ${o.user}${o.mutualUser ? `, and ${o.mutualUser} for the target's answer (mutual CHAP)` : ''}.`,
      '#    The Microsoft initiator accepts CHAP secrets of 12 to 16 characters only.',
      `$ChapSecret = Read-Host -Prompt ${psQuote(`Secret of CHAP account ${o.user}`)}`,
    );
    if (o.mutualUser) {
      L.push(
        "#    Mutual CHAP: the initiator checks the target's answer with its own CHAP",
        `#    secret, which must be the secret of account ${o.mutualUser} (one secret for`,
        '#    every mutual-CHAP target of this host).',
        `$MutualSecret = Read-Host -Prompt ${psQuote(`Secret of CHAP account ${o.mutualUser} (the target's)`)}`,
        'Set-IscsiChapSecret -ChapSecret $MutualSecret',
      );
    }
  }
  const step = o.user ? 4 : 3;
  if (o.portals.length === 0) {
    L.push(
      '',
      `# ${step}. Portals and sessions: run host-config again with --portal ADDR (and`,
      '#    --target IQN) to have the commands written here.',
    );
  } else {
    L.push('', `# ${step}. Every portal of the target, then one persistent MPIO session per portal.`);
    for (const p of o.portals) {
      L.push(`New-IscsiTargetPortal -TargetPortalAddress ${psQuote(p.address)} -TargetPortalPortNumber ${p.port}`);
    }
    if (o.target) {
      L.push(`$Target = ${psQuote(o.target)}`);
      for (const p of o.portals) L.push(connectArgs(o, '$Target', p.address, p.port));
    } else {
      L.push('# Every target the portals reported:', 'foreach ($Target in (Get-IscsiTarget).NodeAddress) {');
      for (const p of o.portals) L.push(`  ${connectArgs(o, '$Target', p.address, p.port)}`);
      L.push('}');
    }
  }
  L.push(
    '',
    `# ${step + 1}. Check: a session per portal, and each LUN one MPIO disk with every path.`,
    'Get-IscsiSession | Format-Table TargetNodeAddress, InitiatorPortalAddress, IsConnected, IsPersistent',
    'mpclaim.exe -s -d',
    `Get-Disk | Where-Object Model -like ${psQuote(`${PRODUCT}*`)}`,
  );
  return L.join('\n') + '\n';
}

export function windowsConfig(o: HostConfigOptions): HostConfig {
  const files: GeneratedFile[] = [
    { name: 'mpio-setup.ps1', installTo: 'run first, in an elevated PowerShell, then restart', content: mpioScript(o), mode: 0o644 },
    { name: 'iscsi-connect.ps1', installTo: 'run after the restart, in an elevated PowerShell', content: connectScript(o), mode: 0o644 },
  ];
  const notes = [
    `LUNs answer INQUIRY with vendor "${VENDOR}", product "${PRODUCT}"; mpclaim hardware ID "${mpclaimHardwareId()}".`,
    o.target ? `Target: ${o.target}` : 'Target: every target the portals report (give --target IQN for one).',
    o.portals.length > 0
      ? `Portals: ${o.portals.map((p) => (p.family === 6 ? `[${p.address}]:${p.port}` : `${p.address}:${p.port}`)).join(' ')}`
      : 'Portals: none given (--portal ADDR): no portal or session commands.',
  ];
  if (o.user) notes.push(`CHAP: account ${o.user}${o.mutualUser ? `, mutual ${o.mutualUser}` : ''}; iscsi-connect.ps1 asks for the secrets.`);
  return {
    os: 'windows',
    title: 'vstorage-iscsi host-config: Windows Server (MPIO, Microsoft iSCSI Initiator)',
    notes,
    files,
    next: [
      'run DIR\\mpio-setup.ps1 as Administrator and restart',
      'run DIR\\iscsi-connect.ps1 as Administrator',
    ],
  };
}
