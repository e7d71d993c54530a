//! Hash commands against the real server.

mod common;
use common::*;
use std::collections::{BTreeMap, BTreeSet};

#[test]
fn hset_hget_and_friends() {
    let server = Server::start();
    let mut con = server.client();
    let mut raw = server.raw();
    assert_eq!(
        q(&mut con, &["HSET", "h", "a", "1", "b", "2", "a", "3"]),
        int(2)
    );
    assert_eq!(q(&mut con, &["HGET", "h", "a"]), bulk("3"));
    assert_eq!(q(&mut con, &["HGET", "h", "zz"]), nil());
    assert_eq!(q(&mut con, &["HGET", "nope", "a"]), nil());
    assert_eq!(q(&mut con, &["HSETNX", "h", "a", "9"]), int(0));
    assert_eq!(q(&mut con, &["HSETNX", "h", "c", "9"]), int(1));
    assert_eq!(q(&mut con, &["HMSET", "h", "d", "4", "e", "5"]), ok());
    assert_eq!(
        q(&mut con, &["HMGET", "h", "a", "zz", "d"]),
        array(vec![bulk("3"), nil(), bulk("4")])
    );
    assert_eq!(q(&mut con, &["HMGET", "nope", "a"]), array(vec![nil()]));
    assert_eq!(q(&mut con, &["HLEN", "h"]), int(5));
    assert_eq!(q(&mut con, &["HEXISTS", "h", "e"]), int(1));
    assert_eq!(q(&mut con, &["HEXISTS", "h", "zz"]), int(0));
    assert_eq!(q(&mut con, &["HSTRLEN", "h", "a"]), int(1));
    assert_eq!(q(&mut con, &["HSTRLEN", "h", "zz"]), int(0));
    let all: BTreeMap<String, String> = redis::cmd("HGETALL").arg("h").query(&mut con).unwrap();
    let expected: BTreeMap<String, String> =
        [("a", "3"), ("b", "2"), ("c", "9"), ("d", "4"), ("e", "5")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
    assert_eq!(all, expected);
    let keys: BTreeSet<String> = redis::cmd("HKEYS").arg("h").query(&mut con).unwrap();
    assert_eq!(keys.len(), 5);
    let vals: Vec<String> = redis::cmd("HVALS").arg("h").query(&mut con).unwrap();
    assert_eq!(vals.len(), 5);
    assert_eq!(q(&mut con, &["HDEL", "h", "a", "a", "zz"]), int(1));
    assert_eq!(q(&mut con, &["HLEN", "h"]), int(4));
    assert_eq!(
        error(&mut raw, &["HSET", "h", "a"]),
        "ERR wrong number of arguments for 'hset' command"
    );
    assert_eq!(
        error(&mut raw, &["HSET", "h", "a", "1", "b"]),
        "ERR wrong number of arguments for 'hset' command"
    );
    assert_eq!(
        error(&mut raw, &["HMSET", "h", "a"]),
        "ERR wrong number of arguments for 'hmset' command"
    );
    // an emptied hash stops existing
    assert_eq!(q(&mut con, &["HDEL", "h", "b", "c", "d", "e"]), int(4));
    assert_eq!(q(&mut con, &["EXISTS", "h"]), int(0));
    assert_eq!(q(&mut con, &["DBSIZE"]), int(0));
    assert_eq!(q(&mut con, &["HLEN", "h"]), int(0));
    assert_eq!(q(&mut con, &["HGETALL", "h"]), array(vec![]));
}

#[test]
fn hincrby_and_hincrbyfloat() {
    let server = Server::start();
    let mut con = server.client();
    let mut raw = server.raw();
    assert_eq!(q(&mut con, &["HINCRBY", "h", "n", "5"]), int(5));
    assert_eq!(q(&mut con, &["HINCRBY", "h", "n", "-7"]), int(-2));
    q(
        &mut con,
        &["HSET", "h", "s", "abc", "max", "9223372036854775807"],
    );
    assert_eq!(
        error(&mut raw, &["HINCRBY", "h", "s", "1"]),
        "ERR hash value is not an integer"
    );
    assert_eq!(
        error(&mut raw, &["HINCRBY", "h", "max", "1"]),
        "ERR increment or decrement would overflow"
    );
    assert_eq!(
        error(&mut raw, &["HINCRBY", "h", "n", "x"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        q(&mut con, &["HINCRBYFLOAT", "h", "f", "10.5"]),
        bulk("10.5")
    );
    assert_eq!(
        q(&mut con, &["HINCRBYFLOAT", "h", "f", "0.1"]),
        bulk("10.6")
    );
    assert_eq!(
        q(&mut con, &["HINCRBYFLOAT", "h", "n", "1.5"]),
        bulk("-0.5")
    );
    assert_eq!(
        error(&mut raw, &["HINCRBYFLOAT", "h", "s", "1"]),
        "ERR hash value is not a float"
    );
    assert_eq!(
        error(&mut raw, &["HINCRBYFLOAT", "h", "f", "inf"]),
        "ERR value is NaN or Infinity"
    );
    assert_eq!(
        error(&mut raw, &["HINCRBYFLOAT", "h", "f", "x"]),
        "ERR value is not a valid float"
    );
}

#[test]
fn hrandfield_counts_and_values() {
    let server = Server::start();
    let mut con = server.client();
    let mut raw = server.raw();
    let mut expected = BTreeMap::new();
    for i in 0..20 {
        q(&mut con, &["HSET", "h", &format!("f{i}"), &format!("v{i}")]);
        expected.insert(format!("f{i}"), format!("v{i}"));
    }
    let one: String = redis::cmd("HRANDFIELD").arg("h").query(&mut con).unwrap();
    assert!(expected.contains_key(&one));
    let five: Vec<String> = redis::cmd("HRANDFIELD")
        .arg("h")
        .arg(5)
        .query(&mut con)
        .unwrap();
    assert_eq!(five.len(), 5);
    assert_eq!(five.iter().collect::<BTreeSet<_>>().len(), 5, "distinct");
    let all: Vec<String> = redis::cmd("HRANDFIELD")
        .arg("h")
        .arg(50)
        .query(&mut con)
        .unwrap();
    assert_eq!(all.len(), 20);
    let repeated: Vec<String> = redis::cmd("HRANDFIELD")
        .arg("h")
        .arg(-50)
        .query(&mut con)
        .unwrap();
    assert_eq!(repeated.len(), 50);
    assert!(repeated.iter().all(|f| expected.contains_key(f)));
    let pairs: Vec<String> = redis::cmd("HRANDFIELD")
        .arg("h")
        .arg(-7)
        .arg("WITHVALUES")
        .query(&mut con)
        .unwrap();
    assert_eq!(pairs.len(), 14);
    for pair in pairs.chunks(2) {
        assert_eq!(expected[&pair[0]], pair[1]);
    }
    assert_eq!(q(&mut con, &["HRANDFIELD", "h", "0"]), array(vec![]));
    assert_eq!(q(&mut con, &["HRANDFIELD", "nope"]), nil());
    assert_eq!(q(&mut con, &["HRANDFIELD", "nope", "3"]), array(vec![]));
    assert_eq!(
        error(&mut raw, &["HRANDFIELD", "h", "1", "2"]),
        "ERR syntax error"
    );
    assert_eq!(
        error(&mut raw, &["HRANDFIELD", "h", "x"]),
        "ERR value is not an integer or out of range"
    );
}

#[test]
fn hrandfield_on_a_big_hash_spreads_its_picks() {
    let server = Server::start();
    let mut con = server.client();
    let mut pipe = redis::pipe();
    for i in 0..10_000 {
        pipe.cmd("HSET")
            .arg("big")
            .arg(format!("field:{i:05}"))
            .arg(i)
            .ignore();
    }
    pipe.query::<()>(&mut con).unwrap();
    let picks: Vec<String> = redis::cmd("HRANDFIELD")
        .arg("big")
        .arg(-2000)
        .query(&mut con)
        .unwrap();
    assert_eq!(picks.len(), 2000);
    let distinct: BTreeSet<&String> = picks.iter().collect();
    assert!(
        distinct.len() > 1000,
        "only {} distinct fields in 2000 picks",
        distinct.len()
    );
    let tenths: BTreeSet<char> = picks.iter().map(|f| f.as_bytes()[7] as char).collect();
    assert_eq!(
        tenths.len(),
        10,
        "picks cover every tenth of the hash: {tenths:?}"
    );
    let some: Vec<String> = redis::cmd("HRANDFIELD")
        .arg("big")
        .arg(300)
        .query(&mut con)
        .unwrap();
    assert_eq!(some.iter().collect::<BTreeSet<_>>().len(), 300);
}

#[test]
fn hscan_matches_counts_and_survives_changes() {
    let server = Server::start();
    let mut con = server.client();
    let mut raw = server.raw();
    for i in 0..500 {
        q(&mut con, &["HSET", "h", &format!("f{i}"), &format!("{i}")]);
    }
    let mut cursor = "0".to_string();
    let mut seen = BTreeMap::new();
    let mut round = 0;
    loop {
        let (next, items): (String, Vec<String>) = redis::cmd("HSCAN")
            .arg("h")
            .arg(&cursor)
            .arg("COUNT")
            .arg(37)
            .query(&mut con)
            .unwrap();
        for pair in items.chunks(2) {
            seen.insert(pair[0].clone(), pair[1].clone());
        }
        // Changes during the scan: fields added and deleted.
        q(&mut con, &["HSET", "h", &format!("new{round}"), "x"]);
        q(&mut con, &["HDEL", "h", &format!("f{}", 499 - round)]);
        round += 1;
        if next == "0" {
            break;
        }
        cursor = next;
    }
    // Every field present for the whole scan was returned.
    for i in 0..(500 - round) {
        assert_eq!(seen.get(&format!("f{i}")), Some(&i.to_string()), "f{i}");
    }
    let (_, only): (String, Vec<String>) = redis::cmd("HSCAN")
        .arg("h")
        .arg(0)
        .arg("MATCH")
        .arg("f1?")
        .arg("COUNT")
        .arg(1000)
        .query(&mut con)
        .unwrap();
    assert_eq!(only.len(), 20, "ten fields f10..f19 with values");
    let (_, names): (String, Vec<String>) = redis::cmd("HSCAN")
        .arg("h")
        .arg(0)
        .arg("MATCH")
        .arg("f1?")
        .arg("COUNT")
        .arg(1000)
        .arg("NOVALUES")
        .query(&mut con)
        .unwrap();
    assert_eq!(names.len(), 10);
    assert!(names.iter().all(|n| n.starts_with("f1")));
    assert_eq!(
        q(&mut con, &["HSCAN", "nope", "0"]),
        array(vec![bulk("0"), array(vec![])])
    );
    assert_eq!(
        error(&mut raw, &["HSCAN", "h", "0", "TYPE", "hash"]),
        "ERR syntax error"
    );
    assert_eq!(
        q(&mut con, &["HSCAN", "nope", "0", "BOGUS"]),
        array(vec![bulk("0"), array(vec![])])
    );
    assert_eq!(error(&mut raw, &["HSCAN", "h", "x"]), "ERR invalid cursor");
}

#[test]
fn wrongtype_and_keyspace_rules() {
    let server = Server::start();
    let mut con = server.client();
    let mut raw = server.raw();
    q(&mut con, &["SET", "s", "v"]);
    q(&mut con, &["HSET", "h", "f", "v"]);
    let wrongtype = "WRONGTYPE Operation against a key holding the wrong kind of value";
    for cmd in [
        vec!["HSET", "s", "f", "v"],
        vec!["HGET", "s", "f"],
        vec!["HGETALL", "s"],
        vec!["HINCRBY", "s", "f", "1"],
        vec!["HLEN", "s"],
        vec!["HSCAN", "s", "0"],
        vec!["GET", "h"],
        vec!["APPEND", "h", "x"],
        vec!["INCR", "h"],
        vec!["SADD", "h", "m"],
    ] {
        assert_eq!(error(&mut raw, &cmd), wrongtype, "{cmd:?}");
    }
    assert_eq!(
        q(&mut con, &["TYPE", "h"]),
        redis::Value::SimpleString("hash".into())
    );
    assert_eq!(q(&mut con, &["OBJECT", "ENCODING", "h"]), bulk("listpack"));
    // SET over a hash replaces it
    assert_eq!(q(&mut con, &["SET", "h", "plain"]), ok());
    assert_eq!(q(&mut con, &["GET", "h"]), bulk("plain"));
    assert_eq!(q(&mut con, &["HSET", "h2", "a", "1", "b", "2"]), int(2));
    assert_eq!(q(&mut con, &["EXPIRE", "h2", "100"]), int(1));
    assert_eq!(q(&mut con, &["RENAME", "h2", "h3"]), ok());
    assert_eq!(q(&mut con, &["HGET", "h3", "b"]), bulk("2"));
    assert_eq!(q(&mut con, &["TTL", "h3"]), int(100));
    assert_eq!(q(&mut con, &["COPY", "h3", "h4"]), int(1));
    assert_eq!(q(&mut con, &["HDEL", "h3", "a"]), int(1));
    assert_eq!(
        q(&mut con, &["HLEN", "h4"]),
        int(2),
        "a copy is independent"
    );
    assert_eq!(q(&mut con, &["MOVE", "h4", "1"]), int(1));
    q(&mut con, &["SELECT", "1"]);
    assert_eq!(q(&mut con, &["HGET", "h4", "a"]), bulk("1"));
    q(&mut con, &["SELECT", "0"]);
    let (_, hashes): (String, Vec<String>) = redis::cmd("SCAN")
        .arg(0)
        .arg("TYPE")
        .arg("hash")
        .arg("COUNT")
        .arg(100)
        .query(&mut con)
        .unwrap();
    assert_eq!(hashes, vec!["h3".to_string()]);
    assert_eq!(q(&mut con, &["DBSIZE"]), int(3));
    // an expired hash is gone, and a new one of the same name starts empty
    q(&mut con, &["PEXPIRE", "h3", "1"]);
    std::thread::sleep(std::time::Duration::from_millis(5));
    assert_eq!(q(&mut con, &["HLEN", "h3"]), int(0));
    assert_eq!(q(&mut con, &["HSET", "h3", "z", "1"]), int(1));
    assert_eq!(
        q(&mut con, &["HGETALL", "h3"]),
        array(vec![bulk("z"), bulk("1")])
    );
    let big = "x".repeat(100);
    q(&mut con, &["HSET", "h3", "long", &big]);
    assert_eq!(
        q(&mut con, &["OBJECT", "ENCODING", "h3"]),
        bulk("hashtable")
    );
}

#[test]
fn deleted_hash_members_are_collected_by_compaction() {
    let server = Server::start();
    let mut con = server.client();
    let mut pipe = redis::pipe();
    for i in 0..50_000 {
        pipe.cmd("HSET")
            .arg("big")
            .arg(format!("field:{i}"))
            .arg("value")
            .ignore();
    }
    pipe.query::<()>(&mut con).unwrap();
    q(&mut con, &["SADD", "keep", "a", "b", "c"]);
    assert_eq!(q(&mut con, &["COMPACT"]), ok());
    assert_eq!(common::estimated_subkeys(&mut con), 50_003);
    // DEL touches only the metadata; the members go at the next compaction.
    assert_eq!(q(&mut con, &["DEL", "big"]), int(1));
    assert_eq!(
        q(&mut con, &["HSET", "big", "fresh", "1", "other", "2"]),
        int(2)
    );
    assert_eq!(q(&mut con, &["COMPACT"]), ok());
    assert_eq!(
        common::estimated_subkeys(&mut con),
        5,
        "two new fields of big and the three of keep"
    );
    assert_eq!(q(&mut con, &["HLEN", "big"]), int(2));
    let all: BTreeMap<String, String> = redis::cmd("HGETALL").arg("big").query(&mut con).unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(q(&mut con, &["SCARD", "keep"]), int(3));
    // Overwriting with a string and expiring orphan members too.
    q(&mut con, &["SET", "big", "now a string"]);
    q(&mut con, &["PEXPIRE", "keep", "1"]);
    std::thread::sleep(std::time::Duration::from_millis(5));
    assert_eq!(q(&mut con, &["EXISTS", "keep"]), int(0));
    assert_eq!(q(&mut con, &["COMPACT"]), ok());
    assert_eq!(common::estimated_subkeys(&mut con), 0);
}
