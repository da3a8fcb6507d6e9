/**
 * `create -n NAME -a ADDR [-a ADDR...] [-u ACCOUNT [--mutual-user ACCOUNT2]] [-d TEXT]
 *  [--allow IQN...] [--deny IQN...] [--json]`
 * (source 4.2.2, 4.2.8, 4.2.9.2; --mutual-user, -d, --allow, --deny and --json are ours).
 */
import type { Command } from 'commander';
import { collect, type CliContext } from '../context.js';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('create')
    .description('create a target registered on this node (stopped); prints its IQN')
    .requiredOption('-n, --name <name>', 'target name; the IQN is <ISCSI_IQN_PREFIX>:<name>')
    .option('-a, --address <addr>', 'portal address IPv4[:PORT] or [IPv6][:PORT]; repeat for multipath', collect, [])
    .option('-u, --user <account>', 'CHAP account initiators must log in with (one-way CHAP)')
    .option('--mutual-user <account>', 'CHAP account the target authenticates itself with when initiators ask (mutual CHAP; needs -u)')
    .option('-d, --description <text>', 'free text shown as the target alias')
    .option('--allow <initiator>', 'admit only the listed initiators (iSCSI names); repeatable', collect, [])
    .option('--deny <initiator>', 'refuse this initiator (iSCSI name); repeatable', collect, [])
    .option('--json', 'print {"iqn": ...} as JSON', false)
    .action(async (o: {
      name: string;
      address: string[];
      user?: string;
      mutualUser?: string;
      description?: string;
      allow: string[];
      deny: string[];
      json: boolean;
    }) => {
      const store = await ctx.store();
      const rec = await store.createTarget({
        name: o.name,
        portals: o.address,
        account: o.user,
        mutualAccount: o.mutualUser,
        description: o.description,
        allow: o.allow,
        deny: o.deny,
      });
      ctx.out(o.json ? JSON.stringify({ iqn: rec.iqn }) : `IQN: ${rec.iqn}`);
    });
}
