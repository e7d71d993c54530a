//! The WAL as a replication stream. A master reads the write batches that
//! follow a replica's last sequence number; the replica applies each one
//! as it is, so its data and its sequence numbers stay the master's. A
//! full sync instead ships a checkpoint, which replaces the replica's
//! database whole.

use super::batch_records::{batch_records, BatchRecord};
use super::counts::COUNT_PREFIX;
use super::engine::Engine;
use super::{state_key, Cf, Result, Storage, StorageError, VERSION_CEILING};
use redrock_encoding::{metadata_key, parse_member_owner, Keyspace};
use rocksdb::WriteBatch;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// One write batch of the WAL, in RocksDB's own format (its header holds
/// its first sequence number and its number of records).
pub struct WalBatch {
    pub sequence: u64,
    pub count: u64,
    pub data: Vec<u8>,
}

/// Reads the WAL forward, call after call, with one RocksDB iterator
/// while it lasts: opening one reads the WAL file from its start up to
/// the sequence number asked for, which takes long in a large file.
pub struct WalReader {
    /// Declared before the engine it reads, so that it closes first.
    iterator: Option<rocksdb::DBWALIterator>,
    engine: Arc<Engine>,
    /// The last sequence number read.
    after: u64,
}

impl WalReader {
    /// The last sequence number read.
    pub fn position(&self) -> u64 {
        self.after
    }

    /// The next write batches, in order, up to the one holding sequence
    /// number `until` or about `max_bytes`; empty when there is nothing
    /// newer. Stopping at `until` rather than at the end of the WAL keeps
    /// the iterator: one that reached the end of the WAL ends there for
    /// good, and newer batches take a new one.
    pub fn read(
        &mut self,
        until: u64,
        max_bytes: usize,
    ) -> std::result::Result<Vec<WalBatch>, WalError> {
        if self.engine.latest_sequence() <= self.after {
            return Ok(Vec::new());
        }
        if let Some(iterator) = self.iterator.take() {
            let batches = self.take_from(iterator, until, max_bytes)?;
            if !batches.is_empty() {
                return Ok(batches);
            }
        }
        let iterator = self
            .engine
            .db
            .get_updates_since(self.after)
            .map_err(|e| WalError::Gap(e.into_string()))?;
        let batches = self.take_from(iterator, until, max_bytes)?;
        if batches.is_empty() {
            return Err(WalError::Gap(format!(
                "the WAL no longer holds sequence {}",
                self.after + 1
            )));
        }
        Ok(batches)
    }

    /// Reads batches from `iterator`, which is kept if it may hold more.
    fn take_from(
        &mut self,
        mut iterator: rocksdb::DBWALIterator,
        until: u64,
        max_bytes: usize,
    ) -> std::result::Result<Vec<WalBatch>, WalError> {
        let mut batches = Vec::new();
        let mut bytes = 0;
        for update in iterator.by_ref() {
            let (sequence, batch) = update.map_err(|e| WalError::Gap(e.into_string()))?;
            if sequence != self.after + 1 {
                return Err(WalError::Gap(format!(
                    "the WAL goes from sequence {} to {sequence}",
                    self.after
                )));
            }
            let count = batch.len() as u64;
            self.after = sequence + count - 1;
            bytes += batch.size_in_bytes();
            batches.push(WalBatch {
                sequence,
                count,
                data: batch.data().to_vec(),
            });
            if bytes >= max_bytes || self.after >= until {
                self.iterator = Some(iterator);
                break;
            }
        }
        Ok(batches)
    }
}

/// Reading the WAL after a sequence number failed.
#[derive(Debug)]
pub enum WalError {
    /// The WAL no longer holds the batches after it: a full sync is needed.
    Gap(String),
    Storage(StorageError),
}

/// What applying a master's batch changed, for the layers above: the
/// metadata keys written (to wake blocked clients and break WATCHes), the
/// keyspaces cleared, and the pieces of server state rewritten.
#[derive(Default)]
pub struct Applied {
    pub keys: Vec<(Keyspace, Vec<u8>)>,
    pub cleared: Vec<Keyspace>,
    pub states: Vec<String>,
}

impl Storage {
    /// The sequence number of the last write: a master's replication
    /// offset.
    pub fn latest_sequence(&self) -> u64 {
        self.engine().latest_sequence()
    }

    /// Notified after every write: a reader of the WAL that found nothing
    /// new enables a `notified()` future before looking, then waits on it.
    pub fn written(&self) -> &tokio::sync::Notify {
        &self.written
    }

    /// The write batches that follow sequence number `after`, in order, up
    /// to about `max_bytes`; empty when there is nothing newer.
    pub fn wal_batches(
        &self,
        after: u64,
        max_bytes: usize,
    ) -> std::result::Result<Vec<WalBatch>, WalError> {
        self.wal_reader(after).read(u64::MAX, max_bytes)
    }

    /// A reader of the write batches that follow sequence number `after`.
    pub fn wal_reader(&self, after: u64) -> WalReader {
        WalReader {
            iterator: None,
            engine: self.engine(),
            after,
        }
    }
    /// Makes this storage a replica's (only the master's batches are
    /// written) or a master's again.
    pub fn set_follower(&self, follower: bool) {
        self.follower.store(follower, Ordering::Release);
        if !follower {
            // Expiry resumes from the start: the master's deletions of
            // expired keys stopped coming.
            self.earliest_new_expiry.store(0, Ordering::Release);
            let _ = self.load_version_ceiling();
        }
    }

    /// Whether this storage writes only its master's batches.
    pub fn is_follower(&self) -> bool {
        self.follower.load(Ordering::Acquire)
    }

    /// Applies one of the master's batches (RocksDB's format, as
    /// [`Storage::wal_batches`] read it), which must start right after
    /// this database's last sequence number, and updates the key counts
    /// and the version clock from it.
    pub fn apply_replicated(&self, data: &[u8]) -> Result<Applied> {
        let header: [u8; 8] = data
            .get(..8)
            .and_then(|h| h.try_into().ok())
            .ok_or_else(|| StorageError("a replicated batch is shorter than its header".into()))?;
        let sequence = u64::from_le_bytes(header);
        let engine = self.engine();
        let latest = engine.latest_sequence();
        if sequence != latest + 1 {
            return Err(StorageError(format!(
                "a replicated batch starts at sequence {sequence}, but this replica is at {latest}"
            )));
        }
        let changes = changes(&batch_records(data)?);
        self.write(WriteBatch::from_data(data))?;
        let mut applied = Applied::default();
        for change in changes {
            match change {
                Change::Key(key) => {
                    if let Some((ks, rest)) = Keyspace::split(&key) {
                        if let Some(user_key) = rest.get(2..) {
                            applied.keys.push((ks, user_key.to_vec()));
                        }
                    }
                }
                Change::Counts(key, operand) => self.counts.load_entry(&key, &operand),
                Change::CountsReset(key) => {
                    if let Some((ks, _)) = Keyspace::split(&key[1..]) {
                        self.counts.keyspace(&ks).reset();
                        applied.cleared.push(ks);
                    }
                }
                Change::State(name, value) => {
                    if name == VERSION_CEILING {
                        if let Ok(bytes) = value.as_slice().try_into() {
                            let ceiling = u64::from_be_bytes(bytes);
                            self.last_version.fetch_max(ceiling, Ordering::Relaxed);
                            self.version_ceiling.fetch_max(ceiling, Ordering::AcqRel);
                        }
                    }
                    applied.states.push(name);
                }
                Change::Expiry(at) => {
                    self.earliest_new_expiry.fetch_min(at, Ordering::AcqRel);
                }
            }
        }
        Ok(applied)
    }

    /// Writes a checkpoint of the database into `target` (which must not
    /// exist), for a replica's full sync: a complete database directory.
    pub fn sync_checkpoint(&self, target: &Path) -> Result<()> {
        let engine = self.engine();
        rocksdb::checkpoint::Checkpoint::new(&engine.db)?.create_checkpoint(target)?;
        Ok(())
    }

    /// Where a full sync downloads the master's checkpoint.
    pub fn sync_staging(&self) -> PathBuf {
        self.data_dir.join("sync-checkpoint")
    }

    /// Replaces the database with the complete checkpoint at `staging`
    /// (a replica's full sync). The switch is one rename of a small file:
    /// a crash before it keeps the old database, after it the new one.
    /// Readers still holding the old database finish on it; it closes and
    /// its directory goes when the last of them is done.
    pub fn replace(&self, staging: &Path) -> Result<()> {
        let name = format!("db.{}", super::now_ms());
        let target = self.data_dir.join(&name);
        std::fs::rename(staging, &target).map_err(|e| {
            StorageError(format!("cannot move the synced database into place: {e}"))
        })?;
        let engine = Engine::open(&target, &self.config, &self.block_cache, &self.health)?;
        let pointer = self.data_dir.join(super::CURRENT_DATABASE);
        let temporary = self
            .data_dir
            .join(format!("{}.tmp", super::CURRENT_DATABASE));
        let switch = || -> std::io::Result<()> {
            std::fs::write(&temporary, format!("{name}\n"))?;
            std::fs::File::open(&temporary)?.sync_all()?;
            std::fs::rename(&temporary, &pointer)?;
            std::fs::File::open(&self.data_dir)?.sync_all()
        };
        switch().map_err(|e| StorageError(format!("cannot switch to the synced database: {e}")))?;
        let old = std::mem::replace(&mut *self.engine.write(), Arc::new(engine));
        old.retire();
        drop(old);
        self.counts.reset_all();
        self.load_counts()?;
        self.load_version_ceiling()?;
        self.earliest_new_expiry.store(0, Ordering::Release);
        self.written.notify_waiters();
        Ok(())
    }
}

enum Change {
    /// A metadata entry written or deleted (its metadata key).
    Key(Vec<u8>),
    /// A merge operand of a keyspace's counts.
    Counts(Vec<u8>, Vec<u8>),
    /// A keyspace's counts deleted: every key of it is gone.
    CountsReset(Vec<u8>),
    /// A piece of server state rewritten.
    State(String, Vec<u8>),
    /// An expiry index entry at this time.
    Expiry(u64),
}

/// What a replicated batch changes beyond the data, in order.
fn changes(records: &[BatchRecord<'_>]) -> Vec<Change> {
    let state_name = |key: &[u8]| {
        let name = key.strip_prefix(&state_key("")[..])?;
        String::from_utf8(name.to_vec()).ok()
    };
    let mut list = Vec::new();
    for record in records {
        match *record {
            // A member written changes its key (WATCH), as its metadata
            // does; one change per run of the same key's members.
            BatchRecord::Put {
                cf: Cf::Subkey | Cf::ZsetScore,
                key,
                ..
            }
            | BatchRecord::Delete {
                cf: Cf::Subkey | Cf::ZsetScore,
                key,
            } => {
                if let Some(owner) = parse_member_owner(key) {
                    let key = metadata_key(&owner.keyspace, owner.slot, owner.user_key);
                    if !matches!(list.last(), Some(Change::Key(last)) if *last == key) {
                        list.push(Change::Key(key));
                    }
                }
            }
            BatchRecord::Put { cf, key, value } => match cf {
                Cf::Metadata => list.push(Change::Key(key.to_vec())),
                Cf::Default => {
                    if let Some(name) = state_name(key) {
                        list.push(Change::State(name, value.to_vec()));
                    }
                }
                Cf::Expire => {
                    if let Some(at) = key.get(..8).and_then(|t| t.try_into().ok()) {
                        list.push(Change::Expiry(u64::from_be_bytes(at)));
                    }
                }
                _ => {}
            },
            BatchRecord::Delete { cf, key } => match cf {
                Cf::Metadata => list.push(Change::Key(key.to_vec())),
                Cf::Default if key.first() == Some(&COUNT_PREFIX) => {
                    list.push(Change::CountsReset(key.to_vec()))
                }
                _ => {}
            },
            BatchRecord::Merge { cf, key, value } => {
                if cf == Cf::Default && key.first() == Some(&COUNT_PREFIX) {
                    list.push(Change::Counts(key.to_vec(), value.to_vec()));
                }
            }
            // Range deletes drop members, or whole keyspaces and slots,
            // whose count changes the batch carries as records of their own.
            BatchRecord::DeleteRange { .. } => {}
        }
    }
    list
}
