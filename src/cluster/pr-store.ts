/**
 * Persistent reservation state in ISCSI_ROOT (DESIGN.md §4, §6; SPC-4
 * §5.13): one file per logical unit in its target's directory,
 *
 *   <ISCSI_ROOT>/targets/<IQN>/pr-<NAA designator>.json
 *
 * keyed by the LUN's NAA designator, which never changes and is never
 * reused (DESIGN.md §5): a LUN deleted and added again under the same
 * number starts with no reservations. The file appears with the first
 * PERSISTENT RESERVE OUT that changes something, is replaced atomically
 * (temp file, fsync, rename, fsync of the directory) before the command
 * gets GOOD status, and is read when the target starts, on whichever node:
 * so the state is the same through every portal, after a crash (kill -9)
 * and restart, and after the target moves to another node.
 *
 * A file that cannot be read or parsed stops the target from starting
 * (ISCSI_ERR_CORRUPT_RECORD): serving the LUN without its reservations
 * would let a fenced-off cluster node write again.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { ClusterError, errnoCode } from './errors.js';
import { writeJsonAtomic } from './atomic.js';
import type { LunRecord } from './records.js';
import { fromSnapshot, type PrSnapshot, type PrState } from '../scsi/persistent-reservations/types.js';
import type { PrLunIdentity, PrPersistence } from '../scsi/persistent-reservations/persistence.js';

export const PR_FILE_PREFIX = 'pr-';

/** The state file of a LUN in its target's directory. */
export function prFileName(naa: string): string {
  return `${PR_FILE_PREFIX}${naa.toLowerCase()}.json`;
}

/** What is stored: the snapshot plus who wrote it, for people reading the file. */
interface PrFile extends PrSnapshot {
  target: string;
  lun: number;
  naa: string;
  /** Host ID of the node that wrote it. */
  host: string;
  updated: string;
}

export interface PrStoreOptions {
  /** The target's directory in ISCSI_ROOT (ClusterStore.targetDir). */
  targetDir: string;
  iqn: string;
  /** This node's host ID (recorded in the file). */
  hostId: string;
  now?: () => Date;
  log?: (level: 'info' | 'warn', msg: string, ctx?: Record<string, unknown>) => void;
}

export class PrStore implements PrPersistence {
  private constructor(
    private readonly opts: PrStoreOptions,
    private readonly loaded: Map<string, PrState>,
  ) {}

  /**
   * Read the state of every LUN of the target (before it starts). Files of
   * LUNs the target no longer has are removed.
   */
  static async open(opts: PrStoreOptions, luns: readonly Pick<LunRecord, 'id' | 'naa'>[]): Promise<PrStore> {
    const loaded = new Map<string, PrState>();
    const wanted = new Set(luns.map((l) => prFileName(l.naa)));
    for (const l of luns) {
      const file = path.join(opts.targetDir, prFileName(l.naa));
      let text: string;
      try {
        text = await fs.readFile(file, 'utf8');
      } catch (e) {
        if (errnoCode(e) === 'ENOENT') continue;
        throw new ClusterError('ISCSI_ERR_CORRUPT_RECORD', `cannot read the persistent reservations of LUN ${l.id} of ${opts.iqn} (${file}): ${(e as Error).message}`);
      }
      try {
        loaded.set(l.naa.toLowerCase(), fromSnapshot(JSON.parse(text)));
      } catch (e) {
        throw new ClusterError(
          'ISCSI_ERR_CORRUPT_RECORD',
          `${file} (persistent reservations of LUN ${l.id} of ${opts.iqn}) is not valid: ${(e as Error).message}; ` +
            'the target is not started without them: repair the file, or remove it to drop every registration and reservation of that LUN',
        );
      }
    }
    let names: string[] = [];
    try {
      names = await fs.readdir(opts.targetDir);
    } catch {
      // The directory vanished (target deleted meanwhile): starting fails elsewhere.
    }
    for (const n of names) {
      if (!n.startsWith(PR_FILE_PREFIX) || !n.endsWith('.json') || wanted.has(n)) continue;
      await fs.rm(path.join(opts.targetDir, n), { force: true }).catch(() => undefined);
      opts.log?.('info', 'removed the persistent reservations of a deleted LUN', { target: opts.iqn, file: n });
    }
    return new PrStore(opts, loaded);
  }

  initial(lun: PrLunIdentity): PrState | undefined {
    return this.loaded.get(lun.naa.toLowerCase());
  }

  async save(lun: PrLunIdentity, snapshot: PrSnapshot): Promise<void> {
    const file = path.join(this.opts.targetDir, prFileName(lun.naa));
    const content: PrFile = {
      ...snapshot,
      target: this.opts.iqn,
      lun: lun.id,
      naa: lun.naa.toLowerCase(),
      host: this.opts.hostId,
      updated: (this.opts.now ?? (() => new Date()))().toISOString(),
    };
    await writeJsonAtomic(file, content);
  }
}
