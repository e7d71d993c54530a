//! Online slot migration between real nodes, driven as Kvrocks's
//! controller drives it (CLUSTERX MIGRATE, CLUSTER INFO, CLUSTERX
//! SETSLOT), with writers on the `redis` crate's cluster client running
//! throughout; and migrations cut short by a killed node.

mod common;
use common::metrics::{move_metrics, MoveMetrics};
use common::replication::{scan_keys, wait_caught_up, wait_until};
use common::*;
use redis::cluster::ClusterClient;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const ID_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const ID_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const ID_REPLICA: &str = "cccccccccccccccccccccccccccccccccccccccc";
/// The slots that move from A to B.
const MOVING: (u16, u16) = (0, 8191);

/// Two masters: A serves every slot, B none; A may have a replica.
struct Pair {
    a: Server,
    b: Server,
    replica: Option<Server>,
    version: u64,
}

impl Pair {
    fn start(extra: &[&str]) -> Pair {
        let mut args = vec!["--cluster-enabled", "yes"];
        args.extend_from_slice(extra);
        let mut pair = Pair {
            a: Server::start_with(&args),
            b: Server::start_with(&args),
            replica: None,
            version: 0,
        };
        for (server, id) in [(&pair.a, ID_A), (&pair.b, ID_B)] {
            q(&mut server.client(), &["CLUSTERX", "SETNODEID", id]);
        }
        pair.push_topology(&format!(
            "{ID_A} 127.0.0.1 {} master - 0-16383\n{ID_B} 127.0.0.1 {} master -",
            pair.a.port, pair.b.port
        ));
        pair
    }

    /// Every node, which each topology reaches.
    fn nodes(&self) -> impl Iterator<Item = &Server> {
        [&self.a, &self.b].into_iter().chain(&self.replica)
    }

    /// Starts a replica of A and tells every node.
    fn add_replica_of_a(&mut self) {
        let replica = Server::start_with(&["--cluster-enabled", "yes"]);
        q(
            &mut replica.client(),
            &["CLUSTERX", "SETNODEID", ID_REPLICA],
        );
        let topology = format!(
            "{ID_A} 127.0.0.1 {} master - 0-16383\n{ID_B} 127.0.0.1 {} master -\n\
             {ID_REPLICA} 127.0.0.1 {} slave {ID_A}",
            self.a.port, self.b.port, replica.port
        );
        self.replica = Some(replica);
        self.push_topology(&topology);
    }

    fn push_topology(&mut self, text: &str) {
        self.version += 1;
        for server in self.nodes() {
            let reply = q(
                &mut server.client(),
                &["CLUSTERX", "SETNODES", text, &self.version.to_string()],
            );
            assert_eq!(reply, ok());
        }
    }

    /// What the controller does once a migration succeeded.
    fn set_slots_to_b(&mut self) {
        self.version += 1;
        let range = format!("{}-{}", MOVING.0, MOVING.1);
        for server in self.nodes() {
            let reply = q(
                &mut server.client(),
                &[
                    "CLUSTERX",
                    "SETSLOT",
                    &range,
                    "NODE",
                    ID_B,
                    &self.version.to_string(),
                ],
            );
            assert_eq!(reply, ok());
        }
    }

    fn migrate(&self) -> redis::Value {
        let range = format!("{}-{}", MOVING.0, MOVING.1);
        q(&mut self.a.client(), &["CLUSTERX", "MIGRATE", &range, ID_B])
    }

    fn cluster_client(&self) -> redis::cluster::ClusterConnection {
        ClusterClient::builder(vec![self.a.url(), self.b.url()])
            .retries(50)
            .build()
            .expect("cluster client")
            .get_connection()
            .expect("cluster connection")
    }
}

/// Waits until the source's migration ends; returns its final state.
fn migration_outcome(source: &Server) -> String {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let state = cluster_info(source, "migrating_state").unwrap_or_default();
        if state != "start" {
            return state;
        }
        assert!(Instant::now() < deadline, "the migration did not end");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Keys of every type, some with a TTL, written straight to A.
fn populate(server: &Server, count: usize) {
    let mut con = server.client();
    let mut pipe = redis::pipe();
    for i in 0..count {
        let key = format!("k{i}");
        if i % 7 == 0 {
            // An earlier life: its members stay behind, under an older
            // version, until a compaction; the live ones must still move.
            pipe.cmd("RPUSH").arg(&key).arg("old").arg("older");
            pipe.cmd("DEL").arg(&key);
        }
        match i % 5 {
            0 => pipe.cmd("SET").arg(&key).arg(format!("v{i}")),
            1 => pipe
                .cmd("HSET")
                .arg(&key)
                .arg("f1")
                .arg(i)
                .arg("f2")
                .arg("x"),
            2 => pipe.cmd("SADD").arg(&key).arg("a").arg("b").arg(i),
            3 => pipe
                .cmd("ZADD")
                .arg(&key)
                .arg(1.5)
                .arg("m1")
                .arg(i)
                .arg("m2"),
            _ => pipe.cmd("RPUSH").arg(&key).arg("x").arg("y").arg(i),
        };
        if i % 3 == 0 {
            pipe.cmd("PEXPIRE").arg(&key).arg(3_600_000 + i);
        }
        if pipe.cmd_iter().count() >= 1000 {
            pipe.query::<()>(&mut con).unwrap();
            pipe = redis::pipe();
        }
    }
    pipe.query::<()>(&mut con).unwrap();
}

/// A key's type, contents and expiry time, read through the cluster.
fn dump(con: &mut redis::cluster::ClusterConnection, key: &str) -> String {
    let kind: String = redis::cmd("TYPE").arg(key).query(con).unwrap();
    let value = match kind.as_str() {
        "string" => redis::cmd("GET").arg(key).query::<redis::Value>(con),
        "hash" => redis::cmd("HGETALL").arg(key).query(con),
        "set" => redis::cmd("SMEMBERS").arg(key).query(con),
        "zset" => redis::cmd("ZRANGE")
            .arg(key)
            .arg(0)
            .arg(-1)
            .arg("WITHSCORES")
            .query(con),
        "list" => redis::cmd("LRANGE").arg(key).arg(0).arg(-1).query(con),
        _ => Ok(redis::Value::Nil),
    }
    .unwrap();
    let mut value = format!("{value:?}");
    if kind == "set" {
        // Members come in no set order: compare them sorted.
        let mut members: Vec<String> = redis::cmd("SMEMBERS").arg(key).query(con).unwrap();
        members.sort();
        value = format!("{members:?}");
    }
    let expires: i64 = redis::cmd("PEXPIRETIME").arg(key).query(con).unwrap();
    format!("{kind} {value} {expires}")
}

fn dump_all(con: &mut redis::cluster::ClusterConnection, count: usize) -> BTreeMap<String, String> {
    (0..count)
        .map(|i| {
            let key = format!("k{i}");
            let dumped = dump(con, &key);
            (key, dumped)
        })
        .collect()
}

/// Every node's keys add up: CLUSTER COUNTKEYSINSLOT over the slots it
/// serves (a replica: its master's) is its DBSIZE, SCAN finds as many
/// keys, and it holds no key of a slot it does not serve.
fn assert_counts(server: &Server, served: (u16, u16)) {
    let mut con = server.client();
    let mut served_keys = 0;
    for slot in 0..16384u16 {
        let n: i64 = redis::cmd("CLUSTER")
            .arg("COUNTKEYSINSLOT")
            .arg(slot)
            .query(&mut con)
            .unwrap();
        if (served.0..=served.1).contains(&slot) {
            served_keys += n;
        } else {
            assert_eq!(n, 0, "port {}: keys left in slot {slot}", server.port);
        }
    }
    let size: i64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
    assert_eq!(served_keys, size, "port {}", server.port);
    let scanned = scan_keys(&mut con).len();
    assert_eq!(
        scanned as i64, size,
        "port {}: SCAN and DBSIZE",
        server.port
    );
}

/// What writers had acknowledged: each key's last SET value, and how many
/// INCRs each counter got.
type Acknowledged = (BTreeMap<String, u64>, BTreeMap<String, i64>);

/// Writers on the cluster client: SETs of their own keys and INCRs of
/// shared counters; each records what was acknowledged.
struct Writers {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<Acknowledged>>,
}

impl Writers {
    fn start(pair: &Pair, count: usize) -> Writers {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..count)
            .map(|t| {
                let mut con = pair.cluster_client();
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let mut sets = BTreeMap::new();
                    let mut incrs = BTreeMap::new();
                    let mut i = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        let key = format!("w{t}:{}", i % 500);
                        let set: redis::RedisResult<()> =
                            redis::cmd("SET").arg(&key).arg(i).query(&mut con);
                        if set.is_ok() {
                            sets.insert(key, i);
                        }
                        let counter = format!("counter{}", i % 40);
                        let incr: redis::RedisResult<i64> =
                            redis::cmd("INCR").arg(&counter).query(&mut con);
                        if incr.is_ok() {
                            *incrs.entry(counter).or_insert(0) += 1;
                        }
                        i += 1;
                    }
                    (sets, incrs)
                })
            })
            .collect();
        Writers { stop, threads }
    }

    fn finish(self) -> Acknowledged {
        self.stop.store(true, Ordering::Relaxed);
        let mut sets = BTreeMap::new();
        let mut incrs: BTreeMap<String, i64> = BTreeMap::new();
        for thread in self.threads {
            let (s, c) = thread.join().unwrap();
            sets.extend(s);
            for (k, n) in c {
                *incrs.entry(k).or_insert(0) += n;
            }
        }
        (sets, incrs)
    }
}

#[test]
fn slots_move_with_their_keys_under_load_and_nothing_is_lost() {
    const KEYS: usize = 20_000;
    let mut pair = Pair::start(&[]);
    populate(&pair.a, KEYS);
    let mut con = pair.cluster_client();
    let before = dump_all(&mut con, KEYS);

    let writers = Writers::start(&pair, 4);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(pair.migrate(), ok());
    // The job connects to the destination in the background.
    let deadline = Instant::now() + Duration::from_secs(30);
    let state = loop {
        if let Some(state) = cluster_info(&pair.b, "import_state") {
            break state;
        }
        assert!(Instant::now() < deadline, "the import never started");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(["start", "success"].contains(&state.as_str()), "{state}");
    assert_eq!(migration_outcome(&pair.a), "success");
    assert_eq!(
        cluster_info(&pair.b, "import_state").as_deref(),
        Some("success")
    );
    // Before the controller's new topology, the source sends clients on.
    let moving_key = (0..KEYS)
        .map(|i| format!("k{i}"))
        .find(|k| {
            let slot: u16 = redis::cmd("CLUSTER")
                .arg("KEYSLOT")
                .arg(k)
                .query(&mut pair.a.client())
                .unwrap();
            slot <= MOVING.1
        })
        .expect("a key in the moving slots");
    let moved = error(&mut pair.a.raw(), &["GET", &moving_key]);
    assert!(
        moved.starts_with("MOVED") && moved.contains(&pair.b.port.to_string()),
        "{moved}"
    );
    std::thread::sleep(Duration::from_millis(300));
    pair.set_slots_to_b();
    std::thread::sleep(Duration::from_millis(300));
    let (sets, incrs) = writers.finish();
    assert!(!sets.is_empty() && !incrs.is_empty());

    let after = dump_all(&mut con, KEYS);
    let differing: Vec<_> = before
        .iter()
        .filter(|(k, v)| after.get(*k) != Some(v))
        .take(5)
        .collect();
    assert!(
        differing.is_empty(),
        "keys changed by the move: {differing:?}"
    );
    for (key, value) in &sets {
        let stored: Option<u64> = redis::cmd("GET").arg(key).query(&mut con).unwrap();
        assert_eq!(
            stored,
            Some(*value),
            "{key}: the last acknowledged SET is lost"
        );
    }
    for (counter, acknowledged) in &incrs {
        let stored: i64 = redis::cmd("GET").arg(counter).query(&mut con).unwrap();
        assert_eq!(
            stored, *acknowledged,
            "{counter}: INCRs lost or applied twice"
        );
    }
    assert_counts(&pair.a, (MOVING.1 + 1, 16383));
    assert_counts(&pair.b, MOVING);
    let total: i64 = [&pair.a, &pair.b]
        .iter()
        .map(|s| redis::cmd("DBSIZE").query::<i64>(&mut s.client()).unwrap())
        .sum();
    let writer_keys = sets.len() + incrs.len();
    assert_eq!(total as usize, KEYS + writer_keys);
}

#[test]
fn a_migration_cut_short_by_either_node_is_retried_and_completes() {
    const KEYS: usize = 20_000;
    // Slow enough (1 MB/s) to be killed midway.
    let mut pair = Pair::start(&["--migrate-batch-rate-limit-mb", "1"]);
    populate(&pair.a, KEYS);
    let keys_a: i64 = redis::cmd("DBSIZE").query(&mut pair.a.client()).unwrap();

    // The destination dies: the source fails the job and serves on; the
    // destination comes back without the partial keys.
    assert_eq!(pair.migrate(), ok());
    std::thread::sleep(Duration::from_millis(700));
    pair.b.kill9();
    assert_eq!(migration_outcome(&pair.a), "fail");
    let failed = move_metrics(&pair.a, "migration");
    assert_eq!(
        (failed.state, failed.succeeded, failed.failed),
        (vec!["fail"], 0.0, 1.0)
    );
    pair.b.restart(&[
        "--cluster-enabled",
        "yes",
        "--migrate-batch-rate-limit-mb",
        "1",
    ]);
    assert_eq!(
        redis::cmd("DBSIZE")
            .query::<i64>(&mut pair.b.client())
            .unwrap(),
        0
    );
    assert_eq!(
        redis::cmd("DBSIZE")
            .query::<i64>(&mut pair.a.client())
            .unwrap(),
        keys_a
    );
    assert_eq!(
        redis::cmd("GET")
            .arg("k0")
            .query::<String>(&mut pair.a.client())
            .unwrap(),
        "v0"
    );

    // The source dies: the destination drops what it got.
    assert_eq!(pair.migrate(), ok());
    std::thread::sleep(Duration::from_millis(700));
    let copied: i64 = redis::cmd("DBSIZE").query(&mut pair.b.client()).unwrap();
    assert!(copied > 0, "the import had begun");
    pair.a.kill9();
    let deadline = Instant::now() + Duration::from_secs(30);
    while cluster_info(&pair.b, "import_state").as_deref() != Some("error") {
        assert!(Instant::now() < deadline, "the import did not fail");
        std::thread::sleep(Duration::from_millis(50));
    }
    let failed = move_metrics(&pair.b, "import");
    assert_eq!(
        (failed.state, failed.succeeded, failed.failed),
        (vec!["fail"], 0.0, 1.0)
    );
    assert_eq!(
        redis::cmd("DBSIZE")
            .query::<i64>(&mut pair.b.client())
            .unwrap(),
        0
    );
    pair.a.restart(&["--cluster-enabled", "yes"]);
    assert_eq!(
        redis::cmd("DBSIZE")
            .query::<i64>(&mut pair.a.client())
            .unwrap(),
        keys_a
    );

    // Retried at once, it completes.
    let mut con = pair.cluster_client();
    let before = dump_all(&mut con, KEYS);
    assert_eq!(pair.migrate(), ok());
    assert_eq!(migration_outcome(&pair.a), "success");
    pair.set_slots_to_b();
    assert_eq!(dump_all(&mut con, KEYS), before);
    assert_counts(&pair.a, (MOVING.1 + 1, 16383));
    assert_counts(&pair.b, MOVING);
}

/// A key whose slot `wanted` accepts (found with CLUSTER KEYSLOT).
fn key_in(server: &Server, wanted: impl Fn(u16) -> bool) -> String {
    let mut con = server.client();
    (0..)
        .map(|i| format!("key{i}"))
        .find(|key| {
            let slot: u16 = redis::cmd("CLUSTER")
                .arg("KEYSLOT")
                .arg(key)
                .query(&mut con)
                .unwrap();
            wanted(slot)
        })
        .unwrap()
}

/// A node A serving every slot, in a cluster whose other master, B, is
/// played by the test on `fake_port`.
fn source_facing(fake_port: u16) -> Server {
    let a = Server::start_with(&["--cluster-enabled", "yes"]);
    q(&mut a.client(), &["CLUSTERX", "SETNODEID", ID_A]);
    let topology = format!(
        "{ID_A} 127.0.0.1 {} master - 0-16383\n{ID_B} 127.0.0.1 {fake_port} master -",
        a.port
    );
    assert_eq!(
        q(&mut a.client(), &["CLUSTERX", "SETNODES", &topology, "1"]),
        ok()
    );
    a
}

/// A destination played by the test answers every migration command at
/// once except the hand-over (CLUSTER IMPORT <slots> 1), which it answers
/// when told: meanwhile the source holds the writes of the moving slots,
/// and only those.
#[test]
fn the_hand_over_holds_writes_of_the_moving_slots_only() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let fake_port = listener.local_addr().unwrap().port();
    let (handing_over, in_hand_over) = std::sync::mpsc::channel();
    let (answer, answer_now) = std::sync::mpsc::channel::<()>();
    let destination = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut link = RawClient::over(stream).unwrap();
        loop {
            let request = show(&link.read_reply());
            if request.contains("IMPORT") && request.ends_with("$1\\r\\n1\\r\\n") {
                handing_over.send(()).unwrap();
                answer_now.recv().unwrap();
                link.send(b"+OK\r\n");
                return;
            }
            link.send(b"+OK\r\n");
        }
    });
    let a = source_facing(fake_port);
    let moving = key_in(&a, |slot| slot <= 100);
    let staying = key_in(&a, |slot| slot > 100);
    q(&mut a.client(), &["SET", &moving, "before"]);
    // A client blocked on a key of the moving slots, without a timeout.
    let list = format!("{{{moving}}}list");
    let mut blocked = a.raw();
    blocked.send(&RawClient::encode(&["BLPOP", &list, "0"]));
    wait_blocked(&mut a.client(), 1);
    assert_eq!(
        q(&mut a.client(), &["CLUSTERX", "MIGRATE", "0-100", ID_B]),
        ok()
    );
    in_hand_over
        .recv_timeout(Duration::from_secs(60))
        .expect("the source reaches the hand-over");

    // Other slots' writes, and reads of the moving slots, go on.
    let mut other = a.raw();
    assert_eq!(show(&other.command(&["SET", &staying, "x"])), "+OK\\r\\n");
    assert_eq!(
        show(&other.command(&["GET", &moving])),
        "$6\\r\\nbefore\\r\\n"
    );
    // A write of a moving slot waits (counted as a blocked client)...
    let mut held = a.raw();
    held.send(&RawClient::encode(&["SET", &moving, "after"]));
    wait_blocked(&mut a.client(), 2);
    // ... and once the slots are handed over, it is sent to their new node.
    answer.send(()).unwrap();
    let moved = format!("-MOVED {} 127.0.0.1:{fake_port}\\r\\n", {
        let slot: u16 = redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(&moving)
            .query(&mut a.client())
            .unwrap();
        slot
    });
    assert_eq!(show(&held.read_reply()), moved);
    // The blocked client is sent there too: pushes now go to that node.
    assert_eq!(show(&blocked.read_reply()), moved);
    assert_eq!(migration_outcome(&a), "success");
    assert_eq!(show(&other.command(&["GET", &moving])), moved);
    assert_eq!(show(&other.command(&["GET", &staying])), "$1\\r\\nx\\r\\n");
    destination.join().unwrap();
}

/// A destination played by the test that takes the hand-over of slots
/// 0-100 but loses its answer (closes the link), then tells whoever asks
/// (CLUSTER INFO) the import state the test sets.
struct LostAnswer {
    port: u16,
    import_state: Arc<std::sync::Mutex<&'static str>>,
    handing_over: std::sync::mpsc::Receiver<()>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl LostAnswer {
    fn start() -> LostAnswer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let import_state = Arc::new(std::sync::Mutex::new("start"));
        let (handing_over, in_hand_over) = std::sync::mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let (state, stopped) = (import_state.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut link = RawClient::over(stream).unwrap();
            loop {
                let request = show(&link.read_reply());
                if request.contains("IMPORT") && request.ends_with("$1\\r\\n1\\r\\n") {
                    // Taken, but the answer never leaves.
                    drop(link);
                    handing_over.send(()).unwrap();
                    break;
                }
                link.send(b"+OK\r\n");
            }
            listener.set_nonblocking(true).unwrap();
            while !stopped.load(Ordering::SeqCst) {
                let Ok((stream, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                stream.set_nonblocking(false).unwrap();
                let mut asker = RawClient::over(stream).unwrap();
                let request = show(&asker.read_reply());
                assert!(request.contains("INFO"), "unexpected {request}");
                let info = format!(
                    "cluster_current_epoch:1\r\nimporting_slot:0-100\r\nimport_state:{}\r\n",
                    state.lock().unwrap()
                );
                asker.send(format!("${}\r\n{info}\r\n", info.len()).as_bytes());
            }
        });
        LostAnswer {
            port,
            import_state,
            handing_over: in_hand_over,
            stop,
            thread: Some(thread),
        }
    }

    fn wait_hand_over(&self) {
        self.handing_over
            .recv_timeout(Duration::from_secs(60))
            .expect("the source reaches the hand-over");
    }

    fn answer(&self, import_state: &'static str) {
        *self.import_state.lock().unwrap() = import_state;
    }
}

impl Drop for LostAnswer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let joined = thread.join();
            if !std::thread::panicking() {
                joined.unwrap();
            }
        }
    }
}

fn moved_to(server: &Server, key: &str, port: u16) -> String {
    let slot: u16 = redis::cmd("CLUSTER")
        .arg("KEYSLOT")
        .arg(key)
        .query(&mut server.client())
        .unwrap();
    format!("-MOVED {slot} 127.0.0.1:{port}\\r\\n")
}

/// A source whose migration of slots 0-100 (holding `moving`, set to
/// "before") reached the hand-over, whose answer the destination keeps.
fn hand_over_without_answer() -> (LostAnswer, Server, String) {
    let destination = LostAnswer::start();
    let a = source_facing(destination.port);
    let moving = key_in(&a, |slot| slot <= 100);
    q(&mut a.client(), &["SET", &moving, "before"]);
    assert_eq!(
        q(&mut a.client(), &["CLUSTERX", "MIGRATE", "0-100", ID_B]),
        ok()
    );
    destination.wait_hand_over();
    (destination, a, moving)
}

/// When the answer to the hand-over is lost, the destination may serve
/// the slots already: the source holds their writes, and asks, until the
/// destination says how the import ended. Serving them again at once
/// would let two nodes take writes for them.
#[test]
fn a_lost_hand_over_answer_holds_writes_until_the_destination_says_it_took_them() {
    let (destination, a, moving) = hand_over_without_answer();
    let mut held = a.raw();
    held.send(&RawClient::encode(&["SET", &moving, "after"]));
    wait_blocked(&mut a.client(), 1);
    // Asked while the import still runs there: nothing is decided.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        cluster_info(&a, "migrating_state").as_deref(),
        Some("start")
    );
    assert_eq!(
        show(&a.raw().command(&["GET", &moving])),
        "$6\\r\\nbefore\\r\\n"
    );
    destination.answer("success");
    assert_eq!(
        show(&held.read_reply()),
        moved_to(&a, &moving, destination.port)
    );
    assert_eq!(migration_outcome(&a), "success");
}

/// A restart between the hand-over and its answer: the source comes back
/// holding the slots' writes, asks the destination, and serves the slots
/// again only once it says it did not take them.
#[test]
fn a_hand_over_cut_short_by_a_restart_is_settled_by_asking_the_destination() {
    let (destination, mut a, moving) = hand_over_without_answer();
    a.kill9();
    a.restart(&["--cluster-enabled", "yes"]);
    assert_eq!(
        cluster_info(&a, "migrating_state").as_deref(),
        Some("start")
    );
    let mut held = a.raw();
    held.send(&RawClient::encode(&["SET", &moving, "after"]));
    wait_blocked(&mut a.client(), 1);
    destination.answer("error");
    assert_eq!(show(&held.read_reply()), "+OK\\r\\n");
    assert_eq!(migration_outcome(&a), "fail");
    assert_eq!(
        show(&a.raw().command(&["GET", &moving])),
        "$5\\r\\nafter\\r\\n"
    );
}

#[test]
fn the_metrics_page_follows_a_migration_on_both_nodes() {
    let mut pair = Pair::start(&[]);
    for side in ["migration", "import"] {
        for server in [&pair.a, &pair.b] {
            assert_eq!(move_metrics(server, side), MoveMetrics::none());
        }
    }
    populate(&pair.a, 1_000);
    assert_eq!(pair.migrate(), ok());
    assert_eq!(migration_outcome(&pair.a), "success");
    let moved: i64 = redis::cmd("DBSIZE").query(&mut pair.b.client()).unwrap();
    assert!(moved > 0);
    let info = |field| {
        cluster_info(&pair.a, field)
            .unwrap()
            .parse::<f64>()
            .unwrap()
    };
    assert_eq!(info("migrating_keys"), moved as f64);
    // Each side counts the same keys and bytes, and one success.
    let done = MoveMetrics {
        state: vec!["success"],
        slots: (f64::from(MOVING.0), f64::from(MOVING.1)),
        keys: moved as f64,
        bytes: info("migrating_bytes"),
        succeeded: 1.0,
        failed: 0.0,
    };
    assert!(done.bytes > 0.0);
    assert_eq!(move_metrics(&pair.a, "migration"), done);
    assert_eq!(move_metrics(&pair.b, "import"), done);
    assert_eq!(move_metrics(&pair.a, "import"), MoveMetrics::none());
    assert_eq!(move_metrics(&pair.b, "migration"), MoveMetrics::none());
    // The controller's topology ends the moves: their state and slots
    // go, the totals stay.
    pair.set_slots_to_b();
    let ended = MoveMetrics {
        state: vec![],
        slots: (-1.0, -1.0),
        ..done
    };
    assert_eq!(move_metrics(&pair.a, "migration"), ended);
    assert_eq!(move_metrics(&pair.b, "import"), ended);
}

#[test]
fn migrate_refuses_what_it_cannot_do() {
    let pair = Pair::start(&[]);
    let mut a = pair.a.raw();
    let mut b = pair.b.raw();
    assert_eq!(
        error(&mut b, &["CLUSTERX", "MIGRATE", "0-10", ID_A]),
        "ERR Can't migrate slots this node does not serve"
    );
    assert_eq!(
        error(&mut a, &["CLUSTERX", "MIGRATE", "0-10", ID_A]),
        format!("ERR Can't migrate to {ID_A}: not another master")
    );
    assert_eq!(
        error(&mut a, &["CLUSTERX", "MIGRATE", "0-99999", ID_B]),
        "ERR Invalid slot: slots are 0-16383, ranges a-b with a < b"
    );
    assert_eq!(
        error(&mut a, &["CLUSTERX", "IMPORTDATA", "x"]),
        "ERR No import runs on this connection"
    );
    assert_eq!(
        error(&mut a, &["CLUSTER", "IMPORT", "0-10", "0"]),
        "ERR Can't import slots this node serves already"
    );
}

#[test]
fn redrock_cluster_reshard_moves_slots_and_resumes_a_handed_over_run() {
    const KEYS: usize = 5_000;
    let pair = Pair::start(&[]);
    populate(&pair.a, KEYS);
    let mut con = pair.cluster_client();
    let before = dump_all(&mut con, KEYS);
    let entry = format!("127.0.0.1:{}", pair.a.port);

    // A run the source handed over before the tool could push the
    // topology (as if it had been interrupted): the tool finishes it.
    assert_eq!(pair.migrate(), ok());
    assert_eq!(migration_outcome(&pair.a), "success");
    let range = format!("{}-{}", MOVING.0, MOVING.1);
    let (success, out) = tool(&[
        "cluster", "reshard", &entry, "--from", ID_A, "--to", ID_B, "--slots", &range,
    ]);
    assert!(success, "{out}");
    assert!(
        out.contains(&format!(
            "finishing the interrupted move of slots {range} to {ID_B}"
        )),
        "{out}"
    );
    assert!(
        out.contains("8192 of these slots are served by the destination already"),
        "{out}"
    );
    assert_counts(&pair.a, (MOVING.1 + 1, 16383));
    assert_counts(&pair.b, MOVING);

    // A count of slots, taken from the source's first ones.
    let (success, out) = tool(&[
        "cluster", "reshard", &entry, "--from", ID_A, "--to", ID_B, "--slots", "1000",
    ]);
    assert!(success, "{out}");
    assert!(out.contains("done: 1000 slots moved"), "{out}");
    assert_counts(&pair.a, (MOVING.1 + 1001, 16383));
    assert_counts(&pair.b, (0, MOVING.1 + 1000));
    let mut con = pair.cluster_client();
    assert_eq!(dump_all(&mut con, KEYS), before);

    let (success, out) = tool(&[
        "cluster", "reshard", &entry, "--from", ID_A, "--to", ID_B, "--slots", "10000",
    ]);
    assert!(!success);
    assert!(out.contains("the source serves 7192 slots"), "{out}");
}

/// One write that deletes a range of a moving key's members (an LTRIM of
/// more than 64 elements) followed, in the same transaction, by writes of
/// other keys, made once the snapshot is taken: the WAL catch-up sends
/// the trim and every write after it. The source then drops the moved
/// slots with range deletes, and its replica counts only what is left.
#[test]
fn a_range_delete_and_the_writes_after_it_move_and_the_drop_reaches_the_replica() {
    const KEYS: usize = 20_000;
    // Slow enough (1 MB/s) that the transaction comes while the slots move.
    let mut pair = Pair::start(&["--migrate-batch-rate-limit-mb", "1"]);
    pair.add_replica_of_a();
    populate(&pair.a, KEYS);
    let tag = key_in(&pair.a, |slot| slot <= MOVING.1);
    let [list, hash, zset, created] =
        ["list", "hash", "zset", "created"].map(|name| format!("{{{tag}}}{name}"));
    let elements: Vec<String> = (0..1000).map(|i| format!("e{i}")).collect();
    let mut a = pair.a.client();
    redis::pipe()
        .cmd("RPUSH")
        .arg(&list)
        .arg(&elements)
        .cmd("HSET")
        .arg(&hash)
        .arg("f1")
        .arg("old")
        .cmd("ZADD")
        .arg(&zset)
        .arg(1)
        .arg("m1")
        .query::<()>(&mut a)
        .unwrap();

    assert_eq!(pair.migrate(), ok());
    // Keys reach the destination once the snapshot is taken: later writes
    // go through the WAL.
    wait_until("the snapshot copy started", Duration::from_secs(30), || {
        dbsize(&pair.b) > 0
    });
    let replies: Vec<redis::Value> = redis::pipe()
        .atomic()
        .cmd("LTRIM")
        .arg(&list)
        .arg(0)
        .arg(9)
        .cmd("HSET")
        .arg(&hash)
        .arg("f1")
        .arg("new")
        .arg("f2")
        .arg("added")
        .cmd("ZADD")
        .arg(&zset)
        .arg(2)
        .arg("m1")
        .arg(3)
        .arg("m2")
        .cmd("SET")
        .arg(&created)
        .arg("after the trim")
        .query(&mut a)
        .unwrap();
    // Taken by the source: it came before the hand-over (writes of the
    // moving slots are held for it, then sent to the destination).
    assert_eq!(replies, vec![ok(), int(1), int(1), ok()]);
    assert_eq!(migration_outcome(&pair.a), "success");
    pair.set_slots_to_b();

    let mut b = pair.b.client();
    assert_eq!(q(&mut b, &["LLEN", &list]), int(10));
    assert_eq!(
        q(&mut b, &["LRANGE", &list, "0", "-1"]),
        array(elements[..10].iter().map(|e| bulk(e)).collect())
    );
    let fields: std::collections::BTreeMap<String, String> =
        redis::cmd("HGETALL").arg(&hash).query(&mut b).unwrap();
    assert_eq!(
        fields,
        [("f1", "new"), ("f2", "added")]
            .map(|(f, v)| (f.to_string(), v.to_string()))
            .into()
    );
    assert_eq!(
        q(&mut b, &["ZRANGE", &zset, "0", "-1", "WITHSCORES"]),
        array(["m1", "2", "m2", "3"].map(bulk).to_vec())
    );
    assert_eq!(q(&mut b, &["GET", &created]), bulk("after the trim"));
    assert_counts(&pair.b, MOVING);
    assert_counts(&pair.a, (MOVING.1 + 1, 16383));
    assert_eq!(
        dbsize(&pair.a) + dbsize(&pair.b),
        KEYS as i64 + 4,
        "every key is on one node"
    );

    let replica = pair.replica.as_ref().expect("a replica of A");
    wait_caught_up(pair.a.port, &[replica.port]);
    assert_eq!(dbsize(replica), dbsize(&pair.a));
    assert_counts(replica, (MOVING.1 + 1, 16383));
}

fn dbsize(server: &Server) -> i64 {
    redis::cmd("DBSIZE").query(&mut server.client()).unwrap()
}
