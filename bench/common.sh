# Shared by the bench and script tests: installs what they need, builds
# the release binaries, and can start redis-server (in memory, no
# persistence) and RedRock on free loopback ports, and compares one
# redis-benchmark workload on both. Sourced, not run.

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

start_servers() {
  work=$(mktemp -d)
  redis_port=$(free_port)
  redrock_port=$(free_port)
  pids=()
  trap 'for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"' EXIT
  redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no \
    --dir "$work" --logfile "$work/redis.log" &
  pids+=($!)
  "$server" --port "$redrock_port" --dir "$work/redrock" --log-dir "$work" >/dev/null &
  pids+=($!)
  wait_ready "$redis_port"
  wait_ready "$redrock_port"
}

# Requests per second of one redis-benchmark run: rps PORT PIPELINE ARGS...
rps() {
  local port=$1 pipeline=$2
  shift 2
  redis-benchmark -h 127.0.0.1 -p "$port" -n "$REQUESTS" -c "$CLIENTS" \
    -d "$DATA_SIZE" -r "$KEYSPACE" -P "$pipeline" --csv "$@" 2>/dev/null \
    | awk -F'"' 'NR > 1 { print $4; exit }'
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
