//! Streams: entry ids and the encoding of an entry's fields.
//!
//! An entry is one sub-key whose sub-key bytes are its id (ms u64, then seq
//! u64, big-endian), so the entries of a stream sort by id and a range of
//! ids is one bounded iteration. Its value is the field/value list, each
//! item prefixed with its length as a LEB128 varint.

use std::fmt;

/// A stream entry id: milliseconds and a sequence number, ordered as Redis
/// orders them (ms first).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

impl StreamId {
    pub const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    pub const MAX: StreamId = StreamId {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    pub const fn new(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    /// The 16 sub-key bytes of the entry with this id.
    pub fn encode(&self) -> [u8; 16] {
        let mut out = [0; 16];
        out[..8].copy_from_slice(&self.ms.to_be_bytes());
        out[8..].copy_from_slice(&self.seq.to_be_bytes());
        out
    }

    /// Inverts [`StreamId::encode`]; `None` unless `bytes` is 16 bytes.
    pub fn decode(bytes: &[u8]) -> Option<StreamId> {
        if bytes.len() != 16 {
            return None;
        }
        Some(StreamId {
            ms: u64::from_be_bytes(bytes[..8].try_into().ok()?),
            seq: u64::from_be_bytes(bytes[8..].try_into().ok()?),
        })
    }

    /// The next id, `None` after [`StreamId::MAX`].
    pub fn next(self) -> Option<StreamId> {
        match self.seq.checked_add(1) {
            Some(seq) => Some(StreamId { seq, ..self }),
            None => Some(StreamId::new(self.ms.checked_add(1)?, 0)),
        }
    }

    /// The previous id, `None` before [`StreamId::MIN`].
    pub fn prev(self) -> Option<StreamId> {
        match self.seq.checked_sub(1) {
            Some(seq) => Some(StreamId { seq, ..self }),
            None => Some(StreamId::new(self.ms.checked_sub(1)?, u64::MAX)),
        }
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push(n as u8 | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn take_varint(bytes: &mut &[u8]) -> Option<u64> {
    let mut n = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = bytes.split_first()?;
        *bytes = rest;
        n |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(n);
        }
    }
    None
}

/// Encodes an entry's fields and values (`items` alternate field, value).
pub fn encode_stream_fields<B: AsRef<[u8]>>(items: &[B]) -> Vec<u8> {
    let mut out = Vec::with_capacity(items.iter().map(|i| i.as_ref().len() + 2).sum());
    for item in items {
        let item = item.as_ref();
        put_varint(&mut out, item.len() as u64);
        out.extend_from_slice(item);
    }
    out
}

/// Inverts [`encode_stream_fields`]: the items, fields and values
/// alternating; `None` for bytes it did not write.
pub fn decode_stream_fields(mut bytes: &[u8]) -> Option<Vec<&[u8]>> {
    let mut items = Vec::new();
    while !bytes.is_empty() {
        let len = usize::try_from(take_varint(&mut bytes)?).ok()?;
        if len > bytes.len() {
            return None;
        }
        let (item, rest) = bytes.split_at(len);
        items.push(item);
        bytes = rest;
    }
    Some(items)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn ids_round_trip_and_sort_by_value(a in any::<(u64, u64)>(), b in any::<(u64, u64)>()) {
            let (a, b) = (StreamId::new(a.0, a.1), StreamId::new(b.0, b.1));
            prop_assert_eq!(StreamId::decode(&a.encode()), Some(a));
            prop_assert_eq!(a.encode().cmp(&b.encode()), a.cmp(&b));
        }

        #[test]
        fn next_and_prev_are_inverse(ms in any::<u64>(), seq in any::<u64>()) {
            let id = StreamId::new(ms, seq);
            if let Some(next) = id.next() {
                prop_assert!(next > id);
                prop_assert_eq!(next.prev(), Some(id));
            }
        }

        #[test]
        fn fields_round_trip(items in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..12)) {
            let encoded = encode_stream_fields(&items);
            let decoded = decode_stream_fields(&encoded).unwrap();
            prop_assert_eq!(decoded, items.iter().map(|i| &i[..]).collect::<Vec<_>>());
        }
    }

    #[test]
    fn edges_have_no_neighbour_beyond() {
        assert_eq!(StreamId::MAX.next(), None);
        assert_eq!(StreamId::MIN.prev(), None);
        assert_eq!(StreamId::new(1, u64::MAX).next(), Some(StreamId::new(2, 0)));
        assert_eq!(StreamId::new(2, 0).prev(), Some(StreamId::new(1, u64::MAX)));
        assert_eq!(StreamId::new(5, 7).to_string(), "5-7");
        assert_eq!(decode_stream_fields(&[5, b'a']), None);
        assert_eq!(StreamId::decode(&[0; 15]), None);
    }
}
