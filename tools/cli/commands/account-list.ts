/** `account-list [-u USER] [--json]` (source 4.2.9.4). */
import type { Command } from 'commander';
import { validateUserName } from '../../../src/cluster/validate.js';
import type { CliContext } from '../context.js';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('account-list')
    .description('list CHAP accounts, or the targets bound to one (one-way or mutual CHAP)')
    .option('-u, --user <account>', 'list the targets using this account, either way')
    .option('--json', 'print JSON', false)
    .action(async (o: { user?: string; json: boolean }) => {
      const store = await ctx.store();
      let items: string[];
      if (o.user !== undefined) {
        await store.getAccount(validateUserName(o.user));
        items = await store.targetsUsingAccount(o.user);
      } else {
        items = await store.listAccounts();
      }
      if (o.json) ctx.out(JSON.stringify(items));
      else for (const i of items) ctx.out(i);
    });
}
