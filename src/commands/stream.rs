//! Stream commands: argument parsing in Redis's order and with its
//! errors, and the replies.

use super::args::{int, is, text};
use super::blocking::{block, parse_timeout_ms};
use super::Ctx;
use crate::error::{Error, Result};
use crate::protocol::Reply;
use crate::types::stream::{Entry, NewId, SetId, Trim, TrimTo};
use bytes::Bytes;
use redrock_encoding::StreamId;

fn invalid_id() -> Error {
    Error::err("Invalid stream ID specified as stream command argument")
}

/// A number as Redis's `string2ull` reads it: a canonical integer that is
/// not negative, or else what C's `strtoull` takes whole (leading blanks,
/// a sign, digits) without overflow.
fn parse_u64(arg: &[u8]) -> Option<u64> {
    if let Some(n) = crate::types::string::parse_i64(arg) {
        return u64::try_from(n).ok();
    }
    let start = arg.iter().position(|b| !b" \t\n\x0b\x0c\r".contains(b))?;
    let (negative, digits) = match arg[start] {
        b'-' => (true, &arg[start + 1..]),
        b'+' => (false, &arg[start + 1..]),
        _ => (false, &arg[start..]),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = digits.iter().try_fold(0u64, |n, d| {
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })?;
    Some(if negative { n.wrapping_neg() } else { n })
}

/// A parsed id argument: an id, or XADD's `ms-*`.
enum IdArg {
    Id(StreamId),
    NextSeq(u64),
}

/// Parses a stream id as Redis does: `ms-seq`, or `ms` with `missing_seq`;
/// `-` and `+` (the smallest and largest ids) unless `strict`; `ms-*` only
/// when `next_seq`.
fn parse_id_arg(arg: &[u8], missing_seq: u64, strict: bool, next_seq: bool) -> Result<IdArg> {
    if arg.len() > 127 {
        return Err(invalid_id());
    }
    // Redis reads the argument as a C string.
    let arg = arg.split(|&b| b == 0).next().unwrap_or_default();
    match arg {
        b"-" | b"+" if strict => return Err(invalid_id()),
        b"-" => return Ok(IdArg::Id(StreamId::MIN)),
        b"+" => return Ok(IdArg::Id(StreamId::MAX)),
        _ => {}
    }
    let (ms, seq) = match arg.iter().position(|&b| b == b'-') {
        Some(at) => (&arg[..at], Some(&arg[at + 1..])),
        None => (arg, None),
    };
    let ms = parse_u64(ms).ok_or_else(invalid_id)?;
    Ok(match seq {
        Some(b"*") if next_seq => IdArg::NextSeq(ms),
        Some(seq) => IdArg::Id(StreamId::new(ms, parse_u64(seq).ok_or_else(invalid_id)?)),
        None => IdArg::Id(StreamId::new(ms, missing_seq)),
    })
}

fn parse_id(arg: &[u8], missing_seq: u64, strict: bool) -> Result<StreamId> {
    match parse_id_arg(arg, missing_seq, strict, false)? {
        IdArg::Id(id) => Ok(id),
        IdArg::NextSeq(_) => unreachable!("`ms-*` is only read when asked for"),
    }
}

/// An id that must be an id (not `-` or `+`), its sequence 0 if missing.
fn strict_id(arg: &[u8]) -> Result<StreamId> {
    parse_id(arg, 0, true)
}

/// A bound of XRANGE: an id, or after `(` an id the range excludes.
fn interval_id(arg: &[u8], missing_seq: u64) -> Result<(StreamId, bool)> {
    match arg {
        [b'(', id @ ..] if !id.is_empty() => Ok((parse_id(id, missing_seq, true)?, true)),
        _ => Ok((parse_id(arg, missing_seq, false)?, false)),
    }
}

/// The trim options of XADD and XTRIM, and where XADD's id is.
struct AddOrTrim {
    trim: Option<Trim>,
    no_mkstream: bool,
    /// XADD's id (`None` for `*`) and its position.
    id: Option<IdArg>,
    id_at: usize,
}

/// What Redis's trims remove at most with `~` and no LIMIT: 100 nodes of
/// the default 100 entries.
const APPROX_TRIM_LIMIT: u64 = 10_000;

/// Parses the options of XADD (`xadd`, up to its id) or XTRIM, in
/// Redis's order and with its errors.
fn parse_add_or_trim(argv: &[Bytes], xadd: bool) -> Result<AddOrTrim> {
    let mut to = None;
    let mut approx = false;
    let mut limit = None;
    let mut no_mkstream = false;
    let mut id = None;
    let mut i = 2;
    while i < argv.len() {
        let more = argv.len() - 1 - i;
        let opt = &argv[i];
        if xadd && &opt[..] == b"*" {
            break;
        }
        let maxlen = is(opt, "maxlen");
        if (maxlen || is(opt, "minid")) && more > 0 {
            if to.is_some() {
                return Err(Error::err(
                    "syntax error, MAXLEN and MINID options at the same time are not compatible",
                ));
            }
            approx = false;
            let next = &argv[i + 1][..];
            if more >= 2 && (next == b"~" || next == b"=") {
                approx = next == b"~";
                i += 1;
            }
            let arg = &argv[i + 1];
            to = Some(if maxlen {
                let max = int(arg)?;
                if max < 0 {
                    return Err(Error::err("The MAXLEN argument must be >= 0."));
                }
                TrimTo::MaxLen(max as u64)
            } else {
                TrimTo::MinId(strict_id(arg)?)
            });
            i += 1;
        } else if is(opt, "limit") && more > 0 {
            let n = int(&argv[i + 1])?;
            if n < 0 {
                return Err(Error::err("The LIMIT argument must be >= 0."));
            }
            limit = Some(n as u64);
            i += 1;
        } else if xadd && is(opt, "nomkstream") {
            no_mkstream = true;
        } else if xadd {
            id = Some(parse_id_arg(opt, 0, true, true)?);
            break;
        } else {
            return Err(Error::Syntax);
        }
        i += 1;
    }
    if limit.is_some_and(|n| n != 0) && to.is_none() {
        return Err(Error::err(
            "syntax error, LIMIT cannot be used without specifying a trimming strategy",
        ));
    }
    if !xadd && to.is_none() {
        return Err(Error::err(
            "syntax error, XTRIM must be called with a trimming strategy",
        ));
    }
    if limit.is_some() && !approx {
        return Err(Error::err(
            "syntax error, LIMIT cannot be used without the special ~ option",
        ));
    }
    // `~` trims exactly, but no more than LIMIT entries (0: no bound).
    let limit = match limit {
        Some(0) => None,
        Some(n) => Some(n),
        None => approx.then_some(APPROX_TRIM_LIMIT),
    };
    Ok(AddOrTrim {
        trim: to.map(|to| Trim { to, limit }),
        no_mkstream,
        id,
        id_at: i,
    })
}

pub fn xadd(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let options = parse_add_or_trim(argv, true)?;
    let fields = argv.get(options.id_at + 1..).unwrap_or_default();
    if fields.len() < 2 || !fields.len().is_multiple_of(2) {
        return Err(Error::err("wrong number of arguments for 'xadd' command"));
    }
    let id = match options.id {
        None => NewId::Auto,
        Some(IdArg::Id(StreamId::MIN)) => {
            return Err(Error::err(
                "The ID specified in XADD must be greater than 0-0",
            ))
        }
        Some(IdArg::Id(id)) => NewId::At(id),
        Some(IdArg::NextSeq(ms)) => NewId::NextSeq(ms),
    };
    let added = ctx.db().xadd(
        &argv[1],
        id,
        fields,
        options.no_mkstream,
        options.trim.as_ref(),
    )?;
    Ok(added.map_or(Reply::Nil, |id| Reply::Bulk(id.to_string().into())))
}

pub fn xtrim(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let options = parse_add_or_trim(argv, false)?;
    let trim = options.trim.expect("XTRIM's options name a trim");
    Ok(Reply::Integer(ctx.db().xtrim(&argv[1], &trim)? as i64))
}

pub fn xdel(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let ids = || argv[2..].iter().map(|a| strict_id(a)).collect();
    Ok(Reply::Integer(ctx.db().xdel(&argv[1], ids)? as i64))
}

pub fn xlen(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let stream = ctx.db().read_stream(&argv[1])?;
    Ok(Reply::Integer(
        stream.map_or(0, |(_, meta)| meta.size as i64),
    ))
}

/// Entries as Redis replies with them: id, then fields and values.
fn entries_reply(entries: Vec<Entry>) -> Reply {
    Reply::Array(
        entries
            .into_iter()
            .map(|(id, fields)| {
                Reply::Array(vec![
                    Reply::Bulk(id.to_string().into()),
                    Reply::bulks(fields),
                ])
            })
            .collect(),
    )
}

fn range(ctx: &mut Ctx<'_>, argv: &[Bytes], rev: bool) -> Result<Reply> {
    let (start, end) = if rev {
        (&argv[3], &argv[2])
    } else {
        (&argv[2], &argv[3])
    };
    let (mut start, exclusive) = interval_id(start, 0)?;
    if exclusive {
        start = start
            .next()
            .ok_or_else(|| Error::err("invalid start ID for the interval"))?;
    }
    let (mut end, exclusive) = interval_id(end, u64::MAX)?;
    if exclusive {
        end = end
            .prev()
            .ok_or_else(|| Error::err("invalid end ID for the interval"))?;
    }
    let mut count = None;
    let mut at = 4;
    while at < argv.len() {
        if !(is(&argv[at], "count") && at + 1 < argv.len()) {
            return Err(Error::Syntax);
        }
        count = Some(int(&argv[at + 1])?.max(0) as usize);
        at += 2;
    }
    let db = ctx.db();
    let Some(stream) = db.read_stream(&argv[1])? else {
        return Ok(Reply::Array(Vec::new()));
    };
    if count == Some(0) {
        return Ok(Reply::NilArray);
    }
    let entries = db.stream_range(&argv[1], &stream, start, end, rev, count)?;
    Ok(entries_reply(entries))
}

pub fn xrange(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    range(ctx, argv, false)
}

pub fn xrevrange(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    range(ctx, argv, true)
}

pub fn xsetid(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let mut set = SetId {
        last_id: strict_id(&argv[2])?,
        entries_added: None,
        max_deleted_id: None,
    };
    let mut at = 3;
    while at < argv.len() {
        let value = argv.get(at + 1).ok_or(Error::Syntax)?;
        if is(&argv[at], "entriesadded") {
            let added = int(value)?;
            if added < 0 {
                return Err(Error::err("entries_added must be positive"));
            }
            set.entries_added = Some(added as u64);
        } else if is(&argv[at], "maxdeletedid") {
            let id = strict_id(value)?;
            if set.last_id < id {
                return Err(Error::err(
                    "The ID specified in XSETID is smaller than the provided max_deleted_entry_id",
                ));
            }
            set.max_deleted_id = Some(id);
        } else {
            return Err(Error::Syntax);
        }
        at += 2;
    }
    ctx.db().xsetid(&argv[1], &set)?;
    Ok(Reply::ok())
}

pub fn xread(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let mut timeout = None;
    let mut count = None;
    let mut streams_at = 0;
    let mut i = 1;
    while i < argv.len() {
        let more = argv.len() - i - 1;
        let opt = &argv[i];
        if is(opt, "block") && more > 0 {
            if ctx.in_script() {
                return Err(Error::err(format!(
                    "{} command is not allowed with BLOCK option from scripts",
                    text(&argv[0])
                )));
            }
            i += 1;
            timeout = Some(parse_timeout_ms(&argv[i])?);
        } else if is(opt, "count") && more > 0 {
            i += 1;
            // 0 and below: no bound.
            count = usize::try_from(int(&argv[i])?).ok().filter(|&n| n > 0);
        } else if is(opt, "streams") && more > 0 {
            streams_at = i + 1;
            if !(argv.len() - streams_at).is_multiple_of(2) {
                return Err(Error::err(
                    "Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified.",
                ));
            }
            break;
        } else if is(opt, "group") && more >= 2 {
            return Err(Error::err(
                "The GROUP option is only supported by XREADGROUP. You called XREAD instead.",
            ));
        } else if is(opt, "noack") {
            return Err(Error::err(
                "The NOACK option is only supported by XREADGROUP. You called XREAD instead.",
            ));
        } else {
            return Err(Error::Syntax);
        }
        i += 1;
    }
    if streams_at == 0 {
        return Err(Error::Syntax);
    }
    let (keys, ids) = argv[streams_at..].split_at((argv.len() - streams_at) / 2);
    let (after, served) = {
        let db = ctx.db();
        // Each key's type is checked before its id is read, as in Redis.
        let mut streams = Vec::with_capacity(keys.len());
        let mut after = Vec::with_capacity(keys.len());
        for (key, id) in keys.iter().zip(ids) {
            let stream = db.read_stream(key)?;
            after.push(match &id[..] {
                b"$" => stream.map_or(StreamId::MIN, |(_, meta)| meta.stream.last_id),
                b">" => {
                    return Err(Error::err(
                        "The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.",
                    ))
                }
                _ => strict_id(id)?,
            });
            streams.push(stream);
        }
        let mut served = Vec::new();
        for ((key, stream), id) in keys.iter().zip(&streams).zip(&after) {
            let (Some(stream), Some(start)) = (stream, id.next()) else {
                continue;
            };
            let entries = db.stream_range(key, stream, start, StreamId::MAX, false, count)?;
            if !entries.is_empty() {
                served.push((key.clone(), entries_reply(entries)));
            }
        }
        (after, served)
    };
    if !served.is_empty() {
        // RESP3 gives a map of streams; RESP2 pairs of key and entries.
        return Ok(if ctx.client.protocol >= 3 {
            Reply::Map(
                served
                    .into_iter()
                    .map(|(key, entries)| (Reply::Bulk(key), entries))
                    .collect(),
            )
        } else {
            Reply::Array(
                served
                    .into_iter()
                    .map(|(key, entries)| Reply::Array(vec![Reply::Bulk(key), entries]))
                    .collect(),
            )
        });
    }
    let Some(timeout) = timeout else {
        return Ok(Reply::NilArray);
    };
    // Run again, `$` stands for the last id it stood for now.
    let mut retry = argv.to_vec();
    for (arg, id) in retry[streams_at + keys.len()..].iter_mut().zip(&after) {
        if &arg[..] == b"$" {
            *arg = Bytes::from(id.to_string());
        }
    }
    block(ctx, keys, timeout, Reply::NilArray, Some(retry))
}
