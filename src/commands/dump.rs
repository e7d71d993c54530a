//! DUMP and RESTORE.

use super::args::{int, is};
use super::Ctx;
use crate::error::{Error, Result};
use crate::protocol::Reply;
use crate::types::now_ms;
use bytes::Bytes;
use redrock_formats::rdb;

/// The DUMP payload of `value`, in the oldest RDB version that holds it
/// (10, Redis 7.0's, unless hash fields expire) rather than 7.2's 11, so
/// DUMP and MIGRATE reach every Redis from 7.0 on: 11 adds only a set
/// encoding, and each version reads the older ones.
pub fn payload(value: &rdb::Value) -> Vec<u8> {
    let version = value.min_rdb_version().max(rdb::MIN_RDB_VERSION);
    rdb::dump_with_version(value, version).expect("a version that holds the value")
}

pub fn dump(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    Ok(match ctx.db().dump(&argv[1])? {
        Some((value, _)) => Reply::Bulk(payload(&value).into()),
        None => Reply::Nil,
    })
}

/// RESTORE key ttl payload [REPLACE] [ABSTTL] [IDLETIME s] [FREQ f].
/// Access times and frequencies are not kept, so IDLETIME and FREQ are
/// checked and then have nothing to set.
pub fn restore(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let (mut replace, mut absolute) = (false, false);
    let (mut idle, mut freq) = (false, false);
    let mut at = 4;
    while at < argv.len() {
        let word = &argv[at];
        let more = at + 1 < argv.len();
        if is(word, "replace") {
            replace = true;
        } else if is(word, "absttl") {
            absolute = true;
        } else if is(word, "idletime") && more && !freq {
            if int(&argv[at + 1])? < 0 {
                return Err(Error::err("Invalid IDLETIME value, must be >= 0"));
            }
            idle = true;
            at += 1;
        } else if is(word, "freq") && more && !idle {
            if !(0..=255).contains(&int(&argv[at + 1])?) {
                return Err(Error::err("Invalid FREQ value, must be >= 0 and <= 255"));
            }
            freq = true;
            at += 1;
        } else {
            return Err(Error::Syntax);
        }
        at += 1;
    }
    ctx.db().restore(&argv[1], replace, || {
        let ttl = int(&argv[2])?;
        if ttl < 0 {
            return Err(Error::err("Invalid TTL value, must be >= 0"));
        }
        let value = rdb::restore(&argv[3]).map_err(|e| Error::coded(e.reply()))?;
        let expire_at = match ttl {
            0 => 0,
            ttl if absolute => ttl as u64,
            ttl => now_ms().saturating_add(ttl as u64),
        };
        Ok((value, expire_at))
    })?;
    Ok(Reply::ok())
}
