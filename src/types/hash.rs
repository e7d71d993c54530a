//! Hashes: one sub-key per field, the field's value as its value.

use super::collection::Collection;
use super::collection::Draw;
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
        let mut hash = self.open_collection(key, DataType::Hash)?;
        let mut batch = self.batch();
        // Fields named twice in one call: the last value wins, counted once.
        let mut seen: HashMap<&[u8], bool> = HashMap::new();
        let mut added = 0;
        let mut changed = false;
        for (field, value) in pairs {
            let exists = match seen.get(&field[..]) {
                Some(&exists) => exists,
                None => hash.existed() && self.hash_field(&hash, key, field)?.is_some(),
            };
            if only_new && exists {
                continue;
            }
            if !exists {
                added += 1;
                hash.meta.size += 1;
            }
            seen.insert(field, true);
            let sub = self.member_key(hash.slot, key, hash.meta.version, field);
            batch.put(Cf::Subkey, &sub, value);
            changed = true;
        }
        if changed {
            // Overwriting fields of an existing hash leaves its metadata as
            // it is.
            if added > 0 || !hash.existed() {
                self.save_collection(&mut batch, key, &hash);
            }
            self.commit(batch)?;
            self.notify_collection(key, &hash, events::HASH, "hset");
        }
        Ok(added)
    }

    fn hash_field(&self, hash: &Collection, key: &[u8], field: &[u8]) -> Result<Option<Bytes>> {
        Ok(self
            .get_member(hash.slot, key, hash.meta.version, field)?
            .map(bytes))
    }

    /// The live hash at `key`, if any.
    fn read_hash(&self, key: &[u8]) -> Result<Option<(u16, Metadata)>> {
        self.read_collection(key, DataType::Hash)
    }

    /// HGET.
    pub fn hget(&self, key: &[u8], field: &[u8]) -> Result<Option<Bytes>> {
        let Some((slot, meta)) = self.read_hash(key)? else {
            return Ok(None);
        };
        Ok(self.get_member(slot, key, meta.version, field)?.map(bytes))
    }

    /// HMGET.
    pub fn hmget(&self, key: &[u8], fields: &[Bytes]) -> Result<Vec<Option<Bytes>>> {
        let Some((slot, meta)) = self.read_hash(key)? else {
            return Ok(vec![None; fields.len()]);
        };
        fields
            .iter()
            .map(|f| Ok(self.get_member(slot, key, meta.version, f)?.map(bytes)))
            .collect()
    }

    /// HDEL: how many of the fields existed.
    pub fn hdel(&self, key: &[u8], fields: &[Bytes]) -> Result<u64> {
        self.lock(&[key])?;
        let mut hash = self.open_collection(key, DataType::Hash)?;
        if !hash.existed() {
            return Ok(0);
        }
        let mut batch = self.batch();
        let mut removed = 0;
        let mut seen = std::collections::HashSet::new();
        for field in fields {
            if !seen.insert(&field[..]) {
                continue;
            }
            let sub = self.member_key(hash.slot, key, hash.meta.version, field);
            if self.view.get(Cf::Subkey, &sub)?.is_some() {
                batch.delete(Cf::Subkey, &sub);
                removed += 1;
            }
        }
        if removed > 0 {
            hash.meta.size -= removed;
            self.save_collection(&mut batch, key, &hash);
            self.commit(batch)?;
            self.note_deleted_members(hash.slot, key, hash.meta.version, removed);
            self.notify_collection(key, &hash, events::HASH, "hdel");
        }
        Ok(removed)
    }

    /// HLEN.
    pub fn hlen(&self, key: &[u8]) -> Result<u64> {
        Ok(self.read_hash(key)?.map_or(0, |(_, m)| m.size))
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
        let Some((slot, meta)) = self.read_hash(key)? else {
            return Ok(Vec::new());
        };
        self.members(Cf::Subkey, slot, key, meta.version, None)
            .map(|m| m.map(|(f, v)| (Bytes::from(f), bytes(v))))
            .collect()
    }

    /// Replaces one field's value with `f(old)` under the key lock.
    fn update_field<T>(
        &self,
        key: &[u8],
        field: &[u8],
        event: &'static str,
        f: impl FnOnce(Option<&[u8]>) -> Result<(Vec<u8>, T)>,
    ) -> Result<T> {
        self.lock(&[key])?;
        let mut hash = self.open_collection(key, DataType::Hash)?;
        let old = if hash.existed() {
            self.hash_field(&hash, key, field)?
        } else {
            None
        };
        let (value, result) = f(old.as_deref())?;
        let mut batch = self.batch();
        let sub = self.member_key(hash.slot, key, hash.meta.version, field);
        batch.put(Cf::Subkey, &sub, &value);
        if old.is_none() {
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
        let Some((slot, meta)) = self.read_hash(key)? else {
            return Ok(Vec::new());
        };
        Ok(self
            .random_members(slot, key, &meta, count, Draw::Read)?
            .into_iter()
            .map(|(f, v)| (Bytes::from(f), bytes(v)))
            .collect())
    }
}
