#!/usr/bin/env bash
# Metrics service (e): percentile accuracy against a Prometheus histogram with the default
# buckets (tests/bench/README.md, "Metrics service"; method in metrics_accuracy.py).
#   tests/bench/run_metrics_accuracy.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/bench/lib.sh
work=$(mktemp -d /tmp/tally-bench-acc.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
machine_line
start_tallyd "$work"
python3 tests/bench/metrics_accuracy.py "$tally_port" "$(command -v prometheus || true)"
