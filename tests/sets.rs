//! Set commands against the real server.

mod common;
use common::*;
use std::collections::BTreeSet;

fn members(con: &mut redis::Connection, key: &str) -> BTreeSet<String> {
    redis::cmd("SMEMBERS").arg(key).query(con).unwrap()
}

fn set_of(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn add_remove_and_membership() {
    let server = Server::start();
    let mut con = server.client();
    let mut raw = server.raw();
    assert_eq!(q(&mut con, &["SADD", "s", "a", "b", "a", "c"]), int(3));
    assert_eq!(q(&mut con, &["SADD", "s", "a", "d"]), int(1));
    assert_eq!(q(&mut con, &["SCARD", "s"]), int(4));
    assert_eq!(q(&mut con, &["SCARD", "nope"]), int(0));
    assert_eq!(q(&mut con, &["SISMEMBER", "s", "a"]), int(1));
    assert_eq!(q(&mut con, &["SISMEMBER", "s", "z"]), int(0));
    assert_eq!(
        q(&mut con, &["SMISMEMBER", "s", "a", "z", "d"]),
        array(vec![int(1), int(0), int(1)])
    );
    assert_eq!(
        q(&mut con, &["SMISMEMBER", "nope", "a"]),
        array(vec![int(0)])
    );
    assert_eq!(members(&mut con, "s"), set_of(&["a", "b", "c", "d"]));
    assert_eq!(q(&mut con, &["SREM", "s", "a", "a", "z"]), int(1));
    assert_eq!(q(&mut con, &["SREM", "s", "b", "c", "d"]), int(3));
    assert_eq!(
        q(&mut con, &["EXISTS", "s"]),
        int(0),
        "an emptied set stops existing"
    );
    assert_eq!(q(&mut con, &["SREM", "s", "a"]), int(0));
    assert_eq!(
        error(&mut raw, &["SADD", "s"]),
        "ERR wrong number of arguments for 'sadd' command"
    );
    q(&mut con, &["SET", "str", "v"]);
    assert_eq!(
        error(&mut raw, &["SADD", "str", "a"]),
        "WRONGTYPE Operation against a key holding the wrong kind of value"
    );
    assert_eq!(
        error(&mut raw, &["SMEMBERS", "str"]),
        "WRONGTYPE Operation against a key holding the wrong kind of value"
    );
}

#[test]
fn spop_and_srandmember() {
    let server = Server::start();
    let mut con = server.client();
    let mut raw = server.raw();
    let all: Vec<String> = (0..30).map(|i| format!("m{i}")).collect();
    let mut cmd = redis::cmd("SADD");
    cmd.arg("s").arg(&all);
    cmd.query::<i64>(&mut con).unwrap();
    let universe: BTreeSet<String> = all.iter().cloned().collect();
    let one: String = redis::cmd("SPOP").arg("s").query(&mut con).unwrap();
    assert!(universe.contains(&one));
    let three: Vec<String> = redis::cmd("SPOP").arg("s").arg(3).query(&mut con).unwrap();
    assert_eq!(three.iter().collect::<BTreeSet<_>>().len(), 3);
    assert_eq!(q(&mut con, &["SCARD", "s"]), int(26));
    let left = members(&mut con, "s");
    assert!(!left.contains(&one) && three.iter().all(|m| !left.contains(m)));
    let picked: Vec<String> = redis::cmd("SRANDMEMBER")
        .arg("s")
        .arg(5)
        .query(&mut con)
        .unwrap();
    assert_eq!(picked.iter().collect::<BTreeSet<_>>().len(), 5);
    assert!(picked.iter().all(|m| left.contains(m)));
    let repeated: Vec<String> = redis::cmd("SRANDMEMBER")
        .arg("s")
        .arg(-100)
        .query(&mut con)
        .unwrap();
    assert_eq!(repeated.len(), 100);
    let everything: Vec<String> = redis::cmd("SRANDMEMBER")
        .arg("s")
        .arg(1000)
        .query(&mut con)
        .unwrap();
    assert_eq!(everything.iter().cloned().collect::<BTreeSet<_>>(), left);
    assert_eq!(
        q(&mut con, &["SCARD", "s"]),
        int(26),
        "SRANDMEMBER does not remove"
    );
    let rest: Vec<String> = redis::cmd("SPOP")
        .arg("s")
        .arg(100)
        .query(&mut con)
        .unwrap();
    assert_eq!(rest.len(), 26);
    assert_eq!(q(&mut con, &["EXISTS", "s"]), int(0));
    assert_eq!(q(&mut con, &["SPOP", "s"]), nil());
    assert_eq!(q(&mut con, &["SPOP", "s", "3"]), array(vec![]));
    assert_eq!(q(&mut con, &["SRANDMEMBER", "s"]), nil());
    assert_eq!(q(&mut con, &["SRANDMEMBER", "s", "3"]), array(vec![]));
    assert_eq!(
        error(&mut raw, &["SPOP", "s", "-1"]),
        "ERR value is out of range, must be positive"
    );
    assert_eq!(
        error(&mut raw, &["SPOP", "s", "x"]),
        "ERR value is out of range, must be positive"
    );
    assert_eq!(
        error(&mut raw, &["SRANDMEMBER", "s", "-9223372036854775808"]),
        "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"
    );
}

#[test]
fn smove_between_sets() {
    let server = Server::start();
    let mut con = server.client();
    let mut raw = server.raw();
    q(&mut con, &["SADD", "a", "x", "y"]);
    q(&mut con, &["SADD", "b", "y"]);
    assert_eq!(q(&mut con, &["SMOVE", "a", "b", "x"]), int(1));
    assert_eq!(members(&mut con, "a"), set_of(&["y"]));
    assert_eq!(members(&mut con, "b"), set_of(&["x", "y"]));
    assert_eq!(
        q(&mut con, &["SMOVE", "a", "b", "y"]),
        int(1),
        "already in b"
    );
    assert_eq!(q(&mut con, &["EXISTS", "a"]), int(0));
    assert_eq!(q(&mut con, &["SCARD", "b"]), int(2));
    assert_eq!(q(&mut con, &["SMOVE", "a", "b", "y"]), int(0));
    assert_eq!(q(&mut con, &["SMOVE", "b", "b", "y"]), int(1));
    assert_eq!(q(&mut con, &["SMOVE", "b", "new", "x"]), int(1));
    assert_eq!(members(&mut con, "new"), set_of(&["x"]));
    q(&mut con, &["SET", "str", "v"]);
    assert_eq!(
        error(&mut raw, &["SMOVE", "b", "str", "y"]),
        "WRONGTYPE Operation against a key holding the wrong kind of value"
    );
    assert_eq!(
        error(&mut raw, &["SMOVE", "str", "b", "y"]),
        "WRONGTYPE Operation against a key holding the wrong kind of value"
    );
}

#[test]
fn algebra_and_store_variants() {
    let server = Server::start();
    let mut con = server.client();
    let mut raw = server.raw();
    q(&mut con, &["SADD", "a", "1", "2", "3", "4"]);
    q(&mut con, &["SADD", "b", "3", "4", "5"]);
    q(&mut con, &["SADD", "c", "4", "5", "6"]);
    let get = |con: &mut redis::Connection, args: &[&str]| -> BTreeSet<String> {
        let mut cmd = redis::cmd(args[0]);
        for a in &args[1..] {
            cmd.arg(*a);
        }
        cmd.query(con).unwrap()
    };
    assert_eq!(get(&mut con, &["SINTER", "a", "b", "c"]), set_of(&["4"]));
    assert_eq!(get(&mut con, &["SINTER", "a", "nope"]), set_of(&[]));
    assert_eq!(
        get(&mut con, &["SUNION", "a", "b", "nope"]),
        set_of(&["1", "2", "3", "4", "5"])
    );
    assert_eq!(
        get(&mut con, &["SDIFF", "a", "b", "c"]),
        set_of(&["1", "2"])
    );
    assert_eq!(get(&mut con, &["SDIFF", "nope", "a"]), set_of(&[]));
    assert_eq!(q(&mut con, &["SINTERCARD", "2", "a", "b"]), int(2));
    assert_eq!(
        q(&mut con, &["SINTERCARD", "2", "a", "b", "LIMIT", "1"]),
        int(1)
    );
    assert_eq!(
        q(&mut con, &["SINTERCARD", "2", "a", "b", "LIMIT", "0"]),
        int(2)
    );
    assert_eq!(q(&mut con, &["SINTERCARD", "2", "a", "nope"]), int(0));
    assert_eq!(q(&mut con, &["SINTERSTORE", "d", "a", "b"]), int(2));
    assert_eq!(members(&mut con, "d"), set_of(&["3", "4"]));
    assert_eq!(q(&mut con, &["SUNIONSTORE", "d", "b", "c"]), int(4));
    assert_eq!(members(&mut con, "d"), set_of(&["3", "4", "5", "6"]));
    assert_eq!(
        q(&mut con, &["SDIFFSTORE", "d", "a", "d"]),
        int(2),
        "a source may be the target"
    );
    assert_eq!(members(&mut con, "d"), set_of(&["1", "2"]));
    // an empty result deletes the target, whatever it held
    q(&mut con, &["EXPIRE", "d", "100"]);
    assert_eq!(q(&mut con, &["SINTERSTORE", "d", "a", "nope"]), int(0));
    assert_eq!(q(&mut con, &["EXISTS", "d"]), int(0));
    q(&mut con, &["SET", "d", "string"]);
    assert_eq!(q(&mut con, &["SUNIONSTORE", "d", "a"]), int(4));
    assert_eq!(
        q(&mut con, &["TYPE", "d"]),
        redis::Value::SimpleString("set".into())
    );
    assert_eq!(q(&mut con, &["TTL", "d"]), int(-1));
    assert_eq!(q(&mut con, &["DBSIZE"]), int(4));
    // errors
    q(&mut con, &["SET", "str", "v"]);
    let wrongtype = "WRONGTYPE Operation against a key holding the wrong kind of value";
    assert_eq!(error(&mut raw, &["SINTER", "nope", "str"]), wrongtype);
    assert_eq!(
        error(&mut raw, &["SUNIONSTORE", "x", "a", "str"]),
        wrongtype
    );
    assert_eq!(
        error(&mut raw, &["SINTERCARD", "0", "a"]),
        "ERR numkeys should be greater than 0"
    );
    assert_eq!(
        error(&mut raw, &["SINTERCARD", "x", "a"]),
        "ERR numkeys should be greater than 0"
    );
    assert_eq!(
        error(&mut raw, &["SINTERCARD", "3", "a", "b"]),
        "ERR Number of keys can't be greater than number of args"
    );
    assert_eq!(
        error(&mut raw, &["SINTERCARD", "1", "a", "LIMIT", "-1"]),
        "ERR LIMIT can't be negative"
    );
    assert_eq!(
        error(&mut raw, &["SINTERCARD", "1", "a", "LIMIT"]),
        "ERR syntax error"
    );
    assert_eq!(
        error(&mut raw, &["SINTERCARD", "1", "a", "FOO", "1"]),
        "ERR syntax error"
    );
    assert_eq!(
        q(
            &mut con,
            &[
                "COMMAND",
                "GETKEYS",
                "SINTERCARD",
                "2",
                "a",
                "b",
                "LIMIT",
                "1"
            ]
        ),
        array(vec![bulk("a"), bulk("b")])
    );
}

#[test]
fn sscan_and_encodings() {
    let server = Server::start();
    let mut con = server.client();
    for i in 0..300 {
        q(&mut con, &["SADD", "s", &format!("m{i}")]);
    }
    let mut cursor = "0".to_string();
    let mut seen = BTreeSet::new();
    loop {
        let (next, batch): (String, Vec<String>) = redis::cmd("SSCAN")
            .arg("s")
            .arg(&cursor)
            .arg("MATCH")
            .arg("m1*")
            .arg("COUNT")
            .arg(25)
            .query(&mut con)
            .unwrap();
        seen.extend(batch);
        if next == "0" {
            break;
        }
        cursor = next;
    }
    assert_eq!(seen.len(), 111, "m1, m10-m19, m100-m199");
    q(&mut con, &["SADD", "ints", "1", "2", "3"]);
    assert_eq!(q(&mut con, &["OBJECT", "ENCODING", "ints"]), bulk("intset"));
    q(&mut con, &["SADD", "small", "a", "b"]);
    assert_eq!(
        q(&mut con, &["OBJECT", "ENCODING", "small"]),
        bulk("listpack")
    );
    assert_eq!(q(&mut con, &["OBJECT", "ENCODING", "s"]), bulk("hashtable"));
    let (_, sets): (String, Vec<String>) = redis::cmd("SCAN")
        .arg(0)
        .arg("TYPE")
        .arg("set")
        .arg("COUNT")
        .arg(100)
        .query(&mut con)
        .unwrap();
    assert_eq!(
        sets.into_iter().collect::<BTreeSet<_>>(),
        set_of(&["ints", "s", "small"])
    );
}
