/**
 * The Linux kernel initiator (open-iscsi + iscsi_tcp) in a QEMU VM against the
 * real daemon: discovery; login with no authentication, one-way CHAP and mutual
 * CHAP with every hash; a wrong secret refused; ext4 with checksums across a
 * logout/login; fio --verify=crc32c on the raw device; a 2-minute fio randrw
 * (4 KiB and 64 KiB) verify workload on a qcow2 LUN, then `qemu-img check` of
 * its image once the target is stopped.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { guestScript, runInVm } from '../vm/vm.js';
import { startDaemon, type DaemonHandle } from '../lib/daemon.js';

// The source document gives each target its own address; here, its own port.
const PORTS = { plain: 43300, chap: 43301, mutual: 43302, soak: 43303 } as const;
const portal = (name: keyof typeof PORTS) => `10.0.2.2:${PORTS[name]}`;
const CHAP_SECRET = 'initiator-secret-42';
const MUTUAL_SECRET = 'target-secret-4242';
const ALL_HASHES = 'SHA3-256 SHA256 SHA1 MD5';

let d: DaemonHandle;
const iqns: Record<string, string> = {};

async function cli(args: string[], input?: string): Promise<string> {
  const r = await d.cli(args, input);
  if (r.code !== 0) throw new Error(`vstorage-iscsi ${args.join(' ')} failed (${r.code}): ${r.stderr}${r.stdout}`);
  return r.stdout;
}

async function target(name: keyof typeof PORTS, extra: string[] = [], size = '256M'): Promise<string> {
  const out = await cli(['create', '-n', name, '-a', `127.0.0.1:${PORTS[name]}`, ...extra]);
  const iqn = /IQN: (\S+)/.exec(out)![1];
  await cli(['lun-add', '-t', iqn, '-l', '0', '-s', size]);
  await cli(['start', '-t', iqn]);
  return iqn;
}

function vm(script: string, env: Record<string, string>) {
  return runInVm({ script: guestScript(script), env, timeoutMs: 900_000, echo: process.env.VM_ECHO === '1' });
}

beforeAll(async () => {
  d = await startDaemon();
  await cli(['account-create', '-u', 'user1'], `${CHAP_SECRET}\n`);
  await cli(['account-create', '-u', 'tgtuser'], `${MUTUAL_SECRET}\n`);
  iqns.plain = await target('plain');
  iqns.chap = await target('chap', ['-u', 'user1']);
  iqns.mutual = await target('mutual', ['-u', 'user1', '--mutual-user', 'tgtuser']);
  iqns.soak = await target('soak', [], '1G');
}, 120_000);

afterAll(async () => {
  await d?.stop();
});

describe('Linux kernel initiator', () => {
  it('discovers, logs in without authentication, runs ext4 and fio verify', async () => {
    const r = await vm('sh /guest/smoke.sh', {
      VM_TARGET_PORTAL: portal('plain'),
      VM_TARGET_IQN: iqns.plain,
      VM_TARGET_LUN: '0',
      VM_TARGET_FIO_SIZE: '64M',
    });
    expect(r.timedOut, r.output.slice(-4000)).toBe(false);
    expect(r.exitCode, r.output.slice(-4000)).toBe(0);
    // Discovery listed every target on the portal.
    for (const iqn of Object.values(iqns)) expect(r.output).toContain(iqn);
  });

  it('runs fio randrw 4k+64k with crc32c verify for 2 minutes on a qcow2 LUN; qemu-img check finds no errors', async () => {
    const image = join(d.env.ISCSI_ROOT!, 'targets', iqns.soak, 'lun-0.qcow2');
    expect(existsSync(image), `${image} (lun-add makes qcow2 by default)`).toBe(true);
    const r = await vm('sh /guest/fio-soak.sh', {
      VM_TARGET_PORTAL: portal('soak'),
      VM_TARGET_IQN: iqns.soak,
      VM_TARGET_LUN: '0',
      VM_TARGET_FIO_SECONDS: '120',
    });
    expect(r.timedOut, r.output.slice(-4000)).toBe(false);
    expect(r.exitCode, r.output.slice(-4000)).toBe(0);
    expect(Number(r.results.fio_soak_ms), 'fio ran for its 2 minutes').toBeGreaterThanOrEqual(120_000);
    // Stop the target (the daemon closes the image), then check it.
    await cli(['stop', '-t', iqns.soak]);
    const info = spawnSync('qemu-img', ['info', '--output=json', image], { encoding: 'utf8' });
    expect(info.status, info.stderr).toBe(0);
    expect(JSON.parse(info.stdout).format).toBe('qcow2');
    const chk = spawnSync('qemu-img', ['check', '--output=json', image], { encoding: 'utf8' });
    const report = `qemu-img check exit ${chk.status}: ${chk.stdout}${chk.stderr}`;
    // 0: no errors and no leaks (a cleanly closed image); 2: corruption, 3: leaks.
    expect(chk.status, report).toBe(0);
    const j = JSON.parse(chk.stdout) as { 'check-errors': number; corruptions?: number; leaks?: number; 'allocated-clusters'?: number };
    expect(j['check-errors'], report).toBe(0);
    expect(j.corruptions ?? 0, report).toBe(0);
    expect(j.leaks ?? 0, report).toBe(0);
    expect(j['allocated-clusters'] ?? 0, 'fio wrote into the image').toBeGreaterThan(0);
  }, 900_000);

  it('logs in with one-way CHAP using each hash and refuses a wrong secret or no CHAP', async () => {
    const r = await vm('sh /guest/chap.sh', {
      VM_TARGET_PORTAL: portal('chap'),
      VM_TARGET_CHAP_IQN: iqns.chap,
      VM_TARGET_LUN: '0',
      VM_TARGET_CHAP_USER: 'user1',
      VM_TARGET_CHAP_SECRET: CHAP_SECRET,
      VM_TARGET_CHAP_ALGS_OK: `${ALL_HASHES} SHA3-256,SHA256,SHA1,MD5`,
    });
    expect(r.exitCode, r.output.slice(-4000)).toBe(0);
    for (const h of ALL_HASHES.split(' ')) expect(r.results[`chap_ok_${h}`]).toBe('pass');
    expect(r.results.chap_wrong_secret_refused).toBe('pass');
    expect(r.results.chap_none_refused).toBe('pass');
  });

  it('logs in with mutual CHAP using each hash and refuses a target that cannot prove itself', async () => {
    const r = await vm('sh /guest/chap.sh', {
      VM_TARGET_PORTAL: portal('mutual'),
      VM_TARGET_CHAP_IQN: iqns.mutual,
      VM_TARGET_LUN: '0',
      VM_TARGET_CHAP_USER: 'user1',
      VM_TARGET_CHAP_SECRET: CHAP_SECRET,
      VM_TARGET_CHAP_MUSER: 'tgtuser',
      VM_TARGET_CHAP_MSECRET: MUTUAL_SECRET,
      VM_TARGET_CHAP_ALGS_OK: ALL_HASHES,
    });
    expect(r.exitCode, r.output.slice(-4000)).toBe(0);
    for (const h of ALL_HASHES.split(' ')) expect(r.results[`chap_ok_${h}`]).toBe('pass');
    expect(r.results.chap_wrong_secret_refused).toBe('pass');
    expect(r.results.chap_wrong_mutual_refused).toBe('pass');
  });
});
