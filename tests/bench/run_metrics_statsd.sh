#!/usr/bin/env bash
# Metrics service (a): DogStatsD over UDP (tests/bench/README.md, "Metrics service").
# Not a test: run it on purpose.
#   tests/bench/run_metrics_statsd.sh [seconds] [offered_points_per_s]
# Two sender processes (metrics_load udp-send: ~1,400-byte datagrams of 30 counter and
# timing lines with tags, sendmmsg) run flat out, then at a fixed offered rate, against
#   baseline  a trivial receiver (metrics_load udp-sink: recvmmsg + count lines, same 32 MiB
#             buffer), and
#   tallyd    --statsd, a fresh daemon (default threads, fsync interval);
# points/s kept = points counted (tally_statsd_points_total delta, or the sink's count)
# divided by the send time; drops = tally_statsd_dropped_datagrams_total delta.
# STATSD_PIN=1: senders on CPU 0, the receiver (sink or tallyd) on CPU 1 (taskset), so the
# receiver is not competing with its own load generator for a core.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-10}
offered=${2:-1000000}
. tests/bench/lib.sh
work=$(mktemp -d /tmp/tally-bench-statsd.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
tallyd=$(tallyd_bin)
load=$(metrics_load_bin "$work")
machine_line

recv_cpu=() send_cpu=()
if [ "${STATSD_PIN:-0}" = 1 ]; then recv_cpu=(taskset -c 1); send_cpu=(taskset -c 0); echo "pinned: senders on CPU 0, receiver on CPU 1"; fi

field() { sed -n "s/.*[ ^]$1=\([0-9.]*\).*/\1/p" <<<"$2"; }

# --- baseline: the trivial receiver
sink_run() {  # $1: extra udp-send args
  local port; port=$(free_udp_port)
  "${recv_cpu[@]}" "$load" udp-sink --port "$port" > "$work/sink.txt" & local sink=$!
  sleep 0.3
  local sent; sent=$("${send_cpu[@]}" "$load" udp-send --port "$port" --seconds "$seconds" --procs 2 $1)
  wait "$sink"
  local got; got=$(cat "$work/sink.txt" | tail -1)
  awk -v s="$(field seconds "$sent")" -v p="$(field points "$got")" -v sp="$(field points "$sent")" \
      -v d="$(field dropped_datagrams "$got")" -v o="$(field points_per_s "$sent")" \
    'BEGIN { printf "sink   sent %.0f points/s; kept %.0f points/s (%.1f%% of sent); kernel drops %d datagrams\n", o, p / s, 100 * p / sp, d }'
}

# --- tallyd --statsd
tally_run() {  # $1: extra udp-send args
  local port udp; port=$(free_port); udp=$(free_udp_port)
  "${recv_cpu[@]}" "$tallyd" --listen "127.0.0.1:$port" --data-dir "$work/data$RANDOM" --log-level warn --statsd "127.0.0.1:$udp" &
  local pid=$!; pids+=("$pid")
  wait_port "$port"
  local m="http://127.0.0.1:$port/metrics"
  local p0 d0; p0=$(prom_value "$m" tally_statsd_points_total); d0=$(prom_value "$m" tally_statsd_dropped_datagrams_total)
  local c0; c0=$(cpu_s "$pid")
  local sent; sent=$("${send_cpu[@]}" "$load" udp-send --port "$udp" --seconds "$seconds" --procs 2 $1)
  # let it drain what is queued in the socket buffer
  local last=-1 now; now=$(prom_value "$m" tally_statsd_points_total)
  while [ "$now" != "$last" ]; do last=$now; sleep 0.5; now=$(prom_value "$m" tally_statsd_points_total); done
  local d1; d1=$(prom_value "$m" tally_statsd_dropped_datagrams_total)
  local c1; c1=$(cpu_s "$pid")
  awk -v s="$(field seconds "$sent")" -v p="$((now - p0))" -v sp="$(field points "$sent")" \
      -v d="$((d1 - d0))" -v o="$(field points_per_s "$sent")" -v dg="$(field datagrams "$sent")" \
      -v c="$(awk -v a="$c0" -v b="$c1" 'BEGIN { print b - a }')" \
    'BEGIN { printf "tallyd sent %.0f points/s; kept %.0f points/s (%.1f%% of sent); kernel drops %d datagrams (%.1f%%); tallyd CPU %.2f s = %.2f us per point kept\n", o, p / s, 100 * p / sp, d, 100 * d / dg, c, c / p * 1e6 }'
  kill "$pid"; wait "$pid" 2>/dev/null || true
}

echo "== flat out (2 senders)"
b=$(sink_run ""); echo "$b"
t=$(tally_run ""); echo "$t"
kept() { sed -n 's/.*kept \([0-9]*\) points.*/\1/p' <<<"$1"; }
awk -v t="$(kept "$t")" -v b="$(kept "$b")" 'BEGIN { printf "ratio tallyd / trivial receiver = %.3f\n", t / b }'
echo "== offered $offered points/s (2 senders)"
b=$(sink_run "--rate $offered"); echo "$b"
t=$(tally_run "--rate $offered"); echo "$t"
awk -v t="$(kept "$t")" -v b="$(kept "$b")" 'BEGIN { printf "ratio tallyd / trivial receiver = %.3f (target: tallyd keeps >= 1,000,000 points/s)\n", t / b }'
