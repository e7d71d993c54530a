//! Hash field expiry (Redis 7.4): a time to live on single fields.
//!
//! A field's value stays a plain sub-key; its expiry is kept beside it in
//! the zset_score column family, under the hash's member prefix (so DEL,
//! COPY, RENAME, slot migration and the compaction filter treat it as
//! part of the hash):
//!
//! ```text
//! prefix | 'f' | field                      -> expire-at ms u64 BE
//! prefix | 't' | expire-at ms u64 BE | field -> (empty)
//! ```
//!
//! The first finds a field's expiry, the second the fields due by a time.
//! The hash's metadata holds `field_expiry_ms`, never later than the
//! earliest field expiry and 0 when no field has one: the key is indexed in
//! the expire CF at that time, where active expiry finds it. While that
//! time is in the future no field can be due, so reads of a hash whose
//! fields have no expiry, or none due yet, cost nothing more. Removing or
//! persisting the earliest field leaves the time early; active expiry then
//! finds nothing due and moves it on.

use super::collection::Collection;
use super::Db;
use crate::error::Result;
use crate::keyspace_events as events;
use crate::storage::{Batch, Cf};
use redrock_encoding::{prefix_successor, subkey_prefix, DataType, Metadata};
use std::collections::HashSet;

const BY_FIELD: u8 = b'f';
const BY_TIME: u8 = b't';

/// The latest field expiry Redis accepts, in Unix ms: 2^46 - 1
/// (`HFE_MAX_ABS_TIME_MSEC`).
pub const MAX_FIELD_EXPIRY_MS: u64 = (1 << 46) - 1;

/// Whether an expiry is due at `now`.
pub fn is_due(expire_at: u64, now: u64) -> bool {
    expire_at <= now
}

/// Whether any field of a hash with this metadata may be due at `now`.
pub fn may_be_due(meta: &Metadata, now: u64) -> bool {
    meta.header.field_expiry_ms != 0 && meta.header.field_expiry_ms <= now
}

/// NX / XX / GT / LT of HEXPIRE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpireCondition {
    Always,
    /// Only fields without an expiry.
    Nx,
    /// Only fields with an expiry.
    Xx,
    /// Only a later time (no expiry counts as infinite).
    Gt,
    /// Only an earlier time (no expiry counts as infinite).
    Lt,
}

impl ExpireCondition {
    fn allows(self, old: Option<u64>, new: u64) -> bool {
        match (self, old) {
            (ExpireCondition::Always, _) => true,
            (ExpireCondition::Nx, old) => old.is_none(),
            (ExpireCondition::Xx, old) => old.is_some(),
            (ExpireCondition::Gt, Some(old)) => new > old,
            (ExpireCondition::Gt, None) => false,
            (ExpireCondition::Lt, Some(old)) => new < old,
            (ExpireCondition::Lt, None) => true,
        }
    }
}

/// When HEXPIRE's fields expire, in Unix ms. A relative time counts from
/// the moment the command holds the key's lock, so a positive TTL is never
/// already past however long the command waited for the lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpireAt {
    Absolute(u64),
    Relative(u64),
}

/// What a field-expiry command found or did to one field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldAnswer {
    /// No such field (or it is due).
    NoField,
    /// HEXPIRE's NX / XX / GT / LT said no.
    ConditionNotMet,
    /// HEXPIRE set the expiry.
    Set,
    /// HEXPIRE's time had passed: the field is deleted.
    Deleted,
    /// The field has no expiry (HPERSIST, HTTL).
    NoExpiry,
    /// HPERSIST removed the expiry.
    Persisted,
    /// The field expires at this Unix ms (HTTL and friends).
    ExpiresAt(u64),
}

/// A field as a writer holding the key's lock sees it.
pub struct StoredField<V> {
    pub value: Option<V>,
    pub expire_at: Option<u64>,
}

impl<V> StoredField<V> {
    /// Whether the field exists for commands at `now`.
    pub fn alive(&self, now: u64) -> bool {
        self.value.is_some() && !self.expire_at.is_some_and(|at| is_due(at, now))
    }
}

impl<'a> Db<'a> {
    fn by_field_key(&self, slot: u16, key: &[u8], version: u64, field: &[u8]) -> Vec<u8> {
        let mut k = subkey_prefix(&self.ks.keyspace, slot, key, version);
        k.push(BY_FIELD);
        k.extend_from_slice(field);
        k
    }

    fn by_time_key(&self, slot: u16, key: &[u8], version: u64, at: u64, field: &[u8]) -> Vec<u8> {
        let mut k = subkey_prefix(&self.ks.keyspace, slot, key, version);
        k.push(BY_TIME);
        k.extend_from_slice(&at.to_be_bytes());
        k.extend_from_slice(field);
        k
    }

    /// A field's expiry, if it has one.
    pub fn field_expiry(
        &self,
        slot: u16,
        key: &[u8],
        meta: &Metadata,
        field: &[u8],
    ) -> Result<Option<u64>> {
        if meta.header.field_expiry_ms == 0 {
            return Ok(None);
        }
        let entry = self.view.get(
            Cf::ZsetScore,
            &self.by_field_key(slot, key, meta.version, field),
        )?;
        Ok(entry.and_then(|v| Some(u64::from_be_bytes(v.get(..8)?.try_into().ok()?))))
    }

    /// Every field expiry of a hash, by field.
    pub fn field_expiries(
        &self,
        slot: u16,
        key: &[u8],
        meta: &Metadata,
    ) -> Result<std::collections::HashMap<Vec<u8>, u64>> {
        let mut out = std::collections::HashMap::new();
        if meta.header.field_expiry_ms == 0 {
            return Ok(out);
        }
        let mut start = subkey_prefix(&self.ks.keyspace, slot, key, meta.version);
        start.push(BY_FIELD);
        let end = prefix_successor(&start);
        for item in self.view.range(Cf::ZsetScore, &start, end) {
            let (k, v) = item?;
            if let Some(at) = v.get(..8).and_then(|b| b.try_into().ok()) {
                out.insert(k[start.len()..].to_vec(), u64::from_be_bytes(at));
            }
        }
        Ok(out)
    }

    /// A field's value and expiry, read by a writer under the key's lock.
    pub fn stored_field(
        &self,
        hash: &Collection,
        key: &[u8],
        field: &[u8],
    ) -> Result<StoredField<bytes::Bytes>> {
        if !hash.existed() {
            return Ok(StoredField {
                value: None,
                expire_at: None,
            });
        }
        let value = self
            .get_member(hash.slot, key, hash.meta.version, field)?
            .map(|v| bytes::Bytes::copy_from_slice(&v));
        let expire_at = match value {
            Some(_) => self.field_expiry(hash.slot, key, &hash.meta, field)?,
            None => None,
        };
        Ok(StoredField { value, expire_at })
    }

    /// The fields of a hash due at `now`, from its time index (empty while
    /// none can be).
    pub fn due_fields(
        &self,
        slot: u16,
        key: &[u8],
        meta: &Metadata,
        now: u64,
    ) -> Result<HashSet<Vec<u8>>> {
        let mut due = HashSet::new();
        if may_be_due(meta, now) {
            self.for_each_due(slot, key, meta.version, now, usize::MAX, |_, field| {
                due.insert(field.to_vec());
            })?;
        }
        Ok(due)
    }

    /// Calls `visit(expire_at, field)` for up to `limit` fields due at
    /// `now`, earliest first.
    fn for_each_due(
        &self,
        slot: u16,
        key: &[u8],
        version: u64,
        now: u64,
        limit: usize,
        mut visit: impl FnMut(u64, &[u8]),
    ) -> Result<()> {
        let mut start = subkey_prefix(&self.ks.keyspace, slot, key, version);
        start.push(BY_TIME);
        let time_at = start.len();
        let mut end = start.clone();
        end.extend_from_slice(&(now + 1).to_be_bytes());
        for item in self
            .view
            .range(Cf::ZsetScore, &start, Some(end))
            .take(limit)
        {
            let (k, _) = item?;
            let at = u64::from_be_bytes(k[time_at..time_at + 8].try_into().expect("8 bytes"));
            visit(at, &k[time_at + 8..]);
        }
        Ok(())
    }

    /// The earliest field expiry of a hash at or after `from`, 0 when none.
    fn earliest_field_expiry(&self, slot: u16, key: &[u8], version: u64, from: u64) -> Result<u64> {
        let mut start = subkey_prefix(&self.ks.keyspace, slot, key, version);
        start.push(BY_TIME);
        let time_at = start.len();
        let end = prefix_successor(&start);
        start.extend_from_slice(&from.to_be_bytes());
        match self.view.range(Cf::ZsetScore, &start, end).next() {
            Some(item) => {
                let (k, _) = item?;
                Ok(u64::from_be_bytes(
                    k[time_at..time_at + 8].try_into().expect("8 bytes"),
                ))
            }
            None => Ok(0),
        }
    }

    /// Writes a field's new expiry (`None`: none) in place of `old`, and
    /// keeps the hash's earliest time no later than it.
    pub fn set_field_expiry(
        &self,
        batch: &mut Batch,
        hash: &mut Collection,
        key: &[u8],
        field: &[u8],
        old: Option<u64>,
        new: Option<u64>,
    ) {
        let (slot, version) = (hash.slot, hash.meta.version);
        if let Some(old) = old {
            batch.delete(
                Cf::ZsetScore,
                &self.by_time_key(slot, key, version, old, field),
            );
            if new.is_none() {
                batch.delete(Cf::ZsetScore, &self.by_field_key(slot, key, version, field));
            }
        }
        if let Some(new) = new {
            batch.put(
                Cf::ZsetScore,
                &self.by_field_key(slot, key, version, field),
                &new.to_be_bytes(),
            );
            batch.put(
                Cf::ZsetScore,
                &self.by_time_key(slot, key, version, new, field),
                b"",
            );
            let earliest = &mut hash.meta.header.field_expiry_ms;
            if *earliest == 0 || new < *earliest {
                *earliest = new;
            }
        }
    }

    /// HEXPIRE / HPEXPIRE / HEXPIREAT / HPEXPIREAT: sets the fields' expiry
    /// to `at` (Unix ms) where `condition` allows; one answer per field.
    /// A time already past deletes the field, and the key once empty.
    pub fn hexpire(
        &self,
        key: &[u8],
        when: ExpireAt,
        condition: ExpireCondition,
        fields: &[bytes::Bytes],
    ) -> Result<Vec<FieldAnswer>> {
        self.lock(&[key])?;
        let now = super::now_ms();
        let at = match when {
            ExpireAt::Absolute(at) => at,
            ExpireAt::Relative(ms) => (now + ms).min(MAX_FIELD_EXPIRY_MS),
        };
        let mut hash = self.open_collection(key, DataType::Hash)?;
        if !hash.existed() {
            return Ok(vec![FieldAnswer::NoField; fields.len()]);
        }
        let mut batch = self.batch();
        let mut answers = Vec::with_capacity(fields.len());
        // What this command did to each field so far (a field may be named
        // twice): its expiry, or `None` once deleted.
        let mut changed: std::collections::HashMap<&[u8], Option<u64>> = Default::default();
        let (mut updated, mut deleted) = (0u64, 0u64);
        for field in fields {
            let current = match changed.get(&field[..]) {
                Some(Some(at)) => Some(Some(*at)),
                Some(None) => None,
                None => {
                    let stored = self.stored_field(&hash, key, field)?;
                    stored.alive(now).then_some(stored.expire_at)
                }
            };
            let Some(old) = current else {
                answers.push(FieldAnswer::NoField);
                continue;
            };
            if !condition.allows(old, at) {
                answers.push(FieldAnswer::ConditionNotMet);
                continue;
            }
            if is_due(at, now) {
                self.set_field_expiry(&mut batch, &mut hash, key, field, old, None);
                batch.delete(
                    Cf::Subkey,
                    &self.member_key(hash.slot, key, hash.meta.version, field),
                );
                hash.meta.size -= 1;
                deleted += 1;
                changed.insert(field, None);
                answers.push(FieldAnswer::Deleted);
            } else {
                if old != Some(at) {
                    self.set_field_expiry(&mut batch, &mut hash, key, field, old, Some(at));
                }
                updated += 1;
                changed.insert(field, Some(at));
                answers.push(FieldAnswer::Set);
            }
        }
        if updated + deleted > 0 {
            self.save_collection(&mut batch, key, &hash);
            self.commit(batch)?;
            if deleted > 0 {
                self.note_deleted_members(hash.slot, key, hash.meta.version, deleted);
            }
            // As Redis 7.4: a time already past deletes, raising hdel.
            let event = if deleted > 0 { "hdel" } else { "hexpire" };
            self.notify(events::HASH, event, key);
            if hash.meta.size == 0 {
                self.notify(events::GENERIC, "del", key);
            }
        }
        Ok(answers)
    }

    /// HPERSIST: removes the fields' expiry; one answer per field.
    pub fn hpersist(&self, key: &[u8], fields: &[bytes::Bytes]) -> Result<Vec<FieldAnswer>> {
        self.lock(&[key])?;
        let now = super::now_ms();
        let mut hash = self.open_collection(key, DataType::Hash)?;
        if !hash.existed() {
            return Ok(vec![FieldAnswer::NoField; fields.len()]);
        }
        let mut batch = self.batch();
        let mut answers = Vec::with_capacity(fields.len());
        let mut persisted: HashSet<&[u8]> = HashSet::new();
        for field in fields {
            let stored = self.stored_field(&hash, key, field)?;
            let answer = match stored.expire_at {
                _ if !stored.alive(now) => FieldAnswer::NoField,
                Some(_) if persisted.contains(&field[..]) => FieldAnswer::NoExpiry,
                Some(at) => {
                    self.set_field_expiry(&mut batch, &mut hash, key, field, Some(at), None);
                    persisted.insert(field);
                    FieldAnswer::Persisted
                }
                None => FieldAnswer::NoExpiry,
            };
            answers.push(answer);
        }
        if !persisted.is_empty() {
            self.commit(batch)?;
            self.notify(events::HASH, "hpersist", key);
        }
        Ok(answers)
    }

    /// HTTL / HPTTL / HEXPIRETIME / HPEXPIRETIME: each field's expiry as
    /// it stands at `now`.
    pub fn field_expiries_at(
        &self,
        key: &[u8],
        fields: &[bytes::Bytes],
        now: u64,
    ) -> Result<Vec<FieldAnswer>> {
        self.in_snapshot(|db| {
            let Some((slot, meta)) = db.read_collection(key, DataType::Hash)? else {
                return Ok(vec![FieldAnswer::NoField; fields.len()]);
            };
            fields
                .iter()
                .map(|field| {
                    if db.get_member(slot, key, meta.version, field)?.is_none() {
                        return Ok(FieldAnswer::NoField);
                    }
                    Ok(match db.field_expiry(slot, key, &meta, field)? {
                        None => FieldAnswer::NoExpiry,
                        Some(at) if is_due(at, now) => FieldAnswer::NoField,
                        Some(at) => FieldAnswer::ExpiresAt(at),
                    })
                })
                .collect()
        })
    }

    /// Active expiry of a hash's fields, called when the expire index says
    /// its earliest field time `at` has come: removes up to `limit` due
    /// fields (the key once empty) and moves the time on.
    pub(super) fn expire_fields(
        &self,
        key: &[u8],
        at: u64,
        now: u64,
        limit: usize,
    ) -> Result<FieldExpiry> {
        let Some(stored) = self.read(key)? else {
            return Ok(FieldExpiry::Stale);
        };
        if stored.header.data_type != DataType::Hash
            || stored.header.field_expiry_ms != at
            || stored.header.is_expired(now)
        {
            return Ok(FieldExpiry::Stale);
        }
        let mut hash = Collection {
            slot: stored.slot,
            meta: Metadata::decode(&stored.raw)?,
            stored: Some(stored.header),
            prior: super::Prior::Live,
        };
        drop(stored);
        let (slot, version) = (hash.slot, hash.meta.version);
        let mut due = Vec::new();
        self.for_each_due(slot, key, version, now, limit, |at, field| {
            due.push((at, field.to_vec()));
        })?;
        let mut batch = self.batch();
        for (at, field) in &due {
            batch.delete(
                Cf::ZsetScore,
                &self.by_time_key(slot, key, version, *at, field),
            );
            batch.delete(Cf::ZsetScore, &self.by_field_key(slot, key, version, field));
            batch.delete(Cf::Subkey, &self.member_key(slot, key, version, field));
        }
        hash.meta.size = hash.meta.size.saturating_sub(due.len() as u64);
        let more = due.len() == limit;
        // The earliest expiry left: past the entries deleted here.
        hash.meta.header.field_expiry_ms = match due.last() {
            Some(last) if more => last.0,
            _ => self.earliest_field_expiry(slot, key, version, now + 1)?,
        };
        self.save_collection(&mut batch, key, &hash);
        self.commit(batch)?;
        if !due.is_empty() {
            self.note_deleted_members(slot, key, version, due.len() as u64);
            self.notify(events::HASH, "hexpired", key);
            if hash.meta.size == 0 {
                self.notify(events::GENERIC, "del", key);
            }
        }
        Ok(if more {
            FieldExpiry::More(hash.meta.header.field_expiry_ms)
        } else {
            FieldExpiry::Done
        })
    }
}

/// What [`Db::expire_fields`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum FieldExpiry {
    /// The index entry no longer names this hash's earliest field time.
    Stale,
    /// Due fields were removed; more remain, from this time.
    More(u64),
    /// Every due field is gone.
    Done,
}
