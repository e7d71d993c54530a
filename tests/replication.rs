//! Replication with real processes: masters, replicas, restarts, kills.
//!
//! Each scenario is written once over the kind of node and runs on RedRock
//! (`redrock::`) and on redis-server (`oracle::`): passing on Redis shows
//! that what the scenario expects is what Redis does, and the dump
//! comparison's self-test shows that its checks can fail. Data is compared
//! key by key (type, whole value, PEXPIRETIME) and by INFO keyspace's
//! count, once every replica's offset equals its master's.
//!
//! The two kinds differ only in how a master is told to keep a short
//! history: RedRock's partial resyncs read the RocksDB WAL, which
//! `rocksdb.wal_ttl_seconds 0` and `rocksdb.wal_size_limit_mb 0` let go
//! at the next flush (BGSAVE flushes); Redis's read its backlog, which
//! `repl-backlog-size 16kb` keeps tiny.

mod common;

use common::replication::{
    assert_replicas_equal, connect, differences, dump, freeze, info_field, info_number,
    keyspace_keys, scan_keys, thaw, wait_caught_up, wait_until, Dump,
};
use common::{show, RawClient, RedisServer, Server};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeSet;
use std::process::Child;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

// ---------------------------------------------------------------------------
// Nodes of either kind.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    RedRock,
    Redis,
}

/// How far back a master's replication history reaches.
#[derive(Clone, Copy)]
enum History {
    /// Far enough for every partial resync these tests make.
    Long,
    /// Only what the next flush (RedRock) or 16 KB of writes (Redis)
    /// leaves: a replica down meanwhile must sync in full.
    Short,
}

/// How a node is stopped.
#[derive(Clone, Copy, Debug)]
enum Stop {
    Term,
    Kill,
}

enum Process {
    RedRock(Server),
    Redis(RedisServer),
}

/// A server of either kind, started with its arguments (kept for
/// restarts).
struct Node {
    kind: Kind,
    process: Process,
    args: Vec<String>,
}

impl Node {
    fn master(kind: Kind, history: History) -> Node {
        let args: &[&str] = match (kind, history) {
            (Kind::RedRock, History::Long) => &[],
            (Kind::RedRock, History::Short) => &[
                "--rocksdb.wal_ttl_seconds",
                "0",
                "--rocksdb.wal_size_limit_mb",
                "0",
            ],
            (Kind::Redis, History::Long) => &["--repl-backlog-size", "256mb"],
            (Kind::Redis, History::Short) => &["--repl-backlog-size", "16kb"],
        };
        Node::start(kind, args)
    }

    fn replica_of(master: &Node) -> Node {
        let address = format!("127.0.0.1 {}", master.port());
        Node::start(master.kind, &["--replicaof", &address])
    }

    fn standalone(kind: Kind) -> Node {
        Node::start(kind, &[])
    }

    fn start(kind: Kind, args: &[&str]) -> Node {
        let mut args: Vec<&str> = args.to_vec();
        let process = match kind {
            Kind::RedRock => Process::RedRock(Server::start_with(&args)),
            Kind::Redis => {
                // A full sync starts at once, not after 5 s of waiting for
                // more replicas to share it.
                args.extend(["--repl-diskless-sync-delay", "0"]);
                Process::Redis(RedisServer::start_with(&args))
            }
        };
        Node {
            kind,
            process,
            args: args.iter().map(|a| a.to_string()).collect(),
        }
    }

    fn port(&self) -> u16 {
        match &self.process {
            Process::RedRock(s) => s.port,
            Process::Redis(s) => s.port,
        }
    }

    fn child(&self) -> &Child {
        match &self.process {
            Process::RedRock(s) => &s.child,
            Process::Redis(s) => &s.child,
        }
    }

    fn raw(&self) -> RawClient {
        RawClient::connect(self.port())
    }

    /// Runs a command; its reply's bytes.
    fn command(&self, args: &[&str]) -> Vec<u8> {
        self.raw().command(args)
    }

    fn stop(&mut self, how: Stop) {
        match (&mut self.process, how) {
            (Process::RedRock(s), Stop::Term) => {
                s.terminate();
            }
            (Process::RedRock(s), Stop::Kill) => s.kill9(),
            (Process::Redis(s), Stop::Term) => {
                s.terminate();
            }
            (Process::Redis(s), Stop::Kill) => s.kill9(),
        }
    }

    /// Starts a stopped node again on its port and data, with its
    /// arguments.
    fn start_again(&mut self) {
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        match &mut self.process {
            Process::RedRock(s) => s.restart(&args),
            Process::Redis(s) => s.restart(),
        }
    }

    /// Makes a master let go of the history written so far (a master
    /// started with [`History::Short`]): RedRock flushes its memtables
    /// with a BGSAVE, and the WAL files behind them are deleted; Redis's
    /// 16 KB backlog is long gone after the writes the scenario made.
    fn forget_history(&self) {
        if self.kind == Kind::Redis {
            return;
        }
        let saves = info_number(self.port(), "persistence", "rdb_saves");
        assert_eq!(
            show(&self.command(&["BGSAVE"])),
            "+Background saving started\\r\\n"
        );
        wait_until("BGSAVE done", Duration::from_secs(60), || {
            info_number(self.port(), "persistence", "rdb_saves") > saves
                && info_number(self.port(), "persistence", "rdb_bgsave_in_progress") == 0
        });
    }

    fn link_up(&self) -> bool {
        info_field(self.port(), "replication", "master_link_status").as_deref() == Some("up")
    }
}

fn stat(node: &Node, field: &str) -> u64 {
    info_number(node.port(), "stats", field)
}

// ---------------------------------------------------------------------------
// The write load: mixed writes of every type from several connections.

/// Keys of each type one writer uses.
const KEYS_PER_TYPE: u32 = 150;
/// Keys of each type that live a few hundred milliseconds.
const SHORT_LIVED_KEYS: u32 = 30;
/// Commands per pipeline.
const PIPELINE: usize = 50;
/// The key types of the load: strings (SET/APPEND), counters (INCR...),
/// hashes, sets, sorted sets, lists.
const TYPES: [&str; 6] = ["str", "counter", "hash", "set", "zset", "list"];

/// One connection's writes, on its own keys (so every write succeeds:
/// INCR only meets counters, RENAME only keys it just wrote), seeded.
/// Long-lived keys get expiry times of an hour or more, short-lived ones
/// under 300 ms after each write, so they are all gone soon after the load.
struct Workload {
    prefix: String,
    rng: StdRng,
}

impl Workload {
    fn new(writer: usize, seed: u64) -> Workload {
        Workload {
            prefix: format!("w{writer}"),
            rng: StdRng::seed_from_u64(seed),
        }
    }

    fn key(&mut self, kind: &str) -> String {
        let n = self.rng.random_range(0..KEYS_PER_TYPE);
        format!("{}:{kind}:{n}", self.prefix)
    }

    fn any_key(&mut self) -> String {
        let kind = TYPES[self.rng.random_range(0..TYPES.len())];
        self.key(kind)
    }

    fn value(&mut self) -> String {
        let len = self.rng.random_range(1..48);
        (0..len)
            .map(|_| self.rng.random_range(b'a'..=b'z') as char)
            .collect()
    }

    fn member(&mut self) -> String {
        format!("m{}", self.rng.random_range(0..40))
    }

    fn field(&mut self) -> String {
        format!("f{}", self.rng.random_range(0..20))
    }

    /// A score with halves, so sorted sets see non-integer scores.
    fn score(&mut self) -> String {
        (self.rng.random_range(-2000..2000) as f64 / 2.0).to_string()
    }

    /// Adds one write to `pipe` (two when a key must exist first);
    /// returns how many commands it added.
    fn add(&mut self, pipe: &mut redis::Pipeline) -> usize {
        let roll = self.rng.random_range(0..100);
        match roll {
            0..=7 => {
                let (key, value) = (self.key("str"), self.value());
                let cmd = pipe.cmd("SET").arg(key).arg(value);
                match self.rng.random_range(0..10) {
                    0 | 1 => cmd.arg("EX").arg(self.rng.random_range(3600..7200)),
                    2 => cmd.arg("KEEPTTL"),
                    _ => cmd,
                };
            }
            8..=12 => {
                let (key, value) = (self.key("str"), self.value());
                pipe.cmd("APPEND").arg(key).arg(value);
            }
            13..=20 => {
                let key = self.key("counter");
                match self.rng.random_range(0..3) {
                    0 => pipe.cmd("INCR").arg(key),
                    1 => pipe.cmd("DECR").arg(key),
                    _ => pipe
                        .cmd("INCRBY")
                        .arg(key)
                        .arg(self.rng.random_range(-100..100)),
                };
            }
            21..=29 => {
                let (key, field, value) = (self.key("hash"), self.field(), self.value());
                pipe.cmd("HSET").arg(key).arg(field).arg(value);
            }
            30..=32 => {
                let (key, field) = (self.key("hash"), self.field());
                pipe.cmd("HDEL").arg(key).arg(field);
            }
            33..=34 => {
                // Only HINCRBY writes the field `n`: it always holds a number.
                let key = self.key("hash");
                pipe.cmd("HINCRBY")
                    .arg(key)
                    .arg("n")
                    .arg(self.rng.random_range(1..10));
            }
            35..=42 => {
                let (key, a, b) = (self.key("set"), self.member(), self.member());
                pipe.cmd("SADD").arg(key).arg(a).arg(b);
            }
            43..=45 => {
                let (key, member) = (self.key("set"), self.member());
                pipe.cmd("SREM").arg(key).arg(member);
            }
            46 => {
                let key = self.key("set");
                pipe.cmd("SPOP").arg(key);
            }
            47..=54 => {
                let (key, score, member) = (self.key("zset"), self.score(), self.member());
                pipe.cmd("ZADD").arg(key).arg(score).arg(member);
            }
            55..=56 => {
                let (key, by, member) = (self.key("zset"), self.score(), self.member());
                pipe.cmd("ZINCRBY").arg(key).arg(by).arg(member);
            }
            57..=58 => {
                let (key, member) = (self.key("zset"), self.member());
                pipe.cmd("ZREM").arg(key).arg(member);
            }
            59..=66 => {
                let (key, a, b) = (self.key("list"), self.member(), self.value());
                let push = if self.rng.random_bool(0.5) {
                    "LPUSH"
                } else {
                    "RPUSH"
                };
                pipe.cmd(push).arg(key).arg(a).arg(b);
            }
            67..=69 => {
                let key = self.key("list");
                let pop = if self.rng.random_bool(0.5) {
                    "LPOP"
                } else {
                    "RPOP"
                };
                pipe.cmd(pop).arg(key);
            }
            70..=71 => {
                let key = self.key("list");
                pipe.cmd("LTRIM")
                    .arg(key)
                    .arg(0)
                    .arg(self.rng.random_range(10..40));
            }
            72 => {
                let (key, member) = (self.key("list"), self.member());
                pipe.cmd("LREM").arg(key).arg(0).arg(member);
            }
            73..=77 => {
                let key = self.any_key();
                pipe.cmd("EXPIRE")
                    .arg(key)
                    .arg(self.rng.random_range(3600..7200));
            }
            78..=79 => {
                let key = self.any_key();
                pipe.cmd("PEXPIRE")
                    .arg(key)
                    .arg(self.rng.random_range(3_600_000..7_200_000));
            }
            80..=83 => {
                let key = self.any_key();
                pipe.cmd("PERSIST").arg(key);
            }
            84..=87 => {
                let key = self.any_key();
                pipe.cmd("DEL").arg(key);
            }
            88..=91 => return self.add_rename(pipe),
            _ => return self.add_short_lived(pipe),
        }
        1
    }

    /// A write that makes sure a key exists, then RENAME of it onto a key
    /// of the same type.
    fn add_rename(&mut self, pipe: &mut redis::Pipeline) -> usize {
        let kind = ["str", "hash", "set", "zset", "list"][self.rng.random_range(0..5)];
        let (source, target) = (self.key(kind), self.key(kind));
        match kind {
            "str" => pipe.cmd("APPEND").arg(&source).arg("r"),
            "hash" => pipe.cmd("HSET").arg(&source).arg("f0").arg("r"),
            "set" => pipe.cmd("SADD").arg(&source).arg("m0"),
            "zset" => pipe.cmd("ZADD").arg(&source).arg(0).arg("m0"),
            _ => pipe.cmd("RPUSH").arg(&source).arg("m0"),
        };
        pipe.cmd("RENAME").arg(source).arg(target);
        2
    }

    /// A write of a key that expires in under 300 ms.
    fn add_short_lived(&mut self, pipe: &mut redis::Pipeline) -> usize {
        let kind = ["str", "hash", "zset", "list"][self.rng.random_range(0..4)];
        let n = self.rng.random_range(0..SHORT_LIVED_KEYS);
        let key = format!("{}:short-{kind}:{n}", self.prefix);
        let ms = self.rng.random_range(1..300);
        let (member, value) = (self.member(), self.value());
        match kind {
            "str" => {
                pipe.cmd("SET").arg(key).arg(value).arg("PX").arg(ms);
                return 1;
            }
            "hash" => pipe.cmd("HSET").arg(&key).arg(member).arg(value),
            "zset" => pipe.cmd("ZADD").arg(&key).arg(1).arg(member),
            _ => pipe.cmd("RPUSH").arg(&key).arg(member),
        };
        pipe.cmd("PEXPIRE").arg(key).arg(ms);
        2
    }
}

/// Writer threads, each on its own connection, sending pipelines of the
/// [`Workload`] and checking that no reply is an error.
struct Writers {
    stop: Arc<AtomicBool>,
    written: Arc<AtomicUsize>,
    threads: Vec<JoinHandle<()>>,
}

impl Writers {
    /// Starts `count` writers on `port`, seeded by `seed`; each stops after
    /// `limit` commands, or without a limit when told to (and then pauses
    /// between pipelines, to leave the machine's two cores some room for
    /// the replicas).
    fn start(port: u16, count: usize, limit: Option<usize>, seed: u64) -> Writers {
        let stop = Arc::new(AtomicBool::new(false));
        let written = Arc::new(AtomicUsize::new(0));
        let threads = (0..count)
            .map(|writer| {
                let (stop, written) = (stop.clone(), written.clone());
                std::thread::spawn(move || {
                    let mut con = connect(port);
                    let mut load = Workload::new(writer, seed * 1000 + writer as u64);
                    let mut mine = 0;
                    let more = |mine: usize| match limit {
                        Some(limit) => mine < limit,
                        None => !stop.load(Ordering::Relaxed),
                    };
                    while more(mine) {
                        let mut pipe = redis::pipe();
                        let mut commands = 0;
                        while commands < PIPELINE && limit.is_none_or(|l| mine + commands < l) {
                            commands += load.add(&mut pipe);
                        }
                        let replies: Vec<redis::Value> = pipe
                            .query(&mut con)
                            .unwrap_or_else(|e| panic!("writer {writer}: a write failed: {e}"));
                        if let Some(error) = replies
                            .iter()
                            .find(|r| matches!(r, redis::Value::ServerError(_)))
                        {
                            panic!("writer {writer}: a write failed: {error:?}");
                        }
                        mine += commands;
                        written.fetch_add(commands, Ordering::Relaxed);
                        if limit.is_none() {
                            std::thread::sleep(Duration::from_millis(2));
                        }
                    }
                })
            })
            .collect();
        Writers {
            stop,
            written,
            threads,
        }
    }

    fn written(&self) -> usize {
        self.written.load(Ordering::Relaxed)
    }

    /// Waits (bounded) until `more` commands were written from now on (by
    /// writers without a limit, which end only when told to).
    fn wait_for(&self, more: usize) {
        let target = self.written() + more;
        wait_until(
            &format!("{more} more writes"),
            Duration::from_secs(60),
            || {
                assert!(
                    !self.threads.iter().any(JoinHandle::is_finished),
                    "a writer ended early (its panic is above)"
                );
                self.written() >= target
            },
        );
    }

    /// Stops the writers (those without a limit; the others finish it)
    /// and returns how many commands they wrote.
    fn finish(self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads {
            if let Err(panic) = thread.join() {
                std::panic::resume_unwind(panic);
            }
        }
        self.written.load(Ordering::Relaxed)
    }
}

// ---------------------------------------------------------------------------
// Scenarios.

/// 1. A master and two replicas; 100,000 mixed writes from four
///    pipelining connections; both replicas end with exactly the master's
///    data. The comparison is then shown to see every kind of difference.
fn two_replicas_hold_the_masters_data_after_100k_mixed_writes(kind: Kind) {
    let master = Node::master(kind, History::Long);
    let replicas = [Node::replica_of(&master), Node::replica_of(&master)];
    let ports: Vec<u16> = replicas.iter().map(Node::port).collect();
    wait_caught_up(master.port(), &ports);

    let written = Writers::start(master.port(), 4, Some(25_000), 1).finish();
    assert_eq!(written, 100_000);
    let expected = assert_replicas_equal(master.port(), &ports);

    let kinds: BTreeSet<&str> = expected.values().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        BTreeSet::from(["hash", "list", "set", "string", "zset"]),
        "the load writes every type"
    );
    let expiring = expected.values().filter(|e| e.expire_at > 0).count();
    assert!(
        expiring > 100 && expected.len() > 1000,
        "the load leaves many keys, some with an expiry time: {} keys, {expiring} expiring",
        expected.len()
    );
    comparison_sees_every_difference(&replicas[1], &expected);
}

/// The dump comparison's self-test: `replica`, equal to `expected` and
/// then promoted, gets one change of each kind; the comparison must find
/// exactly the changed keys, and INFO keyspace the deleted one.
fn comparison_sees_every_difference(replica: &Node, expected: &Dump) {
    assert_eq!(
        show(&replica.command(&["REPLICAOF", "NO", "ONE"])),
        "+OK\\r\\n"
    );
    let mut changed = BTreeSet::new();
    let mut pick = |kind: &str, expiring: bool| -> String {
        let key = expected
            .iter()
            .find(|(key, e)| {
                e.kind == kind && (e.expire_at > 0) == expiring && !changed.contains(*key)
            })
            .map(|(key, _)| key.clone())
            .unwrap_or_else(|| panic!("no {kind} key (expiring: {expiring}) to change"));
        changed.insert(key.clone());
        String::from_utf8(key).expect("the load's keys are text")
    };
    let changes: Vec<Vec<String>> = vec![
        vec!["APPEND".into(), pick("string", false), "!".into()],
        vec![
            "HSET".into(),
            pick("hash", false),
            "self-test".into(),
            "x".into(),
        ],
        vec!["SADD".into(), pick("set", false), "self-test".into()],
        vec![
            "ZINCRBY".into(),
            pick("zset", false),
            "0.5".into(),
            "m0".into(),
        ],
        vec![
            "LSET".into(),
            pick("list", false),
            "0".into(),
            "self-test".into(),
        ],
        vec![
            "PEXPIREAT".into(),
            pick("string", false),
            "99999999999999".into(),
        ],
        vec![
            "PEXPIREAT".into(),
            pick("hash", true),
            "99999999999999".into(),
        ],
        vec!["DEL".into(), pick("set", true)],
    ];
    let deleted = changes.last().expect("a deletion")[1].clone();
    let mut raw = replica.raw();
    for change in &changes {
        let reply = raw.command(change);
        assert!(
            !reply.starts_with(b"-"),
            "{change:?} on the promoted replica: {}",
            show(&reply)
        );
    }
    let found: BTreeSet<Vec<u8>> = differences(expected, &dump(replica.port()))
        .into_keys()
        .collect();
    assert_eq!(
        found, changed,
        "the comparison must find exactly the changed keys"
    );
    assert_eq!(
        keyspace_keys(replica.port()),
        expected.len() as u64 - 1,
        "INFO keyspace counts one key fewer after DEL {deleted}"
    );
}

/// 2. A replica stopped while writes go on (SIGTERM, then kill -9) comes
///    back with a partial resync and ends equal to its master.
fn a_restarted_replica_continues_with_a_partial_resync(kind: Kind) {
    let master = Node::master(kind, History::Long);
    let mut replica = Node::replica_of(&master);
    wait_caught_up(master.port(), &[replica.port()]);
    for (round, how) in [Stop::Term, Stop::Kill].into_iter().enumerate() {
        let writers = Writers::start(master.port(), 2, None, 10 + round as u64);
        writers.wait_for(2000);
        let full = stat(&master, "sync_full");
        let partial = stat(&master, "sync_partial_ok");
        replica.stop(how);
        writers.wait_for(2000);
        replica.start_again();
        wait_until(
            &format!("the replica's link up after {how:?}"),
            Duration::from_secs(60),
            || replica.link_up(),
        );
        writers.wait_for(2000);
        writers.finish();
        assert_replicas_equal(master.port(), &[replica.port()]);
        assert_eq!(
            stat(&master, "sync_full"),
            full,
            "no full sync after {how:?}"
        );
        assert!(
            stat(&master, "sync_partial_ok") > partial,
            "a partial resync after {how:?}"
        );
    }
}

/// 3. A replica kept down until its master's history moved past it
///    syncs in full and ends equal.
fn a_replica_behind_the_masters_history_syncs_in_full(kind: Kind) {
    let master = Node::master(kind, History::Short);
    let mut replica = Node::replica_of(&master);
    wait_caught_up(master.port(), &[replica.port()]);
    Writers::start(master.port(), 1, Some(2000), 20).finish();
    wait_caught_up(master.port(), &[replica.port()]);

    replica.stop(Stop::Term);
    Writers::start(master.port(), 2, Some(5000), 21).finish();
    master.forget_history();
    Writers::start(master.port(), 1, Some(500), 22).finish();
    let full = stat(&master, "sync_full");
    let partial = stat(&master, "sync_partial_ok");
    replica.start_again();
    assert_replicas_equal(master.port(), &[replica.port()]);
    assert!(stat(&master, "sync_full") > full, "a full sync");
    assert_eq!(
        stat(&master, "sync_partial_ok"),
        partial,
        "no partial resync"
    );
}

/// 4. A full sync replaces a replica's own data: a server with keys of
///    its own (some under the master's key names) holds only the master's
///    once it replicates.
fn a_full_sync_replaces_the_replicas_own_data(kind: Kind) {
    let master = Node::master(kind, History::Long);
    Writers::start(master.port(), 2, Some(3000), 30).finish();
    let other = Node::standalone(kind);
    Writers::start(other.port(), 3, Some(3000), 31).finish();
    assert_eq!(
        show(&other.command(&["SET", "only-mine", "1"])),
        "+OK\\r\\n"
    );

    let full = stat(&master, "sync_full");
    let address = master.port().to_string();
    assert_eq!(
        show(&other.command(&["REPLICAOF", "127.0.0.1", &address])),
        "+OK\\r\\n"
    );
    assert_replicas_equal(master.port(), &[other.port()]);
    assert_eq!(show(&other.command(&["EXISTS", "only-mine"])), ":0\\r\\n");
    assert!(stat(&master, "sync_full") > full, "a full sync");
}

/// 5. A replica attached while writes are in flight ends equal.
fn a_replica_attached_during_writes_ends_equal(kind: Kind) {
    let master = Node::master(kind, History::Long);
    let writers = Writers::start(master.port(), 3, None, 40);
    writers.wait_for(3000);
    let replica = Node::replica_of(&master);
    wait_until("the new replica's link up", Duration::from_secs(60), || {
        replica.link_up()
    });
    writers.wait_for(3000);
    writers.finish();
    assert_replicas_equal(master.port(), &[replica.port()]);
}

const READONLY: &str = "-READONLY You can't write against a read only replica.\\r\\n";

/// 6. Writes on a replica, blocking pops included, are refused at once
///    with Redis's exact error, and change nothing.
fn writes_on_a_replica_are_refused_like_redis(kind: Kind) {
    let master = Node::master(kind, History::Long);
    let replica = Node::replica_of(&master);
    for write in [
        &["RPUSH", "list", "a", "b", "c"][..],
        &["ZADD", "zset", "1", "m"],
        &["SET", "string", "v"],
    ] {
        assert!(!master.command(write).starts_with(b"-"), "{write:?}");
    }
    wait_caught_up(master.port(), &[replica.port()]);
    let before = dump(replica.port());

    let mut raw = replica.raw();
    let writes: &[&[&str]] = &[
        &["SET", "string", "x"],
        &["APPEND", "string", "x"],
        &["DEL", "string"],
        &["EXPIRE", "string", "100"],
        &["PERSIST", "string"],
        &["INCR", "counter"],
        &["HSET", "hash", "f", "v"],
        &["SADD", "set", "m"],
        &["ZADD", "zset", "2", "m"],
        &["LPUSH", "list", "x"],
        &["RENAME", "string", "other"],
        &["FLUSHALL"],
        // Blocking pops are writes: refused at once, even on a key with
        // elements, never blocking (the 1 s timeouts would answer nil).
        &["BLPOP", "list", "1"],
        &["BRPOP", "list", "1"],
        &["BLPOP", "missing", "1"],
        &["BLMOVE", "list", "other", "LEFT", "RIGHT", "1"],
        &["BRPOPLPUSH", "list", "other", "1"],
        &["BLMPOP", "1", "1", "list", "LEFT"],
        &["BZPOPMIN", "zset", "1"],
        &["BZPOPMAX", "zset", "1"],
        &["BZMPOP", "1", "1", "zset", "MIN"],
    ];
    for write in writes {
        assert_eq!(
            show(&raw.command(write)),
            READONLY,
            "{write:?} on a replica"
        );
    }
    assert_eq!(show(&raw.command(&["MULTI"])), "+OK\\r\\n");
    assert_eq!(show(&raw.command(&["SET", "string", "x"])), READONLY);
    assert_eq!(show(&raw.command(&["BLPOP", "list", "1"])), READONLY);
    assert_eq!(
        show(&raw.command(&["EXEC"])),
        "-EXECABORT Transaction discarded because of previous errors.\\r\\n"
    );
    assert_eq!(show(&raw.command(&["LLEN", "list"])), ":3\\r\\n");
    let found = differences(&before, &dump(replica.port()));
    assert!(found.is_empty(), "the refused writes changed the replica");
    let found = differences(&before, &dump(master.port()));
    assert!(found.is_empty(), "the refused writes changed the master");
}

/// 7. WAIT answers how many replicas acknowledged the connection's
///    writes: both, then one while the other is stopped (SIGSTOP), then
///    both again; on a replica it is refused.
fn wait_counts_the_replicas_that_acknowledged(kind: Kind) {
    let master = Node::master(kind, History::Long);
    let replicas = [Node::replica_of(&master), Node::replica_of(&master)];
    let ports: Vec<u16> = replicas.iter().map(Node::port).collect();
    wait_caught_up(master.port(), &ports);

    let mut raw = master.raw();
    assert_eq!(show(&raw.command(&["SET", "k", "1"])), "+OK\\r\\n");
    assert_eq!(show(&raw.command(&["WAIT", "2", "30000"])), ":2\\r\\n");

    freeze(replicas[1].child());
    assert_eq!(show(&raw.command(&["SET", "k", "2"])), "+OK\\r\\n");
    let stopped = raw.command(&["WAIT", "2", "2000"]);
    let seen = ["master_repl_offset", "slave0", "slave1"]
        .map(|field| info_field(master.port(), "replication", field).unwrap_or_default())
        .join(" ");
    thaw(replicas[1].child());
    assert_eq!(
        show(&stopped),
        ":1\\r\\n",
        "WAIT with one replica stopped: {seen}"
    );
    assert_eq!(show(&raw.command(&["WAIT", "2", "30000"])), ":2\\r\\n");

    assert_eq!(
        show(&replicas[0].command(&["WAIT", "1", "100"])),
        "-ERR WAIT cannot be used with replica instances. Please also note that since Redis 4.0 \
         if a replica is configured to be writable (which is not the default) writes to replicas \
         are just local and are not propagated.\\r\\n"
    );
}

/// 8. INFO replication and ROLE on both sides of a link made with
///    SLAVEOF.
fn info_and_role_describe_both_sides(kind: Kind) {
    let master = Node::master(kind, History::Long);
    let replica = Node::standalone(kind);
    let master_port = master.port().to_string();
    assert_eq!(
        show(&replica.command(&["SLAVEOF", "127.0.0.1", &master_port])),
        "+OK\\r\\n"
    );
    assert_eq!(
        show(&replica.command(&["REPLICAOF", "127.0.0.1", &master_port])),
        "+OK Already connected to specified master\\r\\n"
    );
    // Written once the link is up: Redis counts offsets only from then.
    wait_caught_up(master.port(), &[replica.port()]);
    assert_eq!(show(&master.command(&["SET", "k", "v"])), "+OK\\r\\n");
    wait_caught_up(master.port(), &[replica.port()]);
    // The replica's acknowledgement comes within a second.
    let slave0 = format!("ip=127.0.0.1,port={},state=online", replica.port());
    wait_until("the replica listed online", Duration::from_secs(30), || {
        info_field(master.port(), "replication", "slave0")
            .is_some_and(|line| line.starts_with(&slave0))
    });

    let on_master = |field: &str| info_field(master.port(), "replication", field);
    let on_replica = |field: &str| info_field(replica.port(), "replication", field);
    let number = |value: Option<String>, what: &str| -> u64 {
        value
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{what} is not a number"))
    };
    assert_eq!(on_master("role").as_deref(), Some("master"));
    assert_eq!(on_master("connected_slaves").as_deref(), Some("1"));
    let line = on_master("slave0").expect("slave0");
    let rest = line
        .strip_prefix(&format!("{slave0},"))
        .unwrap_or_else(|| panic!("slave0:{line}"));
    let [offset, lag] = &rest.split(',').collect::<Vec<_>>()[..] else {
        panic!("slave0:{line}");
    };
    number(
        offset.strip_prefix("offset=").map(String::from),
        "slave0 offset",
    );
    number(lag.strip_prefix("lag=").map(String::from), "slave0 lag");
    let replid = on_master("master_replid").expect("master_replid");
    assert!(
        replid.len() == 40 && replid.bytes().all(|b| b.is_ascii_hexdigit()),
        "master_replid:{replid}"
    );

    assert_eq!(on_replica("role").as_deref(), Some("slave"));
    assert_eq!(on_replica("master_host").as_deref(), Some("127.0.0.1"));
    assert_eq!(on_replica("master_port"), Some(master_port.clone()));
    assert_eq!(on_replica("master_link_status").as_deref(), Some("up"));
    number(
        on_replica("master_last_io_seconds_ago"),
        "master_last_io_seconds_ago",
    );
    assert_eq!(on_replica("master_sync_in_progress").as_deref(), Some("0"));
    assert_eq!(on_replica("connected_slaves").as_deref(), Some("0"));
    assert_eq!(
        on_replica("master_replid"),
        Some(replid),
        "the replica follows the master's history"
    );
    let offset = number(on_master("master_repl_offset"), "master_repl_offset");
    assert!(offset > 0, "the write moved the offset");
    number(on_replica("slave_repl_offset"), "slave_repl_offset");
    number(
        on_replica("master_repl_offset"),
        "the replica's master_repl_offset",
    );

    let mut con = connect(master.port());
    let role: redis::Value = redis::cmd("ROLE").query(&mut con).expect("ROLE");
    let bulk = |v: &redis::Value| match v {
        redis::Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        other => panic!("a bulk string expected, got {other:?}"),
    };
    match &role {
        redis::Value::Array(items) if items.len() == 3 => {
            assert_eq!(bulk(&items[0]), "master");
            assert!(
                matches!(items[1], redis::Value::Int(n) if n > 0),
                "{role:?}"
            );
            let redis::Value::Array(listed) = &items[2] else {
                panic!("{role:?}");
            };
            let [redis::Value::Array(entry)] = &listed[..] else {
                panic!("one replica expected: {role:?}");
            };
            assert_eq!(entry.len(), 3, "{role:?}");
            assert_eq!(bulk(&entry[0]), "127.0.0.1");
            assert_eq!(bulk(&entry[1]), replica.port().to_string());
            assert!(bulk(&entry[2]).parse::<u64>().is_ok(), "{role:?}");
        }
        other => panic!("ROLE on a master: {other:?}"),
    }
    let mut con = connect(replica.port());
    let role: redis::Value = redis::cmd("ROLE").query(&mut con).expect("ROLE");
    match &role {
        redis::Value::Array(items) if items.len() == 5 => {
            assert_eq!(bulk(&items[0]), "slave");
            assert_eq!(bulk(&items[1]), "127.0.0.1");
            assert_eq!(items[2], redis::Value::Int(master.port() as i64));
            assert_eq!(bulk(&items[3]), "connected");
            assert!(
                matches!(items[4], redis::Value::Int(n) if n > 0),
                "{role:?}"
            );
        }
        other => panic!("ROLE on a replica: {other:?}"),
    }
}

/// RPUSH of 1,000 elements: trimming the list to a few removes more than
/// 64, which RedRock does with one range delete.
fn long_list(name: &str) -> Vec<String> {
    let mut command = words(&format!("RPUSH {name}"));
    command.extend((0..1000).map(|i| format!("e{i}")));
    command
}

fn words(text: &str) -> Vec<String> {
    text.split(' ').map(String::from).collect()
}

/// Sends commands in one pipeline; each must succeed.
fn pipeline(node: &Node, commands: &[Vec<String>]) {
    let mut raw = node.raw();
    let requests: Vec<u8> = commands
        .iter()
        .flat_map(|command| RawClient::encode(command))
        .collect();
    raw.send(&requests);
    for command in commands {
        let reply = raw.read_reply();
        assert!(
            !reply.starts_with(b"-"),
            "{} ...: {}",
            command[..command.len().min(2)].join(" "),
            show(&reply)
        );
    }
}

/// Keys of each type in database `db`, then long lists, two of them
/// trimmed: `4 * per_type + 3` keys.
fn fill(db: u32, prefix: &str, per_type: u32) -> Vec<Vec<String>> {
    let mut commands = vec![words(&format!("SELECT {db}"))];
    for i in 0..per_type {
        commands.push(words(&format!("SET {prefix}:s{i} v{i}")));
        commands.push(words(&format!("HSET {prefix}:h{i} f1 a f2 b")));
        commands.push(words(&format!("ZADD {prefix}:z{i} 1 m1 2 m2")));
        commands.push(words(&format!("SADD {prefix}:set{i} a b c")));
    }
    for i in 0..3 {
        commands.push(long_list(&format!("{prefix}:list{i}")));
    }
    commands.push(words(&format!("LTRIM {prefix}:list0 0 9")));
    commands.push(words(&format!("LTRIM {prefix}:list1 500 -1")));
    commands
}

/// The keys of database `db`: as DBSIZE counts them, and as SCAN finds
/// them.
fn key_counts(port: u16, db: u32) -> (u64, u64) {
    let mut con = connect(port);
    redis::cmd("SELECT")
        .arg(db)
        .query::<()>(&mut con)
        .expect("SELECT");
    let size: u64 = redis::cmd("DBSIZE").query(&mut con).expect("DBSIZE");
    (size, scan_keys(&mut con).len() as u64)
}

/// 9. FLUSHALL (in RedRock a range delete of each database's keys) on a
///    master with long lists, some trimmed, in two databases, then new
///    keys in the same pipeline: in each database the replica counts
///    exactly the master's keys, and SCAN finds as many.
fn a_flushall_then_new_keys_leave_the_replica_counting_what_it_holds(kind: Kind) {
    let master = Node::master(kind, History::Long);
    let replica = Node::replica_of(&master);
    wait_caught_up(master.port(), &[replica.port()]);
    pipeline(&master, &[fill(0, "old", 50), fill(1, "old", 50)].concat());
    wait_caught_up(master.port(), &[replica.port()]);
    assert_eq!(key_counts(replica.port(), 1), (203, 203));

    pipeline(
        &master,
        &[
            vec![words("FLUSHALL")],
            fill(0, "new", 30),
            fill(1, "new", 5),
        ]
        .concat(),
    );
    wait_caught_up(master.port(), &[replica.port()]);
    for (db, keys) in [(0, 123), (1, 23)] {
        let on_master = key_counts(master.port(), db);
        assert_eq!(on_master, (keys, keys), "master, db {db}");
        assert_eq!(
            key_counts(replica.port(), db),
            on_master,
            "replica, db {db}"
        );
    }
    assert_replicas_equal(master.port(), &[replica.port()]);
}

/// 10. A transaction that trims a long list (in RedRock one write whose
///     range delete comes before the list's new head and every later
///     write) and then writes other keys, two of them new: the replica
///     holds the trimmed list and the writes after it, counts the new
///     keys, and a transaction on the replica watching a key written
///     after the trim is aborted.
fn writes_after_a_long_trim_in_a_transaction_reach_the_replica(kind: Kind) {
    let master = Node::master(kind, History::Long);
    let replica = Node::replica_of(&master);
    pipeline(&master, &[long_list("list"), words("HSET hash f old")]);
    wait_caught_up(master.port(), &[replica.port()]);
    let mut watcher = replica.raw();
    assert_eq!(show(&watcher.command(&["WATCH", "hash"])), "+OK\\r\\n");

    let mut raw = master.raw();
    assert_eq!(show(&raw.command(&["MULTI"])), "+OK\\r\\n");
    for command in [
        "LTRIM list 0 9",
        "HSET hash f new g added",
        "ZADD zset 1 m",
        "SET created x",
    ] {
        assert_eq!(show(&raw.command(&words(command))), "+QUEUED\\r\\n");
    }
    assert_eq!(
        show(&raw.command(&["EXEC"])),
        "*4\\r\\n+OK\\r\\n:1\\r\\n:1\\r\\n+OK\\r\\n"
    );
    wait_caught_up(master.port(), &[replica.port()]);
    let first_ten: Vec<String> = (0..10).map(|i| format!("e{i}")).collect();
    assert_eq!(
        show(&replica.command(&["LRANGE", "list", "0", "-1"])),
        show(&RawClient::encode(&first_ten))
    );
    assert_eq!(
        show(&replica.command(&["HMGET", "hash", "f", "g"])),
        "*2\\r\\n$3\\r\\nnew\\r\\n$5\\r\\nadded\\r\\n"
    );
    assert_eq!(key_counts(replica.port(), 0), (4, 4));
    assert_replicas_equal(master.port(), &[replica.port()]);

    assert_eq!(show(&watcher.command(&["MULTI"])), "+OK\\r\\n");
    assert_eq!(show(&watcher.command(&["GET", "created"])), "+QUEUED\\r\\n");
    assert_eq!(
        show(&watcher.command(&["EXEC"])),
        "*-1\\r\\n",
        "the master's write of the watched key aborts the transaction"
    );
}

/// The master changes only members of watched keys (an existing hash
/// field, a list element, a sorted set member's score): a transaction on
/// the replica watching each of them is aborted, as in Redis.
fn member_writes_on_the_master_break_watches_on_the_replica(kind: Kind) {
    let master = Node::master(kind, History::Long);
    let replica = Node::replica_of(&master);
    pipeline(
        &master,
        &[
            words("HSET hash f old"),
            words("RPUSH list a b"),
            words("ZADD zset 1 m"),
        ],
    );
    wait_caught_up(master.port(), &[replica.port()]);
    for (key, write) in [
        ("hash", "HSET hash f new"),
        ("list", "LSET list 0 z"),
        ("zset", "ZADD zset 2 m"),
    ] {
        let mut watcher = replica.raw();
        assert_eq!(show(&watcher.command(&["WATCH", key])), "+OK\\r\\n");
        let args: Vec<&str> = write.split(' ').collect();
        master.command(&args);
        wait_caught_up(master.port(), &[replica.port()]);
        assert_eq!(show(&watcher.command(&["MULTI"])), "+OK\\r\\n");
        assert_eq!(show(&watcher.command(&["PING"])), "+QUEUED\\r\\n");
        assert_eq!(
            show(&watcher.command(&["EXEC"])),
            "*-1\\r\\n",
            "`{write}` on the master aborts a transaction watching {key}"
        );
    }
}

// ---------------------------------------------------------------------------
// Every scenario on both kinds.

macro_rules! on_both_kinds {
    ($($scenario:ident),* $(,)?) => {
        mod redrock {
            $(#[test]
            fn $scenario() {
                super::$scenario(super::Kind::RedRock);
            })*
        }
        mod oracle {
            $(#[test]
            fn $scenario() {
                super::$scenario(super::Kind::Redis);
            })*
        }
    };
}

on_both_kinds!(
    two_replicas_hold_the_masters_data_after_100k_mixed_writes,
    a_restarted_replica_continues_with_a_partial_resync,
    a_replica_behind_the_masters_history_syncs_in_full,
    a_full_sync_replaces_the_replicas_own_data,
    a_replica_attached_during_writes_ends_equal,
    writes_on_a_replica_are_refused_like_redis,
    wait_counts_the_replicas_that_acknowledged,
    info_and_role_describe_both_sides,
    a_flushall_then_new_keys_leave_the_replica_counting_what_it_holds,
    writes_after_a_long_trim_in_a_transaction_reach_the_replica,
    member_writes_on_the_master_break_watches_on_the_replica,
);
