/**
 * Examples at the end of every command's `--help`. Each one is a real run
 * from docs/cli.md (test/cli/help.test.ts checks that every example command
 * appears there, and `tools/cli/doc-examples.sh --check` that docs/cli.md
 * shows what the programs print).
 *
 * A command file may also call `addExamples(cmd, [...])` itself.
 */
import type { Command } from 'commander';

const P = 'iqn.2014-04.com.vstorage';

/** Lines starting with `# ` are commands (as typed at a root prompt); others are their output. */
export const EXAMPLES: Record<string, string[]> = {
  create: [
    '# vstorage-iscsi create -n test1 -a 192.168.10.100',
    `IQN: ${P}:test1`,
    '# vstorage-iscsi create -n ps1 -a 192.168.10.110 -a 192.168.20.110',
    `IQN: ${P}:ps1`,
    '# vstorage-iscsi create -n test5 -a 192.168.10.105 -u user1',
    `IQN: ${P}:test5`,
  ],
  'lun-add': [`# vstorage-iscsi lun-add -t ${P}:test1 -l 1 -s 100G`],
  'lun-grow': [`# vstorage-iscsi lun-grow -t ${P}:test1 -l 1 -s 200G`],
  'lun-delete': ['# vstorage-iscsi lun-delete -t test4 -l 0'],
  'lun-set': ['# vstorage-iscsi lun-set -t test2 -l 1 --offline', '# vstorage-iscsi lun-set -t test2 -l 1 --online'],
  set: [
    "# vstorage-iscsi set -t test4 -a 192.168.10.104 -d 'scratch space'",
    '# vstorage-iscsi set -t test6 --mutual-user tgt1',
    '# vstorage-iscsi set -t test2 --allow iqn.1994-05.com.redhat:c678b9f6f0',
  ],
  start: [`# vstorage-iscsi start -t ${P}:test1`],
  stop: [
    `# vstorage-iscsi stop -t ${P}:test1`,
    'initiators still connected',
    'Initiator:   iqn.1994-05.com.redhat:c678b9f6f0 (192.168.10.100)',
    `Unable stop target ${P}:test1`,
    `# vstorage-iscsi stop -t ${P}:test1 -f`,
  ],
  list: [
    '# vstorage-iscsi list',
    'IQN                             STATUS   LUNs  HOST              PORTAL(s)',
    `${P}:test1  running  1     fefacc38a2f140ca  192.168.10.100`,
    `# vstorage-iscsi list -t ${P}:test1`,
    `Target ${P}:test1:`,
    'Portals:    192.168.10.100',
    'Status:     running',
    'Registered: yes',
    'Host:       fefacc38a2f140ca',
    'LUN: 1, Size: 102400M, Used: 1M, Online: Yes',
  ],
  delete: [`# vstorage-iscsi delete -t ${P}:test4`, '# vstorage-iscsi delete -t remote1 --force'],
  register: [`# vstorage-iscsi register -t ${P}:test3`],
  unregister: [`# vstorage-iscsi unregister -t ${P}:test3`],
  'account-create': ['# vstorage-iscsi account-create -u user1', 'Enter password:', 'Verify password:'],
  'account-set': ['# vstorage-iscsi account-set -u user1', 'Enter password:', 'Verify password:'],
  'account-list': ['# vstorage-iscsi account-list', 'tgt1', 'tgt2', 'user1', '# vstorage-iscsi account-list -u tgt1', `${P}:test6`],
  'account-delete': ['# vstorage-iscsi account-delete -u tgt2'],
  'snapshot-create': [`# vstorage-iscsi snapshot-create -t ${P}:test1 -l 1`, 'Snapshot a1f54314-bc06-40c6-a587-965feb9d85bb successfully created.'],
  'snapshot-list': [
    `# vstorage-iscsi snapshot-list -t ${P}:test1 -l 1`,
    'CREATED              C  UUID                                  PARENT_UUID',
    '2014-04-11 13:16:51     a1f54314-bc06-40c6-a587-965feb9d85bb  00000000-0000-0000-0000-000000000000',
    '2014-04-11 13:16:57  *  9c98b442-7482-4fd0-9c45-9259374ca84e  a1f54314-bc06-40c6-a587-965feb9d85bb',
  ],
  'snapshot-switch': [`# vstorage-iscsi lun-set -t ${P}:test1 -l 1 --offline`, '# vstorage-iscsi snapshot-switch -u a1f54314-bc06-40c6-a587-965feb9d85bb'],
  'snapshot-info': [
    '# vstorage-iscsi snapshot-info -u 9c98b442-7482-4fd0-9c45-9259374ca84e',
    `Target: ${P}:test1`,
    'LUN: 1',
    'Created: 2014-04-11 13:16:57',
    'Parent: a1f54314-bc06-40c6-a587-965feb9d85bb',
    'Description: before the upgrade',
  ],
  'snapshot-delete': ['# vstorage-iscsi snapshot-delete -u a1f54314-bc06-40c6-a587-965feb9d85bb'],
  completion: ['# vstorage-iscsi completion bash > /etc/bash_completion.d/vstorage-iscsi'],
};

export function addExamples(cmd: Command, lines: string[]): void {
  cmd.addHelpText('after', '\nExamples:\n' + lines.map((l) => `  ${l}`).join('\n') + '\n');
}

/** Add the examples above to the commands that have some. */
export function addAllExamples(program: Command): void {
  for (const c of program.commands) {
    const ex = EXAMPLES[c.name()];
    if (ex) addExamples(c, ex);
  }
}
