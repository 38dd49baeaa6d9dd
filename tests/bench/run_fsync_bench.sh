#!/usr/bin/env bash
# Ingest throughput per durability.fsync mode (tests/bench/README.md).
# Not a test: run it on purpose.
#   tests/bench/run_fsync_bench.sh [seconds] [rounds]
# For each round, a fresh tallyd (2 I/O threads, empty data dir on the same disk as the
# build) per mode: never, interval, always; tests/bench/loadgen sends single page views on
# 64 keep-alive connections. Prints each run and the ratios to `never` of the same round
# (targets: interval >= 0.95, always >= 0.5), then the medians over the rounds.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-10}
rounds=${2:-3}
build=${TALLY_BUILD_DIR:-build}
cmake --build "$build" --target tallyd loadgen >/dev/null
loadgen=$build/tests/bench/loadgen
# On the build's disk rather than /tmp: fsync must reach a real device to mean anything.
work=$(mktemp -d -p "$PWD/$build" fsync-bench-XXXXXX)
tallyd_pid=
cleanup() {
  [ -n "$tallyd_pid" ] && { kill "$tallyd_pid" 2>/dev/null || true; wait "$tallyd_pid" 2>/dev/null || true; }
  rm -rf "$work"
}
trap cleanup EXIT

. tests/bench/lib.sh  # free_port, wait_port
rps() { sed -n 's/.*req_per_s=\([0-9]*\).*/\1/p' <<<"$1"; }

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(date -u +%F)"
echo "data dir on: $(df -T "$work" | awk 'NR==2 {print $1, $2}')"

port=$(free_port)
run=0
declare -A all
for round in $(seq "$rounds"); do
  declare -A got=()
  for mode in never interval always; do
    run=$((run + 1))
    "$build/src/daemon/tallyd" --listen "127.0.0.1:$port" --data-dir "$work/data$run" \
      --threads 2 --fsync "$mode" --log-level warn &
    tallyd_pid=$!
    wait_port "$port"
    out=$("$loadgen" --port "$port" --mode pageview --connections 64 --seconds "$seconds")
    kill "$tallyd_pid"; wait "$tallyd_pid" 2>/dev/null || true; tallyd_pid=
    rm -rf "$work/data$run"
    got[$mode]=$(rps "$out")
    all[$mode]="${all[$mode]:-} ${got[$mode]}"
    echo "round $round  $mode  $out"
  done
  awk -v n="${got[never]}" -v i="${got[interval]}" -v a="${got[always]}" -v r="$round" \
    'BEGIN { printf "round %d  interval/never = %.2f  always/never = %.2f\n", r, i / n, a / n }'
done
median() { tr ' ' '\n' <<<"$1" | sed '/^$/d' | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
n=$(median "${all[never]}"); i=$(median "${all[interval]}"); a=$(median "${all[always]}")
awk -v n="$n" -v i="$i" -v a="$a" 'BEGIN {
  printf "median req/s: never %d, interval %d, always %d\n", n, i, a
  printf "median ratios: interval/never = %.2f (target >= 0.95), always/never = %.2f (target >= 0.5)\n", i / n, a / n }'
