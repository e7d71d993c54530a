//! Keyspace notifications, proven against a real redis-server: the
//! `notify-keyspace-events` flags (CONFIG SET / CONFIG GET replies and the
//! directive at start), the `__keyspace@<db>__:<key>` and
//! `__keyevent@<db>__:<event>` messages a scripted run of write (and read)
//! commands raises, in RESP2 and RESP3 and under several flag sets,
//! "expired" events from active expiry (nobody reads the key) and from lazy
//! expiry (a command finds the key expired), and the events of a MULTI/EXEC
//! in command order, to another connection and to the subscribed client
//! itself.
//!
//! The oracle is the installed redis-server (7.0); where Redis 7.2, the
//! reference, behaves otherwise (where a RESP3 client's own events go
//! among its replies), the test says so and checks 7.2's behaviour.

mod common;
use common::*;
use std::time::{Duration, Instant};

/// Every keyspace and keyevent channel of every database.
const ALL_EVENTS: &str = "__key*__:*";

fn hello3(raw: &mut RawClient) {
    let reply = raw.command(&["HELLO", "3"]);
    assert_eq!(reply.first(), Some(&b'%'), "HELLO 3: {}", show(&reply));
}

fn set_flags(raw: &mut RawClient, flags: &str) {
    let reply = raw.command(&["CONFIG", "SET", "notify-keyspace-events", flags]);
    assert_eq!(
        show(&reply),
        "+OK\\r\\n",
        "CONFIG SET notify-keyspace-events {flags:?}"
    );
}

/// A connection speaking RESP `proto` that PSUBSCRIBEd to `pattern`.
fn subscriber(port: u16, proto: u8, pattern: &str) -> RawClient {
    let mut sub = RawClient::connect(port);
    if proto == 3 {
        hello3(&mut sub);
    }
    let confirmation = sub.command(&["PSUBSCRIBE", pattern]);
    let head = if proto == 3 { '>' } else { '*' };
    let expected = format!(
        "{head}3\r\n$10\r\npsubscribe\r\n${}\r\n{pattern}\r\n:1\r\n",
        pattern.len()
    );
    assert_eq!(show(&confirmation), show(expected.as_bytes()));
    sub
}

/// The answer a subscribed connection gives to `PING token`.
fn pong(proto: u8, token: &str) -> Vec<u8> {
    if proto == 3 {
        format!("${}\r\n{token}\r\n", token.len()).into_bytes()
    } else {
        format!("*2\r\n$4\r\npong\r\n${}\r\n{token}\r\n", token.len()).into_bytes()
    }
}

/// Everything the subscriber received before the answer to a `PING
/// token` sent now: what was published before the PING was handled.
fn drain(sub: &mut RawClient, proto: u8, token: &str) -> Vec<Vec<u8>> {
    sub.send(&RawClient::encode(&["PING", token]));
    let end = pong(proto, token);
    let mut frames = Vec::new();
    loop {
        let frame = sub.read_reply();
        if frame == end {
            return frames;
        }
        frames.push(frame);
    }
}

/// The bulk strings of a flat array or push frame.
fn parts(frame: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(frame);
    let lines: Vec<&str> = text.split("\r\n").collect();
    lines
        .iter()
        .skip(1)
        .step_by(2)
        .zip(lines.iter().skip(2).step_by(2))
        .map(|(header, body)| {
            if header.starts_with('$') {
                body.to_string()
            } else {
                format!("{header}{body}")
            }
        })
        .collect()
}

/// A frame as one readable line: a pattern message as `<channel> <payload>`
/// (with `>` before it when it is a RESP3 push), anything else escaped.
fn describe(frame: &[u8]) -> String {
    let p = parts(frame);
    let push = if frame.first() == Some(&b'>') {
        ">"
    } else {
        ""
    };
    if p.len() == 4 && p[0] == "pmessage" && p[1] == ALL_EVENTS {
        format!("{push}{} {}", p[2], p[3])
    } else {
        show(frame)
    }
}

fn describe_all(frames: &[Vec<u8>]) -> String {
    if frames.is_empty() {
        return "(nothing)".into();
    }
    frames
        .iter()
        .map(|f| describe(f))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The expected `pmessage` frame for `channel` and `payload`.
fn pmessage(proto: u8, channel: &str, payload: &str) -> Vec<u8> {
    let head = if proto == 3 { '>' } else { '*' };
    let mut out = format!("{head}4\r\n$8\r\npmessage\r\n");
    for part in [ALL_EVENTS, channel, payload] {
        out.push_str(&format!("${}\r\n{part}\r\n", part.len()));
    }
    out.into_bytes()
}

// ---------------------------------------------------------------------------
// The flags: CONFIG SET / CONFIG GET and the directive at start.

/// Flag strings Redis accepts (the CONFIG GET reply shows them in Redis's
/// canonical order) and ones it refuses.
const FLAG_STRINGS: &[&str] = &[
    "KEA",
    "Ex",
    "AKE",
    "gKE",
    "Kn",
    "Em",
    "KEAmn",
    "",
    "$lshzxe",
    "A",
    "AK",
    "AE",
    "K",
    "E",
    "g",
    "$",
    "l",
    "s",
    "h",
    "z",
    "x",
    "e",
    "t",
    "m",
    "d",
    "n",
    "KEt",
    "KEd",
    "KEAt",
    "KEAd",
    "KEAnmtd",
    "Kg$lshzxetdmn",
    "KEg$lshzxetdmnA",
    "KEAKEA",
    "KKKK",
    "xxe",
    "nm",
    "Kl",
    "Eh",
    "E$z",
    // Refused: the earlier value stays.
    "Q",
    "KEq",
    "kea",
    "a",
    "KE A",
    " ",
    "KEA ",
    "-",
    "KE\u{e9}",
    "Ex",
    "KE*",
];

#[test]
fn config_set_and_get_of_the_flags_match_redis_byte_for_byte() {
    let redrock = Server::start();
    let redis = RedisServer::start();
    let mut ours = redrock.raw();
    let mut theirs = redis.raw();
    let get = ["CONFIG", "GET", "notify-keyspace-events"];
    // The default: nothing.
    assert_eq!(show(&ours.command(&get)), show(&theirs.command(&get)));
    assert_eq!(
        show(&theirs.command(&get)),
        show(b"*2\r\n$22\r\nnotify-keyspace-events\r\n$0\r\n\r\n")
    );
    for flags in FLAG_STRINGS {
        let set = ["CONFIG", "SET", "notify-keyspace-events", flags];
        let expected = theirs.command(&set);
        let got = ours.command(&set);
        assert_eq!(show(&got), show(&expected), "CONFIG SET {flags:?}");
        let expected = theirs.command(&get);
        let got = ours.command(&get);
        assert_eq!(show(&got), show(&expected), "CONFIG GET after {flags:?}");
    }
    // The name is case-insensitive; a pattern finds it; no value.
    for args in [
        &["CONFIG", "SET", "NOTIFY-KEYSPACE-EVENTS", "Elg"][..],
        &["CONFIG", "GET", "notify-keyspace-*"][..],
        &["CONFIG", "SET", "notify-keyspace-events"][..],
        &["CONFIG", "GET", "notify-keyspace-events"][..],
    ] {
        assert_eq!(
            show(&ours.command(args)),
            show(&theirs.command(args)),
            "{args:?}"
        );
    }
}

/// What a SET and an LPUSH raise on a server just started, readable.
fn events_of_a_set(port: u16) -> Vec<String> {
    let mut sub = subscriber(port, 2, ALL_EVENTS);
    let mut writer = RawClient::connect(port);
    assert_eq!(writer.command(&["SET", "k", "v"]), b"+OK\r\n");
    assert_eq!(writer.command(&["LPUSH", "l", "v"]), b":1\r\n");
    drain(&mut sub, 2, "end")
        .iter()
        .map(|f| describe(f))
        .collect()
}

#[test]
fn the_directive_is_read_at_start_from_the_command_line_and_the_file() {
    let redis = RedisServer::start();
    let mut oracle = redis.raw();
    let get = ["CONFIG", "GET", "notify-keyspace-events"];

    // Command line.
    let server = Server::start_with(&["--notify-keyspace-events", "KEA"]);
    oracle.command(&["CONFIG", "SET", "notify-keyspace-events", "KEA"]);
    assert_eq!(
        show(&server.raw().command(&get)),
        show(&oracle.command(&get))
    );
    assert_eq!(
        events_of_a_set(server.port),
        [
            "__keyspace@0__:k set",
            "__keyevent@0__:set k",
            "__keyspace@0__:l lpush",
            "__keyevent@0__:lpush l",
        ]
    );
    drop(server);

    // Only keyevent messages of string commands.
    let server = Server::start_with(&["--notify-keyspace-events", "$E"]);
    oracle.command(&["CONFIG", "SET", "notify-keyspace-events", "$E"]);
    assert_eq!(
        show(&server.raw().command(&get)),
        show(&oracle.command(&get))
    );
    assert_eq!(events_of_a_set(server.port), ["__keyevent@0__:set k"]);
    drop(server);

    // A config file, quoted value.
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("redrock.conf");
    std::fs::write(&conf, "notify-keyspace-events \"Kl\"\n").unwrap();
    let server = Server::start_with(&["-c", conf.to_str().unwrap()]);
    oracle.command(&["CONFIG", "SET", "notify-keyspace-events", "Kl"]);
    assert_eq!(
        show(&server.raw().command(&get)),
        show(&oracle.command(&get))
    );
    assert_eq!(events_of_a_set(server.port), ["__keyspace@0__:l lpush"]);
    drop(server);

    // An empty value in the file: nothing is raised.
    std::fs::write(&conf, "notify-keyspace-events \"\"\n").unwrap();
    let server = Server::start_with(&["-c", conf.to_str().unwrap()]);
    oracle.command(&["CONFIG", "SET", "notify-keyspace-events", ""]);
    assert_eq!(
        show(&server.raw().command(&get)),
        show(&oracle.command(&get))
    );
    assert!(events_of_a_set(server.port).is_empty());
    drop(server);

    // A flag Redis does not know stops the start, as Redis's does.
    let dir_text = dir.path().to_str().unwrap();
    let port = free_port().to_string();
    let stderr = start_failure(&[
        "--port",
        &port,
        "--dir",
        dir_text,
        "--notify-keyspace-events",
        "KEQ",
    ]);
    assert!(
        stderr.contains("notify-keyspace-events"),
        "the refusal names the directive: {stderr}"
    );
}

// ---------------------------------------------------------------------------
// The scripted comparison.

/// One command a line, arguments split at spaces; `<empty>` is the empty
/// string. The reads (GET of a missing key, ...) raise only `keymiss`.
const SCRIPT: &str = "
SET s1 v
SET s1 v2 EX 100
SET s1 v3 KEEPTTL
SET s1 v4 NX
SET s2 v NX
SET s2 w XX GET
SET s3 x GET
SET s1 v5 PX 100000 GET
SET s8 <empty>
SETEX s4 100 v
PSETEX s5 100000 v
SETNX s6 v
SETNX s6 w
GETSET s6 z
GETSET s7 z
GETDEL s7
GETDEL s7
GETEX s6 EX 100
GETEX s6 PERSIST
GETEX s6 PERSIST
GETEX s6
GETEX s8 PXAT 1
GETEX s8 EX 100
MSET m1 a m2 b m1 c
MSETNX m3 a m4 b
MSETNX m3 a m5 b
APPEND m1 xyz
APPEND m6 xyz
SETRANGE m6 1 Q
SETRANGE m7 2 Q
SETRANGE m8 0 <empty>
SETRANGE m1 0 <empty>
INCR n1
DECR n1
INCRBY n1 10
DECRBY n1 3
INCRBYFLOAT n1 1.5
INCRBYFLOAT n2 2
INCR m1
GET nokey
GET m1
MGET m1 nokey m2 nokey2
EXISTS nokey m1
TYPE nokey
TTL nokey
PTTL nokey
STRLEN nokey
GETRANGE nokey 0 1
HGET nokey f
HGETALL nokey
LRANGE nokey 0 -1
SMEMBERS nokey
SISMEMBER nokey a
ZRANGE nokey 0 -1
ZSCORE nokey a
TOUCH nokey m1
GETEX nokey
LSET nolist 0 x
ZREMRANGEBYRANK nokey 0 1
ZREMRANGEBYSCORE nokey 0 1
ZREMRANGEBYLEX nokey - +
EXPIRETIME nokey
PEXPIRETIME nokey
LREM nolist 0 x
LTRIM nolist 0 1
RPOP nolist 2
HLEN nokey
SCARD nokey
ZCARD nokey
SRANDMEMBER nokey
HRANDFIELD nokey
ZRANDMEMBER nokey
LINDEX nolist 0
LPOS nolist a
HEXISTS nokey f
HMGET nokey a b
HKEYS nokey
HVALS nokey
HSTRLEN nokey f
SMISMEMBER nokey a
ZRANK nokey a
ZCOUNT nokey 0 1
ZMSCORE nokey a
ZLEXCOUNT nokey - +
ZREVRANGE nokey 0 1
ZRANGEBYSCORE nokey 0 1
SINTERCARD 1 nokey
ZINTERCARD 1 nokey
SDIFF nokey
ZUNION 1 nokey
ZINTER 1 nokey
ZDIFF 1 nokey
SUBSTR nokey 0 1
OBJECT ENCODING nokey
HSCAN nokey 0
SSCAN nokey 0
ZSCAN nokey 0
DEL s1 nokey s2
DEL nokey
UNLINK s3 s4
EXPIRE s5 100
PEXPIRE s5 100000
EXPIREAT s6 99999999999
EXPIRE s6 100 NX
EXPIRE s6 100 XX
EXPIRE s6 50 GT
EXPIRE s6 50 LT
EXPIRE nokey 100
EXPIREAT s6 1
PEXPIREAT s5 1
SET e1 v
EXPIRE e1 -1
SET e2 v
PEXPIRE e2 0
SET p1 v EX 100
PERSIST p1
PERSIST p1
PERSIST nokey
RENAME p1 p2
SET p3 v
RENAME p2 p3
RENAME p3 p3
RENAME nokey p3
RENAMENX p3 p4
SET p5 v
RENAMENX p4 p5
COPY p4 c1
COPY p4 c1
COPY p4 c1 REPLACE
COPY p4 c2 DB 1
COPY nokey c3
MOVE c1 1
MOVE c2 1
MOVE nokey 1
SELECT 1
SET d1 v
LPUSH d2 a
EXPIRE d1 100
GET nokey
DEL c2 c1
SELECT 0
LPUSH l1 a b c
RPUSH l1 d e
LPUSHX l1 f
RPUSHX l1 g
LPUSHX nolist f
RPUSHX nolist f
LINSERT l1 BEFORE a X
LINSERT l1 AFTER nothing X
LINSERT nolist AFTER a X
LSET l1 0 Y
LPOP l1
RPOP l1
LPOP l1 2
RPOP l1 0
LPOP nolist
LLEN nolist
RPUSH l2 only
LPOP l2
RPUSH l2 a b
RPOP l2 5
RPUSH l3 a b c
LTRIM l3 0 1
LTRIM l3 0 -1
LTRIM l3 5 10
RPUSH l4 a b a c a
LREM l4 2 a
LREM l4 0 zz
LREM l4 0 a
LREM l4 0 b
LREM l4 0 c
RPUSH l5 a b c
LMOVE l5 l6 LEFT RIGHT
LMOVE l5 l5 RIGHT LEFT
RPOPLPUSH l5 l6
RPOPLPUSH l5 l6
RPOPLPUSH l5 l6
LMOVE nolist l6 LEFT LEFT
LMPOP 2 nolist l6 LEFT COUNT 1
LMPOP 1 l6 RIGHT COUNT 10
LMPOP 1 nolist LEFT
RPUSH l7 a b c d
BLPOP nolist l7 0
BRPOP l7 0
BLMOVE l7 l8 LEFT LEFT 0
BRPOPLPUSH l7 l8 0
BLMPOP 0 1 l8 LEFT COUNT 5
HSET h1 a 1 b 2
HSET h1 a 1
HSET h1 a 3 c 4
HSETNX h1 a 5
HSETNX h1 d 5
HMSET h1 e 6
HGET h1 nofield
HDEL h1 zz
HDEL h1 a b
HDEL h1 c d e zz
HDEL h1 a
HINCRBY h2 f 5
HINCRBY h2 f -2
HINCRBYFLOAT h2 g 1.5
HINCRBYFLOAT h2 f 1
SADD t1 a b c
SADD t1 a
SADD t1 a d
SREM t1 zz
SREM t1 a b
SPOP t1
SPOP t1
SPOP nokey
SADD t2 a b c d
SPOP t2 2
SPOP t2 0
SPOP t2 5
SADD t3 a b
SMOVE t3 t4 a
SMOVE t3 t4 zz
SMOVE t3 t4 b
SMOVE nokey t4 a
SADD t5 a
SMOVE t5 t4 a
SADD t4 x
SMOVE t4 t4 x
SADD t6 a b c
SADD t7 b c d
SINTERSTORE t8 t6 t7
SUNIONSTORE t9 t6 t7
SDIFFSTORE t10 t6 t7
SINTERSTORE t8 t6 nokey
SINTERSTORE t11 t6 nokey
SDIFFSTORE t9 t6 t6
SUNIONSTORE t12 nokey
SINTER t6 nokey
SUNION nokey t6
ZADD z1 1 a 2 b 3 c
ZADD z1 1 a
ZADD z1 5 a
ZADD z1 INCR 1 a
ZADD z1 NX 9 a
ZADD z1 XX 9 new
ZADD z1 CH 9 a
ZADD z1 GT 1 a
ZADD z1 NX INCR 1 a
ZINCRBY z1 2 b
ZINCRBY z2 2 b
ZREM z1 zz
ZREM z1 a
ZREM z2 b
ZADD z3 1 a 2 b 3 c 4 d 5 e 6 f
ZREMRANGEBYSCORE z3 1 2
ZREMRANGEBYSCORE z3 100 200
ZREMRANGEBYRANK z3 0 0
ZREMRANGEBYRANK z3 10 20
ZADD z4 0 a 0 b 0 c
ZREMRANGEBYLEX z4 [a [b
ZREMRANGEBYLEX z4 [x [y
ZREMRANGEBYLEX z4 - +
ZPOPMIN z3
ZPOPMAX z3
ZPOPMIN z3 10
ZPOPMIN z3
ZPOPMAX nokey
ZADD z5 1 a 2 b 3 c
ZMPOP 2 nokey z5 MIN
ZMPOP 1 z5 MAX COUNT 5
ZADD z6 1 a 2 b
BZPOPMIN nokey z6 0
BZPOPMAX z6 0
ZADD z6 1 a
BZMPOP 0 1 z6 MIN
ZADD z7 1 a 2 b 3 c
ZADD z8 2 b 3 c 4 d
ZUNIONSTORE z9 2 z7 z8
ZINTERSTORE z10 2 z7 z8
ZDIFFSTORE z11 2 z7 z8
ZRANGESTORE z12 z7 0 1
ZINTERSTORE z9 2 z7 nokey
ZINTERSTORE z13 2 z7 nokey
ZDIFFSTORE z10 2 z7 z7
ZRANGESTORE z11 z7 5 10
ZRANGESTORE z14 nokey 0 1
ZUNIONSTORE z7 1 z7 WEIGHTS 2
ZUNIONSTORE z15 2 nokey z7
SET a1 v
SADD a1 x
LPUSH a1 x
SETNX a1 w
SET a1 w NX
SET nokey w XX
HSETNX h2 f 9
SET a2 v
EXPIRE a2 100
EXPIRE a2 200 NX
EXPIRE a2 50 GT
PEXPIRE a2 0 NX
INCR a3 extra
DEL nokey
FLUSHDB
SET last v
SELECT 1
FLUSHALL
SELECT 0
SET final v
";

fn script() -> Vec<Vec<String>> {
    SCRIPT
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            l.split(' ')
                .map(|a| {
                    if a == "<empty>" {
                        String::new()
                    } else {
                        a.into()
                    }
                })
                .collect()
        })
        .collect()
}

/// A run of the script on one server: the writer's replies and, for each
/// command, what the subscriber received before the answer to a PING sent
/// after the command's reply.
struct Run {
    replies: Vec<Vec<u8>>,
    steps: Vec<Vec<Vec<u8>>>,
}

fn run_script(port: u16, proto: u8, flags: &str, script: &[Vec<String>]) -> Run {
    let mut writer = RawClient::connect(port);
    assert_eq!(writer.command(&["FLUSHALL"]), b"+OK\r\n");
    set_flags(&mut writer, flags);
    let mut sub = subscriber(port, proto, ALL_EVENTS);
    let mut run = Run {
        replies: Vec::new(),
        steps: Vec::new(),
    };
    for (i, args) in script.iter().enumerate() {
        run.replies.push(writer.command(args));
        run.steps.push(drain(&mut sub, proto, &format!("step-{i}")));
    }
    // Nothing comes late.
    std::thread::sleep(Duration::from_millis(50));
    run.steps.push(drain(&mut sub, proto, "end"));
    run
}

/// Runs the script on both servers and compares the subscriber's messages
/// exactly: the whole sequence, then which command each came after. The
/// differences, readable; empty if none.
fn compare_with_redis(redrock: &Server, redis: &RedisServer, proto: u8, flags: &str) -> String {
    let script = script();
    let theirs = run_script(redis.port, proto, flags, &script);
    let ours = run_script(redrock.port, proto, flags, &script);
    let label = |step: usize| -> String {
        match script.get(step) {
            Some(args) => args.join(" "),
            None => "(after the script)".into(),
        }
    };
    // The whole sequence, each message with the step it followed.
    let flat = |run: &Run| -> Vec<(usize, Vec<u8>)> {
        run.steps
            .iter()
            .enumerate()
            .flat_map(|(step, frames)| frames.iter().map(move |f| (step, f.clone())))
            .collect()
    };
    let (expected, got) = (flat(&theirs), flat(&ours));
    let expected_frames: Vec<&Vec<u8>> = expected.iter().map(|(_, f)| f).collect();
    let got_frames: Vec<&Vec<u8>> = got.iter().map(|(_, f)| f).collect();
    let mut report = String::new();
    if expected_frames != got_frames {
        let first = expected_frames
            .iter()
            .zip(&got_frames)
            .position(|(a, b)| a != b)
            .unwrap_or(expected_frames.len().min(got_frames.len()));
        report.push_str(&format!(
            "message sequences differ (redis {} messages, redrock {}); from message \
             {first}:\n",
            expected.len(),
            got.len()
        ));
        for i in first..(first + 12).min(expected.len().max(got.len())) {
            let side = |v: &[(usize, Vec<u8>)]| match v.get(i) {
                Some((step, f)) => format!("{} (after step {step})", describe(f)),
                None => "-".into(),
            };
            report.push_str(&format!(
                "  #{i}: redis {} | redrock {}\n",
                side(&expected),
                side(&got)
            ));
        }
    }
    // Per command: every message of a command is published before its
    // reply, so it arrives before the answer to the PING that follows.
    let mut differing = 0;
    for step in 0..theirs.steps.len() {
        if theirs.steps[step] != ours.steps[step] {
            differing += 1;
            if differing <= 40 {
                report.push_str(&format!(
                    "step {step} `{}` (reply redis {} | redrock {}):\n    redis:   {}\n    \
                     redrock: {}\n",
                    label(step),
                    theirs.replies.get(step).map_or("-".into(), |r| show(r)),
                    ours.replies.get(step).map_or("-".into(), |r| show(r)),
                    describe_all(&theirs.steps[step]),
                    describe_all(&ours.steps[step]),
                ));
            }
        }
    }
    if differing > 40 {
        report.push_str(&format!("... {} more steps differ\n", differing - 40));
    }
    // The comparison means something: the script raised events.
    if flags.contains('E') && flags.contains('A') {
        assert!(expected.len() > 300, "{} messages only", expected.len());
    }
    if report.is_empty() {
        return report;
    }
    format!(
        "notify-keyspace-events {flags:?}, RESP{proto}: RedRock's keyspace events differ from \
         Redis's\n{report}"
    )
}

/// Fails with every report that is not empty.
fn assert_no_differences(reports: Vec<String>) {
    let failed: Vec<String> = reports.into_iter().filter(|r| !r.is_empty()).collect();
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

#[test]
fn write_commands_raise_redis_events_resp2() {
    let (redrock, redis) = (Server::start(), RedisServer::start());
    assert_no_differences(vec![compare_with_redis(&redrock, &redis, 2, "KEA")]);
}

#[test]
fn write_commands_raise_redis_events_resp3() {
    let (redrock, redis) = (Server::start(), RedisServer::start());
    assert_no_differences(vec![compare_with_redis(&redrock, &redis, 3, "KEA")]);
}

#[test]
fn new_events_match_redis() {
    let (redrock, redis) = (Server::start(), RedisServer::start());
    assert_no_differences(vec![
        compare_with_redis(&redrock, &redis, 2, "AKEn"),
        compare_with_redis(&redrock, &redis, 3, "KEn"),
    ]);
}

#[test]
fn keymiss_events_match_redis() {
    let (redrock, redis) = (Server::start(), RedisServer::start());
    assert_no_differences(vec![
        compare_with_redis(&redrock, &redis, 2, "AKEnm"),
        compare_with_redis(&redrock, &redis, 3, "Km"),
    ]);
}

#[test]
fn event_classes_select_like_redis() {
    let (redrock, redis) = (Server::start(), RedisServer::start());
    let flag_sets = [
        "Kg$", "El", "Esz", "Kh", "Ex", "Eg", "En", "KEx$", "gKE", "A", "K", "E", "Kdt",
    ];
    assert_no_differences(
        flag_sets
            .iter()
            .map(|flags| compare_with_redis(&redrock, &redis, 2, flags))
            .collect(),
    );
}

// ---------------------------------------------------------------------------
// Expiry.

/// Drains `sub` every 50 ms until `done` holds for what arrived, at most
/// 30 s.
fn collect_until(
    sub: &mut RawClient,
    proto: u8,
    what: &str,
    done: impl Fn(&[Vec<u8>]) -> bool,
) -> Vec<Vec<u8>> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut frames = Vec::new();
    let mut round = 0;
    loop {
        frames.extend(drain(sub, proto, &format!("poll-{round}")));
        round += 1;
        if done(&frames) {
            return frames;
        }
        assert!(
            Instant::now() < deadline,
            "{what} within 30 s; received {}",
            describe_all(&frames)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn count_expired(frames: &[Vec<u8>], db: u32) -> usize {
    let channel = format!("__keyevent@{db}__:expired");
    frames
        .iter()
        .filter(|f| parts(f).get(2) == Some(&channel))
        .count()
}

/// Active expiry on `port`: what a subscriber receives for keys that
/// expire while nobody reads them.
fn active_expiry_run(port: u16, proto: u8) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let mut writer = RawClient::connect(port);
    assert_eq!(writer.command(&["FLUSHALL"]), b"+OK\r\n");
    set_flags(&mut writer, "KEA");
    let mut sub = subscriber(port, proto, ALL_EVENTS);
    assert_eq!(
        writer.command(&["SET", "soon", "v", "PX", "100"]),
        b"+OK\r\n"
    );
    let one = collect_until(&mut sub, proto, "the expired event of 'soon'", |f| {
        count_expired(f, 0) > 0
    });
    // Many keys in database 3, keyevent messages of expiry only; they
    // expire in an order of the server's choosing.
    set_flags(&mut writer, "Ex");
    assert_eq!(writer.command(&["SELECT", "3"]), b"+OK\r\n");
    for i in 0..20 {
        let key = format!("many{i}");
        let reply = writer.command(&["SET", &key, "v", "PX", &(50 + i * 5).to_string()]);
        assert_eq!(reply, b"+OK\r\n");
    }
    assert_eq!(writer.command(&["SET", "stays", "v"]), b"+OK\r\n");
    let mut many = collect_until(&mut sub, proto, "20 expired events in db 3", |f| {
        count_expired(f, 3) >= 20
    });
    many.sort();
    assert_eq!(writer.command(&["DBSIZE"]), b":1\r\n");
    (one, many)
}

#[test]
fn active_expiry_raises_expired_without_any_read() {
    let redrock = Server::start();
    let redis = RedisServer::start();
    for proto in [2, 3] {
        let (their_one, their_many) = active_expiry_run(redis.port, proto);
        let (our_one, our_many) = active_expiry_run(redrock.port, proto);
        assert_eq!(
            describe_all(&our_one),
            describe_all(&their_one),
            "RESP{proto}: a key set with PX 100 and never read"
        );
        assert_eq!(
            our_one,
            [
                pmessage(proto, "__keyspace@0__:soon", "set"),
                pmessage(proto, "__keyevent@0__:set", "soon"),
                pmessage(proto, "__keyspace@0__:soon", "expire"),
                pmessage(proto, "__keyevent@0__:expire", "soon"),
                pmessage(proto, "__keyspace@0__:soon", "expired"),
                pmessage(proto, "__keyevent@0__:expired", "soon"),
            ]
        );
        assert_eq!(
            describe_all(&our_many),
            describe_all(&their_many),
            "RESP{proto}: 20 keys expiring in db 3 with flags Ex"
        );
    }
}

/// Lazy expiry on `port`: for each command of `reads`, its key (the second
/// word) is set with PX 1 and left 20 ms, and then the command runs. What
/// the subscriber received before the answer to a PING that follows the
/// command's reply.
fn lazy_expiry_run(port: u16, proto: u8, flags: &str, reads: &[&[&str]]) -> Vec<Vec<Vec<u8>>> {
    let mut writer = RawClient::connect(port);
    assert_eq!(writer.command(&["FLUSHALL"]), b"+OK\r\n");
    set_flags(&mut writer, flags);
    let mut sub = subscriber(port, proto, ALL_EVENTS);
    let mut out = Vec::new();
    for (i, &command) in reads.iter().enumerate() {
        assert_eq!(
            writer.command(&["SET", command[1], "v", "PX", "1"]),
            b"+OK\r\n"
        );
        std::thread::sleep(Duration::from_millis(20));
        writer.command(command);
        out.push(drain(&mut sub, proto, &format!("step-{i}")));
    }
    std::thread::sleep(Duration::from_millis(300));
    out.push(drain(&mut sub, proto, "end"));
    out
}

#[test]
fn lazy_expiry_raises_expired_before_the_command_that_found_the_key_replies() {
    // Each command finds its key expired (unless active expiry was
    // quicker, which raises the same events earlier): the "expired" event
    // comes before the command's own events and before its reply. Ten
    // GETs in a row, 20 ms after their keys expired, would not all be
    // beaten by a 100 ms active-expiry cycle.
    let mut reads: Vec<Vec<String>> = (0..10)
        .map(|i| vec!["GET".into(), format!("lazy{i}")])
        .collect();
    for command in [
        "TTL k1",
        "EXISTS k2",
        "TYPE k3",
        "HGET k4 f",
        "STRLEN k5",
        "RPUSH k6 x",
        "SADD k7 x",
        "SET k8 w",
        "INCR k9",
        "EXPIRE k10 100",
        "PERSIST k11",
        "DEL k12",
        "APPEND k13 x",
        "GETDEL k14",
        "HSET k15 f v",
        "ZADD k16 1 m",
        "LPUSHX k17 x",
        "RENAME k18 other",
        "COPY k19 other",
        "MOVE k20 1",
        "GETEX k21 PERSIST",
        "SETNX k22 w",
        "SET k23 w NX",
        "RPUSHX k24 x",
        "LINSERT k25 BEFORE a b",
        "LPOP k26",
        "SREM k27 m",
        "HDEL k28 f",
        "ZREM k29 m",
        "SPOP k30",
        "ZPOPMIN k31",
        "LTRIM k32 0 1",
        "SMOVE k33 dst m",
        "HINCRBY k34 f 1",
        "PEXPIRE k35 100",
        "LMOVE k36 dst LEFT LEFT",
        "RPOPLPUSH k37 dst",
        "LSET k38 0 x",
        "LREM k39 0 x",
        "ZREMRANGEBYRANK k40 0 1",
        "SETRANGE k41 0 ab",
        "GETRANGE k42 0 1",
        "SISMEMBER k43 a",
        "ZSCORE k44 a",
        "LLEN k45",
        "HLEN k46",
        "MGET k47",
        "EXPIRETIME k48",
        "SRANDMEMBER k49",
        "ZINCRBY k50 1 a",
        "HSETNX k51 f v",
        "INCRBYFLOAT k52 1",
        "UNLINK k53",
        "TOUCH k54",
    ] {
        reads.push(command.split(' ').map(String::from).collect());
    }
    let borrowed: Vec<Vec<&str>> = reads
        .iter()
        .map(|c| c.iter().map(String::as_str).collect())
        .collect();
    let commands: Vec<&[&str]> = borrowed.iter().map(Vec::as_slice).collect();
    let redrock = Server::start();
    let redis = RedisServer::start();
    let mut reports = Vec::new();
    for (proto, flags) in [(2, "KEA"), (3, "KEAn"), (2, "Ex"), (3, "Exm")] {
        let theirs = lazy_expiry_run(redis.port, proto, flags, &commands);
        let ours = lazy_expiry_run(redrock.port, proto, flags, &commands);
        let mut report = String::new();
        // An "expired" event of an earlier key (active expiry catching a
        // key its command did not expire) is left out of the comparison of
        // the step it lands in; the count below still sees it.
        let own_step = |i: usize, frames: &[Vec<u8>]| -> Vec<Vec<u8>> {
            let key = commands.get(i).map(|c| c[1]);
            frames
                .iter()
                .filter(|f| {
                    let p = parts(f);
                    let expired_key = if p[2] == "__keyevent@0__:expired" {
                        Some(p[3].as_str())
                    } else if p[3] == "expired" {
                        p[2].strip_prefix("__keyspace@0__:")
                    } else {
                        None
                    };
                    expired_key.is_none() || expired_key == key
                })
                .cloned()
                .collect()
        };
        for (i, (expected, got)) in theirs.iter().zip(&ours).enumerate() {
            let (expected, got) = (own_step(i, expected), own_step(i, got));
            if expected != got {
                let command = commands
                    .get(i)
                    .map_or("(300 ms later)".into(), |c| c.join(" "));
                report.push_str(&format!(
                    "SET <key> v PX 1, 20 ms, `{command}`:\n    redis:   {}\n    redrock: {}\n",
                    describe_all(&expected),
                    describe_all(&got)
                ));
            }
        }
        // The first ten keys were reported expired before the GET that
        // found them replied, every key exactly once.
        for (i, frames) in ours.iter().take(10).enumerate() {
            let expired = pmessage(proto, "__keyevent@0__:expired", &format!("lazy{i}"));
            if !frames.contains(&expired) {
                report.push_str(&format!(
                    "no expired event for lazy{i} before GET's reply\n"
                ));
            }
        }
        let expired: usize = ours.iter().map(|f| count_expired(f, 0)).sum();
        if expired != commands.len() {
            report.push_str(&format!(
                "{expired} expired events for {} keys\n",
                commands.len()
            ));
        }
        if !report.is_empty() {
            reports.push(format!(
                "notify-keyspace-events {flags:?}, RESP{proto}: lazy expiry differs from \
                 Redis\n{report}"
            ));
        }
    }
    assert_no_differences(reports);
}

// ---------------------------------------------------------------------------
// Transactions.

const TRANSACTION: &[&[&str]] = &[
    &["MULTI"],
    &["SET", "t1", "a"],
    &["LPUSH", "t2", "x", "y"],
    &["INCR", "t3"],
    &["SADD", "t4", "m"],
    &["SADD", "t4", "m"],
    &["EXPIRE", "t2", "100"],
    &["INCR", "t2"],
    &["RENAME", "t2", "t5"],
    &["DEL", "t1", "t3"],
    &["HSET", "t6", "f", "v"],
    &["LPOP", "t5", "5"],
    &["ZADD", "t7", "1", "a"],
    &["SELECT", "2"],
    &["SET", "t8", "v"],
    &["EXEC"],
];

/// The transaction on `port`, watched by a RESP3 subscriber on another
/// connection: (the writer's replies, what the subscriber received).
fn transaction_run(port: u16, flags: &str) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let mut writer = RawClient::connect(port);
    assert_eq!(writer.command(&["FLUSHALL"]), b"+OK\r\n");
    set_flags(&mut writer, flags);
    let mut sub = subscriber(port, 3, ALL_EVENTS);
    let replies = TRANSACTION.iter().map(|&c| writer.command(c)).collect();
    (replies, drain(&mut sub, 3, "end"))
}

/// One top-level reply in a RESP3 stream (empty for pushes after the last
/// reply), with the push messages that came before it or inside it, and
/// whether one was inside it.
#[derive(Debug)]
struct Item {
    reply: Vec<u8>,
    pushes: Vec<Vec<u8>>,
    nested: bool,
}

/// Splits a RESP3 stream into its replies and its out-of-band pushes.
/// Redis 7.0 writes the pushes a client's own commands raise before their
/// reply, and inside an EXEC's array; 7.2 writes them after the reply of
/// the command the client sent (after the whole EXEC reply).
fn split_stream(bytes: &[u8]) -> Vec<Item> {
    fn line(b: &[u8], pos: &mut usize) -> (u8, String) {
        let end = *pos + b[*pos..].windows(2).position(|w| w == b"\r\n").unwrap();
        let kind = b[*pos];
        let text = String::from_utf8_lossy(&b[*pos + 1..end]).into_owned();
        *pos = end + 2;
        (kind, text)
    }
    /// One value (not a push) into `out`; pushes met on the way go to
    /// `pushes`.
    fn value(b: &[u8], pos: &mut usize, depth: usize, item: &mut Item, out: &mut Vec<u8>) {
        loop {
            if *pos == b.len() {
                // Pushes after the last reply.
                return;
            }
            let start = *pos;
            let (kind, text) = line(b, pos);
            let count: i64 = text.parse().unwrap_or(0);
            match kind {
                b'>' => {
                    let mut push = b[start..*pos].to_vec();
                    for _ in 0..count {
                        let mut child = Item {
                            reply: Vec::new(),
                            pushes: Vec::new(),
                            nested: false,
                        };
                        value(b, pos, depth + 1, &mut child, &mut push);
                    }
                    item.pushes.push(push);
                    item.nested |= depth > 0;
                    continue;
                }
                b'$' | b'=' | b'!' if count >= 0 => *pos += count as usize + 2,
                b'*' | b'~' | b'%' | b'|' => {
                    out.extend_from_slice(&b[start..*pos]);
                    let n = if matches!(kind, b'%' | b'|') {
                        count * 2
                    } else {
                        count
                    };
                    for _ in 0..n.max(0) {
                        value(b, pos, depth + 1, item, out);
                    }
                    return;
                }
                _ => {}
            }
            out.extend_from_slice(&b[start..*pos]);
            return;
        }
    }
    let mut items = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        let mut item = Item {
            reply: Vec::new(),
            pushes: Vec::new(),
            nested: false,
        };
        let mut reply = Vec::new();
        value(bytes, &mut pos, 0, &mut item, &mut reply);
        item.reply = reply;
        items.push(item);
    }
    items
}

/// `commands`, pipelined by a RESP3 connection subscribed itself:
/// everything it received up to the answer to a PING, and that split into
/// one item per command.
fn own_run(port: u16, flags: &str, commands: &[&[&str]]) -> (Vec<u8>, Vec<Item>) {
    let mut raw = RawClient::connect(port);
    assert_eq!(raw.command(&["FLUSHALL"]), b"+OK\r\n");
    set_flags(&mut raw, flags);
    hello3(&mut raw);
    raw.command(&["PSUBSCRIBE", ALL_EVENTS]);
    for &command in commands {
        raw.send(&RawClient::encode(command));
    }
    raw.send(&RawClient::encode(&["PING", "end"]));
    // Frames as the client reads them; a push inside an array is taken for
    // one of its elements, but the bytes stay whole and the answer to the
    // PING, sent last, is read alone. Pushes that come after it (late)
    // are kept, after a second PING, as pushes after the last reply.
    let mut stream = Vec::new();
    for token in ["end", "late"] {
        if token == "late" {
            raw.send(&RawClient::encode(&["PING", token]));
        }
        let end = pong(3, token);
        loop {
            let frame = raw.read_reply();
            if frame == end {
                break;
            }
            stream.extend_from_slice(&frame);
        }
    }
    let items = split_stream(&stream);
    let replies = items.iter().filter(|i| !i.reply.is_empty()).count();
    assert_eq!(replies, commands.len(), "{}", show(&stream));
    (stream, items)
}

/// Runs `commands` on a RESP3 connection subscribed itself, on both
/// servers: the same replies, the same events in the same order, no push
/// inside a reply, and Redis 7.2's layout: each command's reply, then the
/// events it raised (for EXEC, those of all its commands), then the next
/// reply. (The oracle, Redis 7.0, writes a command's own events where the
/// command raises them, before or after its reply, even inside an EXEC
/// reply; which command raised what is learnt from another subscriber.)
fn compare_own_events(redrock: &Server, redis: &RedisServer, flags: &str, commands: &[&[&str]]) {
    let script: Vec<Vec<String>> = commands
        .iter()
        .map(|c| c.iter().map(|a| a.to_string()).collect())
        .collect();
    let raised = run_script(redis.port, 3, flags, &script).steps;
    let (_, theirs) = own_run(redis.port, flags, commands);
    let (our_stream, ours) = own_run(redrock.port, flags, commands);
    let replies = |items: &[Item]| -> Vec<Vec<u8>> {
        items
            .iter()
            .filter(|i| !i.reply.is_empty())
            .map(|i| i.reply.clone())
            .collect()
    };
    let pushes =
        |items: &[Item]| -> Vec<Vec<u8>> { items.iter().flat_map(|i| i.pushes.clone()).collect() };
    assert_eq!(
        replies(&ours).iter().map(|r| show(r)).collect::<Vec<_>>(),
        replies(&theirs).iter().map(|r| show(r)).collect::<Vec<_>>(),
        "{flags}: the replies of the subscribed connection's own commands"
    );
    assert_eq!(
        describe_all(&pushes(&ours)).replace(", ", "\n"),
        describe_all(&raised.concat()).replace(", ", "\n"),
        "{flags}: the events of the subscribed connection's own commands"
    );
    assert_eq!(
        pushes(&theirs),
        raised.concat(),
        "{flags}: Redis's own events"
    );
    assert!(
        ours.iter().all(|i| !i.nested),
        "{flags}: a push message inside a reply: {}",
        show(&our_stream)
    );
    let mut expected = Vec::new();
    for (reply, events) in replies(&theirs).iter().zip(&raised) {
        expected.push(format!("reply {}", show(reply)));
        expected.extend(events.iter().map(|p| format!("push  {}", describe(p))));
    }
    let mut got = Vec::new();
    for item in &ours {
        got.extend(item.pushes.iter().map(|p| format!("push  {}", describe(p))));
        if !item.reply.is_empty() {
            got.push(format!("reply {}", show(&item.reply)));
        }
    }
    assert_eq!(
        got.join("\n"),
        expected.join("\n"),
        "{flags}: Redis 7.2 sends a client's own events right after the reply of the command \
         that raised them, before the reply of the next pipelined command"
    );
}

#[test]
fn transaction_events_arrive_in_command_order_to_a_resp3_subscriber() {
    let redrock = Server::start();
    let redis = RedisServer::start();
    for flags in ["KEA", "AKEn"] {
        let (their_replies, theirs) = transaction_run(redis.port, flags);
        let (our_replies, ours) = transaction_run(redrock.port, flags);
        assert_eq!(
            our_replies.iter().map(|r| show(r)).collect::<Vec<_>>(),
            their_replies.iter().map(|r| show(r)).collect::<Vec<_>>(),
            "{flags}: the transaction's replies"
        );
        assert_eq!(
            describe_all(&ours).replace(", ", "\n"),
            describe_all(&theirs).replace(", ", "\n"),
            "{flags}: the transaction's events"
        );
        assert_eq!(ours, theirs, "{flags}: the bytes of the events");
        assert!(theirs.len() >= 20);
        // The subscriber runs the transaction itself: the events after
        // the whole EXEC reply.
        compare_own_events(&redrock, &redis, flags, TRANSACTION);
    }
}

#[test]
fn a_resp3_subscriber_gets_its_own_events_after_each_reply() {
    let redrock = Server::start();
    let redis = RedisServer::start();
    let pipeline: &[&[&str]] = &[
        &["SET", "own", "1"],
        &["LPUSH", "list", "a", "b"],
        &["GET", "own"],
        &["SADD", "set", "m"],
        &["DEL", "own", "list"],
        &["PING", "between"],
        &["EXPIRE", "set", "100"],
        &["GET", "nokey"],
    ];
    for flags in ["KEA", "Em"] {
        compare_own_events(&redrock, &redis, flags, pipeline);
    }
}
