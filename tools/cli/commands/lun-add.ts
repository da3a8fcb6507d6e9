/**
 * `lun-add -t IQN -l ID -s SIZE` (source 4.2.2): a new thin qcow2 image by
 * default (`--format raw` for a sparse raw file, `--cluster-size`), or
 * `--image FILE` to adopt an existing qcow2 or raw image as the LUN.
 */
import type { Command } from 'commander';
import { parseBlockSize, parsePhysicalBlockSize, parseSize } from '../../../src/cluster/validate.js';
import { parseClusterSize, parseImageFormat } from '../../../src/cluster/lun-images.js';
import { ClusterError, isClusterError } from '../../../src/cluster/errors.js';
import type { CliContext } from '../context.js';

interface LunAddOptions {
  target: string;
  lun: string;
  size?: string;
  blockSize?: string;
  physicalBlockSize?: string;
  format?: string;
  clusterSize?: string;
  image?: string;
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('lun-add')
    .description('add a LUN backed by a new thin image, or adopt an existing image (--image)')
    .requiredOption('-t, --target <iqn>', 'target IQN (or name)')
    .requiredOption('-l, --lun <id>', 'LUN ID, 0-255')
    .option('-s, --size <size>', 'size, e.g. 100G, 512M, 1T (1024T maximum, 16T for raw); with --image: grow the image to it')
    .option('--format <format>', 'image format: qcow2 (thin, snapshots; default) or raw (sparse file)')
    .option('--cluster-size <size>', 'qcow2 cluster size, a power of two from 4K to 2M (default 64K)')
    .option('--image <file>', 'adopt this qcow2 or raw image (on the ISCSI_ROOT file system; it is moved into the target)')
    .option('--block-size <bytes>', 'logical block size: 512 (default) or 4096')
    .option('--physical-block-size <bytes>', 'physical block size to report: 4096 on a 512-byte LUN (512e)')
    .action(async (o: LunAddOptions) => {
      const store = await ctx.store();
      const iqn = store.resolveIqn(o.target);
      if (o.size === undefined && o.image === undefined) {
        throw new ClusterError('ISCSI_ERR_BAD_SIZE', 'a new LUN needs a size (-s SIZE), or an image to adopt (--image FILE)');
      }
      const sizeBytes = o.size === undefined ? undefined : parseSize(o.size);
      const format = parseImageFormat(o.format);
      if (format === 'raw' && o.clusterSize !== undefined) {
        throw new ClusterError('ISCSI_ERR_BAD_REQUEST', '--cluster-size applies to qcow2 images only, not to --format raw');
      }
      const clusterSize = o.clusterSize === undefined ? undefined : parseClusterSize(o.clusterSize);
      const blockSize = parseBlockSize(o.blockSize);
      const physicalBlockSize = parsePhysicalBlockSize(o.physicalBlockSize, blockSize);
      const lun = await store.addLun(iqn, { id: o.lun, sizeBytes, blockSize, physicalBlockSize, format, clusterSize, image: o.image });
      // A running target picks the LUN up when no initiator is logged in.
      try {
        await ctx.daemon.reload(iqn, false);
      } catch (e) {
        // The LUN is stored either way; only its appearance on a running target is delayed.
        if (isClusterError(e, 'ISCSI_ERR_SESSIONS_ACTIVE')) {
          ctx.err(`LUN ${lun.id} added; initiators are connected, so it appears after the target restarts (stop and start it).`);
        } else if (!(isClusterError(e, 'ISCSI_ERR_DAEMON_UNAVAILABLE') && e.details?.reason === 'not-running')) {
          ctx.err(`LUN ${lun.id} added, but the running target was not reloaded: ${(e as Error).message}`);
        }
      }
    });
}
