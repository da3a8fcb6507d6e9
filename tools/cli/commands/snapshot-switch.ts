/** `snapshot-switch -u UUID` (source 4.2.10.3): only while the LUN is offline; prints nothing. */
import type { Command } from 'commander';
import { locateSnapshot } from '../../../src/snapshots/locate.js';
import { parseSnapshotUuid } from '../../../src/snapshots/index.js';
import type { CliContext } from '../context.js';
import { runSnapshotAction } from '../snapshot-route.js';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('snapshot-switch')
    .description('continue the LUN on a new thin image over a snapshot; the current image is removed (LUN offline only)')
    .requiredOption('-u, --uuid <uuid>', 'snapshot UUID (see snapshot-list)')
    .action(async (o: { uuid: string }) => {
      const uuid = parseSnapshotUuid(o.uuid);
      const { iqn, lunId } = await locateSnapshot(await ctx.store(), uuid);
      await runSnapshotAction(ctx, { action: 'switch', iqn, lun: lunId, uuid });
    });
}
