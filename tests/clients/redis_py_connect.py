"""redis-py against a running server: connects with RESP2 and RESP3 (redis-py
sends HELLO, CLIENT SETINFO and, with RESP3, CLIENT MAINT_NOTIFICATIONS,
which it may find unknown), runs commands of every type, and checks the
server shows the library in CLIENT INFO. Any warning redis-py logs or
raises fails the run.

Usage: redis_py_connect.py PORT   (exit status 0 on success)
"""

import logging
import sys
import warnings

import redis


class Recorder(logging.Handler):
    """Keeps every record of WARNING or above."""

    def __init__(self):
        super().__init__(level=logging.WARNING)
        self.records = []

    def emit(self, record):
        self.records.append(self.format(record))


def check(condition, what):
    if not condition:
        raise AssertionError(what)


def session(port, protocol):
    r = redis.Redis(host="127.0.0.1", port=port, protocol=protocol, decode_responses=True)
    check(r.ping() is True, "PING")
    info = r.client_info()
    check(info["lib-name"] == "redis-py", f"lib-name in {info}")
    check(info["lib-ver"] == redis.__version__, f"lib-ver in {info}")
    check(int(info["resp"]) == protocol, f"resp in {info}")
    listed = [c for c in r.client_list() if c["id"] == str(info["id"])]
    check(len(listed) == 1 and listed[0]["lib-name"] == "redis-py", f"CLIENT LIST {listed}")

    key = f"redis-py:{protocol}"
    check(r.set(f"{key}:s", "v") is True, "SET")
    check(r.get(f"{key}:s") == "v", "GET")
    check(r.incr(f"{key}:n", 5) == 5, "INCR")
    check(r.hset(f"{key}:h", mapping={"a": "1", "b": "2"}) == 2, "HSET")
    check(r.hgetall(f"{key}:h") == {"a": "1", "b": "2"}, "HGETALL")
    check(r.rpush(f"{key}:l", "x", "y") == 2, "RPUSH")
    check(r.lrange(f"{key}:l", 0, -1) == ["x", "y"], "LRANGE")
    check(r.sadd(f"{key}:set", "m") == 1, "SADD")
    check(r.smembers(f"{key}:set") == {"m"}, "SMEMBERS")
    check(r.zadd(f"{key}:z", {"p": 1.5, "q": 2}) == 2, "ZADD")
    # redis-py gives (member, score) tuples with RESP2, pairs with RESP3.
    scored = [tuple(pair) for pair in r.zrange(f"{key}:z", 0, -1, withscores=True)]
    check(scored == [("p", 1.5), ("q", 2.0)], "ZRANGE")
    pipe = r.pipeline(transaction=False)
    pipe.set(f"{key}:p", "1").incr(f"{key}:p").get(f"{key}:p")
    check(pipe.execute() == [True, 2, "2"], "pipeline")

    # The connection commands, through redis-py's own methods.
    check(r.client_setinfo("LIB-NAME", "app") is True, "CLIENT SETINFO")
    check(r.client_info()["lib-name"] == "app", "CLIENT SETINFO shows")
    check(r.client_no_evict("ON") == "OK", "CLIENT NO-EVICT")
    check(r.client_no_touch("ON") == "OK", "CLIENT NO-TOUCH")
    check(r.client_info()["flags"] == "eT", "flags e and T")
    check(r.client_pause(60000, all=False) is True, "CLIENT PAUSE WRITE")
    check(r.get(f"{key}:s") == "v", "a read during CLIENT PAUSE WRITE")
    check(r.client_unpause() == "OK", "CLIENT UNPAUSE")
    check(r.reset() == "RESET", "RESET")
    r.close()


def main():
    port = int(sys.argv[1])
    warnings.simplefilter("error")
    recorder = Recorder()
    logging.getLogger().addHandler(recorder)
    logging.getLogger().setLevel(logging.DEBUG)
    for protocol in (2, 3):
        session(port, protocol)
    check(not recorder.records, f"redis-py logged: {recorder.records}")
    print(f"redis-py {redis.__version__}: RESP2 and RESP3 sessions passed")


if __name__ == "__main__":
    main()
