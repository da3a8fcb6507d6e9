#!/usr/bin/env bash
# Start / stop a private tgtd (the reference C target, package "tgt") bound to
# loopback only, with one target and one disk LUN backed by a file.
#
# As a library:
#   source test/e2e/lib/tgt.sh
#   start_tgt /dev/shm/lun.img 3261 3262   # backing file, then 1+ portal ports
#   ... use "${TGT_URLS[@]}"  (iscsi://127.0.0.1:3261/$TGT_IQN/1, ...)
#   stop_tgt
#
# As a command (manual debugging; stays up until Ctrl-C):
#   test/e2e/lib/tgt.sh run /dev/shm/lun.img 3261 [3262...]
#
# Isolation from a system tgtd: tgtd and tgtadm talk over a UNIX socket named
# "$TGT_IPC_SOCKET.<control port>" (default /var/run/tgtd/socket.0). We point
# TGT_IPC_SOCKET into a private directory (and derive the control port, which
# tgtd limits to a small number, from the first portal port), so neither the
# socket nor the iSCSI port can collide with a system tgtd or another run.
# The "control port" is only a socket-name suffix, not a TCP port.
# `tgtd --iscsi portal=127.0.0.1:PORT` listens on that address only (without
# it tgtd listens on 0.0.0.0:3260 and [::]:3260); further portals are added
# with `tgtadm --mode portal --op new`.
#
# Outputs (globals): TGT_PID TGT_IQN TGT_URLS[] TGT_PORTS[] TGT_DIR TGT_LOG
# Settings (env):    TGT_IQN  (default iqn.2024-01.org.vstorage-iscsi.e2e:tgt)
#                    TGT_BSOFLAGS (e.g. "direct" or "sync"; default none)
#                    TGT_START_TIMEOUT (s, default 15)

_TGT_SH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=common.sh
source "$_TGT_SH_DIR/common.sh"

TGT_PID=""
TGT_DIR=""
TGT_LOG=""
TGT_URLS=()
TGT_PORTS=()
_TGT_CTL=""

tgt_adm() {
    TGT_IPC_SOCKET="$TGT_DIR/socket" tgtadm -C "$_TGT_CTL" "$@"
}

# start_tgt BACKING_FILE PORT [PORT...]
start_tgt() {
    local file=$1; shift
    local ports=("$@") p timeout=${TGT_START_TIMEOUT:-15} i
    if [[ -n "$TGT_PID" ]]; then e2e_err "start_tgt: already running (pid $TGT_PID)"; return 1; fi
    if [[ -z "$file" || ${#ports[@]} -eq 0 ]]; then
        e2e_err "usage: start_tgt BACKING_FILE PORT [PORT...]"; return 1
    fi
    if [[ ! -f "$file" ]]; then e2e_err "start_tgt: backing file $file does not exist"; return 1; fi
    e2e_need_cmd tgtd tgtadm || return 1
    for p in "${ports[@]}"; do
        if e2e_port_in_use "$p"; then e2e_err "start_tgt: port $p already in use"; return 1; fi
    done

    TGT_IQN=${TGT_IQN:-iqn.2024-01.org.vstorage-iscsi.e2e:tgt}
    TGT_DIR=$(mktemp -d "${TMPDIR:-/tmp}/e2e-tgt.XXXXXX") || return 1
    TGT_LOG="$TGT_DIR/tgtd.log"
    TGT_PORTS=("${ports[@]}")
    # -C accepts a small number; the socket directory is private anyway.
    _TGT_CTL=$(( ports[0] % 30000 + 1 ))

    # setpriv --pdeathsig: tgtd dies with this shell even if the shell is killed
    # before it can run stop_tgt (never a leftover tgtd holding a port).
    TGT_IPC_SOCKET="$TGT_DIR/socket" "${_E2E_PDEATH[@]}" tgtd -f -C "$_TGT_CTL" \
        --iscsi "portal=$E2E_HOST:${ports[0]}" >"$TGT_LOG" 2>&1 </dev/null &
    TGT_PID=$!

    # Wait for the management socket.
    for (( i = 0; i < timeout * 10; i++ )); do
        if tgt_adm --mode system --op show >/dev/null 2>&1; then break; fi
        if ! kill -0 "$TGT_PID" 2>/dev/null; then break; fi
        sleep 0.1
    done
    if ! tgt_adm --mode system --op show >/dev/null 2>&1; then
        e2e_err "tgtd did not come up; log $TGT_LOG:"; tail -n 20 "$TGT_LOG" >&2
        stop_tgt; return 1
    fi

    for p in "${ports[@]:1}"; do
        tgt_adm --lld iscsi --mode portal --op new --param "portal=$E2E_HOST:$p" ||
            { e2e_err "tgtadm: cannot add portal $p"; stop_tgt; return 1; }
    done
    local lunopts=()
    [[ -n "${TGT_BSOFLAGS:-}" ]] && lunopts+=(--bsoflags "$TGT_BSOFLAGS")
    if ! tgt_adm --lld iscsi --mode target --op new --tid 1 --targetname "$TGT_IQN" ||
       ! tgt_adm --lld iscsi --mode logicalunit --op new --tid 1 --lun 1 \
            --backing-store "$file" "${lunopts[@]}" ||
       ! tgt_adm --lld iscsi --mode target --op bind --tid 1 --initiator-address ALL; then
        e2e_err "tgtadm: cannot create target/LUN"; stop_tgt; return 1
    fi
    TGT_URLS=()
    for p in "${ports[@]}"; do
        e2e_wait_port "$p" "$timeout" "$TGT_PID" ||
            { e2e_err "tgtd is not listening on $E2E_HOST:$p"; stop_tgt; return 1; }
        TGT_URLS+=("iscsi://$E2E_HOST:$p/$TGT_IQN/1")
    done
    e2e_log "tgtd pid $TGT_PID serving $file as $TGT_IQN LUN 1 on port(s) ${ports[*]}"
}

# stop_tgt : graceful shutdown (delete target, delete system), then signals.
# Safe to call when nothing runs.
stop_tgt() {
    [[ -z "$TGT_PID" && -z "$TGT_DIR" ]] && return 0
    if [[ -n "$TGT_PID" ]] && kill -0 "$TGT_PID" 2>/dev/null; then
        tgt_adm --lld iscsi --mode target --op delete --force --tid 1 >/dev/null 2>&1 || true
        tgt_adm --mode system --op delete >/dev/null 2>&1 || true
        # tgtd ignores SIGTERM while it has work; e2e_kill escalates to KILL.
        if ! e2e_wait_exit "$TGT_PID" 5; then e2e_kill "$TGT_PID" 2; fi
        wait "$TGT_PID" 2>/dev/null || true
    fi
    if [[ -n "$TGT_DIR" ]]; then
        if [[ -n "${E2E_LOG_DIR:-}" && -f "$TGT_LOG" ]]; then
            mkdir -p "$E2E_LOG_DIR" && cp "$TGT_LOG" "$E2E_LOG_DIR/tgtd.log" 2>/dev/null
        fi
        [[ -n "${E2E_KEEP:-}" ]] || rm -rf "$TGT_DIR"
    fi
    TGT_PID=""; TGT_DIR=""; TGT_URLS=(); TGT_PORTS=()
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    set -euo pipefail
    case "${1:-}" in
        run)
            shift
            e2e_on_exit stop_tgt
            start_tgt "$@"
            printf '%s\n' "${TGT_URLS[@]}"
            e2e_log "tgtd running; Ctrl-C to stop"
            wait "$TGT_PID" || true
            ;;
        *)
            echo "usage: $0 run BACKING_FILE PORT [PORT...]" >&2; exit 2 ;;
    esac
fi
