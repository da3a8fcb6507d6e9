/**
 * Copy buffers of EXTENDED COPY: a small process-wide pool, so that however
 * many copies run at once (sessions x command window x logical units), the
 * memory they hold is bounded: at most MAX_BUFFERS x CHUNK_BYTES (16 MiB).
 * A copy waits for a free buffer between chunks; waiters are served in
 * arrival order.
 */

/** Bytes moved per read/write pair: a multiple of both logical block sizes (512, 4096). */
export const CHUNK_BYTES = 1024 * 1024;
const MAX_BUFFERS = 16;

const free: Buffer[] = [];
let allocated = 0;
const waiters: Array<(b: Buffer) => void> = [];

/** A CHUNK_BYTES buffer; give it back with releaseBuffer. */
export function acquireBuffer(): Promise<Buffer> {
  const b = free.pop();
  if (b) return Promise.resolve(b);
  if (allocated < MAX_BUFFERS) {
    allocated++;
    return Promise.resolve(Buffer.allocUnsafe(CHUNK_BYTES));
  }
  return new Promise((resolve) => waiters.push(resolve));
}

export function releaseBuffer(b: Buffer): void {
  const w = waiters.shift();
  if (w) w(b);
  else free.push(b);
}
