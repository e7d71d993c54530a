//! Hash commands.

use super::args::{int, is};
use super::keyspace::{scan_collection, scan_reply};
use super::Ctx;
use crate::error::{Error, Result};
use crate::protocol::Reply;
use bytes::Bytes;
use redrock_encoding::DataType;

fn field_values(argv: &[Bytes], command: &str) -> Result<Vec<(Bytes, Bytes)>> {
    if argv.len() < 4 || !argv.len().is_multiple_of(2) {
        return Err(Error::err(format!(
            "wrong number of arguments for '{command}' command"
        )));
    }
    Ok(argv[2..]
        .chunks(2)
        .map(|p| (p[0].clone(), p[1].clone()))
        .collect())
}

pub fn hset(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let pairs = field_values(argv, "hset")?;
    Ok(Reply::Integer(
        ctx.db().hset(&argv[1], &pairs, false)? as i64
    ))
}

pub fn hmset(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let pairs = field_values(argv, "hmset")?;
    ctx.db().hset(&argv[1], &pairs, false)?;
    Ok(Reply::ok())
}

pub fn hsetnx(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let pairs = [(argv[2].clone(), argv[3].clone())];
    Ok(Reply::Integer(ctx.db().hset(&argv[1], &pairs, true)? as i64))
}

pub fn hget(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    Ok(Reply::optional(ctx.db().hget(&argv[1], &argv[2])?))
}

pub fn hmget(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let values = ctx.db().hmget(&argv[1], &argv[2..])?;
    Ok(Reply::Array(
        values.into_iter().map(Reply::optional).collect(),
    ))
}

pub fn hdel(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    Ok(Reply::Integer(ctx.db().hdel(&argv[1], &argv[2..])? as i64))
}

pub fn hlen(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    Ok(Reply::Integer(ctx.db().hlen(&argv[1])? as i64))
}

pub fn hexists(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    Ok(Reply::Integer(ctx.db().hexists(&argv[1], &argv[2])?.into()))
}

pub fn hstrlen(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    Ok(Reply::Integer(ctx.db().hstrlen(&argv[1], &argv[2])? as i64))
}

pub fn hgetall(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let pairs = ctx.db().hgetall(&argv[1])?;
    Ok(Reply::Map(
        pairs
            .into_iter()
            .map(|(f, v)| (Reply::Bulk(f), Reply::Bulk(v)))
            .collect(),
    ))
}

pub fn hkeys(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let pairs = ctx.db().hgetall(&argv[1])?;
    Ok(Reply::bulks(pairs.into_iter().map(|(f, _)| f)))
}

pub fn hvals(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let pairs = ctx.db().hgetall(&argv[1])?;
    Ok(Reply::bulks(pairs.into_iter().map(|(_, v)| v)))
}

pub fn hincrby(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let delta = int(&argv[3])?;
    Ok(Reply::Integer(ctx.db().hincrby(&argv[1], &argv[2], delta)?))
}

pub fn hincrbyfloat(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    Ok(Reply::Bulk(
        ctx.db().hincrbyfloat(&argv[1], &argv[2], &argv[3])?,
    ))
}

/// The most members a negative HRANDFIELD / SRANDMEMBER count may ask
/// for: the reply is built in memory, and Redis's limit (2^63) would let
/// one request exhaust it.
const MAX_REPEATED_PICKS: i64 = 10_000_000;

/// The count argument of HRANDFIELD / SRANDMEMBER, with Redis's range.
pub fn random_count(arg: &[u8]) -> Result<i64> {
    let n = int(arg)?;
    if n == i64::MIN {
        return Err(Error::err(
            "value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        ));
    }
    if n < -MAX_REPEATED_PICKS {
        return Err(Error::err(format!(
            "value is out of range, a negative count may ask for at most {MAX_REPEATED_PICKS} members"
        )));
    }
    Ok(n)
}

pub fn hrandfield(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    if argv.len() == 2 {
        let picked = ctx.db().hrandfield(&argv[1], 1)?;
        return Ok(Reply::optional(picked.into_iter().next().map(|(f, _)| f)));
    }
    let count = random_count(&argv[2])?;
    let with_values = match argv.get(3) {
        None => false,
        Some(arg) if is(arg, "withvalues") && argv.len() == 4 => true,
        Some(_) => return Err(Error::Syntax),
    };
    // Field and value per pick: the reply's length must not overflow.
    if with_values && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&count) {
        return Err(Error::err("value is out of range"));
    }
    let picked = ctx.db().hrandfield(&argv[1], count)?;
    Ok(if with_values {
        // RESP3 gives field/value pairs; RESP2 a flat list.
        if ctx.client.protocol >= 3 {
            Reply::Array(
                picked
                    .into_iter()
                    .map(|(f, v)| Reply::Array(vec![Reply::Bulk(f), Reply::Bulk(v)]))
                    .collect(),
            )
        } else {
            Reply::bulks(picked.into_iter().flat_map(|(f, v)| [f, v]))
        }
    } else {
        Reply::bulks(picked.into_iter().map(|(f, _)| f))
    })
}

/// The reply of a scan over a missing key.
pub fn hscan(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let mut no_values = false;
    let (next, entries) = scan_collection(ctx, argv, DataType::Hash, |word| {
        let novalues = is(word, "novalues");
        no_values |= novalues;
        novalues
    })?;
    let items = entries
        .into_iter()
        .flat_map(|(f, v)| if no_values { vec![f] } else { vec![f, v] });
    Ok(scan_reply(next, items))
}
