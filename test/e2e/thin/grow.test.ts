/**
 * Online `lun-grow` through the real daemon while initiators are logged in,
 * for a qcow2 (default) and a raw LUN:
 *  - before: READ(16) past the end is LOGICAL BLOCK ADDRESS OUT OF RANGE;
 *  - after `lun-grow`: the next command of every logged-in session gets
 *    CHECK CONDITION, UNIT ATTENTION, CAPACITY DATA HAS CHANGED (2Ah/09h),
 *    once; READ CAPACITY(16) then reports the new size;
 *  - data written before the grow (up to the old last block) and after it
 *    (beyond the old end, up to the new last block) reads back, also through
 *    a new session and in the image (`qemu-img convert`) after the target
 *    stops; `list -t` shows the new size; `qemu-img check` is clean.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { BLOCK, cdb16, createTarget, lunInfo, lunLine, openSession, parseSense, pattern, qemuCheck, qemuImg, startEnv, type Env } from './lib.js';

const MiB = 1 << 20;
let env: Env;

beforeAll(async () => {
  env = await startEnv('grow');
});
afterAll(async () => {
  await env?.cleanup();
});

describe('online lun-grow', () => {
  it.each(['qcow2', 'raw'] as const)('%s LUN grows while logged in: unit attention 2Ah/09h, new capacity, data before and after', async (format) => {
    const oldSize = 64 * MiB;
    const newSize = 160 * MiB;
    const { iqn, port } = await createTarget(env, `grow${format}`);
    await env.ok(['lun-add', '-t', iqn, '-l', '3', '-s', '64M', '--format', format]);
    await env.ok(['start', '-t', iqn]);
    const s = await openSession(port, iqn, 3, { initiatorName: 'iqn.2024-01.org.e2e:grow-a' });
    const other = await openSession(port, iqn, 3, { initiatorName: 'iqn.2024-01.org.e2e:grow-b', isid: 2 });
    expect((await s.readCapacity()).lastLba).toBe(BigInt(oldSize / BLOCK - 1));

    const oldLast = oldSize / BLOCK - 1;
    const before = { first: pattern(64 * 1024, 1), tail: pattern(MiB, 2) };
    await s.write(0, before.first);
    await s.write(oldSize / BLOCK - MiB / BLOCK, before.tail); // up to the old last block
    const past = await s.raw(cdb16.read16(oldLast, 2), { readLength: 2 * BLOCK });
    expect(past.status, 'READ(16) across the old end before the grow').toBe(2);
    expect(parseSense(past.sense)).toMatchObject({ key: 5, asc: 0x21, ascq: 0 });
    // No unit attention is pending yet.
    expect((await s.raw(cdb16.testUnitReady())).status).toBe(0);

    await env.ok(['lun-grow', '-t', iqn, '-l', '3', '-s', '160M']);

    // The next command of each session: CHECK CONDITION, UNIT ATTENTION, CAPACITY DATA HAS CHANGED; then the command works.
    for (const [who, sess, first] of [
      ['session A (READ CAPACITY(16))', s, cdb16.readCapacity16()],
      ['session B (READ(16))', other, cdb16.read16(0, 1)],
    ] as const) {
      const r = await sess.raw(first, { readLength: first[0] === 0x88 ? BLOCK : 32 });
      expect(r.status, `${who}: first command after lun-grow`).toBe(2);
      expect(parseSense(r.sense), who).toEqual({ key: 6, asc: 0x2a, ascq: 0x09 });
      const again = await sess.raw(first, { readLength: first[0] === 0x88 ? BLOCK : 32 });
      expect(again.status, `${who}: the unit attention is reported once`).toBe(0);
    }
    const cap = await s.readCapacity();
    expect(cap.lastLba).toBe(BigInt(newSize / BLOCK - 1));
    expect(cap.blockSize).toBe(BLOCK);
    expect((await other.readCapacity()).lastLba).toBe(BigInt(newSize / BLOCK - 1));

    // Writes beyond the old end: right after it, across nothing old, and the new last MiB.
    const after = { atOldEnd: pattern(256 * 1024, 3), newTail: pattern(MiB, 4) };
    await s.write(oldSize / BLOCK, after.atOldEnd);
    await other.write(newSize / BLOCK - MiB / BLOCK, after.newTail);
    // Across the old end in one command.
    const across = pattern(128 * 1024, 5);
    const acrossLba = oldSize / BLOCK - 64;
    await s.write(acrossLba, across);
    await s.sync();

    const expected = Buffer.alloc(newSize);
    before.first.copy(expected, 0);
    before.tail.copy(expected, oldSize - MiB);
    after.atOldEnd.copy(expected, oldSize);
    after.newTail.copy(expected, newSize - MiB);
    across.copy(expected, acrossLba * BLOCK);
    const check = async (sess: typeof s, who: string) => {
      for (const [off, len] of [
        [0, 64 * 1024],
        [oldSize - 2 * MiB, 4 * MiB],
        [newSize - 2 * MiB, 2 * MiB],
        [100 * MiB, MiB], // never written: zeros
      ] as const) {
        const got = await sess.read(off / BLOCK, len / BLOCK);
        expect(got.equals(expected.subarray(off, off + len)), `${who}: ${len} bytes at ${off}`).toBe(true);
      }
      const beyond = await sess.raw(cdb16.read16(newSize / BLOCK - 1, 2), { readLength: 2 * BLOCK });
      expect(parseSense(beyond.sense), `${who}: READ across the new end`).toMatchObject({ key: 5, asc: 0x21 });
    };
    await check(s, 'session A');
    await check(other, 'session B');
    await s.close();
    await other.close();
    const fresh = await openSession(port, iqn, 3, { initiatorName: 'iqn.2024-01.org.e2e:grow-c', isid: 3 });
    expect((await fresh.readCapacity()).lastLba).toBe(BigInt(newSize / BLOCK - 1));
    await check(fresh, 'new session');
    await fresh.close();

    expect(await lunInfo(env, iqn, 3)).toMatchObject({ sizeBytes: newSize, format });
    expect((await lunLine(env, iqn, 3)).size).toBe('160M');

    await env.ok(['stop', '-t', iqn]);
    await env.waitStatus(iqn, 'stopped');
    const image = env.targetFile(iqn, `lun-3.${format}`);
    const info = JSON.parse((await qemuImg(['info', '--output=json', '-f', format, image])).stdout) as { 'virtual-size': number };
    expect(info['virtual-size']).toBe(newSize);
    if (format === 'qcow2') await qemuCheck(image);
    const out = path.join(env.dir, `grow-${format}.raw`);
    expect((await qemuImg(['convert', '-f', format, '-O', 'raw', image, out])).code).toBe(0);
    expect(fs.readFileSync(out).equals(expected), 'qemu-img convert of the grown image').toBe(true);
    fs.rmSync(out);
  });
  it('grows under writes in flight: none fails, exactly one unit attention, every write reads back', async () => {
    const { iqn, port } = await createTarget(env, 'growbusy');
    await env.ok(['lun-add', '-t', iqn, '-l', '0', '-s', '32M']);
    await env.ok(['start', '-t', iqn]);
    const s = await openSession(port, iqn, 0);
    const WORKERS = 16;
    const SLOT = 64 * 1024;
    const slots = (32 * MiB) / SLOT;
    const last = new Map<number, number>();
    let stop = false;
    let uas = 0;
    let writes = 0;
    const worker = async (w: number) => {
      for (let k = 0; !stop; k++) {
        const slot = w + WORKERS * (k % (slots / WORKERS));
        const seed = (w << 20) + k + 1;
        const lba = (slot * SLOT) / BLOCK;
        for (;;) {
          const r = await s.raw(cdb16.write16(lba, SLOT / BLOCK), { dataOut: pattern(SLOT, seed) });
          if (r.status === 0) break;
          const sense = parseSense(r.sense);
          if (r.status !== 2 || sense?.key !== 6 || sense.asc !== 0x2a || sense.ascq !== 0x09) {
            throw new Error(`WRITE(16) during lun-grow: status ${r.status} sense ${r.sense?.toString('hex')}`);
          }
          uas++;
        }
        writes++;
        last.set(slot, seed);
      }
    };
    const work = Promise.all(Array.from({ length: WORKERS }, (_, w) => worker(w)));
    await new Promise((r) => setTimeout(r, 300));
    const before = writes;
    await env.ok(['lun-grow', '-t', iqn, '-l', '0', '-s', '48M']);
    await new Promise((r) => setTimeout(r, 300));
    stop = true;
    await work;
    expect(before).toBeGreaterThan(0);
    expect(writes - before, 'writes completed after the grow started').toBeGreaterThan(0);
    expect(uas, 'CAPACITY DATA HAS CHANGED reported').toBe(1);
    expect((await s.readCapacity()).lastLba).toBe(BigInt((48 * MiB) / BLOCK - 1));
    for (const [slot, seed] of last) {
      expect((await s.read((slot * SLOT) / BLOCK, SLOT / BLOCK)).equals(pattern(SLOT, seed)), `slot ${slot}`).toBe(true);
    }
    await s.close();
  });
});
