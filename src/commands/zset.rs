//! Sorted set commands.

use super::args::{int, is, Args};
use super::hash::random_count;
use super::keyspace::{scan_collection, scan_reply};
use super::Ctx;
use crate::error::{Error, Result};
use crate::protocol::Reply;
use crate::types::zset::{
    parse_score, score_from_value, AddFlags, Aggregate, LexRange, RangeBy, RangeSpec, ScoreRange,
    Scored, ZSetOp,
};
use bytes::Bytes;
use redrock_encoding::DataType;

/// Members with their scores, one after the other: `member score ...`.
pub fn flat_scored(items: Vec<Scored>) -> impl Iterator<Item = Reply> {
    items
        .into_iter()
        .flat_map(|(m, s)| [Reply::Bulk(m), Reply::Double(s)])
}

/// Members with their scores as `[member, score]` pairs.
fn paired_scored(items: Vec<Scored>) -> Reply {
    Reply::Array(
        items
            .into_iter()
            .map(|(m, s)| Reply::Array(vec![Reply::Bulk(m), Reply::Double(s)]))
            .collect(),
    )
}

/// Members with their scores: flat in RESP2, pairs in RESP3 (or flat
/// members only).
pub fn scored_reply(ctx: &Ctx<'_>, items: Vec<Scored>, with_scores: bool) -> Reply {
    if !with_scores {
        Reply::bulks(items.into_iter().map(|(m, _)| m))
    } else if ctx.client.protocol >= 3 {
        paired_scored(items)
    } else {
        Reply::Array(flat_scored(items).collect())
    }
}

fn score_arg(arg: &[u8]) -> Result<f64> {
    parse_score(arg).ok_or(Error::NotFloat)
}

pub fn zadd(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let mut flags = AddFlags::default();
    let mut ch = false;
    let mut at = 2;
    while let Some(word) = argv.get(at) {
        match word.to_ascii_lowercase().as_slice() {
            b"nx" => flags.nx = true,
            b"xx" => flags.xx = true,
            b"gt" => flags.gt = true,
            b"lt" => flags.lt = true,
            b"ch" => ch = true,
            b"incr" => flags.incr = true,
            _ => break,
        }
        at += 1;
    }
    let rest = &argv[at..];
    if rest.is_empty() || !rest.len().is_multiple_of(2) {
        return Err(Error::Syntax);
    }
    if flags.nx && flags.xx {
        return Err(Error::err(
            "XX and NX options at the same time are not compatible",
        ));
    }
    if (flags.nx && (flags.gt || flags.lt)) || (flags.gt && flags.lt) {
        return Err(Error::err(
            "GT, LT, and/or NX options at the same time are not compatible",
        ));
    }
    if flags.incr && rest.len() > 2 {
        return Err(Error::err(
            "INCR option supports a single increment-element pair",
        ));
    }
    let pairs = rest
        .chunks(2)
        .map(|p| Ok((score_arg(&p[0])?, p[1].clone())))
        .collect::<Result<Vec<_>>>()?;
    let outcome = ctx.db().zadd(&argv[1], flags, &pairs)?;
    if flags.incr {
        return Ok(outcome.score.map_or(Reply::Nil, Reply::Double));
    }
    let count = outcome.added + if ch { outcome.updated } else { 0 };
    Ok(Reply::Integer(count as i64))
}

pub fn zincrby(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let increment = score_arg(&argv[2])?;
    let flags = AddFlags {
        incr: true,
        ..AddFlags::default()
    };
    let outcome = ctx
        .db()
        .zadd(&argv[1], flags, &[(increment, argv[3].clone())])?;
    Ok(outcome.score.map_or(Reply::Nil, Reply::Double))
}

pub fn zrem(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    Ok(Reply::Integer(ctx.db().zrem(&argv[1], &argv[2..])? as i64))
}

pub fn zcard(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    Ok(Reply::Integer(ctx.db().zcard(&argv[1])? as i64))
}

pub fn zscore(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let scores = ctx.db().zmscore(&argv[1], &argv[2..3])?;
    Ok(scores[0].map_or(Reply::Nil, Reply::Double))
}

pub fn zmscore(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let scores = ctx.db().zmscore(&argv[1], &argv[2..])?;
    Ok(Reply::Array(
        scores
            .into_iter()
            .map(|s| s.map_or(Reply::Nil, Reply::Double))
            .collect(),
    ))
}

fn rank(ctx: &mut Ctx<'_>, argv: &[Bytes], rev: bool) -> Result<Reply> {
    let with_score = match argv.len() {
        3 => false,
        4 if is(&argv[3], "withscore") => true,
        _ => return Err(Error::Syntax),
    };
    let found = ctx.db().zrank(&argv[1], &argv[2], rev)?;
    Ok(match found {
        None if with_score => Reply::NilArray,
        None => Reply::Nil,
        Some((rank, score)) if with_score => {
            Reply::Array(vec![Reply::Integer(rank as i64), Reply::Double(score)])
        }
        Some((rank, _)) => Reply::Integer(rank as i64),
    })
}

pub fn zrank(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    rank(ctx, argv, false)
}

pub fn zrevrank(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    rank(ctx, argv, true)
}

fn score_range(min: &[u8], max: &[u8]) -> Result<ScoreRange> {
    ScoreRange::parse(min, max).ok_or_else(|| Error::err("min or max is not a float"))
}

fn lex_range(min: &Bytes, max: &Bytes) -> Result<LexRange> {
    LexRange::parse(min, max).ok_or_else(|| Error::err("min or max not valid string range item"))
}

pub fn zcount(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let range = RangeBy::Score(score_range(&argv[2], &argv[3])?);
    Ok(Reply::Integer(ctx.db().zcount(&argv[1], &range)? as i64))
}

pub fn zlexcount(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let range = RangeBy::Lex(lex_range(&argv[2], &argv[3])?);
    Ok(Reply::Integer(ctx.db().zcount(&argv[1], &range)? as i64))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum RangeKind {
    Rank,
    Score,
    Lex,
}

/// How a ZRANGE-family command reads its arguments: what is fixed by the
/// command name, and where the source key is.
struct RangeCommand {
    kind: Option<RangeKind>,
    rev: Option<bool>,
    store: bool,
}

/// Parses `src min max [options]` (at `argv[at..]`) as Redis's
/// zrangeGenericCommand does: options first, then the range.
fn parse_range(argv: &[Bytes], at: usize, command: RangeCommand) -> Result<(RangeSpec, bool)> {
    let (mut kind, mut rev) = (command.kind, command.rev);
    let (mut with_scores, mut offset, mut limit) = (false, 0, -1);
    let mut j = at + 3;
    while j < argv.len() {
        let left = argv.len() - j - 1;
        let word = &argv[j];
        if !command.store && is(word, "withscores") {
            with_scores = true;
        } else if is(word, "limit") && left >= 2 {
            offset = int(&argv[j + 1])?;
            limit = int(&argv[j + 2])?;
            j += 2;
        } else if rev.is_none() && is(word, "rev") {
            rev = Some(true);
        } else if kind.is_none() && is(word, "bylex") {
            kind = Some(RangeKind::Lex);
        } else if kind.is_none() && is(word, "byscore") {
            kind = Some(RangeKind::Score);
        } else {
            return Err(Error::Syntax);
        }
        j += 1;
    }
    let kind = kind.unwrap_or(RangeKind::Rank);
    let rev = rev.unwrap_or(false);
    // As in Redis, `LIMIT n -1` (no limit) passes with ranks.
    if limit != -1 && kind == RangeKind::Rank {
        return Err(Error::err(
            "syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ));
    }
    if with_scores && kind == RangeKind::Lex {
        return Err(Error::err(
            "syntax error, WITHSCORES not supported in combination with BYLEX",
        ));
    }
    let (mut min, mut max) = (&argv[at + 1], &argv[at + 2]);
    if rev && kind != RangeKind::Rank {
        std::mem::swap(&mut min, &mut max);
    }
    let by = match kind {
        RangeKind::Rank => RangeBy::Rank(int(min)?, int(max)?),
        RangeKind::Score => RangeBy::Score(score_range(min, max)?),
        RangeKind::Lex => RangeBy::Lex(lex_range(min, max)?),
    };
    Ok((
        RangeSpec {
            by,
            rev,
            offset,
            limit,
        },
        with_scores,
    ))
}

fn range_command(
    ctx: &mut Ctx<'_>,
    argv: &[Bytes],
    kind: Option<RangeKind>,
    rev: Option<bool>,
) -> Result<Reply> {
    let command = RangeCommand {
        kind,
        rev,
        store: false,
    };
    let (spec, with_scores) = parse_range(argv, 1, command)?;
    let items = ctx.db().zrange(&argv[1], &spec)?;
    Ok(scored_reply(ctx, items, with_scores))
}

pub fn zrange(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    range_command(ctx, argv, None, None)
}

pub fn zrevrange(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    range_command(ctx, argv, Some(RangeKind::Rank), Some(true))
}

pub fn zrangebyscore(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    range_command(ctx, argv, Some(RangeKind::Score), Some(false))
}

pub fn zrevrangebyscore(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    range_command(ctx, argv, Some(RangeKind::Score), Some(true))
}

pub fn zrangebylex(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    range_command(ctx, argv, Some(RangeKind::Lex), Some(false))
}

pub fn zrevrangebylex(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    range_command(ctx, argv, Some(RangeKind::Lex), Some(true))
}

pub fn zrangestore(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let command = RangeCommand {
        kind: None,
        rev: None,
        store: true,
    };
    let (spec, _) = parse_range(argv, 2, command)?;
    Ok(Reply::Integer(
        ctx.db().zrangestore(&argv[1], &argv[2], &spec)? as i64,
    ))
}

pub fn zremrangebyrank(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let by = RangeBy::Rank(int(&argv[2])?, int(&argv[3])?);
    Ok(Reply::Integer(ctx.db().zremrange(&argv[1], by)? as i64))
}

pub fn zremrangebyscore(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let by = RangeBy::Score(score_range(&argv[2], &argv[3])?);
    Ok(Reply::Integer(ctx.db().zremrange(&argv[1], by)? as i64))
}

pub fn zremrangebylex(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let by = RangeBy::Lex(lex_range(&argv[2], &argv[3])?);
    Ok(Reply::Integer(ctx.db().zremrange(&argv[1], by)? as i64))
}

/// The optional count of ZPOPMIN, LPOP and the like: a non-negative
/// integer.
pub fn pop_count(arg: &[u8]) -> Result<u64> {
    int(arg)
        .ok()
        .and_then(|n| u64::try_from(n).ok())
        .ok_or_else(|| Error::err("value is out of range, must be positive"))
}

fn pop(ctx: &mut Ctx<'_>, argv: &[Bytes], max: bool) -> Result<Reply> {
    let count = match argv.len() {
        2 => None,
        3 => Some(pop_count(&argv[2])?),
        _ => return Err(Error::Syntax),
    };
    let popped = ctx.db().zpop(&argv[1], max, count.unwrap_or(1))?;
    // One member comes back flat; with a count, RESP3 nests pairs.
    if count.is_none() || ctx.client.protocol < 3 {
        Ok(Reply::Array(flat_scored(popped).collect()))
    } else {
        Ok(scored_reply(ctx, popped, true))
    }
}

pub fn zpopmin(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    pop(ctx, argv, false)
}

pub fn zpopmax(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    pop(ctx, argv, true)
}

/// A parsed `numkeys key... MIN|MAX [COUNT n]` (ZMPOP, BZMPOP), or the
/// LEFT|RIGHT form of LMPOP.
pub struct MultiPop<'a> {
    pub keys: &'a [Bytes],
    /// MAX for ZMPOP, RIGHT for LMPOP.
    pub high_end: bool,
    pub count: u64,
}

/// Parses a multi-pop's arguments from `argv[at]` (numkeys) on.
pub fn parse_multi_pop<'a>(
    argv: &'a [Bytes],
    at: usize,
    ends: (&str, &str),
) -> Result<MultiPop<'a>> {
    let numkeys = int(&argv[at])
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| Error::err("numkeys should be greater than 0"))?;
    if numkeys >= argv.len() as i64 {
        return Err(Error::Syntax);
    }
    let where_at = at + numkeys as usize + 1;
    if where_at >= argv.len() {
        return Err(Error::Syntax);
    }
    let high_end = if is(&argv[where_at], ends.0) {
        false
    } else if is(&argv[where_at], ends.1) {
        true
    } else {
        return Err(Error::Syntax);
    };
    let mut count = None;
    let mut args = Args::new(argv, where_at + 1);
    while let Some(word) = args.next() {
        if count.is_none() && is(word, "count") && !args.done() {
            let n = int(args.value()?)
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| Error::err("count should be greater than 0"))?;
            count = Some(n as u64);
        } else {
            return Err(Error::Syntax);
        }
    }
    Ok(MultiPop {
        keys: &argv[at + 1..where_at],
        high_end,
        count: count.unwrap_or(1),
    })
}

/// The reply of ZMPOP/BZMPOP: the key and its members with scores, in
/// pairs.
pub fn multi_pop_reply(popped: Option<(Bytes, Vec<Scored>)>) -> Reply {
    match popped {
        None => Reply::NilArray,
        Some((key, items)) => Reply::Array(vec![Reply::Bulk(key), paired_scored(items)]),
    }
}

pub fn zmpop(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let pop = parse_multi_pop(argv, 1, ("min", "max"))?;
    let popped = ctx.db().zpop_first(pop.keys, pop.high_end, pop.count)?;
    Ok(multi_pop_reply(popped))
}

/// What ZUNION and friends are asked for.
struct CombineArgs<'a> {
    keys: &'a [Bytes],
    weights: Vec<f64>,
    aggregate: Aggregate,
    with_scores: bool,
    /// ZINTERCARD's LIMIT (0 = none).
    limit: u64,
}

/// Which command's options a combination takes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum CombineForm {
    /// ZUNION, ZINTER, ZDIFF: WITHSCORES allowed.
    Reply,
    /// The STORE forms.
    Store,
    /// ZINTERCARD: LIMIT only.
    Cardinality,
}

/// Parses `numkeys key... [WEIGHTS w...] [AGGREGATE SUM|MIN|MAX]
/// [WITHSCORES] [LIMIT n]` from `argv[at]` on, checking the keys' types
/// between the keys and the options as Redis does.
fn parse_combine<'a>(
    ctx: &Ctx<'_>,
    argv: &'a [Bytes],
    at: usize,
    op: ZSetOp,
    form: CombineForm,
) -> Result<CombineArgs<'a>> {
    let n = int(&argv[at])?;
    if n < 1 {
        let command = argv[0].to_ascii_lowercase();
        return Err(Error::err(format!(
            "at least 1 input key is needed for '{}' command",
            String::from_utf8_lossy(&command)
        )));
    }
    if n > (argv.len() - at - 1) as i64 {
        return Err(Error::Syntax);
    }
    let keys = &argv[at + 1..at + 1 + n as usize];
    ctx.db().check_combine_inputs(keys)?;
    let mut args = CombineArgs {
        keys,
        weights: Vec::new(),
        aggregate: Aggregate::Sum,
        with_scores: false,
        limit: 0,
    };
    let scoring = op != ZSetOp::Diff && form != CombineForm::Cardinality;
    let mut j = at + 1 + keys.len();
    while j < argv.len() {
        let remaining = argv.len() - j;
        let word = &argv[j];
        if scoring && remaining > keys.len() && is(word, "weights") {
            args.weights = argv[j + 1..j + 1 + keys.len()]
                .iter()
                .map(|w| parse_score(w).ok_or_else(|| Error::err("weight value is not a float")))
                .collect::<Result<_>>()?;
            j += 1 + keys.len();
        } else if scoring && remaining >= 2 && is(word, "aggregate") {
            let which = &argv[j + 1];
            args.aggregate = if is(which, "sum") {
                Aggregate::Sum
            } else if is(which, "min") {
                Aggregate::Min
            } else if is(which, "max") {
                Aggregate::Max
            } else {
                return Err(Error::Syntax);
            };
            j += 2;
        } else if form == CombineForm::Reply && is(word, "withscores") {
            args.with_scores = true;
            j += 1;
        } else if form == CombineForm::Cardinality && remaining >= 2 && is(word, "limit") {
            let n = int(&argv[j + 1]).map_err(|_| Error::err("LIMIT can't be negative"))?;
            args.limit = u64::try_from(n).map_err(|_| Error::err("LIMIT can't be negative"))?;
            j += 2;
        } else {
            return Err(Error::Syntax);
        }
    }
    Ok(args)
}

fn combine(ctx: &mut Ctx<'_>, argv: &[Bytes], op: ZSetOp) -> Result<Reply> {
    let args = parse_combine(ctx, argv, 1, op, CombineForm::Reply)?;
    let items = ctx
        .db()
        .zcombine(op, args.keys, &args.weights, args.aggregate)?;
    Ok(scored_reply(ctx, items, args.with_scores))
}

fn combine_store(ctx: &mut Ctx<'_>, argv: &[Bytes], op: ZSetOp) -> Result<Reply> {
    let args = parse_combine(ctx, argv, 2, op, CombineForm::Store)?;
    let stored = ctx
        .db()
        .zcombine_store(op, &argv[1], args.keys, &args.weights, args.aggregate)?;
    Ok(Reply::Integer(stored as i64))
}

pub fn zunion(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    combine(ctx, argv, ZSetOp::Union)
}

pub fn zinter(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    combine(ctx, argv, ZSetOp::Inter)
}

pub fn zdiff(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    combine(ctx, argv, ZSetOp::Diff)
}

pub fn zunionstore(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    combine_store(ctx, argv, ZSetOp::Union)
}

pub fn zinterstore(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    combine_store(ctx, argv, ZSetOp::Inter)
}

pub fn zdiffstore(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    combine_store(ctx, argv, ZSetOp::Diff)
}

pub fn zintercard(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let args = parse_combine(ctx, argv, 1, ZSetOp::Inter, CombineForm::Cardinality)?;
    Ok(Reply::Integer(
        ctx.db().zintercard(args.keys, args.limit)? as i64
    ))
}

pub fn zrandmember(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    match argv.len() {
        2 => {
            let picked = ctx.db().zrandmember(&argv[1], 1)?;
            Ok(Reply::optional(picked.into_iter().next().map(|(m, _)| m)))
        }
        3 | 4 => {
            let with_scores = match argv.get(3) {
                None => false,
                Some(w) if is(w, "withscores") => true,
                Some(_) => return Err(Error::Syntax),
            };
            let count = random_count(&argv[2])?;
            let picked = ctx.db().zrandmember(&argv[1], count)?;
            Ok(scored_reply(ctx, picked, with_scores))
        }
        _ => Err(Error::Syntax),
    }
}

pub fn zscan(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let (next, entries) = scan_collection(ctx, argv, DataType::ZSet, |_| false)?;
    let mut items = Vec::with_capacity(entries.len() * 2);
    for (member, value) in entries {
        let score = score_from_value(&value)?;
        items.push(member);
        items.push(Bytes::from(crate::protocol::format_double(score)));
    }
    Ok(scan_reply(next, items))
}
