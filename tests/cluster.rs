//! Cluster mode: three real nodes made a cluster by `redrock cluster
//! create`, used by the `redis` crate's cluster client and by plain
//! clients that follow MOVED themselves.

mod common;
use common::*;
use redis::cluster::{cluster_pipe, ClusterClient};
use std::collections::BTreeMap;
use std::process::Command;

const CLUSTER_ARGS: &[&str] = &["--cluster-enabled", "yes"];

fn tool(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_redrock"))
        .args(args)
        .output()
        .expect("running redrock");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

struct Cluster {
    nodes: Vec<Server>,
}

impl Cluster {
    /// Three fresh nodes made a cluster with the tool.
    fn create() -> Cluster {
        let nodes: Vec<Server> = (0..3).map(|_| Server::start_with(CLUSTER_ARGS)).collect();
        let mut args = vec!["cluster".to_string(), "create".to_string()];
        args.extend(nodes.iter().map(|n| format!("127.0.0.1:{}", n.port)));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (success, out) = tool(&args);
        assert!(success, "cluster create failed: {out}");
        assert!(out.contains("3 masters"), "{out}");
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
