//! Commands on keys whatever their type: existence, type, expiry, deletion,
//! renaming and copying, iteration.

use super::{now_ms, Db, Prior, StoredKey};
use crate::error::{Error, Result};
use crate::glob::glob_match;
use crate::keyspace_events as events;
use crate::storage::{Batch, Cf};
use bytes::Bytes;
use parking_lot::Mutex;
use redrock_cluster::{key_slot, SLOT_COUNT};
use redrock_encoding::{
    parse_metadata_key, prefix_successor, slot_prefix, subkey_prefix, DataType, Metadata,
    MetadataHeader,
};
use std::collections::{HashMap, VecDeque};

/// EXPIRE's NX / XX / GT / LT options; several may apply together.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExpireCondition {
    /// Only if the key has no expiry.
    pub nx: bool,
    /// Only if the key has an expiry.
    pub xx: bool,
    /// Only if the new expiry is later (no expiry counts as infinite).
    pub gt: bool,
    /// Only if the new expiry is earlier (no expiry counts as infinite).
    pub lt: bool,
}

impl ExpireCondition {
    fn allows(&self, current: u64, new: i64) -> bool {
        let has_expiry = current != 0;
        !(self.nx && has_expiry
            || self.xx && !has_expiry
            || self.gt && (!has_expiry || new <= current as i64)
            || self.lt && has_expiry && new >= current as i64)
    }
}

/// A key's time to live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ttl {
    Missing,
    Persistent,
    /// Expires at this Unix time in milliseconds.
    At(u64),
}

impl<'a> Db<'a> {
    /// The number of `keys` that exist (a key named twice counts twice).
    pub fn exists(&self, keys: &[Bytes]) -> Result<i64> {
        let now = now_ms();
        let mut count = 0;
        for key in keys {
            if self.lookup_read(key, now)?.is_some() {
                count += 1;
            }
        }
        Ok(count)
    }

    /// The type of `key`, if it exists.
    pub fn key_type(&self, key: &[u8]) -> Result<Option<DataType>> {
        Ok(self.lookup_read(key, now_ms())?.map(|k| k.header.data_type))
    }

    /// DEL / UNLINK: removes the keys, returning how many existed. O(1) per
    /// key whatever its size.
    pub fn delete(&self, keys: &[Bytes]) -> Result<i64> {
        let key_refs: Vec<&[u8]> = keys.iter().map(|k| &k[..]).collect();
        self.lock(&key_refs)?;
        let now = now_ms();
        let mut batch = self.batch();
        let mut removed = 0;
        let mut seen = std::collections::HashSet::new();
        let mut missing = Vec::new();
        let mut raised = Vec::new();
        for key in keys {
            if !seen.insert(key) {
                continue;
            }
            match self.read(key)? {
                Some(stored) => {
                    if stored.header.is_expired(now) {
                        raised.push((events::EXPIRED, "expired", key));
                    } else {
                        removed += 1;
                        raised.push((events::GENERIC, "del", key));
                    }
                    self.remove(&mut batch, stored.slot, key, &stored.header);
                }
                None => missing.push(&key[..]),
            }
        }
        self.commit(batch)?;
        self.only_read(missing);
        for (class, event, key) in raised {
            self.notify(class, event, key);
        }
        Ok(removed)
    }

    /// TTL / PTTL / EXPIRETIME / PEXPIRETIME.
    pub fn ttl(&self, key: &[u8]) -> Result<Ttl> {
        Ok(match self.lookup_read(key, now_ms())? {
            None => Ttl::Missing,
            Some(k) if k.header.expire_at_ms == 0 => Ttl::Persistent,
            Some(k) => Ttl::At(k.header.expire_at_ms),
        })
    }

    /// EXPIRE and friends with an absolute time: whether the expiry was set.
    /// A time already past deletes the key.
    pub fn expire_at(&self, key: &[u8], at_ms: i64, condition: ExpireCondition) -> Result<bool> {
        self.lock(&[key])?;
        let now = now_ms();
        let Some(stored) = self.lookup_locked(key, now)? else {
            return Ok(false);
        };
        if !condition.allows(stored.header.expire_at_ms, at_ms) {
            return Ok(false);
        }
        let mut batch = self.batch();
        let deleted = at_ms <= now as i64;
        if deleted {
            self.remove(&mut batch, stored.slot, key, &stored.header);
        } else {
            self.rewrite_expiry(&mut batch, &stored, key, at_ms as u64);
        }
        drop(stored);
        self.commit(batch)?;
        let event = if deleted { "del" } else { "expire" };
        self.notify(events::GENERIC, event, key);
        Ok(true)
    }

    /// PERSIST: whether an expiry was removed.
    pub fn persist(&self, key: &[u8]) -> Result<bool> {
        self.lock(&[key])?;
        let Some(stored) = self.lookup_locked(key, now_ms())? else {
            return Ok(false);
        };
        if stored.header.expire_at_ms == 0 {
            return Ok(false);
        }
        let mut batch = self.batch();
        self.rewrite_expiry(&mut batch, &stored, key, 0);
        drop(stored);
        self.commit(batch)?;
        self.notify(events::GENERIC, "persist", key);
        Ok(true)
    }

    fn rewrite_expiry(&self, batch: &mut Batch, stored: &StoredKey<'_>, key: &[u8], at_ms: u64) {
        let mut value = stored.raw.to_vec();
        MetadataHeader::rewrite_expire(&mut value, at_ms);
        self.put_metadata(batch, stored.slot, key, &value, at_ms, Some(&stored.header));
    }

    /// RENAME / RENAMENX: `Ok(false)` when `only_if_missing` and `dst`
    /// exists; NoSuchKey when `src` is missing.
    pub fn rename(&self, src: &[u8], dst: &[u8], only_if_missing: bool) -> Result<bool> {
        self.lock(&[src, dst])?;
        let now = now_ms();
        let Some(stored) = self.lookup_locked(src, now)? else {
            return Err(Error::NoSuchKey);
        };
        if src == dst {
            return Ok(!only_if_missing);
        }
        let target = self.read(dst)?;
        if only_if_missing && target.as_ref().is_some_and(|t| !t.header.is_expired(now)) {
            return Ok(false);
        }
        let mut batch = self.batch();
        let target = target.map(|t| t.header);
        copy_value(self, &stored, src, self, dst, target.as_ref(), &mut batch)?;
        self.remove(&mut batch, stored.slot, src, &stored.header);
        drop(stored);
        self.commit(batch)?;
        self.notify_replaced(dst, Prior::of(target.as_ref(), now));
        self.notify(events::GENERIC, "rename_from", src);
        self.notify(events::GENERIC, "rename_to", dst);
        Ok(true)
    }

    /// The events of a key that a command put in place of whatever was
    /// there (RENAME, COPY, MOVE): `expired` if an expired entry was
    /// there, and `new` in any case (Redis deletes, then adds the key).
    fn notify_replaced(&self, key: &[u8], prior: Prior) {
        if prior == Prior::Expired {
            self.notify(events::EXPIRED, "expired", key);
        }
        self.notify(events::NEW, "new", key);
    }

    /// COPY (also across keyspaces): whether the copy was made.
    pub fn copy_to(&self, src: &[u8], dst_db: &Db<'_>, dst: &[u8], replace: bool) -> Result<bool> {
        let ks_src = self.ks.keyspace.as_bytes();
        let ks_dst = dst_db.ks.keyspace.as_bytes();
        self.writes
            .borrow_mut()
            .lock([(ks_src, src), (ks_dst, dst)])?;
        let now = now_ms();
        let found = self.lookup_locked(src, now)?;
        // The source is a read lookup for Redis.
        self.count_read(src, found.is_some());
        let Some(stored) = found else {
            return Ok(false);
        };
        let target = dst_db.read(dst)?;
        if !replace && target.as_ref().is_some_and(|t| !t.header.is_expired(now)) {
            return Ok(false);
        }
        let mut batch = self.batch();
        let target = target.map(|t| t.header);
        copy_value(self, &stored, src, dst_db, dst, target.as_ref(), &mut batch)?;
        drop(stored);
        self.commit(batch)?;
        if (ks_src, src) != (ks_dst, dst) {
            self.writes.borrow_mut().only_read(ks_src, src);
        }
        dst_db.notify_replaced(dst, Prior::of(target.as_ref(), now));
        dst_db.notify(events::GENERIC, "copy_to", dst);
        Ok(true)
    }

    /// MOVE: whether `key` moved to `dst_db` (it must not exist there).
    pub fn move_to(&self, key: &[u8], dst_db: &Db<'_>) -> Result<bool> {
        let ks_src = self.ks.keyspace.as_bytes();
        let ks_dst = dst_db.ks.keyspace.as_bytes();
        self.writes
            .borrow_mut()
            .lock([(ks_src, key), (ks_dst, key)])?;
        let now = now_ms();
        let Some(stored) = self.lookup_locked(key, now)? else {
            return Ok(false);
        };
        let target = dst_db.read(key)?;
        if target.as_ref().is_some_and(|t| !t.header.is_expired(now)) {
            return Ok(false);
        }
        let mut batch = self.batch();
        let target = target.map(|t| t.header);
        copy_value(self, &stored, key, dst_db, key, target.as_ref(), &mut batch)?;
        self.remove(&mut batch, stored.slot, key, &stored.header);
        drop(stored);
        self.commit(batch)?;
        dst_db.notify_replaced(key, Prior::of(target.as_ref(), now));
        self.notify(events::GENERIC, "move_from", key);
        dst_db.notify(events::GENERIC, "move_to", key);
        Ok(true)
    }

    /// One step of SCAN: up to `count` keys examined from `cursor`, those
    /// matching `pattern` and `data_type` returned, with the next cursor.
    pub fn scan(
        &self,
        cursors: &ScanCursors,
        cursor: u64,
        pattern: Option<&[u8]>,
        data_type: Option<DataType>,
        count: usize,
    ) -> Result<(u64, Vec<Bytes>)> {
        let ks = &self.ks.keyspace;
        let Some((slot, after)) = cursors.resolve(cursor) else {
            return Ok((0, Vec::new()));
        };
        let start = match &after {
            Some(key) => {
                let mut k = self.metadata_key(slot, key);
                k.push(0);
                k
            }
            None => slot_prefix(ks, slot),
        };
        let end = prefix_successor(ks.as_bytes());
        let now = now_ms();
        let mut keys = Vec::new();
        let mut last: Option<(u16, Vec<u8>)> = None;
        let mut expired = Vec::new();
        let mut next_cursor = 0;
        for (examined, item) in self.view.range(Cf::Metadata, &start, end).enumerate() {
            if examined == count {
                let (slot, key) = last.take().expect("count is at least one");
                next_cursor = cursors.store(slot, key);
                break;
            }
            let (raw_key, value) = item?;
            let parsed = parse_metadata_key(&raw_key).ok_or_else(|| Error::err("corrupted key"))?;
            let (header, _) = MetadataHeader::decode(&value)?;
            if header.is_expired(now) {
                expired.push(parsed.user_key.to_vec());
            } else if data_type.is_none_or(|t| t == header.data_type.redis_type())
                && pattern.is_none_or(|p| glob_match(p, parsed.user_key, false))
            {
                keys.push(Bytes::copy_from_slice(parsed.user_key));
            }
            last = Some((parsed.slot, parsed.user_key.to_vec()));
        }
        // As in Redis, expired keys met by SCAN are deleted.
        for key in expired {
            self.lookup(&key, now)?;
        }
        Ok((next_cursor, keys))
    }

    /// CLUSTER GETKEYSINSLOT: up to `count` live keys of `slot`, read from
    /// the slot's own key range.
    pub fn keys_in_slot(&self, slot: u16, count: usize) -> Result<Vec<Bytes>> {
        let prefix = slot_prefix(&self.ks.keyspace, slot);
        let now = now_ms();
        let mut keys = Vec::new();
        for item in self
            .view
            .range(Cf::Metadata, &prefix, prefix_successor(&prefix))
        {
            if keys.len() >= count {
                break;
            }
            let (raw_key, value) = item?;
            let (header, _) = MetadataHeader::decode(&value)?;
            if !header.is_expired(now) {
                keys.push(Bytes::copy_from_slice(&raw_key[prefix.len()..]));
            }
        }
        Ok(keys)
    }

    /// KEYS: every live key matching `pattern`.
    pub fn keys(&self, pattern: &[u8]) -> Result<Vec<Bytes>> {
        let ks = self.ks.keyspace.as_bytes();
        let now = now_ms();
        let mut keys = Vec::new();
        for item in self.view.range(Cf::Metadata, ks, prefix_successor(ks)) {
            let (raw_key, value) = item?;
            let parsed = parse_metadata_key(&raw_key).ok_or_else(|| Error::err("corrupted key"))?;
            let (header, _) = MetadataHeader::decode(&value)?;
            if !header.is_expired(now) && glob_match(pattern, parsed.user_key, false) {
                keys.push(Bytes::copy_from_slice(parsed.user_key));
            }
        }
        Ok(keys)
    }

    /// RANDOMKEY: a live key chosen at random, `None` if there is none.
    pub fn random_key(&self) -> Result<Option<Bytes>> {
        let counts = &self.ks.counts;
        let now = now_ms();
        for _ in 0..100 {
            let total = counts.keys();
            if total == 0 {
                return Ok(None);
            }
            let mut pick = rand::random_range(0..total);
            let Some(slot) = (0..SLOT_COUNT).find(|&slot| {
                let n = counts.keys_in_slot(slot);
                if pick < n {
                    true
                } else {
                    pick -= n;
                    false
                }
            }) else {
                return Ok(None);
            };
            let prefix = slot_prefix(&self.ks.keyspace, slot);
            let end = prefix_successor(&prefix);
            let entry = self
                .view
                .range(Cf::Metadata, &prefix, end)
                .nth(pick as usize)
                .transpose()?;
            let Some(key) = entry
                .as_ref()
                .and_then(|(raw_key, _)| parse_metadata_key(raw_key))
                .map(|k| Bytes::copy_from_slice(k.user_key))
            else {
                continue;
            };
            // An expired pick is deleted (as in Redis) and another is drawn.
            if self.lookup(&key, now)?.is_some() {
                return Ok(Some(key));
            }
        }
        Ok(None)
    }

    /// FLUSHDB: removes every key of this keyspace at once.
    pub fn flush(&self) -> Result<()> {
        self.writes.borrow_mut().lock_all()?;
        let mut batch = self.batch();
        self.storage.clear_keyspace(&mut batch, &self.ks.keyspace);
        self.commit(batch)
    }

    /// FLUSHALL: removes every key of every keyspace in one write. Every
    /// keyspace that holds a key has counts, so the counts name them all.
    pub fn flush_all(&self) -> Result<()> {
        self.writes.borrow_mut().lock_all()?;
        let mut batch = self.batch();
        for (ks, _) in self.storage.counts().all() {
            self.storage.clear_keyspace(&mut batch, &ks);
        }
        self.commit(batch)
    }

    /// The number of keys (DBSIZE), O(1); inside EXEC with the changes of
    /// the transaction's earlier commands.
    pub fn size(&self) -> u64 {
        let (reset, added) = self.writes.borrow().pending_keys(&self.ks.counts);
        let base = if reset {
            0
        } else {
            self.ks.counts.keys() as i64
        };
        (base + added).max(0) as u64
    }
}

/// Writes a copy of `stored` (the live entry of `src_key` in `src`) as
/// `dst_key` in `dst`, whose current stored header is `dst_old`. A
/// collection gets a new version and a copy of every member.
fn copy_value(
    src: &Db<'_>,
    stored: &StoredKey<'_>,
    src_key: &[u8],
    dst: &Db<'_>,
    dst_key: &[u8],
    dst_old: Option<&MetadataHeader>,
    batch: &mut Batch,
) -> Result<()> {
    let dst_slot = key_slot(dst_key);
    let expire_at = stored.header.expire_at_ms;
    if !stored.header.data_type.is_collection() {
        dst.put_metadata(batch, dst_slot, dst_key, &stored.raw, expire_at, dst_old);
        return Ok(());
    }
    let mut meta = Metadata::decode(&stored.raw)?;
    let src_prefix = subkey_prefix(&src.ks.keyspace, stored.slot, src_key, meta.version);
    meta.version = dst.storage.next_version()?;
    let dst_prefix = subkey_prefix(&dst.ks.keyspace, dst_slot, dst_key, meta.version);
    for cf in [Cf::Subkey, Cf::ZsetScore] {
        for item in src
            .view
            .range(cf, &src_prefix, prefix_successor(&src_prefix))
        {
            let (key, value) = item?;
            let mut new_key = dst_prefix.clone();
            new_key.extend_from_slice(&key[src_prefix.len()..]);
            batch.put(cf, &new_key, &value);
        }
    }
    dst.put_metadata(batch, dst_slot, dst_key, &meta.encode(), expire_at, dst_old);
    Ok(())
}

/// SCAN cursors. A cursor below 16384 is the start of that slot; a larger
/// one names a remembered position (`id * 16384 + slot`). A forgotten id
/// restarts its slot, so a scan always finishes and returns every key that
/// was present throughout at least once.
pub struct ScanCursors {
    state: Mutex<CursorState>,
}

struct CursorState {
    next_id: u64,
    positions: HashMap<u64, Vec<u8>>,
    order: VecDeque<u64>,
}

const REMEMBERED_CURSORS: usize = 16 * 1024;

impl ScanCursors {
    pub fn new() -> ScanCursors {
        ScanCursors {
            state: Mutex::new(CursorState {
                next_id: 1,
                positions: HashMap::new(),
                order: VecDeque::new(),
            }),
        }
    }

    pub(crate) fn store(&self, slot: u16, key: Vec<u8>) -> u64 {
        let mut state = self.state.lock();
        let id = state.next_id;
        state.next_id += 1;
        state.positions.insert(id, key);
        state.order.push_back(id);
        if state.order.len() > REMEMBERED_CURSORS {
            if let Some(old) = state.order.pop_front() {
                state.positions.remove(&old);
            }
        }
        id * u64::from(SLOT_COUNT) + u64::from(slot)
    }

    /// The slot and the key to continue after, or `None` for a cursor that
    /// cannot come from this server (the scan is over).
    pub(crate) fn resolve(&self, cursor: u64) -> Option<(u16, Option<Vec<u8>>)> {
        let slot = (cursor % u64::from(SLOT_COUNT)) as u16;
        let id = cursor / u64::from(SLOT_COUNT);
        if id == 0 {
            return Some((slot, None));
        }
        let state = self.state.lock();
        if id >= state.next_id {
            return None;
        }
        Some((slot, state.positions.get(&id).cloned()))
    }
}

impl Default for ScanCursors {
    fn default() -> Self {
        Self::new()
    }
}
