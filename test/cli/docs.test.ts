/**
 * docs/cli.md stays complete: a section per command naming every option,
 * every error code and configuration key. (Whether its example outputs are
 * still true is checked by `tools/cli/doc-examples.sh --check`, which needs a
 * network namespace and the built programs.)
 */
import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { buildProgram } from '../../tools/cli/program.js';
import { CliContext } from '../../tools/cli/context.js';
import { CONFIG_KEYS } from '../../src/cluster/config.js';
import { REPO } from '../cluster/helpers/build.js';

const doc = fs.readFileSync(path.join(REPO, 'docs/cli.md'), 'utf8');
const program = buildProgram(new CliContext({ stdout: () => undefined, stderr: () => undefined, stdin: process.stdin, env: {} }));

/** The text of `## name` up to the next `## `. */
function section(name: string): string | undefined {
  const start = doc.indexOf(`\n## ${name}\n`);
  if (start < 0) return undefined;
  const end = doc.indexOf('\n## ', start + 1);
  return doc.slice(start, end < 0 ? undefined : end);
}

describe('docs/cli.md', () => {
  it.each(program.commands.map((c) => [c.name(), c] as const))('documents %s and all its options', (name, cmd) => {
    const s = section(name);
    expect(s, `section "## ${name}"`).toBeDefined();
    expect(s).toContain(`vstorage-iscsi ${name}`);
    for (const o of cmd.options) {
      const flags = o.flags.replace(/ <.*>$/, '');
      expect(s, `${name} ${o.flags}`).toContain(flags);
    }
    expect(doc, 'contents line').toContain(`[${name}](#${name})`);
  });

  it('lists every error code and configuration key', () => {
    const errors = fs.readFileSync(path.join(REPO, 'src/cluster/errors.ts'), 'utf8');
    const codes = [...errors.matchAll(/'(ISCSI_ERR_[A-Z_]+)'/g)].map((m) => m[1]!);
    expect(codes.length).toBeGreaterThan(30);
    const table = section('Exit status and error codes')!;
    for (const c of codes) expect(table, c).toContain(`\`${c}\``);
    const env = section('Environment variables and configuration keys')!;
    for (const k of [...CONFIG_KEYS, 'ISCSI_CONFIG']) expect(env, k).toContain(`\`${k}\``);
  });

  it('is linked from the README', () => {
    expect(fs.readFileSync(path.join(REPO, 'README.md'), 'utf8')).toContain('(docs/cli.md)');
  });
});
