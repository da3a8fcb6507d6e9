# Guest side of test/e2e/pr/failover.test.ts: cluster node 1 is this Linux
# VM (open-iscsi, kernel iscsi_tcp, sg3-utils), node 2 is the host's test
# initiator with another IQN. Sourced after /guest/lib.sh (guestScript).
#
# Env: VM_TARGET_PORTAL, VM_TARGET_IQN, VM_PR_IQN (node 1's initiator name).
# Markers for the host: "PR-STEP=reserved" (node 1 holds the reservation:
# node 2 may act), "PR-STEP=writing" (node 1 is writing: node 2 fences it).
# Results: VMTEST-RESULT lines (`result`), checked by the host.
#
# sg3-utils exit status: 0 GOOD, 24 RESERVATION CONFLICT, 6 UNIT ATTENTION.

iscsi_set_initiator_name "$VM_PR_IQN"
iscsi_login "$VM_TARGET_PORTAL" "$VM_TARGET_IQN" || fail "login"
dev=$(iscsi_disk "$VM_TARGET_PORTAL" "$VM_TARGET_IQN" 0) || fail "no disk"
log "disk $dev"
dd if=/dev/zero bs=512 count=1 2>/dev/null | tr '\0' 'N' > /tmp/blk

# WRITE(10) of one block at LBA 0x40 through SG_IO; prints sg_raw's exit status.
write_blk() { sg_raw --timeout=10 -s 512 -i /tmp/blk "$dev" 2a 00 00 00 00 40 00 00 01 00 >/tmp/raw.out 2>&1; echo $?; }
read_blk() { sg_raw --timeout=10 -r 512 "$dev" 28 00 00 00 00 40 00 00 01 00 >/tmp/raw.out 2>&1; echo $?; }

step "node 1 registers key 0x1 and reserves Write Exclusive, Registrants Only"
sg_persist -n --out --register --param-sark=0x1 "$dev" || fail "register"
result register "$?"
sg_persist -n --out --reserve --param-rk=0x1 --prout-type=5 "$dev"
result reserve "$?"
sg_persist -n --in --read-reservation "$dev"
sg_persist -n --in --read-reservation "$dev" | grep -q 'Key=0x1' && result reservation_holder node1
echo "PR-STEP=reserved"

step "wait for node 2 to register (key 0x2)"
wait_until 180 sh -c "sg_persist -n --in --read-keys $dev | grep -q '0x2\$'" || fail "node 2 never registered"
sg_persist -n --in --read-keys "$dev"
result saw_node2_key yes

step "node 1 (holder) writes; then keeps writing until it is fenced"
result node1_write_before "$(write_blk)"
echo "PR-STEP=writing"
st=0
n=0
t0=$(now_ms)
while [ "$(elapsed_ms "$t0")" -lt 180000 ]; do
  st=$(write_blk)
  n=$((n + 1))
  case "$st" in
    0) sleep 0.2 ;;
    6) log "unit attention: $(tr '\n' ' ' </tmp/raw.out)"; result unit_attention "$(grep -qi 'registrations preempted' /tmp/raw.out && echo registrations_preempted || echo other)" ;;
    24) break ;;
    *) log "write status $st: $(tr '\n' ' ' </tmp/raw.out)" ; sleep 0.2 ;;
  esac
done
result node1_writes_until_fenced "$n"
result node1_write_after_fence "$st"
result node1_write_again "$(write_blk)"

step "after the fence: only node 2's key, node 2 holds the reservation; reads still allowed"
sg_persist -n --in --read-keys "$dev"
sg_persist -n --in --read-reservation "$dev"
keys=$(sg_persist -n --in --read-keys "$dev" | grep -c '^ *0x')
result keys_after "$keys"
sg_persist -n --in --read-keys "$dev" | grep -q '^ *0x1$' && result node1_key_after present || result node1_key_after absent
sg_persist -n --in --read-reservation "$dev" | grep -q 'Key=0x2' && result reservation_holder_after node2
sg_persist -n --in --read-reservation "$dev" | grep -qi 'Write Exclusive, registrants only' && result reservation_type_after WERO
result node1_read_after "$(read_blk)"
# Its old key is gone: REGISTER with it conflicts, RESERVE too.
sg_persist -n --out --register --param-rk=0x1 --param-sark=0x3 "$dev" >/dev/null 2>&1
result node1_reregister_old_key "$?"
sg_persist -n --out --reserve --param-rk=0x1 --prout-type=5 "$dev" >/dev/null 2>&1
result node1_reserve_after "$?"
sg_persist -n --in --read-full-status "$dev"
result done yes
