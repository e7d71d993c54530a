#!/usr/bin/env bash
# Real Redis Cluster clients against a local three-node RedRock cluster
# made by `redrock cluster create`: redis-cli --cluster check,
# redis-benchmark --cluster, redis-cli -c and redis-py's RedisCluster, each
# checking its results. Exits non-zero
# on the first failure.
#
#   bench/cluster_clients.sh
set -euo pipefail
cd "$(dirname "$0")/.."

source bench/common.sh
python3 -c 'import redis' 2>/dev/null || python3 -m pip install --quiet redis

init_work
ports=()
for i in 1 2 3; do
  port=$(free_port)
  ports+=("$port")
  "$bin/redrock-server" --port "$port" --dir "$work/node$i" --log-dir "$work" \
    --cluster-enabled yes >/dev/null &
  pids+=($!)
done
for port in "${ports[@]}"; do
  wait_ready "$port"
done
"$bin/redrock" cluster create "${ports[@]/#/127.0.0.1:}"
"$bin/redrock" cluster check "127.0.0.1:${ports[0]}"

fail() {
  echo "FAILED: $*" >&2
  exit 1
}

echo "== redis-cli --cluster check"
check=$(redis-cli --cluster check "127.0.0.1:${ports[0]}" 2>&1)
echo "$check" | grep -q "All nodes agree about slots configuration" || fail "redis-cli --cluster check: $check"
echo "$check" | grep -q "All 16384 slots covered" || fail "redis-cli --cluster check: $check"
echo "redis-cli --cluster check: nodes agree, all 16384 slots covered"

echo "== redis-benchmark --cluster"
out=$(redis-benchmark --cluster -h 127.0.0.1 -p "${ports[0]}" -t set,get,lpush,zadd \
  -n 100000 -r 100000 -q 2>&1 | tr '\r' '\n' | grep 'requests per second')
echo "$out"
[ "$(echo "$out" | wc -l)" -eq 4 ] || fail "redis-benchmark did not finish all four tests"
keys=0
for port in "${ports[@]}"; do
  n=$(redis-cli -p "$port" dbsize)
  [ "$n" -gt 0 ] || fail "node $port got no keys from redis-benchmark"
  keys=$((keys + n))
done
echo "keys written across the three nodes: $keys"

echo "== redis-cli -c"
for i in $(seq 1 100); do
  redis-cli -c -p "${ports[0]}" set "cli:$i" "value $i" >/dev/null
done
for i in $(seq 1 100); do
  got=$(redis-cli -c -p "${ports[$((i % 3))]}" get "cli:$i")
  [ "$got" = "value $i" ] || fail "redis-cli -c read '$got' for cli:$i"
done
[ "$(redis-cli -c -p "${ports[1]}" mset '{t}a' 1 '{t}b' 2)" = OK ] || fail "MSET with a hash tag"
echo "100 keys written and read back through redirections"

echo "== redis-py RedisCluster"
python3 - "${ports[0]}" <<'PY'
import sys
from redis.cluster import RedisCluster
rc = RedisCluster(host="127.0.0.1", port=int(sys.argv[1]), decode_responses=True)
for i in range(1000):
    rc.set(f"py:{i}", i)
    rc.hset(f"pyh:{i}", mapping={"n": i})
    rc.zadd(f"pyz:{i}", {"m": i})
    rc.rpush(f"pyl:{i}", i)
for i in range(1000):
    assert rc.get(f"py:{i}") == str(i)
    assert rc.hget(f"pyh:{i}", "n") == str(i)
    assert rc.zscore(f"pyz:{i}", "m") == float(i)
    assert rc.lrange(f"pyl:{i}", 0, -1) == [str(i)]
assert len(rc.get_nodes()) == 3, rc.get_nodes()
print("redis-py: 4,000 keys written and read back on", len(rc.get_nodes()), "nodes")
PY
echo "all cluster clients passed"
