//! The connection commands current clients send: RESET, CLIENT SETINFO,
//! NO-EVICT, NO-TOUCH, REPLY, PAUSE and UNPAUSE, against the real binary;
//! where Redis 7.0 has the command, a real redis-server answers the same
//! pipelines byte for byte. redis-py (RESP2 and RESP3) and the redis crate
//! connect as applications do.

mod common;
use common::*;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What ends every pipeline: its reply tells that all replies before it
/// have arrived (or were dropped).
const END: &str = "end-of-pipeline";

/// The replies to `commands` (each a space-separated command line), sent
/// as one pipeline on a new connection, up to the reply of a final ECHO.
fn pipeline(port: u16, commands: &[&str]) -> Vec<Vec<u8>> {
    let mut raw = RawClient::connect(port);
    let mut bytes = Vec::new();
    for command in commands {
        let args: Vec<&str> = command.split(' ').collect();
        bytes.extend(RawClient::encode(&args));
    }
    bytes.extend(RawClient::encode(&["ECHO", END]));
    raw.send(&bytes);
    let end = format!("${}\r\n{END}\r\n", END.len()).into_bytes();
    let mut replies = Vec::new();
    loop {
        let reply = raw.read_reply();
        if reply == end {
            return replies;
        }
        replies.push(reply);
    }
}

/// Sends the same pipelines to RedRock and to redis-server and compares
/// the replies byte for byte.
fn same_as_redis(redrock: &Server, redis: &RedisServer, cases: &[&[&str]]) {
    for commands in cases {
        let ours = pipeline(redrock.port, commands);
        let theirs = pipeline(redis.port, commands);
        let show_all = |replies: &[Vec<u8>]| replies.iter().map(|r| show(r)).collect::<Vec<_>>();
        assert_eq!(
            show_all(&ours),
            show_all(&theirs),
            "replies to {commands:?} (RedRock, then Redis)"
        );
    }
}

/// A field of a CLIENT INFO / CLIENT LIST line.
fn field<'a>(line: &'a str, name: &str) -> &'a str {
    line.split(' ')
        .find_map(|f| f.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
        .unwrap_or_else(|| panic!("no {name} in {line}"))
}

/// The CLIENT INFO line of a raw connection (RESP2 or RESP3).
fn client_info(raw: &mut RawClient) -> String {
    let reply = String::from_utf8(raw.command(&["CLIENT", "INFO"])).unwrap();
    let body = reply.split_once("\r\n").unwrap().1;
    body.trim_start_matches("txt:").trim_end().to_string()
}

/// A number of INFO's output.
fn info_number(raw: &mut RawClient, section: &str, name: &str) -> i64 {
    let info = String::from_utf8(raw.command(&["INFO", section])).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .unwrap_or_else(|| panic!("no {name} in {info}"))
        .trim()
        .parse()
        .unwrap()
}

/// Waits (bounded) until `check` holds.
fn wait_until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check() {
        assert!(Instant::now() < deadline, "waited 30 s for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits until INFO shows `count` blocked (or paused) clients.
fn wait_for_blocked(admin: &mut RawClient, count: i64) {
    wait_until(&format!("{count} blocked clients"), || {
        info_number(admin, "clients", "blocked_clients") == count
    });
}

fn client_id(raw: &mut RawClient) -> String {
    let reply = String::from_utf8(raw.command(&["CLIENT", "ID"])).unwrap();
    reply.trim_start_matches(':').trim().to_string()
}

#[test]
fn client_reply_drops_replies_as_redis_does() {
    let redrock = Server::start();
    let redis = RedisServer::start();
    // One GET reply more than 64 KB of skipped ones: the dropped replies
    // cross the point where the connection writes its output out.
    let value = "v".repeat(100);
    let mut skipping = vec!["SET big ".to_string() + &value];
    for _ in 0..1000 {
        skipping.push("CLIENT REPLY SKIP".into());
        skipping.push("GET big".into());
    }
    skipping.push("GET big".into());
    let skipping: Vec<&str> = skipping.iter().map(String::as_str).collect();
    same_as_redis(
        &redrock,
        &redis,
        &[
            &[
                "SET a 1",
                "CLIENT REPLY OFF",
                "SET a 2",
                "GET a",
                "CLIENT REPLY ON",
                "GET a",
            ],
            &["CLIENT REPLY SKIP", "SET a 3", "GET a"],
            &["CLIENT REPLY SKIP", "CLIENT REPLY ON", "GET a"],
            &["CLIENT REPLY SKIP", "CLIENT REPLY SKIP", "GET a", "GET a"],
            &[
                "CLIENT REPLY SKIP",
                "CLIENT REPLY OFF",
                "GET a",
                "CLIENT REPLY ON",
                "GET a",
            ],
            &[
                "CLIENT REPLY OFF",
                "CLIENT REPLY SKIP",
                "GET a",
                "CLIENT REPLY ON",
                "GET a",
            ],
            // Errors are replies too.
            &[
                "CLIENT REPLY OFF",
                "GET",
                "NOSUCHCOMMAND",
                "INCR a b",
                "CLIENT REPLY ON",
            ],
            &["CLIENT REPLY SKIP", "INCR a b", "PING"],
            &["CLIENT REPLY bogus", "CLIENT REPLY", "CLIENT REPLY on x"],
            &["CLIENT REPLY OFF", "CLIENT REPLY bogus", "CLIENT REPLY ON"],
            // RESET ends OFF, not the skip of its own reply.
            &["CLIENT REPLY OFF", "RESET", "GET a"],
            &["CLIENT REPLY SKIP", "RESET", "GET a"],
            // The skip applies to a blocking command's reply, whenever it
            // comes.
            &["CLIENT REPLY SKIP", "BLPOP nolist 0.01", "GET a"],
            &skipping,
        ],
    );
    // RESP3 replies are dropped the same way (HELLO's own reply names the
    // server's version and the client's id: not compared).
    let resp3 = [
        "HELLO 3",
        "CLIENT REPLY SKIP",
        "GET a",
        "CLIENT REPLY OFF",
        "HGETALL a",
        "CLIENT REPLY ON",
        "GET nothing",
    ];
    assert_eq!(
        pipeline(redrock.port, &resp3)[1..],
        pipeline(redis.port, &resp3)[1..]
    );
}

#[test]
fn reset_restores_each_piece_of_state() {
    let server = Server::start();
    let mut raw = server.raw();
    let hello = raw.command(&["HELLO", "3", "SETNAME", "app"]);
    assert!(hello.starts_with(b"%7\r\n"), "{}", show(&hello));
    for command in [
        &["SELECT", "2"][..],
        &["CLIENT", "NO-EVICT", "ON"],
        &["CLIENT", "NO-TOUCH", "ON"],
        &["CLIENT", "SETINFO", "LIB-NAME", "mylib"],
        &["CLIENT", "SETINFO", "LIB-VER", "1.2"],
        &["SET", "in-db-2", "x"],
    ] {
        assert_eq!(raw.command(command), b"+OK\r\n", "{command:?}");
    }
    let before = client_info(&mut raw);
    assert_eq!(field(&before, "name"), "app");
    assert_eq!(field(&before, "db"), "2");
    assert_eq!(field(&before, "resp"), "3");
    assert_eq!(field(&before, "flags"), "eT");
    // CLIENT REPLY OFF is ended by RESET, whose own reply goes out.
    raw.send(&RawClient::encode(&["CLIENT", "REPLY", "OFF"]));
    assert_eq!(raw.command(&["RESET"]), b"+RESET\r\n");
    let after = client_info(&mut raw);
    assert_eq!(field(&after, "name"), "");
    assert_eq!(field(&after, "db"), "0");
    assert_eq!(field(&after, "resp"), "2");
    assert_eq!(field(&after, "flags"), "N");
    assert_eq!(field(&after, "cmd"), "client|info");
    // The library still describes the client, as in Redis.
    assert_eq!(field(&after, "lib-name"), "mylib");
    assert_eq!(field(&after, "lib-ver"), "1.2");
    assert_eq!(raw.command(&["GET", "in-db-2"]), b"$-1\r\n", "RESP2, db 0");
    assert_eq!(raw.command(&["CLIENT", "GETNAME"]), b"$-1\r\n");
    assert_eq!(raw.command(&["PING"]), b"+PONG\r\n", "replies are on");
    assert_eq!(
        error(&mut raw, &["RESET", "now"]),
        "ERR wrong number of arguments for 'reset' command"
    );

    // With a password, RESET deauthenticates: AUTH is needed again.
    let locked = Server::start_with(&["--requirepass", "pw"]);
    let mut raw = locked.raw();
    assert_eq!(raw.command(&["RESET"]), b"+RESET\r\n", "no AUTH needed");
    assert_eq!(raw.command(&["AUTH", "pw"]), b"+OK\r\n");
    assert_eq!(raw.command(&["SET", "k", "v"]), b"+OK\r\n");
    assert_eq!(raw.command(&["RESET"]), b"+RESET\r\n");
    assert_eq!(
        error(&mut raw, &["GET", "k"]),
        "NOAUTH Authentication required."
    );
    assert_eq!(raw.command(&["AUTH", "pw"]), b"+OK\r\n");
    assert_eq!(raw.command(&["GET", "k"]), b"$1\r\nv\r\n");
}

#[test]
fn reset_answers_as_redis_does() {
    let redrock = Server::start();
    let redis = RedisServer::start();
    same_as_redis(
        &redrock,
        &redis,
        &[
            &["RESET", "reset", "RESET x"],
            &[
                "SET k v",
                "SELECT 3",
                "CLIENT SETNAME n",
                "RESET",
                "GET k",
                "CLIENT GETNAME",
            ],
            &["CLIENT NO-EVICT ON", "RESET", "CLIENT NO-EVICT OFF"],
            // RESET runs at once inside MULTI and discards it...
            &["MULTI", "SET k 1", "RESET", "EXEC", "GET k"],
            // ...and UNWATCHes: the client's own write no longer aborts.
            &["WATCH k", "RESET", "SET k 2", "MULTI", "GET k", "EXEC"],
            &["WATCH k", "SET k 3", "MULTI", "GET k", "EXEC"],
        ],
    );
    // After HELLO 3, RESET goes back to RESP2.
    for port in [redrock.port, redis.port] {
        let replies = pipeline(port, &["HELLO 3", "GET nothing", "RESET", "GET nothing"]);
        assert_eq!(
            replies[1..].to_vec(),
            [
                b"_\r\n".to_vec(),
                b"+RESET\r\n".to_vec(),
                b"$-1\r\n".to_vec()
            ]
        );
    }
}

#[test]
fn client_setinfo_shows_the_library() {
    let server = Server::start();
    let mut raw = server.raw();
    assert_eq!(
        raw.command(&["CLIENT", "SETINFO", "LIB-NAME", "go-redis(,go1.22.1)"]),
        b"+OK\r\n"
    );
    assert_eq!(
        raw.command(&["CLIENT", "SETINFO", "lib-ver", "9.7.0"]),
        b"+OK\r\n"
    );
    let info = client_info(&mut raw);
    assert_eq!(field(&info, "lib-name"), "go-redis(,go1.22.1)");
    assert_eq!(field(&info, "lib-ver"), "9.7.0");
    assert!(
        info.ends_with(" resp=2 lib-name=go-redis(,go1.22.1) lib-ver=9.7.0"),
        "{info}"
    );
    let id = client_id(&mut raw);
    let mut other = server.raw();
    let list = String::from_utf8(other.command(&["CLIENT", "LIST", "ID", &id])).unwrap();
    assert!(
        list.contains(" lib-name=go-redis(,go1.22.1) lib-ver=9.7.0\n"),
        "{list}"
    );
    // Redis's texts name the attribute as it was given.
    assert_eq!(
        error(&mut raw, &["CLIENT", "SETINFO", "LIB-NAME", "a b"]),
        "ERR LIB-NAME cannot contain spaces, newlines or special characters."
    );
    assert_eq!(
        error(&mut raw, &["CLIENT", "SETINFO", "lib-ver", "1\n2"]),
        "ERR lib-ver cannot contain spaces, newlines or special characters."
    );
    assert_eq!(
        error(&mut raw, &["CLIENT", "SETINFO", "lib-nom", "x"]),
        "ERR Unrecognized option 'lib-nom'"
    );
    assert_eq!(
        error(&mut raw, &["CLIENT", "SETINFO", "LIB-NAME"]),
        "ERR wrong number of arguments for 'client|setinfo' command"
    );
    // An empty value clears the attribute.
    assert_eq!(
        raw.command(&["CLIENT", "SETINFO", "LIB-VER", ""]),
        b"+OK\r\n"
    );
    let info = client_info(&mut raw);
    assert!(
        info.ends_with(" lib-name=go-redis(,go1.22.1) lib-ver="),
        "{info}"
    );
}

/// The sequence go-redis sends on connect, pipelined: HELLO 3 with a name,
/// then CLIENT SETINFO twice.
#[test]
fn hello_and_setinfo_pipelined_on_connect() {
    let server = Server::start_with(&["--requirepass", "pw"]);
    let replies = {
        let mut raw = server.raw();
        let mut bytes =
            RawClient::encode(&["HELLO", "3", "AUTH", "default", "pw", "SETNAME", "svc"]);
        bytes.extend(RawClient::encode(&[
            "CLIENT",
            "SETINFO",
            "LIB-NAME",
            "go-redis(,go1.22.1)",
        ]));
        bytes.extend(RawClient::encode(&[
            "CLIENT", "SETINFO", "LIB-VER", "9.7.0",
        ]));
        bytes.extend(RawClient::encode(&["CLIENT", "INFO"]));
        raw.send(&bytes);
        (0..4).map(|_| raw.read_reply()).collect::<Vec<_>>()
    };
    assert!(replies[0].starts_with(b"%7\r\n"), "{}", show(&replies[0]));
    assert_eq!(replies[1], b"+OK\r\n");
    assert_eq!(replies[2], b"+OK\r\n");
    let info = String::from_utf8(replies[3].clone()).unwrap();
    assert!(info.starts_with("="), "verbatim in RESP3: {info}");
    for expected in [
        "name=svc",
        "resp=3",
        "lib-name=go-redis(,go1.22.1)",
        "lib-ver=9.7.0",
    ] {
        assert!(info.contains(expected), "{expected} in {info}");
    }
}

#[test]
fn client_list_fields_are_redis_7_2s() {
    let redrock = Server::start();
    let redis = RedisServer::start();
    let names = |line: &str| -> Vec<String> {
        line.split(' ')
            .map(|f| f.split('=').next().unwrap().to_string())
            .collect()
    };
    let ours = names(&client_info(&mut redrock.raw()));
    let theirs = names(&client_info(&mut redis.raw()));
    // Redis 7.2 adds lib-name and lib-ver at the end of 7.0's fields.
    let mut expected = theirs.clone();
    expected.extend(["lib-name".to_string(), "lib-ver".to_string()]);
    assert_eq!(ours, expected);
    // The values RedRock knows are real; the idle client's are Redis's.
    let mut raw = redrock.raw();
    let info = client_info(&mut raw);
    assert!(field(&info, "fd").parse::<i32>().unwrap() > 2, "{info}");
    assert_eq!(field(&info, "id"), client_id(&mut raw));
    assert_eq!(field(&info, "flags"), "N");
    assert_eq!(field(&info, "events"), "r");
    assert_eq!(field(&info, "user"), "default");
}

/// What CLIENT LIST shows of a client's transaction state: the fields
/// `label` names, as `field=value` words.
fn transaction_fields(label: &str, line: &str) -> String {
    let fields = ["flags", "db", "multi", "multi-mem", "cmd"]
        .iter()
        .map(|name| format!("{name}={}", field(line, name)))
        .collect::<Vec<_>>();
    format!("{label}: {}", fields.join(" "))
}

/// Client A runs transactions and WATCHes while client B writes and
/// looks at A with CLIENT LIST ID: A's flags (`x` in MULTI, `d` once a
/// watched key was written, `b` blocked), db, `multi=` (commands queued,
/// -1 outside MULTI; a doomed transaction queues no more), `multi-mem=`
/// and `cmd=` at each step, and A's own CLIENT INFO run inside EXEC.
fn transaction_states(port: u16) -> Vec<String> {
    let mut a = RawClient::connect(port);
    let mut b = RawClient::connect(port);
    let id = client_id(&mut a);
    let mut seen = Vec::new();
    // A's CLIENT LIST line, as B sees it.
    let line_of_a = |b: &mut RawClient| {
        let list = String::from_utf8(b.command(&["CLIENT", "LIST", "ID", &id])).unwrap();
        list.lines().nth(1).expect("A's line").to_string()
    };
    let mut look = |b: &mut RawClient, label: &str| {
        seen.push(transaction_fields(label, &line_of_a(b)));
    };
    let run = |raw: &mut RawClient, line: &str| {
        let args: Vec<&str> = line.split(' ').collect();
        show(&raw.command(&args))
    };
    look(&mut b, "idle");
    run(&mut a, "MULTI");
    look(&mut b, "MULTI");
    run(&mut a, "SET k v");
    run(&mut a, "GET k");
    look(&mut b, "two queued");
    run(&mut a, "WATCH x");
    look(&mut b, "WATCH refused inside MULTI");
    run(&mut a, "EXEC");
    look(&mut b, "after EXEC");

    run(&mut a, "WATCH k");
    look(&mut b, "watching");
    run(&mut b, "SET k 1");
    look(&mut b, "watched key written");
    run(&mut a, "WATCH j");
    look(&mut b, "WATCH after");
    run(&mut a, "MULTI");
    run(&mut a, "SET a b");
    look(&mut b, "queued while dirty");
    assert_eq!(run(&mut a, "EXEC"), "*-1\\r\\n");
    look(&mut b, "after the refused EXEC");

    run(&mut a, "WATCH k");
    run(&mut a, "MULTI");
    run(&mut a, "SET a b");
    run(&mut b, "SET k 2");
    run(&mut a, "GET a");
    look(&mut b, "written between two queued");
    run(&mut a, "DISCARD");
    look(&mut b, "after DISCARD");

    run(&mut a, "MULTI");
    run(&mut a, "SET a b");
    run(&mut a, "NOSUCHCOMMAND");
    look(&mut b, "an unknown command queued");
    run(&mut a, "CLIENT NOSUCH");
    look(&mut b, "an unknown subcommand queued");
    run(&mut a, "GET");
    look(&mut b, "a command of the wrong arity queued");
    run(&mut a, "SET k v");
    look(&mut b, "queued after a refused command");
    run(&mut a, "EXEC");
    look(&mut b, "after EXECABORT");

    run(&mut a, "WATCH k");
    run(&mut a, "SET k own");
    look(&mut b, "its own write");
    run(&mut a, "UNWATCH");
    look(&mut b, "after UNWATCH");

    run(&mut a, "WATCH k");
    run(&mut b, "FLUSHDB");
    look(&mut b, "FLUSHDB of the watched key");
    run(&mut a, "RESET");
    look(&mut b, "after RESET");
    run(&mut a, "WATCH k");
    run(&mut b, "FLUSHDB");
    look(&mut b, "FLUSHDB with the key missing");
    run(&mut a, "UNWATCH");

    run(&mut a, "SELECT 2");
    run(&mut a, "WATCH k");
    run(&mut b, "SET k x");
    look(&mut b, "the key of another database written");
    run(&mut b, "SELECT 2");
    run(&mut b, "SET k x");
    look(&mut b, "the key of its database written");
    a.send(&RawClient::encode(&["BLPOP", "list", "0"]));
    wait_until("A to block", || line_of_a(&mut b).contains(" flags=b"));
    look(&mut b, "blocked");
    run(&mut b, "RPUSH list e");
    assert_eq!(
        show(&a.read_reply()),
        "*2\\r\\n$4\\r\\nlist\\r\\n$1\\r\\ne\\r\\n"
    );
    run(&mut b, "SELECT 0");
    run(&mut a, "UNWATCH");
    run(&mut a, "SELECT 0");

    run(&mut a, "WATCH k");
    run(&mut a, "MULTI");
    run(&mut a, "SET k v");
    run(&mut a, "CLIENT INFO");
    let reply = String::from_utf8(a.command(&["EXEC"])).unwrap();
    let inside = reply
        .split("\r\n")
        .find(|l| l.starts_with("id="))
        .unwrap_or_else(|| panic!("no CLIENT INFO in {reply}"));
    let inside = transaction_fields("CLIENT INFO inside EXEC", inside);
    look(&mut b, "after EXEC");
    run(&mut a, "MULTI");
    run(&mut a, "EXEC extra");
    look(&mut b, "after EXEC with arguments");
    seen.push(inside);
    seen
}

/// CLIENT LIST shows MULTI and WATCH as Redis does (see
/// [`transaction_states`]), step by step.
#[test]
fn client_list_shows_transactions_as_redis_does() {
    let redrock = Server::start();
    let redis = RedisServer::start();
    let ours = transaction_states(redrock.port);
    let theirs = transaction_states(redis.port);
    for (ours, theirs) in ours.iter().zip(&theirs) {
        assert_eq!(ours, theirs, "RedRock, then Redis");
    }
    assert_eq!(ours.len(), theirs.len());
    // The steps that matter most, spelled out.
    let expect = |label: &str, fields: &str| {
        let step = ours
            .iter()
            .find(|s| s.starts_with(&format!("{label}: ")))
            .unwrap_or_else(|| panic!("no step {label}"));
        assert!(step.contains(fields), "{step} should show {fields}");
    };
    expect("idle", "flags=N db=0 multi=-1 multi-mem=0");
    expect("two queued", "flags=x db=0 multi=2 multi-mem=");
    expect("watched key written", "flags=d db=0 multi=-1");
    expect("queued while dirty", "flags=xd db=0 multi=0");
    expect("written between two queued", "flags=xd db=0 multi=1");
    expect("after DISCARD", "flags=N db=0 multi=-1");
    expect("blocked", "flags=bd db=2");
    expect(
        "CLIENT INFO inside EXEC",
        "flags=x db=0 multi=2 multi-mem=55 cmd=exec",
    );
}

#[test]
fn no_evict_and_no_touch_flags() {
    let redrock = Server::start();
    let redis = RedisServer::start();
    // NO-TOUCH is new in 7.2; NO-EVICT answers as 7.0 does.
    same_as_redis(
        &redrock,
        &redis,
        &[&[
            "CLIENT NO-EVICT ON",
            "CLIENT NO-EVICT on",
            "CLIENT NO-EVICT maybe",
            "CLIENT NO-EVICT",
            "CLIENT NO-EVICT on off",
            "CLIENT NO-EVICT OFF",
        ]],
    );
    let mut raw = redrock.raw();
    assert_eq!(raw.command(&["CLIENT", "NO-TOUCH", "ON"]), b"+OK\r\n");
    assert_eq!(field(&client_info(&mut raw), "flags"), "T");
    assert_eq!(raw.command(&["CLIENT", "NO-EVICT", "ON"]), b"+OK\r\n");
    assert_eq!(
        field(&client_info(&mut raw), "flags"),
        "eT",
        "Redis's order"
    );
    // Reads with NO-TOUCH on work as any; access times are not tracked.
    assert_eq!(raw.command(&["SET", "k", "v"]), b"+OK\r\n");
    assert_eq!(raw.command(&["GET", "k"]), b"$1\r\nv\r\n");
    assert_eq!(raw.command(&["OBJECT", "IDLETIME", "k"]), b":0\r\n");
    assert_eq!(raw.command(&["CLIENT", "NO-TOUCH", "off"]), b"+OK\r\n");
    assert_eq!(field(&client_info(&mut raw), "flags"), "e");
    assert_eq!(
        error(&mut raw, &["CLIENT", "NO-TOUCH", "x"]),
        "ERR syntax error"
    );
    assert_eq!(
        error(&mut raw, &["CLIENT", "NO-TOUCH"]),
        "ERR wrong number of arguments for 'client|no-touch' command"
    );
    // Another client sees the flags in CLIENT LIST.
    let id = client_id(&mut raw);
    let list = String::from_utf8(redrock.raw().command(&["CLIENT", "LIST", "ID", &id])).unwrap();
    assert_eq!(field(list.lines().nth(1).unwrap(), "flags"), "e");
}

#[test]
fn client_pause_errors_as_redis() {
    let redrock = Server::start();
    let redis = RedisServer::start();
    same_as_redis(
        &redrock,
        &redis,
        &[&[
            "CLIENT PAUSE -1",
            "CLIENT PAUSE abc",
            "CLIENT PAUSE 10 foo",
            "CLIENT PAUSE abc foo",
            "CLIENT PAUSE 10 all extra",
            "client PAUSE 10 write extra",
            "CLIENT PAUSE",
            "CLIENT PAUSE 0",
            "CLIENT PAUSE 0 WRITE",
            "CLIENT PAUSE 0 all",
            "CLIENT UNPAUSE x",
            "CLIENT UNPAUSE",
            "SET after-pause-0 x",
        ]],
    );
    // Redis 7.2 refuses a deadline past the clock's range (7.0 wraps it).
    assert_eq!(
        error(
            &mut redrock.raw(),
            &["CLIENT", "PAUSE", "9223372036854775807"]
        ),
        "ERR timeout is out of range"
    );
}

#[test]
fn pause_write_holds_writes_while_reads_go_on() {
    let server = Server::start();
    let mut admin = server.raw();
    let mut writer = server.raw();
    let writer_id = client_id(&mut writer);
    assert_eq!(
        admin.command(&["CLIENT", "PAUSE", "60000", "WRITE"]),
        b"+OK\r\n"
    );
    // A pipeline: the GET before the SET is answered before the SET waits.
    let mut bytes = RawClient::encode(&["GET", "k"]);
    bytes.extend(RawClient::encode(&["SET", "k", "v"]));
    bytes.extend(RawClient::encode(&["GET", "k"]));
    writer.send(&bytes);
    assert_eq!(writer.read_reply(), b"$-1\r\n");
    wait_for_blocked(&mut admin, 1);
    let list = String::from_utf8(admin.command(&["CLIENT", "LIST", "ID", &writer_id])).unwrap();
    let line = list.lines().nth(1).unwrap();
    assert_eq!(field(line, "flags"), "b", "{line}");
    assert_eq!(field(line, "cmd"), "set", "{line}");
    // Reads, and commands that only look, go on.
    let mut reader = server.raw();
    assert_eq!(reader.command(&["GET", "k"]), b"$-1\r\n");
    assert_eq!(reader.command(&["EXISTS", "k"]), b":0\r\n");
    assert_eq!(reader.command(&["PING"]), b"+PONG\r\n");
    // Errors are answered at once, as in Redis.
    assert_eq!(
        error(&mut reader, &["SET", "k"]),
        "ERR wrong number of arguments for 'set' command"
    );
    // Every write waits, blocking ones too, and CLIENT UNBLOCK cannot end
    // the wait (it did crash Redis; Redis now answers 0 as here).
    let mut popper = server.raw();
    let popper_id = client_id(&mut popper);
    popper.send(&RawClient::encode(&["BLPOP", "list", "0"]));
    wait_for_blocked(&mut admin, 2);
    for id in [&writer_id, &popper_id] {
        assert_eq!(admin.command(&["CLIENT", "UNBLOCK", id]), b":0\r\n");
        assert_eq!(
            admin.command(&["CLIENT", "UNBLOCK", id, "ERROR"]),
            b":0\r\n"
        );
    }
    assert_eq!(admin.command(&["CLIENT", "UNPAUSE"]), b"+OK\r\n");
    assert_eq!(writer.read_reply(), b"+OK\r\n");
    assert_eq!(writer.read_reply(), b"$1\r\nv\r\n");
    assert_eq!(reader.command(&["GET", "k"]), b"$1\r\nv\r\n");
    // The BLPOP now waits on its key, where CLIENT UNBLOCK reaches it.
    wait_for_blocked(&mut admin, 1);
    assert_eq!(admin.command(&["CLIENT", "UNBLOCK", &popper_id]), b":1\r\n");
    assert_eq!(popper.read_reply(), b"*-1\r\n");
    assert_eq!(info_number(&mut admin, "clients", "blocked_clients"), 0);
}

#[test]
fn pause_ends_at_its_deadline() {
    let server = Server::start();
    let mut admin = server.raw();
    let mut client = server.raw();
    let cases: [(&str, &[&str], &[u8]); 2] = [
        ("WRITE", &["SET", "k", "v"], b"+OK\r\n"),
        ("ALL", &["GET", "k"], b"$1\r\nv\r\n"),
    ];
    for (mode, command, reply) in cases {
        let started = Instant::now();
        assert_eq!(admin.command(&["CLIENT", "PAUSE", "300", mode]), b"+OK\r\n");
        assert_eq!(client.command(command), reply);
        // The pause held the command until its deadline, no less.
        assert!(
            started.elapsed() >= Duration::from_millis(300),
            "{mode}: answered after {:?}",
            started.elapsed()
        );
    }
    // Without a mode, a pause holds everything, the other client's
    // UNPAUSE too; errors are answered at once.
    let started = Instant::now();
    assert_eq!(admin.command(&["CLIENT", "PAUSE", "300"]), b"+OK\r\n");
    assert_eq!(
        error(&mut client, &["GET"]),
        "ERR wrong number of arguments for 'get' command"
    );
    assert_eq!(client.command(&["CLIENT", "UNPAUSE"]), b"+OK\r\n");
    assert!(started.elapsed() >= Duration::from_millis(300));
}

/// As in Redis's own tests of CLIENT PAUSE with transactions.
#[test]
fn pause_write_and_transactions() {
    let server = Server::start();
    let mut admin = server.raw();
    let mut client = server.raw();
    // A transaction of reads runs during a WRITE pause.
    assert_eq!(admin.command(&["SET", "foo", "bar"]), b"+OK\r\n");
    assert_eq!(
        admin.command(&["CLIENT", "PAUSE", "60000", "WRITE"]),
        b"+OK\r\n"
    );
    let replies = pipeline(server.port, &["MULTI", "PING", "GET foo", "EXEC"]);
    assert_eq!(show(&replies[3]), show(b"*2\r\n+PONG\r\n$3\r\nbar\r\n"));
    // A write is held before MULTI queues it, as in Redis.
    assert_eq!(client.command(&["MULTI"]), b"+OK\r\n");
    client.send(&RawClient::encode(&["SET", "foo", "queued"]));
    wait_for_blocked(&mut admin, 1);
    assert_eq!(admin.command(&["CLIENT", "UNPAUSE"]), b"+OK\r\n");
    assert_eq!(client.read_reply(), b"+QUEUED\r\n");
    // EXEC of a transaction that writes is held like a write.
    assert_eq!(
        admin.command(&["CLIENT", "PAUSE", "60000", "WRITE"]),
        b"+OK\r\n"
    );
    client.send(&RawClient::encode(&["EXEC"]));
    wait_for_blocked(&mut admin, 1);
    assert_eq!(admin.command(&["GET", "foo"]), b"$3\r\nbar\r\n");
    assert_eq!(admin.command(&["CLIENT", "UNPAUSE"]), b"+OK\r\n");
    assert_eq!(client.read_reply(), b"*1\r\n+OK\r\n");
    assert_eq!(admin.command(&["GET", "foo"]), b"$6\r\nqueued\r\n");
    // A pause inside a transaction starts as the transaction ends: its
    // later writes are part of it, another client's are held.
    let replies = pipeline(
        server.port,
        &[
            "MULTI",
            "SET foo1 bar",
            "CLIENT PAUSE 60000 WRITE",
            "SET foo2 bar",
            "EXEC",
        ],
    );
    assert_eq!(show(&replies[4]), show(b"*3\r\n+OK\r\n+OK\r\n+OK\r\n"));
    client.send(&RawClient::encode(&["SET", "foo3", "bar"]));
    wait_for_blocked(&mut admin, 1);
    for (key, value) in [
        ("foo1", "$3\r\nbar\r\n"),
        ("foo2", "$3\r\nbar\r\n"),
        ("foo3", "$-1\r\n"),
    ] {
        assert_eq!(show(&admin.command(&["GET", key])), show(value.as_bytes()));
    }
    assert_eq!(admin.command(&["CLIENT", "UNPAUSE"]), b"+OK\r\n");
    assert_eq!(client.read_reply(), b"+OK\r\n");
}

#[test]
fn pauses_combine_as_in_redis() {
    let server = Server::start();
    let mut admin = server.raw();
    let mut client = server.raw();
    // WRITE for 1.5 s, then ALL for 100 ms: ALL, until the later deadline.
    let started = Instant::now();
    assert_eq!(
        admin.command(&["CLIENT", "PAUSE", "1500", "WRITE"]),
        b"+OK\r\n"
    );
    assert_eq!(
        admin.command(&["CLIENT", "PAUSE", "100", "ALL"]),
        b"+OK\r\n"
    );
    assert_eq!(client.command(&["GET", "k"]), b"$-1\r\n");
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "a read answered after {:?}",
        started.elapsed()
    );
    // A shorter pause does not end a longer one; UNPAUSE does.
    assert_eq!(
        admin.command(&["CLIENT", "PAUSE", "60000", "WRITE"]),
        b"+OK\r\n"
    );
    assert_eq!(
        admin.command(&["CLIENT", "PAUSE", "10", "WRITE"]),
        b"+OK\r\n"
    );
    client.send(&RawClient::encode(&["SET", "k", "v"]));
    wait_for_blocked(&mut admin, 1);
    assert_eq!(admin.command(&["CLIENT", "UNPAUSE"]), b"+OK\r\n");
    assert_eq!(client.read_reply(), b"+OK\r\n");
}

#[test]
fn expiry_waits_while_writes_are_paused() {
    let server = Server::start();
    let mut admin = server.raw();
    let expired_before = info_number(&mut admin, "stats", "expired_keys");
    // One pipeline: the pause starts right after the SET is written.
    let mut bytes = RawClient::encode(&["SET", "k", "v", "PX", "200"]);
    bytes.extend(RawClient::encode(&["CLIENT", "PAUSE", "60000", "WRITE"]));
    admin.send(&bytes);
    assert_eq!(admin.read_reply(), b"+OK\r\n");
    assert_eq!(admin.read_reply(), b"+OK\r\n");
    // The key expires: reads no longer see it...
    wait_until("k to expire", || admin.command(&["GET", "k"]) == b"$-1\r\n");
    // ...but it stays, neither removed by the read nor by active expiry
    // (which runs every 100 ms) while the pause stands.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(admin.command(&["EXISTS", "k"]), b":0\r\n");
    assert_eq!(admin.command(&["DBSIZE"]), b":1\r\n");
    assert_eq!(
        info_number(&mut admin, "stats", "expired_keys"),
        expired_before
    );
    assert_eq!(admin.command(&["CLIENT", "UNPAUSE"]), b"+OK\r\n");
    wait_until("active expiry to remove k", || {
        admin.command(&["DBSIZE"]) == b":0\r\n"
    });
    assert_eq!(
        info_number(&mut admin, "stats", "expired_keys"),
        expired_before + 1
    );
}

#[test]
fn held_clients_can_leave() {
    let mut server = Server::start();
    let mut admin = server.raw();
    assert_eq!(
        admin.command(&["CLIENT", "PAUSE", "60000", "WRITE"]),
        b"+OK\r\n"
    );
    // The peer closes the connection.
    let mut leaving = server.raw();
    leaving.send(&RawClient::encode(&["SET", "k", "v"]));
    wait_for_blocked(&mut admin, 1);
    drop(leaving);
    wait_for_blocked(&mut admin, 0);
    // CLIENT KILL.
    let mut killed = server.raw();
    let id = client_id(&mut killed);
    killed.send(&RawClient::encode(&["SET", "k", "v"]));
    wait_for_blocked(&mut admin, 1);
    assert_eq!(admin.command(&["CLIENT", "KILL", "ID", &id]), b":1\r\n");
    assert!(killed.is_closed());
    wait_for_blocked(&mut admin, 0);
    assert_eq!(
        admin.command(&["GET", "k"]),
        b"$-1\r\n",
        "nothing was written"
    );
    // Shutdown: the held client is closed and the server exits cleanly.
    let mut held = server.raw();
    held.send(&RawClient::encode(&["SET", "k", "v"]));
    wait_for_blocked(&mut admin, 1);
    let status = server.terminate();
    assert!(status.success(), "{status}");
    assert!(held.is_closed());
}

/// Writers pipeline INCRs while a controller pauses writes again and
/// again: from the moment CLIENT PAUSE WRITE answers until UNPAUSE the
/// counter does not move, reads are answered, and in the end every
/// acknowledged INCR counted once (held commands run once, after the
/// pause).
#[test]
fn stress_nothing_is_written_while_paused() {
    const WRITERS: usize = 8;
    const ROUNDS: usize = 30;
    let server = Server::start();
    let stop = Arc::new(AtomicBool::new(false));
    let acknowledged = Arc::new(AtomicU64::new(0));
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (port, stop, acknowledged) = (server.port, stop.clone(), acknowledged.clone());
            std::thread::spawn(move || {
                let mut raw = RawClient::connect(port);
                let mut last = 0i64;
                let mut batch = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    batch += 1;
                    let size = 1 + (batch as usize * 7 + w) % 16;
                    let mut bytes = Vec::new();
                    for _ in 0..size {
                        bytes.extend(RawClient::encode(&["INCR", "counter"]));
                        bytes.extend(RawClient::encode(&["INCR", &format!("mine:{w}")]));
                    }
                    raw.send(&bytes);
                    for _ in 0..size {
                        let shared = String::from_utf8(raw.read_reply()).unwrap();
                        assert!(shared.starts_with(':'), "INCR counter: {shared}");
                        let mine: i64 = String::from_utf8(raw.read_reply()).unwrap()[1..]
                            .trim()
                            .parse()
                            .unwrap();
                        assert_eq!(mine, last + 1, "writer {w}: own counter skipped");
                        last = mine;
                        acknowledged.fetch_add(1, Ordering::Relaxed);
                    }
                }
                last
            })
        })
        .collect();
    let mut admin = server.raw();
    let mut reader = server.raw();
    for round in 0..ROUNDS {
        wait_until("writes between pauses", || {
            acknowledged.load(Ordering::Relaxed) > (round as u64 + 1) * 50
        });
        assert_eq!(
            admin.command(&["CLIENT", "PAUSE", "60000", "WRITE"]),
            b"+OK\r\n"
        );
        let first = reader.command(&["GET", "counter"]);
        for _ in 0..5 {
            std::thread::sleep(Duration::from_millis(2));
            assert_eq!(
                show(&reader.command(&["GET", "counter"])),
                show(&first),
                "round {round}: the counter moved during the pause"
            );
        }
        assert_eq!(admin.command(&["CLIENT", "UNPAUSE"]), b"+OK\r\n");
    }
    stop.store(true, Ordering::Relaxed);
    let own: i64 = writers.into_iter().map(|w| w.join().unwrap()).sum();
    let total = acknowledged.load(Ordering::Relaxed) as i64;
    assert_eq!(own, total);
    assert_eq!(
        reader.command(&["GET", "counter"]),
        format!("${}\r\n{total}\r\n", total.to_string().len()).into_bytes()
    );
}

#[test]
fn redis_crate_connects_and_declares_itself() {
    let server = Server::start();
    let mut con = server.client();
    assert_eq!(q(&mut con, &["SET", "k", "v"]), ok());
    let info: String = redis::cmd("CLIENT").arg("INFO").query(&mut con).unwrap();
    assert!(info.contains(" lib-name=redis-rs lib-ver="), "{info}");
    assert_eq!(
        q(&mut con, &["RESET"]),
        redis::Value::SimpleString("RESET".into())
    );
    assert_eq!(q(&mut con, &["GET", "k"]), bulk("v"));
}

#[test]
fn redis_py_connects_with_resp2_and_resp3() {
    let server = Server::start();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/clients/redis_py_connect.py"
    );
    let mut child = Command::new("python3")
        .arg(script)
        .arg(server.port.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 with redis-py must be installed (deploy/install-deps.sh --test)");
    let status = wait_exit(&mut child, Duration::from_secs(120));
    let output = child.wait_with_output().unwrap();
    assert!(
        status.success(),
        "{status}\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
