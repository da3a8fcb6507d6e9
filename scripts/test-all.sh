#!/usr/bin/env bash
# The whole test suite, installing what it needs (README quick start, command 2).
# Stages: dependencies -> build -> unit and protocol tests -> end-to-end tests
# with real initiators (libiscsi, qemu-img, the Linux kernel initiator in a VM).
# Set E2E=0 to run only the unit and protocol tests.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
export PATH="$root/node_modules/.bin:$PATH"

step() { printf '\n==== %s\n' "$*"; }

step "installing system packages"
bash test/e2e/lib/install-deps.sh

step "installing npm packages"
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi

step "type-checking (sources and tests) and building"
npm run typecheck
npm run build

step "unit and protocol tests"
unit_json=$(mktemp)
unit_rc=0
npx vitest run --reporter=default --reporter=json --outputFile="$unit_json" || unit_rc=$?
read -r unit_passed unit_failed unit_skipped < <(node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  console.log(r.numPassedTests, r.numFailedTests + (r.numRuntimeErrorTestSuites || 0), r.numPendingTests + r.numTodoTests);
' "$unit_json" 2>/dev/null || echo "0 1 0")
echo "unit: $unit_passed passed, $unit_failed failed, $unit_skipped skipped"

e2e_passed=0 e2e_failed=0
if [ "${E2E:-1}" = "0" ]; then
  echo "E2E=0: end-to-end tests not run on request"
else
  step "end-to-end tests"
  e2e_log=$(mktemp)
  bash test/e2e/run-all.sh 2>&1 | tee "$e2e_log" || true
  read -r e2e_passed e2e_failed < <(sed -n 's/^e2e: \([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' "$e2e_log" | tail -1)
  e2e_passed=${e2e_passed:-0} e2e_failed=${e2e_failed:-1}
fi

# One closing line for CI: unit tests plus end-to-end stages.
total_failed=$((unit_failed + e2e_failed))
[ "$unit_rc" -ne 0 ] && [ "$total_failed" -eq 0 ] && total_failed=1
echo "tests: $((unit_passed + e2e_passed)) passed, $total_failed failed"
[ "$total_failed" -eq 0 ]
