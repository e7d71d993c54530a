#!/usr/bin/env bash
# PUBLISH throughput side by side: redis-benchmark sends `PUBLISH channel
# <payload>` to redis-server (in memory, no persistence) and to RedRock
# while SUBSCRIBERS redis-cli processes subscribed to the channel read
# every message; prints both rates and their ratio.
#
#   bench/pubsub.sh                      # 4 subscribers, -P 1 and -P 16
#   SUBSCRIBERS="0 1 10" bench/pubsub.sh # several audiences
#   REQUESTS=100000 DATA_SIZE=512 bench/pubsub.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh

SUBSCRIBERS="${SUBSCRIBERS:-4}"
start_servers
payload=$(head -c "$DATA_SIZE" /dev/zero | tr '\0' 'x')

# Starts $1 subscribers of `bench` on each server, reading to /dev/null;
# returns once every one is subscribed.
subscribe() {
  local count=$1 port i
  sub_pids=()
  for port in "$redis_port" "$redrock_port"; do
    for ((i = 0; i < count; i++)); do
      redis-cli -p "$port" subscribe bench >/dev/null &
      sub_pids+=($!)
      pids+=($!)
    done
  done
  for port in "$redis_port" "$redrock_port"; do
    for _ in $(seq 1 300); do
      [ "$(redis-cli -p "$port" pubsub numsub bench | tail -1)" = "$count" ] && break
      sleep 0.1
    done
  done
}

unsubscribe() {
  local pid
  for pid in "${sub_pids[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
}

printf '%-10s %-9s %14s %14s %7s\n' workload pipeline redis-server redrock ratio
for count in $SUBSCRIBERS; do
  subscribe "$count"
  for pipeline in $PIPELINES; do
    compare "pub/${count}sub" "$pipeline" PUBLISH bench "$payload"
  done
  unsubscribe
done
