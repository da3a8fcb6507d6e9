#!/usr/bin/env bash
# qemu-img convert round trip through an iSCSI LUN: write a random raw image
# into the LUN with QEMU's own initiator, read it back into a file, compare
# bytes.
#
#   test/e2e/qemu-img/convert-roundtrip.sh [ours|tgt|iscsi://HOST:PORT/IQN/LUN]
#
#   ours  (default) build and start our daemon (test/e2e/lib/ourd.sh) with a
#         LUN of SIZE on a loopback port
#   tgt   start a private tgtd (test/e2e/lib/tgt.sh) with a SIZE file in /dev/shm
#   URL   an already running LUN of at least SIZE bytes (its first SIZE bytes
#         are overwritten)
#
# Env: SIZE  image size (default 256M; a qemu-img/truncate size: 256M, 1G)
#      SEED  if set, the source image is a deterministic AES-CTR stream from
#            this seed (via node), else it comes from /dev/urandom
#      E2E_LOG_DIR, E2E_KEEP=1 (keep images)
#
# The commands (qemu-img 7.2):
#   qemu-img convert -n -p -f raw -O raw src.img iscsi://127.0.0.1:P/IQN/1
#     (-n: the target exists, do not try to create it)
#   qemu-img convert -p -f raw -O raw iscsi://127.0.0.1:P/IQN/1 out.img
#   cmp -n SIZE src.img out.img
# Exit: 0 identical, 1 mismatch or qemu-img error, 2 setup error.
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/../lib/tgt.sh"
source "$HERE/../lib/ourd.sh"

mode=${1:-ours}
SIZE=${SIZE:-256M}
e2e_need_cmd qemu-img cmp || exit 2
bytes=$(numfmt --from=iec "${SIZE%B}" 2>/dev/null) || { e2e_err "bad SIZE $SIZE"; exit 2; }
(( bytes > 0 && bytes % 512 == 0 )) || { e2e_err "SIZE must be a positive multiple of 512"; exit 2; }

logname=qemu-img-roundtrip-${mode%%:*}   # -ours, -tgt, -iscsi
export E2E_LOG_DIR; E2E_LOG_DIR=$(e2e_log_dir "$logname") || exit 2  # under a preset E2E_LOG_DIR
work=$(e2e_tmpdir e2e-qemu-img) || exit 2
cleanup() {
    stop_tgt; stop_ourd
    if [[ -n "${E2E_KEEP:-}" ]]; then e2e_log "kept $work"; else rm -rf "$work"; fi
}
e2e_on_exit cleanup

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
mbps() { awk -v b="$1" -v s="$2" 'BEGIN { printf "%.0f MiB/s", (s > 0 ? b / 1048576 / s : 0) }'; }
# qemu-img -p redraws its progress line with \r; show only the last state.
last_progress() { tr '\r' '\n' | grep -v '^[[:space:]]*$' | tail -n 1; }

case $mode in
    tgt)
        truncate -s "$bytes" "$work/lun.img" || exit 2
        mapfile -t ports < <(e2e_free_ports 1) || exit 2
        start_tgt "$work/lun.img" "${ports[@]}" || exit 2
        url=${TGT_URLS[0]} ;;
    ours)
        mapfile -t ports < <(e2e_free_ports 1) || exit 2
        OURD_LUN_SIZE=$bytes start_ourd "${ports[@]}" ||
            { e2e_err "our daemon did not start; logs in $E2E_LOG_DIR"; exit 2; }
        url=${OURD_URLS[0]} ;;
    iscsi://*)
        url=$mode ;;
    *)
        sed -n '2,/^set -uo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
esac

src="$work/src.img" out="$work/out.img"
t0=$(now)
if [[ -n "${SEED:-}" ]]; then
    e2e_need_cmd node || exit 2
    node -e '
        const crypto = require("crypto"), fs = require("fs");
        const [seed, file, n] = [process.argv[1], process.argv[2], Number(process.argv[3])];
        const key = crypto.createHash("sha256").update("e2e-seed:" + seed).digest();
        const c = crypto.createCipheriv("aes-128-ctr", key.subarray(0, 16), key.subarray(16, 32));
        const fd = fs.openSync(file, "w"), chunk = Buffer.alloc(1 << 20);
        for (let off = 0; off < n; off += chunk.length) {
            const len = Math.min(chunk.length, n - off);
            fs.writeSync(fd, c.update(chunk.subarray(0, len)), 0, len, off);
        }
        fs.closeSync(fd);' "$SEED" "$src" "$bytes" || exit 2
    origin="seed $SEED"
else
    head -c "$bytes" /dev/urandom >"$src" || exit 2
    origin=/dev/urandom
fi
e2e_log "source image $src: $SIZE ($bytes bytes) from $origin in $(secs "$t0" "$(now)")s"

lun_bytes=$(qemu-img info --output=json "$url" 2>"$E2E_LOG_DIR/qemu-img-info.err" |
    sed -n 's/.*"virtual-size": *\([0-9]*\).*/\1/p' | head -n 1)
if [[ -z "$lun_bytes" ]]; then
    e2e_err "qemu-img info $url failed:"; cat "$E2E_LOG_DIR/qemu-img-info.err" >&2; exit 1
fi
(( lun_bytes >= bytes )) || { e2e_err "LUN has $lun_bytes bytes, less than $bytes"; exit 2; }

e2e_log "write: qemu-img convert -n -p -f raw -O raw $src $url"
t0=$(now)
qemu-img convert -n -p -f raw -O raw "$src" "$url" 2>&1 | last_progress
(( PIPESTATUS[0] == 0 )) || { e2e_err "qemu-img convert into the LUN failed"; exit 1; }
t1=$(now); wsec=$(secs "$t0" "$t1")

e2e_log "read: qemu-img convert -p -f raw -O raw $url $out"
qemu-img convert -p -f raw -O raw "$url" "$out" 2>&1 | last_progress
(( PIPESTATUS[0] == 0 )) || { e2e_err "qemu-img convert out of the LUN failed"; exit 1; }
t2=$(now); rsec=$(secs "$t1" "$t2")

if cmp -n "$bytes" "$src" "$out"; then
    echo "qemu-img roundtrip: OK, $SIZE identical via $url (write ${wsec}s $(mbps "$bytes" "$wsec"), read ${rsec}s $(mbps "$bytes" "$rsec"))"
    exit 0
else
    echo "qemu-img roundtrip: FAILED, data read back differs from data written via $url"
    cmp -l -n "$bytes" "$src" "$out" 2>/dev/null | head -n 5
    exit 1
fi
