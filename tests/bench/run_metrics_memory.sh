#!/usr/bin/env bash
# Metrics service (f): memory per series (tests/bench/README.md, "Metrics service").
# Not a test: run it on purpose.
#   tests/bench/run_metrics_memory.sh [series] [minutes] [chunk_minutes] [connections]
# Counter points (metrics_load gen-mem: name mem.c<i/10000>, tag s=<i>, value 1, one point
# a minute a series, minute-major, 10,000 a JSON body) sent once over [connections] (2)
# keep-alive connections (POST /api/v1/metrics) to a fresh tallyd, VmRSS read before and
# after (after 3 s of quiet). Defaults: 100,000 series x 2,870 minutes, the full 48 h depth
# (timestamps from now - 47.8 h to now - 2 min), so each series holds 2,870 1-minute
# buckets, 48 1-hour buckets and the last hour's 10-second buckets: 287M points.
# The points are generated and sent [chunk_minutes] (60) minutes at a time, oldest first,
# so the bodies on disk and in the sender stay under a GiB.
# tallyd's config: metrics.max_series 1,000,000, metrics.max_series_per_name 100,000, and
# snapshots off (durability.snapshot_events 0, snapshot_interval_s 0): a snapshot's buffer
# is not what this measures. It is stopped with SIGKILL for the same reason (a SIGTERM
# writes a snapshot).
set -euo pipefail
cd "$(dirname "$0")/../.."
series=${1:-100000}
minutes=${2:-2870}
chunk=${3:-60}
conns=${4:-2}
. tests/bench/lib.sh
work=$(mktemp -d /tmp/tally-bench-mem.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
load=$(metrics_load_bin "$work")
machine_line
echo "tallyd: $(tallyd_bin)"
cat > "$work/tallyd.json" <<JSON
{"metrics": {"max_series": 1000000, "max_series_per_name": 100000},
 "durability": {"snapshot_events": 0, "snapshot_interval_s": 0}}
JSON

start_tallyd "$work" --config "$work/tallyd.json" ${TALLYD_ARGS:-}
sleep 1
r0=$(rss_kib "$tally_pid")
end=$(( $(date +%s%3N) - 120000 ))
end=$(( end - end % 60000 ))
accepted=0
started=$(date +%s)
for (( done_minutes = 0; done_minutes < minutes; done_minutes += chunk )); do
  n=$(( minutes - done_minutes < chunk ? minutes - done_minutes : chunk ))
  chunk_end=$(( end - (minutes - done_minutes - n) * 60000 ))
  rm -rf "$work/bodies"; mkdir -p "$work/bodies"
  "$load" gen-mem --out-dir "$work/bodies" --series "$series" --minutes "$n" --end-ms "$chunk_end" >/dev/null
  r=$("$load" http --port "$tally_port" --path /api/v1/metrics --body-dir "$work/bodies" --count accepted --connections "$conns" --once)
  ok=$(sed -n 's/.*points=\([0-9]*\).*/\1/p' <<<"$r")
  accepted=$(( accepted + ${ok:-0} ))
  echo "  minutes $done_minutes..$(( done_minutes + n )) of $minutes: $r; VmRSS $(( $(rss_kib "$tally_pid") / 1024 )) MiB"
done
rm -rf "$work/bodies"
sleep 3
r1=$(rss_kib "$tally_pid")
hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$tally_pid/status")
n_series=$(prom_value "http://127.0.0.1:$tally_port/metrics" tally_metric_series)
echo "(f) $series series x $minutes minutes in $(( $(date +%s) - started )) s: $accepted points accepted"
awk -v a="$r0" -v b="$r1" -v h="$hwm" -v s="$series" -v n="$n_series" 'BEGIN {
  printf "   VmRSS before %.1f MiB, after %.2f GiB (+%.2f GiB), VmHWM %.2f GiB; tally_metric_series %d; %.0f bytes/series\n",
    a / 1024, b / 2^20, (b - a) / 2^20, h / 2^20, n, (b - a) * 1024 / s }'
