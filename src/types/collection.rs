//! What every collection type (hash, set, sorted set, list) shares: a
//! metadata entry with a version and a size, and one sub-key per member
//! under `keyspace | slot | keylen | key | version`.

use super::{now_ms, Db};
use crate::error::{Error, Result};
use crate::storage::{Batch, Cf};
use redrock_cluster::key_slot;
use redrock_encoding::{
    prefix_successor, subkey, subkey_prefix, DataType, Metadata, MetadataHeader,
};
use rocksdb::DBPinnableSlice;

/// A member of a collection and its value.
pub type Member = (Vec<u8>, Box<[u8]>);

/// A collection opened for a write: its metadata (new and empty if the key
/// did not exist) and what was stored before, for the key counts.
pub struct Collection {
    pub slot: u16,
    pub meta: Metadata,
    /// The stored header before this command, expired or not.
    pub stored: Option<MetadataHeader>,
}

impl Collection {
    /// Whether the key existed (logically) before this command.
    pub fn existed(&self) -> bool {
        self.meta.size > 0 && self.stored.is_some()
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
        let Some(stored) = self.lookup(key, now_ms())? else {
            return Ok(None);
        };
        if stored.header.data_type != data_type {
            return Err(Error::WrongType);
        }
        let meta = Metadata::decode(&stored.raw)?;
        Ok((meta.size > 0).then_some((stored.slot, meta)))
    }

    /// Opens `key` for a write as a collection of `data_type` (the caller
    /// holds its lock): the live one, or a new empty one with a fresh
    /// version.
    pub fn open_collection(&self, key: &[u8], data_type: DataType) -> Result<Collection> {
        let now = now_ms();
        let slot = key_slot(key);
        let stored = self.read(key)?;
        let header = stored.as_ref().map(|s| s.header);
        if let Some(s) = stored.as_ref().filter(|s| !s.header.is_expired(now)) {
            if s.header.data_type != data_type {
                return Err(Error::WrongType);
            }
            let meta = Metadata::decode(&s.raw)?;
            if meta.size > 0 {
                return Ok(Collection {
                    slot,
                    meta,
                    stored: header,
                });
            }
        }
        Ok(Collection {
            slot,
            meta: Metadata::new(data_type, self.storage.next_version()),
            stored: header,
        })
    }

    /// Writes a collection's metadata back, or removes the key when it has
    /// become empty.
    pub fn save_collection(&self, batch: &mut Batch, key: &[u8], c: &Collection) {
        if c.meta.size == 0 {
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
    ) -> Result<Option<DBPinnableSlice<'a>>> {
        Ok(self
            .storage
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
        self.storage.range(cf, &start, end).map(move |item| {
            let (k, v) = item?;
            Ok((k[prefix_len..].to_vec(), v))
        })
    }
}

/// Up to this many members, random picks are exactly uniform: one pass
/// over the members collects the positions drawn. Above it, each pick
/// seeks to a random point and draws from the members that follow
/// (approximately uniform, and independent of the collection's size).
const EXACT_PICKS_UP_TO: u64 = 200_000;

/// How many members after a random seek a pick draws from.
const PICK_WINDOW: usize = 256;

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
    ) -> Result<Vec<Member>> {
        let size = meta.size;
        let wanted = count.unsigned_abs();
        if count > 0 && wanted >= size {
            return self.all_members(slot, key, meta.version);
        }
        let mut rng = rand::rng();
        if size <= EXACT_PICKS_UP_TO {
            let mut positions: Vec<usize> = if count > 0 {
                rand::seq::index::sample(&mut rng, size as usize, wanted as usize).into_vec()
            } else {
                (0..wanted)
                    .map(|_| rand::Rng::random_range(&mut rng, 0..size as usize))
                    .collect()
            };
            positions.sort_unstable();
            let mut out = Vec::with_capacity(positions.len());
            let mut next = positions.iter().peekable();
            for (index, member) in self
                .members(Cf::Subkey, slot, key, meta.version, None)
                .enumerate()
            {
                let member = member?;
                while next.next_if(|&&p| p == index).is_some() {
                    out.push(member.clone());
                }
                if next.peek().is_none() {
                    break;
                }
            }
            rand::seq::SliceRandom::shuffle(&mut out[..], &mut rng);
            return Ok(out);
        }
        let mut out: Vec<Member> = Vec::with_capacity(wanted as usize);
        let mut seen = std::collections::HashSet::new();
        // Distinct picks among this many members rarely collide; the bound
        // only guards against a pathological member distribution.
        let mut attempts = 0u64;
        while (out.len() as u64) < wanted && attempts < wanted * 64 + 1024 {
            attempts += 1;
            let window = self.members_after_random_point(slot, key, meta.version)?;
            if window.is_empty() {
                break;
            }
            let member = window[rand::Rng::random_range(&mut rng, 0..window.len())].clone();
            if count > 0 && !seen.insert(member.0.clone()) {
                continue;
            }
            out.push(member);
        }
        Ok(out)
    }

    /// Up to [`PICK_WINDOW`] members from a random point between the first
    /// and the last member (the first ones when the point is past the end).
    /// The point interpolates the eight bytes after the members' common
    /// prefix, so it lands among the members whatever bytes they share.
    fn members_after_random_point(
        &self,
        slot: u16,
        key: &[u8],
        version: u64,
    ) -> Result<Vec<Member>> {
        let prefix = subkey_prefix(&self.ks.keyspace, slot, key, version);
        let Some(end) = prefix_successor(&prefix) else {
            return Ok(Vec::new());
        };
        let first = self
            .members(Cf::Subkey, slot, key, version, None)
            .next()
            .transpose()?;
        let last = self
            .storage
            .range_reverse(Cf::Subkey, &prefix, end)
            .next()
            .transpose()?;
        let (Some(first), Some((last, _))) = (first, last) else {
            return Ok(Vec::new());
        };
        let last = &last[prefix.len()..];
        let common = first.0.iter().zip(last).take_while(|(a, b)| a == b).count();
        let window = |m: &[u8]| {
            let mut bytes = [0u8; 8];
            for (i, b) in m.iter().skip(common).take(8).enumerate() {
                bytes[i] = *b;
            }
            u64::from_be_bytes(bytes)
        };
        let (low, high) = (window(&first.0), window(last));
        let pick = if high > low {
            rand::random_range(low..=high)
        } else {
            low
        };
        let mut point = first.0[..common].to_vec();
        point.extend_from_slice(&pick.to_be_bytes());
        let window: Vec<Member> = self
            .members(Cf::Subkey, slot, key, version, Some(&point))
            .take(PICK_WINDOW)
            .collect::<Result<_>>()?;
        if window.is_empty() {
            return self
                .members(Cf::Subkey, slot, key, version, None)
                .take(PICK_WINDOW)
                .collect();
        }
        Ok(window)
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
    ) -> Result<(u64, Vec<(bytes::Bytes, bytes::Bytes)>)> {
        let Some((slot, meta)) = self.read_collection(key, data_type)? else {
            return Ok((0, Vec::new()));
        };
        let Some((_, after)) = cursors.resolve(cursor) else {
            return Ok((0, Vec::new()));
        };
        let mut start = after.clone();
        if let Some(s) = start.as_mut() {
            s.push(0);
        }
        let mut out = Vec::new();
        let mut last: Option<Vec<u8>> = None;
        for (examined, item) in self
            .members(Cf::Subkey, slot, key, meta.version, start.as_deref())
            .enumerate()
        {
            if examined == count {
                let last = last.expect("count is at least one");
                return Ok((cursors.store(0, last), out));
            }
            let (member, value) = item?;
            if pattern.is_none_or(|p| crate::glob::glob_match(p, &member, false)) {
                out.push((
                    bytes::Bytes::copy_from_slice(&member),
                    bytes::Bytes::copy_from_slice(&value),
                ));
            }
            last = Some(member);
        }
        Ok((0, out))
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
                Some(members) if members.iter().all(short) => "listpack",
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
            DataType::ZSet => {
                if meta.size <= 128 {
                    "listpack"
                } else {
                    "skiplist"
                }
            }
            DataType::List => {
                if meta.size <= 128 {
                    "listpack"
                } else {
                    "quicklist"
                }
            }
            DataType::String => "raw",
        })
    }
}
