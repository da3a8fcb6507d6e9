/** `snapshot-info -u UUID [--json]` (source 4.2.10.4). */
import type { Command } from 'commander';
import { snapshotInfo } from '../../../src/snapshots/index.js';
import type { CliContext } from '../context.js';
import { formatSnapshotInfo } from '../snapshot-view.js';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('snapshot-info')
    .description('show a snapshot: its target, LUN, creation time, parent and description')
    .requiredOption('-u, --uuid <uuid>', 'snapshot UUID (see snapshot-list)')
    .option('--json', 'print JSON', false)
    .action(async (o: { uuid: string; json: boolean }) => {
      const info = await snapshotInfo(await ctx.store(), o.uuid);
      ctx.io.stdout(o.json ? JSON.stringify(info, null, 2) + '\n' : formatSnapshotInfo(info));
    });
}
