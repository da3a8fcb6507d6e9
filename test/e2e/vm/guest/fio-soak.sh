# Guest scenario: a time-based fio write+verify workload on one LUN:
# login, fio (two jobs on disjoint regions, each randrw with crc32c verify
# headers on every write and a verify backlog: 4 KiB I/O on the first region,
# 64 KiB I/O on the second), logout.  Composes /guest/lib.sh.
#
# Environment:
#   VM_TARGET_PORTAL, VM_TARGET_IQN, VM_TARGET_LUN (default 0)   as in smoke.sh
#   VM_TARGET_FIO_SECONDS  run time (default 120)
#   VM_TARGET_FIO_SIZE4K   size of the 4 KiB region (default 64M, at offset 0)
#   VM_TARGET_FIO_SIZE64K  size of the 64 KiB region (default 192M, right after)
#   VM_TARGET_FIO_IODEPTH  queue depth of each job (default 16)
set -u
. /guest/lib.sh

PORTAL="${VM_TARGET_PORTAL:-10.0.2.2:3260}"
IQN="${VM_TARGET_IQN:?VM_TARGET_IQN is required}"
LUN="${VM_TARGET_LUN:-0}"
SECS="${VM_TARGET_FIO_SECONDS:-120}"
S4="${VM_TARGET_FIO_SIZE4K:-64M}" S64="${VM_TARGET_FIO_SIZE64K:-192M}"
QD="${VM_TARGET_FIO_IODEPTH:-16}"

step "login $IQN on $PORTAL"
iscsi_login "$PORTAL" "$IQN" || fail "login failed"
DEV="$(iscsi_disk "$PORTAL" "$IQN" "$LUN")" || fail "no disk"
echo "disk: $DEV ($(cat /sys/block/${DEV#/dev/}/size) sectors)"

step "fio randrw 4k+64k, crc32c verify, ${SECS} s, iodepth ${QD} per job"
t=$(now_ms)
fio --direct=1 --ioengine=libaio --time_based --runtime="$SECS" \
    --verify=crc32c --verify_fatal=1 --verify_backlog=256 --verify_dump=1 \
    --rw=randrw --rwmixread=30 --iodepth="$QD" --filename="$DEV" --group_reporting=0 \
    --name=r4k --bs=4k --offset=0 --size="$S4" \
    --name=r64k --bs=64k --offset="$S4" --size="$S64" \
    --output=/tmp/fio-soak.txt > /tmp/fio-soak.out 2>&1
rc=$?
grep -E 'err=|READ:|WRITE:|verify|IOPS=' /tmp/fio-soak.txt
[ "$rc" = 0 ] || { cat /tmp/fio-soak.out /tmp/fio-soak.txt >&2; fail "fio exited $rc"; }
[ "$(grep -c 'err= 0' /tmp/fio-soak.txt)" = 2 ] || { cat /tmp/fio-soak.txt >&2; fail "a fio job reported an error"; }
result fio_soak_ms "$(elapsed_ms "$t")"
result fio_soak_write_bw "$(sed -nE 's/^ *WRITE: bw=([^ ]+) .*/\1/p' /tmp/fio-soak.txt | head -1)"
result fio_soak_read_bw "$(sed -nE 's/^ *READ: bw=([^ ]+) .*/\1/p' /tmp/fio-soak.txt | head -1)"

step "logout"
iscsi_logout "$PORTAL" "$IQN" || fail "logout"
echo "SOAK OK"
