//! A stalled replica never holds up its master: with one replica stopped
//! (SIGSTOP), many connections write through the master, every write is
//! acknowledged, the other replica keeps up, the stalled one is dropped
//! by `client-output-buffer-limit replica`, and once it runs again it
//! syncs and holds exactly the master's data.

mod common;

use common::Server;
use std::sync::mpsc;
use std::time::{Duration, Instant};

const WRITERS: usize = 8;
const WRITES_PER_WRITER: usize = 1500;
const VALUE_LEN: usize = 4096;
const PIPELINE: usize = 50;

fn info_field(server: &Server, section: &str, field: &str) -> Option<String> {
    let mut con = server.client();
    let text: String = redis::cmd("INFO").arg(section).query(&mut con).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .map(|v| v.trim().to_string())
}

fn offset(server: &Server, field: &str) -> u64 {
    info_field(server, "replication", field)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Polls `check` until it holds, for at most `limit`.
fn wait_until(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn caught_up(master: &Server, replica: &Server) -> bool {
    info_field(replica, "replication", "master_link_status").as_deref() == Some("up")
        && offset(replica, "slave_repl_offset") == offset(master, "master_repl_offset")
}

fn signal(server: &Server, signal: i32) {
    // SAFETY: sending a signal to our own child process.
    unsafe {
        libc::kill(server.child.id() as i32, signal);
    }
}

/// Every key's value on `server`, sorted by key.
fn contents(server: &Server) -> Vec<(String, Vec<u8>)> {
    let mut con = server.client();
    let mut keys: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut con).unwrap();
    keys.sort();
    keys.chunks(500)
        .flat_map(|chunk| {
            let values: Vec<Vec<u8>> = redis::cmd("MGET").arg(chunk).query(&mut con).unwrap();
            chunk.iter().cloned().zip(values).collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn a_stalled_replica_never_holds_up_the_master_and_syncs_once_it_runs_again() {
    let master = Server::start_with(&["--client-output-buffer-limit", "replica 8mb 4mb 5"]);
    let replicaof = format!("127.0.0.1 {}", master.port);
    let steady = Server::start_with(&["--replicaof", &replicaof]);
    let stalled = Server::start_with(&["--replicaof", &replicaof]);
    for replica in [&steady, &stalled] {
        wait_until("replica linked", Duration::from_secs(30), || {
            caught_up(&master, replica)
        });
    }
    signal(&stalled, libc::SIGSTOP);

    let started = Instant::now();
    let (done, finished) = mpsc::channel();
    for writer in 0..WRITERS {
        let url = master.url();
        let done = done.clone();
        std::thread::spawn(move || {
            let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
            let value = vec![b'a' + writer as u8; VALUE_LEN];
            let mut acknowledged = 0;
            for batch in (0..WRITES_PER_WRITER).collect::<Vec<_>>().chunks(PIPELINE) {
                let mut pipe = redis::pipe();
                for i in batch {
                    pipe.cmd("SET").arg(format!("w{writer}:{i}")).arg(&value);
                }
                let replies: Vec<String> = pipe.query(&mut con).unwrap();
                assert!(
                    replies.iter().all(|r| r == "OK"),
                    "a write failed: {replies:?}"
                );
                acknowledged += replies.len();
            }
            done.send(acknowledged).unwrap();
        });
    }
    drop(done);
    let mut acknowledged = 0;
    for _ in 0..WRITERS {
        // Writers stuck behind the stalled replica would never finish.
        acknowledged += finished
            .recv_timeout(Duration::from_secs(180))
            .expect("writers did not finish while a replica was stopped");
    }
    let elapsed = started.elapsed();
    assert_eq!(acknowledged, WRITERS * WRITES_PER_WRITER);
    println!(
        "{acknowledged} writes of {VALUE_LEN} bytes from {WRITERS} connections in {elapsed:?} \
         with one replica stopped ({:.0} writes/s)",
        acknowledged as f64 / elapsed.as_secs_f64()
    );

    wait_until(
        "the steady replica caught up",
        Duration::from_secs(60),
        || caught_up(&master, &steady),
    );
    // The stopped replica is dropped: what it has not acknowledged passes
    // the replica class's limit (or it reads nothing for repl-timeout).
    wait_until(
        "the stopped replica dropped",
        Duration::from_secs(90),
        || info_field(&master, "replication", "connected_slaves").as_deref() == Some("1"),
    );
    let expected = contents(&master);
    assert_eq!(expected.len(), acknowledged);
    assert!(contents(&steady) == expected, "the steady replica differs");

    signal(&stalled, libc::SIGCONT);
    wait_until(
        "the stopped replica synced again",
        Duration::from_secs(90),
        || caught_up(&master, &stalled),
    );
    assert!(
        contents(&stalled) == expected,
        "the resumed replica differs"
    );
    for field in ["sync_full", "sync_partial_ok", "sync_partial_err"] {
        println!(
            "master {field}: {}",
            info_field(&master, "stats", field).unwrap_or_default()
        );
    }
}
