#!/usr/bin/env bash
# All end-to-end suites against the built daemon, each one a stage that passes
# or fails on its own; prints one summary line at the end.
set -uo pipefail
cd "$(dirname "$0")/../.."
export E2E_LOG_DIR=${E2E_LOG_DIR:-/tmp/e2e-logs}
mkdir -p "$E2E_LOG_DIR"

passed=0 failed=0 failures=()
stage() {
  local name=$1; shift
  printf '\n---- e2e stage: %s\n' "$name"
  local t0=$SECONDS
  if "$@"; then
    passed=$((passed + 1)); echo "---- $name: PASS ($((SECONDS - t0)) s)"
  else
    failed=$((failed + 1)); failures+=("$name"); echo "---- $name: FAIL ($((SECONDS - t0)) s)"
  fi
}

stage "libiscsi conformance (iscsi-test-cu -d -v -t ALL, two portals)" bash test/e2e/libiscsi/run-ours.sh
stage "libiscsi conformance on a 4096-byte-block LUN" env OURD_BLOCK_SIZE=4096 OURD_NO_BUILD=1 bash test/e2e/libiscsi/run-ours.sh
for t in ALL.CompareAndWrite.InvalidDataOutSize ALL.WriteSame10 ALL.WriteSame16; do
  stage "libiscsi $t on a 512e LUN (tests that need LBPPB > 1; none may skip)" \
    env OURD_PHYSICAL_BLOCK_SIZE=4096 OURD_NO_BUILD=1 OURD_EXPECTATIONS=test/e2e/libiscsi/expectations-512e.txt \
    bash test/e2e/libiscsi/run-ours.sh -t "$t"
done
stage "SCSI layer conformance incl. a 512e LUN (libiscsi via test mini target)" env SCSI_LIBISCSI=1 npx vitest run test/scsi/conformance
stage "qemu-img convert round trip (256 MiB)" bash test/e2e/qemu-img/convert-roundtrip.sh ours
stage "qcow2 store: 20 kill -9 crashes checked by qemu-img, conformance on a qcow2 LUN" npx vitest run --config vitest.e2e.config.ts test/e2e/qcow2
stage "LUN snapshots over iSCSI on a running target (create under I/O, switch, delete with merges; qemu-img)" npx vitest run --config vitest.e2e.config.ts test/e2e/snapshots
stage "thin LUNs: adopt qcow2/raw images, 1 GiB written + UNMAP on 100 GiB, 20 daemon kill -9 under QD32, online lun-grow" npx vitest run --config vitest.e2e.config.ts test/e2e/thin
stage "hostile input" npx vitest run --config vitest.e2e.config.ts test/e2e/hostile
stage "two nodes on one ISCSI_ROOT (register/unregister, remote, access lists, 50 parallel commands)" npx vitest run --config vitest.e2e.config.ts test/e2e/nodes
stage "Linux kernel initiator in a VM" npx vitest run --config vitest.e2e.config.ts test/e2e/kernel-initiator
# The VM image now exists: multipath-tools itself checks the generated multipath.conf.
stage "host-config checked by the VM image's multipath-tools" npx vitest run test/host-attach
stage "persistent reservations (kill -9, move to another daemon, sg_persist failover from a VM)" npx vitest run --config vitest.e2e.config.ts test/e2e/pr
stage "dm-multipath + ALUA in a VM (two portals, portal down/up and standby under fio)" npx vitest run --config vitest.e2e.config.ts test/e2e/multipath

echo
[ ${#failures[@]} -gt 0 ] && printf 'failed stage: %s\n' "${failures[@]}"
echo "e2e: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
