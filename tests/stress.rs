//! Many connections read and write shared keys at once; every reply is
//! checked against invariants that hold in every state the writers can
//! leave behind, so a reply that mixes two states (a torn read), loses an
//! update or duplicates one fails the test.

mod common;
use common::*;
use redis::Value;
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

/// Connections working at once.
const CLIENTS: usize = 24;
/// Operations per connection.
const ROUNDS: usize = 2000;
const STRING_KEYS: usize = 10;
const HASH_FIELDS: usize = 8;
/// Members moved between the two sets; always in exactly one of them.
const SET_MEMBERS: usize = 100;

fn cmd(args: &[&str]) -> redis::Cmd {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd
}

fn query<T: redis::FromRedisValue>(con: &mut redis::Connection, args: &[&str]) -> T {
    cmd(args)
        .query(con)
        .unwrap_or_else(|e| panic!("{args:?} failed: {e}"))
}

fn string_keys() -> Vec<String> {
    (1..=STRING_KEYS).map(|i| format!("k{i}")).collect()
}

fn text(v: &Value) -> String {
    match v {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        other => format!("{other:?}"),
    }
}

/// What one connection saw: broken invariants, and the list elements it
/// pushed and popped.
#[derive(Default)]
struct Seen {
    /// How many replies broke each invariant, by command.
    broken: HashMap<&'static str, usize>,
    /// The first few broken invariants, described.
    violations: Vec<String>,
    pushed: Vec<String>,
    popped: Vec<String>,
}

impl Seen {
    fn check(&mut self, ok: bool, command: &'static str, what: impl FnOnce() -> String) {
        if ok {
            return;
        }
        *self.broken.entry(command).or_default() += 1;
        if self.violations.len() < 10 {
            self.violations.push(what());
        }
    }
}

fn setup(con: &mut redis::Connection) {
    let mut mset = vec!["MSET".to_string()];
    for key in string_keys() {
        mset.extend([key, "init".into()]);
    }
    let mset: Vec<&str> = mset.iter().map(String::as_str).collect();
    let _: () = query(con, &mset);
    let mut hset = vec!["HSET".to_string(), "h".into()];
    for f in 1..=HASH_FIELDS {
        hset.extend([format!("f{f}"), "init".into()]);
    }
    let hset: Vec<&str> = hset.iter().map(String::as_str).collect();
    let _: () = query(con, &hset);
    let _: () = query(con, &["ZADD", "z", "0", "c", "1", "a", "1", "b"]);
    let members: Vec<String> = (0..SET_MEMBERS).map(|m| format!("m{m}")).collect();
    let mut sadd = vec!["SADD", "s1"];
    sadd.extend(members.iter().map(String::as_str));
    let _: () = query(con, &sadd);
    let _: () = query(con, &["RPUSH", "guard", "seed"]);
    let _: () = query(con, &["RPUSH", "p1", "moving"]);
}

/// One connection's share of the work: a mix of every operation, in an
/// order that differs between connections.
fn work(con: &mut redis::Connection, client: usize) -> Seen {
    let mut seen = Seen::default();
    let keys = string_keys();
    for round in 0..ROUNDS {
        let tag = format!("{client}-{round}");
        match (client + round) % 10 {
            0 => {
                let mut args = vec!["MSET"];
                for key in &keys {
                    args.extend([key.as_str(), tag.as_str()]);
                }
                let _: () = query(con, &args);
            }
            1 => {
                let mut args = vec!["MGET"];
                args.extend(keys.iter().map(String::as_str));
                let values: Vec<Option<String>> = query(con, &args);
                let distinct: HashSet<_> = values.iter().collect();
                seen.check(distinct.len() == 1 && values[0].is_some(), "MGET", || {
                    format!("MGET saw a half-applied MSET: {values:?}")
                });
            }
            2 => {
                let mut args = vec!["HSET".to_string(), "h".into()];
                for f in 1..=HASH_FIELDS {
                    args.extend([format!("f{f}"), tag.clone()]);
                }
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                let _: () = query(con, &args);
            }
            3 => {
                let fields: HashMap<String, String> = query(con, &["HGETALL", "h"]);
                let values: HashSet<_> = fields.values().collect();
                seen.check(
                    fields.len() == HASH_FIELDS && values.len() == 1,
                    "HGETALL",
                    || format!("HGETALL saw a half-applied HSET: {fields:?}"),
                );
                let values: Vec<Option<String>> =
                    query(con, &["HMGET", "h", "f1", "f2", "f3", "f4"]);
                let distinct: HashSet<_> = values.iter().collect();
                seen.check(distinct.len() == 1, "HMGET", || {
                    format!("HMGET saw a half-applied HSET: {values:?}")
                });
            }
            4 => {
                // Both members move to one new score; `c` stays lowest.
                let score = (1 + client * ROUNDS + round).to_string();
                let _: () = query(con, &["ZADD", "z", &score, "a", &score, "b"]);
            }
            5 => {
                let flat: Vec<Value> = query(con, &["ZRANGE", "z", "0", "-1", "WITHSCORES"]);
                let pairs: Vec<(String, String)> =
                    flat.chunks(2).map(|p| (text(&p[0]), text(&p[1]))).collect();
                seen.check(
                    pairs.len() == 3
                        && pairs[0] == ("c".into(), "0".into())
                        && pairs[1].1 == pairs[2].1,
                    "ZRANGE",
                    || format!("ZRANGE saw a half-applied ZADD: {pairs:?}"),
                );
                // Ties go by member, so in reverse order: b, a, c.
                let rank: i64 = query(con, &["ZREVRANK", "z", "a"]);
                seen.check(rank == 1, "ZREVRANK", || {
                    format!("ZREVRANK z a was {rank}, not 1")
                });
            }
            6 => {
                let list = if round % 2 == 0 { "q1" } else { "q2" };
                let _: () = query(con, &["LPUSH", list, &tag]);
                seen.pushed.push(tag.clone());
                // Each client pushes to the guard list before it pops from
                // it, so the list is never empty.
                let _: () = query(con, &["LPUSH", "guard", &tag]);
                let _: () = query(con, &["RPOP", "guard"]);
            }
            7 => {
                if round % 3 == 0 {
                    let popped: Option<(String, Vec<String>)> =
                        query(con, &["LMPOP", "2", "q1", "q2", "RIGHT", "COUNT", "2"]);
                    if let Some((_, elements)) = popped {
                        seen.popped.extend(elements);
                    }
                } else if round % 3 == 1 {
                    let popped: Option<(String, String)> =
                        query(con, &["BRPOP", "q1", "q2", "0.05"]);
                    seen.popped.extend(popped.map(|(_, element)| element));
                } else {
                    let popped: Option<String> = query(con, &["RPOP", "q1"]);
                    seen.popped.extend(popped);
                }
                let guard: Vec<String> = query(con, &["LRANGE", "guard", "0", "-1"]);
                seen.check(!guard.is_empty(), "LRANGE", || {
                    "LRANGE of a list never empty gave nothing".into()
                });
                let window: Vec<String> = query(con, &["LRANGE", "q1", "0", "-1"]);
                let distinct: HashSet<_> = window.iter().collect();
                seen.check(distinct.len() == window.len(), "LRANGE", || {
                    format!("LRANGE returned an element twice: {window:?}")
                });
            }
            8 => {
                let member = format!("m{}", round % SET_MEMBERS);
                let forward = client.is_multiple_of(2);
                let (from, to) = if forward { ("s1", "s2") } else { ("s2", "s1") };
                let _: () = query(con, &["SMOVE", from, to, &member]);
                // One element moves between two lists, so one always has it
                // (but while the popper below holds it).
                let (from, to) = if forward { ("p1", "p2") } else { ("p2", "p1") };
                let _: () = query(con, &["LMOVE", from, to, "LEFT", "RIGHT"]);
            }
            _ => {
                if client == 0 {
                    // The only popper of the moving element.
                    let popped: Option<(String, Vec<String>)> =
                        query(con, &["LMPOP", "2", "p1", "p2", "LEFT"]);
                    seen.check(popped.is_some(), "LMPOP", || {
                        "LMPOP found neither list holding the moving element".into()
                    });
                    if let Some((list, elements)) = popped {
                        let _: () = query(con, &["RPUSH", &list, &elements[0]]);
                    }
                }
                let inter: Vec<String> = query(con, &["SINTER", "s1", "s2"]);
                seen.check(inter.is_empty(), "SINTER", || {
                    format!("SINTER of disjoint sets gave {inter:?}")
                });
                let union: Vec<String> = query(con, &["SUNION", "s1", "s2"]);
                seen.check(union.len() == SET_MEMBERS, "SUNION", || {
                    format!("SUNION gave {} members, not {SET_MEMBERS}", union.len())
                });
            }
        }
    }
    seen
}

#[test]
fn concurrent_clients_never_see_torn_or_lost_writes() {
    let server = Server::start();
    setup(&mut server.client());
    let results = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for client in 0..CLIENTS {
            let server = &server;
            let results = &results;
            scope.spawn(move || {
                let seen = work(&mut server.client(), client);
                results.lock().unwrap().push(seen);
            });
        }
    });
    let results = results.into_inner().unwrap();
    let mut broken: HashMap<&str, usize> = HashMap::new();
    for (command, count) in results.iter().flat_map(|s| &s.broken) {
        *broken.entry(command).or_default() += count;
    }
    let violations: Vec<&String> = results.iter().flat_map(|s| &s.violations).collect();
    assert!(
        broken.is_empty(),
        "replies that broke an invariant, by command: {broken:?}; for example:\n{}",
        violations
            .iter()
            .take(10)
            .map(|v| v.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );

    // Every element pushed was popped exactly once, counting what is left.
    let mut con = server.client();
    let mut popped: Vec<String> = results.iter().flat_map(|s| s.popped.clone()).collect();
    for list in ["q1", "q2"] {
        let rest: Vec<String> = query(&mut con, &["LRANGE", list, "0", "-1"]);
        popped.extend(rest);
    }
    let mut pushed: Vec<String> = results.iter().flat_map(|s| s.pushed.clone()).collect();
    popped.sort();
    pushed.sort();
    assert_eq!(popped.len(), pushed.len(), "elements lost or duplicated");
    assert!(popped == pushed, "the elements popped are not those pushed");
}

/// Pipelines of writes to a few hot keys (several commands of one
/// pipeline write the same key, so later ones read the pipeline's writes
/// before they are written) from many connections at once.
mod pipelines {
    use super::*;

    const CLIENTS: usize = 16;
    const PIPELINES: usize = 150;
    const COMMANDS: usize = 24;
    const COUNTERS: usize = 3;
    const FIELDS: usize = 4;

    /// One command of a pipeline, and what its reply must satisfy.
    enum Step {
        Incr(usize),
        Push(usize, String),
        HashIncr(usize),
        ZsetIncr(usize),
        Add(String),
        /// A read after this connection's own writes of the key: at
        /// least what its last write of it answered.
        GetCounter(usize),
        ListLength(usize),
        HashGet(usize),
    }

    fn args(step: &Step) -> Vec<String> {
        let s = |v: &[&str]| v.iter().map(|a| a.to_string()).collect();
        match step {
            Step::Incr(k) => s(&["INCR", &format!("counter{k}")]),
            Step::Push(l, id) => s(&["RPUSH", &format!("list{l}"), id]),
            Step::HashIncr(f) => s(&["HINCRBY", "hash", &format!("f{f}"), "1"]),
            Step::ZsetIncr(m) => s(&["ZINCRBY", "zset", "1", &format!("m{m}")]),
            Step::Add(id) => s(&["SADD", "set", id]),
            Step::GetCounter(k) => s(&["GET", &format!("counter{k}")]),
            Step::ListLength(l) => s(&["LLEN", &format!("list{l}")]),
            Step::HashGet(f) => s(&["HGET", "hash", &format!("f{f}")]),
        }
    }

    fn number(v: &Value) -> i64 {
        match v {
            Value::Int(n) => *n,
            Value::BulkString(b) => std::str::from_utf8(b).unwrap().parse().unwrap(),
            other => panic!("not a number: {other:?}"),
        }
    }

    /// What one connection saw: every reply of the writes, by key.
    #[derive(Default)]
    struct Replies {
        by_key: HashMap<String, Vec<i64>>,
        violations: Vec<String>,
        pushed: Vec<(usize, String)>,
        added: usize,
    }

    fn work(con: &mut redis::Connection, client: usize) -> Replies {
        let mut seen = Replies::default();
        let mut random = 0x9e37_79b9_7f4a_7c15u64 ^ (client as u64 + 1);
        let mut next = |n: usize| {
            random ^= random << 13;
            random ^= random >> 7;
            random ^= random << 17;
            (random % n as u64) as usize
        };
        for round in 0..PIPELINES {
            let steps: Vec<Step> = (0..COMMANDS)
                .map(|i| {
                    let id = format!("{client}:{round}:{i}");
                    match next(8) {
                        0 => Step::Incr(next(COUNTERS)),
                        1 => Step::Push(next(2), id),
                        2 => Step::HashIncr(next(FIELDS)),
                        3 => Step::ZsetIncr(next(FIELDS)),
                        4 => Step::Add(id),
                        5 => Step::GetCounter(next(COUNTERS)),
                        6 => Step::ListLength(next(2)),
                        _ => Step::HashGet(next(FIELDS)),
                    }
                })
                .collect();
            let mut pipe = redis::pipe();
            for step in &steps {
                pipe.add_command(cmd(&args(step)
                    .iter()
                    .map(String::as_str)
                    .collect::<Vec<_>>()));
            }
            let replies: Vec<Value> = pipe.query(con).expect("pipeline");
            // The last value this connection's own writes gave each key.
            let mut own: HashMap<String, i64> = HashMap::new();
            for (step, reply) in steps.iter().zip(&replies) {
                let key = args(step)[1..].join(" ");
                let key = match step {
                    Step::Push(..) | Step::ListLength(_) => args(step)[1].clone(),
                    Step::GetCounter(k) => format!("counter{k}"),
                    Step::HashGet(f) => format!("hash f{f}"),
                    Step::HashIncr(f) => format!("hash f{f}"),
                    Step::ZsetIncr(m) => format!("zset m{m}"),
                    _ => key,
                };
                match step {
                    Step::Incr(_) | Step::Push(..) | Step::HashIncr(_) | Step::ZsetIncr(_) => {
                        let value = number(reply);
                        if let Step::Push(l, id) = step {
                            seen.pushed.push((*l, id.clone()));
                        }
                        own.insert(key.clone(), value);
                        seen.by_key.entry(key).or_default().push(value);
                    }
                    Step::Add(_) => {
                        seen.added += 1;
                        if number(reply) != 1 {
                            seen.violations
                                .push(format!("SADD of a new member: {reply:?}"));
                        }
                    }
                    Step::GetCounter(_) | Step::ListLength(_) | Step::HashGet(_) => {
                        let value = match reply {
                            Value::Nil => 0,
                            other => number(other),
                        };
                        if let Some(&written) = own.get(&key) {
                            if value < written {
                                seen.violations.push(format!(
                                    "{key} read {value} after this pipeline wrote {written}"
                                ));
                            }
                        }
                    }
                }
            }
        }
        seen
    }

    /// Every write's reply is one step of its key's count: together they
    /// are 1..=n exactly (nothing lost, nothing counted twice), each
    /// connection reads its pipeline's own writes, and the keys hold what
    /// the replies say.
    #[test]
    fn pipelined_writes_to_hot_keys_are_neither_lost_nor_doubled() {
        let server = Server::start();
        let results = Mutex::new(Vec::new());
        std::thread::scope(|scope| {
            for client in 0..CLIENTS {
                let (server, results) = (&server, &results);
                scope.spawn(move || {
                    let mut con = server.client();
                    // A server that stops answering fails the test.
                    con.set_read_timeout(Some(std::time::Duration::from_secs(60)))
                        .unwrap();
                    let seen = work(&mut con, client);
                    results.lock().unwrap().push(seen);
                });
            }
        });
        let results = results.into_inner().unwrap();
        let violations: Vec<&String> = results.iter().flat_map(|r| &r.violations).collect();
        assert!(
            violations.is_empty(),
            "{} violations: {:?}",
            violations.len(),
            &violations[..violations.len().min(10)]
        );
        let mut by_key: HashMap<&String, Vec<i64>> = HashMap::new();
        for (key, values) in results.iter().flat_map(|r| &r.by_key) {
            by_key.entry(key).or_default().extend(values);
        }
        let mut con = server.client();
        for (key, mut values) in by_key {
            values.sort_unstable();
            let n = values.len() as i64;
            assert_eq!(values, (1..=n).collect::<Vec<_>>(), "the replies of {key}");
            let parts: Vec<&str> = key.split(' ').collect();
            let stored: i64 = match parts[..] {
                [k] if k.starts_with("list") => query(&mut con, &["LLEN", k]),
                [k] => query(&mut con, &["GET", k]),
                ["hash", f] => query(&mut con, &["HGET", "hash", f]),
                ["zset", m] => query(&mut con, &["ZSCORE", "zset", m]),
                _ => unreachable!(),
            };
            assert_eq!(stored, n, "{key} holds what its last write answered");
        }
        for list in 0..2 {
            let stored: Vec<String> =
                query(&mut con, &["LRANGE", &format!("list{list}"), "0", "-1"]);
            let mut stored_sorted = stored.clone();
            stored_sorted.sort();
            let mut pushed: Vec<String> = results
                .iter()
                .flat_map(|r| &r.pushed)
                .filter(|(l, _)| *l == list)
                .map(|(_, id)| id.clone())
                .collect();
            pushed.sort();
            assert_eq!(
                stored_sorted, pushed,
                "list{list} holds each pushed id once"
            );
        }
        let members: usize = query(&mut con, &["SCARD", "set"]);
        let added: usize = results.iter().map(|r| r.added).sum();
        assert_eq!(members, added, "one member per SADD");
    }
}

/// Pipelined GETs are read in one batch when the first of them runs.
/// While writers increment counters, every GET still answers at least the
/// value acknowledged to a writer before its pipeline was sent, and what
/// one reader sees of a counter never goes back.
#[test]
fn pipelined_gets_read_in_one_batch_see_every_acknowledged_write() {
    use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
    const COUNTERS: usize = 4;
    const READERS: usize = 6;
    const WRITERS: usize = 3;
    const PIPELINES: usize = 150;
    const GETS: usize = 32;
    let server = Server::start();
    let acked: Vec<AtomicI64> = (0..COUNTERS).map(|_| AtomicI64::new(0)).collect();
    let done = AtomicBool::new(false);
    let violations = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for writer in 0..WRITERS {
            let (server, acked, done) = (&server, &acked, &done);
            scope.spawn(move || {
                let mut con = server.client();
                let mut k = writer;
                while !done.load(Ordering::Acquire) {
                    k = (k + 1) % COUNTERS;
                    let value: i64 = query(&mut con, &["INCR", &format!("counter{k}")]);
                    acked[k].fetch_max(value, Ordering::AcqRel);
                }
            });
        }
        let readers: Vec<_> = (0..READERS)
            .map(|reader| {
                let (server, acked, violations) = (&server, &acked, &violations);
                scope.spawn(move || {
                    let mut con = server.client();
                    let mut last = [0i64; COUNTERS];
                    for round in 0..PIPELINES {
                        let floors: Vec<i64> =
                            acked.iter().map(|a| a.load(Ordering::Acquire)).collect();
                        let keys: Vec<usize> = (0..GETS)
                            .map(|i| (reader + round + i * 7) % COUNTERS)
                            .collect();
                        let mut pipe = redis::pipe();
                        for k in &keys {
                            pipe.cmd("GET").arg(format!("counter{k}"));
                        }
                        let values: Vec<Option<i64>> = pipe.query(&mut con).expect("pipeline");
                        for (k, value) in keys.iter().zip(values) {
                            let value = value.unwrap_or(0);
                            if value < floors[*k] || value < last[*k] {
                                violations.lock().unwrap().push(format!(
                                    "counter{k}: read {value}, acknowledged before {}, \
                                     read before {}",
                                    floors[*k], last[*k]
                                ));
                            }
                            last[*k] = value;
                        }
                    }
                })
            })
            .collect();
        for reader in readers {
            reader.join().unwrap();
        }
        done.store(true, Ordering::Release);
    });
    let violations = violations.into_inner().unwrap();
    assert!(violations.is_empty(), "{violations:#?}");
    let mut con = server.client();
    for (k, acked) in acked.iter().enumerate() {
        let value: i64 = query(&mut con, &["GET", &format!("counter{k}")]);
        assert_eq!(value, acked.load(std::sync::atomic::Ordering::Acquire));
    }
}
