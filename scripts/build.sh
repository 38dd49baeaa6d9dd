#!/usr/bin/env bash
# Configures and builds Tally into build/ (Release with debug info). Extra arguments go to
# CMake, e.g. scripts/build.sh -DTALLY_SANITIZE=ON.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${TALLY_BUILD_DIR:-build}
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@"
cmake --build "$build_dir" --parallel "$(nproc)"
