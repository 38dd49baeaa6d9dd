#!/usr/bin/env bash
# Installs what Tally needs from Debian 12's packages: to build and run (default), and to
# run every test (--test). The README, CI (.ci/run) and docker/Dockerfile all use this file.
set -euo pipefail

want_tests=0
for arg in "$@"; do
  case "$arg" in
    --test) want_tests=1 ;;
    *) echo "install-deps.sh: unknown option '$arg' (use --test)" >&2; exit 2 ;;
  esac
done

packages=(
  build-essential cmake ninja-build ccache pkg-config git ca-certificates
  libboost1.81-dev nlohmann-json3-dev libsimdjson-dev libhiredis-dev libspdlog-dev zlib1g-dev
  libxlsxwriter-dev libre2-dev libssl-dev
)
if [ "$want_tests" = 1 ]; then
  # redis-server for the HyperLogLog and mirror tests; prometheus for promtool, which
  # checks /metrics, and for the real Prometheus that tests/clients runs against the export.
  packages+=(libgtest-dev redis-server prometheus prometheus-alertmanager)
  # Debian's Chromium, driven by playwright-core in tests/browser (its fonts are only
  # recommended, and recommends are not installed here).
  packages+=(chromium fonts-liberation)
fi
# Node.js and npm install the dashboard's chart library (web/package-lock.json). A node
# that is already there (Debian's or another packaging) is used as it is.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  packages+=(nodejs npm)
fi

as_root=()
if [ "$(id -u)" != 0 ]; then as_root=(sudo); fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps.sh: installing ${missing[*]}"
  "${as_root[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian starts redis-server as a service when it can; the tests start their own.

# The front-end packages, exactly as locked; again only when the lock changed.
npm_ci() {
  local dir=$1
  if [ ! -f "$dir/node_modules/.package-lock.json" ] ||
    [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
    echo "install-deps.sh: npm ci in $dir"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  fi
}
root=$(cd "$(dirname "$0")/.." && pwd)
npm_ci "$root/web"
if [ "$want_tests" = 1 ]; then
  npm_ci "$root/tests/browser"
  npm_ci "$root/tests/clients"  # hot-shots and @influxdata/influxdb-client
fi
