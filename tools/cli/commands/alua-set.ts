/**
 * `alua-set -t IQN (-g GROUP | -a ADDR[:PORT]) -s STATE`: the ALUA access
 * state of one target port group (SPC-4 §5.15), e.g. to prefer one network
 * (active-optimized here, active-non-optimized there) or to drain a network
 * before maintenance (standby or unavailable). Stored in the target record
 * and, when the target runs on this node, applied at once: every initiator
 * gets ASYMMETRIC ACCESS STATE CHANGED and multipath hosts move their I/O.
 *
 * `alua-set -t IQN --explicit on|off`: whether initiators may change the
 * states themselves (SET TARGET PORT GROUPS, TPGS 11b); off by default.
 */
import type { Command } from 'commander';
import { ClusterError, isClusterError } from '../../../src/cluster/errors.js';
import { findPortal, parseAluaStateArg, parseGroupArg, setExplicit, setGroupState } from '../../../src/cluster/port-groups.js';
import { addExamples } from '../help.js';
import type { CliContext } from '../context.js';

export const ALUA_SET_EXAMPLES = [
  '# vstorage-iscsi alua-set -t ps2 -g 2 -s active-non-optimized',
  '# vstorage-iscsi alua-set -t ps2 -a 192.168.10.200 -s standby',
  '# vstorage-iscsi alua-set -t ps2 --explicit on',
];

function parseOnOff(text: string): boolean {
  const v = text.trim().toLowerCase();
  if (v === 'on' || v === 'yes') return true;
  if (v === 'off' || v === 'no') return false;
  throw new ClusterError('ISCSI_ERR_BAD_REQUEST', `--explicit takes on or off, not '${text}'`);
}

export function register(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('alua-set')
    .description("set the ALUA state of a target port group (a running target changes at once)")
    .requiredOption('-t, --target <iqn>', 'target IQN (or name)')
    .option('-g, --group <id>', 'target port group ID (alua-list shows them)')
    .option('-a, --address <addr>', 'the group of this portal, ADDR[:PORT]')
    .option('-s, --state <state>', 'active-optimized (ao), active-non-optimized (an), standby, unavailable or transitioning')
    .option('--explicit <on|off>', 'let initiators change states with SET TARGET PORT GROUPS (target stopped; default off)')
    .action(async (o: { target: string; group?: string; address?: string; state?: string; explicit?: string }) => {
      if (o.explicit !== undefined) {
        if (o.group !== undefined || o.address !== undefined || o.state !== undefined) {
          throw new ClusterError('ISCSI_ERR_BAD_REQUEST', 'give --explicit alone, or -g/-a with -s');
        }
        const on = parseOnOff(o.explicit);
        const store = await ctx.store();
        const iqn = store.resolveIqn(o.target);
        await store.getTarget(iqn);
        await ctx.assertNotRunningHere(iqn, 'changing whether it offers explicit ALUA');
        await store.updateTarget(iqn, (r) => setExplicit(r, on));
        return;
      }
      if (o.state === undefined) throw new ClusterError('ISCSI_ERR_BAD_REQUEST', 'give -s STATE (or --explicit on|off)');
      if ((o.group === undefined) === (o.address === undefined)) {
        throw new ClusterError('ISCSI_ERR_BAD_REQUEST', 'give either -g GROUP or -a ADDRESS (the group of that portal)');
      }
      const state = parseAluaStateArg(o.state);
      const store = await ctx.store();
      const iqn = store.resolveIqn(o.target);
      const rec = await store.getTarget(iqn);
      if (rec.host !== null && rec.host !== store.hostId && rec.desiredState === 'running') {
        // Only the owning node's daemon can change the state the target reports.
        throw new ClusterError('ISCSI_ERR_TARGET_REMOTE', `target ${iqn} is registered on host ${rec.host} and runs there; run alua-set on that host`);
      }
      let group = 0;
      await store.updateTarget(iqn, (r) => {
        group = o.group !== undefined ? parseGroupArg(r, o.group) : findPortal(r, o.address!).portGroupId;
        setGroupState(r, group, state);
      });
      if (rec.host !== store.hostId) return;
      try {
        await ctx.daemon.aluaSet(iqn, group, state);
      } catch (e) {
        // Stored either way: a stopped target (or one whose daemon is down) starts with it.
        if (isClusterError(e, 'ISCSI_ERR_TARGET_NOT_RUNNING')) return;
        if (isClusterError(e, 'ISCSI_ERR_DAEMON_UNAVAILABLE') && e.details?.reason === 'not-running') return;
        throw new ClusterError(
          'ISCSI_ERR_DAEMON_UNAVAILABLE',
          `group ${group} of ${iqn} is now ${state} in the record, but the running target was not changed: ${(e as Error).message}`,
        );
      }
    });
  addExamples(cmd, ALUA_SET_EXAMPLES);
}
