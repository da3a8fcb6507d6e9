#!/usr/bin/env bash
# Validate the VM harness end to end against tgt (the reference C target).
#
# Starts its own tgtd in the foreground, listening on loopback only
# (127.0.0.1:PORT; PORT = $VM_TGT_PORT, else 3260 if free, else the first free
# port from 13260), with its own management socket (-C PORT), two targets
# backed by files in /dev/shm:
#   iqn.2024-01.org.vstorage.test:tgt-plain   LUN 1, 256 MiB, no auth
#   iqn.2024-01.org.vstorage.test:tgt-chap    LUN 1, 64 MiB, CHAP (tgt: MD5 only,
#                                             see below), mutual account bound
# and a second portal 127.0.0.1:PORT+1; then boots the VM once and runs
# guest/smoke.sh and guest/multipath.sh (two ports via one NIC, then one port
# via two NICs) on the plain target and
# guest/chap.sh (one-way, then mutual) on the CHAP target.
# VM_TGT_SCENARIOS="smoke chap multipath" (default) picks the scenarios. The tgtd and the
# backing files are removed on exit.
#
# Usage: tgt-check.sh [run-vm.sh options...]     e.g. tgt-check.sh -q
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# tgt: the installed one, else unpacked from its .deb into the cache (no
# install, so no service gets started); its libraries are in the guest root.
CACHE="${VM_CACHE_DIR:-$(cd "$HERE/../../.." && pwd)/.vm-cache}"
if command -v tgtd >/dev/null && command -v tgtadm >/dev/null; then
  TGTD=(tgtd) TGTADM=(command tgtadm)
else
  "$HERE/build-image.sh" >/dev/null   # also unpacks the guest libraries tgtd needs
  if [ ! -x "$CACHE/tgt/usr/sbin/tgtd" ]; then
    echo "[tgt-check] unpacking tgt into $CACHE/tgt" >&2
    mkdir -p "$CACHE/tgt-deb" && chmod 0777 "$CACHE/tgt-deb"
    (cd "$CACHE/tgt-deb" && rm -f tgt_*.deb && apt-get download -q tgt >&2)
    rm -rf "$CACHE/tgt" && dpkg-deb -x "$CACHE"/tgt-deb/tgt_*.deb "$CACHE/tgt"
  fi
  R="$CACHE/root"
  LIBS="$R/lib/x86_64-linux-gnu:$R/usr/lib/x86_64-linux-gnu"
  TGTD=(env LD_LIBRARY_PATH="$LIBS" "$CACHE/tgt/usr/sbin/tgtd")
  TGTADM=(env LD_LIBRARY_PATH="$LIBS" "$CACHE/tgt/usr/sbin/tgtadm")
fi
tgtadm() { "${TGTADM[@]}" "$@"; }

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
PORT="${VM_TGT_PORT:-}"
if [ -z "$PORT" ]; then
  if port_free 3260; then PORT=3260; else
    PORT=13260; while ! port_free "$PORT"; do PORT=$((PORT + 1)); done
  fi
fi
PORT2=$((PORT + 1)); while ! port_free "$PORT2"; do PORT2=$((PORT2 + 1)); done
CP="$PORT"   # management socket /var/run/tgtd/socket.$CP, separate from any other tgtd
TGTPID=""
SHM="/dev/shm/vmtest-tgt-$$"
cleanup() {
  if [ -n "$TGTPID" ] && kill -0 "$TGTPID" 2>/dev/null; then
    # tgtd -f ignores SIGTERM while it has targets: delete them, then the system
    for tid in 1 2; do
      tgtadm -C "$CP" --lld iscsi --op delete --mode target --tid "$tid" --force >/dev/null 2>&1 || true
    done
    tgtadm -C "$CP" --op delete --mode system >/dev/null 2>&1 || true
    for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$TGTPID" 2>/dev/null || break; sleep 0.3; done
    kill -KILL "$TGTPID" 2>/dev/null || true
    wait "$TGTPID" 2>/dev/null || true
  fi
  rm -f "$SHM"-*.img
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "[tgt-check] tgtd on 127.0.0.1:$PORT and :$PORT2 (control port $CP)" >&2
mkdir -p "$CACHE/logs"
TGTLOG="$CACHE/logs/tgtd-$(date +%Y%m%d-%H%M%S)-$$.log"
"${TGTD[@]}" -f -C "$CP" --iscsi "portal=127.0.0.1:$PORT" > "$TGTLOG" 2>&1 &
TGTPID=$!
for _ in $(seq 1 50); do
  tgtadm -C "$CP" --mode target --op show >/dev/null 2>&1 && break
  kill -0 "$TGTPID" 2>/dev/null || { cat "$TGTLOG" >&2; exit 1; }
  sleep 0.1
done
adm() { tgtadm -C "$CP" --lld iscsi "$@"; }
# second portal on the same loopback address, for the multipath scenario
adm --op new --mode portal --param "portal=127.0.0.1:$PORT2"

PLAIN=iqn.2024-01.org.vstorage.test:tgt-plain
CHAP=iqn.2024-01.org.vstorage.test:tgt-chap
truncate -s 256M "$SHM-1.img"
truncate -s 64M "$SHM-2.img"
adm --op new --mode target --tid 1 -T "$PLAIN"
adm --op new --mode logicalunit --tid 1 --lun 1 -b "$SHM-1.img"
adm --op bind --mode target --tid 1 -I ALL
adm --op new --mode target --tid 2 -T "$CHAP"
adm --op new --mode logicalunit --tid 2 --lun 1 -b "$SHM-2.img"
adm --op bind --mode target --tid 2 -I ALL
adm --op new --mode account --user vmuser --password vmsecret123456
adm --op bind --mode account --tid 2 --user vmuser
adm --op new --mode account --user tgtmutual --password tgtsecret65432
adm --op bind --mode account --tid 2 --user tgtmutual --outgoing

start=$(date +%s.%N)
set +e
"$HERE/run-vm.sh" -t "${VM_TGT_TIMEOUT:-900}" --nics 2 "$@" \
  -e VM_TARGET_PORTAL="10.0.2.2:$PORT" -e VM_TARGET_LUN=1 \
  -e PORT="$PORT" -e PORT2="$PORT2" \
  -e SCENARIOS="${VM_TGT_SCENARIOS:-smoke chap multipath}" \
  -e PLAIN="$PLAIN" -e CHAP="$CHAP" - <<'GUEST'
set -u
. /guest/lib.sh
rc=0
has() { case " $SCENARIOS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
timed() { # NAME CMD... : run a scenario, report its time and verdict
  _n="$1"; shift; _t=$(now_ms)
  if "$@"; then result "scenario_$_n" "pass"; else result "scenario_$_n" "FAIL"; rc=1; fi
  result "scenario_${_n}_ms" "$(elapsed_ms "$_t")"
}
if has smoke; then timed smoke env VM_TARGET_IQN="$PLAIN" sh /guest/smoke.sh; fi
if has multipath; then
  # two portals (ports) on the host's loopback, reached through one NIC
  timed multipath_2ports env VM_TARGET_IQN="$PLAIN" VM_TARGET_PORTALS="10.0.2.2:$PORT 10.0.2.2:$PORT2" sh /guest/multipath.sh
  # one host port reached through two NICs (10.0.2.2 via eth0, 10.0.3.2 via eth1)
  timed multipath_2nics env VM_TARGET_IQN="$PLAIN" VM_TARGET_PORTALS="10.0.2.2:$PORT 10.0.3.2:$PORT" sh /guest/multipath.sh
fi
if has chap; then
  # tgt 1.0.85 knows CHAP_A=5 (MD5) and CHAP_A=7, which it takes for SHA-1 while
  # open-iscsi (and the IANA registry) mean SHA-256 by 7 (SHA-1 is 6, SHA3-256 8).
  # So against tgt: MD5 works, a list without SHA256 falls through to MD5, and
  # any list holding SHA256 fails (tgt picks 7 and checks a SHA-1 digest).
  export VM_TARGET_CHAP_IQN="$CHAP" VM_TARGET_CHAP_USER=vmuser VM_TARGET_CHAP_SECRET=vmsecret123456
  timed chap_oneway env VM_TARGET_CHAP_ALGS_OK="MD5 SHA3-256,SHA1,MD5" \
    VM_TARGET_CHAP_ALGS_BAD="SHA256 SHA1 SHA3-256 SHA3-256,SHA256,SHA1,MD5" sh /guest/chap.sh
  timed chap_mutual env VM_TARGET_CHAP_MUSER=tgtmutual VM_TARGET_CHAP_MSECRET=tgtsecret65432 \
    VM_TARGET_CHAP_ALGS_OK="MD5" VM_TARGET_CHAP_ALGS_BAD="" sh /guest/chap.sh
fi
exit $rc
GUEST
rc=$?
set -e
echo "[tgt-check] VM run: exit $rc, $(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')s wall" >&2
exit $rc
