//! Replication test support, for RedRock and redis-server alike: INFO
//! fields, waiting for a replica to catch up, and a key-by-key dump of a
//! server's data to compare a replica with its master.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Child;
use std::time::{Duration, Instant};

/// A `redis` crate connection to 127.0.0.1:`port`, whose replies are
/// awaited at most `timeout`.
fn try_connect(port: u16, timeout: Duration) -> redis::RedisResult<redis::Connection> {
    let con = redis::Client::open(format!("redis://127.0.0.1:{port}/"))?
        .get_connection_with_timeout(timeout)?;
    con.set_read_timeout(Some(timeout))?;
    con.set_write_timeout(Some(timeout))?;
    Ok(con)
}

/// A connection for the tests' commands: a server that stops answering
/// (stopped, or hung) fails the test within a minute.
pub fn connect(port: u16) -> redis::Connection {
    try_connect(port, Duration::from_secs(60)).expect("connecting")
}

/// One field of an INFO section; `None` when the server does not answer
/// (within 5 s) or has no such field.
pub fn info_field(port: u16, section: &str, field: &str) -> Option<String> {
    let mut con = try_connect(port, Duration::from_secs(5)).ok()?;
    let text: String = redis::cmd("INFO").arg(section).query(&mut con).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .map(|v| v.trim().to_string())
}

/// A numeric INFO field, 0 when absent.
pub fn info_number(port: u16, section: &str, field: &str) -> u64 {
    info_field(port, section, field)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Polls `check` until it holds, for at most `limit`.
pub fn wait_until(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether the replica's link is up and it has everything its master
/// wrote so far.
pub fn caught_up(master: u16, replica: u16) -> bool {
    info_field(replica, "replication", "master_link_status").as_deref() == Some("up")
        && info_field(replica, "replication", "master_port") == Some(master.to_string())
        && info_number(replica, "replication", "slave_repl_offset")
            == info_number(master, "replication", "master_repl_offset")
}

/// Waits (bounded) until every replica caught up with the master.
pub fn wait_caught_up(master: u16, replicas: &[u16]) {
    for &replica in replicas {
        wait_until(
            &format!("replica {replica} caught up with master {master}"),
            Duration::from_secs(60),
            || caught_up(master, replica),
        );
    }
}

/// Stops a child process (SIGSTOP) and waits (bounded) until every one of
/// its threads stopped: the thread that takes the signal stops the others
/// only once it runs, and on a busy machine they go on meanwhile (a
/// replica would still apply and acknowledge what comes).
pub fn freeze(child: &Child) {
    send_signal(child, libc::SIGSTOP);
    let tasks = format!("/proc/{}/task", child.id());
    wait_until("the process stopped", Duration::from_secs(30), || {
        std::fs::read_dir(&tasks)
            .expect("the process's threads")
            .flatten()
            .all(|task| {
                // The state follows the command name, which is in parentheses.
                std::fs::read_to_string(task.path().join("stat")).is_ok_and(|stat| {
                    stat.rsplit_once(") ")
                        .is_some_and(|(_, rest)| rest.starts_with(['T', 't']))
                })
            })
    });
}

/// Lets a process stopped by [`freeze`] run again.
pub fn thaw(child: &Child) {
    send_signal(child, libc::SIGCONT);
}

fn send_signal(child: &Child, signal: i32) {
    // SAFETY: sending a signal to our own child process.
    unsafe {
        libc::kill(child.id() as i32, signal);
    }
}

/// The `keys=` count of `db0` in INFO keyspace (0 without the line).
pub fn keyspace_keys(port: u16) -> u64 {
    info_field(port, "keyspace", "db0")
        .and_then(|line| {
            line.split(',')
                .find_map(|part| part.strip_prefix("keys="))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

/// One key as a dump holds it: its type, its whole value (hash fields and
/// set members sorted; sorted sets with their scores, in order) and its
/// absolute expiry time (PEXPIRETIME: -1 without one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub kind: String,
    pub expire_at: i64,
    pub value: Vec<Vec<u8>>,
}

/// Every key of db 0, by name.
pub type Dump = BTreeMap<Vec<u8>, Entry>;

/// How many keys one pipeline reads.
const DUMP_CHUNK: usize = 500;

/// Every key of the connection's database, found with SCAN (which on a
/// master also removes the keys that expired).
pub fn scan_keys(con: &mut redis::Connection) -> BTreeSet<Vec<u8>> {
    let mut keys = BTreeSet::new();
    let mut cursor = 0u64;
    loop {
        let (next, batch): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("COUNT")
            .arg(1000)
            .query(con)
            .expect("SCAN");
        keys.extend(batch);
        cursor = next;
        if cursor == 0 {
            return keys;
        }
    }
}

/// Reads every key of db 0 (found with [`scan_keys`]) with its type,
/// value and expiry.
pub fn dump(port: u16) -> Dump {
    let mut con = connect(port);
    let keys: Vec<Vec<u8>> = scan_keys(&mut con).into_iter().collect();
    let mut dump = Dump::new();
    for chunk in keys.chunks(DUMP_CHUNK) {
        let mut pipe = redis::pipe();
        for key in chunk {
            pipe.cmd("TYPE").arg(key).cmd("PEXPIRETIME").arg(key);
        }
        let heads: Vec<redis::Value> = pipe.query(&mut con).expect("TYPE and PEXPIRETIME");
        let mut pipe = redis::pipe();
        let mut kinds = Vec::new();
        for (key, head) in chunk.iter().zip(heads.chunks(2)) {
            let kind: String = redis::from_redis_value_ref(&head[0]).expect("a type");
            let expire_at: i64 = redis::from_redis_value_ref(&head[1]).expect("an expiry");
            match kind.as_str() {
                "string" => pipe.cmd("GET").arg(key),
                "hash" => pipe.cmd("HGETALL").arg(key),
                "set" => pipe.cmd("SMEMBERS").arg(key),
                "zset" => pipe.cmd("ZRANGE").arg(key).arg(0).arg(-1).arg("WITHSCORES"),
                "list" => pipe.cmd("LRANGE").arg(key).arg(0).arg(-1),
                // Expired between SCAN and TYPE.
                "none" => pipe.cmd("PING"),
                other => panic!("a dump does not read keys of type {other}"),
            };
            kinds.push((key, kind, expire_at));
        }
        let values: Vec<redis::Value> = pipe.query(&mut con).expect("reading values");
        for ((key, kind, expire_at), value) in kinds.into_iter().zip(values) {
            let value = match kind.as_str() {
                "none" => continue,
                "string" => vec![redis::from_redis_value::<Vec<u8>>(value).expect("a string")],
                "hash" => {
                    let flat: Vec<Vec<u8>> = redis::from_redis_value(value).expect("fields");
                    let mut pairs: Vec<&[Vec<u8>]> = flat.chunks(2).collect();
                    pairs.sort();
                    pairs.concat()
                }
                "set" => {
                    let mut members: Vec<Vec<u8>> =
                        redis::from_redis_value(value).expect("members");
                    members.sort();
                    members
                }
                _ => redis::from_redis_value(value).expect("elements"),
            };
            dump.insert(
                key.clone(),
                Entry {
                    kind,
                    expire_at,
                    value,
                },
            );
        }
    }
    dump
}

/// The keys where `actual` differs from `expected`, with both entries
/// (`None`: the key is missing there).
pub fn differences(
    expected: &Dump,
    actual: &Dump,
) -> BTreeMap<Vec<u8>, (Option<Entry>, Option<Entry>)> {
    expected
        .keys()
        .chain(actual.keys())
        .filter(|key| expected.get(*key) != actual.get(*key))
        .map(|key| {
            (
                key.clone(),
                (expected.get(key).cloned(), actual.get(key).cloned()),
            )
        })
        .collect()
}

/// The first few differences, readable, for an assertion message.
pub fn describe(differences: &BTreeMap<Vec<u8>, (Option<Entry>, Option<Entry>)>) -> String {
    let mut text = format!("{} keys differ", differences.len());
    for (key, (expected, actual)) in differences.iter().take(5) {
        text.push_str(&format!(
            "\n  {}: expected {expected:?}, found {actual:?}",
            String::from_utf8_lossy(key)
        ));
    }
    text
}

/// Waits (bounded) until every replica caught up and holds exactly the
/// master's keys, and INFO keyspace counts them alike. Keys that expire
/// meanwhile make a dump stale, so the comparison is made again until it
/// holds; the last differences are reported if it never does.
pub fn assert_replicas_equal(master: u16, replicas: &[u16]) -> Dump {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        wait_caught_up(master, replicas);
        let expected = dump(master);
        // The dump's SCAN removed expired keys: their deletions too.
        wait_caught_up(master, replicas);
        let mut problems = Vec::new();
        let master_keys = keyspace_keys(master);
        if master_keys != expected.len() as u64 {
            problems.push(format!(
                "master {master}: INFO keyspace counts {master_keys} keys, the dump has {}",
                expected.len()
            ));
        }
        for &replica in replicas {
            let found = differences(&expected, &dump(replica));
            if !found.is_empty() {
                problems.push(format!("replica {replica}: {}", describe(&found)));
            }
            let keys = keyspace_keys(replica);
            if keys != master_keys {
                problems.push(format!(
                    "replica {replica}: INFO keyspace counts {keys} keys, the master {master_keys}"
                ));
            }
        }
        if problems.is_empty() {
            return expected;
        }
        assert!(
            Instant::now() < deadline,
            "replicas differ from the master:\n{}",
            problems.join("\n")
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
