//! Streams against the real server, and compared with a real redis-server
//! reply by reply. A failing random run prints its seed;
//! `REDROCK_STREAM_SEED=<seed>` replays it.

mod common;
use common::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::time::{Duration, Instant};

/// Sends each command to both servers and compares the replies byte for
/// byte; `context` says where a mismatch came from. Returns how many
/// replies were errors.
fn same_replies(
    rr: &mut RawClient,
    redis: &mut RawClient,
    commands: &[Vec<String>],
    context: &str,
) -> usize {
    let mut errors = 0;
    for command in commands {
        let ours = rr.command(command);
        let theirs = redis.command(command);
        assert_eq!(
            show(&ours),
            show(&theirs),
            "{context}: {command:?} (RedRock left, redis-server right)"
        );
        errors += usize::from(theirs.first() == Some(&b'-'));
    }
    errors
}

fn words(lines: &[&str]) -> Vec<Vec<String>> {
    lines
        .iter()
        .map(|line| line.split_whitespace().map(str::to_string).collect())
        .collect()
}

#[test]
fn replies_and_errors_match_redis() {
    let server = Server::start();
    let redis = RedisServer::start();
    let (mut rr, mut oracle) = (server.raw(), redis.raw());
    let cases = words(&[
        // XADD: ids, options and their errors
        "XADD s 1-1 a 1",
        "XADD s 1-1 a 1",
        "XADD s 0-0 a 1",
        "XADD s 1 a 1",
        "XADD s maxlen -1 * a 1",
        "XADD s maxlen x * a 1",
        "XADD s maxlen 1 minid 1 * a 1",
        "XADD s limit 10 * a 1",
        "XADD s limit 0 * a 1",
        "XADD s maxlen 5 limit 10 * a 1",
        "XADD s maxlen ~ 5 limit -1 * a 1",
        "XADD s maxlen 5 nomkstream",
        "XADD s maxlen 5 a",
        "XADD s 2-1 a",
        "XADD s 2-1 a 1 b",
        "XADD nokey nomkstream * a 1",
        "XADD nokey nomkstream 5-5 a 1",
        "EXISTS nokey",
        "XADD s 1-* a 1",
        "XADD s 5-* a 1",
        "XADD s 5-* a 1 b 2",
        "XADD s 5 a 1",
        "XADD s +8 a 1",
        "XADD s 009 a 1",
        "XADD s 10-+6 a 1",
        "XADD s 10--18446744073709551615 a 1",
        "XADD s 11- a 1",
        "XADD s - a 1",
        "XADD s + a 1",
        "XADD s 13-*- a 1",
        "XADD s 14-1-1 a 1",
        "XADD s 18446744073709551616 a 1",
        "XADD s 12-0 field value field value2",
        "XLEN s",
        "XLEN nokey",
        // XRANGE / XREVRANGE: bounds, exclusive ids, COUNT
        "XRANGE s - +",
        "XRANGE s - + COUNT 0",
        "XRANGE s - + COUNT -1",
        "XRANGE s - + COUNT 2 COUNT 1",
        "XRANGE s - + COUNT x",
        "XRANGE s - + foo",
        "XRANGE s - + COUNT",
        "XRANGE s ( +",
        "XRANGE s (- +",
        "XRANGE s - (+",
        "XRANGE s (18446744073709551615-18446744073709551615 +",
        "XRANGE s - (0-0",
        "XRANGE s - (0",
        "XRANGE s (5 (10-6",
        "XRANGE s (5-0 (10-6",
        "XRANGE s 5 10",
        "XRANGE s 10 5",
        "XREVRANGE s + - COUNT 2",
        "XREVRANGE s (12 (5",
        "XREVRANGE s - +",
        "XRANGE nokey - +",
        "XRANGE nokey - + COUNT 0",
        "XRANGE nokey x +",
        // XDEL, XTRIM
        "XDEL nokey garbage",
        "XDEL s garbage",
        "XDEL s -",
        "XDEL s 8 8-0 100",
        "XTRIM nokey maxlen 1 foo",
        "XTRIM nokey minid x",
        "XTRIM nokey maxlen 1",
        "XTRIM s maxlen 1 foo",
        "XTRIM s nomkstream maxlen 1",
        "XTRIM s limit 5",
        "XTRIM s maxlen = 100",
        "XTRIM s minid 5",
        "XTRIM s minid = 5-1",
        "XRANGE s - +",
        "XTRIM s maxlen 3",
        "XRANGE s - +",
        // XSETID
        "XSETID nokey 1",
        "XSETID nokey x",
        "XSETID s 1",
        "XSETID s +",
        "XSETID s 100 entriesadded 1",
        "XSETID s 100 entriesadded -1",
        "XSETID s 100 entriesadded x",
        "XSETID s 100 entriesadded",
        "XSETID s 100 maxdeletedid 200",
        "XSETID s 100 maxdeletedid 50 foo",
        "XSETID s 100 maxdeletedid 50 entriesadded 100",
        "XADD s 100 a 1",
        "XADD s 100-* a 1",
        "XSETID s 100-5",
        "XADD s 18446744073709551615-18446744073709551615 a 1",
        "XADD s * a 1",
        "XADD s 18446744073709551615-* a 1",
        // XREAD
        "XREAD streams s t 0",
        "XREAD count 1 streams s 0",
        "XREAD count -5 streams s 0",
        "XREAD count 0 streams s 0",
        "XREAD count x streams s 0",
        "XREAD block -1 streams s 0",
        "XREAD block x streams s 0",
        "XREAD block 1.5 streams s 0",
        "XREAD streams s $",
        "XREAD streams nokey $",
        "XREAD streams s >",
        "XREAD group g c streams s 0",
        "XREAD noack streams s 0",
        "XREAD foo streams s 0",
        "XREAD count 1",
        "XREAD streams s 18446744073709551615-18446744073709551615",
        "XREAD streams s 12 s 9",
        "XREAD streams s s 11 100-2",
        "XREAD streams s nokey 0 0",
        "XREAD block 10 streams s nokey + 0",
        "XREAD block 10 streams s $",
        // an emptied stream still exists
        "XADD e 1 a 1",
        "XDEL e 1",
        "TYPE e",
        "EXISTS e",
        "XLEN e",
        "XRANGE e - +",
        "XREAD streams e 0",
        "OBJECT ENCODING e",
        "XADD e 1 a 1",
        "XADD e maxlen 0 2 a 1",
        "XLEN e",
        "XADD e minid 4 3 a 1",
        "XLEN e",
        "XADD e 4-* a 1",
        "XSETID e 4-0",
        "XSETID e 3",
        // wrong types
        "SET str x",
        "XLEN str",
        "XADD str * a 1",
        "XRANGE str - +",
        "XRANGE str x +",
        "XDEL str 1",
        "XTRIM str maxlen 1",
        "XTRIM str foo",
        "XSETID str 1",
        "XREAD streams s str 0 0",
        "XREAD streams s str x 0",
        "LPUSH e x",
        "HGET e x",
        "GET e",
        "SADD e x",
        "ZCARD e",
        "TYPE s",
        "OBJECT ENCODING s",
        "COMMAND GETKEYS XREAD count 2 block 5 streams a b 1 2",
        "COMMAND GETKEYS XREAD streams a b c 1 2 3",
        "MULTI",
        "XREAD block 0 streams s $",
        "XADD s * a 1",
        "EXEC",
    ]);
    same_replies(&mut rr, &mut oracle, &cases, "scripted");
    // RESP3: XREAD answers a map.
    let resp3 = words(&[
        "HELLO 3",
        "XREAD count 1 streams s e 0 0",
        "XREAD streams nokey 0",
        "XRANGE s - + COUNT 1",
    ]);
    for command in &resp3[1..] {
        rr.command(&resp3[0]);
        oracle.command(&resp3[0]);
        same_replies(&mut rr, &mut oracle, std::slice::from_ref(command), "resp3");
    }
}

/// A random id for the differential run, near the newest ones (`top`), so
/// that adds collide with the top id and ranges and trims hit entries.
fn random_id(rng: &mut StdRng, top: u64) -> String {
    let ms = top.saturating_sub(30) + rng.random_range(0..34);
    match rng.random_range(0..10) {
        0 => "-".into(),
        1 => "+".into(),
        2 => format!("{ms}"),
        3 => format!("({ms}-{}", rng.random_range(0..4)),
        4 => format!("({ms}"),
        _ => format!("{ms}-{}", rng.random_range(0..4)),
    }
}

/// An `ms-seq` id near the newest ones.
fn plain_id(rng: &mut StdRng, top: u64) -> String {
    let ms = top.saturating_sub(30) + rng.random_range(0..32);
    format!("{ms}-{}", rng.random_range(0..3))
}

fn random_command(rng: &mut StdRng, next_ms: &mut u64) -> Vec<String> {
    let key = ["s1", "s2", "s3"][rng.random_range(0..3)].to_string();
    let mut c: Vec<String> = Vec::new();
    let top = *next_ms;
    let trim = |rng: &mut StdRng, c: &mut Vec<String>| match rng.random_range(0..3) {
        0 => c.extend(["MAXLEN".into(), rng.random_range(0..8).to_string()]),
        1 => c.extend(["MINID".into(), "=".into(), plain_id(rng, top)]),
        _ => c.extend([
            "MAXLEN".into(),
            "=".into(),
            rng.random_range(0..8).to_string(),
        ]),
    };
    match rng.random_range(0..100) {
        0..=39 => {
            c.extend(["XADD".into(), key]);
            if rng.random_ratio(1, 10) {
                c.push("NOMKSTREAM".into());
            }
            if rng.random_ratio(1, 4) {
                trim(rng, &mut c);
            }
            // Mostly growing ids, sometimes a stale or auto-sequenced one.
            *next_ms += rng.random_range(0..3);
            c.push(match rng.random_range(0..10) {
                0 => format!("{}-*", *next_ms),
                1 => random_id(rng, *next_ms),
                _ => format!("{}-{}", *next_ms, rng.random_range(0..3)),
            });
            for _ in 0..rng.random_range(1..3) {
                c.push(format!("f{}", rng.random_range(0..3)));
                c.push(format!("v{}", rng.random_range(0..100)));
            }
        }
        40..=59 => {
            let rev = rng.random_ratio(1, 3);
            c.extend([
                if rev { "XREVRANGE" } else { "XRANGE" }.into(),
                key,
                random_id(rng, *next_ms),
                random_id(rng, *next_ms),
            ]);
            if rng.random_ratio(1, 2) {
                c.extend(["COUNT".into(), rng.random_range(-1..5).to_string()]);
            }
        }
        60..=71 => {
            c.extend(["XDEL".into(), key]);
            for _ in 0..rng.random_range(1..4) {
                c.push(plain_id(rng, *next_ms));
            }
        }
        72..=79 => {
            c.extend(["XTRIM".into(), key]);
            trim(rng, &mut c);
        }
        80..=85 => c.extend(["XLEN".into(), key]),
        86..=91 => {
            c.extend(["XREAD".into()]);
            if rng.random_ratio(1, 2) {
                c.extend(["COUNT".into(), rng.random_range(0..4).to_string()]);
            }
            c.extend([
                "STREAMS".into(),
                key,
                "s2".into(),
                plain_id(rng, *next_ms),
                "$".into(),
            ]);
        }
        92..=95 => {
            c.extend([
                "XSETID".into(),
                key,
                format!("{}-{}", *next_ms + rng.random_range(0..3), 9),
            ]);
            if rng.random_ratio(1, 2) {
                c.extend(["ENTRIESADDED".into(), rng.random_range(0..30).to_string()]);
            }
            if rng.random_ratio(1, 2) {
                c.extend([
                    "MAXDELETEDID".into(),
                    format!("{}-0", rng.random_range(0..*next_ms + 1)),
                ]);
            }
        }
        96..=97 => c.extend(["DEL".into(), key]),
        _ => c.extend(["EXISTS".into(), key]),
    }
    c
}

#[test]
fn random_sequences_match_redis() {
    let seed: u64 = std::env::var("REDROCK_STREAM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("stream differential seed: {seed}");
    let mut rng = StdRng::seed_from_u64(seed);
    let server = Server::start();
    let redis = RedisServer::start();
    let (mut rr, mut oracle) = (server.raw(), redis.raw());
    let mut next_ms = 1;
    let mut errors = 0;
    const COMMANDS: usize = 4000;
    for round in 0..COMMANDS {
        let command = random_command(&mut rng, &mut next_ms);
        errors += same_replies(
            &mut rr,
            &mut oracle,
            &[command],
            &format!("seed {seed}, command {round}"),
        );
    }
    // Mostly commands that did something, not refusals.
    assert!(
        errors < COMMANDS / 4,
        "{errors} of {COMMANDS} replies were errors"
    );
    // The end states agree entry by entry.
    for key in ["s1", "s2", "s3"] {
        let full = words(&[&format!("XRANGE {key} - +"), &format!("XLEN {key}")]);
        same_replies(&mut rr, &mut oracle, &full, &format!("seed {seed}, end"));
    }
}

#[test]
fn a_stream_is_a_first_class_type() {
    let server = Server::start();
    let mut con = server.client();
    let mut raw = server.raw();
    q(&mut con, &["XADD", "s", "1-1", "a", "1"]);
    q(&mut con, &["XADD", "s", "2-1", "b", "2"]);
    assert_eq!(
        q(&mut con, &["TYPE", "s"]),
        redis::Value::SimpleString("stream".into())
    );
    assert_eq!(q(&mut con, &["OBJECT", "ENCODING", "s"]), bulk("stream"));
    q(&mut con, &["SET", "str", "x"]);
    assert_eq!(
        q(&mut con, &["SCAN", "0", "TYPE", "stream"]),
        array(vec![bulk("0"), array(vec![bulk("s")])])
    );
    // COPY, RENAME and MOVE carry the entries and the last id.
    assert_eq!(q(&mut con, &["COPY", "s", "c"]), int(1));
    assert_eq!(
        error(&mut raw, &["XADD", "c", "2-1", "x", "y"]),
        "ERR The ID specified in XADD is equal or smaller than the target stream top item"
    );
    assert_eq!(q(&mut con, &["XADD", "c", "2-*", "x", "y"]), bulk("2-2"));
    assert_eq!(q(&mut con, &["XLEN", "c"]), int(3));
    assert_eq!(q(&mut con, &["XLEN", "s"]), int(2));
    assert_eq!(q(&mut con, &["RENAME", "c", "r"]), ok());
    assert_eq!(q(&mut con, &["XLEN", "r"]), int(3));
    assert_eq!(q(&mut con, &["EXISTS", "c"]), int(0));
    assert_eq!(q(&mut con, &["MOVE", "r", "1"]), int(1));
    q(&mut con, &["SELECT", "1"]);
    assert_eq!(
        q(&mut con, &["XRANGE", "r", "-", "+", "COUNT", "1"]),
        array(vec![array(vec![
            bulk("1-1"),
            array(vec![bulk("a"), bulk("1")])
        ])])
    );
    q(&mut con, &["SELECT", "0"]);
    // An emptied stream stays, with its last id; DEL and UNLINK remove it.
    assert_eq!(q(&mut con, &["XDEL", "s", "1-1", "2-1"]), int(2));
    assert_eq!(q(&mut con, &["EXISTS", "s"]), int(1));
    assert_eq!(q(&mut con, &["XADD", "s", "2-*", "a", "1"]), bulk("2-2"));
    assert_eq!(q(&mut con, &["DEL", "s"]), int(1));
    assert_eq!(q(&mut con, &["XADD", "s", "1-*", "a", "1"]), bulk("1-0"));
    assert_eq!(q(&mut con, &["UNLINK", "s"]), int(1));
    assert_eq!(q(&mut con, &["XLEN", "s"]), int(0));
    // Expiry.
    q(&mut con, &["XADD", "s", "1-1", "a", "1"]);
    assert_eq!(q(&mut con, &["PEXPIRE", "s", "20"]), int(1));
    std::thread::sleep(Duration::from_millis(40));
    assert_eq!(q(&mut con, &["XLEN", "s"]), int(0));
    assert_eq!(q(&mut con, &["XADD", "s", "1-1", "a", "1"]), bulk("1-1"));
    // Other types' commands refuse it.
    let wrong = "WRONGTYPE Operation against a key holding the wrong kind of value";
    for command in [
        &["GET", "s"][..],
        &["LPUSH", "s", "x"],
        &["HSET", "s", "a", "b"],
        &["SCARD", "s"],
        &["ZADD", "s", "1", "a"],
        &["SETBIT", "s", "1", "1"],
        &["PFADD", "s", "a"],
    ] {
        assert_eq!(error(&mut raw, command), wrong, "{command:?}");
    }
    assert_eq!(error(&mut raw, &["XADD", "str", "*", "a", "1"]), wrong);
    assert_eq!(
        error(&mut raw, &["DUMP", "s"]),
        "ERR DUMP of a stream is not supported yet"
    );
}

#[test]
fn data_survives_a_restart_and_old_entries_are_collected() {
    let mut server = Server::start();
    let mut con = server.client();
    let mut pipe = redis::pipe();
    for i in 1..=20_000 {
        pipe.cmd("XADD")
            .arg("big")
            .arg(format!("{i}-1"))
            .arg("f")
            .arg("v")
            .ignore();
    }
    pipe.query::<()>(&mut con).unwrap();
    q(&mut con, &["XADD", "keep", "1-1", "a", "b"]);
    assert_eq!(q(&mut con, &["XDEL", "keep", "5-5"]), int(0));
    assert_eq!(
        q(&mut con, &["XSETID", "keep", "9-9", "MAXDELETEDID", "3-3"]),
        ok()
    );
    assert_eq!(q(&mut con, &["COMPACT"]), ok());
    assert_eq!(common::estimated_subkeys(&mut con), 20_001);
    // Trimming and DEL leave the entries to the compaction filter.
    assert_eq!(q(&mut con, &["XTRIM", "big", "MAXLEN", "15000"]), int(5000));
    assert_eq!(q(&mut con, &["XLEN", "big"]), int(15_000));
    assert_eq!(
        q(&mut con, &["XRANGE", "big", "-", "+", "COUNT", "1"]),
        array(vec![array(vec![
            bulk("5001-1"),
            array(vec![bulk("f"), bulk("v")])
        ])])
    );
    assert_eq!(q(&mut con, &["DEL", "big"]), int(1));
    q(&mut con, &["XADD", "big", "1-1", "fresh", "1"]);
    assert_eq!(q(&mut con, &["COMPACT"]), ok());
    assert_eq!(
        common::estimated_subkeys(&mut con),
        2,
        "the new entry of big and the one of keep"
    );
    server.restart(&[]);
    let mut con = server.client();
    assert_eq!(q(&mut con, &["XLEN", "big"]), int(1));
    assert_eq!(
        error(&mut server.raw(), &["XADD", "keep", "9-9", "a", "b"]),
        "ERR The ID specified in XADD is equal or smaller than the target stream top item"
    );
    assert_eq!(
        q(&mut con, &["XADD", "keep", "9-*", "a", "b"]),
        bulk("9-10")
    );
}

/// Reads one reply of a blocked XREAD sent earlier on `raw`.
fn blocked_reply(raw: &mut RawClient) -> String {
    show(&raw.read_reply())
}

#[test]
fn xread_block_wakes_on_xadd_and_times_out() {
    let server = Server::start();
    let mut con = server.client();
    q(&mut con, &["XADD", "s", "1-1", "old", "1"]);
    // `$` waits for entries after the last one, from any client.
    let mut waiter = server.raw();
    waiter.send(&RawClient::encode(&[
        "XREAD", "BLOCK", "0", "STREAMS", "other", "s", "$", "$",
    ]));
    wait_blocked(&mut con, 1);
    q(&mut con, &["XADD", "unrelated", "1-1", "a", "1"]);
    q(&mut con, &["XADD", "s", "2-1", "new", "2"]);
    assert_eq!(
        blocked_reply(&mut waiter),
        "*1\\r\\n*2\\r\\n$1\\r\\ns\\r\\n*1\\r\\n*2\\r\\n$3\\r\\n2-1\\r\\n*2\\r\\n$3\\r\\nnew\\r\\n$1\\r\\n2\\r\\n"
    );
    // A stream created while waiting serves too, and so do several
    // waiters on one key, each with its own ids.
    let mut first = server.raw();
    let mut second = server.raw();
    first.send(&RawClient::encode(&[
        "XREAD", "BLOCK", "0", "STREAMS", "fresh", "$",
    ]));
    second.send(&RawClient::encode(&[
        "XREAD", "COUNT", "1", "BLOCK", "5000", "STREAMS", "fresh", "0-0",
    ]));
    wait_blocked(&mut con, 2);
    q(&mut con, &["XADD", "fresh", "7-7", "k", "v"]);
    let expected = "*1\\r\\n*2\\r\\n$5\\r\\nfresh\\r\\n*1\\r\\n*2\\r\\n$3\\r\\n7-7\\r\\n*2\\r\\n$1\\r\\nk\\r\\n$1\\r\\nv\\r\\n";
    assert_eq!(blocked_reply(&mut first), expected);
    assert_eq!(blocked_reply(&mut second), expected);
    // Deleting entries does not serve a waiter; the timeout answers nil.
    let started = Instant::now();
    waiter.send(&RawClient::encode(&[
        "XREAD", "BLOCK", "300", "STREAMS", "s", "$",
    ]));
    wait_blocked(&mut con, 1);
    q(&mut con, &["XDEL", "s", "1-1"]);
    assert_eq!(blocked_reply(&mut waiter), "*-1\\r\\n");
    assert!(started.elapsed() >= Duration::from_millis(300));
    // The pipeline goes on after a blocked XREAD is served.
    waiter.send(
        &[
            RawClient::encode(&["XREAD", "BLOCK", "0", "STREAMS", "s", "$"]),
            RawClient::encode(&["PING"]),
        ]
        .concat(),
    );
    wait_blocked(&mut con, 1);
    q(&mut con, &["XADD", "s", "3-1", "a", "b"]);
    assert!(blocked_reply(&mut waiter).contains("3-1"));
    assert_eq!(blocked_reply(&mut waiter), "+PONG\\r\\n");
    // Inside MULTI, BLOCK does not wait; in a script it is refused.
    let mut raw = server.raw();
    raw.command(&["MULTI"]);
    raw.command(&["XREAD", "BLOCK", "0", "STREAMS", "s", "$"]);
    assert_eq!(show(&raw.command(&["EXEC"])), "*1\\r\\n*-1\\r\\n");
    let refused = error(
        &mut raw,
        &[
            "EVAL",
            "return redis.call('xread','block','0','streams','s','$')",
            "0",
        ],
    );
    assert!(
        refused.starts_with("ERR xread command is not allowed with BLOCK option from scripts"),
        "{refused}"
    );
}

#[test]
fn concurrent_xadds_get_increasing_ids() {
    let server = Server::start();
    const WRITERS: usize = 6;
    const ADDS: usize = 1500;
    let port = server.port;
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            std::thread::spawn(move || {
                let mut raw = RawClient::connect(port);
                let mut ids = Vec::with_capacity(ADDS);
                // Pipelined in runs of ten, some with a trim that keeps all.
                for run in 0..ADDS / 10 {
                    let writer = w.to_string();
                    let mut batch = Vec::new();
                    for j in 0..10 {
                        let n = (run * 10 + j).to_string();
                        let mut args = vec!["XADD", "s"];
                        if j == 0 {
                            args.extend(["MAXLEN", "1000000"]);
                        }
                        args.extend(["*", "w", &writer, "n", &n]);
                        batch.extend(RawClient::encode(&args));
                    }
                    raw.send(&batch);
                    for _ in 0..10 {
                        let reply = String::from_utf8(raw.read_reply()).unwrap();
                        let id = reply.lines().nth(1).expect("a bulk id").to_string();
                        let (ms, seq) = id.split_once('-').unwrap();
                        ids.push((ms.parse::<u64>().unwrap(), seq.parse::<u64>().unwrap()));
                    }
                }
                ids
            })
        })
        .collect();
    let mut all = Vec::new();
    for writer in writers {
        let ids = writer.join().unwrap();
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "one writer's ids increase"
        );
        all.extend(ids);
    }
    let mut con = server.client();
    assert_eq!(q(&mut con, &["XLEN", "s"]), int(all.len() as i64));
    all.sort();
    all.dedup();
    assert_eq!(all.len(), WRITERS * ADDS, "no id given twice");
    // The stream holds them in id order.
    let entries: Vec<(String, Vec<String>)> = redis::cmd("XRANGE")
        .arg("s")
        .arg("-")
        .arg("+")
        .query(&mut con)
        .unwrap();
    let stored: Vec<(u64, u64)> = entries
        .iter()
        .map(|(id, _)| {
            let (ms, seq) = id.split_once('-').unwrap();
            (ms.parse().unwrap(), seq.parse().unwrap())
        })
        .collect();
    assert_eq!(stored, all);
}

/// Where Redis 7.2 differs from the 7.0 oracle: XSETID may not go below
/// the highest id XDEL removed (redis/redis#11444), unless MAXDELETEDID
/// replaces it.
#[test]
fn xsetid_stays_above_deleted_ids_as_in_redis_7_2() {
    let server = Server::start();
    let mut raw = server.raw();
    for id in ["1-1", "1-2", "1-3"] {
        raw.command(&["XADD", "x", id, "f", "v"]);
    }
    raw.command(&["XDEL", "x", "1-2"]);
    raw.command(&["XDEL", "x", "1-3"]);
    assert_eq!(
        error(&mut raw, &["XSETID", "x", "1-2"]),
        "ERR The ID specified in XSETID is smaller than current max_deleted_entry_id"
    );
    assert_eq!(raw.command(&["XSETID", "x", "1-3"]), b"+OK\r\n");
    assert_eq!(
        raw.command(&["XSETID", "x", "1-2", "MAXDELETEDID", "1-1"]),
        b"+OK\r\n"
    );
    // The last id is now 1-2, so XADD of 1-2 is refused.
    assert_eq!(
        error(&mut raw, &["XADD", "x", "1-2", "f", "v"]),
        "ERR The ID specified in XADD is equal or smaller than the target stream top item"
    );
}
