# Guest scenario (busybox sh): one LUN of our target through two portals in
# two ALUA target port groups, dm-multipath with the host-attach toolkit's
# multipath.conf, and path failures under fio. Composes /guest/lib.sh.
#
# The host side (multipath.test.ts) serves a small HTTP control endpoint the
# guest calls with busybox wget; each call returns once the host's CLI
# command (alua-set, portal-down, portal-up) has finished:
#   GET /alua?group=N&state=S    GET /portal-down?n=1|2    GET /portal-up?n=1|2
#
# Environment:
#   VM_MP_PORTAL1, VM_MP_PORTAL2  HOST:PORT of the two portals (group 1, group 2)
#   VM_TARGET_IQN                 target name
#   VM_MP_CONTROL                 HOST:PORT of the host's control endpoint
#   VM_MP_FIO_SECONDS             fio run time under the path changes (default 150)
# Files: /etc/multipath.conf and /root/iscsid.conf from `vstorage-iscsi host-config --os linux`.
#
# Results (VMTEST-RESULT): mpath_paths, hwhandler, prio_groups (at start),
# io_moved_on_portal_down, path_back_s, io_moved_on_standby, fio, fio_err,
# fio_write_bw.
set -u
. /guest/lib.sh

P1="${VM_MP_PORTAL1:?}" P2="${VM_MP_PORTAL2:?}" IQN="${VM_TARGET_IQN:?}" CTL="${VM_MP_CONTROL:?}"
FIO_SECONDS="${VM_MP_FIO_SECONDS:-150}"

ctl() {
  # (busybox wget's -T crashes in this build; the host answers within seconds)
  _r="$(wget -q -O - "http://$CTL/$1" 2>&1)"
  log "host: $1 -> $_r"
  [ "$_r" = ok ] || fail "host control $1: $_r"
}

# writes completed on a block device (field 5 of /sys/block/X/stat)
writes() { awk '{print $5}' "/sys/block/${1#/dev/}/stat"; }

# "50 10": the priorities of the map's path groups, in multipath -ll order
prios() { multipath -ll "$MAP" 2>/dev/null | sed -n "s/.*policy=.* prio=\([0-9-]*\) status=.*/\1/p" | tr '\n' ' ' | sed 's/ $//'; }

# state of one path in multipathd: "<dm state> <checker state>", e.g. "active ready"
path_state() { multipathd show paths format '%d %t %T' 2>/dev/null | awk -v d="${1#/dev/}" '$1==d {print $2, $3}'; }

step "node settings from the toolkit's iscsid.conf, login through both portals"
grep -E '^node\.' /root/iscsid.conf
for p in $P1 $P2; do
  iscsi_node_new "$p" "$IQN" || fail "node record $p"
  grep -E '^node\.[^ ]+ = ' /root/iscsid.conf | while read -r k _eq v; do
    iscsi_node_set "$p" "$IQN" "$k" "$v" || echo "note: cannot set $k on $p"
  done
  iscsi_login "$p" "$IQN" || fail "login via $p"
done
D1="$(iscsi_disk "$P1" "$IQN" 0)" || fail "no disk via $P1"
D2="$(iscsi_disk "$P2" "$IQN" 0)" || fail "no disk via $P2"
echo "$P1 -> $D1   $P2 -> $D2"
for d in $D1 $D2; do
  echo "$d: $(/usr/lib/udev/scsi_id -g -u "$d" 2>/dev/null) $(cat /sys/block/${d#/dev/}/device/vendor) $(cat /sys/block/${d#/dev/}/device/model) dh=$(cat /sys/block/${d#/dev/}/device/dh_state 2>/dev/null) alua=$(cat /sys/block/${d#/dev/}/device/access_state 2>/dev/null)"
done
sg_rtpg -d "$D1" || true

step "multipath map: both paths, hwhandler '1 alua', two path groups by priority"
mpath_start || fail "multipathd did not start"
wait_until 30 mpath_map_of "$D1" || { multipath -v3 >&2; fail "no multipath map over $D1"; }
MAP="$(mpath_map_of "$D1")"
[ "$(mpath_map_of "$D2")" = "$MAP" ] || fail "$D2 is not in $MAP"
mpath_wait "$MAP" 2 30 || { multipath -ll >&2; fail "$MAP does not have 2 active paths"; }
wait_until 30 sh -c "[ \"\$(multipath -ll $MAP | grep -c 'policy=')\" = 2 ]" || log "note: still one path group"
multipath -ll "$MAP"
result mpath_paths "$(multipath -ll "$MAP" | grep -cE '[0-9]+:[0-9]+:[0-9]+:[0-9]+ sd')"
result hwhandler "$(multipath -ll "$MAP" | sed -n "s/.*hwhandler='\([^']*\)'.*/\1/p" | head -1 | tr ' ' _)"
result prio_groups "$(prios | tr ' ' _)"
multipath -ll "$MAP" | grep -q "hwhandler='1 alua'" || fail "hwhandler is not '1 alua'"

step "fio --verify=crc32c on /dev/mapper/$MAP for ${FIO_SECONDS} s while paths fail"
fio --name=mp --filename="/dev/mapper/$MAP" --rw=randwrite --bs=4k --size=48M --ioengine=libaio --iodepth=8 \
    --direct=1 --verify=crc32c --verify_fatal=1 --verify_backlog=256 --time_based --runtime="$FIO_SECONDS" \
    --output=/tmp/fio.txt > /tmp/fio.out 2>&1 &
FIO=$!
sleep 5
kill -0 $FIO 2>/dev/null || { cat /tmp/fio.out /tmp/fio.txt; fail "fio ended at once"; }
w1=$(writes "$D1") w2=$(writes "$D2")
sleep 4
echo "writes: $D1 $w1 -> $(writes "$D1"), $D2 $w2 -> $(writes "$D2")"
[ "$(writes "$D1")" -gt "$w1" ] || log "note: no writes through the optimized path $D1"

step "portal 1 stops: the target stops listening and drops its connections"
w2=$(writes "$D2")
ctl "portal-down?n=1"
t=$(now_ms)
wait_until 60 sh -c "path_state() { multipathd show paths format '%d %t' | awk -v d=${D1#/dev/} '\$1==d {print \$2}'; }; [ \"\$(path_state)\" = failed ]" \
  || { multipath -ll "$MAP"; log "note: $D1 not marked failed after 60 s"; }
log "path $D1 failed after $(elapsed_ms "$t") ms"
multipath -ll "$MAP"
sleep 5
kill -0 $FIO 2>/dev/null || { cat /tmp/fio.out /tmp/fio.txt; fail "fio stopped while portal 1 was down"; }
echo "writes through $D2: $w2 -> $(writes "$D2")"
if [ "$(writes "$D2")" -gt "$w2" ]; then result io_moved_on_portal_down yes; else result io_moved_on_portal_down no; fi

step "portal 1 returns: the path is active again"
ctl "portal-up?n=1"
t=$(now_ms)
wait_until 60 sh -c "[ \"\$(multipathd show paths format '%d %t %T' | awk -v d=${D1#/dev/} '\$1==d {print \$2, \$3}')\" = 'active ready' ]" \
  || { multipath -ll "$MAP"; multipathd show paths; fail "$D1 not active ready 60 s after portal-up"; }
result path_back_s "$(( ($(elapsed_ms "$t") + 999) / 1000 ))"
multipath -ll "$MAP"

step "group 1 active/optimized, group 2 active/non-optimized again"
# Re-asserted by the administrator (a no-op unless something changed them:
# with explicit ALUA, Linux would have made group 2 active/optimized).
ctl "alua?group=1&state=active-optimized"
ctl "alua?group=2&state=active-non-optimized"
wait_until 60 sh -c "[ \"\$(multipath -ll $MAP | sed -n 's/.*policy=.* prio=\([0-9-]*\) status=active.*/\1/p')\" = 50 ] && [ \"\$(multipath -ll $MAP | grep -c 'policy=')\" = 2 ]" \
  || log "note: path groups did not settle to 50/10"
multipath -ll "$MAP"
sleep 3
w1=$(writes "$D1") w2=$(writes "$D2")
sleep 4
echo "writes: $D1 $w1 -> $(writes "$D1"), $D2 $w2 -> $(writes "$D2")"

step "group 1 (active/optimized) goes standby: I/O moves to group 2"
ctl "alua?group=1&state=standby"
wait_until 60 sh -c "[ \"\$(cat /sys/block/${D1#/dev/}/device/access_state 2>/dev/null)\" = standby ]" || log "note: kernel access_state of $D1 not standby"
wait_until 60 sh -c "multipath -ll $MAP | sed -n '/status=active/,/policy=/p' | grep -q ' ${D2#/dev/} '" || log "note: $D2 not in the active path group"
sleep 5
w1=$(writes "$D1") w2=$(writes "$D2")
sleep 6
echo "writes: $D1 $w1 -> $(writes "$D1"), $D2 $w2 -> $(writes "$D2")"
multipath -ll "$MAP"
sg_rtpg -d "$D2" || true
if [ "$(writes "$D2")" -gt "$w2" ] && [ "$(writes "$D1")" = "$w1" ]; then result io_moved_on_standby yes; else result io_moved_on_standby no; fi
kill -0 $FIO 2>/dev/null || { cat /tmp/fio.out /tmp/fio.txt; fail "fio stopped after the standby transition"; }

step "fio finishes"
wait $FIO
rc=$?
cat /tmp/fio.out
grep -E 'err=|WRITE:|READ:|verify' /tmp/fio.txt
result fio "$rc"
result fio_err "$(sed -n 's/.*err= *\([0-9]*\).*/\1/p' /tmp/fio.txt | head -1)"
result fio_write_bw "$(sed -nE 's/^ *WRITE: bw=([^ ]+) .*/\1/p' /tmp/fio.txt | head -1)"
[ "$rc" = 0 ] || { cat /tmp/fio.txt; fail "fio failed ($rc)"; }
dmesg | grep -iE "Buffer I/O error|dm-[0-9]+.*error" && fail "I/O errors on the multipath device"

step "teardown"
ctl "alua?group=1&state=active-optimized"
mpath_remove "$MAP" || fail "cannot remove $MAP"
for p in $P1 $P2; do iscsi_logout "$p" "$IQN" >/dev/null || fail "logout $p"; done
echo "MULTIPATH ALUA OK"
