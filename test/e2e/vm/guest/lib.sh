# Helpers for guest scripts of the e2e initiator VM (busybox ash; POSIX sh).
# Source it first:   . /guest/lib.sh
#
# Conventions
#   - Functions print progress to stdout, errors to stderr, and return non-zero
#     on failure (they never exit), so a script decides: `cmd || fail "why"`.
#   - `result KEY VALUE` prints "VMTEST-RESULT KEY=VALUE": the host side
#     (run-vm.sh log, vm.ts `results`) collects those lines.
#   - Portals are "HOST:PORT" as seen from the guest: the host's 127.0.0.1 is
#     10.0.2.2 under QEMU user networking.
#
# Index
#   log/step/fail/result/now_ms/elapsed_ms, wait_until SECS CMD...
#   iscsi_set_initiator_name IQN
#   iscsi_discover PORTAL [USER SECRET [MUSER MSECRET]]       -> prints target IQNs
#   iscsi_node_new PORTAL IQN
#   iscsi_node_set PORTAL IQN NAME VALUE
#   iscsi_node_chap PORTAL IQN USER SECRET [MUSER MSECRET] [ALGS]
#   iscsi_login PORTAL IQN [USER SECRET [MUSER MSECRET]] [ALGS]
#   iscsi_logout PORTAL IQN ; iscsi_logout_all ; iscsi_node_delete PORTAL IQN
#   iscsi_session_id PORTAL IQN                               -> prints session number
#   iscsi_disk PORTAL IQN [LUN] [TIMEOUT]                     -> prints /dev/sdX
#   iscsi_negotiated PORTAL IQN                                -> prints negotiated params
#   fs_fill DEV MNT SUMS [NFILES] [KB]   mkfs.ext4, mount, write files, sha256 -> SUMS, umount
#   fs_verify DEV MNT SUMS               mount, sha256sum -c SUMS, umount
#   fio_verify DEV [SIZE] [BS] [RW] [IODEPTH] [ENGINE]   write+verify (crc32c), direct I/O
#   dd_pattern_check DEV                 small raw write/read-back check without a filesystem
#   mpath_start ; mpath_wait MAP NPATHS [TIMEOUT] ; mpath_map_of DEV ; mpath_remove MAP

# ----------------------------------------------------------------- basics
log() { echo "[guest $(cut -d' ' -f1 /proc/uptime)s] $*"; }
step() { echo; echo "=== $* ==="; }
fail() { echo "FAIL: $*" >&2; exit 1; }
result() { echo "VMTEST-RESULT $1=$2"; }
now_ms() { awk '{printf "%d\n", $1 * 1000}' /proc/uptime; }
# elapsed_ms START_MS -> ms since START_MS
elapsed_ms() { echo $(( $(now_ms) - $1 )); }

# wait_until SECS CMD... : poll CMD every 0.2 s until it succeeds or SECS pass.
wait_until() {
  _wu_deadline=$(( $(now_ms) + $1 * 1000 )); shift
  while ! "$@" >/dev/null 2>&1; do
    [ "$(now_ms)" -lt "$_wu_deadline" ] || return 1
    sleep 0.2
  done
}

# ----------------------------------------------------------------- open-iscsi
# iscsi_set_initiator_name IQN : set the initiator name and restart iscsid.
iscsi_set_initiator_name() {
  echo "InitiatorName=$1" > /etc/iscsi/initiatorname.iscsi
  if pidof iscsid >/dev/null; then
    kill "$(pidof iscsid)"; wait_until 10 sh -c '! pidof iscsid'
  fi
  iscsid
}

_portal_host() { echo "${1%:*}"; }
_portal_port() { echo "${1##*:}"; }

# iscsi_discover PORTAL [USER SECRET [MUSER MSECRET]] : SendTargets discovery,
# optionally with (mutual) CHAP; prints the discovered target names.
iscsi_discover() {
  _p="$1"
  if [ -n "${2:-}" ]; then
    iscsiadm -m discoverydb -t sendtargets -p "$_p" -o new >/dev/null || return 1
    _dset() { iscsiadm -m discoverydb -t sendtargets -p "$_p" -o update -n "$1" -v "$2" >/dev/null; }
    _dset discovery.sendtargets.auth.authmethod CHAP || return 1
    _dset discovery.sendtargets.auth.username "$2" || return 1
    _dset discovery.sendtargets.auth.password "$3" || return 1
    if [ -n "${4:-}" ]; then
      _dset discovery.sendtargets.auth.username_in "$4" || return 1
      _dset discovery.sendtargets.auth.password_in "$5" || return 1
    fi
    _out="$(iscsiadm -m discoverydb -t sendtargets -p "$_p" --discover)" || return 1
  else
    _out="$(iscsiadm -m discovery -t sendtargets -p "$_p")" || return 1
  fi
  echo "$_out" | awk '{print $2}'
}

# iscsi_node_new PORTAL IQN : create the node record without discovery.
iscsi_node_new() {
  iscsiadm -m node -T "$2" -p "$1" >/dev/null 2>&1 \
    || iscsiadm -m node -T "$2" -p "$1" -o new >/dev/null
}

# iscsi_node_set PORTAL IQN NAME VALUE : update one node setting.
iscsi_node_set() {
  iscsiadm -m node -T "$2" -p "$1" -o update -n "$3" -v "$4" >/dev/null
}

# iscsi_node_chap PORTAL IQN USER SECRET [MUSER MSECRET] [ALGS]
# One-way CHAP (USER/SECRET: the initiator authenticates to the target);
# mutual when MUSER/MSECRET are given (the target authenticates back).
# ALGS is node.session.auth.chap_algs, e.g. "SHA3-256,SHA256,SHA1,MD5"
# (open-iscsi offers them in that order; the target picks one).
iscsi_node_chap() {
  _p="$1" _t="$2"
  iscsi_node_set "$_p" "$_t" node.session.auth.authmethod CHAP || return 1
  iscsi_node_set "$_p" "$_t" node.session.auth.username "$3" || return 1
  iscsi_node_set "$_p" "$_t" node.session.auth.password "$4" || return 1
  if [ -n "${5:-}" ]; then
    iscsi_node_set "$_p" "$_t" node.session.auth.username_in "$5" || return 1
    iscsi_node_set "$_p" "$_t" node.session.auth.password_in "$6" || return 1
  else
    iscsi_node_set "$_p" "$_t" node.session.auth.username_in "" || true
    iscsi_node_set "$_p" "$_t" node.session.auth.password_in "" || true
  fi
  if [ -n "${7:-}" ]; then
    iscsi_node_set "$_p" "$_t" node.session.auth.chap_algs "$7" || return 1
  fi
}

# iscsi_login PORTAL IQN [USER SECRET [MUSER MSECRET]] [ALGS]
# Creates/updates the node record and logs in (no CHAP when USER is empty).
iscsi_login() {
  _p="$1" _t="$2"
  iscsi_node_new "$_p" "$_t" || return 1
  if [ -n "${3:-}" ]; then
    iscsi_node_chap "$_p" "$_t" "$3" "$4" "${5:-}" "${6:-}" "${7:-}" || return 1
  else
    iscsi_node_set "$_p" "$_t" node.session.auth.authmethod None || return 1
  fi
  iscsiadm -m node -T "$_t" -p "$_p" --login
}

iscsi_logout() { iscsiadm -m node -T "$2" -p "$1" --logout; }
iscsi_logout_all() { iscsiadm -m node --logoutall=all; }
iscsi_node_delete() { iscsiadm -m node -T "$2" -p "$1" -o delete; }

# iscsi_session_id PORTAL IQN : number N of /sys/class/iscsi_session/sessionN
iscsi_session_id() {
  _h="$(_portal_host "$1")" _port="$(_portal_port "$1")"
  for _s in /sys/class/iscsi_session/session*; do
    [ -e "$_s" ] || continue
    [ "$(cat "$_s/targetname")" = "$2" ] || continue
    _n="${_s##*session}"
    for _c in /sys/class/iscsi_connection/connection"$_n":*; do
      [ -e "$_c" ] || continue
      if [ "$(cat "$_c/persistent_address")" = "$_h" ] && [ "$(cat "$_c/persistent_port")" = "$_port" ]; then
        echo "$_n"; return 0
      fi
    done
  done
  return 1
}

_iscsi_disk_once() { # PORTAL IQN LUN
  _sid="$(iscsi_session_id "$1" "$2")" || return 1
  _sdir="$(readlink -f "/sys/class/iscsi_session/session$_sid")/../.."
  for _b in "$_sdir"/target*/*:*:*:"$3"/block/*; do
    [ -e "$_b" ] || continue
    _d="/dev/${_b##*/}"
    [ -b "$_d" ] && { echo "$_d"; return 0; }
  done
  return 1
}

# iscsi_disk PORTAL IQN [LUN] [TIMEOUT] : wait for the LUN's block device of
# that session (default LUN 0 or the lowest one found... give it explicitly
# for tgt, whose LUN 0 is the controller) and print /dev/sdX.
iscsi_disk() {
  _lun="${3:-0}" _to="${4:-30}"
  wait_until "$_to" _iscsi_disk_once "$1" "$2" "$_lun" || {
    echo "iscsi_disk: no block device for $2 @ $1 LUN $_lun after ${_to}s" >&2
    iscsiadm -m session -P 3 >&2 2>/dev/null || true
    return 1
  }
  _iscsi_disk_once "$1" "$2" "$_lun"
}

# iscsi_negotiated PORTAL IQN : the negotiated session/connection parameters.
iscsi_negotiated() {
  _sid="$(iscsi_session_id "$1" "$2")" || return 1
  iscsiadm -m session -r "$_sid" -P 2 | sed -n '/Negotiated iSCSI params/,$p'
}

# ----------------------------------------------------------------- filesystem
# fs_fill DEV MNT SUMS [NFILES] [KB] : mkfs.ext4, mount, write NFILES random
# files of KB KiB (default 8 x 1024), record sha256 sums in SUMS, unmount.
fs_fill() {
  _dev="$1" _mnt="$2" _sums="$3" _n="${4:-8}" _kb="${5:-1024}"
  mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$_dev" || return 1
  mkdir -p "$_mnt" && mount -t ext4 "$_dev" "$_mnt" || return 1
  _i=1
  while [ "$_i" -le "$_n" ]; do
    dd if=/dev/urandom of="$_mnt/file$_i" bs=1024 count="$_kb" 2>/dev/null || { umount "$_mnt"; return 1; }
    _i=$((_i + 1))
  done
  mkdir -p "$_mnt/dir/sub" && echo "hello iscsi" > "$_mnt/dir/sub/small.txt"
  (cd "$_mnt" && find . -type f ! -path './lost+found/*' | sort | xargs sha256sum) > "$_sums" || { umount "$_mnt"; return 1; }
  sync
  umount "$_mnt"
}

# fs_verify DEV MNT SUMS : fsck (read-only), mount, check every sum, unmount.
fs_verify() {
  _dev="$1" _mnt="$2" _sums="$3"
  e2fsck -f -n "$_dev" >/dev/null 2>&1 || { echo "fs_verify: e2fsck found problems on $_dev" >&2; e2fsck -f -n "$_dev" >&2; return 1; }
  mkdir -p "$_mnt" && mount -t ext4 "$_dev" "$_mnt" || return 1
  (cd "$_mnt" && sha256sum -c "$_sums" >/dev/null) || { echo "fs_verify: checksum mismatch" >&2; (cd "$_mnt" && sha256sum -c "$_sums" >&2); umount "$_mnt"; return 1; }
  umount "$_mnt"
}

# ----------------------------------------------------------------- raw I/O
# fio_verify DEV [SIZE] [BS] [RW] [IODEPTH] [ENGINE] : write with crc32c
# verification headers, then read back and verify (fio exits non-zero on any
# mismatch). Prints the fio summary; reports write/read bandwidth as results.
fio_verify() {
  _dev="$1" _size="${2:-64M}" _bs="${3:-4k}" _rw="${4:-randwrite}" _qd="${5:-8}" _eng="${6:-libaio}"
  _out=/tmp/fio-$$.txt
  fio --name=v --filename="$_dev" --rw="$_rw" --bs="$_bs" --size="$_size" \
      --verify=crc32c --do_verify=1 --verify_fatal=1 --direct=1 \
      --ioengine="$_eng" --iodepth="$_qd" --output-format=normal > "$_out" 2>&1
  _rc=$?
  grep -E 'err=|WRITE:|READ:|verify' "$_out"
  [ "$_rc" = 0 ] || { echo "fio_verify: fio exited $_rc" >&2; cat "$_out" >&2; return 1; }
  grep -q 'err= 0' "$_out" || { cat "$_out" >&2; return 1; }
  _w="$(sed -nE 's/^ *WRITE: bw=([^ ]+) .*/\1/p' "$_out" | head -1)"
  _r="$(sed -nE 's/^ *READ: bw=([^ ]+) .*/\1/p' "$_out" | head -1)"
  [ -n "$_w" ] && result "fio_${_rw}_${_bs}_write_bw" "$_w"
  [ -n "$_r" ] && result "fio_${_rw}_${_bs}_verify_read_bw" "$_r"
  return 0
}

# dd_pattern_check DEV : write 1 MiB of random data at offset 1 MiB with
# O_DIRECT, read it back and compare.
dd_pattern_check() {
  dd if=/dev/urandom of=/tmp/pat bs=64k count=16 2>/dev/null
  dd if=/tmp/pat of="$1" bs=64k seek=16 count=16 oflag=direct conv=fsync 2>/dev/null || return 1
  dd if="$1" of=/tmp/pat.rb bs=64k skip=16 count=16 iflag=direct 2>/dev/null || return 1
  cmp /tmp/pat /tmp/pat.rb
}

# ----------------------------------------------------------------- multipath
# mpath_start : start multipathd (if not yet running) and build the maps.
mpath_start() {
  pidof multipathd >/dev/null || multipathd || return 1
  wait_until 10 multipathd show daemon || return 1
  multipath -r >/dev/null 2>&1 || true
}
# mpath_wait MAP NPATHS [TIMEOUT] : wait until MAP has NPATHS active paths.
_mpath_active() { [ "$(multipathd show paths format '%m %t' 2>/dev/null | awk -v m="$1" '$1==m && $2=="active"' | wc -l)" -ge "$2" ]; }
mpath_wait() { wait_until "${3:-30}" _mpath_active "$1" "$2"; }
# mpath_map_of DEV : name of the multipath map that holds /dev/sdX
mpath_map_of() {
  _b="${1##*/}"
  for _h in /sys/block/dm-*/slaves/"$_b"; do
    [ -e "$_h" ] || continue
    _dm="${_h%/slaves/*}"; cat "$_dm/dm/name"; return 0
  done
  return 1
}
# mpath_remove MAP : flush the map (retried: udev probes keep it open briefly).
mpath_remove() {
  multipathd disablequeueing map "$1" >/dev/null 2>&1 || true
  wait_until 15 multipath -f "$1" || { multipath -f "$1"; return 1; }
}
