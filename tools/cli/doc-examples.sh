#!/usr/bin/env bash
# Runs the examples of docs/cli.md for real and prints each command with its
# output and exit status, so the document shows what the programs print.
#
#   npm run build && tools/cli/doc-examples.sh > /tmp/cli-examples.txt
#   npm run build && tools/cli/doc-examples.sh --check   # docs/cli.md still true?
#
# --check compares every `# vstorage-iscsi ...` example of docs/cli.md and the
# output under it with what the run printed, and exits 1 on a difference.
#
# It runs the built daemon (real iSCSI engine) and CLI in a private network
# namespace (unshare -rn: no root needed where user namespaces are allowed)
# whose loopback holds the source document's addresses (192.168.10.100, ...),
# against a temporary ISCSI_ROOT with host ID fefacc38a2f140ca. Initiator
# sessions come from libiscsi (iscsi-perf, iscsi-inq) and qemu-io when they
# are installed; without them those examples are skipped.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)

if [[ "${1:-}" == --check ]]; then
  out=$(mktemp /tmp/cli-doc-check-XXXXXX)
  trap 'rm -f "$out"' EXIT
  "$0" > "$out"
  python3 - "$out" "$repo/docs/cli.md" <<'PY'
import re, sys
cap = open(sys.argv[1]).read()
runs = {}
for m in re.finditer(r'^# vstorage-iscsi ([^\n]*?)(?:    \((?:typed|standard input)[^\n]*\))?\n(.*?)\[exit \d+\]', cap, re.M | re.S):
    runs.setdefault(m.group(1).strip(), []).append([x.rstrip() for x in m.group(2).strip('\n').split('\n')] if m.group(2).strip() else [])
doc = open(sys.argv[2]).read()
bad = checked = 0
# Plain fences only (```sh, ```json... blocks are not CLI runs); fences pair up line by line.
for lang, block in re.findall(r'^```([A-Za-z]*)\n(.*?)^```[ \t]*$', doc, re.S | re.M):
    if lang:
        continue
    lines = block.split('\n')
    i = 0
    while i < len(lines):
        m = re.match(r'^# (?:printf .*\| )?vstorage-iscsi (.*?)\s*$', lines[i])
        i += 1
        if not m:
            continue
        shown = []
        while i < len(lines) and not lines[i].startswith('# '):
            shown.append(lines[i].rstrip())
            i += 1
        while shown and shown[-1] == '':
            shown.pop()
        checked += 1
        got = runs.get(m.group(1))
        if got is None:
            bad += 1
            print('not run by doc-examples.sh: vstorage-iscsi ' + m.group(1))
        elif shown not in got and not (shown and shown[-1] == '...' and any(g[:len(shown) - 1] == shown[:-1] for g in got)):
            bad += 1
            print('differs: vstorage-iscsi ' + m.group(1) + '\n  docs/cli.md: ' + repr(shown) + '\n  real:        ' + repr(got))
print('%d examples checked, %d differ' % (checked, bad))
sys.exit(1 if bad else 0)
PY
  exit
fi

if [[ "${1:-}" != --in-netns ]]; then
  [ -f "$repo/dist/tools/cli/main.js" ] || { echo "doc-examples: run npm run build first" >&2; exit 1; }
  exec unshare -rn "$0" --in-netns
fi

ip link set lo up
for a in 192.168.10.100 192.168.10.101 192.168.10.102 192.168.10.103 192.168.10.104 \
  192.168.10.105 192.168.10.110 192.168.20.110 192.168.10.200 192.168.20.200; do
  ip addr add "$a/32" dev lo
done

work=$(mktemp -d /tmp/cli-doc-XXXXXX)
mkdir -p "$work/root"
cat > "$work/config" <<CONF
ISCSI_ROOT=$work/root
ISCSI_RUN_DIR=$work/run
ISCSI_STATE_DIR=$work/state
CONF
export ISCSI_CONFIG="$work/config" ISCSI_HOST_ID=fefacc38a2f140ca
unset ISCSI_ROOT ISCSI_RUN_DIR ISCSI_STATE_DIR ISCSI_IQN_PREFIX ISCSI_DISCOVERY_ACCOUNT ISCSI_DISCOVERY_MUTUAL_ACCOUNT

P=iqn.2014-04.com.vstorage
daemon_pid=
helper_pid=
cleanup() {
  [ -n "$helper_pid" ] && kill -KILL "$helper_pid" 2>/dev/null || true
  [ -n "$daemon_pid" ] && kill -TERM "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

vstorage-iscsi() { node "$repo/dist/tools/cli/main.js" "$@"; }

# Arguments as a person would type them: quoted when they need it.
args_text() {
  local a out=
  for a in "$@"; do
    if [[ "$a" =~ ^[A-Za-z0-9_./:@%+,=-]+$ ]]; then out+=" $a"; else out+=" '$a'"; fi
  done
  printf '%s' "${out# }"
}

# `# command`, its output (stdout and stderr in order), and its exit status.
run() {
  printf '# vstorage-iscsi %s\n' "$(args_text "$@")"
  local rc=0
  vstorage-iscsi "$@" 2>&1 || rc=$?
  printf '[exit %d]\n\n' "$rc"
}

# Like run, with standard input.
run_in() {
  local input=$1
  shift
  printf '# vstorage-iscsi %s    (standard input: %q)\n' "$(args_text "$@")" "$input"
  local rc=0
  printf '%s' "$input" | vstorage-iscsi "$@" 2>&1 || rc=$?
  printf '[exit %d]\n\n' "$rc"
}

# On a terminal: answers the password prompts like a person typing.
run_tty() {
  local pw1=$1 pw2=$2
  shift 2
  printf '# vstorage-iscsi %s    (typed: %s / %s)\n' "$(args_text "$@")" "$pw1" "$pw2"
  python3 - "$pw1" "$pw2" node "$repo/dist/tools/cli/main.js" "$@" <<'PY'
import os, pty, sys
pw = sys.argv[1:3]
argv = sys.argv[3:]
pid, fd = pty.fork()
if pid == 0:
    os.execvp(argv[0], argv)
buf = b''
answered = 0
while True:
    try:
        chunk = os.read(fd, 1024)
    except OSError:
        break
    if not chunk:
        break
    buf += chunk
    if answered < 2 and buf.count(b'password: ') > answered:
        os.write(fd, pw[answered].encode() + b'\r')
        answered += 1
_, status = os.waitpid(pid, 0)
sys.stdout.write(buf.decode().replace('\r\n', '\n'))
print('[exit %d]\n' % os.waitstatus_to_exitcode(status))
PY
}

note() { printf '## %s\n\n' "$*"; }

note 'help'
run --help
run create --help
run set --help
run lun-set --help
run --version

note 'without a daemon (section 4.2.1 setup only)'
run list
run start -t $P:test1

node "$repo/dist/src/daemon/main.js" 2>"$work/daemon.log" &
daemon_pid=$!
for _ in $(seq 1 100); do [ -S "$work/run/vstorage-iscsid.sock" ] && break; sleep 0.1; done

note 'section 4.2.2'
run create -n test1 -a 192.168.10.100
run lun-add -t $P:test1 -l 1 -s 100G
run start -t $P:test1
if command -v qemu-io >/dev/null; then
  # One 4 KiB write through iSCSI so "Used" is 1M like the source.
  qemu-io -f raw -c 'write -P 0x5a 0 4k' "iscsi://192.168.10.100/$P:test1/1" >/dev/null
fi
run list -t $P:test1

note 'section 4.2.3'
run create -n test2 -a 192.168.10.101
run lun-add -t test2 -l 1 -s 100G
run start -t test2
run create -n test3 -a 192.168.10.102
run lun-add -t test3 -l 1 -s 100G
run create -n test4 -a 192.168.10.103
run list
run list -t test1 --json

note 'section 4.2.5 stop'
if command -v iscsi-perf >/dev/null; then
  iscsi-perf -i iqn.1994-05.com.redhat:c678b9f6f0 "iscsi://192.168.10.100/$P:test1/1" >/dev/null 2>&1 &
  helper_pid=$!
  sleep 1.5
fi
run stop -t $P:test1
run stop -t $P:test1 -f
# iscsi-perf keeps reconnecting to the stopped target: end it.
if [ -n "$helper_pid" ]; then kill -KILL "$helper_pid" 2>/dev/null || true; wait "$helper_pid" 2>/dev/null || true; helper_pid=; fi
run list -t test1

note 'lun-grow, lun-delete, set (stopped)'
run lun-grow -t $P:test1 -l 1 -s 200G
run lun-grow -t $P:test1 -l 1 -s 100G
run lun-add -t test4 -l 0 -s 512M
run lun-delete -t test4 -l 0
run lun-add -t test4 -l 1 -s 1G --format raw
run lun-add -t test4 -l 2 -s 2T --cluster-size 1M
if command -v qemu-img >/dev/null; then
  # An existing VM disk on the cluster file system, adopted as a LUN.
  qemu-img create -q -f qcow2 "$work/root/vm-disk.qcow2" 20G
  (cd "$work/root" && run lun-add -t test4 -l 3 --image vm-disk.qcow2)
fi
run list -t test4
run lun-add -t test4 -l 4 -s 1G --format vmdk
run lun-add -t test4 -l 4 -s 1G --cluster-size 96K
for l in 1 2 3; do vstorage-iscsi lun-delete -t test4 -l $l; done
run set -t test4 -a 192.168.10.104 -d 'scratch space'
run set -t test2 -a 192.168.10.200
run list

note 'lun-set and initiator access lists on a running target'
iscsi_ls() {
  printf '# iscsi-ls -s -i %s iscsi://%s\n' "$1" "$2"
  local rc=0
  iscsi-ls -s -i "$1" "iscsi://$2" 2>&1 || rc=$?
  printf '[exit %d]\n' "$rc"
}
run lun-set -t test2 -l 1 --offline
run list -t test2
if command -v iscsi-ls >/dev/null; then iscsi_ls iqn.1994-05.com.redhat:c678b9f6f0 192.168.10.101; fi
run lun-set -t test2 -l 1 --online
if command -v iscsi-ls >/dev/null; then iscsi_ls iqn.1994-05.com.redhat:c678b9f6f0 192.168.10.101; fi
run set -t test2 --allow iqn.1994-05.com.redhat:c678b9f6f0
run list -t test2 --json
if command -v iscsi-inq >/dev/null; then
  for ini in iqn.1994-05.com.redhat:c678b9f6f0 iqn.1991-05.com.microsoft:win-l2dj7g36n7e; do
    printf '# iscsi-inq -i %s iscsi://192.168.10.101/%s/1\n' "$ini" "$P:test2"
    rc=0
    iscsi-inq -i "$ini" "iscsi://192.168.10.101/$P:test2/1" 2>&1 | head -2 || rc=$?
    printf '[exit %d]\n' "$rc"
  done
fi
run set -t test2 --deny iqn.1994-05.com.redhat:c678b9f6f0
run set -t test2 --allow iqn.x
run set -t test2 --allow-all
run completion zsh

note 'lun-add while initiators are connected'
if command -v iscsi-perf >/dev/null; then
  iscsi-perf -i iqn.1994-05.com.redhat:c678b9f6f0 "iscsi://192.168.10.101/$P:test2/1" >/dev/null 2>&1 &
  helper_pid=$!
  sleep 1.5
  run lun-add -t test2 -l 2 -s 10G
  kill -KILL "$helper_pid" 2>/dev/null || true
  wait "$helper_pid" 2>/dev/null || true
  helper_pid=
  sleep 0.5
fi
run lun-delete -t test2 -l 2

note 'a target of another node (ISCSI_HOST_ID=1111222233334444 for one command)'
printf '# ISCSI_HOST_ID=1111222233334444 vstorage-iscsi create -n remote1 -a 192.168.10.120\n'
ISCSI_HOST_ID=1111222233334444 vstorage-iscsi create -n remote1 -a 192.168.10.120
printf '\n'
run list
run start -t remote1
run delete -t remote1
run delete -t remote1 --force

note 'section 4.2.4 register/unregister'
run unregister -t $P:test3
run list
run register -t $P:test3

note 'section 4.2.6 delete'
run delete -t $P:test4
run delete -t $P:test2

note 'section 4.2.8 multipath'
run create -n ps1 -a 192.168.10.110 -a 192.168.20.110
run list -t ps1

note 'ALUA target port groups and portal state'
run create -n ps2 -a 192.168.10.200 -a 192.168.20.200
run alua-list -t ps2
run portal-group -t ps2 -a 192.168.20.200 -g 1
run alua-list -t ps2
run portal-group -t ps2 -a 192.168.20.200 -g 2
run alua-set -t ps2 --explicit on
run alua-list -t ps2
run alua-set -t ps2 --explicit off
run alua-set -t ps2 -g 2 -s active-non-optimized
run start -t ps2
run alua-list -t ps2
run alua-set -t ps2 -a 192.168.10.200 -s standby
run portal-down -t ps2 -a 192.168.20.200
run alua-list -t ps2
run alua-list -t ps2 --json
run portal-up -t ps2 -a 192.168.20.200
run alua-set -t ps2 -g 3 -s standby
run alua-set -t ps2 -g 1 -s sleepy
run portal-group -t ps2 -a 192.168.20.200 -g 1
run alua-set -t ps2 --explicit on
run stop -t ps2
run delete -t ps2

note 'section 4.2.9 CHAP'
run_tty secret-of-user1 secret-of-user1 account-create -u user1
run_tty secret-of-tgt1-x secret-of-tgt1-x account-create -u tgt1
run_in $'secret-of-tgt2-x\n' account-create -u tgt2
run_tty short short account-create -u user2
run_tty secret-number-1 secret-number-2 account-create -u user2
run create -n test5 -a 192.168.10.105 -u user1
run create -n test6 -a 192.168.10.104 -u user1 --mutual-user tgt1
run list -t test6 --json
run account-list
run account-list -u user1
run account-list -u tgt1
run account-list -u user1 --json
run_tty another-secret-1 another-secret-1 account-set -u user1
run_in $'another-secret-1\n' account-set -u tgt1
run account-delete -u tgt1
run account-delete -u tgt2
run create -n test7 -a 10.0.0.7 --mutual-user tgt1
run create -n test7 -a 10.0.0.7 -u user1 --mutual-user user1
run set -t test6 --no-user

note 'mutual CHAP on a running target'
run lun-add -t test6 -l 1 -s 1G
run start -t test6
run set -t test6 --mutual-user tgt1
if command -v iscsi-inq >/dev/null; then
  printf '# iscsi-inq with one-way and mutual CHAP (LIBISCSI_CHAP_TARGET_*)\n'
  rc=0
  LIBISCSI_CHAP_TARGET_USERNAME=tgt1 LIBISCSI_CHAP_TARGET_PASSWORD=secret-of-tgt1-x \
    iscsi-inq "iscsi://user1%another-secret-1@192.168.10.104/$P:test6/1" 2>&1 | head -4 || rc=$?
  printf '[exit %d]\n' "$rc"
  printf '# the same, expecting a wrong target secret\n'
  rc=0
  LIBISCSI_CHAP_TARGET_USERNAME=tgt1 LIBISCSI_CHAP_TARGET_PASSWORD=not-the-secret \
    iscsi-inq "iscsi://user1%another-secret-1@192.168.10.104/$P:test6/1" 2>&1 | head -4 || rc=$?
  printf '[exit %d]\n\n' "$rc"
fi
run set -t test6 --no-mutual-user
run set -t test6 --no-user
run set -t test6 -a 192.168.10.105

note 'errors'
run create -n test1 -a 10.0.0.1
run create -n test8 -a 192.168.10.100
run create -n Test_8 -a 10.0.0.8
run lun-add -t test1 -l 2 -s 2000T
run lun-add -t test1 -l 2 -s 17T --format raw
run lun-add -t test1 -l 1
run frobnicate

note 'section 4.2.10 LUN snapshots (UUIDs, times and image names of this run replaced by fixed ones)'
# Replaces each UUID, time and snapshot image name by a fixed one, in order of first appearance.
snapshot_normalize() {
  python3 -c '
import re, sys
text = sys.stdin.read()
names = {}
def fixed(kind, real, make):
    key = (kind, real)
    if key not in names:
        names[key] = make(sum(1 for k in names if k[0] == kind))
    return names[key]
uuids = ["a1f54314-bc06-40c6-a587-965feb9d85bb", "9c98b442-7482-4fd0-9c45-9259374ca84e", "5d0bdc47-3a0e-4b1c-9f8e-2b7f4c1d6e90"]
keep = set(uuids) | {"00000000-0000-0000-0000-000000000000"}
def uuid(m):
    u = m.group(0)
    return u if u in keep else fixed("u", u, lambda i: uuids[i] if i < len(uuids) else "%08x-0000-4000-8000-%012x" % (i, i))
text = re.sub(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", uuid, text)
clock = lambda i: "2014-04-11 13:%02d:%02d" % divmod(16 * 60 + 51 + 6 * i, 60)
text = re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", lambda m: fixed("t", m.group(0), clock), text)
text = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", lambda m: fixed("z", m.group(0), lambda i: clock(i).replace(" ", "T") + ".000Z"), text)
text = re.sub(r"lun-(\d+)-[0-9a-f]{8}\.qcow2", lambda m: fixed("f", m.group(0), lambda i: "lun-%s-%08x.qcow2" % (m.group(1), i + 1)), text)
sys.stdout.write(text)
'
}
snap_uuid() { vstorage-iscsi snapshot-list -t $P:test1 -l 1 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)['"$1"']["uuid"])'; }
{
  run start -t $P:test1
  run snapshot-create -t $P:test1 -l 1
  sleep 1.1 # distinct creation times
  run snapshot-create -t $P:test1 -l 1 -d 'before the upgrade'
  s1=$(snap_uuid 0)
  s2=$(snap_uuid 1)
  run snapshot-list -t $P:test1 -l 1
  run snapshot-info -u "$s2"
  run snapshot-switch -u "$s1"
  run lun-set -t $P:test1 -l 1 --offline
  run snapshot-switch -u "$s1"
  run snapshot-list -t $P:test1 -l 1
  sleep 1.1
  run snapshot-create -t $P:test1 -l 1 -d 'branch'
  run snapshot-list -t $P:test1 -l 1 --json
  run snapshot-info -u "$s1" --json
  run snapshot-delete -u "$s1"
  run snapshot-list -t $P:test1 -l 1
  run snapshot-delete -u "$s2"
  run lun-set -t $P:test1 -l 1 --online
  run snapshot-delete -u "$s2"
  run snapshot-info -u 9c98b442
  run stop -t $P:test1
} | snapshot_normalize

note 'ISCSI_ROOT after the examples'
(cd "$work/root" && find . -printf '%M %P\n' | sort -k2 | sed -e 's/^/    /')
printf '\n'
printf '# cat targets/%s/target.json\n' "$P:test6"
cat "$work/root/targets/$P:test6/target.json"
printf '\n# cat accounts/tgt1.json\n'
cat "$work/root/accounts/tgt1.json"
printf '\n\n'

note 'daemon log'
sed -e 's/^[0-9T:.-]*Z /TIME /' "$work/daemon.log" | head -40
