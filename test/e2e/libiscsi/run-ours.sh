#!/usr/bin/env bash
# libiscsi conformance run against OUR daemon, checked against
# expectations.txt. Builds the project, starts the daemon with a private
# ISCSI_ROOT in /dev/shm, one target on two loopback portals, a 1 GiB LUN,
# runs run.sh, stops the daemon, then runs `qemu-img check` on every qcow2 LUN
# image (lun-add makes qcow2 by default): errors or leaked clusters after the
# clean shutdown fail the script (exit 1) even when run.sh passed.
#
#   test/e2e/libiscsi/run-ours.sh [run.sh options, e.g. -t ALL.Read10]
# Env: OURD_LUN_SIZE (default 1G), OURD_NO_BUILD=1, E2E_LOG_DIR,
#      LIBISCSI_TIMEOUT, LIBISCSI_ARGS
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/../lib/ourd.sh"

export E2E_LOG_DIR; E2E_LOG_DIR=$(e2e_log_dir libiscsi-ours) || exit 2  # under a preset E2E_LOG_DIR
e2e_on_exit stop_ourd

mapfile -t ports < <(e2e_free_ports 2) || exit 2
start_ourd "${ports[@]}" || { e2e_err "our daemon did not start; logs in $E2E_LOG_DIR"; exit 2; }
expect="${OURD_EXPECTATIONS:-$HERE/expectations.txt}"
if [[ "${OURD_BLOCK_SIZE:-512}" == 4096 ]]; then
    # Allowances that only hold on 4096-byte LUNs come first (first matching line wins).
    expect="$E2E_LOG_DIR/expectations-4096.effective.txt"
    cat "$HERE/expectations-4096.txt" "$HERE/expectations.txt" > "$expect"
fi
"$HERE/run.sh" -e "$expect" -o "$E2E_LOG_DIR" "$@" "${OURD_URLS[@]}"
rc=$?
# Stop the target and the daemon (clean close), then check the images.
stop_ourd_check || { e2e_err "qemu-img check of the LUN image(s) failed (log: $E2E_LOG_DIR/qemu-img-check.log)"; (( rc == 0 )) && rc=1; }
exit "$rc"
