/**
 * `stop -t IQN [-f]` (source 4.2.5). With initiators connected and no -f it
 * prints, as the source document does:
 *   initiators still connected
 *   Initiator:   iqn.1994-05.com.redhat:c678b9f6f0 (192.168.30.100)
 *   Unable stop target iqn.2014-04.com.vstorage:test1
 * and exits with status 1.
 */
import type { Command } from 'commander';
import { ClusterError, isClusterError } from '../../../src/cluster/errors.js';
import { sessionsOf } from '../../../src/daemon/control-client.js';
import { CliExit, type CliContext } from '../context.js';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('stop')
    .description('stop a target (refused while initiators are connected, unless -f)')
    .requiredOption('-t, --target <iqn>', 'target IQN (or name)')
    .option('-f, --force', 'stop even with initiators connected (they will see I/O errors)', false)
    .action(async (o: { target: string; force: boolean }) => {
      const store = await ctx.store();
      const iqn = store.resolveIqn(o.target);
      const rec = await store.getTarget(iqn);
      if (rec.host !== null && rec.host !== store.hostId) {
        throw new ClusterError('ISCSI_ERR_TARGET_REMOTE', `target ${iqn} is registered on host ${rec.host}; stop it there`);
      }
      try {
        await ctx.daemon.stop(iqn, o.force);
      } catch (e) {
        if (isClusterError(e, 'ISCSI_ERR_SESSIONS_ACTIVE')) {
          ctx.err('initiators still connected');
          for (const s of sessionsOf(e)) ctx.err(`Initiator:   ${s.initiatorName} (${s.initiatorAddress})`);
          ctx.err(`Unable stop target ${iqn}`);
          throw new CliExit(1);
        }
        if (isClusterError(e, 'ISCSI_ERR_DAEMON_UNAVAILABLE') && e.details?.reason === 'not-running') {
          // No daemon, so nothing serves it here: just record that it should stay stopped.
          if (rec.host === store.hostId) await store.setDesiredState(iqn, 'stopped');
          return;
        }
        throw e;
      }
    });
}
