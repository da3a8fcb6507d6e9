#!/usr/bin/env bash
# Run libiscsi's SCSI/iSCSI conformance suite (iscsi-test-cu) against a LUN and
# check the per-test verdicts against an expectations file.
#
#   test/e2e/libiscsi/run.sh [-e EXPECTATIONS] [-t TESTS] [-o LOGDIR] URL1 [URL2]
#
#   URL1, URL2  iscsi://127.0.0.1:PORT/IQN/LUN -- the same LUN through two
#               portals (URL2 enables the MultipathIO tests; without it those
#               SKIP and that is accepted).
#   -e FILE     expectations (default: test/e2e/libiscsi/expectations.txt)
#   -t TESTS    iscsi-test-cu test filter, FAMILY[.SUITE[.TEST]] with globs,
#               e.g. ALL.Read10 or 'ALL.Write1*' (default ALL)
#   -o DIR      log directory (default $E2E_LOG_DIR or /tmp/e2e-logs/libiscsi-*)
#
# Env: LIBISCSI_TIMEOUT  seconds for the whole iscsi-test-cu run (default 1800)
#      LIBISCSI_ARGS     extra iscsi-test-cu arguments (word-split), e.g. "-S"
#
# Verdicts: PASS; SKIP = CUnit "passed" but the test printed [SKIPPED] (not
# really run); FAIL = CUnit "FAILED", or the test never reported a verdict
# (iscsi-test-cu crashed / timed out; reason "not run ...").
# A FAIL or SKIP not allowed by the expectations file fails the run (exit 1).
# An allowed SKIP/FAIL that PASSes is reported so the file can be tightened.
#
# Prints "libiscsi: N passed, N failed, N skipped", the unexpected results,
# and keeps in LOGDIR: iscsi-test-cu.log (full output), results.tsv (per-test
# verdicts), compare.tsv, summary.txt.
# Exit: 0 expectations met, 1 not met, 2 usage/tooling error.
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../lib/common.sh
source "$HERE/../lib/common.sh"

usage() { sed -n '2,/^set -uo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }

EXPECT="$HERE/expectations.txt"
TESTS=ALL
LOGDIR=""
while getopts "e:t:o:h" opt; do
    case $opt in
        e) EXPECT=$OPTARG ;;
        t) TESTS=$OPTARG ;;
        o) LOGDIR=$OPTARG ;;
        *) usage ;;
    esac
done
shift $((OPTIND - 1))
(( $# >= 1 && $# <= 2 )) || usage
[[ -f "$EXPECT" ]] || { e2e_err "expectations file $EXPECT not found"; exit 2; }
e2e_need_cmd iscsi-test-cu stdbuf timeout || exit 2

if [[ -z "$LOGDIR" ]]; then LOGDIR=$(e2e_log_dir libiscsi) || exit 2; fi
mkdir -p "$LOGDIR" || exit 2
LOG="$LOGDIR/iscsi-test-cu.log"
TIMEOUT=${LIBISCSI_TIMEOUT:-1800}

# shellcheck disable=SC2206
extra=(${LIBISCSI_ARGS:-})
cmd=(iscsi-test-cu -d -v -t "$TESTS" "${extra[@]}" "$@")
e2e_log "running: ${cmd[*]}"
e2e_log "full log: $LOG"
t0=$(date +%s)
# stdbuf: CUnit writes with stdio; keep its lines in order with the tests' own.
timeout --kill-after=10 "$TIMEOUT" stdbuf -oL -eL "${cmd[@]}" >"$LOG" 2>&1 </dev/null
rc=$?
elapsed=$(( $(date +%s) - t0 ))
case $rc in
    0) ;;
    124|137) e2e_err "iscsi-test-cu timed out after ${TIMEOUT}s" ;;
    *) e2e_log "iscsi-test-cu exited with status $rc" ;;
esac

# Per-test verdicts, in run order.
awk -f "$HERE/parse.awk" "$LOG" >"$LOGDIR/results.tsv"

# Tests the filter selects but that never appeared in the log: NOT RUN.
iscsi-test-cu -l 2>/dev/null | awk -v filter="$TESTS" '
    function glob2re(g,   i, c, re) {
        re = "^"
        for (i = 1; i <= length(g); i++) {
            c = substr(g, i, 1)
            if (c == "*") re = re ".*"; else if (c == "?") re = re "."
            else if (index("\\^$.[]|()+{}", c)) re = re "\\" c; else re = re c
        }
        return re "$"
    }
    BEGIN { nf = split(filter, f, ".") }
    {
        if (split($0, p, ".") != 3) next
        for (i = 1; i <= nf && i <= 3; i++) if (p[i] !~ glob2re(f[i])) next
        print p[2] "." p[3]
    }' >"$LOGDIR/selected-tests.txt"
if [[ ! -s "$LOGDIR/selected-tests.txt" ]]; then
    e2e_err "test filter '$TESTS' selects no test (see iscsi-test-cu -l; use e.g. ALL.Read10)"
    exit 2
fi
awk -F'\t' -v rc="$rc" '
    FILENAME == ARGV[1] { seen[$1] = 1; next }
    !($1 in seen) { printf "%s\tFAIL\tnot run (iscsi-test-cu exit status %s)\n", $1, rc }
' "$LOGDIR/results.tsv" "$LOGDIR/selected-tests.txt" >"$LOGDIR/notrun.tsv"
cat "$LOGDIR/notrun.tsv" >>"$LOGDIR/results.tsv" && rm -f "$LOGDIR/notrun.tsv"

# Expectations; with a single URL the MultipathIO tests cannot run.
expfile="$LOGDIR/expectations.effective.txt"
{
    if (( $# < 2 )); then echo "MultipathIO.* SKIP only one URL given (no second path)"; fi
    cat "$EXPECT"
} >"$expfile"
if ! awk -f "$HERE/compare.awk" "$expfile" "$LOGDIR/results.tsv" >"$LOGDIR/compare.tsv"; then
    e2e_err "bad expectations file $EXPECT"; exit 2
fi

npass=$(awk -F'\t' '$2 == "PASS"' "$LOGDIR/results.tsv" | wc -l)
nfail=$(awk -F'\t' '$2 == "FAIL"' "$LOGDIR/results.tsv" | wc -l)
nskip=$(awk -F'\t' '$2 == "SKIP"' "$LOGDIR/results.tsv" | wc -l)
nnotrun=$(awk -F'\t' '$3 ~ /^not run/' "$LOGDIR/results.tsv" | wc -l)
nunexp=$(awk -F'\t' '$1 == "unexpected"' "$LOGDIR/compare.tsv" | wc -l)
ntight=$(awk -F'\t' '$1 == "tighten"' "$LOGDIR/compare.tsv" | wc -l)
nexpected=$(awk -F'\t' '$1 == "expected"' "$LOGDIR/compare.tsv" | wc -l)

table() { # CLASS TITLE
    awk -F'\t' -v cls="$1" '$1 == cls {
        d = $5; if (length(d) > 90) d = substr(d, 1, 87) "..."
        printf "  %-44s %-6s %-8s %s\n", $2, $3, $4, d }' "$LOGDIR/compare.tsv"
}

{
    echo "libiscsi: $npass passed, $nfail failed, $nskip skipped"
    echo "  ($((npass + nfail + nskip)) tests in ${elapsed}s; $nnotrun not run; $nexpected allowed by $(basename "$EXPECT"); iscsi-test-cu status $rc)"
    echo "  targets: $*"
    if (( nunexp > 0 )); then
        echo
        echo "UNEXPECTED results ($nunexp):"
        printf '  %-44s %-6s %-8s %s\n' TEST GOT EXPECTED DETAIL
        table unexpected
    fi
    if (( ntight > 0 )); then
        echo
        echo "Now PASS but allowed non-PASS in $(basename "$EXPECT") ($ntight) -- tighten the file:"
        table tighten
    fi
    if [[ "$TESTS" == ALL ]] && grep -q '^stale' "$LOGDIR/compare.tsv"; then
        echo
        echo "Expectation lines that match no test (typo or renamed test?):"
        awk -F'\t' '$1 == "stale" { printf "  %-44s %s %s\n", $2, $4, $5 }' "$LOGDIR/compare.tsv"
    fi
    echo
    if (( nunexp > 0 )); then
        echo "libiscsi: FAILED ($nunexp unexpected). Full log: $LOG"
    else
        echo "libiscsi: OK. Full log: $LOG"
    fi
} | tee "$LOGDIR/summary.txt"

(( nunexp == 0 ))
