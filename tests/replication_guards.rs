//! The guards replication puts on commands, compared with a real
//! redis-server doing the same: `min-replicas-to-write` refuses writes
//! without enough replicas that acknowledged lately, and
//! `replica-serve-stale-data no` refuses all but a few commands while a
//! replica has no link to its master.

mod common;

use common::replication::{self, wait_until};
use common::{show, RawClient, RedisServer, Server};
use std::time::Duration;

/// A node under test: RedRock or the redis-server oracle. Both are driven
/// only by commands, so one scenario serves both.
enum Node {
    RedRock(Server),
    Redis(RedisServer),
}

impl Node {
    fn start(redrock: bool) -> Node {
        if redrock {
            Node::RedRock(Server::start())
        } else {
            Node::Redis(RedisServer::start())
        }
    }

    fn port(&self) -> u16 {
        match self {
            Node::RedRock(s) => s.port,
            Node::Redis(s) => s.port,
        }
    }

    fn raw(&self) -> RawClient {
        RawClient::connect(self.port())
    }

    fn command(&self, args: &[&str]) -> String {
        show(&self.raw().command(args))
    }

    fn info_field(&self, field: &str) -> Option<String> {
        replication::info_field(self.port(), "replication", field)
    }

    /// The server's process id, from INFO (asked while it runs).
    fn pid(&self) -> i32 {
        let reply = self.raw().command(&["INFO", "server"]);
        String::from_utf8_lossy(&reply)
            .lines()
            .find_map(|l| l.strip_prefix("process_id:"))
            .and_then(|v| v.trim().parse().ok())
            .expect("process_id in INFO server")
    }
}

/// Stops (SIGSTOP) or resumes (SIGCONT) a process.
fn signal(pid: i32, signal: i32) {
    // SAFETY: signalling a server process this test started.
    unsafe {
        libc::kill(pid, signal);
    }
}

/// What each step of the min-replicas-to-write scenario replied.
fn min_replicas_scenario(redrock: bool) -> Vec<String> {
    let master = Node::start(redrock);
    let mut replies = vec![
        master.command(&["CONFIG", "SET", "min-replicas-to-write", "1"]),
        master.command(&["CONFIG", "SET", "min-replicas-max-lag", "2"]),
        // No replica: writes are refused, reads and non-writing commands
        // are not.
        master.command(&["SET", "k", "v"]),
        master.command(&["GET", "k"]),
        master.command(&["PING"]),
    ];
    let mut raw = master.raw();
    replies.push(show(&raw.command(&["MULTI"])));
    replies.push(show(&raw.command(&["SET", "k", "v"])));
    replies.push(show(&raw.command(&["EXEC"])));

    let replica = Node::start(redrock);
    replica.command(&["REPLICAOF", "127.0.0.1", &master.port().to_string()]);
    wait_until("replica online", Duration::from_secs(30), || {
        master
            .info_field("slave0")
            .is_some_and(|l| l.contains("state=online"))
    });
    replies.push(master.command(&["SET", "k", "v"]));
    replies.push(master.command(&["GET", "k"]));

    // A replica that stops acknowledging no longer counts once its last
    // acknowledgement is older than min-replicas-max-lag.
    let replica_pid = replica.pid();
    signal(replica_pid, libc::SIGSTOP);
    wait_until("writes refused again", Duration::from_secs(30), || {
        master
            .command(&["SET", "k", "w"])
            .starts_with("-NOREPLICAS")
    });
    replies.push(master.command(&["SET", "k", "w"]));
    signal(replica_pid, libc::SIGCONT);
    wait_until("writes accepted again", Duration::from_secs(30), || {
        master.command(&["SET", "k", "x"]).starts_with("+OK")
    });
    replies.push(master.command(&["GET", "k"]));
    replies.push(master.command(&["CONFIG", "SET", "min-replicas-to-write", "0"]));
    replies
}

/// What a replica whose master is unreachable answers to each command,
/// with replica-serve-stale-data yes and then no: errors in full, other
/// replies by their type only (values differ between the servers), and
/// ROLE's offset (-1 without a link).
fn stale_data_scenario(redrock: bool) -> Vec<String> {
    let replica = Node::start(redrock);
    let dead_port = common::free_port().to_string();
    replica.command(&["REPLICAOF", "127.0.0.1", &dead_port]);
    let probes: [&[&str]; 8] = [
        &["GET", "k"],
        &["SET", "k", "v"],
        &["DBSIZE"],
        &["EXISTS", "k"],
        &["PING"],
        &["ECHO", "e"],
        &["CONFIG", "GET", "replica-serve-stale-data"],
        &["REPLICAOF", "NO", "ONE"],
    ];
    let mut replies = vec![];
    for serve_stale in ["yes", "no"] {
        replica.command(&["CONFIG", "SET", "replica-serve-stale-data", serve_stale]);
        replica.command(&["REPLICAOF", "127.0.0.1", &dead_port]);
        assert_eq!(
            replica.info_field("master_link_status").as_deref(),
            Some("down")
        );
        // ROLE's last element: the offset received from the master.
        let role = replica.raw().command(&["ROLE"]);
        let offset = String::from_utf8_lossy(&role)
            .lines()
            .last()
            .map(str::to_owned);
        replies.push(format!("{serve_stale} ROLE offset: {offset:?}"));
        for probe in probes {
            let reply = replica.command(probe);
            let shown = if reply.starts_with('-') {
                reply
            } else {
                reply.chars().next().unwrap_or(' ').to_string()
            };
            replies.push(format!("{serve_stale} {probe:?}: {shown}"));
        }
    }
    replies
}

#[test]
fn min_replicas_to_write_matches_redis() {
    let redis = min_replicas_scenario(false);
    let redrock = min_replicas_scenario(true);
    assert!(
        redis[2].starts_with("-NOREPLICAS"),
        "the oracle refuses writes without replicas: {redis:?}"
    );
    assert_eq!(redrock, redis);
}

#[test]
fn replica_serve_stale_data_matches_redis() {
    let redis = stale_data_scenario(false);
    let redrock = stale_data_scenario(true);
    assert!(
        redis.iter().any(|r| r.contains("-MASTERDOWN")),
        "the oracle refuses stale reads: {redis:?}"
    );
    assert_eq!(redrock, redis);
}
