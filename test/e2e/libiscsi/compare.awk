#!/usr/bin/awk -f
# Compare parsed libiscsi results against an expectations file.
#
#   awk -f compare.awk EXPECTATIONS RESULTS.tsv
#
# EXPECTATIONS: one line per allowed non-PASS test, '#' comments, blank lines:
#   PATTERN  VERDICT  reason...
# PATTERN is Suite.Test with shell-style * and ? wildcards (e.g. Prout*.*);
# VERDICT is SKIP or FAIL. The first matching line wins. A test matching no
# line must PASS.
# RESULTS.tsv: "Suite.Test<TAB>PASS|SKIP|FAIL|NOTRUN<TAB>reason" (parse.awk).
#
# Output, tab-separated, one line per test:
#   CLASS  TEST  GOT  EXPECTED  DETAIL
# CLASS: ok | expected (non-PASS that was allowed) | tighten (allowed non-PASS
# that PASSed) | unexpected. Then "stale<TAB>PATTERN..." for expectation lines
# that matched no test.

function glob2re(g,   i, c, re) {
    re = "^"
    for (i = 1; i <= length(g); i++) {
        c = substr(g, i, 1)
        if (c == "*") re = re ".*"
        else if (c == "?") re = re "."
        else if (index("\\^$.[]|()+{}", c)) re = re "\\" c
        else re = re c
    }
    return re "$"
}

BEGIN { FS = "\t"; nexp = 0 }

FILENAME == ARGV[1] {
    line = $0
    sub(/#.*/, "", line)
    gsub(/\t/, " ", line)
    sub(/^ +/, "", line); sub(/ +$/, "", line)
    if (line == "") next
    n = split(line, w, / +/)
    if (n < 2 || (w[2] != "SKIP" && w[2] != "FAIL")) {
        printf "bad expectations line %d: %s\n", FNR, $0 > "/dev/stderr"
        bad = 1
        next
    }
    nexp++
    pat[nexp] = w[1]; re[nexp] = glob2re(w[1]); want[nexp] = w[2]
    why = line; sub(/^[^ ]+ +[^ ]+ */, "", why); reason[nexp] = why
    used[nexp] = 0
    next
}

{
    test = $1; got = $2; detail = $3
    m = 0
    for (i = 1; i <= nexp; i++) if (test ~ re[i]) { m = i; break }
    if (m) used[m]++
    exp_v = m ? want[m] : "PASS"
    if (got == "PASS") cls = m ? "tighten" : "ok"
    else if (got == exp_v) cls = "expected"
    else cls = "unexpected"
    if (cls == "tighten") detail = "allowed " exp_v ": " reason[m]
    printf "%s\t%s\t%s\t%s\t%s\n", cls, test, got, exp_v, detail
}

END {
    for (i = 1; i <= nexp; i++) if (!used[i]) printf "stale\t%s\t%s\t%s\t%s\n", pat[i], "-", want[i], reason[i]
    if (bad) exit 2
}
