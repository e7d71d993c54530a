#!/usr/bin/env python3
"""Lua scripting as redis-py applications use it.

    python3 tests/clients/scripting.py PORT1 PORT2 PORT3

Runs against the servers on 127.0.0.1:PORT1..3 (which it empties), in
RESP2 and RESP3, and prints one line per result. tests/scripting_clients.rs
runs it against three redis-servers and three RedRocks and compares the two
outputs; the script also checks what must hold whatever the server and
exits non-zero otherwise:

- register_script: EVALSHA, and after SCRIPT FLUSH the NOSCRIPT fallback
  (SCRIPT LOAD, then EVALSHA again), alone and in pipelines;
- redis-py's Lock (SET NX PX to acquire, Lua scripts to extend and
  release) taken by 16 threads in turn: each holder checks that a
  "holder" key is free, claims it, extends the lock, increments a counter
  with GET then SET, and gives the key back; no two holders ever overlap
  and no increment is lost;
- Redlock over the three servers: a lock is held when SET NX PX succeeded
  on a majority within its validity, and released everywhere with the
  compare-and-delete script; many threads, mutual exclusion checked in
  this process and by a counter incremented with GET then SET.
"""

import random
import sys
import threading
import time
import uuid

import redis
from redis.exceptions import LockError, LockNotOwnedError

LOCK_THREADS = 16
LOCK_ROUNDS = 12
REDLOCK_THREADS = 8
REDLOCK_ROUNDS = 12
# Every wait is bounded: socket reads, lock waits, thread joins.
SOCKET_TIMEOUT = 30
JOIN_TIMEOUT = 120

failures = []


def fail(message):
    print(message, file=sys.stderr, flush=True)
    failures.append(message)


def show(result):
    """A result as text; an error as its type and message."""
    if isinstance(result, Exception):
        return f"{type(result).__name__}: {result}"
    return repr(result)


def attempt(f):
    try:
        return show(f())
    except Exception as e:  # noqa: BLE001 - the error is the result
        return show(e)


def client(port, protocol):
    return redis.Redis(
        port=port,
        protocol=protocol,
        decode_responses=True,
        socket_timeout=SOCKET_TIMEOUT,
        socket_connect_timeout=SOCKET_TIMEOUT,
    )


def join_all(threads, what):
    deadline = time.monotonic() + JOIN_TIMEOUT
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    if any(t.is_alive() for t in threads):
        fail(f"{what}: threads still running after {JOIN_TIMEOUT}s")
        print("\n".join(failures), file=sys.stderr)
        # Threads that hang cannot be joined; leave without them.
        import os

        os._exit(1)


# ---------------------------------------------------------------------------
# register_script and the script commands redis-py wraps.


def scripts(r, out):
    incr = r.register_script(
        "local v = redis.call('INCRBY', KEYS[1], ARGV[1]) return {v, KEYS[1], ARGV[2]}"
    )
    out("sha", incr.sha)
    out("first call", attempt(lambda: incr(keys=["c"], args=[5, "x"])))
    out("exists", r.script_exists(incr.sha))
    out("flush", r.script_flush())
    out("exists after flush", r.script_exists(incr.sha))
    # EVALSHA answers NOSCRIPT; redis-py loads the script and calls again.
    out("call after flush", attempt(lambda: incr(keys=["c"], args=[2, "y"])))
    out("exists after call", r.script_exists(incr.sha, "0" * 40))
    out("raw evalsha of a flushed script", attempt(lambda: (r.script_flush(), r.evalsha(incr.sha, 1, "c", 1, "z"))))

    # In a pipeline, redis-py loads the pipeline's scripts first.
    r.script_flush()
    p = r.pipeline(transaction=False)
    incr(keys=["c"], args=[10, "p"], client=p)
    p.get("c")
    out("pipeline", attempt(p.execute))
    r.script_flush()
    p = r.pipeline(transaction=True)
    incr(keys=["c"], args=[100, "t"], client=p)
    incr(keys=["d"], args=[1, "t"], client=p)
    p.mget("c", "d")
    out("transaction", attempt(p.execute))

    # What a script returns, as redis-py sees it.
    conversions = r.register_script(
        "return {1, 'two', 3.99, true, false, {ok='fine'}, {err='ERRLIKE inside'}, {4, {5}}}"
    )
    out("conversions", attempt(lambda: [show(x) for x in conversions()]))
    out("nil stops a table", attempt(lambda: r.eval("return {1, 2, nil, 4}", 0)))
    out("status", attempt(lambda: r.eval("return redis.status_reply('FINE')", 0)))
    out("error_reply", attempt(lambda: r.eval("return redis.error_reply('MYERR custom')", 0)))
    r.set("s", "text")
    out("pcall error", attempt(lambda: r.eval(
        "local e = redis.pcall('INCR', KEYS[1]) return {type(e), e['err']}", 1, "s")))
    out("keys and args", attempt(lambda: r.eval(
        "return {#KEYS, #ARGV, KEYS[2], ARGV[3]}", 2, "k1", "k2", "a1", "a2", "a3")))
    out("hash round trip", attempt(lambda: r.eval(
        "redis.call('HSET', KEYS[1], 'f', ARGV[1], 'g', ARGV[2]) return redis.call('HGETALL', KEYS[1])",
        1, "h", "1", "2")))

    # The read-only variants.
    out("eval_ro", attempt(lambda: r.eval_ro("return redis.call('GET', KEYS[1])", 1, "c")))
    out("evalsha_ro", attempt(lambda: r.evalsha_ro(r.script_load("return redis.call('GET', KEYS[1])"), 1, "c")))
    try:
        r.eval_ro("return redis.call('SET', KEYS[1], 'no')", 1, "c")
        out("eval_ro write: no error")
    except redis.ResponseError as e:
        # The message names the command and the script; compare its start.
        out("eval_ro write:", type(e).__name__, str(e).split(" script:")[0])
    out("c is", r.get("c"))

    # Functions.
    library = "\n".join([
        "#!lua name=pylib",
        "redis.register_function('bump', function(keys, args)",
        "  return redis.call('INCRBY', keys[1], args[1])",
        "end)",
        "redis.register_function{function_name='peek', flags={'no-writes'},",
        "  callback=function(keys, args) return redis.call('GET', keys[1]) end}",
    ])
    out("function load", attempt(lambda: r.function_load(library)))
    out("function load again", attempt(lambda: r.function_load(library)))
    out("function load replace", attempt(lambda: r.function_load(library, replace=True)))
    out("fcall", attempt(lambda: r.fcall("bump", 1, "f", 7)))
    out("fcall_ro", attempt(lambda: r.fcall_ro("peek", 1, "f")))
    out("fcall_ro of a writer", attempt(lambda: r.fcall_ro("bump", 1, "f", 1)))
    out("function list", attempt(lambda: sorted(
        f["name"] if isinstance(f, dict) else f[1]
        for lib in r.function_list(library="pylib")
        for f in (lib["functions"] if isinstance(lib, dict) else lib[5]))))
    out("function delete", attempt(lambda: r.function_delete("pylib")))
    out("fcall after delete", attempt(lambda: r.fcall("bump", 1, "f", 7)))


# ---------------------------------------------------------------------------
# redis-py's Lock under contention.


def locks(port, protocol, r, out):
    # Single-threaded semantics first.
    a = r.lock("lk", timeout=10)
    b = r.lock("lk", timeout=10)
    out("lock acquire", a.acquire(blocking=False))
    out("second acquire", b.acquire(blocking=False))
    out("owned", a.owned(), b.owned(), a.locked())
    ttl = r.pttl("lk")
    out("ttl within timeout", 0 < ttl <= 10000)
    out("extend", attempt(lambda: a.extend(20)))
    out("ttl extended", 10000 < r.pttl("lk") <= 30000)
    out("extend replace", attempt(lambda: a.extend(5, replace_ttl=True)))
    out("ttl replaced", 0 < r.pttl("lk") <= 5000)
    out("reacquire", attempt(a.reacquire))
    out("foreign release", attempt(b.release))
    out("foreign extend", attempt(lambda: b.extend(5)))
    out("release", attempt(a.release))
    out("release again", attempt(a.release))
    out("exists after release", r.exists("lk"))
    out("acquire after release", b.acquire(blocking=False))
    b.release()

    # Contention: every holder claims "holder" (it must be free), extends
    # the lock, increments "counter" in two steps and gives "holder" back.
    r.delete("holder", "counter", "contended")
    overlaps = []
    errors = []
    acquisitions = [0]
    tally = threading.Lock()

    def worker(n):
        me = f"t{n}"
        con = client(port, protocol)
        for _ in range(LOCK_ROUNDS):
            lock = con.lock("contended", timeout=10, sleep=0.002, blocking_timeout=60)
            try:
                if not lock.acquire():
                    errors.append(f"{me}: lock not acquired within 60s")
                    return
                if not con.set("holder", me, nx=True):
                    overlaps.append(f"{me} found holder {con.get('holder')}")
                lock.extend(10)
                value = int(con.get("counter") or 0)
                con.set("counter", value + 1)
                if con.get("holder") != me:
                    overlaps.append(f"{me} lost holder to {con.get('holder')}")
                con.delete("holder")
                lock.release()
                with tally:
                    acquisitions[0] += 1
            except (LockError, redis.RedisError) as e:
                errors.append(f"{me}: {show(e)}")
                return

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(LOCK_THREADS)]
    for t in threads:
        t.start()
    join_all(threads, "lock contention")
    counter = int(r.get("counter") or 0)
    out("lock contention", "overlaps:", len(overlaps), "errors:", len(errors),
        "counter:", counter, "acquisitions:", acquisitions[0])
    for problem in overlaps + errors:
        fail(f"RESP{protocol} lock: {problem}")
    if counter != LOCK_THREADS * LOCK_ROUNDS:
        fail(f"RESP{protocol} lock: counter {counter}, expected {LOCK_THREADS * LOCK_ROUNDS}")
    out("lock left behind", r.exists("contended", "holder"))


# ---------------------------------------------------------------------------
# Redlock over three servers.

UNLOCK = """
if redis.call("get", KEYS[1]) == ARGV[1] then
    return redis.call("del", KEYS[1])
else
    return 0
end
"""


class Redlock:
    """The Redlock algorithm: SET NX PX on every instance, held when a
    majority said yes within the lock's validity; released everywhere with
    the compare-and-delete script (EVALSHA through register_script)."""

    TTL_MS = 10000
    DRIFT_MS = 20

    def __init__(self, instances):
        self.instances = instances
        self.unlock = [r.register_script(UNLOCK) for r in instances]
        self.quorum = len(instances) // 2 + 1

    def acquire(self, resource, deadline):
        while time.monotonic() < deadline:
            token = uuid.uuid4().hex
            start = time.monotonic()
            votes = 0
            for r in self.instances:
                try:
                    if r.set(resource, token, nx=True, px=self.TTL_MS):
                        votes += 1
                except redis.RedisError:
                    pass
            elapsed_ms = (time.monotonic() - start) * 1000
            validity = self.TTL_MS - elapsed_ms - self.DRIFT_MS
            if votes >= self.quorum and validity > 0:
                return token, validity
            self.release(resource, token)
            time.sleep(random.uniform(0, 0.005))
        return None, 0

    def release(self, resource, token):
        freed = 0
        for unlock in self.unlock:
            try:
                freed += unlock(keys=[resource], args=[token])
            except redis.RedisError:
                pass
        return freed


def redlock(ports, protocol, out):
    instances = [client(p, protocol) for p in ports]
    for r in instances:
        r.delete("redlock", "redlock:counter")
    dlm = Redlock(instances)

    # The script deletes only the caller's own lock.
    token, _ = dlm.acquire("redlock", time.monotonic() + 10)
    out("redlock acquired", token is not None)
    out("foreign release frees", dlm.release("redlock", "not-the-token"))
    out("still held on", sum(r.get("redlock") == token for r in instances))
    out("own release frees", dlm.release("redlock", token))
    out("left", sum(r.exists("redlock") for r in instances))

    # A minority holder: one instance already holds another token.
    instances[0].set("redlock", "other", px=10000)
    instances[1].set("redlock", "other", px=10000)
    token, _ = dlm.acquire("redlock", time.monotonic() + 0.2)
    out("redlock against a majority holder", token is not None)
    out("the holder keeps", [r.get("redlock") for r in instances])
    for r in instances:
        r.delete("redlock")

    inside = [0]
    overlaps = []
    errors = []
    acquisitions = [0]
    guard = threading.Lock()

    def worker(n):
        mine = [client(p, protocol) for p in ports]
        mylock = Redlock(mine)
        for _ in range(REDLOCK_ROUNDS):
            token, _ = mylock.acquire("redlock", time.monotonic() + 60)
            if token is None:
                errors.append(f"w{n}: no lock within 60s")
                return
            with guard:
                inside[0] += 1
                if inside[0] != 1:
                    overlaps.append(f"w{n} entered with {inside[0] - 1} other holder(s)")
                acquisitions[0] += 1
            try:
                value = int(mine[0].get("redlock:counter") or 0)
                time.sleep(random.uniform(0, 0.001))
                mine[0].set("redlock:counter", value + 1)
            except redis.RedisError as e:
                errors.append(f"w{n}: {show(e)}")
            with guard:
                inside[0] -= 1
            if mylock.release("redlock", token) < mylock.quorum:
                errors.append(f"w{n}: its release freed fewer than a majority")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(REDLOCK_THREADS)]
    for t in threads:
        t.start()
    join_all(threads, "redlock")
    counter = int(instances[0].get("redlock:counter") or 0)
    out("redlock contention", "overlaps:", len(overlaps), "errors:", len(errors),
        "counter:", counter, "acquisitions:", acquisitions[0])
    for problem in overlaps + errors:
        fail(f"RESP{protocol} redlock: {problem}")
    if counter != REDLOCK_THREADS * REDLOCK_ROUNDS:
        fail(f"RESP{protocol} redlock: counter {counter}, expected {REDLOCK_THREADS * REDLOCK_ROUNDS}")
    out("redlock left", sum(r.exists("redlock") for r in instances))


def run(ports, protocol):
    def out(*parts):
        print(f"RESP{protocol}", *parts, flush=True)

    r = client(ports[0], protocol)
    for port in ports:
        client(port, protocol).flushall()
    r.script_flush()
    r.function_flush()
    scripts(r, out)
    locks(ports[0], protocol, r, out)
    redlock(ports, protocol, out)


def main():
    ports = [int(p) for p in sys.argv[1:]]
    if len(ports) != 3:
        sys.exit("usage: scripting.py PORT1 PORT2 PORT3")
    for protocol in (2, 3):
        run(ports, protocol)
    if failures:
        print(f"{len(failures)} failure(s)", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
