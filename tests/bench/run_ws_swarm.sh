#!/usr/bin/env bash
# The live dashboards' benchmark (tests/bench/README.md, "Live dashboards").
# Not a test: run it on purpose, after a build
# with -DTALLY_TESTS=ON (it builds nothing).
#   tests/bench/run_ws_swarm.sh [seconds]
# A fresh tallyd (2 I/O threads, live.batch_ms 100) for each scenario:
#   (1) 1,000 dashboards on /ws while page views arrive at 20,000/s: event -> frame p50/p99
#   (2) the same with 10,000 dashboards
#   (3) ingest throughput, page views as fast as loadgen goes (64 connections), with no
#       dashboard and then with 10,000 (which also gives their latency at that load)
#   (4) the default connection budgets (http.max_connections and live.max_clients 10,000)
#       with 10,000 dashboards and the same ingest: page views refused must be none
# Target: p99 <= batch_ms + 20 ms; (3) with 10,000 >= 0.9x without.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-10}
build=${TALLY_BUILD_DIR:-build}
tallyd=${TALLYD:-$build/src/daemon/tallyd}  # TALLYD=path to compare another build
loadgen=$build/tests/bench/loadgen
swarm=$build/tests/bench/ws_swarm
for b in "$tallyd" "$loadgen" "$swarm"; do
  [ -x "$b" ] || { echo "missing $b: scripts/build.sh -DTALLY_TESTS=ON first" >&2; exit 2; }
done
# One descriptor per dashboard, in tallyd and in the swarm.
ulimit -n "$(ulimit -Hn)"
[ "$(ulimit -n)" -ge 20500 ] || [ "$(ulimit -n)" = unlimited ] ||
  echo "warning: open files limit $(ulimit -n); 10,000 dashboards need ~10,100 per process" >&2

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

. tests/bench/lib.sh  # free_port, wait_port

cat > "$work/tallyd.json" <<JSON
{"threads": 2, "http": {"max_connections": 20000},
 "live": {"max_clients": 20000, "max_clients_per_ip": 20000, "batch_ms": 100}}
JSON
# The swarm is one address: only the per-address cap is raised from the defaults.
cat > "$work/defaults.json" <<JSON
{"threads": 2, "live": {"max_clients_per_ip": 20000, "batch_ms": 100}}
JSON

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(date -u +%F)"
port=$(free_port)
run=0
start_tallyd() {
  if [ -n "${tallyd_pid:-}" ]; then kill "$tallyd_pid"; wait "$tallyd_pid" 2>/dev/null || true; fi
  run=$((run + 1))
  "$tallyd" --config "$work/${config:-tallyd}.json" --listen "127.0.0.1:$port" --data-dir "$work/data$run" \
    --log-level warn &
  tallyd_pid=$!; pids+=("$tallyd_pid")
  wait_port "$port"
}

# swarm N LOADGEN_ARGS...: N dashboards, then loadgen with LOADGEN_ARGS while they measure.
# Prints the swarm's and loadgen's lines.
swarm() {
  local n=$1; shift
  "$swarm" --port "$port" --clients "$n" --seconds "$seconds" > "$work/swarm.txt" &
  local s=$!; pids+=("$s")
  for _ in $(seq 600); do grep -q '^ready' "$work/swarm.txt" && break; sleep 0.1; done
  local lg
  lg=$("$loadgen" --port "$port" --mode pageview --seconds "$seconds" "$@")
  wait "$s"
  echo "  swarm   $(tr '\n' ' ' < "$work/swarm.txt")"
  echo "  loadgen $lg"
}

echo "(1) 1,000 dashboards, 20,000 page views/s"
start_tallyd
swarm 1000 --connections 32 --rate 20000
echo "(2) 10,000 dashboards, 20,000 page views/s"
start_tallyd
swarm 10000 --connections 32 --rate 20000
echo "(3) ingest as fast as it goes, no dashboard"
start_tallyd
base=$("$loadgen" --port "$port" --mode pageview --connections 64 --seconds "$seconds")
echo "  loadgen $base"
echo "(3) ingest as fast as it goes, 10,000 dashboards"
start_tallyd
with=$(swarm 10000 --connections 64)
echo "$with"

echo "(4) default connection budgets, 10,000 dashboards, ingest as fast as it goes"
config=defaults start_tallyd
defaults=$(swarm 10000 --connections 64)
echo "$defaults"

rps() { sed -n 's/.*req_per_s=\([0-9]*\).*/\1/p' <<<"$1" | tail -1; }
errors=$(sed -n 's/.*errors=\([0-9]*\).*/\1/p' <<<"$defaults" | tail -1)
echo "page views refused with the default budgets and 10,000 dashboards: $errors (target 0)"
awk -v w="$(rps "$with")" -v b="$(rps "$base")" \
  'BEGIN { printf "ingest with 10,000 dashboards / without = %d / %d = %.2f (target >= 0.9)\n", w, b, w / b }'
