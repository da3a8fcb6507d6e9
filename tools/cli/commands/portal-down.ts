/**
 * `portal-down -t IQN -a ADDR[:PORT]` and `portal-up -t IQN -a ADDR[:PORT]`:
 * stop listening on one portal of a target running on this node, dropping
 * the sessions that came in through it (what hosts see when that network
 * fails: multipath moves I/O to the other paths), and listen again. Not
 * stored: a restart of the target listens on every portal.
 */
import type { Command } from 'commander';
import { ClusterError, isClusterError } from '../../../src/cluster/errors.js';
import { findPortal } from '../../../src/cluster/port-groups.js';
import { addExamples } from '../help.js';
import type { CliContext } from '../context.js';

export const PORTAL_DOWN_EXAMPLES = ['# vstorage-iscsi portal-down -t ps2 -a 192.168.20.200'];
export const PORTAL_UP_EXAMPLES = ['# vstorage-iscsi portal-up -t ps2 -a 192.168.20.200'];

function define(program: Command, ctx: CliContext, listening: boolean): void {
  const name = listening ? 'portal-up' : 'portal-down';
  const cmd = program
    .command(name)
    .description(
      listening
        ? 'listen again on a portal stopped with portal-down'
        : 'stop listening on one portal of a running target and drop its sessions (until portal-up or a restart)',
    )
    .requiredOption('-t, --target <iqn>', 'target IQN (or name)')
    .requiredOption('-a, --address <addr>', 'the portal, ADDR[:PORT]')
    .action(async (o: { target: string; address: string }) => {
      const store = await ctx.store();
      const iqn = store.resolveIqn(o.target);
      const rec = await store.getTarget(iqn);
      if (rec.host !== null && rec.host !== store.hostId) {
        throw new ClusterError('ISCSI_ERR_TARGET_REMOTE', `target ${iqn} is registered on host ${rec.host}; run ${name} there`);
      }
      findPortal(rec, o.address);
      try {
        await ctx.daemon.portalListening(iqn, o.address, listening);
      } catch (e) {
        if (isClusterError(e, 'ISCSI_ERR_DAEMON_UNAVAILABLE') && e.details?.reason === 'not-running') {
          throw new ClusterError('ISCSI_ERR_TARGET_NOT_RUNNING', `target ${iqn} is not running here (vstorage-iscsid is not running)`);
        }
        throw e;
      }
    });
  addExamples(cmd, listening ? PORTAL_UP_EXAMPLES : PORTAL_DOWN_EXAMPLES);
}

export function register(program: Command, ctx: CliContext): void {
  define(program, ctx, false);
}

export function registerUp(program: Command, ctx: CliContext): void {
  define(program, ctx, true);
}
