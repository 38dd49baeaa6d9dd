#!/usr/bin/env bash
# The core daemon's benchmark (tests/bench/README.md, "Ingest").
# Not a test: run it on purpose.
#   tests/bench/run_ingest_bench.sh [seconds]
# Measures, in one run and with the same load generator and connections:
#   baseline  nginx (nginx-light, one worker) answering POST with a fixed 200 {"status":"ok"}
#   (a)       tallyd POST /track/pageview, 64 keep-alive connections  -> ratio to nginx
#   (b)       tallyd POST /track/batch, 1,000-event bodies            -> events/s
#   (c)       GET /dashboard/today p99 while (a) runs at half its peak
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-10}
build=${TALLY_BUILD_DIR:-build}
if ! command -v nginx >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null
fi
cmake --build "$build" --target tallyd loadgen >/dev/null
loadgen=$build/tests/bench/loadgen
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

. tests/bench/lib.sh  # free_port, wait_port

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(date -u +%F)"

# --- baseline: nginx, one worker, fixed answer
nginx_port=$(free_port)
mkdir -p "$work/nginx"
cat > "$work/nginx/nginx.conf" <<NGINX
worker_processes 1;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/nginx;
  server {
    listen 127.0.0.1:$nginx_port;
    keepalive_requests 100000000;
    location / { default_type application/json; return 200 '{"status":"ok"}'; }
  }
}
NGINX
nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" & pids+=($!)
wait_port "$nginx_port"
base=$("$loadgen" --port "$nginx_port" --mode pageview --connections 64 --seconds "$seconds")
echo "nginx      $base"

# --- tallyd: a fresh daemon (empty data dir) for each scenario, so each is measured alone
port=$(free_port)
run=0
start_tallyd() {
  [ -n "${tallyd_pid:-}" ] && { kill "$tallyd_pid"; wait "$tallyd_pid" 2>/dev/null || true; }
  run=$((run + 1))
  "$build/src/daemon/tallyd" --listen "127.0.0.1:$port" --data-dir "$work/data$run" --log-level warn &
  tallyd_pid=$!; pids+=("$tallyd_pid")
  wait_port "$port"
}
start_tallyd
a=$("$loadgen" --port "$port" --mode pageview --connections 64 --seconds "$seconds")
echo "tallyd (a) $a"
# The same daemon, now holding (a)'s events, then a fresh one.
b_loaded=$("$loadgen" --port "$port" --mode batch --connections 4 --seconds "$seconds")
echo "tallyd (b) $b_loaded   [after (a)]"
start_tallyd
b=$("$loadgen" --port "$port" --mode batch --connections 4 --seconds "$seconds")
echo "tallyd (b) $b   [fresh]"
start_tallyd

rps() { sed -n 's/.*req_per_s=\([0-9]*\).*/\1/p' <<<"$1"; }
half=$(( $(rps "$a") / 2 ))
"$loadgen" --port "$port" --mode pageview --connections 64 --seconds "$seconds" --rate "$half" > "$work/half.txt" &
load=$!
c=$("$loadgen" --port "$port" --mode dashboard --connections 1 --seconds "$seconds" --rate 200)
wait $load
echo "tallyd (c) $c"
echo "           under $(cat "$work/half.txt")"

awk -v a="$(rps "$a")" -v n="$(rps "$base")" 'BEGIN { printf "ratio (a)/nginx = %.2f (target >= 0.6)\n", a / n }'
eps() { sed -n 's/.*events_per_s=\([0-9]*\).*/\1/p' <<<"$1"; }
echo "(b) events/s = $(eps "$b") fresh, $(eps "$b_loaded") after (a) (target >= 1,000,000)"
echo "(c) dashboard p99 = $(sed -n 's/.*p99_us=\([0-9]*\).*/\1/p' <<<"$c") us (target <= 1000)"
