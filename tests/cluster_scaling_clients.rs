//! Scaling a cluster out and in under load, as applications see it.
//!
//! Three masters made a cluster with `redrock cluster create` take writes
//! of every type throughout from two cluster clients: the `redis` crate's
//! (threads of this test) and redis-py's RedisCluster
//! (tests/clients/cluster_load.py). Both write the same model, each writer
//! to keys of its own, and record every acknowledged write. Meanwhile
//! `redrock cluster add-node` adds a fourth node, `rebalance` gives it its
//! share of the keys, and `del-node` removes one of the first three, whose
//! slots move to the others first. At the end:
//! - the clients saw no error but those a client may retry;
//! - every acknowledged write is there with its exact value and expiry
//!   (a lost write and a write applied twice both show), and no key the
//!   writers did not write;
//! - each key is on exactly one node, the one serving its slot;
//! - every slot is served by one node, on which every node agrees, the
//!   one that left included (CLUSTER SLOTS, `redrock cluster check`);
//! - on every node the keys found add up, slot by slot, to CLUSTER
//!   COUNTKEYSINSLOT, and those to DBSIZE.

mod common;
use common::*;
use redis::cluster::{ClusterClient, ClusterConnection};
use redis::{ErrorKind, RedisError, ServerErrorKind};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Writer threads on the `redis` crate's cluster client.
const RUST_WRITERS: usize = 3;
/// Writer threads in the redis-py process.
const PYTHON_WRITERS: usize = 2;
/// Keys of each kind per writer.
const KEYS_PER_KIND: usize = 200;
/// Keys written before the load starts, so that moves take a while.
const PRELOADED: usize = 30_000;
/// A write retried this long in vain fails the test.
const RETRY_LIMIT: Duration = Duration::from_secs(30);
/// Small, slow batches and small catch-up gaps: moves take a while and
/// many rounds, so writes land in every phase of them.
const NODE_ARGS: &[&str] = &[
    "--cluster-enabled",
    "yes",
    "--migrate-batch-size-kb",
    "4",
    "--migrate-batch-rate-limit-mb",
    "1",
    "--migrate-sequence-gap",
    "100",
];

#[test]
fn scaling_out_and_in_under_load_loses_and_duplicates_nothing() {
    let masters: Vec<Server> = (0..3).map(|_| Server::start_with(NODE_ARGS)).collect();
    let spare = Server::start_with(NODE_ARGS);
    let mut create = vec!["cluster".to_string(), "create".to_string()];
    create.extend(masters.iter().map(addr));
    let (success, out) = tool(&create.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(success, "cluster create failed: {out}");
    let seeds: Vec<&Server> = masters.iter().collect();
    let mut expected = preload(&seeds);

    let deadline_ms = unix_ms() + 86_400_000;
    let mut rust = RustLoad::start(&seeds, deadline_ms);
    let mut python = PythonLoad::start(&seeds, deadline_ms);
    let mut check_load = || {
        rust.check_running();
        python.check_running();
    };
    std::thread::sleep(Duration::from_millis(1000));
    check_load();

    // A fourth node joins, the slots are evened out over the four, then
    // one of the first three leaves.
    let entry = addr(&masters[1]);
    let joining = addr(&spare);
    let leaving = node_id(&masters[0]);
    let mut outputs = Vec::new();
    for run in [
        vec!["cluster", "add-node", &joining, &entry],
        vec!["cluster", "rebalance", &entry],
        vec!["cluster", "del-node", &entry, &leaving],
    ] {
        let (success, out) = tool(&run);
        assert!(success, "{run:?} failed: {out}");
        eprint!("{out}");
        outputs.push(out);
        std::thread::sleep(Duration::from_millis(1000));
        check_load();
    }
    assert!(
        outputs[0].contains(&format!("new node id: {}", node_id(&spare))),
        "{}",
        outputs[0]
    );
    let all: Vec<&Server> = masters.iter().chain([&spare]).collect();
    let serving: Vec<&Server> = all[1..].to_vec();
    let ports: BTreeSet<u16> = slot_runs(&spare).iter().map(|run| run.2).collect();
    assert_eq!(
        ports,
        serving.iter().map(|s| s.port).collect(),
        "the new node serves slots, the node that left none"
    );

    let (rust_writes, rust_retries) = rust.finish(&mut expected);
    let (python_writes, python_retries) = python.finish(&mut expected);
    let redirected = moved_answers(&all);
    eprintln!(
        "acknowledged writes: {rust_writes} from the redis crate ({rust_retries} retried), \
         {python_writes} from redis-py ({python_retries} retried); {redirected} MOVED answers"
    );
    assert!(rust_writes > 0 && python_writes > 0);
    assert!(redirected > 0, "the clients never met a moved slot");
    verify(&all, &serving, &expected);
}

fn addr(server: &Server) -> String {
    format!("127.0.0.1:{}", server.port)
}

fn node_id(server: &Server) -> String {
    redis::cmd("CLUSTER")
        .arg("MYID")
        .query(&mut server.client())
        .expect("CLUSTER MYID")
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as u64
}

fn cluster_connection(seeds: &[&Server]) -> ClusterConnection {
    let con = ClusterClient::builder(seeds.iter().map(|s| s.url()).collect::<Vec<_>>())
        .retries(50)
        .build()
        .expect("cluster client")
        .get_connection()
        .expect("cluster connection");
    // Long enough for a write held by a move's last round: a timed-out
    // command is sent again, which would apply an INCR twice.
    con.set_read_timeout(Some(RETRY_LIMIT)).expect("timeout");
    con.set_write_timeout(Some(RETRY_LIMIT)).expect("timeout");
    con
}

// ---------------------------------------------------------------------------
// What the cluster must hold: one line per key, `key TAB type TAB
// pexpiretime TAB contents`, as tests/clients/cluster_load.py prints it.

type Expected = BTreeMap<String, String>;

fn line(key: &str, kind: &str, expires: i64, contents: &str) -> (String, String) {
    (
        key.to_string(),
        format!("{key}\t{kind}\t{expires}\t{contents}"),
    )
}

/// Keys of every type, a third with an expiry, written through the
/// cluster before the load starts.
fn preload(seeds: &[&Server]) -> Expected {
    let expires = (unix_ms() + 86_400_000) as i64;
    let mut con = cluster_connection(seeds);
    let mut expected = Expected::new();
    let mut pipe = redis::cluster::cluster_pipe();
    for i in 0..PRELOADED {
        let key = format!("pre:{i}");
        let (kind, contents) = match i % 5 {
            0 => {
                pipe.cmd("SET").arg(&key).arg(format!("v{i}"));
                ("string", format!("v{i}"))
            }
            1 => {
                pipe.cmd("HSET").arg(&key).arg("a").arg(i).arg("b").arg("x");
                ("hash", format!("a={i},b=x"))
            }
            2 => {
                pipe.cmd("SADD").arg(&key).arg("x").arg(i);
                ("set", format!("{i},x"))
            }
            3 => {
                pipe.cmd("ZADD").arg(&key).arg(1).arg("a").arg(i).arg("b");
                ("zset", format!("a=1,b={i}"))
            }
            _ => {
                pipe.cmd("RPUSH").arg(&key).arg("x").arg(i);
                ("list", format!("x,{i}"))
            }
        };
        let expiry = if i % 3 == 0 {
            pipe.cmd("PEXPIREAT").arg(&key).arg(expires);
            expires
        } else {
            -1
        };
        let (key, text) = line(&key, kind, expiry, &contents);
        expected.insert(key, text);
        if i % 300 == 299 || i + 1 == PRELOADED {
            pipe.exec(&mut con).expect("preloading");
            pipe = redis::cluster::cluster_pipe();
        }
    }
    expected
}

// ---------------------------------------------------------------------------
// The redis crate's writers: the model of tests/clients/cluster_load.py.

#[derive(Debug)]
enum Contents {
    Text(String),
    Hash(BTreeMap<String, String>),
    Set(BTreeSet<String>),
    Zset(BTreeMap<String, u64>),
    List(Vec<String>),
}

/// How to tell whether a write that must not run twice took effect when
/// an error left its outcome unknown.
enum Probe<'a> {
    /// A counter read with `read`, `acknowledged` before the increment.
    Counter { read: redis::Cmd, acknowledged: i64 },
    /// A list `acknowledged` items long before `value` was pushed.
    Pushed {
        key: &'a str,
        acknowledged: usize,
        value: &'a str,
    },
}

struct RustWriter {
    prefix: String,
    deadline_ms: u64,
    con: ClusterConnection,
    model: BTreeMap<String, Contents>,
    expiring: BTreeSet<String>,
    writes: u64,
    retries: u64,
}

/// Errors after which a client may retry: the connection failed or timed
/// out, or the cluster asked to try again (the client follows MOVED and
/// ASK itself, and retries TRYAGAIN a while first).
fn retryable(error: &RedisError) -> bool {
    error.is_io_error()
        || matches!(
            error.kind(),
            ErrorKind::Server(ServerErrorKind::TryAgain | ServerErrorKind::ClusterDown)
                | ErrorKind::ClusterConnectionNotFound
        )
}

impl RustWriter {
    /// Runs `cmd` until it is acknowledged, retrying what may be retried.
    fn retried<T: redis::FromRedisValue>(&mut self, cmd: &redis::Cmd) -> Result<T, String> {
        let give_up = Instant::now() + RETRY_LIMIT;
        loop {
            match cmd.query(&mut self.con) {
                Ok(value) => return Ok(value),
                Err(e) if retryable(&e) && Instant::now() < give_up => {
                    self.retries += 1;
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => return Err(format!("{:?}: {e}", cmd_text(cmd))),
            }
        }
    }

    /// Runs a write that must not run twice until it is acknowledged or
    /// `probe` shows it took effect.
    fn once(&mut self, cmd: &redis::Cmd, probe: Probe) -> Result<(), String> {
        let give_up = Instant::now() + RETRY_LIMIT;
        loop {
            match cmd.query::<redis::Value>(&mut self.con) {
                Ok(_) => return Ok(()),
                Err(e) if retryable(&e) && Instant::now() < give_up => {
                    self.retries += 1;
                    std::thread::sleep(Duration::from_millis(50));
                    if self.applied(&probe)? {
                        return Ok(());
                    }
                }
                Err(e) => return Err(format!("{:?}: {e}", cmd_text(cmd))),
            }
        }
    }

    fn applied(&mut self, probe: &Probe) -> Result<bool, String> {
        match probe {
            Probe::Counter { read, acknowledged } => {
                let stored = self.retried::<Option<i64>>(read)?.unwrap_or(0);
                if stored != *acknowledged && stored != acknowledged + 1 {
                    return Err(format!(
                        "{:?} is {stored}, acknowledged {acknowledged}",
                        cmd_text(read)
                    ));
                }
                Ok(stored == acknowledged + 1)
            }
            Probe::Pushed {
                key,
                acknowledged,
                value,
            } => {
                let length: usize = self.retried(redis::cmd("LLEN").arg(key))?;
                let last: Option<String> = self.retried(redis::cmd("LINDEX").arg(key).arg(-1))?;
                if length == *acknowledged {
                    Ok(false)
                } else if length == acknowledged + 1 && last.as_deref() == Some(value) {
                    Ok(true)
                } else {
                    Err(format!(
                        "{key}: {length} items, acknowledged {acknowledged}"
                    ))
                }
            }
        }
    }

    /// Step `seq` of the model (see tests/clients/cluster_load.py).
    fn step(&mut self, seq: u64) -> Result<(), String> {
        const KINDS: [&str; 6] = ["str", "cnt", "hash", "set", "zset", "list"];
        let kind = KINDS[(seq % 6) as usize];
        let i = (seq / 6) * 7 % KEYS_PER_KIND as u64;
        let key = format!("{}:{kind}:{i}", self.prefix);
        match kind {
            "str" => {
                let value = format!("v{seq}");
                let mut set = redis::cmd("SET");
                set.arg(&key).arg(&value);
                if i.is_multiple_of(4) {
                    set.arg("PXAT").arg(self.deadline_ms);
                    self.expiring.insert(key.clone());
                }
                self.retried::<()>(&set)?;
                self.model.insert(key.clone(), Contents::Text(value));
            }
            "cnt" => {
                let acknowledged = match self.model.get(&key) {
                    Some(Contents::Text(n)) => n.parse().expect("a count"),
                    _ => 0,
                };
                let probe = Probe::Counter {
                    read: redis::cmd("GET").arg(&key).clone(),
                    acknowledged,
                };
                self.once(redis::cmd("INCR").arg(&key), probe)?;
                self.model
                    .insert(key.clone(), Contents::Text((acknowledged + 1).to_string()));
            }
            "hash" => {
                let mut fields = match self.model.remove(&key) {
                    Some(Contents::Hash(fields)) => fields,
                    _ => BTreeMap::new(),
                };
                if (seq / 6).is_multiple_of(2) {
                    let (field, value) = (format!("f{}", seq % 5), format!("v{seq}"));
                    self.retried::<()>(redis::cmd("HSET").arg(&key).arg(&field).arg(&value))?;
                    fields.insert(field, value);
                } else {
                    let acknowledged = fields.get("n").map_or(0, |n| n.parse().expect("a count"));
                    let probe = Probe::Counter {
                        read: redis::cmd("HGET").arg(&key).arg("n").clone(),
                        acknowledged,
                    };
                    self.once(redis::cmd("HINCRBY").arg(&key).arg("n").arg(1), probe)?;
                    fields.insert("n".into(), (acknowledged + 1).to_string());
                }
                self.model.insert(key.clone(), Contents::Hash(fields));
            }
            "set" => {
                let member = format!("m{seq}");
                self.retried::<()>(redis::cmd("SADD").arg(&key).arg(&member))?;
                match self
                    .model
                    .entry(key.clone())
                    .or_insert_with(|| Contents::Set(BTreeSet::new()))
                {
                    Contents::Set(members) => members.insert(member),
                    other => unreachable!("{other:?}"),
                };
            }
            "zset" => {
                let member = format!("m{}", (seq / 6) % 8);
                self.retried::<()>(redis::cmd("ZADD").arg(&key).arg(seq).arg(&member))?;
                match self
                    .model
                    .entry(key.clone())
                    .or_insert_with(|| Contents::Zset(BTreeMap::new()))
                {
                    Contents::Zset(members) => members.insert(member, seq),
                    other => unreachable!("{other:?}"),
                };
            }
            _ => {
                let value = format!("v{seq}");
                let acknowledged = match self.model.get(&key) {
                    Some(Contents::List(items)) => items.len(),
                    _ => 0,
                };
                let probe = Probe::Pushed {
                    key: &key,
                    acknowledged,
                    value: &value,
                };
                self.once(redis::cmd("RPUSH").arg(&key).arg(&value), probe)?;
                match self
                    .model
                    .entry(key.clone())
                    .or_insert_with(|| Contents::List(Vec::new()))
                {
                    Contents::List(items) => items.push(value),
                    other => unreachable!("{other:?}"),
                }
            }
        }
        self.writes += 1;
        if kind != "str" && i.is_multiple_of(4) && !self.expiring.contains(&key) {
            self.retried::<()>(redis::cmd("PEXPIREAT").arg(&key).arg(self.deadline_ms))?;
            self.expiring.insert(key);
            self.writes += 1;
        }
        Ok(())
    }

    /// The model's lines (see [`Expected`]).
    fn lines(&self) -> Expected {
        self.model
            .iter()
            .map(|(key, contents)| {
                let (kind, text) = match contents {
                    Contents::Text(value) => ("string", value.clone()),
                    Contents::Hash(fields) => ("hash", pairs(fields)),
                    Contents::Set(members) => ("set", join(members.iter())),
                    Contents::Zset(members) => ("zset", pairs(members)),
                    Contents::List(items) => ("list", join(items.iter())),
                };
                let expires = if self.expiring.contains(key) {
                    self.deadline_ms as i64
                } else {
                    -1
                };
                line(key, kind, expires, &text)
            })
            .collect()
    }
}

fn cmd_text(cmd: &redis::Cmd) -> Vec<String> {
    cmd.args_iter()
        .map(|arg| match arg {
            redis::Arg::Simple(bytes) => String::from_utf8_lossy(bytes).into_owned(),
            _ => "<cursor>".into(),
        })
        .collect()
}

fn join<T: std::fmt::Display>(items: impl Iterator<Item = T>) -> String {
    items.map(|i| i.to_string()).collect::<Vec<_>>().join(",")
}

fn pairs<V: std::fmt::Display>(map: &BTreeMap<String, V>) -> String {
    join(map.iter().map(|(k, v)| format!("{k}={v}")))
}

struct WriterReport {
    lines: Expected,
    writes: u64,
    retries: u64,
}

/// The `redis` crate's writer threads; they stop when this is dropped.
struct RustLoad {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<Result<WriterReport, String>>>,
}

impl RustLoad {
    fn start(seeds: &[&Server], deadline_ms: u64) -> RustLoad {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..RUST_WRITERS)
            .map(|n| {
                let mut writer = RustWriter {
                    prefix: format!("rs{n}"),
                    deadline_ms,
                    con: cluster_connection(seeds),
                    model: BTreeMap::new(),
                    expiring: BTreeSet::new(),
                    writes: 0,
                    retries: 0,
                };
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let mut seq = 0;
                    while !stop.load(Ordering::Relaxed) {
                        writer
                            .step(seq)
                            .map_err(|e| format!("{}: {e}", writer.prefix))?;
                        seq += 1;
                    }
                    Ok(WriterReport {
                        lines: writer.lines(),
                        writes: writer.writes,
                        retries: writer.retries,
                    })
                })
            })
            .collect();
        RustLoad { stop, threads }
    }

    /// Fails the test as soon as a writer has failed.
    fn check_running(&mut self) {
        if let Some(i) = self.threads.iter().position(|t| t.is_finished()) {
            let failure = match self.threads.remove(i).join() {
                Ok(Err(e)) => e,
                Ok(Ok(_)) => "stopped early".into(),
                Err(_) => "panicked".into(),
            };
            panic!("a redis crate writer failed: {failure}");
        }
    }

    /// Stops the writers; adds what they wrote to `expected`; returns the
    /// counts of acknowledged writes and of retries.
    fn finish(mut self, expected: &mut Expected) -> (u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        // A writer waits at most RETRY_LIMIT per command, and retries a
        // command for as long.
        let deadline = Instant::now() + 3 * RETRY_LIMIT;
        while !self.threads.iter().all(|t| t.is_finished()) {
            assert!(Instant::now() < deadline, "a redis crate writer hangs");
            std::thread::sleep(Duration::from_millis(20));
        }
        let (mut writes, mut retries) = (0, 0);
        for thread in std::mem::take(&mut self.threads) {
            let report = thread
                .join()
                .expect("writer panicked")
                .unwrap_or_else(|e| panic!("a redis crate writer failed: {e}"));
            expected.extend(report.lines);
            writes += report.writes;
            retries += report.retries;
        }
        (writes, retries)
    }
}

impl Drop for RustLoad {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

// ---------------------------------------------------------------------------
// redis-py's writers: tests/clients/cluster_load.py, killed when dropped.

struct PythonLoad {
    child: Child,
    stdin: Option<ChildStdin>,
    stderr: tempfile::NamedTempFile,
}

impl PythonLoad {
    fn start(seeds: &[&Server], deadline_ms: u64) -> PythonLoad {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/cluster_load.py");
        let ports: Vec<String> = seeds.iter().map(|s| s.port.to_string()).collect();
        let stderr = tempfile::NamedTempFile::new().expect("temp file");
        let mut child = Command::new("python3")
            .args([script, &ports.join(",")])
            .arg(PYTHON_WRITERS.to_string())
            .arg(KEYS_PER_KIND.to_string())
            .arg(deadline_ms.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr.reopen().expect("temp file"))
            .spawn()
            .expect("python3 with redis-py (deploy/install-deps.sh --test)");
        PythonLoad {
            stdin: child.stdin.take(),
            child,
            stderr,
        }
    }

    fn errors(&self) -> String {
        std::fs::read_to_string(self.stderr.path()).unwrap_or_default()
    }

    fn check_running(&mut self) {
        if let Some(status) = self.child.try_wait().expect("polling python3") {
            panic!("the redis-py writers failed ({status}):\n{}", self.errors());
        }
    }

    /// Stops the writers; adds what they wrote to `expected`; returns the
    /// counts of acknowledged writes and of retries.
    fn finish(mut self, expected: &mut Expected) -> (u64, u64) {
        let mut stdin = self.stdin.take().expect("python3's stdin");
        // The script may have exited already: its status tells.
        let _ = stdin.write_all(b"stop\n");
        drop(stdin);
        let mut out = String::new();
        std::io::Read::read_to_string(
            self.child.stdout.as_mut().expect("python3's stdout"),
            &mut out,
        )
        .expect("reading python3's output");
        let status = wait_exit(&mut self.child, Duration::from_secs(60));
        assert!(
            status.success(),
            "the redis-py writers failed ({status}):\n{}",
            self.errors()
        );
        let mut counts = None;
        for text in out.lines() {
            if let Some(summary) = text.strip_prefix("# writes ") {
                let (writes, retries) = summary.split_once(" retries ").expect("a summary");
                counts = Some((
                    writes.parse().expect("writes"),
                    retries.parse().expect("retries"),
                ));
            } else {
                let key = text.split('\t').next().expect("a key");
                expected.insert(key.to_string(), text.to_string());
            }
        }
        counts.unwrap_or_else(|| panic!("no summary from the redis-py writers:\n{out}"))
    }
}

impl Drop for PythonLoad {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------
// The checks, on direct (non-cluster) connections to every node.

/// How many MOVED replies the nodes sent (INFO errorstats).
fn moved_answers(nodes: &[&Server]) -> u64 {
    nodes
        .iter()
        .map(|node| {
            let info: String = redis::cmd("INFO")
                .arg("errorstats")
                .query(&mut node.client())
                .expect("INFO errorstats");
            info.lines()
                .find_map(|l| l.strip_prefix("errorstat_MOVED:count="))
                .map_or(0, |n| n.trim().parse().expect("a count"))
        })
        .sum()
}

/// CLUSTER SLOTS as (first, last, port) runs, sorted.
fn slot_runs(server: &Server) -> Vec<(u16, u16, u16)> {
    let reply: Vec<redis::Value> = redis::cmd("CLUSTER")
        .arg("SLOTS")
        .query(&mut server.client())
        .expect("CLUSTER SLOTS");
    let mut runs: Vec<(u16, u16, u16)> = reply
        .into_iter()
        .map(|entry| {
            // first, last, [host, port, id, ...] of the master, replicas...
            let fields: Vec<redis::Value> = redis::from_redis_value(entry).expect("an entry");
            let master: Vec<redis::Value> =
                redis::from_redis_value(fields[2].clone()).expect("a master");
            let number = |value: &redis::Value| -> u16 {
                redis::from_redis_value(value.clone()).expect("a number")
            };
            (number(&fields[0]), number(&fields[1]), number(&master[1]))
        })
        .collect();
    runs.sort();
    runs
}

/// Every key a node holds (SCAN).
fn keys_of(con: &mut redis::Connection) -> Vec<String> {
    let mut keys = Vec::new();
    let mut cursor = "0".to_string();
    loop {
        let (next, batch): (String, Vec<String>) = redis::cmd("SCAN")
            .arg(&cursor)
            .arg("COUNT")
            .arg(1000)
            .query(con)
            .expect("SCAN");
        keys.extend(batch);
        if next == "0" {
            return keys;
        }
        cursor = next;
    }
}

/// A key as its node holds it, in the form of [`Expected`].
fn read_key(con: &mut redis::Connection, key: &str) -> String {
    let kind: String = redis::cmd("TYPE").arg(key).query(con).expect("TYPE");
    let contents = match kind.as_str() {
        "string" => redis::cmd("GET").arg(key).query(con).expect("GET"),
        "hash" => pairs(
            &redis::cmd("HGETALL")
                .arg(key)
                .query::<BTreeMap<String, String>>(con)
                .expect("HGETALL"),
        ),
        "set" => join(
            redis::cmd("SMEMBERS")
                .arg(key)
                .query::<BTreeSet<String>>(con)
                .expect("SMEMBERS")
                .iter(),
        ),
        "zset" => pairs(
            &redis::cmd("ZRANGE")
                .arg(key)
                .arg(0)
                .arg(-1)
                .arg("WITHSCORES")
                .query::<Vec<(String, f64)>>(con)
                .expect("ZRANGE")
                .into_iter()
                .collect(),
        ),
        "list" => join(
            redis::cmd("LRANGE")
                .arg(key)
                .arg(0)
                .arg(-1)
                .query::<Vec<String>>(con)
                .expect("LRANGE")
                .iter(),
        ),
        other => format!("<type {other}>"),
    };
    let expires: i64 = redis::cmd("PEXPIRETIME")
        .arg(key)
        .query(con)
        .expect("PEXPIRETIME");
    line(key, &kind, expires, &contents).1
}

/// Up to `n` items of a list for a message, and how many there are.
fn some<T: std::fmt::Debug>(items: &[T], n: usize) -> String {
    format!(
        "{} of them, first {:?}",
        items.len(),
        &items[..items.len().min(n)]
    )
}

/// The checks of this file's doc comment; `serving` are the nodes of the
/// final topology, `all` every node started, those that left included.
fn verify(all: &[&Server], serving: &[&Server], expected: &Expected) {
    let (success, out) = tool(&["cluster", "check", &addr(serving[0])]);
    assert!(
        success && out.contains(&format!("{} nodes agree", serving.len())),
        "{out}"
    );
    // Nodes that left redirect clients too: they have the topology.
    let runs = slot_runs(all[0]);
    for node in &all[1..] {
        assert_eq!(slot_runs(node), runs, "port {} sees other slots", node.port);
    }
    let mut owner = vec![None; 16384];
    for &(first, last, port) in &runs {
        for slot in first..=last {
            assert_eq!(owner[slot as usize], None, "slot {slot} served twice");
            owner[slot as usize] = Some(port);
        }
    }
    let unserved: Vec<usize> = (0..16384).filter(|&s| owner[s].is_none()).collect();
    assert!(
        unserved.is_empty(),
        "unserved slots: {}",
        some(&unserved, 5)
    );

    let mut holders: BTreeMap<String, Vec<u16>> = BTreeMap::new();
    let mut total = 0;
    for node in all {
        let mut con = node.client();
        let keys = keys_of(&mut con);
        let mut per_slot = vec![0i64; 16384];
        for key in &keys {
            per_slot[redrock_cluster::key_slot(key.as_bytes()) as usize] += 1;
            holders.entry(key.clone()).or_default().push(node.port);
        }
        let mut pipe = redis::pipe();
        for slot in 0..16384 {
            pipe.cmd("CLUSTER").arg("COUNTKEYSINSLOT").arg(slot);
        }
        let counted: Vec<i64> = pipe.query(&mut con).expect("COUNTKEYSINSLOT");
        let wrong: Vec<(usize, i64, i64)> = (0..16384)
            .filter(|&s| counted[s] != per_slot[s])
            .map(|s| (s, counted[s], per_slot[s]))
            .collect();
        assert!(
            wrong.is_empty(),
            "port {}: COUNTKEYSINSLOT differs from the keys found (slot, counted, found): {}",
            node.port,
            some(&wrong, 5)
        );
        let size: i64 = redis::cmd("DBSIZE").query(&mut con).expect("DBSIZE");
        assert_eq!(
            counted.iter().sum::<i64>(),
            size,
            "port {}: COUNTKEYSINSLOT does not add up to DBSIZE",
            node.port
        );
        total += size as usize;
    }

    let misplaced: Vec<(&String, &Vec<u16>)> = holders
        .iter()
        .filter(|(key, ports)| {
            **ports != [owner[redrock_cluster::key_slot(key.as_bytes()) as usize].unwrap()]
        })
        .collect();
    assert!(
        misplaced.is_empty(),
        "keys not held by exactly the node serving their slot (key, holders): {}",
        some(&misplaced, 5)
    );
    let missing: Vec<&String> = expected
        .keys()
        .filter(|k| !holders.contains_key(*k))
        .collect();
    assert!(
        missing.is_empty(),
        "acknowledged keys lost: {}",
        some(&missing, 5)
    );
    let unexpected: Vec<&String> = holders
        .keys()
        .filter(|k| !expected.contains_key(*k))
        .collect();
    assert!(
        unexpected.is_empty(),
        "keys nobody wrote: {}",
        some(&unexpected, 5)
    );
    assert_eq!(
        total,
        expected.len(),
        "the nodes' DBSIZEs add up to another count"
    );

    let mut cons: BTreeMap<u16, redis::Connection> =
        serving.iter().map(|s| (s.port, s.client())).collect();
    let differing: Vec<(String, &String)> = expected
        .iter()
        .filter_map(|(key, want)| {
            let port = holders[key][0];
            let found = read_key(cons.get_mut(&port).expect("a serving node"), key);
            (found != *want).then_some((found, want))
        })
        .collect();
    assert!(
        differing.is_empty(),
        "keys that differ from their acknowledged writes (found, expected): {}",
        some(&differing, 5)
    );
}
