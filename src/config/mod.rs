//! Configuration: the directive table (names, defaults, whether CONFIG SET
//! may change them), kvrocks.conf parsing, command-line overrides, and
//! CONFIG REWRITE.

mod buffer_limits;
mod directives;
mod file;

pub use buffer_limits::{BufferLimit, OutputBufferLimits};
pub use directives::{is_sensitive, Config, Directive, DIRECTIVES, KVROCKS_ONLY};
pub use file::{load, rewrite, ConfigError};

use parking_lot::RwLock;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// What the storage layer needs from the configuration.
#[derive(Clone, Debug)]
pub struct StorageConfig {
    pub block_cache_bytes: usize,
    pub write_buffer_bytes: usize,
    pub max_total_wal_bytes: u64,
    pub block_size: usize,
    pub max_open_files: i32,
    pub compression: rocksdb::DBCompressionType,
    pub sync: bool,
    pub disable_wal: bool,
    /// `max-db-size` in bytes (0 = no limit).
    pub max_db_size: u64,
    /// `rocksdb.wal_ttl_seconds` and `rocksdb.wal_size_limit_mb`: how long
    /// and how much WAL is kept after its memtables are flushed, which is
    /// how far back a replica's partial resync reaches.
    pub wal_ttl_seconds: u64,
    pub wal_size_limit_mb: u64,
}

impl Config {
    /// Where BGSAVE writes its backups: `backup-dir`, or `<dir>/backup`.
    pub fn backup_path(&self) -> PathBuf {
        if self.backup_dir.is_empty() {
            PathBuf::from(&self.dir).join("backup")
        } else {
            PathBuf::from(&self.backup_dir)
        }
    }

    /// The rules that tie directives together, checked once a file and the
    /// command line are read and on every CONFIG SET: the directive at
    /// fault and why.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        let live = crate::storage::database_path(Path::new(&self.dir));
        let backup = self.backup_path();
        if crate::storage::paths_overlap(&backup, &live) {
            return Err((
                "backup-dir",
                format!(
                    "'{}' overlaps the live database {}: BGSAVE replaces <backup-dir>/db, \
                     so backup-dir must not be the data directory, a directory inside its \
                     database, or a parent of it",
                    backup.display(),
                    live.display()
                ),
            ));
        }
        Ok(())
    }

    /// The storage settings derived from the directives.
    pub fn storage(&self) -> StorageConfig {
        StorageConfig {
            block_cache_bytes: (self.block_cache_size_mb as usize) << 20,
            write_buffer_bytes: (self.write_buffer_size_mb as usize) << 20,
            max_total_wal_bytes: self.max_total_wal_size_mb << 20,
            block_size: self.block_size as usize,
            max_open_files: self.max_open_files,
            compression: match self.compression.as_str() {
                "snappy" => rocksdb::DBCompressionType::Snappy,
                "lz4" => rocksdb::DBCompressionType::Lz4,
                "zstd" => rocksdb::DBCompressionType::Zstd,
                "zlib" => rocksdb::DBCompressionType::Zlib,
                _ => rocksdb::DBCompressionType::None,
            },
            sync: self.sync,
            disable_wal: self.disable_wal,
            max_db_size: self.max_db_size,
            wal_ttl_seconds: self.wal_ttl_seconds,
            wal_size_limit_mb: self.wal_size_limit_mb,
        }
    }
}

/// The running server's configuration: the directive values, the file they
/// came from (for CONFIG REWRITE), and atomics for the values read on every
/// request.
pub struct SharedConfig {
    values: RwLock<Config>,
    file: Option<PathBuf>,
    proto_max_bulk_len: AtomicU64,
    client_query_buffer_limit: AtomicU64,
    slowlog_log_slower_than: AtomicI64,
    slowlog_max_len: AtomicU64,
}

impl SharedConfig {
    pub fn new(config: Config, file: Option<PathBuf>) -> SharedConfig {
        SharedConfig {
            proto_max_bulk_len: AtomicU64::new(config.proto_max_bulk_len),
            client_query_buffer_limit: AtomicU64::new(config.client_query_buffer_limit),
            slowlog_log_slower_than: AtomicI64::new(config.slowlog_log_slower_than),
            slowlog_max_len: AtomicU64::new(config.slowlog_max_len),
            values: RwLock::new(config),
            file,
        }
    }

    /// A copy of the current values.
    pub fn snapshot(&self) -> Config {
        self.values.read().clone()
    }

    /// Reads the current values.
    pub fn read(&self) -> parking_lot::RwLockReadGuard<'_, Config> {
        self.values.read()
    }

    /// The config file the server started with.
    pub fn file(&self) -> Option<&PathBuf> {
        self.file.as_ref()
    }

    /// `proto-max-bulk-len`, read on every request.
    pub fn proto_max_bulk_len(&self) -> u64 {
        self.proto_max_bulk_len.load(Ordering::Relaxed)
    }

    /// `client-query-buffer-limit`, read after every read from a client.
    pub fn client_query_buffer_limit(&self) -> u64 {
        self.client_query_buffer_limit.load(Ordering::Relaxed)
    }

    /// `slowlog-log-slower-than` (µs, negative = off), read on every command.
    pub fn slowlog_log_slower_than(&self) -> i64 {
        self.slowlog_log_slower_than.load(Ordering::Relaxed)
    }

    /// `slowlog-max-len`.
    pub fn slowlog_max_len(&self) -> u64 {
        self.slowlog_max_len.load(Ordering::Relaxed)
    }

    /// Records the master REPLICAOF chose (`host port`, or empty), for
    /// CONFIG GET and CONFIG REWRITE.
    pub fn set_replicaof(&self, value: String) {
        self.values.write().replicaof = value;
    }

    /// Applies CONFIG SET pairs all or nothing. Errors are CONFIG SET's
    /// replies.
    pub fn set(&self, pairs: &[(String, String)]) -> Result<(), String> {
        let mut values = self.values.write();
        let mut updated = values.clone();
        for (name, value) in pairs {
            let directive = Directive::find(name).ok_or_else(|| {
                format!("ERR Unknown option or number of arguments for CONFIG SET - '{name}'")
            })?;
            if !directive.mutable {
                return Err(format!(
                    "ERR CONFIG SET failed (possibly related to argument '{name}') - can't set immutable config"
                ));
            }
            (directive.set)(&mut updated, value).map_err(|reason| {
                format!("ERR CONFIG SET failed (possibly related to argument '{name}') - {reason}")
            })?;
        }
        updated.check().map_err(|(name, reason)| {
            format!("ERR CONFIG SET failed (possibly related to argument '{name}') - {reason}")
        })?;
        self.proto_max_bulk_len
            .store(updated.proto_max_bulk_len, Ordering::Relaxed);
        self.client_query_buffer_limit
            .store(updated.client_query_buffer_limit, Ordering::Relaxed);
        self.slowlog_log_slower_than
            .store(updated.slowlog_log_slower_than, Ordering::Relaxed);
        self.slowlog_max_len
            .store(updated.slowlog_max_len, Ordering::Relaxed);
        *values = updated;
        Ok(())
    }
}
