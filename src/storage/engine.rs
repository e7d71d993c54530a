//! One open RocksDB database and what lives and dies with it.
//!
//! A replica's full sync replaces the database under a running server
//! ([`super::Storage::replace`]): readers, iterators and batches hold the
//! [`Engine`] they started with (an `Arc`), so the old database closes
//! once the last of them is done, and no borrow ever outlives it.

use super::{gc, health, Cf, Health, Result, StorageError};
use crate::config::StorageConfig;
use rocksdb::{
    BlockBasedOptions, Cache, ColumnFamily, ColumnFamilyDescriptor, DBCompressionType, Options, DB,
};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// An open database directory.
pub struct Engine {
    /// Declared first so that it stops before the database closes.
    _monitor: health::Monitor,
    compactor: gc::MemberCompactor,
    pub(super) db: Arc<DB>,
    /// The DB options, which hold RocksDB's statistics (tickers).
    pub(super) db_options: Options,
    /// Declared last: removes the directory of a replaced database once
    /// everything above has closed it.
    directory: Directory,
}

/// Where an engine's files live, and whether they go when it closes.
struct Directory {
    path: PathBuf,
    /// Set when a full sync replaced this database.
    retired: AtomicBool,
}

impl Drop for Directory {
    fn drop(&mut self) {
        if self.retired.load(Ordering::Acquire) {
            if let Err(e) = std::fs::remove_dir_all(&self.path) {
                tracing::warn!(
                    "cannot remove the replaced database {}: {e}",
                    self.path.display()
                );
            }
        }
    }
}

impl Engine {
    /// Opens (or creates) the database at `path`.
    pub(super) fn open(
        path: &Path,
        config: &StorageConfig,
        block_cache: &Cache,
        health: &Arc<Health>,
    ) -> Result<Engine> {
        std::fs::create_dir_all(path)
            .map_err(|e| StorageError(format!("cannot create {}: {e}", path.display())))?;

        let mut db_options = Options::default();
        db_options.create_if_missing(true);
        db_options.create_missing_column_families(true);
        db_options.set_max_open_files(config.max_open_files);
        db_options.increase_parallelism(2);
        // Each write hands its WAL record to the OS before it returns (one
        // write per pipeline: see WriteSet). Not `manual_wal_flush`: with it
        // RocksDB makes a failed WAL write (a full disk) a fatal error that
        // only reopening the database clears (db/error_handler.cc); without
        // it, writes resume by themselves once space is freed.
        db_options.set_manual_wal_flush(false);
        // WAL files outlive their memtables for replicas: how far back a
        // partial resync reaches.
        db_options.set_wal_ttl_seconds(config.wal_ttl_seconds);
        db_options.set_wal_size_limit_mb(config.wal_size_limit_mb);
        // A crash replays the live WAL: keep it short. A column family
        // written rarely (the counters, the expire index) would otherwise
        // keep every WAL file since its last flush alive.
        db_options.set_max_total_wal_size(config.max_total_wal_bytes);
        // Tickers only (block cache hits, stalls): no per-operation timers.
        db_options.enable_statistics();
        db_options.set_statistics_level(rocksdb::statistics::StatsLevel::ExceptTimers);

        let gc_slot: gc::DbSlot = Arc::default();
        let descriptors = Cf::ALL
            .iter()
            .map(|&cf| {
                ColumnFamilyDescriptor::new(
                    cf.name(),
                    cf_options(cf, config, block_cache, &gc_slot),
                )
            })
            .collect::<Vec<_>>();
        let db = DB::open_cf_descriptors(&db_options, path, descriptors).map_err(|e| {
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
        Ok(Engine {
            _monitor: health::Monitor::start(Arc::downgrade(&db), health.clone()),
            compactor: gc::MemberCompactor::start(Arc::downgrade(&db)),
            db,
            db_options,
            directory: Directory {
                path: path.to_path_buf(),
                retired: AtomicBool::new(false),
            },
        })
    }

    /// Where the database lives.
    pub fn path(&self) -> &Path {
        &self.directory.path
    }

    pub(crate) fn cf(&self, cf: Cf) -> &ColumnFamily {
        self.db
            .cf_handle(cf.name())
            .expect("every column family is opened")
    }

    /// The sequence number of the last write.
    pub fn latest_sequence(&self) -> u64 {
        self.db.latest_sequence_number()
    }

    /// Marks the database replaced: it closes without a flush when its last
    /// holder lets go, and its directory is removed.
    pub(super) fn retire(&self) {
        self.directory.retired.store(true, Ordering::Release);
    }

    /// Records member deletions of one key version (its sub-key prefix);
    /// many of them get the key's members compacted in the background.
    pub(super) fn note_member_deletions(&self, prefix: &[u8], count: u64) {
        self.compactor.note_deletions(prefix, count);
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        // A clean close leaves nothing for WAL replay to do.
        if !self.directory.retired.load(Ordering::Acquire) {
            let _ = self.db.flush();
        }
    }
}

fn cf_options(cf: Cf, config: &StorageConfig, cache: &Cache, gc_slot: &gc::DbSlot) -> Options {
    let mut table = BlockBasedOptions::default();
    table.set_block_cache(cache);
    table.set_block_size(config.block_size);
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
    if matches!(cf, Cf::Metadata | Cf::Subkey) {
        // Most point reads of members look for one not there yet (HSET,
        // SADD, ZADD of new members): the filter spares the skip list.
        options.set_memtable_whole_key_filtering(true);
        options.set_memtable_prefix_bloom_ratio(0.1);
    }
    if cf == Cf::Default {
        options.set_merge_operator_associative("redrock_counts", super::counts::merge_counts);
    }
    if matches!(cf, Cf::Subkey | Cf::ZsetScore) {
        options.set_compaction_filter_factory(gc::MemberFilterFactory {
            db: gc_slot.clone(),
        });
    }
    options
}
