#!/usr/bin/env bash
# Prints the Debian packages that hold the shared libraries a binary loads (one a line),
# so the image's runtime stage installs exactly those and nothing of the build stage.
#   docker/runtime-packages.sh build/src/daemon/tallyd
# Debian 12 has merged /usr: ldd may name /lib/... for a file dpkg knows as /usr/lib/...
# (or the other way round), so both spellings are asked.
set -euo pipefail
binary=${1:?usage: runtime-packages.sh BINARY}
ldd "$binary" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' |
  while read -r lib; do
    found=0
    for path in "$lib" "/usr$lib" "${lib#/usr}" "$(readlink -f "$lib")"; do
      if owner=$(dpkg-query -S "$path" 2>/dev/null); then
        echo "${owner%%:*}"
        found=1
        break
      fi
    done
    # A library no package owns would be missing from the image: stop the build here.
    if [ "$found" = 0 ]; then
      echo "runtime-packages.sh: no package holds $lib" >&2
      exit 1
    fi
  done | sort -u
