"""Helpers of bench/migration.sh, for a Redis Cluster and a RedRock cluster
alike; the source node serves slots 0-8191, which move.

  migration.py generate KEYS FILE
      writes KEYS commands in RESP (for redis-cli --pipe) that make KEYS
      keys of mixed types, all in slots 0-8191: strings, hashes, sets,
      sorted sets and lists of three members, small values.
  migration.py probe PORT OUT
      one cluster client (MOVED, ASK and TRYAGAIN followed, as cluster
      clients do) that SETs a random key of slots 0-8191 and GETs another,
      checking it holds the last value SET, until SIGTERM; then writes
      every operation (start, latency, redirections, error) to OUT.
  migration.py run SOURCE DESTINATION OUT -- RESHARD...
      with redis-benchmark --cluster SETting through the cluster and the
      probe running: measures the SETs executed per second before and
      during the move, runs the RESHARD command and times it, and writes
      the figures to OUT as JSON.
  migration.py dump-bytes PORT
      prints the bytes of every key's name and DUMP payload on a Redis node.
  migration.py report REDIS_JSON REDROCK_JSON REDIS_DUMP_BYTES
      prints both sides' figures and their ratios.
"""

import bisect
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from binascii import crc_hqx

MOVING = range(0, 8192)
PROBE_KEYS = 1000
# The cut-over: operations this close to one that was redirected.
CUT_OVER_MARGIN = 0.5
BASELINE_SECONDS = float(os.environ.get("BASELINE_SECONDS", "5"))
BENCH_WARMUP = 2.0
RESHARD_LIMIT = 3600
REPLY_TIMEOUT = 30

# Operation flags in the probe's log.
MOVED, ASK, TRYAGAIN, ERROR = 1, 2, 4, 8


def key_slot(key: bytes) -> int:
    start = key.find(b"{")
    if start >= 0:
        end = key.find(b"}", start + 1)
        if end > start + 1:
            key = key[start + 1 : end]
    return crc_hqx(key, 0) % 16384


def resp(*args) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        arg = arg if isinstance(arg, bytes) else str(arg).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(arg), arg))
    return b"".join(out)


def moving_keys(prefix: str, count: int):
    """The first `count` keys prefix0, prefix1, ... that hash into MOVING."""
    i = 0
    while count:
        key = f"{prefix}{i}".encode()
        i += 1
        if key_slot(key) in MOVING:
            yield key
            count -= 1


def generate(keys: int, path: str):
    rng = random.Random(1)
    with open(path, "wb") as out:
        for i, key in enumerate(moving_keys("m:", keys)):
            members = [rng.randbytes(4).hex() for _ in range(3)]
            match i % 5:
                case 0:
                    command = resp(b"SET", key, rng.randbytes(16).hex())
                case 1:
                    fields = [x for n, m in enumerate(members) for x in (f"f{n}", m)]
                    command = resp(b"HSET", key, *fields)
                case 2:
                    command = resp(b"SADD", key, *members)
                case 3:
                    command = resp(b"ZADD", key, *[x for n, m in enumerate(members) for x in (n, m)])
                case _:
                    command = resp(b"RPUSH", key, *members)
            out.write(command)


class ReplyError(str):
    pass


class Connection:
    """A blocking RESP connection, no more than the probe needs."""

    def __init__(self, address: str):
        host, port = address.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=REPLY_TIMEOUT)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader = self.sock.makefile("rb")

    def call(self, *commands):
        """Sends the commands at once; returns the last one's reply."""
        self.sock.sendall(b"".join(resp(*c) for c in commands))
        replies = [self.reply() for _ in commands]
        return replies[-1]

    def reply(self):
        line = self.reader.readline()
        if not line:
            raise ConnectionError("connection closed")
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            return ReplyError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self.reader.read(n + 2)[:-2]
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.reply() for _ in range(n)]
        raise ConnectionError(f"unexpected reply {line!r}")


class ClusterClient:
    def __init__(self, address: str):
        self.connections = {}
        self.slots = [address] * 16384
        self.refresh(address)

    def connection(self, address):
        if address not in self.connections:
            self.connections[address] = Connection(address)
        return self.connections[address]

    def refresh(self, address):
        """Takes the slot map of one node, as clients do after MOVED."""
        for entry in self.connection(address).call((b"CLUSTER", b"SLOTS")) or []:
            start, end, (host, port, *_) = entry[0], entry[1], entry[2]
            owner = f"{host.decode()}:{port}"
            self.slots[start : end + 1] = [owner] * (end - start + 1)

    def execute(self, *args):
        """Runs one command wherever the cluster sends it; returns the
        reply and the redirections seen."""
        slot = key_slot(args[1])
        address, asking, flags = self.slots[slot], False, 0
        for _ in range(1000):
            command = [args] if not asking else [(b"ASKING",), args]
            try:
                reply = self.connection(address).call(*command)
            except OSError as e:
                self.connections.pop(address, None)
                return ReplyError(f"connection to {address}: {e}"), flags | ERROR
            asking = False
            if isinstance(reply, ReplyError):
                word, *rest = reply.split()
                if word == "MOVED":
                    address = rest[1]
                    flags |= MOVED
                    self.refresh(address)
                    self.slots[slot] = address
                    continue
                if word == "ASK":
                    address, asking = rest[1], True
                    flags |= ASK
                    continue
                if word == "TRYAGAIN":
                    flags |= TRYAGAIN
                    time.sleep(0.001)
                    continue
                return reply, flags | ERROR
            return reply, flags
        return ReplyError("redirected 1000 times"), flags | ERROR


def probe(port: str, out: str):
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    client = ClusterClient(f"127.0.0.1:{port}")
    keys = list(moving_keys("probe:", PROBE_KEYS))
    expected = {}
    for key in keys:
        reply, _ = client.execute(b"SET", key, b"0")
        assert reply == "OK", reply
        expected[key] = b"0"
    print("ready", flush=True)
    rng = random.Random(2)
    log, errors, counter = [], [], 0
    while not stop:
        counter += 1
        key = rng.choice(keys)
        value = str(counter).encode()
        started = time.monotonic()
        reply, flags = client.execute(b"SET", key, value)
        log.append((started, time.monotonic() - started, flags, "SET"))
        if reply == "OK":
            expected[key] = value
        else:
            errors.append(f"SET {key.decode()}: {reply}")
        key = rng.choice(keys)
        started = time.monotonic()
        reply, flags = client.execute(b"GET", key)
        if reply != expected[key] and not flags & ERROR:
            flags |= ERROR
            reply = f"read {reply!r}, the last value SET was {expected[key]!r}"
        log.append((started, time.monotonic() - started, flags, "GET"))
        if flags & ERROR:
            errors.append(f"GET {key.decode()}: {reply}")
    with open(out, "w") as f:
        json.dump({"log": log, "errors": errors}, f)


def dump_bytes(port):
    """The bytes of every key's name and DUMP payload: what Redis's MIGRATE
    carries."""
    con = Connection(f"127.0.0.1:{port}")
    total, cursor = 0, b"0"
    while True:
        cursor, keys = con.call((b"SCAN", cursor, b"COUNT", b"1000"))
        if keys:
            con.sock.sendall(b"".join(resp(b"DUMP", key) for key in keys))
            total += sum(len(key) + len(con.reply()) for key in keys)
        if cursor == b"0":
            break
    print(total)


def info(address, section):
    fields = {}
    text = Connection(address).call((b"INFO", section.encode())).decode()
    for line in text.splitlines():
        if ":" in line:
            name, value = line.split(":", 1)
            fields[name] = value
    return fields


def set_calls(addresses):
    """SETs executed on these nodes so far (redirected ones excluded)."""
    total = 0
    for address in addresses:
        stats = info(address, "commandstats").get("cmdstat_set", "calls=0")
        total += int(stats.split(",")[0].split("=")[1])
    return total


def percentiles(latencies):
    if not latencies:
        return {"ops": 0, "p50": 0.0, "p99": 0.0, "max": 0.0}
    ordered = sorted(latencies)

    def at(p):
        return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))] * 1000

    return {"ops": len(ordered), "p50": at(50), "p99": at(99), "max": ordered[-1] * 1000}


def wait_line(process, expected, limit):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if line.strip() == expected:
            return
        if not line and process.poll() is not None:
            break
    sys.exit(f"{process.args} did not print {expected!r}")


def stop(process, limit=30):
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(limit)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def run(source, destination, out, reshard):
    nodes = [f"127.0.0.1:{source}", f"127.0.0.1:{destination}"]
    probe_log = out + ".probe"
    prober = subprocess.Popen(
        [sys.executable, __file__, "probe", source, probe_log], stdout=subprocess.PIPE, text=True
    )
    wait_line(prober, "ready", 60)
    bench_command = [
        "redis-benchmark", "--cluster", "-h", "127.0.0.1", "-p", source, "-t", "set",
        "-n", "2000000000", "-c", os.environ.get("CLIENTS", "50"),
        "-d", os.environ.get("DATA_SIZE", "64"),
    ]  # fmt: skip
    bench = subprocess.Popen(bench_command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(BENCH_WARMUP)
        baseline = (time.monotonic(), set_calls(nodes))
        time.sleep(BASELINE_SECONDS)
        before = (time.monotonic(), set_calls(nodes))
        source_keys = int(Connection(nodes[0]).call((b"DBSIZE",)))
        started = time.monotonic()
        resharded = subprocess.run(
            reshard, capture_output=True, text=True, timeout=RESHARD_LIMIT, check=False
        )
        ended = time.monotonic()
        after = (ended, set_calls(nodes))
        if resharded.returncode != 0:
            sys.exit(f"{reshard} failed:\n{resharded.stdout}\n{resharded.stderr}")
        time.sleep(1)
        bench_alive = bench.poll() is None
    finally:
        stop(bench)
        stop(prober)
    with open(probe_log) as f:
        probed = json.load(f)
    log = probed["log"]

    def bench_rate(a, b):
        probe_sets = sum(1 for t, _, _, op in log if op == "SET" and a[0] <= t < b[0])
        return (b[1] - a[1] - probe_sets) / (b[0] - a[0])

    during = [(t, lat, flags) for t, lat, flags, _ in log if started <= t <= ended]
    redirections = [(t, lat) for t, lat, flags in during if flags & (MOVED | ASK | TRYAGAIN)]
    redirected = [t for t, _ in redirections]
    cut_over = []
    for t, lat, _ in during:
        i = bisect.bisect_left(redirected, t - CUT_OVER_MARGIN)
        if i < len(redirected) and redirected[i] <= t + CUT_OVER_MARGIN:
            cut_over.append(lat)
    cut_over_span = 0.0
    if redirected:
        cut_over_span = redirected[-1] - redirected[0] + 2 * CUT_OVER_MARGIN
    figures = {
        "seconds": ended - started,
        "source_keys": source_keys,
        "source_keys_after": int(Connection(nodes[0]).call((b"DBSIZE",))),
        "destination_keys_after": int(Connection(nodes[1]).call((b"DBSIZE",))),
        "bench_rps_before": bench_rate(baseline, before),
        "bench_rps_during": bench_rate(before, after),
        "bench_alive": bench_alive,
        "probe_whole": percentiles([lat for _, lat, _ in during]),
        "probe_cut_over": percentiles(cut_over),
        "probe_redirected": percentiles([lat for _, lat in redirections]),
        "cut_over_span": cut_over_span,
        "moved": sum(1 for _, _, flags in during if flags & MOVED),
        "ask": sum(1 for _, _, flags in during if flags & ASK),
        "tryagain": sum(1 for _, _, flags in during if flags & TRYAGAIN),
        "errors": probed["errors"],
    }
    # RedRock's tool ends with what CLUSTER INFO's migrating_keys and
    # migrating_bytes said at the hand-overs: "done: N slots moved
    # (K keys, X.Y MB) in T s".
    for line in resharded.stdout.splitlines():
        if line.startswith("done: ") and " moved (" in line:
            words = line.split(" moved (", 1)[1].split()
            figures["tool_keys"] = int(words[0])
            figures["tool_bytes"] = int(float(words[2]) * 1e6)
    with open(out, "w") as f:
        json.dump(figures, f)


def report(redis_path, redrock_path, redis_bytes):
    with open(redis_path) as f:
        redis = json.load(f)
    with open(redrock_path) as f:
        redrock = json.load(f)

    def row(name, a, b, fmt="{:,.0f}", ratio=True):
        r = f"{b / a:.2f}x" if ratio and a else "-"
        print(f"{name:<52} {fmt.format(a):>14} {fmt.format(b):>14} {r:>7}")

    print(f"{'ratio: redrock / redis-server':<52} {'redis-server':>14} {'redrock':>14} {'ratio':>7}")
    redis["moved_bytes"], redrock["moved_bytes"] = redis_bytes, redrock["tool_bytes"]
    row("keys (source DBSIZE at the start)", redis["source_keys"], redrock["source_keys"], ratio=False)
    row("bytes", redis["moved_bytes"], redrock["moved_bytes"], ratio=False)
    print(
        "  (Redis: keys and DUMP payloads, what MIGRATE carries; "
        "RedRock: migrating_bytes, the transfer records)"
    )
    row("seconds", redis["seconds"], redrock["seconds"], "{:.1f}")
    row("keys/s", *(side["source_keys"] / side["seconds"] for side in (redis, redrock)))
    row(
        "MB/s",
        *(side["moved_bytes"] / side["seconds"] / 1e6 for side in (redis, redrock)),
        "{:.1f}",
        ratio=False,
    )
    print(f"  redrock CLUSTER INFO migrating_keys: {redrock['tool_keys']:,}")
    row("benchmark SET/s before", redis["bench_rps_before"], redrock["bench_rps_before"])
    row("benchmark SET/s during", redis["bench_rps_during"], redrock["bench_rps_during"])
    row(
        "  during / before",
        redis["bench_rps_during"] / redis["bench_rps_before"],
        redrock["bench_rps_during"] / redrock["bench_rps_before"],
        "{:.2f}",
        ratio=False,
    )
    for name, title in [
        ("probe_whole", "probe, whole move"),
        ("probe_cut_over", f"probe, cut-over (within {CUT_OVER_MARGIN} s of a redirection)"),
        ("probe_redirected", "probe, redirected operations"),
    ]:
        row(f"{title}: ops", redis[name]["ops"], redrock[name]["ops"], ratio=False)
        for p in ("p50", "p99", "max"):
            row(f"  {p} ms", redis[name][p], redrock[name][p], "{:.2f}")
    row("cut-over span, s (first to last redirection + 1 s)", redis["cut_over_span"],
        redrock["cut_over_span"], "{:.1f}", ratio=False)  # fmt: skip
    for kind in ("moved", "ask", "tryagain"):
        row(f"probe operations redirected by {kind.upper()}", redis[kind], redrock[kind], ratio=False)
    failed = False
    for label, side in (("redis-server", redis), ("redrock", redrock)):
        print(
            f"{label}: keys after the move: source {side['source_keys_after']:,}, "
            f"destination {side['destination_keys_after']:,}; "
            f"probe errors: {len(side['errors'])}"
        )
        for error in side["errors"][:10]:
            print(f"  {error}")
        if not side["bench_alive"]:
            print(f"  {label}: redis-benchmark exited during the move")
        failed |= bool(side["errors"]) or not side["bench_alive"] or side["source_keys_after"] != 0
    if failed:
        sys.exit(1)


def main(argv):
    match argv:
        case ["generate", keys, path]:
            generate(int(keys), path)
        case ["probe", port, out]:
            probe(port, out)
        case ["run", source, destination, out, "--", *reshard]:
            run(source, destination, out, reshard)
        case ["dump-bytes", port]:
            dump_bytes(port)
        case ["report", redis_path, redrock_path, redis_bytes]:
            report(redis_path, redrock_path, int(redis_bytes))
        case _:
            sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
