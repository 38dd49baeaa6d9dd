#!/usr/bin/env bash
# The baseline of the mirror benchmark: "seed 000", the design Tally replaces
# (tests/bench/README.md). Not a test: run it on purpose.
#   tests/bench/run_seed000_baseline.sh [seconds] [runs]      (default 10 s, 2 runs)
# Each run starts its own redis-server (no persistence, a free loopback port) and drives it
# the seed 000 way: 8 hiredis clients, one pipeline of ~12 commands per page view, one
# event in flight per client (tests/bench/seed000_baseline.cpp). Prints each run's figures:
# events/s, Redis commands/s and Redis CPU (INFO cpu, sys + user, as % of one core).
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-10}
runs=${2:-2}
build=${TALLY_BUILD_DIR:-build}
command -v redis-server >/dev/null || {
  echo "run_seed000_baseline.sh: redis-server is needed (scripts/install-deps.sh --test)" >&2
  exit 1
}
cmake --build "$build" --target seed000_baseline >/dev/null
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(date -u +%F)"
echo "redis: $(redis-server --version | cut -d' ' -f3)"
for run in $(seq "$runs"); do
  out=$("$build/tests/bench/seed000_baseline" --seconds "$seconds" --threads 8)
  echo "run $run: $out"
done
