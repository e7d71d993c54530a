#!/usr/bin/env python3
"""Redis Sentinel fails a master over, and redis-py's Sentinel client keeps
writing through it.

    python3 tests/clients/sentinel.py MASTER_PORT MASTER_PID REPLICA_PORT REPLICA_PORT

Given a master on 127.0.0.1:MASTER_PORT (process MASTER_PID) and two
replicas already replicating from it, the script starts three real
redis-sentinel processes (quorum 2) that monitor it, and waits until each
sees both replicas and the two other sentinels. Writer threads then write
through `Sentinel.master_for`, each write a SET followed by `WAIT 1` on the
same connection; a write counts as acknowledged when WAIT answers 1 or
more. After ACKNOWLEDGED_BEFORE_KILL such writes the master is killed with
SIGKILL; the writers retry on every error until the sentinels have promoted
a replica, and go on until writes are acknowledged by the new master's
replica too. Then every acknowledged write must be on the new master, the
other replica must replicate from the new master (link up) and hold them
all, and every sentinel must have ended the failover with the other
replica following the new master. Prints the figures; exits non-zero on any loss or failed check.
The sentinels are killed in every case; their logs (loglevel verbose) are
printed when something failed.
"""

import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel

SERVICE = "mymaster"
# More than the second a sentinel waits between attempts to connect to an
# instance: with 1000, a sentinel that switches to the new master right
# after an attempt on the dead one can find the new master "down" before
# it could even connect, and fail it over too (seen with redis-server).
DOWN_AFTER_MS = 2000
FAILOVER_TIMEOUT_MS = 10000
WRITERS = 4
ACKNOWLEDGED_BEFORE_KILL = 400
ACKNOWLEDGED_AFTER_FAILOVER = 200
WAIT_TIMEOUT_MS = 2000
# Every wait of the script ends within this.
BOUND = 60


class Failure(Exception):
    pass


def wait_for(what, probe, bound=BOUND):
    """Polls `probe` until it returns something true; returns it."""
    deadline = time.monotonic() + bound
    while True:
        try:
            got = probe()
        except (redis.RedisError, OSError):
            got = None
        if got:
            return got
        if time.monotonic() > deadline:
            raise Failure(f"{what}: not within {bound} s")
        time.sleep(0.1)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_sentinels(directory, master_port):
    sentinels = []
    for n in range(3):
        port = free_port()
        config = os.path.join(directory, f"sentinel-{n}.conf")
        with open(config, "w") as f:
            f.write(
                f"port {port}\n"
                "bind 127.0.0.1\n"
                "daemonize no\n"
                f"dir {directory}\n"
                f"logfile {directory}/sentinel-{n}.log\n"
                "loglevel verbose\n"
                "sentinel resolve-hostnames no\n"
                "sentinel announce-hostnames no\n"
                f"sentinel monitor {SERVICE} 127.0.0.1 {master_port} 2\n"
                f"sentinel down-after-milliseconds {SERVICE} {DOWN_AFTER_MS}\n"
                f"sentinel failover-timeout {SERVICE} {FAILOVER_TIMEOUT_MS}\n"
                f"sentinel parallel-syncs {SERVICE} 1\n"
            )
        process = subprocess.Popen(
            ["redis-sentinel", config],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        sentinels.append((port, process))
    return sentinels


def sentinel_ready(port):
    """Whether this sentinel sees both replicas as healthy and knows the
    two other sentinels."""
    s = redis.Redis(port=port, socket_timeout=2, decode_responses=True)
    replicas = s.sentinel_slaves(SERVICE)
    others = s.sentinel_sentinels(SERVICE)
    healthy = [
        r for r in replicas
        if r["flags"] == "slave" and r["master-link-status"] == "ok"
    ]
    return len(healthy) == 2 and len(others) == 2


def info(port):
    return redis.Redis(port=port, socket_timeout=2, decode_responses=True).info("replication")


def process_gone(pid):
    """Whether the process has exited (gone, or a zombie not yet reaped)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


class Writes:
    """What the writer threads did, shared."""

    def __init__(self):
        self.lock = threading.Lock()
        self.acknowledged = {}  # key -> value, for WAIT >= 1
        self.acknowledged_after_kill = 0
        self.unacknowledged = 0  # WAIT answered 0: written, not waited for
        self.errors = 0
        self.unexpected = None  # a reply no write may get
        self.kill_time = None  # set once the master is gone
        self.first_after_kill = None  # when the new master took a write
        self.stop = threading.Event()
        self.changed = threading.Condition(self.lock)

    def record(self, started, key, value, replicas):
        """A write sent at `started` (time.monotonic()) succeeded; WAIT
        answered `replicas`."""
        now = time.monotonic()
        with self.lock:
            # Only a write sent after the master was gone went to a new one.
            after_kill = self.kill_time is not None and started > self.kill_time
            if after_kill and self.first_after_kill is None:
                self.first_after_kill = now
            if replicas >= 1:
                self.acknowledged[key] = value
                if after_kill:
                    self.acknowledged_after_kill += 1
            else:
                self.unacknowledged += 1
            self.changed.notify_all()


def writer(client, n, writes):
    i = 0
    while not writes.stop.is_set():
        key, value = f"w{n}:{i}", f"{n}:{i}:{'x' * 64}"
        i += 1
        started = time.monotonic()
        try:
            pipe = client.pipeline(transaction=False)
            pipe.set(key, value)
            pipe.wait(1, WAIT_TIMEOUT_MS)
            ok, replicas = pipe.execute()
        except redis.RedisError:
            with writes.lock:
                writes.errors += 1
            time.sleep(0.05)
            continue
        if ok is not True:
            writes.unexpected = f"SET {key} answered {ok!r}"
            break
        writes.record(started, key, value, replicas)


def wait_writes(writes, what, done, bound=BOUND):
    deadline = time.monotonic() + bound
    with writes.lock:
        while not done():
            left = deadline - time.monotonic()
            if left <= 0:
                raise Failure(f"{what}: not within {bound} s")
            writes.changed.wait(left)


def missing(port, expected):
    """The keys of `expected` that `port` does not hold with their value."""
    r = redis.Redis(port=port, socket_timeout=10, decode_responses=True)
    keys = sorted(expected)
    lost = []
    for start in range(0, len(keys), 500):
        chunk = keys[start:start + 500]
        for key, value in zip(chunk, r.mget(chunk)):
            if value != expected[key]:
                lost.append(key)
    return lost


def run(master_port, master_pid, replica_ports, directory):
    sentinels = start_sentinels(directory, master_port)
    try:
        started = time.monotonic()
        for port, _ in sentinels:
            wait_for(f"sentinel {port} sees both replicas and the other sentinels",
                     lambda: sentinel_ready(port))
        print(f"sentinels ready in {time.monotonic() - started:.1f} s", flush=True)

        sentinel = Sentinel(
            [("127.0.0.1", port) for port, _ in sentinels],
            socket_timeout=1,
            socket_connect_timeout=1,
        )
        address = sentinel.discover_master(SERVICE)
        if address != ("127.0.0.1", master_port):
            raise Failure(f"sentinels name {address} as the master")
        client = sentinel.master_for(
            SERVICE,
            socket_timeout=WAIT_TIMEOUT_MS / 1000 + 2,
            socket_connect_timeout=1,
            retry=Retry(NoBackoff(), 0),
            decode_responses=True,
        )

        writes = Writes()
        threads = [
            threading.Thread(target=writer, args=(client, n, writes), daemon=True)
            for n in range(WRITERS)
        ]
        for t in threads:
            t.start()
        try:
            wait_writes(writes, "writes acknowledged before the kill",
                        lambda: len(writes.acknowledged) >= ACKNOWLEDGED_BEFORE_KILL)
            os.kill(master_pid, signal.SIGKILL)
            wait_for("the master's exit", lambda: process_gone(master_pid), bound=10)
            with writes.lock:
                writes.kill_time = time.monotonic()
                acknowledged_before_kill = len(writes.acknowledged)
            print(f"killed the master (SIGKILL) after {acknowledged_before_kill} "
                  "acknowledged writes", flush=True)
            wait_writes(writes, "a write taken by a new master",
                        lambda: writes.first_after_kill is not None)
            wait_writes(writes, f"{ACKNOWLEDGED_AFTER_FAILOVER} writes acknowledged "
                        "after the failover",
                        lambda: writes.acknowledged_after_kill >= ACKNOWLEDGED_AFTER_FAILOVER)
        finally:
            writes.stop.set()
            for t in threads:
                t.join(timeout=WAIT_TIMEOUT_MS / 1000 + 10)
        if writes.unexpected:
            raise Failure(writes.unexpected)
        failover_seconds = writes.first_after_kill - writes.kill_time

        host, new_port = sentinel.discover_master(SERVICE)
        if new_port not in replica_ports:
            raise Failure(f"the new master {host}:{new_port} is not one of the replicas")
        role = info(new_port)["role"]
        if role != "master":
            raise Failure(f"the new master {new_port} has role {role}")
        other = next(p for p in replica_ports if p != new_port)
        lost = missing(new_port, writes.acknowledged)
        print(f"failover: {failover_seconds:.2f} s from SIGKILL to the first write "
              f"on the new master ({new_port})")
        print(f"writes acknowledged (WAIT 1 >= 1): {len(writes.acknowledged)} "
              f"({acknowledged_before_kill} before the kill, "
              f"{writes.acknowledged_after_kill} after); "
              f"not acknowledged: {writes.unacknowledged}; errors retried: {writes.errors}")
        print(f"acknowledged writes lost on the new master: {len(lost)}", flush=True)
        if lost:
            raise Failure(f"acknowledged writes lost on the new master: {lost[:10]}")

        def follows():
            fields = info(other)
            return (fields.get("role") == "slave"
                    and fields.get("master_port") == new_port
                    and fields.get("master_link_status") == "up")

        wait_for(f"the other replica {other} replicates from {new_port}", follows)
        # It may still be behind: it must catch up.
        try:
            wait_for(f"the other replica {other} holds every acknowledged write",
                     lambda: not missing(other, writes.acknowledged))
        except Failure:
            absent = missing(other, writes.acknowledged)
            raise Failure(f"{len(absent)} acknowledged writes missing on the other "
                          f"replica {other}: {absent[:10]}")
        stats = redis.Redis(port=new_port, decode_responses=True).info("stats")
        print(f"the other replica ({other}) follows the new master and holds every "
              f"acknowledged write; it resynced: {stats['sync_partial_ok']} partial, "
              f"{stats['sync_full']} full", flush=True)

        def failover_ended(port):
            s = redis.Redis(port=port, socket_timeout=2, decode_responses=True)
            state = s.sentinel_master(SERVICE)
            replicas = {r["port"]: r for r in s.sentinel_slaves(SERVICE)}
            follower = replicas.get(other, {})
            return (state["port"] == new_port and state["flags"] == "master"
                    and follower.get("flags") == "slave"
                    and follower.get("master-port") == new_port
                    and follower.get("master-link-status") == "ok")

        for port, _ in sentinels:
            wait_for(f"sentinel {port} ended the failover, {other} following {new_port}",
                     lambda: failover_ended(port))
        print("every sentinel ended the failover", flush=True)
    finally:
        for _, process in sentinels:
            process.kill()
            process.wait()


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    master_port, master_pid, *replica_ports = map(int, sys.argv[1:])
    with tempfile.TemporaryDirectory(prefix="sentinel-test-") as directory:
        try:
            run(master_port, master_pid, replica_ports, directory)
        except Failure as e:
            for name in sorted(os.listdir(directory)):
                if name.endswith(".log"):
                    with open(os.path.join(directory, name)) as f:
                        # Without the script's own connections.
                        lines = [line for line in f if " - Accepted " not in line
                                 and " - Client closed connection " not in line]
                    print(f"--- {name}\n{''.join(lines)}", file=sys.stderr)
            sys.exit(f"FAILED: {e}")


if __name__ == "__main__":
    main()
