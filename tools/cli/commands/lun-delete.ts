/** `lun-delete -t IQN -l ID` (alias `lun-del`): removes a LUN and its image from a stopped target. */
import type { Command } from 'commander';
import type { CliContext } from '../context.js';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('lun-delete')
    .alias('lun-del') // the spelling
    .description('delete a LUN and its image (the target must be stopped)')
    .requiredOption('-t, --target <iqn>', 'target IQN (or name)')
    .requiredOption('-l, --lun <id>', 'LUN ID')
    .action(async (o: { target: string; lun: string }) => {
      const store = await ctx.store();
      const iqn = store.resolveIqn(o.target);
      await store.getTarget(iqn);
      await ctx.assertNotRunningHere(iqn, 'deleting a LUN');
      await store.deleteLun(iqn, o.lun);
    });
}
