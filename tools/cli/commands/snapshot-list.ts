/** `snapshot-list -t IQN -l ID [--json]` (source 4.2.10.2). */
import type { Command } from 'commander';
import { listSnapshots } from '../../../src/snapshots/index.js';
import type { CliContext } from '../context.js';
import { formatSnapshotTable } from '../snapshot-view.js';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('snapshot-list')
    .description('list the snapshots of a LUN (* marks the one the LUN continues on)')
    .requiredOption('-t, --target <iqn>', 'target IQN (or name)')
    .requiredOption('-l, --lun <id>', 'LUN ID')
    .option('--json', 'print JSON', false)
    .action(async (o: { target: string; lun: string; json: boolean }) => {
      const store = await ctx.store();
      const list = await listSnapshots(store, store.resolveIqn(o.target), o.lun);
      ctx.io.stdout(o.json ? JSON.stringify(list, null, 2) + '\n' : formatSnapshotTable(list));
    });
}
