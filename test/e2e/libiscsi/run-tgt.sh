#!/usr/bin/env bash
# libiscsi conformance run against tgt (reference C target), checked against
# tgt-reference.txt. Starts a private tgtd on two loopback portals with a
# 1 GiB LUN in /dev/shm, runs run.sh, stops tgtd.
#
#   test/e2e/libiscsi/run-tgt.sh [run.sh options, e.g. -t ALL.Read10]
# Env: LUN_SIZE (default 1G), E2E_LOG_DIR, LIBISCSI_TIMEOUT, LIBISCSI_ARGS
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/../lib/tgt.sh"

export E2E_LOG_DIR; E2E_LOG_DIR=$(e2e_log_dir libiscsi-tgt) || exit 2  # under a preset E2E_LOG_DIR
img=$(e2e_tmpdir e2e-libiscsi-tgt)/lun.img
cleanup() { stop_tgt; rm -rf "$(dirname "$img")"; }
e2e_on_exit cleanup

truncate -s "${LUN_SIZE:-1G}" "$img" || exit 2
mapfile -t ports < <(e2e_free_ports 2) || exit 2
start_tgt "$img" "${ports[@]}" || exit 2
"$HERE/run.sh" -e "$HERE/tgt-reference.txt" -o "$E2E_LOG_DIR" "$@" "${TGT_URLS[@]}"
