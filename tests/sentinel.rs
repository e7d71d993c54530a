//! Redis Sentinel (the real, unmodified `redis-sentinel`) fails a master
//! with two replicas over: tests/clients/sentinel.py starts three sentinels,
//! writes through redis-py's Sentinel client with `WAIT 1` after each
//! write, kills the master with SIGKILL, and checks that a replica was
//! promoted, the other one follows it, and no write acknowledged by WAIT
//! was lost. The same script runs on redis-server processes, which proves
//! its checks pass where Redis itself is monitored.

mod common;
use common::*;
use std::time::{Duration, Instant};

/// Runs the script on a master (its port and process id) and its two
/// replicas; panics with its output when it fails.
fn run_failover(master_port: u16, master_pid: u32, replica_ports: [u16; 2]) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/sentinel.py");
    let output = std::process::Command::new("timeout")
        .arg("300")
        .arg("python3")
        .arg(script)
        .arg(master_port.to_string())
        .arg(master_pid.to_string())
        .args(replica_ports.map(|p| p.to_string()))
        .output()
        .expect("python3 with redis-py and redis-sentinel (deploy/install-deps.sh --test)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "sentinel.py failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    print!("{stdout}");
}

/// Waits until the replica on `port` has its link to the master up.
fn wait_linked(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut raw = RawClient::connect(port);
        let info = String::from_utf8_lossy(&raw.command(&["INFO", "replication"])).into_owned();
        if info.contains("master_link_status:up") {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "replica {port} not linked within 30s:\n{info}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn sentinel_failover_on_redrock() {
    let master = Server::start();
    let replicaof = format!("127.0.0.1 {}", master.port);
    let replicas = [
        Server::start_with(&["--replicaof", &replicaof]),
        Server::start_with(&["--replicaof", &replicaof]),
    ];
    for replica in &replicas {
        wait_linked(replica.port);
    }
    run_failover(
        master.port,
        master.child.id(),
        [replicas[0].port, replicas[1].port],
    );
}

#[test]
fn sentinel_failover_on_redis_server() {
    let master = RedisServer::start();
    let replicas = [RedisServer::start(), RedisServer::start()];
    let port = master.port.to_string();
    for replica in &replicas {
        let reply = replica.raw().command(&["REPLICAOF", "127.0.0.1", &port]);
        assert_eq!(reply, b"+OK\r\n");
        wait_linked(replica.port);
    }
    run_failover(
        master.port,
        master.child.id(),
        [replicas[0].port, replicas[1].port],
    );
}
