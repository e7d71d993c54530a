#!/usr/bin/env bash
# MULTI/EXEC throughput side by side: redis-server (in memory, no
# persistence) and RedRock on 127.0.0.1, driven by bench/transactions.py
# (redis-py pipelines with transaction=True: MULTI; INCR k; SET k2 v; EXEC),
# with 1 and 8 connections on disjoint keys and 8 connections on one
# shared pair of keys. Prints transactions per second and the ratio.
#
#   bench/transactions.sh
#   SECONDS_PER_RUN=10 bench/transactions.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh

SECONDS_PER_RUN="${SECONDS_PER_RUN:-5}"
start_servers

tps() {
  python3 bench/transactions.py "$1" "$2" "$SECONDS_PER_RUN" "$3"
}

printf '%-22s %14s %14s %7s\n' workload redis-server redrock ratio
for run in "1 disjoint" "8 disjoint" "8 shared"; do
  set -- $run
  redis_tps=$(tps "$redis_port" "$1" "$2")
  redrock_tps=$(tps "$redrock_port" "$1" "$2")
  ratio=$(awk -v a="$redrock_tps" -v b="$redis_tps" 'BEGIN { printf "%.2f", a / b }')
  printf '%-22s %14s %14s %7s\n' "$1 conn, $2 keys" "$redis_tps" "$redrock_tps" "${ratio}x"
done
