//! Striped key locks: a write command locks its keys, reads what it needs
//! and commits one batch while holding them, which makes it atomic against
//! every other writer of those keys.

use parking_lot::{Mutex, MutexGuard};
use std::hash::{Hash, Hasher};

const STRIPES: usize = 4096;

/// A fixed set of mutexes; a key maps to one by its hash.
pub struct KeyLocks {
    stripes: Box<[Mutex<()>]>,
}

/// The held locks of one command; released on drop.
pub struct KeyGuard<'a> {
    _guards: Vec<MutexGuard<'a, ()>>,
}

impl KeyLocks {
    pub fn new() -> KeyLocks {
        KeyLocks {
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
        }
    }

    fn stripe(keyspace: &[u8], key: &[u8]) -> usize {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        keyspace.hash(&mut hasher);
        key.hash(&mut hasher);
        (hasher.finish() as usize) % STRIPES
    }

    /// Locks every `(keyspace, key)` pair, in stripe order so that two
    /// commands locking overlapping keys cannot deadlock.
    pub fn lock<'a, 'k>(
        &'a self,
        keys: impl IntoIterator<Item = (&'k [u8], &'k [u8])>,
    ) -> KeyGuard<'a> {
        let mut stripes: Vec<usize> = keys
            .into_iter()
            .map(|(ks, key)| Self::stripe(ks, key))
            .collect();
        stripes.sort_unstable();
        stripes.dedup();
        KeyGuard {
            _guards: stripes
                .into_iter()
                .map(|i| self.stripes[i].lock())
                .collect(),
        }
    }

    /// Locks every stripe: nothing else writes until the guard drops. Used by
    /// FLUSHDB and FLUSHALL.
    pub fn lock_all(&self) -> KeyGuard<'_> {
        KeyGuard {
            _guards: self.stripes.iter().map(|m| m.lock()).collect(),
        }
    }
}

impl Default for KeyLocks {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn overlapping_multi_key_locks_do_not_deadlock() {
        let locks = Arc::new(KeyLocks::new());
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let locks = locks.clone();
                std::thread::spawn(move || {
                    for i in 0..2000u32 {
                        let a = (i + t).to_be_bytes();
                        let b = (i * 7 + 3).to_be_bytes();
                        let keys = if t % 2 == 0 { [a, b] } else { [b, a] };
                        let _g = locks.lock(keys.iter().map(|k| (&b""[..], &k[..])));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    }

    #[test]
    fn same_key_is_exclusive() {
        let locks = KeyLocks::new();
        let _g = locks.lock([(&b"ks"[..], &b"k"[..])]);
        let stripe = KeyLocks::stripe(b"ks", b"k");
        assert!(locks.stripes[stripe].try_lock().is_none());
    }
}
