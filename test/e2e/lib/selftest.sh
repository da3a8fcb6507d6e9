#!/usr/bin/env bash
# Self-test of the e2e harnesses themselves, runnable before our daemon works:
#   1. parse.awk on a recorded CUnit log (fixtures/) gives the recorded verdicts
#   2. libiscsi against tgt matches tgt-reference.txt          (run-tgt.sh)
#   3. libiscsi through ourd.sh with a MOCK daemon (mock-ourd/, which serves
#      the LUN with a tgtd child) matches tgt-reference.txt     (run-ours.sh)
#   4. qemu-img round trip against tgt and against the mock
#   5. the bench with tgt and the mock (BENCH_SECONDS=3)
# The mock only proves the plumbing (start/stop, CLI contract, URLs, CPU
# accounting of the process tree); it says nothing about our target.
#
#   test/e2e/lib/selftest.sh          (about 2 minutes)
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
E2E="$(cd "$HERE/.." && pwd)"
REPO="$(cd "$E2E/../.." && pwd)"
source "$HERE/common.sh"

mock=(OURD_NO_BUILD=1 OURD_DAEMON_JS="$HERE/mock-ourd/daemon.mjs" OURD_CLI_JS="$HERE/mock-ourd/cli.mjs")
failed=()
step() { # NAME CMD...
    local name=$1; shift
    e2e_log "=== selftest: $name"
    if "$@"; then e2e_log "=== selftest: $name: ok"; else failed+=("$name"); e2e_err "selftest: $name FAILED"; fi
}

parser() {
    diff -u "$E2E/libiscsi/fixtures/cunit-sample.expected.tsv" \
        <(awk -f "$E2E/libiscsi/parse.awk" "$E2E/libiscsi/fixtures/cunit-sample.log")
}
# An expectations mismatch must fail the run: an empty file against tgt.
libiscsi_negative() {
    local empty; empty=$(mktemp)
    E2E_LOG_DIR='' "$E2E/libiscsi/run-tgt.sh" -e "$empty" -t ALL.GetLBAStatus >/dev/null 2>&1
    local rc=$?; rm -f "$empty"
    (( rc == 1 ))
}

step "parse.awk fixture" parser
step "libiscsi vs tgt" env E2E_LOG_DIR= "$E2E/libiscsi/run-tgt.sh"
step "libiscsi mismatch detected" libiscsi_negative
step "libiscsi via ourd.sh (mock)" env E2E_LOG_DIR= "${mock[@]}" "$E2E/libiscsi/run-ours.sh" -e "$E2E/libiscsi/tgt-reference.txt"
step "qemu-img roundtrip tgt" env E2E_LOG_DIR= "$E2E/qemu-img/convert-roundtrip.sh" tgt
step "qemu-img roundtrip ourd.sh (mock)" env E2E_LOG_DIR= "${mock[@]}" "$E2E/qemu-img/convert-roundtrip.sh" ours
step "bench tgt + mock" env E2E_LOG_DIR= BENCH_SECONDS=3 "${mock[@]}" "$REPO/tools/bench/qemu-img-bench.sh"

if (( ${#failed[@]} )); then
    e2e_err "selftest FAILED: ${failed[*]}"; exit 1
fi
e2e_log "selftest: all ok"
