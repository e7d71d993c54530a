//! Holding writes (CLIENT PAUSE): every writer is admitted before it
//! writes and counted until its writes are written, so a hold can wait for
//! the writers admitted before it; from then on nothing changes the data
//! (client writes, the removal of expired keys) until the hold ends.
//!
//! Admission is one atomic add while no hold stands. A writer never waits
//! here: refused, it decides how to wait (a client connection waits for
//! the pause to end, expiry leaves the key for later).

use parking_lot::{Condvar, Mutex};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a hold waits for the writers admitted before it. They write
/// without awaiting anything, so this is only reached if one is stuck.
const DRAIN_LIMIT: Duration = Duration::from_secs(10);

/// Writers admitted and not yet done, and the hold on new ones.
#[derive(Default)]
pub struct WriteGate {
    writers: AtomicUsize,
    /// Whether a hold may stand (`until` says until when): one atomic read
    /// per admission while none does.
    held: AtomicBool,
    until: Mutex<Option<Instant>>,
    /// Wakes a hold waiting for the writers admitted before it.
    drained: Condvar,
}

/// A writer's admission: it may write until this is dropped, which must
/// be once its writes are written, and never across an await.
pub struct WriteAdmission {
    gate: Arc<WriteGate>,
}

impl Drop for WriteAdmission {
    fn drop(&mut self) {
        self.gate.writers.fetch_sub(1, Ordering::SeqCst);
        if self.gate.held.load(Ordering::SeqCst) {
            // Under the lock: a hold checks the count and sleeps under it.
            let _until = self.gate.until.lock();
            self.gate.drained.notify_all();
        }
    }
}

impl WriteGate {
    /// Admits a writer, or `None` while a hold stands.
    pub fn admit(self: &Arc<Self>) -> Option<WriteAdmission> {
        // Counted before the hold is checked, and a hold is set before it
        // counts the writers: either this sees the hold or the hold waits
        // for this writer.
        self.writers.fetch_add(1, Ordering::SeqCst);
        let admission = WriteAdmission { gate: self.clone() };
        if self.held.load(Ordering::SeqCst) && self.held_until().is_some() {
            return None;
        }
        Some(admission)
    }

    /// Until when writes are held, if they are now.
    pub fn held_until(&self) -> Option<Instant> {
        if !self.held.load(Ordering::SeqCst) {
            return None;
        }
        let until = self.until.lock();
        match *until {
            Some(until) if Instant::now() < until => Some(until),
            _ => {
                // Past its deadline: admissions stop looking (a new hold
                // sets the flag again under the same lock).
                self.held.store(false, Ordering::SeqCst);
                None
            }
        }
    }

    /// Holds writes until `until`, once the writers admitted before are
    /// done; or ends the hold (`None`).
    pub fn hold(&self, until: Option<Instant>) {
        let mut held = self.until.lock();
        *held = until;
        self.held.store(until.is_some(), Ordering::SeqCst);
        let Some(until) = until else {
            return;
        };
        let limit = Instant::now() + DRAIN_LIMIT;
        while self.writers.load(Ordering::SeqCst) > 0 {
            // A hold that ends first need not wait (and once it has ended,
            // finishing writers no longer wake it).
            if self
                .drained
                .wait_until(&mut held, until.min(limit))
                .timed_out()
            {
                if limit <= until {
                    tracing::error!(
                        "writes admitted before CLIENT PAUSE are still not written after {} s; \
                         the pause starts without them",
                        DRAIN_LIMIT.as_secs()
                    );
                }
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hold_refuses_new_writers_and_waits_for_admitted_ones() {
        let gate = Arc::new(WriteGate::default());
        let admitted = gate.admit().expect("no hold yet");
        let holder = {
            let gate = gate.clone();
            std::thread::spawn(move || gate.hold(Some(Instant::now() + Duration::from_secs(60))))
        };
        // The hold is set at once, then waits for the admitted writer.
        while gate.held_until().is_none() {
            std::thread::yield_now();
        }
        assert!(gate.admit().is_none(), "a new writer is refused");
        assert!(
            !holder.is_finished(),
            "the hold waits for the admitted writer"
        );
        drop(admitted);
        holder.join().unwrap();
        assert!(gate.admit().is_none());
        gate.hold(None);
        assert!(gate.held_until().is_none());
        assert!(gate.admit().is_some());
    }

    #[test]
    fn a_hold_ends_at_its_deadline() {
        let gate = Arc::new(WriteGate::default());
        gate.hold(Some(Instant::now()));
        assert!(gate.held_until().is_none());
        assert!(gate.admit().is_some());
    }
}
