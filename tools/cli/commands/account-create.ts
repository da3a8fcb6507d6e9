/** `account-create -u USER` (source 4.2.9.1): prompts `Enter password:` / `Verify password:`. */
import type { Command } from 'commander';
import { validateUserName } from '../../../src/cluster/validate.js';
import { ClusterError } from '../../../src/cluster/errors.js';
import type { CliContext } from '../context.js';
import { readNewPassword } from '../password.js';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('account-create')
    .description('create a CHAP account; asks for its password')
    .requiredOption('-u, --user <account>', 'account (CHAP user) name')
    .action(async (o: { user: string }) => {
      const store = await ctx.store();
      const user = validateUserName(o.user);
      if ((await store.listAccounts()).includes(user)) {
        throw new ClusterError('ISCSI_ERR_ACCOUNT_EXISTS', `CHAP account ${user} already exists (change its password with account-set)`);
      }
      const secret = await readNewPassword(ctx.io);
      await store.createAccount(user, secret);
    });
}
