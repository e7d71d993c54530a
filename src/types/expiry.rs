//! Active expiry: a background thread walks the expire index in time order
//! and removes keys whose time has come, so they leave DBSIZE without being
//! read. Entries whose key is gone or has another expiry are stale and are
//! dropped on the way.

use super::field_expiry::FieldExpiry;
use super::{Db, KeyspaceHandle};
use crate::error::Result;
use crate::storage::{Cf, Engine, Storage, WriteSet};
use redrock_encoding::{expire_key, parse_expire_key, Keyspace};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How often the expire index is walked.
const PERIOD: Duration = Duration::from_millis(100);
/// The most keys removed in one batch.
const BATCH_LIMIT: usize = 512;

/// Starts the active-expiry thread; it stops soon after `stop` is set.
pub fn spawn_active_expiry(
    storage: Arc<Storage>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name("active-expiry".into())
        .spawn(move || {
            let mut scan = ExpiryScan::default();
            while !stop.load(Ordering::Relaxed) {
                // While the storage refuses writes, removals would only
                // fail; while CLIENT PAUSE holds writes, keys stay.
                let admitted = (!storage.health().stopped() && !storage.is_follower())
                    .then(|| storage.admit_write(None))
                    .flatten();
                if let Some(_writing) = admitted {
                    match scan.step(&storage, super::now_ms()) {
                        Ok(true) => continue,
                        Ok(false) => {}
                        Err(e) => tracing::warn!("active expiry failed: {e}"),
                    }
                }
                std::thread::sleep(PERIOD);
            }
        })
        .expect("spawning the active-expiry thread")
}

/// Where active expiry is in the expire index. Each entry is visited once:
/// a scan continues after the last entry it handled instead of starting
/// over (which would walk the deletion markers of every key it removed
/// again), and entries written behind it later (by writes that read the
/// clock before the scan passed) are reported by the storage layer, which
/// moves the position back to them. The clock going backwards only makes
/// the scan wait until it catches up with the position again.
#[derive(Default)]
struct ExpiryScan {
    /// The expire key to continue from (inclusive).
    position: Vec<u8>,
}

impl ExpiryScan {
    /// Removes up to [`BATCH_LIMIT`] keys due at `now`; returns whether more
    /// may be due.
    fn step(&mut self, storage: &Arc<Storage>, now: u64) -> Result<bool> {
        let written_behind = storage.take_earliest_new_expiry().to_be_bytes();
        if written_behind[..] < self.position[..] {
            self.position = written_behind.to_vec();
        }
        let end = (now + 1).to_be_bytes().to_vec();
        if self.position >= end {
            return Ok(false);
        }
        let engine = storage.engine();
        let mut due = Vec::new();
        for item in engine
            .live()
            .range(Cf::Expire, &self.position, Some(end.clone()))
        {
            let (key, _) = item?;
            due.push(key);
            if due.len() == BATCH_LIMIT {
                break;
            }
        }
        let more = due.len() == BATCH_LIMIT;
        for entry in &due {
            let Some(parsed) = parse_expire_key(entry) else {
                continue;
            };
            expire_one(
                storage,
                &engine,
                &parsed.keyspace,
                parsed.user_key,
                parsed.expire_at_ms,
                entry,
                now,
            )?;
        }
        self.position = match due.last() {
            // The smallest key after the last one handled.
            Some(last) if more => [&last[..], &[0]].concat(),
            _ => end,
        };
        Ok(more)
    }
}

/// The most due fields of one hash removed in one batch.
const FIELD_BATCH_LIMIT: usize = 1024;

fn expire_one(
    storage: &Arc<Storage>,
    engine: &Engine,
    keyspace: &Keyspace,
    key: &[u8],
    expire_at: u64,
    entry: &[u8],
    now: u64,
) -> Result<()> {
    let handle = KeyspaceHandle {
        // Keyspace events name the database; namespaces count as 0.
        index: keyspace.database_index().unwrap_or(0),
        keyspace: keyspace.clone(),
        counts: storage.counts().keyspace(keyspace),
    };
    let (mut expire_at, mut entry) = (expire_at, entry.to_vec());
    loop {
        let writes = std::cell::RefCell::new(WriteSet::new(storage.clone(), false));
        let db = Db::new(storage, engine, &handle, &writes);
        db.lock(&[key])?;
        let mut batch = db.batch();
        let mut more_fields = None;
        let expired = match db.read(key)? {
            Some(stored)
                if stored.header.expire_at_ms == expire_at && stored.header.is_expired(now) =>
            {
                db.remove(&mut batch, stored.slot, key, &stored.header);
                true
            }
            // The time of a hash's earliest field: its fields are due.
            Some(stored) if stored.header.field_expiry_ms == expire_at => {
                let slot = stored.slot;
                drop(stored);
                if let FieldExpiry::More(next) =
                    db.expire_fields(key, expire_at, now, FIELD_BATCH_LIMIT)?
                {
                    more_fields = Some((next, expire_key(next, keyspace, slot, key)));
                }
                false
            }
            // The key changed since the entry was written: the entry is stale.
            _ => {
                batch.delete(Cf::Expire, &entry);
                false
            }
        };
        db.commit(batch)?;
        if expired {
            storage.expired_keys.add(1);
            db.notify(crate::keyspace_events::EXPIRED, "expired", key);
        }
        writes.borrow_mut().finish()?;
        match more_fields {
            Some(next) => (expire_at, entry) = next,
            None => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::tests::storage;
    use crate::types::string::SetCondition;
    use crate::types::Expiry;
    use rocksdb::perf::{set_perf_stats, PerfContext, PerfMetric, PerfStatsLevel};
    use std::cell::RefCell;

    fn set_with_expiry(storage: &Arc<Storage>, handle: &KeyspaceHandle, key: &[u8], at: u64) {
        let writes = RefCell::new(WriteSet::new(storage.clone(), false));
        let engine = storage.engine();
        let db = Db::new(storage, &engine, handle, &writes);
        db.set(key, b"v", SetCondition::Always, Expiry::At(at), false)
            .unwrap();
        writes.borrow_mut().finish().unwrap();
    }

    #[test]
    fn mass_expiry_visits_each_entry_once() {
        let (_dir, storage) = storage();
        let handle = KeyspaceHandle::new(&storage, 0);
        let at = crate::types::now_ms() + 60_000;
        let keys = 20_000u64;
        for i in 0..keys {
            set_with_expiry(&storage, &handle, format!("key:{i}").as_bytes(), at);
        }
        assert_eq!(handle.counts.keys(), keys);
        set_perf_stats(PerfStatsLevel::EnableCount);
        let mut perf = PerfContext::default();
        perf.reset();
        let mut scan = ExpiryScan::default();
        let mut steps = 0;
        while scan.step(&storage, at).unwrap() {
            steps += 1;
        }
        assert_eq!(handle.counts.keys(), 0);
        assert!(steps >= keys as usize / BATCH_LIMIT);
        // Starting each batch over from the same place walked the deletion
        // markers of every earlier batch again: about keys² / 1024 of them.
        let skipped = perf.metric(PerfMetric::InternalDeleteSkippedCount);
        assert!(
            skipped < keys,
            "{skipped} deletion markers walked for {keys} expired keys"
        );
    }

    #[test]
    fn entries_written_behind_the_scan_or_after_the_clock_went_back_expire() {
        let (_dir, storage) = storage();
        let handle = KeyspaceHandle::new(&storage, 0);
        let now = crate::types::now_ms();
        let mut scan = ExpiryScan::default();
        assert!(!scan.step(&storage, now + 3_600_000).unwrap());
        // Written after the scan passed its time (a write that read the
        // clock earlier), then found by the next step.
        set_with_expiry(&storage, &handle, b"late", now + 1_000);
        scan.step(&storage, now + 3_600_000).unwrap();
        assert_eq!(handle.counts.keys(), 0);
        // The clock is set back an hour: a key due by the new clock still
        // expires although the scan had gone past its time.
        set_with_expiry(&storage, &handle, b"after-step", now + 2_000);
        scan.step(&storage, now + 2_000).unwrap();
        assert_eq!(handle.counts.keys(), 0);
        // And one not yet due stays.
        set_with_expiry(&storage, &handle, b"future", now + 10_000);
        scan.step(&storage, now + 2_000).unwrap();
        assert_eq!(handle.counts.keys(), 1);
    }
}
