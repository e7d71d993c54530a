//! List commands.

use super::args::{int, is, Args};
use super::zset::{parse_multi_pop, pop_count};
use super::Ctx;
use crate::error::{Error, Result};
use crate::protocol::Reply;
use crate::types::list::{End, PosOptions};
use bytes::Bytes;

fn push(ctx: &mut Ctx<'_>, argv: &[Bytes], end: End, only_existing: bool) -> Result<Reply> {
    let len = ctx.db().push(&argv[1], end, &argv[2..], only_existing)?;
    Ok(Reply::Integer(len as i64))
}

pub fn lpush(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    push(ctx, argv, End::Left, false)
}

pub fn rpush(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    push(ctx, argv, End::Right, false)
}

pub fn lpushx(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    push(ctx, argv, End::Left, true)
}

pub fn rpushx(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    push(ctx, argv, End::Right, true)
}

fn pop(ctx: &mut Ctx<'_>, argv: &[Bytes], end: End, command: &str) -> Result<Reply> {
    let count = match argv.len() {
        2 => None,
        3 => Some(pop_count(&argv[2])?),
        _ => {
            return Err(Error::err(format!(
                "wrong number of arguments for '{command}' command"
            )))
        }
    };
    let popped = ctx.db().pop(&argv[1], end, count.unwrap_or(1))?;
    Ok(match (popped, count) {
        (None, None) => Reply::Nil,
        (None, Some(_)) => Reply::NilArray,
        (Some(elements), Some(_)) => Reply::bulks(elements),
        (Some(elements), None) => Reply::optional(elements.into_iter().next()),
    })
}

pub fn lpop(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    pop(ctx, argv, End::Left, "lpop")
}

pub fn rpop(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    pop(ctx, argv, End::Right, "rpop")
}

pub fn llen(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    Ok(Reply::Integer(ctx.db().llen(&argv[1])? as i64))
}

pub fn lindex(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    // As in Redis, the key is looked at before the index.
    if ctx.db().llen(&argv[1])? == 0 {
        return Ok(Reply::Nil);
    }
    let index = int(&argv[2])?;
    Ok(Reply::optional(ctx.db().lindex(&argv[1], index)?))
}

pub fn lrange(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let (start, stop) = (int(&argv[2])?, int(&argv[3])?);
    Ok(Reply::bulks(ctx.db().lrange(&argv[1], start, stop)?))
}

pub fn lset(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    ctx.db().lset(&argv[1], || int(&argv[2]), &argv[3])?;
    Ok(Reply::ok())
}

pub fn ltrim(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let (start, stop) = (int(&argv[2])?, int(&argv[3])?);
    ctx.db().ltrim(&argv[1], start, stop)?;
    Ok(Reply::ok())
}

pub fn lrem(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let count = int(&argv[2])?;
    Ok(Reply::Integer(
        ctx.db().lrem(&argv[1], count, &argv[3])? as i64
    ))
}

pub fn linsert(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let before = if is(&argv[2], "before") {
        true
    } else if is(&argv[2], "after") {
        false
    } else {
        return Err(Error::Syntax);
    };
    Ok(Reply::Integer(
        ctx.db().linsert(&argv[1], before, &argv[3], &argv[4])?,
    ))
}

pub fn lpos(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let mut options = PosOptions {
        rank: 1,
        count: None,
        maxlen: 0,
    };
    let non_negative = |arg: &[u8], message: &'static str| -> Result<u64> {
        int(arg)
            .ok()
            .and_then(|n| u64::try_from(n).ok())
            .ok_or_else(|| Error::err(message))
    };
    let mut args = Args::new(argv, 3);
    while let Some(word) = args.next() {
        if is(word, "rank") && !args.done() {
            options.rank = int(args.value()?)?;
            if options.rank == 0 {
                return Err(Error::err(
                    "RANK can't be zero: use 1 to start from the first match, 2 from the \
                     second ... or use negative to start from the end of the list",
                ));
            }
        } else if is(word, "count") && !args.done() {
            options.count = Some(non_negative(args.value()?, "COUNT can't be negative")?);
        } else if is(word, "maxlen") && !args.done() {
            options.maxlen = non_negative(args.value()?, "MAXLEN can't be negative")?;
        } else {
            return Err(Error::Syntax);
        }
    }
    let found = ctx.db().lpos(&argv[1], &argv[2], options)?;
    Ok(match options.count {
        Some(_) => Reply::Array(
            found
                .into_iter()
                .map(|i| Reply::Integer(i as i64))
                .collect(),
        ),
        None => found
            .first()
            .map_or(Reply::Nil, |&i| Reply::Integer(i as i64)),
    })
}

pub fn end_arg(arg: &[u8]) -> Result<End> {
    if is(arg, "left") {
        Ok(End::Left)
    } else if is(arg, "right") {
        Ok(End::Right)
    } else {
        Err(Error::Syntax)
    }
}

pub fn lmove(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let (from, to) = (end_arg(&argv[3])?, end_arg(&argv[4])?);
    Ok(Reply::optional(
        ctx.db().lmove(&argv[1], &argv[2], from, to)?,
    ))
}

pub fn rpoplpush(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    Ok(Reply::optional(ctx.db().lmove(
        &argv[1],
        &argv[2],
        End::Right,
        End::Left,
    )?))
}

/// The reply of LMPOP/BLMPOP.
pub fn multi_pop_reply(popped: Option<(Bytes, Vec<Bytes>)>) -> Reply {
    match popped {
        None => Reply::NilArray,
        Some((key, elements)) => Reply::Array(vec![Reply::Bulk(key), Reply::bulks(elements)]),
    }
}

/// LMPOP's LEFT|RIGHT as an end.
pub fn multi_pop_end(high_end: bool) -> End {
    if high_end {
        End::Right
    } else {
        End::Left
    }
}

pub fn lmpop(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let pop = parse_multi_pop(argv, 1, ("left", "right"))?;
    let popped = ctx
        .db()
        .pop_first(pop.keys, multi_pop_end(pop.high_end), pop.count)?;
    Ok(multi_pop_reply(popped))
}
