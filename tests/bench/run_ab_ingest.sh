#!/usr/bin/env bash
# Two tallyd binaries on the ingest hot path, alternating in one run, so that a change's
# cost is measured against its parent under the same conditions (tests/bench/README.md,
# "Before and after"). Not a test: run it on purpose.
#   tests/bench/run_ab_ingest.sh BEFORE_TALLYD AFTER_TALLYD [rounds] [seconds]
# Each round runs, for before then after (the order swapped every other round), a fresh
# daemon (empty data dir) under (a) POST /track/pageview from 64 keep-alive connections and
# (b) POST /track/batch of 1,000 events from 4 connections. Prints every measurement and,
# per scenario, the median of after/before over the rounds.
set -euo pipefail
cd "$(dirname "$0")/../.."
before=${1:?usage: run_ab_ingest.sh BEFORE_TALLYD AFTER_TALLYD [rounds] [seconds]}
after=${2:?usage: run_ab_ingest.sh BEFORE_TALLYD AFTER_TALLYD [rounds] [seconds]}
rounds=${3:-6}
seconds=${4:-5}
build=${TALLY_BUILD_DIR:-build}
cmake --build "$build" --target loadgen >/dev/null
loadgen=$build/tests/bench/loadgen
work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
. tests/bench/lib.sh  # free_port, wait_port

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(date -u '+%F %H:%M') UTC, load $(cut -d' ' -f1 /proc/loadavg)"
port=$(free_port)
run=0
# measure BINARY MODE CONNECTIONS -> the figure (req/s for pageview, events/s for batch)
measure() {
  run=$((run + 1))
  "$1" --listen "127.0.0.1:$port" --data-dir "$work/data$run" --log-level warn &
  pid=$!
  wait_port "$port"
  out=$("$loadgen" --port "$port" --mode "$2" --connections "$3" --seconds "$seconds")
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
  rm -rf "$work/data$run"
  if [ "$2" = batch ]; then sed -n 's/.*events_per_s=\([0-9]*\).*/\1/p' <<<"$out"
  else sed -n 's/.*req_per_s=\([0-9]*\).*/\1/p' <<<"$out"; fi
}
: > "$work/a.txt"; : > "$work/b.txt"
for round in $(seq "$rounds"); do
  for scenario in "pageview 64 a" "batch 4 b"; do
    set -- $scenario
    if (( round % 2 )); then x=$(measure "$before" "$1" "$2"); y=$(measure "$after" "$1" "$2")
    else y=$(measure "$after" "$1" "$2"); x=$(measure "$before" "$1" "$2"); fi
    echo "round $round ($3) $1: before $x, after $y, ratio $(awk -v x="$x" -v y="$y" 'BEGIN{printf "%.3f", y/x}')"
    awk -v x="$x" -v y="$y" 'BEGIN{printf "%.4f\n", y/x}' >> "$work/$3.txt"
  done
done
median() { sort -n "$1" | awk '{v[NR]=$1} END {printf "%.3f", NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
echo "median after/before: (a) page views $(median "$work/a.txt"), (b) batch $(median "$work/b.txt")"
