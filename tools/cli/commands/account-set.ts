/** `account-set -u USER` (source 4.2.9.3): new logins use the new password at once. */
import type { Command } from 'commander';
import { validateUserName } from '../../../src/cluster/validate.js';
import type { CliContext } from '../context.js';
import { readNewPassword } from '../password.js';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('account-set')
    .description('change the password of a CHAP account (applies to the next login)')
    .requiredOption('-u, --user <account>', 'account (CHAP user) name')
    .action(async (o: { user: string }) => {
      const store = await ctx.store();
      await store.getAccount(validateUserName(o.user));
      const secret = await readNewPassword(ctx.io);
      await store.setAccountSecret(o.user, secret);
    });
}
