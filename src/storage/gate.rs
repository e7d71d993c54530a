//! Holding writes: every writer is admitted before it writes and counted
//! until its writes are written, so a hold can wait for the writers
//! admitted before it; from then on nothing changes the data it holds
//! (client writes, the removal of expired keys) until the hold ends.
//!
//! Two holds: CLIENT PAUSE holds every write; a slot migration's hand-over
//! holds the writes of the slots it moves, while the other slots' writers
//! go on. Writers are counted in two generations so the latter can wait
//! for the writers admitted before it while new ones keep coming.
//!
//! Admission is one atomic add while no hold stands. A writer never waits
//! here: refused, it decides how to wait (a client connection waits for
//! the pause to end, expiry leaves the key for later).

use parking_lot::{Condvar, Mutex};
use redrock_cluster::SlotRange;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a hold waits for the writers admitted before it. They write
/// without awaiting anything, so this is only reached if one is stuck.
const DRAIN_LIMIT: Duration = Duration::from_secs(10);

/// What is held.
#[derive(Default)]
struct Holds {
    /// Every write, until then (CLIENT PAUSE).
    until: Option<Instant>,
    /// The writes of these slots (a migration's hand-over), until released.
    slots: Option<SlotRange>,
}

impl Holds {
    /// Whether a writer of `slot` (`None`: any key) is refused now.
    fn refuse(&self, slot: Option<u16>) -> bool {
        self.until.is_some_and(|until| Instant::now() < until)
            || self
                .slots
                .is_some_and(|(a, b)| slot.is_none_or(|slot| (a..=b).contains(&slot)))
    }
}

/// Writers admitted and not yet done, and the holds on new ones.
#[derive(Default)]
pub struct WriteGate {
    /// Writers admitted and not done, by generation (see [`Self::generation`]).
    writers: [AtomicUsize; 2],
    /// The generation new writers are counted in; a slot hold moves it on
    /// and waits for the writers of the one before.
    generation: AtomicUsize,
    /// Whether a hold may stand: one atomic read per admission while none
    /// does.
    held: AtomicBool,
    holds: Mutex<Holds>,
    /// Wakes a hold waiting for the writers admitted before it.
    drained: Condvar,
}

/// A writer's admission: it may write until this is dropped, which must
/// be once its writes are written, and never across an await.
pub struct WriteAdmission {
    gate: Arc<WriteGate>,
    generation: usize,
}

impl Drop for WriteAdmission {
    fn drop(&mut self) {
        self.gate.writers[self.generation].fetch_sub(1, Ordering::SeqCst);
        if self.gate.held.load(Ordering::SeqCst) {
            // Under the lock: a hold checks the count and sleeps under it.
            let _holds = self.gate.holds.lock();
            self.gate.drained.notify_all();
        }
    }
}

impl WriteGate {
    /// Admits a writer of keys of `slot` (`None`: of any key), or `None`
    /// while a hold covers it.
    pub fn admit(self: &Arc<Self>, slot: Option<u16>) -> Option<WriteAdmission> {
        // Counted before the holds are checked, and a hold is set before it
        // counts the writers: either this sees the hold or the hold waits
        // for this writer.
        let generation = self.generation.load(Ordering::SeqCst) & 1;
        self.writers[generation].fetch_add(1, Ordering::SeqCst);
        let admission = WriteAdmission {
            gate: self.clone(),
            generation,
        };
        if self.held.load(Ordering::SeqCst) && self.refuses(slot) {
            return None;
        }
        Some(admission)
    }

    /// Whether a hold covers a writer of `slot` now; forgets a CLIENT
    /// PAUSE hold past its deadline, so admissions stop looking.
    fn refuses(&self, slot: Option<u16>) -> bool {
        let mut holds = self.holds.lock();
        if holds.until.is_some_and(|until| until <= Instant::now()) {
            holds.until = None;
            self.held.store(holds.slots.is_some(), Ordering::SeqCst);
        }
        holds.refuse(slot)
    }

    /// Holds every write until `until`, once the writers admitted before
    /// are done; or ends that hold (`None`).
    pub fn hold(&self, until: Option<Instant>) {
        let mut holds = self.holds.lock();
        holds.until = until;
        self.held
            .store(until.is_some() || holds.slots.is_some(), Ordering::SeqCst);
        if let Some(until) = until {
            // New writers are all refused: both generations drain.
            self.drain(&mut holds, &[0, 1], until);
        }
    }

    /// Holds the writes of `slots` until [`Self::release_slots`], while
    /// other writers go on; returns once the writers admitted before are
    /// done, false if one of them is stuck.
    pub fn hold_slots(&self, slots: SlotRange) -> bool {
        let mut holds = self.holds.lock();
        holds.slots = Some(slots);
        self.held.store(true, Ordering::SeqCst);
        // Writers admitted from now on count in the next generation; those
        // of this one were admitted before the hold (or refused by it).
        let before = self.generation.fetch_add(1, Ordering::SeqCst) & 1;
        self.drain(&mut holds, &[before], Instant::now() + DRAIN_LIMIT)
    }

    /// Ends the hold of [`Self::hold_slots`].
    pub fn release_slots(&self) {
        let mut holds = self.holds.lock();
        holds.slots = None;
        self.held.store(holds.until.is_some(), Ordering::SeqCst);
    }

    /// Waits until the writers of `generations` are done (true), or
    /// `until` or a writer stuck for [`DRAIN_LIMIT`] (false).
    fn drain(
        &self,
        holds: &mut parking_lot::MutexGuard<'_, Holds>,
        generations: &[usize],
        until: Instant,
    ) -> bool {
        let limit = Instant::now() + DRAIN_LIMIT;
        let admitted = || -> usize {
            generations
                .iter()
                .map(|&g| self.writers[g].load(Ordering::SeqCst))
                .sum()
        };
        while admitted() > 0 {
            // A hold that ends first need not wait (and once it has ended,
            // finishing writers no longer wake it).
            if self.drained.wait_until(holds, until.min(limit)).timed_out() {
                if limit <= until {
                    tracing::error!(
                        "writes admitted before a hold are still not written after {} s; \
                         the hold starts without them",
                        DRAIN_LIMIT.as_secs()
                    );
                }
                return false;
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `hold` on a thread and returns once it is set (a hold is set
    /// at once, then waits for the writers admitted before it).
    fn hold_in_thread(
        gate: &Arc<WriteGate>,
        hold: impl FnOnce(&WriteGate) + Send + 'static,
    ) -> std::thread::JoinHandle<()> {
        let set = |holds: &Holds| (holds.until.is_some(), holds.slots.is_some());
        let before = set(&gate.holds.lock());
        let holder = {
            let gate = gate.clone();
            std::thread::spawn(move || hold(&gate))
        };
        while set(&gate.holds.lock()) == before {
            std::thread::yield_now();
        }
        holder
    }

    #[test]
    fn a_hold_refuses_new_writers_and_waits_for_admitted_ones() {
        let gate = Arc::new(WriteGate::default());
        let admitted = gate.admit(Some(1)).expect("no hold yet");
        let holder = hold_in_thread(&gate, |gate| {
            gate.hold(Some(Instant::now() + Duration::from_secs(60)))
        });
        assert!(gate.admit(None).is_none(), "a new writer is refused");
        assert!(gate.admit(Some(7)).is_none(), "of any slot");
        assert!(
            !holder.is_finished(),
            "the hold waits for the admitted writer"
        );
        drop(admitted);
        holder.join().unwrap();
        assert!(gate.admit(None).is_none());
        gate.hold(None);
        assert!(gate.admit(None).is_some());
    }

    #[test]
    fn a_hold_ends_at_its_deadline() {
        let gate = Arc::new(WriteGate::default());
        gate.hold(Some(Instant::now()));
        assert!(gate.admit(None).is_some());
        assert!(!gate.held.load(Ordering::SeqCst), "admissions stop looking");
    }

    #[test]
    fn a_slot_hold_refuses_its_slots_only_and_waits_for_writers_admitted_before() {
        let gate = Arc::new(WriteGate::default());
        let before = gate.admit(Some(9000)).expect("no hold yet");
        let holder = hold_in_thread(&gate, |gate| assert!(gate.hold_slots((10, 20))));
        assert!(gate.admit(Some(10)).is_none(), "a held slot is refused");
        assert!(gate.admit(Some(20)).is_none());
        assert!(gate.admit(None).is_none(), "so is a writer of any key");
        // Other slots go on, and the hold does not wait for them.
        let during = gate.admit(Some(21)).expect("another slot");
        assert!(gate.admit(Some(9)).is_some());
        assert!(
            !holder.is_finished(),
            "the hold waits for the writer before"
        );
        drop(before);
        holder.join().unwrap();
        assert!(gate.admit(Some(15)).is_none());
        // CLIENT PAUSE over it waits for every writer; its end leaves the
        // slot hold standing.
        let pause = hold_in_thread(&gate, |gate| {
            gate.hold(Some(Instant::now() + Duration::from_secs(60)))
        });
        assert!(gate.admit(Some(21)).is_none());
        drop(during);
        pause.join().unwrap();
        gate.hold(None);
        assert!(gate.admit(Some(21)).is_some());
        assert!(gate.admit(Some(15)).is_none());
        gate.release_slots();
        assert!(gate.admit(Some(15)).is_some());
        assert!(!gate.held.load(Ordering::SeqCst));
    }

    #[test]
    fn a_slot_hold_reports_a_stuck_writer() {
        let gate = Arc::new(WriteGate::default());
        let _stuck = gate.admit(Some(1)).expect("no hold yet");
        let mut holds = gate.holds.lock();
        let generation = gate.generation.fetch_add(1, Ordering::SeqCst) & 1;
        assert!(!gate.drain(&mut holds, &[generation], Instant::now()));
    }
}
