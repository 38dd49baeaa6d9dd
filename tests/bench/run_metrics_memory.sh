#!/usr/bin/env bash
# Metrics service (f): memory per series (tests/bench/README.md, "Metrics service").
# Not a test: run it on purpose.
#   tests/bench/run_metrics_memory.sh [deep_series] [wide_series] [wide_minutes] [connections]
# Counter points (metrics_load gen-mem: name mem.c<i/10000>, tag s=<i>, value 1, one point
# a minute a series, minute-major, 10,000 a JSON body) sent once over [connections] (2) keep-alive
# connections (POST /api/v1/metrics) to a fresh tallyd (config: metrics.max_series 1,000,000,
# metrics.max_series_per_name 100,000; default threads), VmRSS read before and after
# (after 3 s of quiet):
#   deep  [deep_series] (default 2,000) series x 2,870 minutes: the full 48 h depth
#         (timestamps from now - 47.8 h to now - 2 min), so per series: 2,870 1-minute
#         buckets, 48 1-hour buckets and the last hour's 10-second buckets (one point a minute
#         fills 6 of 360... here 1 of 6 per minute: 58 buckets);
#   wide  [wide_series] (default 100,000) series x [wide_minutes] (default 15) minutes: the
#         per-series cost at the full series count (registry, caches, hash tables).
# Extrapolation to 100,000 series x 48 h = deep bytes/series x 100,000 (+ the difference of
# the per-series fixed cost seen by wide).
set -euo pipefail
cd "$(dirname "$0")/../.."
deep=${1:-2000}
wide=${2:-100000}
wide_minutes=${3:-15}
conns=${4:-2}
. tests/bench/lib.sh
work=$(mktemp -d /tmp/tally-bench-mem.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
load=$(metrics_load_bin "$work")
machine_line
cat > "$work/tallyd.json" <<JSON
{"metrics": {"max_series": 1000000, "max_series_per_name": 100000}}
JSON

measure() {  # $1 label, $2 series, $3 minutes
  rm -rf "$work/bodies"; mkdir -p "$work/bodies"
  local end=$(( $(date +%s%3N) - 120000 ))
  "$load" gen-mem --out-dir "$work/bodies" --series "$2" --minutes "$3" --end-ms "$end" >/dev/null
  start_tallyd "$work" --config "$work/tallyd.json"
  sleep 1
  local r0; r0=$(rss_kib "$tally_pid")
  local r; r=$("$load" http --port "$tally_port" --path /api/v1/metrics --body-dir "$work/bodies" --count accepted --connections "$conns" --once)
  sleep 3
  local r1; r1=$(rss_kib "$tally_pid")
  local series; series=$(prom_value "http://127.0.0.1:$tally_port/metrics" tally_metric_series)
  echo "$1: $2 series x $3 minutes: $r"
  awk -v a="$r0" -v b="$r1" -v s="$2" -v m="$3" -v n="$series" 'BEGIN {
    printf "   VmRSS before %.1f MiB, after %.1f MiB (+%.1f MiB); tally_metric_series %d; %.0f bytes/series; %.1f bytes/series/minute\n",
      a / 1024, b / 1024, (b - a) / 1024, n, (b - a) * 1024 / s, (b - a) * 1024 / s / m }'
  last_per_series=$(awk -v a="$r0" -v b="$r1" -v s="$2" 'BEGIN { printf "%.0f", (b - a) * 1024 / s }')
  kill "$tally_pid"; wait "$tally_pid" 2>/dev/null || true
}
measure deep "$deep" 2870; deep_ps=$last_per_series
measure wide "$wide" "$wide_minutes"; wide_ps=$last_per_series
awk -v d="$deep_ps" -v w="$wide_ps" -v wm="$wide_minutes" 'BEGIN {
  printf "(f) extrapolated, 100,000 series x 48 h of 1-minute points: %.0f bytes/series (deep) -> %.2f GiB of RSS over the empty daemon\n", d, d * 100000 / 2^30 }'
