//! What every collection type (hash, set, sorted set, list, stream) shares: a
//! metadata entry with a version and a size, and one sub-key per member
//! under `keyspace | slot | keylen | key | version`.

use super::{now_ms, Db, Prior};
use crate::error::{Error, Result};
use crate::storage::{Batch, Cf};
use redrock_cluster::key_slot;
use redrock_encoding::{
    prefix_successor, subkey, subkey_prefix, DataType, Metadata, MetadataHeader,
};

/// Up to this many members, a removal deletes each one; beyond it, one
/// range deletion covers them.
pub(super) const POINT_DELETES_UP_TO: u64 = 64;

/// A member of a collection and its value.
pub type Member = (Vec<u8>, Box<[u8]>);

/// One step of a member scan: the next cursor (0 at the end) and the
/// members returned, with their values.
pub type ScanStep = (u64, Vec<(bytes::Bytes, bytes::Bytes)>);

/// A collection opened for a write: its metadata (new and empty if the key
/// did not exist) and what was stored before, for the key counts.
pub struct Collection {
    pub slot: u16,
    pub meta: Metadata,
    /// The stored header before this command, expired or not.
    pub stored: Option<MetadataHeader>,
    /// What the key was before this command.
    pub prior: Prior,
}

impl Collection {
    /// Whether the key existed (logically) before this command.
    pub fn existed(&self) -> bool {
        self.prior == Prior::Live
    }
}

impl<'a> Db<'a> {
    /// Reads `key` as a live collection of `data_type`: `None` if missing,
    /// WRONGTYPE if it holds another type.
    pub fn read_collection(
        &self,
        key: &[u8],
        data_type: DataType,
    ) -> Result<Option<(u16, Metadata)>> {
        Self::live_collection(self.lookup_read(key, now_ms())?, data_type)
    }

    /// [`Db::read_collection`] for a command that writes the key: not
    /// counted as a read (no keyspace hit or miss, no `keymiss`), as Redis
    /// counts only its read lookups.
    pub fn read_collection_to_write(
        &self,
        key: &[u8],
        data_type: DataType,
    ) -> Result<Option<(u16, Metadata)>> {
        Self::live_collection(self.lookup(key, now_ms())?, data_type)
    }

    fn live_collection(
        stored: Option<super::StoredKey<'_>>,
        data_type: DataType,
    ) -> Result<Option<(u16, Metadata)>> {
        let Some(stored) = stored else {
            return Ok(None);
        };
        if stored.header.data_type != data_type {
            return Err(Error::WrongType);
        }
        let meta = Metadata::decode(&stored.raw)?;
        Ok(meta.exists().then_some((stored.slot, meta)))
    }

    /// Opens `key` for a write as a collection of `data_type` (the caller
    /// holds its lock): the live one, or a new empty one with a fresh
    /// version. An expired entry is removed on the way (see
    /// [`Db::read_to_write`]).
    pub fn open_collection(&self, key: &[u8], data_type: DataType) -> Result<Collection> {
        let now = now_ms();
        let slot = key_slot(key);
        let stored = self.read_to_write(key, now)?;
        let header = stored.as_ref().map(|s| s.header);
        if let Some(s) = stored.as_ref().filter(|s| !s.header.is_expired(now)) {
            if s.header.data_type != data_type {
                return Err(Error::WrongType);
            }
            let meta = Metadata::decode(&s.raw)?;
            if meta.exists() {
                return Ok(Collection {
                    slot,
                    meta,
                    stored: header,
                    prior: Prior::Live,
                });
            }
        }
        let prior = match header {
            Some(h) if h.is_expired(now) => Prior::Expired,
            _ => Prior::Missing,
        };
        Ok(Collection {
            slot,
            meta: Metadata::new(data_type, self.storage.next_version()?),
            stored: header,
            prior,
        })
    }

    /// Writes a collection's metadata back, or removes the key when it has
    /// become empty (and is not a stream).
    pub fn save_collection(&self, batch: &mut Batch, key: &[u8], c: &Collection) {
        if !c.meta.exists() {
            if let Some(old) = &c.stored {
                self.remove(batch, c.slot, key, old);
            }
            return;
        }
        self.put_metadata(
            batch,
            c.slot,
            key,
            &c.meta.encode(),
            c.meta.header.expire_at_ms,
            c.stored.as_ref(),
        );
    }

    /// Raises the events of a command's write of collection `key` (see
    /// [`Db::notify_write`]); `c` as the command left it.
    pub fn notify_collection(&self, key: &[u8], c: &Collection, class: u32, event: &'static str) {
        self.notify_write(key, c.prior, class, event, c.meta.exists());
    }

    /// The event of a STORE command (SINTERSTORE, ZUNIONSTORE, ...) whose
    /// empty result removed `dst`: `del` when anything was there, as
    /// Redis deletes the entry whether or not its time had come.
    pub fn notify_emptied_store(&self, dst: &[u8], prior: Prior) {
        if prior != Prior::Missing {
            self.notify(crate::keyspace_events::GENERIC, "del", dst);
        }
    }

    /// Records that `count` members of a collection were deleted (see
    /// `storage::gc::MemberCompactor`).
    pub fn note_deleted_members(&self, slot: u16, key: &[u8], version: u64, count: u64) {
        if count > 0 {
            let prefix = subkey_prefix(&self.ks.keyspace, slot, key, version);
            self.storage.note_member_deletions(&prefix, count);
        }
    }

    /// The sub-key of one member.
    pub fn member_key(&self, slot: u16, key: &[u8], version: u64, member: &[u8]) -> Vec<u8> {
        subkey(&self.ks.keyspace, slot, key, version, member)
    }

    /// Reads one member's value.
    pub fn get_member(
        &self,
        slot: u16,
        key: &[u8],
        version: u64,
        member: &[u8],
    ) -> Result<Option<crate::storage::Value<'a>>> {
        Ok(self
            .view
            .get(Cf::Subkey, &self.member_key(slot, key, version, member))?)
    }

    /// Iterates the members of one incarnation of a collection in `cf`, in
    /// byte order, starting at `from` (a member, inclusive) if given.
    pub fn members(
        &self,
        cf: Cf,
        slot: u16,
        key: &[u8],
        version: u64,
        from: Option<&[u8]>,
    ) -> impl Iterator<Item = Result<Member>> + 'a {
        let prefix = subkey_prefix(&self.ks.keyspace, slot, key, version);
        let end = prefix_successor(&prefix);
        let mut start = prefix.clone();
        if let Some(from) = from {
            start.extend_from_slice(from);
        }
        let prefix_len = prefix.len();
        self.view.range(cf, &start, end).map(move |item| {
            let (k, v) = item?;
            Ok((k[prefix_len..].to_vec(), v))
        })
    }
}

/// Random members drawn in one pass over `members` (`size` of them), with
/// [`Db::random_members`]'s meaning of `count`: exactly uniform.
pub fn pick_members(
    members: impl Iterator<Item = Result<Member>>,
    size: u64,
    count: i64,
) -> Result<Vec<Member>> {
    let wanted = count.unsigned_abs();
    if size == 0 {
        return Ok(Vec::new());
    }
    let mut rng = rand::rng();
    let mut positions: Vec<usize> = if count > 0 {
        let wanted = wanted.min(size);
        rand::seq::index::sample(&mut rng, size as usize, wanted as usize).into_vec()
    } else {
        (0..wanted)
            .map(|_| rand::Rng::random_range(&mut rng, 0..size as usize))
            .collect()
    };
    positions.sort_unstable();
    let mut out = Vec::with_capacity(positions.len());
    let mut next = positions.iter().peekable();
    for (index, member) in members.enumerate() {
        let member = member?;
        while next.next_if(|&&p| p == index).is_some() {
            out.push(member.clone());
        }
        if next.peek().is_none() {
            break;
        }
    }
    rand::seq::SliceRandom::shuffle(&mut out[..], &mut rng);
    Ok(out)
}

/// Up to this many members, read-only random picks are exactly uniform:
/// one pass over the members collects the positions drawn. Otherwise each
/// pick descends the member space one byte at a time (a few seeks per
/// byte), which costs nothing like a pass over a big key.
const EXACT_PICKS_UP_TO: u64 = 1024;

/// How members are drawn.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Draw {
    /// For reads (HRANDFIELD, SRANDMEMBER): exactly uniform on small keys.
    Read,
    /// For SPOP, which deletes as it draws: a pass over a key that SPOP is
    /// draining would walk every deletion marker left so far, so picks
    /// always descend (uniform among keys of up to 16 members).
    Pop,
}

impl<'a> Db<'a> {
    /// Every member of a collection, in byte order.
    pub fn all_members(&self, slot: u16, key: &[u8], version: u64) -> Result<Vec<Member>> {
        self.members(Cf::Subkey, slot, key, version, None).collect()
    }

    /// Random members for HRANDFIELD / SRANDMEMBER / SPOP: `count > 0`
    /// distinct members (all of them when `count` is at least the size),
    /// `count < 0` exactly `-count` members, repeats allowed.
    pub fn random_members(
        &self,
        slot: u16,
        key: &[u8],
        meta: &Metadata,
        count: i64,
        draw: Draw,
    ) -> Result<Vec<Member>> {
        let size = meta.size;
        let wanted = count.unsigned_abs();
        if count > 0 && wanted >= size {
            return self.all_members(slot, key, meta.version);
        }
        // Descents seek the database only: members a transaction wrote
        // before it draws are found by one pass.
        let prefix = subkey_prefix(&self.ks.keyspace, slot, key, meta.version);
        let pending = prefix_successor(&prefix)
            .is_some_and(|end| self.view.overlay_touches(Cf::Subkey, &prefix, &end));
        if (draw == Draw::Read && size <= EXACT_PICKS_UP_TO) || pending {
            let members = self.members(Cf::Subkey, slot, key, meta.version, None);
            return pick_members(members, size, count);
        }
        let mut out: Vec<Member> = Vec::with_capacity(wanted as usize);
        let mut seen = std::collections::HashSet::new();
        // Distinct picks rarely collide when few of many members are drawn;
        // the bound only guards against a pathological distribution.
        let mut attempts = 0u64;
        while (out.len() as u64) < wanted && attempts < wanted * 64 + 1024 {
            attempts += 1;
            let Some(member) = self.descend_to_random_member(slot, key, meta.version, size)? else {
                break;
            };
            if count > 0 && !seen.insert(member.0.clone()) {
                continue;
            }
            out.push(member);
        }
        Ok(out)
    }

    /// A random member, chosen by descending the member space with one
    /// iterator: at each step the first and last member under the current
    /// prefix bound the next byte, a byte between them is drawn, and the
    /// first member at or after it extends the prefix. After a few steps
    /// the pick is drawn among the members that follow. Every member can be
    /// reached, members spread evenly over their bytes are drawn about
    /// evenly, and a pick costs a dozen seeks whatever the size.
    fn descend_to_random_member(
        &self,
        slot: u16,
        key: &[u8],
        version: u64,
        size: u64,
    ) -> Result<Option<Member>> {
        const STEPS: usize = 5;
        const WINDOW: usize = 16;
        let base = subkey_prefix(&self.ks.keyspace, slot, key, version);
        let Some(end) = prefix_successor(&base) else {
            return Ok(None);
        };
        let mut iter = self.view.raw_iterator(Cf::Subkey, base.clone(), end);
        let entry = |iter: &rocksdb::DBRawIterator<'_>| -> Option<(Vec<u8>, Box<[u8]>)> {
            let k = iter.key()?;
            Some((k[base.len()..].to_vec(), iter.value()?.into()))
        };
        let mut lower = base.clone();
        // A window from the first member covers a small key whole.
        let steps = if size <= WINDOW as u64 { 0 } else { STEPS };
        for _ in 0..steps {
            iter.seek(&lower);
            let Some(first) = entry(&iter) else {
                break;
            };
            // The last member under `lower`: just before its successor.
            match prefix_successor(&lower) {
                Some(next) => {
                    iter.seek(&next);
                    if iter.valid() {
                        iter.prev();
                    } else {
                        iter.seek_to_last();
                    }
                }
                None => iter.seek_to_last(),
            }
            let Some(last) = entry(&iter) else {
                break;
            };
            let (f, l) = (&first.0, &last.0);
            if f == l {
                return Ok(Some(first));
            }
            let common = f.iter().zip(l).take_while(|(a, b)| a == b).count();
            // `f` may end where the others go on: it is one more choice.
            let f_ends = f.len() == common;
            let low = if f_ends { 0 } else { f[common] };
            let drawn = rand::random_range(0..u32::from(l[common] - low) + 1 + u32::from(f_ends));
            if f_ends && drawn == 0 {
                return Ok(Some(first));
            }
            let mut point = base.clone();
            point.extend_from_slice(&f[..common]);
            point.push(low + (drawn - u32::from(f_ends)) as u8);
            iter.seek(&point);
            let Some(found) = iter.key() else {
                break;
            };
            lower = found[..base.len() + common + 1].to_vec();
        }
        // Draw among the members from here (wrapping to the first).
        iter.seek(&lower);
        if !iter.valid() {
            iter.seek_to_first();
        }
        let mut window = Vec::with_capacity(WINDOW);
        while window.len() < WINDOW {
            let Some(member) = entry(&iter) else {
                break;
            };
            window.push(member);
            iter.next();
        }
        iter.status().map_err(crate::storage::StorageError::from)?;
        if window.is_empty() {
            return Ok(None);
        }
        let pick = rand::random_range(0..window.len());
        Ok(Some(window.swap_remove(pick)))
    }
}

impl<'a> Db<'a> {
    /// One step of HSCAN / SSCAN (and ZSCAN): up to `count` members
    /// examined after the cursor's position, those matching `pattern`
    /// returned with their values, and the next cursor (0 at the end).
    /// Members are visited in byte order, so a member present for the whole
    /// scan is returned however the collection changes meanwhile.
    pub fn scan_members(
        &self,
        cursors: &super::keyspace::ScanCursors,
        key: &[u8],
        data_type: DataType,
        cursor: u64,
        pattern: Option<&[u8]>,
        count: usize,
    ) -> Result<ScanStep> {
        // One snapshot: the metadata, the due fields and the members agree.
        self.in_snapshot(|db| {
            let Some((slot, meta)) = db.read_collection(key, data_type)? else {
                return Ok((0, Vec::new()));
            };
            let Some((_, after)) = cursors.resolve(cursor) else {
                return Ok((0, Vec::new()));
            };
            // A hash's fields due are examined but not returned.
            let due = if data_type == DataType::Hash {
                db.due_fields(slot, key, &meta, now_ms())?
            } else {
                Default::default()
            };
            let mut start = after.clone();
            if let Some(s) = start.as_mut() {
                s.push(0);
            }
            let mut out = Vec::new();
            let mut last: Option<Vec<u8>> = None;
            for (examined, item) in db
                .members(Cf::Subkey, slot, key, meta.version, start.as_deref())
                .enumerate()
            {
                if examined == count {
                    let last = last.expect("count is at least one");
                    return Ok((cursors.store(0, last), out));
                }
                let (member, value) = item?;
                if !due.contains(&member)
                    && pattern.is_none_or(|p| crate::glob::glob_match(p, &member, false))
                {
                    out.push((
                        bytes::Bytes::copy_from_slice(&member),
                        bytes::Bytes::copy_from_slice(&value),
                    ));
                }
                last = Some(member);
            }
            Ok((0, out))
        })
    }
}

impl<'a> Db<'a> {
    /// The encoding Redis would report for a collection of this size and
    /// content (small ones are compact encodings; Redis also keeps a big
    /// encoding after a collection shrinks, which is not recorded here).
    pub fn collection_encoding(
        &self,
        key: &[u8],
        meta: &Metadata,
        slot: u16,
    ) -> Result<&'static str> {
        let small = |limit: u64| -> Result<Option<Vec<Member>>> {
            if meta.size > limit {
                return Ok(None);
            }
            self.all_members(slot, key, meta.version).map(Some)
        };
        let short = |m: &Member| m.0.len() <= 64 && m.1.len() <= 64;
        Ok(match meta.header.data_type {
            DataType::Hash => match small(128)? {
                // Redis 7.4 keeps field expiries in a listpack of triples.
                Some(members) if members.iter().all(short) => {
                    if meta.header.field_expiry_ms != 0 {
                        "listpackex"
                    } else {
                        "listpack"
                    }
                }
                _ => "hashtable",
            },
            DataType::Set => match small(512)? {
                Some(members)
                    if members
                        .iter()
                        .all(|(m, _)| super::string::parse_i64(m).is_some()) =>
                {
                    "intset"
                }
                Some(members) if members.len() <= 128 && members.iter().all(short) => "listpack",
                _ => "hashtable",
            },
            DataType::ZSet => match small(128)? {
                Some(members) if members.iter().all(|(m, _)| m.len() <= 64) => "listpack",
                _ => "skiplist",
            },
            DataType::List => {
                if meta.size <= 128 {
                    "listpack"
                } else {
                    "quicklist"
                }
            }
            DataType::Stream => "stream",
            DataType::String | DataType::Bitmap => "raw",
        })
    }
}
