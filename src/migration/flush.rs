//! Writing the file system's dirty pages out ahead of a hand-over. Both
//! nodes save the hand-over with fsync while the source holds writes, and
//! on ext4 an fsync waits for the journal to commit, which in ordered mode
//! first writes out other files' dirty data: after a bulk import, or
//! under heavy writes, that was most of a second per fsync. Written out
//! ahead, while writes still flow, only the last moment's pages are left.

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How often an importing node writes its dirty pages out.
const IMPORT_FLUSH_PERIOD: Duration = Duration::from_secs(1);

/// Writes out every dirty page of the file system holding `dir`
/// (syncfs); best effort, as the fsyncs it prepares for still follow.
pub fn write_out(dir: &Path) {
    match std::fs::File::open(dir) {
        Ok(file) => {
            // SAFETY: syncfs only reads the descriptor, open for the call.
            if unsafe { libc::syncfs(file.as_raw_fd()) } != 0 {
                tracing::warn!(
                    "cannot write out dirty pages ({}): {}",
                    dir.display(),
                    std::io::Error::last_os_error()
                );
            }
        }
        Err(e) => tracing::warn!("cannot open {}: {e}", dir.display()),
    }
}

/// Writes dirty pages out every second on a thread of its own until
/// dropped: an import does not know when its hand-over comes.
pub struct Flusher {
    running: Arc<AtomicBool>,
}

impl Flusher {
    pub fn start(dir: PathBuf) -> Flusher {
        let running = Arc::new(AtomicBool::new(true));
        let flag = running.clone();
        let spawned = std::thread::Builder::new()
            .name("import-flush".into())
            .spawn(move || {
                while flag.load(Ordering::Relaxed) {
                    write_out(&dir);
                    std::thread::sleep(IMPORT_FLUSH_PERIOD);
                }
            });
        if let Err(e) = spawned {
            tracing::warn!("cannot start writing out dirty pages during the import: {e}");
        }
        Flusher { running }
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        self.running.store(false, Ordering::Relaxed);
    }
}
