#!/usr/bin/env bash
# Metrics service (b) and (c): HTTP ingest (tests/bench/README.md, "Metrics service").
# Not a test: run it on purpose.
#   tests/bench/run_metrics_ingest.sh [seconds] [connections]
# Bodies: 8 files of 10,000 gauge points (5 measurements x 4 fields, 500 hosts x 4 regions:
# 40,000 series), written once as JSON ({"metrics":[...]}, ~0.9 MB) and once as the same
# points in Influx line protocol (4 fields a line, ~0.2 MB). One client (metrics_load http,
# keep-alive, one request in flight per connection), the same connections everywhere:
#   VM        VictoriaMetrics 1.79 POST /write with the Influx bodies (before and after)
#   (b)       tallyd POST /api/v1/metrics with the JSON bodies (points = the answers' "accepted")
#   (c)       tallyd POST /write with the Influx bodies (a fresh daemon)
# and checks that every sample was stored: tallyd's tally_metric_points_applied_total and
# the sum of /api/v1/metrics/<name>/current?window=1h counts; VM's
# vm_rows_inserted_total{type="influx"}.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-10}
conns=${2:-4}
. tests/bench/lib.sh
work=$(mktemp -d /tmp/tally-bench-ingest.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
trap 'echo "run_metrics: got SIGTERM" >&2; exit 143' TERM
trap 'echo "run_metrics: got SIGINT" >&2; exit 130' INT
load=$(metrics_load_bin "$work")
machine_line
mkdir -p "$work/json" "$work/lp"
"$load" gen-json --out-dir "$work/json" --files 8 >/dev/null 2>&1
"$load" gen-influx --out-dir "$work/lp" --files 8 >/dev/null 2>&1
pps() { sed -n 's/.*points_per_s=\([0-9]*\).*/\1/p' <<<"$1"; }
pts() { sed -n 's/.* points=\([0-9]*\).*/\1/p' <<<"$1"; }
names="cpu.user cpu.system cpu.idle cpu.iowait mem.used mem.free mem.cached mem.buffered disk.read_bytes disk.write_bytes disk.reads disk.writes net.rx_bytes net.tx_bytes net.rx_errs net.tx_errs app.requests app.errors app.latency app.queue"
tally_stored() {  # sum of the names' point counts over the last hour
  python3 - "$tally_port" $names <<'PY'
import json, sys, urllib.request
port, names = sys.argv[1], sys.argv[2:]
print(sum(int(json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/metrics/{n}/current?window=1h"))["count"]) for n in names))
PY
}

vm_run() {
  start_vm "$work"
  local c0; c0=$(cpu_s "$vm_pid")
  local r; r=$("$load" http --port "$vm_port" --path /write --body-dir "$work/lp" --content-type text/plain --count lines --points-per-line 4 --connections "$conns" --seconds "$seconds")
  local rows; rows=$(prom_value "http://127.0.0.1:$vm_port/metrics" 'vm_rows_inserted_total{type="influx"}')
  local c1; c1=$(cpu_s "$vm_pid")
  echo "VM /write                $r"
  cpu_line "$c0" "$c1" "$(pts "$r")"; vm_cpu_last=$cpu_last
  echo "   check: sent $(pts "$r") samples, vm_rows_inserted_total{type=\"influx\"} = $rows"
  vm_last=$(pps "$r")
  kill "$vm_pid"; wait "$vm_pid" 2>/dev/null || true
}

# CPU seconds the server used per million points (less sensitive to a busy machine than
# points/s: what the server itself spends, not what it was given)
cpu_line() { cpu_last=$(awk -v a="$1" -v b="$2" -v p="$3" 'BEGIN { printf "%.2f", (b - a) / p * 1e6 }'); echo "   server CPU: $(awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }') s = $cpu_last CPU-s per million points"; }

vm_run; vm1=$vm_last; vm1_cpu=$vm_cpu_last

start_tallyd "$work"
c0=$(cpu_s "$tally_pid")
b=$("$load" http --port "$tally_port" --path /api/v1/metrics --body-dir "$work/json" --count accepted --connections "$conns" --seconds "$seconds")
echo "tallyd /api/v1/metrics   $b"
cpu_line "$c0" "$(cpu_s "$tally_pid")" "$(pts "$b")"; b_cpu=$cpu_last
echo "   check: accepted $(pts "$b"), applied $(prom_value "http://127.0.0.1:$tally_port/metrics" tally_metric_points_applied_total), /current counts $(tally_stored)"
kill "$tally_pid"; wait "$tally_pid" 2>/dev/null || true

start_tallyd "$work"
c0=$(cpu_s "$tally_pid")
c=$("$load" http --port "$tally_port" --path /write --body-dir "$work/lp" --content-type text/plain --count lines --points-per-line 4 --connections "$conns" --seconds "$seconds")
echo "tallyd /write            $c"
cpu_line "$c0" "$(cpu_s "$tally_pid")" "$(pts "$c")"; c_cpu=$cpu_last
echo "   check: sent $(pts "$c"), applied $(prom_value "http://127.0.0.1:$tally_port/metrics" tally_metric_points_applied_total), /current counts $(tally_stored)"
kill "$tally_pid"; wait "$tally_pid" 2>/dev/null || true

vm_run; vm2=$vm_last; vm2_cpu=$vm_cpu_last
awk -v b="$(pps "$b")" -v c="$(pps "$c")" -v v1="$vm1" -v v2="$vm2" -v bc="$b_cpu" -v cc="$c_cpu" -v vc1="$vm1_cpu" -v vc2="$vm2_cpu" 'BEGIN {
  vc = (vc1 + vc2) / 2
  printf "CPU-s per million points: VM %.2f, tallyd JSON %.2f (VM/tallyd %.2fx), tallyd /write %.2f (VM/tallyd %.2fx)\n", vc, bc, vc / bc, cc, vc / cc
  v = (v1 + v2) / 2
  printf "VM /write mean of the two runs: %.0f samples/s\n", v
  printf "(b) tallyd JSON %.0f points/s = %.2fx VM /write (target >= 1,000,000 points/s)\n", b, b / v
  printf "(c) tallyd /write %.0f samples/s = %.2fx VM /write (target >= 3x)\n", c, c / v }'
