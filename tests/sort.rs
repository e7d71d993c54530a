//! SORT and SORT_RO against a real redis-server: random lists, sets and
//! sorted sets sorted by themselves or by other keys, with LIMIT, GET,
//! ALPHA, DESC and STORE; replies must be identical.

mod common;
use common::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Elements: numbers (some fractional, some equal as numbers but not as
/// text) and a few words.
const ELEMENTS: &[&str] = &[
    "1", "2", "10", "-3", "2.5", "007", "7", "1e2", "0x1A", " 4", "100", "-0.5", "3", "12", "5",
];
const WORDS: &[&str] = &["apple", "Banana", "cherry", "date", "elder", "fig"];

fn setup(rng: &mut StdRng) -> Vec<Vec<String>> {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let mut commands = vec![s(&["FLUSHALL"])];
    let pick = |rng: &mut StdRng, words: bool| -> String {
        if words {
            WORDS[rng.random_range(0..WORDS.len())].to_string()
        } else {
            ELEMENTS[rng.random_range(0..ELEMENTS.len())].to_string()
        }
    };
    for (key, words) in [("nums", false), ("words", true)] {
        let mut list = vec!["RPUSH".to_string(), format!("l:{key}")];
        let mut set = vec!["SADD".to_string(), format!("s:{key}")];
        let mut zset = vec!["ZADD".to_string(), format!("z:{key}")];
        for _ in 0..rng.random_range(1..12) {
            let e = pick(rng, words);
            list.push(e.clone());
            set.push(e.clone());
            zset.push(rng.random_range(-5..5).to_string());
            zset.push(e);
        }
        commands.extend([list, set, zset]);
    }
    // Every element has a distinct text weight (ALPHA BY never ties), some
    // have a numeric one and some a hash field.
    let all: Vec<&str> = ELEMENTS.iter().chain(WORDS).copied().collect();
    let mut order: Vec<usize> = (0..all.len()).collect();
    for i in (1..order.len()).rev() {
        order.swap(i, rng.random_range(0..=i));
    }
    for (e, rank) in all.iter().zip(order) {
        commands.push(vec!["SET".into(), format!("t_{e}"), format!("w{rank:02}")]);
        if rng.random_bool(0.7) {
            let weight = rng.random_range(-100..100).to_string();
            commands.push(vec!["SET".into(), format!("n_{e}"), weight]);
        }
        if rng.random_bool(0.5) {
            commands.push(vec![
                "HSET".into(),
                format!("h_{e}"),
                "f".into(),
                format!("v-{e}"),
            ]);
        }
    }
    commands.push(s(&["SET", "str", "x"]));
    commands
}

/// A random SORT; whether its reply is ordered (a set's unsorted
/// elements come in each server's own order).
fn next_sort(rng: &mut StdRng) -> (Vec<String>, bool) {
    let source = ["l", "s", "z"][rng.random_range(0..3)];
    let words = rng.random_bool(0.3);
    let key = format!("{source}:{}", if words { "words" } else { "nums" });
    let ro = rng.random_bool(0.2);
    let mut c = vec![if ro { "SORT_RO" } else { "SORT" }.to_string(), key];
    let mut alpha = words || rng.random_bool(0.2);
    let mut unsorted = false;
    match rng.random_range(0..4) {
        0 => {}
        1 => {
            c.extend(["BY".into(), "t_*".into()]);
            alpha = true;
        }
        2 if !alpha => c.extend(["BY".into(), "n_*".into()]),
        _ => {
            c.extend(["BY".into(), "nosort".into()]);
            unsorted = true;
        }
    }
    if alpha {
        c.push("ALPHA".into());
    }
    if rng.random_bool(0.4) {
        c.push(if rng.random_bool(0.5) { "DESC" } else { "ASC" }.into());
    }
    let store = !ro && rng.random_bool(0.3);
    // Redis sorts a set's elements for STORE; otherwise BY nosort leaves a
    // set in its own order, where a LIMIT picks different elements.
    let ordered = !(unsorted && source == "s" && !store);
    if ordered && rng.random_bool(0.4) {
        c.extend([
            "LIMIT".into(),
            rng.random_range(-2..8).to_string(),
            rng.random_range(-2..8).to_string(),
        ]);
    }
    for _ in 0..rng.random_range(0..3) {
        let pattern = ["#", "n_*", "h_*->f", "t_*", "nokey", "h_*->"][rng.random_range(0..6)];
        c.extend(["GET".into(), pattern.into()]);
    }
    if store {
        c.extend(["STORE".into(), "dst".into()]);
    }
    (c, ordered)
}

fn items(reply: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(reply)
        .split("\r\n")
        .map(str::to_string)
        .collect()
}

#[test]
fn random_sorts_match_redis() {
    let seed: u64 = std::env::var("REDROCK_DIFF_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("sort seed: {seed} (replay with REDROCK_DIFF_SEED={seed})");
    let redrock = Server::start();
    let redis = RedisServer::start();
    let (mut ours, mut theirs) = (redrock.raw(), redis.raw());
    let mut rng = StdRng::seed_from_u64(seed);
    for round in 0..40 {
        for cmd in setup(&mut rng) {
            assert_eq!(ours.command(&cmd), theirs.command(&cmd), "{cmd:?}");
        }
        for _ in 0..60 {
            let (cmd, ordered) = next_sort(&mut rng);
            let (a, b) = (ours.command(&cmd), theirs.command(&cmd));
            let same = if ordered {
                a == b
            } else {
                let (mut x, mut y) = (items(&a), items(&b));
                x.sort();
                y.sort();
                x == y
            };
            assert!(
                same,
                "seed {seed} round {round}: `{}` differs\n  redrock: {}\n  redis:   {}",
                cmd.join(" "),
                String::from_utf8_lossy(&a),
                String::from_utf8_lossy(&b)
            );
            if cmd.contains(&"STORE".to_string()) {
                let check = ["LRANGE", "dst", "0", "-1"];
                assert_eq!(ours.command(&check), theirs.command(&check), "{cmd:?}");
            }
        }
    }
}

#[test]
fn sort_errors_and_scripts_match_redis() {
    let redrock = Server::start();
    let redis = RedisServer::start();
    let (mut ours, mut theirs) = (redrock.raw(), redis.raw());
    for cmd in [
        &["RPUSH", "l", "3", "1", "x"][..],
        &["SADD", "s", "b", "c", "a"],
        &["SET", "str", "v"],
        &["SORT", "l"],
        &["SORT", "l", "ALPHA"],
        &["SORT", "str"],
        &["SORT", "l", "LIMIT", "0"],
        &["SORT", "l", "LIMIT", "a", "1", "ALPHA"],
        &["SORT", "l", "STORE"],
        &["SORT", "l", "BY"],
        &["SORT", "l", "GET"],
        &["SORT", "l", "FOO"],
        &["SORT_RO", "l", "ALPHA", "STORE", "d"],
        &["SORT", "missing", "STORE", "d"],
        &["SORT", "s", "BY", "nosort", "STORE", "d"],
        &["LRANGE", "d", "0", "-1"],
        &["SORT", "missing", "STORE", "d"],
        &["EXISTS", "d"],
        &[
            "EVAL",
            "return redis.call('SORT', KEYS[1], 'BY', 'nosort')",
            "1",
            "s",
        ],
        &["SORT", "l", "ALPHA", "STORE", "str"],
        &["TYPE", "str"],
    ] {
        let (a, b) = (ours.command(cmd), theirs.command(cmd));
        assert_eq!(
            String::from_utf8_lossy(&a),
            String::from_utf8_lossy(&b),
            "{cmd:?}"
        );
    }
}

#[test]
fn sort_patterns_are_refused_in_cluster_mode() {
    let server = Server::start_with(&["--cluster-enabled", "yes"]);
    let mut con = server.raw();
    let id = con.command(&["CLUSTER", "MYID"]);
    let id = String::from_utf8_lossy(&id);
    let id = id.lines().nth(1).unwrap();
    let topology = format!("{id} 127.0.0.1 {} master - 0-16383", server.port);
    assert_eq!(
        con.command(&["CLUSTERX", "SETNODES", &topology, "1"]),
        b"+OK\r\n"
    );
    for (cmd, error) in [
        (
            &["SORT", "k", "BY", "w_*"][..],
            "-ERR BY option of SORT denied in Cluster mode.\r\n",
        ),
        (
            &["SORT", "k", "GET", "#"],
            "-ERR GET option of SORT denied in Cluster mode.\r\n",
        ),
    ] {
        assert_eq!(String::from_utf8_lossy(&con.command(cmd)), error);
    }
}
