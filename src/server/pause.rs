//! CLIENT PAUSE: holding clients' commands, all of them or those that may
//! write, until a deadline or CLIENT UNPAUSE. A held client is not refused:
//! its connection waits (see `Connection::wait_unpaused`) and then runs the
//! command from the start, as Redis postpones it.
//!
//! A slot migration's hand-over holds the writes of the slots it moves
//! the same way, while every other command goes on.
//!
//! Writes, and the removal of expired keys, are held in the storage
//! ([`crate::storage::WriteGate`]): the pause answers once the writes
//! admitted before it are written, so nothing changes the data after it.

use crate::storage::Storage;
use parking_lot::Mutex;
use redrock_cluster::SlotRange;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
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

/// What is held: a CLIENT PAUSE (possibly past its deadline) and the
/// slots of a migration's hand-over.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Held {
    pause: Option<Pause>,
    slots: Option<SlotRange>,
}

/// How often a client held by a hand-over looks again, in case a wake-up
/// was missed; the hand-over's end wakes it at once.
const SLOT_HOLD_RECHECK: Duration = Duration::from_secs(1);

/// The server's pause state and the clients waiting on it.
pub struct ClientPause {
    storage: Arc<Storage>,
    /// What is held; its changes wake the waiting clients.
    state: watch::Sender<Held>,
    /// Whether a hold may stand: one atomic read per command while none
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
            state: watch::channel(Held::default()).0,
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
            if let Some(old) = state.pause.filter(|old| Instant::now() < old.until) {
                pause.mode = pause.mode.max(old.mode);
                pause.until = pause.until.max(old.until);
            }
            state.pause = Some(pause);
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
            state.pause = None;
            self.active.store(state.slots.is_some(), Ordering::SeqCst);
        });
    }

    /// A migration's hand-over: holds the commands that may write keys of
    /// `slots` until [`Self::release_slots`]. Returns once the writes
    /// admitted before are written, false if one of them is stuck.
    pub fn hold_slots(&self, slots: SlotRange) -> bool {
        let _changing = self.changing.lock();
        self.state.send_modify(|state| {
            state.slots = Some(slots);
            self.active.store(true, Ordering::SeqCst);
        });
        self.storage.hold_slot_writes(slots)
    }

    /// Ends the hold of [`Self::hold_slots`]; the waiting clients go on.
    pub fn release_slots(&self) {
        let _changing = self.changing.lock();
        self.storage.release_slot_writes();
        self.state.send_modify(|state| {
            state.slots = None;
            self.active.store(state.pause.is_some(), Ordering::SeqCst);
        });
    }

    /// Whether a migration's hand-over holds the writes of `slot` now.
    pub fn hands_over(&self, slot: u16) -> bool {
        self.active.load(Ordering::SeqCst)
            && self
                .state
                .borrow()
                .slots
                .is_some_and(|(a, b)| (a..=b).contains(&slot))
    }

    /// Until when a hold keeps a command, if one does now: `may_write`
    /// says whether it may write, `slot` which slot its keys are in
    /// (`None`: no keys, or not in cluster mode).
    pub fn holding(&self, may_write: bool, slot: Option<u16>) -> Option<Instant> {
        if !self.active.load(Ordering::SeqCst) {
            return None;
        }
        let held = *self.state.borrow();
        let paused = match held.pause {
            Some(pause) if Instant::now() < pause.until => {
                let holds = pause.mode == PauseMode::All || may_write;
                holds.then_some(pause.until)
            }
            Some(_) => {
                self.forget_ended();
                None
            }
            None => None,
        };
        let slot_held = held
            .slots
            .filter(|&(a, b)| may_write && slot.is_none_or(|slot| (a..=b).contains(&slot)))
            .map(|_| Instant::now() + SLOT_HOLD_RECHECK);
        paused.max(slot_held)
    }

    /// Clears a pause whose deadline has passed, so commands stop looking
    /// at it; under the state's lock, so a pause set meanwhile stays.
    fn forget_ended(&self) {
        self.state.send_if_modified(|state| {
            if state
                .pause
                .is_some_and(|pause| Instant::now() < pause.until)
            {
                return false;
            }
            state.pause = None;
            self.active.store(state.slots.is_some(), Ordering::SeqCst);
            // The waiting clients wake at the deadline by themselves.
            false
        });
    }

    /// A receiver that wakes when the holds change (UNPAUSE, a new PAUSE,
    /// a hand-over's end).
    pub fn changes(&self) -> watch::Receiver<Held> {
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

/// A command a hold keeps: its connection waits, then runs it again.
#[derive(Clone, Copy, Debug)]
pub struct Postponed {
    /// Whether the command may write (a WRITE pause holds it too).
    pub may_write: bool,
    /// The slot of its keys (see [`ClientPause::holding`]).
    pub slot: Option<u16>,
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
        assert_eq!(pause.holding(true, None), None);
        // WRITE holds writes only, and the storage's writers.
        let until = later(60_000);
        pause.pause(PauseMode::Write, until);
        assert_eq!(pause.holding(false, None), None);
        assert_eq!(pause.holding(true, None), Some(until));
        assert!(storage.admit_write(None).is_none());
        // A shorter ALL: ALL, until the later deadline.
        pause.pause(PauseMode::All, later(10));
        assert_eq!(pause.holding(false, None), Some(until));
        // A WRITE after an ALL still standing leaves ALL.
        pause.pause(PauseMode::Write, later(10));
        assert_eq!(pause.holding(false, None), Some(until));
        pause.unpause();
        assert_eq!(pause.holding(true, None), None);
        assert!(storage.admit_write(None).is_some());
        // A pause past its deadline holds nothing, and a new one replaces
        // it whole.
        pause.pause(PauseMode::All, Instant::now());
        assert_eq!(pause.holding(false, None), None);
        assert!(storage.admit_write(None).is_some());
        let until = later(60_000);
        pause.pause(PauseMode::Write, until);
        assert_eq!(pause.holding(false, None), None);
        assert_eq!(pause.holding(true, None), Some(until));
        pause.unpause();
    }

    #[test]
    fn a_hand_over_holds_writes_of_its_slots_only() {
        let (_dir, storage) = storage();
        let pause = ClientPause::new(storage.clone());
        assert!(pause.hold_slots((100, 200)));
        assert!(pause.holding(true, Some(150)).is_some());
        assert!(
            pause.holding(true, None).is_some(),
            "a write of no known slot"
        );
        assert_eq!(pause.holding(false, Some(150)), None, "reads go on");
        assert_eq!(pause.holding(true, Some(201)), None, "other slots go on");
        assert!(storage.admit_write(Some(100)).is_none());
        assert!(storage.admit_write(Some(99)).is_some());
        // CLIENT UNPAUSE does not end a hand-over.
        pause.pause(PauseMode::Write, later(60_000));
        pause.unpause();
        assert!(pause.holding(true, Some(150)).is_some());
        assert!(storage.admit_write(Some(150)).is_none());
        assert!(pause.hands_over(200) && !pause.hands_over(201));
        pause.release_slots();
        assert!(!pause.hands_over(150));
        assert_eq!(pause.holding(true, Some(150)), None);
        assert!(storage.admit_write(Some(150)).is_some());
    }
}
