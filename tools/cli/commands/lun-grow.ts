/** `lun-grow -t IQN -l ID -s SIZE` (source 4.2.2 note 2): the target must be stopped. */
import type { Command } from 'commander';
import { parseSize } from '../../../src/cluster/validate.js';
import type { CliContext } from '../context.js';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('lun-grow')
    .description('grow a LUN of a stopped target')
    .requiredOption('-t, --target <iqn>', 'target IQN (or name)')
    .requiredOption('-l, --lun <id>', 'LUN ID')
    .requiredOption('-s, --size <size>', 'new size, larger than the current one')
    .action(async (o: { target: string; lun: string; size: string }) => {
      const store = await ctx.store();
      const iqn = store.resolveIqn(o.target);
      const size = parseSize(o.size);
      await store.getTarget(iqn);
      await ctx.assertNotRunningHere(iqn, 'growing a LUN');
      await store.growLun(iqn, o.lun, size);
    });
}
