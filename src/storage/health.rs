//! Whether the database accepts writes, and why not.
//!
//! RocksDB stops writes after a background error: a full disk, an I/O
//! error, corruption found by a compaction. From a full disk it recovers by
//! itself once space is freed (its SstFileManager polls the free space and
//! resumes the database); from the others it may not. The C API of RocksDB
//! 11 has neither a listener for that recovery nor `Resume`, so a monitor
//! thread probes: an empty write answers the background error while writes
//! are stopped, and succeeds again once RocksDB has recovered. The same
//! thread holds the total size of the SST files against `max-db-size`.
//!
//! The state is recorded here so that the command layer can refuse writes
//! with a reply that explains, before they reach RocksDB, while reads go
//! on; it is logged once when entered and once when cleared.

use super::{now_ms, Cf};
use parking_lot::Mutex;
use rocksdb::{WriteBatch, WriteOptions, DB};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

/// How often the monitor probes RocksDB and measures the SST files.
const PERIOD: Duration = Duration::from_secs(1);
/// How often the monitor looks whether it must stop.
const TICK: Duration = Duration::from_millis(50);

/// The refusal reason while the SST files exceed `max-db-size`.
pub const MAX_DB_SIZE: &str = "max-db-size";

/// What kind of storage failure stops writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// The file system of the data directory is full.
    NoSpace,
    /// Reading or writing a file failed.
    IoError,
    /// RocksDB found damaged data.
    Corruption,
    /// Any other refusal of RocksDB.
    Other,
}

impl FaultKind {
    /// Classifies RocksDB's message (`IO error: No space left on device...`,
    /// `Corruption: block checksum mismatch...`).
    fn of(message: &str) -> FaultKind {
        if message.contains("No space left on device") || message.contains("NoSpace") {
            FaultKind::NoSpace
        } else if message.starts_with("Corruption") {
            FaultKind::Corruption
        } else if message.starts_with("IO error") {
            FaultKind::IoError
        } else {
            FaultKind::Other
        }
    }

    /// The name INFO and the metrics show.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::NoSpace => "disk-full",
            FaultKind::IoError => "io-error",
            FaultKind::Corruption => "corruption",
            FaultKind::Other => "storage-error",
        }
    }

    pub const ALL: [FaultKind; 4] = [
        FaultKind::NoSpace,
        FaultKind::IoError,
        FaultKind::Corruption,
        FaultKind::Other,
    ];
}

/// A storage failure that stops writes: its kind, RocksDB's message, and
/// since when (Unix ms).
#[derive(Clone, Debug)]
pub struct Fault {
    pub kind: FaultKind,
    pub message: String,
    pub since_ms: u64,
}

/// The write state shared by the storage and its monitor thread.
#[derive(Default)]
pub struct Health {
    fault: Mutex<Option<Fault>>,
    /// `fault.is_some()`, read on every write command without the lock.
    stopped: AtomicBool,
    /// `max-db-size` in bytes; 0 = no limit.
    max_db_size: AtomicU64,
    /// Since when (Unix ms) the SST files are larger than `max_db_size`;
    /// 0 while they are not. Only the monitor writes it.
    over_max_db_size_since: AtomicU64,
}

impl Health {
    /// Records a failed write. Writes stay refused until a probe succeeds.
    pub fn record_failure(&self, message: &str) {
        let mut fault = self.fault.lock();
        if fault.is_some() {
            return;
        }
        let kind = FaultKind::of(message);
        match kind {
            FaultKind::NoSpace => tracing::error!(
                "disk full: RocksDB cannot write ({message}); writes are refused until space \
                 is freed in the data directory, then resume by themselves; reads go on"
            ),
            _ => tracing::error!(
                "storage error: RocksDB stopped writes ({message}); the server is read-only \
                 until RocksDB recovers; check the disk and the RocksDB LOG, restart if it \
                 does not recover"
            ),
        }
        *fault = Some(Fault {
            kind,
            message: message.to_owned(),
            since_ms: now_ms(),
        });
        self.stopped.store(true, Ordering::Release);
    }

    /// Clears the fault once RocksDB accepts writes again.
    fn clear(&self) {
        let mut fault = self.fault.lock();
        if let Some(old) = fault.take() {
            let seconds = now_ms().saturating_sub(old.since_ms) / 1000;
            tracing::warn!(
                "writes resumed: RocksDB accepts writes again after {seconds} s of {}",
                old.kind.name()
            );
        }
        self.stopped.store(false, Ordering::Release);
    }

    /// Whether a storage failure stops writes now (one atomic read).
    pub fn stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }

    /// The failure that stops writes, if any.
    pub fn fault(&self) -> Option<Fault> {
        self.fault.lock().clone()
    }

    /// Why writes are refused now, as INFO and the metrics name it, and
    /// since when (Unix ms): the fault's kind, else `max-db-size` (which
    /// refuses only commands that add data).
    pub fn refusal(&self) -> Option<(&'static str, u64)> {
        match self.fault() {
            Some(fault) => Some((fault.kind.name(), fault.since_ms)),
            None => match self.over_max_db_size_since.load(Ordering::Acquire) {
                0 => None,
                since => Some((MAX_DB_SIZE, since)),
            },
        }
    }

    /// Whether the SST files exceed `max-db-size` (one atomic read).
    pub fn over_max_db_size(&self) -> bool {
        self.over_max_db_size_since.load(Ordering::Acquire) != 0
    }

    /// `max-db-size` in bytes (0 = no limit).
    pub fn max_db_size(&self) -> u64 {
        self.max_db_size.load(Ordering::Relaxed)
    }

    /// Changes `max-db-size` (bytes, 0 = no limit); the monitor applies it
    /// within a period.
    pub fn set_max_db_size(&self, bytes: u64) {
        self.max_db_size.store(bytes, Ordering::Relaxed);
    }

    /// Compares the SST files' size with the limit; logs each change.
    fn check_db_size(&self, sst_bytes: u64) {
        let limit = self.max_db_size();
        let over = limit > 0 && sst_bytes > limit;
        let was = self.over_max_db_size();
        if over && !was {
            self.over_max_db_size_since
                .store(now_ms(), Ordering::Release);
            tracing::warn!(
                "max-db-size reached: SST files take {sst_bytes} bytes, the limit is {limit}; \
                 commands that add data are refused until keys are deleted and compacted \
                 away or max-db-size is raised"
            );
        } else if was && !over {
            self.over_max_db_size_since.store(0, Ordering::Release);
            let limit = match limit {
                0 => "no limit".to_string(),
                bytes => format!("the limit is {bytes}"),
            };
            tracing::warn!(
                "max-db-size no longer reached: SST files take {sst_bytes} bytes, {limit};                  commands that add data are accepted again"
            );
        }
    }
}

/// The monitor thread; stopped and joined on drop.
pub struct Monitor {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Monitor {
    /// Starts probing `db` every [`PERIOD`].
    pub fn start(db: Weak<DB>, health: Arc<Health>) -> Monitor {
        let shared = health;
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::Builder::new()
            .name("storage-health".into())
            .spawn(move || {
                let mut probe = WriteOptions::default();
                probe.disable_wal(true);
                // During a write stall the probe answers at once instead of
                // waiting for the stall to end.
                probe.set_no_slowdown(true);
                let mut waited = PERIOD;
                while !stopping.load(Ordering::Acquire) {
                    if waited < PERIOD {
                        std::thread::sleep(TICK);
                        waited += TICK;
                        continue;
                    }
                    waited = Duration::ZERO;
                    let Some(db) = db.upgrade() else { break };
                    // An empty write touches nothing but passes RocksDB's
                    // check for a background error.
                    match db.write_opt(WriteBatch::default(), &probe) {
                        Ok(()) => {
                            if shared.stopped() {
                                shared.clear();
                            }
                        }
                        Err(e) if e.kind() == rocksdb::ErrorKind::Incomplete => {}
                        Err(e) => shared.record_failure(&e.into_string()),
                    }
                    shared.check_db_size(sst_files_size(&db));
                }
            })
            .expect("spawning the storage-health thread");
        Monitor {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The total size of the SST files of every column family, as Kvrocks
/// measures it for `max-db-size`.
fn sst_files_size(db: &DB) -> u64 {
    Cf::ALL
        .iter()
        .filter_map(|cf| db.cf_handle(cf.name()))
        .filter_map(|cf| {
            db.property_int_value_cf(cf, "rocksdb.total-sst-files-size")
                .ok()
                .flatten()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rocksdb_messages_are_classified() {
        for (message, kind) in [
            (
                "IO error: No space left on device: While appending to file: /d/000004.log: \
                 No space left on device",
                FaultKind::NoSpace,
            ),
            (
                "IO error: While open a file for random read: /d/000009.sst: Permission denied",
                FaultKind::IoError,
            ),
            (
                "Corruption: block checksum mismatch: stored = 1, computed = 2",
                FaultKind::Corruption,
            ),
            ("Invalid argument: bad", FaultKind::Other),
        ] {
            assert_eq!(FaultKind::of(message), kind, "{message}");
        }
    }

    #[test]
    fn a_failure_is_kept_until_cleared_and_logged_once() {
        let health = Health::default();
        assert!(!health.stopped() && health.fault().is_none());
        health.record_failure("IO error: No space left on device");
        health.record_failure("Corruption: later and different");
        let fault = health.fault().unwrap();
        assert!(health.stopped());
        assert_eq!(fault.kind, FaultKind::NoSpace, "the first failure stays");
        health.clear();
        assert!(!health.stopped() && health.fault().is_none());
    }

    #[test]
    fn the_size_limit_applies_only_when_set() {
        let health = Health::default();
        health.check_db_size(10 << 30);
        assert!(!health.over_max_db_size(), "0 means no limit");
        health.set_max_db_size(1 << 20);
        health.check_db_size(2 << 20);
        assert!(health.over_max_db_size());
        let (reason, since) = health.refusal().unwrap();
        assert_eq!(reason, MAX_DB_SIZE);
        assert!(since > 0);
        health.check_db_size(1 << 20);
        assert!(!health.over_max_db_size(), "exactly the limit is allowed");
    }
}
