//! Key commands for every type: existence, expiry, renaming, copying,
//! iteration and OBJECT.

use super::args::{int, is, text, Args};
use super::Ctx;
use crate::error::{Error, Result};
use crate::protocol::Reply;
use crate::types::collection::ScanStep;
use crate::types::keyspace::{ExpireCondition, Ttl};
use crate::types::now_ms;
use bytes::Bytes;
use redrock_encoding::DataType;

pub fn del(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    Ok(Reply::Integer(ctx.db().delete(&argv[1..])?))
}

pub fn exists(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    Ok(Reply::Integer(ctx.db().exists(&argv[1..])?))
}

pub fn key_type(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let name = ctx.db().key_type(&argv[1])?.map_or("none", DataType::name);
    Ok(Reply::status(name))
}

fn expire_generic(
    ctx: &mut Ctx<'_>,
    argv: &[Bytes],
    millis: bool,
    absolute: bool,
) -> Result<Reply> {
    let mut condition = ExpireCondition::default();
    for opt in &argv[3..] {
        if is(opt, "nx") {
            condition.nx = true;
        } else if is(opt, "xx") {
            condition.xx = true;
        } else if is(opt, "gt") {
            condition.gt = true;
        } else if is(opt, "lt") {
            condition.lt = true;
        } else {
            return Err(Error::err(format!("Unsupported option {}", text(opt))));
        }
    }
    if condition.nx && (condition.xx || condition.gt || condition.lt) {
        return Err(Error::err(
            "NX and XX, GT or LT options at the same time are not compatible",
        ));
    }
    if condition.gt && condition.lt {
        return Err(Error::err(
            "GT and LT options at the same time are not compatible",
        ));
    }
    let command = super::lookup(&argv[0]).map_or("expire", |c| c.name);
    let invalid = || Error::err(format!("invalid expire time in '{command}' command"));
    let mut when = int(&argv[2])?;
    if !millis {
        when = when.checked_mul(1000).ok_or_else(invalid)?;
    }
    if !absolute {
        when = when.checked_add(now_ms() as i64).ok_or_else(invalid)?;
    }
    Ok(Reply::Integer(
        ctx.db().expire_at(&argv[1], when, condition)?.into(),
    ))
}

pub fn expire(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    expire_generic(ctx, argv, false, false)
}

pub fn pexpire(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    expire_generic(ctx, argv, true, false)
}

pub fn expireat(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    expire_generic(ctx, argv, false, true)
}

pub fn pexpireat(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    expire_generic(ctx, argv, true, true)
}

/// TTL-family replies: -2 missing, -1 no expiry, else the value from the
/// expiry (absolute Unix ms).
fn ttl_reply(ctx: &mut Ctx<'_>, key: &[u8], value: impl Fn(u64) -> i64) -> Result<Reply> {
    Ok(Reply::Integer(match ctx.db().ttl(key)? {
        Ttl::Missing => -2,
        Ttl::Persistent => -1,
        Ttl::At(at) => value(at),
    }))
}

fn remaining_ms(at: u64) -> i64 {
    (at as i64 - now_ms() as i64).max(0)
}

pub fn ttl(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    ttl_reply(ctx, &argv[1], |at| (remaining_ms(at) + 500) / 1000)
}

pub fn pttl(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    ttl_reply(ctx, &argv[1], remaining_ms)
}

pub fn expiretime(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    ttl_reply(ctx, &argv[1], |at| at as i64 / 1000)
}

pub fn pexpiretime(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    ttl_reply(ctx, &argv[1], |at| at as i64)
}

pub fn persist(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    Ok(Reply::Integer(ctx.db().persist(&argv[1])?.into()))
}

pub fn rename(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    ctx.db().rename(&argv[1], &argv[2], false)?;
    Ok(Reply::ok())
}

pub fn renamenx(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    Ok(Reply::Integer(
        ctx.db().rename(&argv[1], &argv[2], true)?.into(),
    ))
}

/// The keyspace handle of database `index`, or Redis's error.
fn database(ctx: &Ctx<'_>, index: i64) -> Result<std::sync::Arc<crate::types::KeyspaceHandle>> {
    usize::try_from(index)
        .ok()
        .and_then(|i| ctx.server.databases.get(i))
        .cloned()
        .ok_or_else(|| Error::err("DB index is out of range"))
}

pub fn copy(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let mut replace = false;
    let mut target = ctx.client.db.clone();
    let mut args = Args::new(argv, 3);
    while let Some(word) = args.next() {
        if is(word, "replace") {
            replace = true;
        } else if is(word, "db") && !args.done() {
            let index = int(args.value()?)?;
            if ctx.server.cluster.is_some() && index != 0 {
                return Err(Error::err(
                    "Copying to another database is not allowed in cluster mode",
                ));
            }
            target = database(ctx, index)?;
        } else {
            return Err(Error::Syntax);
        }
    }
    if target.index == ctx.client.db.index && argv[1] == argv[2] {
        return Err(Error::err("source and destination objects are the same"));
    }
    let db = ctx.db();
    let dst = db.other(&target);
    Ok(Reply::Integer(
        db.copy_to(&argv[1], &dst, &argv[2], replace)?.into(),
    ))
}

pub fn move_key(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    if ctx.server.cluster.is_some() {
        return Err(Error::err("MOVE is not allowed in cluster mode"));
    }
    let index = int(&argv[2])?;
    if i32::try_from(index).is_err() {
        return Err(Error::NotInteger);
    }
    let target = database(ctx, index)?;
    if target.index == ctx.client.db.index {
        return Err(Error::err("source and destination objects are the same"));
    }
    let db = ctx.db();
    let dst = db.other(&target);
    Ok(Reply::Integer(db.move_to(&argv[1], &dst)?.into()))
}

pub fn keys(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    Ok(Reply::bulks(ctx.db().keys(&argv[1])?))
}

/// The TYPE argument of SCAN: a type name, which may match nothing.
fn type_filter(name: &[u8]) -> Option<DataType> {
    [
        DataType::String,
        DataType::Hash,
        DataType::List,
        DataType::Set,
        DataType::ZSet,
        DataType::Stream,
    ]
    .into_iter()
    .find(|t| is(name, t.name()))
}

/// The options of SCAN and its per-key variants.
pub struct ScanOptions {
    /// MATCH, unless it is `*` (which matches everything).
    pub pattern: Option<Bytes>,
    pub count: usize,
    /// TYPE (SCAN only): `Some(None)` for a type name that matches nothing.
    pub data_type: Option<Option<DataType>>,
}

/// Parses MATCH, COUNT and (when `allow_type`) TYPE; `extra` may accept
/// a flag word of its own (HSCAN's NOVALUES).
pub fn scan_options(
    mut args: Args<'_>,
    allow_type: bool,
    mut extra: impl FnMut(&[u8]) -> bool,
) -> Result<ScanOptions> {
    let mut options = ScanOptions {
        pattern: None,
        count: 10,
        data_type: None,
    };
    while let Some(word) = args.next() {
        if is(word, "count") {
            let n = int(args.value()?)?;
            if n < 1 {
                return Err(Error::Syntax);
            }
            options.count = n.min(1 << 20) as usize;
        } else if is(word, "match") {
            let p = args.value()?;
            options.pattern = (&p[..] != b"*").then(|| p.clone());
        } else if allow_type && is(word, "type") {
            options.data_type = Some(type_filter(args.value()?));
        } else if !extra(word) {
            return Err(Error::Syntax);
        }
    }
    Ok(options)
}

pub fn scan(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let cursor = parse_cursor(&argv[1]).ok_or_else(|| Error::err("invalid cursor"))?;
    let options = scan_options(Args::new(argv, 2), true, |_| false)?;
    let (next, mut keys) = ctx.db().scan(
        &ctx.server.scan_cursors,
        cursor,
        options.pattern.as_deref(),
        options.data_type.flatten(),
        options.count,
    )?;
    if options.data_type == Some(None) {
        // An unknown type matches no key; the walk still advances the cursor.
        keys.clear();
    }
    Ok(scan_reply(next, keys))
}

/// A SCAN-family reply: the next cursor and the items.
pub fn scan_reply(next: u64, items: impl IntoIterator<Item = Bytes>) -> Reply {
    Reply::Array(vec![
        Reply::Bulk(Bytes::from(next.to_string())),
        Reply::bulks(items),
    ])
}

/// One step of HSCAN / SSCAN / ZSCAN on `argv[1]`, a collection of
/// `data_type`: the next cursor and the members examined that match, with
/// their stored values (a finished, empty scan when the key is missing).
/// As in Redis the key is looked at before the options; `extra` may claim
/// an option word of its own.
pub fn scan_collection(
    ctx: &Ctx<'_>,
    argv: &[Bytes],
    data_type: DataType,
    extra: impl FnMut(&[u8]) -> bool,
) -> Result<ScanStep> {
    let cursor = parse_cursor(&argv[2]).ok_or_else(|| Error::err("invalid cursor"))?;
    if ctx.db().read_collection(&argv[1], data_type)?.is_none() {
        return Ok(ScanStep::default());
    }
    let options = scan_options(Args::new(argv, 3), false, extra)?;
    ctx.db().scan_members(
        &ctx.server.scan_cursors,
        &argv[1],
        data_type,
        cursor,
        options.pattern.as_deref(),
        options.count,
    )
}

/// Reads a cursor as Redis does (C's `strtoul`): an optional sign, digits,
/// no spaces, no overflow; a negative number wraps around.
pub fn parse_cursor(text: &[u8]) -> Option<u64> {
    let (negative, digits) = match text.first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let value: u64 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some(if negative {
        value.wrapping_neg()
    } else {
        value
    })
}

pub fn randomkey(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Result<Reply> {
    Ok(Reply::optional(ctx.db().random_key()?))
}

/// Redis's encoding name for a string value.
fn string_encoding(value: &[u8]) -> &'static str {
    if value.len() <= 20 && crate::types::string::parse_i64(value).is_some() {
        "int"
    } else if value.len() <= 44 {
        "embstr"
    } else {
        "raw"
    }
}

pub fn object_encoding(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let db = ctx.db();
    let Some(stored) = db.lookup(&argv[2], now_ms())? else {
        return Ok(Reply::Nil);
    };
    let encoding = match stored.header.data_type {
        DataType::String => string_encoding(stored.body()),
        _ => {
            let meta = redrock_encoding::Metadata::decode(&stored.raw)?;
            db.collection_encoding(&argv[2], &meta, stored.slot)?
        }
    };
    Ok(Reply::bulk(encoding))
}

/// Redis shares the objects of small integers; their refcount is INT_MAX.
pub fn object_refcount(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let db = ctx.db();
    let Some(stored) = db.lookup(&argv[2], now_ms())? else {
        return Ok(Reply::Nil);
    };
    let shared = stored.header.data_type == DataType::String
        && crate::types::string::parse_i64(stored.body()).is_some_and(|n| (0..10_000).contains(&n));
    Ok(Reply::Integer(if shared { i32::MAX as i64 } else { 1 }))
}

/// Access times are not tracked on disk; every key reports 0 seconds idle.
pub fn object_idletime(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    Ok(match ctx.db().key_type(&argv[2])? {
        Some(_) => Reply::Integer(0),
        None => Reply::Nil,
    })
}

/// There is no LFU eviction policy, so, as in Redis without one, access
/// frequency is not tracked.
pub fn object_freq(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    if ctx.db().key_type(&argv[2])?.is_none() {
        return Ok(Reply::Nil);
    }
    Err(Error::err(
        "An LFU maxmemory policy is not selected, access frequency not tracked. \
         Please note that when switching between policies at runtime LRU and LFU data \
         will take some time to adjust.",
    ))
}

pub fn object_help(_ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Result<Reply> {
    Ok(super::help_reply(
        "OBJECT",
        &[
            "ENCODING <key>",
            "    Return the kind of internal representation used in order to store the value",
            "    associated with a <key>.",
            "FREQ <key>",
            "    Return the access frequency index of the <key>. The returned integer is",
            "    proportional to the logarithm of the recent access frequency of the key.",
            "IDLETIME <key>",
            "    Return the idle time of the <key>, that is the approximated number of",
            "    seconds elapsed since the last access to the key.",
            "REFCOUNT <key>",
            "    Return the number of references of the value associated with the specified",
            "    <key>.",
        ],
    ))
}

#[cfg(test)]
mod tests {
    use super::parse_cursor;

    #[test]
    fn cursors_parse_like_strtoul() {
        assert_eq!(parse_cursor(b"0"), Some(0));
        assert_eq!(parse_cursor(b"+7"), Some(7));
        assert_eq!(parse_cursor(b"-1"), Some(u64::MAX));
        assert_eq!(parse_cursor(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_cursor(b"18446744073709551616"), None);
        assert_eq!(parse_cursor(b" 1"), None);
        assert_eq!(parse_cursor(b"1x"), None);
        assert_eq!(parse_cursor(b""), None);
    }
}
