# Shared by the bench and script tests: installs what they need, builds
# the release binaries, starts redis-server and RedRock on free loopback
# ports (stopping them on exit), and runs and compares redis-benchmark
# workloads. Sourced, not run.

REQUESTS="${REQUESTS:-500000}"
CLIENTS="${CLIENTS:-50}"
DATA_SIZE="${DATA_SIZE:-64}"
KEYSPACE="${KEYSPACE:-1000000}"
PIPELINES="${PIPELINES:-1 16}"

deploy/install-deps.sh --test
deploy/build-release.sh >&2
bin="${CARGO_TARGET_DIR:-target}/release"
server="$bin/redrock-server"

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_ready() {
  for _ in $(seq 1 300); do
    redis-cli -p "$1" ping >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "server on port $1 did not start" >&2
  exit 1
}

# A work directory for the servers started below: on exit every one of
# them is stopped and the directory removed.
init_work() {
  work=$(mktemp -d)
  pids=()
  trap stop_servers EXIT
}

stop_servers() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  # Not "Killed" on stderr: bash reports a child's death by signal.
  { wait || true; } 2>/dev/null
  rm -rf "$work"
}

# launch_redis NAME PORT [ARGS...] / launch_redrock NAME PORT [ARGS...]:
# a server in the background with its own directory under $work (the same
# one again on a restart), its pid left in $pid. redis-server persists
# nothing unless ARGS say otherwise (later directives win).
launch_redis() {
  local name=$1 port=$2
  shift 2
  mkdir -p "$work/$name"
  redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
    --dir "$work/$name" --logfile "$work/$name/log" "$@" >/dev/null &
  pid=$!
  pids+=("$pid")
}

launch_redrock() {
  local name=$1 port=$2
  shift 2
  mkdir -p "$work/$name"
  "$server" --port "$port" --dir "$work/$name/data" --log-dir "$work/$name" "$@" >/dev/null &
  pid=$!
  pids+=("$pid")
}

# start_redis NAME [ARGS...] / start_redrock NAME [ARGS...]: launched on a
# free port, left in $port, and answering.
start_redis() {
  port=$(free_port)
  launch_redis "$1" "$port" "${@:2}"
  wait_ready "$port"
}

start_redrock() {
  port=$(free_port)
  launch_redrock "$1" "$port" "${@:2}"
  wait_ready "$port"
}

# redis-server (in memory) and RedRock, on $redis_port and $redrock_port.
start_servers() {
  init_work
  start_redis redis
  redis_port=$port
  start_redrock redrock
  redrock_port=$port
}

# One redis-benchmark run, its CSV figures space-separated: requests per
# second, then latency avg min p50 p95 p99 max in ms.
# bench_row PORT PIPELINE ARGS...
bench_row() {
  local port=$1 pipeline=$2
  shift 2
  redis-benchmark -h 127.0.0.1 -p "$port" -n "$REQUESTS" -c "$CLIENTS" \
    -d "$DATA_SIZE" -r "$KEYSPACE" -P "$pipeline" --csv "$@" 2>/dev/null \
    | awk -F'"' 'NR > 1 { print $4, $6, $8, $10, $12, $14, $16; exit }'
}

# Requests per second of one redis-benchmark run: rps PORT PIPELINE ARGS...
rps() {
  bench_row "$@" | cut -d' ' -f1
}

# Runs a workload on redis-server then RedRock and prints both and the ratio.
compare() {
  local name=$1 pipeline=$2
  shift 2
  local redis_rps redrock_rps ratio
  redis_rps=$(rps "$redis_port" "$pipeline" "$@")
  redrock_rps=$(rps "$redrock_port" "$pipeline" "$@")
  ratio=$(awk -v a="$redrock_rps" -v b="$redis_rps" 'BEGIN { printf "%.2f", a / b }')
  printf '%-10s %-9s %14s %14s %7s\n' "$name" "-P $pipeline" "$redis_rps" "$redrock_rps" "${ratio}x"
}
