//! Bit commands (SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD,
//! BITFIELD_RO) against a real redis-server, mixed with the string commands
//! a bitmap must answer like any string; a sparse bitmap at the highest
//! offset; and concurrent writers and readers of one bitmap.

mod common;
use common::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::path::Path;

const KEYS: &[&str] = &["b0", "b1", "b2", "{b}3"];

/// A random command of the bit family or one of the string commands that
/// read or change the same values.
fn next_command(rng: &mut StdRng) -> Vec<String> {
    let key = |rng: &mut StdRng| KEYS[rng.random_range(0..KEYS.len())].to_string();
    // Offsets cluster below one fragment, around fragment edges and up to
    // a few hundred KB.
    let bit_offset = |rng: &mut StdRng| -> u64 {
        match rng.random_range(0..4) {
            0 => rng.random_range(0..64),
            1 => rng.random_range(0..3 * 8 * 1024),
            2 => 8 * 1024 * rng.random_range(1..4) + rng.random_range(0..16) - 8,
            _ => rng.random_range(0..8 * 300_000),
        }
    };
    let index = |rng: &mut StdRng| -> String {
        let n: i64 = rng.random_range(-40_000..40_000);
        n.to_string()
    };
    let unit =
        |rng: &mut StdRng| ["BYTE", "BIT", "byte", "bit"][rng.random_range(0..4)].to_string();
    let k = key(rng);
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    match rng.random_range(0..24) {
        0..=3 => {
            let bit = if rng.random_bool(0.7) { "1" } else { "0" };
            s(&["SETBIT", &k, &bit_offset(rng).to_string(), bit])
        }
        4 | 5 => s(&["GETBIT", &k, &bit_offset(rng).to_string()]),
        6 | 7 => {
            let mut c = s(&["BITCOUNT", &k]);
            if rng.random_bool(0.7) {
                c.push(index(rng));
                c.push(index(rng));
                if rng.random_bool(0.6) {
                    c.push(unit(rng));
                }
            }
            c
        }
        8 | 9 => {
            let bit = if rng.random_bool(0.5) { "1" } else { "0" };
            let mut c = s(&["BITPOS", &k, bit]);
            let extra = rng.random_range(0..4);
            if extra >= 1 {
                c.push(index(rng));
            }
            if extra >= 2 {
                c.push(index(rng));
            }
            if extra >= 3 {
                c.push(unit(rng));
            }
            c
        }
        10 => {
            let op = ["AND", "OR", "XOR", "NOT", "and"][rng.random_range(0..5)];
            let mut c = s(&["BITOP", op, &key(rng), &k]);
            if op != "NOT" {
                for _ in 0..rng.random_range(0..3) {
                    c.push(key(rng));
                }
            }
            c
        }
        11..=13 => {
            let name = if rng.random_bool(0.2) {
                "BITFIELD_RO"
            } else {
                "BITFIELD"
            };
            let mut c = s(&[name, &k]);
            for _ in 0..rng.random_range(1..5) {
                let signed = rng.random_bool(0.5);
                let bits = if signed {
                    rng.random_range(1..=64)
                } else {
                    rng.random_range(1..=63)
                };
                let ty = format!("{}{bits}", if signed { "i" } else { "u" });
                let offset = if rng.random_bool(0.3) {
                    format!("#{}", rng.random_range(0..2000))
                } else {
                    bit_offset(rng).to_string()
                };
                let value: i64 = match rng.random_range(0..3) {
                    0 => rng.random_range(-300..300),
                    1 => rng.random(),
                    _ => (1i64 << (bits - 1)) - rng.random_range(-2..3),
                };
                match rng.random_range(0..5) {
                    0 | 1 => c.extend(["GET".into(), ty, offset]),
                    2 => c.extend(["SET".into(), ty, offset, value.to_string()]),
                    3 => c.extend(["INCRBY".into(), ty, offset, value.to_string()]),
                    _ => {
                        let how = ["WRAP", "SAT", "FAIL"][rng.random_range(0..3)];
                        c.extend(["OVERFLOW".into(), how.into()]);
                    }
                }
            }
            c
        }
        14 => s(&["GET", &k]),
        15 => s(&["STRLEN", &k]),
        16 => s(&["GETRANGE", &k, &index(rng), &index(rng)]),
        17 => s(&["APPEND", &k, "tail-bytes"]),
        18 => s(&[
            "SETRANGE",
            &k,
            &rng.random_range(0..40_000).to_string(),
            "xyz",
        ]),
        19 => s(&["SET", &k, &rng.random_range(0..1000).to_string()]),
        20 => s(&["DEL", &k]),
        21 => s(&["INCR", &k]),
        22 => s(&["COPY", &k, &key(rng), "REPLACE"]),
        _ => s(&["TYPE", &k]),
    }
}

#[test]
fn random_bit_commands_match_redis() {
    let seed: u64 = std::env::var("REDROCK_DIFF_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("bitmap seed: {seed} (replay with REDROCK_DIFF_SEED={seed})");
    let redrock = Server::start();
    let redis = RedisServer::start();
    let (mut ours, mut theirs) = (redrock.raw(), redis.raw());
    let mut rng = StdRng::seed_from_u64(seed);
    let mut history = Vec::new();
    for i in 0..8000 {
        let cmd = next_command(&mut rng);
        history.push(cmd.join(" "));
        let (a, b) = (ours.command(&cmd), theirs.command(&cmd));
        if a != b {
            let start = history.len().saturating_sub(12);
            panic!(
                "seed {seed}: command #{i} `{}` differs\n  redrock: {}\n  redis:   {}\nrecent:\n  {}",
                cmd.join(" "),
                String::from_utf8_lossy(&a[..a.len().min(300)]),
                String::from_utf8_lossy(&b[..b.len().min(300)]),
                history[start..].join("\n  ")
            );
        }
    }
}

#[test]
fn errors_match_redis() {
    let redrock = Server::start();
    let redis = RedisServer::start();
    let (mut ours, mut theirs) = (redrock.raw(), redis.raw());
    let commands: &[&[&str]] = &[
        &["HSET", "h", "f", "v"],
        &["SET", "s", "abc"],
        &["SETBIT", "k", "-1", "1"],
        &["SETBIT", "k", "4294967296", "1"],
        &["SETBIT", "k", "1x", "1"],
        &["SETBIT", "k", "1", "2"],
        &["SETBIT", "k", "1", "-1"],
        &["SETBIT", "h", "1", "1"],
        &["GETBIT", "k", "4294967296"],
        &["GETBIT", "h", "0"],
        &["BITCOUNT", "s", "0"],
        &["BITCOUNT", "s", "0", "1", "bits"],
        &["BITCOUNT", "s", "a", "1"],
        &["BITCOUNT", "s", "0", "1", "BIT", "x"],
        &["BITCOUNT", "h"],
        &["BITCOUNT", "missing", "0", "1"],
        &["BITPOS", "s", "2"],
        &["BITPOS", "s", "1", "0", "1", "nibble"],
        &["BITPOS", "s", "1", "0", "1", "BIT", "x"],
        &["BITPOS", "missing", "0"],
        &["BITPOS", "missing", "1", "5"],
        &["BITPOS", "h", "1"],
        &["BITOP", "NAND", "d", "s"],
        &["BITOP", "NOT", "d", "s", "s"],
        &["BITOP", "AND", "d", "s", "h"],
        &["BITOP", "OR", "d", "missing"],
        &["EXISTS", "d"],
        &["BITFIELD", "k", "GET", "u64", "0"],
        &["BITFIELD", "k", "GET", "i65", "0"],
        &["BITFIELD", "k", "GET", "x8", "0"],
        &["BITFIELD", "k", "GET", "u0", "0"],
        &["BITFIELD", "k", "GET", "u8"],
        &["BITFIELD", "k", "SET", "u8", "0"],
        &["BITFIELD", "k", "OVERFLOW", "CLAMP"],
        &["BITFIELD", "k", "FROB", "u8", "0"],
        &["BITFIELD", "k", "SET", "u8", "#-1", "1"],
        &["BITFIELD", "k", "SET", "u8", "0", "x"],
        &["BITFIELD", "k", "INCRBY", "u8", "4294967296", "1"],
        &["BITFIELD", "h", "GET", "u8", "0"],
        &["BITFIELD", "h", "SET", "u8", "0", "1"],
        &["BITFIELD_RO", "s", "SET", "u8", "0", "1"],
        &["BITFIELD_RO", "s", "GET", "u8", "0", "GET", "i4", "#1"],
        &["BITFIELD", "k", "OVERFLOW", "FAIL", "SET", "i8", "0", "200"],
        &["EXISTS", "k"],
        &["STRLEN", "k"],
        &["BITFIELD", "k2"],
        &["EXISTS", "k2"],
    ];
    for cmd in commands {
        let (a, b) = (ours.command(cmd), theirs.command(cmd));
        assert_eq!(
            String::from_utf8_lossy(&a),
            String::from_utf8_lossy(&b),
            "{cmd:?}"
        );
    }
}

/// The bytes RocksDB keeps for the live data (WAL and tables, not the
/// replication archive).
fn stored_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir.join("db"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.ends_with(".log") || name.ends_with(".sst")
        })
        .map(|e| e.metadata().unwrap().len())
        .sum()
}

#[test]
fn a_bit_at_the_highest_offset_stores_one_fragment() {
    let redrock = Server::start();
    let redis = RedisServer::start();
    let (mut ours, mut theirs) = (redrock.raw(), redis.raw());
    let before = stored_bytes(&redrock.dir);
    let commands: &[&[&str]] = &[
        &["SETBIT", "big", "4294967295", "1"],
        &["SETBIT", "big", "4294967294", "1"],
        &["SETBIT", "big", "17", "1"],
        &["STRLEN", "big"],
        &["GETBIT", "big", "4294967295"],
        &["GETBIT", "big", "4294967293"],
        &["BITCOUNT", "big"],
        &["BITCOUNT", "big", "-1", "-1"],
        &["BITCOUNT", "big", "4294967000", "-1", "BIT"],
        &["BITPOS", "big", "1"],
        &["BITPOS", "big", "1", "3"],
        &["BITPOS", "big", "0", "-1"],
        &["BITPOS", "big", "0", "-2", "-1", "BIT"],
        &["GETRANGE", "big", "-2", "-1"],
        &[
            "BITFIELD",
            "big",
            "GET",
            "u8",
            "#536870911",
            "INCRBY",
            "u4",
            "4294967288",
            "3",
        ],
        &["BITFIELD_RO", "big", "GET", "i16", "4294967280"],
        &["SETBIT", "big", "4294967295", "0"],
        &["BITCOUNT", "big"],
        &["TYPE", "big"],
    ];
    for cmd in commands {
        let (a, b) = (ours.command(cmd), theirs.command(cmd));
        assert_eq!(
            String::from_utf8_lossy(&a),
            String::from_utf8_lossy(&b),
            "{cmd:?}"
        );
    }
    let grown = stored_bytes(&redrock.dir) - before;
    assert!(
        grown < 1 << 20,
        "a 512 MB sparse bitmap took {grown} bytes of WAL and tables"
    );
}

#[test]
fn concurrent_setbits_lose_no_bit_and_readers_see_whole_writes() {
    let server = Server::start();
    let writers = 8;
    let bits_per_writer = 300;
    std::thread::scope(|scope| {
        for w in 0..writers {
            let server = &server;
            scope.spawn(move || {
                let mut con = server.client();
                for i in 0..bits_per_writer {
                    // Interleaved offsets: every writer touches every
                    // fragment the others do.
                    let offset = (i * writers + w) * 97;
                    let old: i64 = redis::cmd("SETBIT")
                        .arg("shared")
                        .arg(offset)
                        .arg(1)
                        .query(&mut con)
                        .unwrap();
                    assert_eq!(old, 0, "bit {offset} was set before its only writer");
                }
            });
        }
        // Each SETRANGE writes one byte value over two fragments (1020 to
        // 1030 straddles the first fragment's end); a reader must never
        // see two values at once.
        let server = &server;
        let mut con = server.client();
        redis::cmd("SETBIT")
            .arg("span")
            .arg(8 * 4000)
            .arg(1)
            .query::<i64>(&mut con)
            .unwrap();
        scope.spawn(move || {
            let mut con = server.client();
            for round in 0..400u32 {
                let fill = vec![b'a' + (round % 26) as u8; 10];
                redis::cmd("SETRANGE")
                    .arg("span")
                    .arg(1020)
                    .arg(fill)
                    .query::<i64>(&mut con)
                    .unwrap();
            }
        });
        for _ in 0..3 {
            scope.spawn(move || {
                let mut con = server.client();
                for _ in 0..400 {
                    let seen: Vec<u8> = redis::cmd("GETRANGE")
                        .arg("span")
                        .arg(1020)
                        .arg(1029)
                        .query(&mut con)
                        .unwrap();
                    assert!(
                        seen.iter().all(|&b| b == seen[0]),
                        "half a write seen: {seen:?}"
                    );
                    let whole: Vec<u8> = redis::cmd("GET").arg("span").query(&mut con).unwrap();
                    assert!(
                        whole[1020..1030].iter().all(|&b| b == whole[1020]),
                        "GET saw half a write"
                    );
                }
            });
        }
    });
    let mut con = server.client();
    let count: i64 = redis::cmd("BITCOUNT")
        .arg("shared")
        .query(&mut con)
        .unwrap();
    assert_eq!(count, (writers * bits_per_writer) as i64);
    for w in 0..writers {
        for i in [0, bits_per_writer - 1] {
            let bit: i64 = redis::cmd("GETBIT")
                .arg("shared")
                .arg((i * writers + w) * 97)
                .query(&mut con)
                .unwrap();
            assert_eq!(bit, 1);
        }
    }
}
