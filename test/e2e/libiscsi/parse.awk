#!/usr/bin/awk -f
# Parse the verbose CUnit output of `iscsi-test-cu -v` into one line per test:
#
#   Suite.Test <TAB> PASS|SKIP|FAIL <TAB> reason
#
# CUnit's verbose format (CUnit 2.1-3, as shipped by libiscsi-bin 1.19):
#
#   Suite: Read10
#     Test: Simple ...passed
#     Test: BeyondEol ...    [FAILED] READ10 successful but should have failed
#   FAILED
#       1. test_read10_beyond_eol.c:38  - CU_ASSERT_EQUAL(_r,0)
#     Test: DpoFua ...    [SKIPPED] READ10 is not implemented.
#   passed
#
# The verdict is either glued to the "Test:" line ("...passed", "...FAILED")
# or is a line that is exactly "passed" / "FAILED" after the test's own log
# lines. libiscsi tests that cannot run call CU_PASS after logging
# "[SKIPPED] ...", so CUnit counts them as passed: a passed test whose output
# contains "[SKIPPED]" is reported here as SKIP (it was not really run).
#
# A test whose verdict never appears (initiator crashed or was killed by a
# timeout) is reported as FAIL with reason "no verdict (aborted?)".

function flush(   reason) {
    if (name == "") return
    if (verdict == "") { verdict = "FAIL"; reason = "no verdict (iscsi-test-cu aborted?)" }
    else if (verdict == "FAIL") reason = (failmsg != "" ? failmsg : (assertmsg != "" ? assertmsg : "failed"))
    else if (skipmsg != "") { verdict = "SKIP"; reason = skipmsg }
    else reason = ""
    gsub(/\t/, " ", reason)
    printf "%s\t%s\t%s\n", name, verdict, reason
    name = ""
}

function note(text,   m) {
    # Remember the first [SKIPPED] / [FAILED] message of the current test.
    if (skipmsg == "" && match(text, /\[SKIPPED\].*/)) {
        skipmsg = substr(text, RSTART + 10); sub(/^ +/, "", skipmsg); sub(/ +$/, "", skipmsg)
        if (skipmsg == "") skipmsg = "[SKIPPED]"
    }
    if (failmsg == "" && match(text, /\[FAILED\].*/)) {
        failmsg = substr(text, RSTART + 9); sub(/^ +/, "", failmsg); sub(/ +$/, "", failmsg)
    }
}

BEGIN { name = ""; suite = ""; done = 0 }

done { next }

/^Run Summary:/ { flush(); done = 1; next }

/^Suite: / {
    flush()
    suite = substr($0, 8); sub(/[ \t\r]+$/, "", suite)
    next
}

/^  Test: / {
    flush()
    line = substr($0, 9)
    idx = index(line, " ...")
    if (idx == 0) { tname = line; rest = "" } else { tname = substr(line, 1, idx - 1); rest = substr(line, idx + 4) }
    name = suite "." tname
    verdict = ""; skipmsg = ""; failmsg = ""; assertmsg = ""
    # Text glued after the verdict comes from the next suite's setup, not
    # from this test: "  Test: Residuals ...passed    [FAILED] PRIN command..."
    if (rest ~ /^passed/) { verdict = "PASS"; next }
    if (rest ~ /^FAILED/) { verdict = "FAIL"; next }
    note(rest)
    next
}

name == "" { next }

{
    sub(/\r$/, "")
    if (verdict == "") {
        # Test log lines are indented; CUnit's verdict starts in column 0.
        if ($0 ~ /^passed/) { verdict = "PASS"; next }
        if ($0 ~ /^FAILED/) { verdict = "FAIL"; next }
        note($0)
        next
    }
    if (verdict == "FAIL" && assertmsg == "" && $0 ~ /^    1\. /) {
        assertmsg = $0; sub(/^ +1\. +/, "", assertmsg)
    }
}

END { flush() }
