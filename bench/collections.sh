#!/usr/bin/env bash
# Hash and set workloads side by side: redis-benchmark against redis-server
# (in memory) and RedRock on 127.0.0.1, without pipelining and with -P 16,
# then the time to DEL a 1,000,000-field hash on RedRock.
#
#   bench/collections.sh
#   REQUESTS=100000 FIELDS=200000 bench/collections.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh

FIELDS="${FIELDS:-1000000}"
start_servers

printf '%-10s %-9s %14s %14s %7s\n' workload pipeline redis-server redrock ratio
for pipeline in $PIPELINES; do
  # HSET, SADD and SPOP come with redis-benchmark's -t; HGET and SISMEMBER
  # are given as commands on keys the first two filled (__rand_int__ picks
  # fields and members in the same range).
  compare "hset" "$pipeline" -t hset
  compare "hget" "$pipeline" hget myhash element:__rand_int__
  compare "sadd" "$pipeline" -t sadd
  compare "sismember" "$pipeline" sismember myset element:__rand_int__
  compare "spop" "$pipeline" -t spop
done

# DEL of a big hash: fill it with pipelined HSETs, then time one DEL.
echo
echo "filling a $FIELDS-field hash on RedRock..."
python3 - "$redrock_port" "$FIELDS" <<'PY'
import socket, sys
port, fields = int(sys.argv[1]), int(sys.argv[2])
s = socket.create_connection(("127.0.0.1", port))
batch = 1000
def cmd(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out
for start in range(0, fields, batch):
    payload = b"".join(cmd("HSET", "bighash", "field:%d" % i, "value:%d" % i)
                       for i in range(start, min(start + batch, fields)))
    s.sendall(payload)
    got = 0
    while got < min(batch, fields - start):
        data = s.recv(65536)
        got += data.count(b"\r\n")
PY
echo "HLEN bighash: $(redis-cli -p "$redrock_port" hlen bighash)"
del_ms=$(python3 - "$redrock_port" <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
t = time.perf_counter()
s.sendall(b"*2\r\n$3\r\nDEL\r\n$7\r\nbighash\r\n")
reply = s.recv(100)
elapsed = (time.perf_counter() - t) * 1000
assert reply == b":1\r\n", reply
print("%.3f" % elapsed)
PY
)
get_ms=$(python3 - "$redrock_port" <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
t = time.perf_counter()
for _ in range(100):
    s.sendall(b"*2\r\n$3\r\nGET\r\n$1\r\nx\r\n")
    s.recv(100)
print("%.3f" % ((time.perf_counter() - t) * 10))
PY
)
echo "DEL of a $FIELDS-field hash: ${del_ms} ms (a single GET round trip: ${get_ms} ms)"
echo "HLEN after DEL: $(redis-cli -p "$redrock_port" hlen bighash)"
