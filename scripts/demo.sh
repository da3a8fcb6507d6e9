#!/usr/bin/env bash
# README quick start, command 1: `npm run demo`.
# Installs the npm packages, builds, creates (once) a demo target
#   iqn.2014-04.com.vstorage:demo  portal 127.0.0.1:3260  LUN 1 = 1 GiB thin qcow2 image
# in a local ISCSI_ROOT (./.demo/root), then runs vstorage-iscsid in the
# foreground with that target started. Ctrl-C stops it; running the script
# again reuses the same target and image (its NAA/serial stay the same).
#
# Environment: DEMO_DIR (default ./.demo), DEMO_PORTAL (default 127.0.0.1:3260),
# DEMO_SIZE (default 1G), ISCSI_LOG_LEVEL (default info).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

die() { echo "demo: $*" >&2; exit 1; }

command -v node >/dev/null || die "Node.js >= 20 is required (apt-get install nodejs npm, or https://nodejs.org)"
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || die "Node.js >= 20 is required, found $(node --version)"
command -v npm >/dev/null || die "npm is required"

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "demo: installing npm packages"
  npm ci --no-audit --no-fund
fi
echo "demo: building"
npm run --silent build

demo_dir=${DEMO_DIR:-$repo/.demo}
portal=${DEMO_PORTAL:-127.0.0.1:3260}
size=${DEMO_SIZE:-1G}
mkdir -p "$demo_dir/root" "$demo_dir/run" "$demo_dir/state"

# A private config file, so /etc/vstorage/iscsi/config is neither needed nor read.
cat > "$demo_dir/config" <<CONF
# Written by scripts/demo.sh
ISCSI_ROOT=$demo_dir/root
ISCSI_RUN_DIR=$demo_dir/run
ISCSI_STATE_DIR=$demo_dir/state
CONF
export ISCSI_CONFIG="$demo_dir/config"
unset ISCSI_ROOT ISCSI_RUN_DIR ISCSI_STATE_DIR ISCSI_HOST_ID

cli() { node "$repo/dist/tools/cli/main.js" "$@"; }
iqn=iqn.2014-04.com.vstorage:demo

if ! cli list -t "$iqn" >/dev/null 2>&1; then
  cli create -n demo -a "$portal" -d "vstorage-iscsi demo"
fi
if ! cli list -t "$iqn" | grep -q '^LUN: 1,'; then
  cli lun-add -t "$iqn" -l 1 -s "$size"
fi

node "$repo/dist/src/daemon/main.js" &
daemon=$!
forward() { kill -TERM "$daemon" 2>/dev/null || true; }
trap forward INT TERM

for _ in $(seq 1 100); do
  [ -S "$demo_dir/run/vstorage-iscsid.sock" ] && break
  kill -0 "$daemon" 2>/dev/null || { wait "$daemon" || true; die "vstorage-iscsid exited during start-up"; }
  sleep 0.1
done
[ -S "$demo_dir/run/vstorage-iscsid.sock" ] || { forward; die "vstorage-iscsid did not open its control socket"; }

cli start -t "$iqn" || { forward; wait "$daemon" || true; die "could not start $iqn"; }
cli list -t "$iqn"
cat <<MSG

demo: $iqn is being served on $portal. Try, in another terminal:
  iscsi-ls -s iscsi://$portal
  qemu-img info iscsi://$portal/$iqn/1
  iscsiadm -m discovery -t sendtargets -p $portal
  ISCSI_CONFIG=$demo_dir/config node dist/tools/cli/main.js list
demo: press Ctrl-C to stop (the target and its image stay in $demo_dir).
MSG

# Wait for the daemon; a signal interrupts `wait`, so wait again for its exit.
status=0
wait "$daemon" || status=$?
if kill -0 "$daemon" 2>/dev/null; then
  wait "$daemon" || status=$?
fi
exit "$status"
