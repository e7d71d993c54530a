#!/usr/bin/env bash
# Bitmaps, HyperLogLog, GEO and hash field expiry side by side: redis-server
# (in memory) and RedRock on 127.0.0.1.
#
#  - redis-benchmark workloads (-P 1 and -P 16): GETBIT and BITCOUNT of a
#    1 KB range on a filled bitmap, SETBIT on random keys, PFADD of random
#    elements, PFCOUNT, GEOSEARCH of the 10 nearest points within 50 km,
#    HSET and HGET on a hash.
#  - Pipelined loads over one connection (redis-cli --pipe, the same
#    generated file for both): SETBIT at random offsets of one bitmap
#    (BITMAP_BITS bits), GEOADD of GEO_POINTS random points.
#  - Hash field expiry (Redis 7.4, which the redis-server here predates):
#    HSET and HGET on RedRock on a hash whose TTL_FIELDS fields carry an
#    hour's TTL, against the same workload on a hash without field TTLs on
#    both servers.
#
#   bench/types.sh
#   REQUESTS=100000 PIPE_COMMANDS=200000 bench/types.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh

PIPE_COMMANDS="${PIPE_COMMANDS:-1000000}"
BITMAP_BITS="${BITMAP_BITS:-134217728}"
GEO_POINTS="${GEO_POINTS:-1000000}"
TTL_FIELDS="${TTL_FIELDS:-100000}"
start_servers

# gen_commands KIND COUNT FILE: a file of RESP commands for redis-cli --pipe.
gen_commands() {
  python3 - "$1" "$2" "$3" "$BITMAP_BITS" <<'PY'
import random, sys
kind, count, path, bits = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
rng = random.Random(7)
def cmd(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)
with open(path, "wb") as f:
    for i in range(count):
        if kind == "setbit":
            f.write(cmd("SETBIT", "bitmap", rng.randrange(bits), 1))
        elif kind == "geoadd":
            # Around Europe, so GEOSEARCH below finds dense neighbourhoods.
            lon = rng.uniform(-10, 30)
            lat = rng.uniform(35, 60)
            f.write(cmd("GEOADD", "geo", "%.6f" % lon, "%.6f" % lat, "p%d" % i))
        elif kind == "hexpire":
            f.write(cmd("HSET", "ttlhash", "element:%012d" % i, "x"))
            f.write(cmd("HEXPIRE", "ttlhash", 3600, "FIELDS", 1, "element:%012d" % i))
PY
}

# pipe_seconds PORT FILE: seconds redis-cli --pipe takes to send FILE and
# read every reply (there must be no error reply).
pipe_seconds() {
  local start end out
  start=$(date +%s.%N)
  out=$(redis-cli -p "$1" --pipe <"$2" 2>&1)
  end=$(date +%s.%N)
  if ! grep -q "errors: 0," <<<"$out"; then
    echo "redis-cli --pipe on port $1: $out" >&2
    exit 1
  fi
  awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }'
}

# print_row NAME PIPELINE REDIS_RATE REDROCK_RATE
print_row() {
  printf '%-12s %-9s %14s %14s %7s\n' "$1" "$2" "$3" "$4" \
    "$(awk -v a="$4" -v b="$3" 'BEGIN { printf "%.2fx", a / b }')"
}

printf '%-12s %-9s %14s %14s %7s\n' workload pipeline redis-server redrock ratio
pipe_compare() {
  local name=$1 file=$2 count=$3 redis_s redrock_s
  redis_s=$(pipe_seconds "$redis_port" "$file")
  redrock_s=$(pipe_seconds "$redrock_port" "$file")
  print_row "$name" "--pipe" \
    "$(awk -v n="$count" -v s="$redis_s" 'BEGIN { printf "%.0f", n / s }')" \
    "$(awk -v n="$count" -v s="$redrock_s" 'BEGIN { printf "%.0f", n / s }')"
}

gen_commands setbit "$PIPE_COMMANDS" "$work/setbit.resp"
pipe_compare setbit-load "$work/setbit.resp" "$PIPE_COMMANDS"
gen_commands geoadd "$GEO_POINTS" "$work/geoadd.resp"
pipe_compare geoadd-load "$work/geoadd.resp" "$GEO_POINTS"

for pipeline in $PIPELINES; do
  compare "getbit" "$pipeline" getbit bitmap 123456789
  compare "bitcount1k" "$pipeline" bitcount bitmap 1000000 1001023
  compare "setbit" "$pipeline" setbit bits:__rand_int__ 1000 1
  compare "pfadd" "$pipeline" pfadd hll element:__rand_int__
  compare "pfcount" "$pipeline" pfcount hll
  compare "geosearch" "$pipeline" geosearch geo fromlonlat 10 50 byradius 50 km asc count 10
  compare "hset" "$pipeline" -t hset
  compare "hget" "$pipeline" hget myhash element:__rand_int__
done

# The same HSET/HGET workload on RedRock against a hash whose fields carry
# TTLs; redis-server's figure is its plain HSET/HGET.
echo
gen_commands hexpire "$TTL_FIELDS" "$work/hexpire.resp"
redis-cli -p "$redrock_port" --pipe <"$work/hexpire.resp" >/dev/null
echo "ttlhash: $(redis-cli -p "$redrock_port" hlen ttlhash) fields," \
  "HTTL of one: $(redis-cli -p "$redrock_port" httl ttlhash fields 1 element:000000000001)"
printf '%-12s %-9s %14s %14s %7s\n' workload pipeline redis-server redrock ratio
for pipeline in $PIPELINES; do
  print_row "hset-ttl" "-P $pipeline" \
    "$(rps "$redis_port" "$pipeline" hset myhash element:__rand_int__ x)" \
    "$(rps "$redrock_port" "$pipeline" hset ttlhash element:__rand_int__ x)"
  print_row "hget-ttl" "-P $pipeline" \
    "$(rps "$redis_port" "$pipeline" hget myhash element:__rand_int__)" \
    "$(rps "$redrock_port" "$pipeline" hget ttlhash element:__rand_int__)"
done
