//! Set commands.

use super::args::{int, is, Args};
use super::hash::random_count;
use super::keyspace::{scan_collection, scan_reply};
use super::Ctx;
use crate::error::{Error, Result};
use crate::protocol::Reply;
use crate::types::set::{spop_count, SetOp};
use bytes::Bytes;
use redrock_encoding::DataType;

fn members_reply(members: Vec<Bytes>) -> Reply {
    Reply::Set(members.into_iter().map(Reply::Bulk).collect())
}

pub fn sadd(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    Ok(Reply::Integer(ctx.db().sadd(&argv[1], &argv[2..])? as i64))
}

pub fn srem(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    Ok(Reply::Integer(ctx.db().srem(&argv[1], &argv[2..])? as i64))
}

pub fn scard(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    Ok(Reply::Integer(ctx.db().scard(&argv[1])? as i64))
}

pub fn sismember(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let found = ctx.db().smismember(&argv[1], &argv[2..3])?;
    Ok(Reply::Integer(found[0].into()))
}

pub fn smismember(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let found = ctx.db().smismember(&argv[1], &argv[2..])?;
    Ok(Reply::Array(
        found
            .into_iter()
            .map(|f| Reply::Integer(f.into()))
            .collect(),
    ))
}

pub fn smembers(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    Ok(members_reply(ctx.db().smembers(&argv[1])?))
}

pub fn spop(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    match argv.len() {
        2 => {
            let popped = ctx.db().spop(&argv[1], 1)?;
            Ok(Reply::optional(popped.into_iter().next()))
        }
        3 => {
            let count = spop_count(&argv[2])?;
            Ok(members_reply(ctx.db().spop(&argv[1], count)?))
        }
        _ => Err(Error::Syntax),
    }
}

pub fn srandmember(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    match argv.len() {
        2 => {
            let picked = ctx.db().srandmember(&argv[1], 1)?;
            Ok(Reply::optional(picked.into_iter().next()))
        }
        3 => {
            let count = random_count(&argv[2])?;
            Ok(Reply::bulks(ctx.db().srandmember(&argv[1], count)?))
        }
        _ => Err(Error::Syntax),
    }
}

pub fn smove(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    Ok(Reply::Integer(
        ctx.db().smove(&argv[1], &argv[2], &argv[3])?.into(),
    ))
}

pub fn sinter(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    Ok(members_reply(
        ctx.db().set_combine(SetOp::Inter, &argv[1..])?,
    ))
}

pub fn sunion(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    Ok(members_reply(
        ctx.db().set_combine(SetOp::Union, &argv[1..])?,
    ))
}

pub fn sdiff(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    Ok(members_reply(
        ctx.db().set_combine(SetOp::Diff, &argv[1..])?,
    ))
}

fn store(ctx: &mut Ctx<'_>, argv: &[Bytes], op: SetOp) -> Result<Reply> {
    Ok(Reply::Integer(
        ctx.db().set_combine_store(op, &argv[1], &argv[2..])? as i64,
    ))
}

pub fn sinterstore(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    store(ctx, argv, SetOp::Inter)
}

pub fn sunionstore(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    store(ctx, argv, SetOp::Union)
}

pub fn sdiffstore(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    store(ctx, argv, SetOp::Diff)
}

/// Parses `numkeys key [key ...]` at `argv[at]`, with Redis's errors; the
/// keys and the position after them.
pub fn numkeys(argv: &[Bytes], at: usize) -> Result<(&[Bytes], usize)> {
    let n = int(&argv[at]).map_err(|_| Error::err("numkeys should be greater than 0"))?;
    if n < 1 {
        return Err(Error::err("numkeys should be greater than 0"));
    }
    let first = at + 1;
    if n as usize > argv.len() - first {
        return Err(Error::err(
            "Number of keys can't be greater than number of args",
        ));
    }
    Ok((&argv[first..first + n as usize], first + n as usize))
}

pub fn sintercard(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let (keys, after) = numkeys(argv, 1)?;
    let mut limit = 0u64;
    let mut args = Args::new(argv, after);
    while let Some(word) = args.next() {
        if is(word, "limit") && !args.done() {
            let n = int(args.value()?).map_err(|_| Error::err("LIMIT can't be negative"))?;
            limit = u64::try_from(n).map_err(|_| Error::err("LIMIT can't be negative"))?;
        } else {
            return Err(Error::Syntax);
        }
    }
    Ok(Reply::Integer(ctx.db().sintercard(keys, limit)? as i64))
}

pub fn sscan(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let (next, entries) = scan_collection(ctx, argv, DataType::Set, |_| false)?;
    Ok(scan_reply(next, entries.into_iter().map(|(m, _)| m)))
}
