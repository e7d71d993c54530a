#!/usr/bin/env python3
"""Transactions as redis-py applications use them.

    python3 tests/clients/transactions.py PORT

Runs against the server on 127.0.0.1:PORT (which it empties), in RESP2
and RESP3, and prints one line per result. tests/transactions.rs runs it
against redis-server and RedRock and compares the two outputs; the script
also checks what must hold whatever the server (the WATCH counter is
exact) and exits non-zero otherwise.
"""

import sys
import threading

import redis

THREADS = 8
INCREMENTS = 60


def show(result):
    """A result as text; an error as its type and message."""
    if isinstance(result, Exception):
        return f"{type(result).__name__}: {result}"
    return repr(result)


def run(port, protocol):
    def out(*parts):
        print(f"RESP{protocol}", *parts, flush=True)

    r = redis.Redis(port=port, protocol=protocol, decode_responses=True)
    other = redis.Redis(port=port, protocol=protocol, decode_responses=True)
    r.flushall()

    # pipeline(transaction=True): every command's result, in order.
    p = r.pipeline(transaction=True)
    p.set("a", 1).incr("a").incrbyfloat("a", 0.5).get("a")
    p.rpush("l", "x", "y").lpop("l").lrange("l", 0, -1)
    p.hset("h", mapping={"f": "v", "g": "w"}).hget("h", "f").hlen("h")
    p.zadd("z", {"m": 1.5, "n": 2}).zincrby("z", 2, "m").zrange("z", 0, -1, withscores=True)
    p.zscore("z", "n").zpopmin("z")
    p.sadd("s", "m").smembers("s").scard("s")
    p.exists("a", "l", "nosuch").delete("a").exists("a").ttl("l")
    out("pipeline", [show(x) for x in p.execute()])

    # A run-time error inside: execute() raises the first one, after the
    # whole transaction ran; raise_on_error=False returns it in place.
    p = r.pipeline(transaction=True)
    p.set("t", "text").incr("t").append("t", "!").get("t")
    try:
        p.execute()
        out("run-time error: none raised")
    except redis.ResponseError as e:
        out("run-time error:", type(e).__name__, str(e))
    out("after it:", r.get("t"))
    p = r.pipeline(transaction=True)
    p.set("t", "text").lpush("t", "x").incr("t").get("t")
    out("raise_on_error=False:", [show(x) for x in p.execute(raise_on_error=False)])

    # A queue-time error: EXECABORT, nothing ran.
    p = r.pipeline(transaction=True)
    p.set("q", 1).execute_command("NOSUCHCMD", "x").set("q2", 2)
    try:
        p.execute()
        out("queue-time error: none raised")
    except redis.ResponseError as e:
        out("queue-time error:", type(e).__name__, str(e))
    out("after it:", r.exists("q", "q2"))
    p = r.pipeline(transaction=True)
    p.execute_command("SET", "q")
    try:
        p.execute()
        out("arity error: none raised")
    except redis.ResponseError as e:
        out("arity error:", type(e).__name__, str(e))

    # WATCH: another client's write makes execute() raise WatchError; a
    # write to another key does not.
    for key, touched in (("w", "w"), ("w", "unrelated")):
        r.set("w", "start")
        with r.pipeline() as p:
            p.watch(key)
            seen = p.get(key)
            other.set(touched, "changed")
            p.multi()
            p.set(key, "mine")
            p.get(key)
            try:
                out("watch", touched, seen, p.execute())
            except redis.WatchError as e:
                out("watch", touched, seen, "WatchError", str(e))
        out("w is", r.get("w"))

    # Pipelines without transaction=False run as plain pipelines.
    p = r.pipeline(transaction=False)
    p.set("plain", 1).incr("plain").get("plain")
    out("plain pipeline", p.execute())

    # r.transaction(func, *watches): threads increment one counter with
    # WATCH retries; the total must be exact.
    r.set("counter", 0)
    retries = [0]
    lock = threading.Lock()

    def increment(pipe):
        value = int(pipe.get("counter"))
        pipe.multi()
        pipe.set("counter", value + 1)

    def worker():
        client = redis.Redis(port=port, protocol=protocol, decode_responses=True)
        for _ in range(INCREMENTS):
            attempts = [0]

            def counted(pipe):
                attempts[0] += 1
                increment(pipe)

            client.transaction(counted, "counter")
            with lock:
                retries[0] += attempts[0] - 1

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    final = int(r.get("counter"))
    out("counter", final)
    print(f"RESP{protocol} counter retries: {retries[0]}", file=sys.stderr)
    if final != THREADS * INCREMENTS:
        print(f"counter is {final}, expected {THREADS * INCREMENTS}", file=sys.stderr)
        sys.exit(1)

    # value_from_callable returns the function's value.
    def read_and_bump(pipe):
        value = pipe.get("counter")
        pipe.multi()
        pipe.incr("counter")
        return value

    out("value_from_callable", r.transaction(read_and_bump, "counter", value_from_callable=True))

    # Blocking commands inside a transaction answer at once.
    p = r.pipeline(transaction=True)
    p.blpop(["empty"], timeout=0).bzpopmin(["emptyz"], timeout=0).rpush("full", "e").blpop(["full"], timeout=0)
    out("blocking inside", [show(x) for x in p.execute()])


def main():
    port = int(sys.argv[1])
    for protocol in (2, 3):
        run(port, protocol)


if __name__ == "__main__":
    main()
