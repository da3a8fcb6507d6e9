/**
 * A merge copies data while holding the target lock (src/cluster/lock.ts).
 * Other hosts judge a lock stale by the age of its file (60 s by default),
 * so a long merge refreshes the file's modification time now and then to
 * show it is alive. Only called by the lock's holder.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { ClusterStore } from '../cluster/store.js';

const EVERY_MS = 5000;

export function lockKeepAlive(store: ClusterStore, iqn: string): () => Promise<void> {
  const file = path.join(store.locksDir, `${iqn}.lock`);
  let last = Date.now();
  return async () => {
    const now = Date.now();
    if (now - last < EVERY_MS) return;
    last = now;
    const t = new Date(now);
    await fs.utimes(file, t, t).catch(() => undefined);
  };
}
