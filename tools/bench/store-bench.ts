/**
 * Store-level benchmark: the raw store and the qcow2 store side by side in
 * one process, on files in the same directory (DESIGN.md §8: compare in one
 * run, report ratios and CPU time per I/O).
 *
 *   npm run build && node dist/tools/bench/store-bench.js [options]
 *
 * Options (all optional):
 *   --dir DIR        where the image files go (default: the OS temp dir)
 *   --size BYTES     image size (default 1 GiB; suffixes K, M, G)
 *   --seconds N      duration of each measured run (default 3)
 *   --depth N        queue depth (default 32)
 *   --repeat N       runs per store and workload, the median is shown (default 1)
 *   --cluster BYTES  qcow2 cluster size (default 64K)
 *   --json           print the results as JSON too
 *
 * Workloads, each on both stores (images are filled with 1 MiB writes first,
 * so the "allocated" rows hit allocated clusters):
 *   4k-randread, 4k-randwrite (allocated), 1m-seqread, 1m-seqwrite (allocated),
 *   and, on fresh images, 4k-randwrite-fresh and 1m-seqwrite-fresh
 *   (allocating writes; no target, for information).
 * Runs alternate which store goes first; both are flushed before each run.
 * CPU us/IO is process user+system time (all threads) over the I/Os done.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { BlockStore } from '../../src/lun/block-store.js';
import { createRawStore } from '../../src/lun/raw-store.js';
import { createQcow2Store } from '../../src/lun/qcow2/index.js';

interface Opts {
  dir: string;
  size: number;
  seconds: number;
  depth: number;
  repeat: number;
  cluster: number;
  json: boolean;
}

function parseSize(s: string): number {
  const m = /^(\d+)([KMGT]?)(i?B)?$/i.exec(s.trim());
  if (!m) throw new Error(`bad size ${s}`);
  const mult = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 }[m[2]!.toUpperCase()]!;
  return Number(m[1]) * mult;
}

function parseArgs(argv: string[]): Opts {
  const o: Opts = { dir: os.tmpdir(), size: 1024 ** 3, seconds: 3, depth: 32, repeat: 1, cluster: 65536, json: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const v = () => {
      const x = argv[++i];
      if (x === undefined) throw new Error(`${a} needs a value`);
      return x;
    };
    if (a === '--dir') o.dir = v();
    else if (a === '--size') o.size = parseSize(v());
    else if (a === '--seconds') o.seconds = Number(v());
    else if (a === '--depth') o.depth = Number(v());
    else if (a === '--repeat') o.repeat = Number(v());
    else if (a === '--cluster') o.cluster = parseSize(v());
    else if (a === '--json') o.json = true;
    else if (a === '-h' || a === '--help') {
      console.log(fs.readFileSync(new URL(import.meta.url), 'utf8').split('*/')[0]);
      process.exit(0);
    } else throw new Error(`unknown option ${a}`);
  }
  return o;
}

interface Result {
  ios: number;
  seconds: number;
  cpuUs: number;
}

/** Run `depth` workers issuing I/O until `seconds` have passed. */
async function run(
  store: BlockStore,
  bs: number,
  write: boolean,
  random: boolean,
  seconds: number,
  depth: number,
): Promise<Result> {
  const blocks = Math.floor(store.sizeBytes / bs);
  let seq = 0;
  let ios = 0;
  let x = 0x9e3779b9;
  const next = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % blocks;
  };
  const deadline = performance.now() + seconds * 1000;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const worker = async () => {
    const buf = Buffer.alloc(bs, 0x5a);
    while (performance.now() < deadline) {
      const blk = random ? next() : seq++ % blocks;
      if (write) await store.write(buf, blk * bs, false);
      else await store.read(buf, blk * bs);
      ios++;
    }
  };
  await Promise.all(Array.from({ length: depth }, worker));
  const secs = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return { ios, seconds: secs, cpuUs: cpu.user + cpu.system };
}

async function fill(store: BlockStore): Promise<void> {
  const bs = 1 << 20;
  const buf = Buffer.alloc(bs, 0xa5);
  let next = 0;
  const n = Math.floor(store.sizeBytes / bs);
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < n) await store.write(buf, next++ * bs, false);
    }),
  );
  await store.flush();
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const work = fs.mkdtempSync(path.join(o.dir, 'store-bench-'));
  const rows: Array<Record<string, unknown>> = [];
  try {
    const open = async (kind: 'raw' | 'qcow2', name: string): Promise<BlockStore> => {
      const f = path.join(work, `${name}.${kind}`);
      fs.rmSync(f, { force: true });
      return kind === 'raw' ? createRawStore(f, o.size) : createQcow2Store(f, o.size, { clusterSize: o.cluster });
    };
    const workloads: Array<{ name: string; bs: number; write: boolean; random: boolean; fresh: boolean }> = [
      { name: '4k-randread', bs: 4096, write: false, random: true, fresh: false },
      { name: '4k-randwrite', bs: 4096, write: true, random: true, fresh: false },
      { name: '1m-seqread', bs: 1 << 20, write: false, random: false, fresh: false },
      { name: '1m-seqwrite', bs: 1 << 20, write: true, random: false, fresh: false },
      { name: '4k-randwrite-fresh', bs: 4096, write: true, random: true, fresh: true },
      { name: '1m-seqwrite-fresh', bs: 1 << 20, write: true, random: false, fresh: true },
    ];
    const filled: Record<string, BlockStore> = {};
    for (const kind of ['raw', 'qcow2'] as const) {
      filled[kind] = await open(kind, 'filled');
      await fill(filled[kind]!);
    }
    console.log(
      `store-bench: size ${o.size} B, QD ${o.depth}, ${o.seconds} s per run, ${o.repeat} run(s), qcow2 cluster ${o.cluster} B, dir ${o.dir}`,
    );
    console.log('workload              raw IOPS   qcow2 IOPS  ratio   raw MiB/s  qcow2 MiB/s  raw CPU us/IO  qcow2 CPU us/IO');
    for (const w of workloads) {
      const res: Record<string, Result[]> = { raw: [], qcow2: [] };
      for (let r = 0; r < o.repeat; r++) {
        // Alternate which store goes first, and start each run with no dirty
        // data left by the previous one (kernel writeback would bill it).
        for (const kind of r % 2 === 0 ? (['raw', 'qcow2'] as const) : (['qcow2', 'raw'] as const)) {
          for (const x of Object.values(filled)) await x.flush();
          let s = filled[kind]!;
          if (w.fresh) s = await open(kind, `fresh-${r}`);
          res[kind]!.push(await run(s, w.bs, w.write, w.random, o.seconds, o.depth));
          if (w.fresh) {
            await s.close();
            fs.rmSync(path.join(work, `fresh-${r}.${kind}`), { force: true });
          }
        }
      }
      const iops = (k: string) => median(res[k]!.map((x) => x.ios / x.seconds));
      const cpu = (k: string) => median(res[k]!.map((x) => x.cpuUs / Math.max(1, x.ios)));
      const row = {
        workload: w.name,
        rawIops: Math.round(iops('raw')),
        qcow2Iops: Math.round(iops('qcow2')),
        ratio: Number((iops('qcow2') / iops('raw')).toFixed(3)),
        rawMiBs: Math.round((iops('raw') * w.bs) / 2 ** 20),
        qcow2MiBs: Math.round((iops('qcow2') * w.bs) / 2 ** 20),
        rawCpuUsPerIo: Number(cpu('raw').toFixed(1)),
        qcow2CpuUsPerIo: Number(cpu('qcow2').toFixed(1)),
      };
      rows.push(row);
      console.log(
        `${w.name.padEnd(20)} ${String(row.rawIops).padStart(9)} ${String(row.qcow2Iops).padStart(12)} ${row.ratio
          .toFixed(2)
          .padStart(6)} ${String(row.rawMiBs).padStart(11)} ${String(row.qcow2MiBs).padStart(12)} ${row.rawCpuUsPerIo
          .toFixed(1)
          .padStart(14)} ${row.qcow2CpuUsPerIo.toFixed(1).padStart(16)}`,
      );
    }
    for (const s of Object.values(filled)) await s.close();
    if (o.json) console.log(JSON.stringify(rows, null, 2));
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(`store-bench: ${(e as Error).message}`);
  process.exit(1);
});
