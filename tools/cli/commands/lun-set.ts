/**
 * `lun-set -t IQN -l ID --online|--offline`: the LUN's Online field of source
 * 4.2.3 ("No: the LUN is invisible to and cannot be mounted by iSCSI
 * initiators"). Works on a running target: the local daemon shows or hides
 * the LUN at once (REPORTED LUNS DATA HAS CHANGED for the other LUNs).
 */
import type { Command } from 'commander';
import { ClusterError, isClusterError } from '../../../src/cluster/errors.js';
import { setLunOnline } from '../../../src/cluster/access.js';
import { flagsSeen, type CliContext } from '../context.js';

export function register(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('lun-set')
    .description('take a LUN offline (hidden from initiators) or bring it online; works on a running target')
    .requiredOption('-t, --target <iqn>', 'target IQN (or name)')
    .requiredOption('-l, --lun <id>', 'LUN ID')
    .option('--online', 'initiators see the LUN (Online: Yes)')
    .option('--offline', 'hide the LUN from initiators (Online: No)');
  const seen = flagsSeen(cmd, ['online', 'offline']);
  cmd.action(async (o: { target: string; lun: string }) => {
    if (seen.has('online') === seen.has('offline')) {
      throw new ClusterError('ISCSI_ERR_BAD_REQUEST', 'give either --online or --offline');
    }
    const online = seen.has('online');
    const store = await ctx.store();
    const iqn = store.resolveIqn(o.target);
    const rec = await store.getTarget(iqn);
    if (rec.host !== null && rec.host !== store.hostId && rec.desiredState === 'running') {
      // Only the owning node's daemon can show or hide the LUN while it serves the target.
      throw new ClusterError('ISCSI_ERR_TARGET_REMOTE', `target ${iqn} is registered on host ${rec.host} and runs there; run lun-set on that host`);
    }
    const { lun } = await setLunOnline(store, iqn, o.lun, online);
    if (rec.host !== store.hostId) return;
    try {
      await ctx.daemon.applyLuns(iqn);
    } catch (e) {
      // Stored either way; a daemon that is not running applies it when it starts the target.
      if (!(isClusterError(e, 'ISCSI_ERR_DAEMON_UNAVAILABLE') && e.details?.reason === 'not-running')) {
        ctx.err(`LUN ${lun.id} is now ${online ? 'online' : 'offline'} in the record, but the running target was not changed: ${(e as Error).message}`);
      }
    }
  });
}
