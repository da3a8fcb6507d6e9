/** `unregister -t IQN` (source 4.2.4): release a stopped target of this node. */
import type { Command } from 'commander';
import type { CliContext } from '../context.js';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('unregister')
    .description('unregister a stopped target from this node')
    .requiredOption('-t, --target <iqn>', 'target IQN (or name)')
    .action(async (o: { target: string }) => {
      const store = await ctx.store();
      const iqn = store.resolveIqn(o.target);
      await store.getTarget(iqn);
      await ctx.assertNotRunningHere(iqn, 'unregistering it');
      await store.unregister(iqn);
    });
}
