/** `list [-t IQN] [--json]` (source 4.2.3). */
import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { formatDetail, formatTable, targetView } from '../view.js';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('list')
    .description('list targets, or show one target in detail')
    .option('-t, --target <iqn>', 'show this target in detail')
    .option('--json', 'print JSON', false)
    .action(async (o: { target?: string; json: boolean }) => {
      const store = await ctx.store();
      if (o.target !== undefined) {
        const iqn = store.resolveIqn(o.target);
        const rec = await store.getTarget(iqn);
        const v = await targetView(store, rec, await ctx.daemonStatus());
        ctx.io.stdout(o.json ? JSON.stringify(v, null, 2) + '\n' : formatDetail(v));
        return;
      }
      const recs = await store.listTargets();
      const status = recs.length > 0 ? await ctx.daemonStatus() : undefined;
      const views = [];
      for (const r of recs) views.push(await targetView(store, r, status));
      ctx.io.stdout(o.json ? JSON.stringify(views, null, 2) + '\n' : formatTable(views));
    });
}
