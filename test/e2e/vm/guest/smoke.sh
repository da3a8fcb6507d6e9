# Guest scenario: discovery, login, ext4 round trip across a re-login, raw
# pattern check, fio write+verify, logout.  Composes /guest/lib.sh.
#
# Environment (pass from the host as VM_TARGET_* variables):
#   VM_TARGET_PORTAL   HOST:PORT as seen by the guest (default 10.0.2.2:3260)
#   VM_TARGET_IQN      target name (default: the first one SendTargets returns)
#   VM_TARGET_LUN      LUN of the disk to use (default 0; tgt's disks start at 1)
#   VM_TARGET_CHAP_USER, VM_TARGET_CHAP_SECRET        optional one-way CHAP
#   VM_TARGET_CHAP_MUSER, VM_TARGET_CHAP_MSECRET      optional mutual CHAP
#   VM_TARGET_CHAP_ALGS                               optional chap_algs list
#   VM_TARGET_FIO_SIZE (default 64M), VM_TARGET_FIO_ENGINE (default libaio),
#   VM_TARGET_FIO_IODEPTH (default 8)
set -u
. /guest/lib.sh

PORTAL="${VM_TARGET_PORTAL:-10.0.2.2:3260}"
LUN="${VM_TARGET_LUN:-0}"
U="${VM_TARGET_CHAP_USER:-}" S="${VM_TARGET_CHAP_SECRET:-}"
MU="${VM_TARGET_CHAP_MUSER:-}" MS="${VM_TARGET_CHAP_MSECRET:-}"
ALGS="${VM_TARGET_CHAP_ALGS:-}"
T0=$(now_ms)

step "discovery on $PORTAL"
targets="$(iscsi_discover "$PORTAL")" || fail "SendTargets discovery on $PORTAL failed"
echo "$targets"
IQN="${VM_TARGET_IQN:-$(echo "$targets" | head -1)}"
[ -n "$IQN" ] || fail "no target discovered"
echo "$targets" | grep -qx "$IQN" || fail "$IQN not in the SendTargets answer"

step "login $IQN"
t=$(now_ms)
iscsi_login "$PORTAL" "$IQN" "$U" "$S" "$MU" "$MS" "$ALGS" || fail "login failed"
DEV="$(iscsi_disk "$PORTAL" "$IQN" "$LUN")" || fail "no disk"
result login_ms "$(elapsed_ms "$t")"
echo "disk: $DEV ($(cat /sys/block/${DEV#/dev/}/size) sectors)"
iscsi_negotiated "$PORTAL" "$IQN"
sg_inq "$DEV" | head -12
sg_readcap -l "$DEV"

step "ext4: mkfs, write, checksum"
t=$(now_ms)
fs_fill "$DEV" /mnt/t /tmp/sums 8 1024 || fail "fs_fill"
cat /tmp/sums
result fs_fill_ms "$(elapsed_ms "$t")"

step "logout, login again, verify"
iscsi_logout "$PORTAL" "$IQN" || fail "logout"
wait_until 10 sh -c "[ ! -b $DEV ]" || log "note: $DEV still present after logout"
iscsi_login "$PORTAL" "$IQN" "$U" "$S" "$MU" "$MS" "$ALGS" || fail "second login failed"
DEV="$(iscsi_disk "$PORTAL" "$IQN" "$LUN")" || fail "no disk after re-login"
echo "disk: $DEV"
fs_verify "$DEV" /mnt/t /tmp/sums || fail "checksums differ after re-login"
echo "checksums verified"

step "raw pattern"
dd_pattern_check "$DEV" || fail "raw read-back mismatch"
echo ok

step "fio write + verify"
fio --enghelp 2>/dev/null | tr -d '\t' | grep -xE 'libaio|io_uring|psync|sg' | tr '\n' ' '; echo
t=$(now_ms)
fio_verify "$DEV" "${VM_TARGET_FIO_SIZE:-64M}" 4k randwrite "${VM_TARGET_FIO_IODEPTH:-8}" "${VM_TARGET_FIO_ENGINE:-libaio}" || fail "fio verify failed"
result fio_ms "$(elapsed_ms "$t")"

step "logout"
iscsi_logout "$PORTAL" "$IQN" || fail "final logout"
result total_ms "$(elapsed_ms "$T0")"
echo "SMOKE OK"
