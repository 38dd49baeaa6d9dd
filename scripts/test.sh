#!/usr/bin/env bash
# A newcomer's second command: install, build, and run every test (unit, integration with
# the real tallyd, Redis tests against a real redis-server).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --test
scripts/build.sh -DTALLY_TESTS=ON
cd "${TALLY_BUILD_DIR:-build}"
ctest --output-on-failure --timeout 900 -j 2
