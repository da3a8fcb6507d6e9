# Guest scenario: CHAP logins (one-way and mutual) with chosen chap_algs lists,
# plus logins that must be refused.  Composes /guest/lib.sh.
#
# Environment:
#   VM_TARGET_PORTAL          HOST:PORT (default 10.0.2.2:3260)
#   VM_TARGET_CHAP_IQN        target that requires CHAP
#   VM_TARGET_LUN             LUN to look for after login (default 0)
#   VM_TARGET_CHAP_USER, VM_TARGET_CHAP_SECRET     initiator -> target
#   VM_TARGET_CHAP_MUSER, VM_TARGET_CHAP_MSECRET   target -> initiator (mutual; optional)
#   VM_TARGET_CHAP_ALGS_OK    space-separated chap_algs lists that must log in
#                             (default "MD5"); e.g. "SHA3-256 SHA256 SHA1 MD5"
#                             tests each hash alone against a target that has all
#   VM_TARGET_CHAP_ALGS_BAD   lists the target must refuse (default none)
#   VM_TARGET_CHAP_NEGATIVE   1 (default): also check that a wrong secret, a
#                             missing CHAP and (with mutual) a wrong target
#                             secret are refused
set -u
. /guest/lib.sh

PORTAL="${VM_TARGET_PORTAL:-10.0.2.2:3260}"
IQN="${VM_TARGET_CHAP_IQN:?VM_TARGET_CHAP_IQN is required}"
LUN="${VM_TARGET_LUN:-0}"
U="${VM_TARGET_CHAP_USER:?}" S="${VM_TARGET_CHAP_SECRET:?}"
MU="${VM_TARGET_CHAP_MUSER:-}" MS="${VM_TARGET_CHAP_MSECRET:-}"
OKS="${VM_TARGET_CHAP_ALGS_OK:-MD5}"
BADS="${VM_TARGET_CHAP_ALGS_BAD:-}"
errors=0
bad() { echo "FAIL: $*" >&2; errors=$((errors + 1)); }

# Does this open-iscsi know node.session.auth.chap_algs?
step "chap_algs support in open-iscsi"
iscsi_node_new "$PORTAL" "$IQN" || fail "node new"
iscsi_node_set "$PORTAL" "$IQN" node.session.auth.chap_algs "SHA3-256,SHA256,SHA1,MD5" \
  || fail "iscsiadm refuses node.session.auth.chap_algs"
iscsiadm -m node -T "$IQN" -p "$PORTAL" | grep chap_algs
result chap_algs_setting "$(iscsiadm -m node -T "$IQN" -p "$PORTAL" | sed -n 's/^node.session.auth.chap_algs = //p')"

try_login() { # ALGS USER SECRET MUSER MSECRET -> 0 if logged in (and logs out again)
  iscsi_login "$PORTAL" "$IQN" "$2" "$3" "$4" "$5" "$1" >/tmp/login.out 2>&1
  _rc=$?
  cat /tmp/login.out
  if [ "$_rc" = 0 ]; then
    _d="$(iscsi_disk "$PORTAL" "$IQN" "$LUN")" && dd_pattern_check "$_d" || { bad "I/O after CHAP login ($1)"; }
    iscsi_logout "$PORTAL" "$IQN" >/dev/null || bad "logout ($1)"
  fi
  return $_rc
}

for algs in $OKS; do
  step "CHAP${MU:+ (mutual)} chap_algs=$algs: must log in"
  t=$(now_ms)
  if try_login "$algs" "$U" "$S" "$MU" "$MS"; then
    result "chap_ok_${algs}" "pass"; result "chap_login_ms_${algs}" "$(elapsed_ms "$t")"
  else
    bad "CHAP login with chap_algs=$algs refused"; result "chap_ok_${algs}" "fail"
  fi
done

for algs in $BADS; do
  step "CHAP chap_algs=$algs: must be refused"
  if try_login "$algs" "$U" "$S" "$MU" "$MS"; then
    bad "login with chap_algs=$algs succeeded"; result "chap_refused_${algs}" "fail"
  else
    result "chap_refused_${algs}" "pass"
  fi
done

if [ "${VM_TARGET_CHAP_NEGATIVE:-1}" = 1 ]; then
  first="${OKS%% *}"
  step "wrong secret: must be refused"
  if try_login "$first" "$U" "wrong-secret-123" "$MU" "$MS"; then bad "wrong secret accepted"; else result chap_wrong_secret_refused pass; fi
  step "no CHAP: must be refused"
  iscsi_node_set "$PORTAL" "$IQN" node.session.auth.authmethod None
  iscsi_node_set "$PORTAL" "$IQN" node.session.auth.username ""
  iscsi_node_set "$PORTAL" "$IQN" node.session.auth.password ""
  iscsi_node_set "$PORTAL" "$IQN" node.session.auth.username_in ""
  iscsi_node_set "$PORTAL" "$IQN" node.session.auth.password_in ""
  if iscsiadm -m node -T "$IQN" -p "$PORTAL" --login; then
    bad "login without CHAP accepted"; iscsi_logout "$PORTAL" "$IQN"
  else result chap_none_refused pass; fi
  if [ -n "$MU" ]; then
    step "mutual CHAP with a wrong target secret: initiator must refuse"
    if try_login "$first" "$U" "$S" "$MU" "wrong-target-secret"; then bad "wrong target secret accepted"; else result chap_wrong_mutual_refused pass; fi
  fi
fi

iscsi_node_delete "$PORTAL" "$IQN" >/dev/null 2>&1
[ "$errors" = 0 ] || fail "$errors CHAP check(s) failed"
echo "CHAP OK"
