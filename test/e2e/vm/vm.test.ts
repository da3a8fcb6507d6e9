// Tests of the VM harness itself: boot, environment, exit status, results,
// timeout, the guest's tools, and (when tgt is installed) a full run against tgt.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { guestScript, qemuAvailable, runInVm, VM_DIR } from './vm.js';

const isRoot = process.getuid?.() === 0;
// Without qemu the image builder installs it, which needs root.
const canRun = qemuAvailable() || isRoot;
const hasTgt = spawnSync('sh', ['-c', 'command -v tgtd && command -v tgtadm'], { stdio: 'ignore' }).status === 0;

describe.skipIf(!canRun)('e2e VM harness', () => {
  it('boots, passes env, reports results and the exit status', async () => {
    const r = await runInVm({
      timeoutMs: 180_000,
      env: { GREETING: "it's ok", N: 7 },
      script: guestScript(`
        echo "greeting=$GREETING"
        result greeting "$GREETING"
        for t in iscsiadm iscsid multipath multipathd sg_inq sg_persist fio mkfs.ext4 sha256sum udevadm dmsetup; do
          command -v $t >/dev/null || fail "missing $t"
        done
        pidof iscsid >/dev/null || fail "iscsid not running"
        ip -4 addr show eth0 | grep -q 10.0.2.15 || fail "no network"
        for m in iscsi_tcp dm_multipath scsi_dh_alua ext4; do
          grep -q "^$m " /proc/modules || fail "module $m not loaded"
        done
        fio --enghelp | grep -qw libaio || fail "fio has no libaio"
        # chap_algs is a node setting of this open-iscsi (2.1.8)
        iscsi_node_new 10.0.2.2:3260 iqn.2000-01.test:x
        iscsi_node_set 10.0.2.2:3260 iqn.2000-01.test:x node.session.auth.chap_algs SHA3-256,SHA256,SHA1,MD5 || fail chap_algs
        result chap_algs "$(iscsiadm -m node -T iqn.2000-01.test:x -p 10.0.2.2:3260 | sed -n 's/^node.session.auth.chap_algs = //p')"
        exit $N
      `),
    });
    expect(r.timedOut).toBe(false);
    expect(r.exitCode).toBe(7);
    expect(r.output).toContain("greeting=it's ok");
    expect(r.results.greeting).toBe("it's ok");
    expect(r.results.chap_algs).toBe('SHA3-256,SHA256,SHA1,MD5');
  });

  it('kills a VM that overruns its timeout', async () => {
    const r = await runInVm({ timeoutMs: 40_000, script: 'echo sleeping; sleep 600' });
    expect(r.timedOut).toBe(true);
    expect(r.exitCode).toBeNull();
    expect(r.runnerStatus).toBe(124);
    expect(r.output).toContain('sleeping');
  });

  it.skipIf(!hasTgt || !isRoot)('runs the smoke, multipath and CHAP scenarios against tgt', () => {
    const p = spawnSync('bash', [join(VM_DIR, 'tgt-check.sh'), '-q'], { encoding: 'utf8', timeout: 900_000 });
    if (p.status !== 0) console.error(p.stdout, p.stderr);
    expect(p.status).toBe(0);
  });
});
