//! Keyspace commands against the real server.

mod common;
use common::*;
use std::collections::BTreeSet;

fn now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn del_exists_type_touch() {
    let server = Server::start();
    let mut con = server.client();
    q(&mut con, &["MSET", "a", "1", "b", "2", "c", "3"]);
    assert_eq!(q(&mut con, &["EXISTS", "a", "a", "x"]), int(2));
    assert_eq!(q(&mut con, &["TOUCH", "a", "b", "x"]), int(2));
    assert_eq!(
        q(&mut con, &["TYPE", "a"]),
        redis::Value::SimpleString("string".into())
    );
    assert_eq!(
        q(&mut con, &["TYPE", "x"]),
        redis::Value::SimpleString("none".into())
    );
    assert_eq!(q(&mut con, &["DEL", "a", "a", "x"]), int(1));
    assert_eq!(q(&mut con, &["UNLINK", "b", "c"]), int(2));
    assert_eq!(q(&mut con, &["DBSIZE"]), int(0));
}

#[test]
fn expire_family_with_conditions() {
    let server = Server::start();
    let mut con = server.client();
    let mut raw = server.raw();
    q(&mut con, &["SET", "k", "v"]);
    assert_eq!(q(&mut con, &["TTL", "k"]), int(-1));
    assert_eq!(q(&mut con, &["TTL", "nope"]), int(-2));
    assert_eq!(q(&mut con, &["PTTL", "nope"]), int(-2));
    assert_eq!(q(&mut con, &["EXPIRETIME", "k"]), int(-1));
    assert_eq!(q(&mut con, &["EXPIRE", "nope", "10"]), int(0));
    // XX on a key without expiry fails, NX succeeds
    assert_eq!(q(&mut con, &["EXPIRE", "k", "100", "XX"]), int(0));
    assert_eq!(
        q(&mut con, &["EXPIRE", "k", "100", "GT"]),
        int(0),
        "no TTL counts as infinite"
    );
    assert_eq!(q(&mut con, &["EXPIRE", "k", "100", "NX"]), int(1));
    assert_eq!(q(&mut con, &["EXPIRE", "k", "200", "NX"]), int(0));
    assert_eq!(q(&mut con, &["EXPIRE", "k", "50", "GT"]), int(0));
    assert_eq!(q(&mut con, &["EXPIRE", "k", "200", "GT"]), int(1));
    assert_eq!(q(&mut con, &["EXPIRE", "k", "300", "LT"]), int(0));
    assert_eq!(q(&mut con, &["EXPIRE", "k", "150", "LT", "XX"]), int(1));
    assert_eq!(q(&mut con, &["TTL", "k"]), int(150));
    assert_eq!(q(&mut con, &["PEXPIRE", "k", "120000"]), int(1));
    assert_eq!(q(&mut con, &["TTL", "k"]), int(120));
    let at = now_s() + 500;
    assert_eq!(q(&mut con, &["EXPIREAT", "k", &at.to_string()]), int(1));
    assert_eq!(q(&mut con, &["EXPIRETIME", "k"]), int(at as i64));
    assert_eq!(
        q(&mut con, &["PEXPIREAT", "k", &format!("{at}123")]),
        int(1)
    );
    assert_eq!(
        q(&mut con, &["PEXPIRETIME", "k"]),
        int(format!("{at}123").parse().unwrap())
    );
    assert_eq!(q(&mut con, &["PERSIST", "k"]), int(1));
    assert_eq!(q(&mut con, &["PERSIST", "k"]), int(0));
    assert_eq!(q(&mut con, &["TTL", "k"]), int(-1));
    q(&mut con, &["SET", "p", "v"]);
    let pttl_key = q(&mut con, &["PEXPIRE", "p", "5000"]);
    assert_eq!(pttl_key, int(1));
    let pttl: i64 = redis::cmd("PTTL").arg("p").query(&mut con).unwrap();
    assert!((4000..=5000).contains(&pttl));
    // negative or past times delete
    assert_eq!(q(&mut con, &["EXPIRE", "k", "-1"]), int(1));
    assert_eq!(q(&mut con, &["EXISTS", "k"]), int(0));
    q(&mut con, &["SET", "k", "v"]);
    assert_eq!(q(&mut con, &["EXPIREAT", "k", "1"]), int(1));
    assert_eq!(q(&mut con, &["EXISTS", "k"]), int(0));
    // errors
    q(&mut con, &["SET", "k", "v"]);
    assert_eq!(
        error(&mut raw, &["EXPIRE", "k", "10", "NX", "XX"]),
        "ERR NX and XX, GT or LT options at the same time are not compatible"
    );
    assert_eq!(
        error(&mut raw, &["EXPIRE", "k", "10", "GT", "LT"]),
        "ERR GT and LT options at the same time are not compatible"
    );
    assert_eq!(
        error(&mut raw, &["EXPIRE", "k", "10", "FOO"]),
        "ERR Unsupported option FOO"
    );
    assert_eq!(
        error(&mut raw, &["EXPIRE", "k", "ten"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        error(&mut raw, &["EXPIRE", "k", "9223372036854775807"]),
        "ERR invalid expire time in 'expire' command"
    );
    assert_eq!(
        error(&mut raw, &["PEXPIRE", "k", "9223372036854775807"]),
        "ERR invalid expire time in 'pexpire' command"
    );
}

#[test]
fn expired_keys_vanish_lazily_and_actively() {
    let server = Server::start();
    let mut con = server.client();
    q(&mut con, &["SET", "a", "1", "PX", "50"]);
    q(&mut con, &["SET", "b", "1", "PX", "50"]);
    q(&mut con, &["SET", "c", "1"]);
    assert_eq!(q(&mut con, &["DBSIZE"]), int(3));
    std::thread::sleep(std::time::Duration::from_millis(80));
    // lazily: reads no longer see them
    assert_eq!(q(&mut con, &["GET", "a"]), nil());
    assert_eq!(q(&mut con, &["EXISTS", "b"]), int(0));
    // actively: they leave DBSIZE without being touched (bounded wait)
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while q(&mut con, &["DBSIZE"]) != int(1) {
        assert!(
            std::time::Instant::now() < deadline,
            "active expiry did not run"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let info: String = redis::cmd("INFO").arg("stats").query(&mut con).unwrap();
    assert!(info.contains("expired_keys:2"), "{info}");
}

#[test]
fn rename_copy_move() {
    let server = Server::start();
    let mut con = server.client();
    let mut raw = server.raw();
    q(&mut con, &["SET", "a", "1", "EX", "100"]);
    assert_eq!(q(&mut con, &["RENAME", "a", "b"]), ok());
    assert_eq!(q(&mut con, &["GET", "b"]), bulk("1"));
    assert_eq!(q(&mut con, &["TTL", "b"]), int(100), "RENAME keeps the TTL");
    assert_eq!(q(&mut con, &["EXISTS", "a"]), int(0));
    assert_eq!(error(&mut raw, &["RENAME", "a", "c"]), "ERR no such key");
    assert_eq!(q(&mut con, &["RENAME", "b", "b"]), ok());
    q(&mut con, &["SET", "c", "2"]);
    assert_eq!(q(&mut con, &["RENAMENX", "b", "c"]), int(0));
    assert_eq!(q(&mut con, &["RENAMENX", "b", "d"]), int(1));
    assert_eq!(q(&mut con, &["DBSIZE"]), int(2));
    // COPY
    assert_eq!(q(&mut con, &["COPY", "d", "c"]), int(0));
    assert_eq!(q(&mut con, &["COPY", "d", "c", "REPLACE"]), int(1));
    assert_eq!(q(&mut con, &["GET", "c"]), bulk("1"));
    assert_eq!(q(&mut con, &["TTL", "c"]), int(100), "COPY copies the TTL");
    assert_eq!(q(&mut con, &["COPY", "d", "x", "DB", "3"]), int(1));
    assert_eq!(q(&mut con, &["COPY", "nope", "x"]), int(0));
    assert_eq!(
        error(&mut raw, &["COPY", "d", "d"]),
        "ERR source and destination objects are the same"
    );
    assert_eq!(
        error(&mut raw, &["COPY", "d", "y", "DB", "99"]),
        "ERR DB index is out of range"
    );
    assert_eq!(
        error(&mut raw, &["COPY", "d", "y", "DB"]),
        "ERR syntax error"
    );
    assert_eq!(
        error(&mut raw, &["COPY", "d", "y", "FOO"]),
        "ERR syntax error"
    );
    // MOVE
    q(&mut con, &["SET", "m", "v"]);
    assert_eq!(q(&mut con, &["MOVE", "m", "1"]), int(1));
    assert_eq!(q(&mut con, &["EXISTS", "m"]), int(0));
    q(&mut con, &["SET", "m", "w"]);
    assert_eq!(q(&mut con, &["MOVE", "m", "1"]), int(0), "target exists");
    assert_eq!(q(&mut con, &["MOVE", "nope", "1"]), int(0));
    assert_eq!(
        error(&mut raw, &["MOVE", "m", "0"]),
        "ERR source and destination objects are the same"
    );
    assert_eq!(
        error(&mut raw, &["MOVE", "m", "16"]),
        "ERR DB index is out of range"
    );
    assert_eq!(
        error(&mut raw, &["MOVE", "m", "x"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(q(&mut con, &["SELECT", "1"]), ok());
    assert_eq!(q(&mut con, &["GET", "m"]), bulk("v"));
    assert_eq!(q(&mut con, &["DBSIZE"]), int(1));
    assert_eq!(q(&mut con, &["SELECT", "3"]), ok());
    assert_eq!(q(&mut con, &["GET", "x"]), bulk("1"));
}

#[test]
fn keys_scan_with_globs_and_types() {
    let server = Server::start();
    let mut con = server.client();
    let mut raw = server.raw();
    let mut all = BTreeSet::new();
    for i in 0..300 {
        let key = format!("user:{i}");
        q(&mut con, &["SET", &key, "v"]);
        all.insert(key);
    }
    q(&mut con, &["SET", "hello", "1"]);
    q(&mut con, &["SET", "hallo", "1"]);
    q(&mut con, &["SET", "hxllo", "1"]);
    q(&mut con, &["SET", "heeeello", "1"]);
    q(&mut con, &["SET", "a*b", "1"]);
    let keys = |con: &mut redis::Connection, pattern: &str| -> BTreeSet<String> {
        redis::cmd("KEYS").arg(pattern).query(con).unwrap()
    };
    let set = |items: &[&str]| items.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(keys(&mut con, "h?llo"), set(&["hello", "hallo", "hxllo"]));
    assert_eq!(
        keys(&mut con, "h*llo"),
        set(&["hello", "hallo", "hxllo", "heeeello"])
    );
    assert_eq!(keys(&mut con, "h[ae]llo"), set(&["hello", "hallo"]));
    assert_eq!(keys(&mut con, "h[^e]llo"), set(&["hallo", "hxllo"]));
    assert_eq!(keys(&mut con, "h[a-b]llo"), set(&["hallo"]));
    assert_eq!(keys(&mut con, "a\\*b"), set(&["a*b"]));
    assert_eq!(keys(&mut con, "user:*").len(), 300);
    assert_eq!(keys(&mut con, "*").len(), 305);
    // a full SCAN returns every key once or more, whatever COUNT is
    for count in ["1", "7", "1000"] {
        let mut cursor = "0".to_string();
        let mut seen = BTreeSet::new();
        let mut rounds = 0;
        loop {
            let (next, batch): (String, Vec<String>) = redis::cmd("SCAN")
                .arg(&cursor)
                .arg("MATCH")
                .arg("user:*")
                .arg("COUNT")
                .arg(count)
                .query(&mut con)
                .unwrap();
            seen.extend(batch);
            rounds += 1;
            assert!(rounds < 10_000, "SCAN did not finish");
            if next == "0" {
                break;
            }
            cursor = next;
        }
        assert_eq!(seen, all, "COUNT {count}");
    }
    let (_, strings): (String, Vec<String>) = redis::cmd("SCAN")
        .arg("0")
        .arg("TYPE")
        .arg("hash")
        .arg("COUNT")
        .arg("1000")
        .query(&mut con)
        .unwrap();
    assert!(strings.is_empty());
    assert_eq!(error(&mut raw, &["SCAN", "abc"]), "ERR invalid cursor");
    assert_eq!(
        error(&mut raw, &["SCAN", "0", "COUNT", "0"]),
        "ERR syntax error"
    );
    assert_eq!(error(&mut raw, &["SCAN", "0", "FOO"]), "ERR syntax error");
    // RANDOMKEY returns an existing key
    let key: String = redis::cmd("RANDOMKEY").query(&mut con).unwrap();
    assert_eq!(q(&mut con, &["EXISTS", &key]), int(1));
    q(&mut con, &["FLUSHDB"]);
    assert_eq!(q(&mut con, &["RANDOMKEY"]), nil());
}

#[test]
fn object_subcommands() {
    let server = Server::start();
    let mut con = server.client();
    let mut raw = server.raw();
    q(&mut con, &["SET", "i", "12345"]);
    q(&mut con, &["SET", "s", "short"]);
    q(&mut con, &["SET", "r", &"x".repeat(100)]);
    assert_eq!(q(&mut con, &["OBJECT", "ENCODING", "i"]), bulk("int"));
    assert_eq!(q(&mut con, &["OBJECT", "ENCODING", "s"]), bulk("embstr"));
    assert_eq!(q(&mut con, &["OBJECT", "ENCODING", "r"]), bulk("raw"));
    assert_eq!(q(&mut con, &["OBJECT", "ENCODING", "nope"]), nil());
    assert_eq!(q(&mut con, &["OBJECT", "REFCOUNT", "s"]), int(1));
    assert_eq!(q(&mut con, &["OBJECT", "IDLETIME", "s"]), int(0));
    assert!(error(&mut raw, &["OBJECT", "FREQ", "s"]).starts_with("ERR An LFU maxmemory policy"));
    assert_eq!(
        error(&mut raw, &["OBJECT", "NOPE", "s"]),
        "ERR unknown subcommand 'NOPE'. Try OBJECT HELP."
    );
    let help = q(&mut con, &["OBJECT", "HELP"]);
    assert!(matches!(help, redis::Value::Array(ref lines) if lines.len() > 4));
}

#[test]
fn databases_are_separate() {
    let server = Server::start();
    let mut con = server.client();
    let mut raw = server.raw();
    q(&mut con, &["SET", "k", "zero"]);
    assert_eq!(q(&mut con, &["SELECT", "15"]), ok());
    assert_eq!(q(&mut con, &["GET", "k"]), nil());
    q(&mut con, &["SET", "k", "fifteen"]);
    q(&mut con, &["SET", "k2", "fifteen"]);
    assert_eq!(q(&mut con, &["DBSIZE"]), int(2));
    q(&mut con, &["FLUSHDB"]);
    assert_eq!(q(&mut con, &["DBSIZE"]), int(0));
    q(&mut con, &["SELECT", "0"]);
    assert_eq!(q(&mut con, &["GET", "k"]), bulk("zero"));
    assert_eq!(
        error(&mut raw, &["SELECT", "16"]),
        "ERR DB index is out of range"
    );
    assert_eq!(
        error(&mut raw, &["SELECT", "-1"]),
        "ERR DB index is out of range"
    );
    assert_eq!(
        error(&mut raw, &["SELECT", "x"]),
        "ERR value is not an integer or out of range"
    );
    q(&mut con, &["SELECT", "2"]);
    q(&mut con, &["SET", "other", "v"]);
    assert_eq!(q(&mut con, &["FLUSHALL"]), ok());
    assert_eq!(q(&mut con, &["DBSIZE"]), int(0));
    q(&mut con, &["SELECT", "0"]);
    assert_eq!(q(&mut con, &["DBSIZE"]), int(0));
    assert_eq!(error(&mut raw, &["FLUSHALL", "NOW"]), "ERR syntax error");
    assert_eq!(q(&mut con, &["FLUSHALL", "ASYNC"]), ok());
}

/// Sends `commands` as one pipeline and returns the raw replies.
fn pipeline(raw: &mut RawClient, commands: &[&[&str]]) -> Vec<String> {
    let mut bytes = Vec::new();
    for command in commands {
        bytes.extend(RawClient::encode(command));
    }
    raw.send(&bytes);
    commands.iter().map(|_| show(&raw.read_reply())).collect()
}

#[test]
fn pipelined_copy_and_move_see_their_own_writes_in_other_databases() {
    let redrock = Server::start();
    let redis = RedisServer::start();
    let commands: &[&[&str]] = &[
        &["SET", "a", "1"],
        &["SET", "c", "2"],
        &["COPY", "a", "b", "DB", "2"],
        &["COPY", "c", "b", "DB", "2"],
        &["MOVE", "a", "3"],
        &["SET", "a", "5"],
        &["MOVE", "a", "3"],
        &["RPUSH", "l", "x"],
        &["COPY", "l", "l", "DB", "2"],
        &["RPUSH", "l", "y"],
        &["COPY", "l", "l", "DB", "2", "REPLACE"],
        &["SELECT", "2"],
        &["GET", "b"],
        &["LRANGE", "l", "0", "-1"],
        &["DBSIZE"],
        &["SELECT", "3"],
        &["GET", "a"],
        &["DBSIZE"],
        &["SELECT", "0"],
        &["DBSIZE"],
    ];
    let expected = pipeline(&mut redis.raw(), commands);
    let mut raw = redrock.raw();
    assert_eq!(pipeline(&mut raw, commands), expected);
    assert!(
        expected[3].starts_with(":0"),
        "the oracle answers 0 to the second COPY"
    );
    let keyspace = show(&raw.command(&["INFO", "keyspace"]));
    for line in ["db0:keys=3,", "db2:keys=2,", "db3:keys=1,"] {
        assert!(keyspace.contains(line), "{line} in {keyspace}");
    }
}
