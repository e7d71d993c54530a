//! GEO commands against a real redis-server: random points (near the poles'
//! limits and the antimeridian too), random searches with every option,
//! STORE forms, errors and RESP3 shapes; replies must be the same.
//!
//! The oracle is Redis 7.0 and RedRock follows 7.2, whose distance text
//! rounds with llrint instead of `%.4f` and whose same-meridian distance
//! takes a shortcut: a distance text may differ by one in its last digit
//! and a STOREDIST score in its last bits. Nothing else may differ.

mod common;
use common::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// A RESP reply, parsed enough to compare two servers' replies.
#[derive(Debug, Clone, PartialEq)]
enum V {
    /// `+`, `-`, `:`, `,`, `_` lines: the type byte and the text.
    Line(u8, String),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<V>>),
}

fn parse(bytes: &[u8]) -> V {
    fn line(bytes: &[u8], at: &mut usize) -> String {
        let end = *at + bytes[*at..].windows(2).position(|w| w == b"\r\n").unwrap();
        let text = String::from_utf8_lossy(&bytes[*at..end]).into_owned();
        *at = end + 2;
        text
    }
    fn one(bytes: &[u8], at: &mut usize) -> V {
        let kind = bytes[*at];
        *at += 1;
        let header = line(bytes, at);
        match kind {
            b'$' => {
                let len: i64 = header.parse().unwrap();
                if len < 0 {
                    return V::Bulk(None);
                }
                let body = bytes[*at..*at + len as usize].to_vec();
                *at += len as usize + 2;
                V::Bulk(Some(body))
            }
            b'*' => {
                let len: i64 = header.parse().unwrap();
                if len < 0 {
                    return V::Array(None);
                }
                V::Array(Some((0..len).map(|_| one(bytes, at)).collect()))
            }
            _ => V::Line(kind, header),
        }
    }
    let mut at = 0;
    let v = one(bytes, &mut at);
    assert_eq!(at, bytes.len(), "one reply");
    v
}

/// A distance text's value in units of its last digit.
fn distance_digits(text: &[u8]) -> Option<i128> {
    let text = std::str::from_utf8(text).ok()?;
    let (int, frac) = text.split_once('.')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    (digits(int) && frac.len() == 4 && digits(frac)).then(|| format!("{int}{frac}").parse().ok())?
}

/// Whether two replies agree, a distance text allowed to differ by one in
/// its last digit (7.0 against 7.2 rounding).
fn agree(a: &V, b: &V) -> bool {
    match (a, b) {
        (V::Bulk(Some(x)), V::Bulk(Some(y))) => {
            x == y
                || matches!((distance_digits(x), distance_digits(y)), (Some(p), Some(q)) if (p - q).abs() <= 1)
        }
        (V::Array(Some(x)), V::Array(Some(y))) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| agree(p, q))
        }
        _ => a == b,
    }
}

/// Whether two ZRANGE ... WITHSCORES replies agree: the same members,
/// scores equal or (distances) within a relative 1e-12.
fn agree_scored(a: &V, b: &V) -> bool {
    let (V::Array(Some(x)), V::Array(Some(y))) = (a, b) else {
        return a == b;
    };
    let number = |v: &V| match v {
        V::Bulk(Some(t)) => std::str::from_utf8(t).ok()?.parse::<f64>().ok(),
        _ => None,
    };
    x.len() == y.len()
        && x.chunks(2).zip(y.chunks(2)).all(|(p, q)| {
            p[0] == q[0]
                && (p[1] == q[1]
                    || matches!((number(&p[1]), number(&q[1])), (Some(s), Some(t)) if (s - t).abs() <= s.abs() * 1e-12))
        })
}

struct Pair {
    ours: RawClient,
    theirs: RawClient,
    seed: u64,
}

impl Pair {
    /// Runs `cmd` on both servers; their replies must agree.
    fn check(&mut self, cmd: &[String]) -> V {
        let (a, b) = (self.ours.command(cmd), self.theirs.command(cmd));
        let (x, y) = (parse(&a), parse(&b));
        assert!(
            agree(&x, &y),
            "seed {}: `{}` differs\n  redrock: {}\n  redis:   {}",
            self.seed,
            cmd.join(" "),
            show(&a),
            show(&b)
        );
        x
    }

    /// Runs `cmd` on both servers; their replies must be byte for byte
    /// the same.
    fn exact(&mut self, cmd: &[&str]) {
        let (a, b) = (self.ours.command(cmd), self.theirs.command(cmd));
        assert_eq!(show(&a), show(&b), "seed {}: {cmd:?}", self.seed);
    }

    /// Compares the sorted set `key` on both servers.
    fn check_zset(&mut self, key: &str, context: &[String]) {
        let cmd = ["ZRANGE", key, "0", "-1", "WITHSCORES"];
        let (a, b) = (self.ours.command(&cmd), self.theirs.command(&cmd));
        assert!(
            agree_scored(&parse(&a), &parse(&b)),
            "seed {}: {key} after `{}` differs\n  redrock: {}\n  redis:   {}",
            self.seed,
            context.join(" "),
            show(&a),
            show(&b)
        );
    }
}

fn owned(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// A longitude or latitude: uniform, at or near a bound, or near a
/// cluster centre; sometimes with few digits, sometimes with many.
fn coordinate(rng: &mut StdRng, max: f64) -> f64 {
    match rng.random_range(0..10) {
        0 => {
            let edge = if rng.random_bool(0.5) { max } else { -max };
            edge - edge.signum() * rng.random_range(0.0..1e-3) * f64::from(rng.random_range(0..2))
        }
        1 => (rng.random_range(-max..=max) * 100.0).round() / 100.0,
        _ => rng.random_range(-max..=max),
    }
}

const LON: f64 = 180.0;
const LAT: f64 = 85.05112878;

fn text(x: f64) -> String {
    // Both servers read the same digits; {} round-trips the f64.
    format!("{x}")
}

/// Random points: scattered, in clusters of neighbours a hundred metres
/// to ten kilometres apart, on the grid's edges, and some twice.
fn points(rng: &mut StdRng) -> Vec<(f64, f64)> {
    let point = |rng: &mut StdRng| (coordinate(rng, LON), coordinate(rng, LAT));
    let mut out: Vec<(f64, f64)> = (0..120).map(|_| point(rng)).collect();
    for _ in 0..6 {
        let (lon, lat) = point(rng);
        let spread = [1e-3, 1e-2, 0.1][rng.random_range(0..3)];
        for _ in 0..rng.random_range(5..25) {
            let x = (lon + rng.random_range(-spread..spread)).clamp(-LON, LON);
            let y = (lat + rng.random_range(-spread..spread)).clamp(-LAT, LAT);
            out.push((x, y));
        }
    }
    out.extend([
        (180.0, 0.0),
        (-180.0, 0.0),
        (0.0, LAT),
        (0.0, -LAT),
        (180.0, LAT),
    ]);
    // Members at one place tie on distance: their order in a sorted reply
    // is Redis's sort's.
    for _ in 0..20 {
        out.push(out[rng.random_range(0..out.len())]);
    }
    out
}

fn unit(rng: &mut StdRng) -> (&'static str, f64) {
    [
        ("m", 1.0),
        ("km", 1000.0),
        ("ft", 0.3048),
        ("mi", 1609.34),
        ("KM", 1000.0),
        ("Mi", 1609.34),
    ][rng.random_range(0..6)]
}

/// A distance in metres, log-uniform from a metre to round the earth.
fn meters(rng: &mut StdRng) -> f64 {
    10f64.powf(rng.random_range(0.0..7.4))
}

/// A random search of `key` (GEOSEARCH, GEOSEARCHSTORE, GEORADIUS and
/// friends) and the key it stores, if any.
fn random_search(
    rng: &mut StdRng,
    members: &[String],
    points: &[(f64, f64)],
) -> (Vec<String>, Option<String>) {
    let kind = rng.random_range(0..7);
    let key = if rng.random_bool(0.05) {
        "missing"
    } else {
        "pts"
    };
    let store = match kind {
        1 => Some("dst".to_string()),
        2 | 3 if rng.random_bool(0.3) => Some("dst".to_string()),
        _ => None,
    };
    let member = if rng.random_bool(0.03) {
        "nosuchmember".to_string()
    } else {
        members[rng.random_range(0..members.len())].clone()
    };
    let (lon, lat) = if rng.random_bool(0.5) {
        // Near a point, so that small shapes find something.
        let (x, y) = points[rng.random_range(0..points.len())];
        (
            (x + rng.random_range(-0.01..0.01)).clamp(-LON, LON),
            (y + rng.random_range(-0.01..0.01)).clamp(-LAT, LAT),
        )
    } else {
        (coordinate(rng, LON), coordinate(rng, LAT))
    };
    let (unit_name, unit_meters) = unit(rng);
    let size = |rng: &mut StdRng| text((meters(rng) / unit_meters * 1000.0).round() / 1000.0);
    let mut c: Vec<String> = Vec::new();
    let mut groups: Vec<Vec<String>> = Vec::new();
    match kind {
        0 | 1 => {
            c.extend(owned(if kind == 0 {
                &["GEOSEARCH"]
            } else {
                &["GEOSEARCHSTORE", "dst"]
            }));
            c.push(key.into());
            groups.push(if rng.random_bool(0.5) {
                vec!["FROMMEMBER".into(), member]
            } else {
                vec!["FROMLONLAT".into(), text(lon), text(lat)]
            });
            groups.push(if rng.random_bool(0.5) {
                vec!["BYRADIUS".into(), size(rng), unit_name.into()]
            } else {
                vec!["BYBOX".into(), size(rng), size(rng), unit_name.into()]
            });
        }
        2 | 4 => {
            c.extend([
                if kind == 2 {
                    "GEORADIUS"
                } else {
                    "GEORADIUS_RO"
                }
                .into(),
                key.into(),
            ]);
            c.extend([text(lon), text(lat), size(rng), unit_name.into()]);
        }
        _ => {
            c.extend([
                if kind == 3 {
                    "GEORADIUSBYMEMBER"
                } else {
                    "GEORADIUSBYMEMBER_RO"
                }
                .into(),
                key.into(),
                member,
                size(rng),
                unit_name.into(),
            ]);
        }
    }
    if store.is_none() {
        for with in ["WITHCOORD", "WITHDIST", "WITHHASH"] {
            if rng.random_bool(0.4) {
                groups.push(vec![with.into()]);
            }
        }
    }
    match rng.random_range(0..3) {
        0 => groups.push(vec!["ASC".into()]),
        1 => groups.push(vec!["DESC".into()]),
        _ => {}
    }
    if rng.random_bool(0.5) {
        let mut count = vec!["COUNT".into(), rng.random_range(1..12).to_string()];
        if rng.random_bool(0.4) {
            count.push("ANY".into());
        }
        groups.push(count);
    }
    if let Some(dst) = &store {
        let dist = rng.random_bool(0.5);
        match kind {
            1 if dist => groups.push(vec!["STOREDIST".into()]),
            1 => {}
            _ => groups.push(vec![
                if dist { "STOREDIST" } else { "STORE" }.into(),
                dst.clone(),
            ]),
        }
    }
    // GEOSEARCH takes its options in any order; GEORADIUS's come after
    // its fixed arguments, in any order too.
    for i in (1..groups.len()).rev() {
        groups.swap(i, rng.random_range(0..=i));
    }
    c.extend(groups.into_iter().flatten());
    (c, store)
}

#[test]
fn random_geo_commands_match_redis() {
    let seed: u64 = std::env::var("REDROCK_DIFF_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("geo seed: {seed} (replay with REDROCK_DIFF_SEED={seed})");
    let redrock = Server::start();
    let redis = RedisServer::start();
    let mut pair = Pair {
        ours: redrock.raw(),
        theirs: redis.raw(),
        seed,
    };
    // A RESP3 connection to each: coordinates are doubles there.
    let mut resp3 = Pair {
        ours: redrock.raw(),
        theirs: redis.raw(),
        seed,
    };
    resp3.ours.command(&["HELLO", "3"]);
    resp3.theirs.command(&["HELLO", "3"]);
    let mut rng = StdRng::seed_from_u64(seed);
    let (mut searches, mut found) = (0, 0);
    for _round in 0..6 {
        pair.check(&owned(&["FLUSHALL"]));
        let points = points(&mut rng);
        let members: Vec<String> = (0..points.len()).map(|i| format!("p{i}")).collect();
        // Added in batches with random flags: XX adds nothing new, NX
        // keeps old positions, CH counts the moved.
        let mut added = 0;
        while added < points.len() {
            let n = rng.random_range(1..30).min(points.len() - added);
            let mut c = owned(&["GEOADD", "pts"]);
            let nx = rng.random_bool(0.15);
            for (flag, on) in [
                ("NX", nx),
                ("XX", !nx && rng.random_bool(0.15)),
                ("CH", rng.random_bool(0.3)),
            ] {
                if on {
                    c.push(flag.into());
                }
            }
            for i in added..added + n {
                c.extend([text(points[i].0), text(points[i].1), members[i].clone()]);
                // Now and then an earlier member moves.
                if i > 0 && rng.random_bool(0.1) {
                    let (x, y) = (coordinate(&mut rng, LON), coordinate(&mut rng, LAT));
                    c.extend([text(x), text(y), members[rng.random_range(0..i)].clone()]);
                }
            }
            pair.check(&c);
            added += n;
        }
        // Every member must be there whatever the flags did.
        let mut c = owned(&["GEOADD", "pts", "NX"]);
        for (i, (x, y)) in points.iter().enumerate() {
            c.extend([text(*x), text(*y), members[i].clone()]);
        }
        pair.check(&c);
        pair.check_zset("pts", &c);
        let mut positions = owned(&["GEOPOS", "pts"]);
        positions.extend(members.iter().cloned());
        positions.push("nosuchmember".into());
        pair.check(&positions);
        resp3.check(&positions);
        positions[0] = "GEOHASH".into();
        pair.check(&positions);
        for _ in 0..60 {
            let (a, b) = (
                rng.random_range(0..members.len()),
                rng.random_range(0..members.len()),
            );
            let mut c = owned(&["GEODIST", "pts", &members[a], &members[b]]);
            if rng.random_bool(0.7) {
                c.push(unit(&mut rng).0.into());
            }
            pair.check(&c);
        }
        for _ in 0..250 {
            let (c, store) = random_search(&mut rng, &members, &points);
            let reply = if store.is_none() && rng.random_bool(0.2) {
                resp3.check(&c)
            } else {
                pair.check(&c)
            };
            searches += 1;
            match (&reply, &store) {
                (V::Array(Some(items)), _) if !items.is_empty() => found += 1,
                (V::Line(b':', n), Some(_)) if n != "0" => found += 1,
                _ => {}
            }
            if let Some(dst) = store {
                pair.check_zset(&dst, &c);
                pair.check(&owned(&["EXISTS", &dst]));
            }
        }
    }
    // The searches must have found something often enough to mean much.
    assert!(
        found * 3 > searches,
        "only {found} of {searches} searches found members"
    );
}

#[test]
fn geo_errors_and_edge_cases_match_redis() {
    let redrock = Server::start();
    let redis = RedisServer::start();
    let mut pair = Pair {
        ours: redrock.raw(),
        theirs: redis.raw(),
        seed: 0,
    };
    let cases: &[&[&str]] = &[
        &["GEOADD", "k", "13.361389", "38.115556", "Palermo", "15.087269", "37.502669", "Catania"],
        &["GEOADD", "k", "CH", "13.361389", "38.115556", "Palermo", "15", "37", "Catania", "1", "1", "x"],
        &["GEOADD", "k", "XX", "CH", "15.087269", "37.502669", "Catania", "2", "2", "new"],
        &["GEOADD", "k", "NX", "CH", "0", "0", "Catania", "3", "3", "y"],
        &["GEOADD", "k", "XX", "15.087269", "37.502669", "Catania"],
        &["GEOADD", "k", "NX", "XX", "1", "2", "a"],
        &["GEOADD", "k", "1", "2"],
        &["GEOADD", "k", "CH", "CH", "CH"],
        &["GEOADD", "k", "CH", "1", "2", "a", "3"],
        &["GEOADD", "k", "200", "100", "a"],
        &["GEOADD", "k", "1", "2", "a", "200", "3", "b"],
        &["GEOADD", "k", "abc", "1", "a"],
        &["GEOADD", "k", "1", "abc", "a"],
        &["GEOADD", "k", "1", "85.05112879", "a"],
        &["GEOADD", "k", "-180.0000001", "0", "a"],
        &["GEOADD", "k", "inf", "0", "a"],
        &["GEOADD", "k", "nan", "0", "a"],
        &["ZRANGE", "k", "0", "-1", "WITHSCORES"],
        &["EXISTS", "a"],
        &["TYPE", "k"],
        &["GEOPOS", "k", "Palermo", "nope", "Catania"],
        &["GEOPOS", "missing", "a", "b"],
        &["GEOHASH", "k", "Palermo", "nope", "Catania", "x"],
        &["GEOHASH", "missing", "a"],
        &["GEODIST", "k", "Palermo", "Catania"],
        &["GEODIST", "k", "Palermo", "Catania", "km"],
        &["GEODIST", "k", "Palermo", "Catania", "MI"],
        &["GEODIST", "k", "Palermo", "Catania", "ft"],
        &["GEODIST", "k", "Palermo", "Palermo"],
        &["GEODIST", "k", "Palermo", "nope"],
        &["GEODIST", "k", "Palermo", "Catania", "foo"],
        &["GEODIST", "k", "Palermo", "Catania", "km", "x"],
        &["GEODIST", "missing", "a", "b", "foo"],
        &["GEODIST", "missing", "a", "b"],
        // Scores no GEOADD made still decode.
        &["ZADD", "k", "-1", "neg", "0.5", "half", "4503599627370496", "big", "inf", "top"],
        &["GEOPOS", "k", "neg", "half", "big", "top"],
        &["GEOHASH", "k", "neg", "half", "big", "top"],
        &["GEODIST", "k", "neg", "big"],
        &["GEOSEARCH", "k", "FROMMEMBER", "half", "BYRADIUS", "100", "km", "WITHHASH"],
        // Searches.
        &["GEOSEARCH", "k", "FROMMEMBER", "Palermo", "BYRADIUS", "200", "km", "ASC", "WITHCOORD", "WITHDIST", "WITHHASH"],
        &["GEOSEARCH", "k", "FROMLONLAT", "15", "37", "BYBOX", "400", "400", "km", "DESC", "WITHDIST"],
        &["GEOSEARCH", "k", "FROMLONLAT", "15", "37", "BYBOX", "400", "400", "km", "COUNT", "1"],
        &["GEOSEARCH", "k", "FROMLONLAT", "15", "37", "BYRADIUS", "400", "km", "COUNT", "1", "ANY"],
        &["GEOSEARCH", "k", "FROMMEMBER", "Palermo", "FROMMEMBER", "Catania", "BYRADIUS", "1", "km"],
        &["GEOSEARCH", "k", "BYRADIUS", "1", "km", "BYRADIUS", "300", "km", "FROMMEMBER", "Palermo"],
        &["GEOSEARCH", "k", "FROMLONLAT", "0", "0", "BYRADIUS", "1", "m"],
        &["GEOSEARCH", "k", "FROMLONLAT", "0", "0", "BYRADIUS", "0", "m"],
        &["GEOSEARCH", "k", "FROMLONLAT", "0", "0", "BYBOX", "0", "0", "m", "WITHDIST"],
        &["GEOSEARCH", "k", "FROMLONLAT", "0", "0", "BYRADIUS", "inf", "km", "COUNT", "3"],
        &["GEOSEARCH", "k", "FROMLONLAT", "180", "85.05112878", "BYRADIUS", "20000", "km", "ASC", "WITHDIST"],
        &["GEOSEARCH", "k", "FROMMEMBER", "nope", "BYRADIUS", "1", "km"],
        &["GEOSEARCH", "missing", "FROMMEMBER", "nope", "BYRADIUS", "1", "km"],
        &["GEOSEARCH", "missing", "FROMMEMBER", "nope", "BYRADIUS", "-1", "km"],
        &["GEOSEARCH", "missing", "FROMMEMBER", "nope", "BYRADIUS", "1", "km", "ANY"],
        &["GEOSEARCH", "k", "FROMLONLAT", "1", "2", "FROMMEMBER", "Palermo", "BYRADIUS", "1", "km"],
        &["GEOSEARCH", "k", "FROMMEMBER", "Palermo", "FROMLONLAT", "1", "2", "BYRADIUS", "1", "km"],
        &["GEOSEARCH", "k", "FROMMEMBER", "Palermo", "BYRADIUS", "1", "km", "BYBOX", "1", "1", "km"],
        &["GEOSEARCH", "k", "FROMMEMBER", "Palermo", "BYBOX", "1", "1", "km", "BYRADIUS", "1", "km"],
        &["GEOSEARCH", "k", "FROMMEMBER", "Palermo", "BYRADIUS", "1", "km", "ANY"],
        &["GEOSEARCH", "k", "FROMMEMBER", "Palermo", "BYRADIUS", "1", "km", "COUNT", "0"],
        &["GEOSEARCH", "k", "FROMMEMBER", "Palermo", "BYRADIUS", "1", "km", "COUNT", "-1"],
        &["GEOSEARCH", "k", "FROMMEMBER", "Palermo", "BYRADIUS", "1", "km", "COUNT", "x"],
        &["GEOSEARCH", "k", "FROMMEMBER", "Palermo", "BYRADIUS", "1", "km", "COUNT"],
        &["GEOSEARCH", "k", "FROMMEMBER", "Palermo", "BYRADIUS", "1", "foo"],
        &["GEOSEARCH", "k", "FROMMEMBER", "Palermo", "BYRADIUS", "-1", "km"],
        &["GEOSEARCH", "k", "FROMMEMBER", "Palermo", "BYRADIUS", "x", "km"],
        &["GEOSEARCH", "k", "FROMMEMBER", "Palermo", "BYRADIUS", "nan", "km"],
        &["GEOSEARCH", "k", "FROMMEMBER", "Palermo", "BYRADIUS", "1e400", "km"],
        &["GEOSEARCH", "k", "FROMMEMBER", "Palermo", "BYBOX", "-1", "1", "km"],
        &["GEOSEARCH", "k", "FROMMEMBER", "Palermo", "BYBOX", "x", "1", "km"],
        &["GEOSEARCH", "k", "FROMMEMBER", "Palermo", "BYBOX", "1", "x", "km"],
        &["GEOSEARCH", "k", "FROMMEMBER", "Palermo", "BYBOX", "1", "1", "foo"],
        &["GEOSEARCH", "k", "FROMMEMBER", "Palermo", "BYRADIUS", "1", "km", "STORE", "d"],
        &["GEOSEARCH", "k", "FROMMEMBER", "Palermo", "BYRADIUS", "1", "km", "STOREDIST"],
        &["GEOSEARCH", "k", "FROMLONLAT", "200", "100", "BYRADIUS", "1", "km"],
        &["GEOSEARCH", "k", "FROMLONLAT", "x", "1", "BYRADIUS", "1", "km"],
        &["GEOSEARCH", "k", "FROMLONLAT", "inf", "0", "BYRADIUS", "1", "km"],
        &["GEOSEARCH", "k", "FROMLONLAT", "1e-400", "0", "BYRADIUS", "1", "km"],
        &["GEOSEARCH", "k", "FROMLONLAT", "1e-310", "0", "BYRADIUS", "1", "km"],
        &["GEOSEARCH", "k", "FROMLONLAT", " 1", "0", "BYRADIUS", "1", "km"],
        &["GEOSEARCH", "k", "FROMLONLAT", "1", "0", "BYRADIUS", "1e-400", "km"],
        &["GEOSEARCH", "k", "FROMLONLAT", "-0x1p-1080", "0", "BYRADIUS", "1", "km"],
        &["GEOSEARCH", "k", "FROMLONLAT", "0x0p-1080", "0e-999", "BYRADIUS", "0.000e-500", "km"],
        &["ZADD", "under", "1e-400", "a"],
        &["ZADD", "under", "1e-310", "a", "-0.0", "b"],
        &["ZRANGE", "under", "0", "-1", "WITHSCORES"],
        &["GeoSearch", "k", "BYRADIUS", "1", "km", "WITHDIST", "ASC"],
        &["geosearch", "k", "FROMMEMBER", "Palermo", "WITHDIST", "ASC"],
        &["GEOSEARCH", "k", "FROMMEMBER", "Palermo", "BYRADIUS", "1", "km", "FOO"],
        &["GEOSEARCH", "k", "BYRADIUS", "1", "km"],
        // Stores.
        &["GEOSEARCHSTORE", "d", "k", "FROMMEMBER", "Palermo", "BYRADIUS", "200", "km"],
        &["ZRANGE", "d", "0", "-1", "WITHSCORES"],
        &["GEOSEARCHSTORE", "d", "k", "FROMMEMBER", "Palermo", "BYRADIUS", "200", "km", "STOREDIST", "COUNT", "1"],
        &["ZRANGE", "d", "0", "-1", "WITHSCORES"],
        &["GEOSEARCHSTORE", "d", "k", "FROMMEMBER", "Palermo", "BYRADIUS", "200", "km", "WITHDIST"],
        &["GEOSEARCHSTORE", "d", "k", "FROMMEMBER", "Palermo", "BYRADIUS", "200", "km", "STORE", "x"],
        &["GEOSEARCHSTORE", "d", "k", "FROMLONLAT", "0", "0", "BYRADIUS", "1", "m"],
        &["EXISTS", "d"],
        &["GEOSEARCHSTORE", "d", "k", "FROMMEMBER", "Palermo", "BYRADIUS", "200", "km"],
        &["GEOSEARCHSTORE", "d", "missing", "FROMMEMBER", "Palermo", "BYRADIUS", "200", "km"],
        &["EXISTS", "d"],
        &["GEOSEARCHSTORE", "k", "k", "FROMMEMBER", "Palermo", "BYRADIUS", "200", "km", "STOREDIST"],
        &["ZRANGE", "k", "0", "-1", "WITHSCORES"],
        &["GEOADD", "k", "13.361389", "38.115556", "Palermo", "15.087269", "37.502669", "Catania"],
        &["GEOADD", "k", "12.758489", "38.788135", "edge1", "17.241510", "38.788135", "edge2"],
        &["GEORADIUS", "k", "15", "37", "200", "km", "WITHDIST", "WITHCOORD", "WITHHASH"],
        &["GEORADIUS", "k", "15", "37", "200", "km", "WITHDIST", "ASC"],
        &["GEORADIUS", "k", "15", "37", "200", "km", "DESC", "COUNT", "1"],
        &["GEORADIUS", "k", "15", "37", "200", "km", "WITHDIST", "STORE", "x"],
        &["GEORADIUS", "k", "15", "37", "200", "km", "STOREDIST", "a", "STORE", "b"],
        &["ZRANGE", "b", "0", "-1", "WITHSCORES"],
        &["EXISTS", "a"],
        &["GEORADIUS", "k", "15", "37", "200", "km", "STORE", "b", "STOREDIST", "a"],
        &["ZRANGE", "a", "0", "-1", "WITHSCORES"],
        &["GEORADIUS", "k", "15", "37", "200", "km", "STORE"],
        &["GEORADIUS", "k", "15", "37", "200", "km", "COUNT"],
        &["GEORADIUS", "k", "15", "37", "200", "km", "COUNT", "1", "ANY", "ANY"],
        &["GEORADIUS", "k", "15", "37", "200", "km", "FROMMEMBER", "Palermo"],
        &["GEORADIUS", "k", "15", "37", "200", "xx"],
        &["GEORADIUS", "k", "15", "37", "-200", "xx"],
        &["GEORADIUS", "k", "1500", "37", "-200", "xx"],
        &["GEORADIUS", "missing", "15", "37", "200", "km", "STORE", "b"],
        &["EXISTS", "b"],
        &["GEORADIUS_RO", "k", "15", "37", "200", "km", "STORE", "x"],
        &["GEORADIUS_RO", "k", "15", "37", "200", "km", "WITHDIST", "DESC"],
        &["GEORADIUSBYMEMBER", "k", "Palermo", "200", "km", "WITHDIST", "DESC"],
        &["GEORADIUSBYMEMBER", "k", "Palermo", "200", "km", "STOREDIST", "x"],
        &["ZRANGE", "x", "0", "-1", "WITHSCORES"],
        &["GEORADIUSBYMEMBER", "k", "nope", "200", "km"],
        &["GEORADIUSBYMEMBER", "k", "nope", "-200", "km"],
        &["GEORADIUSBYMEMBER", "missing", "nope", "-200", "kmx"],
        &["GEORADIUSBYMEMBER", "missing", "nope", "-200", "kmx", "STORE", "x"],
        &["EXISTS", "x"],
        &["GEORADIUSBYMEMBER", "missing", "nope", "1", "km", "WITHDIST", "STORE", "x"],
        &["GEORADIUSBYMEMBER_RO", "k", "Palermo", "200", "km", "COUNT", "2", "ANY", "WITHCOORD"],
        &["GEORADIUSBYMEMBER_RO", "k", "Palermo", "200", "km", "STOREDIST", "x"],
        // Wrong types.
        &["SET", "str", "x"],
        &["GEOADD", "str", "1", "2", "a"],
        &["GEOADD", "str", "200", "2", "a"],
        &["GEOPOS", "str", "a"],
        &["GEOHASH", "str", "a"],
        &["GEODIST", "str", "a", "b"],
        &["GEODIST", "str", "a", "b", "foo"],
        &["GEOSEARCH", "str", "FROMMEMBER", "x", "BYRADIUS", "1", "km"],
        &["GEOSEARCH", "str", "FROMLONLAT", "1000", "1", "BYRADIUS", "1", "km"],
        &["GEORADIUS", "str", "1", "2", "3", "km"],
        &["GEORADIUSBYMEMBER", "str", "1", "2", "km"],
        &["GEOSEARCHSTORE", "d", "str", "FROMMEMBER", "x", "BYRADIUS", "1", "km"],
        &["GEOSEARCHSTORE", "str", "k", "FROMMEMBER", "Palermo", "BYRADIUS", "1", "km"],
        &["TYPE", "str"],
        &["RPUSH", "list", "a"],
        &["GEORADIUS", "k", "15", "37", "200", "km", "STORE", "list"],
        &["TYPE", "list"],
        // Arity.
        &["GEOADD", "k", "1", "2"],
        &["GEOSEARCH", "k", "FROMMEMBER", "Palermo"],
        &["GEOSEARCHSTORE", "d", "k", "FROMMEMBER", "Palermo", "ASC", "ANY"],
        &["GEORADIUS", "k", "1", "2", "3"],
        &["GEORADIUSBYMEMBER", "k", "a", "3"],
        &["GEODIST", "k", "a"],
        &["GEOPOS"],
        // Key positions.
        &["COMMAND", "GETKEYS", "GEORADIUS", "k", "1", "2", "3", "km", "STORE", "a", "STOREDIST", "b"],
        &["COMMAND", "GETKEYS", "GEORADIUSBYMEMBER", "k", "m", "3", "km", "STORE", "a"],
        &["COMMAND", "GETKEYS", "GEORADIUS", "k", "1", "2", "3", "km"],
        &["COMMAND", "GETKEYS", "GEOSEARCHSTORE", "d", "k", "FROMMEMBER", "m", "BYRADIUS", "1", "km"],
        // Members at one place tie: with fewer returned than found, Redis's
        // partial quicksort decides their order (here p219 before p121).
        &["ZADD", "ties", "850729801000059", "p101", "867154650086670", "p57", "868827156955104", "p124", "868827315147451", "p134", "868828024933391", "p129", "868828024933391", "p222", "868828080047502", "p135", "868828876090708", "p130", "868828883166432", "p133", "868838177894463", "p131", "868838226747795", "p122", "868838509663085", "p123", "868840038214365", "p121", "868840038214365", "p219", "868840112446686", "p132", "868840120391443", "p127", "868840427122964", "p128", "868840427122964", "p226", "868840560196416", "p126", "943468582880067", "p50", "473459498576252", "p36"],
        &["GEORADIUSBYMEMBER_RO", "ties", "p131", "8827983.632", "ft", "COUNT", "7"],
        &["GEORADIUSBYMEMBER_RO", "ties", "p131", "8827983.632", "ft", "COUNT", "7", "DESC"],
        &["GEORADIUSBYMEMBER_RO", "ties", "p131", "8827983.632", "ft", "COUNT", "21"],
        &["GEORADIUSBYMEMBER_RO", "ties", "p131", "8827983.632", "ft", "DESC"],
        &["GEOSEARCH", "ties", "FROMMEMBER", "p131", "BYBOX", "5000", "5000", "km", "COUNT", "12", "DESC"],
        // Transactions read their own writes.
        &["MULTI"],
        &["GEOADD", "t", "1", "1", "a", "1.001", "1.001", "b"],
        &["GEOSEARCH", "t", "FROMMEMBER", "a", "BYRADIUS", "1", "km", "WITHDIST"],
        &["GEOSEARCHSTORE", "t2", "t", "FROMMEMBER", "a", "BYRADIUS", "1", "km", "STOREDIST"],
        &["GEORADIUS", "t2", "1", "1", "1", "km"],
        &["GEOPOS", "t", "b"],
        &["EXEC"],
        // Scripts see RESP2 texts.
        &["EVAL", "return redis.call('GEOPOS', KEYS[1], 'Palermo')", "1", "k"],
        &["EVAL", "return redis.call('GEODIST', KEYS[1], 'Palermo', 'Catania')", "1", "k"],
        &["EVAL", "redis.setresp(3); return redis.call('GEOPOS', KEYS[1], 'Palermo')[1][1]['double'] * 1000", "1", "k"],
    ];
    for cmd in cases {
        match cmd {
            // 7.0 writes a score with 17 digits, 7.2 (and RedRock) with
            // as few as read back the same.
            ["ZRANGE", key, ..] => pair.check_zset(key, &owned(cmd)),
            _ => pair.exact(cmd),
        }
    }
}

#[test]
fn resp3_replies_match_redis() {
    let redrock = Server::start();
    let redis = RedisServer::start();
    let mut pair = Pair {
        ours: redrock.raw(),
        theirs: redis.raw(),
        seed: 0,
    };
    pair.ours.command(&["HELLO", "3"]);
    pair.theirs.command(&["HELLO", "3"]);
    for cmd in [
        &[
            "GEOADD",
            "k",
            "13.361389",
            "38.115556",
            "Palermo",
            "15.087269",
            "37.502669",
            "Catania",
            "-180",
            "-85.05112878",
            "corner",
        ][..],
        &["GEOPOS", "k", "Palermo", "nope", "corner"],
        &["GEOPOS", "missing", "a"],
        &["GEOHASH", "k", "Palermo", "nope"],
        &["GEODIST", "k", "Palermo", "Catania", "km"],
        &["GEODIST", "k", "Palermo", "nope"],
        &[
            "GEOSEARCH",
            "k",
            "FROMMEMBER",
            "Palermo",
            "BYBOX",
            "500",
            "500",
            "km",
            "WITHHASH",
            "WITHCOORD",
            "WITHDIST",
            "ASC",
        ],
        &[
            "GEOSEARCH",
            "k",
            "FROMMEMBER",
            "Palermo",
            "BYBOX",
            "500",
            "500",
            "km",
            "ASC",
        ],
        &[
            "GEOSEARCH",
            "missing",
            "FROMMEMBER",
            "Palermo",
            "BYBOX",
            "500",
            "500",
            "km",
        ],
        &["GEORADIUS_RO", "k", "-180", "-85", "100", "km", "WITHCOORD"],
        &["GEORADIUS", "k", "15", "37", "200", "km", "STORE", "d"],
        &["ZRANGE", "d", "0", "-1", "WITHSCORES"],
    ] {
        pair.exact(cmd);
    }
}

/// The keyspace events each command of `script` raises on the server at
/// `port`, as a subscriber to every event receives them.
fn events(port: u16, script: &[&[&str]]) -> Vec<Vec<String>> {
    let mut writer = RawClient::connect(port);
    writer.command(&["CONFIG", "SET", "notify-keyspace-events", "KEA"]);
    let mut sub = RawClient::connect(port);
    sub.command(&["PSUBSCRIBE", "__key*__:*"]);
    let mut steps = Vec::new();
    for (i, cmd) in script.iter().enumerate() {
        writer.command(cmd);
        // Whatever the command published comes before the PING's answer.
        let token = format!("step-{i}");
        sub.send(&RawClient::encode(&["PING", &token]));
        let mut step = Vec::new();
        loop {
            let frame = show(&sub.read_reply());
            if frame.contains(&token) {
                break;
            }
            step.push(frame);
        }
        steps.push(step);
    }
    steps
}

#[test]
fn keyspace_events_match_redis() {
    let redrock = Server::start();
    let redis = RedisServer::start();
    let script: &[&[&str]] = &[
        &[
            "GEOADD",
            "k",
            "13.361389",
            "38.115556",
            "Palermo",
            "15.087269",
            "37.502669",
            "Catania",
        ],
        &[
            "GEOADD",
            "k",
            "XX",
            "13.361389",
            "38.115556",
            "Palermo",
            "1",
            "1",
            "new",
        ],
        &["GEOADD", "k", "NX", "CH", "1", "1", "Palermo"],
        &[
            "GEOSEARCHSTORE",
            "d",
            "k",
            "FROMMEMBER",
            "Palermo",
            "BYRADIUS",
            "200",
            "km",
        ],
        &[
            "GEOSEARCHSTORE",
            "d",
            "k",
            "FROMMEMBER",
            "Palermo",
            "BYRADIUS",
            "200",
            "km",
            "STOREDIST",
        ],
        &[
            "GEOSEARCHSTORE",
            "d",
            "k",
            "FROMLONLAT",
            "0",
            "0",
            "BYRADIUS",
            "1",
            "km",
        ],
        &[
            "GEOSEARCHSTORE",
            "d",
            "k",
            "FROMLONLAT",
            "0",
            "0",
            "BYRADIUS",
            "1",
            "km",
        ],
        &["GEORADIUS", "k", "15", "37", "200", "km", "STORE", "d2"],
        &[
            "GEORADIUSBYMEMBER",
            "k",
            "Palermo",
            "200",
            "km",
            "STOREDIST",
            "d3",
        ],
        &[
            "GEORADIUS",
            "missing",
            "15",
            "37",
            "200",
            "km",
            "STORE",
            "d2",
        ],
        &[
            "GEORADIUSBYMEMBER",
            "missing",
            "x",
            "200",
            "km",
            "STOREDIST",
            "d3",
        ],
        &["GEORADIUS", "k", "15", "37", "200", "km"],
        &[
            "GEOSEARCH",
            "k",
            "FROMMEMBER",
            "Palermo",
            "BYRADIUS",
            "200",
            "km",
        ],
    ];
    assert_eq!(events(redrock.port, script), events(redis.port, script));
}
