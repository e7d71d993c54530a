//! Transactions (MULTI, EXEC, DISCARD, WATCH, UNWATCH) against a real
//! redis-server and under concurrency.
//!
//! The differential tests drive RedRock and redis-server with the same
//! commands from two or three connections each (A runs the transactions,
//! B writes between WATCH and EXEC, C blocks on lists), in RESP2 and RESP3,
//! and compare every reply byte for byte. The only tolerances are those of
//! tests/differential.rs: float texts (Redis 7.0 prints %.17g, 7.2 and
//! RedRock the shortest text), TTLs within a second, and KEYS / SMEMBERS /
//! HGETALL as sets. Scripted scenarios pin the cases one by one; a seeded
//! random run mixes them (`REDROCK_TX_SEED=<seed>` replays it).
//!
//! The concurrency tests check invariants on every reply: transfers
//! between accounts never show a different total, a WATCH-based counter
//! loses no increment, and after kill -9 a transaction's keys are all
//! written or none.

mod common;
use common::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------
// Replies: parsed from RESP2 or RESP3, compared with the tolerances above.

#[derive(Debug, Clone, PartialEq)]
enum Resp {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Vec<u8>),
    /// `$-1`
    NilBulk,
    /// `*-1`
    NilArray,
    /// RESP3 `_`
    Null,
    Array(Vec<Resp>),
    Set(Vec<Resp>),
    Map(Vec<(Resp, Resp)>),
    Double(String),
    Bool(bool),
    Other(u8, Vec<u8>),
}

fn parse(bytes: &[u8]) -> Resp {
    fn line<'a>(b: &'a [u8], pos: &mut usize) -> &'a [u8] {
        let end = b[*pos..]
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("a CRLF")
            + *pos;
        let out = &b[*pos..end];
        *pos = end + 2;
        out
    }
    fn inner(b: &[u8], pos: &mut usize) -> Resp {
        let kind = b[*pos];
        *pos += 1;
        let head = line(b, pos);
        let text = || String::from_utf8_lossy(head).into_owned();
        let len = || -> i64 { text().parse().expect("a length") };
        match kind {
            b'+' => Resp::Simple(text()),
            b'-' => Resp::Error(text()),
            b':' => Resp::Int(text().parse().expect("an integer")),
            b'_' => Resp::Null,
            b'#' => Resp::Bool(head == b"t"),
            b',' => Resp::Double(text()),
            b'$' | b'=' | b'!' => {
                if len() < 0 {
                    return Resp::NilBulk;
                }
                let data = b[*pos..*pos + len() as usize].to_vec();
                *pos += len() as usize + 2;
                match kind {
                    b'$' => Resp::Bulk(data),
                    b'!' => Resp::Error(String::from_utf8_lossy(&data).into_owned()),
                    _ => Resp::Other(kind, data),
                }
            }
            b'*' | b'~' | b'>' => {
                if len() < 0 {
                    return Resp::NilArray;
                }
                let items = (0..len()).map(|_| inner(b, pos)).collect();
                match kind {
                    b'~' => Resp::Set(items),
                    _ => Resp::Array(items),
                }
            }
            b'%' => Resp::Map((0..len()).map(|_| (inner(b, pos), inner(b, pos))).collect()),
            other => Resp::Other(other, head.to_vec()),
        }
    }
    let mut pos = 0;
    let value = inner(bytes, &mut pos);
    assert_eq!(pos, bytes.len(), "trailing bytes after {}", show(bytes));
    value
}

impl Resp {
    fn is_nil(&self) -> bool {
        matches!(self, Resp::NilBulk | Resp::NilArray | Resp::Null)
    }

    fn items(&self) -> &[Resp] {
        match self {
            Resp::Array(items) | Resp::Set(items) => items,
            other => panic!("not an array: {other:?}"),
        }
    }
}

/// How two replies are compared when their bytes differ.
#[derive(Debug, Clone, PartialEq)]
enum Mode {
    /// Equal once float texts are read as numbers.
    Exact,
    /// Integers within this distance (TTL, PTTL), or equal negative codes.
    Near(i64),
    /// Aggregates compared as sets (KEYS, SMEMBERS, SINTER).
    Unordered,
    /// A flat field/value array or a map, as a set of pairs (HGETALL).
    UnorderedPairs,
    /// An EXEC reply: each element with the mode of its queued command.
    Exec(Vec<Mode>),
}

/// `v` with float texts in one canonical form and, where `mode` says so,
/// aggregates in a canonical order.
fn normalize(v: &Resp, mode: &Mode) -> Resp {
    let canonical = |v: &Resp| normalize(v, &Mode::Exact);
    let sorted = |mut items: Vec<Resp>| {
        items.sort_by_key(|i| format!("{i:?}"));
        items
    };
    match (v, mode) {
        (Resp::Bulk(b), _) => {
            let text = String::from_utf8_lossy(b);
            let float = text.contains(['.', 'e']) || text.ends_with("inf");
            match text.parse::<f64>() {
                Ok(f) if float => Resp::Bulk(format!("{f:?}").into_bytes()),
                _ => v.clone(),
            }
        }
        (Resp::Double(d), _) => match d.parse::<f64>() {
            Ok(f) => Resp::Double(format!("{f:?}")),
            Err(_) => v.clone(),
        },
        (Resp::Array(items), Mode::Unordered) => {
            Resp::Array(sorted(items.iter().map(canonical).collect()))
        }
        (Resp::Set(items), Mode::Unordered | Mode::Exact) => {
            Resp::Set(sorted(items.iter().map(canonical).collect()))
        }
        (Resp::Array(items), Mode::UnorderedPairs) if items.len() % 2 == 0 => {
            let pairs: Vec<Resp> = items
                .chunks(2)
                .map(|p| Resp::Array(vec![canonical(&p[0]), canonical(&p[1])]))
                .collect();
            Resp::Array(sorted(pairs))
        }
        (Resp::Map(pairs), _) => {
            let mut pairs: Vec<(Resp, Resp)> = pairs
                .iter()
                .map(|(k, v)| (canonical(k), canonical(v)))
                .collect();
            pairs.sort_by_key(|p| format!("{p:?}"));
            Resp::Map(pairs)
        }
        (Resp::Array(items), Mode::Exec(modes)) if items.len() == modes.len() => Resp::Array(
            items
                .iter()
                .zip(modes)
                .map(|(item, mode)| normalize(item, mode))
                .collect(),
        ),
        (Resp::Array(items), _) => Resp::Array(items.iter().map(canonical).collect()),
        _ => v.clone(),
    }
}

fn same(ours: &Resp, theirs: &Resp, mode: &Mode) -> bool {
    match (ours, theirs, mode) {
        (Resp::Int(a), Resp::Int(b), Mode::Near(t)) if *a >= 0 && *b >= 0 => (a - b).abs() <= *t,
        (Resp::Array(a), Resp::Array(b), Mode::Exec(modes))
            if a.len() == modes.len() && b.len() == modes.len() =>
        {
            a.iter().zip(b).zip(modes).all(|((x, y), m)| same(x, y, m))
        }
        _ => normalize(ours, mode) == normalize(theirs, mode),
    }
}

// ---------------------------------------------------------------------------
// Twin connections: one to RedRock, one to redis-server, same commands.

/// One logical client: its connection to each server, and what it has
/// queued since MULTI (the modes to compare EXEC's elements with).
struct Twin {
    ours: RawClient,
    theirs: RawClient,
    queued: Option<Vec<Mode>>,
}

/// RedRock and redis-server side by side, with clients A, B, C.
struct Pair {
    redrock: Server,
    redis: RedisServer,
    clients: Vec<Twin>,
    protocol: u8,
    log: Vec<String>,
}

const A: usize = 0;
const B: usize = 1;
const C: usize = 2;

fn argv(cmd: &[&str]) -> Vec<String> {
    cmd.iter().map(|s| s.to_string()).collect()
}

impl Pair {
    /// Both servers and three clients, A speaking `protocol` (2 or 3).
    fn start(protocol: u8) -> Pair {
        let redrock = Server::start();
        let redis = RedisServer::start();
        let clients = (0..3)
            .map(|_| Twin {
                ours: redrock.raw(),
                theirs: redis.raw(),
                queued: None,
            })
            .collect();
        let mut pair = Pair {
            redrock,
            redis,
            clients,
            protocol,
            log: Vec::new(),
        };
        pair.use_protocol(protocol);
        pair
    }

    /// Switches A (and B, so both kinds of reply meet) to `protocol`. The
    /// HELLO replies name each server, so only their shape is compared.
    fn use_protocol(&mut self, protocol: u8) {
        self.protocol = protocol;
        for c in [A, B] {
            let hello = ["HELLO", if protocol == 3 { "3" } else { "2" }];
            let twin = &mut self.clients[c];
            let ours = twin.ours.command(&hello);
            let theirs = twin.theirs.command(&hello);
            let kind = if protocol == 3 { b'%' } else { b'*' };
            assert_eq!(ours[0], kind, "HELLO: {}", show(&ours));
            assert_eq!(theirs[0], kind, "HELLO: {}", show(&theirs));
        }
    }

    /// Empties both servers and brings every client back to db 0 with no
    /// watched keys, between scenarios.
    fn reset(&mut self) {
        for c in 0..self.clients.len() {
            let twin = &mut self.clients[c];
            assert!(twin.queued.is_none(), "client {c} left in MULTI");
            for cmd in [&["UNWATCH"][..], &["SELECT", "0"]] {
                assert!(twin.ours.command(cmd).starts_with(b"+OK"));
                assert!(twin.theirs.command(cmd).starts_with(b"+OK"));
            }
        }
        self.run(A, &["FLUSHALL"]);
        self.log.clear();
    }

    /// Runs `cmd` on client `c` of both servers; the replies must match.
    /// Returns redis-server's reply.
    fn run(&mut self, c: usize, cmd: &[&str]) -> Resp {
        self.run_as(c, &argv(cmd), Mode::Exact)
    }

    fn run_as(&mut self, c: usize, cmd: &[String], mode: Mode) -> Resp {
        self.send(c, cmd);
        self.receive(c, mode)
    }

    /// Sends `cmd` on client `c` of both servers without waiting.
    fn send(&mut self, c: usize, cmd: &[String]) {
        let twin = &mut self.clients[c];
        twin.ours.send(&RawClient::encode(cmd));
        twin.theirs.send(&RawClient::encode(cmd));
        self.log
            .push(format!("{} {}", ["A", "B", "C"][c], cmd.join(" ")));
    }

    /// Reads the next reply of client `c` from both servers and compares
    /// them, following the client's MULTI state as redis-server reports it.
    fn receive(&mut self, c: usize, mode: Mode) -> Resp {
        let twin = &mut self.clients[c];
        let ours_bytes = twin.ours.read_reply();
        let theirs_bytes = twin.theirs.read_reply();
        let cmd = self.log.last().cloned().unwrap_or_default();
        let name = cmd.split(' ').nth(1).unwrap_or("").to_ascii_uppercase();
        let theirs = parse(&theirs_bytes);
        let mode = match (&twin.queued, name.as_str()) {
            (Some(modes), "EXEC") => Mode::Exec(modes.clone()),
            _ => mode,
        };
        let equal = ours_bytes == theirs_bytes || same(&parse(&ours_bytes), &theirs, &mode);
        if let Some(last) = self.log.last_mut() {
            last.push_str(&format!("  -> {}", show(&theirs_bytes)));
        }
        if !equal {
            let start = self.log.len().saturating_sub(30);
            panic!(
                "RESP{} reply differs for `{cmd}`\n  redrock: {}\n  redis:   {}\nrecent commands (with redis-server's replies):\n  {}",
                self.protocol,
                show(&ours_bytes),
                show(&theirs_bytes),
                self.log[start..].join("\n  ")
            );
        }
        match name.as_str() {
            "MULTI" if theirs == Resp::Simple("OK".into()) => twin.queued = Some(Vec::new()),
            "EXEC" | "DISCARD" if !matches!(&theirs, Resp::Error(e) if e.contains("without MULTI") || (name == "DISCARD" && e.contains("wrong number"))) => {
                twin.queued = None
            }
            _ => {
                if let (Some(modes), Resp::Simple(s)) = (&mut twin.queued, &theirs) {
                    if s == "QUEUED" {
                        modes.push(mode);
                    }
                }
            }
        }
        theirs
    }

    /// Waits until `n` clients are blocked on each server.
    fn wait_blocked(&mut self, n: usize) {
        let want = format!("blocked_clients:{n}\r\n");
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut ours = self.redrock.raw();
        let mut theirs = self.redis.raw();
        loop {
            let a = ours.command(&["INFO", "clients"]);
            let b = theirs.command(&["INFO", "clients"]);
            let blocked = |r: &[u8]| String::from_utf8_lossy(r).contains(&want);
            if blocked(&a) && blocked(&b) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "waiting for {n} blocked clients:\n redrock: {}\n redis: {}",
                show(&a),
                show(&b)
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// EXEC on A; asserts redis-server aborted it (nil) or ran it.
    fn exec(&mut self, runs: bool) -> Resp {
        let reply = self.run(A, &["EXEC"]);
        assert_eq!(
            !reply.is_nil(),
            runs,
            "redis-server's EXEC: {reply:?}\n  {}",
            self.log.join("\n  ")
        );
        reply
    }
}

fn both_protocols(scenario: impl Fn(&mut Pair)) {
    for protocol in [2, 3] {
        let mut pair = Pair::start(protocol);
        scenario(&mut pair);
    }
}

// ---------------------------------------------------------------------------
// Scripted scenarios.

#[test]
fn queue_time_errors_and_misuse() {
    both_protocols(|p| {
        // Unknown command and wrong arity: every later EXEC is refused.
        p.run(A, &["MULTI"]);
        p.run(A, &["SET", "a", "1"]);
        p.run(A, &["NOSUCHCMD", "x", "y"]);
        p.run(A, &["GET"]);
        p.run(A, &["SET", "b", "2"]);
        let r = p.run(A, &["EXEC"]);
        assert!(matches!(r, Resp::Error(e) if e.starts_with("EXECABORT")));
        p.run(A, &["EXISTS", "a", "b"]);
        p.run(A, &["EXEC"]);
        // Nested MULTI and WATCH inside MULTI are refused without
        // dooming the transaction.
        p.run(A, &["MULTI"]);
        p.run(A, &["MULTI"]);
        p.run(A, &["WATCH", "a"]);
        p.run(A, &["SET", "a", "1"]);
        p.run(A, &["UNWATCH"]);
        p.run(A, &["GET", "a"]);
        p.exec(true);
        // Without MULTI.
        p.run(A, &["EXEC"]);
        p.run(A, &["DISCARD"]);
        p.run(A, &["MULTI", "extra"]);
        p.run(A, &["WATCH"]);
        // DISCARD drops the queue; EXEC then has no MULTI.
        p.run(A, &["MULTI"]);
        p.run(A, &["INCR", "a"]);
        p.run(A, &["DISCARD"]);
        p.run(A, &["EXEC"]);
        p.run(A, &["GET", "a"]);
        // An empty transaction.
        p.run(A, &["MULTI"]);
        p.exec(true);
        p.run(A, &["EXEC", "now"]);
        // Wrong arity of EXEC itself discards the transaction at once;
        // of DISCARD, dooms it.
        p.run(A, &["MULTI"]);
        p.run(A, &["INCR", "a"]);
        p.run(A, &["EXEC", "now"]);
        p.run(A, &["GET", "a"]);
        p.run(A, &["MULTI"]);
        p.run(A, &["INCR", "a"]);
        p.run(A, &["DISCARD", "now"]);
        p.run(A, &["EXEC"]);
        p.run(A, &["GET", "a"]);
        // Arity errors of other shapes, and an EXECABORT after errors
        // that follow good commands of other types.
        p.run(A, &["MULTI"]);
        p.run(A, &["HSET", "h", "f"]);
        p.run(A, &["ZADD", "z"]);
        p.run(A, &["LPUSH", "l", "x"]);
        p.run(A, &["EXEC"]);
        p.run(A, &["EXISTS", "l"]);
        // A command Redis refuses inside MULTI (no-multi flag) dooms it
        // too; DISCARD before anything could run.
        p.run(A, &["MULTI"]);
        p.run(A, &["SHUTDOWN", "NOSAVE"]);
        p.run(A, &["DISCARD"]);
        p.run(A, &["PING"]);
        // PING and ECHO are queued like any command.
        p.run(A, &["MULTI"]);
        p.run(A, &["PING"]);
        p.run(A, &["PING", "hello"]);
        p.run(A, &["ECHO", "x"]);
        p.exec(true);
    });
}

#[test]
fn run_time_errors_do_not_stop_the_rest() {
    both_protocols(|p| {
        p.run(A, &["SET", "s", "text"]);
        p.run(A, &["RPUSH", "l", "a"]);
        p.run(A, &["MULTI"]);
        p.run(A, &["INCR", "s"]);
        p.run(A, &["LPUSH", "s", "x"]);
        p.run(A, &["SET", "t", "1"]);
        p.run(A, &["INCR", "t"]);
        p.run(A, &["HSET", "l", "f", "v"]);
        p.run(A, &["RPUSH", "l", "b"]);
        p.run(A, &["INCRBY", "t", "notanumber"]);
        p.run(A, &["SET", "x", "1", "EX", "0"]);
        p.run(A, &["ZADD", "z", "NX", "XX", "1", "m"]);
        p.run(A, &["SELECT", "99"]);
        p.run(A, &["LRANGE", "l", "0", "-1"]);
        p.run(A, &["GET", "s"]);
        p.exec(true);
        p.run(A, &["MGET", "s", "t", "x"]);
    });
}

#[test]
fn blocking_commands_inside_multi_do_not_block() {
    both_protocols(|p| {
        p.run(A, &["MULTI"]);
        p.run(A, &["BLPOP", "l", "0"]);
        p.run(A, &["BRPOP", "l", "l2", "0"]);
        p.run(A, &["BZPOPMIN", "z", "0"]);
        p.run(A, &["BZPOPMAX", "z", "0"]);
        p.run(A, &["BLMOVE", "l", "l2", "LEFT", "RIGHT", "0"]);
        p.run(A, &["BRPOPLPUSH", "l", "l2", "0"]);
        p.run(A, &["BLMPOP", "0", "2", "l", "l2", "LEFT"]);
        p.run(A, &["BZMPOP", "0", "1", "z", "MIN"]);
        p.exec(true);
        // With data, including data the transaction itself pushed.
        p.run(A, &["RPUSH", "l", "a", "b", "c"]);
        p.run(A, &["ZADD", "z", "1", "m1", "2", "m2", "3", "m3"]);
        p.run(A, &["MULTI"]);
        p.run(A, &["BLPOP", "l", "0"]);
        p.run(A, &["BRPOP", "l", "0"]);
        p.run(A, &["BZPOPMIN", "z", "0"]);
        p.run(A, &["BZPOPMAX", "z", "0"]);
        p.run(A, &["BLMOVE", "l", "l2", "LEFT", "RIGHT", "0"]);
        p.run(A, &["BLMOVE", "l", "l2", "LEFT", "RIGHT", "0"]);
        p.run(A, &["RPUSH", "l3", "x"]);
        p.run(A, &["BRPOPLPUSH", "l3", "l2", "0"]);
        p.run(A, &["BLMPOP", "0", "2", "l", "l2", "RIGHT", "COUNT", "5"]);
        p.run(A, &["BZMPOP", "0", "1", "z", "MIN", "COUNT", "3"]);
        p.run(A, &["BZPOPMIN", "z", "0"]);
        p.run(A, &["EXISTS", "l", "l2", "l3", "z"]);
        p.exec(true);
        // A blocking pop on a key of the wrong type fails at run time.
        p.run(A, &["SET", "s", "x"]);
        p.run(A, &["MULTI"]);
        p.run(A, &["BLPOP", "s", "0"]);
        p.run(A, &["BZPOPMIN", "s", "0"]);
        p.exec(true);
    });
}

#[test]
fn commands_read_the_transactions_own_writes() {
    both_protocols(|p| {
        let script: &[&[&str]] = &[
            // strings
            &["SET", "k", "v1"],
            &["GET", "k"],
            &["APPEND", "k", "-more"],
            &["GET", "k"],
            &["STRLEN", "k"],
            &["SET", "n", "10"],
            &["INCR", "n"],
            &["INCRBY", "n", "5"],
            &["DECR", "n"],
            &["GET", "n"],
            &["INCRBYFLOAT", "n", "0.5"],
            &["GETSET", "n", "x"],
            &["SETRANGE", "k", "0", "V"],
            &["GETRANGE", "k", "0", "3"],
            &["MSET", "m1", "a", "m2", "b"],
            &["MGET", "m1", "m2", "m3", "k"],
            &["GETDEL", "m1"],
            &["EXISTS", "m1", "m2"],
            &["SETNX", "m2", "c"],
            &["GET", "m2"],
            // hashes
            &["HSET", "h", "f1", "1", "f2", "2"],
            &["HGETALL", "h"],
            &["HINCRBY", "h", "f1", "10"],
            &["HGET", "h", "f1"],
            &["HDEL", "h", "f2"],
            &["HLEN", "h"],
            &["HKEYS", "h"],
            // sorted sets
            &["ZADD", "z", "1", "a", "2", "b", "3", "c"],
            &["ZRANGE", "z", "0", "-1", "WITHSCORES"],
            &["ZRANK", "z", "b"],
            &["ZINCRBY", "z", "10", "a"],
            &["ZRANK", "z", "a"],
            &["ZSCORE", "z", "a"],
            &["ZPOPMIN", "z"],
            &["ZCARD", "z"],
            &["ZRANGEBYSCORE", "z", "-inf", "+inf"],
            // lists
            &["RPUSH", "l", "a", "b", "c"],
            &["LRANGE", "l", "0", "-1"],
            &["LPOP", "l"],
            &["LPUSH", "l", "z"],
            &["LRANGE", "l", "0", "-1"],
            &["LMOVE", "l", "l2", "RIGHT", "LEFT"],
            &["LRANGE", "l2", "0", "-1"],
            &["LLEN", "l"],
            &["RPOP", "l", "5"],
            &["EXISTS", "l"],
            // sets (one member: the picks are not random)
            &["SADD", "s", "only"],
            &["SMEMBERS", "s"],
            &["SRANDMEMBER", "s"],
            &["SISMEMBER", "s", "only"],
            &["SPOP", "s"],
            &["SCARD", "s"],
            &["SRANDMEMBER", "s"],
            &["SADD", "s", "x", "y"],
            &["SADD", "s2", "y", "w"],
            &["SINTER", "s", "s2"],
            &["SUNIONSTORE", "s3", "s", "s2"],
            &["SCARD", "s3"],
            // keyspace
            &["DEL", "k"],
            &["EXISTS", "k"],
            &["GET", "k"],
            &["TYPE", "h"],
            &["SET", "r", "renamed"],
            &["RENAME", "r", "r2"],
            &["GET", "r"],
            &["GET", "r2"],
            &["COPY", "r2", "r3"],
            &["GET", "r3"],
            &["EXPIRE", "r3", "100"],
            &["TTL", "r3"],
            &["PERSIST", "r3"],
            &["TTL", "r3"],
            &["DBSIZE"],
            &["FLUSHDB"],
            &["DBSIZE"],
            &["GET", "m2"],
            &["SET", "after", "1"],
            &["DBSIZE"],
            &["KEYS", "*"],
            // commands whose keys follow a count (numkeys), or that name
            // several keys, reading what came before them
            &["ZADD", "za", "1", "a", "2", "b"],
            &["ZADD", "zb", "3", "b", "4", "c"],
            &["ZUNIONSTORE", "zu", "2", "za", "zb", "WEIGHTS", "1", "2"],
            &["ZRANGE", "zu", "0", "-1", "WITHSCORES"],
            &["ZINTERSTORE", "zi", "2", "za", "zb"],
            &["ZDIFFSTORE", "zd", "2", "za", "zb"],
            &["ZINTERCARD", "2", "za", "zb"],
            &["ZUNION", "3", "za", "zb", "zi", "WITHSCORES"],
            &["ZRANGESTORE", "zr", "zu", "1", "-1"],
            &["ZMPOP", "3", "nosuch", "zr", "za", "MAX", "COUNT", "2"],
            &["BZMPOP", "0", "2", "zr", "za", "MIN"],
            &["ZCARD", "zr"],
            &["RPUSH", "la", "1", "2", "3"],
            &["LMPOP", "2", "nosuch", "la", "RIGHT", "COUNT", "2"],
            &["BLMPOP", "0", "2", "nosuch", "la", "LEFT"],
            &["EXISTS", "la"],
            &["RPUSH", "lb", "x", "y"],
            &["RPOPLPUSH", "lb", "lc"],
            &["LMOVE", "lb", "lc", "LEFT", "LEFT"],
            &["LRANGE", "lc", "0", "-1"],
            &["SADD", "sa", "1", "2", "3"],
            &["SADD", "sb", "2", "3", "4"],
            &["SINTERCARD", "2", "sa", "sb"],
            &["SDIFFSTORE", "sd", "sa", "sb"],
            &["SMOVE", "sa", "sd", "2"],
            &["SMEMBERS", "sd"],
            &["SINTERSTORE", "si", "sa", "sb"],
            &["SMEMBERS", "si"],
            &["MSETNX", "x1", "1", "x2", "2"],
            &["MSETNX", "x2", "3", "x3", "4"],
            &["MGET", "x1", "x2", "x3"],
            &["LCS", "x1", "x2"],
            &["RENAMENX", "x1", "x2"],
            &["RENAMENX", "x1", "x4"],
            &["TOUCH", "x1", "x2", "x4"],
            &["DEL", "x2", "x4", "nosuch"],
            &["EXISTS", "x1", "x2", "x4"],
        ];
        for transaction in [true, false] {
            if transaction {
                p.run(A, &["MULTI"]);
            }
            for cmd in script {
                let mode = match cmd[0] {
                    "HGETALL" => Mode::UnorderedPairs,
                    "SMEMBERS" | "SINTER" | "KEYS" | "HKEYS" => Mode::Unordered,
                    "TTL" => Mode::Near(1),
                    _ => Mode::Exact,
                };
                p.run_as(A, &argv(cmd), mode);
            }
            if transaction {
                let reply = p.exec(true);
                assert_eq!(reply.items().len(), script.len());
            }
            p.run(A, &["FLUSHALL"]);
        }
        // MOVE then SELECT and GET in the other database; SELECT stays.
        p.run(A, &["MULTI"]);
        p.run(A, &["SET", "mv", "v"]);
        p.run(A, &["MOVE", "mv", "1"]);
        p.run(A, &["EXISTS", "mv"]);
        p.run(A, &["SELECT", "1"]);
        p.run(A, &["GET", "mv"]);
        p.run(A, &["SET", "k", "in-db1"]);
        p.run(A, &["COPY", "k", "k", "DB", "0"]);
        p.run(A, &["SELECT", "0"]);
        p.run(A, &["GET", "k"]);
        p.run(A, &["SELECT", "1"]);
        p.exec(true);
        p.run(A, &["GET", "k"]);
        p.run(A, &["DBSIZE"]);
        p.run(A, &["SELECT", "0"]);
        p.run(A, &["DBSIZE"]);
        p.run(A, &["GET", "k"]);
        // Another client sees none of it until EXEC.
        p.run(A, &["MULTI"]);
        p.run(A, &["SET", "pending", "1"]);
        p.run(A, &["INCR", "pending"]);
        p.run(B, &["EXISTS", "pending"]);
        p.exec(true);
        p.run(B, &["GET", "pending"]);
    });
}

/// Commands run one after the other.
type Script<'a> = &'a [&'a [&'a str]];

/// Sets up, WATCHes `k` on A, lets B interfere, then runs A's
/// transaction: redis-server decides whether it runs, RedRock must agree.
fn watch_case(p: &mut Pair, setup: Script, interfere: Script, runs: bool) {
    p.reset();
    for cmd in setup {
        p.run(B, cmd);
    }
    p.run(A, &["WATCH", "k"]);
    for cmd in interfere {
        p.run(B, cmd);
    }
    p.run(A, &["MULTI"]);
    p.run(A, &["INCR", "ran"]);
    p.run(A, &["EXISTS", "k"]);
    p.exec(runs);
    p.run(A, &["GET", "ran"]);
}

#[test]
fn watch_detects_writes_of_other_clients() {
    both_protocols(|p| {
        // Nothing touches k, or something touches another key.
        watch_case(p, &[], &[], true);
        watch_case(p, &[&["SET", "k", "1"]], &[&["SET", "other", "1"]], true);
        watch_case(p, &[], &[&["GET", "k"], &["EXISTS", "k"]], true);
        // Writes to k, whatever its type and the command.
        watch_case(p, &[], &[&["SET", "k", "1"]], false);
        watch_case(p, &[&["SET", "k", "1"]], &[&["SET", "k", "1"]], false);
        watch_case(p, &[&["SET", "k", "1"]], &[&["INCR", "k"]], false);
        watch_case(p, &[&["SET", "k", "1"]], &[&["DEL", "k"]], false);
        watch_case(p, &[&["SET", "k", "1"]], &[&["UNLINK", "k"]], false);
        watch_case(p, &[], &[&["SET", "k", "1"], &["DEL", "k"]], false);
        watch_case(
            p,
            &[&["HSET", "k", "f", "1"]],
            &[&["HSET", "k", "f", "1"]],
            false,
        );
        watch_case(
            p,
            &[&["HSET", "k", "f", "1"]],
            &[&["HINCRBY", "k", "f", "1"]],
            false,
        );
        watch_case(p, &[&["RPUSH", "k", "a"]], &[&["LPOP", "k"]], false);
        watch_case(p, &[], &[&["RPUSH", "k", "a"]], false);
        watch_case(p, &[&["SADD", "k", "a"]], &[&["SADD", "k", "b"]], false);
        watch_case(p, &[&["SADD", "k", "a"]], &[&["SPOP", "k"]], false);
        watch_case(
            p,
            &[&["ZADD", "k", "1", "a"]],
            &[&["ZADD", "k", "2", "a"]],
            false,
        );
        watch_case(p, &[&["ZADD", "k", "1", "a"]], &[&["ZPOPMIN", "k"]], false);
        watch_case(p, &[&["SET", "k", "1"]], &[&["EXPIRE", "k", "100"]], false);
        watch_case(
            p,
            &[&["SET", "k", "1", "EX", "100"]],
            &[&["PERSIST", "k"]],
            false,
        );
        watch_case(p, &[&["SET", "k", "abc"]], &[&["APPEND", "k", "d"]], false);
        watch_case(
            p,
            &[&["RPUSH", "k", "a"]],
            &[&["LTRIM", "k", "0", "-1"]],
            false,
        );
        // Writes Redis counts even when the value stays the same.
        let same_value: &[(Script, Script)] = &[
            (&[&["SET", "k", "1"]], &[&["INCRBY", "k", "0"]]),
            (&[&["SET", "k", "1"]], &[&["INCRBYFLOAT", "k", "0"]]),
            (&[&["SET", "k", "1"]], &[&["GETSET", "k", "1"]]),
            (
                &[&["SET", "k", "1", "EX", "100"]],
                &[&["SET", "k", "1", "KEEPTTL"]],
            ),
            (&[&["HSET", "k", "f", "1"]], &[&["HINCRBY", "k", "f", "0"]]),
            (
                &[&["HSET", "k", "f", "1"]],
                &[&["HINCRBYFLOAT", "k", "f", "0"]],
            ),
            (&[&["HSET", "k", "f", "1"]], &[&["HSETNX", "k", "g", "1"]]),
            (&[&["RPUSH", "k", "a"]], &[&["LSET", "k", "0", "a"]]),
            (
                &[&["RPUSH", "k", "a"]],
                &[&["LMOVE", "k", "k", "LEFT", "RIGHT"]],
            ),
            (&[&["RPUSH", "k", "a"]], &[&["LREM", "k", "0", "a"]]),
            (&[&["RPUSH", "k", "a"]], &[&["LTRIM", "k", "1", "0"]]),
            (&[&["SET", "k", "1", "EX", "100"]], &[&["PERSIST", "k"]]),
            (&[&["SET", "k", "1"]], &[&["EXPIRE", "k", "-1"]]),
            (
                &[&["SADD", "a", "1"], &["SET", "k", "x"]],
                &[&["SINTERSTORE", "k", "a", "nosuch"]],
            ),
        ];
        for (setup, interfere) in same_value {
            watch_case(p, setup, interfere, false);
        }
        // RENAME into and out of k; COPY onto k.
        watch_case(
            p,
            &[&["SET", "src", "1"]],
            &[&["RENAME", "src", "k"]],
            false,
        );
        watch_case(p, &[&["SET", "k", "1"]], &[&["RENAME", "k", "dst"]], false);
        watch_case(p, &[&["SET", "src", "1"]], &[&["COPY", "src", "k"]], false);
        watch_case(
            p,
            &[&["SET", "src", "1"], &["SET", "k", "2"]],
            &[&["COPY", "src", "k", "REPLACE"]],
            false,
        );
        watch_case(
            p,
            &[&["SET", "a", "1"]],
            &[&["MSET", "a", "2", "k", "3"]],
            false,
        );
        watch_case(
            p,
            &[&["SADD", "a", "1"]],
            &[&["SINTERSTORE", "k", "a"]],
            false,
        );
        // From another database: MOVE and COPY ... DB into db 0's k; a
        // write to db 1's k is another key.
        watch_case(
            p,
            &[&["SELECT", "1"], &["SET", "k", "from1"]],
            &[&["MOVE", "k", "0"], &["SELECT", "0"]],
            false,
        );
        watch_case(
            p,
            &[&["SELECT", "1"], &["SET", "src", "from1"]],
            &[&["COPY", "src", "k", "DB", "0"], &["SELECT", "0"]],
            false,
        );
        watch_case(p, &[&["SET", "k", "1"]], &[&["MOVE", "k", "1"]], false);
        watch_case(
            p,
            &[],
            &[&["SELECT", "1"], &["SET", "k", "1"], &["SELECT", "0"]],
            true,
        );
        // FLUSHDB / FLUSHALL touch the watched keys that exist.
        watch_case(p, &[&["SET", "k", "1"]], &[&["FLUSHDB"]], false);
        watch_case(p, &[&["SET", "k", "1"]], &[&["FLUSHALL"]], false);
        watch_case(
            p,
            &[&["SET", "k", "1"]],
            &[&["SELECT", "1"], &["FLUSHDB"], &["SELECT", "0"]],
            true,
        );
        // A's own write after WATCH counts too.
        p.reset();
        p.run(A, &["WATCH", "k"]);
        p.run(A, &["SET", "k", "mine"]);
        p.run(A, &["MULTI"]);
        p.run(A, &["GET", "k"]);
        p.exec(false);
    });
}

#[test]
fn watch_state_is_cleared_and_scoped() {
    both_protocols(|p| {
        // A write between MULTI and EXEC aborts too.
        p.reset();
        p.run(B, &["SET", "k", "1"]);
        p.run(A, &["WATCH", "k"]);
        p.run(A, &["MULTI"]);
        p.run(A, &["SET", "out", "1"]);
        p.run(B, &["SET", "k", "2"]);
        p.exec(false);
        p.run(A, &["EXISTS", "out"]);
        // EXEC (aborted or not) forgets the watched keys.
        p.run(B, &["SET", "k", "3"]);
        p.run(A, &["MULTI"]);
        p.run(A, &["GET", "k"]);
        p.exec(true);
        // UNWATCH forgets them.
        p.run(A, &["WATCH", "k"]);
        p.run(A, &["UNWATCH"]);
        p.run(B, &["SET", "k", "4"]);
        p.run(A, &["MULTI"]);
        p.run(A, &["GET", "k"]);
        p.exec(true);
        // DISCARD forgets them.
        p.run(A, &["WATCH", "k"]);
        p.run(A, &["MULTI"]);
        p.run(A, &["DISCARD"]);
        p.run(B, &["SET", "k", "5"]);
        p.run(A, &["MULTI"]);
        p.run(A, &["GET", "k"]);
        p.exec(true);
        // An EXECABORT forgets them.
        p.run(A, &["WATCH", "k"]);
        p.run(A, &["MULTI"]);
        p.run(A, &["NOSUCHCMD"]);
        p.run(A, &["EXEC"]);
        p.run(B, &["SET", "k", "6"]);
        p.run(A, &["MULTI"]);
        p.run(A, &["GET", "k"]);
        p.exec(true);
        // Several keys, one touched; WATCH twice adds keys.
        p.run(A, &["WATCH", "x", "y"]);
        p.run(A, &["WATCH", "k"]);
        p.run(B, &["SET", "y", "1"]);
        p.run(A, &["MULTI"]);
        p.run(A, &["GET", "k"]);
        p.exec(false);
        p.run(A, &["WATCH", "x", "y"]);
        p.run(A, &["WATCH", "k"]);
        p.run(B, &["SET", "k", "7"]);
        p.run(A, &["MULTI"]);
        p.run(A, &["GET", "k"]);
        p.exec(false);
        // A key watched in db 1 is db 1's key, even after A selects db 0.
        p.run(A, &["SELECT", "1"]);
        p.run(A, &["WATCH", "k"]);
        p.run(A, &["SELECT", "0"]);
        p.run(B, &["SET", "k", "8"]);
        p.run(A, &["MULTI"]);
        p.run(A, &["GET", "k"]);
        p.exec(true);
        p.run(A, &["SELECT", "1"]);
        p.run(A, &["WATCH", "k"]);
        p.run(A, &["SELECT", "0"]);
        p.run(B, &["SELECT", "1"]);
        p.run(B, &["SET", "k", "9"]);
        p.run(B, &["SELECT", "0"]);
        p.run(A, &["MULTI"]);
        p.run(A, &["GET", "k"]);
        p.exec(false);
        // SELECT inside MULTI applies to the commands after it and stays.
        p.run(A, &["WATCH", "k"]);
        p.run(A, &["MULTI"]);
        p.run(A, &["SET", "k", "db0"]);
        p.run(A, &["SELECT", "1"]);
        p.run(A, &["SET", "k", "db1"]);
        p.run(A, &["GET", "k"]);
        p.exec(true);
        p.run(A, &["GET", "k"]);
        p.run(A, &["SELECT", "0"]);
        p.run(A, &["GET", "k"]);
        // A transaction's own writes to a key it watches do not abort it
        // (only writes before EXEC do).
        p.run(A, &["WATCH", "k"]);
        p.run(A, &["MULTI"]);
        p.run(A, &["SET", "k", "x"]);
        p.exec(true);
        p.run(A, &["MULTI"]);
        p.run(A, &["SET", "k", "y"]);
        p.exec(true);
    });
}

/// A client that closes its connection inside MULTI leaves nothing
/// behind: no writes, no locks. One that closes right after sending EXEC
/// gets its whole transaction applied.
#[test]
fn closed_connections_and_transactions() {
    both_protocols(|p| {
        for _ in 0..3 {
            let mut ours = p.redrock.raw();
            let mut theirs = p.redis.raw();
            for cmd in [
                &["WATCH", "k"][..],
                &["MULTI"],
                &["SET", "k", "v"],
                &["FLUSHALL"],
            ] {
                let (a, b) = (ours.command(cmd), theirs.command(cmd));
                assert_eq!(show(&a), show(&b), "{cmd:?}");
            }
        }
        p.run(B, &["EXISTS", "k"]);
        p.run(A, &["WATCH", "k"]);
        p.run(A, &["MULTI"]);
        p.run(A, &["SET", "k", "1"]);
        p.exec(true);
        for (port, name) in [(p.redrock.port, "redrock"), (p.redis.port, "redis")] {
            let mut raw = RawClient::connect(port);
            let mut bytes = Vec::new();
            for cmd in [
                &["MULTI"][..],
                &["SET", "k2", "v"],
                &["INCR", "n2"],
                &["EXEC"],
            ] {
                bytes.extend(RawClient::encode(cmd));
            }
            raw.send(&bytes);
            drop(raw);
            let mut check = RawClient::connect(port);
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let found = check.command(&["EXISTS", "k2", "n2"]);
                assert_ne!(found, b":1\r\n", "{name}: half a transaction is visible");
                if found == b":2\r\n" {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "{name}: the transaction never ran"
                );
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    });
}

#[test]
fn watch_and_expiry() {
    both_protocols(|p| {
        // A key watched while it has a TTL that runs out before EXEC: the
        // expiry is a change.
        p.reset();
        p.run(B, &["SET", "k", "1", "PX", "50"]);
        p.run(A, &["WATCH", "k"]);
        std::thread::sleep(Duration::from_millis(150));
        p.run(A, &["MULTI"]);
        p.run(A, &["SET", "out", "1"]);
        p.exec(false);
        // Another client's PEXPIRE with a short TTL, waited past.
        p.reset();
        p.run(B, &["SET", "k", "1"]);
        p.run(A, &["WATCH", "k"]);
        p.run(B, &["PEXPIRE", "k", "30"]);
        std::thread::sleep(Duration::from_millis(100));
        p.run(B, &["EXISTS", "k"]);
        p.run(A, &["MULTI"]);
        p.run(A, &["SET", "out", "1"]);
        p.exec(false);
        // A key already expired when watched: its deletion is no change...
        p.reset();
        p.run(B, &["SET", "k", "1", "PX", "20"]);
        std::thread::sleep(Duration::from_millis(80));
        p.run(A, &["WATCH", "k"]);
        std::thread::sleep(Duration::from_millis(250));
        p.run(A, &["MULTI"]);
        p.run(A, &["EXISTS", "k"]);
        p.exec(true);
        // ... but writing it again is.
        p.reset();
        p.run(B, &["SET", "k", "1", "PX", "20"]);
        std::thread::sleep(Duration::from_millis(80));
        p.run(A, &["WATCH", "k"]);
        p.run(B, &["SET", "k", "2"]);
        p.run(A, &["MULTI"]);
        p.run(A, &["GET", "k"]);
        p.exec(false);
        // Inside the transaction a key expires like outside (PX 1, then
        // reads see it gone).
        p.reset();
        p.run(A, &["MULTI"]);
        p.run(A, &["SET", "t", "v", "PX", "100000"]);
        p.run(A, &["PEXPIRE", "t", "100000"]);
        p.run(A, &["TTL", "t"]);
        p.run(A, &["EXPIRE", "t", "-1"]);
        p.run(A, &["EXISTS", "t"]);
        p.exec(true);
    });
}

#[test]
fn watched_list_taken_by_a_blocked_client() {
    both_protocols(|p| {
        // C blocks on l; B's push serves it, leaving l empty again: the
        // push (and the pop) touched l.
        p.reset();
        p.run(A, &["WATCH", "l"]);
        p.send(C, &argv(&["BLPOP", "l", "0"]));
        p.wait_blocked(1);
        p.run(B, &["RPUSH", "l", "x"]);
        p.receive(C, Mode::Exact);
        p.run(A, &["MULTI"]);
        p.run(A, &["LLEN", "l"]);
        p.exec(false);
        // C blocked on another list: A's watched list is untouched.
        p.reset();
        p.run(A, &["WATCH", "l"]);
        p.send(C, &argv(&["BRPOP", "other", "0"]));
        p.wait_blocked(1);
        p.run(B, &["RPUSH", "other", "x"]);
        p.receive(C, Mode::Exact);
        p.run(A, &["MULTI"]);
        p.run(A, &["LLEN", "l"]);
        p.exec(true);
        // C blocked with BLMOVE into the watched list.
        p.reset();
        p.run(A, &["WATCH", "l"]);
        p.send(C, &argv(&["BLMOVE", "src", "l", "LEFT", "RIGHT", "0"]));
        p.wait_blocked(1);
        p.run(B, &["RPUSH", "src", "x"]);
        p.receive(C, Mode::Exact);
        p.run(A, &["MULTI"]);
        p.run(A, &["LRANGE", "l", "0", "-1"]);
        p.exec(false);
        // A transaction's push serves a blocked client after EXEC: inside
        // it, the list still holds what was pushed.
        p.reset();
        p.send(C, &argv(&["BLPOP", "l", "0"]));
        p.wait_blocked(1);
        p.run(A, &["MULTI"]);
        p.run(A, &["RPUSH", "l", "a", "b"]);
        p.run(A, &["LLEN", "l"]);
        p.run(A, &["LRANGE", "l", "0", "-1"]);
        p.exec(true);
        p.receive(C, Mode::Exact);
        p.run(A, &["LRANGE", "l", "0", "-1"]);
        // One that pushes and pops leaves nothing: C stays blocked until
        // B pushes.
        p.send(C, &argv(&["BLPOP", "l2", "0"]));
        p.wait_blocked(1);
        p.run(A, &["MULTI"]);
        p.run(A, &["RPUSH", "l2", "a"]);
        p.run(A, &["LPOP", "l2"]);
        p.exec(true);
        p.run(B, &["RPUSH", "l2", "b"]);
        p.receive(C, Mode::Exact);
        // A sorted set added in a transaction serves BZPOPMIN.
        p.send(C, &argv(&["BZPOPMIN", "z", "0"]));
        p.wait_blocked(1);
        p.run(A, &["MULTI"]);
        p.run(A, &["ZADD", "z", "2", "b", "1", "a"]);
        p.run(A, &["ZCARD", "z"]);
        p.exec(true);
        p.receive(C, Mode::Exact);
        p.run(A, &["ZRANGE", "z", "0", "-1"]);
    });
}

/// Writes that change nothing: Redis does not count them as touching the
/// watched key, so the transaction runs.
#[test]
fn watch_ignores_writes_that_change_nothing() {
    both_protocols(|p| {
        let cases: &[(Script, Script)] = &[
            (&[&["SADD", "k", "a"]], &[&["SADD", "k", "a"]]),
            (&[&["SADD", "k", "a"]], &[&["SREM", "k", "zz"]]),
            (&[], &[&["LPOP", "k"]]),
            (&[], &[&["SPOP", "k"]]),
            (&[], &[&["DEL", "k"]]),
            (&[], &[&["EXPIRE", "k", "100"]]),
            (&[], &[&["SET", "k", "1", "XX"]]),
            (&[&["SET", "k", "1"]], &[&["SET", "k", "2", "NX"]]),
            (&[&["SET", "k", "1"]], &[&["SETNX", "k", "2"]]),
            (&[&["SET", "k", "1"]], &[&["PERSIST", "k"]]),
            (&[&["SET", "k", "1"]], &[&["GETEX", "k"]]),
            (&[&["SET", "k", "x"]], &[&["INCR", "k"]]),
            (&[&["SADD", "k", "a"]], &[&["SET", "k", "1", "XX", "GET"]]),
            (&[&["ZADD", "k", "1", "a"]], &[&["ZADD", "k", "1", "a"]]),
            (&[&["ZADD", "k", "1", "a"]], &[&["ZREM", "k", "zz"]]),
            (&[&["HSET", "k", "f", "v"]], &[&["HDEL", "k", "zz"]]),
            (&[&["HSET", "k", "f", "v"]], &[&["HSETNX", "k", "f", "w"]]),
            (&[&["RPUSH", "k", "a"]], &[&["LREM", "k", "0", "zz"]]),
            (
                &[&["SET", "k", "1", "EX", "100"]],
                &[&["EXPIRE", "k", "200", "NX"]],
            ),
            (
                &[&["SET", "k", "1"], &["SET", "src", "2"]],
                &[&["COPY", "src", "k"]],
            ),
            (
                &[&["SET", "k", "1"], &["SET", "src", "2"]],
                &[&["RENAMENX", "src", "k"]],
            ),
            (
                &[&["SET", "k", "1"]],
                &[&["MSETNX", "k", "2", "other", "3"]],
            ),
            (&[], &[&["FLUSHDB"]]),
            (&[], &[&["RPUSHX", "k", "a"]]),
            (&[], &[&["LPUSHX", "k", "a"]]),
            (&[], &[&["GETDEL", "k"]]),
            (&[&["ZADD", "k", "1", "m"]], &[&["ZINCRBY", "k", "0", "m"]]),
            (
                &[&["ZADD", "k", "1", "m"]],
                &[&["ZADD", "k", "XX", "1", "n"]],
            ),
            (
                &[&["ZADD", "k", "1", "m"]],
                &[&["ZREMRANGEBYSCORE", "k", "5", "6"]],
            ),
            (&[&["ZADD", "k", "1", "m"]], &[&["ZPOPMIN", "k", "0"]]),
            (&[&["SET", "k", "1"]], &[&["RENAME", "k", "k"]]),
            (&[&["SADD", "k", "m"]], &[&["SMOVE", "k", "k", "m"]]),
            (&[&["SADD", "k", "m"]], &[&["SPOP", "k", "0"]]),
            (&[&["RPUSH", "k", "a"]], &[&["LPOP", "k", "0"]]),
            (
                &[&["RPUSH", "k", "a"]],
                &[&["LINSERT", "k", "BEFORE", "zz", "b"]],
            ),
            (&[&["SET", "k", "abc"]], &[&["SETRANGE", "k", "0", ""]]),
            (&[&["SET", "k", "1"]], &[&["GETEX", "k", "PERSIST"]]),
            (
                &[&["SET", "k", "1", "EX", "100"]],
                &[&["EXPIRE", "k", "50", "GT"]],
            ),
            (
                &[&["SADD", "a", "1"]],
                &[&["SINTERSTORE", "k", "a", "nosuch"]],
            ),
            (&[], &[&["ZUNIONSTORE", "k", "1", "nosuch"]]),
            (
                &[&["ZADD", "z", "1", "a"]],
                &[&["ZRANGESTORE", "k", "z", "5", "6"]],
            ),
            (&[&["SET", "k", "1"]], &[&["COPY", "k", "k"]]),
            (&[&["SET", "k", "1"]], &[&["MOVE", "k", "0"]]),
            (&[&["SET", "k", "1"]], &[&["TOUCH", "k"]]),
        ];
        for (setup, interfere) in cases {
            watch_case(p, setup, interfere, true);
        }
    });
}

/// Keys a write command only reads (the sources of COPY and the *STORE
/// commands, the keys a multi-key pop or DEL did not change): Redis does
/// not count them as touched.
#[test]
fn watch_ignores_keys_a_command_only_reads() {
    both_protocols(|p| {
        let cases: &[(Script, Script)] = &[
            (&[&["SET", "k", "1"]], &[&["COPY", "k", "dst"]]),
            (&[&["SADD", "k", "a"]], &[&["SINTERSTORE", "dst", "k", "k"]]),
            (&[&["SADD", "k", "a"]], &[&["SUNIONSTORE", "dst", "k"]]),
            (&[&["SADD", "k", "a"]], &[&["SDIFFSTORE", "dst", "k", "x"]]),
            (
                &[&["ZADD", "k", "1", "a"]],
                &[&["ZUNIONSTORE", "dst", "1", "k"]],
            ),
            (
                &[&["ZADD", "k", "1", "a"]],
                &[&["ZINTERSTORE", "dst", "1", "k"]],
            ),
            (
                &[&["ZADD", "k", "1", "a"]],
                &[&["ZRANGESTORE", "dst", "k", "0", "-1"]],
            ),
            (
                &[&["RPUSH", "k", "a"], &["RPUSH", "other", "b"]],
                &[&["LMPOP", "2", "other", "k", "LEFT"]],
            ),
            (
                &[&["RPUSH", "k", "a"], &["RPUSH", "other", "b"]],
                &[&["BLPOP", "other", "k", "0"]],
            ),
            (
                &[&["ZADD", "k", "1", "a"], &["ZADD", "other", "1", "b"]],
                &[&["ZMPOP", "2", "other", "k", "MIN"]],
            ),
            (&[&["SET", "other", "1"]], &[&["DEL", "other", "k"]]),
            (&[&["SET", "other", "1"]], &[&["UNLINK", "k", "other"]]),
        ];
        for (setup, interfere) in cases {
            watch_case(p, setup, interfere, true);
        }
    });
}

// ---------------------------------------------------------------------------
// Seeded random transactions, two clients, both protocols.

struct Generator {
    rng: StdRng,
}

impl Generator {
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.rng.random_range(0..items.len())]
    }

    fn coin(&mut self, p: f64) -> bool {
        self.rng.random_bool(p)
    }

    /// A key, usually of the type `wanted` names, now and then any (so
    /// WRONGTYPE happens).
    fn key(&mut self, wanted: &str) -> String {
        let all = [
            "s1", "s2", "n1", "h1", "h2", "l1", "l2", "t1", "t2", "z1", "z2",
        ];
        if self.coin(0.1) {
            return self.pick(&all).to_string();
        }
        let of_type: Vec<&str> = all
            .iter()
            .copied()
            .filter(|k| k.starts_with(wanted))
            .collect();
        self.pick(&of_type).to_string()
    }

    fn value(&mut self) -> String {
        self.pick(&["0", "1", "7", "-3", "abc", "", "2.5", "x y"])
            .to_string()
    }

    fn member(&mut self) -> String {
        self.pick(&["a", "b", "c", "d", "1"]).to_string()
    }

    fn score(&mut self) -> String {
        self.pick(&["1", "2", "2.5", "-1", "0.5", "10"]).to_string()
    }

    fn index(&mut self) -> String {
        self.pick(&["0", "1", "-1", "2", "-2"]).to_string()
    }

    /// A deterministic data command (no random picks) and its mode.
    fn command(&mut self) -> (Vec<String>, Mode) {
        let v = |items: &[&str]| items.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let mode = Mode::Exact;
        let cmd = match self.rng.random_range(0..56) {
            0..=2 => {
                let (k, val) = (self.key("s"), self.value());
                let mut c = v(&["SET", &k, &val]);
                match self.rng.random_range(0..6) {
                    0 => c.extend(v(&["EX", "1000"])),
                    1 => c.push("NX".into()),
                    2 => c.push("XX".into()),
                    3 => c.push("GET".into()),
                    _ => {}
                }
                c
            }
            3 | 4 => v(&["GET", &self.key("s")]),
            5 => v(&["APPEND", &self.key("s"), &self.value()]),
            6 | 7 => v(&[self.pick(&["INCR", "DECR"]), &self.key("n")]),
            8 => v(&["INCRBY", &self.key("n"), self.pick(&["5", "-2", "x"])]),
            9 => v(&["MSET", &self.key("s"), &self.value(), &self.key("n"), "4"]),
            10 => v(&["MGET", &self.key("s"), &self.key("n"), &self.key("s")]),
            11 => v(&["GETDEL", &self.key("s")]),
            12 => v(&["STRLEN", &self.key("s")]),
            13 | 14 => v(&["HSET", &self.key("h"), &self.member(), &self.value()]),
            15 => v(&["HGET", &self.key("h"), &self.member()]),
            16 => {
                return (v(&["HGETALL", &self.key("h")]), Mode::UnorderedPairs);
            }
            17 => v(&["HDEL", &self.key("h"), &self.member()]),
            18 => v(&["HINCRBY", &self.key("h"), &self.member(), "3"]),
            19 => v(&["HLEN", &self.key("h")]),
            20..=22 => v(&[
                self.pick(&["LPUSH", "RPUSH"]),
                &self.key("l"),
                &self.member(),
                &self.member(),
            ]),
            23 | 24 => v(&[self.pick(&["LPOP", "RPOP"]), &self.key("l")]),
            25 => v(&["LRANGE", &self.key("l"), "0", "-1"]),
            26 => v(&["LLEN", &self.key("l")]),
            27 => v(&["LMOVE", &self.key("l"), &self.key("l"), "LEFT", "RIGHT"]),
            28 => v(&["LINDEX", &self.key("l"), &self.index()]),
            29 | 30 => v(&["SADD", &self.key("t"), &self.member(), &self.member()]),
            31 => v(&["SREM", &self.key("t"), &self.member()]),
            32 => return (v(&["SMEMBERS", &self.key("t")]), Mode::Unordered),
            33 => v(&["SCARD", &self.key("t")]),
            34 => v(&["SISMEMBER", &self.key("t"), &self.member()]),
            35 => v(&["SMOVE", &self.key("t"), &self.key("t"), &self.member()]),
            36 => v(&[
                "SUNIONSTORE",
                &self.key("t"),
                &self.key("t"),
                &self.key("t"),
            ]),
            37 | 38 => v(&["ZADD", &self.key("z"), &self.score(), &self.member()]),
            39 => v(&["ZINCRBY", &self.key("z"), &self.score(), &self.member()]),
            40 => v(&["ZRANGE", &self.key("z"), "0", "-1", "WITHSCORES"]),
            41 => v(&["ZRANK", &self.key("z"), &self.member()]),
            42 => v(&["ZSCORE", &self.key("z"), &self.member()]),
            43 => v(&["ZPOPMIN", &self.key("z")]),
            44 => v(&["ZREM", &self.key("z"), &self.member()]),
            45 => {
                let k = self.key("");
                v(&[self.pick(&["DEL", "EXISTS", "TYPE"]), &k])
            }
            46 => {
                let (a, b) = (self.key(""), self.key(""));
                v(&[self.pick(&["RENAME", "RENAMENX"]), &a, &b])
            }
            47 => {
                let (a, b) = (self.key(""), self.key(""));
                v(&["COPY", &a, &b, "REPLACE"])
            }
            48 => v(&["EXPIRE", &self.key(""), "1000"]),
            49 => return (v(&["TTL", &self.key("")]), Mode::Near(1)),
            50 => v(&["DBSIZE"]),
            51 => {
                let (d, a, b) = (self.key("z"), self.key("z"), self.key("z"));
                v(&[
                    self.pick(&["ZUNIONSTORE", "ZINTERSTORE", "ZDIFFSTORE"]),
                    &d,
                    "2",
                    &a,
                    &b,
                ])
            }
            52 => {
                let (a, b) = (self.key("l"), self.key("l"));
                v(&["LMPOP", "2", &a, &b, self.pick(&["LEFT", "RIGHT"])])
            }
            53 => {
                let (a, b) = (self.key("z"), self.key("z"));
                v(&["ZMPOP", "2", &a, &b, "MIN", "COUNT", "2"])
            }
            54 => {
                let (d, a, b) = (self.key("t"), self.key("t"), self.key("t"));
                v(&[self.pick(&["SINTERSTORE", "SDIFFSTORE"]), &d, &a, &b])
            }
            _ => return (v(&["KEYS", "*"]), Mode::Unordered),
        };
        (cmd, mode)
    }

    /// A command queued inside MULTI: mostly data commands, now and then a
    /// blocking pop, a SELECT or a queue-time error.
    fn queued(&mut self, errors: bool) -> (Vec<String>, Mode) {
        let v = |items: &[&str]| items.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        match self.rng.random_range(if errors { 0 } else { 2 }..40) {
            0 => (v(&["NOSUCHCMD", "x"]), Mode::Exact),
            1 => (
                v(&[self.pick(&["GET", "HSET", "ZADD", "LPUSH"])]),
                Mode::Exact,
            ),
            2 => (v(&["SELECT", self.pick(&["0", "1"])]), Mode::Exact),
            3 => (
                v(&["BLPOP", &self.key("l"), &self.key("l"), "0"]),
                Mode::Exact,
            ),
            4 => (v(&["BZPOPMIN", &self.key("z"), "0"]), Mode::Exact),
            5 => (
                v(&[
                    "BLMOVE",
                    &self.key("l"),
                    &self.key("l"),
                    "RIGHT",
                    "LEFT",
                    "0",
                ]),
                Mode::Exact,
            ),
            _ => self.command(),
        }
    }

    /// What B does between A's WATCH and EXEC: a write to a watched key,
    /// another key, or the keyspace as a whole.
    fn interfere(&mut self, p: &mut Pair, watched: &[String]) {
        let target = if !watched.is_empty() && self.coin(0.6) {
            watched[self.rng.random_range(0..watched.len())].clone()
        } else {
            self.key("")
        };
        match self.rng.random_range(0..20) {
            0 => {
                p.run(B, &["PEXPIRE", &target, "20"]);
                std::thread::sleep(Duration::from_millis(70));
                p.run(B, &["EXISTS", &target]);
            }
            1 => {
                p.run(B, &["FLUSHDB"]);
            }
            2 if self.coin(0.3) => {
                p.run(B, &["FLUSHALL"]);
            }
            3 => {
                let other = self.key("");
                p.run(B, &["RENAME", &other, &target]);
            }
            4 => {
                p.run(B, &["SELECT", "1"]);
                p.run(B, &["SET", &target, "from-db1"]);
                if self.coin(0.5) {
                    p.run(B, &["MOVE", &target, "0"]);
                } else {
                    p.run(B, &["COPY", &target, &target, "DB", "0", "REPLACE"]);
                }
                p.run(B, &["SELECT", "0"]);
            }
            5 => {
                p.run(B, &["DEL", &target]);
            }
            6 => {
                p.run(C, &["BLPOP", &target, "0.02"]);
            }
            _ => {
                // A data command on the target (same type or not).
                let (mut cmd, mode) = self.command();
                if cmd.len() > 1 && cmd[0] != "KEYS" && cmd[0] != "DBSIZE" {
                    cmd[1] = target;
                }
                p.run_as(B, &cmd, mode);
            }
        }
    }
}

/// `rounds` random transactions of up to 6 queued commands, or (`long`)
/// of up to 150 without queue-time errors.
fn random_transactions(seed: u64, protocol: u8, rounds: usize, long: bool) {
    let longest = if long { 150 } else { 6 };
    let mut p = Pair::start(protocol);
    let mut g = Generator {
        rng: StdRng::seed_from_u64(seed),
    };
    let (mut ran, mut aborted, mut refused) = (0, 0, 0);
    for _ in 0..rounds {
        // Plain commands to change the state.
        for _ in 0..g.rng.random_range(0..4) {
            let (cmd, mode) = g.command();
            let who = if g.coin(0.5) { A } else { B };
            p.run_as(who, &cmd, mode);
        }
        let mut watched: Vec<String> = Vec::new();
        if g.coin(0.7) {
            for _ in 0..g.rng.random_range(1..4) {
                watched.push(g.key(""));
            }
            let mut cmd = vec!["WATCH".to_string()];
            cmd.extend(watched.iter().cloned());
            p.run_as(A, &cmd, Mode::Exact);
            if g.coin(0.5) {
                let (mut read, mode) = g.command();
                read[0] = "EXISTS".into();
                read.truncate(2);
                if read.len() == 2 {
                    p.run_as(A, &read, mode);
                }
            }
        }
        if g.coin(0.6) {
            g.interfere(&mut p, &watched);
        }
        p.run(A, &["MULTI"]);
        for _ in 0..g.rng.random_range(1..=longest) {
            let (cmd, mode) = g.queued(!long);
            p.run_as(A, &cmd, mode);
            if g.coin(0.3 / longest as f64) {
                g.interfere(&mut p, &watched);
            }
        }
        if g.coin(0.03) {
            p.run(A, &["MULTI"]);
        }
        if g.coin(0.03) {
            p.run(A, &["WATCH", "s1"]);
        }
        let reply = if g.coin(0.1) {
            p.run(A, &["DISCARD"])
        } else {
            p.run(A, &["EXEC"])
        };
        match reply {
            Resp::Array(_) => ran += 1,
            Resp::Error(_) => refused += 1,
            r if r.is_nil() => aborted += 1,
            _ => {}
        }
        if g.coin(0.1) {
            p.run(A, &["SELECT", "0"]);
        }
    }
    eprintln!(
        "seed {seed} RESP{protocol}: {ran} ran, {aborted} aborted by WATCH, {refused} refused"
    );
    assert!(
        ran > 0 && (long || (aborted > 0 && refused > 0)),
        "the run did not cover every outcome"
    );
}

#[test]
fn random_transactions_match_redis() {
    let seed: u64 = std::env::var("REDROCK_TX_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("transactions seed: {seed} (replay with REDROCK_TX_SEED={seed})");
    random_transactions(seed, 2, 500, false);
    random_transactions(seed.wrapping_add(1), 3, 500, false);
    // Long transactions: many commands on few keys read each other's
    // writes.
    random_transactions(seed.wrapping_add(2), 2, 40, true);
}

// ---------------------------------------------------------------------------
// Atomicity and isolation under concurrency.

fn account_keys(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{{bank}}acct:{i}")).collect()
}

fn ints(values: &[redis::Value], what: &str) -> Vec<i64> {
    values
        .iter()
        .map(|v| match v {
            redis::Value::BulkString(b) => std::str::from_utf8(b)
                .ok()
                .and_then(|t| t.parse().ok())
                .unwrap_or_else(|| panic!("{what}: not a number: {v:?}")),
            redis::Value::Int(n) => *n,
            other => panic!("{what}: unexpected element {other:?}"),
        })
        .collect()
}

/// 16 connections move money between 50 accounts with MULTI {DECRBY a x;
/// INCRBY b x} EXEC while 4 readers sum every account with MGET, with a
/// transaction of GETs, and with a transaction that also runs DBSIZE (a
/// keyless command, which locks every stripe): every sum is the initial
/// total, and every account ends where its transfers put it.
#[test]
fn transfers_keep_the_total_on_every_read() {
    const ACCOUNTS: usize = 50;
    const INITIAL: i64 = 1000;
    const WRITERS: usize = 16;
    const TRANSFERS: usize = 2000;
    const READERS: usize = 4;
    let total = ACCOUNTS as i64 * INITIAL;
    let server = Server::start();
    let keys = Arc::new(account_keys(ACCOUNTS));
    let mut con = server.client();
    let mut mset = redis::cmd("MSET");
    for key in keys.iter() {
        mset.arg(key).arg(INITIAL);
    }
    let () = mset.query(&mut con).unwrap();

    let done = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let keys = keys.clone();
            let mut con = server.client();
            std::thread::spawn(move || {
                let mut rng = StdRng::seed_from_u64(w as u64);
                let mut deltas = vec![0i64; ACCOUNTS];
                for i in 0..TRANSFERS {
                    let a = rng.random_range(0..ACCOUNTS);
                    let b = (a + rng.random_range(1..ACCOUNTS)) % ACCOUNTS;
                    let x = rng.random_range(1..=100i64);
                    let reply: redis::Value = redis::pipe()
                        .atomic()
                        .cmd("DECRBY")
                        .arg(&keys[a])
                        .arg(x)
                        .cmd("INCRBY")
                        .arg(&keys[b])
                        .arg(x)
                        .query(&mut con)
                        .unwrap_or_else(|e| panic!("writer {w} transfer {i}: {e}"));
                    match &reply {
                        redis::Value::Array(items)
                            if items.len() == 2
                                && items.iter().all(|v| matches!(v, redis::Value::Int(_))) => {}
                        other => panic!("writer {w} transfer {i}: EXEC replied {other:?}"),
                    }
                    deltas[a] -= x;
                    deltas[b] += x;
                }
                deltas
            })
        })
        .collect();
    let readers: Vec<_> = (0..READERS)
        .map(|r| {
            let keys = keys.clone();
            let done = done.clone();
            let mut con = server.client();
            std::thread::spawn(move || {
                let mut reads = [0u64; 3];
                let mut form = r;
                while !done.load(Ordering::Relaxed) {
                    form = (form + 1) % 3;
                    let balances = match form {
                        0 => {
                            let values: Vec<redis::Value> =
                                redis::cmd("MGET").arg(&keys[..]).query(&mut con).unwrap();
                            ints(&values, "MGET")
                        }
                        1 => {
                            let mut pipe = redis::pipe();
                            pipe.atomic();
                            for key in keys.iter() {
                                pipe.cmd("GET").arg(key);
                            }
                            let values: Vec<redis::Value> = pipe.query(&mut con).unwrap();
                            ints(&values, "MULTI GET... EXEC")
                        }
                        _ => {
                            let (size, values): (i64, Vec<redis::Value>) = redis::pipe()
                                .atomic()
                                .cmd("DBSIZE")
                                .cmd("MGET")
                                .arg(&keys[..])
                                .query(&mut con)
                                .unwrap();
                            assert_eq!(size, ACCOUNTS as i64, "DBSIZE inside MULTI");
                            ints(&values, "MULTI DBSIZE MGET EXEC")
                        }
                    };
                    assert_eq!(balances.len(), ACCOUNTS);
                    let sum: i64 = balances.iter().sum();
                    assert_eq!(
                        sum, total,
                        "reader {r} (form {form}) saw a total of {sum}: {balances:?}"
                    );
                    reads[form] += 1;
                }
                reads
            })
        })
        .collect();

    let mut expected = vec![INITIAL; ACCOUNTS];
    for writer in writers {
        let deltas = writer
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e));
        for (balance, delta) in expected.iter_mut().zip(deltas) {
            *balance += delta;
        }
    }
    let elapsed = started.elapsed();
    done.store(true, Ordering::Relaxed);
    let mut reads = [0u64; 3];
    for reader in readers {
        let r = reader
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e));
        for (sum, n) in reads.iter_mut().zip(r) {
            *sum += n;
        }
    }
    let values: Vec<redis::Value> = redis::cmd("MGET").arg(&keys[..]).query(&mut con).unwrap();
    assert_eq!(ints(&values, "final MGET"), expected, "final balances");
    eprintln!(
        "{} transfers in {:.2}s; reads checked: {} MGET, {} MULTI GET, {} MULTI DBSIZE+MGET",
        WRITERS * TRANSFERS,
        elapsed.as_secs_f64(),
        reads[0],
        reads[1],
        reads[2]
    );
    assert!(reads.iter().all(|&n| n > 0), "every read form ran");
}

/// N connections increment one counter M times each with WATCH, GET,
/// MULTI, SET, EXEC, retrying when EXEC answers nil. Every successful
/// transaction wrote the value it read plus one: the written values must
/// be exactly 1..=N*M (a repeat is a lost update WATCH missed), and under
/// this contention some EXECs must have been aborted.
#[test]
fn watch_counter_loses_no_increment() {
    const CLIENTS: usize = 8;
    const INCREMENTS: usize = 250;
    let server = Server::start();
    let retries = Arc::new(AtomicU64::new(0));
    let handles: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let mut con = server.client();
            let retries = retries.clone();
            std::thread::spawn(move || {
                let mut written = Vec::with_capacity(INCREMENTS);
                while written.len() < INCREMENTS {
                    let () = redis::cmd("WATCH").arg("counter").query(&mut con).unwrap();
                    let current: Option<i64> =
                        redis::cmd("GET").arg("counter").query(&mut con).unwrap();
                    let next = current.unwrap_or(0) + 1;
                    let reply: redis::Value = redis::pipe()
                        .atomic()
                        .cmd("SET")
                        .arg("counter")
                        .arg(next)
                        .query(&mut con)
                        .unwrap();
                    match reply {
                        redis::Value::Nil => {
                            retries.fetch_add(1, Ordering::Relaxed);
                        }
                        redis::Value::Array(items) if items == [redis::Value::Okay] => {
                            written.push(next)
                        }
                        other => panic!("client {c}: EXEC replied {other:?}"),
                    }
                }
                written
            })
        })
        .collect();
    let mut written: Vec<i64> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
        .collect();
    written.sort_unstable();
    let n = (CLIENTS * INCREMENTS) as i64;
    let repeats: Vec<_> = written
        .windows(2)
        .filter(|w| w[0] == w[1])
        .map(|w| w[0])
        .collect();
    assert!(
        repeats.is_empty(),
        "{} lost updates, e.g. values written twice: {:?}",
        repeats.len(),
        &repeats[..repeats.len().min(10)]
    );
    assert_eq!(written, (1..=n).collect::<Vec<_>>());
    let mut con = server.client();
    let counter: i64 = redis::cmd("GET").arg("counter").query(&mut con).unwrap();
    assert_eq!(counter, n);
    let retries = retries.load(Ordering::Relaxed);
    eprintln!("{n} increments, {retries} EXECs aborted by WATCH and retried");
    assert!(
        retries > 0,
        "no EXEC was ever aborted: WATCH detected no conflict"
    );
}

// ---------------------------------------------------------------------------
// Tokens moved between lists, sets, sorted sets and databases.
//
// A fixed set of tokens lives in containers of two databases: list tokens
// in lists, set tokens in sets, sorted-set tokens (each with its own
// score) in sorted sets, and string keys that exist in exactly one of the
// databases. Transactions move tokens with commands whose keys EXEC's
// plan finds in less common places: numkeys commands (LMPOP, BLMPOP,
// ZMPOP, BZMPOP, SINTERCARD, ZINTERCARD, ZUNION, ZUNIONSTORE, ZDIFFSTORE),
// the second key of LMOVE, BLMOVE, RPOPLPUSH, BRPOPLPUSH, SMOVE and
// RENAME, the other database of MOVE and COPY ... DB, and every key after
// a SELECT inside the transaction. If the plan misses a key, the command
// that needs it fails when another client holds it (an error inside
// EXEC), or runs on a state other clients change under it (a reply other
// than the predicted one, a token lost or doubled).

const TOKEN_DBS: [usize; 2] = [0, 5];
const LISTS: usize = 4;
const SETS: usize = 4;
const ZSETS: usize = 3;
const LIST_TOKENS: usize = 24;
const SET_TOKENS: usize = 24;
const ZSET_TOKENS: usize = 18;
const KEY_TOKENS: usize = 12;

fn list_key(i: usize) -> String {
    format!("L{i}")
}

fn set_key(i: usize) -> String {
    format!("S{i}")
}

fn zset_key(i: usize) -> String {
    format!("Z{i}")
}

fn token_key(i: usize) -> String {
    format!("K{i}")
}

fn list_token(i: usize) -> String {
    format!("l{i:02}")
}

fn set_token(i: usize) -> String {
    format!("s{i:02}")
}

/// A sorted-set token; its score is its number.
fn zset_token(i: usize) -> String {
    format!("z{i:02}")
}

/// The value of string key `K<i>`.
fn key_value(i: usize) -> String {
    format!("v{i}")
}

fn strs(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

fn text_of(r: &Resp) -> Result<String, String> {
    match r {
        Resp::Bulk(b) => Ok(String::from_utf8_lossy(b).into_owned()),
        other => Err(format!("expected a bulk string, got {other:?}")),
    }
}

fn int_of(r: &Resp) -> Result<i64, String> {
    match r {
        Resp::Int(n) => Ok(*n),
        other => Err(format!("expected an integer, got {other:?}")),
    }
}

fn texts_of(r: &Resp) -> Result<Vec<String>, String> {
    match r {
        Resp::Array(items) | Resp::Set(items) => items.iter().map(text_of).collect(),
        other => Err(format!("expected an array, got {other:?}")),
    }
}

fn expect_ok(r: &Resp) -> Result<(), String> {
    match r {
        Resp::Simple(s) if s == "OK" => Ok(()),
        other => Err(format!("expected OK, got {other:?}")),
    }
}

fn expect_int_in(r: &Resp, range: std::ops::RangeInclusive<i64>) -> Result<i64, String> {
    let n = int_of(r)?;
    if range.contains(&n) {
        Ok(n)
    } else {
        Err(format!("{n} is not in {range:?}"))
    }
}

/// Checks the replies of a segment's commands.
type ReplyCheck = Box<dyn Fn(&[Resp]) -> Result<(), String>>;

/// Commands queued in a transaction, with the check of their replies.
struct Segment {
    commands: Vec<Vec<String>>,
    check: ReplyCheck,
}

impl Segment {
    fn new(
        commands: Vec<Vec<String>>,
        check: impl Fn(&[Resp]) -> Result<(), String> + 'static,
    ) -> Segment {
        Segment {
            commands,
            check: Box::new(check),
        }
    }

    fn select(db: usize) -> Segment {
        Segment::new(vec![strs(&["SELECT", &db.to_string()])], |r| {
            expect_ok(&r[0])
        })
    }
}

/// What the containers of both databases hold, as one reading saw it.
#[derive(Default)]
struct Census {
    /// Every list token seen, once per time seen.
    lists: Vec<String>,
    /// Set members seen (when the reading listed them) and the total of
    /// the sets' cardinalities.
    sets: Vec<String>,
    set_count: i64,
    /// Sorted-set members with their scores.
    zsets: Vec<(String, String)>,
    /// For each string key, the databases where it was found, with its
    /// value.
    keys: Vec<Vec<(usize, String)>>,
}

impl Census {
    /// Every token exactly once.
    fn check(&self) -> Result<(), String> {
        let sorted = |mut v: Vec<String>| {
            v.sort();
            v
        };
        let lists: Vec<String> = (0..LIST_TOKENS).map(list_token).collect();
        if sorted(self.lists.clone()) != lists {
            return Err(format!("list tokens: {:?}", sorted(self.lists.clone())));
        }
        if self.set_count != SET_TOKENS as i64 {
            return Err(format!(
                "{} set tokens in all, not {SET_TOKENS}",
                self.set_count
            ));
        }
        if !self.sets.is_empty() {
            let sets: Vec<String> = (0..SET_TOKENS).map(set_token).collect();
            if sorted(self.sets.clone()) != sets {
                return Err(format!("set tokens: {:?}", sorted(self.sets.clone())));
            }
        }
        let mut zsets = self.zsets.clone();
        zsets.sort();
        let expected: Vec<(String, String)> = (0..ZSET_TOKENS)
            .map(|i| (zset_token(i), i.to_string()))
            .collect();
        if zsets != expected {
            return Err(format!("sorted-set tokens and scores: {zsets:?}"));
        }
        for (i, found) in self.keys.iter().enumerate() {
            if found.len() != 1 || found[0].1 != key_value(i) {
                return Err(format!("{} found as {found:?}", token_key(i)));
            }
        }
        Ok(())
    }
}

/// How a reading reads the containers: each kind of container through
/// commands whose keys the plan finds in different places.
#[derive(Clone, Copy, Debug)]
struct ReadForms {
    /// 0: SUNION and SCARD; 1: SINTERCARD 1 of each set (numkeys, the
    /// only command naming the sets); 2: SMEMBERS of each.
    sets: u8,
    /// 0: ZRANGE of each; 1: ZUNION 3 (numkeys); 2: ZUNIONSTORE into a
    /// key of the reader's, read, then deleted.
    zsets: u8,
}

/// The queued commands of a reading of every container, and what their
/// replies say.
fn census_commands(forms: ReadForms, tmp: &str) -> Vec<Vec<String>> {
    let mut commands = Vec::new();
    for db in TOKEN_DBS {
        commands.push(strs(&["SELECT", &db.to_string()]));
        for l in 0..LISTS {
            commands.push(strs(&["LRANGE", &list_key(l), "0", "-1"]));
        }
        match forms.sets {
            0 => {
                let mut sunion = strs(&["SUNION"]);
                sunion.extend((0..SETS).map(set_key));
                commands.push(sunion);
                for s in 0..SETS {
                    commands.push(strs(&["SCARD", &set_key(s)]));
                }
            }
            1 => {
                for s in 0..SETS {
                    commands.push(strs(&["SINTERCARD", "1", &set_key(s)]));
                }
            }
            _ => {
                for s in 0..SETS {
                    commands.push(strs(&["SMEMBERS", &set_key(s)]));
                }
            }
        }
        let zkeys: Vec<String> = (0..ZSETS).map(zset_key).collect();
        match forms.zsets {
            0 => {
                for z in &zkeys {
                    commands.push(strs(&["ZRANGE", z, "0", "-1", "WITHSCORES"]));
                }
            }
            1 => {
                let mut zunion = strs(&["ZUNION", &ZSETS.to_string()]);
                zunion.extend(zkeys.iter().cloned());
                zunion.push("WITHSCORES".into());
                commands.push(zunion);
            }
            _ => {
                let mut store = strs(&["ZUNIONSTORE", tmp, &ZSETS.to_string()]);
                store.extend(zkeys.iter().cloned());
                commands.push(store);
                commands.push(strs(&["ZRANGE", tmp, "0", "-1", "WITHSCORES"]));
                commands.push(strs(&["DEL", tmp]));
            }
        }
        let mut mget = strs(&["MGET"]);
        mget.extend((0..KEY_TOKENS).map(token_key));
        commands.push(mget);
    }
    commands
}

/// What a reading's replies (those of `census_commands`) show.
fn census_of(forms: ReadForms, replies: &[Resp]) -> Result<Census, String> {
    let mut census = Census {
        keys: vec![Vec::new(); KEY_TOKENS],
        ..Census::default()
    };
    let mut r = replies.iter();
    let mut next = || r.next().ok_or("too few replies".to_string());
    let pairs = |flat: Vec<String>| -> Vec<(String, String)> {
        flat.chunks(2)
            .map(|p| (p[0].clone(), p.get(1).cloned().unwrap_or_default()))
            .collect()
    };
    for db in TOKEN_DBS {
        expect_ok(next()?)?;
        for _ in 0..LISTS {
            census.lists.extend(texts_of(next()?)?);
        }
        match forms.sets {
            0 => {
                let union = texts_of(next()?)?;
                let mut cards = 0;
                for _ in 0..SETS {
                    cards += int_of(next()?)?;
                }
                if cards != union.len() as i64 {
                    return Err(format!(
                        "db {db}: the sets' cardinalities add up to {cards}, their union has {}",
                        union.len()
                    ));
                }
                census.set_count += cards;
                census.sets.extend(union);
            }
            1 => {
                for _ in 0..SETS {
                    census.set_count += int_of(next()?)?;
                }
            }
            _ => {
                for _ in 0..SETS {
                    let members = texts_of(next()?)?;
                    census.set_count += members.len() as i64;
                    census.sets.extend(members);
                }
            }
        }
        match forms.zsets {
            0 => {
                for _ in 0..ZSETS {
                    census.zsets.extend(pairs(texts_of(next()?)?));
                }
            }
            1 => census.zsets.extend(pairs(texts_of(next()?)?)),
            _ => {
                let stored = int_of(next()?)?;
                let members = pairs(texts_of(next()?)?);
                if stored != members.len() as i64 {
                    return Err(format!(
                        "ZUNIONSTORE stored {stored}, ZRANGE read {}",
                        members.len()
                    ));
                }
                expect_int_in(next()?, (stored > 0) as i64..=(stored > 0) as i64)?;
                census.zsets.extend(members);
            }
        }
        match next()? {
            Resp::Array(values) if values.len() == KEY_TOKENS => {
                for (i, v) in values.iter().enumerate() {
                    if !v.is_nil() {
                        census.keys[i].push((db, text_of(v)?));
                    }
                }
            }
            other => return Err(format!("MGET replied {other:?}")),
        }
    }
    if next().is_ok() {
        return Err("more replies than commands".into());
    }
    Ok(census)
}

#[derive(Default, Debug)]
struct TokenStats {
    /// Transactions that ran, by kind.
    moves: u64,
    list_pops: u64,
    zset_pops: u64,
    renames: u64,
    copies: u64,
    readings: u64,
    /// EXECs that WATCH aborted.
    aborted: u64,
    /// Guarded moves skipped because there was nothing to move.
    skipped: u64,
}

/// One of the connections moving tokens.
struct TokenClient {
    raw: RawClient,
    who: String,
    tmp: String,
    rng: StdRng,
    stats: TokenStats,
}

impl TokenClient {
    /// Sends `commands` (each a whole argv) pipelined and returns their
    /// replies.
    fn pipeline(&mut self, commands: &[Vec<String>]) -> Vec<Resp> {
        let mut bytes = Vec::new();
        for c in commands {
            bytes.extend(RawClient::encode(c));
        }
        self.raw.send(&bytes);
        commands
            .iter()
            .map(|_| parse(&self.raw.read_reply()))
            .collect()
    }

    /// Runs `commands` between MULTI and EXEC (one pipeline): their
    /// replies, or None if WATCH aborted the transaction. Any other answer
    /// fails the test.
    fn transaction(&mut self, commands: &[Vec<String>]) -> Option<Vec<Resp>> {
        let mut all = vec![strs(&["MULTI"])];
        all.extend(commands.iter().cloned());
        all.push(strs(&["EXEC"]));
        let replies = self.pipeline(&all);
        let fail = |why: String| {
            format!(
                "{}: {why}\ncommands: {commands:?}\nreplies: {replies:?}",
                self.who
            )
        };
        if replies[0] != Resp::Simple("OK".into()) {
            panic!("{}", fail("MULTI failed".into()));
        }
        if let Some(r) = replies[1..replies.len() - 1]
            .iter()
            .find(|r| **r != Resp::Simple("QUEUED".into()))
        {
            panic!("{}", fail(format!("a command was not queued: {r:?}")));
        }
        match replies.last().unwrap() {
            Resp::Array(items) => {
                if items.len() != commands.len() {
                    panic!(
                        "{}",
                        fail("EXEC did not answer one reply per command".into())
                    );
                }
                if let Some(e) = items.iter().find(|r| matches!(r, Resp::Error(_))) {
                    panic!("{}", fail(format!("a command failed inside EXEC: {e:?}")));
                }
                Some(items.clone())
            }
            r if r.is_nil() => {
                self.stats.aborted += 1;
                None
            }
            other => panic!("{}", fail(format!("EXEC answered {other:?}"))),
        }
    }

    /// Runs segments in one transaction and checks each one's replies.
    fn run_segments(&mut self, segments: &[Segment]) -> bool {
        let commands: Vec<Vec<String>> = segments
            .iter()
            .flat_map(|s| s.commands.iter().cloned())
            .collect();
        let Some(replies) = self.transaction(&commands) else {
            return false;
        };
        let mut at = 0;
        for s in segments {
            let mine = &replies[at..at + s.commands.len()];
            if let Err(why) = (s.check)(mine) {
                panic!(
                    "{}: {why}\nin {:?} replying {mine:?}\nwhole transaction: {commands:?}\nreplies: {replies:?}",
                    self.who, s.commands
                );
            }
            at += s.commands.len();
        }
        true
    }

    fn pick(&mut self, n: usize) -> usize {
        self.rng.random_range(0..n)
    }

    /// Two different indexes below `n`.
    fn pick_two(&mut self, n: usize) -> (usize, usize) {
        let a = self.pick(n);
        (a, (a + 1 + self.pick(n - 1)) % n)
    }

    fn pick_db(&mut self) -> (usize, usize) {
        let (a, b) = self.pick_two(TOKEN_DBS.len());
        (TOKEN_DBS[a], TOKEN_DBS[b])
    }

    fn side(&mut self) -> &'static str {
        if self.rng.random_bool(0.5) {
            "LEFT"
        } else {
            "RIGHT"
        }
    }

    /// One blind move in database `db`: a segment whose effect keeps
    /// every token once, whatever the state it runs on.
    fn blind_segment(&mut self, db: usize) -> Segment {
        let other = TOKEN_DBS.iter().copied().find(|&d| d != db).unwrap();
        match self.pick(7) {
            0 => {
                // One list token moves, if the source has one.
                let (a, b) = self.pick_two(LISTS);
                let (a, b) = (list_key(a), list_key(b));
                let (from, to) = (self.side(), self.side());
                let command = match self.pick(4) {
                    0 => strs(&["LMOVE", &a, &b, from, to]),
                    // Inside MULTI the blocking forms do not block.
                    1 => strs(&["BLMOVE", &a, &b, from, to, "0"]),
                    2 => strs(&["RPOPLPUSH", &a, &b]),
                    _ => strs(&["BRPOPLPUSH", &a, &b, "0"]),
                };
                Segment::new(vec![command], |r| match &r[0] {
                    r if r.is_nil() => Ok(()),
                    r => {
                        let t = text_of(r)?;
                        if (0..LIST_TOKENS).any(|i| list_token(i) == t) {
                            Ok(())
                        } else {
                            Err(format!("moved {t}, not a list token"))
                        }
                    }
                })
            }
            1 => {
                // SMOVE of a token that may or may not be in the source;
                // sets never share a member.
                let (a, b) = self.pick_two(SETS);
                let token = set_token(self.pick(SET_TOKENS));
                Segment::new(
                    vec![
                        strs(&["SMOVE", &set_key(a), &set_key(b), &token]),
                        strs(&["SINTERCARD", "2", &set_key(a), &set_key(b)]),
                    ],
                    |r| {
                        expect_int_in(&r[0], 0..=1)?;
                        expect_int_in(&r[1], 0..=0).map(|_| ())
                    },
                )
            }
            2 => {
                // Set a merged into set b.
                let (a, b) = self.pick_two(SETS);
                let (a, b) = (set_key(a), set_key(b));
                Segment::new(
                    vec![strs(&["SUNIONSTORE", &b, &a, &b]), strs(&["DEL", &a])],
                    |r| {
                        let n = expect_int_in(&r[0], 0..=SET_TOKENS as i64)?;
                        let deleted = expect_int_in(&r[1], 0..=1)?;
                        if n == 0 && deleted == 1 {
                            return Err("an empty union, yet its source existed".into());
                        }
                        Ok(())
                    },
                )
            }
            3 => {
                // The first k+1 members of sorted set b move to a.
                let (a, b) = self.pick_two(ZSETS);
                let (a, b) = (zset_key(a), zset_key(b));
                let k = self.pick(3);
                let tmp = self.tmp.clone();
                Segment::new(
                    vec![
                        strs(&["ZRANGESTORE", &tmp, &b, "0", &k.to_string()]),
                        strs(&["ZUNIONSTORE", &a, "2", &a, &tmp]),
                        strs(&["ZDIFFSTORE", &b, "2", &b, &tmp]),
                        strs(&["DEL", &tmp]),
                        strs(&["ZINTERCARD", "2", &a, &b]),
                    ],
                    move |r| {
                        let n = expect_int_in(&r[0], 0..=k as i64 + 1)?;
                        expect_int_in(&r[1], n..=ZSET_TOKENS as i64)?;
                        expect_int_in(&r[2], 0..=ZSET_TOKENS as i64)?;
                        expect_int_in(&r[3], (n > 0) as i64..=(n > 0) as i64)?;
                        expect_int_in(&r[4], 0..=0).map(|_| ())
                    },
                )
            }
            4 => {
                // A whole container to the other database: MOVE never
                // replaces a key.
                let key = match self.pick(3) {
                    0 => list_key(self.pick(LISTS)),
                    1 => set_key(self.pick(SETS)),
                    _ => zset_key(self.pick(ZSETS)),
                };
                Segment::new(vec![strs(&["MOVE", &key, &other.to_string()])], |r| {
                    expect_int_in(&r[0], 0..=1).map(|_| ())
                })
            }
            5 => {
                let key = token_key(self.pick(KEY_TOKENS));
                Segment::new(vec![strs(&["MOVE", &key, &other.to_string()])], |r| {
                    expect_int_in(&r[0], 0..=1).map(|_| ())
                })
            }
            _ => {
                // A string key copied to the other database, then deleted
                // here: both happen (it was here) or neither.
                let key = token_key(self.pick(KEY_TOKENS));
                Segment::new(
                    vec![
                        strs(&["COPY", &key, &key, "DB", &other.to_string()]),
                        strs(&["DEL", &key]),
                    ],
                    |r| {
                        let copied = expect_int_in(&r[0], 0..=1)?;
                        let deleted = expect_int_in(&r[1], 0..=1)?;
                        if copied != deleted {
                            return Err(format!("COPY {copied} but DEL {deleted}"));
                        }
                        Ok(())
                    },
                )
            }
        }
    }

    /// A transaction of one to three blind moves, each in a database
    /// SELECTed inside the transaction.
    fn blind_moves(&mut self) {
        let mut segments = Vec::new();
        for _ in 0..self.rng.random_range(1..=3) {
            let (db, _) = self.pick_db();
            segments.push(Segment::select(db));
            let segment = self.blind_segment(db);
            segments.push(segment);
        }
        if self.run_segments(&segments) {
            self.stats.moves += 1;
        }
    }

    /// Outside MULTI: SELECT `db`, WATCH `keys`, then `reads`; their
    /// replies.
    fn watch_and_read(&mut self, db: usize, keys: &[String], reads: &[Vec<String>]) -> Vec<Resp> {
        let mut commands = vec![strs(&["SELECT", &db.to_string()])];
        let mut watch = strs(&["WATCH"]);
        watch.extend(keys.iter().cloned());
        commands.push(watch);
        commands.extend(reads.iter().cloned());
        let replies = self.pipeline(&commands);
        for r in &replies[..2] {
            assert_eq!(*r, Resp::Simple("OK".into()), "{}: {commands:?}", self.who);
        }
        replies[2..].to_vec()
    }

    fn unwatch(&mut self) {
        let reply = self.pipeline(&[strs(&["UNWATCH"])]);
        assert_eq!(reply[0], Resp::Simple("OK".into()));
    }

    /// Runs a guarded transaction: `expected` are the exact replies, as
    /// the state read under WATCH predicts them.
    fn guarded(&mut self, commands: Vec<Vec<String>>, expected: Vec<Resp>) -> bool {
        let Some(replies) = self.transaction(&commands) else {
            return false;
        };
        assert_eq!(
            replies, expected,
            "{}: replies other than the watched state predicts\ncommands: {commands:?}",
            self.who
        );
        true
    }

    /// LMPOP (or BLMPOP) from the first non-empty of two lists, pushing
    /// what it took to a third, under WATCH of all three.
    fn list_pop(&mut self) {
        let (db, _) = self.pick_db();
        let (a, b) = self.pick_two(LISTS);
        let c = (0..LISTS).find(|&c| c != a && c != b).unwrap();
        let (a, b, c) = (list_key(a), list_key(b), list_key(c));
        let reads = [
            strs(&["LRANGE", &a, "0", "-1"]),
            strs(&["LRANGE", &b, "0", "-1"]),
            strs(&["LLEN", &c]),
        ];
        let state = self.watch_and_read(db, &[a.clone(), b.clone(), c.clone()], &reads);
        let (la, lb) = (texts_of(&state[0]).unwrap(), texts_of(&state[1]).unwrap());
        let lc = int_of(&state[2]).unwrap();
        let side = self.side();
        let count = self.rng.random_range(1..=3usize);
        let Some((from, items)) = [(&a, la), (&b, lb)]
            .into_iter()
            .find(|(_, l)| !l.is_empty())
        else {
            self.stats.skipped += 1;
            return self.unwatch();
        };
        let taken: Vec<String> = if side == "LEFT" {
            items.iter().take(count).cloned().collect()
        } else {
            items.iter().rev().take(count).cloned().collect()
        };
        let mut pop = if self.rng.random_bool(0.5) {
            strs(&["LMPOP", "2", &a, &b, side, "COUNT", &count.to_string()])
        } else {
            strs(&[
                "BLMPOP",
                "0",
                "2",
                &a,
                &b,
                side,
                "COUNT",
                &count.to_string(),
            ])
        };
        if count == 1 && self.rng.random_bool(0.3) {
            pop.truncate(pop.len() - 2);
        }
        let mut push = strs(&["RPUSH", &c]);
        push.extend(taken.iter().cloned());
        let expected = vec![
            Resp::Array(vec![
                Resp::Bulk(from.clone().into_bytes()),
                Resp::Array(
                    taken
                        .iter()
                        .map(|t| Resp::Bulk(t.clone().into_bytes()))
                        .collect(),
                ),
            ]),
            Resp::Int(lc + taken.len() as i64),
        ];
        if self.guarded(vec![pop, push], expected) {
            self.stats.list_pops += 1;
        }
    }

    /// ZMPOP (or BZMPOP) from the first non-empty of two sorted sets,
    /// adding what it took to a third, under WATCH of all three.
    fn zset_pop(&mut self) {
        let (db, _) = self.pick_db();
        let (a, b) = self.pick_two(ZSETS);
        let c = (0..ZSETS).find(|&c| c != a && c != b).unwrap();
        let (a, b, c) = (zset_key(a), zset_key(b), zset_key(c));
        let reads = [
            strs(&["ZRANGE", &a, "0", "-1", "WITHSCORES"]),
            strs(&["ZRANGE", &b, "0", "-1", "WITHSCORES"]),
        ];
        let state = self.watch_and_read(db, &[a.clone(), b.clone(), c.clone()], &reads);
        let members = |r: &Resp| -> Vec<(String, String)> {
            texts_of(r)
                .unwrap()
                .chunks(2)
                .map(|p| (p[0].clone(), p[1].clone()))
                .collect()
        };
        let (za, zb) = (members(&state[0]), members(&state[1]));
        let min = self.rng.random_bool(0.5);
        let count = self.rng.random_range(1..=2usize);
        let Some((from, items)) = [(&a, za), (&b, zb)]
            .into_iter()
            .find(|(_, l)| !l.is_empty())
        else {
            self.stats.skipped += 1;
            return self.unwatch();
        };
        let taken: Vec<(String, String)> = if min {
            items.iter().take(count).cloned().collect()
        } else {
            items.iter().rev().take(count).cloned().collect()
        };
        let which = if min { "MIN" } else { "MAX" };
        let pop = if self.rng.random_bool(0.5) {
            strs(&["ZMPOP", "2", &a, &b, which, "COUNT", &count.to_string()])
        } else {
            strs(&[
                "BZMPOP",
                "0",
                "2",
                &a,
                &b,
                which,
                "COUNT",
                &count.to_string(),
            ])
        };
        let mut add = strs(&["ZADD", &c]);
        for (member, score) in &taken {
            add.push(score.clone());
            add.push(member.clone());
        }
        let expected = vec![
            Resp::Array(vec![
                Resp::Bulk(from.clone().into_bytes()),
                Resp::Array(
                    taken
                        .iter()
                        .map(|(m, s)| {
                            Resp::Array(vec![
                                Resp::Bulk(m.clone().into_bytes()),
                                Resp::Bulk(s.clone().into_bytes()),
                            ])
                        })
                        .collect(),
                ),
            ]),
            Resp::Int(taken.len() as i64),
        ];
        if self.guarded(vec![pop, add], expected) {
            self.stats.zset_pops += 1;
        }
    }

    /// RENAME of a container to a name that is free, or a swap of two
    /// through a key of this client's, under WATCH of both.
    fn rename(&mut self) {
        let (db, _) = self.pick_db();
        let (names, n) = match self.pick(3) {
            0 => (list_key as fn(usize) -> String, LISTS),
            1 => (set_key as fn(usize) -> String, SETS),
            _ => (zset_key as fn(usize) -> String, ZSETS),
        };
        let (a, b) = self.pick_two(n);
        let (a, b) = (names(a), names(b));
        let reads = [strs(&["EXISTS", &a]), strs(&["EXISTS", &b])];
        let state = self.watch_and_read(db, &[a.clone(), b.clone()], &reads);
        let ok = || Resp::Simple("OK".into());
        let (commands, expected) = match (int_of(&state[0]).unwrap(), int_of(&state[1]).unwrap()) {
            (1, 1) => (
                vec![
                    strs(&["RENAME", &a, &self.tmp]),
                    strs(&["RENAME", &b, &a]),
                    strs(&["RENAME", &self.tmp, &b]),
                ],
                vec![ok(), ok(), ok()],
            ),
            (1, 0) => (vec![strs(&["RENAME", &a, &b])], vec![ok()]),
            (0, 1) => (vec![strs(&["RENAME", &b, &a])], vec![ok()]),
            _ => {
                self.stats.skipped += 1;
                return self.unwatch();
            }
        };
        if self.guarded(commands, expected) {
            self.stats.renames += 1;
        }
    }

    /// COPY of a container to the other database, where it is missing,
    /// then DEL of the original, under WATCH of the key in both.
    fn copy_container(&mut self) {
        let (db, other) = self.pick_db();
        let key = match self.pick(3) {
            0 => list_key(self.pick(LISTS)),
            1 => set_key(self.pick(SETS)),
            _ => zset_key(self.pick(ZSETS)),
        };
        let here = self.watch_and_read(db, std::slice::from_ref(&key), &[strs(&["EXISTS", &key])]);
        let there = self.watch_and_read(
            other,
            std::slice::from_ref(&key),
            &[strs(&["EXISTS", &key])],
        );
        let (from, to) = match (int_of(&here[0]).unwrap(), int_of(&there[0]).unwrap()) {
            (1, 0) => (db, other),
            (0, 1) => (other, db),
            _ => {
                self.stats.skipped += 1;
                return self.unwatch();
            }
        };
        let commands = vec![
            strs(&["SELECT", &from.to_string()]),
            strs(&["COPY", &key, &key, "DB", &to.to_string()]),
            strs(&["DEL", &key]),
        ];
        let expected = vec![Resp::Simple("OK".into()), Resp::Int(1), Resp::Int(1)];
        if self.guarded(commands, expected) {
            self.stats.copies += 1;
        }
    }

    /// Reads every container of both databases in one transaction and
    /// checks that every token is there exactly once.
    fn reading(&mut self) {
        let forms = ReadForms {
            sets: self.pick(3) as u8,
            zsets: self.pick(3) as u8,
        };
        let commands = census_commands(forms, &self.tmp);
        let replies = self
            .transaction(&commands)
            .unwrap_or_else(|| panic!("{}: a reading watched nothing", self.who));
        if let Err(why) = census_of(forms, &replies).and_then(|c| c.check()) {
            panic!(
                "{}: a reading ({forms:?}) saw {why}\ncommands: {commands:?}\nreplies: {replies:?}",
                self.who
            );
        }
        self.stats.readings += 1;
    }
}

/// Puts every token in a container: round robin over the containers of
/// both databases, string keys alternating between the databases.
fn place_tokens(raw: &mut RawClient) {
    let mut commands: Vec<Vec<String>> = Vec::new();
    let slots = |n: usize| -> Vec<(usize, usize)> {
        TOKEN_DBS
            .iter()
            .flat_map(|&db| (0..n).map(move |i| (db, i)))
            .collect()
    };
    for db in TOKEN_DBS {
        commands.push(strs(&["SELECT", &db.to_string()]));
        let lists = slots(LISTS);
        for t in 0..LIST_TOKENS {
            let (d, i) = lists[t % lists.len()];
            if d == db {
                commands.push(strs(&["RPUSH", &list_key(i), &list_token(t)]));
            }
        }
        let sets = slots(SETS);
        for t in 0..SET_TOKENS {
            let (d, i) = sets[t % sets.len()];
            if d == db {
                commands.push(strs(&["SADD", &set_key(i), &set_token(t)]));
            }
        }
        let zsets = slots(ZSETS);
        for t in 0..ZSET_TOKENS {
            let (d, i) = zsets[t % zsets.len()];
            if d == db {
                commands.push(strs(&[
                    "ZADD",
                    &zset_key(i),
                    &t.to_string(),
                    &zset_token(t),
                ]));
            }
        }
        for t in 0..KEY_TOKENS {
            if TOKEN_DBS[t % TOKEN_DBS.len()] == db {
                commands.push(strs(&["SET", &token_key(t), &key_value(t)]));
            }
        }
    }
    for c in &commands {
        let reply = parse(&raw.command(c));
        assert!(!matches!(reply, Resp::Error(_)), "{c:?}: {reply:?}");
    }
}

/// 8 connections run transactions that move tokens between lists, sets,
/// sorted sets and databases (see the section's head) and read every
/// container in a transaction after each of their own: every reply is
/// checked (no error inside EXEC, the replies a WATCHed state predicts),
/// and every reading, and the end state, has each token exactly once.
#[test]
fn tokens_moved_by_multi_key_transactions_are_never_lost_or_doubled() {
    const CLIENTS: usize = 8;
    const TRANSACTIONS: usize = 500;
    let seed: u64 = std::env::var("REDROCK_TX_STRESS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("token stress seed: {seed} (replay with REDROCK_TX_STRESS_SEED={seed})");
    let server = Server::start();
    place_tokens(&mut server.raw());
    let started = Instant::now();
    let handles: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let mut client = TokenClient {
                raw: server.raw(),
                who: format!("client {c}"),
                tmp: format!("tmp:{c}"),
                rng: StdRng::seed_from_u64(seed.wrapping_add(c as u64)),
                stats: TokenStats::default(),
            };
            std::thread::spawn(move || {
                for _ in 0..TRANSACTIONS {
                    match client.pick(10) {
                        0..=3 => client.blind_moves(),
                        4 | 5 => client.list_pop(),
                        6 => client.zset_pop(),
                        7 | 8 => client.rename(),
                        _ => client.copy_container(),
                    }
                    client.reading();
                }
                client.stats
            })
        })
        .collect();
    let mut total = TokenStats::default();
    for h in handles {
        let s = h.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
        total.moves += s.moves;
        total.list_pops += s.list_pops;
        total.zset_pops += s.zset_pops;
        total.renames += s.renames;
        total.copies += s.copies;
        total.readings += s.readings;
        total.aborted += s.aborted;
        total.skipped += s.skipped;
    }
    let elapsed = started.elapsed();
    // The end state, read every way.
    let mut reader = TokenClient {
        raw: server.raw(),
        who: "final reading".into(),
        tmp: "tmp:final".into(),
        rng: StdRng::seed_from_u64(seed),
        stats: TokenStats::default(),
    };
    for sets in 0..3 {
        for zsets in 0..3 {
            let forms = ReadForms { sets, zsets };
            let commands = census_commands(forms, &reader.tmp);
            let replies = reader.transaction(&commands).unwrap();
            if let Err(why) = census_of(forms, &replies).and_then(|c| c.check()) {
                panic!("the end state ({forms:?}): {why}");
            }
        }
    }
    eprintln!("{total:?} in {:.2}s", elapsed.as_secs_f64());
    assert!(
        total.moves > 0
            && total.list_pops > 0
            && total.zset_pops > 0
            && total.renames > 0
            && total.copies > 0,
        "every kind of transaction ran: {total:?}"
    );
}

// ---------------------------------------------------------------------------
// The redis crate's transactions on both servers.

/// Runs `f` with a connection to RedRock and its URL, then with one to
/// redis-server, and returns both results as text.
fn on_both<T: std::fmt::Debug>(f: impl Fn(&mut redis::Connection, &str) -> T) -> (String, String) {
    let redrock = Server::start();
    let redis_server = RedisServer::start();
    let redis_url = format!("redis://127.0.0.1:{}/", redis_server.port);
    let connect = |url: &str| redis::Client::open(url).unwrap().get_connection().unwrap();
    let ours = f(&mut connect(&redrock.url()), &redrock.url());
    let theirs = f(&mut connect(&redis_url), &redis_url);
    (format!("{ours:?}"), format!("{theirs:?}"))
}

/// A failed query as (kind, code, detail), the parts a client sees.
fn failure<T: std::fmt::Debug>(r: redis::RedisResult<T>) -> String {
    match r {
        Ok(v) => format!("Ok({v:?})"),
        Err(e) => format!("Err({:?}, {:?}, {:?})", e.kind(), e.code(), e.detail()),
    }
}

#[test]
fn crate_atomic_pipelines_match_redis() {
    let (ours, theirs) = on_both(|con, url| {
        let mut out = Vec::new();
        let r: redis::RedisResult<(String, i64, i64, Vec<String>)> = redis::pipe()
            .atomic()
            .cmd("SET")
            .arg("a")
            .arg("1")
            .cmd("INCR")
            .arg("a")
            .cmd("RPUSH")
            .arg("l")
            .arg("x")
            .arg("y")
            .cmd("LRANGE")
            .arg("l")
            .arg(0)
            .arg(-1)
            .query(con);
        out.push(failure(r));
        // A run-time error inside: by default the query fails; with
        // ignore_errors each command has its own result.
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("SET")
            .arg("s")
            .arg("text")
            .cmd("INCR")
            .arg("s")
            .cmd("HSET")
            .arg("s")
            .arg("f")
            .arg("v")
            .cmd("GET")
            .arg("s");
        out.push(failure(pipe.query::<redis::Value>(con)));
        let r: redis::RedisResult<Vec<redis::RedisResult<redis::Value>>> =
            pipe.ignore_errors().query(con);
        out.push(failure(r));
        // A queue-time error: EXECABORT, nothing ran.
        let r = redis::pipe()
            .atomic()
            .cmd("SET")
            .arg("q")
            .arg("1")
            .cmd("NOSUCHCMD")
            .query::<redis::Value>(con);
        out.push(failure(r));
        out.push(failure(
            redis::cmd("GET").arg("q").query::<Option<String>>(con),
        ));
        // redis::transaction: another connection writes the watched key
        // during the first attempt, so it runs twice.
        let mut other = redis::Client::open(url).unwrap().get_connection().unwrap();
        let () = redis::cmd("SET").arg("w").arg(10).query(con).unwrap();
        let mut attempts = 0;
        let r: redis::RedisResult<(i64,)> = redis::transaction(con, &["w"], |con, pipe| {
            attempts += 1;
            let current: i64 = redis::cmd("GET").arg("w").query(con)?;
            if attempts == 1 {
                let () = redis::cmd("INCR")
                    .arg("w")
                    .query(&mut other)
                    .map(|_: i64| ())?;
            }
            pipe.cmd("SET")
                .arg("w")
                .arg(current * 2)
                .ignore()
                .cmd("GET")
                .arg("w")
                .query(con)
        });
        out.push(format!("{} attempts: {}", attempts, failure(r)));
        // An empty atomic pipeline.
        out.push(failure(redis::pipe().atomic().query::<redis::Value>(con)));
        out
    });
    assert_eq!(ours, theirs);
    eprintln!("{theirs}");
}

// ---------------------------------------------------------------------------
// kill -9 while transactions run: each is all-or-nothing after restart.

/// Writers' transactions per group: its own five keys of five types, and
/// five string keys every writer shares.
const CRASH_WRITERS: usize = 4;
const CRASH_ROUNDS: usize = 3;

/// One transaction of writer `w`, sequence `seq`, in round `round`: every
/// key of the writer's group gets `seq`, and every shared key `w:seq`.
fn group_transaction(round: usize, w: usize, seq: u64) -> Vec<Vec<String>> {
    let g = format!("r{round}:w{w}");
    let s = seq.to_string();
    let token = format!("{w}:{seq}");
    let v = |items: &[&str]| items.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let mut cmds = vec![
        v(&["MULTI"]),
        v(&["SET", &format!("{g}:a"), &s]),
        v(&["HSET", &format!("{g}:h"), "f", &s]),
        v(&["ZADD", &format!("{g}:z"), &s, "m"]),
        v(&["RPUSH", &format!("{g}:l"), &s]),
        v(&["SET", &format!("{g}:b"), &s]),
    ];
    for i in 0..5 {
        cmds.push(v(&["SET", &format!("r{round}:shared:{i}"), &token]));
    }
    cmds.push(v(&["EXEC"]));
    cmds
}

/// Sends transactions until the server dies; returns the last sequence
/// sent and the last one whose EXEC reply arrived whole.
fn crash_writer(port: u16, round: usize, w: usize, progress: &AtomicU64) -> (u64, u64) {
    use std::io::{BufRead, BufReader, Write};
    let (mut sent, mut acked) = (0, 0);
    let Ok(stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return (sent, acked);
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    loop {
        let cmds = group_transaction(round, w, sent + 1);
        let bytes: Vec<u8> = cmds.iter().flat_map(|c| RawClient::encode(c)).collect();
        if writer.write_all(&bytes).is_err() {
            return (sent, acked);
        }
        sent += 1;
        // +OK, one +QUEUED per command, then *n and n one-line replies.
        let queued = cmds.len() - 2;
        let mut lines = Vec::new();
        for _ in 0..1 + queued + 1 + queued {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(n) if n > 0 && line.ends_with("\r\n") => lines.push(line),
                _ => return (sent, acked),
            }
        }
        assert_eq!(lines[0], "+OK\r\n");
        assert!(
            lines[1..=queued].iter().all(|l| l == "+QUEUED\r\n"),
            "{lines:?}"
        );
        assert_eq!(lines[queued + 1], format!("*{queued}\r\n"), "{lines:?}");
        assert!(
            lines[queued + 2..]
                .iter()
                .all(|l| l.starts_with('+') || l.starts_with(':')),
            "EXEC elements: {lines:?}"
        );
        acked = sent;
        progress.fetch_add(1, Ordering::Relaxed);
    }
}

#[test]
fn transactions_are_all_or_nothing_after_kill_9() {
    let settings: [&[&str]; 3] = [
        &[],
        &["--rocksdb.write_buffer_size", "1"],
        &["--rocksdb.write_options.sync", "yes"],
    ];
    let dir = tempfile::tempdir().expect("temp dir");
    let mut rng = StdRng::seed_from_u64(11);
    for round in 0..CRASH_ROUNDS {
        let extra = settings[round % settings.len()];
        let mut server = Server::start_in(dir.path(), extra);
        let progress = Arc::new(AtomicU64::new(0));
        let port = server.port;
        let handles: Vec<_> = (0..CRASH_WRITERS)
            .map(|w| {
                let progress = progress.clone();
                std::thread::spawn(move || crash_writer(port, round, w, &progress))
            })
            .collect();
        let wanted = rng.random_range(50..1500);
        let deadline = Instant::now() + Duration::from_secs(20);
        while progress.load(Ordering::Relaxed) < wanted && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(
            progress.load(Ordering::Relaxed) >= wanted,
            "round {round}: the writers made no progress"
        );
        std::thread::sleep(Duration::from_millis(rng.random_range(0..50)));
        server.kill9();
        let results: Vec<(u64, u64)> = handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect();

        let server = Server::start_in(dir.path(), extra);
        let mut con = server.client();
        let mut survived = 0;
        for (w, &(sent, acked)) in results.iter().enumerate() {
            let g = format!("r{round}:w{w}");
            let a: Option<u64> = redis::cmd("GET")
                .arg(format!("{g}:a"))
                .query(&mut con)
                .unwrap();
            let b: Option<u64> = redis::cmd("GET")
                .arg(format!("{g}:b"))
                .query(&mut con)
                .unwrap();
            let h: Option<u64> = redis::cmd("HGET")
                .arg(format!("{g}:h"))
                .arg("f")
                .query(&mut con)
                .unwrap();
            let z: Option<f64> = redis::cmd("ZSCORE")
                .arg(format!("{g}:z"))
                .arg("m")
                .query(&mut con)
                .unwrap();
            let l: Vec<u64> = redis::cmd("LRANGE")
                .arg(format!("{g}:l"))
                .arg(0)
                .arg(-1)
                .query(&mut con)
                .unwrap();
            let seq = a.unwrap_or(0);
            let whole =
                b == a && h == a && z.map(|s| s as u64) == a && l == (1..=seq).collect::<Vec<_>>();
            assert!(
                whole,
                "round {round} writer {w}: a transaction survived in part: \
                 a={a:?} b={b:?} h={h:?} z={z:?} list={:?}..{:?} ({} elements)",
                l.first(),
                l.last(),
                l.len()
            );
            assert!(
                seq >= acked && seq <= sent,
                "round {round} writer {w}: found transaction {seq}, acknowledged {acked}, sent {sent}"
            );
            survived += seq;
        }
        let shared: Vec<Option<String>> = redis::cmd("MGET")
            .arg(
                (0..5)
                    .map(|i| format!("r{round}:shared:{i}"))
                    .collect::<Vec<_>>(),
            )
            .query(&mut con)
            .unwrap();
        assert!(
            shared.iter().all(|s| *s == shared[0]),
            "round {round}: the shared keys mix transactions: {shared:?}"
        );
        eprintln!(
            "round {round}: killed after {} acknowledged transactions; {survived} survived whole",
            progress.load(Ordering::Relaxed)
        );
    }
}

// ---------------------------------------------------------------------------
// redis-py: tests/clients/transactions.py on both servers.

#[test]
fn redis_py_transactions_match_redis() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/transactions.py");
    let run = |port: u16| -> String {
        let output = std::process::Command::new("python3")
            .arg(script)
            .arg(port.to_string())
            .output()
            .expect("python3 with redis-py (deploy/install-deps.sh --test)");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "transactions.py on port {port} failed ({}):\n{stdout}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        eprint!("{}", String::from_utf8_lossy(&output.stderr));
        stdout
    };
    let redis = RedisServer::start();
    let redrock = Server::start();
    let theirs = run(redis.port);
    let ours = run(redrock.port);
    for (a, b) in ours.lines().zip(theirs.lines()) {
        assert_eq!(
            a, b,
            "redis-py saw different results (left RedRock, right redis-server)"
        );
    }
    assert_eq!(ours.lines().count(), theirs.lines().count());
}
