//! Sorted set commands against the real server.

mod common;
use common::*;

fn strings(con: &mut redis::Connection, args: &[&str]) -> Vec<String> {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query(con).unwrap()
}

#[test]
fn add_options_and_scores() {
    let server = Server::start();
    let mut con = server.client();
    let mut raw = server.raw();
    assert_eq!(
        q(&mut con, &["ZADD", "z", "1", "a", "2", "b", "1.5", "a"]),
        int(2)
    );
    assert_eq!(q(&mut con, &["ZSCORE", "z", "a"]), bulk("1.5"));
    assert_eq!(
        q(&mut con, &["ZADD", "z", "NX", "9", "a", "3", "c"]),
        int(1)
    );
    assert_eq!(q(&mut con, &["ZSCORE", "z", "a"]), bulk("1.5"));
    assert_eq!(
        q(&mut con, &["ZADD", "z", "XX", "CH", "5", "a", "7", "d"]),
        int(1)
    );
    assert_eq!(q(&mut con, &["EXISTS", "d"]), int(0));
    assert_eq!(q(&mut con, &["ZSCORE", "z", "d"]), nil());
    assert_eq!(
        q(&mut con, &["ZADD", "z", "GT", "CH", "4", "a", "6", "b"]),
        int(1)
    );
    assert_eq!(
        q(&mut con, &["ZADD", "z", "LT", "CH", "1", "a", "9", "b"]),
        int(1)
    );
    assert_eq!(
        strings(&mut con, &["ZRANGE", "z", "0", "-1", "WITHSCORES"]),
        ["a", "1", "c", "3", "b", "6"]
    );
    assert_eq!(q(&mut con, &["ZADD", "z", "INCR", "2.5", "a"]), bulk("3.5"));
    assert_eq!(q(&mut con, &["ZADD", "z", "GT", "INCR", "-1", "a"]), nil());
    assert_eq!(q(&mut con, &["ZINCRBY", "z", "0.1", "a"]), bulk("3.6"));
    assert_eq!(
        q(&mut con, &["ZADD", "z", "inf", "top", "-inf", "bottom"]),
        int(2)
    );
    assert_eq!(q(&mut con, &["ZSCORE", "z", "top"]), bulk("inf"));
    assert_eq!(
        error(&mut raw, &["ZINCRBY", "z", "-inf", "top"]),
        "ERR resulting score is not a number (NaN)"
    );
    assert_eq!(
        q(&mut con, &["ZMSCORE", "z", "bottom", "nope"]),
        array(vec![bulk("-inf"), nil()])
    );
    for (args, expected) in [
        (
            vec!["ZADD", "z", "NX", "XX", "1", "a"],
            "ERR XX and NX options at the same time are not compatible",
        ),
        (
            vec!["ZADD", "z", "GT", "LT", "1", "a"],
            "ERR GT, LT, and/or NX options at the same time are not compatible",
        ),
        (
            vec!["ZADD", "z", "INCR", "1", "a", "2", "b"],
            "ERR INCR option supports a single increment-element pair",
        ),
        (vec!["ZADD", "z", "1", "a", "2"], "ERR syntax error"),
        (
            vec!["ZADD", "z", "nan", "a"],
            "ERR value is not a valid float",
        ),
        (
            vec!["ZADD", "z", "1e400", "a"],
            "ERR value is not a valid float",
        ),
        (
            vec!["ZRANGEBYSCORE", "z", "x", "1"],
            "ERR min or max is not a float",
        ),
        (
            vec!["ZRANGEBYLEX", "z", "a", "+"],
            "ERR min or max not valid string range item",
        ),
        (
            vec!["ZRANGE", "z", "0", "1", "LIMIT", "0", "1"],
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ),
        (
            vec!["ZRANGE", "z", "-", "+", "BYLEX", "WITHSCORES"],
            "ERR syntax error, WITHSCORES not supported in combination with BYLEX",
        ),
    ] {
        assert_eq!(error(&mut raw, &args), expected, "{args:?}");
    }
    q(&mut con, &["SET", "str", "x"]);
    assert_eq!(
        error(&mut raw, &["ZADD", "str", "1", "a"]),
        "WRONGTYPE Operation against a key holding the wrong kind of value"
    );
    assert_eq!(
        q(&mut con, &["TYPE", "z"]),
        redis::Value::SimpleString("zset".into())
    );
}

#[test]
fn ranks_and_ranges() {
    let server = Server::start();
    let mut con = server.client();
    q(
        &mut con,
        &[
            "ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d", "5", "e",
        ],
    );
    assert_eq!(q(&mut con, &["ZRANK", "z", "c"]), int(2));
    assert_eq!(q(&mut con, &["ZREVRANK", "z", "c"]), int(2));
    assert_eq!(
        q(&mut con, &["ZRANK", "z", "e", "WITHSCORE"]),
        array(vec![int(4), bulk("5")])
    );
    assert_eq!(
        q(&mut con, &["ZREVRANK", "z", "e", "WITHSCORE"]),
        array(vec![int(0), bulk("5")])
    );
    assert_eq!(q(&mut con, &["ZRANK", "z", "nope"]), nil());
    assert_eq!(q(&mut con, &["ZCOUNT", "z", "(1", "3"]), int(2));
    assert_eq!(q(&mut con, &["ZCOUNT", "z", "-inf", "+inf"]), int(5));
    assert_eq!(
        strings(&mut con, &["ZRANGE", "z", "1", "-2"]),
        ["b", "c", "d"]
    );
    assert_eq!(
        strings(&mut con, &["ZRANGE", "z", "0", "1", "REV"]),
        ["e", "d"]
    );
    assert_eq!(
        strings(
            &mut con,
            &["ZRANGE", "z", "(1", "4", "BYSCORE", "LIMIT", "1", "2"]
        ),
        ["c", "d"]
    );
    assert_eq!(
        strings(
            &mut con,
            &["ZRANGE", "z", "+inf", "(2", "BYSCORE", "REV", "WITHSCORES"]
        ),
        ["e", "5", "d", "4", "c", "3"]
    );
    assert_eq!(
        strings(&mut con, &["ZRANGEBYSCORE", "z", "2", "3"]),
        ["b", "c"]
    );
    assert_eq!(
        strings(&mut con, &["ZREVRANGEBYSCORE", "z", "3", "2"]),
        ["c", "b"]
    );
    assert_eq!(strings(&mut con, &["ZREVRANGE", "z", "0", "0"]), ["e"]);
    q(
        &mut con,
        &["ZADD", "lex", "0", "a", "0", "b", "0", "c", "0", "d"],
    );
    assert_eq!(
        strings(&mut con, &["ZRANGEBYLEX", "lex", "(a", "[c"]),
        ["b", "c"]
    );
    assert_eq!(
        strings(&mut con, &["ZREVRANGEBYLEX", "lex", "+", "(b"]),
        ["d", "c"]
    );
    assert_eq!(
        strings(
            &mut con,
            &["ZRANGE", "lex", "-", "+", "BYLEX", "LIMIT", "1", "2"]
        ),
        ["b", "c"]
    );
    assert_eq!(q(&mut con, &["ZLEXCOUNT", "lex", "-", "(c"]), int(2));
    assert_eq!(q(&mut con, &["ZRANGESTORE", "dst", "z", "0", "2"]), int(3));
    assert_eq!(
        strings(&mut con, &["ZRANGE", "dst", "0", "-1"]),
        ["a", "b", "c"]
    );
    assert_eq!(
        q(&mut con, &["ZRANGESTORE", "dst", "z", "10", "20"]),
        int(0)
    );
    assert_eq!(q(&mut con, &["EXISTS", "dst"]), int(0));
    assert_eq!(q(&mut con, &["ZREMRANGEBYRANK", "z", "0", "0"]), int(1));
    assert_eq!(
        q(&mut con, &["ZREMRANGEBYSCORE", "z", "(4", "+inf"]),
        int(1)
    );
    assert_eq!(q(&mut con, &["ZREMRANGEBYLEX", "lex", "[b", "[c"]), int(2));
    assert_eq!(
        strings(&mut con, &["ZRANGE", "z", "0", "-1"]),
        ["b", "c", "d"]
    );
    assert_eq!(strings(&mut con, &["ZRANGE", "lex", "0", "-1"]), ["a", "d"]);
}

#[test]
fn pops_and_combinations() {
    let server = Server::start();
    let mut con = server.client();
    let mut raw = server.raw();
    q(&mut con, &["ZADD", "z", "1", "a", "2", "b", "3", "c"]);
    assert_eq!(strings(&mut con, &["ZPOPMIN", "z"]), ["a", "1"]);
    assert_eq!(
        strings(&mut con, &["ZPOPMAX", "z", "5"]),
        ["c", "3", "b", "2"]
    );
    assert_eq!(q(&mut con, &["EXISTS", "z"]), int(0));
    assert_eq!(
        error(&mut raw, &["ZPOPMIN", "z", "-1"]),
        "ERR value is out of range, must be positive"
    );
    q(&mut con, &["ZADD", "z", "1", "a", "2", "b"]);
    assert_eq!(
        q(&mut con, &["ZMPOP", "2", "nope", "z", "MAX", "COUNT", "5"]),
        array(vec![
            bulk("z"),
            array(vec![
                array(vec![bulk("b"), bulk("2")]),
                array(vec![bulk("a"), bulk("1")])
            ])
        ])
    );
    assert_eq!(q(&mut con, &["ZMPOP", "1", "z", "MIN"]), redis::Value::Nil);
    q(&mut con, &["ZADD", "x", "1", "a", "2", "b", "3", "c"]);
    q(&mut con, &["ZADD", "y", "10", "b", "20", "c", "30", "d"]);
    q(&mut con, &["SADD", "s", "c", "d"]);
    assert_eq!(
        strings(&mut con, &["ZUNION", "2", "x", "y", "WITHSCORES"]),
        ["a", "1", "b", "12", "c", "23", "d", "30"]
    );
    assert_eq!(
        strings(
            &mut con,
            &[
                "ZINTER",
                "2",
                "x",
                "y",
                "WEIGHTS",
                "2",
                "1",
                "AGGREGATE",
                "MIN",
                "WITHSCORES"
            ]
        ),
        ["b", "4", "c", "6"]
    );
    assert_eq!(strings(&mut con, &["ZDIFF", "2", "x", "y"]), ["a"]);
    assert_eq!(
        strings(&mut con, &["ZINTER", "2", "y", "s", "WITHSCORES"]),
        ["c", "21", "d", "31"]
    );
    assert_eq!(
        q(
            &mut con,
            &["ZUNIONSTORE", "u", "2", "x", "y", "AGGREGATE", "MAX"]
        ),
        int(4)
    );
    assert_eq!(q(&mut con, &["ZSCORE", "u", "c"]), bulk("20"));
    assert_eq!(q(&mut con, &["ZINTERSTORE", "i", "2", "x", "y"]), int(2));
    assert_eq!(q(&mut con, &["ZDIFFSTORE", "d", "2", "y", "x"]), int(1));
    assert_eq!(q(&mut con, &["ZINTERCARD", "2", "x", "y"]), int(2));
    assert_eq!(
        q(&mut con, &["ZINTERCARD", "2", "x", "y", "LIMIT", "1"]),
        int(1)
    );
    assert_eq!(
        error(&mut raw, &["ZUNION", "0", "x"]),
        "ERR at least 1 input key is needed for 'zunion' command"
    );
    assert_eq!(
        error(&mut raw, &["ZDIFF", "1", "x", "WEIGHTS", "1"]),
        "ERR syntax error"
    );
    assert_eq!(
        error(&mut raw, &["ZUNION", "1", "x", "WEIGHTS", "y"]),
        "ERR weight value is not a float"
    );
}

#[test]
fn random_members_and_scan() {
    let server = Server::start();
    let mut con = server.client();
    q(&mut con, &["ZADD", "z", "1", "a", "2", "b", "3", "c"]);
    let one: String = redis::cmd("ZRANDMEMBER").arg("z").query(&mut con).unwrap();
    assert!(["a", "b", "c"].contains(&one.as_str()));
    let picks = strings(&mut con, &["ZRANDMEMBER", "z", "-10", "WITHSCORES"]);
    assert_eq!(picks.len(), 20);
    for pair in picks.chunks(2) {
        let expected = match pair[0].as_str() {
            "a" => "1",
            "b" => "2",
            "c" => "3",
            other => panic!("unexpected member {other}"),
        };
        assert_eq!(pair[1], expected);
    }
    assert_eq!(strings(&mut con, &["ZRANDMEMBER", "z", "10"]).len(), 3);
    let scan = q(&mut con, &["ZSCAN", "z", "0", "MATCH", "b*"]);
    assert_eq!(
        scan,
        array(vec![bulk("0"), array(vec![bulk("b"), bulk("2")])])
    );
}

/// A raw reply on one line, its parts separated by spaces.
fn flat(reply: &[u8]) -> String {
    String::from_utf8_lossy(reply)
        .trim_end()
        .replace("\r\n", " ")
}

#[test]
fn resp3_replies_use_doubles_and_pairs() {
    let server = Server::start();
    let mut raw = server.raw();
    raw.command(&["HELLO", "3"]);
    raw.command(&["ZADD", "z", "1.5", "a", "2", "b"]);
    assert_eq!(flat(&raw.command(&["ZSCORE", "z", "a"])), ",1.5");
    assert_eq!(
        flat(&raw.command(&["ZRANGE", "z", "0", "-1", "WITHSCORES"])),
        "*2 *2 $1 a ,1.5 *2 $1 b ,2"
    );
    assert_eq!(flat(&raw.command(&["ZPOPMIN", "z"])), "*2 $1 a ,1.5");
    assert_eq!(flat(&raw.command(&["ZPOPMIN", "z", "1"])), "*1 *2 $1 b ,2");
    assert_eq!(flat(&raw.command(&["ZRANK", "z", "b", "WITHSCORE"])), "_");
}

#[test]
fn range_reads_stay_bounded_on_a_big_sorted_set() {
    let server = Server::start();
    let mut con = server.client();
    for chunk in 0..20 {
        let mut cmd = redis::cmd("ZADD");
        cmd.arg("big");
        for i in chunk * 1000..(chunk + 1) * 1000 {
            cmd.arg(i).arg(format!("m{i:06}"));
        }
        let _: i64 = cmd.query(&mut con).unwrap();
    }
    assert_eq!(q(&mut con, &["ZCARD", "big"]), int(20_000));
    assert_eq!(
        strings(
            &mut con,
            &["ZRANGEBYSCORE", "big", "(15000", "+inf", "LIMIT", "0", "2"]
        ),
        ["m015001", "m015002"]
    );
    assert_eq!(q(&mut con, &["ZRANK", "big", "m019999"]), int(19_999));
    assert_eq!(q(&mut con, &["ZREVRANK", "big", "m019999"]), int(0));
    assert_eq!(q(&mut con, &["DEL", "big"]), int(1));
    assert_eq!(q(&mut con, &["ZCARD", "big"]), int(0));
}

#[test]
fn deleted_sorted_sets_and_lists_are_collected_by_compaction() {
    let server = Server::start();
    let mut con = server.client();
    let estimate = |con: &mut redis::Connection, cf: &str| -> u64 {
        let info: String = redis::cmd("INFO").arg("rocksdb").query(con).unwrap();
        info.lines()
            .find_map(|l| l.strip_prefix(&format!("estimate_keys[{cf}]:")))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    let mut zadd = redis::cmd("ZADD");
    zadd.arg("z");
    let mut rpush = redis::cmd("RPUSH");
    rpush.arg("l");
    for i in 0..5_000 {
        zadd.arg(i).arg(format!("m{i}"));
        rpush.arg(i);
    }
    let _: i64 = zadd.query(&mut con).unwrap();
    let _: i64 = rpush.query(&mut con).unwrap();
    assert_eq!(q(&mut con, &["COMPACT"]), ok());
    assert_eq!(estimate(&mut con, "subkey"), 10_000);
    assert_eq!(estimate(&mut con, "zset_score"), 5_000);
    // DEL touches only metadata; the members go at the next compaction.
    assert_eq!(q(&mut con, &["DEL", "z", "l"]), int(2));
    assert_eq!(q(&mut con, &["ZADD", "z", "1", "fresh"]), int(1));
    assert_eq!(q(&mut con, &["COMPACT"]), ok());
    assert_eq!(estimate(&mut con, "subkey"), 1);
    assert_eq!(estimate(&mut con, "zset_score"), 1);
    assert_eq!(
        q(&mut con, &["ZRANGE", "z", "0", "-1", "WITHSCORES"]),
        array(vec![bulk("fresh"), bulk("1")])
    );
}
