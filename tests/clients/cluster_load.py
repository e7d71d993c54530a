#!/usr/bin/env python3
"""Continuous writes of every type through redis-py's RedisCluster, each
acknowledgement recorded, while the cluster's slots move.

    python3 tests/clients/cluster_load.py PORT[,PORT...] WRITERS KEYS DEADLINE_MS

Starts WRITERS threads, each with its own RedisCluster (seeded with the
nodes on 127.0.0.1:PORT...) and its own keys `py<N>:<kind>:<i>` (KEYS of
each kind), and writes until a line or end of file arrives on standard
input. Then it prints what the cluster must hold, one key a line:

    key TAB type TAB pexpiretime TAB contents

(the format of tests/cluster_scaling_clients.rs, which runs it and writes
the same model from the `redis` crate's cluster client), then a line
`# writes N retries R`, and exits 0. The model of step `seq` of a writer:

    seq % 6 = 0  SET  <str:i> v<seq>, with PXAT DEADLINE_MS when i % 4 == 0
              1  INCR <cnt:i>
              2  HSET <hash:i> f<seq % 5> v<seq>, or HINCRBY <hash:i> n 1
              3  SADD <set:i> m<seq>
              4  ZADD <zset:i> <seq> m<(seq // 6) % 8>
              5  RPUSH <list:i> v<seq>
    with i = (seq // 6) * 7 % KEYS; keys of other kinds with i % 4 == 0
    get PEXPIREAT DEADLINE_MS once they exist.

Errors a client may retry (connection lost or refused, timeouts, TRYAGAIN,
CLUSTERDOWN; redis-py follows MOVED and ASK itself) are retried and
counted; a write whose outcome they leave unknown and that must not be
applied twice (INCR, HINCRBY, RPUSH) is looked up first. Any other error
ends the run with exit status 1.
"""

import os
import sys
import threading
import time
import traceback

from redis.cluster import ClusterNode, RedisCluster
from redis.exceptions import (
    ClusterDownError,
    ConnectionError,
    TimeoutError,
    TryAgainError,
)

RETRYABLE = (ConnectionError, TimeoutError, TryAgainError, ClusterDownError)
# A write retried this long in vain fails the run.
RETRY_LIMIT_S = 30
SOCKET_TIMEOUT_S = 30
KINDS = ("str", "cnt", "hash", "set", "zset", "list")


class Failure(Exception):
    pass


class Writer(threading.Thread):
    def __init__(self, number, nodes, keys, deadline_ms, stop):
        super().__init__(daemon=True)
        self.prefix = f"py{number}"
        self.keys = keys
        self.deadline_ms = deadline_ms
        self.stop = stop
        self.client = RedisCluster(
            startup_nodes=nodes,
            socket_timeout=SOCKET_TIMEOUT_S,
            socket_connect_timeout=SOCKET_TIMEOUT_S,
            decode_responses=True,
        )
        # key -> what the cluster must hold: str/cnt a value, hash a dict,
        # set a set, zset a dict member -> score, list a list.
        self.model = {}
        self.expiring = set()
        self.writes = 0
        self.retries = 0

    def run(self):
        try:
            seq = 0
            while not self.stop.is_set():
                self.step(seq)
                seq += 1
        except Exception:
            # Fail at once: the test sees the exit while it still runs.
            print(f"{self.prefix}: {traceback.format_exc()}", file=sys.stderr)
            sys.stderr.flush()
            os._exit(1)

    def retried(self, call):
        """call() until it returns, retrying the errors a client may."""
        give_up = time.monotonic() + RETRY_LIMIT_S
        while True:
            try:
                return call()
            except RETRYABLE as e:
                self.retries += 1
                if time.monotonic() > give_up:
                    raise Failure(f"still failing after {RETRY_LIMIT_S}s: {e!r}")
                time.sleep(0.05)

    def once(self, write, applied):
        """A write that must not run twice: after an error that leaves its
        outcome unknown, applied() tells whether it took effect."""
        give_up = time.monotonic() + RETRY_LIMIT_S
        while True:
            try:
                return write()
            except RETRYABLE as e:
                self.retries += 1
                if time.monotonic() > give_up:
                    raise Failure(f"still failing after {RETRY_LIMIT_S}s: {e!r}")
                time.sleep(0.05)
                if self.retried(applied):
                    return None

    def step(self, seq):
        kind = KINDS[seq % 6]
        i = (seq // 6) * 7 % self.keys
        key = f"{self.prefix}:{kind}:{i}"
        r = self.client
        model = self.model
        if kind == "str":
            value = f"v{seq}"
            if i % 4 == 0:
                self.retried(lambda: r.set(key, value, pxat=self.deadline_ms))
                self.expiring.add(key)
            else:
                self.retried(lambda: r.set(key, value))
            model[key] = value
        elif kind == "cnt":
            count = int(model.get(key, 0))
            self.once(lambda: r.incr(key), lambda: self.counter(r.get(key), count))
            model[key] = str(count + 1)
        elif kind == "hash":
            fields = model.setdefault(key, {})
            if (seq // 6) % 2 == 0:
                field, value = f"f{seq % 5}", f"v{seq}"
                self.retried(lambda: r.hset(key, field, value))
                fields[field] = value
            else:
                count = int(fields.get("n", 0))
                self.once(
                    lambda: r.hincrby(key, "n", 1),
                    lambda: self.counter(r.hget(key, "n"), count),
                )
                fields["n"] = str(count + 1)
        elif kind == "set":
            member = f"m{seq}"
            self.retried(lambda: r.sadd(key, member))
            model.setdefault(key, set()).add(member)
        elif kind == "zset":
            member = f"m{(seq // 6) % 8}"
            self.retried(lambda: r.zadd(key, {member: seq}))
            model.setdefault(key, {})[member] = seq
        else:
            items = model.setdefault(key, [])
            value = f"v{seq}"
            self.once(
                lambda: r.rpush(key, value),
                lambda: self.pushed(r, key, items, value),
            )
            items.append(value)
        self.writes += 1
        if kind != "str" and i % 4 == 0 and key not in self.expiring:
            self.retried(lambda: r.pexpireat(key, self.deadline_ms))
            self.expiring.add(key)
            self.writes += 1

    @staticmethod
    def counter(stored, count):
        """Whether an increment of `count` was applied, from the value read."""
        stored = int(stored or 0)
        if stored not in (count, count + 1):
            raise Failure(f"counter at {stored}, acknowledged {count}")
        return stored == count + 1

    @staticmethod
    def pushed(r, key, items, value):
        length = r.llen(key)
        if length == len(items):
            return False
        if length == len(items) + 1 and r.lindex(key, -1) == value:
            return True
        raise Failure(f"{key}: {length} items, acknowledged {len(items)}")

    def dump(self):
        """The model, one line per key (see the module's doc)."""
        for key, value in sorted(self.model.items()):
            kind = key.split(":")[1]
            if kind in ("str", "cnt"):
                kind, contents = "string", value
            elif kind == "hash":
                contents = ",".join(f"{f}={v}" for f, v in sorted(value.items()))
            elif kind == "set":
                contents = ",".join(sorted(value))
            elif kind == "zset":
                contents = ",".join(f"{m}={s}" for m, s in sorted(value.items()))
            else:
                contents = ",".join(value)
            expires = self.deadline_ms if key in self.expiring else -1
            yield f"{key}\t{kind}\t{expires}\t{contents}"


def main():
    ports, writers, keys, deadline_ms = sys.argv[1:5]
    nodes = [ClusterNode("127.0.0.1", int(p)) for p in ports.split(",")]
    stop = threading.Event()
    threads = [
        Writer(n, nodes, int(keys), int(deadline_ms), stop) for n in range(int(writers))
    ]
    for thread in threads:
        thread.start()
    sys.stdin.readline()
    stop.set()
    for thread in threads:
        thread.join(RETRY_LIMIT_S * 2)
        if thread.is_alive():
            print(f"{thread.prefix}: did not stop", file=sys.stderr)
            sys.stderr.flush()
            # It hangs in a socket call: do not wait for it.
            os._exit(1)
    for thread in threads:
        for line in thread.dump():
            print(line)
    writes = sum(t.writes for t in threads)
    retries = sum(t.retries for t in threads)
    print(f"# writes {writes} retries {retries}")


if __name__ == "__main__":
    main()
