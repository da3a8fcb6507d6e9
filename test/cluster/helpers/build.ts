/**
 * Compile selected entry points (and what they import) to JavaScript in a
 * temporary directory so tests can run them as real child processes.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

export function buildForTests(entries: string[]): string {
  const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'vst-build-'));
  const tsc = path.join(REPO, 'node_modules/typescript/bin/tsc');
  execFileSync(
    process.execPath,
    [
      tsc,
      '--outDir', outDir,
      '--rootDir', REPO,
      '--module', 'NodeNext',
      '--moduleResolution', 'NodeNext',
      '--target', 'ES2022',
      '--strict',
      '--skipLibCheck',
      '--types', 'node',
      ...entries.map((e) => path.join(REPO, e)),
    ],
    { cwd: REPO, stdio: 'pipe' },
  );
  // ESM resolution of bare imports (commander) walks up from the output: link node_modules.
  fs.symlinkSync(path.join(REPO, 'node_modules'), path.join(outDir, 'node_modules'));
  fs.writeFileSync(path.join(outDir, 'package.json'), JSON.stringify({ type: 'module' }));
  return outDir;
}

export function jsPath(outDir: string, entry: string): string {
  return path.join(outDir, entry.replace(/\.ts$/, '.js'));
}
