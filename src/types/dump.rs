//! DUMP and RESTORE: a key's value in Redis's own serialization
//! (`redrock_formats::rdb`), so values move between redis-server and
//! RedRock with DUMP/RESTORE and MIGRATE.

use super::collection::Collection;
use super::field_expiry::is_due;
use super::list::End;
use super::zset::RangeSpec;
use super::{now_ms, Db, Prior, StoredKey};
use crate::error::{Error, Result};
use crate::keyspace_events as events;
use crate::storage::Cf;
use bytes::Bytes;
use redrock_cluster::key_slot;
use redrock_encoding::{DataType, Metadata};
use redrock_formats::rdb::Value;
use std::collections::HashSet;

/// RESTORE's refusal of a payload it cannot load.
pub fn bad_data() -> Error {
    Error::err("Bad data format")
}

impl Db<'_> {
    /// The value of the live key `stored` as a serializable value.
    fn serializable(&self, key: &[u8], stored: &StoredKey<'_>) -> Result<Value> {
        if stored.header.data_type.is_string() {
            return Ok(Value::String(self.string_bytes(key, stored)?.to_vec()));
        }
        let meta = Metadata::decode(&stored.raw)?;
        let slot = stored.slot;
        let members = || -> Result<Vec<super::collection::Member>> {
            self.members(Cf::Subkey, slot, key, meta.version, None)
                .collect()
        };
        Ok(match stored.header.data_type {
            DataType::List => Value::List(
                self.elements(slot, key, &meta, meta.head, meta.tail)?
                    .into_iter()
                    .map(|e| e.to_vec())
                    .collect(),
            ),
            DataType::Set => Value::Set(members()?.into_iter().map(|(m, _)| m).collect()),
            DataType::Hash if meta.header.field_expiry_ms != 0 => {
                let now = now_ms();
                let expiries = self.field_expiries(slot, key, &meta)?;
                let fields: Vec<_> = members()?
                    .into_iter()
                    .map(|(f, v)| {
                        let at = expiries.get(&f).copied();
                        (f, v.into_vec(), at)
                    })
                    .filter(|(_, _, at)| !at.is_some_and(|at| is_due(at, now)))
                    .collect();
                if fields.iter().any(|f| f.2.is_some()) {
                    Value::HashWithExpiry(fields)
                } else {
                    Value::Hash(fields.into_iter().map(|(f, v, _)| (f, v)).collect())
                }
            }
            DataType::Hash => Value::Hash(
                members()?
                    .into_iter()
                    .map(|(f, v)| (f, v.into_vec()))
                    .collect(),
            ),
            DataType::ZSet => Value::SortedSet(
                self.range_of(&(slot, meta), key, &RangeSpec::ALL)?
                    .into_iter()
                    .map(|(m, score)| (m.to_vec(), score))
                    .collect(),
            ),
            // Redis's stream payload (listpacks in a radix tree, with the
            // consumer groups) is not written yet.
            DataType::Stream => return Err(Error::err("DUMP of a stream is not supported yet")),
            DataType::String | DataType::Bitmap => unreachable!("strings are handled above"),
        })
    }

    /// DUMP: the serializable value of `key` (read from one snapshot) and
    /// its expiry (0: none), or `None` when it does not exist.
    pub fn dump(&self, key: &[u8]) -> Result<Option<(Value, u64)>> {
        self.in_snapshot(|db| {
            let Some(stored) = db.lookup_read(key, now_ms())? else {
                return Ok(None);
            };
            let value = db.serializable(key, &stored)?;
            // A hash whose every field is due is gone for readers already
            // (and an empty hash is no payload RESTORE takes).
            if matches!(&value, Value::Hash(fields) if fields.is_empty()) {
                return Ok(None);
            }
            Ok(Some((value, stored.header.expire_at_ms)))
        })
    }

    /// RESTORE: creates `key` with the value `load` gives (called once
    /// the key is known to be free, or `replace` allows replacing it, as
    /// Redis checks BUSYKEY before the TTL and the payload), expiring at
    /// `expire_at` (0: never). A time already past only removes what
    /// `replace` replaced.
    pub fn restore(
        &self,
        key: &[u8],
        replace: bool,
        load: impl FnOnce() -> Result<(Value, u64)>,
    ) -> Result<()> {
        self.lock(&[key])?;
        let now = now_ms();
        let stored = self.read_to_write(key, now)?;
        let old = stored.as_ref().map(|s| s.header);
        let live = old.filter(|h| !h.is_expired(now));
        if live.is_some() && !replace {
            return Err(Error::coded("BUSYKEY Target key name already exists."));
        }
        drop(stored);
        let (value, expire_at) = load()?;
        let mut batch = self.batch();
        let slot = key_slot(key);
        if expire_at != 0 && expire_at <= now {
            if let Some(old) = &old {
                self.remove(&mut batch, slot, key, old);
                self.commit(batch)?;
                if live.is_some() {
                    self.notify(events::GENERIC, "del", key);
                }
            }
            return Ok(());
        }
        if let Value::String(bytes) = &value {
            self.write_string(&mut batch, slot, key, bytes, expire_at, old.as_ref());
        } else {
            let mut c = Collection {
                slot,
                meta: Metadata::new(data_type_of(&value)?, self.storage.next_version()?),
                stored: old,
                prior: Prior::Missing,
            };
            c.meta.header.expire_at_ms = expire_at;
            self.write_members(&mut batch, key, &mut c, &value)?;
            if c.meta.size == 0 {
                return Err(bad_data());
            }
            self.save_collection(&mut batch, key, &c);
        }
        self.commit(batch)?;
        // A replaced key is deleted first, so the restored one is new.
        self.notify_write(key, Prior::Missing, events::GENERIC, "restore", true);
        Ok(())
    }

    /// Writes the members of the collection `value` as the members of
    /// `c`, refusing duplicates and NaN scores as Redis's loader does.
    fn write_members(
        &self,
        batch: &mut crate::storage::Batch,
        key: &[u8],
        c: &mut Collection,
        value: &Value,
    ) -> Result<()> {
        let mut seen = HashSet::new();
        let mut distinct = |member: &[u8]| -> Result<()> {
            if seen.insert(member.to_vec()) {
                Ok(())
            } else {
                Err(bad_data())
            }
        };
        let version = c.meta.version;
        match value {
            Value::List(elements) => {
                let elements: Vec<Bytes> =
                    elements.iter().map(|e| Bytes::copy_from_slice(e)).collect();
                self.push_into(batch, c, key, End::Right, &elements);
            }
            Value::Set(members) => {
                for member in members {
                    distinct(member)?;
                    batch.put(
                        Cf::Subkey,
                        &self.member_key(c.slot, key, version, member),
                        b"",
                    );
                }
                c.meta.size = members.len() as u64;
            }
            Value::Hash(fields) => {
                for (field, value) in fields {
                    distinct(field)?;
                    batch.put(
                        Cf::Subkey,
                        &self.member_key(c.slot, key, version, field),
                        value,
                    );
                }
                c.meta.size = fields.len() as u64;
            }
            Value::HashWithExpiry(fields) => {
                // Fields already expired are not loaded, as in Redis.
                let now = now_ms();
                for (field, value, at) in fields {
                    distinct(field)?;
                    if at.is_some_and(|at| is_due(at, now)) {
                        continue;
                    }
                    batch.put(
                        Cf::Subkey,
                        &self.member_key(c.slot, key, version, field),
                        value,
                    );
                    if at.is_some() {
                        self.set_field_expiry(batch, c, key, field, None, *at);
                    }
                    c.meta.size += 1;
                }
            }
            Value::SortedSet(members) => {
                for (member, score) in members {
                    distinct(member)?;
                    if score.is_nan() {
                        return Err(bad_data());
                    }
                    self.put_scored(batch, c, key, member, None, *score);
                }
                c.meta.size = members.len() as u64;
            }
            _ => return Err(bad_data()),
        }
        Ok(())
    }
}

/// The collection type a serialized value restores as.
fn data_type_of(value: &Value) -> Result<DataType> {
    Ok(match value {
        Value::List(_) => DataType::List,
        Value::Set(_) => DataType::Set,
        Value::Hash(_) | Value::HashWithExpiry(_) => DataType::Hash,
        Value::SortedSet(_) => DataType::ZSet,
        Value::String(_) => return Err(bad_data()),
    })
}
