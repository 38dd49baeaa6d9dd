#!/usr/bin/env bash
# A newcomer's first command: install, build, and run tallyd on 127.0.0.1:8080.
# Arguments go to tallyd, e.g. scripts/run.sh --listen 0.0.0.0:8080; with none, tallyd --demo
# (built-in synthetic traffic), so a newcomer's dashboard moves at once.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh -DTALLY_TESTS=OFF
if [ $# -eq 0 ]; then set -- --demo; fi
exec "${TALLY_BUILD_DIR:-build}/src/daemon/tallyd" "$@"
