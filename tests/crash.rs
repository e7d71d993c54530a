//! Crash test: writers on several connections (INCR, SET, HSET, RPUSH,
//! ZADD; pipelined and not; two databases) record every acknowledged
//! reply; the server is killed with SIGKILL at a random moment, restarted
//! on the same data dir, and every acknowledged write must be there.
//!
//! A write that was sent but not acknowledged may or may not have
//! survived. Every written value carries the writer's next sequence number,
//! so the check is exact all the same: each value read back is one that was
//! sent, and at least as new as the last one acknowledged; lists hold every
//! acknowledged element, in order. What a restart shows must survive the
//! next crash too, so it becomes the new floor.
//!
//! `REDROCK_CRASH_ROUNDS` sets the number of kills (bench/crash.sh runs a
//! long series); `REDROCK_CRASH_SEED` replays the write mix and kill times.

mod common;
use common::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const WRITERS: usize = 4;
const DEFAULT_ROUNDS: u64 = 30;
const DEFAULT_SEED: u64 = 7;
/// Each writer's string keys, hash fields and zset members.
const SLOTS: usize = 4;

/// The server's settings, by round: the defaults, small memtables (flushes
/// and WAL switches during the writes), and fsync on every write.
const SETTINGS: &[&[&str]] = &[
    &[],
    &["--rocksdb.write_buffer_size", "1"],
    &["--rocksdb.write_options.sync", "yes"],
];

/// One key's (or field's) history: what was sent and the floor it must not
/// fall below.
#[derive(Default)]
struct Value {
    sent: BTreeSet<u64>,
    acked: Option<u64>,
}

impl Value {
    fn ack(&mut self, seq: u64) {
        self.acked = self.acked.max(Some(seq));
    }

    /// Checks a value read back (`None`: missing) and makes it the floor.
    fn check(&mut self, what: &str, found: Option<u64>) {
        match found {
            None => assert_eq!(self.acked, None, "{what}: acknowledged write lost"),
            Some(seq) => {
                assert!(self.sent.contains(&seq), "{what}: {seq} was never sent");
                assert!(
                    Some(seq) >= self.acked,
                    "{what}: found {seq}, older than the acknowledged {:?}",
                    self.acked
                );
                self.acked = Some(seq);
            }
        }
    }
}

/// A list's history: the elements sent and those acknowledged.
#[derive(Default)]
struct List {
    sent: BTreeSet<u64>,
    acked: BTreeSet<u64>,
}

impl List {
    /// Checks the elements read back: sent, in the order sent, every
    /// acknowledged one there; they all become the floor.
    fn check(&mut self, what: &str, found: &[u64]) {
        assert!(
            found.windows(2).all(|w| w[0] < w[1]),
            "{what}: elements out of order or repeated: {found:?}"
        );
        for seq in found {
            assert!(self.sent.contains(seq), "{what}: {seq} was never sent");
        }
        let found: BTreeSet<u64> = found.iter().copied().collect();
        let lost: Vec<_> = self.acked.difference(&found).collect();
        assert!(
            lost.is_empty(),
            "{what}: acknowledged elements lost: {lost:?}"
        );
        self.acked = found;
    }
}

#[derive(Clone, Copy, Debug)]
enum Op {
    Incr,
    SharedIncr,
    Set(usize),
    HSet(usize),
    ZAdd(usize),
    RPush,
    SharedRPush,
}

/// A writer's whole history, carried from round to round.
struct Writer {
    id: usize,
    db: usize,
    rng: StdRng,
    seq: u64,
    incr_sent: i64,
    incr_acked: i64,
    shared_incr_sent: i64,
    shared_incr_acked: i64,
    strings: Vec<Value>,
    fields: Vec<Value>,
    members: Vec<Value>,
    list: List,
    shared_list: List,
    acked_writes: u64,
}

/// A string value: its sequence number and padding of a length that
/// depends on it, so the whole value can be checked.
fn string_value(seq: u64) -> String {
    format!("{seq}:{}", "v".repeat((seq % 97) as usize))
}

impl Writer {
    fn new(id: usize, seed: u64) -> Writer {
        Writer {
            id,
            db: id % 2,
            rng: StdRng::seed_from_u64(seed ^ (id as u64 + 1).wrapping_mul(0x9e37_79b9)),
            seq: 0,
            incr_sent: 0,
            incr_acked: 0,
            shared_incr_sent: 0,
            shared_incr_acked: 0,
            strings: (0..SLOTS).map(|_| Value::default()).collect(),
            fields: (0..SLOTS).map(|_| Value::default()).collect(),
            members: (0..SLOTS).map(|_| Value::default()).collect(),
            list: List::default(),
            shared_list: List::default(),
            acked_writes: 0,
        }
    }

    /// Writes until the server goes away.
    fn run(&mut self, port: u16, progress: &AtomicU64) {
        let Ok(stream) = TcpStream::connect(("127.0.0.1", port)) else {
            return;
        };
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut writer = stream;
        let select = RawClient::encode(&["SELECT", &self.db.to_string()]);
        if writer.write_all(&select).is_err() {
            return;
        }
        match read_line(&mut reader) {
            Some(line) => assert_eq!(line, "+OK", "SELECT"),
            None => return,
        }
        loop {
            let size = if self.rng.random_bool(0.5) {
                1
            } else {
                self.rng.random_range(2..=32)
            };
            let mut bytes = Vec::new();
            let ops: Vec<(Op, u64)> = (0..size)
                .map(|_| {
                    let (op, seq, argv) = self.next_op();
                    bytes.extend_from_slice(&RawClient::encode(&argv[..]));
                    (op, seq)
                })
                .collect();
            if writer.write_all(&bytes).is_err() {
                return;
            }
            for (op, seq) in ops {
                let Some(reply) = read_line(&mut reader) else {
                    return;
                };
                self.acknowledge(op, seq, &reply);
                progress.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// The next write, recorded as sent.
    fn next_op(&mut self) -> (Op, u64, Vec<String>) {
        self.seq += 1;
        let seq = self.seq;
        let slot = self.rng.random_range(0..SLOTS);
        let w = self.id;
        let op = match self.rng.random_range(0..7) {
            0 => Op::Incr,
            1 => Op::SharedIncr,
            2 => Op::Set(slot),
            3 => Op::HSet(slot),
            4 => Op::ZAdd(slot),
            5 => Op::RPush,
            _ => Op::SharedRPush,
        };
        let argv = match op {
            Op::Incr => {
                self.incr_sent += 1;
                vec!["INCR".into(), format!("c:{w}")]
            }
            Op::SharedIncr => {
                self.shared_incr_sent += 1;
                vec!["INCR".into(), "shared:c".into()]
            }
            Op::Set(i) => {
                self.strings[i].sent.insert(seq);
                vec!["SET".into(), format!("s:{w}:{i}"), string_value(seq)]
            }
            Op::HSet(i) => {
                self.fields[i].sent.insert(seq);
                vec![
                    "HSET".into(),
                    format!("h:{w}"),
                    format!("f{i}"),
                    seq.to_string(),
                ]
            }
            Op::ZAdd(i) => {
                self.members[i].sent.insert(seq);
                vec![
                    "ZADD".into(),
                    format!("z:{w}"),
                    seq.to_string(),
                    format!("m{i}"),
                ]
            }
            Op::RPush => {
                self.list.sent.insert(seq);
                vec!["RPUSH".into(), format!("l:{w}"), seq.to_string()]
            }
            Op::SharedRPush => {
                self.shared_list.sent.insert(seq);
                vec!["RPUSH".into(), "shared:l".into(), format!("{w}:{seq}")]
            }
        };
        (op, seq, argv)
    }

    fn acknowledge(&mut self, op: Op, seq: u64, reply: &str) {
        let int = || -> i64 {
            reply
                .strip_prefix(':')
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("{op:?}: unexpected reply {reply:?}"))
        };
        match op {
            Op::Incr => {
                let value = int();
                assert!(
                    value <= self.incr_sent,
                    "INCR answered {value}, beyond its calls"
                );
                self.incr_acked = self.incr_acked.max(value);
            }
            Op::SharedIncr => self.shared_incr_acked = self.shared_incr_acked.max(int()),
            Op::Set(i) => {
                assert_eq!(reply, "+OK", "SET");
                self.strings[i].ack(seq);
            }
            Op::HSet(i) => {
                assert!((0..=1).contains(&int()), "HSET answered {reply}");
                self.fields[i].ack(seq);
            }
            Op::ZAdd(i) => {
                assert!((0..=1).contains(&int()), "ZADD answered {reply}");
                self.members[i].ack(seq);
            }
            Op::RPush => {
                assert!(int() >= 1, "RPUSH answered {reply}");
                self.list.acked.insert(seq);
            }
            Op::SharedRPush => {
                assert!(int() >= 1, "RPUSH answered {reply}");
                self.shared_list.acked.insert(seq);
            }
        }
        self.acked_writes += 1;
    }

    /// Checks everything this writer had acknowledged is on the restarted
    /// server (`shared` is the shared list of its database).
    fn verify(&mut self, con: &mut redis::Connection, shared: &[String]) {
        let w = self.id;
        let counter: Option<i64> = query(con, &["GET", &format!("c:{w}")]);
        let counter = counter.unwrap_or(0);
        assert!(
            counter >= self.incr_acked && counter <= self.incr_sent,
            "c:{w} is {counter}: acknowledged {}, sent {}",
            self.incr_acked,
            self.incr_sent
        );
        self.incr_acked = counter;
        for (i, value) in self.strings.iter_mut().enumerate() {
            let key = format!("s:{w}:{i}");
            let found: Option<String> = query(con, &["GET", &key]);
            let seq = found.map(|text| {
                let seq: u64 = text.split(':').next().unwrap().parse().unwrap();
                assert_eq!(text, string_value(seq), "{key}: damaged value");
                seq
            });
            value.check(&key, seq);
        }
        let hash: BTreeMap<String, u64> = query(con, &["HGETALL", &format!("h:{w}")]);
        check_slots(&format!("h:{w}"), "f", &mut self.fields, &hash);
        let zset: Vec<(String, f64)> =
            query(con, &["ZRANGE", &format!("z:{w}"), "0", "-1", "WITHSCORES"]);
        let zset: BTreeMap<String, u64> = zset.into_iter().map(|(m, s)| (m, s as u64)).collect();
        check_slots(&format!("z:{w}"), "m", &mut self.members, &zset);
        let list: Vec<u64> = query(con, &["LRANGE", &format!("l:{w}"), "0", "-1"]);
        self.list.check(&format!("l:{w}"), &list);
        let prefix = format!("{w}:");
        let mine: Vec<u64> = shared
            .iter()
            .filter_map(|e| e.strip_prefix(&prefix))
            .map(|seq| seq.parse().unwrap())
            .collect();
        self.shared_list
            .check(&format!("shared:l (writer {w})"), &mine);
    }
}

/// Checks hash fields or zset members `<prefix><slot>` read back.
fn check_slots(key: &str, prefix: &str, slots: &mut [Value], found: &BTreeMap<String, u64>) {
    for name in found.keys() {
        let known = name
            .strip_prefix(prefix)
            .and_then(|i| i.parse::<usize>().ok())
            .is_some_and(|i| i < slots.len());
        assert!(known, "{key}: unknown field {name}");
    }
    for (i, value) in slots.iter_mut().enumerate() {
        let name = format!("{prefix}{i}");
        value.check(&format!("{key} {name}"), found.get(&name).copied());
    }
}

fn query<T: redis::FromRedisValue>(con: &mut redis::Connection, args: &[&str]) -> T {
    let mut cmd = redis::cmd(args[0]);
    for arg in &args[1..] {
        cmd.arg(*arg);
    }
    cmd.query(con)
        .unwrap_or_else(|e| panic!("{args:?} failed: {e}"))
}

/// One whole reply line without its CRLF, or `None` once the server is gone
/// (a line cut short by the kill was never acknowledged).
fn read_line(reader: &mut BufReader<TcpStream>) -> Option<String> {
    let mut line = String::new();
    match reader.read_line(&mut line) {
        Ok(_) => line.strip_suffix("\r\n").map(str::to_owned),
        Err(_) => None,
    }
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).map_or(default, |v| v.parse().expect(name))
}

#[test]
fn acknowledged_writes_survive_kill_9() {
    let rounds = env_u64("REDROCK_CRASH_ROUNDS", DEFAULT_ROUNDS);
    let seed = env_u64("REDROCK_CRASH_SEED", DEFAULT_SEED);
    println!("crash: {rounds} rounds, seed {seed} (REDROCK_CRASH_SEED replays)");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut rng = StdRng::seed_from_u64(seed);
    let mut writers: Vec<Writer> = (0..WRITERS).map(|id| Writer::new(id, seed)).collect();
    // Per database: the highest shared counter value acknowledged or seen.
    let mut shared_floor = [0i64; 2];
    let started = Instant::now();
    for round in 0..rounds {
        let settings = SETTINGS[round as usize % SETTINGS.len()];
        let mut server = Server::start_in(dir.path(), settings);
        let progress = Arc::new(AtomicU64::new(0));
        let port = server.port;
        let handles: Vec<_> = writers
            .drain(..)
            .map(|mut writer| {
                let progress = progress.clone();
                std::thread::spawn(move || {
                    writer.run(port, &progress);
                    writer
                })
            })
            .collect();
        // Kill while writes are flowing: after some acknowledgements, at a
        // random moment.
        let wanted = rng.random_range(1..2000);
        let deadline = Instant::now() + Duration::from_secs(20);
        while progress.load(Ordering::Relaxed) < wanted && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(
            progress.load(Ordering::Relaxed) >= wanted,
            "round {round}: the writers made no progress"
        );
        std::thread::sleep(Duration::from_millis(rng.random_range(0..200)));
        server.kill9();
        writers = handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect();

        let server = Server::start_in(dir.path(), settings);
        let mut con = server.client();
        for (db, shared_floor) in shared_floor.iter_mut().enumerate() {
            let _: () = query(&mut con, &["SELECT", &db.to_string()]);
            let in_db = || writers.iter().filter(|w| w.db == db);
            let acked = in_db().map(|w| w.shared_incr_acked).max().unwrap_or(0);
            let sent: i64 = in_db().map(|w| w.shared_incr_sent).sum();
            let floor = (*shared_floor).max(acked);
            let counter: Option<i64> = query(&mut con, &["GET", "shared:c"]);
            let counter = counter.unwrap_or(0);
            assert!(
                counter >= floor && counter <= sent,
                "round {round}: shared:c in db {db} is {counter}: acknowledged {floor}, sent {sent}"
            );
            *shared_floor = counter;
            let shared: Vec<String> = query(&mut con, &["LRANGE", "shared:l", "0", "-1"]);
            for writer in writers.iter_mut().filter(|w| w.db == db) {
                writer.verify(&mut con, &shared);
            }
        }
        drop(server);
    }
    let acked: u64 = writers.iter().map(|w| w.acked_writes).sum();
    let sent: u64 = writers.iter().map(|w| w.seq).sum();
    println!(
        "crash: {rounds} kills, {acked} acknowledged writes of {sent} sent, all found; {:.1}s",
        started.elapsed().as_secs_f64()
    );
}
