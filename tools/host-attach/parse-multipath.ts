/**
 * Parser for `multipath -ll` (and `multipathd show maps topology`) output of
 * multipath-tools 0.4.9 to 0.9.x:
 *
 *   mpatha (36f4032f00035000000000000000008ab) dm-3 REDUXIO,TCAS
 *   size=500G features='1 queue_if_no_path' hwhandler='1 alua' wp=rw
 *   |-+- policy='round-robin 0' prio=130 status=active
 *   | `- 10:0:0:120 sde 8:64 active ready running
 *   `-+- policy='round-robin 0' prio=10 status=enabled
 *     |- 4:0:0:120 sdd 8:48 active ready running
 *     `- 3:0:0:120 sdc 8:32 active ready running
 *
 * and the bracketed layout of 0.4.x (`[size=10G][features=0][hwhandler=0][rw]`,
 * `\_ round-robin 0 [prio=50][active]`, `\_ 2:0:0:1 sdb 8:16 [active][ready]`).
 *
 * Lines are recognised by their content, not by the tree drawing, so output
 * whose tree characters were lost (copied from a PDF, as in the vendor guide
 * of seeds/000) parses the same. Log lines (`... | sdb: ...`) are kept as
 * messages.
 */
import { HostAttachError } from './errors.js';

export interface MultipathPath {
  /** `H:C:T:L`, or undefined when multipath prints `#:#:#:#` (path without SCSI address). */
  hctl?: string;
  host?: number;
  channel?: number;
  scsiId?: number;
  lun?: number;
  /** Block device name (`sde`), undefined when printed as `-`. */
  device?: string;
  /** `major:minor`. */
  devt?: string;
  /** Device-mapper's view of the path: `active` or `failed` (`undef` when unknown). */
  dmState: string;
  /** Path checker result: `ready`, `faulty`, `ghost`, `shaky`, `i/o pending`, `i/o timeout`, `delayed`, `undef`... */
  checkerState: string;
  /** SCSI device state as multipath sees it: `running`, `offline` (absent in 0.4.x output). */
  onlineState?: string;
}

export interface MultipathGroup {
  /** 1-based position in the map: dm-multipath tries groups in this order. */
  index: number;
  /** Path selector, e.g. `service-time 0` or `round-robin 0`. */
  policy?: string;
  /** Group priority (group_by_prio: the priority its paths share). */
  prio?: number;
  /** `active` (in use), `enabled` (standing by), `disabled` or `undef`. */
  status?: string;
  paths: MultipathPath[];
}

export interface MultipathMap {
  /** Map name: the alias (`mpatha`) or, without user_friendly_names, the WWID. */
  name: string;
  wwid: string;
  /** Kernel device-mapper node, e.g. `dm-3`. */
  dm?: string;
  vendor?: string;
  product?: string;
  size?: string;
  features?: string;
  hwhandler?: string;
  /** Write protection: `rw` or `ro`. */
  wp?: string;
  groups: MultipathGroup[];
}

export interface MultipathListing {
  maps: MultipathMap[];
  /** Lines that were not part of the topology (warnings multipath printed). */
  messages: string[];
}

const TREE_CHARS = /^[\s|`\\+_-]*/;
const HEADER_RE = /^(?:(?:create|reload|switchpg|rename|resize|load|ignore|update):\s+)?(\S+)\s+(?:\(([^)\s]+)\)\s+)?(dm-\d+|undef)\s+(.*?)\s*$/;
/** The attribute line (`size=... features='...' hwhandler='...' wp=rw`), possibly wrapped. */
const SIZE_LINE_RE = /^(?:size|features|hwhandler|wp)=/;
const OLD_SIZE_LINE_RE = /^\[size=/;
const GROUP_RE = /policy='([^']*)'\s+prio=(-?\d+)\s+status=(\S+)/;
const OLD_GROUP_RE = /^(.+?)\s+\[prio=(-?\d+)\](?:\[(\w+)\])?/;
const PATH_RE =
  /^((?:\d+|#):(?:\d+|#):(?:\d+|#):(?:\d+|#))\s+(\S+)\s+(\d+:\d+|#:#)\s+(\S+)\s+(i\/o \w+|\S+)(?:\s+(\S+))?/;
const OLD_PATH_RE = /^(\d+:\d+:\d+:\d+)\s+(\S+)\s+(\d+:\d+)\s+\[(\w+)\]\[([^\]]+)\]/;

function parseHctl(p: MultipathPath, hctl: string): void {
  if (hctl.includes('#')) return;
  p.hctl = hctl;
  const [h, c, t, l] = hctl.split(':').map(Number) as [number, number, number, number];
  p.host = h;
  p.channel = c;
  p.scsiId = t;
  p.lun = l;
}

function attrs(line: string, map: MultipathMap): void {
  for (const m of line.matchAll(/(\w+)=(?:'([^']*)'|(\S+))/g)) {
    const v = m[2] ?? m[3] ?? '';
    if (m[1] === 'size') map.size = v;
    else if (m[1] === 'features') map.features = v;
    else if (m[1] === 'hwhandler') map.hwhandler = v;
    else if (m[1] === 'wp') map.wp = v;
  }
}

function oldAttrs(line: string, map: MultipathMap): void {
  for (const m of line.matchAll(/\[([^\]=]+)(?:=([^\]]*))?\]/g)) {
    const k = m[1]!;
    const v = m[2];
    if (v === undefined) {
      if (k === 'rw' || k === 'ro') map.wp = k;
    } else if (k === 'size') map.size = v;
    else if (k === 'features') map.features = v;
    else if (k === 'hwhandler') map.hwhandler = v;
  }
}

function isTopologyStart(line: string): boolean {
  // Header lines start in column 0 with the map name, never with tree drawing.
  return /^[A-Za-z0-9_.:]/.test(line) && !/^\d+:\d+:\d+:\d+\s/.test(line);
}

export function parseMultipathLl(text: string, source = 'multipath -ll output'): MultipathListing {
  const maps: MultipathMap[] = [];
  const messages: string[] = [];
  let map: MultipathMap | undefined;
  let group: MultipathGroup | undefined;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.replace(/\s+$/, '');
    if (line.trim() === '') continue;
    const body = line.replace(TREE_CHARS, '');
    const header = isTopologyStart(line) ? HEADER_RE.exec(line) : null;
    if (header && !line.includes(' | ')) {
      const [, name, wwid, dm, vp] = header as unknown as [string, string, string | undefined, string, string];
      const comma = vp.indexOf(',');
      map = {
        name,
        wwid: wwid ?? name,
        dm: dm === 'undef' ? undefined : dm,
        vendor: comma < 0 ? (vp || undefined) : vp.slice(0, comma).trim(),
        product: comma < 0 ? undefined : vp.slice(comma + 1).trim(),
        groups: [],
      };
      maps.push(map);
      group = undefined;
      continue;
    }
    if (map && map.groups.length === 0 && SIZE_LINE_RE.test(body)) {
      attrs(body, map);
      continue;
    }
    if (map && OLD_SIZE_LINE_RE.test(body)) {
      oldAttrs(body, map);
      continue;
    }
    if (map) {
      const g = GROUP_RE.exec(body);
      if (g) {
        group = { index: map.groups.length + 1, policy: g[1], prio: Number(g[2]), status: g[3], paths: [] };
        map.groups.push(group);
        continue;
      }
      const op = OLD_PATH_RE.exec(body);
      if (op) {
        const path: MultipathPath = { device: op[2], devt: op[3], dmState: op[4]!, checkerState: op[5]! };
        parseHctl(path, op[1]!);
        if (!group) {
          group = { index: map.groups.length + 1, paths: [] };
          map.groups.push(group);
        }
        group.paths.push(path);
        continue;
      }
      const p = PATH_RE.exec(body);
      if (p) {
        const path: MultipathPath = {
          device: p[2] === '-' ? undefined : p[2],
          devt: p[3]!.includes('#') ? undefined : p[3],
          dmState: p[4]!,
          checkerState: p[5]!,
          onlineState: p[6],
        };
        parseHctl(path, p[1]!);
        if (!group) {
          group = { index: map.groups.length + 1, paths: [] };
          map.groups.push(group);
        }
        group.paths.push(path);
        continue;
      }
      const og = line !== body && /\[prio=/.test(body) ? OLD_GROUP_RE.exec(body) : null;
      if (og) {
        group = { index: map.groups.length + 1, policy: og[1], prio: Number(og[2]), status: og[3], paths: [] };
        map.groups.push(group);
        continue;
      }
    }
    messages.push(line.trim());
  }
  if (maps.length === 0 && messages.length > 0 && !messages.every(isMultipathMessage)) {
    const hint = messages.some((m) => /^(Target:|tcp: \[\d+\]|iser: \[\d+\])/.test(m))
      ? ' (it looks like iscsiadm output: give that with --iscsiadm)'
      : '';
    throw new HostAttachError(
      'ISCSI_ERR_HOST_BAD_INPUT',
      `${source} is not \`multipath -ll\` output: no map line such as ` +
        `'mpatha (36001405...) dm-0 VENDOR,PRODUCT' was found${hint}`,
    );
  }
  return { maps, messages };
}

/** What multipath prints instead of (or before) a topology: log lines and known notices. */
function isMultipathMessage(line: string): boolean {
  return (
    / \| /.test(line) ||
    /multipath|device mapper|dm-multipath|DM multipath|no paths|could not|couldn't|failed to|libdevmapper|timeout/i.test(line)
  );
}
