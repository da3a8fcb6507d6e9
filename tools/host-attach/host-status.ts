/**
 * `vstorage-iscsi host-status`: a host's paths to its iSCSI LUNs, per LUN,
 * joined from `iscsiadm -m session -P 3` (which session, portal and target a
 * SCSI disk belongs to) and `multipath -ll` (which disks form one LUN's map,
 * their path groups, priorities and states). The commands run on the host, or
 * their recorded output is read from files.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { HostAttachError } from './errors.js';
import { isOurDevice } from './identity.js';
import { formatPortalRef, parseIscsiadmSessions, type IscsiadmListing, type IscsiSession } from './parse-iscsiadm.js';
import { parseMultipathLl, type MultipathListing, type MultipathMap } from './parse-multipath.js';

export interface PathStatus {
  hctl?: string;
  device?: string;
  /** dm-multipath's state of the path: active, failed (or, without multipath, the SCSI device state). */
  dmState?: string;
  /** Path checker result: ready, faulty, ghost, i/o pending... */
  checkerState?: string;
  onlineState?: string;
  group?: number;
  groupPrio?: number;
  groupStatus?: string;
  /** ALUA access state of the path's target port group. */
  alua?: string;
  aluaPreferred?: boolean;
  /** Where `alua` comes from: the kernel's ALUA handler (sysfs) or the alua prioritizer's priority. */
  aluaSource?: 'sysfs' | 'prio';
  portal?: string;
  target?: string;
  sid?: number;
  /** SCSI device state iscsiadm reported (running, blocked, transport-offline...). */
  deviceState?: string;
  /** The path carries I/O now. */
  up: boolean;
}

export interface LunStatus {
  /** Multipath map name, or `TARGET lun N` when there is no multipath output. */
  name: string;
  wwid?: string;
  dm?: string;
  vendor?: string;
  product?: string;
  size?: string;
  features?: string;
  hwhandler?: string;
  wp?: string;
  lun?: number;
  target?: string;
  /** INQUIRY vendor/product are ours (VSTORAGE / VSTORAGE-LUN). */
  ours: boolean;
  paths: PathStatus[];
}

export interface SessionStatus {
  sid: number;
  target: string;
  portal?: string;
  sessionState?: string;
  connectionState?: string;
  recoveryTimeout?: number;
  hostNumber?: number;
  devices: string[];
}

export interface HostStatus {
  luns: LunStatus[];
  /** iSCSI disks that are in no multipath map (only when multipath output was read). */
  unmapped: PathStatus[];
  sessions: SessionStatus[];
  /** Whether each input was available. */
  haveIscsiadm: boolean;
  haveMultipath: boolean;
  /** iscsiadm output was print level 3 (devices mapped to sessions). */
  iscsiDetail: boolean;
  warnings: string[];
}

export interface AluaInfo {
  state: string;
  preferred?: boolean;
}

/** alua prioritizer of multipath-tools: priority per access state; +80 with the preferred bit. */
const ALUA_PRIO: Record<number, string> = {
  50: 'active/optimized',
  10: 'active/non-optimized',
  5: 'lba-dependent',
  1: 'standby',
  0: 'unavailable',
};
const PREFERRED_BONUS = 80;

export function aluaFromPrio(prio: number | undefined): AluaInfo | undefined {
  if (prio === undefined || prio < 0) return undefined;
  const preferred = prio >= PREFERRED_BONUS;
  const state = ALUA_PRIO[preferred ? prio - PREFERRED_BONUS : prio];
  return state ? { state, preferred } : undefined;
}

/** Reads the kernel ALUA handler's view: /sys/block/DEV/device/access_state and preferred_path. */
export function aluaFromSysfs(sysfsRoot: string, device: string): AluaInfo | undefined {
  const dir = path.join(sysfsRoot, 'block', device, 'device');
  try {
    const state = fs.readFileSync(path.join(dir, 'access_state'), 'utf8').trim();
    if (!state) return undefined;
    let preferred: boolean | undefined;
    try {
      preferred = fs.readFileSync(path.join(dir, 'preferred_path'), 'utf8').trim() === '1';
    } catch {
      preferred = undefined;
    }
    return { state, preferred };
  } catch {
    return undefined;
  }
}

function pathUp(dmState?: string, checker?: string): boolean {
  return dmState === 'active' && (checker === 'ready' || checker === 'ghost');
}

export function buildHostStatus(
  iscsi: IscsiadmListing | undefined,
  mp: MultipathListing | undefined,
  alua?: (device: string) => AluaInfo | undefined,
): HostStatus {
  const sessions = iscsi?.sessions ?? [];
  const byDevice = new Map<string, { s: IscsiSession; state?: string; lun: number }>();
  const byHost = new Map<number, IscsiSession>();
  for (const s of sessions) {
    if (s.hostNumber !== undefined) byHost.set(s.hostNumber, s);
    for (const d of s.disks) if (d.device) byDevice.set(d.device, { s, state: d.state, lun: d.lun });
  }
  const attach = (p: PathStatus, host?: number) => {
    const hit = p.device ? byDevice.get(p.device) : undefined;
    const s = hit?.s ?? (host !== undefined ? byHost.get(host) : undefined);
    if (!s) return;
    p.portal = s.portal ? formatPortalRef(s.portal) : undefined;
    p.target = s.target;
    p.sid = s.sid;
    if (hit) p.deviceState = hit.state;
  };
  const setAlua = (p: PathStatus, fromPrio: AluaInfo | undefined) => {
    const sys = p.device && alua ? alua(p.device) : undefined;
    const a = sys ?? fromPrio;
    if (!a) return;
    p.alua = a.state;
    p.aluaPreferred = a.preferred;
    p.aluaSource = sys ? 'sysfs' : 'prio';
  };

  const luns: LunStatus[] = [];
  const mapped = new Set<string>();
  if (mp) {
    for (const m of mp.maps) luns.push(lunFromMap(m, attach, setAlua, mapped));
  } else {
    // No multipath output: one entry per (target, LUN) with a path per session.
    const groups = new Map<string, LunStatus>();
    for (const s of sessions) {
      for (const d of s.disks) {
        const key = `${s.target}\u0000${d.lun}`;
        let l = groups.get(key);
        if (!l) {
          l = { name: `${s.target} lun ${d.lun}`, target: s.target, lun: d.lun, ours: false, paths: [] };
          groups.set(key, l);
          luns.push(l);
        }
        const p: PathStatus = {
          hctl: s.hostNumber !== undefined ? `${s.hostNumber}:${d.channel}:${d.scsiId}:${d.lun}` : undefined,
          device: d.device,
          dmState: undefined,
          portal: s.portal ? formatPortalRef(s.portal) : undefined,
          target: s.target,
          sid: s.sid,
          deviceState: d.state,
          up: d.state === 'running' && s.sessionState !== 'FAILED',
        };
        setAlua(p, undefined);
        l.paths.push(p);
      }
    }
  }

  const unmapped: PathStatus[] = [];
  if (mp) {
    for (const s of sessions) {
      for (const d of s.disks) {
        if (!d.device || mapped.has(d.device)) continue;
        unmapped.push({
          hctl: s.hostNumber !== undefined ? `${s.hostNumber}:${d.channel}:${d.scsiId}:${d.lun}` : undefined,
          device: d.device,
          portal: s.portal ? formatPortalRef(s.portal) : undefined,
          target: s.target,
          sid: s.sid,
          deviceState: d.state,
          up: d.state === 'running',
        });
      }
    }
  }

  const status: HostStatus = {
    luns,
    unmapped,
    sessions: sessions.map((s) => ({
      sid: s.sid,
      target: s.target,
      portal: s.portal ? formatPortalRef(s.portal) : undefined,
      sessionState: s.sessionState,
      connectionState: s.connectionState,
      recoveryTimeout: s.recoveryTimeout,
      hostNumber: s.hostNumber,
      devices: s.disks.map((d) => d.device).filter((d): d is string => d !== undefined),
    })),
    haveIscsiadm: iscsi !== undefined,
    haveMultipath: mp !== undefined,
    iscsiDetail: iscsi?.detail === 3,
    warnings: [],
  };
  status.warnings = warningsFor(status);
  return status;
}

function lunFromMap(
  m: MultipathMap,
  attach: (p: PathStatus, host?: number) => void,
  setAlua: (p: PathStatus, a: AluaInfo | undefined) => void,
  mapped: Set<string>,
): LunStatus {
  const l: LunStatus = {
    name: m.name,
    wwid: m.wwid,
    dm: m.dm,
    vendor: m.vendor,
    product: m.product,
    size: m.size,
    features: m.features,
    hwhandler: m.hwhandler,
    wp: m.wp,
    ours: isOurDevice(m.vendor, m.product),
    paths: [],
  };
  const alua = (m.hwhandler ?? '').includes('alua');
  const luns = new Set<number>();
  for (const g of m.groups) {
    const live = g.paths.some((p) => p.dmState === 'active');
    // A group whose paths all failed reports priority 0: that says nothing about ALUA.
    const fromPrio = alua && (live || (g.prio ?? 0) > 0) ? aluaFromPrio(g.prio) : undefined;
    for (const mpPath of g.paths) {
      const p: PathStatus = {
        hctl: mpPath.hctl,
        device: mpPath.device,
        dmState: mpPath.dmState,
        checkerState: mpPath.checkerState,
        onlineState: mpPath.onlineState,
        group: g.index,
        groupPrio: g.prio,
        groupStatus: g.status,
        up: pathUp(mpPath.dmState, mpPath.checkerState),
      };
      attach(p, mpPath.host);
      setAlua(p, fromPrio);
      if (p.device) mapped.add(p.device);
      if (mpPath.lun !== undefined) luns.add(mpPath.lun);
      if (p.target) l.target ??= p.target;
      l.paths.push(p);
    }
  }
  if (luns.size === 1) l.lun = [...luns][0];
  return l;
}

function pathName(p: PathStatus): string {
  const where = [p.hctl, p.portal ? `via ${p.portal}` : undefined].filter(Boolean).join(', ');
  return `${p.device ?? '?'}${where ? ` (${where})` : ''}`;
}

function warningsFor(st: HostStatus): string[] {
  const w: string[] = [];
  for (const l of st.luns) {
    const up = l.paths.filter((p) => p.up).length;
    if (l.paths.length > 0 && up === 0) {
      const queued = (l.features ?? '').includes('queue_if_no_path');
      w.push(
        `${l.name}: no usable path: ${st.haveMultipath ? (queued ? 'I/O is queued until a path returns (queue_if_no_path)' : 'I/O fails') : 'I/O cannot reach the LUN'}`,
      );
    }
    for (const p of l.paths) {
      if (p.up) continue;
      const how = [p.dmState, p.checkerState, p.onlineState && p.onlineState !== 'running' ? p.onlineState : undefined]
        .filter(Boolean)
        .join('/');
      w.push(`${l.name}: path ${pathName(p)} is down (${how || p.deviceState || 'unknown'})`);
    }
    if (st.haveMultipath && l.paths.length === 1) {
      w.push(`${l.name}: a single path: no redundancy (expected one path per portal of the target)`);
    }
    if (st.haveMultipath && l.ours && !(l.hwhandler ?? '').includes('alua')) {
      w.push(
        `${l.name}: hwhandler='${l.hwhandler ?? ''}': dm-multipath does not use ALUA for this LUN; ` +
          'install the multipath.conf of `vstorage-iscsi host-config --os linux` and run multipathd reconfigure',
      );
    }
  }
  for (const s of st.sessions) {
    const bad = (s.sessionState && s.sessionState !== 'LOGGED_IN') || (s.connectionState && s.connectionState !== 'LOGGED IN');
    if (bad) {
      w.push(
        `session ${s.sid} to ${s.target}${s.portal ? ` via ${s.portal}` : ''} is ${s.sessionState ?? '?'} ` +
          `(connection ${s.connectionState ?? '?'}): iscsid keeps logging in again`,
      );
    }
  }
  const slow = st.sessions.filter((s) => s.recoveryTimeout !== undefined && s.recoveryTimeout > 30 && s.devices.some((d) => !st.unmapped.some((u) => u.device === d)));
  if (st.haveMultipath && st.luns.length > 0 && slow.length > 0) {
    w.push(
      `session${slow.length > 1 ? 's' : ''} ${slow.map((s) => s.sid).join(', ')}: replacement_timeout ${slow[0]!.recoveryTimeout} s: ` +
        'I/O stalls that long before dm-multipath moves it to another path (host-config sets 15)',
    );
  }
  if (st.haveMultipath && st.luns.length === 0 && st.unmapped.length > 0) {
    w.push('no multipath maps although iSCSI disks are attached: is multipathd running with the multipath.conf of host-config?');
  } else {
    for (const u of st.unmapped) {
      w.push(`${u.device}: iSCSI disk of ${u.target ?? '?'}${u.portal ? ` via ${u.portal}` : ''} is in no multipath map`);
    }
  }
  if (st.haveIscsiadm && !st.iscsiDetail && st.luns.length > 0) {
    w.push('portals and targets per path need `iscsiadm -m session -P 3` output (print level 3)');
  }
  return w;
}

// ---- text output ----------------------------------------------------------

function table(rows: string[][], indent = '  '): string[] {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map((r) => indent + r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd());
}

function pathState(p: PathStatus): string {
  if (p.dmState === undefined) return p.deviceState ?? '-';
  const parts = [p.dmState, p.checkerState];
  if (p.onlineState && p.onlineState !== 'running') parts.push(p.onlineState);
  return parts.filter(Boolean).join('/');
}

function aluaText(p: PathStatus): string {
  if (!p.alua) return '-';
  return p.alua + (p.aluaPreferred ? ',pref' : '');
}

export function formatHostStatus(st: HostStatus): string {
  const out: string[] = [];
  if (st.luns.length === 0) out.push(st.haveMultipath ? 'No multipath maps.' : 'No iSCSI LUNs.');
  for (const l of st.luns) {
    const head = [l.name];
    if (l.wwid && l.wwid !== l.name) head.push(`(${l.wwid})`);
    if (l.dm) head.push(l.dm);
    if (l.vendor || l.product) head.push(`${l.vendor ?? ''},${l.product ?? ''}`);
    out.push(head.join(' '));
    const info: string[] = [];
    if (l.target && st.haveMultipath) info.push(`target ${l.target}`);
    if (l.lun !== undefined && st.haveMultipath) info.push(`lun ${l.lun}`);
    if (l.size) info.push(`size=${l.size}`);
    if (l.features !== undefined) info.push(`features='${l.features}'`);
    if (l.hwhandler !== undefined) info.push(`hwhandler='${l.hwhandler}'`);
    if (l.wp) info.push(`wp=${l.wp}`);
    const up = l.paths.filter((p) => p.up).length;
    out.push(`  ${info.length > 0 ? `${info.join(' ')}; ` : ''}${up} of ${l.paths.length} path${l.paths.length === 1 ? '' : 's'} up`);
    const rows: string[][] = [
      st.haveMultipath
        ? ['GROUP', 'PRIO', 'GROUP-STATE', 'ALUA', 'PATH', 'DEV', 'STATE', 'PORTAL', 'TARGET', 'SID']
        : ['PATH', 'DEV', 'STATE', 'ALUA', 'PORTAL', 'TARGET', 'SID'],
    ];
    for (const p of l.paths) {
      const common = [p.hctl ?? '-', p.device ?? '-', pathState(p)];
      const where = [p.portal ?? '-', p.target ?? '-', p.sid !== undefined ? String(p.sid) : '-'];
      rows.push(
        st.haveMultipath
          ? [String(p.group ?? '-'), p.groupPrio !== undefined ? String(p.groupPrio) : '-', p.groupStatus ?? '-', aluaText(p), ...common, ...where]
          : [...common, aluaText(p), ...where],
      );
    }
    out.push(...table(rows, '  '));
    out.push('');
  }
  if (st.unmapped.length > 0) {
    out.push('iSCSI disks in no multipath map:');
    const rows = [['PATH', 'DEV', 'STATE', 'PORTAL', 'TARGET', 'SID']];
    for (const u of st.unmapped) {
      rows.push([u.hctl ?? '-', u.device ?? '-', u.deviceState ?? '-', u.portal ?? '-', u.target ?? '-', String(u.sid ?? '-')]);
    }
    out.push(...table(rows), '');
  }
  if (st.haveIscsiadm) {
    if (st.sessions.length === 0) out.push('No iSCSI sessions.');
    else {
      out.push('iSCSI sessions:');
      const rows = [['SID', 'TARGET', 'PORTAL', 'SESSION', 'CONNECTION', 'HOST', 'DEVICES']];
      for (const s of st.sessions) {
        rows.push([
          String(s.sid),
          s.target,
          s.portal ?? '-',
          s.sessionState ?? '-',
          s.connectionState ?? '-',
          s.hostNumber !== undefined ? String(s.hostNumber) : '-',
          s.devices.join(' ') || '-',
        ]);
      }
      out.push(...table(rows));
    }
    out.push('');
  }
  if (st.warnings.length === 0) out.push('All paths up.');
  else {
    out.push('Warnings:');
    for (const w of st.warnings) out.push(`  - ${w}`);
  }
  return out.join('\n') + '\n';
}

// ---- collecting the inputs --------------------------------------------------

export interface ToolResult {
  code: number;
  stdout: string;
  stderr: string;
}

export type ToolRunner = (file: string, args: string[]) => Promise<ToolResult>;

export const runTool: ToolRunner = (file, args) =>
  new Promise((resolve, reject) => {
    execFile(file, args, { timeout: 60_000, maxBuffer: 64 << 20, env: { ...process.env, LC_ALL: 'C' } }, (err, stdout, stderr) => {
      if (err && typeof (err as NodeJS.ErrnoException).code === 'string') {
        reject(err);
        return;
      }
      const code = err ? ((err as { code?: number }).code ?? 1) : 0;
      resolve({ code: typeof code === 'number' ? code : 1, stdout, stderr });
    });
  });

/** An executable named `name` in PATH or the sbin directories (where iscsiadm and multipath live). */
export function findTool(name: string, env: NodeJS.ProcessEnv): string | undefined {
  const dirs = [...(env.PATH ?? '').split(':').filter(Boolean), '/usr/sbin', '/sbin', '/usr/local/sbin'];
  for (const d of dirs) {
    const p = path.join(d, name);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      if (fs.statSync(p).isFile()) return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** iscsiadm's exit status for "no records/sessions found" (ISCSI_ERR_NO_OBJS_FOUND). */
const ISCSIADM_NO_OBJS_FOUND = 21;

export interface LiveInputs {
  iscsiadm?: string;
  multipath?: string;
  notes: string[];
}

/** Runs `iscsiadm -m session -P 3` and `multipath -ll` where present. */
export async function collectLive(env: NodeJS.ProcessEnv, run: ToolRunner = runTool, find = findTool): Promise<LiveInputs> {
  const iscsiadm = find('iscsiadm', env);
  const multipath = find('multipath', env);
  if (!iscsiadm && !multipath) {
    throw new HostAttachError(
      'ISCSI_ERR_HOST_TOOLS_MISSING',
      'neither iscsiadm nor multipath is installed here: run host-status on the initiator host, ' +
        'or give recorded output with --iscsiadm FILE and --multipath FILE',
    );
  }
  const res: LiveInputs = { notes: [] };
  if (iscsiadm) {
    const r = await run(iscsiadm, ['-m', 'session', '-P', '3']);
    if (r.code === 0) res.iscsiadm = r.stdout;
    else if (r.code === ISCSIADM_NO_OBJS_FOUND) res.iscsiadm = '';
    else throw toolFailed('iscsiadm -m session -P 3', r);
  } else res.notes.push('iscsiadm not found: iSCSI sessions not shown');
  if (multipath) {
    const r = await run(multipath, ['-ll']);
    if (r.code === 0) res.multipath = r.stdout;
    else throw toolFailed('multipath -ll', r);
  } else res.notes.push('multipath not found: LUNs are shown per iSCSI session');
  return res;
}

function toolFailed(what: string, r: ToolResult): HostAttachError {
  const msg = (r.stderr || r.stdout).trim().split('\n').slice(-3).join('; ');
  const root = /root|permission|denied/i.test(msg) && process.getuid?.() !== 0 ? ' (run as root)' : '';
  return new HostAttachError('ISCSI_ERR_HOST_TOOL_FAILED', `${what} failed with exit status ${r.code}${msg ? `: ${msg}` : ''}${root}`);
}

export function parseInputs(
  iscsiText: string | undefined,
  mpText: string | undefined,
  sources: { iscsiadm?: string; multipath?: string } = {},
): { iscsi?: IscsiadmListing; mp?: MultipathListing } {
  return {
    iscsi: iscsiText === undefined ? undefined : parseIscsiadmSessions(iscsiText, sources.iscsiadm),
    mp: mpText === undefined ? undefined : parseMultipathLl(mpText, sources.multipath),
  };
}
