//! String commands.

use super::args::{int, is, Args};
use super::Ctx;
use crate::error::{Error, Result};
use crate::protocol::Reply;
use crate::types::fragments::string_len;
use crate::types::string::SetCondition;
use crate::types::{now_ms, Expiry};
use bytes::Bytes;

/// The unit of an expire argument.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum TimeUnit {
    Seconds,
    Millis,
}

/// Converts a relative or absolute expire argument to an absolute time,
/// with Redis's checks: positive, and no overflow.
pub fn expire_time(arg: &[u8], unit: TimeUnit, relative: bool, command: &str) -> Result<u64> {
    let invalid = || Error::err(format!("invalid expire time in '{command}' command"));
    let n = int(arg)?;
    if n <= 0 {
        return Err(invalid());
    }
    let ms = match unit {
        TimeUnit::Seconds => n.checked_mul(1000).ok_or_else(invalid)?,
        TimeUnit::Millis => n,
    };
    let at = if relative {
        ms.checked_add(now_ms() as i64).ok_or_else(invalid)?
    } else {
        ms
    };
    Ok(at as u64)
}

/// The options of SET (`for_set`) or GETEX, read as Redis reads them: an
/// option may repeat (the last expiry wins) but not clash with another, and
/// the expiry value is checked only once every option is known.
#[derive(Default)]
struct StringOptions<'a> {
    nx: bool,
    xx: bool,
    get: bool,
    keepttl: bool,
    persist: bool,
    /// The expiry option's unit, whether it is relative, and its value.
    expire: Option<(TimeUnit, bool, &'a Bytes)>,
}

fn parse_string_options<'a>(
    argv: &'a [Bytes],
    start: usize,
    for_set: bool,
) -> Result<StringOptions<'a>> {
    let mut o = StringOptions::default();
    let mut j = start;
    while j < argv.len() {
        let opt = &argv[j];
        let next = argv.get(j + 1);
        let expire_kind =
            |o: &StringOptions<'_>| o.expire.map(|(unit, relative, _)| (unit, relative));
        let other_expiry = |o: &StringOptions<'_>, mine: (TimeUnit, bool)| {
            o.keepttl || o.persist || expire_kind(o).is_some_and(|k| k != mine)
        };
        if for_set && is(opt, "nx") && !o.xx {
            o.nx = true;
        } else if for_set && is(opt, "xx") && !o.nx {
            o.xx = true;
        } else if for_set && is(opt, "get") {
            o.get = true;
        } else if for_set && is(opt, "keepttl") && o.expire.is_none() {
            o.keepttl = true;
        } else if !for_set && is(opt, "persist") && o.expire.is_none() && !o.keepttl {
            o.persist = true;
        } else {
            let kind = if is(opt, "ex") {
                (TimeUnit::Seconds, true)
            } else if is(opt, "px") {
                (TimeUnit::Millis, true)
            } else if is(opt, "exat") {
                (TimeUnit::Seconds, false)
            } else if is(opt, "pxat") {
                (TimeUnit::Millis, false)
            } else {
                return Err(Error::Syntax);
            };
            match next {
                Some(value) if !other_expiry(&o, kind) => {
                    o.expire = Some((kind.0, kind.1, value));
                    j += 1;
                }
                _ => return Err(Error::Syntax),
            }
        }
        j += 1;
    }
    Ok(o)
}

impl StringOptions<'_> {
    /// The expiry to apply, the value checked now.
    fn expiry(&self, command: &str) -> Result<Option<Expiry>> {
        if self.keepttl {
            return Ok(Some(Expiry::Keep));
        }
        if self.persist {
            return Ok(Some(Expiry::Persist));
        }
        self.expire
            .map(|(unit, relative, value)| {
                expire_time(value, unit, relative, command).map(Expiry::At)
            })
            .transpose()
    }
}

pub fn get(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    if let Some(prefetched) = ctx.prefetched.take() {
        if let Some(value) = ctx.db().get_prefetched(&argv[1], prefetched) {
            return Ok(Reply::optional(value?));
        }
    }
    Ok(Reply::optional(ctx.db().get(&argv[1])?))
}

pub fn set(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let options = parse_string_options(argv, 3, true)?;
    let expiry = options.expiry("set")?.unwrap_or(Expiry::Persist);
    let condition = if options.nx {
        SetCondition::IfMissing
    } else if options.xx {
        SetCondition::IfExists
    } else {
        SetCondition::Always
    };
    let outcome = ctx
        .db()
        .set(&argv[1], &argv[2], condition, expiry, options.get)?;
    Ok(match (options.get, outcome.written) {
        (true, _) => Reply::optional(outcome.old),
        (false, true) => Reply::ok(),
        (false, false) => Reply::Nil,
    })
}

pub fn setnx(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let outcome = ctx.db().set(
        &argv[1],
        &argv[2],
        SetCondition::IfMissing,
        Expiry::Persist,
        false,
    )?;
    Ok(Reply::Integer(outcome.written.into()))
}

fn set_with_ttl(ctx: &mut Ctx<'_>, argv: &[Bytes], unit: TimeUnit, command: &str) -> Result<Reply> {
    let at = expire_time(&argv[2], unit, true, command)?;
    ctx.db().set(
        &argv[1],
        &argv[3],
        SetCondition::Always,
        Expiry::At(at),
        false,
    )?;
    Ok(Reply::ok())
}

pub fn setex(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    set_with_ttl(ctx, argv, TimeUnit::Seconds, "setex")
}

pub fn psetex(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    set_with_ttl(ctx, argv, TimeUnit::Millis, "psetex")
}

pub fn getset(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let outcome = ctx.db().set(
        &argv[1],
        &argv[2],
        SetCondition::Always,
        Expiry::Persist,
        true,
    )?;
    Ok(Reply::optional(outcome.old))
}

pub fn getdel(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    Ok(Reply::optional(ctx.db().getdel(&argv[1])?))
}

pub fn getex(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let options = parse_string_options(argv, 2, false)?;
    Ok(Reply::optional(
        ctx.db().getex(&argv[1], || options.expiry("getex"))?,
    ))
}

pub fn mget(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let values = ctx.db().mget(&argv[1..])?;
    Ok(Reply::Array(
        values.into_iter().map(Reply::optional).collect(),
    ))
}

fn pairs(argv: &[Bytes], command: &str) -> Result<Vec<(Bytes, Bytes)>> {
    if argv.len().is_multiple_of(2) {
        return Err(Error::err(format!(
            "wrong number of arguments for '{command}' command"
        )));
    }
    Ok(argv[1..]
        .chunks(2)
        .map(|pair| (pair[0].clone(), pair[1].clone()))
        .collect())
}

pub fn mset(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let pairs = pairs(argv, "mset")?;
    ctx.db().mset(&pairs, false)?;
    Ok(Reply::ok())
}

pub fn msetnx(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let pairs = pairs(argv, "msetnx")?;
    Ok(Reply::Integer(ctx.db().mset(&pairs, true)?.into()))
}

pub fn append(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let max = ctx.server.config.proto_max_bulk_len();
    Ok(Reply::Integer(
        ctx.db().append(&argv[1], &argv[2], max)? as i64
    ))
}

pub fn strlen(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let len = ctx
        .db()
        .read_string(&argv[1], |_, stored| stored.map_or(Ok(0), string_len))?;
    Ok(Reply::Integer(len as i64))
}

pub fn getrange(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let start = int(&argv[2])?;
    let end = int(&argv[3])?;
    let key = &argv[1];
    let value = ctx.db().read_string(key, |db, stored| {
        let Some(stored) = stored else {
            return Ok(Vec::new());
        };
        let len = string_len(stored)?;
        Ok(match byte_window(start, end, len) {
            Some((first, last)) => db.string_range(key, stored, first, last + 1)?,
            None => Vec::new(),
        })
    })?;
    Ok(Reply::Bulk(value.into()))
}

/// GETRANGE's inclusive byte window over a string of `len` bytes, with
/// negative indexes from the end; `None` when it is empty.
fn byte_window(mut start: i64, mut end: i64, len: u64) -> Option<(u64, u64)> {
    let len = len as i64;
    if start < 0 && end < 0 && start > end {
        return None;
    }
    if start < 0 {
        start += len;
    }
    if end < 0 {
        end += len;
    }
    start = start.max(0);
    end = end.max(0).min(len - 1);
    (start <= end && len > 0).then_some((start as u64, end as u64))
}

pub fn setrange(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let offset = int(&argv[2])?;
    let offset = u64::try_from(offset).map_err(|_| Error::err("offset is out of range"))?;
    let max = ctx.server.config.proto_max_bulk_len();
    Ok(Reply::Integer(
        ctx.db().setrange(&argv[1], offset, &argv[3], max)? as i64,
    ))
}

pub fn incr(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    Ok(Reply::Integer(ctx.db().incr_by(&argv[1], 1)?))
}

pub fn decr(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    Ok(Reply::Integer(ctx.db().incr_by(&argv[1], -1)?))
}

pub fn incrby(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let delta = int(&argv[2])?;
    Ok(Reply::Integer(ctx.db().incr_by(&argv[1], delta)?))
}

pub fn decrby(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let delta = int(&argv[2])?
        .checked_neg()
        .ok_or_else(|| Error::err("decrement would overflow"))?;
    Ok(Reply::Integer(ctx.db().incr_by(&argv[1], delta)?))
}

pub fn incrbyfloat(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    Ok(Reply::Bulk(ctx.db().incr_by_float(&argv[1], &argv[2])?))
}

pub fn lcs(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    // The keys are read (and their types checked) before the options, as
    // Redis does.
    let db = ctx.db();
    let now = now_ms();
    let mut strings = Vec::with_capacity(2);
    for key in &argv[1..3] {
        match db.lookup(key, now)? {
            Some(stored) if !stored.header.data_type.is_string() => {
                return Err(Error::err("The specified keys must contain string values"))
            }
            Some(stored) => strings.push(db.string_bytes(key, &stored)?.to_vec()),
            None => strings.push(Vec::new()),
        }
    }
    let (mut want_len, mut want_idx, mut with_match_len) = (false, false, false);
    let mut min_match_len = 0u64;
    let mut args = Args::new(argv, 3);
    while let Some(word) = args.next() {
        if is(word, "idx") {
            want_idx = true;
        } else if is(word, "len") {
            want_len = true;
        } else if is(word, "withmatchlen") {
            with_match_len = true;
        } else if is(word, "minmatchlen") {
            let n = int(args.value()?)?;
            min_match_len = n.max(0) as u64;
        } else {
            return Err(Error::Syntax);
        }
    }
    if want_idx && want_len {
        return Err(Error::err(
            "If you want both the length and indexes, please just use IDX.",
        ));
    }
    let (a, b) = (&strings[0], &strings[1]);
    // The comparison table takes 4 bytes a cell; Redis bounds it by
    // proto-max-bulk-len, so one LCS cannot take the server's memory.
    let table_bytes = (a.len() as u64 + 1) * (b.len() as u64 + 1) * 4;
    if table_bytes > ctx.server.config.proto_max_bulk_len() {
        return Err(Error::err(
            "Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len",
        ));
    }
    Ok(lcs_reply(
        a,
        b,
        want_len,
        want_idx,
        with_match_len,
        min_match_len,
    ))
}

/// Redis's LCS: the dynamic-programming table, then a walk back from the
/// end that collects the common string and the matching ranges.
fn lcs_reply(
    a: &[u8],
    b: &[u8],
    want_len: bool,
    want_idx: bool,
    with_match_len: bool,
    min_match_len: u64,
) -> Reply {
    let (alen, blen) = (a.len(), b.len());
    let width = blen + 1;
    let mut dp = vec![0u32; (alen + 1) * width];
    for i in 1..=alen {
        for j in 1..=blen {
            dp[i * width + j] = if a[i - 1] == b[j - 1] {
                dp[(i - 1) * width + j - 1] + 1
            } else {
                dp[(i - 1) * width + j].max(dp[i * width + j - 1])
            };
        }
    }
    let total = dp[alen * width + blen];
    if want_len && !want_idx {
        return Reply::Integer(total.into());
    }
    let mut result = vec![0u8; total as usize];
    let mut idx = total as usize;
    let mut matches = Vec::new();
    let (mut arange_start, mut arange_end, mut brange_start, mut brange_end) = (alen, 0, 0, 0);
    let (mut i, mut j) = (alen, blen);
    while i > 0 && j > 0 {
        let mut emit = false;
        if a[i - 1] == b[j - 1] {
            result[idx - 1] = a[i - 1];
            if arange_start == alen {
                arange_start = i - 1;
                arange_end = i - 1;
                brange_start = j - 1;
                brange_end = j - 1;
            } else if arange_start == i && brange_start == j {
                arange_start -= 1;
                brange_start -= 1;
            } else {
                emit = true;
            }
            if arange_start == 0 || brange_start == 0 {
                emit = true;
            }
            idx -= 1;
            i -= 1;
            j -= 1;
        } else {
            if dp[(i - 1) * width + j] > dp[i * width + j - 1] {
                i -= 1;
            } else {
                j -= 1;
            }
            if arange_start != alen {
                emit = true;
            }
        }
        let match_len = (arange_end - arange_start + 1) as u64;
        if emit && min_match_len > 0 && match_len < min_match_len {
            arange_start = alen;
            emit = false;
        }
        if emit {
            if want_idx {
                let mut entry = vec![
                    Reply::Array(vec![
                        Reply::Integer(arange_start as i64),
                        Reply::Integer(arange_end as i64),
                    ]),
                    Reply::Array(vec![
                        Reply::Integer(brange_start as i64),
                        Reply::Integer(brange_end as i64),
                    ]),
                ];
                if with_match_len {
                    entry.push(Reply::Integer(match_len as i64));
                }
                matches.push(Reply::Array(entry));
            }
            arange_start = alen;
        }
    }
    if want_idx {
        Reply::Map(vec![
            (Reply::bulk("matches"), Reply::Array(matches)),
            (Reply::bulk("len"), Reply::Integer(total.into())),
        ])
    } else {
        Reply::Bulk(Bytes::from(result))
    }
}
