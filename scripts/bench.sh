#!/usr/bin/env bash
# npm run bench: tgt vs our daemon, side by side, qemu-img bench 4 KiB QD32
# read and write IOPS, ratio ours/tgt, target CPU time per I/O.
# Details and settings (BENCH_SECONDS, BENCH_SIZE, BENCH_REPEAT, ...):
#   tools/bench/qemu-img-bench.sh --help
exec bash "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tools/bench/qemu-img-bench.sh" "$@"
