//! Streams: one sub-key per entry, keyed by its id (ms, seq, big-endian),
//! so a range of ids is one bounded iteration and trimming deletes from
//! the front. The metadata keeps what Redis's stream keeps: the last id,
//! the first entry's id, the highest deleted id and the entries ever added.
//! A stream emptied by XDEL or a trim still exists, as in Redis.

use super::collection::{Collection, POINT_DELETES_UP_TO};
use super::{now_ms, Db};
use crate::error::{Error, Result};
use crate::keyspace_events as events;
use crate::storage::{Batch, Cf};
use bytes::Bytes;
use redrock_encoding::{decode_stream_fields, encode_stream_fields, DataType, Metadata, StreamId};
use std::collections::HashSet;

/// An entry: its id and its fields and values, alternating.
pub type Entry = (StreamId, Vec<Bytes>);

/// How XADD chooses the id of the entry it adds.
#[derive(Clone, Copy, Debug)]
pub enum NewId {
    /// `*`: the clock's milliseconds, or the next id after the last.
    Auto,
    /// An explicit id.
    At(StreamId),
    /// `ms-*`: the next sequence number within `ms`.
    NextSeq(u64),
}

/// What a trim keeps.
#[derive(Clone, Copy, Debug)]
pub enum TrimTo {
    /// At most this many entries.
    MaxLen(u64),
    /// No entry below this id.
    MinId(StreamId),
}

/// The trim of XADD and XTRIM.
#[derive(Clone, Copy, Debug)]
pub struct Trim {
    pub to: TrimTo,
    /// At most this many entries go (`~` and LIMIT); `None`: all that must.
    pub limit: Option<u64>,
}

/// What XSETID sets.
#[derive(Clone, Copy, Debug)]
pub struct SetId {
    pub last_id: StreamId,
    pub entries_added: Option<u64>,
    pub max_deleted_id: Option<StreamId>,
}

/// XADD's refusal of an id not above the last one.
fn id_too_small() -> Error {
    Error::err("The ID specified in XADD is equal or smaller than the target stream top item")
}

impl<'a> Db<'a> {
    /// The live stream at `key`, if any.
    pub fn read_stream(&self, key: &[u8]) -> Result<Option<(u16, Metadata)>> {
        self.read_collection(key, DataType::Stream)
    }

    fn entry_key(&self, slot: u16, key: &[u8], version: u64, id: StreamId) -> Vec<u8> {
        self.member_key(slot, key, version, &id.encode())
    }

    /// The exclusive upper bound of the entries up to `id` (inclusive).
    fn entries_through(&self, slot: u16, key: &[u8], version: u64, id: StreamId) -> Vec<u8> {
        let mut end = self.entry_key(slot, key, version, id);
        end.push(0);
        end
    }

    /// The entries of `stream` (as [`Db::read_stream`] found it) with ids
    /// from `start` to `end`, both included, in id order or from the end
    /// when `rev`; at most `count` of them.
    pub fn stream_range(
        &self,
        key: &[u8],
        stream: &(u16, Metadata),
        start: StreamId,
        end: StreamId,
        rev: bool,
        count: Option<usize>,
    ) -> Result<Vec<Entry>> {
        let (slot, meta) = stream;
        if start > end || count == Some(0) {
            return Ok(Vec::new());
        }
        let lower = self.entry_key(*slot, key, meta.version, start);
        let upper = self.entries_through(*slot, key, meta.version, end);
        let id_at = lower.len() - 16;
        let items: Box<dyn Iterator<Item = crate::storage::Result<crate::storage::Entry>>> = if rev
        {
            Box::new(self.view.range_reverse(Cf::Subkey, &lower, upper))
        } else {
            Box::new(self.view.range(Cf::Subkey, &lower, Some(upper)))
        };
        items
            .take(count.unwrap_or(usize::MAX))
            .map(|item| {
                let (k, v) = item?;
                let corrupt = || Error::err("corrupted stream entry");
                let id = StreamId::decode(&k[id_at..]).ok_or_else(corrupt)?;
                let value = Bytes::from(v.into_vec());
                let items = decode_stream_fields(&value).ok_or_else(corrupt)?;
                Ok((id, items.into_iter().map(|i| value.slice_ref(i)).collect()))
            })
            .collect()
    }

    /// XADD: the id of the entry added to `key` (created unless
    /// `no_mkstream`), then trimmed as `trim` says; `None` when the stream
    /// is missing and not created. `fields` alternate field and value.
    pub fn xadd(
        &self,
        key: &[u8],
        id: NewId,
        fields: &[Bytes],
        no_mkstream: bool,
        trim: Option<&Trim>,
    ) -> Result<Option<StreamId>> {
        self.lock(&[key])?;
        let mut c = self.open_collection(key, DataType::Stream)?;
        if no_mkstream && !c.existed() {
            return Ok(None);
        }
        let last = c.meta.stream.last_id;
        if last == StreamId::MAX {
            return Err(Error::err(
                "The stream has exhausted the last possible ID, unable to add more items",
            ));
        }
        let id = match id {
            NewId::Auto => {
                let now = now_ms();
                if now > last.ms {
                    StreamId::new(now, 0)
                } else {
                    last.next().expect("below the last possible id")
                }
            }
            NewId::At(id) => id,
            NewId::NextSeq(ms) if ms == last.ms => last
                .next()
                .filter(|id| id.ms == ms)
                .ok_or_else(id_too_small)?,
            NewId::NextSeq(ms) => StreamId::new(ms, 0),
        };
        if id <= last {
            return Err(id_too_small());
        }
        let mut batch = self.batch();
        let sub = self.entry_key(c.slot, key, c.meta.version, id);
        batch.put(Cf::Subkey, &sub, &encode_stream_fields(fields));
        let stream = &mut c.meta.stream;
        stream.last_id = id;
        stream.entries_added += 1;
        if c.meta.size == 0 {
            stream.first_id = id;
        }
        c.meta.size += 1;
        let trimmed = match trim {
            Some(trim) => self.trim_entries(&mut batch, &mut c, key, trim, Some(id))?,
            None => 0,
        };
        self.save_collection(&mut batch, key, &c);
        self.commit(batch)?;
        self.note_deleted_members(c.slot, key, c.meta.version, trimmed);
        self.notify_collection(key, &c, events::STREAM, "xadd");
        if trimmed > 0 {
            self.notify(events::STREAM, "xtrim", key);
        }
        Ok(Some(id))
    }

    /// Deletes the oldest entries `trim` asks to go and returns how many
    /// went. `added` is an entry this command put in `batch` (so not
    /// readable yet), the newest: it goes too when all the others went and
    /// the trim asks for more. `c`'s size (counting `added`) and first id
    /// follow.
    fn trim_entries(
        &self,
        batch: &mut Batch,
        c: &mut Collection,
        key: &[u8],
        trim: &Trim,
        added: Option<StreamId>,
    ) -> Result<u64> {
        let limit = trim.limit.unwrap_or(u64::MAX);
        let must_go = |id: StreamId, size: u64| match trim.to {
            TrimTo::MaxLen(max) => size > max,
            TrimTo::MinId(min) => id < min,
        };
        let (slot, version) = (c.slot, c.meta.version);
        // Entries below the first one are gone already: starting there
        // skips the deletion markers of earlier trims.
        let start = self.entry_key(slot, key, version, c.meta.stream.first_id);
        let end = self.entries_through(slot, key, version, StreamId::MAX);
        let id_at = start.len() - 16;
        // The stored entries that go: their keys while few, else the last.
        let mut gone: Vec<Vec<u8>> = Vec::new();
        let mut last_gone = None;
        let mut stored = 0u64;
        let mut first_kept = None;
        for item in self.view.range(Cf::Subkey, &start, Some(end)) {
            let (k, _) = item?;
            let id = StreamId::decode(&k[id_at..])
                .ok_or_else(|| Error::err("corrupted stream entry"))?;
            if stored == limit || !must_go(id, c.meta.size - stored) {
                first_kept = Some(id);
                break;
            }
            stored += 1;
            if stored <= POINT_DELETES_UP_TO {
                gone.push(k.into_vec());
            }
            last_gone = Some(id);
        }
        match last_gone {
            Some(_) if stored <= POINT_DELETES_UP_TO => {
                gone.iter().for_each(|k| batch.delete(Cf::Subkey, k));
            }
            Some(last) => {
                let from = self.entry_key(slot, key, version, StreamId::MIN);
                let to = self.entries_through(slot, key, version, last);
                batch.delete_range(Cf::Subkey, &from, &to);
            }
            None => {}
        }
        let mut deleted = stored;
        if let (None, Some(id)) = (first_kept, added) {
            if deleted < limit && must_go(id, c.meta.size - deleted) {
                batch.delete(Cf::Subkey, &self.entry_key(slot, key, version, id));
                deleted += 1;
            } else {
                first_kept = Some(id);
            }
        }
        c.meta.size -= deleted;
        c.meta.stream.first_id = first_kept.unwrap_or(StreamId::MIN);
        Ok(deleted)
    }

    /// XTRIM: how many entries went.
    pub fn xtrim(&self, key: &[u8], trim: &Trim) -> Result<u64> {
        self.lock(&[key])?;
        let mut c = self.open_collection(key, DataType::Stream)?;
        if !c.existed() {
            return Ok(0);
        }
        let mut batch = self.batch();
        let trimmed = self.trim_entries(&mut batch, &mut c, key, trim, None)?;
        if trimmed > 0 {
            self.save_collection(&mut batch, key, &c);
            self.commit(batch)?;
            self.note_deleted_members(c.slot, key, c.meta.version, trimmed);
            self.notify(events::STREAM, "xtrim", key);
        }
        Ok(trimmed)
    }

    /// XDEL: how many of the entries existed. The ids are parsed (by
    /// `ids`) once the stream is known to exist, as in Redis.
    pub fn xdel(&self, key: &[u8], ids: impl FnOnce() -> Result<Vec<StreamId>>) -> Result<u64> {
        self.lock(&[key])?;
        let mut c = self.open_collection(key, DataType::Stream)?;
        if !c.existed() {
            return Ok(0);
        }
        let mut batch = self.batch();
        let mut gone = HashSet::new();
        let (slot, version) = (c.slot, c.meta.version);
        for id in ids()? {
            let sub = self.entry_key(slot, key, version, id);
            if !gone.contains(&id) && self.view.get(Cf::Subkey, &sub)?.is_some() {
                batch.delete(Cf::Subkey, &sub);
                gone.insert(id);
            }
        }
        if gone.is_empty() {
            return Ok(0);
        }
        let deleted = gone.len() as u64;
        let stream = &mut c.meta.stream;
        stream.max_deleted_id = gone
            .iter()
            .copied()
            .fold(stream.max_deleted_id, StreamId::max);
        c.meta.size -= deleted;
        if c.meta.size == 0 {
            c.meta.stream.first_id = StreamId::MIN;
        } else if gone.contains(&c.meta.stream.first_id) {
            // The first entry left: the first one read that did not go.
            let start = self.entry_key(slot, key, version, c.meta.stream.first_id);
            let end = self.entries_through(slot, key, version, StreamId::MAX);
            let id_at = start.len() - 16;
            for item in self.view.range(Cf::Subkey, &start, Some(end)) {
                let (k, _) = item?;
                match StreamId::decode(&k[id_at..]) {
                    Some(id) if gone.contains(&id) => continue,
                    Some(id) => {
                        c.meta.stream.first_id = id;
                        break;
                    }
                    None => return Err(Error::err("corrupted stream entry")),
                }
            }
        }
        self.save_collection(&mut batch, key, &c);
        self.commit(batch)?;
        self.note_deleted_members(slot, key, version, deleted);
        self.notify(events::STREAM, "xdel", key);
        Ok(deleted)
    }

    /// XSETID.
    pub fn xsetid(&self, key: &[u8], set: &SetId) -> Result<()> {
        self.lock(&[key])?;
        let mut c = self.open_collection(key, DataType::Stream)?;
        if !c.existed() {
            return Err(Error::NoSuchKey);
        }
        if c.meta.size > 0 {
            let stream = (c.slot, c.meta);
            let top =
                self.stream_range(key, &stream, StreamId::MIN, StreamId::MAX, true, Some(1))?;
            if top.first().is_some_and(|(id, _)| set.last_id < *id) {
                return Err(Error::err(
                    "The ID specified in XSETID is smaller than the target stream top item",
                ));
            }
            if set.entries_added.is_some_and(|added| c.meta.size > added) {
                return Err(Error::err(
                    "The entries_added specified in XSETID is smaller than the target stream length",
                ));
            }
        }
        // Redis 7.2 (redis/redis#11444), after the checks above: an id
        // below an entry already deleted would let XADD reuse it;
        // MAXDELETEDID, when given, replaces that id (and the command
        // checks it against the new one).
        if set.max_deleted_id.is_none() && set.last_id < c.meta.stream.max_deleted_id {
            return Err(Error::err(
                "The ID specified in XSETID is smaller than current max_deleted_entry_id",
            ));
        }
        let stream = &mut c.meta.stream;
        stream.last_id = set.last_id;
        if let Some(added) = set.entries_added {
            stream.entries_added = added;
        }
        if let Some(id) = set.max_deleted_id.filter(|id| *id != StreamId::MIN) {
            stream.max_deleted_id = id;
        }
        let mut batch = self.batch();
        self.save_collection(&mut batch, key, &c);
        self.commit(batch)?;
        self.notify(events::STREAM, "xsetid", key);
        Ok(())
    }
}
