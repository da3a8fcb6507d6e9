/**
 * Passwords for account-create/account-set (source 4.2.9.1, 4.2.9.3): on a
 * terminal, `Enter password:` and `Verify password:` are prompted without
 * echo; otherwise the password is the first line of standard input and an
 * optional second line must repeat it.
 */
import { ClusterError } from '../../src/cluster/errors.js';
import { CliExit, type CliIo } from './context.js';

/**
 * Read one line per prompt from a terminal in raw mode (no echo). Input that
 * arrives in one chunk (pasted "pw<CR>pw<CR>") is split across the prompts.
 */
function readHiddenLines(io: CliIo, prompts: string[]): Promise<string[]> {
  const input = io.stdin;
  return new Promise((resolve, reject) => {
    const lines: string[] = [];
    let value = '';
    // No echo before the prompt appears: a password typed (or sent by a
    // script) as soon as the prompt shows must not reach the screen.
    input.setRawMode?.(true);
    io.stderr(prompts[0]!);
    input.setEncoding('utf8');
    const finish = (err: Error | null) => {
      input.removeListener('data', onData);
      input.setRawMode?.(false);
      input.pause();
      if (err) {
        io.stderr('\n');
        reject(err);
      } else resolve(lines);
    };
    const endLine = (): boolean => {
      lines.push(value);
      value = '';
      io.stderr('\n');
      if (lines.length === prompts.length) return true;
      io.stderr(prompts[lines.length]!);
      return false;
    };
    const onData = (chunk: string | Buffer) => {
      for (const ch of String(chunk)) {
        if (ch === '\r' || ch === '\n') {
          if (endLine()) return finish(null);
        } else if (ch === '\u0003') {
          return finish(new CliExit(130)); // Ctrl-C
        } else if (ch === '\u0004') {
          if (value === '') return finish(new ClusterError('ISCSI_ERR_BAD_SECRET', 'no password entered'));
          if (endLine()) return finish(null);
        } else if (ch === '\u007f' || ch === '\b') {
          value = value.slice(0, -1);
        } else {
          value += ch;
        }
      }
    };
    input.on('data', onData);
    input.resume();
  });
}

async function readAllStdin(io: CliIo): Promise<string> {
  let text = '';
  io.stdin.setEncoding('utf8');
  for await (const chunk of io.stdin) {
    text += String(chunk);
    if (text.length > 65536) break;
  }
  return text;
}

export async function readNewPassword(io: CliIo): Promise<string> {
  if (io.stdin.isTTY) {
    const [a, b] = (await readHiddenLines(io, ['Enter password: ', 'Verify password: '])) as [string, string];
    if (a !== b) throw new ClusterError('ISCSI_ERR_PASSWORD_MISMATCH', 'passwords do not match; nothing was changed');
    return a;
  }
  const lines = (await readAllStdin(io)).split(/\r?\n/);
  const a = lines[0] ?? '';
  const b = lines[1];
  if (a === '' && lines.length <= 2 && (b === undefined || b === '')) {
    throw new ClusterError('ISCSI_ERR_BAD_SECRET', 'no password on standard input (give it as the first line)');
  }
  if (b !== undefined && b !== '' && b !== a) {
    throw new ClusterError('ISCSI_ERR_PASSWORD_MISMATCH', 'the two password lines on standard input do not match; nothing was changed');
  }
  return a;
}
