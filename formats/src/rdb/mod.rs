//! Redis's DUMP/RESTORE payload (cluster.c): one value in RDB object encoding
//! (rdb.c), then a footer of the RDB version (2 bytes little endian) and the
//! CRC64 (8 bytes little endian) of everything before it. MIGRATE sends the
//! same payload, so this is also what a Redis node hands RedRock and back.
//!
//! [`restore`] reads every object encoding Redis 7.0 to 7.4 sends, older ones
//! included (ziplist, zipmap, quicklist of ziplists, string-encoded scores),
//! and validates them as Redis's `sanitize-dump-payload yes` does, without
//! ever panicking or allocating more than the payload can justify.
//! [`dump`] writes the encodings Redis 7.2 itself writes for the same value.

mod intset;
mod listpack;
mod read;
mod write;
mod ziplist;

use std::fmt;

/// The RDB version of Redis 7.2, the one [`dump`] writes.
pub const RDB_VERSION: u16 = 11;

/// The newest RDB version [`restore`] reads: Redis 7.4's, which added hash
/// field expiry.
pub const MAX_RDB_VERSION: u16 = 12;

/// The oldest RDB version [`dump_with_version`] writes: Redis 7.0's, the
/// first with listpacks.
pub const MIN_RDB_VERSION: u16 = 10;

/// A value as DUMP carries it. Collections are never empty (Redis deletes an
/// emptied key), and members, fields and scores are as Redis keeps them:
/// distinct, with no NaN score.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    String(Vec<u8>),
    /// Elements from head to tail.
    List(Vec<Vec<u8>>),
    Set(Vec<Vec<u8>>),
    /// Members and scores, in no particular order.
    SortedSet(Vec<(Vec<u8>, f64)>),
    /// Fields and values.
    Hash(Vec<(Vec<u8>, Vec<u8>)>),
    /// A hash with field expiry (Redis 7.4): fields, values and the Unix time
    /// in milliseconds each field expires at, if it does. Times go up to
    /// 2^48 - 1 (Redis's `EB_EXPIRE_TIME_MAX`).
    HashWithExpiry(Vec<(Vec<u8>, Vec<u8>, Option<u64>)>),
}

impl Value {
    /// The oldest RDB version that can carry this value: field expiry needs
    /// Redis 7.4's 12, all else Redis 7.0's 10.
    pub fn min_rdb_version(&self) -> u16 {
        match self {
            Value::HashWithExpiry(fields) if fields.iter().any(|f| f.2.is_some()) => 12,
            _ => MIN_RDB_VERSION,
        }
    }
}

/// Why a payload was not restored. [`DecodeError::reply`] is the error
/// RESTORE answers with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// Shorter than the 10-byte footer.
    TooShort,
    /// An RDB version newer than [`MAX_RDB_VERSION`].
    Version(u16),
    /// The CRC64 does not match.
    Checksum,
    /// An object type this module does not load: streams, modules, or a type
    /// byte no Redis uses.
    UnsupportedType(u8),
    /// The object is malformed: truncated, corrupt, empty, with duplicates,
    /// or followed by extra bytes.
    Malformed(&'static str),
}

impl DecodeError {
    /// Whether the footer failed, which Redis tells apart from a bad object.
    pub fn is_footer_error(&self) -> bool {
        matches!(
            self,
            DecodeError::TooShort | DecodeError::Version(_) | DecodeError::Checksum
        )
    }

    /// The error RESTORE replies with, as Redis words it.
    pub fn reply(&self) -> &'static str {
        if self.is_footer_error() {
            "ERR DUMP payload version or checksum are wrong"
        } else {
            "ERR Bad data format"
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::TooShort => f.write_str("DUMP payload shorter than its footer"),
            DecodeError::Version(v) => write!(f, "DUMP payload of unknown RDB version {v}"),
            DecodeError::Checksum => f.write_str("DUMP payload checksum mismatch"),
            DecodeError::UnsupportedType(t) => write!(f, "unsupported RDB object type {t}"),
            DecodeError::Malformed(what) => write!(f, "bad RDB object: {what}"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Why [`dump_with_version`] cannot write a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncodeError {
    /// Outside [`MIN_RDB_VERSION`]..=[`MAX_RDB_VERSION`].
    UnsupportedVersion(u16),
    /// The value needs this newer version (see [`Value::min_rdb_version`]).
    NeedsVersion(u16),
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::UnsupportedVersion(v) => write!(f, "cannot write RDB version {v}"),
            EncodeError::NeedsVersion(v) => write!(f, "the value needs RDB version {v}"),
        }
    }
}

impl std::error::Error for EncodeError {}

/// The DUMP payload of `value` as Redis 7.2 writes it (RDB version 11), or
/// as Redis 7.4 does (12) for a hash with field expiry, which 11 cannot hold.
pub fn dump(value: &Value) -> Vec<u8> {
    payload(value, RDB_VERSION.max(value.min_rdb_version()))
}

/// The DUMP payload of `value` for a server of RDB version `version`.
///
/// Redis refuses a payload whose version is above its own, so a payload for
/// Redis 7.0 must say 10; and it must not use what 7.0 cannot read: the set
/// listpack (type 20, new in 7.2), so at 10 a small set of strings is written
/// as a plain set. Hash field expiry needs 12.
pub fn dump_with_version(value: &Value, version: u16) -> Result<Vec<u8>, EncodeError> {
    if !(MIN_RDB_VERSION..=MAX_RDB_VERSION).contains(&version) {
        return Err(EncodeError::UnsupportedVersion(version));
    }
    let needed = value.min_rdb_version();
    if needed > version {
        return Err(EncodeError::NeedsVersion(needed));
    }
    Ok(payload(value, version))
}

fn payload(value: &Value, version: u16) -> Vec<u8> {
    let mut out = Vec::new();
    write::object(&mut out, value, version);
    out.extend_from_slice(&version.to_le_bytes());
    let crc = crc64(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// The value of a DUMP payload, after checking its footer as Redis's
/// `verifyDumpPayload` does. An all-zero CRC is not special there (unlike in
/// an RDB file): only `DEBUG SET-SKIP-CHECKSUM-VALIDATION` skips the check,
/// which [`restore_skipping_checksum`] stands for.
pub fn restore(payload: &[u8]) -> Result<Value, DecodeError> {
    let (object, crc) = split(payload)?;
    if crc64(&payload[..payload.len() - 8]) != crc {
        return Err(DecodeError::Checksum);
    }
    read::object(object)
}

/// [`restore`] without the CRC check, as after
/// `DEBUG SET-SKIP-CHECKSUM-VALIDATION 1`; the version is still checked.
pub fn restore_skipping_checksum(payload: &[u8]) -> Result<Value, DecodeError> {
    read::object(split(payload)?.0)
}

/// The object and the CRC of a payload whose footer has a version we read.
fn split(payload: &[u8]) -> Result<(&[u8], u64), DecodeError> {
    let Some((object, [v0, v1, crc @ ..])) = payload.split_last_chunk::<10>() else {
        return Err(DecodeError::TooShort);
    };
    let version = u16::from_le_bytes([*v0, *v1]);
    if version > MAX_RDB_VERSION {
        return Err(DecodeError::Version(version));
    }
    Ok((object, u64::from_le_bytes(*crc)))
}

/// Redis's crc64 (Jones polynomial, reflected), as in crc64.c.
fn crc64(bytes: &[u8]) -> u64 {
    const CRC: crc::Crc<u64> = crc::Crc::<u64>::new(&crc::CRC_64_REDIS);
    CRC.checksum(bytes)
}

/// Redis's RDB object types (rdb.h) this module reads or writes.
mod kind {
    pub const STRING: u8 = 0;
    pub const LIST: u8 = 1;
    pub const SET: u8 = 2;
    pub const ZSET: u8 = 3;
    pub const HASH: u8 = 4;
    pub const ZSET_2: u8 = 5;
    pub const HASH_ZIPMAP: u8 = 9;
    pub const LIST_ZIPLIST: u8 = 10;
    pub const SET_INTSET: u8 = 11;
    pub const ZSET_ZIPLIST: u8 = 12;
    pub const HASH_ZIPLIST: u8 = 13;
    pub const LIST_QUICKLIST: u8 = 14;
    pub const HASH_LISTPACK: u8 = 16;
    pub const ZSET_LISTPACK: u8 = 17;
    pub const LIST_QUICKLIST_2: u8 = 18;
    pub const SET_LISTPACK: u8 = 20;
    /// Redis 7.4 release candidates: absolute field expiry times.
    pub const HASH_METADATA_PRE_GA: u8 = 22;
    pub const HASH_LISTPACK_EX_PRE_GA: u8 = 23;
    /// Redis 7.4: the hash's earliest expiry first, field times relative to it.
    pub const HASH_METADATA: u8 = 24;
    pub const HASH_LISTPACK_EX: u8 = 25;
}

/// A hash field and its value.
type Field = (Vec<u8>, Vec<u8>);
/// A hash field, its value and when it expires.
type ExpiringField = (Vec<u8>, Vec<u8>, Option<u64>);

/// Quicklist node containers (quicklist.h).
const CONTAINER_PLAIN: u64 = 1;
const CONTAINER_PACKED: u64 = 2;

/// The latest field expiry time Redis accepts (ebuckets.h).
const EXPIRE_TIME_MAX: u64 = (1 << 48) - 1;

/// `s` as an integer if it is the canonical decimal form of one, as Redis's
/// `string2ll` decides: no sign but '-', no leading zero, no "-0".
fn parse_canonical_int(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    let n: i64 = std::str::from_utf8(s).ok()?.parse().ok()?;
    (n.to_string().as_bytes() == s).then_some(n)
}

#[cfg(test)]
mod tests;
