#!/usr/bin/env bash
# The image's HEALTHCHECK: healthy when GET /healthz answers 200. The runtime image has no
# curl, so bash's /dev/tcp speaks the one HTTP/1.0 request.
#   healthcheck.sh [HOST [PORT]]     (default 127.0.0.1 8080)
set -euo pipefail
host=${1:-127.0.0.1}
port=${2:-8080}
exec 3<>"/dev/tcp/$host/$port"
printf 'GET /healthz HTTP/1.0\r\nHost: %s\r\n\r\n' "$host" >&3
IFS= read -r -t 3 status <&3
[[ $status == "HTTP/1."[01]" 200 "* ]]
