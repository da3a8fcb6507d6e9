# Guest scenario: one LUN through several portals, assembled by dm-multipath;
# write+verify through the map, lose a path (logout) under the map, I/O still
# works, the path comes back.  Composes /guest/lib.sh.
#
# Environment:
#   VM_TARGET_PORTALS   space-separated HOST:PORT list, e.g. "10.0.2.2:3260 10.0.2.2:3261"
#   VM_TARGET_IQN       target name (the same target behind every portal)
#   VM_TARGET_LUN       LUN (default 0)
#   VM_TARGET_CHAP_USER/SECRET/MUSER/MSECRET/ALGS   optional CHAP, as in smoke.sh
#   VM_TARGET_FIO_SIZE  default 32M
set -u
. /guest/lib.sh

PORTALS="${VM_TARGET_PORTALS:?VM_TARGET_PORTALS is required}"
IQN="${VM_TARGET_IQN:?VM_TARGET_IQN is required}"
LUN="${VM_TARGET_LUN:-0}"
U="${VM_TARGET_CHAP_USER:-}" S="${VM_TARGET_CHAP_SECRET:-}"
MU="${VM_TARGET_CHAP_MUSER:-}" MS="${VM_TARGET_CHAP_MSECRET:-}"
ALGS="${VM_TARGET_CHAP_ALGS:-}"
N=0 DEVS=""

for p in $PORTALS; do
  step "login $IQN via $p"
  iscsi_login "$p" "$IQN" "$U" "$S" "$MU" "$MS" "$ALGS" || fail "login via $p"
  d="$(iscsi_disk "$p" "$IQN" "$LUN")" || fail "no disk via $p"
  echo "$p -> $d ($(/usr/lib/udev/scsi_id -g -u "$d" 2>/dev/null))"
  DEVS="$DEVS $d"; N=$((N + 1))
done
[ "$N" -ge 2 ] || fail "need at least two portals for multipath"

step "multipath"
mpath_start || fail "multipathd did not start"
first="${DEVS# }"; first="${first%% *}"
wait_until 30 mpath_map_of "$first" || { multipath -v3 >&2; fail "no multipath map over $first"; }
MAP="$(mpath_map_of "$first")"
mpath_wait "$MAP" "$N" 30 || { multipath -ll >&2; fail "$MAP does not have $N active paths"; }
multipath -ll "$MAP"
result mpath_paths "$N"

step "fio write + verify on /dev/mapper/$MAP"
fio_verify "/dev/mapper/$MAP" "${VM_TARGET_FIO_SIZE:-32M}" 4k randwrite 8 || fail "fio on the map"

step "lose one path"
lost="${PORTALS%% *}"
iscsi_logout "$lost" "$IQN" || fail "logout $lost"
wait_until 30 sh -c "[ \$(multipathd show paths format '%m %t' | awk -v m=$MAP '\$1==m' | wc -l) -lt $N ]" \
  || log "note: multipathd still lists $N paths"
multipath -ll "$MAP"
dd_pattern_check "/dev/mapper/$MAP" || fail "I/O through $MAP with one path lost"
echo "I/O ok with $((N - 1)) path(s)"

step "path comes back"
iscsi_login "$lost" "$IQN" "$U" "$S" "$MU" "$MS" "$ALGS" || fail "re-login $lost"
iscsi_disk "$lost" "$IQN" "$LUN" >/dev/null || fail "no disk after re-login"
mpath_wait "$MAP" "$N" 30 || { multipath -ll >&2; fail "$MAP did not get back to $N paths"; }
multipath -ll "$MAP"
dd_pattern_check "/dev/mapper/$MAP" || fail "I/O after path restore"

step "teardown"
mpath_remove "$MAP" || fail "cannot remove $MAP"
for p in $PORTALS; do iscsi_logout "$p" "$IQN" >/dev/null || fail "logout $p"; done
echo "MULTIPATH OK"
