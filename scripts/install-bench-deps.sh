#!/usr/bin/env bash
# Installs the baselines of the benchmarks in tests/bench (Debian 12 packages):
#   victoria-metrics  Influx /write and MetricsQL query_range (run_metrics_*.sh)
#   prometheus        promtool, and the histogram baseline's reference (run_metrics_accuracy.sh)
#   nginx-light       the HTTP baseline of run_ingest_bench.sh
#   redis-server      the seed 000 baseline and the mirror benchmark
#   curl, g++         the scripts' helpers and the stand-alone build of metrics_load
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq victoria-metrics prometheus nginx-light redis-server curl g++ python3 >/dev/null
# The Debian package enables a system service on :8428; the benchmarks start their own
# instance on a free port with a throw-away data dir, so the service is not needed.
command -v systemctl >/dev/null && systemctl disable --now victoria-metrics 2>/dev/null || true
victoria-metrics -version 2>/dev/null | head -1 || true
