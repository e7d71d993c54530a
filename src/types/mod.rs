//! Data-type semantics over storage, one module per type. Plain Rust in and
//! out: no RESP here. A [`Db`] is one keyspace (a database or namespace) of
//! the store; every type's operations are methods on it.

pub mod bitmap;
pub mod collection;
pub mod dump;
pub mod expiry;
pub mod field_expiry;
pub mod fragments;
pub mod hash;
pub mod hyperloglog;
pub use expiry::spawn_active_expiry;
pub mod keyspace;
pub mod list;
pub mod set;
pub mod sort;
pub mod stream;
pub mod string;
pub mod zset;

use crate::error::{Error, Result};
use crate::keyspace_events as events;
use crate::storage::{Batch, Cf, Engine, KeyspaceCounts, Notice, Storage, Value, View, WriteSet};
use redrock_cluster::key_slot;
use redrock_encoding::{
    expire_key, expiry_times, metadata_key, DataType, Keyspace, MetadataHeader,
};
use std::cell::RefCell;
use std::sync::Arc;

pub use crate::storage::now_ms;

/// A keyspace with its live key counts, shared by the clients that use it.
pub struct KeyspaceHandle {
    /// The database number (`SELECT n`).
    pub index: u32,
    pub keyspace: Keyspace,
    pub counts: Arc<KeyspaceCounts>,
}

impl KeyspaceHandle {
    pub fn new(storage: &Storage, index: u32) -> KeyspaceHandle {
        let keyspace = Keyspace::database(index);
        KeyspaceHandle {
            index,
            counts: storage.counts().keyspace(&keyspace),
            keyspace,
        }
    }
}

/// One keyspace of the store, used through a client's [`WriteSet`] (which
/// holds its key locks and pending writes). Reads go through `view`: live
/// for writes, which read the keys they hold locked, or a snapshot that a
/// read command takes for its whole run (see [`Db::reading`]); inside EXEC
/// the view carries the transaction's overlay, and every batch committed
/// is replayed into it.
#[derive(Clone, Copy)]
pub struct Db<'a> {
    pub storage: &'a Storage,
    pub view: View<'a>,
    pub ks: &'a KeyspaceHandle,
    pub writes: &'a RefCell<WriteSet>,
}

/// A key's metadata entry as stored; it may be logically expired.
pub struct StoredKey<'a> {
    pub slot: u16,
    pub header: MetadataHeader,
    pub raw: Value<'a>,
}

impl StoredKey<'_> {
    /// The value after the header: a string's bytes or a collection's fields.
    pub fn body(&self) -> &[u8] {
        &self.raw[9..]
    }
}

/// What a key was before a command wrote it, which decides the events the
/// write raises first (`expired`, `new`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prior {
    Missing,
    /// An entry whose time had come, replaced or removed by the write.
    Expired,
    Live,
}

impl Prior {
    /// The prior state of a key whose stored header is `stored`.
    pub fn of(stored: Option<&MetadataHeader>, now: u64) -> Prior {
        match stored {
            None => Prior::Missing,
            Some(header) if header.is_expired(now) => Prior::Expired,
            Some(_) => Prior::Live,
        }
    }
}

impl<'a> Db<'a> {
    pub fn new(
        storage: &'a Storage,
        engine: &'a Engine,
        ks: &'a KeyspaceHandle,
        writes: &'a RefCell<WriteSet>,
    ) -> Db<'a> {
        Db {
            storage,
            view: engine.live(),
            ks,
            writes,
        }
    }

    /// This keyspace read through `view` (a snapshot): every read of the
    /// command then sees one state of the database.
    pub fn reading(self, view: View<'a>) -> Db<'a> {
        Db { view, ..self }
    }

    /// The metadata CF key of `key`.
    pub fn metadata_key(&self, slot: u16, key: &[u8]) -> Vec<u8> {
        metadata_key(&self.ks.keyspace, slot, key)
    }

    /// The stored entry of `key`, expired or not.
    pub fn read(&self, key: &[u8]) -> Result<Option<StoredKey<'a>>> {
        let slot = key_slot(key);
        let Some(raw) = self.view.get(Cf::Metadata, &self.metadata_key(slot, key))? else {
            return Ok(None);
        };
        let (header, _) = MetadataHeader::decode(&raw)?;
        Ok(Some(StoredKey { slot, header, raw }))
    }

    /// The stored entries of `keys`, expired or not, read at once.
    pub fn read_many<K: AsRef<[u8]>>(&self, keys: &[K]) -> Result<Vec<Option<StoredKey<'a>>>> {
        let slots: Vec<u16> = keys.iter().map(|k| key_slot(k.as_ref())).collect();
        let metadata_keys: Vec<Vec<u8>> = keys
            .iter()
            .zip(&slots)
            .map(|(key, &slot)| self.metadata_key(slot, key.as_ref()))
            .collect();
        let values = self.view.get_many(Cf::Metadata, &metadata_keys)?;
        values
            .into_iter()
            .zip(slots)
            .map(|(raw, slot)| {
                raw.map(|raw| {
                    let (header, _) = MetadataHeader::decode(&raw)?;
                    Ok(StoredKey { slot, header, raw })
                })
                .transpose()
            })
            .collect()
    }

    /// The entry of `key` if it logically exists at `now`. An expired entry
    /// found here is deleted on the spot (lazy expiry), as a Redis lookup
    /// does, so it leaves DBSIZE at once; while CLIENT PAUSE holds writes it
    /// is only hidden, as in Redis. For callers that do not hold the key's
    /// lock.
    pub fn lookup(&self, key: &[u8], now: u64) -> Result<Option<StoredKey<'a>>> {
        match self.read(key)? {
            Some(stored) if stored.header.is_expired(now) => {
                drop(stored);
                let Some(_writing) = self.storage.admit_write(None) else {
                    return Ok(None);
                };
                self.lock(&[key])?;
                let live = self.live().lookup_locked(key, now)?;
                // A snapshot reader keeps to its snapshot, where the key has
                // expired, whatever was written since.
                Ok(live.filter(|_| !self.view.is_snapshot()))
            }
            other => Ok(other),
        }
    }

    /// The stored entry of `key` for a command that will write it (holding
    /// its lock): an expired entry is removed first, raising `expired`, as
    /// Redis's write lookups do, even when the command then changes
    /// nothing. It stays, expired, only while writes are refused.
    pub fn read_to_write(&self, key: &[u8], now: u64) -> Result<Option<StoredKey<'a>>> {
        match self.read(key)? {
            Some(stored) if stored.header.is_expired(now) => {
                drop(stored);
                self.lookup_locked(key, now)?;
                self.read(key)
            }
            other => Ok(other),
        }
    }

    /// Runs `read` on this keyspace read through one snapshot, taken here
    /// unless the command already reads one (with the transaction's or
    /// pipeline's own writes in front), so that entries read one after
    /// another agree.
    pub fn in_snapshot<T>(&self, read: impl FnOnce(&Db<'_>) -> Result<T>) -> Result<T> {
        if self.view.is_snapshot() {
            return read(self);
        }
        let snapshot = self.view.engine().snapshot();
        let mut view = snapshot.view();
        if let Some(overlay) = self.view.overlay() {
            view = view.with_overlay(overlay);
        }
        read(&Db {
            storage: self.storage,
            view,
            ks: self.ks,
            writes: self.writes,
        })
    }

    /// This keyspace read live (with the transaction's own writes): what a
    /// holder of key locks reads.
    fn live(&self) -> Db<'a> {
        self.reading(self.view.live())
    }

    /// Another keyspace, read and written the way this one is (MOVE and
    /// COPY ... DB write across databases, inside EXEC too).
    pub fn other(&self, ks: &'a KeyspaceHandle) -> Db<'a> {
        Db {
            ks,
            view: self.view.live(),
            ..*self
        }
    }

    /// [`Db::lookup`] for a command that reads the key: counts a keyspace
    /// hit or miss, as Redis's read lookups do.
    pub fn lookup_read(&self, key: &[u8], now: u64) -> Result<Option<StoredKey<'a>>> {
        let found = self.lookup(key, now)?;
        self.count_read(key, found.is_some());
        Ok(found)
    }

    /// Counts a read lookup of `key` as a keyspace hit or miss; a miss
    /// raises `keymiss`.
    pub fn count_read(&self, key: &[u8], found: bool) {
        if found {
            self.storage.keyspace_hits.add(1);
        } else {
            self.storage.keyspace_misses.add(1);
            self.notify(events::KEY_MISS, "keymiss", key);
        }
    }

    /// [`Db::lookup`] for callers that hold the key's lock (and read live).
    pub fn lookup_locked(&self, key: &[u8], now: u64) -> Result<Option<StoredKey<'a>>> {
        match self.read(key)? {
            // While the storage refuses writes, an expired key is only
            // hidden: reads go on, its removal waits.
            Some(stored)
                if stored.header.is_expired(now)
                    && (self.storage.health().stopped() || self.storage.is_follower()) =>
            {
                Ok(None)
            }
            Some(stored) if stored.header.is_expired(now) => {
                let mut batch = self.batch();
                self.remove(&mut batch, stored.slot, key, &stored.header);
                drop(stored);
                // Written at once: the rest of the command reads the key.
                if let Some(overlay) = self.view.overlay() {
                    batch.apply_to(overlay);
                }
                self.writes.borrow_mut().commit_now(batch)?;
                self.storage.expired_keys.add(1);
                self.notify(events::EXPIRED, "expired", key);
                Ok(None)
            }
            other => Ok(other),
        }
    }

    /// Like [`Db::lookup`], failing with WRONGTYPE if the key holds another
    /// type.
    pub fn lookup_typed(
        &self,
        key: &[u8],
        data_type: DataType,
        now: u64,
    ) -> Result<Option<StoredKey<'a>>> {
        match self.lookup_read(key, now)? {
            Some(k) if k.header.data_type != data_type => Err(Error::WrongType),
            other => Ok(other),
        }
    }

    /// Locks `keys` of this keyspace for a read-modify-write; they stay
    /// locked until the client's write set finishes.
    pub fn lock(&self, keys: &[&[u8]]) -> Result<()> {
        let ks = self.ks.keyspace.as_bytes();
        Ok(self
            .writes
            .borrow_mut()
            .lock(keys.iter().map(|k| (ks, *k)))?)
    }

    /// Tells the write set the command only read `keys`, which it locked:
    /// they do not count as changed for WATCH (see
    /// [`WriteSet::only_read`]).
    pub fn only_read<'k>(&self, keys: impl IntoIterator<Item = &'k [u8]>) {
        let ks = self.ks.keyspace.as_bytes();
        let mut writes = self.writes.borrow_mut();
        for key in keys {
            writes.only_read(ks, key);
        }
    }

    /// Writes `value` (an encoded metadata value whose expiry is
    /// `expire_at`) as the entry of `key`, keeping the expiry index and the
    /// key counts right. `old` is the entry's header as stored, if any.
    pub fn put_metadata(
        &self,
        batch: &mut Batch,
        slot: u16,
        key: &[u8],
        value: &[u8],
        expire_at: u64,
        old: Option<&MetadataHeader>,
    ) {
        let ks = &self.ks.keyspace;
        batch.put(Cf::Metadata, &self.metadata_key(slot, key), value);
        // The key's entries in the expire index: one per time something in
        // it expires (see `MetadataHeader::expiry_times`).
        let field_expiry = MetadataHeader::decode(value).map_or(0, |(h, _)| h.field_expiry_ms);
        let old_times: Vec<u64> = old.map(|h| h.expiry_times().collect()).unwrap_or_default();
        for at in &old_times {
            if !expiry_times(expire_at, field_expiry).any(|t| t == *at) {
                batch.delete(Cf::Expire, &expire_key(*at, ks, slot, key));
            }
        }
        for at in expiry_times(expire_at, field_expiry) {
            if !old_times.contains(&at) {
                batch.put(Cf::Expire, &expire_key(at, ks, slot, key), b"");
            }
        }
        let old_expire = old.map_or(0, |h| h.expire_at_ms);
        let keys = i64::from(old.is_none());
        let expires = i64::from(expire_at != 0) - i64::from(old_expire != 0);
        batch.count(&self.ks.counts, slot, keys, expires);
    }

    /// Removes the entry of `key` (whose stored header is `old`). A
    /// collection's members are left for the compaction filter: O(1).
    pub fn remove(&self, batch: &mut Batch, slot: u16, key: &[u8], old: &MetadataHeader) {
        let ks = &self.ks.keyspace;
        batch.delete(Cf::Metadata, &self.metadata_key(slot, key));
        for at in old.expiry_times() {
            batch.delete(Cf::Expire, &expire_key(at, ks, slot, key));
        }
        let expires = -i64::from(old.expire_at_ms != 0);
        batch.count(&self.ks.counts, slot, -1, expires);
    }

    /// Raises the keyspace event `event` of `key`, delivered once the write
    /// it tells of has landed; nothing when no one listens for `class`.
    pub fn notify(&self, class: u32, event: &'static str, key: &[u8]) {
        let mut writes = self.writes.borrow_mut();
        if writes.wants_notice(class) {
            writes.notice(Notice {
                class,
                event,
                db: self.ks.index,
                key: key.to_vec(),
            });
        }
    }

    /// Raises the events of one command's write of `key` in Redis's order:
    /// `expired` when it replaced an expired entry, `new` when it created
    /// the key, the command's `event`, and `del` when it removed the key.
    pub fn notify_write(
        &self,
        key: &[u8],
        prior: Prior,
        class: u32,
        event: &'static str,
        exists_after: bool,
    ) {
        if prior == Prior::Expired {
            self.notify(events::EXPIRED, "expired", key);
        }
        if prior != Prior::Live && exists_after {
            self.notify(events::NEW, "new", key);
        }
        self.notify(class, event, key);
        if prior == Prior::Live && !exists_after {
            self.notify(events::GENERIC, "del", key);
        }
    }

    /// A new batch (which keeps its writes for the overlay inside EXEC, or
    /// while the pipeline's pending writes are read through one).
    pub fn batch(&self) -> Batch {
        let batch = self.storage.batch();
        match self.view.overlay() {
            Some(_) => batch.for_overlay(),
            None => batch,
        }
    }

    /// Commits a batch through the client's write set; with an overlay
    /// (inside EXEC, or a pipeline reading its pending writes) the next
    /// reads see it at once.
    pub fn commit(&self, mut batch: Batch) -> Result<()> {
        if let Some(overlay) = self.view.overlay() {
            batch.apply_to(overlay);
        }
        Ok(self.writes.borrow_mut().commit(batch)?)
    }
}

/// The 0-based, half-open window `from..to` that a Redis index range
/// `start stop` (both inclusive, negative counting from the end) selects
/// in a sequence of `len` (LRANGE, LTRIM, ZRANGE by rank), or `None` when
/// it is empty.
pub fn index_window(start: i64, stop: i64, len: u64) -> Option<(u64, u64)> {
    let len = len as i64;
    let start = if start < 0 {
        (len + start).max(0)
    } else {
        start
    };
    let stop = if stop < 0 {
        len + stop
    } else {
        stop.min(len - 1)
    };
    (start <= stop && start < len).then_some((start as u64, stop as u64 + 1))
}

/// An expiry to apply to a written key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expiry {
    /// Remove any expiry.
    Persist,
    /// Keep the key's current expiry.
    Keep,
    /// Expire at this Unix time in milliseconds.
    At(u64),
}

impl Expiry {
    /// The expire-at to store, given the key's current one.
    pub fn resolve(self, current: u64) -> u64 {
        match self {
            Expiry::Persist => 0,
            Expiry::Keep => current,
            Expiry::At(at) => at,
        }
    }
}
