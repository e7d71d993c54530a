//! BGSAVE and SAVE: a consistent RocksDB checkpoint of the whole data
//! directory in `backup-dir`; BGSAVE makes it on a blocking thread so
//! requests keep flowing, SAVE before it answers. The
//! backup is a data directory itself: `redrock-server --dir <backup-dir>`
//! starts on it.

use super::Server;
use parking_lot::Mutex;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// What INFO persistence and LASTSAVE report.
pub struct Backups {
    in_progress: AtomicBool,
    started: Mutex<Option<Instant>>,
    /// Unix seconds of the last successful backup (the start time before
    /// any).
    last_save: AtomicU64,
    last_ok: AtomicBool,
    /// Seconds the last backup took, -1 before any.
    last_duration: AtomicI64,
    saves: AtomicU64,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Default for Backups {
    fn default() -> Backups {
        Backups {
            in_progress: AtomicBool::new(false),
            started: Mutex::new(None),
            last_save: AtomicU64::new(unix_now()),
            last_ok: AtomicBool::new(true),
            last_duration: AtomicI64::new(-1),
            saves: AtomicU64::new(0),
        }
    }
}

impl Backups {
    pub fn in_progress(&self) -> bool {
        self.in_progress.load(Ordering::Acquire)
    }

    pub fn last_save(&self) -> u64 {
        self.last_save.load(Ordering::Relaxed)
    }

    pub fn last_ok(&self) -> bool {
        self.last_ok.load(Ordering::Relaxed)
    }

    pub fn last_duration(&self) -> i64 {
        self.last_duration.load(Ordering::Relaxed)
    }

    /// Seconds the running backup has taken so far, -1 when none runs.
    pub fn current_duration(&self) -> i64 {
        self.started
            .lock()
            .map_or(-1, |t| t.elapsed().as_secs() as i64)
    }

    pub fn saves(&self) -> u64 {
        self.saves.load(Ordering::Relaxed)
    }
}

/// Where the backups of `server` go.
pub fn backup_dir(server: &Server) -> PathBuf {
    server.config.read().backup_path()
}

/// BGSAVE: starts a backup on a blocking thread; `false` if one is
/// already running.
pub fn start(server: &Arc<Server>) -> bool {
    if !claim(&server.backups) {
        return false;
    }
    let server = server.clone();
    tokio::task::spawn_blocking(move || write(&server));
    true
}

/// SAVE: writes a backup on the calling thread; `None` if one is already
/// running, else whether it was written.
pub fn save(server: &Server) -> Option<bool> {
    claim(&server.backups).then(|| write(server))
}

/// Marks a backup as running; `false` if one already is.
fn claim(backups: &Backups) -> bool {
    if backups.in_progress.swap(true, Ordering::AcqRel) {
        return false;
    }
    *backups.started.lock() = Some(Instant::now());
    true
}

/// Writes the backup a [`claim`] started, records how it went and ends it.
fn write(server: &Server) -> bool {
    let target = backup_dir(server);
    let started = Instant::now();
    let result = server.storage.checkpoint(&target);
    let backups = &server.backups;
    match &result {
        Ok(()) => {
            backups.last_save.store(unix_now(), Ordering::Relaxed);
            backups.saves.fetch_add(1, Ordering::Relaxed);
            tracing::info!(
                "backup written to {} in {:.1}s",
                target.display(),
                started.elapsed().as_secs_f64()
            );
        }
        Err(e) => tracing::error!(
            "backup to {} failed: {e}; check that the directory is writable and has room",
            target.display()
        ),
    }
    backups.last_ok.store(result.is_ok(), Ordering::Relaxed);
    backups
        .last_duration
        .store(started.elapsed().as_secs() as i64, Ordering::Relaxed);
    *backups.started.lock() = None;
    backups.in_progress.store(false, Ordering::Release);
    result.is_ok()
}
