//! RedRock's on-disk encoding: how user keys, collection members and key
//! metadata are laid out as RocksDB keys and values.
//!
//! Every fixed-width integer is big-endian so that byte order is numeric
//! order; RocksDB's bytewise comparator then keeps a keyspace's keys, a slot's
//! keys and a collection's members contiguous and sorted. This crate does no
//! I/O: it only builds and parses byte strings, so its invariants (round trip,
//! ordering) are property-tested in isolation.

mod keys;
mod metadata;
mod score;
mod stream;

pub use keys::{
    expire_key, keyspace_prefix, metadata_key, metadata_key_prefix, parse_expire_key,
    parse_member_owner, parse_metadata_key, prefix_successor, slot_prefix, subkey, subkey_prefix,
    ExpireKey, Keyspace, MetadataKey,
};
pub use metadata::{
    expiry_times, DataType, DecodeError, Metadata, MetadataHeader, StreamMeta,
    BITMAP_FRAGMENT_BYTES, FORMAT_VERSION,
};
pub use score::{decode_score, encode_score};
pub use stream::{decode_stream_fields, encode_stream_fields, StreamId};
