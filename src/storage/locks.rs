//! Striped key locks: a write command locks its keys, reads what it needs
//! and commits while holding them, which makes it atomic against every
//! other writer of those keys. The locks are held by a
//! [`WriteSet`](super::WriteSet), which may keep them across the commands
//! of one pipeline.

use parking_lot::lock_api::RawMutex as _;
use parking_lot::RawMutex;
use std::hash::{Hash, Hasher};

const STRIPES: usize = 4096;

/// A fixed set of mutexes; a key maps to one by its hash.
pub struct KeyLocks {
    stripes: Box<[RawMutex]>,
}

impl KeyLocks {
    pub fn new() -> KeyLocks {
        KeyLocks {
            stripes: (0..STRIPES).map(|_| RawMutex::INIT).collect(),
        }
    }

    /// The stripe of a key of a keyspace.
    pub fn stripe(keyspace: &[u8], key: &[u8]) -> usize {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        keyspace.hash(&mut hasher);
        key.hash(&mut hasher);
        (hasher.finish() as usize) % STRIPES
    }

    /// Every stripe index.
    pub fn all_stripes() -> std::ops::Range<usize> {
        0..STRIPES
    }

    pub(super) fn lock(&self, stripe: usize) {
        self.stripes[stripe].lock();
    }

    pub(super) fn try_lock(&self, stripe: usize) -> bool {
        self.stripes[stripe].try_lock()
    }

    /// # Safety
    /// The caller must hold `stripe`, taken with `lock` or `try_lock`.
    pub(super) unsafe fn unlock(&self, stripe: usize) {
        // SAFETY: guaranteed by the caller.
        unsafe { self.stripes[stripe].unlock() }
    }
}

impl Default for KeyLocks {
    fn default() -> Self {
        Self::new()
    }
}
