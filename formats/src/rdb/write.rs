//! Saving an RDB object (rdb.c `rdbSaveObjectType`, `rdbSaveObject`) in the
//! encodings Redis 7.2 picks with its default configuration.

use std::cmp::Ordering;

use super::{
    intset, kind, listpack, parse_canonical_int, ExpiringField, Value, CONTAINER_PACKED,
    CONTAINER_PLAIN,
};

/// Redis's defaults for the compact encodings: `set-max-intset-entries`,
/// `{set,zset,hash}-max-listpack-entries` and `*-max-listpack-value`.
const MAX_INTSET_ENTRIES: usize = 512;
const MAX_SET_LISTPACK_ENTRIES: usize = 128;
const MAX_ZSET_LISTPACK_ENTRIES: usize = 128;
const MAX_HASH_LISTPACK_ENTRIES: usize = 512;
const MAX_LISTPACK_VALUE: usize = 64;
/// A quicklist node's listpack size with `list-max-listpack-size -2`; an
/// element larger than it gets a plain node of its own (Redis 7.2).
const LIST_NODE_SIZE: usize = 8192;
/// What `_quicklistNodeAllowInsert` adds to an element for its encoding.
const LIST_ENTRY_OVERHEAD: usize = 8;

/// The type byte and object of `value`, in the encodings RDB `version`
/// knows (10 has no set listpack; field expiry, checked by the caller,
/// needs 12).
pub(super) fn object(out: &mut Vec<u8>, value: &Value, version: u16) {
    match value {
        Value::String(s) => {
            out.push(kind::STRING);
            string(out, s);
        }
        Value::List(items) => {
            out.push(kind::LIST_QUICKLIST_2);
            quicklist(out, items);
        }
        Value::Set(members) => set(out, members, version),
        Value::SortedSet(members) => sorted_set(out, members),
        Value::Hash(fields) => hash(out, fields.iter().map(|(f, v)| (f, v))),
        Value::HashWithExpiry(fields) => {
            if fields.iter().all(|f| f.2.is_none()) {
                hash(out, fields.iter().map(|(f, v, _)| (f, v)));
            } else {
                hash_with_expiry(out, fields);
            }
        }
    }
}

/// rdbSaveLen.
pub(super) fn len(out: &mut Vec<u8>, len: usize) {
    let len = len as u64;
    if len < 1 << 6 {
        out.push(len as u8);
    } else if len < 1 << 14 {
        out.extend_from_slice(&(len as u16 | 0x4000).to_be_bytes());
    } else if let Ok(len) = u32::try_from(len) {
        out.push(0x80);
        out.extend_from_slice(&len.to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&len.to_be_bytes());
    }
}

/// rdbSaveRawString: an integer if `s` is the canonical form of one that
/// fits 32 bits, else LZF-compressed if longer than 20 bytes and that saves
/// at least 4 (`rdbcompression yes`), else as is.
fn string(out: &mut Vec<u8>, s: &[u8]) {
    let int = if s.len() <= 11 {
        parse_canonical_int(s)
    } else {
        None
    };
    match int {
        Some(n @ -128..=127) => out.extend_from_slice(&[0xc0, n as u8]),
        Some(n @ -32768..=32767) => {
            out.push(0xc1);
            out.extend_from_slice(&(n as i16).to_le_bytes());
        }
        Some(n @ -2147483648..=2147483647) => {
            out.push(0xc2);
            out.extend_from_slice(&(n as i32).to_le_bytes());
        }
        _ => {
            let compressed = (s.len() > 20)
                .then(|| lzf::compress(s).ok())
                .flatten()
                .filter(|c| c.len() + 4 <= s.len());
            if let Some(compressed) = compressed {
                out.push(0xc3);
                len(out, compressed.len());
                len(out, s.len());
                out.extend_from_slice(&compressed);
            } else {
                len(out, s.len());
                out.extend_from_slice(s);
            }
        }
    }
}

/// A quicklist of listpack nodes of up to 8 KB, as pushing `items` one by
/// one builds it.
fn quicklist(out: &mut Vec<u8>, items: &[Vec<u8>]) {
    enum Node<'a> {
        Plain(&'a [u8]),
        Packed(listpack::Builder),
    }
    let mut nodes = Vec::new();
    for item in items {
        if item.len() > LIST_NODE_SIZE {
            nodes.push(Node::Plain(item));
            continue;
        }
        match nodes.last_mut() {
            Some(Node::Packed(lp))
                if lp.size() + item.len() + LIST_ENTRY_OVERHEAD <= LIST_NODE_SIZE =>
            {
                lp.push(item)
            }
            _ => {
                let mut lp = listpack::Builder::new();
                lp.push(item);
                nodes.push(Node::Packed(lp));
            }
        }
    }
    len(out, nodes.len());
    for node in nodes {
        match node {
            Node::Plain(item) => {
                len(out, CONTAINER_PLAIN as usize);
                string(out, item);
            }
            Node::Packed(lp) => {
                len(out, CONTAINER_PACKED as usize);
                string(out, &lp.finish());
            }
        }
    }
}

/// Whether `count` members or fields of these `strings` fit a listpack of at
/// most `max_entries`.
fn is_small<'a>(
    count: usize,
    max_entries: usize,
    strings: impl IntoIterator<Item = &'a Vec<u8>>,
) -> bool {
    count <= max_entries && strings.into_iter().all(|s| s.len() <= MAX_LISTPACK_VALUE)
}

fn set(out: &mut Vec<u8>, members: &[Vec<u8>], version: u16) {
    let ints: Option<Vec<i64>> = members.iter().map(|m| parse_canonical_int(m)).collect();
    match ints {
        Some(ints) if ints.len() <= MAX_INTSET_ENTRIES => {
            out.push(kind::SET_INTSET);
            string(out, &intset::encode(ints));
        }
        _ if version >= 11 && is_small(members.len(), MAX_SET_LISTPACK_ENTRIES, members) => {
            out.push(kind::SET_LISTPACK);
            let mut lp = listpack::Builder::new();
            for member in members {
                lp.push(member);
            }
            string(out, &lp.finish());
        }
        _ => {
            out.push(kind::SET);
            len(out, members.len());
            for member in members {
                string(out, member);
            }
        }
    }
}

/// Redis's order of a sorted set: by score, then member bytes. Adding 0.0
/// makes -0.0 equal 0.0, as Redis's `<` has it.
fn by_score(a: &(Vec<u8>, f64), b: &(Vec<u8>, f64)) -> Ordering {
    (a.1 + 0.0)
        .total_cmp(&(b.1 + 0.0))
        .then_with(|| a.0.cmp(&b.0))
}

fn sorted_set(out: &mut Vec<u8>, members: &[(Vec<u8>, f64)]) {
    let mut sorted: Vec<&(Vec<u8>, f64)> = members.iter().collect();
    sorted.sort_by(|a, b| by_score(a, b));
    if is_small(
        members.len(),
        MAX_ZSET_LISTPACK_ENTRIES,
        members.iter().map(|(m, _)| m),
    ) {
        // The listpack is kept in order: Redis does not sort it on loading.
        out.push(kind::ZSET_LISTPACK);
        let mut lp = listpack::Builder::new();
        for (member, score) in sorted {
            lp.push(member);
            push_score(&mut lp, *score);
        }
        string(out, &lp.finish());
    } else {
        // Greatest first, as Redis walks its skiplist from the tail.
        out.push(kind::ZSET_2);
        len(out, members.len());
        for (member, score) in sorted.into_iter().rev() {
            string(out, member);
            out.extend_from_slice(&score.to_le_bytes());
        }
    }
}

/// A score as `zzlInsertAt` stores it: Redis 7.2's `d2string`, an integer
/// when the score is one (which the listpack then encodes as such).
fn push_score(lp: &mut listpack::Builder, score: f64) {
    // double2ll's range: integers up to LLONG_MAX / 2 convert exactly.
    const LIMIT: f64 = (i64::MAX / 2) as f64;
    if score.is_infinite() {
        lp.push(if score > 0.0 { b"inf" } else { b"-inf" });
    } else if score == 0.0 && score.is_sign_negative() {
        lp.push(b"-0");
    } else if (-LIMIT..=LIMIT).contains(&score) && score.fract() == 0.0 {
        lp.push_int(score as i64);
    } else {
        lp.push(format_double(score).as_bytes());
    }
}

/// `fpconv_dtoa` (Redis 7.2's grisu2): the shortest digits that read back
/// as `x`, laid out plainly unless the exponent is far, then as `1.5e+300`.
fn format_double(x: f64) -> String {
    // `{:e}` gives the shortest round-trip digits as d.ddde[-]x.
    let sci = format!("{:e}", x.abs());
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((&sci, "0"));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let ndigits = digits.len() as i32;
    let k = exponent - (ndigits - 1);
    let mut out = String::from(if x < 0.0 { "-" } else { "" });
    if k >= 0 && exponent.abs() < ndigits + 7 {
        out += &digits;
        out.extend(std::iter::repeat_n('0', k as usize));
    } else if k < 0 && (k > -7 || exponent.abs() < 4) {
        let point = ndigits + k;
        if point <= 0 {
            out += "0.";
            out.extend(std::iter::repeat_n('0', (-point) as usize));
            out += &digits;
        } else {
            let (int, frac) = digits.split_at(point as usize);
            out += int;
            out += ".";
            out += frac;
        }
    } else {
        let (first, rest) = digits.split_at(1);
        out += first;
        if !rest.is_empty() {
            out += ".";
            out += rest;
        }
        out += if exponent < 0 { "e-" } else { "e+" };
        out += &exponent.abs().to_string();
    }
    out
}

fn hash<'a>(
    out: &mut Vec<u8>,
    fields: impl ExactSizeIterator<Item = (&'a Vec<u8>, &'a Vec<u8>)> + Clone,
) {
    if is_small(
        fields.len(),
        MAX_HASH_LISTPACK_ENTRIES,
        fields.clone().flat_map(|(f, v)| [f, v]),
    ) {
        out.push(kind::HASH_LISTPACK);
        let mut lp = listpack::Builder::new();
        for (field, value) in fields {
            lp.push(field);
            lp.push(value);
        }
        string(out, &lp.finish());
    } else {
        out.push(kind::HASH);
        len(out, fields.len());
        for (field, value) in fields {
            string(out, field);
            string(out, value);
        }
    }
}

/// A hash with field expiry, as Redis 7.4 writes it: both forms start with
/// the earliest expiry.
fn hash_with_expiry(out: &mut Vec<u8>, fields: &[ExpiringField]) {
    let earliest = fields.iter().filter_map(|f| f.2).min().unwrap_or(0);
    if is_small(
        fields.len(),
        MAX_HASH_LISTPACK_ENTRIES,
        fields.iter().flat_map(|(f, v, _)| [f, v]),
    ) {
        // The listpack holds fields that expire first, soonest first, then
        // the others (expiry 0), as Redis keeps and validates it.
        let mut sorted: Vec<_> = fields.iter().collect();
        sorted.sort_by_key(|f| (f.2.is_none(), f.2));
        out.push(kind::HASH_LISTPACK_EX);
        out.extend_from_slice(&earliest.to_le_bytes());
        let mut lp = listpack::Builder::new();
        for (field, value, expiry) in sorted {
            lp.push(field);
            lp.push(value);
            lp.push_int(expiry.map_or(0, |t| t as i64));
        }
        string(out, &lp.finish());
    } else {
        // Expiry times relative to the earliest, plus 1: 0 is for none.
        out.push(kind::HASH_METADATA);
        out.extend_from_slice(&earliest.to_le_bytes());
        len(out, fields.len());
        for (field, value, expiry) in fields {
            len(out, expiry.map_or(0, |t| (t - earliest + 1) as usize));
            string(out, field);
            string(out, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(s: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        string(&mut out, s);
        out
    }

    #[test]
    fn strings_as_rdb_save_raw_string() {
        assert_eq!(encoded(b"12"), [0xc0, 12]);
        assert_eq!(encoded(b"-128"), [0xc0, 0x80]);
        assert_eq!(encoded(b"1234"), [0xc1, 0xd2, 0x04]);
        assert_eq!(encoded(b"-2147483648"), [0xc2, 0, 0, 0, 0x80]);
        assert_eq!(encoded(b"2147483648"), b"\x0a2147483648");
        assert_eq!(encoded(b"007"), b"\x03007");
        assert_eq!(encoded(b""), [0]);
        let long = vec![b'a'; 100];
        let lzf = encoded(&long);
        assert_eq!(lzf[0], 0xc3);
        assert!(lzf.len() < 20);
        // 21 distinct bytes do not compress.
        let plain: Vec<u8> = (0..21).collect();
        assert_eq!(encoded(&plain)[0], 21);
        let mut len14 = Vec::new();
        len(&mut len14, 300);
        assert_eq!(len14, [0x41, 0x2c]);
        let mut len32 = Vec::new();
        len(&mut len32, 70000);
        assert_eq!(len32, [0x80, 0, 1, 0x11, 0x70]);
    }

    #[test]
    fn doubles_as_fpconv_dtoa() {
        for (x, text) in [
            (0.1, "0.1"),
            (1.5, "1.5"),
            (-2.25, "-2.25"),
            (1234.5678, "1234.5678"),
            (123456.789, "123456.789"),
            (0.000001, "0.000001"),
            (1e-7, "1e-7"),
            (1.5e-10, "1.5e-10"),
            (1e19, "1e+19"),
            (1.2345678901234567e19, "12345678901234567000"),
            (1e300, "1e+300"),
            (-5e-324, "-5e-324"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
        ] {
            assert_eq!(format_double(x), text);
            assert_eq!(text.parse::<f64>().unwrap(), x);
        }
    }

    #[test]
    fn lists_split_into_8k_nodes_and_plain_nodes() {
        let items: Vec<Vec<u8>> = (0..3000)
            .map(|i| format!("item:{i}").into_bytes())
            .collect();
        let mut out = Vec::new();
        quicklist(&mut out, &items);
        // 31 KB of listpack entries: four nodes of up to 8 KB.
        assert_eq!(out[0], 4);
        let big = vec![vec![b'a'], vec![b'b'; 9000], vec![b'c']];
        let mut out = Vec::new();
        quicklist(&mut out, &big);
        assert_eq!(out[0], 3);
        assert_eq!(out[1], CONTAINER_PACKED as u8);
    }
}
