#!/usr/bin/env bash
# Sorted set and list workloads side by side: redis-benchmark against
# redis-server (in memory) and RedRock on 127.0.0.1, without pipelining and
# with -P 16; then the latency of ZRANGEBYSCORE ... LIMIT 0 10 and of
# LRANGE 0 9 on a 1,000,000-member key on both.
#
#   bench/zsets_lists.sh
#   REQUESTS=100000 MEMBERS=200000 bench/zsets_lists.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh

MEMBERS="${MEMBERS:-1000000}"
start_servers

printf '%-10s %-9s %14s %14s %7s\n' workload pipeline redis-server redrock ratio
for pipeline in $PIPELINES; do
  # ZADD fills myzset with scores and members drawn from the keyspace; the
  # reads below use it. LPUSH fills mylist, LPOP drains it, RPUSH refills
  # it for RPOP.
  compare "zadd" "$pipeline" -t zadd
  compare "zincrby" "$pipeline" zincrby myzset 1 element:__rand_int__
  compare "zrange100" "$pipeline" zrange myzset 0 99
  compare "zrangebysc" "$pipeline" zrangebyscore myzset __rand_int__ +inf LIMIT 0 10
  compare "lpush" "$pipeline" -t lpush
  compare "lrange100" "$pipeline" lrange mylist 0 99
  compare "lpop" "$pipeline" -t lpop
  compare "rpush" "$pipeline" -t rpush
  compare "rpop" "$pipeline" -t rpop
done

# Fills a MEMBERS-member sorted set and list on a server, pipelined.
fill() {
  python3 - "$1" "$MEMBERS" <<'PY'
import socket, sys
port, members = int(sys.argv[1]), int(sys.argv[2])
s = socket.create_connection(("127.0.0.1", port))
def cmd(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out
per_command, per_flush = 1000, 10
for start in range(0, members, per_command * per_flush):
    payload, sent = b"", 0
    for first in range(start, min(start + per_command * per_flush, members), per_command):
        ids = range(first, min(first + per_command, members))
        zadd = ["ZADD", "bigzset"]
        for i in ids:
            zadd += [i, "member:%d" % i]
        payload += cmd(*zadd) + cmd("RPUSH", "biglist", *["element:%d" % i for i in ids])
        sent += 2
    s.sendall(payload)
    got = b""
    while got.count(b"\r\n") < sent:
        got += s.recv(65536)
PY
}

# Latency of one command, one client, no pipelining: "avg p50 p99" in ms.
latency() {
  local port=$1
  shift
  redis-benchmark -h 127.0.0.1 -p "$port" -n 20000 -c 1 --csv "$@" 2>/dev/null \
    | awk -F'"' 'NR > 1 { print $6, $10, $14; exit }'
}

echo
for port in "$redis_port" "$redrock_port"; do
  fill "$port"
done
echo "ZCARD bigzset: redis-server $(redis-cli -p "$redis_port" zcard bigzset)," \
  "RedRock $(redis-cli -p "$redrock_port" zcard bigzset)"
echo "LLEN biglist: redis-server $(redis-cli -p "$redis_port" llen biglist)," \
  "RedRock $(redis-cli -p "$redrock_port" llen biglist)"
printf '%-32s %-26s %-26s\n' "latency (ms: avg p50 p99)" redis-server redrock
for workload in "zrangebyscore bigzset 500000 +inf LIMIT 0 10" "lrange biglist 0 9" \
  "lrange biglist 500000 500009"; do
  # shellcheck disable=SC2086 # the workload is split into its arguments
  printf '%-32s %-26s %-26s\n' "$workload" "$(latency "$redis_port" $workload)" \
    "$(latency "$redrock_port" $workload)"
done
