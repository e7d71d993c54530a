//! A stalled replica never holds up its master: with one replica stopped
//! (SIGSTOP), many connections write through the master, every write is
//! acknowledged, the other replica keeps up, the stalled one is dropped
//! by `client-output-buffer-limit replica`, and once it runs again it
//! syncs and holds exactly the master's data.

mod common;

use common::replication::{
    caught_up, describe, differences, dump, freeze, info_field, thaw, wait_until,
};
use common::Server;
use std::sync::mpsc;
use std::time::{Duration, Instant};

const WRITERS: usize = 8;
const WRITES_PER_WRITER: usize = 1500;
const VALUE_LEN: usize = 4096;
const PIPELINE: usize = 50;

#[test]
fn a_stalled_replica_never_holds_up_the_master_and_syncs_once_it_runs_again() {
    let master = Server::start_with(&["--client-output-buffer-limit", "replica 8mb 4mb 5"]);
    let replicaof = format!("127.0.0.1 {}", master.port);
    let steady = Server::start_with(&["--replicaof", &replicaof]);
    let stalled = Server::start_with(&["--replicaof", &replicaof]);
    for replica in [&steady, &stalled] {
        wait_until("replica linked", Duration::from_secs(30), || {
            caught_up(master.port, replica.port)
        });
    }
    freeze(&stalled.child);

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
        || caught_up(master.port, steady.port),
    );
    // The stopped replica is dropped: what it has not acknowledged passes
    // the replica class's limit (or it reads nothing for repl-timeout).
    wait_until(
        "the stopped replica dropped",
        Duration::from_secs(90),
        || info_field(master.port, "replication", "connected_slaves").as_deref() == Some("1"),
    );
    let expected = dump(master.port);
    assert_eq!(expected.len(), acknowledged);
    let found = differences(&expected, &dump(steady.port));
    assert!(
        found.is_empty(),
        "the steady replica differs: {}",
        describe(&found)
    );

    thaw(&stalled.child);
    wait_until(
        "the stopped replica synced again",
        Duration::from_secs(90),
        || caught_up(master.port, stalled.port),
    );
    let found = differences(&expected, &dump(stalled.port));
    assert!(
        found.is_empty(),
        "the resumed replica differs: {}",
        describe(&found)
    );
    for field in ["sync_full", "sync_partial_ok", "sync_partial_err"] {
        println!(
            "master {field}: {}",
            info_field(master.port, "stats", field).unwrap_or_default()
        );
    }
}
