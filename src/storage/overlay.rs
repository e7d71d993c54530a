//! Writes not yet written, readable before they are.
//!
//! EXEC commits the batches of all its commands as ONE RocksDB write at
//! the end, so a crash never leaves half a transaction and no other client
//! sees part of it; yet each command must read what the commands before it
//! wrote. The overlay holds those writes (puts, deletes, range deletes),
//! indexed by column family and key, and a [`View`](super::View) with an
//! overlay answers from it first and merges it into iteration. Values are
//! copied in and out: an overlay lives for one EXEC, or for one pipeline
//! whose commands write the same key (see [`WriteSet`](super::WriteSet)).

use super::{Cf, Entry, Result};
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::iter::Peekable;

/// One write of a batch, as the overlay replays it.
#[derive(Debug)]
pub(super) enum Op {
    Put(Cf, Vec<u8>, Vec<u8>),
    Delete(Cf, Vec<u8>),
    /// Removes the stored keys in `from..to`.
    DeleteRange(Cf, Vec<u8>, Vec<u8>),
}

/// What the transaction made of a key: a value, or `None` once deleted.
type Written = Option<Box<[u8]>>;
/// A key and what the transaction made of it.
type OwnEntry = (Vec<u8>, Written);

/// The writes of a transaction so far.
#[derive(Default)]
pub struct Overlay {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The latest write of each key: its value, or `None` once deleted.
    entries: BTreeMap<(Cf, Vec<u8>), Written>,
    /// Range deletes: they hide stored keys; the overlay's own entries in
    /// the range were written after them (earlier ones are dropped).
    cleared: Vec<(Cf, Vec<u8>, Vec<u8>)>,
}

/// What the overlay says about one key.
pub(super) enum Lookup {
    /// Written by the transaction.
    Value(Box<[u8]>),
    /// Deleted by the transaction.
    Deleted,
    /// Not written: the stored value stands.
    Untouched,
}

impl Overlay {
    pub(super) fn apply(&self, ops: Vec<Op>) {
        let mut state = self.state.lock();
        for op in ops {
            match op {
                Op::Put(cf, key, value) => {
                    state.entries.insert((cf, key), Some(value.into()));
                }
                Op::Delete(cf, key) => {
                    state.entries.insert((cf, key), None);
                }
                Op::DeleteRange(cf, from, to) => {
                    if from >= to {
                        continue;
                    }
                    let doomed: Vec<_> = state
                        .entries
                        .range((cf, from.clone())..(cf, to.clone()))
                        .map(|(k, _)| k.clone())
                        .collect();
                    for key in doomed {
                        state.entries.remove(&key);
                    }
                    state.cleared.push((cf, from, to));
                }
            }
        }
    }

    /// Forgets every write: they were written.
    pub(super) fn clear(&self) {
        let mut state = self.state.lock();
        state.entries.clear();
        state.cleared.clear();
    }

    pub(super) fn lookup(&self, cf: Cf, key: &[u8]) -> Lookup {
        let state = self.state.lock();
        if state.entries.is_empty() && state.cleared.is_empty() {
            return Lookup::Untouched;
        }
        // The map is keyed by owned vectors; one copy per lookup is the
        // price of a transaction's reads, not of ordinary commands.
        match state.entries.get(&(cf, key.to_vec())) {
            Some(Some(value)) => Lookup::Value(value.clone()),
            Some(None) => Lookup::Deleted,
            None if state.clears(cf, key) => Lookup::Deleted,
            None => Lookup::Untouched,
        }
    }

    /// Whether the transaction wrote anything in `cf` between `lower`
    /// (inclusive) and `upper` (exclusive).
    pub(super) fn touches(&self, cf: Cf, lower: &[u8], upper: &[u8]) -> bool {
        if lower >= upper {
            return false;
        }
        let state = self.state.lock();
        state
            .entries
            .range((cf, lower.to_vec())..(cf, upper.to_vec()))
            .next()
            .is_some()
            || state
                .cleared
                .iter()
                .any(|(c, from, to)| *c == cf && from.as_slice() < upper && to.as_slice() > lower)
    }

    /// The part of the overlay that an iteration over `cf` from `start`
    /// (inclusive) to `end` (exclusive, `None` for the end of the family)
    /// merges in.
    pub(super) fn window(&self, cf: Cf, start: &[u8], end: Option<&[u8]>) -> Window {
        let state = self.state.lock();
        let lower = (cf, start.to_vec());
        let entries: Vec<_> = match end {
            Some(end) if end <= start => Vec::new(),
            Some(end) => state
                .entries
                .range(lower..(cf, end.to_vec()))
                .map(|((_, k), v)| (k.clone(), v.clone()))
                .collect(),
            None => state
                .entries
                .range(lower..)
                .take_while(|((c, _), _)| *c == cf)
                .map(|((_, k), v)| (k.clone(), v.clone()))
                .collect(),
        };
        let cleared = state
            .cleared
            .iter()
            .filter(|(c, ..)| *c == cf)
            .map(|(_, from, to)| (from.clone(), to.clone()))
            .collect();
        Window { entries, cleared }
    }
}

impl State {
    fn clears(&self, cf: Cf, key: &[u8]) -> bool {
        self.cleared
            .iter()
            .any(|(c, from, to)| *c == cf && from.as_slice() <= key && key < to.as_slice())
    }
}

/// The overlay's entries in one iteration's range, in ascending key order,
/// and its range deletes in that column family.
pub(super) struct Window {
    entries: Vec<OwnEntry>,
    cleared: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Window {
    /// Whether a stored key is replaced or removed by the transaction.
    fn hides(&self, key: &[u8]) -> bool {
        self.entries
            .binary_search_by(|(k, _)| k.as_slice().cmp(key))
            .is_ok()
            || self
                .cleared
                .iter()
                .any(|(from, to)| from.as_slice() <= key && key < to.as_slice())
    }
}

/// Stored entries with an overlay window merged in: what the database will
/// hold once the transaction is written. Passes the stored entries through
/// untouched when there is no overlay.
pub struct Merged<I: Iterator<Item = Result<Entry>>> {
    stored: Peekable<I>,
    overlay: Option<(Window, Peekable<std::vec::IntoIter<OwnEntry>>)>,
    reverse: bool,
}

impl<I: Iterator<Item = Result<Entry>>> Merged<I> {
    /// `stored` runs forward, or backward when `reverse`.
    pub(super) fn new(stored: I, window: Option<Window>, reverse: bool) -> Merged<I> {
        let overlay = window.map(|mut window| {
            let mut own = std::mem::take(&mut window.entries);
            // `hides` searches the keys; the iteration consumes a copy.
            window.entries = own.iter().map(|(k, _)| (k.clone(), None)).collect();
            if reverse {
                own.reverse();
            }
            (window, own.into_iter().peekable())
        });
        Merged {
            stored: stored.peekable(),
            overlay,
            reverse,
        }
    }
}

impl<I: Iterator<Item = Result<Entry>>> Iterator for Merged<I> {
    type Item = Result<Entry>;

    fn next(&mut self) -> Option<Result<Entry>> {
        let Some((window, own)) = &mut self.overlay else {
            return self.stored.next();
        };
        loop {
            let take_own = match (self.stored.peek(), own.peek()) {
                (Some(Err(_)), _) => return self.stored.next(),
                (Some(Ok((key, _))), _) if window.hides(key) => {
                    self.stored.next();
                    continue;
                }
                (None, None) => return None,
                (None, Some(_)) => true,
                (Some(_), None) => false,
                (Some(Ok((stored, _))), Some((mine, _))) => {
                    if self.reverse {
                        mine.as_slice() > &stored[..]
                    } else {
                        mine.as_slice() < &stored[..]
                    }
                }
            };
            if !take_own {
                return self.stored.next();
            }
            if let Some((key, Some(value))) = own.next() {
                return Some(Ok((key.into(), value)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A model: the stored map with the ops applied in order.
    fn model(stored: &BTreeMap<Vec<u8>, Vec<u8>>, ops: &[Op]) -> BTreeMap<Vec<u8>, Vec<u8>> {
        let mut out = stored.clone();
        for op in ops {
            match op {
                Op::Put(_, k, v) => {
                    out.insert(k.clone(), v.clone());
                }
                Op::Delete(_, k) => {
                    out.remove(k);
                }
                Op::DeleteRange(_, from, to) => out.retain(|k, _| !(from <= k && k < to)),
            }
        }
        out
    }

    fn key() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(0u8..4, 0..3)
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (key(), key()).prop_map(|(k, v)| Op::Put(Cf::Subkey, k, v)),
            key().prop_map(|k| Op::Delete(Cf::Subkey, k)),
            (key(), key()).prop_map(|(a, b)| Op::DeleteRange(Cf::Subkey, a, b)),
        ]
    }

    fn copy(op: &Op) -> Op {
        match op {
            Op::Put(cf, k, v) => Op::Put(*cf, k.clone(), v.clone()),
            Op::Delete(cf, k) => Op::Delete(*cf, k.clone()),
            Op::DeleteRange(cf, a, b) => Op::DeleteRange(*cf, a.clone(), b.clone()),
        }
    }

    proptest! {
        /// Lookups and iterations in both directions over any range agree
        /// with the stored data after the ops, and other column families
        /// see nothing.
        #[test]
        fn reads_through_the_overlay_match_a_model(
            stored in prop::collection::btree_map(key(), key(), 0..12),
            ops in prop::collection::vec(op(), 0..12),
            start in key(),
            end in prop::option::of(key()),
        ) {
            let overlay = Overlay::default();
            overlay.apply(ops.iter().map(copy).collect());
            let expected = model(&stored, &ops);
            for probe in stored.keys().chain(expected.keys()).chain([&start]) {
                let got = match overlay.lookup(Cf::Subkey, probe) {
                    Lookup::Value(v) => Some(v.to_vec()),
                    Lookup::Deleted => None,
                    Lookup::Untouched => stored.get(probe).cloned(),
                };
                prop_assert_eq!(got, expected.get(probe).cloned());
                prop_assert!(matches!(overlay.lookup(Cf::Metadata, probe), Lookup::Untouched));
            }
            let in_range = |k: &Vec<u8>| *k >= start && end.as_ref().is_none_or(|e| k < e);
            let stored_range: Vec<Result<Entry>> = stored
                .iter()
                .filter(|(k, _)| in_range(k))
                .map(|(k, v)| Ok((k.clone().into(), v.clone().into())))
                .collect();
            let want: Vec<(Vec<u8>, Vec<u8>)> = expected
                .iter()
                .filter(|(k, _)| in_range(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            let collect = |reverse: bool| -> Vec<(Vec<u8>, Vec<u8>)> {
                let mut input: Vec<Result<Entry>> = stored_range
                    .iter()
                    .map(|e| e.as_ref().map(|(k, v)| (k.clone(), v.clone())).map_err(|_| unreachable!()))
                    .collect();
                if reverse {
                    input.reverse();
                }
                let window = overlay.window(Cf::Subkey, &start, end.as_deref());
                Merged::new(input.into_iter(), Some(window), reverse)
                    .map(|e| e.map(|(k, v)| (k.to_vec(), v.to_vec())).unwrap())
                    .collect()
            };
            prop_assert_eq!(collect(false), want.clone());
            let mut backward = want;
            backward.reverse();
            prop_assert_eq!(collect(true), backward);
        }
    }
}
