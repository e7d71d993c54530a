//! Formats defined by Redis itself, reproduced byte for byte so that values
//! and replies match a redis-server's: the HyperLogLog string (sparse and
//! dense registers, its estimator), the 52-bit geohash GEO commands keep
//! as sorted-set scores, and the RDB object encoding of DUMP, RESTORE and
//! MIGRATE payloads.
//!
//! Like `redrock-encoding`, this crate does no I/O and knows nothing of
//! RocksDB or RESP: it turns bytes and numbers into bytes and numbers.

pub mod geohash;
pub mod hyperloglog;
pub mod rdb;
