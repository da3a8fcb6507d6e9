/**
 * `vstorage-iscsi`: the administration CLI in the style of the source
 * document's chapter 4.2. `runCli` parses, runs one command and returns the
 * exit status: 0 success, 1 an operation failed (message on stderr, nothing
 * changed), 2 a usage error.
 */
import { Command, CommanderError } from 'commander';
import { CliContext, CliExit, type CliIo } from './context.js';
import { register as create } from './commands/create.js';
import { register as lunAdd } from './commands/lun-add.js';
import { register as lunGrow } from './commands/lun-grow.js';
import { register as lunDelete } from './commands/lun-delete.js';
import { register as set } from './commands/set.js';
import { register as start } from './commands/start.js';
import { register as stop } from './commands/stop.js';
import { register as list } from './commands/list.js';
import { register as del } from './commands/delete.js';
import { register as reg } from './commands/register.js';
import { register as unreg } from './commands/unregister.js';
import { register as accountCreate } from './commands/account-create.js';
import { register as accountSet } from './commands/account-set.js';
import { register as accountList } from './commands/account-list.js';
import { register as accountDelete } from './commands/account-delete.js';
import { register as lunSet } from './commands/lun-set.js';
import { register as completion } from './commands/completion.js';
import { register as hostAttach } from './commands/host-config.js';
import { register as aluaSet } from './commands/alua-set.js';
import { register as aluaList } from './commands/alua-list.js';
import { register as portalGroup } from './commands/portal-group.js';
import { register as portalDown, registerUp as portalUp } from './commands/portal-down.js';
import { registerSnapshotCommands as snapshots } from './commands/snapshot.js';
import { addAllExamples } from './help.js';

export const VERSION = '0.1.0';

export function buildProgram(ctx: CliContext): Command {
  const program = new Command();
  program
    .name('vstorage-iscsi')
    .description('Manage iSCSI targets, LUNs and CHAP accounts stored in ISCSI_ROOT')
    .version(VERSION, '-V, --version')
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ writeOut: (s) => ctx.io.stdout(s), writeErr: (s) => ctx.io.stderr(s) });
  for (const add of [create, lunAdd, lunGrow, lunDelete, lunSet, set, start, stop, list, del, reg, unreg, accountCreate, accountSet, accountList, accountDelete]) {
    add(program, ctx);
  }
  hostAttach(program, ctx);
  // ALUA target port groups and portal state (multipath hosts).
  for (const add of [aluaList, aluaSet, portalGroup, portalDown, portalUp]) add(program, ctx);
  snapshots(program, ctx);
  completion(program, ctx);
  addAllExamples(program);
  for (const c of program.commands) {
    c.exitOverride().showHelpAfterError('(run with --help for usage)');
  }
  return program;
}

export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const ctx = new CliContext(io);
  const program = buildProgram(ctx);
  if (argv.length === 0) {
    program.outputHelp({ error: true });
    return 2;
  }
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof CliExit) return e.exitCode;
    if (e instanceof CommanderError) {
      // Commander already printed the message or the help text.
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return e.exitCode === 0 ? 0 : 2;
      return 2;
    }
    const err = e as { code?: unknown; message?: unknown };
    const code = typeof err.code === 'string' ? err.code : undefined;
    const msg = typeof err.message === 'string' ? err.message : String(e);
    io.stderr(`vstorage-iscsi: ${msg}${code ? ` (${code})` : ''}\n`);
    return 1;
  }
}
