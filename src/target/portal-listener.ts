/**
 * One TCP listener per portal address (address:port), shared by every target
 * that has that portal.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { LogFn } from './connection.js';

export class PortalListener {
  /** Targets using this portal. */
  users = 0;
  private readonly server: Server;

  constructor(
    readonly address: string,
    readonly port: number,
    onConnection: (socket: Socket) => void,
    private readonly log: LogFn,
  ) {
    this.server = createServer({ noDelay: true }, onConnection);
    this.server.on('error', (err) => this.log('error', 'portal listener error', { portal: `${address}:${port}`, error: err.message }));
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => {
        reject(Object.assign(new Error(`cannot listen on ${this.address}:${this.port}: ${err.code ?? err.message}`), { code: 'ISCSI_ERR_PORTAL_LISTEN', cause: err }));
      };
      this.server.once('error', onError);
      this.server.listen({ host: this.address, port: this.port, backlog: 128 }, () => {
        this.server.off('error', onError);
        resolve();
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
