#!/usr/bin/env bash
# Every workload of the performance targets (issue 16) in one run, side by
# side on 127.0.0.1: redis-server in memory (no persistence), redis-server
# with `appendonly yes, appendfsync everysec`, and RedRock (release build,
# default configuration unless said). Prints one table (figures, ratios,
# target, met) and writes it as markdown to bench/results/all.md.
#
#  1. redis-benchmark -c 50 -d 64 -r 1000000, -P 16: SET GET INCR MSET HSET
#     SADD ZADD LPUSH (the collection tests write random members of one
#     key; LPUSH pushes onto one hot key); -P 1: SET GET. Each workload runs
#     ROUNDS rounds over the three servers, the order rotating each round;
#     the median is reported.
#  2. The large-dataset profile, on fresh servers: LOAD_KEYS keys
#     `key:%012d` (redis-benchmark's __rand_int__ names) of VALUE_SIZE bytes
#     loaded over one connection (redis-cli --pipe, the same generated file
#     for all); RSS after the load; time from start to the first PONG after
#     SIGKILL (right after the load: RedRock replays its WAL), then after a
#     clean stop (redis-server SHUTDOWN, RedRock SIGTERM; RedRock comes back
#     with `rocksdb.block_cache_size SMALL_CACHE_MB`); random GETs -P 16
#     over the whole set (median of ROUNDS); RSS after them.
#  3. BIG=1 only, larger than memory: BIG_KEYS such strings plus a hash and
#     a sorted set of BIG_MEMBERS members, loaded into a fresh redis-server
#     (in memory) and a fresh RedRock with a BIG_CACHE_MB block cache and
#     BIG_WRITE_BUFFER_MB write buffers in a memory cgroup of BIG_MEMORY_MB (a child of this script's own cgroup:
#     v1 memory.limit_in_bytes or v2 memory.max; both count the page
#     cache); then GET SET HGET ZRANGE (BYSCORE LIMIT 0 10) at random,
#     -P BIG_PIPELINE, BIG_REQUESTS each: throughput and p99 on both, and
#     RedRock's OOM kills (there must be none). Without a usable cgroup it
#     runs with the small cache only, drops the page cache if allowed, and
#     the table says so.
#
#   bench/all.sh                                            # full run
#   REQUESTS=20000 ROUNDS=1 LOAD_KEYS=100000 bench/all.sh   # a quick look
#   BIG=1 bench/all.sh                                      # with part 3
#   PARTS="2 3" bench/all.sh                                # only these parts
#   bench/all.sh --readme  # copies bench/results/all.md (the last run) into
#                          # README.md between the bench/all.sh markers
set -euo pipefail
cd "$(dirname "$0")/.."

results=bench/results/all.md
begin_marker='<!-- bench/all.sh begin -->'
end_marker='<!-- bench/all.sh end -->'

update_readme() {
  if [[ ! -f $results ]]; then
    echo "no $results yet: run bench/all.sh first" >&2
    exit 1
  fi
  if ! grep -qF "$begin_marker" README.md || ! grep -qF "$end_marker" README.md; then
    echo "README.md lacks the markers $begin_marker and $end_marker" >&2
    exit 1
  fi
  awk -v file="$results" -v begin="$begin_marker" -v end="$end_marker" '
    $0 == begin { print; while ((getline line < file) > 0) print line; skipping = 1; next }
    $0 == end { skipping = 0 }
    !skipping' README.md >README.md.new
  mv README.md.new README.md
  echo "README.md: Benchmarks block rewritten from $results" >&2
}

if [[ ${1:-} == --readme ]]; then
  update_readme
  exit 0
fi

ROUNDS="${ROUNDS:-3}"
LOAD_KEYS="${LOAD_KEYS:-5000000}"
VALUE_SIZE="${VALUE_SIZE:-100}"
SMALL_CACHE_MB="${SMALL_CACHE_MB:-64}"
BIG="${BIG:-0}"
if [[ $BIG == 1 ]]; then
  PARTS="${PARTS:-1 2 3}"
else
  PARTS="${PARTS:-1 2}"
fi
BIG_KEYS="${BIG_KEYS:-10000000}"
BIG_MEMORY_MB="${BIG_MEMORY_MB:-256}"
BIG_CACHE_MB="${BIG_CACHE_MB:-16}"
BIG_WRITE_BUFFER_MB="${BIG_WRITE_BUFFER_MB:-16}"
BIG_MEMBERS="${BIG_MEMBERS:-1000000}"
BIG_REQUESTS="${BIG_REQUESTS:-100000}"
BIG_PIPELINE="${BIG_PIPELINE:-1}"
source bench/common.sh

log() { echo "[all.sh $(date +%T)] $*" >&2; }

# The three servers by name, and their ports and pids.
servers=(redis aof redrock)
declare -A port_of pid_of
aof_args=(--appendonly yes --appendfsync everysec)

start_three() {
  local prefix=$1
  start_redis "$prefix-redis"
  port_of[redis]=$port pid_of[redis]=$pid
  start_redis "$prefix-aof" "${aof_args[@]}"
  port_of[aof]=$port pid_of[aof]=$pid
  start_redrock "$prefix-redrock"
  port_of[redrock]=$port pid_of[redrock]=$pid
}

# Stops one server with a signal (TERM unless given) and waits for its exit.
stop_server() {
  local pid=$1 signal=${2:-TERM} kept=() p
  kill -s "$signal" "$pid" 2>/dev/null || true
  # Not "Killed" on stderr: bash reports a child's death by signal.
  { wait "$pid" || true; } 2>/dev/null
  for p in "${pids[@]}"; do
    if [[ $p != "$pid" ]]; then kept+=("$p"); fi
  done
  pids=("${kept[@]}")
}

rss_mib() { awk '/^VmRSS/ { printf "%d", $2 / 1024 }' "/proc/$1/status"; }
info_field() { redis-cli -p "$1" info "$2" | tr -d '\r' | awk -F: -v f="$3" '$1 == f { print $2 }'; }

median() {
  printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 }
    END { printf "%.0f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# ratio A B: A / B as "0.46x", "-" when either is missing.
ratio() {
  awk -v a="$1" -v b="$2" 'BEGIN {
    if (a == "-" || b == "-" || a == "" || b + 0 == 0) print "-"; else printf "%.2fx", a / b }'
}

scaled() { awk -v a="$1" -v b="$2" 'BEGIN { print a * b }'; }

# yes when every "A OP B" condition holds (OP one of >= <= <), else no.
met() {
  awk -v conds="$*" 'BEGIN {
    n = split(conds, w, " ")
    for (i = 1; i <= n; i += 3) {
      a = w[i] + 0; b = w[i + 2] + 0
      if ((w[i + 1] == ">=" && !(a >= b)) || (w[i + 1] == "<=" && !(a <= b)) || (w[i + 1] == "<" && !(a < b))) {
        print "no"; exit
      }
    }
    print "yes" }'
}

# add_row WORKLOAD REDIS AOF REDROCK VS_REDIS VS_AOF TARGET MET
rows=()
add_row() {
  local IFS=$'\t'
  rows+=("$*")
  log "$*"
}

# Medians over ROUNDS rounds of one workload on each of the given servers,
# the order rotating each round, left in $median_of[server].
# run_rounds "SERVER..." PIPELINE ARGS...
declare -A median_of
run_rounds() {
  local names=() pipeline=$2 round i n s
  IFS=' ' read -r -a names <<<"$1"
  shift 2
  n=${#names[@]}
  declare -A runs
  for round in $(seq 1 "$ROUNDS"); do
    for i in $(seq 0 $((n - 1))); do
      s=${names[(round + i) % n]}
      runs[$s]+=" $(rps "${port_of[$s]}" "$pipeline" "$@")"
    done
  done
  for s in "${names[@]}"; do
    # shellcheck disable=SC2086 # the runs are a space-separated list
    median_of[$s]=$(median ${runs[$s]})
  done
}

# Part 1: redis-benchmark workloads. Fields: name, pipeline, minimum ratio
# to redis-server in memory, minimum ratio to AOF (- for none), arguments.
# SET runs before GET so that GETs find keys.
workloads=(
  "SET|16|0.6|1|-t set"
  "GET|16|0.8|-|-t get"
  "INCR|16|0.5|-|-t incr"
  "MSET|16|0.5|-|-t mset"
  "HSET|16|0.4|-|-t hset"
  "SADD|16|0.4|-|-t sadd"
  "ZADD|16|0.4|-|-t zadd"
  "LPUSH|16|0.4|-|-t lpush"
  "SET|1|0.95|-|-t set"
  "GET|1|0.95|-|-t get"
)

run_workloads() {
  local spec name pipeline min_redis min_aof args target check
  start_three bench
  for spec in "${workloads[@]}"; do
    IFS='|' read -r name pipeline min_redis min_aof args <<<"$spec"
    # shellcheck disable=SC2086 # args are several words
    run_rounds "${servers[*]}" "$pipeline" $args
    target=">=${min_redis}x"
    check="${median_of[redrock]} >= $(scaled "${median_of[redis]}" "$min_redis")"
    if [[ $min_aof != - ]]; then
      target+=", >=${min_aof}x AOF"
      check+=" ${median_of[redrock]} >= $(scaled "${median_of[aof]}" "$min_aof")"
    fi
    add_row "$name -P $pipeline, rps" "${median_of[redis]}" "${median_of[aof]}" "${median_of[redrock]}" \
      "$(ratio "${median_of[redrock]}" "${median_of[redis]}")" \
      "$(ratio "${median_of[redrock]}" "${median_of[aof]}")" "$target" "$(met "$check")"
  done
  for s in "${servers[@]}"; do stop_server "${pid_of[$s]}"; done
}

# Seconds taken to load a RESP file over one connection; fails if not
# every command succeeded. load_seconds PORT FILE COMMANDS
load_seconds() {
  local start out
  start=$EPOCHREALTIME
  out=$(redis-cli -p "$1" --pipe <"$2" 2>&1) || true
  if [[ $out != *"errors: 0, replies: $3"* ]]; then
    echo "loading $2 into port $1 went wrong: $out" >&2
    return 1
  fi
  awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }'
}

# Prints, once it gets one, the time of a PONG from the port (epoch
# seconds), trying every 5 ms (a refused connection, or LOADING: Redis
# reading its AOF). Its first line, "polling", says it has started.
first_pong() {
  python3 - "$1" <<'EOF'
import socket, sys, time
port = int(sys.argv[1])
print("polling", flush=True)
deadline = time.time() + 600
while time.time() < deadline:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
            while time.time() < deadline:
                conn.sendall(b"PING\r\n")
                if conn.recv(256).startswith(b"+PONG"):
                    print(f"{time.time():.6f}")
                    sys.exit(0)
                time.sleep(0.005)
    except OSError:
        time.sleep(0.005)
sys.exit(f"no PONG from port {port} in 600 s")
EOF
}

# Stops a server (kill: SIGKILL; clean: SHUTDOWN for redis-server, SIGTERM
# for RedRock), starts it again on its port and directory with ARGS, and
# leaves the seconds from its start to its first PONG in $restart_seconds.
# restart SERVER kill|clean [ARGS...]
restart() {
  local s=$1 how=$2 probe start
  shift 2
  if [[ $how == kill ]]; then
    stop_server "${pid_of[$s]}" KILL
  elif [[ $s == redrock ]]; then
    stop_server "${pid_of[$s]}" TERM
  else
    redis-cli -p "${port_of[$s]}" shutdown >/dev/null 2>&1 || true
    stop_server "${pid_of[$s]}" 0
  fi
  # The probe polls before the server starts: its own start-up is not timed.
  rm -f "$work/pong"
  first_pong "${port_of[$s]}" >"$work/pong" &
  probe=$!
  until [[ -s $work/pong ]]; do sleep 0.01; done
  start=$EPOCHREALTIME
  if [[ $s == redrock ]]; then
    launch_redrock profile-redrock "${port_of[$s]}" "$@"
  else
    launch_redis "profile-$s" "${port_of[$s]}" "$@"
  fi
  pid_of[$s]=$pid
  wait "$probe"
  restart_seconds=$(awk -v a="$start" -v b="$(tail -n 1 "$work/pong")" 'BEGIN { printf "%.3f", b - a }')
}

check_keys() {
  local keys
  keys=$(redis-cli -p "${port_of[$1]}" dbsize)
  if [[ $keys != "$LOAD_KEYS" ]]; then
    echo "$1 has $keys keys after $2, not $LOAD_KEYS" >&2
    exit 1
  fi
}

# Part 2: the large-dataset profile.
run_profile() {
  local s bound quarter aof_seconds
  declare -A load_of rss_of
  log "generating $LOAD_KEYS SETs of $VALUE_SIZE bytes"
  python3 bench/resp_load.py strings "$LOAD_KEYS" "$VALUE_SIZE" >"$work/strings.resp"
  start_three profile
  for s in "${servers[@]}"; do
    log "loading $s"
    load_of[$s]=$(load_seconds "${port_of[$s]}" "$work/strings.resp" "$LOAD_KEYS")
    rss_of[$s]=$(rss_mib "${pid_of[$s]}")
  done
  rm "$work/strings.resp"
  add_row "load $LOAD_KEYS keys, one connection, s" "${load_of[redis]}" "${load_of[aof]}" "${load_of[redrock]}" \
    "$(ratio "${load_of[redrock]}" "${load_of[redis]}")" "$(ratio "${load_of[redrock]}" "${load_of[aof]}")" \
    "<= redis" "$(met "${load_of[redrock]} <= ${load_of[redis]}")"
  bound=$(redrock_memory_bound)
  add_row "RSS after the load, MiB" "${rss_of[redis]}" "${rss_of[aof]}" "${rss_of[redrock]}" \
    "$(ratio "${rss_of[redrock]}" "${rss_of[redis]}")" "$(ratio "${rss_of[redrock]}" "${rss_of[aof]}")" \
    "<= cache+memtables+150 = $bound" "$(met "${rss_of[redrock]} <= $bound")"

  log "restarts"
  restart aof kill "${aof_args[@]}"
  aof_seconds=$restart_seconds
  restart redrock kill
  check_keys redrock "SIGKILL"
  add_row "restart to PONG after SIGKILL, s" - "$aof_seconds" "$restart_seconds" - \
    "$(ratio "$restart_seconds" "$aof_seconds")" "<= 1 s" "$(met "$restart_seconds <= 1")"
  restart aof clean "${aof_args[@]}"
  aof_seconds=$restart_seconds
  restart redrock clean --rocksdb.block_cache_size "$SMALL_CACHE_MB"
  check_keys redrock "SIGTERM"
  check_keys aof "SIGKILL and SHUTDOWN"
  add_row "restart to PONG after SHUTDOWN/SIGTERM, s" - "$aof_seconds" "$restart_seconds" - \
    "$(ratio "$restart_seconds" "$aof_seconds")" "<= 0.1 s" "$(met "$restart_seconds <= 0.1")"

  log "random GETs over $LOAD_KEYS keys"
  KEYSPACE=$LOAD_KEYS run_rounds "${servers[*]}" 16 -t get
  add_row "GET -P 16 over $LOAD_KEYS keys (RedRock: ${SMALL_CACHE_MB} MB cache), rps" \
    "${median_of[redis]}" "${median_of[aof]}" "${median_of[redrock]}" \
    "$(ratio "${median_of[redrock]}" "${median_of[redis]}")" \
    "$(ratio "${median_of[redrock]}" "${median_of[aof]}")" ">=0.5x" \
    "$(met "${median_of[redrock]} >= $(scaled "${median_of[redis]}" 0.5)")"
  for s in "${servers[@]}"; do rss_of[$s]=$(rss_mib "${pid_of[$s]}"); done
  bound=$(redrock_memory_bound)
  quarter=$((rss_of[redis] / 4))
  add_row "RSS after the GETs (RedRock: ${SMALL_CACHE_MB} MB cache), MiB" \
    "${rss_of[redis]}" "${rss_of[aof]}" "${rss_of[redrock]}" \
    "$(ratio "${rss_of[redrock]}" "${rss_of[redis]}")" "$(ratio "${rss_of[redrock]}" "${rss_of[aof]}")" \
    "< redis/4 = $quarter, <= $bound" "$(met "${rss_of[redrock]} < $quarter ${rss_of[redrock]} <= $bound")"
  for s in "${servers[@]}"; do stop_server "${pid_of[$s]}"; done
}

# RedRock's memory bound in MiB: block cache capacity + what its memtables
# hold now + 150 MiB.
redrock_memory_bound() {
  local port=${port_of[redrock]}
  awk -v c="$(info_field "$port" memory rocksdb_block_cache_capacity)" \
    -v m="$(info_field "$port" memory rocksdb_memtable_size)" \
    'BEGIN { printf "%d", (c + m) / 1048576 + 150 }'
}

# A child of this script's own memory cgroup limited to $1 MiB, left in
# $cgroup (empty when the kernel or the container does not allow one).
cgroup=""
make_memory_cgroup() {
  local path dir limit_file
  path=$(awk -F: '$2 == "memory" { print $3 }' /proc/self/cgroup)
  if [[ -n $path && -d /sys/fs/cgroup/memory$path ]]; then
    dir=/sys/fs/cgroup/memory$path limit_file=memory.limit_in_bytes
  else
    path=$(awk -F: '$1 == "0" { print $3 }' /proc/self/cgroup)
    dir=/sys/fs/cgroup$path limit_file=memory.max
  fi
  dir+=/redrock-bench-$$
  if mkdir "$dir" 2>/dev/null; then
    if echo $(($1 << 20)) >"$dir/$limit_file" 2>/dev/null; then
      cgroup=$dir
    else
      rmdir "$dir"
    fi
  fi
}

remove_memory_cgroup() {
  if [[ -n $cgroup ]]; then rmdir "$cgroup" 2>/dev/null || true; fi
}

# The cgroup's file named $1 in v1 or $2 in v2.
cgroup_read() {
  if [[ -r $cgroup/$1 ]]; then cat "$cgroup/$1"; elif [[ -r $cgroup/$2 ]]; then cat "$cgroup/$2"; fi
}

# Whether RedRock still runs, and the OOM kills in its cgroup.
redrock_fate() {
  local kills=0
  if [[ -n $cgroup ]]; then
    kills=$(cgroup_read memory.oom_control memory.events | awk '$1 == "oom_kill" { n = $2 } END { print n + 0 }')
  fi
  if kill -0 "${pid_of[redrock]}" 2>/dev/null; then echo -n "alive"; else echo -n "dead"; fi
  echo ", ${kills:-0} OOM kills"
}

cgroup_peak_mib() {
  cgroup_read memory.max_usage_in_bytes memory.peak | awk '{ printf "%d", $1 / 1048576 }'
}

# Part 3: larger than memory (BIG=1).
run_big() {
  local spec name keyspace args row limit setup disk fate memory
  declare -A cell_of rps_of
  log "larger than memory: generating $BIG_KEYS SETs and $BIG_MEMBERS hash and sorted set members"
  python3 bench/resp_load.py strings "$BIG_KEYS" "$VALUE_SIZE" >"$work/strings.resp"
  python3 bench/resp_load.py collections "$BIG_MEMBERS" >"$work/collections.resp"
  make_memory_cgroup "$BIG_MEMORY_MB"
  port_of[redrock]=$(free_port)
  launch_redrock big "${port_of[redrock]}" --rocksdb.block_cache_size "$BIG_CACHE_MB" \
    --rocksdb.write_buffer_size "$BIG_WRITE_BUFFER_MB"
  pid_of[redrock]=$pid
  if [[ -n $cgroup ]]; then
    # Moved in at once, before it opens its data: its memory and page cache
    # are charged there.
    echo "$pid" >"$cgroup/cgroup.procs"
    limit="a $BIG_MEMORY_MB MiB cgroup"
  else
    limit="no memory cgroup allowed here: page cache not limited"
  fi
  wait_ready "${port_of[redrock]}"
  setup="$limit, ${BIG_CACHE_MB} MB block cache, ${BIG_WRITE_BUFFER_MB} MB write buffers"
  log "RedRock: $setup"
  start_redis big-redis
  port_of[redis]=$port pid_of[redis]=$pid
  for s in redis redrock; do
    log "loading $s"
    if ! load_seconds "${port_of[$s]}" "$work/strings.resp" "$BIG_KEYS" >/dev/null ||
      ! load_seconds "${port_of[$s]}" "$work/collections.resp" $((2 * BIG_MEMBERS)) >/dev/null; then
      big_failed "load" "$setup"
      return
    fi
  done
  rm "$work/strings.resp" "$work/collections.resp"
  # The table files, not the WAL kept for replicas.
  disk=$(find "$work/big/data" -name '*.sst' -printf '%s\n' | awk '{ b += $1 } END { printf "%d", b / 1048576 }')
  if [[ -z $cgroup ]] && sync && echo 1 2>/dev/null >/proc/sys/vm/drop_caches; then
    setup+=", page cache dropped"
  fi

  for spec in "GET|$BIG_KEYS|-t get" "SET|$BIG_KEYS|-t set" \
    "HGET|$BIG_MEMBERS|hget bighash field:__rand_int__" \
    "ZRANGE|$BIG_MEMBERS|zrange bigzset __rand_int__ +inf BYSCORE LIMIT 0 10"; do
    IFS='|' read -r name keyspace args <<<"$spec"
    for s in redis redrock; do
      # A dead server would leave redis-benchmark retrying for ever.
      # shellcheck disable=SC2086 # args are several words
      if ! kill -0 "${pid_of[$s]}" 2>/dev/null ||
        ! row=$(REQUESTS=$BIG_REQUESTS KEYSPACE=$keyspace DATA_SIZE=$VALUE_SIZE \
          bench_row "${port_of[$s]}" "$BIG_PIPELINE" $args); then
        big_failed "$name on $s" "$setup"
        return
      fi
      cell_of[$s]=$(awk '{ printf "%.0f (p99 %s ms)", $1, $6 }' <<<"$row")
      rps_of[$s]=${row%% *}
    done
    fate=$(redrock_fate)
    add_row "larger than memory: $name -P $BIG_PIPELINE, rps" "${cell_of[redis]}" - "${cell_of[redrock]}" \
      "$(ratio "${rps_of[redrock]}" "${rps_of[redis]}")" - "no OOM" \
      "$(if [[ $fate == "alive, 0 OOM kills" ]]; then echo yes; else echo "no: $fate"; fi)"
  done
  if [[ -n $cgroup ]]; then
    memory="cgroup peak $(cgroup_peak_mib) MiB"
  else
    memory="RSS $(rss_mib "${pid_of[redrock]}") MiB"
  fi
  add_row "larger than memory: RedRock's SST files, MiB" - - \
    "$disk = $(ratio "$disk" "$BIG_MEMORY_MB") the limit ($setup; $memory)" \
    - - ">= 4x the memory limit" \
    "$(if [[ -n $cgroup ]]; then met "$disk >= $((4 * BIG_MEMORY_MB))"; else echo no; fi)"
}

big_failed() {
  add_row "larger than memory: $1" - - "failed ($2; RedRock $(redrock_fate))" - - "no OOM" no
}

write_results() {
  local commit
  commit=$(git rev-parse --short HEAD)
  if ! git diff --quiet HEAD; then commit+=" with uncommitted changes"; fi
  mkdir -p "$(dirname "$results")"
  {
    echo "bench/all.sh (parts $PARTS) on $(date -u '+%Y-%m-%d %H:%M UTC'), commit $commit;"
    echo "$(nproc) cores ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)) and"
    echo "$(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM shared by clients and servers;"
    echo "redis-server $(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/'), redis AOF: appendonly yes, appendfsync everysec."
    echo "Part 1: redis-benchmark -c $CLIENTS -d $DATA_SIZE -r $KEYSPACE, $REQUESTS requests a run, median of $ROUNDS rounds."
    echo "Part 2: $LOAD_KEYS keys of $VALUE_SIZE bytes."
    if [[ " $PARTS " == *" 3 "* ]]; then
      echo "Part 3: $BIG_KEYS keys of $VALUE_SIZE bytes, a hash and a sorted set of $BIG_MEMBERS members,"
      echo "$BIG_REQUESTS requests a run."
    fi
    echo "Ratios: RedRock / other."
    echo
    echo "| workload | redis-server | redis AOF | RedRock | vs redis | vs AOF | target | met |"
    echo "|---|---|---|---|---|---|---|---|"
    printf '%s\n' "${rows[@]}" | awk -F'\t' '{ $1 = $1; print "| " $0 " |" }' OFS=' | '
  } >"$results"
}

print_table() {
  {
    printf 'workload\tredis-server\tredis AOF\tRedRock\tvs redis\tvs AOF\ttarget\tmet\n'
    printf '%s\n' "${rows[@]}"
  } | column -t -s $'\t'
}

init_work
trap 'stop_servers; remove_memory_cgroup' EXIT
if [[ " $PARTS " == *" 1 "* ]]; then
  log "part 1: redis-benchmark workloads ($REQUESTS requests, $ROUNDS rounds)"
  run_workloads
fi
if [[ " $PARTS " == *" 2 "* ]]; then
  log "part 2: the large-dataset profile ($LOAD_KEYS keys)"
  run_profile
fi
if [[ " $PARTS " == *" 3 "* ]]; then
  log "part 3: larger than memory"
  run_big
fi
write_results
print_table
echo "(markdown: $results; bench/all.sh --readme puts it into README.md)"
