#!/usr/bin/env bash
# Boot the e2e initiator VM (QEMU/TCG) and run a guest shell script in it.
#
# Usage: run-vm.sh [options] SCRIPT [-- EXTRA-QEMU-ARGS...]
#   SCRIPT               guest script (busybox sh); becomes /test.sh in the VM.
#                        "-" reads it from stdin.
# Options:
#   -t, --timeout SEC    kill the VM after SEC seconds (default 600)
#   -l, --log FILE       serial console log (default $VM_CACHE_DIR/logs/vm-<time>-<pid>.log)
#   -e, --env NAME=VAL   export NAME=VAL to the guest script (repeatable). Host
#                        variables named VM_TARGET_* and VMTEST_* are passed
#                        automatically.
#   -f, --file SRC[:DST] put a host file into the guest (default DST /root/<name>)
#   -m, --memory MB      guest memory (default 1024)
#   -c, --cpus N         guest CPUs (default 2)
#   -a, --append ARGS    extra kernel command line (e.g. "vmtest.debug=1",
#                        "vmtest.multipathd=1", "vmtest.net=dhcp")
#   -q, --quiet          do not copy the console to stdout (log file only)
#   -n, --nics N         N user-mode NICs (default 1): NIC i (eth<i>) is on
#                        10.0.<2+i>.0/24, guest 10.0.<2+i>.15, host 10.0.<2+i>.2
#                        (every one of them is the host's 127.0.0.1)
#       --netns NAME     run QEMU inside network namespace NAME (ip netns exec):
#                        the guest then reaches that namespace's addresses
#                        directly, and 10.0.x.2 is the namespace's 127.0.0.1
#       --no-net         no default NIC (give your own -netdev/-device after --)
#       --verbose-kernel drop "quiet" from the kernel command line
# Every file in guest/ next to this script is available in the VM as /guest/<name>
# (source /guest/lib.sh in the script).
#
# Networking: one virtio NIC on QEMU user networking (slirp). The guest is
# 10.0.2.15/24; 10.0.2.2 is the host's loopback, so a target listening on
# 127.0.0.1:3260 on the host is 10.0.2.2:3260 in the guest.
#
# Exit status: the guest script's exit status (printed by the guest as
# VMTEST-EXIT=<n>); 124 if the timeout hit; 125 if the VM stopped without
# reporting (kernel panic, init crash); 2 for usage errors. The last line on
# stderr says which.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../../.." && pwd)"
export VM_CACHE_DIR="${VM_CACHE_DIR:-$REPO/.vm-cache}"

TIMEOUT=600 LOG="" MEM=1024 CPUS=2 NICS=1 NETNS="" APPEND="" QUIET=0 NONET=0 KQUIET=quiet
ENVS=() FILES=() SCRIPT=""
usage() { sed -n '2,38p' "$0" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    -t|--timeout) TIMEOUT="$2"; shift 2 ;;
    -l|--log) LOG="$2"; shift 2 ;;
    -e|--env) ENVS+=("$2"); shift 2 ;;
    -f|--file) FILES+=("$2"); shift 2 ;;
    -m|--memory) MEM="$2"; shift 2 ;;
    -c|--cpus) CPUS="$2"; shift 2 ;;
    -a|--append) APPEND="$APPEND $2"; shift 2 ;;
    -q|--quiet) QUIET=1; shift ;;
    -n|--nics) NICS="$2"; shift 2 ;;
    --netns) NETNS="$2"; shift 2 ;;
    --no-net) NONET=1; shift ;;
    --verbose-kernel) KQUIET=""; shift ;;
    -h|--help) usage ;;
    --) shift; break ;;
    -) [ -z "$SCRIPT" ] || usage; SCRIPT="-"; shift ;;
    -*) echo "run-vm.sh: unknown option $1" >&2; usage ;;
    *) [ -z "$SCRIPT" ] || { [ "$1" = "--" ] && break; usage; }; SCRIPT="$1"; shift ;;
  esac
done
EXTRA=("$@")
[ -n "$SCRIPT" ] || { echo "run-vm.sh: no guest script given" >&2; usage; }

# Kernel + base initramfs (built once, cached).
eval "$("$HERE/build-image.sh" --print-env)"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/vmtest.XXXXXX")"
QPID=""
cleanup() {
  if [ -n "$QPID" ] && kill -0 "$QPID" 2>/dev/null; then kill -TERM "$QPID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- per-run overlay: /test.sh, /test.env, /guest/*, extra files
OV="$WORK/overlay"
mkdir -p "$OV/guest" "$OV/root"
if [ "$SCRIPT" = "-" ]; then cat > "$OV/test.sh"; else cp "$SCRIPT" "$OV/test.sh"; fi
chmod 0755 "$OV/test.sh"
cp "$HERE"/guest/*.sh "$OV/guest/" 2>/dev/null || true
shq() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }
{
  while IFS='=' read -r name _; do
    case "$name" in VM_TARGET_*|VMTEST_*) echo "export $name=$(shq "${!name}")" ;; esac
  done < <(env)
  for kv in "${ENVS[@]+"${ENVS[@]}"}"; do
    name="${kv%%=*}"; val="${kv#*=}"
    [[ "$name" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || { echo "run-vm.sh: bad --env $kv" >&2; exit 2; }
    echo "export $name=$(shq "$val")"
  done
} > "$OV/test.env"
for fd in "${FILES[@]+"${FILES[@]}"}"; do
  src="${fd%%:*}"; dst="${fd#*:}"; [ "$dst" != "$fd" ] || dst="/root/$(basename "$src")"
  mkdir -p "$OV/$(dirname "$dst")"; cp -a "$src" "$OV/$dst"
done
# The kernel unpacks concatenated archives; each must start 4-byte aligned.
cp "$VM_INITRD" "$WORK/initrd.img"
pad=$(( (4 - $(stat -c %s "$WORK/initrd.img") % 4) % 4 ))
[ "$pad" = 0 ] || head -c "$pad" /dev/zero >> "$WORK/initrd.img"
(cd "$OV" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) >> "$WORK/initrd.img"

# ---- QEMU
if [ -z "$LOG" ]; then
  mkdir -p "$VM_CACHE_DIR/logs"
  LOG="$VM_CACHE_DIR/logs/vm-$(date +%Y%m%d-%H%M%S)-$$.log"
fi
mkdir -p "$(dirname "$LOG")"
NET=()
if [ "$NONET" = 0 ]; then
  for ((i = 0; i < NICS; i++)); do
    NET+=(-netdev "user,id=n$i,net=10.0.$((2 + i)).0/24" -device "virtio-net-pci,netdev=n$i,romfile=")
  done
fi
CMDLINE="console=ttyS0,115200 $KQUIET panic=-1 net.ifnames=0 biosdevname=0 $APPEND"
QEMU=(qemu-system-x86_64 -accel tcg -cpu max -smp "$CPUS" -m "$MEM"
      -nodefaults -no-user-config -display none -monitor none -no-reboot
      -serial stdio
      -device virtio-rng-pci
      -kernel "$VM_KERNEL" -initrd "$WORK/initrd.img" -append "$CMDLINE"
      "${NET[@]+"${NET[@]}"}" "${EXTRA[@]+"${EXTRA[@]}"}")
[ -z "$NETNS" ] || QEMU=(ip netns exec "$NETNS" "${QEMU[@]}")
echo "[run-vm] log: $LOG" >&2
START=$(date +%s.%N)
# qemu runs in the background (under `timeout`, same process group) so that
# the EXIT trap can stop it if this script is interrupted.
if [ "$QUIET" = 1 ]; then
  exec {OUTFD}>"$LOG"
  TEEPID=""
else
  exec {OUTFD}> >(tee "$LOG")
  TEEPID=$!
fi
timeout --foreground -k 10 "$TIMEOUT" "${QEMU[@]}" </dev/null >&"$OUTFD" 2>&1 &
QPID=$!
set +e
wait "$QPID"
QRC=$?
set -e
QPID=""
exec {OUTFD}>&-
[ -z "$TEEPID" ] || wait "$TEEPID" 2>/dev/null || true
END=$(date +%s.%N)
ELAPSED=$(awk -v a="$START" -v b="$END" 'BEGIN{printf "%.1f", b-a}')

RC=$(tr -d '\r' < "$LOG" | sed -nE 's/^VMTEST-EXIT=([0-9]+)$/\1/p' | tail -1)
if [ -n "$RC" ]; then
  echo "[run-vm] guest exit status $RC after ${ELAPSED}s (log $LOG)" >&2
  exit "$RC"
elif [ "$QRC" = 124 ] || [ "$QRC" = 137 ]; then
  echo "[run-vm] TIMEOUT after ${TIMEOUT}s: VM killed (log $LOG)" >&2
  exit 124
else
  echo "[run-vm] VM stopped without reporting an exit status (qemu status $QRC, ${ELAPSED}s; log $LOG)" >&2
  exit 125
fi
