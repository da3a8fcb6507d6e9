/**
 * Thin provisioning of a default (qcow2) LUN through the real daemon and
 * iSCSI: a 100 GiB LUN takes almost no space; 1 GiB written with 1 MiB
 * WRITE(16)s spread over the whole LUN (16 in flight) shows as about 1 GiB
 * Used in `list -t --json` (usedBytes) and in `list -t`; UNMAP of all of it
 * (within the Block Limits VPD's maximum UNMAP LBA count and descriptor
 * count) brings Used back near zero and reads return zeros; `qemu-img
 * check` is clean at the end.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BLOCK, createTarget, lunInfo, lunLine, openSession, pattern, qemuCheck, startEnv, type Env } from './lib.js';

const MiB = 1 << 20;
const GiB = 1 << 30;
let env: Env;

beforeAll(async () => {
  env = await startEnv('thin');
});
afterAll(async () => {
  await env?.cleanup();
});

/** "1025M" -> bytes. */
const mib = (text: string) => {
  const m = /^(\d+)M$/.exec(text);
  if (!m) throw new Error(`not a size in MiB: ${text}`);
  return Number(m[1]) * MiB;
};

describe('thin qcow2 LUN: Used follows writes and UNMAP', () => {
  it('100 GiB LUN: 1 GiB of 1 MiB writes spread over it is ~1 GiB Used; UNMAP of all of it brings Used near zero', async () => {
    const size = 100 * GiB;
    const { iqn, port } = await createTarget(env, 'thin100');
    await env.ok(['lun-add', '-t', iqn, '-l', '1', '-s', '100G']);
    const fresh = await lunInfo(env, iqn, 1);
    expect(fresh).toMatchObject({ sizeBytes: size, format: 'qcow2' });
    expect(fresh.usedBytes).toBeLessThan(2 * MiB);
    expect(await lunLine(env, iqn, 1)).toMatchObject({ size: '102400M', used: '1M', online: 'Yes' });

    await env.ok(['start', '-t', iqn]);
    const s = await openSession(port, iqn, 1);
    const cap = await s.readCapacity();
    expect(cap.lastLba).toBe(BigInt(size / BLOCK - 1));
    expect(cap.lbpme, 'READ CAPACITY(16) LBPME').toBe(true);
    const limits = await s.blockLimits();
    expect(limits.maxUnmapLbaCount).toBeGreaterThan(0);
    expect(limits.maxUnmapDescriptors).toBeGreaterThan(0);

    // 1024 writes of 1 MiB, one every 100 MiB (offset within the stride varies), 16 in flight.
    const count = 1024;
    const stride = size / count;
    const offsets = Array.from({ length: count }, (_, i) => i * stride + ((i * 7) % 64) * MiB);
    const seeds = offsets.map((_, i) => 1000 + i);
    const t0 = Date.now();
    let next = 0;
    const worker = async () => {
      while (next < count) {
        const i = next++;
        await s.write(offsets[i]! / BLOCK, pattern(MiB, seeds[i]!));
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
    await s.sync();
    const writeSeconds = (Date.now() - t0) / 1000;

    const written = await lunInfo(env, iqn, 1);
    expect(written.usedBytes, `usedBytes after 1 GiB of writes: ${written.usedBytes}`).toBeGreaterThanOrEqual(GiB);
    expect(written.usedBytes).toBeLessThanOrEqual(1.1 * GiB);
    const line = await lunLine(env, iqn, 1);
    expect(mib(line.used)).toBe(Math.ceil(written.usedBytes / MiB) * MiB);
    expect(line.size).toBe('102400M');
    // A sample of the writes reads back.
    for (const i of [0, 1, 511, 1023]) expect((await s.read(offsets[i]! / BLOCK, MiB / BLOCK)).equals(pattern(MiB, seeds[i]!)), `write ${i}`).toBe(true);

    // UNMAP everything written, in commands within the advertised limits.
    const perDesc = Math.min(limits.maxUnmapLbaCount, MiB / BLOCK);
    const descs: Array<[number, number]> = [];
    for (const off of offsets) for (let l = off / BLOCK; l < (off + MiB) / BLOCK; l += perDesc) descs.push([l, Math.min(perDesc, (off + MiB) / BLOCK - l)]);
    const perCmd = Math.min(limits.maxUnmapDescriptors, Math.max(1, Math.floor(limits.maxUnmapLbaCount / perDesc)), 256);
    for (let i = 0; i < descs.length; i += perCmd) await s.unmap(descs.slice(i, i + perCmd));
    await s.sync();

    // The image's file space is punched in the background (a flush does not wait): poll.
    const t1 = Date.now();
    let unmapped = await lunInfo(env, iqn, 1);
    while (unmapped.usedBytes >= 16 * MiB && Date.now() - t1 < 20_000) {
      await new Promise((r) => setTimeout(r, 100));
      unmapped = await lunInfo(env, iqn, 1);
    }
    const punchSeconds = (Date.now() - t1) / 1000;
    expect(unmapped.usedBytes, `usedBytes after UNMAP: ${unmapped.usedBytes}`).toBeLessThan(16 * MiB);
    const line2 = await lunLine(env, iqn, 1);
    expect(mib(line2.used)).toBe(Math.ceil(unmapped.usedBytes / MiB) * MiB);
    expect(mib(line2.used)).toBeLessThanOrEqual(16 * MiB);
    for (const i of [0, 700, 1023]) expect((await s.read(offsets[i]! / BLOCK, MiB / BLOCK)).equals(Buffer.alloc(MiB)), `write ${i} after UNMAP`).toBe(true);
    await s.close();

    await env.ok(['stop', '-t', iqn]);
    await env.waitStatus(iqn, 'stopped');
    await qemuCheck(env.targetFile(iqn, 'lun-1.qcow2'));
    console.log(
      `thin: 1 GiB written in ${writeSeconds.toFixed(1)} s, Used ${(written.usedBytes / MiB).toFixed(1)} MiB; after UNMAP ${(unmapped.usedBytes / MiB).toFixed(1)} MiB (${punchSeconds.toFixed(1)} s after the SYNCHRONIZE CACHE) (max unmap LBA count ${limits.maxUnmapLbaCount}, descriptors ${limits.maxUnmapDescriptors})`,
    );
  });
});
