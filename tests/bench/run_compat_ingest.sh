#!/usr/bin/env bash
# Single-event ingest through Plausible's POST /api/event against Tally's own POST
# /track/pageview, in the same run: one tallyd (--threads 1, so the load generator has the
# other core), the two modes alternated `rounds` times, real browser User-Agents with 1 in
# 20 a crawler's on both (dropped on /api/event, counted on /track/pageview).
#   TALLYD=build/src/daemon/tallyd tests/bench/run_compat_ingest.sh [seconds] [rounds]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$here/../.."
tallyd="${TALLYD:-$root/build/src/daemon/tallyd}"
loadgen="${LOADGEN:-$root/build/tests/bench/loadgen}"
seconds="${1:-10}"
rounds="${2:-2}"
data="$(mktemp -d)"
port=$((20000 + RANDOM % 20000))
"$tallyd" --listen "127.0.0.1:$port" --data-dir "$data" --web-root "$root/web" --threads 1 \
  --log-level warn &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
for round in $(seq "$rounds"); do
  for mode in pageview plausible; do
    echo "round $round: $("$loadgen" --port "$port" --mode "$mode" --connections 32 --seconds "$seconds")"
  done
done
curl -s "http://127.0.0.1:$port/metrics" | grep -E '^tally_events_(ingested|dropped)_total'
