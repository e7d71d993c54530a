//! Listpack (listpack.c): a 4-byte total size and 2-byte count (both little
//! endian), entries, and a 0xFF terminator. An entry is an encoding byte
//! (with the value or the string's length), the string, and the entry's
//! length again, backwards, so that it can be walked from the end.

use super::{parse_canonical_int, DecodeError};

const HEADER: usize = 6;
const EOF: u8 = 0xff;
/// The count Redis writes when the real one does not fit in 16 bits.
const COUNT_UNKNOWN: u16 = u16::MAX;

const STR_32BIT: u8 = 0xf0;
const INT_16BIT: u8 = 0xf1;
const INT_24BIT: u8 = 0xf2;
const INT_32BIT: u8 = 0xf3;
const INT_64BIT: u8 = 0xf4;

/// The entries of a listpack, integers as their decimal strings, validated
/// as `lpValidateIntegrity` does deeply.
pub(super) fn entries(lp: &[u8]) -> Result<Vec<Vec<u8>>, DecodeError> {
    let bad = DecodeError::Malformed;
    let (Some(header), Some((&EOF, body))) = (lp.first_chunk::<HEADER>(), lp.split_last()) else {
        return Err(bad("listpack header or terminator missing"));
    };
    if u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize != lp.len() {
        return Err(bad("listpack size mismatch"));
    }
    let count = u16::from_le_bytes([header[4], header[5]]);
    let mut rest = body.get(HEADER..).ok_or(bad("listpack too short"))?;
    let mut out = Vec::new();
    while !rest.is_empty() {
        let (value, len) = entry(rest).ok_or(bad("invalid listpack entry"))?;
        let backlen = backlen_size(len);
        let tail = rest
            .get(len..len + backlen)
            .ok_or(bad("listpack entry past the end"))?;
        if decode_backlen(tail) != Some(len) {
            return Err(bad("listpack entry length mismatch"));
        }
        out.push(value);
        rest = &rest[len + backlen..];
    }
    if count != COUNT_UNKNOWN && usize::from(count) != out.len() {
        return Err(bad("listpack count mismatch"));
    }
    Ok(out)
}

/// The value of the entry `s` starts with, and its length without backlen.
fn entry(s: &[u8]) -> Option<(Vec<u8>, usize)> {
    let first = *s.first()?;
    let int = |bytes: usize| -> Option<(Vec<u8>, usize)> {
        let raw = s.get(1..1 + bytes)?;
        let mut le = [0u8; 8];
        le[..bytes].copy_from_slice(raw);
        // Sign-extend from the top bit of the stored width.
        let shift = 64 - 8 * bytes as u32;
        let n = (i64::from_le_bytes(le) << shift) >> shift;
        Some((n.to_string().into_bytes(), 1 + bytes))
    };
    let string = |header: usize, len: usize| -> Option<(Vec<u8>, usize)> {
        let data = s.get(header..header.checked_add(len)?)?;
        Some((data.to_vec(), header + len))
    };
    match first {
        0x00..=0x7f => Some((first.to_string().into_bytes(), 1)),
        0x80..=0xbf => string(1, usize::from(first & 0x3f)),
        0xc0..=0xdf => {
            let n = i64::from(first & 0x1f) << 8 | i64::from(*s.get(1)?);
            let n = if n >= 1 << 12 { n - (1 << 13) } else { n };
            Some((n.to_string().into_bytes(), 2))
        }
        0xe0..=0xef => string(2, usize::from(first & 0x0f) << 8 | usize::from(*s.get(1)?)),
        STR_32BIT => {
            let len = u32::from_le_bytes(*s.get(1..5)?.first_chunk()?);
            string(5, usize::try_from(len).ok()?)
        }
        INT_16BIT => int(2),
        INT_24BIT => int(3),
        INT_32BIT => int(4),
        INT_64BIT => int(8),
        _ => None,
    }
}

/// Bytes of the backwards length of an entry of `len` bytes
/// (`lpEncodeBacklen`; its bounds are exclusive past the first).
fn backlen_size(len: usize) -> usize {
    match len {
        0..=127 => 1,
        128..16383 => 2,
        16383..2097151 => 3,
        2097151..268435455 => 4,
        _ => 5,
    }
}

/// `lpDecodeBacklen`: 7 bits a byte from the last, while the high bit says
/// more precede.
fn decode_backlen(bytes: &[u8]) -> Option<usize> {
    let mut len = 0usize;
    for (i, &b) in bytes.iter().rev().enumerate() {
        len |= usize::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some(len);
        }
    }
    None
}

fn encode_backlen(out: &mut Vec<u8>, len: usize) {
    let size = backlen_size(len);
    for i in (0..size).rev() {
        // Only the byte read last (the first) lacks the continuation bit.
        let group = ((len >> (7 * i)) & 0x7f) as u8;
        out.push(if i == size - 1 { group } else { group | 0x80 });
    }
}

/// A listpack being written, with Redis's choice of entry encodings.
pub(super) struct Builder {
    buf: Vec<u8>,
    count: usize,
}

impl Builder {
    pub(super) fn new() -> Self {
        Builder {
            buf: vec![0; HEADER],
            count: 0,
        }
    }

    /// The size the listpack has once finished.
    pub(super) fn size(&self) -> usize {
        self.buf.len() + 1
    }

    /// Appends `s`, as an integer if it is one's canonical form (`lpAppend`).
    pub(super) fn push(&mut self, s: &[u8]) {
        match parse_canonical_int(s) {
            Some(n) => self.push_int(n),
            None => self.push_str(s),
        }
    }

    /// `lpEncodeIntegerGetType`: the narrowest of 7, 13, 16, 24, 32 and 64
    /// bits.
    pub(super) fn push_int(&mut self, n: i64) {
        let start = self.buf.len();
        let le = n.to_le_bytes();
        match n {
            0..=127 => self.buf.push(n as u8),
            -4096..=4095 => {
                let n = n & 0x1fff;
                self.buf
                    .extend_from_slice(&[0xc0 | (n >> 8) as u8, n as u8]);
            }
            -32768..=32767 => {
                self.buf.push(INT_16BIT);
                self.buf.extend_from_slice(&le[..2]);
            }
            -8388608..=8388607 => {
                self.buf.push(INT_24BIT);
                self.buf.extend_from_slice(&le[..3]);
            }
            -2147483648..=2147483647 => {
                self.buf.push(INT_32BIT);
                self.buf.extend_from_slice(&le[..4]);
            }
            _ => {
                self.buf.push(INT_64BIT);
                self.buf.extend_from_slice(&le);
            }
        }
        self.end_entry(start);
    }

    fn push_str(&mut self, s: &[u8]) {
        let start = self.buf.len();
        let len = s.len();
        if len < 64 {
            self.buf.push(0x80 | len as u8);
        } else if len < 4096 {
            self.buf
                .extend_from_slice(&[0xe0 | (len >> 8) as u8, len as u8]);
        } else {
            self.buf.push(STR_32BIT);
            // Redis caps a listpack at 1 GB, so lengths fit in 32 bits.
            self.buf.extend_from_slice(&(len as u32).to_le_bytes());
        }
        self.buf.extend_from_slice(s);
        self.end_entry(start);
    }

    fn end_entry(&mut self, start: usize) {
        let len = self.buf.len() - start;
        encode_backlen(&mut self.buf, len);
        self.count += 1;
    }

    pub(super) fn finish(mut self) -> Vec<u8> {
        self.buf.push(EOF);
        let size = self.buf.len() as u32;
        let count = u16::try_from(self.count).unwrap_or(COUNT_UNKNOWN);
        self.buf[..4].copy_from_slice(&size.to_le_bytes());
        self.buf[4..HEADER].copy_from_slice(&count.to_le_bytes());
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(items: &[&[u8]]) -> Vec<u8> {
        let mut lp = Builder::new();
        for item in items {
            lp.push(item);
        }
        lp.finish()
    }

    #[test]
    fn every_encoding_round_trips_and_matches_redis_bytes() {
        let long = vec![b'x'; 5000];
        let medium = vec![b'y'; 200];
        let items: Vec<&[u8]> = vec![
            b"0",
            b"127",
            b"128",
            b"-1",
            b"4095",
            b"-4096",
            b"4096",
            b"-4097",
            b"32767",
            b"-32768",
            b"32768",
            b"8388607",
            b"-8388608",
            b"8388608",
            b"2147483647",
            b"-2147483648",
            b"2147483648",
            b"9223372036854775807",
            b"-9223372036854775808",
            b"",
            b"a",
            b"007",
            b"-0",
            b"+1",
            b"1.5",
            &medium,
            &long,
        ];
        let lp = build(&items);
        let decoded = entries(&lp).unwrap();
        assert_eq!(
            decoded,
            items.iter().map(|i| i.to_vec()).collect::<Vec<_>>()
        );

        // Bytes as Redis's lpAppend writes them.
        assert_eq!(build(&[b"1"]), [7 + 2, 0, 0, 0, 1, 0, 0x01, 1, 0xff]);
        assert_eq!(build(&[b"-1"])[HEADER..], [0xdf, 0xff, 2, 0xff]);
        assert_eq!(build(&[b"300"])[HEADER..], [0xc1, 0x2c, 2, 0xff]);
        assert_eq!(build(&[b"-4097"])[HEADER..], [0xf1, 0xff, 0xef, 3, 0xff]);
        assert_eq!(build(&[b"ab"])[HEADER..], [0x82, b'a', b'b', 3, 0xff]);
        let lp = build(&[&medium]);
        // 202 bytes of entry: backlen 0x01 0xCA (202 = 1 << 7 | 74).
        assert_eq!(lp[HEADER..HEADER + 2], [0xe0, 200]);
        assert_eq!(lp[lp.len() - 3..], [0x01, 0x80 | 74, 0xff]);
    }

    #[test]
    fn backlen_matches_lp_encode_backlen() {
        for len in [
            0, 1, 127, 128, 16382, 16383, 16384, 2097150, 2097151, 268435455,
        ] {
            let mut buf = Vec::new();
            encode_backlen(&mut buf, len);
            assert_eq!(buf.len(), backlen_size(len), "{len}");
            assert_eq!(decode_backlen(&buf), Some(len), "{len}");
        }
        assert_eq!(decode_backlen(&[0x80]), None);
    }

    #[test]
    fn count_beyond_16_bits_is_unknown() {
        let mut lp = Builder::new();
        for _ in 0..70000 {
            lp.push(b"1");
        }
        let lp = lp.finish();
        assert_eq!(lp[4..6], [0xff, 0xff]);
        assert_eq!(entries(&lp).unwrap().len(), 70000);
    }

    #[test]
    fn corruption_is_an_error() {
        let good = build(&[b"a", b"12345", &[b'z'; 100]]);
        assert!(entries(&good).is_ok());
        for len in 0..good.len() {
            assert!(entries(&good[..len]).is_err(), "truncated to {len}");
        }
        let mut wrong_count = good.clone();
        wrong_count[4] = 2;
        assert!(entries(&wrong_count).is_err());
        let mut wrong_backlen = good.clone();
        wrong_backlen[HEADER + 2] = 3;
        assert!(entries(&wrong_backlen).is_err());
        let mut bad_encoding = good.clone();
        bad_encoding[HEADER] = 0xf5;
        assert!(entries(&bad_encoding).is_err());
        // A terminator before the end.
        let mut early_eof = good.clone();
        early_eof[HEADER] = EOF;
        assert!(entries(&early_eof).is_err());
        for i in 0..good.len() {
            for bit in 0..8 {
                let mut flipped = good.clone();
                flipped[i] ^= 1 << bit;
                let _ = entries(&flipped);
            }
        }
    }
}
