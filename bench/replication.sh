#!/usr/bin/env bash
# Replication side by side: redis-server (in memory, no persistence) and
# RedRock on 127.0.0.1, alternating, printing both figures and their ratio:
#
#  - the master's write throughput (redis-benchmark SET -P 16, a fixed
#    request count) with 0, 1 and 2 replicas attached;
#  - the replicas' lag under that load, from INFO replication sampled every
#    10 ms: p50/p99 in ms (the age of the oldest write a replica lacks) and
#    in offset units (bytes on Redis, sequence numbers on RedRock, so no
#    ratio);
#  - the time a new replica takes to sync in full from a master holding
#    SYNC_KEYS keys, until its link is up and it has the master's offset.
#
#   bench/replication.sh
#   REQUESTS=200000 SYNC_KEYS=1000000 bench/replication.sh
set -euo pipefail
cd "$(dirname "$0")/.."
REQUESTS="${REQUESTS:-1000000}"
SYNC_KEYS="${SYNC_KEYS:-5000000}"
source bench/common.sh

init_work

# No delay before a diskless full sync: Redis would wait 5 s for more
# replicas by default.
no_sync_delay=(--repl-diskless-sync-delay 0)

helper() { python3 bench/replication.py "$@"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "-"; else printf "%.2fx", a / b }'; }
field() { python3 -c 'import json, sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }
csv_join() { local IFS=,; echo "$*"; }

# Throughput and lag, with 0, 1 and 2 replicas.
start_redis redis-master "${no_sync_delay[@]}"
redis_master=$port
start_redrock redrock-master
redrock_master=$port
redis_replicas=()
redrock_replicas=()
declare -A result
for count in 0 1 2; do
  while [ "${#redis_replicas[@]}" -lt "$count" ]; do
    n=${#redis_replicas[@]}
    start_redis "redis-replica$n" --replicaof 127.0.0.1 "$redis_master"
    redis_replicas+=("$port")
    start_redrock "redrock-replica$n" --replicaof "127.0.0.1 $redrock_master"
    redrock_replicas+=("$port")
  done
  for side in redis redrock; do
    if [ "$side" = redis ]; then
      master=$redis_master
      replicas=("${redis_replicas[@]}")
    else
      master=$redrock_master
      replicas=("${redrock_replicas[@]}")
    fi
    helper synced "$master" "${replicas[@]}"
    list=-
    [ "$count" -gt 0 ] && list=$(csv_join "${replicas[@]}")
    result[$side,$count]=$(helper run "$master" "$list" -- \
      redis-benchmark -h 127.0.0.1 -p "$master" -n "$REQUESTS" -c "$CLIENTS" -d "$DATA_SIZE" \
      -r "$KEYSPACE" -P 16 --csv -t set)
    helper synced "$master" "${replicas[@]}"
  done
done

echo "master throughput, SET -P 16 ($REQUESTS requests, $CLIENTS clients, $DATA_SIZE-byte values)"
printf '%-9s %14s %14s %7s\n' replicas redis-server redrock ratio
for count in 0 1 2; do
  a=$(field "${result[redis,$count]}" rps)
  b=$(field "${result[redrock,$count]}" rps)
  printf '%-9s %14s %14s %7s\n' "$count" "$a" "$b" "$(ratio "$b" "$a")"
done
echo
echo "replication lag under that load (INFO sampled every 10 ms; offsets: bytes on Redis, sequence numbers on RedRock)"
printf '%-9s %-12s %14s %14s %7s\n' replicas figure redis-server redrock ratio
for count in 1 2; do
  for figure in lag_ms_p50 lag_ms_p99 lag_offset_p50 lag_offset_p99; do
    a=$(field "${result[redis,$count]}" "$figure")
    b=$(field "${result[redrock,$count]}" "$figure")
    r=$(ratio "$b" "$a")
    case $figure in lag_offset_*) r=- ;; esac
    printf '%-9s %-12s %14.2f %14.2f %7s\n' "$count" "${figure#lag_}" "$a" "$b" "$r"
  done
done

# Full sync: fresh masters holding exactly SYNC_KEYS keys, and a new
# replica of each.
for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
wait 2>/dev/null || true
pids=()
start_redis redis-sync-master "${no_sync_delay[@]}"
redis_master=$port
start_redrock redrock-sync-master
redrock_master=$port
helper load "$redis_master" "$SYNC_KEYS" "$DATA_SIZE"
helper load "$redrock_master" "$SYNC_KEYS" "$DATA_SIZE"
start_redis redis-sync-replica
redis_replica=$port
start_redrock redrock-sync-replica
redrock_replica=$port
redis_sync=$(helper sync-time "$redis_master" "$redis_replica")
redrock_sync=$(helper sync-time "$redrock_master" "$redrock_replica")
echo
echo "full sync of $SYNC_KEYS keys ($DATA_SIZE-byte values), seconds until the replica is up and has the master's offset"
printf '%14s %14s %7s\n' redis-server redrock ratio
printf '%14s %14s %7s\n' "$redis_sync" "$redrock_sync" "$(ratio "$redrock_sync" "$redis_sync")"
