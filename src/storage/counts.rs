//! Exact, live key counts per keyspace and slot.
//!
//! Every write that creates or removes keys carries, in the same RocksDB
//! batch, one merge operand per keyspace: the count changes of that batch,
//! slot by slot. The persisted counts therefore always agree with the data,
//! even after a crash, and a pipeline of writes adds one operand, not one per
//! key. The in-memory atomics are updated right after the batch commits.
//! DBSIZE and CLUSTER COUNTKEYSINSLOT read the atomics: O(1), no scan at
//! start-up.

use parking_lot::RwLock;
use redrock_cluster::SLOT_COUNT;
use redrock_encoding::Keyspace;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// Prefix of the persisted counters in the default CF: `K | keyspace` ->
/// a list of (slot u16 BE, count i64 LE) entries; merge operands are such
/// lists of changes.
pub const COUNT_PREFIX: u8 = b'K';
/// Keys with an expiry are counted under pseudo-slot `EXPIRES_BASE + slot`
/// (slots are below 16384), so a slot's keys can leave with their counts.
const EXPIRES_BASE: u16 = 0x8000;
/// The pseudo-slot of keys with an expiry counted by earlier versions, in
/// no slot.
const LEGACY_EXPIRES_SLOT: u16 = u16::MAX;
const ENTRY_LEN: usize = 10;

/// The counts of one keyspace.
pub struct KeyspaceCounts {
    keyspace: Keyspace,
    keys: AtomicI64,
    expires: AtomicI64,
    slots: Box<[AtomicI64]>,
    slot_expires: Box<[AtomicI64]>,
}

impl KeyspaceCounts {
    fn new(keyspace: Keyspace) -> KeyspaceCounts {
        KeyspaceCounts {
            keyspace,
            keys: AtomicI64::new(0),
            expires: AtomicI64::new(0),
            slots: (0..SLOT_COUNT).map(|_| AtomicI64::new(0)).collect(),
            slot_expires: (0..SLOT_COUNT).map(|_| AtomicI64::new(0)).collect(),
        }
    }

    /// The keyspace counted.
    pub fn keyspace(&self) -> &Keyspace {
        &self.keyspace
    }

    /// The number of keys (including expired keys not yet reclaimed, as in
    /// Redis).
    pub fn keys(&self) -> u64 {
        self.keys.load(Ordering::Relaxed).max(0) as u64
    }

    /// The number of keys with an expiry.
    pub fn expires(&self) -> u64 {
        self.expires.load(Ordering::Relaxed).max(0) as u64
    }

    /// The number of keys in one slot.
    pub fn keys_in_slot(&self, slot: u16) -> u64 {
        self.slots[slot as usize].load(Ordering::Relaxed).max(0) as u64
    }

    /// The number of keys with an expiry in one slot.
    pub fn expires_in_slot(&self, slot: u16) -> u64 {
        self.slot_expires[slot as usize]
            .load(Ordering::Relaxed)
            .max(0) as u64
    }

    pub(crate) fn apply(&self, slot: u16, keys: i64, expires: i64) {
        if keys != 0 {
            self.keys.fetch_add(keys, Ordering::Relaxed);
            self.slots[slot as usize].fetch_add(keys, Ordering::Relaxed);
        }
        if expires != 0 {
            self.expires.fetch_add(expires, Ordering::Relaxed);
            self.slot_expires[slot as usize].fetch_add(expires, Ordering::Relaxed);
        }
    }

    pub(crate) fn reset(&self) {
        self.keys.store(0, Ordering::Relaxed);
        self.expires.store(0, Ordering::Relaxed);
        for slot in self.slots.iter().chain(self.slot_expires.iter()) {
            slot.store(0, Ordering::Relaxed);
        }
    }
}

/// The counts of every keyspace that ever held a key.
#[derive(Default)]
pub struct KeyCounts {
    keyspaces: RwLock<HashMap<Keyspace, Arc<KeyspaceCounts>>>,
}

impl KeyCounts {
    /// The counts of `ks`, created empty on first use.
    pub fn keyspace(&self, ks: &Keyspace) -> Arc<KeyspaceCounts> {
        if let Some(counts) = self.keyspaces.read().get(ks) {
            return counts.clone();
        }
        self.keyspaces
            .write()
            .entry(ks.clone())
            .or_insert_with(|| Arc::new(KeyspaceCounts::new(ks.clone())))
            .clone()
    }

    /// Empties the counts of every keyspace (before they are loaded again
    /// from another database).
    pub(crate) fn reset_all(&self) {
        for counts in self.keyspaces.read().values() {
            counts.reset();
        }
    }

    /// Every keyspace with its counts.
    pub fn all(&self) -> Vec<(Keyspace, Arc<KeyspaceCounts>)> {
        self.keyspaces
            .read()
            .iter()
            .map(|(ks, c)| (ks.clone(), c.clone()))
            .collect()
    }

    /// Loads one persisted counter (a default-CF entry whose key starts
    /// with [`COUNT_PREFIX`]).
    pub(crate) fn load_entry(&self, key: &[u8], value: &[u8]) {
        let Some((&COUNT_PREFIX, rest)) = key.split_first() else {
            return;
        };
        let Some((ks, _)) = Keyspace::split(rest) else {
            return;
        };
        let counts = self.keyspace(&ks);
        for (slot, count) in decode_entries(value) {
            if slot < SLOT_COUNT {
                counts.apply(slot, count, 0);
            } else if (EXPIRES_BASE..EXPIRES_BASE + SLOT_COUNT).contains(&slot) {
                counts.apply(slot - EXPIRES_BASE, 0, count);
            } else if slot == LEGACY_EXPIRES_SLOT {
                counts.expires.fetch_add(count, Ordering::Relaxed);
            }
        }
    }
}

/// The default-CF key of a keyspace's counters.
pub fn count_key(ks: &Keyspace) -> Vec<u8> {
    let mut out = vec![COUNT_PREFIX];
    out.extend_from_slice(ks.as_bytes());
    out
}

fn decode_entries(value: &[u8]) -> impl Iterator<Item = (u16, i64)> + '_ {
    value.chunks_exact(ENTRY_LEN).map(|e| {
        let slot = u16::from_be_bytes([e[0], e[1]]);
        let count = i64::from_le_bytes(e[2..].try_into().expect("8 bytes"));
        (slot, count)
    })
}

fn encode_entries(entries: &BTreeMap<u16, i64>) -> Vec<u8> {
    let mut out = Vec::with_capacity(entries.len() * ENTRY_LEN);
    for (slot, count) in entries {
        if *count != 0 {
            out.extend_from_slice(&slot.to_be_bytes());
            out.extend_from_slice(&count.to_le_bytes());
        }
    }
    out
}

/// The merge operand of one batch's changes to one keyspace: `(slot, keys
/// delta, expires delta)` triples, summed per slot.
pub fn encode_changes(changes: impl Iterator<Item = (u16, i64, i64)>) -> Vec<u8> {
    let mut entries = BTreeMap::new();
    for (slot, keys, expires) in changes {
        *entries.entry(slot).or_insert(0) += keys;
        *entries.entry(EXPIRES_BASE + slot).or_insert(0) += expires;
    }
    encode_entries(&entries)
}

/// The merge operator of the counters: adds lists of changes slot by slot.
pub fn merge_counts(
    _key: &[u8],
    existing: Option<&[u8]>,
    operands: &rocksdb::MergeOperands,
) -> Option<Vec<u8>> {
    let mut entries = BTreeMap::new();
    for list in existing.into_iter().chain(operands.iter()) {
        for (slot, count) in decode_entries(list) {
            let total: &mut i64 = entries.entry(slot).or_insert(0);
            *total = total.wrapping_add(count);
        }
    }
    Some(encode_entries(&entries))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_sum_per_slot() {
        let op = encode_changes([(3, 1, 1), (3, 1, 0), (7, -1, -1)].into_iter());
        let decoded: Vec<_> = decode_entries(&op).collect();
        assert_eq!(
            decoded,
            vec![
                (3, 2),
                (7, -1),
                (EXPIRES_BASE + 3, 1),
                (EXPIRES_BASE + 7, -1)
            ]
        );
        let counts = KeyCounts::default();
        let ks = Keyspace::database(2);
        let mut key = count_key(&ks);
        counts.load_entry(&key, &op);
        let c = counts.keyspace(&ks);
        assert_eq!((c.keys(), c.keys_in_slot(3), c.expires()), (1, 2, 0));
        assert_eq!((c.expires_in_slot(3), c.expires_in_slot(7)), (1, 0));
        // Counts written before expiries were kept per slot still load.
        let legacy = encode_entries(&BTreeMap::from([(5, 2), (LEGACY_EXPIRES_SLOT, 1)]));
        counts.load_entry(&key, &legacy);
        assert_eq!((c.keys(), c.expires()), (3, 1));
        key.push(0);
        assert_eq!(count_key(&ks).len() + 1, key.len());
    }
}
