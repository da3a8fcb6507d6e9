/** `set -t IQN [-a ADDR...] [-u ACCOUNT | --no-account] [-d TEXT]` (source 4.2.2 note 1). */
import type { Command } from 'commander';
import { ClusterError } from '../../../src/cluster/errors.js';
import type { SetTargetInput } from '../../../src/cluster/store.js';
import { collect, type CliContext } from '../context.js';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('set')
    .description("change a stopped target's portals, CHAP account or description")
    .requiredOption('-t, --target <iqn>', 'target IQN (or name)')
    .option('-a, --address <addr>', 'new portal address list (replaces the old one); repeatable', collect, [])
    .option('-u, --user <account>', 'bind this CHAP account')
    .option('--no-account', 'remove the CHAP account binding (no authentication)')
    .option('-d, --description <text>', 'new description')
    .action(async (o: { target: string; address: string[]; user?: string; account: boolean; description?: string }) => {
      const store = await ctx.store();
      const iqn = store.resolveIqn(o.target);
      const changes: SetTargetInput = {};
      if (o.address.length > 0) changes.portals = o.address;
      if (o.user !== undefined && !o.account) {
        throw new ClusterError('ISCSI_ERR_BAD_REQUEST', 'give either -u ACCOUNT or --no-account, not both');
      }
      if (o.user !== undefined) changes.account = o.user;
      if (!o.account) changes.account = null;
      if (o.description !== undefined) changes.description = o.description;
      if (Object.keys(changes).length === 0) {
        throw new ClusterError('ISCSI_ERR_BAD_REQUEST', 'nothing to change: give -a, -u, --no-account or -d');
      }
      await store.getTarget(iqn);
      await ctx.assertNotRunningHere(iqn, 'changing it');
      await store.setTarget(iqn, changes);
    });
}
