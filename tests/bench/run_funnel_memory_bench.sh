#!/usr/bin/env bash
# Resident memory against events, with funnels moving to disk (tests/bench/README.md,
# "Memory and funnels on disk"). Not a test: run it on purpose.
#   tests/bench/run_funnel_memory_bench.sh [millions of events, default 50]
# Two fresh daemons in one run, the same load (POST /track/batch, 1,000-event bodies from
# 400 distinct bodies, 1,000,000 users):
#   spill    the default budget, limits.funnel_memory_mb 128: funnel steps move to disk
#   memory   limits.funnel_memory_mb 100000: nothing moves (the baseline)
# Each prints, at every 1M events up to 10M and every 10M after: events, VmRSS, RssAnon
# (the heap; VmRSS also counts pages of the mapped runs, which the kernel drops at will),
# the funnel bytes in memory and on disk; then the ingest rate of each and their ratio.
# Then, on each daemon's day: /funnel p50/p99 for a 3-step funnel.
set -euo pipefail
cd "$(dirname "$0")/../.."
millions=${1:-50}
build=${TALLY_BUILD_DIR:-build}
cmake --build "$build" --target tallyd loadgen >/dev/null
loadgen=$build/tests/bench/loadgen
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
. tests/bench/lib.sh
machine_line

# run NAME BUDGET_MB: a fresh daemon fed until $millions million events; sets rate_NAME.
run() {
  local name=$1 budget=$2 port
  port=$(free_port)
  mkdir -p "$work/$name"
  echo "{\"limits\":{\"funnel_memory_mb\":$budget}}" > "$work/$name/tallyd.json"
  "$build/src/daemon/tallyd" --listen "127.0.0.1:$port" --data-dir "$work/$name/data" \
    --config "$work/$name/tallyd.json" --log-level warn & local pid=$!
  pids+=("$pid")
  wait_port "$port"
  local metrics="http://127.0.0.1:$port/metrics" events=0 next=1 seconds=0 started
  started=$(date +%s.%N)
  echo "$name (limits.funnel_memory_mb $budget): events  VmRSS_MiB  RssAnon_MiB  funnel_memory_MiB  funnel_disk_MiB"
  while [ "$events" -lt $((millions * 1000000)) ]; do
    "$loadgen" --port "$port" --mode batch --connections 8 --seconds 2 --batch-pool 400 \
      --users 1000000 >/dev/null
    events=$(( $(prom_value "$metrics" 'tally_events_ingested_total{kind="pageview"}') +
               $(prom_value "$metrics" 'tally_events_ingested_total{kind="custom"}') ))
    if [ "$events" -ge $((next * 1000000)) ]; then
      printf '  %10d  %8.0f  %8.0f  %8.1f  %8.1f\n' "$events" \
        "$(( $(rss_kib "$pid") / 1024 ))" "$(( $(awk '/^RssAnon:/ {print $2}' /proc/$pid/status) / 1024 ))" \
        "$(echo "$(prom_value "$metrics" tally_funnel_memory_bytes) / 1048576" | bc -l)" \
        "$(echo "$(prom_value "$metrics" tally_funnel_disk_bytes) / 1048576" | bc -l)"
      while [ "$events" -ge $((next * 1000000)) ]; do
        if [ "$next" -lt 10 ]; then next=$((next + 1)); else next=$((next + 10)); fi
      done
    fi
  done
  seconds=$(echo "$(date +%s.%N) - $started" | bc -l)
  eval "rate_$name=$(echo "$events / $seconds" | bc -l)"
  printf '  ingest: %.0f events/s over %.0f s\n' "$(eval echo "\$rate_$name")" "$seconds"
  eval "port_$name=$port"
}

run spill 128
run memory 100000
printf 'ingest ratio spill / memory: %.3f\n' "$(echo "$rate_spill / $rate_memory" | bc -l)"

# /funnel over each daemon's day: 20 requests, one at a time (p99 of 20 is their maximum).
for name in spill memory; do
  url="http://127.0.0.1:$(eval echo "\$port_$name")/funnel?steps=pageview:/p/1,pageview:/p/2,add_to_cart"
  for _ in $(seq 20); do curl -s -o /dev/null -w '%{time_total}\n' "$url"; done | sort -n |
    awk -v n="$name" '{ t[NR] = $1 * 1000 } END { printf "/funnel, 3 steps over the day (%s): p50 %.0f ms, p99 %.0f ms\n", n, t[int(NR * 0.5)], t[NR] }'
done
