#!/usr/bin/env bash
# String workloads side by side: redis-benchmark against redis-server
# (in memory, no persistence) and RedRock on 127.0.0.1, alternating,
# printing both throughputs and their ratio.
#
#   bench/compare.sh                 # SET GET INCR MSET, -P 1 and -P 16
#   REQUESTS=200000 bench/compare.sh # fewer requests per run
#   TESTS=set,get PIPELINES="1" bench/compare.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh

TESTS="${TESTS:-set,get,incr,mset}"
start_servers

printf '%-10s %-9s %14s %14s %7s\n' workload pipeline redis-server redrock ratio
for pipeline in $PIPELINES; do
  for test in ${TESTS//,/ }; do
    compare "$test" "$pipeline" -t "$test"
  done
done
