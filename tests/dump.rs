//! DUMP, RESTORE, MIGRATE and `redrock import` with a real redis-server on
//! the other side: values of every type and encoding go Redis -> RedRock ->
//! Redis unchanged.

mod common;
use common::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use redis::Value;

/// A type's contents in a comparable form.
fn contents(con: &mut redis::Connection, key: &str) -> (String, Vec<String>) {
    let kind: String = redis::cmd("TYPE").arg(key).query(con).unwrap();
    let text = |v: Vec<Vec<u8>>| -> Vec<String> {
        v.into_iter()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .collect()
    };
    let mut items = match kind.as_str() {
        "string" => vec![redis::cmd("GET").arg(key).query(con).unwrap()],
        "list" => redis::cmd("LRANGE")
            .arg(key)
            .arg(0)
            .arg(-1)
            .query(con)
            .unwrap(),
        "set" => redis::cmd("SMEMBERS").arg(key).query(con).unwrap(),
        "zset" => redis::cmd("ZRANGE")
            .arg(key)
            .arg(0)
            .arg(-1)
            .arg("WITHSCORES")
            .query(con)
            .unwrap(),
        "hash" => redis::cmd("HGETALL").arg(key).query(con).unwrap(),
        "none" => Vec::new(),
        other => panic!("unexpected type {other}"),
    };
    if matches!(kind.as_str(), "set" | "hash") {
        if kind == "hash" {
            let mut pairs: Vec<Vec<Vec<u8>>> = items.chunks(2).map(<[_]>::to_vec).collect();
            pairs.sort();
            items = pairs.concat();
        } else {
            items.sort();
        }
    }
    let mut items = text(items);
    if kind == "zset" {
        // Redis 7.0 prints scores with %.17g, RedRock (as 7.2) the
        // shortest text that reads back the same: compare the numbers.
        for score in items.iter_mut().skip(1).step_by(2) {
            *score = format!("{:?}", score.parse::<f64>().unwrap());
        }
    }
    (kind, items)
}

/// Random values of every type, small (compact encodings) and large.
fn fill_redis(con: &mut redis::Connection, rng: &mut StdRng, count: usize) -> Vec<String> {
    let mut keys = Vec::new();
    for i in 0..count {
        let key = format!("k{i}");
        let big = rng.random_bool(0.3);
        let n = if big {
            rng.random_range(130..700)
        } else {
            rng.random_range(1..20)
        };
        let member = |rng: &mut StdRng, j: usize| -> String {
            match rng.random_range(0..4) {
                0 => j.to_string(),
                1 => format!("-{}", rng.random_range(0..1u64 << 40)),
                2 => "x".repeat(rng.random_range(1..100)),
                _ => format!("m{j}:{}", rng.random_range(0..1000)),
            }
        };
        let mut cmd = redis::cmd(match rng.random_range(0..5) {
            0 => "SET",
            1 => "RPUSH",
            2 => "SADD",
            3 => "ZADD",
            _ => "HSET",
        });
        let name = cmd.get_packed_command();
        cmd.arg(&key);
        let name = String::from_utf8_lossy(&name).to_string();
        if name.contains("SET\r\n") && !name.contains("HSET") {
            let value = match rng.random_range(0..4) {
                0 => rng.random_range(-1_000_000i64..1_000_000).to_string(),
                1 => "ab".repeat(rng.random_range(20..5000)),
                2 => (0..rng.random_range(1..300))
                    .map(|_| char::from(rng.random_range(32u8..127)))
                    .collect(),
                _ => String::new(),
            };
            cmd.arg(value);
        } else if name.contains("ZADD") {
            for j in 0..n {
                let score = match rng.random_range(0..5) {
                    0 => "inf".to_string(),
                    1 => "-inf".to_string(),
                    _ => format!("{}", rng.random_range(-1e6..1e6)),
                };
                cmd.arg(score).arg(member(rng, j));
            }
        } else if name.contains("HSET") {
            for j in 0..n {
                cmd.arg(member(rng, j)).arg(member(rng, j + 1));
            }
        } else {
            let ints = name.contains("SADD") && rng.random_bool(0.5);
            for j in 0..n {
                if ints {
                    cmd.arg(j as i64 * 7 - 50);
                } else {
                    cmd.arg(member(rng, j));
                }
            }
        }
        let _: Value = cmd.query(con).unwrap();
        if rng.random_bool(0.2) {
            let _: Value = redis::cmd("PEXPIRE")
                .arg(&key)
                .arg(500_000)
                .query(con)
                .unwrap();
        }
        keys.push(key);
    }
    keys
}

fn dump(con: &mut redis::Connection, key: &str) -> Vec<u8> {
    redis::cmd("DUMP").arg(key).query(con).unwrap()
}

#[test]
fn values_round_trip_through_redrock_unchanged() {
    let seed: u64 = rand::random();
    eprintln!("dump seed: {seed}");
    let mut rng = StdRng::seed_from_u64(seed);
    let redrock = Server::start();
    let redis = RedisServer::start();
    let mut ours = redrock.client();
    let mut theirs = redis::Client::open(format!("redis://127.0.0.1:{}", redis.port))
        .unwrap()
        .get_connection()
        .unwrap();
    for key in fill_redis(&mut theirs, &mut rng, 150) {
        let original = contents(&mut theirs, &key);
        let payload = dump(&mut theirs, &key);
        let ttl: i64 = redis::cmd("PTTL").arg(&key).query(&mut theirs).unwrap();
        let ttl = ttl.max(0);
        let _: () = redis::cmd("RESTORE")
            .arg(&key)
            .arg(ttl)
            .arg(&payload)
            .query(&mut ours)
            .unwrap();
        assert_eq!(contents(&mut ours, &key), original, "{key} restored here");
        let pttl: i64 = redis::cmd("PTTL").arg(&key).query(&mut ours).unwrap();
        assert_eq!(pttl > 0, ttl > 0, "{key}'s expiry");
        // And back: RedRock's DUMP restores into Redis as the same value.
        let back = dump(&mut ours, &key);
        let copy = format!("{key}:back");
        let _: () = redis::cmd("RESTORE")
            .arg(&copy)
            .arg(0)
            .arg(&back)
            .query(&mut theirs)
            .unwrap();
        assert_eq!(
            contents(&mut theirs, &copy),
            original,
            "{key} back in Redis"
        );
    }
}

#[test]
fn restore_options_and_errors_match_redis() {
    let redrock = Server::start();
    let redis = RedisServer::start();
    let (mut ours, mut theirs) = (redrock.raw(), redis.raw());
    // A payload both accept (Redis 7.0 writes RDB version 10).
    theirs.command(&["RPUSH", "src", "a", "b"]);
    let reply = theirs.command(&["DUMP", "src"]);
    let start = reply.iter().position(|&b| b == b'\n').unwrap() + 1;
    let payload = reply[start..reply.len() - 2].to_vec();
    let mut corrupt = payload.clone();
    corrupt[2] ^= 0xff;
    let p: &[u8] = &payload;
    let c: &[u8] = &corrupt;
    let cases: Vec<Vec<&[u8]>> = vec![
        vec![b"RESTORE", b"k", b"0", p],
        vec![b"RESTORE", b"k", b"0", p],
        vec![b"RESTORE", b"k", b"0", p, b"REPLACE"],
        vec![b"LRANGE", b"k", b"0", b"-1"],
        vec![b"RESTORE", b"k2", b"-5", p],
        vec![b"RESTORE", b"k2", b"abc", p],
        vec![b"RESTORE", b"k2", b"0", c],
        vec![b"RESTORE", b"k2", b"0", b"short"],
        vec![b"RESTORE", b"k2", b"0", p, b"IDLETIME", b"-1"],
        vec![b"RESTORE", b"k2", b"0", p, b"FREQ", b"256"],
        vec![b"RESTORE", b"k2", b"0", p, b"IDLETIME", b"5", b"FREQ", b"5"],
        vec![b"RESTORE", b"k2", b"0", p, b"BOGUS"],
        vec![b"RESTORE", b"k2", b"0", p, b"IDLETIME", b"100", b"REPLACE"],
        vec![b"RESTORE", b"k3", b"1000", p, b"ABSTTL"],
        vec![b"EXISTS", b"k3"],
        vec![b"RESTORE", b"k", b"1", p, b"REPLACE", b"ABSTTL"],
        vec![b"EXISTS", b"k"],
        vec![b"SET", b"s", b"v"],
        vec![b"RESTORE", b"s", b"0", p],
        vec![b"DUMP", b"missing"],
        vec![b"TYPE", b"k2"],
    ];
    for cmd in &cases {
        let (a, b) = (ours.command(cmd), theirs.command(cmd));
        assert_eq!(
            String::from_utf8_lossy(&a),
            String::from_utf8_lossy(&b),
            "{:?}",
            cmd.iter()
                .map(|a| String::from_utf8_lossy(a))
                .collect::<Vec<_>>()
        );
    }
}

#[test]
fn migrate_moves_keys_both_ways() {
    let redrock = Server::start_with(&["--requirepass", "secret"]);
    let redis = RedisServer::start();
    let mut theirs = redis.raw();
    let mut ours = redrock.raw();
    assert_eq!(ours.command(&["AUTH", "secret"]), b"+OK\r\n");
    let here = redrock.port.to_string();
    let there = redis.port.to_string();
    theirs.command(&["SET", "one", "1"]);
    theirs.command(&["RPUSH", "list", "a", "b", "c"]);
    theirs.command(&["ZADD", "zs", "1", "x", "2", "y"]);
    theirs.command(&["HSET", "h", "f", "v"]);
    // Redis -> RedRock, one key, with AUTH.
    let r = theirs.command(&[
        "MIGRATE",
        "127.0.0.1",
        &here,
        "one",
        "0",
        "5000",
        "AUTH",
        "secret",
    ]);
    assert_eq!(r, b"+OK\r\n", "{}", String::from_utf8_lossy(&r));
    assert_eq!(theirs.command(&["EXISTS", "one"]), b":0\r\n");
    assert_eq!(ours.command(&["GET", "one"]), b"$1\r\n1\r\n");
    // KEYS form with COPY into another database.
    let r = theirs.command(&[
        "MIGRATE",
        "127.0.0.1",
        &here,
        "",
        "3",
        "5000",
        "COPY",
        "AUTH2",
        "default",
        "secret",
        "KEYS",
        "list",
        "zs",
        "h",
        "nope",
    ]);
    assert_eq!(r, b"+OK\r\n", "{}", String::from_utf8_lossy(&r));
    assert_eq!(theirs.command(&["EXISTS", "list", "zs", "h"]), b":3\r\n");
    ours.command(&["SELECT", "3"]);
    assert_eq!(
        ours.command(&["LRANGE", "list", "0", "-1"]),
        theirs.command(&["LRANGE", "list", "0", "-1"])
    );
    assert_eq!(
        ours.command(&["ZRANGE", "zs", "0", "-1", "WITHSCORES"]),
        theirs.command(&["ZRANGE", "zs", "0", "-1", "WITHSCORES"])
    );
    // Without REPLACE the target refuses a key it has.
    let r = theirs.command(&[
        "MIGRATE",
        "127.0.0.1",
        &here,
        "",
        "3",
        "5000",
        "AUTH",
        "secret",
        "KEYS",
        "list",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&r),
        "-ERR Target instance replied with error: BUSYKEY Target key name already exists.\r\n"
    );
    // A wrong password.
    let r = theirs.command(&[
        "MIGRATE",
        "127.0.0.1",
        &here,
        "h",
        "3",
        "5000",
        "AUTH",
        "wrong",
    ]);
    assert!(String::from_utf8_lossy(&r)
        .starts_with("-ERR Target instance replied with error: WRONGPASS"));
    // RedRock -> Redis, with REPLACE, and the answers Redis gives.
    theirs.command(&["SET", "list", "old"]);
    let r = ours.command(&[
        "MIGRATE",
        "127.0.0.1",
        &there,
        "",
        "0",
        "5000",
        "REPLACE",
        "KEYS",
        "list",
        "zs",
    ]);
    assert_eq!(r, b"+OK\r\n", "{}", String::from_utf8_lossy(&r));
    assert_eq!(ours.command(&["EXISTS", "list", "zs"]), b":0\r\n");
    assert_eq!(
        theirs.command(&["LRANGE", "list", "0", "-1"]),
        b"*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n"
    );
    assert_eq!(
        ours.command(&["MIGRATE", "127.0.0.1", &there, "gone", "0", "5000"]),
        b"+NOKEY\r\n"
    );
    let closed = free_port().to_string();
    assert_eq!(
        String::from_utf8_lossy(&ours.command(&["MIGRATE", "127.0.0.1", &closed, "h", "0", "500"])),
        "-IOERR error or timeout connecting to the client\r\n"
    );
    assert_eq!(
        String::from_utf8_lossy(&ours.command(&[
            "MIGRATE",
            "127.0.0.1",
            &there,
            "h",
            "0",
            "500",
            "KEYS",
            "a"
        ])),
        "-ERR When using MIGRATE KEYS option, the key argument must be set to the empty string\r\n"
    );
}

#[test]
fn import_copies_a_redis_database_and_resumes() {
    let mut rng = StdRng::seed_from_u64(7);
    let redrock = Server::start();
    let redis = RedisServer::start();
    let mut theirs = redis::Client::open(format!("redis://127.0.0.1:{}", redis.port))
        .unwrap()
        .get_connection()
        .unwrap();
    let keys = fill_redis(&mut theirs, &mut rng, 300);
    let mut pipe = redis::pipe();
    for i in 0..20_000 {
        pipe.cmd("SET").arg(format!("bulk:{i}")).arg(i).ignore();
    }
    let _: () = pipe.query(&mut theirs).unwrap();
    let state = redrock.dir.join("import.cursor");
    // A run stopped after its first batch: those keys are copied and the
    // cursor after them saved. The next run goes on from there.
    let (cursor, first): (String, Vec<String>) = redis::cmd("SCAN")
        .arg(0)
        .arg("COUNT")
        .arg(500)
        .query(&mut theirs)
        .unwrap();
    assert_ne!(cursor, "0");
    let mut ours = redrock.client();
    for key in &first {
        let payload = dump(&mut theirs, key);
        let _: () = redis::cmd("RESTORE")
            .arg(key)
            .arg(0)
            .arg(payload)
            .query(&mut ours)
            .unwrap();
    }
    std::fs::write(&state, &cursor).unwrap();
    let from = format!("127.0.0.1:{}", redis.port);
    let to = format!("127.0.0.1:{}", redrock.port);
    let (ok, out) = tool(&[
        "import",
        "--from",
        &from,
        "--to",
        &to,
        "--state",
        state.to_str().unwrap(),
    ]);
    assert!(ok, "{out}");
    assert!(out.contains("resuming from SCAN cursor"), "{out}");
    assert!(
        out.contains("the source holds 20300 keys, the target 20300"),
        "{out}"
    );
    assert!(!state.exists(), "the state file is removed at the end");
    for key in &keys {
        assert_eq!(
            contents(&mut ours, key),
            contents(&mut theirs, key),
            "{key}"
        );
    }
    // --match copies only what matches.
    let other = Server::start();
    let to = format!("127.0.0.1:{}", other.port);
    let (ok, out) = tool(&[
        "import",
        "--from",
        &from,
        "--to",
        &to,
        "--match",
        "bulk:1*",
        "--state",
        state.to_str().unwrap(),
    ]);
    assert!(ok, "{out}");
    let size: i64 = redis::cmd("DBSIZE").query(&mut other.client()).unwrap();
    assert_eq!(size, 11_111);
}

#[test]
fn migrate_in_cluster_mode_sends_restore_asking() {
    // A cluster node's MIGRATE sends RESTORE-ASKING, which a target
    // importing the slot accepts; redis-server counts what it received.
    let node = Server::start_with(&["--cluster-enabled", "yes"]);
    let mut ours = node.raw();
    let id = String::from_utf8(ours.command(&["CLUSTER", "MYID"])).unwrap();
    let id = id.lines().nth(1).unwrap().to_string();
    let topology = format!("{id} 127.0.0.1 {} master - 0-16383\n", node.port);
    assert_eq!(
        ours.command(&["CLUSTERX", "SETNODES", &topology, "1"]),
        b"+OK\r\n"
    );
    ours.command(&["SET", "k", "v"]);
    let redis = RedisServer::start();
    let mut theirs = redis.raw();
    let there = redis.port.to_string();
    let r = ours.command(&["MIGRATE", "127.0.0.1", &there, "k", "0", "5000"]);
    assert_eq!(r, b"+OK\r\n", "{}", String::from_utf8_lossy(&r));
    assert_eq!(theirs.command(&["GET", "k"]), b"$1\r\nv\r\n");
    let stats = String::from_utf8(theirs.command(&["INFO", "commandstats"])).unwrap();
    assert!(stats.contains("cmdstat_restore-asking:calls=1,"), "{stats}");
    assert!(!stats.contains("cmdstat_restore:"), "{stats}");
    // RESTORE-ASKING restores here as RESTORE does.
    let payload = theirs.command(&["DUMP", "k"]);
    let payload =
        &payload[payload.iter().position(|&b| b == b'\n').unwrap() + 1..payload.len() - 2];
    let standalone = Server::start();
    let mut raw = standalone.raw();
    let mut restore: Vec<&[u8]> = vec![b"RESTORE-ASKING", b"copy", b"0", payload];
    assert_eq!(raw.command(&restore), b"+OK\r\n");
    assert_eq!(raw.command(&["GET", "copy"]), b"$1\r\nv\r\n");
    restore.push(b"REPLACE");
    assert_eq!(raw.command(&restore), b"+OK\r\n");
    restore.pop();
    assert_eq!(
        raw.command(&restore),
        b"-BUSYKEY Target key name already exists.\r\n"
    );
}
