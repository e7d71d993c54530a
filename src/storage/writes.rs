//! A connection's writes in progress: the key locks it holds and, when
//! pipelining, the batches of several commands, committed as one RocksDB
//! write.
//!
//! Pipelined writes are the common case of a busy client, and one RocksDB
//! write per command costs a write-group round and a WAL record each; a
//! pipeline of 16 SETs instead becomes one write. Every command stays
//! atomic and isolated: its keys stay locked until the combined write is
//! committed, so no other client can read-modify-write them in between, and
//! nobody is answered before the write is committed. Deadlock is avoided by
//! never blocking on a lock while holding others: a busy lock makes the set
//! commit and release first.
//!
//! A command that uses a key an earlier command of the pipeline already
//! locked (in any keyspace: COPY and MOVE write another database) reads
//! the pipeline's pending writes through an [`Overlay`]: from then on, the
//! pipeline's batches are kept readable there, so a pipeline of LPUSHes to
//! one list is still one write. Whenever the pending writes are written
//! (and their locks let go) the overlay is emptied: what it held may then
//! change under other clients.
//!
//! Inside EXEC the set is in transaction mode: nothing is written until
//! the transaction ends (its commands read each other's writes through an
//! [`Overlay`](super::Overlay) instead), and the locks EXEC took up front
//! are never let go in between.
//!
//! The storage's [`WriteObserver`](super::WriteObserver) is told which keys
//! the finished commands changed before their locks are released.

use super::batch_records::{batch_records, BatchRecord, BATCH_HEADER};
use super::overlay::{Op, Overlay};
use super::{Batch, CountChange, KeyspaceCounts, Notice, Result, Storage, StorageError};
use redrock_encoding::Keyspace;
use rocksdb::WriteBatch;
use std::sync::Arc;

pub struct WriteSet {
    storage: Arc<Storage>,
    /// Keep committed batches until `finish` (a pipeline), or write each at
    /// once.
    deferred: bool,
    /// The records of the batches committed but not yet written.
    records: Vec<u8>,
    record_count: u32,
    counts: Vec<CountChange>,
    /// The earliest expiry the pending records add to the expire index.
    earliest_expiry: u64,
    /// Whether anything was written since the last `finish`.
    wrote: bool,
    /// The keys locked by finished writes that wrote something, for waking
    /// clients blocked on them.
    written_keys: Vec<(Vec<u8>, Vec<u8>)>,
    /// The stripes held.
    held: Vec<usize>,
    /// The (keyspace, key) pairs locked since the last `finish`.
    touched: Vec<(Vec<u8>, Vec<u8>)>,
    /// Which of `touched` belong to commands that committed a write, for
    /// the observer: a command's locked keys count as changed once it
    /// writes anything.
    modified: Vec<bool>,
    /// Where the current command's pairs start in `touched`.
    command_start: usize,
    /// The keyspaces whose keys were all removed, for the observer.
    cleared: Vec<Keyspace>,
    /// The events of the pending writes, delivered once they land.
    notices: Vec<Notice>,
    /// Inside EXEC: write nothing and release nothing until it ends.
    transaction: bool,
    /// The stripes a command of the transaction needed but found taken
    /// (a script then runs again with them locked).
    missing: Vec<usize>,
    /// How many times pending batches were written (or failed to be).
    written: u64,
    /// Set when a deferred write failed: replies already given for its
    /// commands must not reach the client.
    failed: bool,
    /// The pending writes, readable, once a command of the pipeline used
    /// a key an earlier one wrote (see [`WriteSet::read_pending`]).
    pipeline: Arc<Overlay>,
    /// Whether `pipeline` holds every pending write.
    reads_pending: bool,
}

impl WriteSet {
    pub fn new(storage: Arc<Storage>, deferred: bool) -> WriteSet {
        WriteSet {
            storage,
            deferred,
            records: Vec::new(),
            record_count: 0,
            counts: Vec::new(),
            earliest_expiry: u64::MAX,
            wrote: false,
            written_keys: Vec::new(),
            held: Vec::new(),
            touched: Vec::new(),
            command_start: 0,
            modified: Vec::new(),
            cleared: Vec::new(),
            notices: Vec::new(),
            transaction: false,
            missing: Vec::new(),
            written: 0,
            failed: false,
            pipeline: Arc::default(),
            reads_pending: false,
        }
    }

    /// The overlay that holds the pending writes while
    /// [`WriteSet::reads_pending`]; commands read through it then.
    pub fn pipeline(&self) -> Arc<Overlay> {
        self.pipeline.clone()
    }

    /// Whether the pending writes are readable through
    /// [`WriteSet::pipeline`] (every batch committed must then be replayed
    /// into it, as [`Batch::for_overlay`] does).
    pub fn reads_pending(&self) -> bool {
        self.reads_pending
    }

    /// Makes the pending writes readable through [`WriteSet::pipeline`],
    /// instead of writing them, for a command that uses a key they wrote.
    /// Returns false when they cannot be (inside a transaction): the
    /// caller writes them first.
    pub fn read_pending(&mut self) -> bool {
        if self.transaction || !self.deferred {
            return false;
        }
        if self.reads_pending {
            return true;
        }
        let data = self.pending_batch();
        let Ok(records) = batch_records(&data) else {
            return false;
        };
        let ops = records
            .into_iter()
            .filter_map(|record| match record {
                BatchRecord::Put { cf, key, value } => Some(Op::Put(cf, key.into(), value.into())),
                BatchRecord::Delete { cf, key } => Some(Op::Delete(cf, key.into())),
                BatchRecord::DeleteRange { cf, from, to } => {
                    Some(Op::DeleteRange(cf, from.into(), to.into()))
                }
                // Merges update the key counts, which are kept in memory.
                BatchRecord::Merge { .. } => None,
            })
            .collect();
        self.pipeline.clear();
        self.pipeline.apply(ops);
        self.reads_pending = true;
        true
    }

    /// Whether a deferred write failed since the last call (see the
    /// `failed` field).
    pub fn take_failed(&mut self) -> bool {
        std::mem::take(&mut self.failed)
    }

    /// Whether committed batches wait to be written.
    pub fn has_pending(&self) -> bool {
        self.record_count > 0
    }

    /// Counts the writes of pending batches: a change means the batches
    /// pending before were written, or failed.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// The keys of writes finished since the last call (see
    /// `written_keys`).
    pub fn take_written_keys(&mut self) -> Vec<(Vec<u8>, Vec<u8>)> {
        std::mem::take(&mut self.written_keys)
    }

    /// Marks the start of a command: its own locks never make the set
    /// write what is pending (its batches stay one write with the rest).
    pub fn begin_command(&mut self) {
        self.command_start = self.touched.len();
    }

    /// Enters transaction mode (EXEC), after [`WriteSet::lock_stripes`]
    /// (which writes what was pending): the commands that follow keep
    /// their writes for one write at [`WriteSet::finish`] after
    /// [`WriteSet::end_transaction`], and hold every lock till then.
    pub fn begin_transaction(&mut self) {
        debug_assert_eq!(self.record_count, 0, "nothing pending before EXEC");
        self.transaction = true;
        self.missing.clear();
    }

    /// Leaves transaction mode; the transaction's writes stay pending for
    /// the next `finish`.
    pub fn end_transaction(&mut self) {
        self.transaction = false;
    }

    /// Leaves transaction mode dropping everything the transaction did: its
    /// pending writes and events are forgotten and its locks released, as
    /// if it never ran (a script that must run again with more keys).
    pub fn abort_transaction(&mut self) {
        debug_assert!(self.transaction, "aborting outside a transaction");
        self.transaction = false;
        self.records.clear();
        self.record_count = 0;
        self.counts.clear();
        self.earliest_expiry = u64::MAX;
        self.notices.clear();
        self.cleared.clear();
        self.modified.clear();
        self.touched.clear();
        self.command_start = 0;
        let locks = self.storage.locks();
        for stripe in self.held.drain(..) {
            // SAFETY: every held stripe was locked by this set.
            unsafe { locks.unlock(stripe) };
        }
    }

    /// Inside a transaction, takes the stripes not held yet if they are
    /// free; the taken ones are remembered (see [`WriteSet::take_missing`])
    /// and the call fails.
    pub fn hold(&mut self, stripes: impl IntoIterator<Item = usize>) -> Result<()> {
        let locks = self.storage.locks();
        let mut failed = false;
        for stripe in stripes {
            if self.held.contains(&stripe) {
                continue;
            }
            if locks.try_lock(stripe) {
                self.held.push(stripe);
            } else {
                self.missing.push(stripe);
                failed = true;
            }
        }
        if failed {
            return Err(StorageError(
                "a command of the transaction needs a key the transaction did not lock".into(),
            ));
        }
        Ok(())
    }

    /// The stripes commands of the transaction needed but found taken.
    pub fn take_missing(&mut self) -> Vec<usize> {
        std::mem::take(&mut self.missing)
    }

    /// Whether events of `class` are wanted now (see
    /// [`WriteObserver::wants`](super::WriteObserver::wants)).
    pub fn wants_notice(&self, class: u32) -> bool {
        self.storage.observer().is_some_and(|o| o.wants(class))
    }

    /// Raises an event of the write just committed; it is delivered when
    /// the write lands, dropped if it fails.
    pub fn notice(&mut self, notice: Notice) {
        self.notices.push(notice);
    }

    /// Whether the set is in transaction mode.
    pub fn in_transaction(&self) -> bool {
        self.transaction
    }

    /// Locks the given stripes, blocking, in order, holding nothing else:
    /// how EXEC takes every lock its commands need before any runs.
    pub fn lock_stripes(&mut self, mut stripes: Vec<usize>) -> Result<()> {
        self.finish()?;
        stripes.sort_unstable();
        stripes.dedup();
        let locks = self.storage.locks();
        for &stripe in &stripes {
            locks.lock(stripe);
        }
        self.held = stripes;
        Ok(())
    }

    /// The keys the pending writes add to the keyspace of `counts`: whether
    /// they remove every key first, and how many they add (negative:
    /// remove) after that. DBSIZE inside EXEC counts them.
    pub fn pending_keys(&self, counts: &Arc<KeyspaceCounts>) -> (bool, i64) {
        let mut reset = false;
        let mut delta = 0;
        for change in &self.counts {
            match change {
                CountChange::Add(c, _, keys, _) if Arc::ptr_eq(c, counts) => delta += keys,
                CountChange::Reset(c) if Arc::ptr_eq(c, counts) => {
                    reset = true;
                    delta = 0;
                }
                _ => {}
            }
        }
        (reset, delta)
    }

    /// Locks the given (keyspace, key) pairs, in addition to those held.
    /// A pair locked before by an earlier command whose writes are pending
    /// gets those writes written first, so the caller reads them.
    ///
    /// A command takes every lock it writes under in one call, before it
    /// reads: on contention the set writes and releases everything it
    /// holds, then locks all of the command's keys again, so a command
    /// that read under an earlier lock may see its key change meanwhile.
    pub fn lock<'k>(&mut self, keys: impl IntoIterator<Item = (&'k [u8], &'k [u8])>) -> Result<()> {
        let mut wanted = Vec::new();
        let mut relocked = false;
        for (ks, key) in keys {
            let stripe = super::KeyLocks::stripe(ks, key);
            if !self.held.contains(&stripe) && !wanted.contains(&stripe) {
                wanted.push(stripe);
            }
            relocked |= self.touched[..self.command_start]
                .iter()
                .any(|(k, v)| k == ks && v == key);
            self.touched.push((ks.to_vec(), key.to_vec()));
            self.modified.push(false);
        }
        if relocked && !self.transaction && !self.reads_pending {
            self.write_pending()?;
        }
        if wanted.is_empty() {
            return Ok(());
        }
        wanted.sort_unstable();
        let storage = self.storage.clone();
        let locks = storage.locks();
        if self.transaction {
            // EXEC locked every key its commands name. Waiting here for a
            // key it did not foresee, holding the others, could deadlock
            // with a client taking its locks in order: take it only if
            // free, and fail the command otherwise.
            return self.hold(wanted);
        }
        if !self.held.is_empty() {
            // Holding locks: only try, and on contention let go first.
            let mut got = Vec::new();
            for &stripe in &wanted {
                if locks.try_lock(stripe) {
                    got.push(stripe);
                } else {
                    break;
                }
            }
            if got.len() == wanted.len() {
                self.held.extend(got);
                return Ok(());
            }
            for stripe in got {
                // SAFETY: taken by try_lock just above.
                unsafe { locks.unlock(stripe) };
            }
            // Earlier commands' keys go with their writes; this command's
            // pairs stay touched and are all locked again below, holding
            // nothing, in stripe order.
            let current = self.touched.split_off(self.command_start);
            let current_modified = self.modified.split_off(self.command_start);
            self.finish()?;
            wanted = current
                .iter()
                .map(|(ks, key)| super::KeyLocks::stripe(ks, key))
                .collect();
            wanted.sort_unstable();
            wanted.dedup();
            self.touched = current;
            self.modified = current_modified;
        }
        for &stripe in &wanted {
            locks.lock(stripe);
        }
        self.held.extend(wanted);
        Ok(())
    }

    /// Locks every stripe: nothing else writes until `finish`. Used by
    /// FLUSHDB and FLUSHALL (inside EXEC, which then locked them all).
    pub fn lock_all(&mut self) -> Result<()> {
        if self.transaction {
            // EXEC locks every stripe when one of its commands names no key.
            if self.held.len() == super::KeyLocks::all_stripes().len() {
                return Ok(());
            }
            return self.hold(super::KeyLocks::all_stripes());
        }
        self.lock_stripes(super::KeyLocks::all_stripes().collect())
    }

    /// Whether a (keyspace, key) pair was locked since the last `finish`:
    /// a command that reads it must see the pending writes, so they are
    /// finished first.
    pub fn touches(&self, ks: &[u8], key: &[u8]) -> bool {
        self.touched.iter().any(|(k, v)| k == ks && v == key)
    }

    /// Commits a batch: kept for `finish` when deferred, written now
    /// otherwise.
    pub fn commit(&mut self, batch: Batch) -> Result<()> {
        if batch.inner.is_empty() {
            return Ok(());
        }
        self.count_as_modified();
        self.cleared
            .extend(batch.counts.iter().filter_map(|c| match c {
                CountChange::Reset(counts) => Some(counts.keyspace().clone()),
                CountChange::Add(..) => None,
            }));
        if !self.deferred {
            return self.write(batch);
        }
        self.records
            .extend_from_slice(&batch.inner.data()[BATCH_HEADER..]);
        self.record_count += batch.inner.len() as u32;
        self.counts.extend(batch.counts);
        self.earliest_expiry = self.earliest_expiry.min(batch.earliest_expiry);
        Ok(())
    }

    /// Counts the current command's locked keys as changed (for WATCH),
    /// whether or not it writes: Redis counts an LTRIM that keeps every
    /// element.
    pub fn count_as_modified(&mut self) {
        self.modified[self.command_start..].fill(true);
    }

    /// Counts a pair the current command locked but only read (a source
    /// of COPY or SINTERSTORE, a key a multi-key pop or DEL left alone) as
    /// unchanged for WATCH, as Redis does. Called after the command's last
    /// commit, which counts every pair of the command.
    pub fn only_read(&mut self, ks: &[u8], key: &[u8]) {
        for i in self.command_start..self.touched.len() {
            let (k, v) = &self.touched[i];
            if k == ks && v == key {
                self.modified[i] = false;
            }
        }
    }

    /// Writes a batch now, after anything pending, so that the rest of the
    /// command reads it (used for the lazy removal of an expired key).
    /// Inside a transaction it joins the transaction's write.
    pub fn commit_now(&mut self, batch: Batch) -> Result<()> {
        if self.transaction {
            return self.commit(batch);
        }
        self.write_pending()?;
        self.commit(batch)?;
        self.write_pending()
    }

    /// The pending records as one batch's representation.
    fn pending_batch(&self) -> Vec<u8> {
        let mut data = Vec::with_capacity(BATCH_HEADER + self.records.len());
        data.extend_from_slice(&[0; 8]);
        data.extend_from_slice(&self.record_count.to_le_bytes());
        data.extend_from_slice(&self.records);
        data
    }

    fn write(&mut self, batch: Batch) -> Result<()> {
        self.storage.commit(batch)?;
        self.wrote = true;
        Ok(())
    }

    fn write_pending(&mut self) -> Result<()> {
        // Written, or failed: either way other clients may change those
        // keys once their locks go. (A command that read through the
        // overlay may have added its own writes since it was last built.)
        self.pipeline.clear();
        self.reads_pending = false;
        if self.record_count == 0 {
            return Ok(());
        }
        let data = self.pending_batch();
        self.records.clear();
        self.record_count = 0;
        let batch = Batch {
            engine: self.storage.engine(),
            inner: WriteBatch::from_data(&data),
            counts: std::mem::take(&mut self.counts),
            earliest_expiry: std::mem::replace(&mut self.earliest_expiry, u64::MAX),
            log: None,
        };
        let written = self.write(batch);
        self.written += 1;
        if written.is_err() {
            self.failed = true;
            self.notices.clear();
        }
        written
    }

    /// Writes everything pending and releases every lock (not inside a
    /// transaction: see [`WriteSet::end_transaction`]).
    pub fn finish(&mut self) -> Result<()> {
        if self.transaction {
            return Ok(());
        }
        let written = self.write_pending();
        // Told before the locks go: whoever locks these keys next finds
        // the observer (WATCH) already knows, and events are delivered in
        // the order of the writes.
        let notices = std::mem::take(&mut self.notices);
        if let Some(observer) = self.storage.observer() {
            // Copied out only while someone watches: a watch registered
            // after this check came after the write, which has landed.
            if observer.watching() && self.modified.contains(&true) {
                let modified: Vec<_> = self
                    .touched
                    .iter()
                    .zip(&self.modified)
                    .filter(|(_, &m)| m)
                    .map(|(pair, _)| pair.clone())
                    .collect();
                observer.keys_written(&modified);
            }
            if !self.cleared.is_empty() {
                observer.keyspaces_cleared(&self.cleared);
            }
            if !notices.is_empty() && written.is_ok() {
                observer.notices(notices);
            }
        }
        self.modified.clear();
        self.cleared.clear();
        let locks = self.storage.locks();
        for stripe in self.held.drain(..) {
            // SAFETY: every held stripe was locked by this set.
            unsafe { locks.unlock(stripe) };
        }
        if std::mem::take(&mut self.wrote) {
            self.written_keys.append(&mut self.touched);
        } else {
            self.touched.clear();
        }
        self.command_start = 0;
        written
    }
}

impl Drop for WriteSet {
    fn drop(&mut self) {
        if self.transaction {
            // Only a panic leaves a transaction unfinished: none of it is
            // written, and its locks are released.
            self.transaction = false;
            self.records.clear();
            self.record_count = 0;
            self.counts.clear();
            self.notices.clear();
        }
        if let Err(e) = self.finish() {
            tracing::error!("writing pending batches failed: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::overlay::Lookup;
    use crate::storage::tests::storage;
    use crate::storage::Cf;

    /// The pending writes, range deletes too, read through the pipeline's
    /// overlay until they are written.
    #[test]
    fn pending_writes_are_read_through_the_overlay_until_written() {
        let (_dir, storage) = storage();
        let mut writes = WriteSet::new(storage.clone(), true);
        writes.lock([(&b"ks"[..], &b"a"[..])]).unwrap();
        let mut batch = storage.batch();
        batch.put(Cf::Default, b"a", b"pending");
        writes.commit(batch).unwrap();
        let engine = storage.engine();
        let view = engine.live();
        assert!(view.get(Cf::Default, b"a").unwrap().is_none());
        assert!(writes.read_pending());
        let pipeline = writes.pipeline();
        let reading = view.with_overlay(&pipeline);
        let read = reading.get(Cf::Default, b"a").unwrap().unwrap();
        assert_eq!(&*read, b"pending");
        writes.finish().unwrap();
        assert!(!writes.reads_pending());
        assert!(matches!(
            pipeline.lookup(Cf::Default, b"a"),
            Lookup::Untouched
        ));

        let mut batch = storage.batch();
        batch.delete_range(Cf::Default, b"a", b"b");
        writes.commit(batch).unwrap();
        assert!(writes.read_pending(), "a range delete is read too");
        assert!(matches!(
            pipeline.lookup(Cf::Default, b"a"),
            Lookup::Deleted
        ));
        writes.finish().unwrap();
    }

    #[test]
    fn deferred_batches_become_one_write_at_finish() {
        let (_dir, storage) = storage();
        let mut writes = WriteSet::new(storage.clone(), true);
        writes.lock([(&b"ks"[..], &b"a"[..])]).unwrap();
        for key in [b"a", b"b"] {
            let mut batch = storage.batch();
            batch.put(Cf::Default, key, b"v");
            writes.commit(batch).unwrap();
        }
        assert!(storage
            .engine()
            .live()
            .get(Cf::Default, b"a")
            .unwrap()
            .is_none());
        assert!(writes.touches(b"ks", b"a") && !writes.touches(b"ks", b"b"));
        writes.finish().unwrap();
        assert!(storage
            .engine()
            .live()
            .get(Cf::Default, b"a")
            .unwrap()
            .is_some());
        assert!(storage
            .engine()
            .live()
            .get(Cf::Default, b"b")
            .unwrap()
            .is_some());
        assert!(!writes.touches(b"ks", b"a"));
    }

    #[test]
    fn a_later_command_relocking_a_key_reads_the_pending_write() {
        let (_dir, storage) = storage();
        let mut writes = WriteSet::new(storage.clone(), true);
        let put = |writes: &mut WriteSet, key: &[u8]| {
            let mut batch = storage.batch();
            batch.put(Cf::Default, key, b"v");
            writes.commit(batch).unwrap();
        };
        let written = |key: &[u8]| {
            storage
                .engine()
                .live()
                .get(Cf::Default, key)
                .unwrap()
                .is_some()
        };
        writes.begin_command();
        writes.lock([(&b"ks2"[..], &b"a"[..])]).unwrap();
        put(&mut writes, b"a");
        // The same command locking its key again keeps its write pending.
        writes.lock([(&b"ks2"[..], &b"a"[..])]).unwrap();
        assert!(!written(b"a"));
        writes.begin_command();
        writes.lock([(&b"ks2"[..], &b"b"[..])]).unwrap();
        assert!(!written(b"a"), "another key: still one write later");
        writes.begin_command();
        writes.lock([(&b"ks2"[..], &b"a"[..])]).unwrap();
        assert!(
            written(b"a"),
            "a later command reads what an earlier one wrote"
        );
        writes.finish().unwrap();
        let woken = writes.take_written_keys();
        for key in [&b"a"[..], &b"b"[..]] {
            assert!(
                woken.iter().any(|(ks, k)| ks == b"ks2" && k == key),
                "every locked key of the written pipeline wakes its waiters"
            );
        }
    }

    #[test]
    fn a_transaction_writes_once_at_the_end_and_keeps_its_locks() {
        let (_dir, storage) = storage();
        let mut writes = WriteSet::new(storage.clone(), true);
        let stripe = super::super::KeyLocks::stripe(b"ks", b"a");
        writes.lock_stripes(vec![stripe]).unwrap();
        writes.begin_transaction();
        for key in [&b"a"[..], b"b"] {
            writes.begin_command();
            writes.lock([(&b"ks"[..], key)]).unwrap();
            let mut batch = storage.batch();
            batch.put(Cf::Default, key, b"v");
            writes.commit(batch).unwrap();
            // Relocking an earlier command's key writes nothing either.
            writes.lock([(&b"ks"[..], &b"a"[..])]).unwrap();
            writes.finish().unwrap();
        }
        let written = |key: &[u8]| {
            storage
                .engine()
                .live()
                .get(Cf::Default, key)
                .unwrap()
                .is_some()
        };
        assert!(!written(b"a") && !written(b"b"));
        assert!(
            !storage.locks().try_lock(stripe),
            "the transaction still holds its lock"
        );
        writes.end_transaction();
        writes.finish().unwrap();
        assert!(written(b"a") && written(b"b"));
        assert_eq!(writes.written(), 1, "one RocksDB write");
        assert!(storage.locks().try_lock(stripe));
        // SAFETY: taken by try_lock just above.
        unsafe { storage.locks().unlock(stripe) };
    }

    #[test]
    fn a_transaction_fails_a_key_it_did_not_lock_if_taken() {
        let (_dir, storage) = storage();
        let mut other = WriteSet::new(storage.clone(), true);
        other.lock([(&b"ks"[..], &b"busy"[..])]).unwrap();
        let mut writes = WriteSet::new(storage.clone(), true);
        writes.lock_stripes(Vec::new()).unwrap();
        writes.begin_transaction();
        assert!(writes.lock([(&b"ks"[..], &b"busy"[..])]).is_err());
        assert!(writes.lock_all().is_err());
        writes.end_transaction();
        writes.finish().unwrap();
        other.finish().unwrap();
    }

    #[test]
    fn crossing_lock_orders_never_deadlock() {
        let (_dir, storage) = storage();
        let threads: Vec<_> = (0..4u32)
            .map(|t| {
                let storage = storage.clone();
                std::thread::spawn(move || {
                    let mut writes = WriteSet::new(storage, true);
                    for i in 0..3000u32 {
                        // Each set keeps its first lock while asking for more,
                        // in an order that crosses the other threads'.
                        let a = (i % 64).to_be_bytes();
                        let b = ((i * 7 + t) % 64).to_be_bytes();
                        let (first, second) = if t % 2 == 0 { (a, b) } else { (b, a) };
                        writes.lock([(&b"ks"[..], &first[..])]).unwrap();
                        writes.lock([(&b"ks"[..], &second[..])]).unwrap();
                        if i % 3 == 0 {
                            writes.finish().unwrap();
                        }
                    }
                    writes.finish().unwrap();
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    }
}
