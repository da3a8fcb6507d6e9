/** `delete -t IQN [--force]` (source 4.2.6): deletes a stopped target and all its LUNs. */
import type { Command } from 'commander';
import type { CliContext } from '../context.js';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('delete')
    .description('delete a stopped target and all its LUN images')
    .requiredOption('-t, --target <iqn>', 'target IQN (or name)')
    .option('-f, --force', 'delete a stopped target registered on another node', false)
    .action(async (o: { target: string; force: boolean }) => {
      const store = await ctx.store();
      const iqn = store.resolveIqn(o.target);
      await store.getTarget(iqn);
      await ctx.assertNotRunningHere(iqn, 'deleting it');
      await store.deleteTarget(iqn, { force: o.force });
    });
}
