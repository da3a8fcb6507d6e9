/**
 * Unix-socket server of the control API (control-protocol.ts): one JSON
 * request per line, answered in order on the same connection.
 */
import net from 'node:net';
import fs from 'node:fs/promises';
import path from 'node:path';
import { ClusterError, errnoCode } from '../cluster/errors.js';
import { MAX_CONTROL_LINE, type ControlResponse } from './control-protocol.js';
import type { Logger } from './log.js';

export interface ControlServer {
  readonly socketPath: string;
  close(): Promise<void>;
}

/** True when something answers on the socket (another daemon). */
function socketAlive(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createConnection({ path: socketPath });
    const t = setTimeout(() => {
      s.destroy();
      resolve(true); // accepted but silent: still somebody's socket
    }, 1000);
    s.on('connect', () => {
      clearTimeout(t);
      s.destroy();
      resolve(true);
    });
    s.on('error', () => {
      clearTimeout(t);
      resolve(false);
    });
  });
}

export async function listenControl(
  socketPath: string,
  handle: (req: unknown) => Promise<ControlResponse>,
  log: Logger,
): Promise<ControlServer> {
  await fs.mkdir(path.dirname(socketPath), { recursive: true, mode: 0o755 });
  try {
    await fs.lstat(socketPath);
    if (await socketAlive(socketPath)) {
      throw new ClusterError('ISCSI_ERR_CONFIG', `another vstorage-iscsid is already running (it answers on ${socketPath})`);
    }
    await fs.unlink(socketPath); // left by a daemon that died
  } catch (e) {
    if (errnoCode(e) !== 'ENOENT') throw e;
  }

  const conns = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    conns.add(sock);
    sock.on('close', () => conns.delete(sock));
    sock.on('error', () => undefined);
    sock.setEncoding('utf8');
    let buf = '';
    let chain: Promise<void> = Promise.resolve();
    const reply = (res: ControlResponse) => {
      if (!sock.destroyed) sock.write(JSON.stringify(res) + '\n');
    };
    sock.on('data', (chunk: string) => {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (line === '') continue;
        chain = chain.then(async () => {
          let req: unknown;
          try {
            req = JSON.parse(line);
          } catch {
            reply({ ok: false, error: { code: 'ISCSI_ERR_BAD_REQUEST', message: 'request is not valid JSON' } });
            return;
          }
          reply(await handle(req));
        });
      }
      if (buf.length > MAX_CONTROL_LINE) {
        reply({ ok: false, error: { code: 'ISCSI_ERR_BAD_REQUEST', message: 'request line too long' } });
        sock.destroy();
      }
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => {
      server.off('error', reject);
      resolve();
    });
  });
  await fs.chmod(socketPath, 0o660);
  server.on('error', (e) => log.error('control socket error', { error: e }));
  log.info('control socket listening', { socket: socketPath });

  return {
    socketPath,
    close: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const c of conns) c.destroy();
      });
      await fs.unlink(socketPath).catch(() => undefined);
    },
  };
}
