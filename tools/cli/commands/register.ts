/** `register -t IQN` (source 4.2.4): take an unregistered target onto this node. */
import type { Command } from 'commander';
import type { CliContext } from '../context.js';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('register')
    .description('register an unregistered target on this node')
    .requiredOption('-t, --target <iqn>', 'target IQN (or name)')
    .action(async (o: { target: string }) => {
      const store = await ctx.store();
      await store.register(store.resolveIqn(o.target));
    });
}
