#!/usr/bin/env bash
# Side-by-side block I/O benchmark: tgt (the reference C target) and our
# daemon, in one run, each with a LUN backed by a file of the same size in
# /dev/shm, measured with QEMU's initiator (`qemu-img bench`).
#
#   npm run bench            (= scripts/bench.sh = this script)
#   tools/bench/qemu-img-bench.sh [-h]
#
# For each workload (4 KiB sequential read, then write, queue depth 32) and
# each target in turn (tgt, ours, tgt, ours, ... when BENCH_REPEAT > 1):
#   1. calibrate: short runs until one lasts >= 1 s, giving a rate estimate
#   2. measure:   qemu-img bench -f raw -t writeback -c COUNT -d 32 -s 4096 [-w] URL
#                 with COUNT = rate * BENCH_SECONDS, bounded by `timeout`;
#                 IOPS = COUNT / "Run completed in X seconds"
#   3. target CPU: utime+stime (/proc/PID/stat fields 14+15, all threads, summed
#                 over the target's process tree) before and after the run;
#                 CPU us per I/O = delta / COUNT
# Before measuring, every LUN is filled once with 1 MiB writes, so reads hit
# allocated data on thin images too.
#
# Our daemon is started by test/e2e/lib/ourd.sh (npm run build; daemon with
# ISCSI_ROOT in /dev/shm; CLI create / lun-add -s SIZE / start). If it cannot
# start or fails mid-run, tgt's numbers are still printed, ours are marked
# FAILED, and the exit status is 1.
#
# Env:
#   BENCH_SECONDS  target duration of each measured run (default 10)
#   BENCH_SIZE     LUN size for both targets (default 1G)
#   BENCH_DEPTH    queue depth (default 32)      BENCH_BS  I/O size (default 4096)
#   BENCH_REPEAT   measured runs per target and workload, median shown (default 1)
#   BENCH_TARGETS  "tgt ours" (default), or just "tgt" / "ours"
#   OURD_NO_BUILD=1  do not run `npm run build` first
#   E2E_LOG_DIR    where results.tsv and logs go (default /tmp/e2e-logs/bench-*)
# Exit: 0 all requested targets measured, 1 a target failed, 2 setup error.
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
# shellcheck source=../../test/e2e/lib/tgt.sh
source "$REPO/test/e2e/lib/tgt.sh"
# shellcheck source=../../test/e2e/lib/ourd.sh
source "$REPO/test/e2e/lib/ourd.sh"

if [[ "${1:-}" == -h || "${1:-}" == --help ]]; then
    sed -n '2,/^set -uo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0
fi

SECS=${BENCH_SECONDS:-10}
SIZE=${BENCH_SIZE:-1G}
DEPTH=${BENCH_DEPTH:-32}
BS=${BENCH_BS:-4096}
REPEAT=${BENCH_REPEAT:-1}
TARGETS=${BENCH_TARGETS:-tgt ours}
CLK_TCK=$(e2e_clk_tck)

e2e_need_cmd qemu-img timeout || exit 2
size_bytes=$(numfmt --from=iec "${SIZE%B}" 2>/dev/null) || { e2e_err "bad BENCH_SIZE $SIZE"; exit 2; }
(( size_bytes >= 1048576 && size_bytes % 1048576 == 0 )) ||
    { e2e_err "BENCH_SIZE must be a multiple of 1 MiB"; exit 2; }

export E2E_LOG_DIR; E2E_LOG_DIR=$(e2e_log_dir bench) || exit 2  # under a preset E2E_LOG_DIR
LOGDIR=$E2E_LOG_DIR
RESULTS="$LOGDIR/results.tsv"
printf 'target\tworkload\trep\tcount\tseconds\tiops\tcpu_us_per_io\tcpu_pct\tstatus\n' >"$RESULTS"
work=$(e2e_tmpdir bench) || exit 2

declare -A URL PID STATUS
cleanup() { stop_tgt; stop_ourd; rm -rf "$work"; }
e2e_on_exit cleanup

# CPU ticks (utime+stime) of PID and all its descendants.
tree_ticks() {
    local pid=$1 total=0 t c
    t=$(e2e_cpu_ticks "$pid") || return 1
    total=$t
    for c in $(pgrep -P "$pid" 2>/dev/null); do
        t=$(tree_ticks "$c") && total=$(( total + t ))
    done
    echo "$total"
}

# qbench NAME COUNT BS DEPTH RW(read|write) TIMEOUT -> prints the seconds
# qemu-img reports ("Run completed in X seconds."); output kept in the log.
qbench() {
    local name=$1 count=$2 bs=$3 depth=$4 rw=$5 tmo=$6 out secs
    local args=(bench -f raw -t writeback -c "$count" -d "$depth" -s "$bs")
    [[ $rw == write ]] && args+=(-w)
    echo "\$ qemu-img ${args[*]} ${URL[$name]}" >>"$LOGDIR/qemu-img-$name.log"
    out=$(timeout --kill-after=5 "$tmo" qemu-img "${args[@]}" "${URL[$name]}" 2>&1)
    local rc=$?
    printf '%s\n(exit %s)\n' "$out" "$rc" >>"$LOGDIR/qemu-img-$name.log"
    if (( rc != 0 )); then
        (( rc == 124 || rc == 137 )) && echo "timeout after ${tmo}s" || echo "qemu-img exit $rc: $(tail -n 1 <<<"$out")"
        return 1
    fi
    secs=$(sed -n 's/^Run completed in \([0-9.]*\) seconds.*/\1/p' <<<"$out")
    [[ -n "$secs" ]] || { echo "no 'Run completed' line"; return 1; }
    echo "$secs"
}

alive() { kill -0 "${PID[$1]}" 2>/dev/null; }

mark_failed() { # NAME REASON
    STATUS[$1]="FAILED: $2"
    e2e_err "$1: $2"
}

# ---- start the targets -------------------------------------------------------
for t in $TARGETS; do
    case $t in
        tgt)
            truncate -s "$size_bytes" "$work/tgt-lun.img" || exit 2
            mapfile -t ports < <(e2e_free_ports 1)
            if start_tgt "$work/tgt-lun.img" "${ports[@]}"; then
                URL[tgt]=${TGT_URLS[0]}; PID[tgt]=$TGT_PID; STATUS[tgt]=ok
            else
                STATUS[tgt]="FAILED: tgtd did not start"
            fi ;;
        ours)
            mapfile -t ports < <(e2e_free_ports 1)
            if OURD_LUN_SIZE=$size_bytes start_ourd "${ports[@]}"; then
                URL[ours]=${OURD_URLS[0]}; PID[ours]=$OURD_PID; STATUS[ours]=ok
            else
                STATUS[ours]="FAILED: our daemon did not start: ${OURD_ERROR:-see log} (logs: $LOGDIR)"
            fi ;;
        *) e2e_err "unknown target '$t' in BENCH_TARGETS"; exit 2 ;;
    esac
done

active() { local t; for t in $TARGETS; do [[ ${STATUS[$t]} == ok ]] && echo "$t"; done; }

# ---- precondition: write the whole LUN once with 1 MiB writes ---------------
for t in $(active); do
    e2e_log "$t: filling the ${SIZE} LUN with 1 MiB writes"
    if ! r=$(qbench "$t" $(( size_bytes / 1048576 )) 1048576 8 write 600); then
        mark_failed "$t" "fill: $r"
    fi
done

# ---- calibrate + measure -------------------------------------------------------
# calibrate NAME RW -> prints the I/O count for a ~BENCH_SECONDS run
calibrate() {
    local t=$1 rw=$2 c=2000 s
    while :; do
        s=$(qbench "$t" "$c" "$BS" "$DEPTH" "$rw" $(( SECS * 3 + 60 ))) || { echo "calibration: $s"; return 1; }
        if awk -v s="$s" 'BEGIN { exit !(s >= 1.0) }' || (( c >= 10000000 )); then break; fi
        # grow towards ~1.5 s, at most 10x per step
        c=$(awk -v c="$c" -v s="$s" 'BEGIN { f = (s > 0) ? 1.5 / s : 10; if (f > 10) f = 10; if (f < 2) f = 2; print int(c * f) }')
    done
    e2e_log "$t $rw: ~$(awk -v c="$c" -v s="$s" 'BEGIN { printf "%.0f", c / s }') IOPS while calibrating"
    awk -v c="$c" -v s="$s" -v d="$SECS" 'BEGIN { n = int(c / s * d); if (n < 1000) n = 1000; print n }'
}

declare -A COUNT
for rw in read write; do
    for (( rep = 1; rep <= REPEAT; rep++ )); do
        for t in $(active); do
            if ! alive "$t"; then mark_failed "$t" "target process exited"; continue; fi
            if [[ -z "${COUNT[$t,$rw]:-}" ]]; then
                if ! r=$(calibrate "$t" "$rw"); then mark_failed "$t" "$rw $r"; continue; fi
                COUNT[$t,$rw]=$r
            fi
            count=${COUNT[$t,$rw]}
            e2e_log "$t $rw #$rep: $count x $BS B, depth $DEPTH"
            c0=$(tree_ticks "${PID[$t]}") || { mark_failed "$t" "target process exited"; continue; }
            if ! s=$(qbench "$t" "$count" "$BS" "$DEPTH" "$rw" $(( SECS * 4 + 60 ))); then
                mark_failed "$t" "$rw: $s"
                printf '%s\t%s\t%s\t%s\t\t\t\t\tFAILED\n' "$t" "$rw" "$rep" "$count" >>"$RESULTS"
                continue
            fi
            c1=$(tree_ticks "${PID[$t]}") || { mark_failed "$t" "target process exited"; continue; }
            awk -v t="$t" -v rw="$rw" -v rep="$rep" -v n="$count" -v s="$s" \
                -v dc=$(( c1 - c0 )) -v hz="$CLK_TCK" 'BEGIN {
                    cpu = dc / hz
                    printf "%s\t%s\t%s\t%d\t%.3f\t%.0f\t%.2f\t%.0f\tok\n", t, rw, rep, n, s, n / s, cpu * 1e6 / n, 100 * cpu / s
                }' >>"$RESULTS"
            tail -n 1 "$RESULTS" | awk -F'\t' '{ printf "    -> %s IOPS, %s us target CPU per I/O, target CPU %s%%\n", $6, $7, $8 }' >&2
        done
    done
done

# ---- report ---------------------------------------------------------------
versions() {
    local tv nv gv
    tv=$(tgtd -V 2>/dev/null | head -n 1); nv=$(node --version 2>/dev/null)
    gv=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null)
    echo "tgt $tv; node $nv; qemu-img $(qemu-img --version | sed -n '1s/.*version \([^ ]*\).*/\1/p'); commit ${gv:-?}"
}

{
    echo
    echo "qemu-img bench: ${BS} B sequential I/O, queue depth ${DEPTH}, ${SIZE} LUN file in /dev/shm, ~${SECS} s per run, median of ${REPEAT}"
    echo "  $(nproc) CPUs, $(versions)"
    echo "  initiator (qemu-img) and target share the machine; target CPU = utime+stime of the target process tree"
    echo
    awk -F'\t' -v order="$TARGETS" -v st_tgt="${STATUS[tgt]:-not requested}" -v st_ours="${STATUS[ours]:-not requested}" '
        function median(list,   n, a, i, j, x) {
            n = split(list, a, " ")
            for (i = 2; i <= n; i++) { x = a[i]; for (j = i - 1; j >= 1 && a[j] > x; j--) a[j + 1] = a[j]; a[j + 1] = x }
            if (n == 0) return ""
            return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
        }
        function range(list,   n, a, i, lo, hi) {
            n = split(list, a, " "); if (n < 2) return "-"
            lo = hi = a[1] + 0
            for (i = 2; i <= n; i++) { if (a[i] + 0 < lo) lo = a[i] + 0; if (a[i] + 0 > hi) hi = a[i] + 0 }
            return sprintf("%.0f-%.0f", lo, hi)
        }
        NR > 1 && $9 == "ok" { k = $1 SUBSEP $2; iops[k] = iops[k] " " $6; cpu[k] = cpu[k] " " $7; pct[k] = pct[k] " " $8 }
        END {
            status["tgt"] = st_tgt; status["ours"] = st_ours
            printf "%-10s %-6s %12s %10s %16s %12s  %s\n", "workload", "target", "IOPS", "MiB/s", "CPU us per I/O", "target CPU", "IOPS min-max"
            printf "%-10s %-6s %12s %10s %16s %12s  %s\n", "--------", "------", "----", "-----", "--------------", "----------", "------------"
            n = split(order, tg, " ")
            split("read write", wl, " ")
            for (w = 1; w <= 2; w++) {
                for (i = 1; i <= n; i++) {
                    k = tg[i] SUBSEP wl[w]
                    if (iops[k] == "") { printf "%-10s %-6s %12s\n", wl[w], tg[i], "FAILED"; continue }
                    I[k] = median(iops[k]); C[k] = median(cpu[k])
                    printf "%-10s %-6s %12.0f %10.1f %16.2f %11.0f%%  %s\n", wl[w], tg[i], I[k], I[k] * '"$BS"' / 1048576, C[k], median(pct[k]), range(iops[k])
                }
                a = "ours" SUBSEP wl[w]; b = "tgt" SUBSEP wl[w]
                if ((a in I) && (b in I) && I[b] > 0 && C[b] > 0)
                    printf "%-10s %-6s %11.2fx %10s %15.2fx %12s\n", wl[w], "ours/tgt", I[a] / I[b], "", C[a] / C[b], ""
                else if (index(order, "ours") && index(order, "tgt"))
                    printf "%-10s %-6s %12s\n", wl[w], "ours/tgt", "n/a"
                print ""
            }
            for (i = 1; i <= n; i++) printf "%s: %s\n", tg[i], status[tg[i]]
        }' "$RESULTS"
    echo
    echo "results: $RESULTS"
} | tee "$LOGDIR/summary.txt"

rc=0
for t in $TARGETS; do
    if [[ ${STATUS[$t]} != ok ]]; then rc=1; fi
done
if [[ ${STATUS[ours]:-ok} != ok ]]; then
    echo "bench: OUR DAEMON FAILED -- only tgt's numbers are valid (${STATUS[ours]#FAILED: })" >&2
fi
exit "$rc"
