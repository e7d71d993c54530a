//! Master -> replica replication over the RocksDB WAL (DESIGN.md 4b).
//!
//! A replica sends `PSYNC <replid> <next sequence>`. When the master's WAL
//! still holds that sequence and the history matches (the replication ids
//! below), it answers `+CONTINUE` and streams every write batch from there
//! as it is written ([`master`]); the replica applies each batch as it is,
//! so its data and sequence numbers are the master's ([`replica`]).
//! Otherwise the master answers `+FULLRESYNC` and streams a checkpoint of
//! its database file by file; the replica swaps it in whole and asks again.
//! Offsets are sequence numbers throughout: INFO, ROLE, WAIT.
//!
//! Replication ids work as Redis's do: a history is named by a random id;
//! a promoted replica starts a new one and remembers the old one and where
//! it ended, so the other replicas of the old master continue from it,
//! while a node whose data went past that point (the old master, back
//! after a failover) must sync in full.

pub mod failover;
pub mod master;
pub mod replica;
pub mod write_times;

use crate::metrics::Tally;
use crate::server::random_id;
use parking_lot::Mutex;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use write_times::WriteTimes;

/// The file of the data directory that keeps the replication ids.
const IDS_FILE: &str = "replication.ids";
/// The name of the checkpoints a master makes for full syncs, in the data
/// directory, each followed by a replica id and a time.
const CHECKPOINT_PREFIX: &str = "replication-checkpoint-";

/// The replication state of this node.
pub struct Replication {
    state: Mutex<State>,
    ids_path: PathBuf,
    /// Woken when a replica acknowledges an offset (WAIT, FAILOVER).
    pub acknowledged: tokio::sync::Notify,
    /// Woken when a FAILOVER is aborted.
    pub failover_changed: tokio::sync::Notify,
    /// As a master: full syncs served (and those that failed), partial
    /// resyncs accepted and refused.
    pub sync_full: Tally,
    pub sync_full_failed: Tally,
    pub sync_partial_ok: Tally,
    pub sync_partial_err: Tally,
    /// As a replica: full syncs received from the master (and those that
    /// failed).
    pub sync_full_received: Tally,
    pub sync_full_received_failed: Tally,
    /// When this node's writes happened, for the replicas' lag in seconds.
    pub write_times: WriteTimes,
    /// Replica ids handed out to feeds.
    next_replica: AtomicU64,
    /// Whether this run synced in full from a master: its data, even empty,
    /// then has that master's history.
    adopted: AtomicBool,
    /// Bumped when this node's data starts another history (a full sync
    /// from a new master): the replicas it feeds must sync again.
    history: tokio::sync::watch::Sender<u64>,
}

/// The history this node's data belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ids {
    pub replid: String,
    /// The history before the last promotion, valid up to `second_offset`
    /// (the first sequence number of the new one); -1: none.
    pub replid2: String,
    pub second_offset: i64,
}

struct State {
    ids: Ids,
    failover: FailoverState,
    /// `Some` on a replica: its master and its link.
    master: Option<MasterLink>,
    /// The replicas fed by this node.
    replicas: Vec<ReplicaEntry>,
}

/// A replica's view of its link to its master.
pub struct MasterLink {
    pub host: String,
    pub port: u16,
    pub status: LinkStatus,
    /// When something last came from the master.
    pub last_io: Instant,
    /// When the link went down (or since the replica started trying).
    pub down_since: Instant,
    /// Bytes of the full sync under way received so far.
    pub sync_read_bytes: u64,
    /// Stops the link task when the master changes.
    task: Option<tokio::task::JoinHandle<()>>,
}

/// Where a replica's link stands, as ROLE names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkStatus {
    Connect,
    Connecting,
    Sync,
    Connected,
}

impl LinkStatus {
    pub fn name(self) -> &'static str {
        match self {
            LinkStatus::Connect => "connect",
            LinkStatus::Connecting => "connecting",
            LinkStatus::Sync => "sync",
            LinkStatus::Connected => "connected",
        }
    }
}

/// Where a FAILOVER stands, as INFO's `master_failover_state` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailoverState {
    None,
    /// Writes are paused until a replica has every one of them.
    WaitingForSync,
    /// This node connects to the replica as its replica, asking it to
    /// take over (`PSYNC ... FAILOVER`).
    InProgress,
}

impl FailoverState {
    pub fn name(self) -> &'static str {
        match self {
            FailoverState::None => "no-failover",
            FailoverState::WaitingForSync => "waiting-for-sync",
            FailoverState::InProgress => "failover-in-progress",
        }
    }
}

/// A replica as its master sees it.
#[derive(Clone, Debug)]
pub struct ReplicaEntry {
    pub id: u64,
    pub ip: String,
    pub port: u16,
    /// `wait_bgsave` during a full sync, then `online`.
    pub state: &'static str,
    /// The last sequence number it acknowledged.
    pub offset: u64,
    pub last_ack: Instant,
    /// When it was registered: when its sync began.
    pub since: Instant,
}

/// How far a replica is behind its master.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lag {
    /// Sequence numbers the master has and the replica did not acknowledge.
    pub sequences: u64,
    /// The age of the oldest write it lacks; while it syncs in full, the
    /// time since the sync began.
    pub time: Duration,
}

impl Replication {
    /// Loads the replication ids of the data directory `dir` (new ones on
    /// first start).
    pub fn load(dir: &Path) -> std::io::Result<Replication> {
        let ids_path = dir.join(IDS_FILE);
        let ids = match std::fs::read_to_string(&ids_path) {
            Ok(text) => parse_ids(&text).unwrap_or_else(new_ids),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => new_ids(),
            Err(e) => return Err(e),
        };
        let replication = Replication {
            state: Mutex::new(State {
                ids,
                failover: FailoverState::None,
                master: None,
                replicas: Vec::new(),
            }),
            ids_path,
            acknowledged: tokio::sync::Notify::new(),
            failover_changed: tokio::sync::Notify::new(),
            sync_full: Tally::default(),
            sync_full_failed: Tally::default(),
            sync_partial_ok: Tally::default(),
            sync_partial_err: Tally::default(),
            sync_full_received: Tally::default(),
            sync_full_received_failed: Tally::default(),
            write_times: WriteTimes::default(),
            next_replica: AtomicU64::new(1),
            adopted: AtomicBool::new(false),
            history: tokio::sync::watch::Sender::new(0),
        };
        replication.save_ids()?;
        // Checkpoints of full syncs cut short by a crash.
        for entry in std::fs::read_dir(dir)?.flatten() {
            if entry
                .file_name()
                .to_string_lossy()
                .starts_with(CHECKPOINT_PREFIX)
            {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
        Ok(replication)
    }

    pub fn ids(&self) -> Ids {
        self.state.lock().ids.clone()
    }

    pub fn failover_state(&self) -> FailoverState {
        self.state.lock().failover
    }

    /// Moves a FAILOVER on; returns the state it was in.
    pub fn set_failover_state(&self, next: FailoverState) -> FailoverState {
        std::mem::replace(&mut self.state.lock().failover, next)
    }

    /// Whether this run synced in full from a master.
    pub fn adopted(&self) -> bool {
        self.adopted.load(Ordering::Acquire)
    }

    /// A receiver told when this node's data starts another history.
    pub fn history_changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.history.subscribe()
    }

    /// Adopts the history of a master this replica synced with in full;
    /// the replicas it feeds must sync again.
    pub fn adopt(&self, replid: &str) -> std::io::Result<()> {
        self.history.send_modify(|n| *n += 1);
        self.adopted.store(true, Ordering::Release);
        // Its sequence numbers are not this node's old ones.
        self.write_times.clear();
        {
            let mut state = self.state.lock();
            state.ids = Ids {
                replid: replid.to_string(),
                replid2: NO_ID.to_string(),
                second_offset: -1,
            };
        }
        self.save_ids()
    }

    /// Starts a new history at sequence `next` (a promotion): the old one
    /// stays valid up to it.
    pub fn shift(&self, next: u64) -> std::io::Result<()> {
        {
            let mut state = self.state.lock();
            let old = state.ids.replid.clone();
            state.ids = Ids {
                replid: random_id(),
                replid2: old,
                second_offset: next as i64,
            };
        }
        self.save_ids()
    }

    fn save_ids(&self) -> std::io::Result<()> {
        let ids = self.ids();
        let text = format!("{}\n{}\n{}\n", ids.replid, ids.replid2, ids.second_offset);
        let temporary = self.ids_path.with_extension("tmp");
        std::fs::write(&temporary, text)?;
        std::fs::File::open(&temporary)?.sync_all()?;
        std::fs::rename(&temporary, &self.ids_path)
    }

    /// Whether a replica that has history `replid` up to sequence `next - 1`
    /// may continue from `next` in this node's history.
    pub fn continues(&self, replid: &str, next: u64) -> bool {
        let ids = &self.state.lock().ids;
        replid == ids.replid || (replid == ids.replid2 && next as i64 <= ids.second_offset)
    }

    /// The master this node replicates, if any.
    pub fn master(&self) -> Option<(String, u16)> {
        let state = self.state.lock();
        state.master.as_ref().map(|m| (m.host.clone(), m.port))
    }

    /// Calls `f` with the link to the master (on a replica).
    pub fn with_link<T>(&self, f: impl FnOnce(&MasterLink) -> T) -> Option<T> {
        self.state.lock().master.as_ref().map(f)
    }

    /// Updates the link to the master (on a replica).
    pub fn update_link(&self, f: impl FnOnce(&mut MasterLink)) {
        if let Some(link) = self.state.lock().master.as_mut() {
            f(link);
        }
    }

    /// Whether the link to the master is up: false on a master.
    pub fn link_up(&self) -> bool {
        self.with_link(|l| l.status == LinkStatus::Connected)
            .unwrap_or(false)
    }

    /// Sets the master (`None`: become a master), stopping the old link
    /// task; returns whether anything changed.
    pub fn set_master(&self, master: Option<(String, u16)>) -> bool {
        let mut state = self.state.lock();
        let current = state.master.as_ref().map(|m| (m.host.clone(), m.port));
        if current == master {
            return false;
        }
        if let Some(old) = state.master.take() {
            if let Some(task) = old.task {
                task.abort();
            }
        }
        state.master = master.map(|(host, port)| MasterLink {
            host,
            port,
            status: LinkStatus::Connect,
            last_io: Instant::now(),
            down_since: Instant::now(),
            sync_read_bytes: 0,
            task: None,
        });
        true
    }

    /// Follows a master's history this replica continued (a master that
    /// was promoted names its new history in `+CONTINUE`).
    pub fn follow(&self, replid: &str) -> std::io::Result<()> {
        let changed = {
            let mut state = self.state.lock();
            let changed = state.ids.replid != replid;
            if changed {
                let old = std::mem::replace(&mut state.ids.replid, replid.to_string());
                state.ids.replid2 = old;
                state.ids.second_offset = -1;
            }
            changed
        };
        if changed {
            self.save_ids()?;
        }
        Ok(())
    }

    /// Records the task that runs the link to the master.
    pub fn set_link_task(&self, task: tokio::task::JoinHandle<()>) {
        match self.state.lock().master.as_mut() {
            Some(link) => link.task = Some(task),
            None => task.abort(),
        }
    }

    /// Registers a replica being fed; returns its id.
    pub fn add_replica(&self, ip: String, port: u16, state: &'static str, offset: u64) -> u64 {
        let id = self.next_replica.fetch_add(1, Ordering::Relaxed);
        self.state.lock().replicas.push(ReplicaEntry {
            id,
            ip,
            port,
            state,
            offset,
            last_ack: Instant::now(),
            since: Instant::now(),
        });
        id
    }

    pub fn remove_replica(&self, id: u64) {
        self.state.lock().replicas.retain(|r| r.id != id);
        self.acknowledged.notify_waiters();
    }

    /// Records a replica's acknowledged offset.
    pub fn acknowledge(&self, id: u64, offset: u64) {
        if let Some(r) = self.state.lock().replicas.iter_mut().find(|r| r.id == id) {
            r.offset = r.offset.max(offset);
            r.last_ack = Instant::now();
            r.state = "online";
        }
        self.acknowledged.notify_waiters();
    }

    /// The replicas fed now.
    pub fn replicas(&self) -> Vec<ReplicaEntry> {
        self.state.lock().replicas.clone()
    }

    /// How far `replica` is behind `latest`, this node's last sequence.
    pub fn lag(&self, replica: &ReplicaEntry, latest: u64) -> Lag {
        let now = Instant::now();
        let sequences = latest.saturating_sub(replica.offset);
        let time = if replica.state != "online" {
            now.duration_since(replica.since)
        } else if sequences == 0 {
            Duration::ZERO
        } else {
            self.write_times
                .age(replica.offset + 1, now)
                .unwrap_or_default()
        };
        Lag { sequences, time }
    }

    /// CONFIG RESETSTAT: INFO's sync counts start again.
    pub fn reset_stats(&self) {
        for tally in [
            &self.sync_full,
            &self.sync_full_failed,
            &self.sync_partial_ok,
            &self.sync_partial_err,
            &self.sync_full_received,
            &self.sync_full_received_failed,
        ] {
            tally.reset();
        }
    }

    /// How many replicas acknowledged `offset` or later.
    pub fn acknowledged_count(&self, offset: u64) -> usize {
        self.state
            .lock()
            .replicas
            .iter()
            .filter(|r| r.state == "online" && r.offset >= offset)
            .count()
    }

    /// How many replicas acknowledged within `max_lag` seconds
    /// (`min-replicas-to-write`).
    pub fn good_replicas(&self, max_lag: u64) -> usize {
        self.state
            .lock()
            .replicas
            .iter()
            .filter(|r| r.state == "online" && r.last_ack.elapsed().as_secs() <= max_lag)
            .count()
    }
}

/// Redis's id of "no history".
pub const NO_ID: &str = "0000000000000000000000000000000000000000";

fn new_ids() -> Ids {
    Ids {
        replid: random_id(),
        replid2: NO_ID.to_string(),
        second_offset: -1,
    }
}

fn parse_ids(text: &str) -> Option<Ids> {
    let mut lines = text.lines();
    let replid = lines.next()?.trim().to_string();
    let replid2 = lines.next()?.trim().to_string();
    let second_offset = lines.next()?.trim().parse().ok()?;
    let valid = |id: &str| id.len() == 40 && id.bytes().all(|b| b.is_ascii_hexdigit());
    (valid(&replid) && valid(&replid2)).then_some(Ids {
        replid,
        replid2,
        second_offset,
    })
}

/// Reads one `\r\n`-terminated line from a buffered stream, without the
/// terminator; an error at end of stream or past `limit` bytes.
pub(crate) async fn read_line<R: tokio::io::AsyncBufRead + Unpin>(
    reader: &mut R,
    limit: usize,
) -> std::io::Result<String> {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt};
    let mut line = Vec::new();
    let n = (&mut *reader)
        .take(limit as u64)
        .read_until(b'\n', &mut line)
        .await?;
    if n == 0 || !line.ends_with(b"\n") {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "the replication link closed",
        ));
    }
    while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        line.pop();
    }
    Ok(String::from_utf8_lossy(&line).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_survive_a_restart_and_a_shift_keeps_the_old_history_up_to_its_end() {
        let dir = tempfile::tempdir().unwrap();
        let first = Replication::load(dir.path()).unwrap();
        let ids = first.ids();
        assert_eq!(Replication::load(dir.path()).unwrap().ids(), ids);
        first.shift(101).unwrap();
        assert!(first.continues(&ids.replid, 101));
        assert!(!first.continues(&ids.replid, 102));
        assert!(first.continues(&first.ids().replid, 5000));
        assert!(!first.continues("?", 1));
        assert_eq!(Replication::load(dir.path()).unwrap().ids(), first.ids());
    }
}
