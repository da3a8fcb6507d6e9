/**
 * `alua-list -t IQN [--json]`: the target port groups of a target, their
 * ALUA states and portals; for a target running on this node, the states it
 * reports now and whether each portal is listening (`portal-down`).
 */
import type { Command } from 'commander';
import { portGroupViews, type PortGroupView } from '../../../src/cluster/port-groups.js';
import { aluaStateText } from '../../../src/scsi/alua.js';
import { addExamples } from '../help.js';
import type { CliContext } from '../context.js';
import { targetState } from '../view.js';

export const ALUA_LIST_EXAMPLES = ['# vstorage-iscsi alua-list -t ps2'];

export function formatPortGroups(iqn: string, status: string, groups: PortGroupView[], explicit = false): string {
  const rows = [['GROUP', 'STATE', 'PORTAL', 'TPGT', 'LISTENING']];
  for (const g of groups) {
    let state = aluaStateText(g.state);
    if (g.state !== g.configuredState) state += ` (alua-set: ${aluaStateText(g.configuredState)})`;
    g.portals.forEach((p, i) => {
      const listening = p.listening === null ? '-' : p.listening ? 'yes' : 'no (portal-down)';
      rows.push([i === 0 ? String(g.id) : '', i === 0 ? state : '', p.portal, String(p.tpgt), listening]);
    });
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)) + 2);
  const lines = rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('').trimEnd());
  return [`Target ${iqn} (${status}, ${explicit ? 'implicit and explicit' : 'implicit'} ALUA):`, ...lines].join('\n') + '\n';
}

export function register(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('alua-list')
    .description("show a target's ALUA target port groups: states and portals")
    .requiredOption('-t, --target <iqn>', 'target IQN (or name)')
    .option('--json', 'print JSON', false)
    .action(async (o: { target: string; json: boolean }) => {
      const store = await ctx.store();
      const iqn = store.resolveIqn(o.target);
      const rec = await store.getTarget(iqn);
      const daemon = rec.host === store.hostId ? await ctx.daemonStatus(iqn) : undefined;
      const live = daemon?.targets.find((t) => t.iqn === iqn && t.running)?.portGroups;
      const groups = portGroupViews(rec, live);
      const status = targetState(rec, store.hostId, daemon);
      const explicit = rec.aluaExplicit === true;
      if (o.json) ctx.io.stdout(JSON.stringify({ iqn, status, explicit, groups }, null, 2) + '\n');
      else ctx.io.stdout(formatPortGroups(iqn, status, groups, explicit));
    });
  addExamples(cmd, ALUA_LIST_EXAMPLES);
}
