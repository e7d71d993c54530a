//! Metadata values: one per user key, in the metadata CF.
//!
//! ```text
//! flags u8 (low 4 bits: type, high 4 bits: format version) | expire-at ms u64 (0 = none)
//! string:      | raw value bytes
//! collections: | version u64 | size u64 [| list head u64 | list tail u64]
//!                [| hash: earliest field expiry ms u64, when not 0]
//! bitmap:      | version u64 | length in bytes u64 (the fragments are sub-keys)
//! stream:      | version u64 | entries u64 | last id | first entry id
//!              | max deleted id | entries added u64 (each id: ms u64, seq u64)
//! ```

use crate::stream::StreamId;
use std::fmt;

/// The format version written into the high bits of the flags byte.
pub const FORMAT_VERSION: u8 = 1;

const HEADER_LEN: usize = 9;

/// The Redis data type of a key, as stored in the low bits of the flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DataType {
    String = 1,
    Hash = 2,
    List = 3,
    Set = 4,
    ZSet = 5,
    /// A string kept in fragments of [`BITMAP_FRAGMENT_BYTES`], one sub-key
    /// each, so that bit commands on a big string read and write one
    /// fragment. Redis sees a string: see [`DataType::redis_type`].
    Bitmap = 6,
    /// Entries as sub-keys by id (see [`crate::stream`]); Kvrocks's type 8.
    Stream = 8,
}

/// The bytes of a bitmap each fragment sub-key covers.
pub const BITMAP_FRAGMENT_BYTES: u64 = 1024;

impl DataType {
    fn from_bits(bits: u8) -> Option<DataType> {
        Some(match bits {
            1 => DataType::String,
            2 => DataType::Hash,
            3 => DataType::List,
            4 => DataType::Set,
            5 => DataType::ZSet,
            6 => DataType::Bitmap,
            8 => DataType::Stream,
            _ => return None,
        })
    }

    /// The type Redis knows the key as: a bitmap is a string.
    pub fn redis_type(self) -> DataType {
        match self {
            DataType::Bitmap => DataType::String,
            other => other,
        }
    }

    /// Whether string commands accept the key.
    pub fn is_string(self) -> bool {
        self.redis_type() == DataType::String
    }

    /// The name TYPE replies with.
    pub fn name(self) -> &'static str {
        match self {
            DataType::String | DataType::Bitmap => "string",
            DataType::Hash => "hash",
            DataType::List => "list",
            DataType::Set => "set",
            DataType::ZSet => "zset",
            DataType::Stream => "stream",
        }
    }

    /// Whether a key of this type exists with no members: an emptied
    /// stream keeps its last id, as in Redis; other collections go.
    pub fn keeps_empty(self) -> bool {
        self == DataType::Stream
    }

    /// Whether keys of this type keep their members (a bitmap: its
    /// fragments) as sub-keys under a version.
    pub fn is_collection(self) -> bool {
        self != DataType::String
    }
}

/// Why a stored value could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    TooShort,
    UnknownType(u8),
    UnknownFormat(u8),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::TooShort => write!(f, "metadata value is truncated"),
            DecodeError::UnknownType(t) => write!(f, "metadata has unknown type {t}"),
            DecodeError::UnknownFormat(v) => write!(f, "metadata has unknown format version {v}"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// The part of a metadata value every type shares: enough to answer TYPE,
/// TTL and EXISTS without decoding the rest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MetadataHeader {
    pub data_type: DataType,
    /// Absolute expiry in Unix milliseconds; 0 means no expiry.
    pub expire_at_ms: u64,
    /// Hashes only: no later than the earliest expiry of a field, 0 when no
    /// field has one (stored after the size). A key is indexed in the
    /// expire CF at both times.
    pub field_expiry_ms: u64,
}

impl MetadataHeader {
    /// Decodes the header at the start of a metadata value and returns it
    /// with the rest of the value.
    pub fn decode(value: &[u8]) -> Result<(MetadataHeader, &[u8]), DecodeError> {
        if value.len() < HEADER_LEN {
            return Err(DecodeError::TooShort);
        }
        let flags = value[0];
        let format = flags >> 4;
        if format != FORMAT_VERSION {
            return Err(DecodeError::UnknownFormat(format));
        }
        let data_type =
            DataType::from_bits(flags & 0x0f).ok_or(DecodeError::UnknownType(flags & 0x0f))?;
        let expire_at_ms = u64::from_be_bytes(value[1..9].try_into().expect("8 bytes"));
        let rest = &value[HEADER_LEN..];
        let field_expiry_ms = match (data_type, rest.get(16..24)) {
            (DataType::Hash, Some(at)) => u64::from_be_bytes(at.try_into().expect("8 bytes")),
            _ => 0,
        };
        Ok((
            MetadataHeader {
                data_type,
                expire_at_ms,
                field_expiry_ms,
            },
            rest,
        ))
    }

    /// The times at which something in the key expires: the key itself,
    /// and for a hash its earliest field. Each has an entry in the expire
    /// CF.
    pub fn expiry_times(&self) -> impl Iterator<Item = u64> {
        expiry_times(self.expire_at_ms, self.field_expiry_ms)
    }

    /// Whether the key is logically gone at `now_ms`.
    pub fn is_expired(&self, now_ms: u64) -> bool {
        self.expire_at_ms != 0 && self.expire_at_ms <= now_ms
    }

    fn encode_into(&self, out: &mut Vec<u8>) {
        out.push((FORMAT_VERSION << 4) | self.data_type as u8);
        out.extend_from_slice(&self.expire_at_ms.to_be_bytes());
    }
}

/// The distinct non-zero times of a key's expiry and its earliest field's.
pub fn expiry_times(expire_at_ms: u64, field_expiry_ms: u64) -> impl Iterator<Item = u64> {
    let field = (field_expiry_ms != expire_at_ms).then_some(field_expiry_ms);
    [Some(expire_at_ms), field]
        .into_iter()
        .flatten()
        .filter(|&at| at != 0)
}

/// What a stream's metadata keeps beside its size, as Redis's stream does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamMeta {
    /// The last id added (or set by XSETID); new ids must be above it.
    pub last_id: StreamId,
    /// The id of the first entry; 0-0 when there is none.
    pub first_id: StreamId,
    /// The highest id XDEL removed (or XSETID set).
    pub max_deleted_id: StreamId,
    /// How many entries were ever added.
    pub entries_added: u64,
}

/// The decoded metadata of a collection key (hash, set, zset, list, stream).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Metadata {
    pub header: MetadataHeader,
    /// The incarnation of the key; its sub-keys carry it in their prefix.
    pub version: u64,
    /// The number of members.
    pub size: u64,
    /// Lists only: index of the first element.
    pub head: u64,
    /// Lists only: one past the index of the last element.
    pub tail: u64,
    /// Streams only.
    pub stream: StreamMeta,
}

/// Where list indexes start, so that both ends can grow.
pub const LIST_INITIAL_INDEX: u64 = 1 << 63;

impl Metadata {
    /// Fresh metadata for a new, empty collection.
    pub fn new(data_type: DataType, version: u64) -> Metadata {
        Metadata {
            header: MetadataHeader {
                data_type,
                expire_at_ms: 0,
                field_expiry_ms: 0,
            },
            version,
            size: 0,
            head: LIST_INITIAL_INDEX,
            tail: LIST_INITIAL_INDEX,
            stream: StreamMeta::default(),
        }
    }

    /// Whether the collection exists: it has members, or is a stream
    /// (see [`DataType::keeps_empty`]).
    pub fn exists(&self) -> bool {
        self.size > 0 || self.header.data_type.keeps_empty()
    }

    /// Encodes a string value's metadata: the header followed by the bytes.
    pub fn encode_string(expire_at_ms: u64, value: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + value.len());
        MetadataHeader {
            data_type: DataType::String,
            expire_at_ms,
            field_expiry_ms: 0,
        }
        .encode_into(&mut out);
        out.extend_from_slice(value);
        out
    }

    /// Decodes a collection's metadata; strings have no body to decode.
    pub fn decode(value: &[u8]) -> Result<Metadata, DecodeError> {
        let (header, rest) = MetadataHeader::decode(value)?;
        let mut meta = Metadata::new(header.data_type, 0);
        meta.header = header;
        if !header.data_type.is_collection() {
            return Ok(meta);
        }
        let field = |i: usize| -> Result<u64, DecodeError> {
            rest.get(i * 8..i * 8 + 8)
                .map(|b| u64::from_be_bytes(b.try_into().expect("8 bytes")))
                .ok_or(DecodeError::TooShort)
        };
        meta.version = field(0)?;
        meta.size = field(1)?;
        match header.data_type {
            DataType::List => {
                meta.head = field(2)?;
                meta.tail = field(3)?;
            }
            DataType::Stream => {
                let id = |i: usize| -> Result<StreamId, DecodeError> {
                    Ok(StreamId::new(field(i)?, field(i + 1)?))
                };
                meta.stream = StreamMeta {
                    last_id: id(2)?,
                    first_id: id(4)?,
                    max_deleted_id: id(6)?,
                    entries_added: field(8)?,
                };
            }
            _ => {}
        }
        Ok(meta)
    }

    /// Encodes a collection's metadata.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + 88);
        self.header.encode_into(&mut out);
        let mut put = |field: u64| out.extend_from_slice(&field.to_be_bytes());
        put(self.version);
        put(self.size);
        match self.header.data_type {
            DataType::List => {
                put(self.head);
                put(self.tail);
            }
            DataType::Stream => {
                let s = &self.stream;
                for id in [s.last_id, s.first_id, s.max_deleted_id] {
                    put(id.ms);
                    put(id.seq);
                }
                put(s.entries_added);
            }
            _ => {}
        }
        if self.header.data_type == DataType::Hash && self.header.field_expiry_ms != 0 {
            out.extend_from_slice(&self.header.field_expiry_ms.to_be_bytes());
        }
        out
    }
}

impl MetadataHeader {
    /// Rewrites the expiry of an encoded metadata value in place, whatever
    /// its type, so EXPIRE costs the same for a string and a huge collection.
    /// The value must have been accepted by [`MetadataHeader::decode`].
    pub fn rewrite_expire(value: &mut [u8], expire_at_ms: u64) {
        value[1..HEADER_LEN].copy_from_slice(&expire_at_ms.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn any_collection_type() -> impl Strategy<Value = DataType> {
        prop_oneof![
            Just(DataType::Hash),
            Just(DataType::List),
            Just(DataType::Set),
            Just(DataType::ZSet),
            Just(DataType::Bitmap),
            Just(DataType::Stream),
        ]
    }

    proptest! {
        #[test]
        fn string_metadata_round_trips(expire in any::<u64>(), value in proptest::collection::vec(any::<u8>(), 0..128)) {
            let encoded = Metadata::encode_string(expire, &value);
            let (header, rest) = MetadataHeader::decode(&encoded).unwrap();
            prop_assert_eq!(header.data_type, DataType::String);
            prop_assert_eq!(header.expire_at_ms, expire);
            prop_assert_eq!(rest, &value[..]);
        }

        #[test]
        fn collection_metadata_round_trips(t in any_collection_type(), expire in any::<u64>(), field_expiry in any::<u64>(), version in any::<u64>(), size in any::<u64>(), head in any::<u64>(), tail in any::<u64>()) {
            let mut meta = Metadata::new(t, version);
            meta.header.expire_at_ms = expire;
            if t == DataType::Hash {
                meta.header.field_expiry_ms = field_expiry;
            }
            meta.size = size;
            if t == DataType::List {
                meta.head = head;
                meta.tail = tail;
            }
            prop_assert_eq!(Metadata::decode(&meta.encode()).unwrap(), meta);
        }

        #[test]
        fn stream_metadata_round_trips(ids in any::<[u64; 6]>(), added in any::<u64>(), size in any::<u64>()) {
            let mut meta = Metadata::new(DataType::Stream, 9);
            meta.size = size;
            meta.stream = StreamMeta {
                last_id: StreamId::new(ids[0], ids[1]),
                first_id: StreamId::new(ids[2], ids[3]),
                max_deleted_id: StreamId::new(ids[4], ids[5]),
                entries_added: added,
            };
            prop_assert_eq!(Metadata::decode(&meta.encode()).unwrap(), meta);
        }

        #[test]
        fn expire_rewrite_keeps_the_rest(t in any_collection_type(), version in any::<u64>(), size in any::<u64>(), expire in any::<u64>()) {
            let mut meta = Metadata::new(t, version);
            meta.size = size;
            let mut encoded = meta.encode();
            MetadataHeader::rewrite_expire(&mut encoded, expire);
            meta.header.expire_at_ms = expire;
            prop_assert_eq!(Metadata::decode(&encoded).unwrap(), meta);
        }
    }

    #[test]
    fn garbage_is_rejected_not_misread() {
        assert_eq!(MetadataHeader::decode(&[0x11]), Err(DecodeError::TooShort));
        assert_eq!(
            MetadataHeader::decode(&[0x1f, 0, 0, 0, 0, 0, 0, 0, 0]),
            Err(DecodeError::UnknownType(0xf))
        );
        assert_eq!(
            MetadataHeader::decode(&[0x21, 0, 0, 0, 0, 0, 0, 0, 0]),
            Err(DecodeError::UnknownFormat(2))
        );
        let hash = Metadata::new(DataType::Hash, 7).encode();
        assert_eq!(Metadata::decode(&hash[..12]), Err(DecodeError::TooShort));
    }

    #[test]
    fn a_hash_is_indexed_at_its_expiry_and_its_earliest_field() {
        let mut meta = Metadata::new(DataType::Hash, 7);
        assert_eq!(meta.header.expiry_times().count(), 0);
        meta.header.field_expiry_ms = 5;
        let (header, _) = MetadataHeader::decode(&meta.encode()).unwrap();
        assert_eq!(header.expiry_times().collect::<Vec<_>>(), [5]);
        meta.header.expire_at_ms = 9;
        let (header, _) = MetadataHeader::decode(&meta.encode()).unwrap();
        assert_eq!(header.expiry_times().collect::<Vec<_>>(), [9, 5]);
        meta.header.expire_at_ms = 5;
        assert_eq!(meta.header.expiry_times().collect::<Vec<_>>(), [5]);
    }
}
