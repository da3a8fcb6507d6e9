/**
 * `completion bash`: prints a bash completion script for vstorage-iscsi,
 * generated from the commands and options of this program. Target IQNs for
 * `-t` come from `vstorage-iscsi list`, account names for `-u` from
 * `vstorage-iscsi account-list`, at completion time.
 *
 *   source <(vstorage-iscsi completion bash)                       # this shell
 *   vstorage-iscsi completion bash > /etc/bash_completion.d/vstorage-iscsi
 */
import type { Command } from 'commander';
import { ClusterError } from '../../../src/cluster/errors.js';
import type { CliContext } from '../context.js';

export const SHELLS = ['bash'];

type ValueKind = 'targets' | 'accounts' | 'shells' | 'none';

function valueKind(cmd: string, long: string | undefined): ValueKind {
  if (long === '--target') return 'targets';
  if ((long === '--user' || long === '--mutual-user') && cmd !== 'account-create') return 'accounts';
  return 'none';
}

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

export function bashCompletion(program: Command): string {
  const commands = program.commands.flatMap((c) => [c.name(), ...c.aliases()]).sort();
  const optionCases: string[] = [];
  const valueCases = new Map<ValueKind, string[]>();
  for (const c of program.commands) {
    const words: string[] = ['--help'];
    for (const o of c.options) {
      if (o.hidden) continue;
      if (o.short) words.push(o.short);
      if (o.long) words.push(o.long);
      if (o.required || o.optional) {
        const kind = valueKind(c.name(), o.long);
        const list = valueCases.get(kind) ?? [];
        for (const n of [c.name(), ...c.aliases()]) for (const f of [o.short, o.long]) if (f) list.push(`${n}:${f}`);
        valueCases.set(kind, list);
      }
    }
    optionCases.push(`    ${[c.name(), ...c.aliases()].join('|')}) opts=${q(words.join(' '))} ;;`);
  }
  const pattern = (kind: ValueKind) => (valueCases.get(kind) ?? []).map((p) => q(p)).join('|');
  const cases: string[] = [];
  if (valueCases.has('targets')) cases.push(`    ${pattern('targets')}) values=$("\${COMP_WORDS[0]}" list 2>/dev/null | awk 'NR > 1 { print $1 }') ;;`);
  if (valueCases.has('accounts')) cases.push(`    ${pattern('accounts')}) values=$("\${COMP_WORDS[0]}" account-list 2>/dev/null) ;;`);
  if (valueCases.has('none')) cases.push(`    ${pattern('none')}) return 0 ;;`);
  return `# bash completion for vstorage-iscsi, made by \`vstorage-iscsi completion bash\`.
# Install: vstorage-iscsi completion bash > /etc/bash_completion.d/vstorage-iscsi
# or, for this shell only: source <(vstorage-iscsi completion bash)
_vstorage_iscsi() {
  # Work on the line itself: IQNs contain ':', which bash splits words at.
  local line=\${COMP_LINE:0:COMP_POINT}
  local cur=\${line##*[[:space:]]}
  local -a words
  read -r -a words <<< "\${line%"$cur"}"
  local n=\${#words[@]} cmd=\${words[1]:-} prev=\${words[\${#words[@]}-1]:-}
  local opts='' values=''
  COMPREPLY=()
  if [ "$n" -le 1 ]; then
    values=${q([...commands, '--help', '--version'].join(' '))}
  elif [ "$cmd" = completion ] && [ "$n" -eq 2 ]; then
    values=${q(SHELLS.join(' '))}
  else
    case "$cmd:$prev" in
${cases.join('\n')}
    esac
    if [ -z "$values" ]; then
      case "$cmd" in
${optionCases.join('\n')}
      esac
      values=$opts
    fi
  fi
  local IFS=$'\\n'
  COMPREPLY=($(IFS=$' \\t\\n'; compgen -W "$values" -- "$cur"))
  # bash replaces only the part of the word after the last ':'.
  if [[ "$cur" == *:* && "\${COMP_WORDBREAKS:-:}" == *:* ]]; then
    local prefix=\${cur%"\${cur##*:}"} i
    for i in "\${!COMPREPLY[@]}"; do COMPREPLY[i]=\${COMPREPLY[i]#"$prefix"}; done
  fi
  return 0
}
complete -F _vstorage_iscsi vstorage-iscsi
`;
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('completion')
    .description('print a shell completion script (bash)')
    .argument('<shell>', `shell: ${SHELLS.join(', ')}`)
    .action((shell: string) => {
      if (!SHELLS.includes(shell)) {
        throw new ClusterError('ISCSI_ERR_BAD_REQUEST', `no completion for shell '${shell}': supported: ${SHELLS.join(', ')}`);
      }
      ctx.io.stdout(bashCompletion(program));
    });
}
