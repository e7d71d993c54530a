//! GEO commands, as Redis's geo.c. A GEO key is an ordinary sorted set
//! whose scores are 52-bit geohashes; the grid, distance and number texts
//! are `redrock_formats::geohash`'s.

use super::args::{int, is, text};
use super::Ctx;
use crate::error::{Error, Result};
use crate::protocol::Reply;
use crate::types::zset::{parse_score, AddFlags, Opened, ScoreBound, ScoreRange};
use crate::types::Db;
use bytes::Bytes;
use redrock_formats::geohash::{self, OutOfRange, Shape, Unit, UNIT_ERROR};
use std::ops::ControlFlow;

fn out_of_range(e: OutOfRange) -> Error {
    Error::coded(e.to_string())
}

/// `lon lat` as extractLongLatOrReply reads them: two numbers, then a
/// position inside the grid, returned with its score bits.
fn position(args: &[Bytes]) -> Result<(f64, f64, u64)> {
    let lon = parse_score(&args[0]).ok_or(Error::NotFloat)?;
    let lat = parse_score(&args[1]).ok_or(Error::NotFloat)?;
    let bits = geohash::encode(lon, lat).map_err(out_of_range)?;
    Ok((lon, lat, bits))
}

/// The position a sorted-set score stands for, whatever made the score.
fn decode(score: f64) -> (f64, f64) {
    geohash::decode(geohash::score_bits(score))
}

fn unit(arg: &[u8]) -> Result<Unit> {
    Unit::parse(arg).ok_or(Error::coded(UNIT_ERROR))
}

fn unit_of(shape: &Shape) -> Unit {
    match *shape {
        Shape::Radius { unit, .. } | Shape::Box { unit, .. } => unit,
    }
}

/// A number argument of a shape, with the error Redis names it by.
fn number(arg: &[u8], name: &str) -> Result<f64> {
    parse_score(arg).ok_or_else(|| Error::err(format!("need numeric {name}")))
}

/// `radius unit` (extractDistanceOrReply).
fn radius(args: &[Bytes]) -> Result<Shape> {
    let radius = number(&args[0], "radius")?;
    if radius < 0.0 {
        return Err(Error::err("radius cannot be negative"));
    }
    Ok(Shape::Radius {
        radius,
        unit: unit(&args[1])?,
    })
}

/// `width height unit` (extractBoxOrReply).
fn bybox(args: &[Bytes]) -> Result<Shape> {
    let width = number(&args[0], "width")?;
    let height = number(&args[1], "height")?;
    if height < 0.0 || width < 0.0 {
        return Err(Error::err("height or width cannot be negative"));
    }
    Ok(Shape::Box {
        width,
        height,
        unit: unit(&args[2])?,
    })
}

/// A coordinate of GEOPOS and WITHCOORD.
fn coordinates((lon, lat): (f64, f64)) -> Reply {
    Reply::Array(
        [lon, lat]
            .map(|x| Reply::DoubleText(Bytes::from(geohash::format_coordinate(x))))
            .into(),
    )
}

/// GEOADD key [NX|XX] [CH] lon lat member ...: ZADD with the positions'
/// scores, as Redis hands it over.
pub fn geoadd(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let mut flags = AddFlags::default();
    let mut ch = false;
    let mut at = 2;
    while let Some(word) = argv.get(at) {
        if is(word, "nx") {
            flags.nx = true;
        } else if is(word, "xx") {
            flags.xx = true;
        } else if is(word, "ch") {
            ch = true;
        } else {
            break;
        }
        at += 1;
    }
    let rest = &argv[at..];
    if !rest.len().is_multiple_of(3) || (flags.nx && flags.xx) {
        return Err(Error::Syntax);
    }
    let pairs = rest
        .chunks(3)
        .map(|item| {
            let (_, _, bits) = position(&item[..2])?;
            Ok((bits as f64, item[2].clone()))
        })
        .collect::<Result<Vec<_>>>()?;
    // ZADD's own check, once GEOADD has read the positions.
    if pairs.is_empty() {
        return Err(Error::Syntax);
    }
    let outcome = ctx.db().zadd(&argv[1], flags, &pairs)?;
    let count = outcome.added + if ch { outcome.updated } else { 0 };
    Ok(Reply::Integer(count as i64))
}

pub fn geopos(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let scores = ctx.db().zmscore(&argv[1], &argv[2..])?;
    Ok(Reply::Array(
        scores
            .into_iter()
            .map(|s| s.map_or(Reply::NilArray, |score| coordinates(decode(score))))
            .collect(),
    ))
}

pub fn geohash(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let scores = ctx.db().zmscore(&argv[1], &argv[2..])?;
    Ok(Reply::Array(
        scores
            .into_iter()
            .map(|s| {
                s.map_or(Reply::Nil, |score| {
                    Reply::bulk(geohash::geohash_string(geohash::score_bits(score)))
                })
            })
            .collect(),
    ))
}

pub fn geodist(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let unit = match argv.get(4) {
        None => Unit::Meters,
        Some(_) if argv.len() > 5 => return Err(Error::Syntax),
        Some(arg) => unit(arg)?,
    };
    let scores = ctx.db().zmscore(&argv[1], &argv[2..4])?;
    let (Some(a), Some(b)) = (scores[0], scores[1]) else {
        return Ok(Reply::Nil);
    };
    let ((x1, y1), (x2, y2)) = (decode(a), decode(b));
    let d = geohash::distance(x1, y1, x2, y2) / unit.meters();
    Ok(Reply::bulk(geohash::format_distance(d)))
}

/// Where a search's centre comes from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Center {
    /// GEORADIUS: `lon lat radius unit` after the key.
    Coords,
    /// GEORADIUSBYMEMBER: `member radius unit` after the key.
    Member,
    /// GEOSEARCH: FROMMEMBER or FROMLONLAT, BYRADIUS or BYBOX options.
    Options,
}

/// Which store options a search takes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Storing {
    /// GEOSEARCH and the _RO forms: none.
    No,
    /// GEORADIUS(BYMEMBER): STORE key, STOREDIST key.
    Radius,
    /// GEOSEARCHSTORE dst src ...: STOREDIST.
    Search,
}

#[derive(Clone, Copy)]
struct Form {
    center: Center,
    storing: Storing,
}

/// Where the destination of a STORE form of GEORADIUS(BYMEMBER) is: after
/// its last STORE or STOREDIST from the fifth argument on, as Redis's
/// georadiusGetKeys finds it and its parser takes it (on a valid command).
fn store_key_position(argv: &[Bytes]) -> Option<usize> {
    let mut found = None;
    let mut at = 5;
    while at < argv.len() {
        if (is(&argv[at], "store") || is(&argv[at], "storedist")) && at + 1 < argv.len() {
            found = Some(at + 1);
            at += 1;
        }
        at += 1;
    }
    found
}

/// A parsed search. Without the source key, the member centre is not
/// looked up, so `center` (and for GEORADIUSBYMEMBER `shape`) stay unset.
#[derive(Default)]
struct Query {
    center: Option<(f64, f64)>,
    shape: Option<Shape>,
    /// Some(true) for DESC.
    desc: Option<bool>,
    /// 0 for no COUNT.
    count: usize,
    any: bool,
    with_dist: bool,
    with_hash: bool,
    with_coord: bool,
    store: Option<Bytes>,
    store_dist: bool,
}

/// A member inside the search's shape.
struct Hit {
    member: Bytes,
    score: f64,
    position: (f64, f64),
    /// From the centre, in metres.
    dist: f64,
}

/// The position of `member`, a search's centre.
fn member_position(db: &Db<'_>, z: &Opened, key: &[u8], member: &[u8]) -> Result<(f64, f64)> {
    let score = db
        .score_in(z, key, member)?
        .ok_or_else(|| Error::err("could not decode requested zset member"))?;
    Ok(decode(score))
}

/// Parses a search's arguments in georadiusGeneric's order, whose first
/// failure is the reply; `z` is the source, already looked up.
fn parse(db: &Db<'_>, z: Option<&Opened>, key: &[u8], argv: &[Bytes], form: Form) -> Result<Query> {
    let mut q = Query::default();
    let options = form.center == Center::Options;
    let mut at = match form.center {
        Center::Coords => {
            let (lon, lat, _) = position(&argv[2..4])?;
            q.center = Some((lon, lat));
            q.shape = Some(radius(&argv[4..6])?);
            6
        }
        Center::Member => {
            if let Some(z) = z {
                q.center = Some(member_position(db, z, key, &argv[2])?);
                q.shape = Some(radius(&argv[3..5])?);
            }
            5
        }
        Center::Options if form.storing == Storing::Search => {
            q.store = Some(argv[1].clone());
            3
        }
        Center::Options => 2,
    };
    let (mut from_member, mut from_lonlat, mut by_radius, mut by_box) =
        (false, false, false, false);
    while at < argv.len() {
        let arg = &argv[at];
        let left = argv.len() - at - 1;
        if is(arg, "withdist") {
            q.with_dist = true;
        } else if is(arg, "withhash") {
            q.with_hash = true;
        } else if is(arg, "withcoord") {
            q.with_coord = true;
        } else if is(arg, "any") {
            q.any = true;
        } else if is(arg, "asc") {
            q.desc = Some(false);
        } else if is(arg, "desc") {
            q.desc = Some(true);
        } else if is(arg, "count") && left >= 1 {
            let count = int(&argv[at + 1])?;
            if count <= 0 {
                return Err(Error::err("COUNT must be > 0"));
            }
            q.count = count as usize;
            at += 1;
        } else if (is(arg, "store") || is(arg, "storedist"))
            && left >= 1
            && form.storing == Storing::Radius
        {
            q.store = Some(argv[at + 1].clone());
            q.store_dist = is(arg, "storedist");
            at += 1;
        } else if is(arg, "storedist") && form.storing == Storing::Search {
            q.store_dist = true;
        } else if is(arg, "frommember") && left >= 1 && options && !from_lonlat {
            // Without the source, the search fails or finds nothing
            // after the other arguments are checked.
            if let Some(z) = z {
                q.center = Some(member_position(db, z, key, &argv[at + 1])?);
            }
            from_member = true;
            at += 1;
        } else if is(arg, "fromlonlat") && left >= 2 && options && !from_member {
            let (lon, lat, _) = position(&argv[at + 1..at + 3])?;
            q.center = Some((lon, lat));
            from_lonlat = true;
            at += 2;
        } else if is(arg, "byradius") && left >= 2 && options && !by_box {
            q.shape = Some(radius(&argv[at + 1..at + 3])?);
            by_radius = true;
            at += 2;
        } else if is(arg, "bybox") && left >= 3 && options && !by_radius {
            q.shape = Some(bybox(&argv[at + 1..at + 4])?);
            by_box = true;
            at += 3;
        } else {
            return Err(Error::Syntax);
        }
        at += 1;
    }
    if q.store.is_some() && (q.with_dist || q.with_hash || q.with_coord) {
        let what = match form.storing {
            Storing::Search => "GEOSEARCHSTORE",
            _ => "STORE option in GEORADIUS",
        };
        return Err(Error::err(format!(
            "{what} is not compatible with WITHDIST, WITHHASH and WITHCOORD options"
        )));
    }
    // Redis names the command as it was typed.
    if options && !(from_member || from_lonlat) {
        return Err(Error::err(format!(
            "exactly one of FROMMEMBER or FROMLONLAT can be specified for {}",
            text(&argv[0])
        )));
    }
    if options && !(by_radius || by_box) {
        return Err(Error::err(format!(
            "exactly one of BYRADIUS and BYBOX can be specified for {}",
            text(&argv[0])
        )));
    }
    if q.any && q.count == 0 {
        return Err(Error::err("the ANY argument requires COUNT argument"));
    }
    Ok(q)
}

/// The members inside `shape` around `center`, in the order Redis finds
/// them: grid cell after grid cell, each in score order. COUNT ... ANY
/// stops at the count.
fn scan(
    db: &Db<'_>,
    z: &Opened,
    key: &[u8],
    q: &Query,
    center: (f64, f64),
    shape: &Shape,
) -> Result<Vec<Hit>> {
    let areas = geohash::areas_for(shape, center.0, center.1).map_err(out_of_range)?;
    let ranges: Vec<ScoreRange> = areas
        .ranges()
        .iter()
        .map(|r| ScoreRange {
            min: ScoreBound {
                score: r.min,
                exclusive: false,
            },
            max: ScoreBound {
                score: r.max,
                exclusive: true,
            },
        })
        .collect();
    let limit = if q.any { q.count } else { 0 };
    let mut hits = Vec::new();
    db.walk_score_ranges(z, key, &ranges, |member, score| {
        let position = decode(score);
        if let Some(dist) = geohash::within(shape, center, position) {
            hits.push(Hit {
                member,
                score,
                position,
                dist,
            });
        }
        if limit > 0 && hits.len() >= limit {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })?;
    Ok(hits)
}

/// geo.c's comparison of distances (NaN below everything, both ways).
fn sort_gp_asc(a: f64, b: f64) -> i32 {
    if a > b {
        1
    } else if a == b {
        0
    } else {
        -1
    }
}

/// Sorts by distance as georadiusGeneric does, which decides the order
/// (and with COUNT the choice) of members at equal distances: all of them
/// with glibc's qsort, a stable merge sort, or when it returns fewer than
/// it found, the first `returned` with its own pqsort. (NaN distances, of
/// near-antipodal points, aside: glibc merges by an inconsistent order.)
fn sort_hits(hits: &mut [Hit], desc: bool, returned: usize) {
    if returned == hits.len() {
        hits.sort_by(|a, b| {
            let order = a.dist.total_cmp(&b.dist);
            if desc {
                order.reverse()
            } else {
                order
            }
        });
    } else {
        let sign = if desc { -1 } else { 1 };
        let cmp = |a: &Hit, b: &Hit| sign * sort_gp_asc(a.dist, b.dist);
        pqsort(hits, 0, returned - 1, &cmp);
    }
}

/// Redis 7's pqsort: NetBSD's qsort (Bentley & McIlroy's) without its
/// switch to insertion sort, recursing only into the partitions that hold
/// part of `lo..=hi`.
fn pqsort<T>(v: &mut [T], lo: usize, hi: usize, cmp: &impl Fn(&T, &T) -> i32) {
    pqsort_at(v, 0, v.len(), lo, hi, cmp);
}

/// [`pqsort`] of the `n` elements from `a`.
fn pqsort_at<T>(
    v: &mut [T],
    mut a: usize,
    mut n: usize,
    lo: usize,
    hi: usize,
    cmp: &impl Fn(&T, &T) -> i32,
) {
    let overlaps = |start: usize, len: usize| !(hi < start || lo >= start + len);
    let insertion_sort = |v: &mut [T], a: usize, n: usize| {
        for m in a + 1..a + n {
            let mut l = m;
            while l > a && cmp(&v[l - 1], &v[l]) > 0 {
                v.swap(l, l - 1);
                l -= 1;
            }
        }
    };
    let med3 = |v: &[T], a: usize, b: usize, c: usize| {
        if cmp(&v[a], &v[b]) < 0 {
            if cmp(&v[b], &v[c]) < 0 {
                b
            } else if cmp(&v[a], &v[c]) < 0 {
                c
            } else {
                a
            }
        } else if cmp(&v[b], &v[c]) > 0 {
            b
        } else if cmp(&v[a], &v[c]) < 0 {
            a
        } else {
            c
        }
    };
    let vecswap = |v: &mut [T], a: usize, b: usize, n: usize| {
        for i in 0..n {
            v.swap(a + i, b + i);
        }
    };
    loop {
        if n < 7 {
            insertion_sort(v, a, n);
            return;
        }
        let mut pm = a + n / 2;
        if n > 7 {
            let (mut pl, mut pn) = (a, a + n - 1);
            if n > 40 {
                let d = n / 8;
                pl = med3(v, pl, pl + d, pl + 2 * d);
                pm = med3(v, pm - d, pm, pm + d);
                pn = med3(v, pn - 2 * d, pn - d, pn);
            }
            pm = med3(v, pl, pm, pn);
        }
        v.swap(a, pm);
        let (mut pa, mut pb) = (a + 1, a + 1);
        let (mut pc, mut pd) = (a + n - 1, a + n - 1);
        loop {
            while pb <= pc {
                let r = cmp(&v[pb], &v[a]);
                if r > 0 {
                    break;
                }
                if r == 0 {
                    v.swap(pa, pb);
                    pa += 1;
                }
                pb += 1;
            }
            while pb <= pc {
                let r = cmp(&v[pc], &v[a]);
                if r < 0 {
                    break;
                }
                if r == 0 {
                    v.swap(pc, pd);
                    pd -= 1;
                }
                pc -= 1;
            }
            if pb > pc {
                break;
            }
            v.swap(pb, pc);
            pb += 1;
            pc -= 1;
        }
        let pn = a + n;
        let r = (pa - a).min(pb - pa);
        vecswap(v, a, pb - r, r);
        let r = (pd - pc).min(pn - pd - 1);
        vecswap(v, pb, pn - r, r);
        let r = pb - pa;
        if r > 1 && overlaps(a, r) {
            pqsort_at(v, a, r, lo, hi, cmp);
        }
        let r = pd - pc;
        if r <= 1 || !overlaps(pn - r, r) {
            return;
        }
        a = pn - r;
        n = r;
    }
}

/// GEORADIUS, GEORADIUSBYMEMBER, their _RO forms, GEOSEARCH and
/// GEOSEARCHSTORE (georadiusGeneric).
fn search(ctx: &mut Ctx<'_>, argv: &[Bytes], form: Form) -> Result<Reply> {
    let db = ctx.db();
    let src = &argv[if form.storing == Storing::Search {
        2
    } else {
        1
    }];
    let dst_at = match form.storing {
        Storing::No => None,
        Storing::Radius => store_key_position(argv),
        Storing::Search => Some(1),
    };
    if let Some(at) = dst_at {
        db.lock(&[src, &argv[at]])?;
    }
    // The source's type, a member centre and the scan read one state.
    let (q, mut hits) = db.in_snapshot(|db| {
        let z = db.read_zset(src)?;
        let q = parse(db, z.as_ref(), src, argv, form)?;
        let hits = match (&z, q.center, &q.shape) {
            (Some(z), Some(center), Some(shape)) => scan(db, z, src, &q, center, shape)?,
            _ => Vec::new(),
        };
        Ok((q, hits))
    })?;
    // COUNT without ANY wants the nearest: sorted even if not asked.
    if let Some(desc) = q.desc.or((q.count > 0 && !q.any).then_some(false)) {
        let returned = if q.count > 0 {
            q.count.min(hits.len())
        } else {
            hits.len()
        };
        sort_hits(&mut hits, desc, returned);
    }
    if q.count > 0 {
        hits.truncate(q.count);
    }
    let meters = q.shape.as_ref().map_or(1.0, |s| unit_of(s).meters());
    if let Some(dst) = &q.store {
        let members = hits
            .into_iter()
            .map(|h| {
                let score = if q.store_dist {
                    h.dist / meters
                } else {
                    h.score
                };
                (h.member, score)
            })
            .collect();
        let event = match form.center {
            Center::Options => "geosearchstore",
            _ => "georadiusstore",
        };
        let stored = db.zstore_selected(dst, src, members, event)?;
        return Ok(Reply::Integer(stored as i64));
    }
    if !(q.with_dist || q.with_hash || q.with_coord) {
        return Ok(Reply::bulks(hits.into_iter().map(|h| h.member)));
    }
    Ok(Reply::Array(
        hits.into_iter()
            .map(|h| {
                let mut item = vec![Reply::Bulk(h.member)];
                if q.with_dist {
                    item.push(Reply::bulk(geohash::format_distance(h.dist / meters)));
                }
                if q.with_hash {
                    // Scores of the scanned cells are below 2^52.
                    item.push(Reply::Integer(h.score as i64));
                }
                if q.with_coord {
                    item.push(coordinates(h.position));
                }
                Reply::Array(item)
            })
            .collect(),
    ))
}

pub fn georadius(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let form = Form {
        center: Center::Coords,
        storing: Storing::Radius,
    };
    search(ctx, argv, form)
}

pub fn georadiusbymember(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let form = Form {
        center: Center::Member,
        storing: Storing::Radius,
    };
    search(ctx, argv, form)
}

pub fn georadius_ro(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let form = Form {
        center: Center::Coords,
        storing: Storing::No,
    };
    search(ctx, argv, form)
}

pub fn georadiusbymember_ro(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let form = Form {
        center: Center::Member,
        storing: Storing::No,
    };
    search(ctx, argv, form)
}

pub fn geosearch(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let form = Form {
        center: Center::Options,
        storing: Storing::No,
    };
    search(ctx, argv, form)
}

pub fn geosearchstore(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let form = Form {
        center: Center::Options,
        storing: Storing::Search,
    };
    search(ctx, argv, form)
}
