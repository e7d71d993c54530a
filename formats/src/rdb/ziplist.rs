//! The encodings listpacks replaced, which Redis 7 still loads: the ziplist
//! (ziplist.c, up to Redis 6.2) and the zipmap (zipmap.c, up to Redis 2.4).

use super::{DecodeError, Field};

const ZIPLIST_HEADER: usize = 10;
const END: u8 = 0xff;
/// A previous-entry length of this byte has 4 more (zipmap: a length).
const BIGLEN: u8 = 0xfe;

/// The entries of a ziplist, integers as their decimal strings, validated as
/// `ziplistValidateIntegrity` does deeply.
///
/// Header: total bytes, offset of the last entry (both u32) and count (u16),
/// little endian. Entry: the previous entry's size (1 byte, or 0xFE and a
/// u32), an encoding with the string's length or the integer's width, the
/// data.
pub(super) fn entries(zl: &[u8]) -> Result<Vec<Vec<u8>>, DecodeError> {
    let bad = DecodeError::Malformed;
    let (Some(header), Some((&END, _))) = (zl.first_chunk::<ZIPLIST_HEADER>(), zl.split_last())
    else {
        return Err(bad("ziplist header or terminator missing"));
    };
    let u32_at =
        |i: usize| u32::from_le_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]);
    if u32_at(0) as usize != zl.len() || zl.len() < ZIPLIST_HEADER + 1 {
        return Err(bad("ziplist size mismatch"));
    }
    let tail = u32_at(4) as usize;
    let count = u16::from_le_bytes([header[8], header[9]]);
    let end = zl.len() - 1;

    let mut out = Vec::new();
    let mut pos = ZIPLIST_HEADER;
    let mut prev_size = 0;
    let mut last = None;
    while pos < end {
        let (value, size) = entry(&zl[pos..end], prev_size).ok_or(bad("invalid ziplist entry"))?;
        out.push(value);
        last = Some(pos);
        prev_size = size;
        pos += size;
    }
    if last.is_some_and(|last| last != tail) {
        return Err(bad("ziplist tail offset mismatch"));
    }
    if count != u16::MAX && usize::from(count) != out.len() {
        return Err(bad("ziplist count mismatch"));
    }
    Ok(out)
}

/// The value of the entry `s` starts with and the entry's size, if it
/// records `prev_size` as its predecessor's and lies within `s`.
fn entry(s: &[u8], prev_size: usize) -> Option<(Vec<u8>, usize)> {
    let (prev, header) = match *s.first()? {
        END => return None,
        BIGLEN => (u32::from_le_bytes(*s.get(1..5)?.first_chunk()?) as usize, 5),
        b => (usize::from(b), 1),
    };
    if prev != prev_size {
        return None;
    }
    let encoding = *s.get(header)?;
    let string = |lensize: usize, len: usize| -> Option<(Vec<u8>, usize)> {
        let start = header + lensize;
        let data = s.get(start..start.checked_add(len)?)?;
        Some((data.to_vec(), start + len))
    };
    let int = |bytes: usize| -> Option<(Vec<u8>, usize)> {
        let start = header + 1;
        let raw = s.get(start..start + bytes)?;
        let mut le = [0u8; 8];
        le[..bytes].copy_from_slice(raw);
        let shift = 64 - 8 * bytes as u32;
        let n = (i64::from_le_bytes(le) << shift) >> shift;
        Some((n.to_string().into_bytes(), start + bytes))
    };
    match encoding {
        // Strings: 6-bit, 14-bit and 32-bit lengths, the last two big endian.
        0x00..=0x3f => string(1, usize::from(encoding)),
        0x40..=0x7f => string(
            2,
            usize::from(encoding & 0x3f) << 8 | usize::from(*s.get(header + 1)?),
        ),
        0x80..=0xbf => string(
            5,
            u32::from_be_bytes(*s.get(header + 1..header + 5)?.first_chunk()?) as usize,
        ),
        0xc0 => int(2),
        0xd0 => int(4),
        0xe0 => int(8),
        0xf0 => int(3),
        0xfe => int(1),
        // A 4-bit immediate, 1 to 13 standing for 0 to 12.
        0xf1..=0xfd => Some(((encoding - 0xf1).to_string().into_bytes(), header + 1)),
        _ => None,
    }
}

/// The fields and values of a zipmap, validated as `zipmapValidateIntegrity`
/// does deeply.
///
/// A count byte (254: count them), then per pair: field length, field,
/// value length, a byte of free space after the value, value, free space;
/// then 0xFF. Lengths are a byte, or 254 and a little-endian u32.
pub(super) fn zipmap_entries(zm: &[u8]) -> Result<Vec<Field>, DecodeError> {
    let bad = DecodeError::Malformed;
    let (Some(&count), Some((&END, body))) = (zm.first(), zm.split_last()) else {
        return Err(bad("zipmap header or terminator missing"));
    };
    let mut rest = body.get(1..).ok_or(bad("zipmap too short"))?;
    let mut out = Vec::new();
    while !rest.is_empty() {
        let field = zipmap_string(&mut rest, false).ok_or(bad("invalid zipmap field"))?;
        let value = zipmap_string(&mut rest, true).ok_or(bad("invalid zipmap value"))?;
        out.push((field.to_vec(), value.to_vec()));
    }
    if out.is_empty() {
        return Err(bad("empty zipmap"));
    }
    if count < BIGLEN && usize::from(count) != out.len() {
        return Err(bad("zipmap count mismatch"));
    }
    Ok(out)
}

/// The string at the start of `rest`, moving past it (and past the free
/// space that follows a value).
fn zipmap_string<'a>(rest: &mut &'a [u8], value: bool) -> Option<&'a [u8]> {
    let s = *rest;
    let (len, mut at) = match *s.first()? {
        b if b < BIGLEN => (usize::from(b), 1),
        // A field cannot start with the terminator; a value's 255 reads as
        // a long length, as in Redis.
        END if !value => return None,
        _ => (u32::from_le_bytes(*s.get(1..5)?.first_chunk()?) as usize, 5),
    };
    let free = if value {
        at += 1;
        usize::from(*s.get(at - 1)?)
    } else {
        0
    };
    let data = s.get(at..at.checked_add(len)?)?;
    *rest = s.get(at + len + free..)?;
    Some(data)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A ziplist of `items` as Redis 6.2's `ziplistPush` writes it.
    pub(in crate::rdb) fn build(items: &[&[u8]]) -> Vec<u8> {
        let mut body = Vec::new();
        let mut prev = 0usize;
        let mut tail = ZIPLIST_HEADER;
        for item in items {
            let start = body.len();
            tail = ZIPLIST_HEADER + start;
            if prev < 254 {
                body.push(prev as u8);
            } else {
                body.push(BIGLEN);
                body.extend_from_slice(&(prev as u32).to_le_bytes());
            }
            match super::super::parse_canonical_int(item) {
                Some(n @ 0..=12) => body.push(0xf1 + n as u8),
                Some(n) if i8::try_from(n).is_ok() => body.extend_from_slice(&[0xfe, n as u8]),
                Some(n) if i16::try_from(n).is_ok() => {
                    body.push(0xc0);
                    body.extend_from_slice(&(n as i16).to_le_bytes());
                }
                Some(n) if (-(1 << 23)..1 << 23).contains(&n) => {
                    body.push(0xf0);
                    body.extend_from_slice(&n.to_le_bytes()[..3]);
                }
                Some(n) if i32::try_from(n).is_ok() => {
                    body.push(0xd0);
                    body.extend_from_slice(&(n as i32).to_le_bytes());
                }
                Some(n) => {
                    body.push(0xe0);
                    body.extend_from_slice(&n.to_le_bytes());
                }
                None if item.len() < 64 => {
                    body.push(item.len() as u8);
                    body.extend_from_slice(item);
                }
                None if item.len() < 16384 => {
                    body.extend_from_slice(&(0x4000 | item.len() as u16).to_be_bytes());
                    body.extend_from_slice(item);
                }
                None => {
                    body.push(0x80);
                    body.extend_from_slice(&(item.len() as u32).to_be_bytes());
                    body.extend_from_slice(item);
                }
            }
            prev = body.len() - start;
        }
        let total = ZIPLIST_HEADER + body.len() + 1;
        let mut zl = Vec::with_capacity(total);
        zl.extend_from_slice(&(total as u32).to_le_bytes());
        zl.extend_from_slice(&(tail as u32).to_le_bytes());
        zl.extend_from_slice(&(items.len().min(0xffff) as u16).to_le_bytes());
        zl.extend_from_slice(&body);
        zl.push(END);
        zl
    }

    #[test]
    fn every_encoding_round_trips() {
        let long = vec![b'q'; 300];
        let longer = vec![b'r'; 20000];
        let items: Vec<&[u8]> = vec![
            b"0",
            b"12",
            b"13",
            b"-1",
            b"127",
            b"-128",
            b"128",
            b"32767",
            b"-32769",
            b"8388607",
            b"-8388608",
            b"8388608",
            b"2147483647",
            b"2147483648",
            b"-9223372036854775808",
            b"",
            b"hello",
            b"007",
            &long,
            &longer,
            b"x",
        ];
        let zl = build(&items);
        let decoded = entries(&zl).unwrap();
        // The entry after the 20 KB one records its predecessor's size in 5
        // bytes, which the decoder checks.
        assert_eq!(
            decoded,
            items.iter().map(|i| i.to_vec()).collect::<Vec<_>>()
        );
    }

    #[test]
    fn real_redis_6_ziplist() {
        // From Redis's corrupt-dump.tcl, "hash crash": a valid hash ziplist.
        let zl = [
            0x19, 0, 0, 0, 0x16, 0, 0, 0, 0x06, 0, 0, 0xf1, 0x02, 0xf1, 0x02, 0xf2, 0x02, 0x02,
            0x5f, 0x31, 0x04, 0xf3, 0x02, 0xf3, 0xff,
        ];
        let expected: Vec<&[u8]> = vec![b"0", b"0", b"1", b"_1", b"2", b"2"];
        assert_eq!(entries(&zl).unwrap(), expected);
    }

    #[test]
    fn corruption_is_an_error() {
        let good = build(&[b"a", b"1000", &[b'z'; 300]]);
        for len in 0..good.len() {
            assert!(entries(&good[..len]).is_err(), "truncated to {len}");
        }
        let mut wrong_prevlen = good.clone();
        wrong_prevlen[ZIPLIST_HEADER + 3] = 9;
        assert!(entries(&wrong_prevlen).is_err());
        let mut wrong_tail = good.clone();
        wrong_tail[4] += 1;
        assert!(entries(&wrong_tail).is_err());
        let mut wrong_count = good.clone();
        wrong_count[8] = 4;
        assert!(entries(&wrong_count).is_err());
        for i in 0..good.len() {
            for bit in 0..8 {
                let mut flipped = good.clone();
                flipped[i] ^= 1 << bit;
                let _ = entries(&flipped);
            }
        }
    }

    /// A zipmap as Redis 2.4's `zipmapSet` writes it, `free` spare bytes
    /// after each value.
    pub(in crate::rdb) fn build_zipmap(pairs: &[(&[u8], &[u8])], free: u8) -> Vec<u8> {
        let mut zm = vec![pairs.len().min(254) as u8];
        let len = |zm: &mut Vec<u8>, n: usize| {
            if n < 254 {
                zm.push(n as u8);
            } else {
                zm.push(BIGLEN);
                zm.extend_from_slice(&(n as u32).to_le_bytes());
            }
        };
        for (field, value) in pairs {
            len(&mut zm, field.len());
            zm.extend_from_slice(field);
            len(&mut zm, value.len());
            zm.push(free);
            zm.extend_from_slice(value);
            zm.extend(std::iter::repeat_n(0, usize::from(free)));
        }
        zm.push(END);
        zm
    }

    #[test]
    fn zipmap_round_trips() {
        let big = vec![b'v'; 300];
        let pairs: Vec<(&[u8], &[u8])> = vec![(b"foo", b"bar"), (b"hello", &big), (b"", b"")];
        for free in [0, 3] {
            let zm = build_zipmap(&pairs, free);
            let decoded = zipmap_entries(&zm).unwrap();
            let expected: Vec<_> = pairs
                .iter()
                .map(|(f, v)| (f.to_vec(), v.to_vec()))
                .collect();
            assert_eq!(decoded, expected);
            for len in 0..zm.len() {
                assert!(zipmap_entries(&zm[..len]).is_err());
            }
        }
        // From zipmap.c's comment.
        let doc = b"\x02\x03foo\x03\x00bar\x05hello\x05\x00world\xff";
        assert_eq!(
            zipmap_entries(doc).unwrap(),
            vec![
                (b"foo".to_vec(), b"bar".to_vec()),
                (b"hello".to_vec(), b"world".to_vec())
            ]
        );
        assert!(zipmap_entries(b"\x00\xff").is_err());
        assert!(zipmap_entries(b"\x03\x03foo\x03\x00bar\xff").is_err());
    }
}
