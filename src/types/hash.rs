//! Hashes: one sub-key per field, the field's value as its value. Fields
//! may expire one by one (see `field_expiry`): every read here leaves out
//! the fields due, even before active expiry removes them.

use super::collection::Draw;
use super::field_expiry::{is_due, may_be_due};
use super::now_ms;
use super::string::{long_double_add, parse_i64};
use super::Db;
use crate::error::{Error, Result};
use crate::keyspace_events as events;
use crate::storage::Cf;
use bytes::Bytes;
use redrock_encoding::{DataType, Metadata};
use std::collections::HashMap;

/// A field and its value.
pub type FieldValue = (Bytes, Bytes);

fn bytes(b: impl AsRef<[u8]>) -> Bytes {
    Bytes::copy_from_slice(b.as_ref())
}

impl<'a> Db<'a> {
    /// Sets fields, returning how many were new. With `only_new`, fields
    /// that exist keep their value (HSETNX).
    pub fn hset(&self, key: &[u8], pairs: &[FieldValue], only_new: bool) -> Result<u64> {
        self.lock(&[key])?;
        let now = now_ms();
        let mut hash = self.open_collection(key, DataType::Hash)?;
        let mut batch = self.batch();
        // Fields named twice in one call: the last value wins, counted once.
        let mut seen: HashMap<&[u8], bool> = HashMap::new();
        let mut added = 0;
        let mut changed = false;
        let size_before = hash.meta.size;
        for (field, value) in pairs {
            let exists = match seen.get(&field[..]) {
                Some(&exists) => exists,
                None => {
                    let stored = self.stored_field(&hash, key, field)?;
                    let alive = stored.alive(now);
                    if !(only_new && alive) {
                        // A value written anew has no expiry (an expired
                        // field is replaced).
                        if stored.expire_at.is_some() {
                            self.set_field_expiry(
                                &mut batch,
                                &mut hash,
                                key,
                                field,
                                stored.expire_at,
                                None,
                            );
                        }
                        if stored.value.is_none() {
                            hash.meta.size += 1;
                        }
                    }
                    alive
                }
            };
            if only_new && exists {
                continue;
            }
            if !exists {
                added += 1;
            }
            seen.insert(field, true);
            let sub = self.member_key(hash.slot, key, hash.meta.version, field);
            batch.put(Cf::Subkey, &sub, value);
            changed = true;
        }
        if changed {
            // Overwriting fields of an existing hash leaves its metadata as
            // it is.
            if hash.meta.size != size_before || !hash.existed() {
                self.save_collection(&mut batch, key, &hash);
            }
            self.commit(batch)?;
            self.notify_collection(key, &hash, events::HASH, "hset");
        }
        Ok(added)
    }

    /// The live hash at `key`, if any.
    fn read_hash(&self, key: &[u8]) -> Result<Option<(u16, Metadata)>> {
        self.read_collection(key, DataType::Hash)
    }

    /// A field's value if it exists at `now` (it has not expired).
    pub fn hash_field_value(
        &self,
        slot: u16,
        key: &[u8],
        meta: &Metadata,
        field: &[u8],
        now: u64,
    ) -> Result<Option<Bytes>> {
        if !may_be_due(meta, now) {
            return Ok(self.get_member(slot, key, meta.version, field)?.map(bytes));
        }
        // The value and its expiry from one point in time.
        self.in_snapshot(|db| {
            let Some(value) = db.get_member(slot, key, meta.version, field)? else {
                return Ok(None);
            };
            let due = db
                .field_expiry(slot, key, meta, field)?
                .is_some_and(|at| is_due(at, now));
            Ok((!due).then(|| bytes(value)))
        })
    }

    /// HGET.
    pub fn hget(&self, key: &[u8], field: &[u8]) -> Result<Option<Bytes>> {
        let Some((slot, meta)) = self.read_hash(key)? else {
            return Ok(None);
        };
        self.hash_field_value(slot, key, &meta, field, now_ms())
    }

    /// HMGET.
    pub fn hmget(&self, key: &[u8], fields: &[Bytes]) -> Result<Vec<Option<Bytes>>> {
        let Some((slot, meta)) = self.read_hash(key)? else {
            return Ok(vec![None; fields.len()]);
        };
        let now = now_ms();
        fields
            .iter()
            .map(|f| self.hash_field_value(slot, key, &meta, f, now))
            .collect()
    }

    /// HDEL: how many of the fields existed.
    pub fn hdel(&self, key: &[u8], fields: &[Bytes]) -> Result<u64> {
        self.lock(&[key])?;
        let now = now_ms();
        let mut hash = self.open_collection(key, DataType::Hash)?;
        if !hash.existed() {
            return Ok(0);
        }
        let mut batch = self.batch();
        let (mut removed, mut deleted) = (0, 0);
        let mut seen = std::collections::HashSet::new();
        for field in fields {
            if !seen.insert(&field[..]) {
                continue;
            }
            let stored = self.stored_field(&hash, key, field)?;
            if stored.value.is_none() {
                continue;
            }
            // An expired field goes too, but did not exist for the reply.
            removed += u64::from(stored.alive(now));
            deleted += 1;
            if stored.expire_at.is_some() {
                self.set_field_expiry(&mut batch, &mut hash, key, field, stored.expire_at, None);
            }
            let sub = self.member_key(hash.slot, key, hash.meta.version, field);
            batch.delete(Cf::Subkey, &sub);
        }
        if deleted > 0 {
            hash.meta.size -= deleted;
            self.save_collection(&mut batch, key, &hash);
            self.commit(batch)?;
            self.note_deleted_members(hash.slot, key, hash.meta.version, deleted);
            if removed > 0 {
                self.notify_collection(key, &hash, events::HASH, "hdel");
            } else if hash.meta.size == 0 {
                // Only fields already due went, and the key with them.
                self.notify(events::GENERIC, "del", key);
            }
        }
        Ok(removed)
    }

    /// HLEN: exact, without the fields due.
    pub fn hlen(&self, key: &[u8]) -> Result<u64> {
        let Some((_, meta)) = self.read_hash(key)? else {
            return Ok(0);
        };
        if !may_be_due(&meta, now_ms()) {
            return Ok(meta.size);
        }
        // The metadata again (counted once, above), to agree with the
        // index read.
        self.in_snapshot(|db| {
            let Some((slot, meta)) = db.read_collection_to_write(key, DataType::Hash)? else {
                return Ok(0);
            };
            let due = db.due_fields(slot, key, &meta, now_ms())?.len() as u64;
            Ok(meta.size.saturating_sub(due))
        })
    }

    /// HEXISTS.
    pub fn hexists(&self, key: &[u8], field: &[u8]) -> Result<bool> {
        Ok(self.hget(key, field)?.is_some())
    }

    /// HSTRLEN.
    pub fn hstrlen(&self, key: &[u8], field: &[u8]) -> Result<usize> {
        Ok(self.hget(key, field)?.map_or(0, |v| v.len()))
    }

    /// HGETALL / HKEYS / HVALS: every field with its value, in field order.
    pub fn hgetall(&self, key: &[u8]) -> Result<Vec<FieldValue>> {
        self.in_snapshot(|db| {
            let Some((slot, meta)) = db.read_hash(key)? else {
                return Ok(Vec::new());
            };
            let due = db.due_fields(slot, key, &meta, now_ms())?;
            db.members(Cf::Subkey, slot, key, meta.version, None)
                .filter(|m| m.as_ref().map_or(true, |(f, _)| !due.contains(f)))
                .map(|m| m.map(|(f, v)| (Bytes::from(f), bytes(v))))
                .collect()
        })
    }

    /// Replaces one field's value with `f(old)` under the key lock; a
    /// field's expiry stays, as in Redis.
    fn update_field<T>(
        &self,
        key: &[u8],
        field: &[u8],
        event: &'static str,
        f: impl FnOnce(Option<&[u8]>) -> Result<(Vec<u8>, T)>,
    ) -> Result<T> {
        self.lock(&[key])?;
        let now = now_ms();
        let mut hash = self.open_collection(key, DataType::Hash)?;
        let stored = self.stored_field(&hash, key, field)?;
        let alive = stored.alive(now);
        let old = if alive { stored.value.as_deref() } else { None };
        let (value, result) = f(old)?;
        let mut batch = self.batch();
        if !alive && stored.expire_at.is_some() {
            // An expired field is replaced by one without an expiry.
            self.set_field_expiry(&mut batch, &mut hash, key, field, stored.expire_at, None);
        }
        let sub = self.member_key(hash.slot, key, hash.meta.version, field);
        batch.put(Cf::Subkey, &sub, &value);
        if stored.value.is_none() {
            hash.meta.size += 1;
            self.save_collection(&mut batch, key, &hash);
        }
        self.commit(batch)?;
        self.notify_collection(key, &hash, events::HASH, event);
        Ok(result)
    }

    /// HINCRBY.
    pub fn hincrby(&self, key: &[u8], field: &[u8], delta: i64) -> Result<i64> {
        self.update_field(key, field, "hincrby", |old| {
            let current = match old {
                Some(text) => {
                    parse_i64(text).ok_or_else(|| Error::err("hash value is not an integer"))?
                }
                None => 0,
            };
            let next = current.checked_add(delta).ok_or(Error::Overflow)?;
            Ok((itoa::Buffer::new().format(next).as_bytes().to_vec(), next))
        })
    }

    /// HINCRBYFLOAT.
    pub fn hincrbyfloat(&self, key: &[u8], field: &[u8], incr: &[u8]) -> Result<Bytes> {
        // The increment is checked first, as Redis does.
        long_double_add(Some(b"0"), incr).map_err(|e| match e {
            Error::NanOrInfinity => Error::err("value is NaN or Infinity"),
            other => other,
        })?;
        self.update_field(key, field, "hincrbyfloat", |old| {
            let sum = long_double_add(Some(old.unwrap_or(b"0")), incr).map_err(|e| match e {
                Error::NotFloat => Error::err("hash value is not a float"),
                other => other,
            })?;
            Ok((sum.to_vec(), sum))
        })
    }

    /// HRANDFIELD with a count (see [`Db::random_members`]).
    pub fn hrandfield(&self, key: &[u8], count: i64) -> Result<Vec<FieldValue>> {
        self.in_snapshot(|db| {
            let Some((slot, meta)) = db.read_hash(key)? else {
                return Ok(Vec::new());
            };
            let due = db.due_fields(slot, key, &meta, now_ms())?;
            let picked = if due.is_empty() {
                db.random_members(slot, key, &meta, count, Draw::Read)?
            } else {
                // Drawn among the fields alive only, until active expiry
                // removes the others.
                let live = db
                    .members(Cf::Subkey, slot, key, meta.version, None)
                    .filter(|m| m.as_ref().map_or(true, |(f, _)| !due.contains(f)));
                let size = meta.size.saturating_sub(due.len() as u64);
                super::collection::pick_members(live, size, count)?
            };
            Ok(picked
                .into_iter()
                .map(|(f, v)| (Bytes::from(f), bytes(v)))
                .collect())
        })
    }
}
