/**
 * `set -t IQN [-a ADDR...] [-d TEXT] [-u ACCOUNT | --no-user] [--mutual-user ACCOUNT2 | --no-mutual-user]
 *  [--allow IQN...] [--deny IQN...] [--unlist IQN...] [--allow-all]`
 * (source 4.2.2 note 1). Portals and the description need a stopped target;
 * account bindings and the initiator access list apply to the next login,
 * even while the target runs.
 */
import type { Command } from 'commander';
import { ClusterError } from '../../../src/cluster/errors.js';
import type { SetTargetInput } from '../../../src/cluster/store.js';
import { hasAccessChanges, normalizeAccessChanges, type AccessChanges } from '../../../src/cluster/access.js';
import { collect, flagsSeen, type CliContext } from '../context.js';

interface SetOptions {
  target: string;
  address: string[];
  /** A name, false for --no-user, undefined when not given. */
  user?: string | false;
  /** false for --no-account (the older spelling of --no-user). */
  account: boolean;
  mutualUser?: string | false;
  description?: string;
  allow: string[];
  deny: string[];
  unlist: string[];
  allowAll?: boolean;
}

export function register(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('set')
    .description("change a target's portals or description (target stopped) or its CHAP accounts (applies to the next login)")
    .requiredOption('-t, --target <iqn>', 'target IQN (or name)')
    .option('-a, --address <addr>', 'new portal address list (replaces the old one); repeatable', collect, [])
    .option('-d, --description <text>', 'new description')
    .option('-u, --user <account>', 'bind this CHAP account for one-way CHAP (initiators log in with it)')
    .option('--no-user', 'remove the one-way CHAP binding: no authentication (needs --no-mutual-user if a mutual account is bound)')
    .option('--no-account', 'same as --no-user')
    .option('--mutual-user <account>', 'bind this CHAP account for mutual CHAP (the target authenticates itself with it)')
    .option('--no-mutual-user', 'remove the mutual CHAP binding')
    .option('--allow <initiator>', 'add an initiator (iSCSI name) to the allow list: once the list has names, only they may log in; repeatable', collect, [])
    .option('--deny <initiator>', 'add an initiator to the deny list: it may not log in; repeatable', collect, [])
    .option('--unlist <initiator>', 'take an initiator off both lists; repeatable', collect, [])
    .option('--allow-all', 'empty both lists: every initiator may log in (applied before the other list options)');
  const seen = flagsSeen(cmd, ['user', 'no-user', 'no-account', 'mutual-user', 'no-mutual-user']);
  cmd.action(async (o: SetOptions) => {
    if (seen.has('user') && (seen.has('no-user') || seen.has('no-account'))) {
      throw new ClusterError('ISCSI_ERR_BAD_REQUEST', 'give either -u ACCOUNT or --no-user, not both');
    }
    if (seen.has('mutual-user') && seen.has('no-mutual-user')) {
      throw new ClusterError('ISCSI_ERR_BAD_REQUEST', 'give either --mutual-user ACCOUNT or --no-mutual-user, not both');
    }
    const store = await ctx.store();
    const iqn = store.resolveIqn(o.target);
    const changes: SetTargetInput = {};
    if (o.address.length > 0) changes.portals = o.address;
    if (o.description !== undefined) changes.description = o.description;
    if (typeof o.user === 'string') changes.account = o.user;
    if (o.user === false || !o.account) changes.account = null;
    if (typeof o.mutualUser === 'string') changes.mutualAccount = o.mutualUser;
    if (o.mutualUser === false) changes.mutualAccount = null;
    const access: AccessChanges = { clear: o.allowAll === true, allow: o.allow, deny: o.deny, unlist: o.unlist };
    if (hasAccessChanges(access)) changes.initiators = access;
    if (Object.keys(changes).length === 0) {
      throw new ClusterError(
        'ISCSI_ERR_BAD_REQUEST',
        'nothing to change: give -a, -d, -u, --no-user, --mutual-user, --no-mutual-user, --allow, --deny, --unlist or --allow-all',
      );
    }
    normalizeAccessChanges(access); // bad names are refused before anything changes
    await store.getTarget(iqn);
    if (changes.portals !== undefined || changes.description !== undefined) {
      await ctx.assertNotRunningHere(iqn, 'changing its portals or description');
    }
    await store.setTarget(iqn, changes);
  });
}
