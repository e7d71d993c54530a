//! Sets: one sub-key per member, with an empty value.

use super::collection::Draw;
use super::{now_ms, Db, Prior};
use crate::error::{Error, Result};
use crate::keyspace_events as events;
use crate::storage::Cf;
use bytes::Bytes;
use redrock_encoding::{DataType, Metadata};
use std::collections::{BTreeSet, HashSet};

/// Which combination SINTER/SUNION/SDIFF compute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetOp {
    Inter,
    Union,
    Diff,
}

impl<'a> Db<'a> {
    fn read_set(&self, key: &[u8]) -> Result<Option<(u16, Metadata)>> {
        self.read_collection(key, DataType::Set)
    }

    /// SADD: how many members were new.
    pub fn sadd(&self, key: &[u8], members: &[Bytes]) -> Result<u64> {
        self.lock(&[key])?;
        let mut set = self.open_collection(key, DataType::Set)?;
        let mut batch = self.batch();
        let mut seen = HashSet::new();
        let mut added = 0;
        for member in members {
            if !seen.insert(&member[..]) {
                continue;
            }
            let sub = self.member_key(set.slot, key, set.meta.version, member);
            if set.existed() && self.view.get(Cf::Subkey, &sub)?.is_some() {
                continue;
            }
            batch.put(Cf::Subkey, &sub, b"");
            added += 1;
        }
        if added > 0 {
            set.meta.size += added;
            self.save_collection(&mut batch, key, &set);
            self.commit(batch)?;
            self.notify_collection(key, &set, events::SET, "sadd");
        }
        Ok(added)
    }

    /// SREM: how many members were removed.
    pub fn srem(&self, key: &[u8], members: &[Bytes]) -> Result<u64> {
        self.lock(&[key])?;
        let mut set = self.open_collection(key, DataType::Set)?;
        if !set.existed() {
            return Ok(0);
        }
        let mut batch = self.batch();
        let mut seen = HashSet::new();
        let mut removed = 0;
        for member in members {
            if !seen.insert(&member[..]) {
                continue;
            }
            let sub = self.member_key(set.slot, key, set.meta.version, member);
            if self.view.get(Cf::Subkey, &sub)?.is_some() {
                batch.delete(Cf::Subkey, &sub);
                removed += 1;
            }
        }
        if removed > 0 {
            set.meta.size -= removed;
            self.save_collection(&mut batch, key, &set);
            self.commit(batch)?;
            self.note_deleted_members(set.slot, key, set.meta.version, removed);
            self.notify_collection(key, &set, events::SET, "srem");
        }
        Ok(removed)
    }

    /// SCARD.
    pub fn scard(&self, key: &[u8]) -> Result<u64> {
        Ok(self.read_set(key)?.map_or(0, |(_, m)| m.size))
    }

    /// SMISMEMBER (and SISMEMBER with one member).
    pub fn smismember(&self, key: &[u8], members: &[Bytes]) -> Result<Vec<bool>> {
        let Some((slot, meta)) = self.read_set(key)? else {
            return Ok(vec![false; members.len()]);
        };
        members
            .iter()
            .map(|m| Ok(self.get_member(slot, key, meta.version, m)?.is_some()))
            .collect()
    }

    /// SMEMBERS, in member order.
    pub fn smembers(&self, key: &[u8]) -> Result<Vec<Bytes>> {
        let Some((slot, meta)) = self.read_set(key)? else {
            return Ok(Vec::new());
        };
        self.members(Cf::Subkey, slot, key, meta.version, None)
            .map(|m| m.map(|(member, _)| Bytes::from(member)))
            .collect()
    }

    /// SRANDMEMBER with a count (see [`Db::random_members`]).
    pub fn srandmember(&self, key: &[u8], count: i64) -> Result<Vec<Bytes>> {
        let Some((slot, meta)) = self.read_set(key)? else {
            return Ok(Vec::new());
        };
        Ok(self
            .random_members(slot, key, &meta, count, Draw::Read)?
            .into_iter()
            .map(|(m, _)| Bytes::from(m))
            .collect())
    }

    /// SPOP: removes and returns up to `count` distinct random members.
    pub fn spop(&self, key: &[u8], count: u64) -> Result<Vec<Bytes>> {
        self.lock(&[key])?;
        let mut set = self.open_collection(key, DataType::Set)?;
        if !set.existed() || count == 0 {
            return Ok(Vec::new());
        }
        let picked = self.random_members(
            set.slot,
            key,
            &set.meta,
            count.min(i64::MAX as u64) as i64,
            Draw::Pop,
        )?;
        let mut batch = self.batch();
        for (member, _) in &picked {
            let sub = self.member_key(set.slot, key, set.meta.version, member);
            batch.delete(Cf::Subkey, &sub);
        }
        set.meta.size -= picked.len() as u64;
        self.save_collection(&mut batch, key, &set);
        self.commit(batch)?;
        self.note_deleted_members(set.slot, key, set.meta.version, picked.len() as u64);
        self.notify_collection(key, &set, events::SET, "spop");
        Ok(picked.into_iter().map(|(m, _)| Bytes::from(m)).collect())
    }

    /// SMOVE: whether `member` moved from `src` to `dst`.
    pub fn smove(&self, src: &[u8], dst: &[u8], member: &[u8]) -> Result<bool> {
        self.lock(&[src, dst])?;
        let mut from = self.open_collection(src, DataType::Set)?;
        // A missing source answers 0 before the destination's type is
        // looked at, as in Redis.
        if !from.existed() {
            return Ok(false);
        }
        let mut to = self.open_collection(dst, DataType::Set)?;
        let from_sub = self.member_key(from.slot, src, from.meta.version, member);
        if self.view.get(Cf::Subkey, &from_sub)?.is_none() {
            return Ok(false);
        }
        if src == dst {
            return Ok(true);
        }
        let mut batch = self.batch();
        batch.delete(Cf::Subkey, &from_sub);
        from.meta.size -= 1;
        self.save_collection(&mut batch, src, &from);
        let to_sub = self.member_key(to.slot, dst, to.meta.version, member);
        let added = !to.existed() || self.view.get(Cf::Subkey, &to_sub)?.is_none();
        if added {
            batch.put(Cf::Subkey, &to_sub, b"");
            to.meta.size += 1;
            self.save_collection(&mut batch, dst, &to);
        }
        self.commit(batch)?;
        self.notify_collection(src, &from, events::SET, "srem");
        if added {
            self.notify_collection(dst, &to, events::SET, "sadd");
        }
        Ok(true)
    }

    /// The members of every set in `keys` (checking every key's type
    /// first, as Redis does); a missing key is an empty set.
    fn load_sets(&self, keys: &[Bytes]) -> Result<Vec<Option<(u16, Metadata)>>> {
        keys.iter().map(|k| self.read_set(k)).collect()
    }

    /// SINTER / SUNION / SDIFF, in member order.
    pub fn set_combine(&self, op: SetOp, keys: &[Bytes]) -> Result<Vec<Bytes>> {
        let sets = self.load_sets(keys)?;
        let members = |i: usize| -> Result<BTreeSet<Vec<u8>>> {
            match &sets[i] {
                Some((slot, meta)) => self
                    .members(Cf::Subkey, *slot, &keys[i], meta.version, None)
                    .map(|m| m.map(|(member, _)| member))
                    .collect(),
                None => Ok(BTreeSet::new()),
            }
        };
        let result: BTreeSet<Vec<u8>> = match op {
            SetOp::Union => {
                let mut all = BTreeSet::new();
                for i in 0..keys.len() {
                    all.extend(members(i)?);
                }
                all
            }
            SetOp::Diff => {
                let mut first = members(0)?;
                for i in 1..keys.len() {
                    if first.is_empty() {
                        break;
                    }
                    for m in members(i)? {
                        first.remove(&m);
                    }
                }
                first
            }
            SetOp::Inter => {
                if sets.iter().any(Option::is_none) {
                    return Ok(Vec::new());
                }
                // Walk the smallest set, probing the others.
                let smallest = (0..keys.len())
                    .min_by_key(|&i| sets[i].as_ref().map_or(0, |(_, m)| m.size))
                    .expect("at least one key");
                let mut out = BTreeSet::new();
                for member in members(smallest)? {
                    if self.in_all_sets(&sets, keys, smallest, &member)? {
                        out.insert(member);
                    }
                }
                out
            }
        };
        Ok(result.into_iter().map(Bytes::from).collect())
    }

    fn in_all_sets(
        &self,
        sets: &[Option<(u16, Metadata)>],
        keys: &[Bytes],
        skip: usize,
        member: &[u8],
    ) -> Result<bool> {
        for (i, set) in sets.iter().enumerate() {
            if i == skip {
                continue;
            }
            let Some((slot, meta)) = set else {
                return Ok(false);
            };
            if self
                .get_member(*slot, &keys[i], meta.version, member)?
                .is_none()
            {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// SINTERCARD: the size of the intersection, counting stops at `limit`
    /// (0 = no limit).
    pub fn sintercard(&self, keys: &[Bytes], limit: u64) -> Result<u64> {
        let sets = self.load_sets(keys)?;
        if sets.iter().any(Option::is_none) {
            return Ok(0);
        }
        let smallest = (0..keys.len())
            .min_by_key(|&i| sets[i].as_ref().map_or(0, |(_, m)| m.size))
            .expect("at least one key");
        let (slot, meta) = sets[smallest].as_ref().expect("checked above");
        let mut count = 0;
        for member in self.members(Cf::Subkey, *slot, &keys[smallest], meta.version, None) {
            let (member, _) = member?;
            if self.in_all_sets(&sets, keys, smallest, &member)? {
                count += 1;
                if count == limit {
                    break;
                }
            }
        }
        Ok(count)
    }

    /// SINTERSTORE / SUNIONSTORE / SDIFFSTORE: replaces `dst` with the
    /// result (deleting it when empty) in one atomic write; the result's
    /// size.
    pub fn set_combine_store(&self, op: SetOp, dst: &[u8], keys: &[Bytes]) -> Result<u64> {
        let mut all: Vec<&[u8]> = keys.iter().map(|k| &k[..]).collect();
        all.push(dst);
        self.lock(&all)?;
        let result = self.set_combine(op, keys)?;
        let event = match op {
            SetOp::Inter => "sinterstore",
            SetOp::Union => "sunionstore",
            SetOp::Diff => "sdiffstore",
        };
        let size = self.store_set(dst, result, event)?;
        self.only_read(keys.iter().map(|k| &k[..]).filter(|k| *k != dst));
        Ok(size)
    }

    /// Replaces `dst` with the set `result` (deleting it when empty); its
    /// size.
    fn store_set(&self, dst: &[u8], result: Vec<Bytes>, event: &'static str) -> Result<u64> {
        let mut batch = self.batch();
        // Whatever `dst` held (any type) is replaced.
        let stored = self.read(dst)?.map(|s| s.header);
        let prior = Prior::of(stored.as_ref(), now_ms());
        if result.is_empty() {
            if let Some(old) = stored {
                self.remove(&mut batch, redrock_cluster::key_slot(dst), dst, &old);
            }
            self.commit(batch)?;
            self.notify_emptied_store(dst, prior);
            return Ok(0);
        }
        let mut set = super::collection::Collection {
            slot: redrock_cluster::key_slot(dst),
            meta: Metadata::new(DataType::Set, self.storage.next_version()?),
            stored,
            prior,
        };
        for member in &result {
            let sub = self.member_key(set.slot, dst, set.meta.version, member);
            batch.put(Cf::Subkey, &sub, b"");
        }
        set.meta.size = result.len() as u64;
        self.save_collection(&mut batch, dst, &set);
        self.commit(batch)?;
        self.notify_collection(dst, &set, events::SET, event);
        Ok(set.meta.size)
    }
}

/// Reads the count argument of SPOP: a non-negative integer.
pub fn spop_count(arg: &[u8]) -> Result<u64> {
    super::string::parse_i64(arg)
        .and_then(|n| u64::try_from(n).ok())
        .ok_or_else(|| Error::err("value is out of range, must be positive"))
}
