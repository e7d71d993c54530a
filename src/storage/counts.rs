//! Exact, live key counts per keyspace and slot.
//!
//! Every write that creates or removes a key carries a merge operand for its
//! (keyspace, slot) counter in the same RocksDB batch, so the persisted
//! counts always agree with the data, even after a crash; the in-memory
//! atomics are updated right after the batch commits. DBSIZE and CLUSTER
//! COUNTKEYSINSLOT read the atomics: O(1), no scan at start-up.

use parking_lot::RwLock;
use redrock_cluster::SLOT_COUNT;
use redrock_encoding::Keyspace;
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// Prefix of the persisted key counters in the default CF:
/// `K | keyspace | slot u16` -> i64 (merge operands are deltas).
pub const KEY_COUNT_PREFIX: u8 = b'K';
/// Prefix of the persisted expiring-key counters: `E | keyspace` -> i64.
pub const EXPIRE_COUNT_PREFIX: u8 = b'E';

/// The counts of one keyspace.
pub struct KeyspaceCounts {
    keys: AtomicI64,
    expires: AtomicI64,
    slots: Box<[AtomicI64]>,
}

impl KeyspaceCounts {
    fn new() -> KeyspaceCounts {
        KeyspaceCounts {
            keys: AtomicI64::new(0),
            expires: AtomicI64::new(0),
            slots: (0..SLOT_COUNT).map(|_| AtomicI64::new(0)).collect(),
        }
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

    pub(crate) fn apply(&self, slot: u16, keys: i64, expires: i64) {
        if keys != 0 {
            self.keys.fetch_add(keys, Ordering::Relaxed);
            self.slots[slot as usize].fetch_add(keys, Ordering::Relaxed);
        }
        if expires != 0 {
            self.expires.fetch_add(expires, Ordering::Relaxed);
        }
    }

    pub(crate) fn reset(&self) {
        self.keys.store(0, Ordering::Relaxed);
        self.expires.store(0, Ordering::Relaxed);
        for slot in self.slots.iter() {
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
            .or_insert_with(|| Arc::new(KeyspaceCounts::new()))
            .clone()
    }

    /// Every keyspace with its counts.
    pub fn all(&self) -> Vec<(Keyspace, Arc<KeyspaceCounts>)> {
        self.keyspaces
            .read()
            .iter()
            .map(|(ks, c)| (ks.clone(), c.clone()))
            .collect()
    }

    /// Loads one persisted counter entry (a key of the default CF starting
    /// with one of the prefixes above).
    pub(crate) fn load_entry(&self, key: &[u8], value: &[u8]) {
        let Some((&kind, rest)) = key.split_first() else {
            return;
        };
        let Some((ks, rest)) = Keyspace::split(rest) else {
            return;
        };
        let count = decode_count(value);
        let counts = self.keyspace(&ks);
        match kind {
            KEY_COUNT_PREFIX if rest.len() == 2 => {
                counts.apply(u16::from_be_bytes([rest[0], rest[1]]), count, 0)
            }
            EXPIRE_COUNT_PREFIX => counts.apply(0, 0, count),
            _ => {}
        }
    }
}

/// The default-CF key of a (keyspace, slot) key counter.
pub fn key_count_key(ks: &Keyspace, slot: u16) -> Vec<u8> {
    let mut out = vec![KEY_COUNT_PREFIX];
    out.extend_from_slice(ks.as_bytes());
    out.extend_from_slice(&slot.to_be_bytes());
    out
}

/// The default-CF key of a keyspace's expiring-key counter.
pub fn expire_count_key(ks: &Keyspace) -> Vec<u8> {
    let mut out = vec![EXPIRE_COUNT_PREFIX];
    out.extend_from_slice(ks.as_bytes());
    out
}

pub fn encode_count(delta: i64) -> [u8; 8] {
    delta.to_le_bytes()
}

pub fn decode_count(value: &[u8]) -> i64 {
    value.try_into().map(i64::from_le_bytes).unwrap_or_default()
}

/// The merge operator of the counters: operands are deltas to add.
pub fn merge_counts(
    _key: &[u8],
    existing: Option<&[u8]>,
    operands: &rocksdb::MergeOperands,
) -> Option<Vec<u8>> {
    let sum = operands
        .iter()
        .fold(existing.map(decode_count).unwrap_or(0), |acc, op| {
            acc.wrapping_add(decode_count(op))
        });
    Some(encode_count(sum).to_vec())
}
