//! A RocksDB write batch read record by record, from its representation
//! (as the WAL holds it: a sequence number, a count, then tagged records).
//!
//! RocksDB's own iteration (`WriteBatch::iterate_cf`) stops silently at
//! the first range delete, which the bindings have no callback for: a
//! reader following batches (a replica, a slot migration, a pipeline
//! reading its pending writes) would miss it and every record after it.
//! They read batches here instead.

use super::{Cf, Result, StorageError};

/// The bytes a batch's representation starts with: a sequence number (u64)
/// and a record count (u32), both little-endian.
pub const BATCH_HEADER: usize = 12;

/// One write of a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BatchRecord<'a> {
    Put {
        cf: Cf,
        key: &'a [u8],
        value: &'a [u8],
    },
    Delete {
        cf: Cf,
        key: &'a [u8],
    },
    /// Removes the keys in `from..to`.
    DeleteRange {
        cf: Cf,
        from: &'a [u8],
        to: &'a [u8],
    },
    Merge {
        cf: Cf,
        key: &'a [u8],
        value: &'a [u8],
    },
}

// Record tags (RocksDB's `ValueType`, db/dbformat.h).
const DELETION: u8 = 0x0;
const VALUE: u8 = 0x1;
const MERGE: u8 = 0x2;
const LOG_DATA: u8 = 0x3;
const CF_DELETION: u8 = 0x4;
const CF_VALUE: u8 = 0x5;
const CF_MERGE: u8 = 0x6;
const SINGLE_DELETION: u8 = 0x7;
const CF_SINGLE_DELETION: u8 = 0x8;
const NOOP: u8 = 0xD;
const CF_RANGE_DELETION: u8 = 0xE;
const RANGE_DELETION: u8 = 0xF;

/// The records of a batch's representation `data` (header included), in
/// order. A record of a kind RedRock never writes is an error.
pub fn batch_records(data: &[u8]) -> Result<Vec<BatchRecord<'_>>> {
    let mut input = data
        .get(BATCH_HEADER..)
        .ok_or_else(|| broken("it is shorter than its header"))?;
    let mut records = Vec::new();
    while let Some((&tag, rest)) = input.split_first() {
        input = rest;
        let cf_id = match tag {
            CF_DELETION | CF_VALUE | CF_MERGE | CF_SINGLE_DELETION | CF_RANGE_DELETION => {
                varint32(&mut input)?
            }
            _ => 0,
        };
        let cf =
            Cf::from_id(cf_id).ok_or_else(|| broken(&format!("it names column family {cf_id}")))?;
        let record = match tag {
            VALUE | CF_VALUE => BatchRecord::Put {
                cf,
                key: slice(&mut input)?,
                value: slice(&mut input)?,
            },
            DELETION | CF_DELETION | SINGLE_DELETION | CF_SINGLE_DELETION => BatchRecord::Delete {
                cf,
                key: slice(&mut input)?,
            },
            RANGE_DELETION | CF_RANGE_DELETION => BatchRecord::DeleteRange {
                cf,
                from: slice(&mut input)?,
                to: slice(&mut input)?,
            },
            MERGE | CF_MERGE => BatchRecord::Merge {
                cf,
                key: slice(&mut input)?,
                value: slice(&mut input)?,
            },
            LOG_DATA => {
                slice(&mut input)?;
                continue;
            }
            NOOP => continue,
            other => return Err(broken(&format!("it holds a record of kind {other:#x}"))),
        };
        records.push(record);
    }
    Ok(records)
}

fn broken(why: &str) -> StorageError {
    StorageError(format!("a write batch cannot be read: {why}"))
}

fn varint32(input: &mut &[u8]) -> Result<u32> {
    let mut value = 0u32;
    for shift in (0..35).step_by(7) {
        let (&byte, rest) = input
            .split_first()
            .ok_or_else(|| broken("a length is cut short"))?;
        *input = rest;
        value |= u32::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(broken("a length is too long"))
}

fn slice<'a>(input: &mut &'a [u8]) -> Result<&'a [u8]> {
    let length = varint32(input)? as usize;
    if input.len() < length {
        return Err(broken("a record is cut short"));
    }
    let (head, rest) = input.split_at(length);
    *input = rest;
    Ok(head)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::tests::storage;

    /// Every kind of write RedRock makes, in every column family, read
    /// back in order, with records after a range delete too (which
    /// RocksDB's own iteration drops).
    #[test]
    fn reads_back_every_write_of_a_batch_in_order() {
        let (_dir, storage) = storage();
        let mut batch = storage.batch();
        let long_value = vec![7u8; 300];
        batch.put(Cf::Metadata, b"m", &long_value);
        batch.delete_range(Cf::Subkey, b"a", b"b");
        batch.delete(Cf::Subkey, b"s");
        batch.put(Cf::Default, b"d", b"v");
        batch.delete(Cf::Default, b"x");
        batch.delete_range(Cf::Default, b"p", b"q");
        let mut rocks = rocksdb::WriteBatch::default();
        rocks.merge(b"c", b"1");
        let data = [batch.inner.data(), &rocks.data()[BATCH_HEADER..]].concat();
        let (metadata, subkey, default) = (Cf::Metadata, Cf::Subkey, Cf::Default);
        assert_eq!(
            batch_records(&data).unwrap(),
            vec![
                BatchRecord::Put {
                    cf: metadata,
                    key: b"m",
                    value: &long_value
                },
                BatchRecord::DeleteRange {
                    cf: subkey,
                    from: b"a",
                    to: b"b"
                },
                BatchRecord::Delete {
                    cf: subkey,
                    key: b"s"
                },
                BatchRecord::Put {
                    cf: default,
                    key: b"d",
                    value: b"v"
                },
                BatchRecord::Delete {
                    cf: default,
                    key: b"x"
                },
                BatchRecord::DeleteRange {
                    cf: default,
                    from: b"p",
                    to: b"q"
                },
                BatchRecord::Merge {
                    cf: default,
                    key: b"c",
                    value: b"1"
                },
            ]
        );
    }

    #[test]
    fn a_cut_batch_is_an_error_not_a_panic() {
        let (_dir, storage) = storage();
        let mut batch = storage.batch();
        batch.put(Cf::Metadata, b"key", b"value");
        let data = batch.inner.data();
        for end in 0..data.len() {
            if end != BATCH_HEADER {
                assert!(batch_records(&data[..end]).is_err(), "cut at {end}");
            }
        }
        assert_eq!(batch_records(data).unwrap().len(), 1);
    }
}
