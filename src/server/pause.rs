//! CLIENT PAUSE: holding clients' commands, all of them or those that may
//! write, until a deadline or CLIENT UNPAUSE. A held client is not refused:
//! its connection waits (see `Connection::wait_unpaused`) and then runs the
//! command from the start, as Redis postpones it.
//!
//! Writes, and the removal of expired keys, are held in the storage
//! ([`crate::storage::WriteGate`]): the pause answers once the writes
//! admitted before it are written, so nothing changes the data after it.

use crate::storage::Storage;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::watch;

/// What a pause holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum PauseMode {
    /// Commands that may write.
    Write,
    /// Every command.
    All,
}

/// A pause: what it holds, and until when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pause {
    mode: PauseMode,
    until: Instant,
}

/// The server's pause state and the clients waiting on it.
pub struct ClientPause {
    storage: Arc<Storage>,
    /// The current pause (possibly past its deadline); its changes wake
    /// the waiting clients.
    state: watch::Sender<Option<Pause>>,
    /// Whether a pause may stand: one atomic read per command while none
    /// does.
    active: AtomicBool,
    /// Clients waiting for the pause to end (INFO's blocked_clients).
    waiting: AtomicUsize,
    /// Held while a PAUSE or UNPAUSE changes the state and the storage's
    /// hold, so the two always agree.
    changing: Mutex<()>,
}

impl ClientPause {
    pub fn new(storage: Arc<Storage>) -> ClientPause {
        ClientPause {
            storage,
            state: watch::channel(None).0,
            active: AtomicBool::new(false),
            waiting: AtomicUsize::new(0),
            changing: Mutex::new(()),
        }
    }

    /// CLIENT PAUSE: as Redis combines pauses, the later deadline wins and
    /// an ALL pause still standing is not weakened to WRITE. Returns once
    /// the writes admitted before are written.
    pub fn pause(&self, mode: PauseMode, until: Instant) {
        let _changing = self.changing.lock();
        let mut pause = Pause { mode, until };
        self.state.send_modify(|state| {
            if let Some(old) = state.filter(|old| Instant::now() < old.until) {
                pause.mode = pause.mode.max(old.mode);
                pause.until = pause.until.max(old.until);
            }
            *state = Some(pause);
            self.active.store(true, Ordering::SeqCst);
        });
        // CLIENT PAUSE 0 holds nothing.
        if Instant::now() < pause.until {
            self.storage.hold_writes(Some(pause.until));
        }
    }

    /// CLIENT UNPAUSE: ends the pause; the waiting clients go on.
    pub fn unpause(&self) {
        let _changing = self.changing.lock();
        // Writes are let through before the clients wake, so none of them
        // finds writes still held.
        self.storage.hold_writes(None);
        self.state.send_modify(|state| {
            *state = None;
            self.active.store(false, Ordering::SeqCst);
        });
    }

    /// Until when a pause holds a command (`may_write` says whether it may
    /// write), if one does now.
    pub fn holding(&self, may_write: bool) -> Option<Instant> {
        if !self.active.load(Ordering::SeqCst) {
            return None;
        }
        let pause = *self.state.borrow();
        match pause {
            Some(pause) if Instant::now() < pause.until => {
                let holds = pause.mode == PauseMode::All || may_write;
                holds.then_some(pause.until)
            }
            _ => {
                self.forget_ended();
                None
            }
        }
    }

    /// Clears a pause whose deadline has passed, so commands stop looking
    /// at it; under the state's lock, so a pause set meanwhile stays.
    fn forget_ended(&self) {
        self.state.send_if_modified(|state| {
            if state.is_some_and(|pause| Instant::now() < pause.until) {
                return false;
            }
            *state = None;
            self.active.store(false, Ordering::SeqCst);
            // The waiting clients wake at the deadline by themselves.
            false
        });
    }

    /// A receiver that wakes when the pause changes (UNPAUSE, a new PAUSE).
    pub fn changes(&self) -> watch::Receiver<Option<Pause>> {
        self.state.subscribe()
    }

    /// Counts a client waiting for the pause to end while the guard lives.
    pub fn waiter(&self) -> Waiter<'_> {
        self.waiting.fetch_add(1, Ordering::Relaxed);
        Waiter(self)
    }

    /// How many clients wait for the pause to end.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }
}

/// A client counted as waiting for the pause; uncounted on drop.
pub struct Waiter<'a>(&'a ClientPause);

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A command CLIENT PAUSE holds: its connection waits, then runs it again.
#[derive(Clone, Copy, Debug)]
pub struct Postponed {
    /// Whether the command may write (a WRITE pause holds it too).
    pub may_write: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::tests::storage;
    use std::time::Duration;

    fn later(ms: u64) -> Instant {
        Instant::now() + Duration::from_millis(ms)
    }

    #[test]
    fn pauses_combine_as_in_redis() {
        let (_dir, storage) = storage();
        let pause = ClientPause::new(storage.clone());
        assert_eq!(pause.holding(true), None);
        // WRITE holds writes only, and the storage's writers.
        let until = later(60_000);
        pause.pause(PauseMode::Write, until);
        assert_eq!(pause.holding(false), None);
        assert_eq!(pause.holding(true), Some(until));
        assert!(storage.admit_write().is_none());
        // A shorter ALL: ALL, until the later deadline.
        pause.pause(PauseMode::All, later(10));
        assert_eq!(pause.holding(false), Some(until));
        // A WRITE after an ALL still standing leaves ALL.
        pause.pause(PauseMode::Write, later(10));
        assert_eq!(pause.holding(false), Some(until));
        pause.unpause();
        assert_eq!(pause.holding(true), None);
        assert!(storage.admit_write().is_some());
        // A pause past its deadline holds nothing, and a new one replaces
        // it whole.
        pause.pause(PauseMode::All, Instant::now());
        assert_eq!(pause.holding(false), None);
        assert!(storage.admit_write().is_some());
        let until = later(60_000);
        pause.pause(PauseMode::Write, until);
        assert_eq!(pause.holding(false), None);
        assert_eq!(pause.holding(true), Some(until));
        pause.unpause();
    }
}
