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
# ISCSI_ROOT in /dev/shm; CLI create / lun-add -s SIZE --format raw / start),
# so tgt and ours both serve a raw file. If it cannot start or fails mid-run,
# tgt's numbers are still printed, ours are marked FAILED, and the exit
# status is 1.
#
# qcow2 vs raw ("qcow2" in BENCH_TARGETS, on by default): a second LUN of the
# same size on the same target of our daemon, created by lun-add with the
# default format (qcow2, 64 KiB clusters), filled with 1 MiB writes like the
# first. Then, alternating which LUN goes first, each (LUN 1 raw, LUN 2 qcow2):
#   4k-randread   4 KiB reads, queue depth BENCH_DEPTH
#   4k-randwrite  4 KiB writes into allocated clusters, depth BENCH_DEPTH
#   1m-seqread    1 MiB sequential reads, depth BENCH_SEQ_DEPTH
#   1m-seqwrite   1 MiB sequential writes (allocated), depth BENCH_SEQ_DEPTH
#   4k-randwrite-fresh  4 KiB writes into a new, empty LUN pair of
#                 BENCH_FRESH_SIZE (qcow2 allocates a cluster for nearly every
#                 write; for information, no target). Fixed count: at most
#                 1/8 of the qcow2 clusters, or the 4k-randwrite count.
# qemu-img bench has no random mode; "random" is a scattered pattern: step
# (-S) = 4 KiB * K, K coprime to the number of 4 KiB blocks and near 0.618 of
# it (at most 2 GiB / 4 KiB, qemu-img's limit), so consecutive I/Os land far apart (other clusters, other L2 tables)
# and the offsets (wrapping at the LUN size) visit every block once.
# Reported: IOPS, MiB/s, target CPU us per I/O, and the ratio qcow2/raw
# (targets: >= 0.8 for 4k-randwrite, >= 0.9 for the other three).
#
# Env:
#   BENCH_SECONDS  target duration of each measured run (default 10)
#   BENCH_SIZE     LUN size for both targets (default 1G)
#   BENCH_DEPTH    queue depth (default 32)      BENCH_BS  I/O size (default 4096)
#   BENCH_REPEAT   measured runs per target and workload, median shown (default 1)
#   BENCH_TARGETS  "tgt ours qcow2" (default), or a subset ("qcow2" runs our
#                  daemon too, even without "ours")
#   BENCH_SEQ_DEPTH queue depth of the 1 MiB qcow2/raw runs (default 8)
#   BENCH_FRESH_SIZE size of the fresh LUN pair (default 8G; sparse)
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
TARGETS=${BENCH_TARGETS:-tgt ours qcow2}
SEQ_DEPTH=${BENCH_SEQ_DEPTH:-8}
FRESH_SIZE=${BENCH_FRESH_SIZE:-8G}
QCOW2=0
[[ " $TARGETS " == *" qcow2 "* ]] && QCOW2=1
TARGETS=$(tr ' ' '\n' <<<"$TARGETS" | grep -vx 'qcow2' | grep -v '^$' | tr '\n' ' ')
TARGETS=${TARGETS% }
# qcow2 needs our daemon; it is started even if "ours" is not compared with tgt
OURD_WANTED=$TARGETS
(( QCOW2 )) && [[ " $TARGETS " != *" ours "* ]] && OURD_WANTED="$TARGETS ours"
CLK_TCK=$(e2e_clk_tck)

e2e_need_cmd qemu-img timeout || exit 2
size_bytes=$(numfmt --from=iec "${SIZE%B}" 2>/dev/null) || { e2e_err "bad BENCH_SIZE $SIZE"; exit 2; }
fresh_bytes=$(numfmt --from=iec "${FRESH_SIZE%B}" 2>/dev/null) || { e2e_err "bad BENCH_FRESH_SIZE $FRESH_SIZE"; exit 2; }
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
# [STEP] (bytes, -S) for a scattered pattern instead of a sequential one.
qbench() {
    local name=$1 count=$2 bs=$3 depth=$4 rw=$5 tmo=$6 step=${7:-} out secs
    local args=(bench -f raw -t writeback -c "$count" -d "$depth" -s "$bs")
    [[ $rw == write ]] && args+=(-w)
    [[ -n $step ]] && args+=(-S "$step")
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
for t in $OURD_WANTED; do
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
            if OURD_LUN_SIZE=$size_bytes OURD_LUN_FORMAT=raw start_ourd "${ports[@]}"; then
                URL[ours]=${OURD_URLS[0]}; PID[ours]=$OURD_PID; STATUS[ours]=ok
            else
                STATUS[ours]="FAILED: our daemon did not start: ${OURD_ERROR:-see log} (logs: $LOGDIR)"
            fi ;;
        *) e2e_err "unknown target '$t' in BENCH_TARGETS"; exit 2 ;;
    esac
done

active() { local t; for t in $TARGETS; do [[ ${STATUS[$t]} == ok ]] && echo "$t"; done; }

# qcow2: LUN 2 (default format) next to LUN 1 (raw) on the same target.
# ourd_lun LUN SIZE [lun-add args...] : add a LUN to the running target, print its URL.
ourd_lun() {
    local lun=$1 sz=$2 out; shift 2
    out=$(ourd_cli lun-add -t "$OURD_IQN" -l "$lun" -s "$sz" "$@" 2>&1) || { echo "lun-add -l $lun: $out"; return 1; }
    echo "iscsi://$E2E_HOST:${OURD_PORTS[0]}/$OURD_IQN/$lun"
}
if (( QCOW2 )); then
    if [[ ${STATUS[ours]:-} != ok ]]; then
        STATUS[qcow2]="FAILED: our daemon did not start"
    elif ! r=$(ourd_lun 2 "$size_bytes"); then
        STATUS[qcow2]="FAILED: $r"; e2e_err "qcow2: $r"
    elif [[ ! -f "$OURD_ROOT/targets/$OURD_IQN/lun-2.qcow2" ]]; then
        STATUS[qcow2]="FAILED: lun-add did not create targets/$OURD_IQN/lun-2.qcow2"; e2e_err "${STATUS[qcow2]}"
    else
        URL[qcow2]=$r; URL[raw]=${URL[ours]}; PID[qcow2]=$OURD_PID; PID[raw]=$OURD_PID; STATUS[qcow2]=ok
        e2e_log "qcow2: LUN 2 $(qemu-img info -U "$OURD_ROOT/targets/$OURD_IQN/lun-2.qcow2" 2>/dev/null | grep -E '^(file format|cluster_size)' | tr '\n' ' ')"
    fi
fi

# ---- precondition: write the whole LUN once with 1 MiB writes ---------------
for t in $(active); do
    e2e_log "$t: filling the ${SIZE} LUN with 1 MiB writes"
    if ! r=$(qbench "$t" $(( size_bytes / 1048576 )) 1048576 8 write 600); then
        mark_failed "$t" "fill: $r"
    fi
done
if [[ ${STATUS[qcow2]:-} == ok ]]; then
    e2e_log "qcow2: filling the ${SIZE} qcow2 LUN with 1 MiB writes"
    [[ " $TARGETS " == *" ours "* ]] ||
        qbench raw $(( size_bytes / 1048576 )) 1048576 8 write 600 >/dev/null || STATUS[qcow2]="FAILED: fill raw"
    r=$(qbench qcow2 $(( size_bytes / 1048576 )) 1048576 8 write 600) || STATUS[qcow2]="FAILED: fill: $r"
fi

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

# ---- qcow2 vs raw on our daemon -------------------------------------------------
# scatter_step BYTES BS -> step (bytes) for a scattered pattern over the LUN
scatter_step() {
    awk -v size="$1" -v bs="$2" 'function gcd(a, b) { while (b) { t = b; b = a % b; a = t } return a }
        BEGIN { n = int(size / bs); k = int(n * 0.6180339887)
                # qemu-img bench takes a step below 2^31
                if (k * bs > 2147483647) k = int(2147483647 / bs)
                while (k > 1 && gcd(k, n) != 1) k--
                if (k < 1) k = 1
                printf "%.0f\n", k * bs }'
}
# qmeasure NAME WORKLOAD REP COUNT BS DEPTH RW STEP -> one line in RESULTS
qmeasure() {
    local t=$1 wl=$2 rep=$3 count=$4 bs=$5 depth=$6 rw=$7 step=$8 c0 c1 s
    e2e_log "$t $wl #$rep: $count x $bs B, depth $depth${step:+, step $step}"
    if ! kill -0 "$OURD_PID" 2>/dev/null; then echo "target process exited"; return 1; fi
    c0=$(tree_ticks "$OURD_PID") || { echo "target process exited"; return 1; }
    if ! s=$(qbench "$t" "$count" "$bs" "$depth" "$rw" $(( SECS * 4 + 120 )) "$step"); then
        printf '%s\t%s\t%s\t%s\t\t\t\t\tFAILED\n' "$t" "$wl" "$rep" "$count" >>"$RESULTS"
        echo "$wl: $s"; return 1
    fi
    c1=$(tree_ticks "$OURD_PID") || { echo "target process exited"; return 1; }
    awk -v t="$t" -v rw="$wl" -v rep="$rep" -v n="$count" -v s="$s" \
        -v dc=$(( c1 - c0 )) -v hz="$CLK_TCK" 'BEGIN {
            cpu = dc / hz
            printf "%s\t%s\t%s\t%d\t%.3f\t%.0f\t%.2f\t%.0f\tok\n", t, rw, rep, n, s, n / s, cpu * 1e6 / n, 100 * cpu / s
        }' >>"$RESULTS"
    tail -n 1 "$RESULTS" | awk -F'\t' '{ printf "    -> %s IOPS, %s us target CPU per I/O, target CPU %s%%\n", $6, $7, $8 }' >&2
}
# qcalibrate NAME BS DEPTH RW STEP -> I/O count for a ~BENCH_SECONDS run
qcalibrate() {
    local t=$1 bs=$2 depth=$3 rw=$4 step=$5 c=200 s
    (( bs <= 65536 )) && c=2000
    while :; do
        s=$(qbench "$t" "$c" "$bs" "$depth" "$rw" $(( SECS * 3 + 120 )) "$step") || { echo "calibration: $s"; return 1; }
        if awk -v s="$s" 'BEGIN { exit !(s >= 1.0) }' || (( c >= 10000000 )); then break; fi
        c=$(awk -v c="$c" -v s="$s" 'BEGIN { f = (s > 0) ? 1.5 / s : 10; if (f > 10) f = 10; if (f < 2) f = 2; print int(c * f) }')
    done
    awk -v c="$c" -v s="$s" -v d="$SECS" 'BEGIN { n = int(c / s * d); if (n < 100) n = 100; print n }'
}

QWORKLOADS="4k-randread 4k-randwrite 1m-seqread 1m-seqwrite 4k-randwrite-fresh"
if [[ ${STATUS[qcow2]:-} == ok ]]; then
    step4k=$(scatter_step "$size_bytes" 4096)
    fresh_step=$(scatter_step "$fresh_bytes" 4096)
    fresh_max=$(( fresh_bytes / 65536 / 8 ))
    for wl in $QWORKLOADS; do
        case $wl in
            4k-randread)  bs=4096; depth=$DEPTH; rw=read; step=$step4k ;;
            4k-randwrite) bs=4096; depth=$DEPTH; rw=write; step=$step4k ;;
            1m-seqread)   bs=1048576; depth=$SEQ_DEPTH; rw=read; step= ;;
            1m-seqwrite)  bs=1048576; depth=$SEQ_DEPTH; rw=write; step= ;;
            4k-randwrite-fresh) bs=4096; depth=$DEPTH; rw=write; step=$fresh_step ;;
        esac
        for (( rep = 1; rep <= REPEAT; rep++ )); do
            order="raw qcow2"; (( rep % 2 == 0 )) && order="qcow2 raw"
            for t in $order; do
                [[ ${STATUS[qcow2]} == ok ]] || break 3
                if [[ $wl == 4k-randwrite-fresh ]]; then
                    # a new, empty LUN for each run (raw: 10+rep, qcow2: 20+rep)
                    if [[ $t == raw ]]; then lun=$(( 10 + rep )); fmt=(--format raw); else lun=$(( 20 + rep )); fmt=(); fi
                    u=$(ourd_lun "$lun" "$fresh_bytes" "${fmt[@]}") || { STATUS[qcow2]="FAILED: $u"; break 3; }
                    URL[fresh]=$u
                    n=${COUNT[qcow2,4k-randwrite]:-$fresh_max}
                    (( n > fresh_max )) && n=$fresh_max
                    r=$(qmeasure fresh "$wl" "$rep" "$n" "$bs" "$depth" "$rw" "$step") || { STATUS[qcow2]="FAILED: $r"; break 3; }
                    sed -i '$ s/^fresh\t/'"$t"'\t/' "$RESULTS"
                    continue
                fi
                if [[ -z "${COUNT[$t,$wl]:-}" ]]; then
                    r=$(qcalibrate "$t" "$bs" "$depth" "$rw" "$step") || { STATUS[qcow2]="FAILED: $t $wl $r"; break 3; }
                    COUNT[$t,$wl]=$r
                fi
                r=$(qmeasure "$t" "$wl" "$rep" "${COUNT[$t,$wl]}" "$bs" "$depth" "$rw" "$step") || { STATUS[qcow2]="FAILED: $t $r"; break 3; }
            done
        done
    done
    [[ ${STATUS[qcow2]} == ok ]] || e2e_err "qcow2: ${STATUS[qcow2]#FAILED: }"
fi

# ---- report ---------------------------------------------------------------
versions() {
    local tv nv gv
    tv=$(tgtd -V 2>/dev/null | head -n 1); nv=$(node --version 2>/dev/null)
    gv=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null)
    echo "tgt $tv; node $nv; qemu-img $(qemu-img --version | sed -n '1s/.*version \([^ ]*\).*/\1/p'); commit ${gv:-?}"
}

{
  if [[ -n $TARGETS ]]; then
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
  fi
    if (( QCOW2 )); then
        echo
        echo "qcow2 vs raw, our daemon, two ${SIZE} LUNs of one target (LUN 1 raw, LUN 2 qcow2 64 KiB clusters), files in /dev/shm"
        echo "  4k: QD ${DEPTH}, scattered offsets (step ${step4k:-?} B); 1m: sequential, QD ${SEQ_DEPTH}; ~${SECS} s per run, median of ${REPEAT}"
        echo "  4k-randwrite-fresh: new empty ${FRESH_SIZE} LUNs, mostly first writes to a cluster (information, no target)"
        echo
        awk -F'\t' -v wls="$QWORKLOADS" -v st="${STATUS[qcow2]:-}" '
            function median(list,   n, a, i, j, x) {
                n = split(list, a, " ")
                for (i = 2; i <= n; i++) { x = a[i]; for (j = i - 1; j >= 1 && a[j] > x; j--) a[j + 1] = a[j]; a[j + 1] = x }
                if (n == 0) return ""
                return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
            }
            NR > 1 && $9 == "ok" && ($1 == "raw" || $1 == "qcow2") { k = $1 SUBSEP $2; iops[k] = iops[k] " " $6; cpu[k] = cpu[k] " " $7 }
            END {
                tgt["4k-randread"] = 0.9; tgt["4k-randwrite"] = 0.8; tgt["1m-seqread"] = 0.9; tgt["1m-seqwrite"] = 0.9
                printf "%-20s %10s %10s %9s %9s %9s %10s %10s  %s\n", "workload", "raw IOPS", "qcow2 IOPS", "raw MiB/s", "qc2 MiB/s", "qcow2/raw", "raw us/IO", "qc2 us/IO", "target"
                n = split(wls, w, " "); miss = 0
                for (i = 1; i <= n; i++) {
                    a = "raw" SUBSEP w[i]; b = "qcow2" SUBSEP w[i]
                    bs = (w[i] ~ /^1m/) ? 1048576 : 4096
                    if (iops[a] == "" || iops[b] == "") { printf "%-20s %10s\n", w[i], "FAILED"; if (w[i] in tgt) miss++; continue }
                    ra = median(iops[a]); qa = median(iops[b]); r = qa / ra
                    verdict = "-"
                    if (w[i] in tgt) { verdict = (r >= tgt[w[i]]) ? sprintf(">= %.1f ok", tgt[w[i]]) : sprintf(">= %.1f MISSED", tgt[w[i]]); if (r < tgt[w[i]]) miss++ }
                    printf "%-20s %10.0f %10.0f %9.1f %9.1f %9.2f %10.2f %10.2f  %s\n", w[i], ra, qa, ra * bs / 1048576, qa * bs / 1048576, r, median(cpu[a]), median(cpu[b]), verdict
                }
                printf "qcow2: %s%s\n", (st == "" ? "not run" : st), (miss ? sprintf(" (%d target(s) missed)", miss) : "")
            }' "$RESULTS"
    fi
    echo
    echo "results: $RESULTS"
} | tee "$LOGDIR/summary.txt"

rc=0
for t in $TARGETS; do
    if [[ ${STATUS[$t]} != ok ]]; then rc=1; fi
done
(( QCOW2 )) && [[ ${STATUS[qcow2]:-} != ok ]] && rc=1
if [[ ${STATUS[ours]:-ok} != ok ]]; then
    echo "bench: OUR DAEMON FAILED -- only tgt's numbers are valid (${STATUS[ours]#FAILED: })" >&2
fi
exit "$rc"
