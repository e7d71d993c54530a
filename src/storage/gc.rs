//! Garbage collection of collection members.
//!
//! Deleting, overwriting or expiring a hash, set, sorted set or list only
//! removes its metadata entry (O(1) whatever its size). Its members stay in
//! the `subkey` and `zset_score` column families until a compaction passes
//! over them; this filter then drops every member whose key no longer has
//! metadata, whose key now holds a string, or whose key has another version
//! (it was deleted and created again).

use redrock_encoding::{Keyspace, Metadata, MetadataHeader};
use rocksdb::compaction_filter::{CompactionFilter, Decision};
use rocksdb::compaction_filter_factory::{CompactionFilterContext, CompactionFilterFactory};
use rocksdb::DB;
use std::ffi::CStr;
use std::sync::{Arc, OnceLock, Weak};

/// The database the filter reads metadata from, set once it is open.
pub type DbSlot = Arc<OnceLock<Weak<DB>>>;

/// What a member's owner looks like now.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Owner {
    /// No metadata, or metadata of a string: every member is garbage.
    Gone,
    /// A collection of this version.
    Version(u64),
    /// Metadata that does not decode: keep the members, never guess.
    Unknown,
}

/// Splits a member key into its owner's metadata key and its version.
fn split_member_key(key: &[u8]) -> Option<(Vec<u8>, u64)> {
    let (ks, rest) = Keyspace::split(key)?;
    let slot = rest.get(..2)?;
    let len = u32::from_be_bytes(rest.get(2..6)?.try_into().ok()?) as usize;
    let user_key = rest.get(6..6 + len)?;
    let version = u64::from_be_bytes(rest.get(6 + len..14 + len)?.try_into().ok()?);
    let mut metadata_key = Vec::with_capacity(ks.as_bytes().len() + 2 + len);
    metadata_key.extend_from_slice(ks.as_bytes());
    metadata_key.extend_from_slice(slot);
    metadata_key.extend_from_slice(user_key);
    Some((metadata_key, version))
}

fn owner(db: &DB, metadata_key: &[u8]) -> Owner {
    let Some(cf) = db.cf_handle("metadata") else {
        return Owner::Unknown;
    };
    match db.get_pinned_cf(cf, metadata_key) {
        Ok(None) => Owner::Gone,
        Ok(Some(value)) => match MetadataHeader::decode(&value) {
            Ok((header, _)) if !header.data_type.is_collection() => Owner::Gone,
            Ok(_) => Metadata::decode(&value).map_or(Owner::Unknown, |m| Owner::Version(m.version)),
            Err(_) => Owner::Unknown,
        },
        Err(_) => Owner::Unknown,
    }
}

/// Makes one [`MemberFilter`] per compaction.
pub struct MemberFilterFactory {
    pub db: DbSlot,
}

impl CompactionFilterFactory for MemberFilterFactory {
    type Filter = MemberFilter;

    fn create(&mut self, _context: CompactionFilterContext) -> MemberFilter {
        MemberFilter {
            db: self.db.clone(),
            last_owner: None,
        }
    }

    fn name(&self) -> &CStr {
        c"redrock_members"
    }
}

/// The compaction filter of the member column families, for one compaction.
pub struct MemberFilter {
    db: DbSlot,
    /// The last owner looked up: members of one key are adjacent, so a
    /// compaction mostly asks about the same key again. It lives only as
    /// long as the compaction, whose input predates it: an owner changed
    /// since cannot have members in that input.
    last_owner: Option<(Vec<u8>, Owner)>,
}

impl CompactionFilter for MemberFilter {
    fn filter(&mut self, _level: u32, key: &[u8], _value: &[u8]) -> Decision {
        let Some(db) = self.db.get().and_then(Weak::upgrade) else {
            return Decision::Keep;
        };
        let Some((metadata_key, version)) = split_member_key(key) else {
            return Decision::Keep;
        };
        let owner = match &self.last_owner {
            Some((k, owner)) if *k == metadata_key => *owner,
            _ => {
                let owner = owner(&db, &metadata_key);
                self.last_owner = Some((metadata_key, owner));
                owner
            }
        };
        match owner {
            Owner::Gone => Decision::Remove,
            Owner::Version(v) if v != version => Decision::Remove,
            _ => Decision::Keep,
        }
    }

    fn name(&self) -> &CStr {
        c"redrock_members"
    }
}

/// Compacts the member range of a key that has had many members deleted.
///
/// A deleted member leaves a deletion marker that iterations over the key
/// pass over until a compaction drops it with the member; a set drained by
/// SPOP or a hash emptied field by field would otherwise make every later
/// seek in it slower. After [`DELETIONS_BEFORE_COMPACTION`] deletions in one
/// key, a background thread compacts just that key's range, in the member
/// and the score column families.
pub struct MemberCompactor {
    deletions: parking_lot::Mutex<std::collections::HashMap<Vec<u8>, u64>>,
    requests: parking_lot::Mutex<std::sync::mpsc::Sender<Vec<u8>>>,
}

/// Deletions in one key that trigger a compaction of its members.
const DELETIONS_BEFORE_COMPACTION: u64 = 10_000;
/// Keys tracked at most; the counts restart when this many are tracked.
const TRACKED_KEYS: usize = 100_000;

impl MemberCompactor {
    /// Starts the compaction thread; it ends when the compactor is dropped.
    pub fn start(db: Weak<DB>) -> MemberCompactor {
        let (requests, received) = std::sync::mpsc::channel::<Vec<u8>>();
        std::thread::Builder::new()
            .name("member-compactor".into())
            .spawn(move || {
                for prefix in received {
                    let Some(db) = db.upgrade() else { break };
                    let Some(end) = redrock_encoding::prefix_successor(&prefix) else {
                        continue;
                    };
                    // A sorted set's score index shares the prefix and
                    // collects as many markers as its members.
                    for name in ["subkey", "zset_score"] {
                        if let Some(cf) = db.cf_handle(name) {
                            db.compact_range_cf(cf, Some(&prefix[..]), Some(&end[..]));
                        }
                    }
                }
            })
            .expect("spawning the member-compactor thread");
        MemberCompactor {
            deletions: parking_lot::Mutex::new(std::collections::HashMap::new()),
            requests: parking_lot::Mutex::new(requests),
        }
    }

    /// Records `count` member deletions under the sub-key `prefix` of one
    /// key version.
    pub fn note_deletions(&self, prefix: &[u8], count: u64) {
        let due = {
            let mut deletions = self.deletions.lock();
            if deletions.len() >= TRACKED_KEYS && !deletions.contains_key(prefix) {
                deletions.clear();
            }
            let total = deletions.entry(prefix.to_vec()).or_insert(0);
            *total += count;
            if *total >= DELETIONS_BEFORE_COMPACTION {
                deletions.remove(prefix);
                true
            } else {
                false
            }
        };
        if due {
            let _ = self.requests.lock().send(prefix.to_vec());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use redrock_encoding::{metadata_key, subkey};

    #[test]
    fn member_keys_name_their_owner() {
        let ks = Keyspace::database(3);
        let member = subkey(&ks, 77, b"user:1", 42, b"field");
        let (owner, version) = split_member_key(&member).unwrap();
        assert_eq!(owner, metadata_key(&ks, 77, b"user:1"));
        assert_eq!(version, 42);
        assert!(split_member_key(b"\x05ab").is_none());
    }

    #[test]
    fn many_deletions_in_one_key_ask_for_its_compaction() {
        let compactor = MemberCompactor::start(Weak::new());
        compactor.note_deletions(b"key-a", DELETIONS_BEFORE_COMPACTION - 1);
        compactor.note_deletions(b"key-b", 5);
        assert_eq!(compactor.deletions.lock().get(&b"key-a"[..]), Some(&9_999));
        compactor.note_deletions(b"key-a", 1);
        assert_eq!(
            compactor.deletions.lock().get(&b"key-a"[..]),
            None,
            "requested and reset"
        );
        assert_eq!(compactor.deletions.lock().get(&b"key-b"[..]), Some(&5));
    }
}
