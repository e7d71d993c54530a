#!/usr/bin/env bash
# Runs redis-benchmark against RedRock and against redis-server (in-memory,
# no persistence) side by side on 127.0.0.1, alternating workloads, and
# prints both throughputs and their ratio.
#
#   bench/compare.sh                 # SET GET INCR MSET, -P 1 and -P 16
#   REQUESTS=200000 bench/compare.sh # more requests per run
#   TESTS=set,get PIPELINES="1" bench/compare.sh
set -euo pipefail
cd "$(dirname "$0")/.."

REQUESTS="${REQUESTS:-500000}"
CLIENTS="${CLIENTS:-50}"
DATA_SIZE="${DATA_SIZE:-64}"
KEYSPACE="${KEYSPACE:-1000000}"
TESTS="${TESTS:-set,get,incr,mset}"
PIPELINES="${PIPELINES:-1 16}"

deploy/install-deps.sh --test
cargo build --release --bin redrock-server >&2
target_dir="${CARGO_TARGET_DIR:-target}"
server="$target_dir/release/redrock-server"

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

work=$(mktemp -d)
redis_port=$(free_port)
redrock_port=$(free_port)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no \
  --dir "$work" --logfile "$work/redis.log" &
pids+=($!)
"$server" --port "$redrock_port" --dir "$work/redrock" --log-dir "$work" >/dev/null &
pids+=($!)

wait_ready() {
  for _ in $(seq 1 300); do
    redis-cli -p "$1" ping >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "server on port $1 did not start" >&2
  exit 1
}
wait_ready "$redis_port"
wait_ready "$redrock_port"

# Prints the requests per second of one workload.
rps() {
  local port=$1 test=$2 pipeline=$3
  redis-benchmark -h 127.0.0.1 -p "$port" -t "$test" -n "$REQUESTS" -c "$CLIENTS" \
    -d "$DATA_SIZE" -r "$KEYSPACE" -P "$pipeline" --csv 2>/dev/null \
    | awk -F'"' 'NR > 1 { print $4; exit }'
}

printf '%-8s %-9s %14s %14s %7s\n' workload pipeline redis-server redrock ratio
for pipeline in $PIPELINES; do
  for test in ${TESTS//,/ }; do
    redis_rps=$(rps "$redis_port" "$test" "$pipeline")
    redrock_rps=$(rps "$redrock_port" "$test" "$pipeline")
    ratio=$(awk -v a="$redrock_rps" -v b="$redis_rps" 'BEGIN { printf "%.2f", a / b }')
    printf '%-8s %-9s %14s %14s %7s\n' "$test" "-P $pipeline" "$redis_rps" "$redrock_rps" "${ratio}x"
  done
done
