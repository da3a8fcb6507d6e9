/** The LUN snapshot commands of source 4.2.10, in the document's order. */
import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { register as create } from './snapshot-create.js';
import { register as list } from './snapshot-list.js';
import { register as sw } from './snapshot-switch.js';
import { register as info } from './snapshot-info.js';
import { register as del } from './snapshot-delete.js';

export function registerSnapshotCommands(program: Command, ctx: CliContext): void {
  for (const add of [create, list, sw, info, del]) add(program, ctx);
}
