#!/usr/bin/env bash
# The compose demo's traffic generator: realistic page views and a signup funnel, sent to
# tallyd's public tracking API at a modest rate, for ever (or until COUNT events, and the
# rest of a funnel visit under way).
#   traffic.sh [URL]      URL default http://tallyd:8080; env RATE (events/s, default 20),
#                         SITE (default "default"), COUNT (0 = no end)
# Pure bash (/dev/tcp, one HTTP/1.1 request per connection): the runtime image has no curl.
# Page popularity is skewed (the first pages most often); 2,000 returning visitors with a
# few sessions each; referrers, countries and user agents (tallyd guesses the device from
# them); about one visit in ten goes on to /pricing, /signup and a "signup" event, so the
# funnel has a shape.
set -uo pipefail
# As a container's PID 1 bash ignores SIGTERM unless told: stop at once on `compose down`.
trap 'exit 0' TERM INT
url=${1:-http://tallyd:8080}
rate=${RATE:-20}
site=${SITE:-default}
count=${COUNT:-0}
hostport=${url#http://}
hostport=${hostport%%/*}
host=${hostport%%:*}
port=${hostport#*:}
[ "$port" = "$hostport" ] && port=80

pages=(/ /pricing /docs /blog /blog/launch /docs/install /docs/api /about /careers /changelog
  /blog/redis-vs-tally /docs/dashboard /contact /legal/privacy /integrations)
referrers=("" "" "" "https://www.google.com/search?q=tally" "https://www.google.com/"
  "https://news.ycombinator.com/" "https://duckduckgo.com/" "https://twitter.com/"
  "https://github.com/" "https://www.reddit.com/r/analytics/")
countries=(US US US DE DE GB FR IN BR JP NL CA SE ES PL AU)
agents=(
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"
  "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15 Version/17.0 Safari/605.1.15"
  "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"
  "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/120.0 Mobile Safari/537.36"
  "Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148")

# POST one JSON body; prints the status code (000 when tallyd cannot be reached).
post() {
  local path=$1 body=$2 status=000
  if { exec 3<>"/dev/tcp/$host/$port"; } 2>/dev/null; then
    printf 'POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s' \
      "$path" "$hostport" "${#body}" "$body" >&3
    local line=""
    IFS= read -r -t 5 line <&3 && status=${line:9:3}
    exec 3<&-
  fi
  echo "$status"
}

# A skewed page choice: index i with probability (1/n) * sum of 1/k for k = i+1..n.
zipf_page() { echo "${pages[$((RANDOM % (1 + RANDOM % ${#pages[@]})))]}"; }

pageview() { # visitor session page referrer country agent
  post /track/pageview "{\"site\":\"$site\",\"page_url\":\"https://demo.example$3\",\"user_id\":\"u$1\",\"session_id\":\"s$1-$2\",\"referrer\":\"$4\",\"country\":\"$5\",\"user_agent\":\"$6\"}"
}

# Paced against the clock (bash's EPOCHREALTIME, in microseconds), so the rate holds
# whatever each request takes.
interval_us=$(awk -v r="$rate" 'BEGIN { printf "%d", (r > 0 ? 1e6 / r : 1e6) }')
next_us=${EPOCHREALTIME/./}
pace() {
  next_us=$((next_us + interval_us))
  local wait_us=$((next_us - ${EPOCHREALTIME/./}))
  if ((wait_us > 0)); then
    sleep "$(printf '%d.%06d' $((wait_us / 1000000)) $((wait_us % 1000000)))"
  else
    next_us=${EPOCHREALTIME/./} # behind (tallyd slow or away): no burst to catch up
  fi
}
echo "traffic.sh: ~$rate events/s to $url (site $site)"
sent=0 failed=0
while [ "$count" = 0 ] || [ "$sent" -lt "$count" ]; do
  visitor=$((RANDOM % 2000))
  session=$((RANDOM % 3))
  referrer=${referrers[$((RANDOM % ${#referrers[@]}))]}
  country=${countries[$((RANDOM % ${#countries[@]}))]}
  agent=${agents[$((visitor % ${#agents[@]}))]}
  if ((RANDOM % 10 == 0)); then
    steps=(/pricing /signup)
    for page in "${steps[@]}"; do
      [ "$(pageview "$visitor" "$session" "$page" "$referrer" "$country" "$agent")" = 200 ] || failed=$((failed + 1))
      sent=$((sent + 1))
      pace
    done
    status=$(post /track/event "{\"site\":\"$site\",\"event_name\":\"signup\",\"user_id\":\"u$visitor\",\"session_id\":\"s$visitor-$session\",\"properties\":{\"plan\":\"pro\"}}")
  else
    status=$(pageview "$visitor" "$session" "$(zipf_page)" "$referrer" "$country" "$agent")
  fi
  [ "$status" = 200 ] || failed=$((failed + 1))
  sent=$((sent + 1))
  if ((sent % 1000 == 0)); then echo "traffic.sh: $sent sent, $failed not answered 200"; fi
  pace
done
echo "traffic.sh: $sent sent, $failed not answered 200"
[ "$failed" = 0 ]
