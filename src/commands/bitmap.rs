//! Bit commands: SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD and
//! BITFIELD_RO, with Redis's argument rules and error texts.

use super::args::{int, is};
use super::Ctx;
use crate::error::{Error, Result};
use crate::protocol::Reply;
use crate::types::bitmap::{BitOp, FieldAction, FieldOp, Overflow, RangeUnit};
use crate::types::string::parse_i64;
use bytes::Bytes;

const BAD_OFFSET: &str = "bit offset is not an integer or out of range";
const BAD_BIT: &str = "bit is not an integer or out of range";
const BAD_FIELD_TYPE: &str =
    "Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";

/// A bit offset; BITFIELD's `#n` form (`field_bits` given) counts fields.
/// The byte it names must be below `proto-max-bulk-len`.
fn bit_offset(ctx: &Ctx<'_>, arg: &[u8], field_bits: Option<u32>) -> Result<u64> {
    let (digits, scale) = match (arg.first(), field_bits) {
        (Some(b'#'), Some(bits)) => (&arg[1..], i64::from(bits)),
        _ => (arg, 1),
    };
    let offset = parse_i64(digits)
        .and_then(|n| n.checked_mul(scale))
        .filter(|&n| n >= 0)
        .ok_or_else(|| Error::err(BAD_OFFSET))? as u64;
    if offset >> 3 >= ctx.server.config.proto_max_bulk_len() {
        return Err(Error::err(BAD_OFFSET));
    }
    Ok(offset)
}

pub fn setbit(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let offset = bit_offset(ctx, &argv[2], None)?;
    let on = match parse_i64(&argv[3]) {
        Some(0) => false,
        Some(1) => true,
        _ => return Err(Error::err(BAD_BIT)),
    };
    let was = ctx.db().setbit(&argv[1], offset, on)?;
    Ok(Reply::Integer(i64::from(was)))
}

pub fn getbit(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let offset = bit_offset(ctx, &argv[2], None)?;
    Ok(Reply::Integer(i64::from(
        ctx.db().getbit(&argv[1], offset)?,
    )))
}

/// The BIT | BYTE argument of a range.
fn range_unit(arg: &[u8]) -> Result<RangeUnit> {
    if is(arg, "bit") {
        Ok(RangeUnit::Bit)
    } else if is(arg, "byte") {
        Ok(RangeUnit::Byte)
    } else {
        Err(Error::Syntax)
    }
}

pub fn bitcount(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let range = match argv.len() {
        2 => None,
        4 | 5 => {
            let start = int(&argv[2])?;
            let end = int(&argv[3])?;
            let unit = match argv.get(4) {
                Some(arg) => range_unit(arg)?,
                None => RangeUnit::Byte,
            };
            Some((start, end, unit))
        }
        _ => return Err(Error::Syntax),
    };
    Ok(Reply::Integer(ctx.db().bitcount(&argv[1], range)? as i64))
}

pub fn bitpos(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let bit = match int(&argv[2])? {
        0 => false,
        1 => true,
        _ => return Err(Error::err("The bit argument must be 1 or 0.")),
    };
    if argv.len() > 6 {
        return Err(Error::Syntax);
    }
    let start = argv.get(3).map(|a| int(a)).transpose()?.unwrap_or(0);
    let unit = match argv.get(5) {
        Some(arg) => range_unit(arg)?,
        None => RangeUnit::Byte,
    };
    let end = argv.get(4).map(|a| int(a)).transpose()?;
    Ok(Reply::Integer(
        ctx.db().bitpos(&argv[1], bit, start, end, unit)?,
    ))
}

pub fn bitop(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let op = match &argv[1] {
        a if is(a, "and") => BitOp::And,
        a if is(a, "or") => BitOp::Or,
        a if is(a, "xor") => BitOp::Xor,
        a if is(a, "not") => BitOp::Not,
        _ => return Err(Error::Syntax),
    };
    let sources = &argv[3..];
    if op == BitOp::Not && sources.len() != 1 {
        return Err(Error::err(
            "BITOP NOT must be called with a single source key.",
        ));
    }
    Ok(Reply::Integer(ctx.db().bitop(op, &argv[2], sources)? as i64))
}

/// A BITFIELD type: `i1`..`i64` or `u1`..`u63`.
fn field_type(arg: &[u8]) -> Result<(bool, u32)> {
    let signed = match arg.first() {
        Some(b'i') => true,
        Some(b'u') => false,
        _ => return Err(Error::err(BAD_FIELD_TYPE)),
    };
    let max = if signed { 64 } else { 63 };
    match parse_i64(&arg[1..]) {
        Some(bits) if (1..=max).contains(&bits) => Ok((signed, bits as u32)),
        _ => Err(Error::err(BAD_FIELD_TYPE)),
    }
}

/// BITFIELD's operations, parsed all before any runs, as Redis does.
fn field_ops(ctx: &Ctx<'_>, argv: &[Bytes]) -> Result<Vec<FieldOp>> {
    let mut ops = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut at = 2;
    while at < argv.len() {
        let word = &argv[at];
        let remaining = argv.len() - at - 1;
        let takes_value = is(word, "set") || is(word, "incrby");
        if is(word, "overflow") && remaining >= 1 {
            overflow = match &argv[at + 1] {
                a if is(a, "wrap") => Overflow::Wrap,
                a if is(a, "sat") => Overflow::Sat,
                a if is(a, "fail") => Overflow::Fail,
                _ => return Err(Error::err("Invalid OVERFLOW type specified")),
            };
            at += 2;
            continue;
        }
        if !(is(word, "get") && remaining >= 2 || takes_value && remaining >= 3) {
            return Err(Error::Syntax);
        }
        let (signed, bits) = field_type(&argv[at + 1])?;
        let offset = bit_offset(ctx, &argv[at + 2], Some(bits))?;
        let action = if !takes_value {
            FieldAction::Get
        } else if is(word, "set") {
            FieldAction::Set(int(&argv[at + 3])?)
        } else {
            FieldAction::IncrBy(int(&argv[at + 3])?)
        };
        ops.push(FieldOp {
            action,
            signed,
            bits,
            offset,
            overflow,
        });
        at += if takes_value { 4 } else { 3 };
    }
    Ok(ops)
}

fn field_replies(replies: Vec<Option<i64>>) -> Reply {
    Reply::Array(
        replies
            .into_iter()
            .map(|r| r.map_or(Reply::Nil, Reply::Integer))
            .collect(),
    )
}

pub fn bitfield(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let ops = field_ops(ctx, argv)?;
    Ok(field_replies(ctx.db().bitfield(&argv[1], &ops)?))
}

pub fn bitfield_ro(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let ops = field_ops(ctx, argv)?;
    if ops.iter().any(|op| op.action != FieldAction::Get) {
        return Err(Error::err("BITFIELD_RO only supports the GET subcommand"));
    }
    Ok(field_replies(ctx.db().bitfield(&argv[1], &ops)?))
}
