//! String commands against the real server, through the `redis` crate.

mod common;
use common::*;

#[test]
fn get_set_and_set_options() {
    let server = Server::start();
    let mut con = server.client();
    let mut raw = server.raw();
    assert_eq!(q(&mut con, &["GET", "k"]), nil());
    assert_eq!(q(&mut con, &["SET", "k", "v"]), ok());
    assert_eq!(q(&mut con, &["GET", "k"]), bulk("v"));
    // NX / XX
    assert_eq!(q(&mut con, &["SET", "k", "v2", "NX"]), nil());
    assert_eq!(q(&mut con, &["SET", "k", "v2", "XX"]), ok());
    assert_eq!(q(&mut con, &["SET", "missing", "v", "XX"]), nil());
    assert_eq!(q(&mut con, &["EXISTS", "missing"]), int(0));
    // GET returns the old value, even when NX stops the write
    assert_eq!(q(&mut con, &["SET", "k", "v3", "GET"]), bulk("v2"));
    assert_eq!(q(&mut con, &["SET", "k", "v4", "NX", "GET"]), bulk("v3"));
    assert_eq!(q(&mut con, &["GET", "k"]), bulk("v3"));
    assert_eq!(q(&mut con, &["SET", "new", "x", "GET"]), nil());
    // expiry options
    assert_eq!(q(&mut con, &["SET", "k", "v", "EX", "100"]), ok());
    let ttl: i64 = redis::cmd("TTL").arg("k").query(&mut con).unwrap();
    assert!((99..=100).contains(&ttl), "{ttl}");
    assert_eq!(q(&mut con, &["SET", "k", "v", "PX", "100000"]), ok());
    let pttl: i64 = redis::cmd("PTTL").arg("k").query(&mut con).unwrap();
    assert!((99_000..=100_000).contains(&pttl), "{pttl}");
    assert_eq!(q(&mut con, &["SET", "k", "v2", "KEEPTTL"]), ok());
    let pttl: i64 = redis::cmd("PTTL").arg("k").query(&mut con).unwrap();
    assert!(pttl > 90_000, "KEEPTTL kept the expiry: {pttl}");
    assert_eq!(q(&mut con, &["SET", "k", "v3"]), ok());
    assert_eq!(
        q(&mut con, &["TTL", "k"]),
        int(-1),
        "a plain SET clears the TTL"
    );
    let future = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1000)
        .to_string();
    assert_eq!(q(&mut con, &["SET", "k", "v", "EXAT", &future]), ok());
    assert_eq!(
        q(&mut con, &["EXPIRETIME", "k"]),
        int(future.parse().unwrap())
    );
    let future_ms = format!("{future}000");
    assert_eq!(q(&mut con, &["SET", "k", "v", "PXAT", &future_ms]), ok());
    assert_eq!(
        q(&mut con, &["PEXPIRETIME", "k"]),
        int(future_ms.parse().unwrap())
    );
    // an expiry in the past removes the key
    assert_eq!(q(&mut con, &["SET", "k", "v", "PXAT", "1"]), ok());
    assert_eq!(q(&mut con, &["GET", "k"]), nil());
    // errors
    assert_eq!(
        error(&mut raw, &["SET", "k", "v", "NX", "XX"]),
        "ERR syntax error"
    );
    assert_eq!(
        error(&mut raw, &["SET", "k", "v", "EX", "10", "PX", "10"]),
        "ERR syntax error"
    );
    assert_eq!(
        error(&mut raw, &["SET", "k", "v", "KEEPTTL", "EX", "10"]),
        "ERR syntax error"
    );
    assert_eq!(
        error(&mut raw, &["SET", "k", "v", "EX"]),
        "ERR syntax error"
    );
    assert_eq!(
        error(&mut raw, &["SET", "k", "v", "BOGUS"]),
        "ERR syntax error"
    );
    assert_eq!(
        error(&mut raw, &["SET", "k", "v", "EX", "0"]),
        "ERR invalid expire time in 'set' command"
    );
    assert_eq!(
        error(&mut raw, &["SET", "k", "v", "EX", "abc"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        error(&mut raw, &["SET", "k", "v", "EX", "9223372036854775807"]),
        "ERR invalid expire time in 'set' command"
    );
    assert_eq!(
        error(&mut raw, &["SET", "k"]),
        "ERR wrong number of arguments for 'set' command"
    );
    assert_eq!(
        error(&mut raw, &["GET"]),
        "ERR wrong number of arguments for 'get' command"
    );
}

#[test]
fn setnx_setex_psetex_getset_getdel_getex() {
    let server = Server::start();
    let mut con = server.client();
    let mut raw = server.raw();
    assert_eq!(q(&mut con, &["SETNX", "a", "1"]), int(1));
    assert_eq!(q(&mut con, &["SETNX", "a", "2"]), int(0));
    assert_eq!(q(&mut con, &["SETEX", "b", "100", "x"]), ok());
    assert_eq!(q(&mut con, &["TTL", "b"]), int(100));
    assert_eq!(q(&mut con, &["PSETEX", "c", "100000", "y"]), ok());
    assert_eq!(q(&mut con, &["TTL", "c"]), int(100));
    assert_eq!(
        error(&mut raw, &["SETEX", "b", "0", "x"]),
        "ERR invalid expire time in 'setex' command"
    );
    assert_eq!(
        error(&mut raw, &["PSETEX", "b", "-5", "x"]),
        "ERR invalid expire time in 'psetex' command"
    );
    assert_eq!(q(&mut con, &["GETSET", "a", "3"]), bulk("1"));
    assert_eq!(q(&mut con, &["GETSET", "nope", "3"]), nil());
    assert_eq!(q(&mut con, &["GETDEL", "a"]), bulk("3"));
    assert_eq!(q(&mut con, &["GETDEL", "a"]), nil());
    assert_eq!(q(&mut con, &["GETEX", "b"]), bulk("x"));
    assert_eq!(q(&mut con, &["GETEX", "b", "PERSIST"]), bulk("x"));
    assert_eq!(q(&mut con, &["TTL", "b"]), int(-1));
    assert_eq!(q(&mut con, &["GETEX", "b", "EX", "50"]), bulk("x"));
    assert_eq!(q(&mut con, &["TTL", "b"]), int(50));
    assert_eq!(q(&mut con, &["GETEX", "b", "PX", "60000"]), bulk("x"));
    assert_eq!(q(&mut con, &["TTL", "b"]), int(60));
    assert_eq!(q(&mut con, &["GETEX", "b", "PXAT", "1"]), bulk("x"));
    assert_eq!(q(&mut con, &["EXISTS", "b"]), int(0));
    assert_eq!(q(&mut con, &["GETEX", "missing", "EX", "5"]), nil());
    assert_eq!(
        error(&mut raw, &["GETEX", "c", "EX", "5", "PERSIST"]),
        "ERR syntax error"
    );
    assert_eq!(
        error(&mut raw, &["GETEX", "c", "EX", "0"]),
        "ERR invalid expire time in 'getex' command"
    );
}

#[test]
fn counters_refuse_non_numbers() {
    let server = Server::start();
    let mut raw = server.raw();
    raw.command(&["SET", "s", "v"]);
    assert_eq!(
        error(&mut raw, &["INCR", "s"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        error(&mut raw, &["INCRBYFLOAT", "s", "1"]),
        "ERR value is not a valid float"
    );
}

#[test]
fn mget_mset_msetnx() {
    let server = Server::start();
    let mut con = server.client();
    let mut raw = server.raw();
    assert_eq!(q(&mut con, &["MSET", "a", "1", "b", "2", "a", "3"]), ok());
    assert_eq!(
        q(&mut con, &["MGET", "a", "b", "c"]),
        array(vec![bulk("3"), bulk("2"), nil()])
    );
    assert_eq!(q(&mut con, &["DBSIZE"]), int(2));
    assert_eq!(q(&mut con, &["MSETNX", "c", "1", "a", "9"]), int(0));
    assert_eq!(q(&mut con, &["EXISTS", "c"]), int(0));
    assert_eq!(q(&mut con, &["MSETNX", "c", "1", "d", "2"]), int(1));
    assert_eq!(
        q(&mut con, &["MGET", "c", "d"]),
        array(vec![bulk("1"), bulk("2")])
    );
    assert_eq!(
        error(&mut raw, &["MSET", "a", "1", "b"]),
        "ERR wrong number of arguments for 'mset' command"
    );
    assert_eq!(
        error(&mut raw, &["MSETNX", "a"]),
        "ERR wrong number of arguments for 'msetnx' command"
    );
}

#[test]
fn append_strlen_ranges() {
    let server = Server::start();
    let mut con = server.client();
    let mut raw = server.raw();
    assert_eq!(q(&mut con, &["APPEND", "s", "Hello"]), int(5));
    assert_eq!(q(&mut con, &["APPEND", "s", " World"]), int(11));
    assert_eq!(q(&mut con, &["STRLEN", "s"]), int(11));
    assert_eq!(q(&mut con, &["STRLEN", "nope"]), int(0));
    assert_eq!(q(&mut con, &["GETRANGE", "s", "0", "4"]), bulk("Hello"));
    assert_eq!(q(&mut con, &["GETRANGE", "s", "-5", "-1"]), bulk("World"));
    assert_eq!(q(&mut con, &["GETRANGE", "s", "0", "-100"]), bulk("H"));
    assert_eq!(q(&mut con, &["GETRANGE", "s", "-1", "-5"]), bulk(""));
    assert_eq!(q(&mut con, &["GETRANGE", "s", "5", "1000"]), bulk(" World"));
    assert_eq!(q(&mut con, &["SUBSTR", "s", "0", "0"]), bulk("H"));
    assert_eq!(q(&mut con, &["GETRANGE", "nope", "0", "10"]), bulk(""));
    assert_eq!(q(&mut con, &["SETRANGE", "s", "6", "Redis"]), int(11));
    assert_eq!(q(&mut con, &["GET", "s"]), bulk("Hello Redis"));
    assert_eq!(q(&mut con, &["SETRANGE", "pad", "3", "x"]), int(4));
    assert_eq!(
        q(&mut con, &["GET", "pad"]),
        redis::Value::BulkString(b"\0\0\0x".to_vec())
    );
    assert_eq!(q(&mut con, &["SETRANGE", "empty", "5", ""]), int(0));
    assert_eq!(q(&mut con, &["EXISTS", "empty"]), int(0));
    assert_eq!(
        error(&mut raw, &["SETRANGE", "s", "-1", "x"]),
        "ERR offset is out of range"
    );
    assert_eq!(
        error(&mut raw, &["SETRANGE", "s", "536870912", "x"]),
        "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
    );
    assert_eq!(
        error(&mut raw, &["GETRANGE", "s", "a", "1"]),
        "ERR value is not an integer or out of range"
    );
}

#[test]
fn counters() {
    let server = Server::start();
    let mut con = server.client();
    let mut raw = server.raw();
    assert_eq!(q(&mut con, &["INCR", "n"]), int(1));
    assert_eq!(q(&mut con, &["INCRBY", "n", "10"]), int(11));
    assert_eq!(q(&mut con, &["DECR", "n"]), int(10));
    assert_eq!(q(&mut con, &["DECRBY", "n", "-5"]), int(15));
    assert_eq!(q(&mut con, &["SET", "n", "9223372036854775806"]), ok());
    assert_eq!(q(&mut con, &["INCR", "n"]), int(i64::MAX));
    assert_eq!(
        error(&mut raw, &["INCR", "n"]),
        "ERR increment or decrement would overflow"
    );
    assert_eq!(
        error(&mut raw, &["DECRBY", "n", "-9223372036854775808"]),
        "ERR decrement would overflow"
    );
    assert_eq!(q(&mut con, &["SET", "n", " 1"]), ok());
    assert_eq!(
        error(&mut raw, &["INCR", "n"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        error(&mut raw, &["INCRBY", "x", "1.5"]),
        "ERR value is not an integer or out of range"
    );
    // the TTL survives an increment
    assert_eq!(q(&mut con, &["SET", "t", "1", "EX", "100"]), ok());
    assert_eq!(q(&mut con, &["INCR", "t"]), int(2));
    assert_eq!(q(&mut con, &["TTL", "t"]), int(100));
    // floats, formatted as Redis formats them
    assert_eq!(q(&mut con, &["INCRBYFLOAT", "f", "10.5"]), bulk("10.5"));
    assert_eq!(q(&mut con, &["INCRBYFLOAT", "f", "0.1"]), bulk("10.6"));
    assert_eq!(q(&mut con, &["INCRBYFLOAT", "f", "-5.6"]), bulk("5"));
    assert_eq!(q(&mut con, &["INCRBYFLOAT", "f", "5.0e3"]), bulk("5005"));
    assert_eq!(
        error(&mut raw, &["INCRBYFLOAT", "f", "abc"]),
        "ERR value is not a valid float"
    );
    assert_eq!(
        error(&mut raw, &["INCRBYFLOAT", "f", "inf"]),
        "ERR increment would produce NaN or Infinity"
    );
}

#[test]
fn lcs_all_options() {
    let server = Server::start();
    let mut con = server.client();
    let mut raw = server.raw();
    q(&mut con, &["MSET", "key1", "ohmytext", "key2", "mynewtext"]);
    assert_eq!(q(&mut con, &["LCS", "key1", "key2"]), bulk("mytext"));
    assert_eq!(q(&mut con, &["LCS", "key1", "key2", "LEN"]), int(6));
    let range = |a: i64, b: i64| array(vec![int(a), int(b)]);
    assert_eq!(
        q(&mut con, &["LCS", "key1", "key2", "IDX"]),
        array(vec![
            bulk("matches"),
            array(vec![
                array(vec![range(4, 7), range(5, 8)]),
                array(vec![range(2, 3), range(0, 1)]),
            ]),
            bulk("len"),
            int(6),
        ])
    );
    assert_eq!(
        q(
            &mut con,
            &[
                "LCS",
                "key1",
                "key2",
                "IDX",
                "MINMATCHLEN",
                "4",
                "WITHMATCHLEN"
            ]
        ),
        array(vec![
            bulk("matches"),
            array(vec![array(vec![range(4, 7), range(5, 8), int(4)])]),
            bulk("len"),
            int(6),
        ])
    );
    assert_eq!(q(&mut con, &["LCS", "key1", "nope"]), bulk(""));
    assert_eq!(
        error(&mut raw, &["LCS", "key1", "key2", "LEN", "IDX"]),
        "ERR If you want both the length and indexes, please just use IDX."
    );
    assert_eq!(
        error(&mut raw, &["LCS", "key1", "key2", "FOO"]),
        "ERR syntax error"
    );
    // The comparison table (4 bytes a cell) is bounded by
    // proto-max-bulk-len, as in Redis.
    q(&mut con, &["CONFIG", "SET", "proto-max-bulk-len", "1mb"]);
    q(&mut con, &["SET", "long1", &"x".repeat(600)]);
    q(&mut con, &["SET", "long2", &"x".repeat(600)]);
    assert_eq!(
        error(&mut raw, &["LCS", "long1", "long2", "LEN"]),
        "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len"
    );
    q(&mut con, &["SET", "long2", &"x".repeat(400)]);
    assert_eq!(q(&mut con, &["LCS", "long1", "long2", "LEN"]), int(400));
}

/// A run of pipelined GETs is read in one batch: each GET still answers
/// as it would alone, with the client's own writes, expiry, other types,
/// another database and the keyspace hit and miss counts.
#[test]
fn pipelined_gets_answer_as_single_gets() {
    let server = Server::start();
    let mut con = server.client();
    for (k, v) in [("a", "1"), ("b", "2")] {
        assert_eq!(q(&mut con, &["SET", k, v]), ok());
    }
    assert_eq!(q(&mut con, &["RPUSH", "list", "x"]), int(1));
    assert_eq!(q(&mut con, &["SET", "short", "v", "PX", "1"]), ok());
    assert_eq!(q(&mut con, &["SELECT", "1"]), ok());
    assert_eq!(q(&mut con, &["SET", "a", "db1"]), ok());
    assert_eq!(q(&mut con, &["SELECT", "0"]), ok());
    assert_eq!(q(&mut con, &["CONFIG", "RESETSTAT"]), ok());
    std::thread::sleep(std::time::Duration::from_millis(20));
    let mut raw = server.raw();
    let commands: &[&[&str]] = &[
        &["GET", "a"],
        &["GET", "b"],
        &["GET", "missing"],
        &["GET", "list"],
        &["GET", "short"],
        &["GET", "a"],
        &["SET", "a", "changed"],
        &["GET", "a"],
        &["GET", "b"],
        &["SELECT", "1"],
        &["GET", "a"],
        &["GET", "b"],
        &["SELECT", "0"],
        &["GET", "a"],
    ];
    let mut batch = Vec::new();
    for c in commands {
        batch.extend(RawClient::encode(c));
    }
    raw.send(&batch);
    let replies: Vec<String> = commands
        .iter()
        .map(|_| String::from_utf8(raw.read_reply()).unwrap())
        .collect();
    let wrong_type =
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n".to_string();
    let expected = [
        "$1\r\n1\r\n".to_string(),
        "$1\r\n2\r\n".into(),
        "$-1\r\n".into(),
        wrong_type,
        "$-1\r\n".into(),
        "$1\r\n1\r\n".into(),
        "+OK\r\n".into(),
        "$7\r\nchanged\r\n".into(),
        "$1\r\n2\r\n".into(),
        "+OK\r\n".into(),
        "$3\r\ndb1\r\n".into(),
        "$-1\r\n".into(),
        "+OK\r\n".into(),
        "$7\r\nchanged\r\n".into(),
    ];
    assert_eq!(replies, expected);
    // The expired key was removed by its lookup, as a single GET does.
    assert_eq!(q(&mut con, &["DBSIZE"]), int(3));
    let stats: String = redis::cmd("INFO").arg("stats").query(&mut con).unwrap();
    let field = |name: &str| {
        stats
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:")))
            .unwrap_or_else(|| panic!("no {name} in {stats}"))
            .trim()
            .to_string()
    };
    // Hits: a, b, list, a, a, b, a(db1), a; misses: missing, short, b(db1).
    assert_eq!(field("keyspace_hits"), "8");
    assert_eq!(field("keyspace_misses"), "3");
    // Values past the read-ahead budget (1 MB) are read one GET at a time,
    // with the same replies.
    let big: Vec<String> = (0..4).map(|i| i.to_string().repeat(600_000)).collect();
    for (i, value) in big.iter().enumerate() {
        assert_eq!(q(&mut con, &["SET", &format!("big{i}"), value]), ok());
    }
    let mut pipe = redis::pipe();
    for i in 0..4 {
        pipe.cmd("GET").arg(format!("big{i}"));
    }
    pipe.cmd("GET").arg("b").cmd("GET").arg("missing");
    let values: Vec<Option<String>> = pipe.query(&mut con).unwrap();
    let mut expected: Vec<Option<String>> = big.into_iter().map(Some).collect();
    expected.extend([Some("2".to_string()), None]);
    assert!(values == expected, "pipelined GETs of big values differ");
}
