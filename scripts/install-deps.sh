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
  libboost1.81-dev nlohmann-json3-dev libsimdjson-dev libhiredis-dev libspdlog-dev
)
if [ "$want_tests" = 1 ]; then
  # redis-server for the HyperLogLog and mirror tests; prometheus for promtool, which
  # checks /metrics.
  packages+=(libgtest-dev redis-server prometheus)
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
