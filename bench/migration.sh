#!/usr/bin/env bash
# Slot migration side by side: a two-master Redis Cluster (redis-server,
# in memory, no persistence) and a two-master RedRock cluster on
# 127.0.0.1. On each, the source master's slots 0-8191 hold KEYS keys of
# mixed types (strings, hashes, sets, sorted sets, lists; three small
# members each) and move to the other master while redis-benchmark
# --cluster SETs through the cluster (into both masters' slots) and a probe
# client GETs and SETs keys of the moving slots, following redirections:
#
#  - Redis: redis-cli --cluster reshard (slot by slot, MIGRATE of
#    --cluster-pipeline keys at a time, ASK while a slot moves);
#  - RedRock: redrock cluster reshard (one run of 8192 slots: snapshot,
#    WAL catch-up, writes held for the last round, hand-over).
#
# Printed: keys/s and MB/s of the move, redis-benchmark's SETs per second
# before and during it, the probe's latency (p50/p99/max) over the whole
# move, near redirections (the cut-over) and for the redirected operations
# themselves, and any probe error (there must be none). Exits non-zero on
# an error, if redis-benchmark stopped, or if the source kept keys.
#
#   bench/migration.sh
#   KEYS=100000 bench/migration.sh
set -euo pipefail
cd "$(dirname "$0")/.."
KEYS="${KEYS:-1000000}"
source bench/common.sh

init_work

helper() { python3 bench/migration.py "$@"; }

# A free port whose cluster bus port (port + 10000) is free too.
cluster_port() {
  python3 -c '
import random, socket
while True:
    port = random.randrange(20000, 50000)
    try:
        for p in (port, port + 10000):
            s = socket.socket()
            s.bind(("127.0.0.1", p))
            s.close()
    except OSError:
        continue
    print(port)
    break'
}

node_id() { redis-cli -p "$1" cluster myid; }

# Waits (bounded) until a command's output contains a string.
wait_for() {
  local what=$1
  shift
  for _ in $(seq 1 300); do
    "$@" 2>/dev/null | grep -q "$what" && return 0
    sleep 0.1
  done
  echo "timed out waiting for '$what' from: $*" >&2
  exit 1
}

# Redis Cluster: redis-cli --cluster create wants three masters, so two
# are joined by hand, slots 0-8191 on the first.
redis_ports=()
for i in 1 2; do
  port=$(cluster_port)
  redis_ports+=("$port")
  mkdir -p "$work/redis$i"
  # A master that gives away its last slot stays a master, as on RedRock.
  redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
    --cluster-enabled yes --cluster-config-file "$work/redis$i/nodes.conf" \
    --cluster-allow-replica-migration no \
    --dir "$work/redis$i" --logfile "$work/redis$i/log" >/dev/null &
  pids+=($!)
done
for port in "${redis_ports[@]}"; do wait_ready "$port"; done
redis-cli -p "${redis_ports[0]}" cluster addslotsrange 0 8191 >/dev/null
redis-cli -p "${redis_ports[1]}" cluster addslotsrange 8192 16383 >/dev/null
redis-cli -p "${redis_ports[0]}" cluster meet 127.0.0.1 "${redis_ports[1]}" >/dev/null
for port in "${redis_ports[@]}"; do
  wait_for cluster_state:ok redis-cli -p "$port" cluster info
  wait_for cluster_known_nodes:2 redis-cli -p "$port" cluster info
done

redrock_ports=()
for i in 1 2; do
  port=$(free_port)
  redrock_ports+=("$port")
  "$server" --port "$port" --dir "$work/redrock$i/data" --log-dir "$work/redrock$i" \
    --cluster-enabled yes >/dev/null &
  pids+=($!)
done
for port in "${redrock_ports[@]}"; do wait_ready "$port"; done
"$bin/redrock" cluster create "${redrock_ports[@]/#/127.0.0.1:}" >/dev/null

echo "loading $KEYS keys of mixed types into slots 0-8191 of each source" >&2
helper generate "$KEYS" "$work/keys.resp"
for port in "${redis_ports[0]}" "${redrock_ports[0]}"; do
  loaded=$(timeout 1800 redis-cli -p "$port" --pipe <"$work/keys.resp")
  echo "$loaded" | grep -q "errors: 0, replies: $KEYS" || {
    echo "loading into $port failed: $loaded" >&2
    exit 1
  }
done
rm "$work/keys.resp"
redis_bytes=$(helper dump-bytes "${redis_ports[0]}")

echo "moving slots 0-8191 on redis-server" >&2
helper run "${redis_ports[0]}" "${redis_ports[1]}" "$work/redis.json" -- \
  redis-cli --cluster reshard "127.0.0.1:${redis_ports[0]}" \
  --cluster-from "$(node_id "${redis_ports[0]}")" --cluster-to "$(node_id "${redis_ports[1]}")" \
  --cluster-slots 8192 --cluster-yes --cluster-pipeline 1000
echo "moving slots 0-8191 on redrock" >&2
helper run "${redrock_ports[0]}" "${redrock_ports[1]}" "$work/redrock.json" -- \
  "$bin/redrock" cluster reshard "127.0.0.1:${redrock_ports[0]}" \
  --from "$(node_id "${redrock_ports[0]}")" --to "$(node_id "${redrock_ports[1]}")" --slots 0-8191

echo
echo "slots 0-8191 with $KEYS keys of mixed types moved between two masters, under"
echo "redis-benchmark --cluster SET ($CLIENTS clients, $DATA_SIZE-byte values)"
echo "and one probe client (GET and SET on the moving slots, redirections followed)"
held=$(grep -ho "writes held for [^)]*" "$work"/redrock1/*.log || echo "writes held for ?")
helper report "$work/redis.json" "$work/redrock.json" "$redis_bytes" || status=$?
echo "redrock: the source's log says $held"
exit "${status:-0}"
