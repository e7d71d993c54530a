//! PFADD, PFCOUNT and PFMERGE against a real redis-server: replies and the
//! stored bytes (GET) must be identical, so values move between the two
//! with GET/SET.

mod common;
use common::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const KEYS: &[&str] = &["h0", "h1", "h2", "{h}3"];

fn next_command(rng: &mut StdRng) -> Vec<String> {
    let key = |rng: &mut StdRng| KEYS[rng.random_range(0..KEYS.len())].to_string();
    let k = key(rng);
    match rng.random_range(0..10) {
        0..=3 => {
            // Small batches stay sparse; big ones cross to dense.
            let n = if rng.random_bool(0.8) {
                rng.random_range(0..20)
            } else {
                rng.random_range(100..3000)
            };
            let base: u32 = rng.random_range(0..50_000);
            let mut c = vec!["PFADD".to_string(), k];
            c.extend((0..n).map(|i| format!("e{}", base + i)));
            c
        }
        4 | 5 => {
            let mut c = vec!["PFCOUNT".to_string(), k];
            for _ in 0..rng.random_range(0..3) {
                c.push(key(rng));
            }
            c
        }
        6 => {
            let mut c = vec!["PFMERGE".to_string(), k];
            for _ in 0..rng.random_range(0..3) {
                c.push(key(rng));
            }
            c
        }
        7 => vec!["GET".to_string(), k],
        8 => vec!["DEL".to_string(), k],
        _ => vec!["STRLEN".to_string(), k],
    }
}

#[test]
fn random_hyperloglog_commands_match_redis() {
    let seed: u64 = std::env::var("REDROCK_DIFF_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("hyperloglog seed: {seed} (replay with REDROCK_DIFF_SEED={seed})");
    let redrock = Server::start();
    let redis = RedisServer::start();
    let (mut ours, mut theirs) = (redrock.raw(), redis.raw());
    let mut rng = StdRng::seed_from_u64(seed);
    let mut history = Vec::new();
    for i in 0..1500 {
        let cmd = next_command(&mut rng);
        history.push(cmd.iter().take(4).cloned().collect::<Vec<_>>().join(" "));
        let (a, b) = (ours.command(&cmd), theirs.command(&cmd));
        if a != b {
            let start = history.len().saturating_sub(10);
            panic!(
                "seed {seed}: command #{i} `{}` differs\n  redrock: {}\n  redis:   {}\nrecent:\n  {}",
                history.last().unwrap(),
                String::from_utf8_lossy(&a[..a.len().min(200)]),
                String::from_utf8_lossy(&b[..b.len().min(200)]),
                history[start..].join("\n  ")
            );
        }
    }
}

#[test]
fn values_move_between_redis_and_redrock_and_errors_match() {
    let redrock = Server::start();
    let redis = RedisServer::start();
    let (mut ours, mut theirs) = (redrock.raw(), redis.raw());
    // A dense value built by Redis counts the same here.
    let mut add = vec!["PFADD".to_string(), "from-redis".to_string()];
    add.extend((0..20_000).map(|i| format!("m{i}")));
    theirs.command(&add);
    let value = theirs.command(&["GET", "from-redis"]);
    let value = &value[value.iter().position(|&b| b == b'\n').unwrap() + 1..value.len() - 2];
    ours.command(&[b"SET".as_slice(), b"from-redis", value]);
    for cmd in [
        &["PFCOUNT", "from-redis"][..],
        &["PFADD", "from-redis", "x", "y", "z"],
        &["PFCOUNT", "from-redis"],
        &["GET", "from-redis"],
        &["SET", "plain", "abc"],
        &["HSET", "hash", "f", "v"],
        &["PFADD", "plain", "a"],
        &["PFCOUNT", "plain"],
        &["PFCOUNT", "from-redis", "plain"],
        &["PFMERGE", "plain", "from-redis"],
        &["PFMERGE", "from-redis", "hash"],
        &["PFADD", "hash", "a"],
        &["PFCOUNT", "missing", "hash"],
        &["PFADD"],
        &["PFMERGE", "fresh"],
        &["GET", "fresh"],
        &["CONFIG", "SET", "hll-sparse-max-bytes", "100"],
        &[
            "PFADD", "small", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11",
        ],
        &[
            "PFADD", "small", "12", "13", "14", "15", "16", "17", "18", "19", "20",
        ],
        &["GET", "small"],
        &["PFCOUNT", "small"],
    ] {
        let (a, b) = (ours.command(cmd), theirs.command(cmd));
        assert_eq!(
            String::from_utf8_lossy(&a),
            String::from_utf8_lossy(&b),
            "{cmd:?}"
        );
    }
}
