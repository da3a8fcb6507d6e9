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

step "type-checking and building"
npm run build

step "unit and protocol tests"
npx vitest run

if [ "${E2E:-1}" = "0" ]; then
  echo "E2E=0: end-to-end tests skipped on request"
  exit 0
fi

step "end-to-end tests"
bash test/e2e/run-all.sh
