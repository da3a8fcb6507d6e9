/**
 * `lun-grow -t IQN -l ID -s SIZE` (source 4.2.2 note 2). The source needs
 * the target stopped; here a target running on this node grows online
 * through its daemon, and initiators get CAPACITY DATA HAS CHANGED (SBC-3
 * §4.8). A target running on another node must be grown there.
 */
import type { Command } from 'commander';
import { parseLunId, parseSize } from '../../../src/cluster/validate.js';
import { ClusterError } from '../../../src/cluster/errors.js';
import type { CliContext } from '../context.js';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('lun-grow')
    .description('grow a LUN; a target running on this node grows online')
    .requiredOption('-t, --target <iqn>', 'target IQN (or name)')
    .requiredOption('-l, --lun <id>', 'LUN ID')
    .requiredOption('-s, --size <size>', 'new size, larger than the current one')
    .action(async (o: { target: string; lun: string; size: string }) => {
      const store = await ctx.store();
      const iqn = store.resolveIqn(o.target);
      const size = parseSize(o.size);
      const lun = parseLunId(o.lun);
      const rec = await store.getTarget(iqn);
      if (rec.desiredState === 'running' && rec.host !== null && rec.host !== store.hostId) {
        throw new ClusterError('ISCSI_ERR_TARGET_REMOTE', `target ${iqn} runs on host ${rec.host}: grow its LUN there, or stop the target first`);
      }
      const st = await ctx.daemonStatus(iqn);
      if (st?.targets.find((t) => t.iqn === iqn)?.running) {
        await ctx.daemon.lunGrow(iqn, lun, size);
        return;
      }
      await store.growLun(iqn, lun, size);
    });
}
