//! Scaling a cluster with the `redrock` tool: add-node (a master, then
//! rebalance; a replica, which syncs), del-node (a master's keys move
//! away first), the refusals, and runs cut short (a tool killed, a
//! topology pushed to some nodes only, a source restarted after a
//! hand-over) that the next run finishes; a failover beside a migration.

mod common;
use common::*;
use redis::cluster::{cluster_pipe, ClusterClient, ClusterConnection};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CLUSTER_ARGS: &[&str] = &["--cluster-enabled", "yes"];

fn node() -> Server {
    Server::start_with(CLUSTER_ARGS)
}

fn addr(server: &Server) -> String {
    format!("127.0.0.1:{}", server.port)
}

fn id_of(server: &Server) -> String {
    redis::cmd("CLUSTER")
        .arg("MYID")
        .query(&mut server.client())
        .unwrap()
}

/// Runs the tool, which must succeed; returns what it printed.
fn run(args: &[&str]) -> String {
    let (success, out) = tool(args);
    assert!(success, "redrock {}: {out}", args.join(" "));
    out
}

/// Runs the tool, which must fail saying `why`.
fn refused(args: &[&str], why: &str) {
    let (success, out) = tool(args);
    assert!(!success, "redrock {} succeeded: {out}", args.join(" "));
    assert!(out.contains(why), "redrock {}: {out}", args.join(" "));
}

fn create(nodes: &[&Server]) {
    let mut args = vec!["cluster".to_string(), "create".to_string()];
    args.extend(nodes.iter().map(|n| addr(n)));
    run(&args.iter().map(String::as_str).collect::<Vec<_>>());
}

/// One node of a node's CLUSTER NODES.
#[derive(Debug)]
struct Member {
    id: String,
    port: u16,
    master: Option<String>,
    slots: Vec<(u16, u16)>,
}

fn topology(server: &Server) -> Vec<Member> {
    let text: String = redis::cmd("CLUSTER")
        .arg("NODES")
        .query(&mut server.client())
        .unwrap();
    text.lines()
        .map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            let port = fields[1].split(['@', ':']).nth(1).unwrap().parse().unwrap();
            Member {
                id: fields[0].to_string(),
                port,
                master: (fields[3] != "-").then(|| fields[3].to_string()),
                slots: fields[8..]
                    .iter()
                    .map(|r| match r.split_once('-') {
                        Some((a, b)) => (a.parse().unwrap(), b.parse().unwrap()),
                        None => (r.parse().unwrap(), r.parse().unwrap()),
                    })
                    .collect(),
            }
        })
        .collect()
}

fn slots_of(server: &Server, entry: &Server) -> Vec<(u16, u16)> {
    topology(entry)
        .into_iter()
        .find(|m| m.port == server.port)
        .map_or(Vec::new(), |m| m.slots)
}

fn cluster_client(nodes: &[&Server]) -> ClusterConnection {
    ClusterClient::builder(nodes.iter().map(|n| n.url()).collect::<Vec<_>>())
        .retries(20)
        .build()
        .unwrap()
        .get_connection()
        .unwrap()
}

/// `count` keys `k<i>` (strings, and every fifth a hash) with values of
/// `size` bytes, written through the cluster.
fn populate(con: &mut ClusterConnection, count: usize, size: usize) {
    let filler = "x".repeat(size);
    for chunk in (0..count).collect::<Vec<_>>().chunks(1000) {
        let mut pipe = cluster_pipe();
        for &i in chunk {
            if i % 5 == 0 {
                pipe.cmd("HSET")
                    .arg(format!("k{i}"))
                    .arg("f")
                    .arg(format!("{i}{filler}"))
                    .ignore();
            } else {
                pipe.cmd("SET")
                    .arg(format!("k{i}"))
                    .arg(format!("{i}{filler}"))
                    .ignore();
            }
        }
        pipe.query::<()>(con).unwrap();
    }
}

/// Every key of [`populate`] reads back whole through the cluster.
fn assert_keys(con: &mut ClusterConnection, count: usize, size: usize) {
    let filler = "x".repeat(size);
    for chunk in (0..count).collect::<Vec<_>>().chunks(1000) {
        let mut pipe = cluster_pipe();
        for &i in chunk {
            if i % 5 == 0 {
                pipe.cmd("HGET").arg(format!("k{i}")).arg("f");
            } else {
                pipe.cmd("GET").arg(format!("k{i}"));
            }
        }
        let values: Vec<Option<String>> = pipe.query(con).unwrap();
        for (&i, value) in chunk.iter().zip(values) {
            assert_eq!(value, Some(format!("{i}{filler}")), "k{i}");
        }
    }
}

/// COUNTKEYSINSLOT of every slot on `server`.
fn slot_counts(server: &Server) -> Vec<i64> {
    let mut pipe = redis::pipe();
    for slot in 0..16384 {
        pipe.cmd("CLUSTER").arg("COUNTKEYSINSLOT").arg(slot);
    }
    pipe.query(&mut server.client()).unwrap()
}

/// The node's keys add up: COUNTKEYSINSLOT over the slots it serves is
/// its DBSIZE, and it holds no key of another slot. Returns its weight
/// (keys plus slots), as rebalance counts it.
fn assert_counts(server: &Server, entry: &Server) -> u64 {
    let slots = slots_of(server, entry);
    let serves = |slot: usize| {
        slots
            .iter()
            .any(|&(a, b)| (a as usize..=b as usize).contains(&slot))
    };
    let mut served = 0;
    let mut served_slots = 0;
    for (slot, count) in slot_counts(server).into_iter().enumerate() {
        if serves(slot) {
            served += count;
            served_slots += 1;
        } else {
            assert_eq!(count, 0, "port {}: keys left in slot {slot}", server.port);
        }
    }
    let size: i64 = redis::cmd("DBSIZE").query(&mut server.client()).unwrap();
    assert_eq!(served, size, "port {}", server.port);
    (served + served_slots) as u64
}

/// Every master's weight is within `threshold` percent of an even share.
fn assert_balanced(masters: &[&Server], threshold: f64) {
    let weights: Vec<u64> = masters
        .iter()
        .map(|m| assert_counts(m, masters[0]))
        .collect();
    let share = weights.iter().sum::<u64>() as f64 / weights.len() as f64;
    for (master, weight) in masters.iter().zip(&weights) {
        let off = (*weight as f64 - share).abs() / share * 100.0;
        assert!(
            off <= threshold,
            "port {}: weight {weight}, {off:.2}% from the share {share} ({weights:?})",
            master.port
        );
    }
}

fn check(entry: &Server) {
    let out = run(&["cluster", "check", &addr(entry)]);
    assert!(out.contains("OK: all 16384 slots served"), "{out}");
}

/// The id add-node printed.
fn new_node_id(out: &str) -> String {
    let id = out
        .lines()
        .find_map(|l| l.strip_prefix("new node id: "))
        .unwrap_or_else(|| panic!("no new node id in {out}"));
    assert!(
        id.len() == 40 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "{id}"
    );
    id.to_string()
}

/// Waits until `source`'s migration has ended in success.
fn wait_for_hand_over(source: &Server) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while cluster_info(source, "migrating_state").as_deref() != Some("success") {
        assert!(Instant::now() < deadline, "the migration did not succeed");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn version(server: &Server) -> u64 {
    let text: String = redis::cmd("CLUSTERX")
        .arg("VERSION")
        .query(&mut server.client())
        .unwrap();
    text.parse().unwrap()
}

#[test]
fn a_new_master_gets_an_even_share_of_keys_and_slots_from_rebalance() {
    const KEYS: usize = 20_000;
    let (a, b, c) = (node(), node(), node());
    create(&[&a, &b]);
    let mut con = cluster_client(&[&a, &b]);
    populate(&mut con, KEYS, 20);

    let out = run(&["cluster", "add-node", &addr(&c), &addr(&a)]);
    let id = new_node_id(&out);
    assert_eq!(id_of(&c), id);
    let member = topology(&a).into_iter().find(|m| m.id == id).unwrap();
    assert_eq!(
        (member.port, member.master, member.slots),
        (c.port, None, vec![])
    );
    assert_eq!(topology(&c).len(), 3);
    check(&a);

    let before = version(&a);
    let out = run(&["cluster", "rebalance", &addr(&b), "--dry-run"]);
    assert!(
        out.contains("plan: ") && out.contains("dry run: nothing moved"),
        "{out}"
    );
    assert_eq!(version(&a), before);

    let out = run(&["cluster", "rebalance", &addr(&b)]);
    assert!(out.contains("done: "), "{out}");
    assert_balanced(&[&a, &b, &c], 2.0);
    for master in [&a, &b, &c] {
        let slots: u32 = slots_of(master, &a)
            .iter()
            .map(|&(x, y)| u32::from(y - x) + 1)
            .sum();
        assert!(slots.abs_diff(16384 / 3) < 16384 / 3 / 20, "{slots} slots");
    }
    let mut con = cluster_client(&[&a, &b, &c]);
    assert_keys(&mut con, KEYS, 20);
    check(&c);

    let out = run(&["cluster", "rebalance", &addr(&c)]);
    assert!(out.contains("balanced: every master is within 2%"), "{out}");
}

#[test]
fn a_new_replica_syncs_with_its_master_and_leaves_again() {
    const KEYS: usize = 5_000;
    let (a, b, replica) = (node(), node(), node());
    create(&[&a, &b]);
    let mut con = cluster_client(&[&a, &b]);
    populate(&mut con, KEYS, 20);
    let master_id = id_of(&a);

    let add = [
        "cluster",
        "add-node",
        &addr(&replica),
        &addr(&b),
        "--replica-of",
        &master_id,
    ];
    let out = run(&add);
    let id = new_node_id(&out);
    assert!(out.contains(&format!("replicates {}", addr(&a))), "{out}");
    let member = topology(&b).into_iter().find(|m| m.id == id).unwrap();
    assert_eq!(member.master.as_deref(), Some(master_id.as_str()));
    let master_keys: i64 = redis::cmd("DBSIZE").query(&mut a.client()).unwrap();
    assert!(master_keys > 0);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let keys: i64 = redis::cmd("DBSIZE").query(&mut replica.client()).unwrap();
        if keys == master_keys {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the replica has {keys} of {master_keys} keys"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = run(&["cluster", "check", &addr(&a)]);
    assert!(out.contains("link up"), "{out}");

    // Run again (as after an interruption): nothing to do.
    let out = run(&add);
    assert!(out.contains("is in the cluster already"), "{out}");
    assert_eq!(new_node_id(&out), id);

    // A replica leaves at once, and stops replicating.
    let out = run(&["cluster", "del-node", &addr(&a), &id]);
    assert!(out.contains("removed "), "{out}");
    assert!(topology(&a).iter().all(|m| m.id != id));
    let role: String = redis::cmd("INFO")
        .arg("replication")
        .query(&mut replica.client())
        .unwrap();
    assert!(role.contains("role:master"), "{role}");
    check(&a);
}

#[test]
fn a_deleted_master_hands_its_keys_to_the_others_and_redirects() {
    const KEYS: usize = 10_000;
    let (a, b, c) = (node(), node(), node());
    create(&[&a, &b, &c]);
    let mut con = cluster_client(&[&a, &b, &c]);
    populate(&mut con, KEYS, 20);
    let id = id_of(&c);
    let slots: u32 = slots_of(&c, &a)
        .iter()
        .map(|&(x, y)| u32::from(y - x) + 1)
        .sum();

    let out = run(&["cluster", "del-node", &addr(&c), &id]);
    assert!(out.contains(&format!("done: {slots} slots moved")), "{out}");
    assert!(out.contains("redirects clients"), "{out}");
    for entry in [&a, &b, &c] {
        assert!(topology(entry).iter().all(|m| m.id != id));
    }
    assert_balanced(&[&a, &b], 2.0);
    let size: i64 = redis::cmd("DBSIZE").query(&mut c.client()).unwrap();
    assert_eq!(size, 0);
    let moved = error(&mut c.raw(), &["GET", "k1"]);
    assert!(moved.starts_with("MOVED "), "{moved}");
    let mut con = cluster_client(&[&a, &b]);
    assert_keys(&mut con, KEYS, 20);
    check(&a);

    // Run again (as after an interruption): nothing to do.
    let out = run(&["cluster", "del-node", &addr(&c), &id]);
    assert!(
        out.contains("is not in the cluster any more") && out.contains("nothing to do"),
        "{out}"
    );
    check(&a);
}

#[test]
fn scaling_refuses_what_would_break_the_cluster() {
    let (a, r1, r2, b) = (node(), node(), node(), node());
    // One master with two replicas.
    run(&[
        "cluster",
        "create",
        "--replicas",
        "2",
        &addr(&a),
        &addr(&r1),
        &addr(&r2),
    ]);
    let id_a = id_of(&a);
    refused(
        &["cluster", "del-node", &addr(&a), &id_a],
        "is the last master",
    );
    run(&["cluster", "add-node", &addr(&b), &addr(&a)]);
    refused(
        &["cluster", "del-node", &addr(&a), &id_a],
        "still has replicas",
    );
    refused(
        &["cluster", "del-node", &addr(&a), &"f".repeat(40)],
        "no such node",
    );
    refused(
        &[
            "cluster",
            "add-node",
            &addr(&b),
            &addr(&a),
            "--replica-of",
            &id_a,
        ],
        "in the cluster already, as a master",
    );
    refused(
        &[
            "cluster",
            "add-node",
            &addr(&node()),
            &addr(&a),
            "--replica-of",
            &id_of(&r1),
        ],
        "not a master of this cluster",
    );
    let other = node();
    create(&[&other]);
    refused(
        &["cluster", "add-node", &addr(&other), &addr(&a)],
        "already belongs to a cluster",
    );
    let plain = Server::start();
    refused(
        &["cluster", "add-node", &addr(&plain), &addr(&a)],
        "not in cluster mode",
    );
    // Nothing changed by the refusals.
    assert_eq!(topology(&a).len(), 4);
    check(&a);
}

/// Starts the tool and kills it (SIGKILL) in the middle of its first
/// move.
fn kill_midway(args: &[&str]) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_redrock"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut printed = String::new();
    let mut moving = false;
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        printed.push_str(&line);
        printed.push('\n');
        if line.starts_with("[1/") {
            // The first migration runs (slowed down to 1 MB/s).
            std::thread::sleep(Duration::from_millis(300));
            child.kill().unwrap();
            moving = true;
            break;
        }
    }
    child.wait().unwrap();
    assert!(
        moving,
        "redrock {} ended before its first move: {printed}",
        args.join(" ")
    );
}

#[test]
fn a_rebalance_or_del_node_killed_midway_is_finished_by_the_next_run() {
    const KEYS: usize = 10_000;
    let args = [
        "--cluster-enabled",
        "yes",
        "--migrate-batch-rate-limit-mb",
        "1",
    ];
    let (a, b, c) = (
        Server::start_with(&args),
        Server::start_with(&args),
        Server::start_with(&args),
    );
    create(&[&a, &b]);
    let mut con = cluster_client(&[&a, &b]);
    populate(&mut con, KEYS, 200);
    run(&["cluster", "add-node", &addr(&c), &addr(&a)]);

    let rebalance = ["cluster", "rebalance", &addr(&a)];
    kill_midway(&rebalance);
    let out = run(&rebalance);
    assert!(out.contains("done: ") || out.contains("balanced"), "{out}");
    check(&a);
    assert_balanced(&[&a, &b, &c], 2.0);
    let mut con = cluster_client(&[&a, &b, &c]);
    assert_keys(&mut con, KEYS, 200);

    let id = id_of(&c);
    let del_node = ["cluster", "del-node", &addr(&b), &id];
    kill_midway(&del_node);
    let out = run(&del_node);
    assert!(out.contains("removed "), "{out}");
    check(&a);
    assert!(topology(&a).iter().all(|m| m.id != id));
    assert_balanced(&[&a, &b], 2.0);
    let mut con = cluster_client(&[&a, &b]);
    assert_keys(&mut con, KEYS, 200);
}

#[test]
fn the_next_run_finishes_a_hand_over_the_topology_lacks() {
    const KEYS: usize = 5_000;
    let (mut a, b) = (node(), node());
    create(&[&a, &b]);
    let mut con = cluster_client(&[&a, &b]);
    populate(&mut con, KEYS, 20);
    let (id_a, id_b) = (id_of(&a), id_of(&b));
    let reshard = |range: &str| {
        run(&[
            "cluster",
            "reshard",
            &addr(&b),
            "--from",
            &id_a,
            "--to",
            &id_b,
            "--slots",
            range,
        ])
    };

    // A run stopped while it pushed the topology: only the destination
    // took the new version.
    let migrated = q(&mut a.client(), &["CLUSTERX", "MIGRATE", "0-99", &id_b]);
    assert_eq!(migrated, ok());
    wait_for_hand_over(&a);
    let next = (version(&a) + 1).to_string();
    let set = q(
        &mut b.client(),
        &["CLUSTERX", "SETSLOT", "0-99", "NODE", &id_b, &next],
    );
    assert_eq!(set, ok());
    let out = reshard("0-199");
    assert!(
        out.contains(&format!("pushed topology version {next} to {}", addr(&a))),
        "{out}"
    );
    assert!(
        out.contains("100 of these slots are served by the destination already"),
        "{out}"
    );
    assert!(out.contains("done: 100 slots moved"), "{out}");
    assert_eq!(slots_of(&b, &a)[0], (0, 199));

    // The source restarted after it handed slots over: its CLUSTER INFO
    // still shows the hand-over, which the next run finishes.
    let migrated = q(&mut a.client(), &["CLUSTERX", "MIGRATE", "200-299", &id_b]);
    assert_eq!(migrated, ok());
    wait_for_hand_over(&a);
    a.kill9();
    a.restart(CLUSTER_ARGS);
    assert_eq!(
        cluster_info(&a, "migrating_state").as_deref(),
        Some("success")
    );
    let out = reshard("200-299");
    assert!(
        out.contains(&format!(
            "finishing the interrupted move of slots 200-299 to {id_b}"
        )),
        "{out}"
    );
    assert_eq!(slots_of(&b, &a)[0], (0, 299));

    // One slot.
    let out = reshard("300-300");
    assert!(out.contains("done: 1 slots moved"), "{out}");
    assert_eq!(slots_of(&b, &a)[0], (0, 300));
    assert_counts(&a, &a);
    assert_counts(&b, &a);
    let mut con = cluster_client(&[&a, &b]);
    assert_keys(&mut con, KEYS, 20);
    check(&a);
}

#[test]
fn a_password_protected_cluster_scales_with_the_password() {
    let args = ["--cluster-enabled", "yes", "--requirepass", "s3cret"];
    let (a, b, c, replica) = (
        Server::start_with(&args),
        Server::start_with(&args),
        Server::start_with(&args),
        Server::start_with(&args),
    );
    let password = ["--password", "s3cret"];
    let with_password = |args: &[&str]| run(&[args, &password[..]].concat());
    with_password(&["cluster", "create", &addr(&a), &addr(&b)]);
    let authed = |server: &Server| {
        redis::Client::open(format!("redis://:s3cret@127.0.0.1:{}/", server.port))
            .unwrap()
            .get_connection()
            .unwrap()
    };
    let urls: Vec<String> = [&a, &b, &c]
        .iter()
        .map(|n| format!("redis://:s3cret@127.0.0.1:{}/", n.port))
        .collect();
    let mut con = ClusterClient::builder(urls.clone())
        .retries(20)
        .build()
        .unwrap()
        .get_connection()
        .unwrap();
    populate(&mut con, 2_000, 20);
    let id_a: String = redis::cmd("CLUSTER")
        .arg("MYID")
        .query(&mut authed(&a))
        .unwrap();

    let out = with_password(&[
        "cluster",
        "add-node",
        &addr(&replica),
        &addr(&a),
        "--replica-of",
        &id_a,
    ]);
    assert!(out.contains(&format!("replicates {}", addr(&a))), "{out}");
    with_password(&["cluster", "add-node", &addr(&c), &addr(&a)]);
    let out = with_password(&["cluster", "rebalance", &addr(&a)]);
    assert!(out.contains("done: "), "{out}");
    let out = with_password(&["cluster", "check", &addr(&a)]);
    assert!(out.contains("OK: all 16384 slots served"), "{out}");
    let mut con = ClusterClient::builder(urls)
        .retries(20)
        .build()
        .unwrap()
        .get_connection()
        .unwrap();
    assert_keys(&mut con, 2_000, 20);
}

/// A hash tag whose keys fall in `slots`.
fn tag_in(server: &Server, slots: std::ops::RangeInclusive<u16>) -> String {
    let mut con = server.client();
    (0..)
        .map(|i| format!("t{i}"))
        .find(|tag| {
            let slot: u16 = redis::cmd("CLUSTER")
                .arg("KEYSLOT")
                .arg(tag)
                .query(&mut con)
                .unwrap();
            slots.contains(&slot)
        })
        .unwrap()
}

/// Masters `a` and `b` (slots 0-8191 and 8192-16383) and a replica of
/// `a`, synced.
fn two_masters_and_a_replica(args: &[&str]) -> (Server, Server, Server) {
    let (a, b, replica) = (
        Server::start_with(args),
        Server::start_with(args),
        Server::start_with(args),
    );
    create(&[&a, &b]);
    run(&[
        "cluster",
        "add-node",
        &addr(&replica),
        &addr(&a),
        "--replica-of",
        &id_of(&a),
    ]);
    (a, b, replica)
}

#[test]
fn a_failover_first_finishes_a_hand_over_the_topology_lacks() {
    const KEYS: usize = 2_000;
    let (a, b, replica) = two_masters_and_a_replica(CLUSTER_ARGS);
    let mut con = cluster_client(&[&a, &b]);
    populate(&mut con, KEYS, 20);
    let tag = tag_in(&a, 0..=99);
    let tagged: Vec<String> = (0..50).map(|i| format!("{{{tag}}}{i}")).collect();
    for key in &tagged {
        let _: () = redis::cmd("SET")
            .arg(key)
            .arg("before")
            .query(&mut con)
            .unwrap();
    }
    let id_b = id_of(&b);

    // Slots 0-99 handed over to b, which takes writes of them; no
    // topology says so yet.
    let migrated = q(&mut a.client(), &["CLUSTERX", "MIGRATE", "0-99", &id_b]);
    assert_eq!(migrated, ok());
    wait_for_hand_over(&a);
    for key in &tagged {
        assert_eq!(q(&mut b.client(), &["SET", key, "after"]), ok());
    }

    let out = run(&["cluster", "failover", &addr(&replica)]);
    // b's writes are served: the failover's topology gives it the slots.
    let mut con = cluster_client(&[&a, &b, &replica]);
    for key in &tagged {
        let value: Option<String> = redis::cmd("GET").arg(key).query(&mut con).unwrap();
        assert_eq!(value.as_deref(), Some("after"), "{key}: {out}");
    }
    assert_keys(&mut con, KEYS, 20);
    for entry in [&a, &b, &replica] {
        assert_eq!(slots_of(&b, entry)[0], (0, 99), "seen by {}", entry.port);
        assert_eq!(slots_of(&replica, entry), vec![(100, 8191)]);
        assert_eq!(slots_of(&a, entry), vec![]);
    }
    assert!(
        out.contains(&format!(
            "finishing the interrupted move of slots 0-99 to {id_b}"
        )),
        "{out}"
    );
    assert_counts(&b, &b);
}

#[test]
fn a_failover_is_refused_while_a_migration_runs() {
    const KEYS: usize = 16_000;
    let args = [
        "--cluster-enabled",
        "yes",
        "--migrate-batch-rate-limit-mb",
        "1",
    ];
    let (a, b, replica) = two_masters_and_a_replica(&args);
    let mut con = cluster_client(&[&a, &b]);
    // About 4 MB in slots 0-4095: seconds at 1 MB/s.
    populate(&mut con, KEYS, 1000);
    let id_b = id_of(&b);
    let before = version(&a);

    let migrated = q(&mut a.client(), &["CLUSTERX", "MIGRATE", "0-4095", &id_b]);
    assert_eq!(migrated, ok());
    assert_eq!(
        cluster_info(&a, "migrating_state").as_deref(),
        Some("start")
    );
    let failover = ["cluster", "failover", &addr(&replica)];
    refused(
        &failover,
        &format!(
            "{} is moving slots 0-4095 to {id_b} (migrating_state:start",
            addr(&a)
        ),
    );
    for node in [&a, &b, &replica] {
        assert_eq!(version(node), before, "port {}", node.port);
        assert_eq!(slots_of(&a, node), vec![(0, 8191)]);
        let member = topology(node).into_iter().find(|m| m.port == replica.port);
        assert_eq!(member.unwrap().master, Some(id_of(&a)));
    }

    // Once the migration has ended, the failover goes through and gives
    // the slots to their destination.
    wait_for_hand_over(&a);
    let out = run(&failover);
    assert!(out.contains("done: "), "{out}");
    assert_eq!(slots_of(&b, &a)[0], (0, 4095));
    assert_eq!(slots_of(&replica, &a), vec![(4096, 8191)]);
    let mut con = cluster_client(&[&a, &b, &replica]);
    assert_keys(&mut con, KEYS, 1000);
}
