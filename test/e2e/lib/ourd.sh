#!/usr/bin/env bash
# Start / stop OUR daemon (vstorage-iscsid) with one target and one LUN, on
# loopback only, with a private ISCSI_ROOT in /dev/shm.
#
# As a library:
#   source test/e2e/lib/ourd.sh
#   start_ourd 3261 3262          # 1+ portal ports; LUN size $OURD_LUN_SIZE
#   ... use "${OURD_URLS[@]}"     # iscsi://127.0.0.1:3261/$OURD_IQN/1, ...
#   stop_ourd
#
# As a command (manual debugging; stays up until Ctrl-C):
#   test/e2e/lib/ourd.sh run 3261 [3262...]
#
# Contract with the daemon and CLI (DESIGN.md; seeds/003 chapter 4.2):
#   npm run build
#   ISCSI_ROOT=R ISCSI_RUN_DIR=U ISCSI_STATE_DIR=S node dist/src/daemon/main.js &
#   node dist/tools/cli/main.js create -n NAME -a 127.0.0.1:P1 [-a 127.0.0.1:P2]
#        -> prints "IQN: iqn.2014-04.com.vstorage:NAME"
#   node dist/tools/cli/main.js lun-add -t IQN -l 1 -s SIZE
#   node dist/tools/cli/main.js start -t IQN
#   (stop: node dist/tools/cli/main.js stop -t IQN; then SIGTERM the daemon)
#
# Outputs (globals): OURD_PID OURD_IQN OURD_URLS[] OURD_PORTS[] OURD_DIR OURD_ERROR
#                    OURD_ROOT (= ISCSI_ROOT) OURD_LOG (daemon stdout+stderr)
# Settings (env):    OURD_NAME (default e2e)   OURD_LUN_SIZE (default 1G)
#                    OURD_LUN_FORMAT (lun-add --format: qcow2, the CLI's default, or raw)
#                    OURD_BLOCK_SIZE (logical block size, 512 default or 4096)
#                    OURD_PHYSICAL_BLOCK_SIZE (4096 for a 512e LUN)
#                    OURD_NO_BUILD=1 (skip `npm run build`)
#                    OURD_START_TIMEOUT (s, default 30)
#                    OURD_NODE (node binary, default node)
#                    OURD_DAEMON_ARGS (extra daemon args, word-split)
#                    OURD_DAEMON_JS, OURD_CLI_JS (entry points; default dist/...;
#                      selftest.sh points them at a mock that wraps tgtd)

_OURD_SH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=common.sh
source "$_OURD_SH_DIR/common.sh"

OURD_PID=""
OURD_ERROR=""
OURD_DIR=""
OURD_ROOT=""
OURD_LOG=""
OURD_IQN=""
OURD_URLS=()
OURD_PORTS=()
OURD_DAEMON_JS=${OURD_DAEMON_JS:-"$E2E_REPO_ROOT/dist/src/daemon/main.js"}
OURD_CLI_JS=${OURD_CLI_JS:-"$E2E_REPO_ROOT/dist/tools/cli/main.js"}

# A private config file (ISCSI_CONFIG) so /etc/vstorage/iscsi/config is not
# read, plus the three directories as environment variables (they override).
# Other ISCSI_* settings of the caller (e.g. ISCSI_LOG_LEVEL) pass through,
# except ISCSI_HOST_ID: each run gets its own host ID in ISCSI_STATE_DIR.
_ourd_env() {
    env -u ISCSI_HOST_ID ISCSI_CONFIG="$OURD_DIR/config" ISCSI_ROOT="$OURD_DIR/root" \
        ISCSI_RUN_DIR="$OURD_DIR/run" ISCSI_STATE_DIR="$OURD_DIR/state" "$@"
}

# ourd_cli ARGS... : run the project CLI against the daemon started here.
ourd_cli() {
    _ourd_env timeout 60 "${OURD_NODE:-node}" "$OURD_CLI_JS" "$@"
}

# ourd_build : `npm run build` unless OURD_NO_BUILD=1 (or already done once
# in this shell). Output goes to $1 (a log file).
ourd_build() {
    local log=$1
    [[ -n "${OURD_NO_BUILD:-}" || -n "${_OURD_BUILT:-}" ]] && return 0
    e2e_log "building the project (npm run build)"
    if ! (cd "$E2E_REPO_ROOT" && npm run build) >"$log" 2>&1; then
        e2e_err "npm run build failed; last lines of $log:"; tail -n 20 "$log" >&2
        return 1
    fi
    _OURD_BUILT=1
}

# _ourd_fail MESSAGE [LOG] : record why start_ourd failed (OURD_ERROR), show the
# tail of LOG, stop what was started, return 1.
_ourd_fail() {
    OURD_ERROR=$1
    e2e_err "$1"
    if [[ -n "${2:-}" && -s "$2" ]]; then e2e_err "last lines of $2:"; tail -n 30 "$2" >&2; fi
    stop_ourd
    return 1
}

# start_ourd PORT [PORT...]   (on failure: returns 1, reason in OURD_ERROR)
start_ourd() {
    OURD_ERROR=""
    local ports=("$@") p f timeout=${OURD_START_TIMEOUT:-30} i out
    local name=${OURD_NAME:-e2e} size=${OURD_LUN_SIZE:-1G}
    if [[ -n "$OURD_PID" ]]; then e2e_err "start_ourd: already running (pid $OURD_PID)"; return 1; fi
    if (( ${#ports[@]} == 0 )); then e2e_err "usage: start_ourd PORT [PORT...]"; return 1; fi
    for p in "${ports[@]}"; do
        if e2e_port_in_use "$p"; then e2e_err "start_ourd: port $p already in use"; return 1; fi
    done
    e2e_need_cmd "${OURD_NODE:-node}" || return 1

    OURD_DIR=$(e2e_tmpdir ourd) || return 1
    OURD_ROOT="$OURD_DIR/root"
    OURD_LOG="$OURD_DIR/daemon.log"
    OURD_PORTS=("${ports[@]}")
    mkdir -p "$OURD_DIR/root" "$OURD_DIR/run" "$OURD_DIR/state"
    printf '# written by test/e2e/lib/ourd.sh\nISCSI_ROOT=%s/root\nISCSI_RUN_DIR=%s/run\nISCSI_STATE_DIR=%s/state\n' \
        "$OURD_DIR" "$OURD_DIR" "$OURD_DIR" >"$OURD_DIR/config"

    local buildlog="$OURD_DIR/build.log"
    [[ -n "${E2E_LOG_DIR:-}" ]] && mkdir -p "$E2E_LOG_DIR" && buildlog="$E2E_LOG_DIR/build.log"
    ourd_build "$buildlog" || { _ourd_fail "npm run build failed (log: $buildlog)"; return 1; }
    for f in "$OURD_DAEMON_JS" "$OURD_CLI_JS"; do
        [[ -f "$f" ]] || { _ourd_fail "$f missing (build it: npm run build)"; return 1; }
    done

    # exec: $! must be node itself (signals, /proc/PID/stat), not a subshell.
    # shellcheck disable=SC2086
    # setpriv --pdeathsig TERM: the daemon is told to stop if this shell dies.
    ( exec "${_E2E_PDEATH_TERM[@]}" env -u ISCSI_HOST_ID ISCSI_CONFIG="$OURD_DIR/config" ISCSI_ROOT="$OURD_DIR/root" \
        ISCSI_RUN_DIR="$OURD_DIR/run" ISCSI_STATE_DIR="$OURD_DIR/state" \
        "${OURD_NODE:-node}" "$OURD_DAEMON_JS" ${OURD_DAEMON_ARGS:-} ) >"$OURD_LOG" 2>&1 </dev/null &
    OURD_PID=$!

    # Ready when its control socket ISCSI_RUN_DIR/vstorage-iscsid.sock exists
    # (src/cluster/config.ts CONTROL_SOCKET_NAME) and `list` answers.
    local ready=0 sock="$OURD_DIR/run/vstorage-iscsid.sock"
    for (( i = 0; i < timeout * 5; i++ )); do
        if ! kill -0 "$OURD_PID" 2>/dev/null; then break; fi
        if [[ -S "$sock" ]] && ourd_cli list >/dev/null 2>&1; then ready=1; break; fi
        sleep 0.2
    done
    if (( ! ready )); then
        if kill -0 "$OURD_PID" 2>/dev/null; then
            _ourd_fail "our daemon (pid $OURD_PID) did not open $sock (or answer 'list') within ${timeout}s" "$OURD_LOG"
        else
            _ourd_fail "our daemon exited during startup" "$OURD_LOG"
        fi
        return 1
    fi

    local aargs=()
    for p in "${ports[@]}"; do aargs+=(-a "$E2E_HOST:$p"); done
    if ! out=$(ourd_cli create -n "$name" "${aargs[@]}" 2>&1); then
        _ourd_fail "cli create failed: $out" "$OURD_LOG"; return 1
    fi
    OURD_IQN=$(sed -n 's/^[[:space:]]*IQN:[[:space:]]*\(iqn\.[^[:space:]]*\).*/\1/p' <<<"$out" | head -n 1)
    [[ -n "$OURD_IQN" ]] || OURD_IQN=$(grep -o 'iqn\.[^[:space:]]*' <<<"$out" | head -n 1)
    [[ -n "$OURD_IQN" ]] || OURD_IQN="iqn.2014-04.com.vstorage:$name"
    if ! out=$(ourd_cli lun-add -t "$OURD_IQN" -l 1 -s "$size" ${OURD_LUN_FORMAT:+--format "$OURD_LUN_FORMAT"} --block-size "${OURD_BLOCK_SIZE:-512}" ${OURD_PHYSICAL_BLOCK_SIZE:+--physical-block-size "$OURD_PHYSICAL_BLOCK_SIZE"} 2>&1); then
        _ourd_fail "cli lun-add failed: $out" "$OURD_LOG"; return 1
    fi
    if ! out=$(ourd_cli start -t "$OURD_IQN" 2>&1); then
        _ourd_fail "cli start failed: $out" "$OURD_LOG"; return 1
    fi
    OURD_URLS=()
    for p in "${ports[@]}"; do
        if ! e2e_wait_port "$p" "$timeout" "$OURD_PID"; then
            _ourd_fail "our daemon is not listening on $E2E_HOST:$p" "$OURD_LOG"; return 1
        fi
        OURD_URLS+=("iscsi://$E2E_HOST:$p/$OURD_IQN/1")
    done
    e2e_log "our daemon pid $OURD_PID serving $OURD_IQN LUN 1 ($size) on port(s) ${ports[*]}, ISCSI_ROOT=$OURD_ROOT"
}

# stop_ourd : stop the target, then the daemon (TERM, then KILL after 10 s).
# Safe to call when nothing runs.
stop_ourd() {
    [[ -z "$OURD_PID" && -z "$OURD_DIR" ]] && return 0
    if [[ -n "$OURD_PID" ]] && kill -0 "$OURD_PID" 2>/dev/null; then
        if [[ -n "$OURD_IQN" ]]; then
            _ourd_env timeout 10 "${OURD_NODE:-node}" "$OURD_CLI_JS" stop -t "$OURD_IQN" >/dev/null 2>&1 || true
        fi
        e2e_kill "$OURD_PID" 10
    elif [[ -n "$OURD_PID" ]]; then
        wait "$OURD_PID" 2>/dev/null || true
    fi
    if [[ -n "$OURD_DIR" ]]; then
        if [[ -n "${E2E_LOG_DIR:-}" && -f "$OURD_LOG" ]]; then
            mkdir -p "$E2E_LOG_DIR" && cp "$OURD_LOG" "$E2E_LOG_DIR/ourd.log" 2>/dev/null
        fi
        [[ -n "${E2E_KEEP:-}" ]] || rm -rf "$OURD_DIR"
    fi
    OURD_PID=""; OURD_DIR=""; OURD_ROOT=""; OURD_IQN=""; OURD_URLS=(); OURD_PORTS=()
}

# stop_ourd_check : stop_ourd (target stopped, daemon TERMed: a clean close),
# then `qemu-img check` every qcow2 LUN image it served
# (ISCSI_ROOT/targets/*/lun-*.qcow2). Returns 1 if a check reports
# corruption, leaked clusters (a cleanly closed image has none; set
# OURD_CHECK_ALLOW_LEAKS=1 to accept them), or cannot run. Prints one line per
# image; full output in $E2E_LOG_DIR/qemu-img-check.log when E2E_LOG_DIR is set.
stop_ourd_check() {
    local dir=$OURD_DIR keep=${E2E_KEEP:-} rc=0 img out crc n=0 log=/dev/null
    if [[ -z "$dir" ]]; then stop_ourd; return 0; fi
    E2E_KEEP=1 stop_ourd
    [[ -n "${E2E_LOG_DIR:-}" ]] && mkdir -p "$E2E_LOG_DIR" && log="$E2E_LOG_DIR/qemu-img-check.log"
    if ! e2e_need_cmd qemu-img; then [[ -n "$keep" ]] || rm -rf "$dir"; return 1; fi
    local imgs=()
    mapfile -t imgs < <(find "$dir/root/targets" -name 'lun-*.qcow2' -type f 2>/dev/null | sort)
    for img in "${imgs[@]}"; do
        n=$(( n + 1 ))
        out=$(qemu-img check "$img" 2>&1); crc=$?
        printf '$ qemu-img check %s\n%s\n(exit %s)\n' "$img" "$out" "$crc" >>"$log"
        case $crc in
            0) e2e_log "qemu-img check ${img#"$dir/root/"}: no errors" ;;
            3) if [[ -n "${OURD_CHECK_ALLOW_LEAKS:-}" ]]; then
                   e2e_log "qemu-img check ${img#"$dir/root/"}: leaked clusters (allowed): $(grep -i leak <<<"$out" | tail -n 1)"
               else
                   e2e_err "qemu-img check ${img#"$dir/root/"}: leaked clusters after a clean shutdown:"; printf '%s\n' "$out" >&2; rc=1
               fi ;;
            *) e2e_err "qemu-img check ${img#"$dir/root/"} exit $crc:"; printf '%s\n' "$out" >&2; rc=1 ;;
        esac
    done
    (( n > 0 )) || e2e_log "stop_ourd_check: no qcow2 LUN images under $dir/root/targets"
    [[ -n "$keep" ]] || rm -rf "$dir"
    return "$rc"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    set -euo pipefail
    case "${1:-}" in
        run)
            shift
            e2e_on_exit stop_ourd
            start_ourd "$@"
            printf '%s\n' "${OURD_URLS[@]}"
            e2e_log "our daemon running; Ctrl-C to stop"
            wait "$OURD_PID" || true
            ;;
        *)
            echo "usage: $0 run PORT [PORT...]" >&2; exit 2 ;;
    esac
fi
