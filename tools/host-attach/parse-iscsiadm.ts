/**
 * Parser for open-iscsi's `iscsiadm -m session` output (2.0.87x to 2.1.x):
 *
 * - print level 0 (`iscsiadm -m session`), one line per session:
 *     tcp: [1] 192.168.10.101:3260,1 iqn.2014-04.com.vstorage:ps1 (non-flash)
 * - print levels 1-3 (`iscsiadm -m session -P 3`), a tree per target:
 *     Target: iqn.2014-04.com.vstorage:ps1 (non-flash)
 *         Current Portal: 192.168.10.101:3260,1
 *         Persistent Portal: 192.168.10.101:3260,1
 *             **********
 *             Interface:
 *             ...
 *             SID: 1
 *             iSCSI Connection State: LOGGED IN
 *             iSCSI Session State: LOGGED_IN
 *             ...
 *             Host Number: 2  State: running
 *             scsi2 Channel 00 Id 0 Lun: 0
 *                 Attached scsi disk sda      State: running
 *
 * Several sessions of one target share its `Target:` line, and sessions of
 * one portal through several ifaces share the `Current Portal:` lines, so
 * each `Iface Name:` (or a second `SID:`) starts a new session.
 */
import { HostAttachError } from './errors.js';

export interface PortalRef {
  address: string;
  port: number;
  /** Target portal group tag. */
  tpgt: number;
}

export interface AttachedDisk {
  lun: number;
  /** SCSI channel and target id (`scsi2 Channel 00 Id 0`). */
  channel: number;
  scsiId: number;
  /** Block device name (`sda`); undefined if the LUN has no disk attached (yet). */
  device?: string;
  /** SCSI device state from sysfs: `running`, `blocked`, `transport-offline`, `offline`... */
  state?: string;
}

export interface IscsiSession {
  /** Transport: `tcp`, `iser`... */
  transport: string;
  sid: number;
  target: string;
  portal?: PortalRef;
  persistentPortal?: PortalRef;
  iface?: string;
  initiatorName?: string;
  /** Local address the session's connection uses. */
  localAddress?: string;
  /** `LOGGED IN`, `TRANSPORT WAIT`, `IN LOGIN`, `FREE`, ... */
  connectionState?: string;
  /** `LOGGED_IN`, `FAILED`, `FREE`. */
  sessionState?: string;
  /** iscsid's own state: `NO CHANGE`, `REOPEN`, `CLEANUP`, ... */
  internalState?: string;
  /** node.session.timeo.replacement_timeout in effect (the "Recovery Timeout"). */
  recoveryTimeout?: number;
  /** SCSI host number the session's LUNs sit on (`H` of `H:C:T:L`). */
  hostNumber?: number;
  hostState?: string;
  disks: AttachedDisk[];
}

export interface IscsiadmListing {
  sessions: IscsiSession[];
  /** Print level of the input: 0 (one line per session) or 1-3 (tree). */
  detail: 0 | 3;
}

/** `ADDR:PORT,TPGT` with ADDR an IPv4 address, a name or a bracketed IPv6 address. */
export function parsePortalRef(text: string): PortalRef | undefined {
  const m = /^(\[[^\]]+\]|[^\s,]+?):(\d+),(-?\d+)$/.exec(text.trim());
  if (!m) return undefined;
  const addr = m[1]!.startsWith('[') ? m[1]!.slice(1, -1) : m[1]!;
  return { address: addr, port: Number(m[2]), tpgt: Number(m[3]) };
}

/** Portal as iscsiadm prints it: `192.168.10.101:3260,1`, `[fd00::1]:3260,1`. */
export function formatPortalRef(p: PortalRef): string {
  const a = p.address.includes(':') ? `[${p.address}]` : p.address;
  return `${a}:${p.port},${p.tpgt}`;
}

const P0_RE = /^(\w+): \[(\d+)\] (\S+) (\S+)(?: \(([^)]*)\))?\s*$/;
const TARGET_RE = /^Target: (\S+)(?: \(([^)]*)\))?\s*$/;
const KV_RE = /^([A-Za-z][A-Za-z0-9 _./-]*?):\s*(.*)$/;
const HOST_RE = /^Host Number: (\d+)(?:\s+State: (\S+))?/;
const LUN_RE = /^scsi(\d+) Channel (\d+) Id (\d+) Lun: (\d+)/;
const DISK_RE = /^Attached scsi disk (\S+)(?:\s+State: (\S+))?/;

function emptyValue(v: string): string | undefined {
  const t = v.trim();
  return t === '' || t === '<empty>' || t === '[default]' ? undefined : t;
}

export function parseIscsiadmSessions(text: string, source = 'iscsiadm output'): IscsiadmListing {
  const sessions: IscsiSession[] = [];
  const lines = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '');
  const isTree = lines.some((l) => TARGET_RE.test(l));
  const unknown: string[] = [];
  if (!isTree) {
    for (const l of lines) {
      const m = P0_RE.exec(l);
      const portal = m ? parsePortalRef(m[3]!) : undefined;
      if (!m || !portal) {
        unknown.push(l);
        continue;
      }
      sessions.push({ transport: m[1]!, sid: Number(m[2]), portal, target: m[4]!, disks: [] });
    }
    check(unknown, sessions, source);
    return { sessions, detail: 0 };
  }

  let target: string | undefined;
  let portal: PortalRef | undefined;
  let persistent: PortalRef | undefined;
  let s: IscsiSession | undefined;
  let lunCtx: { channel: number; scsiId: number; lun: number } | undefined;
  const start = (): IscsiSession => {
    s = { transport: 'tcp', sid: -1, target: target ?? '', portal, persistentPortal: persistent, disks: [] };
    sessions.push(s);
    lunCtx = undefined;
    return s;
  };
  for (const l of lines) {
    if (/^\*+$/.test(l) || /^(Interface|Timeouts|CHAP|Negotiated iSCSI params|Attached SCSI devices):$/.test(l)) continue;
    if (/^iSCSI Transport Class version /.test(l) || /^version \S+$/.test(l)) continue;
    const t = TARGET_RE.exec(l);
    if (t) {
      target = t[1]!;
      portal = persistent = undefined;
      s = undefined;
      continue;
    }
    const host = HOST_RE.exec(l);
    if (host) {
      const cur = s ?? start();
      cur.hostNumber = Number(host[1]);
      cur.hostState = host[2];
      continue;
    }
    const lun = LUN_RE.exec(l);
    if (lun) {
      const cur = s ?? start();
      cur.hostNumber ??= Number(lun[1]);
      lunCtx = { channel: Number(lun[2]), scsiId: Number(lun[3]), lun: Number(lun[4]) };
      cur.disks.push({ ...lunCtx });
      continue;
    }
    const disk = DISK_RE.exec(l);
    if (disk) {
      const cur = s ?? start();
      const last = cur.disks[cur.disks.length - 1];
      if (last && lunCtx && last.device === undefined) {
        last.device = disk[1];
        last.state = disk[2];
      } else {
        cur.disks.push({ lun: lunCtx?.lun ?? -1, channel: lunCtx?.channel ?? 0, scsiId: lunCtx?.scsiId ?? 0, device: disk[1], state: disk[2] });
      }
      continue;
    }
    const kv = KV_RE.exec(l);
    if (!kv) {
      unknown.push(l);
      continue;
    }
    const key = kv[1]!;
    const value = kv[2]!;
    switch (key) {
      case 'Current Portal':
        portal = parsePortalRef(value);
        s = undefined;
        break;
      case 'Persistent Portal':
        persistent = parsePortalRef(value);
        if (s) s.persistentPortal = persistent;
        break;
      case 'Iface Name':
        start().iface = emptyValue(value);
        break;
      case 'Iface Transport':
        (s ?? start()).transport = value.trim() || 'tcp';
        break;
      case 'Iface Initiatorname':
        (s ?? start()).initiatorName = emptyValue(value);
        break;
      case 'Iface IPaddress':
        (s ?? start()).localAddress = emptyValue(value);
        break;
      case 'SID': {
        const cur = s && s.sid < 0 ? s : start();
        cur.sid = Number(value);
        break;
      }
      case 'iSCSI Connection State':
        (s ?? start()).connectionState = value.trim();
        break;
      case 'iSCSI Session State':
        (s ?? start()).sessionState = value.trim();
        break;
      case 'Internal iscsid Session State':
        (s ?? start()).internalState = value.trim();
        break;
      case 'Recovery Timeout':
        if (s && /^\d+$/.test(value.trim())) s.recoveryTimeout = Number(value);
        break;
      default:
        // Other settings (CHAP names, negotiated parameters, timeouts...) are not needed here.
        break;
    }
  }
  check(unknown, sessions, source, true);
  return { sessions: sessions.filter((x) => x.sid >= 0 || x.disks.length > 0), detail: 3 };
}

function check(unknown: string[], sessions: IscsiSession[], source: string, tree = false): void {
  // iscsiadm's own notices ("iscsiadm: No active sessions.", "iscsiadm: could not read session ...").
  const rest = unknown.filter((u) => !/^iscsiadm: /.test(u));
  if (!tree && rest.length > 0) {
    const hint = rest.some((u) => /dm-\d+|policy=|status=active/.test(u))
      ? ' (it looks like multipath -ll output: give that with --multipath)'
      : '';
    throw new HostAttachError(
      'ISCSI_ERR_HOST_BAD_INPUT',
      `${source} is not \`iscsiadm -m session\` output: cannot read '${rest[0]}'${hint}`,
    );
  }
  if (tree && sessions.length === 0) {
    throw new HostAttachError('ISCSI_ERR_HOST_BAD_INPUT', `${source} has a Target: line but no session (SID) under it`);
  }
}
