#!/usr/bin/env bash
# A newcomer's first command: install, build, and run tallyd on 127.0.0.1:8080.
# Arguments go to tallyd, e.g. scripts/run.sh --demo
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh -DTALLY_TESTS=OFF
exec "${TALLY_BUILD_DIR:-build}/src/daemon/tallyd" "$@"
