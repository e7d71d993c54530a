//! Hash field expiry (Redis 7.4): HEXPIRE and friends, the replies and
//! errors of redis.io's pages, expired fields vanishing from every hash
//! command, active reclamation with its events, and what carries the
//! expiries along (COPY, RENAME, MOVE, DUMP/RESTORE, a restart).

mod common;
use common::*;
use redis::Value;
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

fn ints(values: &[i64]) -> Value {
    array(values.iter().map(|&n| int(n)).collect())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn integers(v: Value) -> Vec<i64> {
    match v {
        Value::Array(items) => items
            .into_iter()
            .map(|i| match i {
                Value::Int(n) => n,
                other => panic!("not an integer: {other:?}"),
            })
            .collect(),
        other => panic!("not an array: {other:?}"),
    }
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn replies_follow_redis() {
    let server = Server::start();
    let mut con = server.client();
    q(&mut con, &["HSET", "h", "a", "1", "b", "2", "c", "3"]);
    // A missing key answers -2 for every field and is not created.
    assert_eq!(
        q(
            &mut con,
            &["HEXPIRE", "nope", "10", "FIELDS", "2", "a", "b"]
        ),
        ints(&[-2, -2])
    );
    assert_eq!(
        q(&mut con, &["HTTL", "nope", "FIELDS", "1", "a"]),
        ints(&[-2])
    );
    assert_eq!(
        q(&mut con, &["HPERSIST", "nope", "FIELDS", "1", "a"]),
        ints(&[-2])
    );
    assert_eq!(q(&mut con, &["EXISTS", "nope"]), int(0));

    assert_eq!(
        q(&mut con, &["HEXPIRE", "h", "100", "FIELDS", "2", "a", "zz"]),
        ints(&[1, -2])
    );
    assert_eq!(
        q(&mut con, &["HTTL", "h", "FIELDS", "3", "a", "b", "zz"]),
        ints(&[100, -1, -2])
    );
    let pttl = integers(q(&mut con, &["HPTTL", "h", "FIELDS", "1", "a"]))[0];
    assert!((99_000..=100_000).contains(&pttl), "{pttl}");
    let at_ms = integers(q(&mut con, &["HPEXPIRETIME", "h", "FIELDS", "1", "a"]))[0];
    assert!((now_ms() + 99_000..=now_ms() + 100_000).contains(&at_ms));
    let at_s = integers(q(&mut con, &["HEXPIRETIME", "h", "FIELDS", "1", "a"]))[0];
    assert_eq!(at_s, (at_ms + 999) / 1000);

    // NX: only without an expiry; XX: only with one; GT / LT compare, no
    // expiry counting as infinite.
    assert_eq!(
        q(
            &mut con,
            &["HEXPIRE", "h", "200", "NX", "FIELDS", "2", "a", "b"]
        ),
        ints(&[0, 1])
    );
    assert_eq!(
        q(&mut con, &["HPERSIST", "h", "FIELDS", "3", "b", "c", "zz"]),
        ints(&[1, -1, -2])
    );
    assert_eq!(
        q(
            &mut con,
            &["HEXPIRE", "h", "300", "XX", "FIELDS", "2", "a", "b"]
        ),
        ints(&[1, 0])
    );
    assert_eq!(
        q(
            &mut con,
            &["HEXPIRE", "h", "299", "GT", "FIELDS", "2", "a", "b"]
        ),
        ints(&[0, 0])
    );
    assert_eq!(
        q(&mut con, &["HEXPIRE", "h", "400", "gt", "FIELDS", "1", "a"]),
        ints(&[1])
    );
    assert_eq!(
        q(
            &mut con,
            &["HEXPIRE", "h", "400", "LT", "FIELDS", "2", "a", "b"]
        ),
        ints(&[0, 1])
    );
    assert_eq!(
        q(&mut con, &["HEXPIRE", "h", "50", "lt", "FIELDS", "1", "a"]),
        ints(&[1])
    );
    // The same field twice: the second sees the first's change.
    assert_eq!(
        q(
            &mut con,
            &["HEXPIRE", "h", "60", "NX", "FIELDS", "2", "c", "c"]
        ),
        ints(&[1, 0])
    );
    // The absolute and millisecond forms.
    let at = now_ms() / 1000 + 1000;
    assert_eq!(
        q(
            &mut con,
            &["HEXPIREAT", "h", &at.to_string(), "FIELDS", "1", "a"]
        ),
        ints(&[1])
    );
    assert_eq!(
        q(&mut con, &["HEXPIRETIME", "h", "FIELDS", "1", "a"]),
        ints(&[at])
    );
    assert_eq!(
        q(
            &mut con,
            &[
                "HPEXPIREAT",
                "h",
                &(at * 1000 + 1).to_string(),
                "FIELDS",
                "1",
                "a"
            ]
        ),
        ints(&[1])
    );
    assert_eq!(
        q(&mut con, &["HPEXPIRETIME", "h", "FIELDS", "1", "a"]),
        ints(&[at * 1000 + 1])
    );
    assert_eq!(
        q(&mut con, &["HEXPIRETIME", "h", "FIELDS", "1", "a"]),
        ints(&[at + 1])
    );
    // A time already past deletes (the condition is checked first), and
    // the last field's deletion removes the key.
    assert_eq!(
        q(&mut con, &["HEXPIRE", "h", "0", "NX", "FIELDS", "1", "a"]),
        ints(&[0])
    );
    assert_eq!(
        q(
            &mut con,
            &["HPEXPIREAT", "h", "1", "FIELDS", "2", "a", "zz"]
        ),
        ints(&[2, -2])
    );
    assert_eq!(q(&mut con, &["HLEN", "h"]), int(2));
    assert_eq!(
        q(&mut con, &["HEXPIRE", "h", "0", "FIELDS", "2", "b", "c"]),
        ints(&[2, 2])
    );
    assert_eq!(q(&mut con, &["EXISTS", "h"]), int(0));
}

#[test]
fn errors_follow_redis() {
    let server = Server::start();
    let mut con = server.client();
    let mut raw = server.raw();
    q(&mut con, &["HSET", "h", "a", "1"]);
    q(&mut con, &["SET", "s", "v"]);
    let max_s = ((1u64 << 46) - 1) / 1000;
    let cases: &[(&[&str], &str)] = &[
        (
            &["HEXPIRE", "s", "notanum", "FIELDS", "1", "a"],
            "WRONGTYPE Operation against a key holding the wrong kind of value",
        ),
        (
            &["HTTL", "s", "FIELDS", "1", "a"],
            "WRONGTYPE Operation against a key holding the wrong kind of value",
        ),
        (
            &["HEXPIRE", "h", "notanum", "FIELDS", "1", "a"],
            "ERR value is not an integer or out of range",
        ),
        (
            &["HEXPIRE", "h", "-1", "FIELDS", "1", "a"],
            "ERR invalid expire time, must be >= 0",
        ),
        (
            &["HEXPIRE", "h", &(max_s + 1).to_string(), "FIELDS", "1", "a"],
            "ERR invalid expire time in 'hexpire' command",
        ),
        (
            &[
                "HPEXPIREAT",
                "h",
                &(1u64 << 46).to_string(),
                "FIELDS",
                "1",
                "a",
            ],
            "ERR invalid expire time in 'hpexpireat' command",
        ),
        (
            &["HEXPIRE", "h", "100", "BADCOND", "FIELDS", "1", "a"],
            "ERR Mandatory argument FIELDS is missing or not at the right position",
        ),
        (
            &["HTTL", "h", "NOTFIELDS", "1", "a"],
            "ERR Mandatory argument FIELDS is missing or not at the right position",
        ),
        (
            &["HEXPIRE", "h", "100", "FIELDS", "0", "a"],
            "ERR Parameter `numFields` should be greater than 0",
        ),
        (
            &["HEXPIRE", "h", "100", "NX", "FIELDS", "x", "a"],
            "ERR Parameter `numFields` should be greater than 0",
        ),
        (
            &["HTTL", "h", "FIELDS", "0", "a"],
            "ERR Number of fields must be a positive integer",
        ),
        (
            &["HPERSIST", "h", "FIELDS", "x", "a"],
            "ERR Number of fields must be a positive integer",
        ),
        (
            &["HEXPIRE", "h", "100", "FIELDS", "2", "a"],
            "ERR The `numfields` parameter must match the number of arguments",
        ),
        (
            &["HTTL", "h", "FIELDS", "1", "a", "b"],
            "ERR The `numfields` parameter must match the number of arguments",
        ),
        (
            &["HEXPIRE", "h", "100", "FIELDS", "1"],
            "ERR wrong number of arguments for 'hexpire' command",
        ),
        (
            &["HPERSIST", "h", "FIELDS", "1"],
            "ERR wrong number of arguments for 'hpersist' command",
        ),
    ];
    for (command, expected) in cases {
        assert_eq!(&error(&mut raw, command), expected, "{command:?}");
    }
    // The latest times accepted: relative ones count from now.
    assert_eq!(
        q(
            &mut con,
            &["HEXPIREAT", "h", &max_s.to_string(), "FIELDS", "1", "a"]
        ),
        ints(&[1])
    );
    let max_ms = (1u64 << 46) - 1;
    assert_eq!(
        q(
            &mut con,
            &["HPEXPIREAT", "h", &max_ms.to_string(), "FIELDS", "1", "a"]
        ),
        ints(&[1])
    );
    assert_eq!(
        error(
            &mut raw,
            &["HPEXPIRE", "h", &max_ms.to_string(), "FIELDS", "1", "a"]
        ),
        "ERR invalid expire time in 'hpexpire' command"
    );
}

/// Holds writes (and so active expiry) while `read` runs.
fn paused<T>(server: &Server, read: impl FnOnce() -> T) -> T {
    let mut admin = server.client();
    q(&mut admin, &["CLIENT", "PAUSE", "10000", "WRITE"]);
    let result = read();
    q(&mut admin, &["CLIENT", "UNPAUSE"]);
    result
}

#[test]
fn expired_fields_vanish_from_every_hash_command_and_are_reclaimed() {
    let server = Server::start();
    let mut con = server.client();
    let mut events = server.client();
    q(
        &mut con,
        &["CONFIG", "SET", "notify-keyspace-events", "KEA"],
    );
    let mut pubsub = events.as_pubsub();
    pubsub.psubscribe("__keyevent@0__:*").unwrap();
    pubsub
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();

    q(
        &mut con,
        &["HSET", "h", "gone", "xxx", "stays", "yy", "later", "z"],
    );
    q(&mut con, &["HSET", "all", "a", "1"]);
    q(&mut con, &["HPEXPIRE", "h", "100", "FIELDS", "1", "gone"]);
    q(
        &mut con,
        &["HPEXPIRE", "h", "100000", "FIELDS", "1", "later"],
    );
    q(&mut con, &["HPEXPIRE", "all", "100", "FIELDS", "1", "a"]);
    q(&mut con, &["RPUSH", "w", "gone"]);
    assert_eq!(
        q(&mut con, &["OBJECT", "ENCODING", "h"]),
        bulk("listpackex")
    );
    std::thread::sleep(Duration::from_millis(150));
    paused(&server, || {
        // Due but not reclaimed: every read leaves the field out.
        let mut c = server.client();
        assert_eq!(q(&mut c, &["HGET", "h", "gone"]), nil());
        assert_eq!(q(&mut c, &["HEXISTS", "h", "gone"]), int(0));
        assert_eq!(q(&mut c, &["HSTRLEN", "h", "gone"]), int(0));
        assert_eq!(q(&mut c, &["HLEN", "h"]), int(2));
        assert_eq!(
            q(&mut c, &["HMGET", "h", "gone", "stays"]),
            array(vec![nil(), bulk("yy")])
        );
        let all: BTreeMap<String, String> = redis::cmd("HGETALL").arg("h").query(&mut c).unwrap();
        assert_eq!(all.keys().collect::<Vec<_>>(), ["later", "stays"]);
        let keys: Vec<String> = redis::cmd("HKEYS").arg("h").query(&mut c).unwrap();
        assert!(!keys.contains(&"gone".to_string()));
        let vals: Vec<String> = redis::cmd("HVALS").arg("h").query(&mut c).unwrap();
        assert!(!vals.contains(&"xxx".to_string()));
        let (_, scanned): (u64, Vec<String>) =
            redis::cmd("HSCAN").arg("h").arg(0).query(&mut c).unwrap();
        assert!(!scanned.contains(&"gone".to_string()));
        for _ in 0..20 {
            let picked: Vec<String> = redis::cmd("HRANDFIELD")
                .arg("h")
                .arg(-5)
                .query(&mut c)
                .unwrap();
            assert!(!picked.contains(&"gone".to_string()), "{picked:?}");
        }
        let picked: Vec<String> = redis::cmd("HRANDFIELD")
            .arg("h")
            .arg(10)
            .query(&mut c)
            .unwrap();
        assert_eq!(picked.len(), 2);
        assert_eq!(
            q(&mut c, &["HTTL", "h", "FIELDS", "2", "gone", "stays"]),
            ints(&[-2, -1])
        );
        assert_eq!(
            q(&mut c, &["SORT", "w", "BY", "nosort", "GET", "h->gone"]),
            array(vec![nil()])
        );
        // A hash whose every field is due reads as empty.
        assert_eq!(q(&mut c, &["HLEN", "all"]), int(0));
        assert_eq!(q(&mut c, &["HGETALL", "all"]), Value::Array(vec![]));
        assert_eq!(q(&mut c, &["DUMP", "all"]), nil());
    });
    // Then active expiry removes them, with Redis's events.
    let mut seen = Vec::new();
    while !(seen.contains(&("del".to_string(), "all".to_string()))
        && seen.contains(&("hexpired".to_string(), "h".to_string())))
    {
        let msg = pubsub.get_message().expect("an event");
        let event = msg
            .get_channel_name()
            .rsplit(':')
            .next()
            .unwrap()
            .to_string();
        seen.push((event, msg.get_payload::<String>().unwrap()));
    }
    let all_events: Vec<&str> = seen
        .iter()
        .filter(|(_, key)| key == "all")
        .map(|(e, _)| e.as_str())
        .collect();
    assert_eq!(all_events, ["hset", "hexpire", "hexpired", "del"]);
    drop(pubsub);
    assert_eq!(q(&mut con, &["EXISTS", "all"]), int(0));
    assert_eq!(q(&mut con, &["HLEN", "h"]), int(2));
    assert_eq!(q(&mut con, &["DBSIZE"]), int(2));

    // A time already past deletes, raising hdel (and del once empty), as
    // Redis 7.4 does.
    q(&mut con, &["HSET", "past", "a", "1", "b", "2"]);
    let mut events = server.client();
    let mut pubsub = events.as_pubsub();
    pubsub.psubscribe("__keyevent@0__:*").unwrap();
    pubsub
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    for field in ["a", "b"] {
        assert_eq!(
            q(&mut con, &["HPEXPIREAT", "past", "1", "FIELDS", "1", field]),
            ints(&[2])
        );
    }
    let mut got = Vec::new();
    while got.len() < 3 {
        let msg = pubsub.get_message().expect("an event");
        let event = msg
            .get_channel_name()
            .rsplit(':')
            .next()
            .unwrap()
            .to_string();
        got.push(format!("{event} {}", msg.get_payload::<String>().unwrap()));
    }
    assert_eq!(got, ["hdel past", "hdel past", "del past"]);
    assert_eq!(q(&mut con, &["EXISTS", "past"]), int(0));
}

#[test]
fn writes_and_expiries() {
    let server = Server::start();
    let mut con = server.client();
    q(&mut con, &["HSET", "h", "a", "1", "b", "2", "n", "10"]);
    q(
        &mut con,
        &["HEXPIRE", "h", "100", "FIELDS", "3", "a", "b", "n"],
    );
    // HSET writes a value anew, without its expiry; HSETNX leaves it.
    assert_eq!(q(&mut con, &["HSET", "h", "a", "9"]), int(0));
    assert_eq!(q(&mut con, &["HSETNX", "h", "b", "9"]), int(0));
    // HINCRBY and HINCRBYFLOAT keep it, as in Redis.
    assert_eq!(q(&mut con, &["HINCRBY", "h", "n", "5"]), int(15));
    assert_eq!(
        q(&mut con, &["HINCRBYFLOAT", "h", "n", "0.5"]),
        bulk("15.5")
    );
    assert_eq!(
        q(&mut con, &["HTTL", "h", "FIELDS", "3", "a", "b", "n"]),
        ints(&[-1, 100, 100])
    );
    // HDEL removes the field and its expiry: a new field has none.
    assert_eq!(q(&mut con, &["HDEL", "h", "b"]), int(1));
    q(&mut con, &["HSET", "h", "b", "new"]);
    assert_eq!(q(&mut con, &["HTTL", "h", "FIELDS", "1", "b"]), ints(&[-1]));

    // COPY, RENAME and MOVE carry the expiries.
    assert_eq!(q(&mut con, &["COPY", "h", "copy"]), int(1));
    assert_eq!(
        q(&mut con, &["HTTL", "copy", "FIELDS", "2", "n", "a"]),
        ints(&[100, -1])
    );
    q(&mut con, &["RENAME", "copy", "renamed"]);
    assert_eq!(
        q(&mut con, &["HTTL", "renamed", "FIELDS", "1", "n"]),
        ints(&[100])
    );
    assert_eq!(q(&mut con, &["MOVE", "renamed", "1"]), int(1));
    q(&mut con, &["SELECT", "1"]);
    assert_eq!(
        q(&mut con, &["HTTL", "renamed", "FIELDS", "1", "n"]),
        ints(&[100])
    );
    // The expiry of a moved hash still ends its field.
    q(&mut con, &["HPEXPIRE", "renamed", "50", "FIELDS", "1", "n"]);
    wait_until("the moved hash's field to be reclaimed", || {
        q(&mut con, &["HEXISTS", "renamed", "n"]) == int(0)
    });
    q(&mut con, &["SELECT", "0"]);

    // DUMP / RESTORE keep the expiries (Redis 7.4's format, RDB 12);
    // once none is left the payload is the plain hash every Redis reads.
    let payload: Vec<u8> = redis::cmd("DUMP").arg("h").query(&mut con).unwrap();
    assert_eq!(payload[payload.len() - 10], 12);
    redis::cmd("RESTORE")
        .arg("restored")
        .arg(0)
        .arg(&payload)
        .query::<()>(&mut con)
        .unwrap();
    assert_eq!(
        q(&mut con, &["HTTL", "restored", "FIELDS", "2", "n", "a"]),
        ints(&[100, -1])
    );
    let fields: BTreeMap<String, String> = redis::cmd("HGETALL")
        .arg("restored")
        .query(&mut con)
        .unwrap();
    assert_eq!(fields.len(), 3);
    q(&mut con, &["HPERSIST", "h", "FIELDS", "1", "n"]);
    let payload: Vec<u8> = redis::cmd("DUMP").arg("h").query(&mut con).unwrap();
    assert_eq!(payload[payload.len() - 10], 10);

    // A key with an expiry of its own keeps both.
    q(&mut con, &["EXPIRE", "restored", "1000"]);
    q(
        &mut con,
        &["HPEXPIRE", "restored", "50", "FIELDS", "1", "a"],
    );
    wait_until("the field to be reclaimed", || {
        q(&mut con, &["HLEN", "restored"]) == int(2)
    });
    assert_eq!(q(&mut con, &["TTL", "restored"]), int(1000));
    q(&mut con, &["PERSIST", "restored"]);
    assert_eq!(
        q(&mut con, &["HTTL", "restored", "FIELDS", "1", "n"]),
        ints(&[100])
    );
}

#[test]
fn expiries_survive_a_restart_and_expire_after_it() {
    let mut server = Server::start();
    let mut con = server.client();
    q(&mut con, &["HSET", "h", "a", "1", "b", "2"]);
    q(&mut con, &["HPEXPIRE", "h", "1500", "FIELDS", "1", "a"]);
    q(&mut con, &["HEXPIRE", "h", "500", "FIELDS", "1", "b"]);
    server.kill9();
    server.restart(&[]);
    let mut con = server.client();
    assert_eq!(
        q(&mut con, &["HTTL", "h", "FIELDS", "1", "b"]),
        ints(&[500])
    );
    wait_until("a's expiry", || q(&mut con, &["HLEN", "h"]) == int(1));
    assert_eq!(q(&mut con, &["HEXISTS", "h", "b"]), int(1));
}

#[test]
fn a_big_hash_expires_in_batches() {
    let server = Server::start();
    let mut con = server.client();
    let mut pipe = redis::pipe();
    for i in 0..20_000 {
        pipe.cmd("HSET")
            .arg("big")
            .arg(format!("f{i}"))
            .arg(i)
            .ignore();
    }
    pipe.query::<()>(&mut con).unwrap();
    let mut command = redis::cmd("HPEXPIRE");
    command.arg("big").arg(200).arg("FIELDS").arg(15_000);
    for i in 0..15_000 {
        command.arg(format!("f{i}"));
    }
    let answers: Vec<i64> = command.query(&mut con).unwrap();
    assert!(answers.iter().all(|&a| a == 1));
    assert_eq!(q(&mut con, &["HLEN", "big"]), int(20_000));
    std::thread::sleep(Duration::from_millis(250));
    // Exact from the moment they are due, reclaimed or not.
    assert_eq!(q(&mut con, &["HLEN", "big"]), int(5_000));
    wait_until("reclamation", || {
        q(&mut con, &["HPTTL", "big", "FIELDS", "1", "f0"]) == ints(&[-2])
            && q(&mut con, &["OBJECT", "ENCODING", "big"]) == bulk("hashtable")
    });
    let keys: Vec<String> = redis::cmd("HKEYS").arg("big").query(&mut con).unwrap();
    assert_eq!(keys.len(), 5_000);
    assert!(keys
        .iter()
        .all(|k| k[1..].parse::<u32>().unwrap() >= 15_000));
}

/// Clients share one hash, each writing its own fields; expiries are
/// either long (the field must stay) or a few milliseconds (gone once
/// they pass). Every reply is checked against the client's model, and at
/// the end the hash equals the union of the models exactly.
#[test]
fn concurrent_writers_keep_fields_and_counts_exact() {
    let server = Server::start();
    let clients = 8;
    let rounds = 400;
    let handles: Vec<_> = (0..clients)
        .map(|c| {
            let mut con = server.client();
            std::thread::spawn(move || {
                // field -> (value, expires soon at)
                let mut model: HashMap<String, (String, Option<i64>)> = HashMap::new();
                let mut seed = 0x9e37_79b9_7f4a_7c15u64 ^ (c as u64 + 1);
                let mut rand = move |n: u64| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    seed % n
                };
                for round in 0..rounds {
                    let field = format!("c{c}:f{}", rand(20));
                    let now = now_ms();
                    // What the field is for certain (`None`: it may have
                    // expired or not yet). A short expiry is at most `at`.
                    let known: Option<Option<String>> = match model.get(&field) {
                        None => Some(None),
                        Some((v, None)) => Some(Some(v.clone())),
                        Some((_, Some(at))) if now >= at + 5 => Some(None),
                        Some(_) => None,
                    };
                    match rand(6) {
                        0 | 1 => {
                            let value = format!("{c}-{round}");
                            let added = q(&mut con, &["HSET", "shared", &field, &value]);
                            if let Some(known) = &known {
                                assert_eq!(added, int(i64::from(known.is_none())), "{field}");
                            }
                            model.insert(field, (value, None));
                        }
                        2 => {
                            let answer = integers(q(
                                &mut con,
                                &["HPEXPIRE", "shared", "3600000", "FIELDS", "1", &field],
                            ))[0];
                            match &known {
                                Some(Some(_)) => assert_eq!(answer, 1, "{field}"),
                                Some(None) => assert_eq!(answer, -2, "{field}"),
                                None => assert!(answer == 1 || answer == -2),
                            }
                            if answer == 1 {
                                let value = model[&field].0.clone();
                                model.insert(field, (value, None));
                            } else {
                                model.remove(&field);
                            }
                        }
                        3 => {
                            let answer = integers(q(
                                &mut con,
                                &["HPEXPIRE", "shared", "5", "FIELDS", "1", &field],
                            ))[0];
                            if answer == 1 {
                                let value = model[&field].0.clone();
                                model.insert(field, (value, Some(now_ms() + 5)));
                            } else {
                                assert_eq!(answer, -2);
                                assert!(!matches!(known, Some(Some(_))), "{field}");
                                model.remove(&field);
                            }
                        }
                        4 => {
                            let removed = q(&mut con, &["HDEL", "shared", &field]);
                            if let Some(known) = &known {
                                assert_eq!(removed, int(i64::from(known.is_some())), "{field}");
                            }
                            model.remove(&field);
                        }
                        _ => {
                            let value = q(&mut con, &["HGET", "shared", &field]);
                            if let Some(known) = &known {
                                let expected = known.as_deref().map_or(nil(), bulk);
                                assert_eq!(value, expected, "{field}");
                            }
                        }
                    }
                }
                // The fields that must be there once every short expiry
                // has passed.
                model
                    .into_iter()
                    .filter(|(_, (_, soon))| soon.is_none())
                    .map(|(f, (v, _))| (f, v))
                    .collect::<BTreeMap<_, _>>()
            })
        })
        .collect();
    let mut expected = BTreeMap::new();
    for handle in handles {
        expected.extend(handle.join().unwrap());
    }
    std::thread::sleep(Duration::from_millis(50));
    let mut con = server.client();
    let all: BTreeMap<String, String> =
        redis::cmd("HGETALL").arg("shared").query(&mut con).unwrap();
    assert_eq!(all, expected);
    assert_eq!(q(&mut con, &["HLEN", "shared"]), int(expected.len() as i64));
    // Once active expiry has run, the stored count agrees too.
    std::thread::sleep(Duration::from_millis(500));
    let all: BTreeMap<String, String> =
        redis::cmd("HGETALL").arg("shared").query(&mut con).unwrap();
    assert_eq!(all, expected);
    assert_eq!(q(&mut con, &["HLEN", "shared"]), int(expected.len() as i64));
}
