#!/usr/bin/env bash
# The Redis mirror's cost and the comparison with "seed 000", the design Tally replaces
# (tests/bench/README.md). Not a test.
#   tests/bench/run_mirror_bench.sh [seconds] [rounds]        (default 10 s, 2 rounds)
# One run, same machine, one line per figure, the ratios at the end:
#   1. seed 000 design: tests/bench/seed000_baseline, 8 hiredis clients, its own
#      redis-server (no persistence) -> events/s. Run at the start and again at the end.
#   2./3. per round, a fresh tallyd (fresh data dir) without and then with
#      --redis redis://127.0.0.1:P to a fresh redis-server, for loadgen --mode batch
#      (1,000-event bodies, 4 connections) and --mode pageview (64 connections): events/s
#      each, the on/off ratio per round and its median over the rounds (target >= 0.9).
#   4. tallyd fed batches at a fixed event rate (default 100,000 events/s), mirror on, then
#      off: over the window (the run minus a second at each end) Redis commands/s
#      (INFO stats total_commands_processed delta), Redis CPU (INFO cpu sys + user delta),
#      tallyd's and loadgen's CPU (/proc/PID/stat), as % of one core.
#   5. flat out: per round, tallyd with a thread per core (its default) and the mirror on,
#      batch; its median events/s / seed 000's median events/s (target >= 20).
# After every mirror-on run: Redis's day page-view counter against tallyd's
# /dashboard/today (they must be equal once the mirror has flushed), and DBSIZE.
# Settings (environment, printed in the header):
#   MIRROR_BENCH_THREADS  tallyd --threads for steps 2-4 (default 1: the steadiest on/off
#                         comparison on two cores; tests/bench/README.md, "Redis mirror")
#   MIRROR_BENCH_FSYNC    tallyd --fsync, the same for every run (default interval, the default)
#   MIRROR_BENCH_REDIS    the mirror's redis-server: aof (appendonly, everysec, as docker/
#                         does; default) or none (no persistence, as seed 000's)
#   MIRROR_BENCH_RATE     step 4's events/s (default 100000)
# Every process it starts is stopped on exit; loopback only, free ports, bounded waits.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-10}
rounds=${2:-2}
build=${TALLY_BUILD_DIR:-build}
threads=${MIRROR_BENCH_THREADS:-1}
fsync=${MIRROR_BENCH_FSYNC:-interval}
persist=${MIRROR_BENCH_REDIS:-aof}
rate=${MIRROR_BENCH_RATE:-100000}
# Step 4 samples the processes 1 s after the start and 1 s before the end.
if ! [[ $seconds =~ ^[0-9]+$ && $seconds -ge 4 && $rounds =~ ^[0-9]+$ && $rounds -ge 1 ]]; then
  echo "usage: run_mirror_bench.sh [seconds >= 4] [rounds >= 1]" >&2
  exit 2
fi
for tool in redis-server redis-cli curl; do
  command -v "$tool" >/dev/null || {
    echo "run_mirror_bench.sh: $tool is needed (scripts/install-deps.sh --test)" >&2
    exit 1
  }
done
case $persist in
  aof) redis_persist=(--save "" --appendonly yes --appendfsync everysec) ;;
  none) redis_persist=(--save "" --appendonly no) ;;
  *) echo "run_mirror_bench.sh: MIRROR_BENCH_REDIS is aof or none" >&2; exit 2 ;;
esac
cmake --build "$build" --target tallyd loadgen seed000_baseline >/dev/null
loadgen=$build/tests/bench/loadgen
# On the build's disk rather than /tmp: the event log's (and the AOF's) writes are real.
work=$(mktemp -d -p "$PWD/$build" mirror-bench-XXXXXX)
tallyd_pid='' redis_pid='' load_pid=''
stop() { if [ -n "$1" ]; then kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; fi; }
cleanup() { stop "$load_pid"; stop "$tallyd_pid"; stop "$redis_pid"; rm -rf "$work"; }
trap cleanup EXIT

. tests/bench/lib.sh  # free_port, wait_port

field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p" <<<"$2"; }  # field NAME "k=v ..." -> v
median() {  # of the numbers in $1; the mean of the middle two for an even count
  tr ' ' '\n' <<<"$1" | sed '/^$/d' | sort -g |
    awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
ticks=$(getconf CLK_TCK)
cpu_s() {  # CPU seconds (user + system) of process $1; fields after the ")" of the name
  awk -v t="$ticks" '{ sub(/.*\) /, ""); print ($12 + $13) / t }' "/proc/$1/stat"
}

redis_port=
start_redis() {
  stop "$redis_pid"; redis_pid=
  redis_port=$(free_port)
  local dir=$work/redis-$redis_port
  mkdir -p "$dir"
  redis-server --bind 127.0.0.1 --port "$redis_port" --dir "$dir" "${redis_persist[@]}" \
    --logfile "$dir/redis.log" &
  redis_pid=$!
  wait_port "$redis_port"
  for _ in $(seq 50); do  # bounded: 5 s
    [ "$(redis-cli -p "$redis_port" ping 2>/dev/null)" = PONG ] && return 0
    sleep 0.1
  done
  echo "run_mirror_bench.sh: redis-server did not answer" >&2
  return 1
}
redis_info() { redis-cli -p "$redis_port" INFO "$1" | tr -d '\r' | sed -n "s/^$2:\([0-9.]*\)$/\1/p"; }
redis_cpu() { awk -v s="$(redis_info cpu used_cpu_sys)" -v u="$(redis_info cpu used_cpu_user)" 'BEGIN { print s + u }'; }

port=$(free_port)
run=0
start_tallyd() {  # [--redis URL]; a fresh data dir each time (the previous one is removed)
  stop "$tallyd_pid"; tallyd_pid=
  run=$((run + 1))
  rm -rf "$work/data$((run - 1))"
  "$build/src/daemon/tallyd" --listen "127.0.0.1:$port" --data-dir "$work/data$run" \
    --threads "$threads" --fsync "$fsync" --log-level warn "$@" >>"$work/tallyd.log" 2>&1 &
  tallyd_pid=$!
  wait_port "$port"
}

# tallyd's page views today against Redis's day counter once the mirror has flushed
# (bounded: 3 s, 12 flushes at the default redis.flush_ms), and the number of keys.
mirror_check() {
  local dash date mine theirs=0
  for _ in $(seq 30); do
    dash=$(curl -s "http://127.0.0.1:$port/dashboard/today")
    date=$(sed -n 's/.*"date":"\([0-9-]*\)".*/\1/p' <<<"$dash")
    mine=$(sed -n 's/.*"page_views":\([0-9]*\).*/\1/p' <<<"$dash")
    theirs=$(redis-cli -p "$redis_port" GET "tally:{default}:count:pageviews:$date")
    [ "${theirs:-0}" = "$mine" ] && break
    sleep 0.1
  done
  echo "    mirror check: redis page views ${theirs:-0} of tallyd's $mine ($date), DBSIZE $(redis-cli -p "$redis_port" DBSIZE)"
}

# One measured run of loadgen mode $1 against a fresh tallyd, mirror "off" or "on" ($2),
# labelled $3: prints the line, sets $eps. (Not called in $(...): the processes it starts
# must be this shell's, for `stop` and the trap.)
measure() {
  local mode=$1 mirror=$2 label=$3 out
  if [ "$mirror" = on ]; then
    start_redis
    start_tallyd --redis "redis://127.0.0.1:$redis_port"
  else
    start_tallyd
  fi
  if [ "$mode" = batch ]; then
    out=$("$loadgen" --port "$port" --mode batch --batch-size 1000 --connections 4 --seconds "$seconds")
  else
    out=$("$loadgen" --port "$port" --mode pageview --connections 64 --seconds "$seconds")
  fi
  echo "$label  $mode  mirror $mirror  $out"
  if [ "$mirror" = on ]; then
    mirror_check
    stop "$redis_pid"; redis_pid=
  fi
  stop "$tallyd_pid"; tallyd_pid=
  eps=$(field events_per_s "$out")
}

seed000() {
  local out
  out=$("$build/tests/bench/seed000_baseline" --seconds "$seconds" --threads 8)
  echo "seed000  $out"
  seed_all="${seed_all:-} $(field events_per_s "$out")"
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(date -u '+%F %H:%M UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "tallyd: --threads $threads (flat out: 0, one per core) --fsync $fsync; loadgen: batch 1000 events x 4 connections, pageview 64 connections"
echo "mirror's redis $(redis-server --version | cut -d' ' -f3 | cut -d= -f2): $persist ($([ "$persist" = aof ] && echo 'appendonly yes, appendfsync everysec' || echo 'no persistence'))"

# --- 1. the seed 000 design
seed000

# --- 2. and 3. mirror off / on, alternating, per round
declare -A all=()
for round in $(seq "$rounds"); do
  for mode in batch pageview; do
    measure "$mode" off "round $round"; off=$eps
    measure "$mode" on "round $round"; on=$eps
    all[$mode-off]="${all[$mode-off]:-} $off"
    all[$mode-on]="${all[$mode-on]:-} $on"
    all[$mode-ratio]="${all[$mode-ratio]:-} $(awk -v a="$on" -v b="$off" 'BEGIN { print a / b }')"
    awk -v a="$on" -v b="$off" -v r="$round" -v m="$mode" \
      'BEGIN { printf "round %d  %s  on/off = %.0f / %.0f = %.2f\n", r, m, a, b, a / b }'
  done
done
if grep -q "ignored" "$work/tallyd.log"; then
  echo "NOTE: this tallyd ignores --redis (the mirror is not in this build): on and off measure the same"
fi

# --- 4. a fixed event rate, mirror on then off: what the mirror costs Redis and tallyd.
# At a fixed rate the work is the same in both runs, so tallyd's CPU compares steadily.
fixed_rate() {  # on|off
  local mirror=$1 window t0 t1 c0=0 c1=0 r0=0 r1=0 d0 d1 l0 l1
  if [ "$mirror" = on ]; then
    start_redis
    start_tallyd --redis "redis://127.0.0.1:$redis_port"
  else
    start_tallyd
  fi
  "$loadgen" --port "$port" --mode batch --batch-size 1000 --connections 4 --seconds "$seconds" \
    --event-rate "$rate" >"$work/rate.txt" &
  load_pid=$!
  window=$((seconds - 2))
  sleep 1
  t0=$(date +%s.%N); d0=$(cpu_s "$tallyd_pid"); l0=$(cpu_s "$load_pid")
  if [ "$mirror" = on ]; then c0=$(redis_info stats total_commands_processed); r0=$(redis_cpu); fi
  sleep "$window"
  t1=$(date +%s.%N); d1=$(cpu_s "$tallyd_pid"); l1=$(cpu_s "$load_pid")
  if [ "$mirror" = on ]; then c1=$(redis_info stats total_commands_processed); r1=$(redis_cpu); fi
  wait "$load_pid"; load_pid=
  echo "fixed rate  mirror $mirror  $(cat "$work/rate.txt")"
  awk -v m="$mirror" -v w="$(awk -v a="$t1" -v b="$t0" 'BEGIN { print a - b }')" -v c="$((c1 - c0))" \
    -v r0="$r0" -v r1="$r1" -v d0="$d0" -v d1="$d1" -v l0="$l0" -v l1="$l1" 'BEGIN {
    printf "fixed rate  mirror %s, over %.1f s: ", m, w
    if (m == "on") printf "redis commands/s %.0f, redis CPU %.1f %%, ", c / w, 100 * (r1 - r0) / w
    printf "tallyd CPU %.1f %%, loadgen CPU %.1f %% (of one core)\n", 100 * (d1 - d0) / w, 100 * (l1 - l0) / w }'
  if [ "$mirror" = on ]; then
    mirror_check
    stop "$redis_pid"; redis_pid=
  fi
  stop "$tallyd_pid"; tallyd_pid=
}
fixed_rate on
fixed_rate off

# --- 5. flat out: tallyd as deployed (a thread per core) with the mirror, then seed 000 again
threads=0
flat=
for round in $(seq "$rounds"); do
  measure batch on "flat out $round"
  flat="$flat $eps"
done
seed000

# --- the figures
awk -v bf="$(median "${all[batch-off]}")" -v bo="$(median "${all[batch-on]}")" \
  -v br="$(median "${all[batch-ratio]}")" -v pf="$(median "${all[pageview-off]}")" \
  -v po="$(median "${all[pageview-on]}")" -v pr="$(median "${all[pageview-ratio]}")" \
  -v f="$(median "$flat")" -v s="$(median "$seed_all")" 'BEGIN {
  printf "median events/s: batch off %.0f, on %.0f; pageview off %.0f, on %.0f\n", bf, bo, pf, po
  printf "median on/off ratio (target >= 0.9): batch %.2f, pageview %.2f\n", br, pr
  printf "tallyd + Redis flat out (batch, mirror on, median) / seed 000 (median) = %.0f / %.0f = %.1fx (target >= 20)\n", f, s, f / s }'
