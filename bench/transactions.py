#!/usr/bin/env python3
"""MULTI/EXEC load generator for bench/transactions.sh.

    python3 bench/transactions.py PORT CLIENTS SECONDS disjoint|shared

Starts CLIENTS processes; each runs redis-py transactions
(pipeline(transaction=True): MULTI; INCR k; SET k2 v; EXEC) for SECONDS,
one at a time, and checks every EXEC reply. `disjoint`: each process has
its own keys; `shared`: every process uses the same two keys. Prints the
transactions per second of all processes together.
"""

import multiprocessing
import sys
import time

import redis


def worker(port, index, seconds, mode, start, results):
    r = redis.Redis(port=port)
    tag = "shared" if mode == "shared" else str(index)
    k, k2 = f"tx:{{{tag}}}:n", f"tx:{{{tag}}}:v"
    value = "x" * 64
    pipe = r.pipeline(transaction=True)
    start.wait()
    done = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for _ in range(20):
            reply = pipe.incr(k).set(k2, value).execute()
            if not (isinstance(reply[0], int) and reply[1] is True):
                raise SystemExit(f"bad EXEC reply {reply!r}")
        done += 20
    results.put(done)


def main():
    port, clients, seconds, mode = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
    start = multiprocessing.Barrier(clients + 1, timeout=60)
    results = multiprocessing.Queue()
    procs = [
        multiprocessing.Process(target=worker, args=(port, i, seconds, mode, start, results))
        for i in range(clients)
    ]
    for p in procs:
        p.start()
    start.wait()
    began = time.monotonic()
    total = sum(results.get(timeout=seconds + 60) for _ in procs)
    elapsed = time.monotonic() - began
    for p in procs:
        p.join()
        if p.exitcode != 0:
            raise SystemExit(f"a client failed ({p.exitcode})")
    print(f"{total / elapsed:.0f}")


if __name__ == "__main__":
    main()
