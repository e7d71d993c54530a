//! Online slot migration (cluster mode), as Kvrocks's controller drives
//! it: `CLUSTERX MIGRATE <slots> <node>` on the source copies a snapshot
//! of the slots to the destination, replays the WAL written since in
//! catch-up rounds, holds writes for the short last round, and hands the
//! slots over (`CLUSTER IMPORT <slots> 1`). The source then answers MOVED
//! for them and the destination serves them, until the controller's new
//! topology (`CLUSTERX SETSLOT ... NODE <dst> <version>`) makes it so and
//! the source drops their keys.
//!
//! Only one node ever accepts writes for a slot: the source stops (writes
//! held) before the destination starts, and both remember the hand-over
//! across a restart until the topology catches up.

mod flush;
pub mod import;
pub mod source;

use crate::metrics::Tally;
use crate::storage::{SlotSpan, Storage};
use parking_lot::Mutex;
use redrock_cluster::{slot_range_text, SlotRange};
use redrock_encoding::Keyspace;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The file of the data directory that remembers hand-overs the topology
/// does not show yet.
const MOVES_FILE: &str = "cluster.moves";

/// How a migration or an import stands, as CLUSTER INFO shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MoveState {
    Start,
    Success,
    Fail,
}

impl MoveState {
    /// Kvrocks's words: `migrating_state` says fail, `import_state` error.
    pub fn name(self, import: bool) -> &'static str {
        match (self, import) {
            (MoveState::Start, _) => "start",
            (MoveState::Success, _) => "success",
            (MoveState::Fail, false) => "fail",
            (MoveState::Fail, true) => "error",
        }
    }
}

/// The last migration this node started, and how it stands.
#[derive(Clone, Debug)]
pub struct Migrating {
    pub slots: SlotRange,
    pub destination: String,
    pub state: MoveState,
    /// What was copied so far.
    pub keys: u64,
    pub bytes: u64,
}

/// The last import into this node, and how it stands.
#[derive(Clone, Debug)]
pub struct Importing {
    pub slots: SlotRange,
    pub state: MoveState,
}

/// Slots handed to another node, which the topology does not show yet.
struct HandedOver {
    slots: SlotRange,
    /// Where clients are sent (MOVED).
    address: String,
    /// The destination's id.
    destination: String,
}

#[derive(Default)]
struct State {
    migrating: Option<Migrating>,
    importing: Option<Importing>,
    /// Slots handed to another node: answered with MOVED to its address.
    migrated: Vec<HandedOver>,
    /// A hand-over asked of the destination whose answer is not known:
    /// it may have taken the slots or not (see `source::settle_hand_over`).
    handing: Option<HandedOver>,
    /// Slots handed to this node: served here.
    imported: Vec<SlotRange>,
}

/// What one side of the moves (migrations from this node, or imports
/// into it) counted since the server started, for /metrics.
#[derive(Default)]
pub struct MoveTotals {
    pub keys: Tally,
    pub bytes: Tally,
    pub succeeded: Tally,
    pub failed: Tally,
}

/// The slots moving to or from this node.
pub struct Moves {
    state: Mutex<State>,
    path: PathBuf,
    /// Migrations' keys are those of the snapshots they copied.
    pub sent: MoveTotals,
    /// Imports' keys are those they created here.
    pub received: MoveTotals,
}

/// The keys of `slots` in cluster mode's only keyspace.
pub fn span(slots: SlotRange) -> SlotSpan {
    SlotSpan {
        keyspace: Keyspace::database(0),
        slots: slots.0..=slots.1,
    }
}

fn overlaps(a: SlotRange, b: SlotRange) -> bool {
    a.0 <= b.1 && b.0 <= a.1
}

fn contains(range: SlotRange, slot: u16) -> bool {
    (range.0..=range.1).contains(&slot)
}

impl Moves {
    /// Loads the hand-overs saved in the data directory.
    pub fn load(data_dir: &Path) -> std::result::Result<Moves, String> {
        let path = data_dir.join(MOVES_FILE);
        let mut state = State::default();
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                for line in text.lines() {
                    let words: Vec<&str> = line.split_whitespace().collect();
                    let range = words
                        .get(1)
                        .and_then(|w| redrock_cluster::parse_slot_range(w));
                    match (words.first(), range, words.get(2)) {
                        (Some(&"migrated"), Some(range), Some(addr)) if words.len() == 4 => {
                            state.migrated.push(HandedOver {
                                slots: range,
                                address: addr.to_string(),
                                destination: words[3].to_string(),
                            })
                        }
                        (Some(&"handing"), Some(range), Some(addr)) if words.len() == 4 => {
                            state.handing = Some(HandedOver {
                                slots: range,
                                address: addr.to_string(),
                                destination: words[3].to_string(),
                            })
                        }
                        (Some(&"imported"), Some(range), None) => state.imported.push(range),
                        // An import cut short by a restart: it failed.
                        (Some(&"importing"), Some(range), None) => {
                            state.importing = Some(Importing {
                                slots: range,
                                state: MoveState::Fail,
                            })
                        }
                        _ => return Err(format!("{}: cannot read `{line}`", path.display())),
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        }
        // CLUSTER INFO shows the last hand-over after a restart too, so a
        // controller finishes it, and a source that asks how an import it
        // lost track of ended is told.
        let pending = state.handing.as_ref().map(|h| (h, MoveState::Start));
        let done = state.migrated.last().map(|h| (h, MoveState::Success));
        state.migrating = pending.or(done).map(|(handed, state)| Migrating {
            slots: handed.slots,
            destination: handed.destination.clone(),
            state,
            keys: 0,
            bytes: 0,
        });
        if state.importing.is_none() {
            state.importing = state.imported.last().map(|&slots| Importing {
                slots,
                state: MoveState::Success,
            });
        }
        Ok(Moves {
            state: Mutex::new(state),
            path,
            sent: MoveTotals::default(),
            received: MoveTotals::default(),
        })
    }

    /// Writes the hand-overs beside, synced, then renamed over the old.
    fn save(&self, state: &State) -> std::io::Result<()> {
        let mut text = String::new();
        // Ranges as parse_slot_range reads them back: one slot is `n`.
        for handed in &state.migrated {
            text.push_str(&format!(
                "migrated {} {} {}\n",
                slot_range_text(handed.slots),
                handed.address,
                handed.destination
            ));
        }
        if let Some(handing) = &state.handing {
            text.push_str(&format!(
                "handing {} {} {}\n",
                slot_range_text(handing.slots),
                handing.address,
                handing.destination
            ));
        }
        for range in &state.imported {
            text.push_str(&format!("imported {}\n", slot_range_text(*range)));
        }
        if let Some(importing) = state
            .importing
            .as_ref()
            .filter(|i| i.state == MoveState::Start)
        {
            text.push_str(&format!("importing {}\n", slot_range_text(importing.slots)));
        }
        let temporary = self.path.with_extension("tmp");
        std::fs::write(&temporary, text)?;
        std::fs::File::open(&temporary)?.sync_all()?;
        std::fs::rename(&temporary, &self.path)?;
        if let Some(dir) = self.path.parent() {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    }

    /// Where a slot went, if this node handed it over.
    pub fn moved_to(&self, slot: u16) -> Option<String> {
        let state = self.state.lock();
        state
            .migrated
            .iter()
            .find(|handed| contains(handed.slots, slot))
            .map(|handed| handed.address.clone())
    }

    /// Whether a slot was handed to this node.
    pub fn imported(&self, slot: u16) -> bool {
        let state = self.state.lock();
        state.imported.iter().any(|range| contains(*range, slot))
    }

    pub fn migrating(&self) -> Option<Migrating> {
        self.state.lock().migrating.clone()
    }

    pub fn importing(&self) -> Option<Importing> {
        self.state.lock().importing.clone()
    }

    /// Starts a migration of `slots`, unless one runs or they were
    /// handed over already.
    pub fn begin_migration(&self, slots: SlotRange, destination: &str) -> Result<(), String> {
        let mut state = self.state.lock();
        if state
            .migrating
            .as_ref()
            .is_some_and(|m| m.state == MoveState::Start)
        {
            return Err("There is already a migrating job".into());
        }
        if state.migrated.iter().any(|h| overlaps(h.slots, slots)) {
            return Err("Can't migrate slots that were migrated already".into());
        }
        state.migrating = Some(Migrating {
            slots,
            destination: destination.to_string(),
            state: MoveState::Start,
            keys: 0,
            bytes: 0,
        });
        Ok(())
    }

    /// Counts what a running migration copied.
    pub fn copied(&self, keys: u64, bytes: u64) {
        if let Some(m) = self.state.lock().migrating.as_mut() {
            m.keys += keys;
            m.bytes += bytes;
            self.sent.keys.add(keys);
            self.sent.bytes.add(bytes);
        }
    }

    /// The running migration asks the destination at `address` to take
    /// its slots: saved first, so that a restart before the answer does
    /// not serve them again before the destination is asked how it ended.
    pub fn begin_hand_over(&self, address: &str) -> std::io::Result<()> {
        let mut state = self.state.lock();
        let Some(migrating) = &state.migrating else {
            return Ok(());
        };
        state.handing = Some(HandedOver {
            slots: migrating.slots,
            address: address.to_string(),
            destination: migrating.destination.clone(),
        });
        self.save(&state)
    }

    /// The hand-over a restart cut short: the slots and the destination's
    /// address.
    pub fn pending_hand_over(&self) -> Option<(SlotRange, String)> {
        let state = self.state.lock();
        let handing = state.handing.as_ref()?;
        Some((handing.slots, handing.address.clone()))
    }

    /// The destination took the slots: they are answered with MOVED to it
    /// from now on.
    pub fn hand_over(&self) -> std::io::Result<()> {
        let mut guard = self.state.lock();
        let state = &mut *guard;
        let (Some(migrating), Some(handed)) = (state.migrating.as_mut(), state.handing.take())
        else {
            return Ok(());
        };
        migrating.state = MoveState::Success;
        self.sent.succeeded.add(1);
        state.migrated.push(handed);
        self.save(state)
    }

    /// The running migration failed (a no-op once it succeeded).
    pub fn fail_migration(&self) {
        let mut state = self.state.lock();
        if let Some(m) = state.migrating.as_mut() {
            if m.state == MoveState::Start {
                m.state = MoveState::Fail;
                self.sent.failed.add(1);
            }
        }
        if state.handing.take().is_some() {
            if let Err(e) = self.save(&state) {
                // Harmless: after a restart the destination is asked again.
                tracing::warn!("cannot save the failed hand-over: {e}");
            }
        }
    }

    /// Starts an import of `slots` (which the caller then clears); saved,
    /// so that a restart before it ends drops what it brought.
    pub fn begin_import(&self, slots: SlotRange) -> Result<(), String> {
        let mut state = self.state.lock();
        if let Some(importing) = &state.importing {
            if importing.state == MoveState::Start {
                return Err("There is already an importing job".into());
            }
        }
        state.importing = Some(Importing {
            slots,
            state: MoveState::Start,
        });
        self.save(&state)
            .map_err(|e| format!("cannot save the import: {e}"))
    }

    /// The slots of an import a restart cut short, whose keys must go.
    pub fn interrupted_import(&self) -> Option<SlotRange> {
        let state = self.state.lock();
        state
            .importing
            .as_ref()
            .filter(|i| i.state == MoveState::Fail)
            .map(|i| i.slots)
    }

    /// Ends the running import of `slots`; on success this node serves
    /// them from now on.
    pub fn end_import(&self, slots: SlotRange, success: bool) -> std::io::Result<bool> {
        let mut state = self.state.lock();
        match state.importing.as_mut() {
            Some(importing) if importing.slots == slots && importing.state == MoveState::Start => {
                if success {
                    importing.state = MoveState::Success;
                    state.imported.push(slots);
                    self.received.succeeded.add(1);
                } else {
                    importing.state = MoveState::Fail;
                    self.received.failed.add(1);
                }
                self.save(&state)?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// A new topology took over: hand-overs are forgotten (the topology
    /// now says who serves those slots). Returns the slots handed away,
    /// whose keys the caller drops if this node does not serve them.
    pub fn topology_changed(&self) -> std::io::Result<Vec<SlotRange>> {
        let mut state = self.state.lock();
        let migrated = std::mem::take(&mut state.migrated);
        state.imported.clear();
        if state
            .migrating
            .as_ref()
            .is_some_and(|m| m.state != MoveState::Start)
        {
            state.migrating = None;
        }
        if state
            .importing
            .as_ref()
            .is_some_and(|i| i.state != MoveState::Start)
        {
            state.importing = None;
        }
        self.save(&state)?;
        Ok(migrated.into_iter().map(|handed| handed.slots).collect())
    }
}

/// Drops the keys of slots this node no longer serves (after a
/// migration, or a failed import).
pub fn drop_slots(storage: &Arc<Storage>, slots: SlotRange) {
    if let Err(e) = storage.drop_slots(&span(slots)) {
        tracing::error!(
            "cannot drop the keys of slots {}-{}: {}",
            slots.0,
            slots.1,
            e.0
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a restart finds: a hand-over whose answer was lost is still
    /// asked about (the migration shows start), and an import that
    /// succeeded still says so to a source that asks.
    #[test]
    fn unsettled_hand_overs_and_finished_imports_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let moves = Moves::load(dir.path()).unwrap();
        moves.begin_migration((0, 100), "dst").unwrap();
        moves.begin_hand_over("127.0.0.1:7000").unwrap();
        moves.begin_import((200, 300)).unwrap();
        moves.end_import((200, 300), true).unwrap();

        let again = Moves::load(dir.path()).unwrap();
        assert_eq!(
            again.pending_hand_over(),
            Some(((0, 100), "127.0.0.1:7000".to_string()))
        );
        let migrating = again.migrating().unwrap();
        assert_eq!(
            (migrating.slots, migrating.state),
            ((0, 100), MoveState::Start)
        );
        let importing = again.importing().unwrap();
        assert_eq!(
            (importing.slots, importing.state),
            ((200, 300), MoveState::Success)
        );
        assert_eq!(
            again.moved_to(50),
            None,
            "not handed over before it is known"
        );

        again.hand_over().unwrap();
        let settled = Moves::load(dir.path()).unwrap();
        assert_eq!(settled.pending_hand_over(), None);
        assert_eq!(settled.moved_to(50).as_deref(), Some("127.0.0.1:7000"));
    }
}
