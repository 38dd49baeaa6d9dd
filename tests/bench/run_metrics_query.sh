#!/usr/bin/env bash
# Metrics service (d): query latency under ingest (tests/bench/README.md, "Metrics service").
# Not a test: run it on purpose.
#   tests/bench/run_metrics_query.sh [samples_per_series_minute] [seconds]
# Data: one distribution `lat` (log-normal latencies, ms), 100 series (host h0..h9 x path
# p0..p9), the past hour at 1-minute steps, N samples per series-minute (default 30:
# 180,000 samples, 5,000 a body: 10,000 with timestamps pass 1 MiB), timestamps spread over
# each minute; the same samples into
#   tallyd            POST /api/v1/metrics, type "percentile"
#   VictoriaMetrics   POST /write?precision=ms, `lat,host=..,path=.. value=X TS` (-> lat_value),
#                     started with -search.disableCache so repeated queries are computed
# Then, while a background ingest (metrics_load http, 2 connections, the ingest benchmark's
# bodies) runs at half of that server's measured peak, one connection times ~1,000 queries
# (200/s for [seconds]):
#   tallyd  POST /api/v1/query {"metrics":["lat"],"aggregation":"p99","window":"1m",
#           "start_time":now-1h,"end_time":now,"group_by":["host"]}
#   VM      GET /api/v1/query_range?query=max by (host) (quantile_over_time(0.99, lat_value[1m]))
#           &start=now-1h&end=now&step=60
set -euo pipefail
cd "$(dirname "$0")/../.."
per_minute=${1:-30}
seconds=${2:-5}
. tests/bench/lib.sh
work=$(mktemp -d /tmp/tally-bench-query.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
load=$(metrics_load_bin "$work")
machine_line
mkdir -p "$work/json" "$work/lp" "$work/bg_json" "$work/bg_lp"
"$load" gen-json --out-dir "$work/bg_json" --files 8 >/dev/null 2>&1
"$load" gen-influx --out-dir "$work/bg_lp" --files 8 >/dev/null 2>&1
now_ms=$(( $(date +%s%3N) ))
python3 - "$work" "$per_minute" "$now_ms" <<'PY'
import json, math, random, sys
work, k, now = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(3)
start = now - 3600_000
pts, lines = [], []
for m in range(60):
    for h in range(10):
        for p in range(10):
            for i in range(k):
                ts = start + m * 60_000 + (i * 60_000) // k + rng.randrange(0, 60_000 // k)
                v = round(math.exp(rng.gauss(3.0, 0.8)), 3)
                pts.append({"name": "lat", "type": "percentile", "value": v,
                            "tags": {"host": f"h{h}", "path": f"p{p}"}, "timestamp": ts})
                lines.append(f"lat,host=h{h},path=p{p} value={v} {ts}")
for i in range(0, len(pts), 5000):
    with open(f"{work}/json/q{i // 5000:04d}.json", "w") as f:
        json.dump({"metrics": pts[i:i + 5000]}, f, separators=(",", ":"))
    with open(f"{work}/lp/q{i // 5000:04d}.lp", "w") as f:
        f.write("\n".join(lines[i:i + 5000]) + "\n")
print(f"{len(pts)} samples in {len(range(0, len(pts), 5000))} bodies")
PY
start_rfc=$(date -u -d "@$(( now_ms / 1000 - 3600 ))" +%FT%TZ)
end_rfc=$(date -u -d "@$(( now_ms / 1000 ))" +%FT%TZ)
query="{\"metrics\":[\"lat\"],\"aggregation\":\"p99\",\"window\":\"1m\",\"start_time\":\"$start_rfc\",\"end_time\":\"$end_rfc\",\"group_by\":[\"host\"]}"
promql='max by (host) (quantile_over_time(0.99, lat_value[1m]))'
vm_path="/api/v1/query_range?query=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1]))' "$promql")&start=$(( now_ms / 1000 - 3600 ))&end=$(( now_ms / 1000 ))&step=60"
rps() { sed -n 's/.*req_per_s=\([0-9]*\).*/\1/p' <<<"$1"; }
p() { sed -n "s/.*$1_us=\([0-9]*\).*/\1/p" <<<"$2"; }

# --- tallyd
start_tallyd "$work"
"$load" http --port "$tally_port" --path /api/v1/metrics --body-dir "$work/json" --count accepted --connections 2 --once
echo "tallyd answer: $(curl -s -X POST --data "$query" "http://127.0.0.1:$tally_port/api/v1/query" | python3 -c 'import json,sys; r=json.load(sys.stdin)["results"]; print(len(r), "groups x", len(r[0]["points"]), "points; h0 first windows:", [round(x["value"] or 0, 1) for x in r[0]["points"][:3]])')"
c0=$(cpu_s "$tally_pid")
alone=$("$load" http --port "$tally_port" --path /api/v1/query --body "$query" --connections 1 --rate 200 --seconds "$seconds")
echo "tallyd query, no ingest        $alone"
t_cpu=$(awk -v a="$c0" -v b="$(cpu_s "$tally_pid")" -v n="$(sed -n 's/.*requests=\([0-9]*\).*/\1/p' <<<"$alone")" 'BEGIN { printf "%.0f", (b - a) / n * 1e6 }')
echo "   server CPU per query: $t_cpu us"
peak=$("$load" http --port "$tally_port" --path /api/v1/metrics --body-dir "$work/bg_json" --count accepted --connections 2 --seconds 3)
echo "tallyd ingest peak             $peak"
half=$(awk -v r="$(rps "$peak")" 'BEGIN { printf "%.1f", r / 2 }')
"$load" http --port "$tally_port" --path /api/v1/metrics --body-dir "$work/bg_json" --count accepted --connections 2 --seconds "$((seconds + 2))" --rate "$half" > "$work/bg.txt" &
sleep 1
t=$("$load" http --port "$tally_port" --path /api/v1/query --body "$query" --connections 1 --rate 200 --seconds "$seconds")
wait $!
echo "tallyd query, ingest at half   $t"
echo "   background                  $(cat "$work/bg.txt")"
kill "$tally_pid"; wait "$tally_pid" 2>/dev/null || true

# --- VictoriaMetrics
vm_port=$(free_port)
victoria-metrics -httpListenAddr "127.0.0.1:$vm_port" -storageDataPath "$work/vm" -retentionPeriod 1 \
  -search.disableCache -loggerLevel ERROR >"$work/vm.log" 2>&1 &
vm_pid=$!; pids+=("$vm_pid")
wait_port "$vm_port"
"$load" http --port "$vm_port" --path '/write?precision=ms' --body-dir "$work/lp" --content-type text/plain --count lines --connections 2 --once
sleep 3  # VM makes fresh rows searchable within about a second
echo "VM answer: $(curl -s "http://127.0.0.1:$vm_port$vm_path" | python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; r.sort(key=lambda s: s["metric"]["host"]); print(len(r), "groups x", len(r[0]["values"]), "points; h0 first windows:", [round(float(v[1]), 1) for v in r[0]["values"][:3]])')"
echo "VM samples stored: $(curl -s "http://127.0.0.1:$vm_port/api/v1/query" --data-urlencode "query=sum(count_over_time(lat_value[2h]))" --data-urlencode "time=$(( now_ms / 1000 + 1 ))" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["result"][0]["value"][1])')"
c0=$(cpu_s "$vm_pid")
valone=$("$load" http --port "$vm_port" --method GET --path "$vm_path" --connections 1 --rate 200 --seconds "$seconds")
echo "VM query, no ingest            $valone"
v_cpu=$(awk -v a="$c0" -v b="$(cpu_s "$vm_pid")" -v n="$(sed -n 's/.*requests=\([0-9]*\).*/\1/p' <<<"$valone")" 'BEGIN { printf "%.0f", (b - a) / n * 1e6 }')
echo "   server CPU per query: $v_cpu us"
vpeak=$("$load" http --port "$vm_port" --path /write --body-dir "$work/bg_lp" --content-type text/plain --count lines --points-per-line 4 --connections 2 --seconds 3)
echo "VM ingest peak                 $vpeak"
vhalf=$(awk -v r="$(rps "$vpeak")" 'BEGIN { printf "%.1f", r / 2 }')
"$load" http --port "$vm_port" --path /write --body-dir "$work/bg_lp" --content-type text/plain --count lines --points-per-line 4 --connections 2 --seconds "$((seconds + 2))" --rate "$vhalf" > "$work/vbg.txt" &
sleep 1
v=$("$load" http --port "$vm_port" --method GET --path "$vm_path" --connections 1 --rate 200 --seconds "$seconds")
wait $!
echo "VM query, ingest at half       $v"
echo "   background                  $(cat "$work/vbg.txt")"

awk -v tp50="$(p p50 "$t")" -v tp99="$(p p99 "$t")" -v vp50="$(p p50 "$v")" -v vp99="$(p p99 "$v")" \
    -v tc="$t_cpu" -v vc="$v_cpu" -v ap50="$(p p50 "$alone")" -v ap99="$(p p99 "$alone")" -v bp50="$(p p50 "$valone")" -v bp99="$(p p99 "$valone")" 'BEGIN {
  printf "(d) under ingest: tallyd p50 %d us p99 %d us (target p99 <= 2000); VM p50 %d us p99 %d us; VM/tallyd p50 %.1fx p99 %.1fx (target >= 10x)\n", tp50, tp99, vp50, vp99, vp50 / tp50, vp99 / tp99
  printf "    no ingest:    tallyd p50 %d us p99 %d us; VM p50 %d us p99 %d us; VM/tallyd p50 %.1fx p99 %.1fx\n", ap50, ap99, bp50, bp99, bp50 / ap50, bp99 / ap99
  printf "    server CPU per query (no ingest): tallyd %d us, VM %d us, VM/tallyd %.1fx\n", tc, vc, vc / tc }'
