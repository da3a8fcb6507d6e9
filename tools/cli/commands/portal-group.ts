/**
 * `portal-group -t IQN -a ADDR[:PORT] -g GROUP`: put a portal into the ALUA
 * target port group of another portal of the target (the ports of a group
 * share one access state, e.g. the two portals of one network), or back
 * into its own group (its portal number). The target must be stopped, as
 * for any portal change (source 4.2.2 note 1).
 */
import type { Command } from 'commander';
import { setPortalGroup } from '../../../src/cluster/port-groups.js';
import { addExamples } from '../help.js';
import type { CliContext } from '../context.js';

export const PORTAL_GROUP_EXAMPLES = ['# vstorage-iscsi portal-group -t ps2 -a 192.168.20.200 -g 1'];

export function register(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('portal-group')
    .description('move a portal into the ALUA target port group of another portal, or back into its own (target stopped)')
    .requiredOption('-t, --target <iqn>', 'target IQN (or name)')
    .requiredOption('-a, --address <addr>', 'the portal, ADDR[:PORT]')
    .requiredOption('-g, --group <id>', "a group of the target's other portals, or the portal's own number")
    .action(async (o: { target: string; address: string; group: string }) => {
      const store = await ctx.store();
      const iqn = store.resolveIqn(o.target);
      await store.getTarget(iqn);
      await ctx.assertNotRunningHere(iqn, 'moving a portal to another target port group');
      await store.updateTarget(iqn, (r) => {
        setPortalGroup(r, o.address, o.group);
      });
    });
  addExamples(cmd, PORTAL_GROUP_EXAMPLES);
}
