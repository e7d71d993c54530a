//! Lists: one sub-key per element, keyed by a big-endian index between the
//! metadata's `head` (first element) and `tail` (one past the last), so both
//! ends grow in O(1) and a window is one bounded iteration.

use super::collection::{Collection, POINT_DELETES_UP_TO};
use super::{index_window, Db, Prior};
use crate::error::{Error, Result};
use crate::keyspace_events as events;
use crate::storage::{Batch, Cf};
use bytes::Bytes;
use redrock_encoding::{subkey_prefix, DataType, Metadata};

/// An end of a list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    Left,
    Right,
}

impl End {
    /// The event of a push onto this end.
    fn push_event(self) -> &'static str {
        match self {
            End::Left => "lpush",
            End::Right => "rpush",
        }
    }

    /// The event of a pop from this end.
    fn pop_event(self) -> &'static str {
        match self {
            End::Left => "lpop",
            End::Right => "rpop",
        }
    }
}

/// The LPOS options.
#[derive(Clone, Copy, Debug)]
pub struct PosOptions {
    /// 1-based match to start from; negative searches from the tail.
    pub rank: i64,
    /// How many matches to return (0 = all); `None` for a single reply.
    pub count: Option<u64>,
    /// How many elements to compare at most (0 = all).
    pub maxlen: u64,
}

/// Resolves a Redis list index (negative from the end) against `len`.
fn resolve(index: i64, len: u64) -> Option<u64> {
    let len = len as i64;
    let index = if index < 0 {
        len.checked_add(index)?
    } else {
        index
    };
    (0..len).contains(&index).then_some(index as u64)
}

impl<'a> Db<'a> {
    fn read_list(&self, key: &[u8]) -> Result<Option<(u16, Metadata)>> {
        self.read_collection(key, DataType::List)
    }

    fn element_key(&self, slot: u16, key: &[u8], version: u64, index: u64) -> Vec<u8> {
        self.member_key(slot, key, version, &index.to_be_bytes())
    }

    /// The elements at absolute indexes `from..to`, in order.
    pub(super) fn elements(
        &self,
        slot: u16,
        key: &[u8],
        meta: &Metadata,
        from: u64,
        to: u64,
    ) -> Result<Vec<Bytes>> {
        if from >= to {
            return Ok(Vec::new());
        }
        let start = self.element_key(slot, key, meta.version, from);
        let end = self.element_key(slot, key, meta.version, to);
        self.view
            .range(Cf::Subkey, &start, Some(end))
            .map(|item| {
                item.map(|(_, v)| Bytes::from(v.into_vec()))
                    .map_err(Error::from)
            })
            .collect()
    }

    /// Deletes the elements at absolute indexes `from..to`.
    fn delete_elements(&self, batch: &mut Batch, c: &Collection, key: &[u8], from: u64, to: u64) {
        if to <= from {
            return;
        }
        if to - from <= POINT_DELETES_UP_TO {
            for i in from..to {
                batch.delete(
                    Cf::Subkey,
                    &self.element_key(c.slot, key, c.meta.version, i),
                );
            }
        } else {
            let start = self.element_key(c.slot, key, c.meta.version, from);
            let end = self.element_key(c.slot, key, c.meta.version, to);
            batch.delete_range(Cf::Subkey, &start, &end);
        }
    }

    /// Writes `elements` at absolute indexes from `from` on.
    fn write_elements(
        &self,
        batch: &mut Batch,
        c: &Collection,
        key: &[u8],
        from: u64,
        elements: &[Bytes],
    ) {
        for (i, element) in elements.iter().enumerate() {
            let sub = self.element_key(c.slot, key, c.meta.version, from + i as u64);
            batch.put(Cf::Subkey, &sub, element);
        }
    }

    pub(super) fn push_into(
        &self,
        batch: &mut Batch,
        c: &mut Collection,
        key: &[u8],
        end: End,
        elements: &[Bytes],
    ) {
        for element in elements {
            let index = match end {
                End::Left => {
                    c.meta.head -= 1;
                    c.meta.head
                }
                End::Right => {
                    c.meta.tail += 1;
                    c.meta.tail - 1
                }
            };
            batch.put(
                Cf::Subkey,
                &self.element_key(c.slot, key, c.meta.version, index),
                element,
            );
        }
        c.meta.size += elements.len() as u64;
    }

    /// Removes up to `count` elements from one end, in pop order.
    fn pop_from(
        &self,
        batch: &mut Batch,
        c: &mut Collection,
        key: &[u8],
        end: End,
        count: u64,
    ) -> Result<Vec<Bytes>> {
        let count = count.min(c.meta.size);
        let (from, to) = match end {
            End::Left => (c.meta.head, c.meta.head + count),
            End::Right => (c.meta.tail - count, c.meta.tail),
        };
        let mut popped = if count == 1 {
            // One element: a point read, cheaper than an iterator.
            let element = self.get_member(c.slot, key, c.meta.version, &from.to_be_bytes())?;
            element
                .map(|e| Bytes::copy_from_slice(&e))
                .into_iter()
                .collect()
        } else {
            self.elements(c.slot, key, &c.meta, from, to)?
        };
        if end == End::Right {
            popped.reverse();
        }
        self.delete_elements(batch, c, key, from, to);
        match end {
            End::Left => c.meta.head = to,
            End::Right => c.meta.tail = from,
        }
        c.meta.size -= count;
        Ok(popped)
    }

    /// LPUSH / RPUSH (and the X forms, which push only onto an existing
    /// list): the new length, 0 when an X form found no list.
    pub fn push(
        &self,
        key: &[u8],
        end: End,
        elements: &[Bytes],
        only_existing: bool,
    ) -> Result<u64> {
        self.lock(&[key])?;
        let mut list = self.open_collection(key, DataType::List)?;
        if only_existing && !list.existed() {
            return Ok(0);
        }
        let mut batch = self.batch();
        self.push_into(&mut batch, &mut list, key, end, elements);
        self.save_collection(&mut batch, key, &list);
        self.commit(batch)?;
        self.notify_collection(key, &list, events::LIST, end.push_event());
        Ok(list.meta.size)
    }

    /// LPOP / RPOP: up to `count` elements, `None` when the key is missing.
    pub fn pop(&self, key: &[u8], end: End, count: u64) -> Result<Option<Vec<Bytes>>> {
        self.lock(&[key])?;
        let mut list = self.open_collection(key, DataType::List)?;
        if !list.existed() {
            return Ok(None);
        }
        let mut batch = self.batch();
        let popped = self.pop_from(&mut batch, &mut list, key, end, count)?;
        if !popped.is_empty() {
            self.save_collection(&mut batch, key, &list);
            self.commit(batch)?;
            self.note_deleted_members(list.slot, key, list.meta.version, popped.len() as u64);
            self.notify_collection(key, &list, events::LIST, end.pop_event());
        }
        Ok(Some(popped))
    }

    /// LMPOP / BLPOP / BLMPOP: pops from the first non-empty list of
    /// `keys`, giving its key and the elements. Every key is locked first,
    /// in one sorted acquisition, so no other client changes one of them
    /// while the command looks at the others.
    pub fn pop_first(
        &self,
        keys: &[Bytes],
        end: End,
        count: u64,
    ) -> Result<Option<(Bytes, Vec<Bytes>)>> {
        self.lock(&keys.iter().map(|k| &k[..]).collect::<Vec<_>>())?;
        for key in keys {
            if let Some(popped) = self.pop(key, end, count)? {
                self.only_read(keys.iter().map(|k| &k[..]).filter(|k| k != key));
                return Ok(Some((key.clone(), popped)));
            }
        }
        Ok(None)
    }

    /// LLEN.
    pub fn llen(&self, key: &[u8]) -> Result<u64> {
        Ok(self.read_list(key)?.map_or(0, |(_, m)| m.size))
    }

    /// LINDEX.
    pub fn lindex(&self, key: &[u8], index: i64) -> Result<Option<Bytes>> {
        let Some((slot, meta)) = self.read_list(key)? else {
            return Ok(None);
        };
        let Some(i) = resolve(index, meta.size) else {
            return Ok(None);
        };
        let element = self.get_member(slot, key, meta.version, &(meta.head + i).to_be_bytes())?;
        Ok(element.map(|e| Bytes::copy_from_slice(&e)))
    }

    /// LRANGE: one iteration over just the window.
    pub fn lrange(&self, key: &[u8], start: i64, stop: i64) -> Result<Vec<Bytes>> {
        let Some((slot, meta)) = self.read_list(key)? else {
            return Ok(Vec::new());
        };
        let Some((from, to)) = index_window(start, stop, meta.size) else {
            return Ok(Vec::new());
        };
        self.elements(slot, key, &meta, meta.head + from, meta.head + to)
    }

    /// Replaces `dst`, whatever it holds, with a list of `elements`
    /// (removing it when there are none), raising `event`: its length.
    pub(super) fn store_list(
        &self,
        dst: &[u8],
        elements: &[Bytes],
        event: &'static str,
    ) -> Result<u64> {
        let mut batch = self.batch();
        let stored = self.read(dst)?.map(|s| s.header);
        let prior = Prior::of(stored.as_ref(), super::now_ms());
        let slot = redrock_cluster::key_slot(dst);
        if elements.is_empty() {
            if let Some(old) = stored {
                self.remove(&mut batch, slot, dst, &old);
            }
            self.commit(batch)?;
            self.notify_emptied_store(dst, prior);
            return Ok(0);
        }
        let mut list = Collection {
            slot,
            meta: Metadata::new(DataType::List, self.storage.next_version()?),
            stored,
            prior,
        };
        self.push_into(&mut batch, &mut list, dst, End::Right, elements);
        self.save_collection(&mut batch, dst, &list);
        self.commit(batch)?;
        self.notify_collection(dst, &list, events::LIST, event);
        Ok(list.meta.size)
    }

    /// LSET. `index` is parsed once the key is known to be a list, so its
    /// errors come after ERR no such key and WRONGTYPE, as in Redis.
    pub fn lset(
        &self,
        key: &[u8],
        index: impl FnOnce() -> Result<i64>,
        element: &[u8],
    ) -> Result<()> {
        self.lock(&[key])?;
        let list = self.open_collection(key, DataType::List)?;
        if !list.existed() {
            return Err(Error::NoSuchKey);
        }
        let i =
            resolve(index()?, list.meta.size).ok_or_else(|| Error::err("index out of range"))?;
        let mut batch = self.batch();
        let sub = self.element_key(list.slot, key, list.meta.version, list.meta.head + i);
        batch.put(Cf::Subkey, &sub, element);
        self.commit(batch)?;
        self.notify(events::LIST, "lset", key);
        Ok(())
    }

    /// LTRIM.
    pub fn ltrim(&self, key: &[u8], start: i64, stop: i64) -> Result<()> {
        self.lock(&[key])?;
        let mut list = self.open_collection(key, DataType::List)?;
        if !list.existed() {
            return Ok(());
        }
        let (from, to) = index_window(start, stop, list.meta.size).unwrap_or((0, 0));
        let (head, tail) = (list.meta.head, list.meta.tail);
        let mut batch = self.batch();
        self.delete_elements(&mut batch, &list, key, head, head + from);
        self.delete_elements(&mut batch, &list, key, head + to.max(from), tail);
        let removed = list.meta.size - (to - from.min(to));
        list.meta.head = head + from;
        list.meta.tail = head + to.max(from);
        list.meta.size -= removed;
        if removed > 0 {
            self.save_collection(&mut batch, key, &list);
            self.commit(batch)?;
            self.note_deleted_members(list.slot, key, list.meta.version, removed);
        } else {
            // Nothing removed is still a change to WATCH and an event, as
            // in Redis.
            self.writes.borrow_mut().count_as_modified();
        }
        self.notify_collection(key, &list, events::LIST, "ltrim");
        Ok(())
    }

    /// LREM: removes up to `|count|` elements equal to `element` (all when
    /// 0), from the tail when `count < 0`; how many were removed.
    pub fn lrem(&self, key: &[u8], count: i64, element: &[u8]) -> Result<u64> {
        self.lock(&[key])?;
        let mut list = self.open_collection(key, DataType::List)?;
        if !list.existed() {
            return Ok(0);
        }
        let limit = if count == 0 {
            u64::MAX
        } else {
            count.unsigned_abs()
        };
        let from_tail = count < 0;
        let mut matches = self.matching_indexes(&list, key, element, from_tail, 0, limit, 0)?;
        if matches.is_empty() {
            return Ok(0);
        }
        matches.sort_unstable();
        let (first, last) = (matches[0], matches[matches.len() - 1]);
        let removed = matches.len() as u64;
        let (head, tail) = (list.meta.head, list.meta.tail);
        let keep = |from: u64, to: u64| -> Result<Vec<Bytes>> {
            let segment = self.elements(list.slot, key, &list.meta, from, to)?;
            Ok(segment
                .into_iter()
                .zip(from..)
                .filter(|(_, i)| matches.binary_search(i).is_err())
                .map(|(e, _)| e)
                .collect())
        };
        let mut batch = self.batch();
        // Close the gaps by moving the shorter side.
        if tail - first <= last + 1 - head {
            let kept = keep(first, tail)?;
            self.write_elements(&mut batch, &list, key, first, &kept);
            self.delete_elements(&mut batch, &list, key, tail - removed, tail);
            list.meta.tail -= removed;
        } else {
            let kept = keep(head, last + 1)?;
            let start = last + 1 - kept.len() as u64;
            self.write_elements(&mut batch, &list, key, start, &kept);
            self.delete_elements(&mut batch, &list, key, head, start);
            list.meta.head = start;
        }
        list.meta.size -= removed;
        self.save_collection(&mut batch, key, &list);
        self.commit(batch)?;
        self.note_deleted_members(list.slot, key, list.meta.version, removed);
        self.notify_collection(key, &list, events::LIST, "lrem");
        Ok(removed)
    }

    /// Absolute indexes of elements equal to `element`, scanning from one
    /// end: matches before the `skip`-th are passed over, at most `limit`
    /// are returned, at most `maxlen` elements compared (0 = all).
    #[allow(clippy::too_many_arguments)]
    fn matching_indexes(
        &self,
        list: &Collection,
        key: &[u8],
        element: &[u8],
        from_tail: bool,
        mut skip: u64,
        limit: u64,
        maxlen: u64,
    ) -> Result<Vec<u64>> {
        let meta = &list.meta;
        let start = self.element_key(list.slot, key, meta.version, meta.head);
        let end = self.element_key(list.slot, key, meta.version, meta.tail);
        let entries: Box<dyn Iterator<Item = _>> = if from_tail {
            Box::new(self.view.range_reverse(Cf::Subkey, &start, end))
        } else {
            Box::new(self.view.range(Cf::Subkey, &start, Some(end)))
        };
        let index_at = subkey_prefix(&self.ks.keyspace, list.slot, key, meta.version).len();
        let mut out = Vec::new();
        for (compared, entry) in entries.enumerate() {
            if maxlen > 0 && compared as u64 >= maxlen {
                break;
            }
            let (k, v) = entry?;
            if &v[..] != element {
                continue;
            }
            if skip > 0 {
                skip -= 1;
                continue;
            }
            out.push(u64::from_be_bytes(
                k[index_at..index_at + 8].try_into().expect("8-byte index"),
            ));
            if out.len() as u64 >= limit {
                break;
            }
        }
        Ok(out)
    }

    /// LPOS: the 0-based positions of matches.
    pub fn lpos(&self, key: &[u8], element: &[u8], options: PosOptions) -> Result<Vec<u64>> {
        let Some((slot, meta)) = self.read_list(key)? else {
            return Ok(Vec::new());
        };
        let list = Collection {
            slot,
            meta,
            stored: None,
            prior: Prior::Live,
        };
        let limit = match options.count {
            Some(0) => u64::MAX,
            Some(n) => n,
            None => 1,
        };
        let skip = options.rank.unsigned_abs() - 1;
        let found = self.matching_indexes(
            &list,
            key,
            element,
            options.rank < 0,
            skip,
            limit,
            options.maxlen,
        )?;
        Ok(found.into_iter().map(|i| i - meta.head).collect())
    }

    /// LINSERT: the new length, -1 when the pivot is missing, 0 when the
    /// key is.
    pub fn linsert(&self, key: &[u8], before: bool, pivot: &[u8], element: &Bytes) -> Result<i64> {
        self.lock(&[key])?;
        let mut list = self.open_collection(key, DataType::List)?;
        if !list.existed() {
            return Ok(0);
        }
        let Some(&at) = self
            .matching_indexes(&list, key, pivot, false, 0, 1, 0)?
            .first()
        else {
            return Ok(-1);
        };
        // The new element goes just before `gap`.
        let gap = if before { at } else { at + 1 };
        let (head, tail) = (list.meta.head, list.meta.tail);
        let mut batch = self.batch();
        if gap - head < tail - gap {
            let moved = self.elements(list.slot, key, &list.meta, head, gap)?;
            self.write_elements(&mut batch, &list, key, head - 1, &moved);
            self.write_elements(
                &mut batch,
                &list,
                key,
                gap - 1,
                std::slice::from_ref(element),
            );
            list.meta.head -= 1;
        } else {
            let moved = self.elements(list.slot, key, &list.meta, gap, tail)?;
            self.write_elements(&mut batch, &list, key, gap + 1, &moved);
            self.write_elements(&mut batch, &list, key, gap, std::slice::from_ref(element));
            list.meta.tail += 1;
        }
        list.meta.size += 1;
        self.save_collection(&mut batch, key, &list);
        self.commit(batch)?;
        self.notify(events::LIST, "linsert", key);
        Ok(list.meta.size as i64)
    }

    /// LMOVE (and RPOPLPUSH): the element moved, `None` when `src` is
    /// missing.
    pub fn lmove(&self, src: &[u8], dst: &[u8], from: End, to: End) -> Result<Option<Bytes>> {
        self.lock(&[src, dst])?;
        let mut source = self.open_collection(src, DataType::List)?;
        if !source.existed() {
            return Ok(None);
        }
        let mut batch = self.batch();
        let (element, target) = if src == dst {
            let popped = self.pop_from(&mut batch, &mut source, src, from, 1)?;
            self.push_into(&mut batch, &mut source, src, to, &popped);
            (popped, None)
        } else {
            let mut target = self.open_collection(dst, DataType::List)?;
            let popped = self.pop_from(&mut batch, &mut source, src, from, 1)?;
            self.push_into(&mut batch, &mut target, dst, to, &popped);
            self.save_collection(&mut batch, dst, &target);
            (popped, Some(target))
        };
        self.save_collection(&mut batch, src, &source);
        self.commit(batch)?;
        // Redis pushes first, then tells of the pop.
        match &target {
            Some(target) => self.notify_collection(dst, target, events::LIST, to.push_event()),
            None => self.notify(events::LIST, to.push_event(), dst),
        }
        self.notify_collection(src, &source, events::LIST, from.pop_event());
        Ok(element.into_iter().next())
    }
}
