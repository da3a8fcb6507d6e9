/** `account-delete -u USER`: deletes an account no target uses. */
import type { Command } from 'commander';
import { validateUserName } from '../../../src/cluster/validate.js';
import type { CliContext } from '../context.js';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('account-delete')
    .description('delete a CHAP account no target uses')
    .requiredOption('-u, --user <account>', 'account (CHAP user) name')
    .action(async (o: { user: string }) => {
      const store = await ctx.store();
      await store.deleteAccount(validateUserName(o.user));
    });
}
