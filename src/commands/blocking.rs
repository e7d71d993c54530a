//! Blocking commands: each tries its non-blocking form and, when there is
//! nothing to serve, asks the connection to wait on its keys and run it
//! again (see `server::blocking`).

use super::list::{multi_pop_end, multi_pop_reply};
use super::zset::{self, parse_multi_pop};
use super::Ctx;
use crate::error::{Error, Result};
use crate::protocol::Reply;
use crate::server::BlockRequest;
use crate::types::list::End;
use crate::types::now_ms;
use bytes::Bytes;
use std::time::Duration;

/// Parses a timeout in seconds (fractions allowed, 0 = for ever) as Redis
/// does: the milliseconds are rounded up, so a tiny positive waits 1 ms
/// (not for ever) and a tiny negative is 0.
pub fn parse_timeout(arg: &[u8]) -> Result<Option<Duration>> {
    let seconds = crate::types::zset::parse_long_double(arg)
        .ok_or_else(|| Error::err("timeout is not a float or out of range"))?;
    timeout_of_ms((seconds * 1000.0).ceil())
}

/// Parses a timeout in whole milliseconds (XREAD's BLOCK), 0 = for ever.
pub fn parse_timeout_ms(arg: &[u8]) -> Result<Option<Duration>> {
    let ms = crate::types::string::parse_i64(arg)
        .ok_or_else(|| Error::err("timeout is not an integer or out of range"))?;
    timeout_of_ms(ms as f64)
}

fn timeout_of_ms(ms: f64) -> Result<Option<Duration>> {
    if ms < 0.0 {
        return Err(Error::err("timeout is negative"));
    }
    if ms >= (i64::MAX as u64 - now_ms()) as f64 {
        return Err(Error::err("timeout is out of range"));
    }
    Ok((ms > 0.0).then(|| Duration::from_millis(ms as u64)))
}

/// Asks the connection to wait on `keys` and run the command again (as
/// `retry` when given).
pub fn block(
    ctx: &mut Ctx<'_>,
    keys: &[Bytes],
    timeout: Option<Duration>,
    timeout_reply: Reply,
    retry: Option<Vec<Bytes>>,
) -> Result<Reply> {
    // Inside EXEC a blocking command acts as its non-blocking form.
    if ctx.in_transaction() {
        return Ok(timeout_reply);
    }
    ctx.client.block = Some(BlockRequest {
        keys: keys.to_vec(),
        timeout,
        timeout_reply,
        retry,
    });
    Ok(Reply::Nil)
}

fn blocking_pop(ctx: &mut Ctx<'_>, argv: &[Bytes], end: End) -> Result<Reply> {
    let timeout = parse_timeout(&argv[argv.len() - 1])?;
    let keys = &argv[1..argv.len() - 1];
    match ctx.db().pop_first(keys, end, 1)? {
        Some((key, popped)) => {
            let mut reply = vec![Reply::Bulk(key)];
            reply.extend(popped.into_iter().map(Reply::Bulk));
            Ok(Reply::Array(reply))
        }
        None => block(ctx, keys, timeout, Reply::NilArray, None),
    }
}

pub fn blpop(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    blocking_pop(ctx, argv, End::Left)
}

pub fn brpop(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    blocking_pop(ctx, argv, End::Right)
}

fn blocking_move(
    ctx: &mut Ctx<'_>,
    argv: &[Bytes],
    from: End,
    to: End,
    timeout: &[u8],
) -> Result<Reply> {
    let timeout = parse_timeout(timeout)?;
    match ctx.db().lmove(&argv[1], &argv[2], from, to)? {
        Some(element) => Ok(Reply::Bulk(element)),
        // Inside EXEC, LMOVE's null; as in Redis, a timeout answers a null
        // array.
        None if ctx.in_transaction() => Ok(Reply::Nil),
        None => block(ctx, &argv[1..2], timeout, Reply::NilArray, None),
    }
}

pub fn brpoplpush(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    blocking_move(ctx, argv, End::Right, End::Left, &argv[3])
}

pub fn blmove(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let from = super::list::end_arg(&argv[3])?;
    let to = super::list::end_arg(&argv[4])?;
    blocking_move(ctx, argv, from, to, &argv[5])
}

pub fn blmpop(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let pop = parse_multi_pop(argv, 2, ("left", "right"))?;
    let timeout = parse_timeout(&argv[1])?;
    match ctx
        .db()
        .pop_first(pop.keys, multi_pop_end(pop.high_end), pop.count)?
    {
        Some(popped) => Ok(multi_pop_reply(Some(popped))),
        None => block(ctx, pop.keys, timeout, Reply::NilArray, None),
    }
}

fn blocking_zpop(ctx: &mut Ctx<'_>, argv: &[Bytes], max: bool) -> Result<Reply> {
    let timeout = parse_timeout(&argv[argv.len() - 1])?;
    let keys = &argv[1..argv.len() - 1];
    match ctx.db().zpop_first(keys, max, 1)? {
        Some((key, popped)) => {
            let mut reply = vec![Reply::Bulk(key)];
            reply.extend(zset::flat_scored(popped));
            Ok(Reply::Array(reply))
        }
        None => block(ctx, keys, timeout, Reply::NilArray, None),
    }
}

pub fn bzpopmin(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    blocking_zpop(ctx, argv, false)
}

pub fn bzpopmax(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    blocking_zpop(ctx, argv, true)
}

pub fn bzmpop(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let pop = parse_multi_pop(argv, 2, ("min", "max"))?;
    let timeout = parse_timeout(&argv[1])?;
    match ctx.db().zpop_first(pop.keys, pop.high_end, pop.count)? {
        Some(popped) => Ok(zset::multi_pop_reply(Some(popped))),
        None => block(ctx, pop.keys, timeout, Reply::NilArray, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_round_up_to_the_millisecond() {
        let ms = |arg: &str| parse_timeout(arg.as_bytes()).unwrap();
        assert_eq!(ms("0.0001"), Some(Duration::from_millis(1)));
        assert_eq!(ms("1.0005"), Some(Duration::from_millis(1001)));
        assert_eq!(ms("0"), None);
        assert_eq!(ms("-0.0001"), None);
        assert!(parse_timeout(b"-0.002").is_err());
        // Too small for a double, not for Redis's long double.
        assert_eq!(ms("1e-400"), Some(Duration::from_millis(1)));
        assert_eq!(ms("-1e-400"), None);
        assert!(parse_timeout(b" 1").is_err());
    }
}
