/** `snapshot-create -t IQN -l ID [-d TEXT]` (source 4.2.10.1). Works while the LUN is online and the target runs. */
import type { Command } from 'commander';
import { parseLunId } from '../../../src/cluster/validate.js';
import type { CliContext } from '../context.js';
import { runSnapshotAction } from '../snapshot-route.js';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('snapshot-create')
    .description('snapshot a LUN: its image is frozen and the LUN continues on a new thin image over it')
    .requiredOption('-t, --target <iqn>', 'target IQN (or name)')
    .requiredOption('-l, --lun <id>', 'LUN ID')
    .option('-d, --description <text>', 'description of the snapshot')
    .action(async (o: { target: string; lun: string; description?: string }) => {
      const store = await ctx.store();
      const iqn = store.resolveIqn(o.target);
      const { uuid } = await runSnapshotAction(ctx, { action: 'create', iqn, lun: parseLunId(o.lun), description: o.description });
      ctx.out(`Snapshot ${uuid} successfully created.`);
    });
}
