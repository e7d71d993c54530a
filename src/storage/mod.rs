//! RocksDB behind a narrow interface: column families, options, write
//! batches that carry key-count changes, iteration, key locks and the
//! background jobs (active expiry).
//!
//! Code above this layer reads as database logic: it asks for a value, an
//! iterator over a range (live or from a [`Snapshot`]), or commits a
//! [`Batch`].

mod counts;
mod gc;
mod locks;
mod view;
mod writes;

pub use counts::{KeyCounts, KeyspaceCounts};
pub use locks::KeyLocks;
pub use view::{Snapshot, View};
pub use writes::WriteSet;

use crate::config::StorageConfig;
use counts::{count_key, encode_changes};
use redrock_encoding::Keyspace;
use rocksdb::{
    BlockBasedOptions, Cache, ColumnFamily, ColumnFamilyDescriptor, DBCompressionType,
    DBPinnableSlice, IteratorMode, Options, WriteBatch, WriteOptions, DB,
};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// The column families (DESIGN.md section 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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

/// The open database.
pub struct Storage {
    db: Arc<DB>,
    path: PathBuf,
    write_options: WriteOptions,
    block_cache: Cache,
    block_cache_capacity: usize,
    counts: KeyCounts,
    locks: KeyLocks,
    last_version: AtomicU64,
    /// Set by a commit; cleared when the WAL is flushed to the OS.
    wal_dirty: AtomicBool,
    /// Keys removed by active expiry since start or CONFIG RESETSTAT.
    pub expired_keys: crate::metrics::Tally,
    /// Reads of keys that found them (hits) or not (misses).
    pub keyspace_hits: crate::metrics::Tally,
    pub keyspace_misses: crate::metrics::Tally,
    compactor: gc::MemberCompactor,
    /// The DB options, which hold RocksDB's statistics (tickers).
    db_options: Options,
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
}

/// A write batch plus the key-count changes it makes; committed as one
/// atomic RocksDB write by [`Storage::commit`].
pub struct Batch {
    inner: WriteBatch,
    counts: Vec<(Arc<KeyspaceCounts>, u16, i64, i64)>,
}

impl Storage {
    /// Opens (or creates) the database under `dir/db`.
    pub fn open(dir: &Path, config: &StorageConfig) -> Result<Storage> {
        let path = dir.join("db");
        std::fs::create_dir_all(&path)
            .map_err(|e| StorageError(format!("cannot create {}: {e}", path.display())))?;
        let block_cache = Cache::new_lru_cache(config.block_cache_bytes);

        let mut db_options = Options::default();
        db_options.create_if_missing(true);
        db_options.create_missing_column_families(true);
        db_options.set_max_open_files(config.max_open_files);
        db_options.increase_parallelism(2);
        // Writes reach the WAL buffer; connections flush it to the OS before
        // they reply, once per pipeline instead of once per write.
        db_options.set_manual_wal_flush(true);
        // Tickers only (block cache hits, stalls): no per-operation timers.
        db_options.enable_statistics();
        db_options.set_statistics_level(rocksdb::statistics::StatsLevel::ExceptTimers);

        let gc_slot: gc::DbSlot = Arc::default();
        let descriptors = Cf::ALL
            .iter()
            .map(|&cf| {
                ColumnFamilyDescriptor::new(
                    cf.name(),
                    cf_options(cf, config, &block_cache, &gc_slot),
                )
            })
            .collect::<Vec<_>>();
        let db = DB::open_cf_descriptors(&db_options, &path, descriptors).map_err(|e| {
            let text = e.into_string();
            if text.contains("LOCK") {
                StorageError(format!(
                    "the data directory {} is in use by another RedRock server \
                     (RocksDB could not lock it: {text}); stop that server or choose another `dir`",
                    path.display()
                ))
            } else {
                StorageError(format!("cannot open {}: {text}", path.display()))
            }
        })?;

        let db = Arc::new(db);
        let _ = gc_slot.set(Arc::downgrade(&db));

        let mut write_options = WriteOptions::default();
        write_options.set_sync(config.sync);
        write_options.disable_wal(config.disable_wal);

        let compactor = gc::MemberCompactor::start(Arc::downgrade(&db));
        let storage = Storage {
            db,
            path,
            write_options,
            block_cache,
            block_cache_capacity: config.block_cache_bytes,
            counts: KeyCounts::default(),
            locks: KeyLocks::new(),
            last_version: AtomicU64::new(0),
            wal_dirty: AtomicBool::new(false),
            expired_keys: Default::default(),
            keyspace_hits: Default::default(),
            keyspace_misses: Default::default(),
            compactor,
            db_options,
        };
        storage.load_counts()?;
        Ok(storage)
    }

    fn load_counts(&self) -> Result<()> {
        let iter = self
            .db
            .iterator_cf(self.cf(Cf::Default), IteratorMode::Start);
        for item in iter {
            let (key, value) = item?;
            self.counts.load_entry(&key, &value);
        }
        Ok(())
    }

    /// Where the database lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn cf(&self, cf: Cf) -> &ColumnFamily {
        self.db
            .cf_handle(cf.name())
            .expect("every column family is opened")
    }

    /// Reads one value, live (see [`View::get`]).
    pub fn get(&self, cf: Cf, key: &[u8]) -> Result<Option<DBPinnableSlice<'_>>> {
        self.live().get(cf, key)
    }

    /// Iterates a range, live (see [`View::range`]).
    pub fn range(
        &self,
        cf: Cf,
        start: &[u8],
        end: Option<Vec<u8>>,
    ) -> impl Iterator<Item = Result<Entry>> + '_ {
        self.live().range(cf, start, end)
    }

    /// Iterates a range backward, live (see [`View::range_reverse`]).
    pub fn range_reverse(
        &self,
        cf: Cf,
        start: &[u8],
        end: Vec<u8>,
    ) -> impl Iterator<Item = Result<Entry>> + '_ {
        self.live().range_reverse(cf, start, end)
    }

    /// A new, empty batch.
    pub fn batch(&self) -> Batch {
        Batch {
            inner: WriteBatch::default(),
            counts: Vec::new(),
        }
    }

    /// Commits a batch atomically with its count changes (one merge operand
    /// per keyspace), then applies them in memory.
    pub fn commit(&self, mut batch: Batch) -> Result<()> {
        if batch.inner.is_empty() {
            return Ok(());
        }
        let mut by_keyspace: Vec<&Arc<KeyspaceCounts>> = Vec::new();
        for (counts, ..) in &batch.counts {
            if !by_keyspace.iter().any(|c| Arc::ptr_eq(c, counts)) {
                by_keyspace.push(counts);
            }
        }
        for counts in by_keyspace {
            let operand = encode_changes(
                batch
                    .counts
                    .iter()
                    .filter(|(c, ..)| Arc::ptr_eq(c, counts))
                    .map(|(_, slot, keys, expires)| (*slot, *keys, *expires)),
            );
            if !operand.is_empty() {
                batch
                    .inner
                    .merge_cf(self.cf(Cf::Default), count_key(counts.keyspace()), operand);
            }
        }
        self.db.write_opt(batch.inner, &self.write_options)?;
        self.wal_dirty.store(true, Ordering::Release);
        for (counts, slot, keys, expires) in batch.counts {
            counts.apply(slot, keys, expires);
        }
        Ok(())
    }

    /// A piece of server state kept in the default column family (the
    /// cluster topology, ...).
    pub fn server_state(&self, name: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.db.get_cf(self.cf(Cf::Default), state_key(name))?)
    }

    /// Saves a piece of server state, synced to disk before it returns.
    pub fn set_server_state(&self, name: &str, value: &[u8]) -> Result<()> {
        let mut options = WriteOptions::default();
        options.set_sync(true);
        self.db
            .put_cf_opt(self.cf(Cf::Default), state_key(name), value, &options)?;
        Ok(())
    }

    /// Writes a consistent checkpoint of the database to `target/db`
    /// (replacing an earlier one), so `target` can serve as a data dir:
    /// SST files are hard-linked when on the same file system, memtables
    /// flushed first. Built beside the old one and renamed into place, so
    /// a failure leaves the previous backup whole.
    pub fn checkpoint(&self, target: &Path) -> Result<()> {
        std::fs::create_dir_all(target)
            .map_err(|e| StorageError(format!("cannot create {}: {e}", target.display())))?;
        let partial = target.join(format!("db.partial-{}", std::process::id()));
        if partial.exists() {
            std::fs::remove_dir_all(&partial)
                .map_err(|e| StorageError(format!("cannot clear {}: {e}", partial.display())))?;
        }
        self.flush_wal()?;
        rocksdb::checkpoint::Checkpoint::new(&self.db)?.create_checkpoint(&partial)?;
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

    /// Hands the buffered WAL to the operating system, so that every write
    /// committed so far survives a crash of the process. Connections call
    /// this before replying to writes.
    pub fn flush_wal(&self) -> Result<()> {
        if self.wal_dirty.swap(false, Ordering::AcqRel) {
            self.db.flush_wal(false)?;
        }
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
    /// shifted left by 11 bits, never below the last one handed out.
    pub fn next_version(&self) -> u64 {
        let now_us = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_micros() as u64)
            .unwrap_or(0);
        let candidate = now_us << 11;
        let mut last = self.last_version.load(Ordering::Relaxed);
        loop {
            let next = candidate.max(last + 1);
            match self.last_version.compare_exchange_weak(
                last,
                next,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return next,
                Err(actual) => last = actual,
            }
        }
    }

    /// Removes every key of `ks` in one atomic write. The caller holds every
    /// key lock ([`WriteSet::lock_all`]). Collection members are left to the compaction filter and
    /// expiry entries to active expiry, which drops entries whose key is gone.
    pub fn delete_keyspace(&self, ks: &Keyspace) -> Result<()> {
        let mut batch = WriteBatch::default();
        let prefix = ks.as_bytes();
        let end = redrock_encoding::prefix_successor(prefix)
            .expect("keyspace prefix has a length byte below 0xff");
        batch.delete_range_cf(self.cf(Cf::Metadata), prefix, &end[..]);
        batch.delete_cf(self.cf(Cf::Default), count_key(ks));
        self.db.write_opt(batch, &self.write_options)?;
        self.wal_dirty.store(true, Ordering::Release);
        self.counts.keyspace(ks).reset();
        Ok(())
    }

    /// Block cache usage and capacity in bytes.
    pub fn block_cache_usage(&self) -> (usize, usize) {
        (self.block_cache.get_usage(), self.block_cache_capacity)
    }

    /// An integer RocksDB property of each column family, by name.
    /// RocksDB's figures now: properties summed over the column families,
    /// tickers, and the size of the live WAL files.
    pub fn rocksdb_stats(&self) -> RocksDbStats {
        let sum = |name: &str| -> u64 { self.property_per_cf(name).iter().map(|(_, v)| v).sum() };
        let db_wide =
            |name: &str| -> u64 { self.db.property_int_value(name).ok().flatten().unwrap_or(0) };
        let wal_bytes = std::fs::read_dir(&self.path)
            .map(|entries| {
                entries
                    .flatten()
                    .filter(|e| e.path().extension().is_some_and(|x| x == "log"))
                    .filter_map(|e| e.metadata().ok())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0);
        let ticker = |t| self.db_options.get_ticker_count(t);
        use rocksdb::statistics::Ticker;
        RocksDbStats {
            live_data_bytes: sum("rocksdb.estimate-live-data-size"),
            sst_files_bytes: sum("rocksdb.total-sst-files-size"),
            memtable_bytes: sum("rocksdb.cur-size-all-mem-tables"),
            block_cache_usage_bytes: self.block_cache.get_usage() as u64,
            block_cache_capacity_bytes: self.block_cache_capacity as u64,
            block_cache_hits: ticker(Ticker::BlockCacheHit),
            block_cache_misses: ticker(Ticker::BlockCacheMiss),
            pending_compaction_bytes: sum("rocksdb.estimate-pending-compaction-bytes"),
            running_compactions: db_wide("rocksdb.num-running-compactions"),
            running_flushes: db_wide("rocksdb.num-running-flushes"),
            write_stopped: db_wide("rocksdb.is-write-stopped") != 0,
            delayed_write_rate: db_wide("rocksdb.actual-delayed-write-rate"),
            stall_micros: ticker(Ticker::StallMicros),
            wal_bytes,
        }
    }

    pub fn property_per_cf(&self, name: &str) -> Vec<(&'static str, u64)> {
        Cf::ALL
            .iter()
            .map(|&cf| {
                let value = self
                    .db
                    .property_int_value_cf(self.cf(cf), name)
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
        self.compactor.note_deletions(prefix, count);
    }

    /// Compacts every column family over its whole key range.
    pub fn compact_all(&self) {
        for cf in Cf::ALL {
            self.db
                .compact_range_cf(self.cf(cf), None::<&[u8]>, None::<&[u8]>);
        }
    }
}

impl Drop for Storage {
    fn drop(&mut self) {
        // A clean close leaves nothing for WAL replay to do.
        let _ = self.db.flush_wal(true);
        let _ = self.db.flush();
    }
}

fn cf_options(cf: Cf, config: &StorageConfig, cache: &Cache, gc_slot: &gc::DbSlot) -> Options {
    let mut table = BlockBasedOptions::default();
    table.set_block_cache(cache);
    table.set_block_size(16 * 1024);
    table.set_cache_index_and_filter_blocks(true);
    table.set_pin_l0_filter_and_index_blocks_in_cache(true);
    if matches!(cf, Cf::Metadata | Cf::Subkey) {
        // Point lookups: most reads of a missing key stop at the filter.
        table.set_bloom_filter(10.0, false);
        table.set_whole_key_filtering(true);
    }
    let mut options = Options::default();
    options.set_block_based_table_factory(&table);
    options.set_write_buffer_size(config.write_buffer_bytes);
    options.set_level_compaction_dynamic_level_bytes(true);
    let compression = config.compression;
    // The first levels churn fastest; compressing them costs more than it saves.
    options.set_compression_per_level(&[
        DBCompressionType::None,
        DBCompressionType::None,
        compression,
        compression,
        compression,
        compression,
        compression,
    ]);
    if cf == Cf::Metadata {
        options.set_memtable_whole_key_filtering(true);
        options.set_memtable_prefix_bloom_ratio(0.1);
    }
    if cf == Cf::Default {
        options.set_merge_operator_associative("redrock_counts", counts::merge_counts);
    }
    if matches!(cf, Cf::Subkey | Cf::ZsetScore) {
        options.set_compaction_filter_factory(gc::MemberFilterFactory {
            db: gc_slot.clone(),
        });
    }
    options
}

impl Batch {
    pub fn put(&mut self, storage: &Storage, cf: Cf, key: &[u8], value: &[u8]) {
        self.inner.put_cf(storage.cf(cf), key, value);
    }

    pub fn delete(&mut self, storage: &Storage, cf: Cf, key: &[u8]) {
        self.inner.delete_cf(storage.cf(cf), key);
    }

    pub fn delete_range(&mut self, storage: &Storage, cf: Cf, from: &[u8], to: &[u8]) {
        self.inner.delete_range_cf(storage.cf(cf), from, to);
    }

    /// Records that this batch adds `keys` keys to `slot` of the keyspace of
    /// `counts` (negative to remove) and `expires` keys with an expiry.
    pub fn count(&mut self, counts: &Arc<KeyspaceCounts>, slot: u16, keys: i64, expires: i64) {
        if keys != 0 || expires != 0 {
            self.counts.push((counts.clone(), slot, keys, expires));
        }
    }
}

/// The default-CF key of a piece of server state: `S` then its name (key
/// counts use `K`).
fn state_key(name: &str) -> Vec<u8> {
    let mut key = vec![b'S'];
    key.extend_from_slice(name.as_bytes());
    key
}
