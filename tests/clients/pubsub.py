"""redis-py's PubSub against RedRock, in RESP2 and RESP3: get_message,
psubscribe, handlers run by run_in_thread, listen, and keyspace events of
keys that expire without being read. Run by
tests/pubsub.rs as `python3 tests/clients/pubsub.py <port>`; exits non-zero
on the first difference."""

import sys
import time

import redis


def check(got, expected, what):
    if got != expected:
        sys.exit(f"{what}: expected {expected!r}, got {got!r}")


def wait_for(probe, what):
    deadline = time.monotonic() + 30
    while not probe():
        if time.monotonic() > deadline:
            sys.exit(f"{what} did not happen within 30 s")
        time.sleep(0.01)


def message(pubsub):
    got = pubsub.get_message(timeout=10)
    if got is None:
        sys.exit("no message within 10 s")
    return got


def run(port, protocol):
    r = redis.Redis(port=port, protocol=protocol, decode_responses=True)
    where = f"RESP{protocol}"

    p = r.pubsub()
    p.subscribe("news")
    check(message(p), {"type": "subscribe", "pattern": None, "channel": "news", "data": 1},
          f"{where} subscribe")
    p.psubscribe("n*")
    check(message(p), {"type": "psubscribe", "pattern": None, "channel": "n*", "data": 2},
          f"{where} psubscribe")
    check(r.publish("news", "hello"), 2, f"{where} PUBLISH count")
    check(message(p), {"type": "message", "pattern": None, "channel": "news", "data": "hello"},
          f"{where} message")
    check(message(p), {"type": "pmessage", "pattern": "n*", "channel": "news", "data": "hello"},
          f"{where} pmessage")
    check(r.pubsub_numsub("news", "other"), [("news", 1), ("other", 0)], f"{where} NUMSUB")
    check(r.pubsub_numpat(), 1, f"{where} NUMPAT")
    check(r.pubsub_channels(), ["news"], f"{where} CHANNELS")
    p.unsubscribe()
    check(message(p), {"type": "unsubscribe", "pattern": None, "channel": "news", "data": 1},
          f"{where} unsubscribe")
    p.punsubscribe()
    check(message(p), {"type": "punsubscribe", "pattern": None, "channel": "n*", "data": 0},
          f"{where} punsubscribe")
    p.close()

    # Handlers called from a thread, in publish order.
    received = []
    handled = r.pubsub(ignore_subscribe_messages=True)
    handled.subscribe(events=lambda m: received.append(m["data"]))
    handled.psubscribe(**{"ev*": lambda m: received.append("pattern:" + m["data"])})
    worker = handled.run_in_thread(sleep_time=0.01, daemon=True)
    wait_for(lambda: r.pubsub_numsub("events") == [("events", 1)] and r.pubsub_numpat() == 1,
             f"{where} run_in_thread subscriptions")
    for i in range(200):
        r.publish("events", str(i))
    wait_for(lambda: len(received) == 400, f"{where} 400 handled messages")
    expected = []
    for i in range(200):
        expected += [str(i), f"pattern:{i}"]
    check(received, expected, f"{where} handled messages")
    worker.stop()
    worker.join(timeout=10)
    handled.close()

    # listen(), the blocking generator.
    listener = r.pubsub()
    listener.subscribe("feed")
    messages = listener.listen()
    check(next(messages)["type"], "subscribe", f"{where} listen subscribe")
    r.publish("feed", "one")
    check(next(messages), {"type": "message", "pattern": None, "channel": "feed", "data": "one"},
          f"{where} listen message")
    listener.unsubscribe("feed")
    check(next(messages)["type"], "unsubscribe", f"{where} listen unsubscribe")
    listener.close()

    # Keyspace events: a key that expires unread is announced by active
    # expiry; one read after its time by the lazy removal.
    r.config_set("notify-keyspace-events", "Kx")
    events = r.pubsub()
    events.psubscribe("__keyspace@0__:session:*")
    check(message(events)["type"], "psubscribe", f"{where} keyspace psubscribe")
    r.set("session:unread", "1", px=100)
    check(message(events), {"type": "pmessage", "pattern": "__keyspace@0__:session:*",
                            "channel": "__keyspace@0__:session:unread", "data": "expired"},
          f"{where} active expiry event")
    r.set("session:read", "1", px=1)
    time.sleep(0.01)
    check(r.get("session:read"), None, f"{where} GET of an expired key")
    check(message(events), {"type": "pmessage", "pattern": "__keyspace@0__:session:*",
                            "channel": "__keyspace@0__:session:read", "data": "expired"},
          f"{where} lazy expiry event")
    check(events.get_message(timeout=0.2), None, f"{where} one event per expiry")
    events.close()
    r.config_set("notify-keyspace-events", "")

    # Closed PubSub objects leave nothing behind.
    wait_for(lambda: r.pubsub_numsub("news", "events", "feed")
             == [("news", 0), ("events", 0), ("feed", 0)] and r.pubsub_numpat() == 0,
             f"{where} cleanup")
    r.close()


def main():
    port = int(sys.argv[1])
    for protocol in (2, 3):
        run(port, protocol)
    print("redis-py pubsub: ok")


if __name__ == "__main__":
    main()
