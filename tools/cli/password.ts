/**
 * Passwords for account-create/account-set (source 4.2.9.1, 4.2.9.3): on a
 * terminal, `Enter password:` and `Verify password:` are prompted without
 * echo; otherwise the password is the first line of standard input and an
 * optional second line must repeat it.
 */
import { ClusterError } from '../../src/cluster/errors.js';
import { CliExit, type CliIo } from './context.js';

function readHidden(io: CliIo, prompt: string): Promise<string> {
  const input = io.stdin;
  return new Promise((resolve, reject) => {
    let value = '';
    io.stderr(prompt);
    input.setRawMode?.(true);
    input.setEncoding('utf8');
    const done = (err: Error | null) => {
      input.removeListener('data', onData);
      input.setRawMode?.(false);
      input.pause();
      io.stderr('\n');
      if (err) reject(err);
      else resolve(value);
    };
    const onData = (chunk: string | Buffer) => {
      for (const ch of String(chunk)) {
        if (ch === '\r' || ch === '\n') return done(null);
        if (ch === '\u0003') return done(new CliExit(130)); // Ctrl-C
        if (ch === '\u0004') {
          if (value === '') return done(new ClusterError('ISCSI_ERR_BAD_SECRET', 'no password entered'));
          return done(null);
        }
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
        else value += ch;
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
    const a = await readHidden(io, 'Enter password: ');
    const b = await readHidden(io, 'Verify password: ');
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
