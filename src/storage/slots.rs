//! Moving a range of cluster slots between nodes, as storage sees it: the
//! keys of a range read from a snapshot, a range's records picked out of
//! WAL batches, such records applied on the receiving node with its key
//! counts kept right, and a range's keys dropped once it moved away.
//!
//! Records travel in their own small format, not RocksDB's, so the two
//! nodes need not agree on anything but the key layouts:
//! `op u8 | cf u8 | key len u32 | key | (put only) value len u32 | value`.

use super::batch_records::{batch_records, BatchRecord};
use super::writes::WriteSet;
use super::{Cf, Result, Storage, StorageError, View};
use redrock_encoding::{
    parse_expire_key, parse_metadata_key, prefix_successor, slot_prefix, subkey_prefix, DataType,
    Keyspace, Metadata, MetadataHeader,
};
use rocksdb::DBRawIterator;
use std::collections::HashMap;
use std::ops::RangeInclusive;
use std::sync::Arc;

const PUT: u8 = 1;
const DELETE: u8 = 2;
/// Its key and value are the range's bounds.
const DELETE_RANGE: u8 = 3;

/// One write of a moving slot range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    Put(Cf, Vec<u8>, Vec<u8>),
    Delete(Cf, Vec<u8>),
    /// Members removed (an LTRIM): a range within the span's members.
    DeleteRange(Cf, Vec<u8>, Vec<u8>),
}

/// Appends a record to `out` in the transfer format.
fn encode(out: &mut Vec<u8>, op: u8, cf: Cf, key: &[u8], value: Option<&[u8]>) {
    out.push(op);
    out.push(cf.id() as u8);
    out.extend_from_slice(&(key.len() as u32).to_be_bytes());
    out.extend_from_slice(key);
    if let Some(value) = value {
        out.extend_from_slice(&(value.len() as u32).to_be_bytes());
        out.extend_from_slice(value);
    }
}

/// Decodes records in the transfer format.
pub fn decode_records(mut data: &[u8]) -> Result<Vec<Record>> {
    fn take<'a>(data: &mut &'a [u8], n: usize) -> Result<&'a [u8]> {
        if data.len() < n {
            return Err(StorageError("a slot transfer record is cut short".into()));
        }
        let (head, rest) = data.split_at(n);
        *data = rest;
        Ok(head)
    }
    fn take_bytes(data: &mut &[u8]) -> Result<Vec<u8>> {
        let len = u32::from_be_bytes(take(data, 4)?.try_into().expect("4 bytes"));
        Ok(take(data, len as usize)?.to_vec())
    }
    let mut records = Vec::new();
    while !data.is_empty() {
        let head = take(&mut data, 2)?;
        let cf = Cf::from_id(head[1] as u32)
            .filter(|cf| cf.holds_user_data())
            .ok_or_else(|| StorageError("a slot transfer record names no data column".into()))?;
        let key = take_bytes(&mut data)?;
        records.push(match head[0] {
            PUT => Record::Put(cf, key, take_bytes(&mut data)?),
            DELETE => Record::Delete(cf, key),
            DELETE_RANGE => Record::DeleteRange(cf, key, take_bytes(&mut data)?),
            _ => {
                return Err(StorageError(
                    "a slot transfer record has no known kind".into(),
                ))
            }
        });
    }
    Ok(records)
}

fn corrupt(e: redrock_encoding::DecodeError) -> StorageError {
    StorageError(format!("a moving key's metadata does not decode: {e:?}"))
}

/// Which keyspace and slots a record belongs to, from its key.
fn record_slot(cf: Cf, key: &[u8]) -> Option<(Keyspace, u16)> {
    // Member keys start like metadata keys: keyspace, then slot.
    match cf {
        Cf::Expire => parse_expire_key(key).map(|e| (e.keyspace, e.slot)),
        Cf::Metadata | Cf::Subkey | Cf::ZsetScore => {
            parse_metadata_key(key).map(|k| (k.keyspace, k.slot))
        }
        Cf::Default => None,
    }
}

/// A range of slots of one keyspace.
#[derive(Clone, Debug)]
pub struct SlotSpan {
    pub keyspace: Keyspace,
    pub slots: RangeInclusive<u16>,
}

impl SlotSpan {
    fn holds(&self, cf: Cf, key: &[u8]) -> bool {
        record_slot(cf, key)
            .is_some_and(|(ks, slot)| ks == self.keyspace && self.slots.contains(&slot))
    }

    /// Whether `from..to` in `cf` is a range of members of the span's keys
    /// only.
    fn holds_members(&self, cf: Cf, from: &[u8], to: &[u8]) -> bool {
        let (start, end) = self.bounds();
        matches!(cf, Cf::Subkey | Cf::ZsetScore) && start.as_slice() <= from && to <= end.as_slice()
    }

    /// The metadata keys of the span lie in `[start, end)`; so do the
    /// members of its keys in the member column families.
    fn bounds(&self) -> (Vec<u8>, Vec<u8>) {
        let start = slot_prefix(&self.keyspace, *self.slots.start());
        let end = match self.slots.end().checked_add(1) {
            Some(next) => slot_prefix(&self.keyspace, next),
            None => prefix_successor(self.keyspace.as_bytes())
                .expect("keyspace prefix has a length byte below 0xff"),
        };
        (start, end)
    }
}

/// A part of a span's keys read from a snapshot.
pub struct Export {
    /// Their records in the transfer format.
    pub records: Vec<u8>,
    pub keys: u64,
    /// The metadata key to continue after; `None` once every key is read.
    pub resume: Option<Vec<u8>>,
}

/// Reads the members of one key after another from one column family of
/// a snapshot, with one iterator: a new iterator per key cost more than
/// the reading.
struct MemberReader<'v> {
    cf: Cf,
    iterator: DBRawIterator<'v>,
    /// Where the last key's members end: the iterator stands on the first
    /// entry from there.
    last_end: Option<Vec<u8>>,
}

impl<'v> MemberReader<'v> {
    fn new(view: &View<'v>, span: &SlotSpan, cf: Cf) -> MemberReader<'v> {
        let (start, end) = span.bounds();
        MemberReader {
            cf,
            iterator: view.raw_iterator(cf, start, end),
            last_end: None,
        }
    }

    /// Appends the records of the entries under `prefix` to `out`.
    fn read(&mut self, prefix: &[u8], out: &mut Vec<u8>) -> Result<()> {
        let end = prefix_successor(prefix).expect("a version byte below 0xff ends the prefix");
        // Keys often come in the order of their members (not always: a
        // member key holds its user key's length first), and then the
        // iterator already stands on this key's first member.
        let positioned = self.last_end.as_deref().is_some_and(|last| last <= prefix)
            && self.iterator.key().is_none_or(|key| key >= prefix);
        if !positioned {
            self.iterator.seek(prefix);
        }
        while let Some((key, value)) = self.iterator.item() {
            if key >= end.as_slice() {
                break;
            }
            encode(out, PUT, self.cf, key, Some(value));
            self.iterator.next();
        }
        self.iterator.status()?;
        self.last_end = Some(end);
        Ok(())
    }
}

/// Every record of one key: its metadata, its members and its expiry
/// entry.
fn key_records(
    members: &mut [MemberReader<'_>; 2],
    span: &SlotSpan,
    meta_key: &[u8],
    value: &[u8],
    out: &mut Vec<u8>,
) -> Result<()> {
    encode(out, PUT, Cf::Metadata, meta_key, Some(value));
    let (header, _) = MetadataHeader::decode(value).map_err(corrupt)?;
    let Some(parsed) = parse_metadata_key(meta_key) else {
        return Ok(());
    };
    let (slot, user_key) = (parsed.slot, parsed.user_key);
    for at in header.expiry_times() {
        let entry = redrock_encoding::expire_key(at, &span.keyspace, slot, user_key);
        encode(out, PUT, Cf::Expire, &entry, Some(b""));
    }
    if header.data_type.is_collection() {
        let version = Metadata::decode(value).map_err(corrupt)?.version;
        let prefix = subkey_prefix(&span.keyspace, slot, user_key, version);
        let [subkeys, scores] = members;
        subkeys.read(&prefix, out)?;
        // The score index of a zset; a hash's field expiry index.
        if header.data_type == DataType::ZSet || header.field_expiry_ms != 0 {
            scores.read(&prefix, out)?;
        }
    }
    Ok(())
}

impl Storage {
    /// Reads the keys of `span` from `view` (a snapshot), after the
    /// metadata key `after`, until about `max_bytes` of records.
    pub fn export_slots(
        &self,
        view: &View<'_>,
        span: &SlotSpan,
        after: Option<&[u8]>,
        max_bytes: usize,
    ) -> Result<Export> {
        let (start, end) = span.bounds();
        let from = match after {
            Some(last) => [last, &[0]].concat(),
            None => start,
        };
        let mut export = Export {
            records: Vec::new(),
            keys: 0,
            resume: None,
        };
        let mut members = [
            MemberReader::new(view, span, Cf::Subkey),
            MemberReader::new(view, span, Cf::ZsetScore),
        ];
        for entry in view.range(Cf::Metadata, &from, Some(end)) {
            let (key, value) = entry?;
            key_records(&mut members, span, &key, &value, &mut export.records)?;
            export.keys += 1;
            if export.records.len() >= max_bytes {
                export.resume = Some(key.to_vec());
                break;
            }
        }
        Ok(export)
    }

    /// Applies records of `span` sent by the node it moves from, counting
    /// each key it creates or removes against what this node holds;
    /// returns how many keys it created.
    pub fn import_records(self: &Arc<Self>, span: &SlotSpan, data: &[u8]) -> Result<u64> {
        let records = decode_records(data)?;
        if let Some(stray) = records.iter().find(|r| match r {
            Record::Put(cf, key, _) | Record::Delete(cf, key) => !span.holds(*cf, key),
            Record::DeleteRange(cf, from, to) => !span.holds_members(*cf, from, to),
        }) {
            return Err(StorageError(format!(
                "a slot transfer record lies outside the slots being imported: {stray:?}"
            )));
        }
        let user_keys: Vec<&[u8]> = records
            .iter()
            .filter_map(|r| match r {
                Record::Put(Cf::Metadata, key, _) | Record::Delete(Cf::Metadata, key) => {
                    Some(key.as_slice())
                }
                _ => None,
            })
            .collect();
        let ks = span.keyspace.as_bytes();
        let mut writes = WriteSet::new(self.clone(), false);
        // Locked like a client's write, so active expiry on this node
        // never races an imported key's count.
        writes.lock(user_keys.iter().map(|k| (ks, &k[ks.len() + 2..])))?;
        let counts = self.counts.keyspace(&span.keyspace);
        let engine = self.engine();
        let view = engine.live();
        // Whether each key exists, and has an expiry, as the batch goes.
        let mut state: HashMap<Vec<u8>, Option<bool>> = HashMap::new();
        let mut batch = self.batch();
        let mut created = 0;
        for record in records {
            match record {
                Record::Put(cf, key, value) => {
                    if cf == Cf::Metadata {
                        let expires = MetadataHeader::decode(&value)
                            .map_err(corrupt)?
                            .0
                            .expire_at_ms
                            != 0;
                        let before = known_state(&view, &mut state, &key)?;
                        created += u64::from(before.is_none());
                        count_change(&mut batch, &counts, &key, ks, before, Some(expires));
                        state.insert(key.clone(), Some(expires));
                    }
                    batch.put(cf, &key, &value);
                }
                Record::Delete(cf, key) => {
                    if cf == Cf::Metadata {
                        let before = known_state(&view, &mut state, &key)?;
                        count_change(&mut batch, &counts, &key, ks, before, None);
                        state.insert(key.clone(), None);
                    }
                    batch.delete(cf, &key);
                }
                Record::DeleteRange(cf, from, to) => batch.delete_range(cf, &from, &to),
            }
        }
        writes.commit(batch)?;
        writes.finish()?;
        Ok(created)
    }

    /// Removes every key of `span`: range deletes of its metadata and of
    /// its members (old incarnations' too, so none can come back if the
    /// slots return), and its counts. Expiry entries are left to active
    /// expiry, which drops those whose key is gone.
    pub fn drop_slots(self: &Arc<Self>, span: &SlotSpan) -> Result<()> {
        // Every key lock, as FLUSHDB takes them: active expiry must not
        // remove a key of the span between the counts read here and the
        // commit, or it would be counted out twice.
        let mut writes = WriteSet::new(self.clone(), false);
        writes.lock_all()?;
        let (start, end) = span.bounds();
        let mut batch = self.batch();
        for cf in [Cf::Metadata, Cf::Subkey, Cf::ZsetScore] {
            batch.delete_range(cf, &start, &end);
        }
        let counts = self.counts.keyspace(&span.keyspace);
        for slot in span.slots.clone() {
            batch.count(
                &counts,
                slot,
                -(counts.keys_in_slot(slot) as i64),
                -(counts.expires_in_slot(slot) as i64),
            );
        }
        writes.commit(batch)?;
        writes.finish()
    }
}

/// Whether `key` exists (and has an expiry), as of the batch so far.
fn known_state(
    view: &View<'_>,
    state: &mut HashMap<Vec<u8>, Option<bool>>,
    key: &[u8],
) -> Result<Option<bool>> {
    if let Some(known) = state.get(key) {
        return Ok(*known);
    }
    let stored = match view.get(Cf::Metadata, key)? {
        Some(value) => Some(
            MetadataHeader::decode(&value)
                .map_err(corrupt)?
                .0
                .expire_at_ms
                != 0,
        ),
        None => None,
    };
    state.insert(key.to_vec(), stored);
    Ok(stored)
}

fn count_change(
    batch: &mut super::Batch,
    counts: &Arc<super::KeyspaceCounts>,
    key: &[u8],
    ks: &[u8],
    before: Option<bool>,
    after: Option<bool>,
) {
    let slot = u16::from_be_bytes([key[ks.len()], key[ks.len() + 1]]);
    let keys = after.is_some() as i64 - before.is_some() as i64;
    let expires = after == Some(true);
    let expired = before == Some(true);
    batch.count(counts, slot, keys, expires as i64 - expired as i64);
}

/// Picks the records of `span` out of one WAL batch (RocksDB's format),
/// in the transfer format. A batch that empties the span's keyspace (a
/// FLUSHDB or FLUSHALL), or removes a range of its keys, cannot be
/// followed record by record: it is an error, which fails the move.
pub fn filter_wal_batch(span: &SlotSpan, data: &[u8]) -> Result<Vec<u8>> {
    let cannot_follow = |what: &str| StorageError(format!("{what} while its slots were moving"));
    let (start, end) = span.bounds();
    let mut out = Vec::new();
    for record in batch_records(data)? {
        match record {
            BatchRecord::Put { cf, key, value } if span.holds(cf, key) => {
                encode(&mut out, PUT, cf, key, Some(value))
            }
            BatchRecord::Delete {
                cf: Cf::Default,
                key,
            } if key == super::counts::count_key(&span.keyspace) => {
                return Err(cannot_follow("the keyspace was flushed"));
            }
            BatchRecord::Delete { cf, key } if span.holds(cf, key) => {
                encode(&mut out, DELETE, cf, key, None)
            }
            BatchRecord::DeleteRange { cf, from, to }
                if matches!(cf, Cf::Metadata | Cf::Subkey | Cf::ZsetScore)
                    && from < end.as_slice()
                    && to > start.as_slice() =>
            {
                if !span.holds_members(cf, from, to) {
                    return Err(cannot_follow("a range of its keys was deleted"));
                }
                encode(&mut out, DELETE_RANGE, cf, from, Some(to));
            }
            _ => {}
        }
    }
    Ok(out)
}
