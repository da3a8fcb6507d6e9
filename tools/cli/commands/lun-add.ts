/** `lun-add -t IQN -l ID -s SIZE` (source 4.2.2). */
import type { Command } from 'commander';
import { parseBlockSize, parsePhysicalBlockSize, parseSize } from '../../../src/cluster/validate.js';
import { isClusterError } from '../../../src/cluster/errors.js';
import type { CliContext } from '../context.js';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('lun-add')
    .description('add a LUN backed by a new sparse image')
    .requiredOption('-t, --target <iqn>', 'target IQN (or name)')
    .requiredOption('-l, --lun <id>', 'LUN ID, 0-255')
    .requiredOption('-s, --size <size>', 'size, e.g. 100G, 512M, 1T (16T maximum)')
    .option('--block-size <bytes>', 'logical block size: 512 (default) or 4096')
    .option('--physical-block-size <bytes>', 'physical block size to report: 4096 on a 512-byte LUN (512e)')
    .action(async (o: { target: string; lun: string; size: string; blockSize?: string; physicalBlockSize?: string }) => {
      const store = await ctx.store();
      const iqn = store.resolveIqn(o.target);
      const size = parseSize(o.size);
      const blockSize = parseBlockSize(o.blockSize);
      const physicalBlockSize = parsePhysicalBlockSize(o.physicalBlockSize, blockSize);
      const lun = await store.addLun(iqn, { id: o.lun, sizeBytes: size, blockSize, physicalBlockSize });
      // A running target picks the LUN up when no initiator is logged in.
      try {
        await ctx.daemon.reload(iqn, false);
      } catch (e) {
        // The LUN is stored either way; only its appearance on a running target is delayed.
        if (isClusterError(e, 'ISCSI_ERR_SESSIONS_ACTIVE')) {
          ctx.err(`LUN ${lun.id} added; initiators are connected, so it appears after the target restarts (stop and start it).`);
        } else if (!(isClusterError(e, 'ISCSI_ERR_DAEMON_UNAVAILABLE') && e.details?.reason === 'not-running')) {
          ctx.err(`LUN ${lun.id} added, but the running target was not reloaded: ${(e as Error).message}`);
        }
      }
    });
}
