//! Cluster mode: real nodes made a cluster by `redrock cluster create`,
//! used by the `redis` crate's cluster client and by plain clients that
//! follow MOVED themselves; replicas named in the topology, and failovers
//! (`redrock cluster failover`, or a new topology after a master died)
//! that lose no write WAIT acknowledged.

mod common;
use common::replication::{info_field, info_number, wait_until};
use common::*;
use redis::cluster::{cluster_pipe, ClusterClient};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const CLUSTER_ARGS: &[&str] = &["--cluster-enabled", "yes"];

struct Cluster {
    nodes: Vec<Server>,
}

impl Cluster {
    /// Three fresh nodes made a cluster with the tool.
    fn create() -> Cluster {
        Self::create_with(3, 0)
    }

    /// `masters` masters with `replicas` replicas each, made a cluster
    /// with the tool: the masters come first in `nodes`, then the
    /// replicas, round-robin (node `masters + i` replicates node `i`).
    fn create_with(masters: usize, replicas: usize) -> Cluster {
        let nodes: Vec<Server> = (0..masters * (replicas + 1))
            .map(|_| Server::start_with(CLUSTER_ARGS))
            .collect();
        let mut args = vec![
            "cluster".to_string(),
            "create".to_string(),
            "--replicas".to_string(),
            replicas.to_string(),
        ];
        args.extend(nodes.iter().map(|n| format!("127.0.0.1:{}", n.port)));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (success, out) = tool(&args);
        assert!(success, "cluster create failed: {out}");
        assert!(out.contains(&format!("{masters} masters")), "{out}");
        Cluster { nodes }
    }

    fn client(&self) -> redis::cluster::ClusterConnection {
        let urls: Vec<String> = self.nodes.iter().map(Server::url).collect();
        ClusterClient::new(urls)
            .expect("cluster client")
            .get_connection()
            .expect("cluster connection")
    }

    /// The nodes' ids, in order.
    fn ids(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|n| {
                redis::cmd("CLUSTER")
                    .arg("MYID")
                    .query(&mut n.client())
                    .unwrap()
            })
            .collect()
    }

    /// A SETNODES topology of the nodes as masters, node `i` serving the
    /// slots `slots(i)` (" a-b ..." or "").
    fn topology(&self, slots: impl Fn(usize) -> String) -> String {
        self.ids()
            .iter()
            .zip(&self.nodes)
            .enumerate()
            .map(|(i, (id, n))| format!("{id} 127.0.0.1 {} master -{}\n", n.port, slots(i)))
            .collect()
    }

    /// The node serving `slot`, from the first node's CLUSTER SLOTS.
    fn owner_port(&self, slot: u16) -> u16 {
        let mut con = self.nodes[0].client();
        let slots: Vec<(u16, u16, (String, u16, String))> = slots(&mut con);
        slots
            .into_iter()
            .find(|(a, b, _)| (*a..=*b).contains(&slot))
            .map(|(_, _, (_, port, _))| port)
            .expect("slot served")
    }
}

/// CLUSTER SLOTS as (first, last, (host, port, id)) of each master.
fn slots(con: &mut redis::Connection) -> Vec<(u16, u16, (String, u16, String))> {
    let value = q(con, &["CLUSTER", "SLOTS"]);
    let redis::Value::Array(entries) = value else {
        panic!("CLUSTER SLOTS: {value:?}")
    };
    entries
        .into_iter()
        .map(|entry| {
            let redis::Value::Array(parts) = entry else {
                panic!("slot entry")
            };
            let int = |v: &redis::Value| match v {
                redis::Value::Int(n) => *n,
                other => panic!("{other:?}"),
            };
            let redis::Value::Array(node) = &parts[2] else {
                panic!("node entry")
            };
            let text = |v: &redis::Value| match v {
                redis::Value::BulkString(b) => String::from_utf8(b.clone()).unwrap(),
                other => panic!("{other:?}"),
            };
            (
                int(&parts[0]) as u16,
                int(&parts[1]) as u16,
                (text(&node[0]), int(&node[1]) as u16, text(&node[2])),
            )
        })
        .collect()
}

fn slot_of(con: &mut redis::Connection, key: &str) -> u16 {
    match q(con, &["CLUSTER", "KEYSLOT", key]) {
        redis::Value::Int(n) => n as u16,
        other => panic!("{other:?}"),
    }
}

#[test]
fn cluster_client_reads_and_writes_every_type() {
    let cluster = Cluster::create();
    let mut con = cluster.client();
    for chunk in 0..20 {
        let mut pipe = cluster_pipe();
        for i in chunk * 500..(chunk + 1) * 500 {
            pipe.cmd("SET").arg(format!("string:{i}")).arg(i).ignore();
            pipe.cmd("HSET")
                .arg(format!("hash:{i}"))
                .arg("f")
                .arg(i)
                .ignore();
            pipe.cmd("SADD").arg(format!("set:{i}")).arg(i).ignore();
            pipe.cmd("ZADD")
                .arg(format!("zset:{i}"))
                .arg(i)
                .arg("m")
                .ignore();
            pipe.cmd("RPUSH").arg(format!("list:{i}")).arg(i).ignore();
        }
        pipe.query::<()>(&mut con).expect("pipelined writes");
    }
    for chunk in 0..20 {
        let mut pipe = cluster_pipe();
        for i in chunk * 500..(chunk + 1) * 500 {
            pipe.cmd("GET").arg(format!("string:{i}"));
            pipe.cmd("HGET").arg(format!("hash:{i}")).arg("f");
            pipe.cmd("SISMEMBER").arg(format!("set:{i}")).arg(i);
            pipe.cmd("ZSCORE").arg(format!("zset:{i}")).arg("m");
            pipe.cmd("LINDEX").arg(format!("list:{i}")).arg(0);
        }
        let replies: Vec<redis::Value> = pipe.query(&mut con).expect("pipelined reads");
        for (n, reply) in replies.iter().enumerate() {
            let i = chunk * 500 + n / 5;
            let expected = match n % 5 {
                2 => int(1),
                _ => bulk(&i.to_string()),
            };
            assert_eq!(*reply, expected, "read {n} of chunk {chunk}");
        }
    }
    // Every node holds about a third of the 50,000 keys.
    let total: i64 = cluster
        .nodes
        .iter()
        .map(|n| match q(&mut n.client(), &["DBSIZE"]) {
            redis::Value::Int(k) => {
                assert!(k > 10_000, "a node holds only {k} keys");
                k
            }
            other => panic!("{other:?}"),
        })
        .sum();
    assert_eq!(total, 50_000);
}

#[test]
fn hash_tags_keep_multi_key_commands_on_one_node() {
    let cluster = Cluster::create();
    let mut con = cluster.client();
    let _: () = redis::cmd("MSET")
        .arg("{user1}:a")
        .arg("1")
        .arg("{user1}:b")
        .arg("2")
        .query(&mut con)
        .unwrap();
    let values: Vec<String> = redis::cmd("MGET")
        .arg("{user1}:a")
        .arg("{user1}:b")
        .query(&mut con)
        .unwrap();
    assert_eq!(values, ["1", "2"]);
    let _: i64 = redis::cmd("SADD")
        .arg("{g}x")
        .arg("a")
        .arg("b")
        .query(&mut con)
        .unwrap();
    let _: i64 = redis::cmd("SADD")
        .arg("{g}y")
        .arg("b")
        .query(&mut con)
        .unwrap();
    let n: i64 = redis::cmd("SINTERSTORE")
        .arg("{g}z")
        .arg("{g}x")
        .arg("{g}y")
        .query(&mut con)
        .unwrap();
    assert_eq!(n, 1);
    let moved: String = redis::cmd("LMOVE")
        .arg("{g}nope")
        .arg("{g}l")
        .arg("LEFT")
        .arg("RIGHT")
        .query::<Option<String>>(&mut con)
        .unwrap()
        .unwrap_or_else(|| "none".into());
    assert_eq!(moved, "none");
    // Without a shared tag the keys land in different slots.
    let owner = cluster.owner_port(slot_of(&mut cluster.nodes[0].client(), "a"));
    let node = cluster.nodes.iter().find(|n| n.port == owner).unwrap();
    let mut raw = node.raw();
    assert_eq!(
        error(&mut raw, &["MSET", "a", "1", "b", "2"]),
        "CROSSSLOT Keys in request don't hash to the same slot"
    );
    assert_eq!(
        error(&mut raw, &["ZUNIONSTORE", "a", "2", "b", "c"]),
        "CROSSSLOT Keys in request don't hash to the same slot"
    );
}

#[test]
fn plain_clients_get_moved_and_topology_views_agree() {
    let cluster = Cluster::create();
    let mut first = cluster.nodes[0].client();
    // foo is in slot 12182, which the third master serves.
    assert_eq!(slot_of(&mut first, "foo"), 12182);
    let owner = cluster.owner_port(12182);
    for node in &cluster.nodes {
        let mut raw = node.raw();
        if node.port == owner {
            assert_eq!(raw.command(&["SET", "foo", "bar"]), b"+OK\r\n");
        } else {
            assert_eq!(
                error(&mut raw, &["GET", "foo"]),
                format!("MOVED 12182 127.0.0.1:{owner}")
            );
        }
    }
    // SLOTS, NODES and SHARDS describe one layout: three masters covering
    // 0-16383 in order.
    let layout = slots(&mut first);
    assert_eq!(layout.len(), 3);
    assert_eq!(layout[0].0, 0);
    assert_eq!(layout[2].1, 16383);
    for pair in layout.windows(2) {
        assert_eq!(pair[0].1 + 1, pair[1].0);
    }
    let nodes: String = redis::cmd("CLUSTER")
        .arg("NODES")
        .query(&mut first)
        .unwrap();
    let mut by_id = BTreeMap::new();
    for line in nodes.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        by_id.insert(
            fields[0].to_string(),
            (fields[1].to_string(), fields[8].to_string()),
        );
    }
    for (first_slot, last_slot, (host, port, id)) in &layout {
        let (addr, range) = &by_id[id];
        assert_eq!(addr, &format!("{host}:{port}@{}", port + 10000));
        assert_eq!(range, &format!("{first_slot}-{last_slot}"));
    }
    let myid: String = redis::cmd("CLUSTER").arg("MYID").query(&mut first).unwrap();
    assert!(nodes
        .lines()
        .any(|l| l.starts_with(&myid) && l.contains("myself,master")));
    let shards: Vec<BTreeMap<String, redis::Value>> = redis::cmd("CLUSTER")
        .arg("SHARDS")
        .query(&mut first)
        .unwrap();
    assert_eq!(shards.len(), 3);
    for shard in &shards {
        let slots: Vec<i64> = redis::from_redis_value(shard["slots"].clone()).unwrap();
        let nodes: Vec<BTreeMap<String, redis::Value>> =
            redis::from_redis_value(shard["nodes"].clone()).unwrap();
        let id: String = redis::from_redis_value(nodes[0]["id"].clone()).unwrap();
        assert_eq!(by_id[&id].1, format!("{}-{}", slots[0], slots[1]));
    }
    let info: String = redis::cmd("CLUSTER").arg("INFO").query(&mut first).unwrap();
    assert!(info.contains("cluster_state:ok\r\n"), "{info}");
    assert!(info.contains("cluster_slots_assigned:16384\r\n"), "{info}");
    assert!(info.contains("cluster_known_nodes:3\r\n"), "{info}");
    // Keys in a slot, from the slot's own key range.
    let mut owner_con = cluster
        .nodes
        .iter()
        .find(|n| n.port == owner)
        .unwrap()
        .client();
    assert_eq!(
        q(&mut owner_con, &["CLUSTER", "COUNTKEYSINSLOT", "12182"]),
        int(1)
    );
    assert_eq!(
        q(&mut owner_con, &["CLUSTER", "GETKEYSINSLOT", "12182", "10"]),
        array(vec![bulk("foo")])
    );
    let (success, out) = tool(&[
        "cluster",
        "check",
        &format!("127.0.0.1:{}", cluster.nodes[1].port),
    ]);
    assert!(
        success && out.contains("OK: all 16384 slots served, 3 nodes agree"),
        "{out}"
    );
}

#[test]
fn topology_survives_a_restart_and_new_versions_move_slots() {
    let mut cluster = Cluster::create();
    let mut con = cluster.client();
    let _: () = redis::cmd("SET")
        .arg("foo")
        .arg("bar")
        .query(&mut con)
        .unwrap();
    let owner = cluster.owner_port(12182);
    let index = cluster.nodes.iter().position(|n| n.port == owner).unwrap();
    let before: String = redis::cmd("CLUSTER")
        .arg("NODES")
        .query(&mut cluster.nodes[index].client())
        .unwrap();
    cluster.nodes[index].restart(CLUSTER_ARGS);
    let mut node = cluster.nodes[index].client();
    let after: String = redis::cmd("CLUSTER").arg("NODES").query(&mut node).unwrap();
    let strip = |text: &str| -> Vec<String> {
        // Drop the ping/pong times, which move.
        text.lines()
            .map(|l| {
                let f: Vec<&str> = l.split(' ').collect();
                [&f[..4], &f[6..]].concat().join(" ")
            })
            .collect()
    };
    assert_eq!(strip(&before), strip(&after));
    assert_eq!(q(&mut node, &["GET", "foo"]), bulk("bar"));
    assert_eq!(q(&mut node, &["CLUSTERX", "VERSION"]), bulk("1"));

    // Version 2 splits every slot between the two other nodes.
    let ids = cluster.ids();
    let heir = (index + 1) % 3;
    let other = 3 - index - heir;
    let text = cluster.topology(|i| match i {
        i if i == heir => " 0-10922".into(),
        i if i == other => " 10923-16383".into(),
        _ => String::new(),
    });
    for n in &cluster.nodes {
        assert_eq!(
            q(&mut n.client(), &["CLUSTERX", "SETNODES", &text, "2"]),
            ok()
        );
    }
    let new_owner = cluster.owner_port(12182);
    assert_ne!(new_owner, owner);
    let mut raw = cluster.nodes[index].raw();
    assert_eq!(
        error(&mut raw, &["GET", "foo"]),
        format!("MOVED 12182 127.0.0.1:{new_owner}")
    );
    // The cluster client follows: foo is now served (empty) by its new owner.
    let mut con = cluster.client();
    let value: Option<String> = redis::cmd("GET").arg("foo").query(&mut con).unwrap();
    assert_eq!(value, None);
    let _: () = redis::cmd("SET")
        .arg("foo")
        .arg("moved")
        .query(&mut con)
        .unwrap();
    let mut heir_con = cluster
        .nodes
        .iter()
        .find(|n| n.port == new_owner)
        .unwrap()
        .client();
    assert_eq!(q(&mut heir_con, &["GET", "foo"]), bulk("moved"));

    // SETSLOT: version 3 hands slot 12182 back.
    for n in &cluster.nodes {
        assert_eq!(
            q(
                &mut n.client(),
                &["CLUSTERX", "SETSLOT", "12182", "NODE", &ids[index], "3"]
            ),
            ok()
        );
    }
    assert_eq!(cluster.owner_port(12182), owner);
    assert_eq!(
        q(&mut cluster.nodes[index].client(), &["GET", "foo"]),
        bulk("bar")
    );
}

#[test]
fn malformed_topologies_are_refused_and_the_old_one_stays() {
    let cluster = Cluster::create();
    let node = &cluster.nodes[0];
    let mut raw = node.raw();
    let a = "a".repeat(40);
    let b = "b".repeat(40);
    for (text, version, reason) in [
        (
            format!("{} 127.0.0.1 7000 master - 0-16383\n", &a[..39]),
            "5",
            "must be 40",
        ),
        (
            format!("{a} 127.0.0.1 7000 master - 0-100\n{b} 127.0.0.1 7001 master - 100-200\n"),
            "5",
            "assigned twice",
        ),
        (
            format!("{a} 127.0.0.1 7000 master - 0-16384\n"),
            "5",
            "invalid slot",
        ),
        (
            format!("{a} 127.0.0.1 7000 master - 0-10\n{b} 127.0.0.1 7001 slave {a} 11-20\n"),
            "5",
            "cannot serve slots",
        ),
        (
            format!("{a} 127.0.0.1 7000 master - 0-10 {b} 127.0.0.1 7001 master - 11-20\n"),
            "5",
            "newline missing",
        ),
        (
            format!("{a} 127.0.0.1 7000 master - 0-16383\n"),
            "0",
            "lower than the current version 1",
        ),
        (
            format!("{a} 127.0.0.1 7000 master - 0-16383\n"),
            "-1",
            "must not be negative",
        ),
        (
            format!("{a} 127.0.0.1 7000 master - 0-16383\n"),
            "x",
            "not an integer",
        ),
    ] {
        let e = error(&mut raw, &["CLUSTERX", "SETNODES", &text, version]);
        assert!(e.contains(reason), "{text:?} v{version}: {e}");
    }
    // An equal version is a no-op; FORCE applies it anyway.
    let single = format!("{a} 127.0.0.1 7000 master - 0-16383\n");
    assert_eq!(
        raw.command(&["CLUSTERX", "SETNODES", &single, "1"]),
        b"+OK\r\n"
    );
    assert_eq!(q(&mut node.client(), &["CLUSTERX", "VERSION"]), bulk("1"));
    let (success, out) = tool(&["cluster", "check", &format!("127.0.0.1:{}", node.port)]);
    assert!(success, "the old topology stayed: {out}");
    for (args, reason) in [
        (
            vec!["CLUSTERX", "SETSLOT", "16384", "NODE", &a, "2"],
            "Invalid slot",
        ),
        (
            vec!["CLUSTERX", "SETSLOT", "5-1", "NODE", &a, "2"],
            "Invalid slot",
        ),
        (
            vec!["CLUSTERX", "SETSLOT", "5", "NODE", &a, "3"],
            "expected 2",
        ),
        (
            vec!["CLUSTERX", "SETSLOT", "5", "NODE", &a, "2"],
            "Unknown node",
        ),
        (
            vec!["CLUSTERX", "SETSLOT", "5", "TO", &a, "2"],
            "syntax error",
        ),
        (vec!["CLUSTERX", "SETNODEID", "short"], "Invalid node id"),
    ] {
        let e = error(&mut raw, &args);
        assert!(e.contains(reason), "{args:?}: {e}");
    }
    assert_eq!(q(&mut node.client(), &["CLUSTERX", "VERSION"]), bulk("1"));
    // The tool refuses nodes of another cluster and unreachable ones.
    let (success, out) = tool(&["cluster", "create", &format!("127.0.0.1:{}", node.port)]);
    assert!(
        !success && out.contains("already belongs to a cluster"),
        "{out}"
    );
    let (success, out) = tool(&["cluster", "create", &format!("127.0.0.1:{}", free_port())]);
    assert!(!success && out.contains("cannot connect"), "{out}");
    let standalone = Server::start();
    let (success, out) = tool(&[
        "cluster",
        "create",
        &format!("127.0.0.1:{}", standalone.port),
    ]);
    assert!(!success && out.contains("not in cluster mode"), "{out}");
    // A node that disagrees is reported by check.
    let mut lagging = cluster.nodes[1].client();
    let text = cluster.topology(|i| {
        if i == 0 {
            " 0-16383".into()
        } else {
            String::new()
        }
    });
    assert_eq!(q(&mut lagging, &["CLUSTERX", "SETNODES", &text, "7"]), ok());
    let (success, out) = tool(&["cluster", "check", &format!("127.0.0.1:{}", node.port)]);
    assert!(
        !success && out.contains("is at topology version 7"),
        "{out}"
    );
}

#[test]
fn replicas_serve_reads_after_readonly_and_cluster_mode_rules() {
    let master = Server::start_with(CLUSTER_ARGS);
    let replica = Server::start_with(CLUSTER_ARGS);
    let (success, out) = tool(&[
        "cluster",
        "create",
        "--replicas",
        "1",
        &format!("127.0.0.1:{}", master.port),
        &format!("127.0.0.1:{}", replica.port),
    ]);
    assert!(success && out.contains("1 masters and 1 replicas"), "{out}");
    let mut raw = replica.raw();
    assert_eq!(
        error(&mut raw, &["GET", "foo"]),
        format!("MOVED 12182 127.0.0.1:{}", master.port)
    );
    assert_eq!(raw.command(&["READONLY"]), b"+OK\r\n");
    assert_eq!(raw.command(&["GET", "foo"]), b"$-1\r\n");
    assert_eq!(
        error(&mut raw, &["SET", "foo", "x"]),
        format!("MOVED 12182 127.0.0.1:{}", master.port)
    );
    assert_eq!(raw.command(&["READWRITE"]), b"+OK\r\n");
    assert!(error(&mut raw, &["GET", "foo"]).starts_with("MOVED"));
    let mut con = master.client();
    let master_id: String = redis::cmd("CLUSTER").arg("MYID").query(&mut con).unwrap();
    let replicas: Vec<String> = redis::cmd("CLUSTER")
        .arg("REPLICAS")
        .arg(&master_id)
        .query(&mut con)
        .unwrap();
    assert_eq!(replicas.len(), 1);
    assert!(
        replicas[0].contains(&format!(" slave {master_id} ")),
        "{replicas:?}"
    );
    let shard: String = redis::cmd("CLUSTER")
        .arg("MYSHARDID")
        .query(&mut replica.client())
        .unwrap();
    assert_eq!(shard, master_id);
    let mut raw = master.raw();
    assert_eq!(
        error(&mut raw, &["SELECT", "1"]),
        "ERR SELECT is not allowed in cluster mode"
    );
    assert_eq!(raw.command(&["SELECT", "0"]), b"+OK\r\n");
    assert_eq!(
        error(&mut raw, &["MOVE", "foo", "1"]),
        "ERR MOVE is not allowed in cluster mode"
    );
    let info: String = redis::cmd("INFO").arg("cluster").query(&mut con).unwrap();
    assert!(info.contains("cluster_enabled:1"), "{info}");
    // Standalone nodes refuse cluster commands as Redis does.
    let standalone = Server::start();
    let mut raw = standalone.raw();
    for args in [
        vec!["CLUSTER", "INFO"],
        vec!["CLUSTERX", "VERSION"],
        vec!["READONLY"],
    ] {
        assert_eq!(
            error(&mut raw, &args),
            "ERR This instance has cluster support disabled"
        );
    }
}

#[test]
fn a_password_protected_cluster() {
    let args = ["--cluster-enabled", "yes", "--requirepass", "s3cret"];
    let nodes: Vec<Server> = (0..3).map(|_| Server::start_with(&args)).collect();
    let addrs: Vec<String> = nodes
        .iter()
        .map(|n| format!("127.0.0.1:{}", n.port))
        .collect();
    let mut create = vec!["cluster", "create"];
    create.extend(addrs.iter().map(String::as_str));
    let (success, out) = tool(&create);
    assert!(!success && out.contains("NOAUTH"), "{out}");
    create.extend(["--password", "s3cret"]);
    let (success, out) = tool(&create);
    assert!(success, "{out}");
    let urls: Vec<String> = nodes
        .iter()
        .map(|n| format!("redis://:s3cret@127.0.0.1:{}/", n.port))
        .collect();
    let mut con = ClusterClient::new(urls).unwrap().get_connection().unwrap();
    for i in 0..100 {
        let _: () = redis::cmd("SET")
            .arg(format!("k{i}"))
            .arg(i)
            .query(&mut con)
            .unwrap();
    }
    for i in 0..100 {
        let v: i64 = redis::cmd("GET")
            .arg(format!("k{i}"))
            .query(&mut con)
            .unwrap();
        assert_eq!(v, i);
    }
    let (success, out) = tool(&["cluster", "check", &addrs[0], "--password", "s3cret"]);
    assert!(success, "{out}");
}

/// MULTI/EXEC in cluster mode, as Redis Cluster: each queued command is
/// routed alone (a MOVED dooms the transaction), EXEC requires all the
/// keys in one slot (CROSSSLOT) and routes them again, so a slot moved
/// away since queueing answers MOVED and discards the transaction.
#[test]
fn transactions_route_their_keys_at_queue_time_and_at_exec() {
    let cluster = Cluster::create();
    let slot = slot_of(&mut cluster.nodes[0].client(), "{t}a");
    let owner = cluster.owner_port(slot);
    let index = cluster.nodes.iter().position(|n| n.port == owner).unwrap();
    let mut raw = cluster.nodes[index].raw();
    let run = |raw: &mut RawClient, args: &[&str]| String::from_utf8(raw.command(args)).unwrap();

    // Keys of one slot: the transaction runs.
    assert_eq!(run(&mut raw, &["MULTI"]), "+OK\r\n");
    assert_eq!(run(&mut raw, &["SET", "{t}a", "1"]), "+QUEUED\r\n");
    assert_eq!(run(&mut raw, &["INCR", "{t}b"]), "+QUEUED\r\n");
    assert_eq!(run(&mut raw, &["EXEC"]), "*2\r\n+OK\r\n:1\r\n");

    // Two slots of the same node: each command alone is fine, EXEC is not.
    let mut con = cluster.nodes[index].client();
    let other_key = (0..10_000)
        .map(|i| format!("k{i}"))
        .find(|k| {
            let s = slot_of(&mut con, k);
            s != slot && cluster.owner_port(s) == owner
        })
        .expect("another slot of the same node");
    assert_eq!(run(&mut raw, &["MULTI"]), "+OK\r\n");
    assert_eq!(run(&mut raw, &["SET", "{t}a", "2"]), "+QUEUED\r\n");
    assert_eq!(run(&mut raw, &["SET", &other_key, "2"]), "+QUEUED\r\n");
    assert_eq!(
        error(&mut raw, &["EXEC"]),
        "CROSSSLOT Keys in request don't hash to the same slot"
    );
    assert_eq!(error(&mut raw, &["EXEC"]), "ERR EXEC without MULTI");
    assert_eq!(q(&mut con, &["GET", "{t}a"]), bulk("1"), "nothing ran");

    // A key served elsewhere: MOVED when queued, EXECABORT at EXEC.
    let foreign = (0..10_000)
        .map(|i| format!("f{i}"))
        .find(|k| cluster.owner_port(slot_of(&mut con, k)) != owner)
        .expect("a key of another node");
    assert_eq!(run(&mut raw, &["MULTI"]), "+OK\r\n");
    assert!(error(&mut raw, &["GET", &foreign]).starts_with("MOVED "));
    assert_eq!(
        error(&mut raw, &["EXEC"]),
        "EXECABORT Transaction discarded because of previous errors."
    );

    // The slot moves between queueing and EXEC: MOVED, nothing runs.
    assert_eq!(run(&mut raw, &["MULTI"]), "+OK\r\n");
    assert_eq!(run(&mut raw, &["SET", "{t}a", "3"]), "+QUEUED\r\n");
    let ids = cluster.ids();
    let heir = (index + 1) % 3;
    for n in &cluster.nodes {
        assert_eq!(
            q(
                &mut n.client(),
                &[
                    "CLUSTERX",
                    "SETSLOT",
                    &slot.to_string(),
                    "NODE",
                    &ids[heir],
                    "2"
                ]
            ),
            ok()
        );
    }
    assert_eq!(
        error(&mut raw, &["EXEC"]),
        format!("MOVED {slot} 127.0.0.1:{}", cluster.nodes[heir].port)
    );
    assert_eq!(error(&mut raw, &["EXEC"]), "ERR EXEC without MULTI");
}

// Replication and failover in cluster mode.

fn wait_caught_up(master: &Server, replica: &Server) {
    replication::wait_caught_up(master.port, &[replica.port]);
}

fn addr(server: &Server) -> String {
    format!("127.0.0.1:{}", server.port)
}

/// A node's CLUSTER NODES entry for the node on `port`: (flags, master
/// id, slots), and the node's topology version.
fn seen_by(node: &Server, port: u16) -> (String, String, String, String) {
    let text: String = redis::cmd("CLUSTER")
        .arg("NODES")
        .query(&mut node.client())
        .unwrap();
    let version: String = redis::cmd("CLUSTERX")
        .arg("VERSION")
        .query(&mut node.client())
        .unwrap();
    let line = text
        .lines()
        .find(|l| {
            l.split(' ')
                .nth(1)
                .is_some_and(|a| a.starts_with(&format!("127.0.0.1:{port}@")))
        })
        .unwrap_or_else(|| panic!("{port} not in {text}"));
    let fields: Vec<&str> = line.split(' ').collect();
    (
        fields[2].trim_start_matches("myself,").to_string(),
        fields[3].to_string(),
        fields[8..].join(" "),
        version,
    )
}

fn my_id(node: &Server) -> String {
    redis::cmd("CLUSTER")
        .arg("MYID")
        .query(&mut node.client())
        .unwrap()
}

/// Writes acknowledged by `WAIT 1`: key -> value.
type Acknowledged = Arc<Mutex<BTreeMap<String, String>>>;

/// Writers that SET fresh keys of hash tag `tag` (one slot) and WAIT for
/// one replica after each, as a client that must not lose a write does.
/// They follow MOVED, move on to the next node when one cannot be
/// reached, and record every write WAIT acknowledged.
struct WaitedWriters {
    stop: Arc<AtomicBool>,
    acknowledged: Acknowledged,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl WaitedWriters {
    fn start(count: usize, tag: &str, ports: &[u16]) -> WaitedWriters {
        let stop = Arc::new(AtomicBool::new(false));
        let acknowledged = Acknowledged::default();
        let threads = (0..count)
            .map(|writer| {
                let (stop, acknowledged) = (stop.clone(), acknowledged.clone());
                let ports = ports.to_vec();
                let tag = tag.to_string();
                std::thread::spawn(move || {
                    write_and_wait(writer, &tag, &ports, &stop, &acknowledged)
                })
            })
            .collect();
        WaitedWriters {
            stop,
            acknowledged,
            threads,
        }
    }

    fn count(&self) -> usize {
        self.acknowledged.lock().unwrap().len()
    }

    /// Waits (bounded) until `n` writes more than now are acknowledged.
    fn wait_for_more(&self, n: usize, what: &str) {
        let target = self.count() + n;
        wait_until(what, Duration::from_secs(60), || self.count() >= target);
    }

    fn stop(self) -> BTreeMap<String, String> {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads {
            thread.join().expect("a writer panicked");
        }
        Arc::try_unwrap(self.acknowledged)
            .expect("writers stopped")
            .into_inner()
            .unwrap()
    }
}

fn write_and_wait(
    writer: usize,
    tag: &str,
    ports: &[u16],
    stop: &AtomicBool,
    acked: &Acknowledged,
) {
    let mut port = ports[0];
    let mut con: Option<redis::Connection> = None;
    let mut i = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let connection = match con.as_mut() {
            Some(c) => c,
            None => {
                let opened = redis::Client::open(format!("redis://127.0.0.1:{port}/"))
                    .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(5)));
                match opened {
                    Ok(c) => {
                        c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
                        con.insert(c)
                    }
                    Err(_) => {
                        // Down: try the next node, which redirects.
                        let at = ports.iter().position(|&p| p == port).unwrap_or(0);
                        port = ports[(at + 1) % ports.len()];
                        std::thread::sleep(Duration::from_millis(20));
                        continue;
                    }
                }
            }
        };
        let key = format!("{{{tag}}}:{writer}:{i}");
        let value = format!("{writer}.{i}");
        let set: redis::RedisResult<()> = redis::cmd("SET").arg(&key).arg(&value).query(connection);
        match set {
            Ok(()) => {
                let waited: redis::RedisResult<i64> =
                    redis::cmd("WAIT").arg(1).arg(1000).query(connection);
                if waited.is_ok_and(|n| n >= 1) {
                    acked.lock().unwrap().insert(key, value);
                }
                i += 1;
            }
            Err(e) => {
                // MOVED names (host:port, slot).
                let moved_to = e
                    .redirect_node()
                    .and_then(|(to, _)| to.rsplit_once(':')?.1.parse().ok());
                match moved_to {
                    Some(to) => port = to,
                    None => {
                        // The outcome is unknown: the next write uses a
                        // fresh key.
                        con = None;
                        i += 1;
                        std::thread::sleep(Duration::from_millis(20));
                        continue;
                    }
                }
                con = None;
                // Redirected between nodes that do not agree yet.
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }
}

/// How many acknowledged writes `node` (a master, or a replica read with
/// READONLY) lacks or holds another value of; the keys share one slot.
fn lost_writes(node: &Server, acknowledged: &BTreeMap<String, String>) -> usize {
    let mut con = node.client();
    let _: () = redis::cmd("READONLY").query(&mut con).unwrap();
    let keys: Vec<&String> = acknowledged.keys().collect();
    keys.chunks(500)
        .map(|chunk| {
            let values: Vec<Option<String>> =
                redis::cmd("MGET").arg(chunk).query(&mut con).unwrap();
            chunk
                .iter()
                .zip(values)
                .filter(|(key, value)| value.as_ref() != Some(&acknowledged[**key]))
                .count()
        })
        .sum()
}

/// A hash tag whose slot `master` serves.
fn tag_served_by(cluster: &Cluster, master: &Server) -> String {
    let mut con = cluster.nodes[0].client();
    (0..1000)
        .map(|i| format!("t{i}"))
        .find(|tag| cluster.owner_port(slot_of(&mut con, tag)) == master.port)
        .expect("a tag of that master")
}

#[test]
fn replicas_named_in_the_topology_follow_their_masters() {
    let mut cluster = Cluster::create_with(1, 1);
    let (master, replica) = (&cluster.nodes[0], &cluster.nodes[1]);
    let mut con = master.client();
    for i in 0..1000 {
        let _: () = redis::cmd("SET")
            .arg(format!("k{i}"))
            .arg(i)
            .query(&mut con)
            .unwrap();
    }
    wait_caught_up(master, replica);
    let mut reader = replica.client();
    let _: () = redis::cmd("READONLY").query(&mut reader).unwrap();
    for i in 0..1000 {
        let value: i64 = redis::cmd("GET")
            .arg(format!("k{i}"))
            .query(&mut reader)
            .unwrap();
        assert_eq!(value, i);
    }
    let (success, out) = tool(&["cluster", "check", &addr(master)]);
    assert!(success, "{out}");
    assert!(
        out.contains(&format!(
            "replica {} of {}: link up, lag 0",
            addr(replica),
            addr(master)
        )),
        "{out}"
    );

    // A node added to the topology as a replica syncs in full by itself.
    let newcomer = Server::start_with(CLUSTER_ARGS);
    let ids = cluster.ids();
    let newcomer_id = "n".repeat(40);
    assert_eq!(
        q(
            &mut newcomer.client(),
            &["CLUSTERX", "SETNODEID", &newcomer_id]
        ),
        ok()
    );
    let text = format!(
        "{} 127.0.0.1 {} master - 0-16383\n{} 127.0.0.1 {} slave {}\n{newcomer_id} 127.0.0.1 {} slave {}\n",
        ids[0], master.port, ids[1], replica.port, ids[0], newcomer.port, ids[0]
    );
    cluster.nodes.push(newcomer);
    for node in &cluster.nodes {
        assert_eq!(
            q(&mut node.client(), &["CLUSTERX", "SETNODES", &text, "2"]),
            ok()
        );
    }
    let (master, newcomer) = (&cluster.nodes[0], &cluster.nodes[2]);
    wait_caught_up(master, newcomer);
    assert_eq!(q(&mut newcomer.client(), &["DBSIZE"]), int(1000));
    let (success, out) = tool(&["cluster", "check", &addr(newcomer)]);
    assert!(success, "{out}");
    assert!(out.contains("3 nodes agree on topology version 2"), "{out}");
}

#[test]
fn failover_under_waited_writes_loses_none_and_swaps_roles() {
    let cluster = Cluster::create_with(2, 1);
    // Node 2 replicates node 0, node 3 node 1.
    let (master, replica) = (&cluster.nodes[0], &cluster.nodes[2]);
    wait_caught_up(master, replica);
    wait_caught_up(&cluster.nodes[1], &cluster.nodes[3]);
    let (master_id, replica_id) = (my_id(master), my_id(replica));
    let tag = tag_served_by(&cluster, master);
    let ports: Vec<u16> = cluster.nodes.iter().map(|n| n.port).collect();
    let writers = WaitedWriters::start(4, &tag, &ports);
    writers.wait_for_more(300, "writes acknowledged before the failover");

    let (success, out) = tool(&["cluster", "failover", &addr(replica), "--timeout", "30"]);
    assert!(success, "failover failed: {out}");
    assert!(
        out.contains(&format!("{} has every write", addr(replica))),
        "{out}"
    );
    let before = writers.count();
    // The writers move to the new master, whose WAIT counts the old
    // master, now its replica.
    writers.wait_for_more(300, "writes acknowledged after the failover");
    let acknowledged = writers.stop();
    let lost = lost_writes(replica, &acknowledged);
    println!(
        "{} writes acknowledged by WAIT 1 ({before} before the failover ended), {lost} lost",
        acknowledged.len()
    );
    assert_eq!(lost, 0, "acknowledged writes lost");

    for node in &cluster.nodes {
        let (flags, of, slots, version) = seen_by(node, replica.port);
        assert_eq!(
            (flags.as_str(), of.as_str(), version.as_str()),
            ("master", "-", "2")
        );
        assert_eq!(
            slots, "0-8191",
            "the new master's slots, seen by {}",
            node.port
        );
        let (flags, of, slots, _) = seen_by(node, master.port);
        assert_eq!((flags.as_str(), slots.as_str()), ("slave", ""));
        assert_eq!(of, replica_id);
        // The other shard is untouched.
        let (flags, _, slots, _) = seen_by(node, cluster.nodes[1].port);
        assert_eq!((flags.as_str(), slots.as_str()), ("master", "8192-16383"));
    }
    assert_ne!(master_id, replica_id);
    assert_eq!(
        error(&mut master.raw(), &["SET", &format!("{{{tag}}}x"), "1"]),
        format!(
            "MOVED {} {}",
            slot_of(&mut master.client(), &tag),
            addr(replica)
        )
    );
    wait_caught_up(replica, master);
    assert_eq!(
        lost_writes(master, &acknowledged),
        0,
        "the old master's copy"
    );
    let (success, out) = tool(&["cluster", "check", &addr(master)]);
    assert!(success, "{out}");
    assert!(
        out.contains(&format!(
            "replica {} of {}: link up",
            addr(master),
            addr(replica)
        )),
        "{out}"
    );
}

#[test]
fn a_killed_master_replaced_by_a_new_topology_loses_no_waited_write() {
    let mut cluster = Cluster::create_with(1, 1);
    wait_caught_up(&cluster.nodes[0], &cluster.nodes[1]);
    let ids = cluster.ids();
    let ports: Vec<u16> = cluster.nodes.iter().map(|n| n.port).collect();
    let writers = WaitedWriters::start(4, "k", &ports);
    writers.wait_for_more(500, "writes acknowledged before the kill");
    cluster.nodes[0].kill9();

    // The controller's answer: the replica takes every slot.
    let (master, replica) = (&cluster.nodes[0], &cluster.nodes[1]);
    let text = format!(
        "{} 127.0.0.1 {} master - 0-16383\n{} 127.0.0.1 {} slave {}\n",
        ids[1], replica.port, ids[0], master.port, ids[1]
    );
    assert_eq!(
        q(&mut replica.client(), &["CLUSTERX", "SETNODES", &text, "2"]),
        ok()
    );
    // Writes go on at the new master (WAIT finds no replica: its old
    // master is dead).
    let mut con = replica.client();
    let _: () = redis::cmd("SET")
        .arg("{k}after")
        .arg("1")
        .query(&mut con)
        .unwrap();
    assert_eq!(
        info_field(replica.port, "replication", "role").as_deref(),
        Some("master")
    );
    let acknowledged = writers.stop();
    let lost = lost_writes(replica, &acknowledged);
    println!(
        "{} writes acknowledged by WAIT 1 before the master was killed, {lost} lost",
        acknowledged.len()
    );
    assert_eq!(lost, 0, "acknowledged writes lost");
}

#[test]
fn a_failover_the_replica_cannot_finish_changes_nothing() {
    let cluster = Cluster::create_with(1, 1);
    let (master, replica) = (&cluster.nodes[0], &cluster.nodes[1]);
    wait_caught_up(master, replica);
    let unchanged = |what: &str| {
        for node in &cluster.nodes {
            let (flags, _, slots, version) = seen_by(node, master.port);
            assert_eq!(
                (flags.as_str(), slots.as_str(), version.as_str()),
                ("master", "0-16383", "1"),
                "{what}: {}",
                node.port
            );
        }
        // Writes are not held.
        assert_eq!(master.raw().command(&["SET", "after", what]), b"+OK\r\n");
    };
    let (success, out) = tool(&["cluster", "failover", &addr(master)]);
    assert!(!success && out.contains("is a master already"), "{out}");

    // The replica's link stays down (its master refuses its password) and
    // the master writes on.
    assert_eq!(
        q(
            &mut replica.client(),
            &["CONFIG", "SET", "masterauth", "wrong"]
        ),
        ok()
    );
    assert_eq!(
        q(&mut master.client(), &["CLIENT", "KILL", "TYPE", "replica"]),
        int(1)
    );
    wait_until("the link is down", Duration::from_secs(30), || {
        info_field(replica.port, "replication", "master_link_status").as_deref() == Some("down")
    });
    assert_eq!(master.raw().command(&["SET", "behind", "1"]), b"+OK\r\n");
    let (success, out) = tool(&["cluster", "check", &addr(master)]);
    assert!(!success, "{out}");
    assert!(
        out.contains(&format!(
            "{}: the link to its master {} is down",
            addr(replica),
            addr(master)
        )),
        "{out}"
    );
    let (success, out) = tool(&["cluster", "failover", &addr(replica), "--timeout", "2"]);
    assert!(!success, "{out}");
    assert!(out.contains("did not catch up within 2s"), "{out}");
    assert!(out.contains("replication link down"), "{out}");
    assert!(out.contains("writes resumed"), "{out}");
    assert!(out.contains("topology unchanged at version 1"), "{out}");
    unchanged("a replica that cannot catch up");

    // A stopped replica: the tool gives up after its timeout.
    replication::freeze(&replica.child);
    let (success, out) = tool(&["cluster", "failover", &addr(replica), "--timeout", "1"]);
    replication::thaw(&replica.child);
    assert!(!success, "{out}");
    assert!(out.contains("did not answer"), "{out}");
    unchanged("a stopped replica");
}

/// A controller may reach the old master before the replica it promotes:
/// the old master then links to a node that is still a replica and is fed
/// from there. Once promoted, that node takes a new replication id and
/// ends its feeds, so the old master continues under the new id: back
/// from a restart it continues where it stopped, with no full sync.
#[test]
fn an_old_master_linked_before_the_promotion_follows_the_new_history() {
    let mut cluster = Cluster::create_with(1, 1);
    let (old, new) = (&cluster.nodes[0], &cluster.nodes[1]);
    let mut con = old.client();
    for i in 0..100 {
        let _: () = redis::cmd("SET")
            .arg(format!("a{i}"))
            .arg(i)
            .query(&mut con)
            .unwrap();
    }
    wait_caught_up(old, new);
    let ids = cluster.ids();
    let text = format!(
        "{} 127.0.0.1 {} master - 0-16383\n{} 127.0.0.1 {} slave {}\n",
        ids[1], new.port, ids[0], old.port, ids[1]
    );
    assert_eq!(
        q(&mut old.client(), &["CLUSTERX", "SETNODES", &text, "2"]),
        ok()
    );
    wait_until(
        "the old master fed by the replica",
        Duration::from_secs(30),
        || info_field(new.port, "replication", "connected_slaves").as_deref() == Some("1"),
    );
    assert_eq!(
        q(&mut new.client(), &["CLUSTERX", "SETNODES", &text, "2"]),
        ok()
    );
    let mut con = new.client();
    for i in 0..100 {
        let _: () = redis::cmd("SET")
            .arg(format!("b{i}"))
            .arg(i)
            .query(&mut con)
            .unwrap();
    }
    wait_caught_up(new, old);
    assert_eq!(
        info_field(old.port, "replication", "master_replid"),
        info_field(new.port, "replication", "master_replid"),
        "the old master took the new id"
    );

    cluster.nodes[0].restart(CLUSTER_ARGS);
    let (old, new) = (&cluster.nodes[0], &cluster.nodes[1]);
    let _: () = redis::cmd("SET")
        .arg("c")
        .arg(1)
        .query(&mut new.client())
        .unwrap();
    wait_caught_up(new, old);
    assert_eq!(
        info_number(new.port, "stats", "sync_full"),
        0,
        "a full sync"
    );
    assert_eq!(info_number(new.port, "stats", "sync_partial_err"), 0);
    assert_eq!(q(&mut old.client(), &["DBSIZE"]), int(201));
}
