"""Helpers of bench/replication.sh, for redis-server and RedRock alike.

  replication.py load PORT KEYS DATA_SIZE
      SETs keys key:0000000 .. with pseudo-random values (the same on every
      server), MSET by MSET, pipelined.
  replication.py synced MASTER REPLICA...
      waits until every replica's link is up and it has the master's offset.
  replication.py sync-time MASTER REPLICA
      makes REPLICA a replica of MASTER and prints the seconds until it is
      synced.
  replication.py run MASTER REPLICAS(comma-separated or -) -- BENCHMARK...
      runs the benchmark command while sampling INFO replication every
      10 ms, then prints its requests per second and the replicas' lag:
      p50 and p99 in ms and in offset units (bytes on Redis, sequence
      numbers on RedRock), as JSON.
"""

import json
import random
import subprocess
import sys
import time

import redis

SAMPLE_PERIOD = 0.010
SYNC_LIMIT = 1800


def connect(port):
    return redis.Redis(host="127.0.0.1", port=int(port), socket_timeout=60)


def replication(con):
    return con.info("replication")


def load(port, keys, data_size):
    con = connect(port)
    rng = random.Random(1)
    per_command, pipeline_depth = 100, 16
    pipe = con.pipeline(transaction=False)
    queued = 0
    for start in range(0, keys, per_command):
        pairs = {}
        for i in range(start, min(start + per_command, keys)):
            # Hex digits: about as compressible as real data, not like "xxx".
            pairs[f"key:{i:07d}"] = rng.randbytes(data_size // 2).hex()
        pipe.mset(pairs)
        queued += 1
        if queued == pipeline_depth:
            pipe.execute()
            queued = 0
    pipe.execute()
    assert con.dbsize() == keys, (con.dbsize(), keys)


def is_synced(master, replicas):
    offset = replication(master)["master_repl_offset"]
    for replica in replicas:
        info = replication(replica)
        if info.get("master_link_status") != "up" or info.get("slave_repl_offset") != offset:
            return False
    return True


def synced(master_port, replica_ports):
    master = connect(master_port)
    replicas = [connect(p) for p in replica_ports]
    deadline = time.monotonic() + SYNC_LIMIT
    while not is_synced(master, replicas):
        if time.monotonic() > deadline:
            sys.exit(f"replicas {replica_ports} of {master_port} did not sync")
        time.sleep(SAMPLE_PERIOD)


def sync_time(master_port, replica_port):
    master, replica = connect(master_port), connect(replica_port)
    start = time.monotonic()
    replica.execute_command("REPLICAOF", "127.0.0.1", master_port)
    while not is_synced(master, [replica]):
        if time.monotonic() - start > SYNC_LIMIT:
            sys.exit("the full sync did not end")
        time.sleep(SAMPLE_PERIOD)
    print(f"{time.monotonic() - start:.2f}")


def percentile(values, p):
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))]


def lag_ms(master_timeline, when, offset):
    """How long before `when` the master first had a write past `offset`:
    the age of the oldest write the replica lacks, the master's offsets
    interpolated between samples."""
    previous = None
    for t, m in master_timeline:
        if m > offset:
            if previous is None or previous[1] == m:
                return max(0.0, when - t) * 1000
            pt, pm = previous
            first = pt + (offset + 1 - pm) / (m - pm) * (t - pt)
            return max(0.0, when - first) * 1000
        previous = (t, m)
    return 0.0


def run(master_port, replica_ports, command):
    master = connect(master_port)
    replicas = [connect(p) for p in replica_ports]
    timeline, samples = [], []
    bench = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    while bench.poll() is None:
        started = time.monotonic()
        if replicas:
            # Replicas first, then the master: a lag is never understated.
            offsets = [replication(r)["slave_repl_offset"] for r in replicas]
            now = time.monotonic()
            latest = replication(master)["master_repl_offset"]
            timeline.append((now, latest))
            samples.extend((now, latest, o) for o in offsets)
        time.sleep(max(0.0, SAMPLE_PERIOD - (time.monotonic() - started)))
    output = bench.stdout.read()
    # --csv: a header line, then "test","rps",...
    rps = float(output.splitlines()[1].split('"')[3])
    lags_ms = [lag_ms(timeline, now, o) if o < latest else 0.0 for now, latest, o in samples]
    lags = [latest - o for _, latest, o in samples]
    print(
        json.dumps(
            {
                "rps": rps,
                "samples": len(samples),
                "lag_ms_p50": percentile(lags_ms, 50),
                "lag_ms_p99": percentile(lags_ms, 99),
                "lag_offset_p50": percentile(lags, 50),
                "lag_offset_p99": percentile(lags, 99),
            }
        )
    )


def main(argv):
    match argv:
        case ["load", port, keys, data_size]:
            load(port, int(keys), int(data_size))
        case ["synced", master, *replicas]:
            synced(master, replicas)
        case ["sync-time", master, replica]:
            sync_time(master, replica)
        case ["run", master, replicas, "--", *command]:
            run(master, [] if replicas == "-" else replicas.split(","), command)
        case _:
            sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
