# Shared by the benchmark scripts (sourced, not run).

# A free loopback TCP port.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Waits up to 10 s for something to listen on loopback port $1.
wait_port() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.1; done; return 1; }

# --- metrics-service benchmarks (run_metrics_*.sh)

# The tallyd to measure: $TALLYD, else the build's, else the shared prebuilt one.
tallyd_bin() {
  if [ -n "${TALLYD:-}" ]; then echo "$TALLYD"
  elif [ -x "${TALLY_BUILD_DIR:-build}/src/daemon/tallyd" ]; then echo "${TALLY_BUILD_DIR:-build}/src/daemon/tallyd"
  elif [ -x /work/shared-bin/tallyd ]; then echo /work/shared-bin/tallyd
  else echo "no tallyd: build it (scripts/build.sh) or set TALLYD" >&2; return 1; fi
}

# metrics_load (tests/bench/metrics_load.cpp): the build's if there, else compiled with g++
# into $1 (a work dir).
metrics_load_bin() {
  local built=${TALLY_BUILD_DIR:-build}/tests/bench/metrics_load
  if [ -x "$built" ] && [ "$built" -nt tests/bench/metrics_load.cpp ]; then echo "$built"; return; fi
  g++ -O2 -std=c++20 tests/bench/metrics_load.cpp -o "$1/metrics_load" && echo "$1/metrics_load"
}

# A free loopback UDP port.
free_udp_port() { python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Value of the sample $2 (exact name with labels, or a prefix) on the /metrics page at URL $1.
prom_value() { curl -s "$1" | awk -v n="$2" 'index($0, n) == 1 && substr($0, length(n) + 1, 1) ~ /[ {]/ { v = $NF } END { printf "%.0f\n", v + 0 }'; }

# VmRSS of a process, in KiB.
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

machine_line() {
  echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/ {print $2}') GiB, $(date -u '+%F %H:%M UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
}

# Starts VictoriaMetrics (Debian's victoria-metrics) on a free port with a data dir under
# $1; sets vm_port and vm_pid (and appends to pids).
start_vm() {
  vm_port=$(free_port)
  victoria-metrics -httpListenAddr "127.0.0.1:$vm_port" -storageDataPath "$1/vm$RANDOM" \
    -retentionPeriod 1 -loggerLevel ERROR >"$1/vm.log" 2>&1 &
  vm_pid=$!; pids+=("$vm_pid")
  wait_port "$vm_port"
}

# Starts tallyd on a free port with a fresh data dir under $1 and extra args $2...; sets
# tally_port and tally_pid (and appends to pids).
start_tallyd() {
  local dir=$1; shift
  tally_port=$(free_port)
  "$(tallyd_bin)" --listen "127.0.0.1:$tally_port" --data-dir "$dir/tally$RANDOM" --log-level warn "$@" &
  tally_pid=$!; pids+=("$tally_pid")
  wait_port "$tally_port"
}

# CPU time (user + system) a process has used so far, in seconds.
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) / hz }' "/proc/$1/stat"; }
