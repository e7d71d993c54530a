//! Hash commands.

use super::args::{int, is};
use super::keyspace::{scan_collection, scan_reply};
use super::Ctx;
use crate::error::{Error, Result};
use crate::protocol::Reply;
use crate::types::field_expiry::{ExpireAt, ExpireCondition, FieldAnswer, MAX_FIELD_EXPIRY_MS};
use crate::types::now_ms;
use crate::types::string::parse_i64;
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

/// The `FIELDS numfields field ...` block that ends the field-expiry
/// commands, at `at`; `count_error` is the command's text for a bad count.
fn fields_block<'a>(
    argv: &'a [Bytes],
    at: usize,
    count_error: &'static str,
) -> Result<&'a [Bytes]> {
    if !is(&argv[at], "fields") {
        return Err(Error::err(
            "Mandatory argument FIELDS is missing or not at the right position",
        ));
    }
    let count = argv
        .get(at + 1)
        .and_then(|n| parse_i64(n))
        .filter(|&n| n >= 1)
        .ok_or_else(|| Error::err(count_error))?;
    let fields = &argv[at + 2..];
    if count as u64 != fields.len() as u64 {
        return Err(Error::err(
            "The `numfields` parameter must match the number of arguments",
        ));
    }
    Ok(fields)
}

/// HEXPIRE / HPEXPIRE / HEXPIREAT / HPEXPIREAT key time [NX|XX|GT|LT]
/// FIELDS numfields field ...: `unit_ms` per unit of time, relative to
/// now or not.
fn hexpire_generic(
    ctx: &mut Ctx<'_>,
    argv: &[Bytes],
    unit_ms: u64,
    relative: bool,
) -> Result<Reply> {
    // As Redis: the type first, then the time, then the fields.
    ctx.db()
        .read_collection_to_write(&argv[1], DataType::Hash)?;
    let name = String::from_utf8_lossy(&argv[0]).to_lowercase();
    let invalid = || Error::err(format!("invalid expire time in '{name}' command"));
    let time = int(&argv[2])?;
    if time < 0 {
        return Err(Error::err("invalid expire time, must be >= 0"));
    }
    let mut at = time as u64;
    if unit_ms == 1000 {
        if at > MAX_FIELD_EXPIRY_MS / 1000 {
            return Err(invalid());
        }
        at *= 1000;
    }
    let base = if relative { now_ms() } else { 0 };
    if at > MAX_FIELD_EXPIRY_MS.saturating_sub(base) {
        return Err(invalid());
    }
    let when = if relative {
        ExpireAt::Relative(at)
    } else {
        ExpireAt::Absolute(at)
    };
    let condition = match argv[3].to_ascii_lowercase().as_slice() {
        b"nx" => ExpireCondition::Nx,
        b"xx" => ExpireCondition::Xx,
        b"gt" => ExpireCondition::Gt,
        b"lt" => ExpireCondition::Lt,
        _ => ExpireCondition::Always,
    };
    let fields_at = if condition == ExpireCondition::Always {
        3
    } else {
        4
    };
    let fields = fields_block(
        argv,
        fields_at,
        "Parameter `numFields` should be greater than 0",
    )?;
    let answers = ctx.db().hexpire(&argv[1], when, condition, fields)?;
    Ok(field_answers(answers, |at| at as i64))
}

/// The field-expiry commands' reply: Redis's code per field, and the
/// expiry of a field that has one shown by `show`.
fn field_answers(answers: Vec<FieldAnswer>, show: impl Fn(u64) -> i64) -> Reply {
    Reply::Array(
        answers
            .into_iter()
            .map(|answer| {
                Reply::Integer(match answer {
                    FieldAnswer::NoField => -2,
                    FieldAnswer::NoExpiry => -1,
                    FieldAnswer::ConditionNotMet => 0,
                    FieldAnswer::Set | FieldAnswer::Persisted => 1,
                    FieldAnswer::Deleted => 2,
                    FieldAnswer::ExpiresAt(at) => show(at),
                })
            })
            .collect(),
    )
}

pub fn hexpire(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    hexpire_generic(ctx, argv, 1000, true)
}

pub fn hpexpire(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    hexpire_generic(ctx, argv, 1, true)
}

pub fn hexpireat(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    hexpire_generic(ctx, argv, 1000, false)
}

pub fn hpexpireat(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    hexpire_generic(ctx, argv, 1, false)
}

/// The fields of HTTL, HPTTL, HEXPIRETIME, HPEXPIRETIME and HPERSIST,
/// after the key's type is checked.
fn ttl_fields<'a>(ctx: &Ctx<'_>, argv: &'a [Bytes]) -> Result<&'a [Bytes]> {
    ctx.db()
        .read_collection_to_write(&argv[1], DataType::Hash)?;
    fields_block(argv, 2, "Number of fields must be a positive integer")
}

/// HTTL and friends: each field's expiry shown by `show(expire_at, now)`,
/// or -2 (no such field) / -1 (no expiry).
fn httl_generic(ctx: &mut Ctx<'_>, argv: &[Bytes], show: fn(u64, u64) -> i64) -> Result<Reply> {
    let fields = ttl_fields(ctx, argv)?;
    // One clock for what is due and what is left.
    let now = now_ms();
    let times = ctx.db().field_expiries_at(&argv[1], fields, now)?;
    Ok(field_answers(times, |at| show(at, now)))
}

pub fn httl(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    // Seconds left, rounded up.
    httl_generic(ctx, argv, |at, now| {
        (at.saturating_sub(now).div_ceil(1000)) as i64
    })
}

pub fn hpttl(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    httl_generic(ctx, argv, |at, now| at.saturating_sub(now) as i64)
}

pub fn hexpiretime(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    httl_generic(ctx, argv, |at, _| at.div_ceil(1000) as i64)
}

pub fn hpexpiretime(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    httl_generic(ctx, argv, |at, _| at as i64)
}

pub fn hpersist(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let fields = ttl_fields(ctx, argv)?;
    let answers = ctx.db().hpersist(&argv[1], fields)?;
    Ok(field_answers(answers, |at| at as i64))
}
