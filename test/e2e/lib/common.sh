# shellcheck shell=bash
# Shared helpers for the e2e harnesses (sourced, never executed).
#
#   source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
#
# Everything here stays on loopback (127.0.0.1).

if [[ -n "${_E2E_COMMON_SH:-}" ]]; then return 0; fi
_E2E_COMMON_SH=1

E2E_LIB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
E2E_DIR="$(cd "$E2E_LIB_DIR/.." && pwd)"
E2E_REPO_ROOT="$(cd "$E2E_DIR/../.." && pwd)"
E2E_HOST=127.0.0.1
# tgtd, tgtadm live in /usr/sbin, which a non-root PATH may lack.
case ":$PATH:" in *:/usr/sbin:*) ;; *) PATH="$PATH:/usr/sbin:/sbin" ;; esac

e2e_log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
e2e_err() { printf '[%s] ERROR: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# e2e_need_cmd CMD... : fail (return 1) with a hint when a tool is missing.
e2e_need_cmd() {
    local c missing=0
    for c in "$@"; do
        if ! command -v "$c" >/dev/null 2>&1 && [[ ! -x "/usr/sbin/$c" ]]; then
            e2e_err "'$c' not found; run test/e2e/lib/install-deps.sh (as root)"
            missing=1
        fi
    done
    return "$missing"
}

# e2e_port_in_use PORT : true when something listens on TCP PORT (any address).
e2e_port_in_use() {
    local port=$1
    if command -v ss >/dev/null 2>&1; then
        [[ -n "$(ss -Hltn "sport = :$port" 2>/dev/null)" ]]
    else
        (exec 3<>"/dev/tcp/$E2E_HOST/$port") 2>/dev/null
    fi
}

# e2e_free_ports N : print N distinct free TCP ports (one per line) from a
# random range, so parallel runs and a system target on 3260 never collide.
e2e_free_ports() {
    local n=$1 got=() p tries=0
    while (( ${#got[@]} < n )); do
        (( tries++ > 1000 )) && { e2e_err "no free TCP port found"; return 1; }
        p=$(( 20000 + RANDOM % 30000 ))
        [[ " ${got[*]} " == *" $p "* ]] && continue
        e2e_port_in_use "$p" && continue
        got+=("$p")
    done
    printf '%s\n' "${got[@]}"
}

# e2e_wait_port PORT TIMEOUT_S [PID] : wait until 127.0.0.1:PORT accepts TCP
# connections. Returns 1 on timeout or when PID (if given) has exited.
e2e_wait_port() {
    local port=$1 timeout=$2 pid=${3:-} deadline
    deadline=$(( $(date +%s) + timeout ))
    while :; do
        if (exec 3<>"/dev/tcp/$E2E_HOST/$port") 2>/dev/null; then return 0; fi
        if [[ -n "$pid" ]] && ! kill -0 "$pid" 2>/dev/null; then return 1; fi
        (( $(date +%s) >= deadline )) && return 1
        sleep 0.1
    done
}

# e2e_wait_exit PID TIMEOUT_S : wait for PID to exit; true if it did.
e2e_wait_exit() {
    local pid=$1 timeout=$2 i
    for (( i = 0; i < timeout * 10; i++ )); do
        kill -0 "$pid" 2>/dev/null || return 0
        # Reap it if it is our child and already a zombie.
        if [[ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" == Z ]]; then
            wait "$pid" 2>/dev/null || true
            return 0
        fi
        sleep 0.1
    done
    ! kill -0 "$pid" 2>/dev/null
}

# e2e_kill PID [GRACE_S] : TERM, wait GRACE_S (default 5), then KILL; reap.
e2e_kill() {
    local pid=$1 grace=${2:-5}
    [[ -z "$pid" ]] && return 0
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    kill -TERM "$pid" 2>/dev/null || true
    if ! e2e_wait_exit "$pid" "$grace"; then
        kill -KILL "$pid" 2>/dev/null || true
        e2e_wait_exit "$pid" 5 || e2e_err "process $pid does not die"
    fi
    wait "$pid" 2>/dev/null || true
}

# e2e_cpu_ticks PID : utime+stime of the whole process (all threads) in clock
# ticks, from /proc/PID/stat fields 14 and 15 (comm may contain spaces).
e2e_cpu_ticks() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    # after "pid (comm) " the fields start at 3 (state): utime=14 -> index 12
    awk '{ print $12 + $13 }' <<<"$stat"
}

e2e_clk_tck() { getconf CLK_TCK 2>/dev/null || echo 100; }

# e2e_tmpdir PREFIX : a fresh directory in /dev/shm (tmpfs), else in /tmp.
e2e_tmpdir() {
    local base=/dev/shm
    [[ -d $base && -w $base ]] || base=${TMPDIR:-/tmp}
    mktemp -d "$base/$1.XXXXXX"
}

# e2e_log_dir NAME : where a run keeps its logs (created): $E2E_LOG_DIR/NAME if
# E2E_LOG_DIR is set (e.g. a CI artifacts directory), else a fresh
# /tmp/e2e-logs/NAME-<timestamp>-<pid>.
e2e_log_dir() {
    local d
    if [[ -n "${E2E_LOG_DIR:-}" ]]; then
        d="$E2E_LOG_DIR/$1"
    else
        d="/tmp/e2e-logs/$1-$(date +%Y%m%d-%H%M%S)-$$"
    fi
    mkdir -p "$d" && printf '%s\n' "$d"
}

# e2e_on_exit CMD : run CMD (a function name) when the script exits, also on
# Ctrl-C / SIGTERM. Further INT/TERM are ignored while CMD runs, so a second
# signal cannot cut the cleanup short and leave a target running.
e2e_on_exit() {
    # shellcheck disable=SC2064
    trap "trap '' INT TERM; $1" EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

# Prefix that makes a started process receive SIGKILL (_E2E_PDEATH) or SIGTERM
# (_E2E_PDEATH_TERM) when the shell that started it dies (util-linux setpriv;
# empty when setpriv is missing). Note: with `cmd &`, the parent is this shell.
if command -v setpriv >/dev/null 2>&1 && setpriv --pdeathsig KILL true 2>/dev/null; then
    _E2E_PDEATH=(setpriv --pdeathsig KILL)
    _E2E_PDEATH_TERM=(setpriv --pdeathsig TERM)
else
    _E2E_PDEATH=()
    _E2E_PDEATH_TERM=()
fi
