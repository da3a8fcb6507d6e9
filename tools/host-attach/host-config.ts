/**
 * `vstorage-iscsi host-config`: what an initiator host needs to use our
 * targets through several portals (source 4.2.7, 4.2.8): settings files and a
 * setup script per operating system. Pure generation; printing and writing
 * files is at the bottom.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { PortalAddress } from '../../src/cluster/validate.js';
import { HostAttachError } from './errors.js';
import { linuxConfig } from './linux.js';
import { windowsConfig } from './windows.js';
import { esxiConfig } from './esxi.js';

export const HOST_OSES = ['linux', 'windows', 'esxi'] as const;
export type HostOs = (typeof HOST_OSES)[number];

/** How long I/O waits for a path when every path is down, before it fails. */
export type QueueTime = number | 'forever';

/** 120 s: longer than an HA relocation (lease expiry, grace, restart on another node). */
export const DEFAULT_QUEUE_TIME = 120;

export interface HostConfigOptions {
  os: HostOs;
  /** Target IQN; without it the commands log in to every target the portals report. */
  target?: string;
  /** Portals to discover and log in through; without them no discovery/login commands. */
  portals: PortalAddress[];
  /** One-way CHAP account the initiator logs in with. */
  user?: string;
  /** Mutual CHAP account the target answers with (needs `user`). */
  mutualUser?: string;
  queueTime: QueueTime;
}

export interface GeneratedFile {
  /** File name written by --write. */
  name: string;
  /** Where it goes on the host, and how (shown in the banner). */
  installTo: string;
  content: string;
  /** 0o755 for scripts. */
  mode: number;
}

export interface HostConfig {
  os: HostOs;
  title: string;
  /** Short notes printed before the files. */
  notes: string[];
  files: GeneratedFile[];
  /** What to do with the files once written (one line each). */
  next: string[];
}

export function generateHostConfig(o: HostConfigOptions): HostConfig {
  switch (o.os) {
    case 'linux':
      return linuxConfig(o);
    case 'windows':
      return windowsConfig(o);
    case 'esxi':
      return esxiConfig(o);
  }
}

/** `ADDR:PORT` as iscsiadm -p and esxcli --address take it (`[v6]:PORT`). */
export function portalWithPort(p: PortalAddress): string {
  return p.family === 6 ? `[${p.address}]:${p.port}` : `${p.address}:${p.port}`;
}

/** Single-quoted for sh and PowerShell (neither lets anything expand inside '...'). */
export function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export function psQuote(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

/** The whole configuration as one text: banner, file, banner, file... */
export function renderHostConfig(cfg: HostConfig): string {
  const out: string[] = [];
  out.push(`# ${cfg.title}`);
  for (const n of cfg.notes) out.push(`# ${n}`);
  for (const f of cfg.files) {
    out.push('');
    out.push(`#### ${f.name} -> ${f.installTo}`);
    out.push(f.content.replace(/\n$/, ''));
  }
  out.push('');
  out.push('# Next: write these files with --write DIR, then:');
  for (const n of cfg.next) out.push(`#   ${n}`);
  return out.join('\n') + '\n';
}

/**
 * Writes every file into `dir` (created if missing). Refuses to replace an
 * existing file unless `force`, before writing anything.
 */
export function writeHostConfig(cfg: HostConfig, dir: string, force: boolean): string[] {
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new HostAttachError('ISCSI_ERR_HOST_WRITE_FAILED', `cannot create directory ${dir}: ${(e as Error).message}`);
  }
  if (!fs.statSync(dir).isDirectory()) {
    throw new HostAttachError('ISCSI_ERR_HOST_WRITE_FAILED', `${dir} is not a directory`);
  }
  if (!force) {
    const existing = cfg.files.map((f) => path.join(dir, f.name)).filter((p) => fs.existsSync(p));
    if (existing.length > 0) {
      throw new HostAttachError(
        'ISCSI_ERR_HOST_FILE_EXISTS',
        `${existing.join(', ')} already exist${existing.length === 1 ? 's' : ''}: choose another directory or add --force to replace ${existing.length === 1 ? 'it' : 'them'}`,
      );
    }
  }
  const written: string[] = [];
  for (const f of cfg.files) {
    const p = path.join(dir, f.name);
    const tmp = `${p}.tmp-${process.pid}`;
    try {
      fs.writeFileSync(tmp, f.content, { mode: f.mode });
      fs.chmodSync(tmp, f.mode);
      fs.renameSync(tmp, p);
    } catch (e) {
      fs.rmSync(tmp, { force: true });
      throw new HostAttachError('ISCSI_ERR_HOST_WRITE_FAILED', `cannot write ${p}: ${(e as Error).message}`);
    }
    written.push(p);
  }
  return written;
}
