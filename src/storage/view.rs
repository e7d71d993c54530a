//! What reads see: the live database, or one snapshot of it.
//!
//! A command that reads several entries (MGET, HGETALL, set algebra,
//! ranges, a scan step) reads them all through one [`Snapshot`], so its
//! reply shows a state that existed, whatever is written meanwhile. A read
//! of one entry is consistent by itself and reads live, which saves the
//! snapshot's cost (RocksDB takes its mutex to create and release one).
//! Inside EXEC, a view also carries the transaction's [`Overlay`]: its own
//! writes, not yet written, read before the database.

use super::overlay::{Lookup, Merged, Overlay};
use super::{Cf, Engine, Entry, Result, StorageError};
use rocksdb::{
    DBPinnableSlice, DBRawIterator, Direction, IteratorMode, ReadOptions, SnapshotWithThreadMode,
    DB,
};
use std::ops::Deref;

/// A value read: pinned in RocksDB's cache, or a transaction's own write.
pub enum Value<'v> {
    Stored(DBPinnableSlice<'v>),
    Own(Box<[u8]>),
}

impl AsRef<[u8]> for Value<'_> {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl Deref for Value<'_> {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Value::Stored(slice) => slice,
            Value::Own(bytes) => bytes,
        }
    }
}

/// The database as it was when taken; released on drop.
pub struct Snapshot<'s> {
    engine: &'s Engine,
    inner: SnapshotWithThreadMode<'s, DB>,
}

impl<'s> Snapshot<'s> {
    /// Reads from this snapshot.
    pub fn view(&self) -> View<'_> {
        View {
            engine: self.engine,
            snapshot: Some(&self.inner),
            overlay: None,
        }
    }
}

/// Where reads go: the live database or a snapshot, with a transaction's
/// overlay in front when inside EXEC. Iterators and pinned values borrow
/// the snapshot, so they cannot outlive it.
#[derive(Clone, Copy)]
pub struct View<'v> {
    engine: &'v Engine,
    snapshot: Option<&'v SnapshotWithThreadMode<'v, DB>>,
    overlay: Option<&'v Overlay>,
}

impl Engine {
    /// A snapshot of the whole database as it is now.
    pub fn snapshot(&self) -> Snapshot<'_> {
        Snapshot {
            engine: self,
            inner: self.db.snapshot(),
        }
    }

    /// Reads from the live database: each read sees the latest writes.
    pub fn live(&self) -> View<'_> {
        View {
            engine: self,
            snapshot: None,
            overlay: None,
        }
    }
}

impl<'v> View<'v> {
    /// The database this view reads.
    pub fn engine(&self) -> &'v Engine {
        self.engine
    }

    /// Whether reads come from a snapshot rather than the live database.
    pub fn is_snapshot(&self) -> bool {
        self.snapshot.is_some()
    }

    /// This view with a transaction's own writes in front of it.
    pub fn with_overlay(self, overlay: &'v Overlay) -> View<'v> {
        View {
            overlay: Some(overlay),
            ..self
        }
    }

    /// The transaction's writes this view reads first, if any.
    pub fn overlay(&self) -> Option<&'v Overlay> {
        self.overlay
    }

    /// The live database, keeping the overlay: what a holder of key locks
    /// reads.
    pub fn live(&self) -> View<'v> {
        View {
            snapshot: None,
            ..*self
        }
    }

    /// Whether the overlay holds writes between `lower` and `upper`: a
    /// [`View::raw_iterator`] over that range would miss them.
    pub fn overlay_touches(&self, cf: Cf, lower: &[u8], upper: &[u8]) -> bool {
        self.overlay.is_some_and(|o| o.touches(cf, lower, upper))
    }

    fn options(&self) -> ReadOptions {
        let mut options = ReadOptions::default();
        if let Some(snapshot) = self.snapshot {
            options.set_snapshot(snapshot);
        }
        options
    }

    /// Reads one value, without copying it out of RocksDB unless the
    /// transaction wrote it.
    pub fn get(&self, cf: Cf, key: &[u8]) -> Result<Option<Value<'v>>> {
        if let Some(overlay) = self.overlay {
            match overlay.lookup(cf, key) {
                Lookup::Value(value) => return Ok(Some(Value::Own(value))),
                Lookup::Deleted => return Ok(None),
                Lookup::Untouched => {}
            }
        }
        let engine = self.engine;
        Ok(engine
            .db
            .get_pinned_cf_opt(engine.cf(cf), key, &self.options())?
            .map(Value::Stored))
    }

    /// Reads several values at once (one RocksDB MultiGet, which shares
    /// its lookups' work across keys), in the order of `keys`.
    pub fn get_many(&self, cf: Cf, keys: &[Vec<u8>]) -> Result<Vec<Option<Value<'v>>>> {
        let mut values: Vec<Option<Option<Value<'v>>>> = keys
            .iter()
            .map(|key| match self.overlay.map(|o| o.lookup(cf, key)) {
                Some(Lookup::Value(value)) => Some(Some(Value::Own(value))),
                Some(Lookup::Deleted) => Some(None),
                Some(Lookup::Untouched) | None => None,
            })
            .collect();
        let stored: Vec<&Vec<u8>> = keys
            .iter()
            .zip(&values)
            .filter(|(_, known)| known.is_none())
            .map(|(key, _)| key)
            .collect();
        let engine = self.engine;
        let mut read = engine
            .db
            .batched_multi_get_cf_opt(engine.cf(cf), stored, false, &self.options())
            .into_iter();
        for value in values.iter_mut().filter(|v| v.is_none()) {
            let slice = read.next().expect("one result per key")?;
            *value = Some(slice.map(Value::Stored));
        }
        Ok(values
            .into_iter()
            .map(|v| v.expect("every key read"))
            .collect())
    }

    /// Iterates `cf` forward from `start` (inclusive) while keys are below
    /// `end` (exclusive).
    pub fn range(
        &self,
        cf: Cf,
        start: &[u8],
        end: Option<Vec<u8>>,
    ) -> impl Iterator<Item = Result<Entry>> + 'v {
        let window = self.overlay.map(|o| o.window(cf, start, end.as_deref()));
        let mut options = self.options();
        if let Some(end) = end {
            options.set_iterate_upper_bound(end);
        }
        options.set_iterate_lower_bound(start.to_vec());
        let engine = self.engine;
        let stored = engine
            .db
            .iterator_cf_opt(
                engine.cf(cf),
                options,
                IteratorMode::From(start, Direction::Forward),
            )
            .map(|item| item.map_err(StorageError::from));
        Merged::new(stored, window, false)
    }

    /// Iterates `cf` backward from the last key below `end` (exclusive)
    /// down to `start` (inclusive).
    pub fn range_reverse(
        &self,
        cf: Cf,
        start: &[u8],
        end: Vec<u8>,
    ) -> impl Iterator<Item = Result<Entry>> + 'v {
        let window = self.overlay.map(|o| o.window(cf, start, Some(&end)));
        let mut options = self.options();
        options.set_iterate_lower_bound(start.to_vec());
        options.set_iterate_upper_bound(end);
        let engine = self.engine;
        let stored = engine
            .db
            .iterator_cf_opt(engine.cf(cf), options, IteratorMode::End)
            .map(|item| item.map_err(StorageError::from));
        Merged::new(stored, window, true)
    }

    /// A raw iterator over `cf` between `lower` (inclusive) and `upper`
    /// (exclusive), for callers that seek many times in one range. It
    /// reads the database only: callers check [`View::overlay_touches`].
    pub fn raw_iterator(&self, cf: Cf, lower: Vec<u8>, upper: Vec<u8>) -> DBRawIterator<'v> {
        let mut options = self.options();
        options.set_iterate_lower_bound(lower);
        options.set_iterate_upper_bound(upper);
        let engine = self.engine;
        engine.db.raw_iterator_cf_opt(engine.cf(cf), options)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn a_snapshot_keeps_the_state_it_was_taken_in() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::default().storage();
        config.block_cache_bytes = 8 << 20;
        let storage = crate::storage::Storage::open(dir.path(), &config).unwrap();
        let engine = storage.engine();
        let write = |key: &[u8], value: &[u8]| {
            let mut batch = storage.batch();
            batch.put(Cf::Subkey, key, value);
            storage.commit(batch).unwrap();
        };
        write(b"a", b"1");
        write(b"b", b"1");
        let snapshot = engine.snapshot();
        write(b"a", b"2");
        write(b"c", b"2");
        let values = |view: View<'_>| -> Vec<(Vec<u8>, Vec<u8>)> {
            view.range(Cf::Subkey, b"", None)
                .map(|e| e.map(|(k, v)| (k.to_vec(), v.to_vec())).unwrap())
                .collect()
        };
        let old = snapshot.view();
        assert!(old.is_snapshot() && !engine.live().is_snapshot());
        assert_eq!(&old.get(Cf::Subkey, b"a").unwrap().unwrap()[..], b"1");
        assert!(old.get(Cf::Subkey, b"c").unwrap().is_none());
        assert_eq!(
            values(old),
            [
                (b"a".to_vec(), b"1".to_vec()),
                (b"b".to_vec(), b"1".to_vec())
            ]
        );
        let live = engine.live();
        assert_eq!(&live.get(Cf::Subkey, b"a").unwrap().unwrap()[..], b"2");
        assert_eq!(values(live).len(), 3);
        let mut iter = old.raw_iterator(Cf::Subkey, b"a".to_vec(), b"z".to_vec());
        iter.seek_to_last();
        assert_eq!(iter.key(), Some(&b"b"[..]));
    }
}
