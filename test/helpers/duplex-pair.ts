/** Two connected in-memory duplex streams (Node 20 has no stream.duplexPair). */
import { Duplex } from 'node:stream';

class End extends Duplex {
  peer!: End;
  remoteAddress = '127.0.0.1';
  remotePort = 50000;
  localAddress = '127.0.0.1';
  localPort = 3260;
  override _read(): void {}
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    const peer = this.peer;
    // Deliver asynchronously, like a socket, so re-entrancy bugs show up.
    setImmediate(() => {
      if (!peer.destroyed) peer.push(chunk);
      cb();
    });
  }
  override _final(cb: (err?: Error | null) => void): void {
    setImmediate(() => {
      if (!this.peer.destroyed) this.peer.push(null);
      cb();
    });
  }
  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    const peer = this.peer;
    setImmediate(() => {
      if (!peer.destroyed) peer.push(null);
      if (!peer.destroyed) peer.destroy();
    });
    cb(err);
  }
  setNoDelay(): this {
    return this;
  }
}

export function duplexPair(): [End, End] {
  const a = new End();
  const b = new End();
  a.peer = b;
  b.peer = a;
  b.remotePort = 3260;
  b.localPort = 50000;
  return [a, b];
}
