//! RocksDB behind a narrow interface: column families, options, write
//! batches that carry key-count changes, iteration, key locks, the
//! background jobs (active expiry), whether writes are accepted
//! ([`Health`]) and whether they are held ([`WriteGate`], CLIENT PAUSE).
//!
//! Code above this layer reads as database logic: it asks for a value, an
//! iterator over a range (live or from a [`Snapshot`]), or commits a
//! [`Batch`].

mod batch_records;
mod counts;
mod engine;
mod gate;
mod gc;
mod health;
mod locks;
mod overlay;
mod slots;
mod view;
mod wal;
mod writes;

pub use counts::{KeyCounts, KeyspaceCounts};
pub use engine::Engine;
pub use gate::{WriteAdmission, WriteGate};
pub use health::{Fault, FaultKind, Health, MAX_DB_SIZE};
pub use locks::KeyLocks;
pub use overlay::Overlay;

pub use slots::{filter_wal_batch, Export, SlotSpan};
pub use view::{Snapshot, Value, View};
pub use wal::{Applied, WalBatch, WalError, WalReader};
pub use writes::WriteSet;

use crate::config::StorageConfig;
use counts::{count_key, encode_changes};
use parking_lot::{Mutex, RwLock};
use redrock_encoding::Keyspace;
use rocksdb::{Cache, IteratorMode, WriteBatch, WriteOptions};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// The column families (DESIGN.md section 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Cf {
    /// Server state: key counters and, later, topology and scripts.
    Default,
    /// One entry per user key.
    Metadata,
    /// The members of collections.
    Subkey,
    /// The score index of sorted sets.
    ZsetScore,
    /// The expiry index: expire-at | key.
    Expire,
}

impl Cf {
    const ALL: [Cf; 5] = [
        Cf::Default,
        Cf::Metadata,
        Cf::Subkey,
        Cf::ZsetScore,
        Cf::Expire,
    ];

    /// The column family's id in write batches: the column families are
    /// created in [`Cf::ALL`]'s order, so their ids are their positions.
    fn id(self) -> u32 {
        Cf::ALL.iter().position(|&cf| cf == self).expect("in ALL") as u32
    }

    fn from_id(id: u32) -> Option<Cf> {
        Cf::ALL.get(id as usize).copied()
    }

    /// Whether the column family holds user keys (all but server state).
    fn holds_user_data(self) -> bool {
        self != Cf::Default
    }

    fn name(self) -> &'static str {
        match self {
            Cf::Default => "default",
            Cf::Metadata => "metadata",
            Cf::Subkey => "subkey",
            Cf::ZsetScore => "zset_score",
            Cf::Expire => "expire",
        }
    }
}

/// A storage failure, with RocksDB's message.
#[derive(Debug)]
pub struct StorageError(pub String);

impl std::fmt::Display for StorageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StorageError {}

impl From<rocksdb::Error> for StorageError {
    fn from(e: rocksdb::Error) -> Self {
        StorageError(e.into_string())
    }
}

pub type Result<T> = std::result::Result<T, StorageError>;

/// A key and its value, as iteration yields them.
pub type Entry = (Box<[u8]>, Box<[u8]>);

/// The current Unix time in milliseconds.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The open database, with what the server keeps beside it: key counts,
/// key locks, the version clock, and whether writes are accepted.
pub struct Storage {
    health: Arc<Health>,
    /// Admits writers, and holds them during CLIENT PAUSE.
    gate: Arc<WriteGate>,
    /// The database in use; a full sync from a master replaces it.
    engine: RwLock<Arc<Engine>>,
    /// The data directory (`dir`), which holds the database directory.
    data_dir: PathBuf,
    config: StorageConfig,
    write_options: WriteOptions,
    block_cache: Cache,
    counts: KeyCounts,
    locks: KeyLocks,
    last_version: AtomicU64,
    /// Versions below this were possibly handed out before; it is saved
    /// (synced) before any version at or above it is, so a restart with the
    /// clock set back never hands out a version twice.
    version_ceiling: AtomicU64,
    /// Held while the ceiling is raised and saved.
    raising_version_ceiling: Mutex<()>,
    /// The earliest expiry time written to the expire index since active
    /// expiry last asked (`u64::MAX` for none): entries that land behind
    /// its scan position are found without rescanning.
    earliest_new_expiry: AtomicU64,
    /// Set on a replica: the only writes are the master's, applied as they
    /// are, so that the data and the sequence numbers stay the master's.
    follower: AtomicBool,
    /// Woken after every write: replication feeds wait on it for the WAL
    /// to grow.
    written: tokio::sync::Notify,
    /// Keys removed by active expiry since start or CONFIG RESETSTAT.
    pub expired_keys: crate::metrics::Tally,
    /// Reads of keys that found them (hits) or not (misses).
    pub keyspace_hits: crate::metrics::Tally,
    pub keyspace_misses: crate::metrics::Tally,
    observer: std::sync::OnceLock<Arc<dyn WriteObserver>>,
}

/// RocksDB figures for INFO rocksdb and the metrics page.
#[derive(Clone, Copy, Debug, Default)]
pub struct RocksDbStats {
    pub live_data_bytes: u64,
    pub sst_files_bytes: u64,
    pub memtable_bytes: u64,
    pub block_cache_usage_bytes: u64,
    pub block_cache_capacity_bytes: u64,
    pub block_cache_hits: u64,
    pub block_cache_misses: u64,
    pub pending_compaction_bytes: u64,
    pub running_compactions: u64,
    pub running_flushes: u64,
    pub write_stopped: bool,
    pub delayed_write_rate: u64,
    pub stall_micros: u64,
    pub wal_bytes: u64,
    /// Background errors RocksDB met since start (failed flushes,
    /// compactions, WAL writes).
    pub background_errors: u64,
}

/// A write batch plus the key-count changes it makes; committed as one
/// atomic RocksDB write by [`Storage::commit`].
pub struct Batch {
    /// The database whose column family handles the batch names.
    engine: Arc<Engine>,
    inner: WriteBatch,
    counts: Vec<CountChange>,
    /// The earliest expire-at this batch adds to the expire index.
    earliest_expiry: u64,
    /// The writes again, for a transaction's [`Overlay`]; kept only for
    /// batches made inside EXEC.
    log: Option<Vec<overlay::Op>>,
}

/// A change a batch makes to the key counts, applied in order.
enum CountChange {
    /// Keys and keys with an expiry added to a slot (negative: removed).
    Add(Arc<KeyspaceCounts>, u16, i64, i64),
    /// Every key of the keyspace removed.
    Reset(Arc<KeyspaceCounts>),
}

impl CountChange {
    fn counts(&self) -> &Arc<KeyspaceCounts> {
        match self {
            CountChange::Add(counts, ..) | CountChange::Reset(counts) => counts,
        }
    }
}

/// Told of every write as it takes effect, while the writer still holds
/// the locks of the keys it wrote, so what it learns is ordered as the
/// data is (WATCH must see a write before anyone can lock its key again;
/// a keyspace event must not reach a subscriber before the write it tells
/// of can be read, nor after a later write of the same key).
pub trait WriteObserver: Send + Sync {
    /// Whether [`WriteObserver::keys_written`] wants to be told now
    /// (someone WATCHes a key): writers skip collecting the keys otherwise.
    fn watching(&self) -> bool;
    /// One or more commands changed these (keyspace, key) pairs.
    fn keys_written(&self, keys: &[(Vec<u8>, Vec<u8>)]);
    /// Every key of these keyspaces was removed (FLUSHDB, FLUSHALL).
    fn keyspaces_cleared(&self, keyspaces: &[Keyspace]);
    /// Whether events of `class` are wanted now; writers make no
    /// [`Notice`] otherwise.
    fn wants(&self, class: u32) -> bool;
    /// The events of writes that landed, in the order they were raised.
    fn notices(&self, notices: Vec<Notice>);
}

/// An event a write raises (keyspace notifications), delivered through
/// the [`WriteObserver`] once the write has landed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    /// The event's class: a bit of the `notify-keyspace-events` flags.
    pub class: u32,
    /// Redis's event name: `set`, `lpush`, `expired`, ...
    pub event: &'static str,
    /// The database number.
    pub db: u32,
    pub key: Vec<u8>,
}

impl Storage {
    /// Opens (or creates) the database of the data directory `dir`.
    pub fn open(dir: &Path, config: &StorageConfig) -> Result<Storage> {
        let path = database_path(dir);
        remove_replaced_databases(dir, &path);
        let block_cache = Cache::new_lru_cache(config.block_cache_bytes);
        let health = Arc::new(Health::default());
        health.set_max_db_size(config.max_db_size);
        let engine = Engine::open(&path, config, &block_cache, &health)?;

        let mut write_options = WriteOptions::default();
        write_options.set_sync(config.sync);
        write_options.disable_wal(config.disable_wal);

        let storage = Storage {
            health,
            gate: Arc::default(),
            engine: RwLock::new(Arc::new(engine)),
            data_dir: dir.to_path_buf(),
            config: config.clone(),
            write_options,
            block_cache,
            counts: KeyCounts::default(),
            locks: KeyLocks::new(),
            last_version: AtomicU64::new(0),
            version_ceiling: AtomicU64::new(0),
            raising_version_ceiling: Mutex::new(()),
            earliest_new_expiry: AtomicU64::new(u64::MAX),
            follower: AtomicBool::new(false),
            written: tokio::sync::Notify::new(),
            expired_keys: Default::default(),
            keyspace_hits: Default::default(),
            keyspace_misses: Default::default(),
            observer: std::sync::OnceLock::new(),
        };
        storage.load_counts()?;
        storage.load_version_ceiling()?;
        Ok(storage)
    }

    /// The database in use. Hold it (not the storage) for reads that must
    /// see one database throughout: a full sync may replace it meanwhile.
    pub fn engine(&self) -> Arc<Engine> {
        self.engine.read().clone()
    }

    fn load_version_ceiling(&self) -> Result<()> {
        if let Some(saved) = self.server_state(VERSION_CEILING)? {
            let ceiling = saved
                .as_slice()
                .try_into()
                .map(u64::from_be_bytes)
                .map_err(|_| StorageError("the saved version ceiling is corrupt".into()))?;
            self.last_version.fetch_max(ceiling, Ordering::Relaxed);
            self.version_ceiling.store(ceiling, Ordering::Release);
        }
        Ok(())
    }

    fn load_counts(&self) -> Result<()> {
        let engine = self.engine();
        let iter = engine
            .db
            .iterator_cf(engine.cf(Cf::Default), IteratorMode::Start);
        for item in iter {
            let (key, value) = item?;
            self.counts.load_entry(&key, &value);
        }
        Ok(())
    }

    /// Where the database lives.
    pub fn path(&self) -> PathBuf {
        self.engine().path().to_path_buf()
    }

    /// The data directory that holds the database.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// A new, empty batch.
    pub fn batch(&self) -> Batch {
        Batch {
            engine: self.engine(),
            inner: WriteBatch::default(),
            counts: Vec::new(),
            earliest_expiry: u64::MAX,
            log: None,
        }
    }

    /// Sets who is told of writes (see [`WriteObserver`]); once.
    pub fn set_observer(&self, observer: Arc<dyn WriteObserver>) {
        let _ = self.observer.set(observer);
    }

    pub(crate) fn observer(&self) -> Option<&Arc<dyn WriteObserver>> {
        self.observer.get()
    }

    /// Commits a batch atomically with its count changes (one merge operand
    /// per keyspace), then applies them in memory.
    pub fn commit(&self, mut batch: Batch) -> Result<()> {
        if batch.inner.is_empty() {
            return Ok(());
        }
        if self.follower.load(Ordering::Acquire) {
            return Err(StorageError(REPLICA_WRITE.into()));
        }
        let mut by_keyspace: Vec<&Arc<KeyspaceCounts>> = Vec::new();
        for change in &batch.counts {
            let counts = change.counts();
            if !by_keyspace.iter().any(|c| Arc::ptr_eq(c, counts)) {
                by_keyspace.push(counts);
            }
        }
        for counts in by_keyspace {
            // The batch deletes the persisted counts where it resets them:
            // the operand, written after, carries the changes since.
            let changes: Vec<&CountChange> = batch
                .counts
                .iter()
                .filter(|c| Arc::ptr_eq(c.counts(), counts))
                .collect();
            let since_reset = changes
                .iter()
                .rposition(|c| matches!(c, CountChange::Reset(_)))
                .map_or(0, |last| last + 1);
            let operand = encode_changes(changes[since_reset..].iter().filter_map(|c| match c {
                CountChange::Add(_, slot, keys, expires) => Some((*slot, *keys, *expires)),
                CountChange::Reset(_) => None,
            }));
            if !operand.is_empty() {
                let default = batch.engine.cf(Cf::Default);
                batch
                    .inner
                    .merge_cf(default, count_key(counts.keyspace()), operand);
            }
        }
        self.write(batch.inner)?;
        for change in batch.counts {
            match change {
                CountChange::Add(counts, slot, keys, expires) => counts.apply(slot, keys, expires),
                CountChange::Reset(counts) => counts.reset(),
            }
        }
        if batch.earliest_expiry != u64::MAX {
            self.earliest_new_expiry
                .fetch_min(batch.earliest_expiry, Ordering::AcqRel);
        }
        Ok(())
    }

    /// The earliest expire-at committed to the expire index since the last
    /// call (`u64::MAX` for none). Called after the write, so an entry is
    /// either seen by a scan that starts after this call or reported by the
    /// next one.
    pub fn take_earliest_new_expiry(&self) -> u64 {
        self.earliest_new_expiry.swap(u64::MAX, Ordering::AcqRel)
    }

    /// Writes a batch; a failure is recorded as the fault that stops
    /// writes (RocksDB refuses every write after it anyway).
    fn write(&self, batch: WriteBatch) -> Result<()> {
        let engine = self.engine();
        engine
            .db
            .write_opt(batch, &self.write_options)
            .map_err(|e| {
                let message = e.into_string();
                self.health.record_failure(&message);
                StorageError(message)
            })?;
        self.written.notify_waiters();
        Ok(())
    }

    /// Whether writes are accepted now, and why not.
    pub fn health(&self) -> &Health {
        &self.health
    }

    /// Admits a writer of keys of `slot` (`None`: of any key; see
    /// [`WriteGate`]); `None` while a hold covers it.
    pub fn admit_write(&self, slot: Option<u16>) -> Option<WriteAdmission> {
        self.gate.admit(slot)
    }

    /// Holds writes and the removal of expired keys until `until`, once the
    /// writes admitted before are written (CLIENT PAUSE); `None` ends it.
    pub fn hold_writes(&self, until: Option<std::time::Instant>) {
        self.gate.hold(until);
    }

    /// Holds the writes of `slots` (a migration's hand-over) until
    /// [`Self::release_slot_writes`], once the writes admitted before are
    /// written; false if one of them is stuck.
    pub fn hold_slot_writes(&self, slots: redrock_cluster::SlotRange) -> bool {
        self.gate.hold_slots(slots)
    }

    /// Ends the hold of [`Self::hold_slot_writes`].
    pub fn release_slot_writes(&self) {
        self.gate.release_slots();
    }

    /// A piece of server state kept in the default column family (the
    /// cluster topology, ...).
    pub fn server_state(&self, name: &str) -> Result<Option<Vec<u8>>> {
        let engine = self.engine();
        Ok(engine.db.get_cf(engine.cf(Cf::Default), state_key(name))?)
    }

    /// Saves a piece of server state, synced to disk before it returns.
    pub fn set_server_state(&self, name: &str, value: &[u8]) -> Result<()> {
        if self.follower.load(Ordering::Acquire) {
            return Err(StorageError(REPLICA_WRITE.into()));
        }
        let mut options = WriteOptions::default();
        options.set_sync(true);
        let engine = self.engine();
        engine
            .db
            .put_cf_opt(engine.cf(Cf::Default), state_key(name), value, &options)?;
        self.written.notify_waiters();
        Ok(())
    }

    /// Writes a consistent checkpoint of the database to `target/db`
    /// (replacing an earlier one), so `target` can serve as a data dir:
    /// SST files are hard-linked when on the same file system, memtables
    /// flushed first. Built beside the old one and renamed into place, so
    /// a failure leaves the previous backup whole.
    pub fn checkpoint(&self, target: &Path) -> Result<()> {
        // Checked again here, right before anything is renamed or removed:
        // the backup directory must never reach into the live database.
        let engine = self.engine();
        if paths_overlap(target, engine.path()) {
            return Err(StorageError(format!(
                "refusing to write a backup into {}: it overlaps the live database {}",
                target.display(),
                engine.path().display()
            )));
        }
        std::fs::create_dir_all(target)
            .map_err(|e| StorageError(format!("cannot create {}: {e}", target.display())))?;
        let partial = target.join(format!("db.partial-{}", std::process::id()));
        if partial.exists() {
            std::fs::remove_dir_all(&partial)
                .map_err(|e| StorageError(format!("cannot clear {}: {e}", partial.display())))?;
        }
        rocksdb::checkpoint::Checkpoint::new(&engine.db)?.create_checkpoint(&partial)?;
        let final_dir = target.join("db");
        let old = target.join("db.old");
        if final_dir.exists() {
            let _ = std::fs::remove_dir_all(&old);
            std::fs::rename(&final_dir, &old).map_err(|e| {
                StorageError(format!("cannot replace {}: {e}", final_dir.display()))
            })?;
        }
        std::fs::rename(&partial, &final_dir)
            .map_err(|e| StorageError(format!("cannot move the backup into place: {e}")))?;
        let _ = std::fs::remove_dir_all(&old);
        Ok(())
    }

    /// The key counts of every keyspace.
    pub fn counts(&self) -> &KeyCounts {
        &self.counts
    }

    /// The key locks.
    pub fn locks(&self) -> &KeyLocks {
        &self.locks
    }

    /// A version no key of this data directory has had: microsecond clock
    /// shifted left by 11 bits, never below the last one handed out, nor
    /// below the saved ceiling of an earlier run (the clock may have been
    /// set back since).
    pub fn next_version(&self) -> Result<u64> {
        let now_us = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_micros() as u64)
            .unwrap_or(0);
        let candidate = now_us << 11;
        let mut last = self.last_version.load(Ordering::Relaxed);
        let next = loop {
            let next = candidate.max(last + 1);
            match self.last_version.compare_exchange_weak(
                last,
                next,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => break next,
                Err(actual) => last = actual,
            }
        };
        if next >= self.version_ceiling.load(Ordering::Acquire) {
            let _raising = self.raising_version_ceiling.lock();
            if next >= self.version_ceiling.load(Ordering::Acquire) {
                // One synced write per minute of clock: the ceiling is saved
                // before a version at or above the old one is used.
                let raised = next + (VERSION_RESERVE_US << 11);
                self.set_server_state(VERSION_CEILING, &raised.to_be_bytes())?;
                self.version_ceiling.store(raised, Ordering::Release);
            }
        }
        Ok(next)
    }

    /// Adds to `batch` the removal of every key of `ks`: one range delete
    /// of its metadata and its counts. The caller holds every key lock
    /// ([`WriteSet::lock_all`]). Collection members are left to the
    /// compaction filter and expiry entries to active expiry, which drops
    /// entries whose key is gone.
    pub fn clear_keyspace(&self, batch: &mut Batch, ks: &Keyspace) {
        let prefix = ks.as_bytes();
        let end = redrock_encoding::prefix_successor(prefix)
            .expect("keyspace prefix has a length byte below 0xff");
        batch.delete_range(Cf::Metadata, prefix, &end);
        batch.delete(Cf::Default, &count_key(ks));
        batch
            .counts
            .push(CountChange::Reset(self.counts.keyspace(ks)));
    }

    /// Block cache usage and capacity in bytes.
    pub fn block_cache_usage(&self) -> (usize, usize) {
        (self.block_cache.get_usage(), self.config.block_cache_bytes)
    }

    /// An integer RocksDB property of each column family, by name.
    /// RocksDB's figures now: properties summed over the column families,
    /// tickers, and the size of the live WAL files.
    pub fn rocksdb_stats(&self) -> RocksDbStats {
        let sum = |name: &str| -> u64 { self.property_per_cf(name).iter().map(|(_, v)| v).sum() };
        let engine = self.engine();
        let db_wide = |name: &str| -> u64 {
            engine
                .db
                .property_int_value(name)
                .ok()
                .flatten()
                .unwrap_or(0)
        };
        let wal_bytes = std::fs::read_dir(engine.path())
            .map(|entries| {
                entries
                    .flatten()
                    .filter(|e| e.path().extension().is_some_and(|x| x == "log"))
                    .filter_map(|e| e.metadata().ok())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0);
        let ticker = |t| engine.db_options.get_ticker_count(t);
        use rocksdb::statistics::Ticker;
        RocksDbStats {
            live_data_bytes: sum("rocksdb.estimate-live-data-size"),
            sst_files_bytes: sum("rocksdb.total-sst-files-size"),
            memtable_bytes: sum("rocksdb.cur-size-all-mem-tables"),
            block_cache_usage_bytes: self.block_cache.get_usage() as u64,
            block_cache_capacity_bytes: self.config.block_cache_bytes as u64,
            block_cache_hits: ticker(Ticker::BlockCacheHit),
            block_cache_misses: ticker(Ticker::BlockCacheMiss),
            pending_compaction_bytes: sum("rocksdb.estimate-pending-compaction-bytes"),
            running_compactions: db_wide("rocksdb.num-running-compactions"),
            running_flushes: db_wide("rocksdb.num-running-flushes"),
            write_stopped: db_wide("rocksdb.is-write-stopped") != 0,
            delayed_write_rate: db_wide("rocksdb.actual-delayed-write-rate"),
            stall_micros: ticker(Ticker::StallMicros),
            wal_bytes,
            background_errors: ticker(Ticker::ErrorHandlerBgErrorCount),
        }
    }

    pub fn property_per_cf(&self, name: &str) -> Vec<(&'static str, u64)> {
        let engine = self.engine();
        Cf::ALL
            .iter()
            .map(|&cf| {
                let value = engine
                    .db
                    .property_int_value_cf(engine.cf(cf), name)
                    .ok()
                    .flatten()
                    .unwrap_or(0);
                (cf.name(), value)
            })
            .collect()
    }

    /// Records member deletions of one key version (its sub-key prefix);
    /// many of them get the key's members compacted in the background.
    pub fn note_member_deletions(&self, prefix: &[u8], count: u64) {
        self.engine().note_member_deletions(prefix, count);
    }

    /// Compacts every column family over its whole key range.
    pub fn compact_all(&self) {
        let engine = self.engine();
        for cf in Cf::ALL {
            engine
                .db
                .compact_range_cf(engine.cf(cf), None::<&[u8]>, None::<&[u8]>);
        }
    }
}

impl Batch {
    pub fn put(&mut self, cf: Cf, key: &[u8], value: &[u8]) {
        if cf == Cf::Expire {
            // An expire key starts with its time (u64, big-endian).
            if let Some(at) = key.get(..8).and_then(|t| t.try_into().ok()) {
                self.earliest_expiry = self.earliest_expiry.min(u64::from_be_bytes(at));
            }
        }
        self.inner.put_cf(self.engine.cf(cf), key, value);
        if let Some(log) = &mut self.log {
            log.push(overlay::Op::Put(cf, key.to_vec(), value.to_vec()));
        }
    }

    pub fn delete(&mut self, cf: Cf, key: &[u8]) {
        self.inner.delete_cf(self.engine.cf(cf), key);
        if let Some(log) = &mut self.log {
            log.push(overlay::Op::Delete(cf, key.to_vec()));
        }
    }

    pub fn delete_range(&mut self, cf: Cf, from: &[u8], to: &[u8]) {
        self.inner.delete_range_cf(self.engine.cf(cf), from, to);
        if let Some(log) = &mut self.log {
            log.push(overlay::Op::DeleteRange(cf, from.to_vec(), to.to_vec()));
        }
    }

    /// Records that this batch adds `keys` keys to `slot` of the keyspace of
    /// `counts` (negative to remove) and `expires` keys with an expiry.
    pub fn count(&mut self, counts: &Arc<KeyspaceCounts>, slot: u16, keys: i64, expires: i64) {
        if keys != 0 || expires != 0 {
            self.counts
                .push(CountChange::Add(counts.clone(), slot, keys, expires));
        }
    }

    /// Keeps the writes of this batch for `overlay` as well (inside EXEC).
    pub fn for_overlay(mut self) -> Batch {
        self.log = Some(Vec::new());
        self
    }

    /// Replays the writes of a batch made with [`Batch::for_overlay`] into
    /// the overlay, so the transaction's next commands read them.
    pub fn apply_to(&mut self, overlay: &Overlay) {
        if let Some(log) = self.log.take() {
            overlay.apply(log);
        }
    }
}

/// The server state that holds the version ceiling.
const VERSION_CEILING: &str = "version-ceiling";
/// How far (in clock microseconds) each raise of the ceiling reaches.
const VERSION_RESERVE_US: u64 = 60_000_000;

/// The error of a write on a replica: its only writes are its master's.
pub const REPLICA_WRITE: &str = "READONLY You can't write against a read only replica.";

/// The file of the data directory that names its database directory when
/// that is not `db` (a full sync put another one in its place).
const CURRENT_DATABASE: &str = "db.current";

/// Where the RocksDB database of the data directory `dir` lives: `db`, or
/// the directory a full sync put in its place.
pub fn database_path(dir: &Path) -> PathBuf {
    match std::fs::read_to_string(dir.join(CURRENT_DATABASE)) {
        Ok(name) if is_database_name(name.trim()) => dir.join(name.trim()),
        _ => dir.join("db"),
    }
}

/// `db`, or `db.<digits>`: the names of database directories.
fn is_database_name(name: &str) -> bool {
    name == "db"
        || name
            .strip_prefix("db.")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Removes the database directories of `dir` other than `current`: left
/// by a full sync that ended with a crash, before or after its switch.
fn remove_replaced_databases(dir: &Path, current: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let is_database = entry.file_name().to_str().is_some_and(is_database_name);
        if is_database && path != current && path.is_dir() {
            tracing::info!(
                "removing {}, replaced by {}",
                path.display(),
                current.display()
            );
            if let Err(e) = std::fs::remove_dir_all(&path) {
                tracing::warn!("cannot remove {}: {e}", path.display());
            }
        }
    }
}

/// Whether one of two paths is the other or lies inside it, once both are
/// made absolute with symbolic links resolved (as far as they exist).
pub fn paths_overlap(a: &Path, b: &Path) -> bool {
    let (a, b) = (resolve(a), resolve(b));
    a.starts_with(&b) || b.starts_with(&a)
}

/// `path` made absolute with symbolic links resolved, as the OS resolves
/// it: component by component, so a `..` after a link climbs from where
/// the link leads. Components that do not exist yet are taken as written.
fn resolve(path: &Path) -> PathBuf {
    let absolute = std::env::current_dir()
        .map(|cwd| cwd.join(path))
        .unwrap_or_else(|_| path.to_path_buf());
    let mut resolved = PathBuf::new();
    for component in absolute.components() {
        match component {
            Component::CurDir => {}
            // `resolved` has no links left, so its parent is the real one.
            Component::ParentDir => {
                resolved.pop();
            }
            other => {
                resolved.push(other);
                if let Ok(real) = resolved.canonicalize() {
                    resolved = real;
                }
            }
        }
    }
    resolved
}

/// The default-CF key of a piece of server state: `S` then its name (key
/// counts use `K`).
fn state_key(name: &str) -> Vec<u8> {
    let mut key = vec![b'S'];
    key.extend_from_slice(name.as_bytes());
    key
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::config::Config;
    use rocksdb::perf::{set_perf_stats, PerfContext, PerfMetric, PerfStatsLevel};

    /// A storage in a new temporary directory, with a small block cache.
    pub(crate) fn storage() -> (tempfile::TempDir, Arc<Storage>) {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::default().storage();
        config.block_cache_bytes = 8 << 20;
        let storage = Arc::new(Storage::open(dir.path(), &config).unwrap());
        (dir, storage)
    }

    /// The record payloads of every WAL file of the database, as the OS has
    /// them, with the log format's block and fragment headers taken out (a
    /// record may be split where a 32 KB block ends).
    fn wal_on_disk(storage: &Storage) -> Vec<u8> {
        const BLOCK: usize = 32 * 1024;
        const HEADER: usize = 7;
        let mut payloads = Vec::new();
        for entry in std::fs::read_dir(storage.path()).unwrap().flatten() {
            if entry.path().extension().is_none_or(|x| x != "log") {
                continue;
            }
            let file = std::fs::read(entry.path()).unwrap_or_default();
            let mut pos = 0;
            while pos + HEADER <= file.len() {
                let left_in_block = BLOCK - pos % BLOCK;
                if left_in_block < HEADER {
                    pos += left_in_block;
                    continue;
                }
                let len = u16::from_le_bytes([file[pos + 4], file[pos + 5]]) as usize;
                let end = (pos + HEADER + len).min(file.len());
                payloads.extend_from_slice(&file[pos + HEADER..end]);
                pos = end;
            }
        }
        payloads
    }

    fn commit_marker(storage: &Storage, marker: &str) {
        let mut batch = storage.batch();
        batch.put(Cf::Default, marker.as_bytes(), b"");
        storage.commit(batch).unwrap();
    }

    fn on_disk(storage: &Storage, marker: &str) -> bool {
        let wal = wal_on_disk(storage);
        wal.windows(marker.len()).any(|w| w == marker.as_bytes())
    }

    /// Acknowledged means handed to the OS: a commit returns only once its
    /// WAL record is in the file (a WAL kept in a buffer to flush by hand
    /// before replying let one connection reply while another's flush
    /// carrying its record was still in flight).
    #[test]
    fn a_committed_write_is_in_the_os_whoever_writes_at_the_same_time() {
        let (_dir, storage) = storage();
        let threads: Vec<_> = (0..8u32)
            .map(|t| {
                let storage = storage.clone();
                std::thread::spawn(move || {
                    for i in 0..150u32 {
                        let marker = format!("marker-{t:02}-{i:05}");
                        commit_marker(&storage, &marker);
                        assert!(
                            on_disk(&storage, &marker),
                            "{marker} acknowledged but not in the WAL on disk"
                        );
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    }

    #[test]
    fn versions_stay_above_the_saved_ceiling_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config::default().storage();
        let first = {
            let storage = Storage::open(dir.path(), &config).unwrap();
            let first = storage.next_version().unwrap();
            assert!(storage.next_version().unwrap() > first);
            first
        };
        // As if the clock had been far ahead when the last run handed out
        // versions, and has been set back since.
        let ahead = first + (3_600_000_000u64 << 11);
        {
            let storage = Storage::open(dir.path(), &config).unwrap();
            storage
                .set_server_state(VERSION_CEILING, &ahead.to_be_bytes())
                .unwrap();
        }
        let storage = Storage::open(dir.path(), &config).unwrap();
        assert!(storage.next_version().unwrap() > ahead);
    }

    #[test]
    fn backups_never_overlap_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let db = database_path(dir.path());
        std::fs::create_dir_all(&db).unwrap();
        assert!(paths_overlap(dir.path(), &db), "the data dir itself");
        assert!(paths_overlap(&db.join("inner"), &db), "inside the database");
        assert!(paths_overlap(dir.path().parent().unwrap(), &db), "a parent");
        assert!(paths_overlap(&dir.path().join("x/../db/y"), &db), "dot-dot");
        assert!(!paths_overlap(&dir.path().join("backup"), &db));
        assert!(!paths_overlap(&dir.path().join("db2"), &db));
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(dir.path(), &link).unwrap();
        assert!(paths_overlap(&link, &db), "through a symbolic link");
        let into_backup = dir.path().join("into-backup");
        std::fs::create_dir_all(dir.path().join("backup")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("backup"), &into_backup).unwrap();
        assert!(!paths_overlap(&into_backup, &db));
        assert!(
            paths_overlap(&into_backup.join(".."), &db),
            "a `..` after a link climbs from where the link leads"
        );
        let (_other, storage) = storage();
        let refused = storage.checkpoint(storage.path().parent().unwrap());
        assert!(refused.is_err());
        assert!(storage.path().join("CURRENT").exists());
    }

    #[test]
    fn many_score_deletions_get_the_score_index_compacted() {
        let (_dir, storage) = storage();
        let prefix = b"\x01\x00\x00member-prefix".to_vec();
        let members = 10_000u32;
        let key = |i: u32| [&prefix[..], &i.to_be_bytes()].concat();
        let mut batch = storage.batch();
        for i in 0..members {
            batch.put(Cf::ZsetScore, &key(i), b"");
        }
        storage.commit(batch).unwrap();
        let mut batch = storage.batch();
        for i in 0..members {
            batch.delete(Cf::ZsetScore, &key(i));
        }
        storage.commit(batch).unwrap();
        set_perf_stats(PerfStatsLevel::EnableCount);
        let mut perf = PerfContext::default();
        let markers_walked = |perf: &mut PerfContext| {
            perf.reset();
            let end = redrock_encoding::prefix_successor(&prefix);
            assert_eq!(
                storage
                    .engine()
                    .live()
                    .range(Cf::ZsetScore, &prefix, end)
                    .count(),
                0
            );
            perf.metric(PerfMetric::InternalDeleteSkippedCount)
        };
        assert!(markers_walked(&mut perf) > 0);
        storage.note_member_deletions(&prefix, u64::from(members));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while markers_walked(&mut perf) > 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "the score index was not compacted"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}
