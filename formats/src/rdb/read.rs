//! Loading an RDB object (rdb.c `rdbLoadObject`): every encoding Redis 7.0 to
//! 7.4 sends, validated as `sanitize-dump-payload yes` does.

use std::borrow::Cow;
use std::collections::HashSet;

use super::{
    intset, kind, listpack, parse_canonical_int, ziplist, DecodeError, ExpiringField, Field, Value,
    CONTAINER_PACKED, CONTAINER_PLAIN, EXPIRE_TIME_MAX,
};

type Result<T> = std::result::Result<T, DecodeError>;

/// The object type byte and object that make up `body`, with nothing after:
/// Redis ignores bytes past the object, but no Redis writes any, so they
/// can only be corruption.
pub(super) fn object(body: &[u8]) -> Result<Value> {
    let mut r = Reader(body);
    let value = match r.byte()? {
        kind::STRING => Value::String(r.string()?.into_owned()),
        kind::LIST => {
            let len = r.len()?;
            let mut items = Vec::with_capacity(r.capacity(len));
            for _ in 0..len {
                items.push(r.string()?.into_owned());
            }
            Value::List(non_empty(items)?)
        }
        kind::LIST_ZIPLIST => Value::List(non_empty(ziplist::entries(&r.string()?)?)?),
        kind::LIST_QUICKLIST => Value::List(quicklist(&mut r, false)?),
        kind::LIST_QUICKLIST_2 => Value::List(quicklist(&mut r, true)?),
        kind::SET => {
            let len = r.len()?;
            let mut members = Vec::with_capacity(r.capacity(len));
            for _ in 0..len {
                members.push(r.string()?.into_owned());
            }
            Value::Set(unique(non_empty(members)?, |m| m)?)
        }
        kind::SET_INTSET => {
            let members = intset::decode(&r.string()?)?;
            Value::Set(members.iter().map(|n| n.to_string().into_bytes()).collect())
        }
        kind::SET_LISTPACK => {
            let members = non_empty(listpack::entries(&r.string()?)?)?;
            Value::Set(unique(members, |m| m)?)
        }
        t @ (kind::ZSET | kind::ZSET_2) => {
            let len = r.len()?;
            let mut members = Vec::with_capacity(r.capacity(len));
            for _ in 0..len {
                let member = r.string()?.into_owned();
                let score = if t == kind::ZSET_2 {
                    f64::from_le_bytes(r.array()?)
                } else {
                    r.string_double()?
                };
                members.push((member, not_nan(score)?));
            }
            Value::SortedSet(unique(non_empty(members)?, |(m, _)| m)?)
        }
        kind::ZSET_ZIPLIST => Value::SortedSet(scored(ziplist::entries(&r.string()?)?)?),
        kind::ZSET_LISTPACK => Value::SortedSet(scored(listpack::entries(&r.string()?)?)?),
        kind::HASH => {
            let len = r.len()?;
            let mut fields = Vec::with_capacity(r.capacity(len));
            for _ in 0..len {
                let field = r.string()?.into_owned();
                fields.push((field, r.string()?.into_owned()));
            }
            Value::Hash(unique(non_empty(fields)?, |(f, _)| f)?)
        }
        kind::HASH_ZIPMAP => {
            let fields = ziplist::zipmap_entries(&r.string()?)?;
            Value::Hash(unique(fields, |(f, _)| f)?)
        }
        kind::HASH_ZIPLIST => Value::Hash(pairs(ziplist::entries(&r.string()?)?)?),
        kind::HASH_LISTPACK => Value::Hash(pairs(listpack::entries(&r.string()?)?)?),
        t @ (kind::HASH_METADATA | kind::HASH_METADATA_PRE_GA) => {
            Value::HashWithExpiry(hash_metadata(&mut r, t == kind::HASH_METADATA)?)
        }
        t @ (kind::HASH_LISTPACK_EX | kind::HASH_LISTPACK_EX_PRE_GA) => {
            if t == kind::HASH_LISTPACK_EX {
                // The hash's earliest expiry, which Redis reads and ignores.
                r.array::<8>()?;
            }
            Value::HashWithExpiry(listpack_ex(listpack::entries(&r.string()?)?)?)
        }
        t => return Err(DecodeError::UnsupportedType(t)),
    };
    if !r.0.is_empty() {
        return Err(DecodeError::Malformed("extra bytes after the object"));
    }
    Ok(value)
}

/// A length, or the kind of a specially encoded string (rdb.h).
enum Length {
    Plain(u64),
    Encoded(u8),
}

/// The bytes of the object still to read.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let (taken, rest) = self
            .0
            .split_at_checked(n)
            .ok_or(DecodeError::Malformed("truncated"))?;
        self.0 = rest;
        Ok(taken)
    }

    fn byte(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    /// A capacity for `len` items of at least a byte each: no more than
    /// what is left can hold, whatever a corrupt length claims.
    fn capacity(&self, len: u64) -> usize {
        usize::try_from(len).map_or(self.0.len(), |len| len.min(self.0.len()))
    }

    /// rdbLoadLenByRef: 6, 14, 32 or 64 bits, big endian past the first.
    fn length(&mut self) -> Result<Length> {
        let first = self.byte()?;
        Ok(match first >> 6 {
            0 => Length::Plain(u64::from(first & 0x3f)),
            1 => Length::Plain(u64::from(first & 0x3f) << 8 | u64::from(self.byte()?)),
            3 => Length::Encoded(first & 0x3f),
            _ => match first {
                0x80 => Length::Plain(u64::from(u32::from_be_bytes(self.array()?))),
                0x81 => Length::Plain(u64::from_be_bytes(self.array()?)),
                _ => return Err(DecodeError::Malformed("unknown length encoding")),
            },
        })
    }

    fn len(&mut self) -> Result<u64> {
        match self.length()? {
            Length::Plain(len) => Ok(len),
            Length::Encoded(_) => Err(DecodeError::Malformed("encoded value for a length")),
        }
    }

    fn usize(&mut self) -> Result<usize> {
        usize::try_from(self.len()?).map_err(|_| DecodeError::Malformed("length too large"))
    }

    /// rdbGenericLoadStringObject: raw bytes, an 8, 16 or 32-bit integer, or
    /// LZF-compressed bytes.
    fn string(&mut self) -> Result<Cow<'a, [u8]>> {
        Ok(match self.length()? {
            Length::Plain(len) => {
                let len = usize::try_from(len).map_err(|_| DecodeError::Malformed("truncated"))?;
                Cow::Borrowed(self.take(len)?)
            }
            Length::Encoded(0) => int_string(i64::from(self.byte()? as i8)),
            Length::Encoded(1) => int_string(i64::from(i16::from_le_bytes(self.array()?))),
            Length::Encoded(2) => int_string(i64::from(i32::from_le_bytes(self.array()?))),
            Length::Encoded(3) => {
                let compressed_len = self.usize()?;
                let len = self.usize()?;
                let compressed = self.take(compressed_len)?;
                Cow::Owned(lzf(compressed, len)?)
            }
            Length::Encoded(_) => return Err(DecodeError::Malformed("unknown string encoding")),
        })
    }

    /// rdbLoadDoubleValue, the old ZSET's score: a length byte and ASCII,
    /// with 253, 254 and 255 for NaN, +inf and -inf.
    fn string_double(&mut self) -> Result<f64> {
        Ok(match self.byte()? {
            255 => f64::NEG_INFINITY,
            254 => f64::INFINITY,
            253 => f64::NAN,
            len => parse_double(self.take(usize::from(len))?)?,
        })
    }
}

fn int_string<'a>(n: i64) -> Cow<'a, [u8]> {
    Cow::Owned(n.to_string().into_bytes())
}

/// The `len` bytes LZF-compressed in `compressed`, all of them.
fn lzf(compressed: &[u8], len: usize) -> Result<Vec<u8>> {
    // A back reference of 3 bytes expands to at most 264: a longer claim is
    // corrupt, and must not size an allocation.
    const MAX_RATIO: usize = 88;
    if len > compressed.len().saturating_mul(MAX_RATIO) {
        return Err(DecodeError::Malformed("invalid LZF compressed string"));
    }
    match lzf::decompress(compressed, len) {
        Ok(out) if out.len() == len => Ok(out),
        _ => Err(DecodeError::Malformed("invalid LZF compressed string")),
    }
}

/// A score written as text, as `strtod` reads what Redis writes.
pub(super) fn parse_double(text: &[u8]) -> Result<f64> {
    std::str::from_utf8(text)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or(DecodeError::Malformed("invalid score"))
}

fn not_nan(score: f64) -> Result<f64> {
    if score.is_nan() {
        Err(DecodeError::Malformed("NaN score"))
    } else {
        Ok(score)
    }
}

/// Redis deletes a key whose collection empties, so it loads none.
fn non_empty<T>(items: Vec<T>) -> Result<Vec<T>> {
    if items.is_empty() {
        Err(DecodeError::Malformed("empty collection"))
    } else {
        Ok(items)
    }
}

/// `items` if no two share a key.
fn unique<T>(items: Vec<T>, key: impl Fn(&T) -> &Vec<u8>) -> Result<Vec<T>> {
    let distinct = {
        let mut seen = HashSet::with_capacity(items.len());
        items.iter().all(|item| seen.insert(key(item).as_slice()))
    };
    if distinct {
        Ok(items)
    } else {
        Err(DecodeError::Malformed("duplicate member or field"))
    }
}

/// Alternating fields and values of a ziplist or listpack hash.
fn pairs(entries: Vec<Vec<u8>>) -> Result<Vec<Field>> {
    if !entries.len().is_multiple_of(2) {
        return Err(DecodeError::Malformed("odd number of hash entries"));
    }
    let mut entries = entries.into_iter();
    let mut fields = Vec::with_capacity(entries.len() / 2);
    while let (Some(field), Some(value)) = (entries.next(), entries.next()) {
        fields.push((field, value));
    }
    unique(non_empty(fields)?, |(f, _)| f)
}

/// Alternating members and scores of a ziplist or listpack sorted set.
fn scored(entries: Vec<Vec<u8>>) -> Result<Vec<(Vec<u8>, f64)>> {
    pairs(entries)?
        .into_iter()
        .map(|(member, score)| Ok((member, not_nan(parse_double(&score)?)?)))
        .collect()
}

/// A quicklist: nodes of ziplists (`RDB_TYPE_LIST_QUICKLIST`) or, in the
/// second version, each of a listpack or of a single plain element.
fn quicklist(r: &mut Reader, v2: bool) -> Result<Vec<Vec<u8>>> {
    let nodes = r.len()?;
    let mut items = Vec::new();
    for _ in 0..nodes {
        let container = if v2 { r.len()? } else { CONTAINER_PACKED };
        if container != CONTAINER_PACKED && container != CONTAINER_PLAIN {
            return Err(DecodeError::Malformed("unknown quicklist container"));
        }
        let data = r.string()?;
        if data.is_empty() {
            return Err(DecodeError::Malformed("empty quicklist node"));
        }
        if container == CONTAINER_PLAIN {
            items.push(data.into_owned());
        } else if v2 {
            // Redis skips an empty node, and fails only if all are.
            items.extend(listpack::entries(&data)?);
        } else {
            items.extend(ziplist::entries(&data)?);
        }
    }
    non_empty(items)
}

/// `RDB_TYPE_HASH_METADATA`: per field an expiry, then field and value. The
/// 7.4 release stores the hash's earliest expiry first and each field's as
/// 1 + its distance from it (0: none); the release candidates stored it
/// absolute.
fn hash_metadata(r: &mut Reader, relative: bool) -> Result<Vec<ExpiringField>> {
    let base = if relative {
        u64::from_le_bytes(r.array()?)
    } else {
        0
    };
    let len = r.len()?;
    let mut fields = Vec::with_capacity(r.capacity(len));
    for _ in 0..len {
        let ttl = r.len()?;
        let expiry = match (ttl, relative) {
            (0, _) => None,
            (ttl, true) => Some(
                (ttl - 1)
                    .checked_add(base)
                    .ok_or(DecodeError::Malformed("field expiry time out of range"))?,
            ),
            (ttl, false) => Some(ttl),
        };
        if expiry.is_some_and(|t| t > EXPIRE_TIME_MAX) {
            return Err(DecodeError::Malformed("field expiry time out of range"));
        }
        let field = r.string()?.into_owned();
        fields.push((field, r.string()?.into_owned(), expiry));
    }
    unique(non_empty(fields)?, |(f, _, _)| f)
}

/// `RDB_TYPE_HASH_LISTPACK_EX`: field, value and expiry time (0: none) per
/// field, fields that expire first, soonest first.
fn listpack_ex(entries: Vec<Vec<u8>>) -> Result<Vec<ExpiringField>> {
    if !entries.len().is_multiple_of(3) {
        return Err(DecodeError::Malformed(
            "listpack hash entries not in threes",
        ));
    }
    let mut entries = entries.into_iter();
    let mut fields = Vec::with_capacity(entries.len() / 3);
    let mut last: Option<u64> = None;
    while let (Some(field), Some(value), Some(ttl)) =
        (entries.next(), entries.next(), entries.next())
    {
        let ttl = parse_canonical_int(&ttl)
            .and_then(|t| u64::try_from(t).ok())
            .filter(|&t| t <= EXPIRE_TIME_MAX)
            .ok_or(DecodeError::Malformed("invalid field expiry time"))?;
        let expiry = (ttl != 0).then_some(ttl);
        if expiry.is_some() && last.is_some_and(|last| last == 0 || ttl < last) {
            return Err(DecodeError::Malformed("field expiry times out of order"));
        }
        last = Some(ttl);
        fields.push((field, value, expiry));
    }
    unique(non_empty(fields)?, |(f, _, _)| f)
}
