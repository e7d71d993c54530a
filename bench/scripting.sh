#!/usr/bin/env bash
# EVALSHA throughput side by side: redis-server (in memory, no persistence)
# and RedRock on 127.0.0.1, running a small rate-limiter script (INCR a
# key, EXPIRE it on the first hit, return the count) on random keys with
# redis-benchmark, 50 connections, without pipelining and with -P 16.
# Rounds alternate between the servers (which one goes first alternates
# too); the medians and their ratio are printed.
#
#   bench/scripting.sh
#   ROUNDS=7 REQUESTS=500000 bench/scripting.sh
set -euo pipefail
cd "$(dirname "$0")/.."
REQUESTS="${REQUESTS:-200000}"
source bench/common.sh

ROUNDS="${ROUNDS:-5}"
LIMITER="local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return n"

start_servers

# Both servers must know the script under the same SHA1 and run it.
sha=""
for port in "$redis_port" "$redrock_port"; do
  loaded=$(redis-cli -p "$port" script load "$LIMITER")
  if [ -n "$sha" ] && [ "$loaded" != "$sha" ]; then
    echo "SCRIPT LOAD: $loaded on port $port, $sha before" >&2
    exit 1
  fi
  sha=$loaded
  for expected in 1 2; do
    got=$(redis-cli -p "$port" evalsha "$sha" 1 bench:check 60)
    if [ "$got" != "$expected" ]; then
      echo "EVALSHA on port $port answered '$got', expected $expected" >&2
      exit 1
    fi
  done
  ttl=$(redis-cli -p "$port" ttl bench:check)
  if [ "$ttl" -le 0 ] || [ "$ttl" -gt 60 ]; then
    echo "the script set TTL $ttl on port $port" >&2
    exit 1
  fi
done

median() {
  sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

evalsha_rps() {
  rps "$1" "$2" evalsha "$sha" 1 "ratelimit:__rand_int__" 60
}

results="$work/results"
: >"$results"
for round in $(seq 1 "$ROUNDS"); do
  for pipeline in $PIPELINES; do
    if [ $((round % 2)) -eq 1 ]; then order="redis redrock"; else order="redrock redis"; fi
    for which in $order; do
      port_var="${which}_port"
      value=$(evalsha_rps "${!port_var}" "$pipeline")
      if [ -z "$value" ]; then
        echo "redis-benchmark gave no result for $which at -P $pipeline" >&2
        exit 1
      fi
      echo "$which $pipeline $value" >>"$results"
      echo "round $round: $which -P $pipeline: $value requests/s" >&2
    done
  done
done

printf '%-22s %-9s %14s %14s %7s\n' workload pipeline redis-server redrock ratio
for pipeline in $PIPELINES; do
  redis_rps=$(awk -v p="$pipeline" '$1 == "redis" && $2 == p { print $3 }' "$results" | median)
  redrock_rps=$(awk -v p="$pipeline" '$1 == "redrock" && $2 == p { print $3 }' "$results" | median)
  ratio=$(awk -v a="$redrock_rps" -v b="$redis_rps" 'BEGIN { printf "%.2f", a / b }')
  printf '%-22s %-9s %14s %14s %7s\n' "evalsha rate limiter" "-P $pipeline" "$redis_rps" "$redrock_rps" "${ratio}x"
done
echo "(medians of $ROUNDS rounds, $REQUESTS requests, $CLIENTS connections, keyspace $KEYSPACE)"
