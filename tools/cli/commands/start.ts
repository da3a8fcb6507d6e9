/** `start -t IQN` (source 4.2.2): asks the local daemon, which records the desired state. */
import type { Command } from 'commander';
import { ClusterError, isClusterError } from '../../../src/cluster/errors.js';
import type { CliContext } from '../context.js';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('start')
    .description('start a target registered on this node')
    .requiredOption('-t, --target <iqn>', 'target IQN (or name)')
    .action(async (o: { target: string }) => {
      const store = await ctx.store();
      const iqn = store.resolveIqn(o.target);
      const rec = await store.getTarget(iqn);
      if (rec.host === null) {
        throw new ClusterError('ISCSI_ERR_NOT_REGISTERED', `target ${iqn} is not registered on any host: run vstorage-iscsi register -t ${iqn} first`);
      }
      if (rec.host !== store.hostId) {
        throw new ClusterError('ISCSI_ERR_TARGET_REMOTE', `target ${iqn} is registered on host ${rec.host}; start it there`);
      }
      try {
        await ctx.daemon.start(iqn);
      } catch (e) {
        if (isClusterError(e, 'ISCSI_ERR_DAEMON_UNAVAILABLE')) {
          throw new ClusterError(e.code, `${e.message}; start the service (systemctl start vstorage-iscsid) and try again`, e.details);
        }
        throw e;
      }
    });
}
