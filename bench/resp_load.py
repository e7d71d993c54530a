"""Writes a data set as RESP commands to stdout, for `redis-cli --pipe`.

    resp_load.py strings KEYS VALUE_SIZE   SET key:%012d <value> for 0..KEYS-1
    resp_load.py collections MEMBERS       HSET bighash field:%012d <value> and
                                           ZADD bigzset i member:%012d for 0..MEMBERS-1

Keys and members are named as redis-benchmark's __rand_int__ (12 zero-padded
digits) names them, so that `-r KEYS` hits them. The output is the same
bytes on every run: values are slices of one seeded random base64 text, so
they compress as real data would rather than to nothing.
"""

import base64
import random
import sys

CHUNK = 10_000


def values(size):
    """Value i as a RESP bulk string of `size` bytes."""
    text = base64.b64encode(random.Random(16).randbytes(1 << 20))
    span = len(text) - size
    head = b"$%d\r\n" % size
    return lambda i: b"%s%s\r\n" % (head, text[(i * 7919) % span : (i * 7919) % span + size])


def strings(keys, size):
    value = values(size)
    for start in range(0, keys, CHUNK):
        yield b"".join(
            b"*3\r\n$3\r\nSET\r\n$16\r\nkey:%012d\r\n%s" % (i, value(i))
            for i in range(start, min(start + CHUNK, keys))
        )


def collections(members):
    value = values(64)
    for start in range(0, members, CHUNK):
        yield b"".join(
            b"*4\r\n$4\r\nHSET\r\n$7\r\nbighash\r\n$18\r\nfield:%012d\r\n%s"
            b"*4\r\n$4\r\nZADD\r\n$7\r\nbigzset\r\n$%d\r\n%d\r\n$19\r\nmember:%012d\r\n"
            % (i, value(i), len(str(i)), i, i)
            for i in range(start, min(start + CHUNK, members))
        )


def main():
    kind, *args = sys.argv[1:]
    if kind == "strings":
        chunks = strings(int(args[0]), int(args[1]))
    else:
        chunks = collections(int(args[0]))
    out = sys.stdout.buffer
    for chunk in chunks:
        out.write(chunk)
    out.flush()


if __name__ == "__main__":
    main()
