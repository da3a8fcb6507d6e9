/**
 * Initiator-side commands (tools/host-attach):
 *   `host-config --os linux|windows|esxi [-t IQN] [-p ADDR...] [-u ACCOUNT [--mutual-user ACCOUNT2]]
 *                [--queue-time SECONDS|forever] [-w DIR [-f]]`
 *   `host-status [--iscsiadm FILE] [--multipath FILE] [--json]`
 * (source 4.2.7 attaches hosts by hand, 4.2.8 gives targets several portals).
 */
import net from 'node:net';
import path from 'node:path';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { ClusterError } from '../../../src/cluster/errors.js';
import { parsePortal, resolveTargetIqn, validateUserName, isWildcard, type PortalAddress } from '../../../src/cluster/validate.js';
import { collect, type CliContext } from '../context.js';
import { addExamples } from '../help.js';
import {
  DEFAULT_QUEUE_TIME,
  HOST_OSES,
  generateHostConfig,
  renderHostConfig,
  writeHostConfig,
  type HostOs,
  type QueueTime,
} from '../../host-attach/host-config.js';
import { HostAttachError } from '../../host-attach/errors.js';
import { aluaFromSysfs, buildHostStatus, collectLive, formatHostStatus, parseInputs } from '../../host-attach/host-status.js';

/** Shown at the end of --help; docs/cli.md shows them with their output. */
export const HOST_CONFIG_EXAMPLES = [
  '# vstorage-iscsi host-config --os linux -t ps1 -w /root/ps1-linux',
  '# vstorage-iscsi host-config --os windows -t iqn.2014-04.com.vstorage:ps1 -p 192.168.10.110 -p 192.168.20.110',
  '# vstorage-iscsi host-config --os esxi -p 192.168.10.110 -p 192.168.20.110 -u user1',
];
export const HOST_STATUS_EXAMPLES = [
  '# vstorage-iscsi host-status',
  '# vstorage-iscsi host-status --iscsiadm sessions.txt --multipath multipath-ll.txt',
];

function parseQueueTime(value: string): QueueTime {
  const v = value.trim().toLowerCase();
  if (v === 'forever' || v === 'queue') return 'forever';
  if (!/^[0-9]{1,6}$/.test(v)) throw new InvalidArgumentError('expected a number of seconds (0 fails I/O at once) or "forever"');
  return Number(v);
}

interface HostConfigOpts {
  os: HostOs;
  target?: string;
  portal: string[];
  user?: string;
  mutualUser?: string;
  queueTime: QueueTime;
  write?: string;
  force: boolean;
}

function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    stream.setEncoding('utf8');
    stream.on('data', (c: string) => (text += c));
    stream.on('end', () => resolve(text));
    stream.on('error', reject);
  });
}

async function readRecorded(ctx: CliContext, file: string, what: string): Promise<string> {
  if (file === '-') return readAll(ctx.io.stdin);
  const { readFile } = await import('node:fs/promises');
  try {
    return await readFile(file, 'utf8');
  } catch (e) {
    throw new HostAttachError('ISCSI_ERR_HOST_BAD_INPUT', `cannot read ${what} from ${file}: ${(e as Error).message}`);
  }
}

export function register(program: Command, ctx: CliContext): void {
  const hostConfig = program
    .command('host-config')
    .description('print (or write into a directory) what an initiator host needs: iSCSI, multipath and timeout settings')
    .addOption(new Option('--os <os>', 'initiator host: linux, windows or esxi').choices(HOST_OSES).makeOptionMandatory())
    .option('-t, --target <iqn>', 'target IQN or name; without --portal its portals and CHAP accounts are read from ISCSI_ROOT')
    .option('-p, --portal <addr>', 'portal to discover and log in through (IPv4[:PORT], [IPv6][:PORT]); repeat for multipath', collect, [])
    .option('-u, --user <account>', 'CHAP account the host logs in with')
    .option('--mutual-user <account>', 'CHAP account the target answers with (mutual CHAP; needs -u)')
    .option(
      '--queue-time <seconds>',
      'how long I/O waits while every path is down before it fails: seconds (0: fail at once) or "forever" (Linux)',
      parseQueueTime,
      DEFAULT_QUEUE_TIME,
    )
    .option('-w, --write <dir>', 'write the files into DIR instead of printing them')
    .option('-f, --force', 'with --write: replace files that already exist', false);
  addExamples(hostConfig, HOST_CONFIG_EXAMPLES);
  hostConfig.action(async (o: HostConfigOpts) => {
    const usage = (msg: string): never => hostConfig.error(`error: ${msg}`, { exitCode: 2, code: 'commander.invalidArgument' });
    if (o.mutualUser !== undefined && o.user === undefined) usage('--mutual-user needs -u: mutual CHAP follows the one-way login');
    if (o.force && o.write === undefined) usage('--force only goes with --write DIR');
    if (o.os === 'windows' && o.queueTime === 'forever') {
      usage('--queue-time forever: Windows MPIO keeps a disk without paths for a number of seconds only (PDORemovePeriod)');
    }
    if (o.os === 'esxi' && hostConfig.getOptionValueSource('queueTime') === 'cli') {
      usage('--queue-time does not apply to ESXi: its all-paths-down wait is the host-wide Misc.APDTimeout');
    }
    let user = o.user === undefined ? undefined : validateUserName(o.user);
    let mutualUser = o.mutualUser === undefined ? undefined : validateUserName(o.mutualUser);
    if (user !== undefined && user === mutualUser) {
      throw new ClusterError(
        'ISCSI_ERR_SECRET_REUSE',
        `--mutual-user must name another account than -u ${user}: one secret must not authenticate both sides (RFC 7143 §9.2.1)`,
      );
    }
    const target = o.target === undefined ? undefined : resolveTargetIqn(ctx.config.iqnPrefix, o.target);
    const portals: PortalAddress[] = [];
    for (const text of o.portal) {
      const p = parsePortal(text);
      if (portals.some((q) => q.address === p.address && q.port === p.port)) {
        throw new ClusterError('ISCSI_ERR_DUPLICATE_PORTAL', `portal ${text} is given twice`);
      }
      if (isWildcard(p.address)) {
        throw new ClusterError('ISCSI_ERR_BAD_ADDRESS', `portal ${text}: a host cannot connect to a wildcard address; give the address it should use`);
      }
      portals.push(p);
    }
    if (target !== undefined && portals.length === 0) {
      if (!ctx.config.root) {
        throw new ClusterError(
          'ISCSI_ERR_NO_PORTAL',
          `no --portal given and ISCSI_ROOT is not set here to look up ${target}: give the target's portals with --portal ADDR`,
        );
      }
      const store = await ctx.store();
      const rec = await store.getTarget(target);
      for (const p of rec.portals) {
        if (isWildcard(p.address)) {
          throw new ClusterError(
            'ISCSI_ERR_NO_PORTAL',
            `${rec.iqn} listens on ${p.address}: give the addresses hosts connect to with --portal ADDR`,
          );
        }
        portals.push({ address: p.address, port: p.port, family: net.isIPv6(p.address) ? 6 : 4 });
      }
      if (o.user === undefined) {
        user = rec.account ?? undefined;
        mutualUser = rec.mutualAccount ?? undefined;
      }
    }
    const cfg = generateHostConfig({ os: o.os, target, portals, user, mutualUser, queueTime: o.queueTime });
    if (o.write === undefined) {
      ctx.io.stdout(renderHostConfig(cfg));
      return;
    }
    const dir = path.resolve(o.write);
    for (const f of writeHostConfig(cfg, dir, o.force)) ctx.out(`wrote ${f}`);
    ctx.out('Next:');
    for (const n of cfg.next) ctx.out(`  ${n.replace(/\bDIR\b/g, dir)}`);
  });

  const hostStatus = program
    .command('host-status')
    .description("show this host's paths to its iSCSI LUNs: multipath map, path groups, ALUA states, portals, sessions")
    .option('--iscsiadm <file>', 'read recorded `iscsiadm -m session [-P 3]` output from FILE (- for standard input)')
    .option('--multipath <file>', 'read recorded `multipath -ll` output from FILE (- for standard input)')
    .option('--json', 'print JSON', false)
    .action(async (o: { iscsiadm?: string; multipath?: string; json: boolean }, cmd: Command) => {
      if (o.iscsiadm === '-' && o.multipath === '-') {
        cmd.error('error: only one of --iscsiadm and --multipath can read standard input', { exitCode: 2, code: 'commander.invalidArgument' });
      }
      let iscsiText: string | undefined;
      let mpText: string | undefined;
      let live = false;
      const notes: string[] = [];
      if (o.iscsiadm !== undefined || o.multipath !== undefined) {
        if (o.iscsiadm !== undefined) iscsiText = await readRecorded(ctx, o.iscsiadm, 'iscsiadm output');
        if (o.multipath !== undefined) mpText = await readRecorded(ctx, o.multipath, 'multipath -ll output');
      } else {
        const got = await collectLive(ctx.io.env);
        iscsiText = got.iscsiadm;
        mpText = got.multipath;
        notes.push(...got.notes);
        live = true;
      }
      const name = (f: string | undefined) => (f === undefined ? undefined : f === '-' ? 'standard input' : f);
      const { iscsi, mp } = parseInputs(iscsiText, mpText, { iscsiadm: name(o.iscsiadm), multipath: name(o.multipath) });
      const st = buildHostStatus(iscsi, mp, live ? (dev) => aluaFromSysfs('/sys', dev) : undefined);
      if (o.json) {
        ctx.out(JSON.stringify(st, null, 2));
        return;
      }
      for (const n of notes) ctx.out(`(${n})`);
      ctx.io.stdout(formatHostStatus(st));
    });
  addExamples(hostStatus, HOST_STATUS_EXAMPLES);
}
