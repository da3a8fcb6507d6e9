// Child process of crash.test.ts: 4 KiB random writes at queue depth 32 into
// a qcow2 image through Qcow2Store, with occasional discards, FUA writes and
// flushes, until it is killed with SIGKILL.
//
//   node crash-writer.mjs STORE_MODULE IMAGE SEED FIRST_SEQ
//
// Every block written is self-describing (see block() below), so the parent
// can check any block it reads back. Lines on stdout (synchronous on pipes):
//   READY
//   D <firstLba> <blocks> <seq>      a discard is about to be issued
//   F <lba>:<seq> ... | <lba>:<blocks>:<seq> ...
//                                     a flush completed; the writes (left of |)
//                                     and discards (right) were acknowledged
//                                     before it started
//   U <lba> <seq>                    a FUA write was acknowledged
const [, , storeModule, image, seedArg, firstSeqArg] = process.argv;
const { openQcow2Store } = await import(storeModule);
const BS = 4096;
const QD = 32;

let x = Number(seedArg) >>> 0 || 1;
const rand = () => {
  x ^= x << 13;
  x ^= x >>> 17;
  x ^= x << 5;
  return (x >>> 0) / 4294967296;
};

/** Block contents for (lba, seq): "QCRASH01", lba, seq, then a xorshift stream of both. */
function block(lba, seq) {
  const b = Buffer.allocUnsafe(BS);
  b.write('QCRASH01', 0, 'latin1');
  b.writeBigUInt64BE(BigInt(lba), 8);
  b.writeBigUInt64BE(BigInt(seq), 16);
  let y = (lba * 2654435761 + seq * 40503 + 1) >>> 0 || 1;
  for (let off = 24; off < BS; off += 4) {
    y ^= y << 13;
    y ^= y >>> 17;
    y ^= y << 5;
    b.writeUInt32BE(y >>> 0, off);
  }
  return b;
}

const store = await openQcow2Store(image, { writebackIntervalMs: 200 });
const blocks = Math.floor(store.sizeBytes / BS);
let seq = Number(firstSeqArg);
let pendingWrites = [];
let pendingDiscards = [];
const out = (s) => process.stdout.write(s + '\n');
out('READY');

// No two in-flight operations overlap (the order of overlapping commands is
// undefined, and initiators do not issue them), so the last acknowledged
// operation on a block is its state.
const busy = new Set();
const discarding = [];
const overlapsDiscard = (a, n) => discarding.some((d) => a < d.lba + d.n && d.lba < a + n);

async function worker() {
  for (;;) {
    const r = rand();
    if (r < 0.004) {
      // Discard 64 KiB .. 1 MiB, cluster aligned half of the time.
      const n = 16 * (1 + Math.floor(rand() * 16));
      let lba = Math.floor(rand() * (blocks - n));
      if (rand() < 0.5) lba -= lba % 16;
      let clash = overlapsDiscard(lba, n);
      for (let l = lba; l < lba + n && !clash; l++) clash = busy.has(l);
      if (clash) continue;
      const d = { lba, n };
      discarding.push(d);
      const s = ++seq;
      out(`D ${lba} ${n} ${s}`);
      await store.discard(lba * BS, n * BS);
      discarding.splice(discarding.indexOf(d), 1);
      pendingDiscards.push(`${lba}:${n}:${s}`);
    } else {
      const lba = Math.floor(rand() * blocks);
      if (busy.has(lba) || overlapsDiscard(lba, 1)) continue;
      busy.add(lba);
      const s = ++seq;
      const fua = r < 0.01;
      await store.write(block(lba, s), lba * BS, fua);
      busy.delete(lba);
      if (fua) out(`U ${lba} ${s}`);
      else pendingWrites.push(`${lba}:${s}`);
    }
  }
}

async function flusher() {
  for (;;) {
    await new Promise((res) => setTimeout(res, 20 + rand() * 150));
    const w = pendingWrites;
    const d = pendingDiscards;
    pendingWrites = [];
    pendingDiscards = [];
    await store.flush();
    out(`F ${w.join(' ')} | ${d.join(' ')}`);
  }
}

for (let i = 0; i < QD; i++) worker().catch((e) => {
  process.stderr.write(`writer: ${e.stack}\n`);
  process.exit(2);
});
flusher().catch((e) => {
  process.stderr.write(`flusher: ${e.stack}\n`);
  process.exit(2);
});
