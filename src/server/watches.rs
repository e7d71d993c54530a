//! WATCH: which clients watch which keys, and whether a watched key was
//! written since.
//!
//! Every finished write tells the registry the keys it changed (see
//! `storage::WriteObserver`), while the writer still holds their locks; a
//! client's EXEC locks its keys before it checks its flag, so it cannot
//! miss a write. While nobody watches anything, a write costs one atomic
//! load here.

use crate::types::KeyspaceHandle;
use parking_lot::Mutex;
use redrock_encoding::Keyspace;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

const SHARDS: usize = 64;

/// A (keyspace, key) pair.
type WatchedPair = (Vec<u8>, Vec<u8>);
/// A watcher of a pair: its flag, and whether the key existed when it was
/// watched.
type Watcher = (Arc<AtomicBool>, bool);
/// The watched pairs of one shard, each with its watchers.
type Shard = Mutex<HashMap<WatchedPair, Vec<Watcher>>>;

/// The watched keys of every client.
pub struct Watches {
    /// How many (pair, client) registrations exist: writes skip the map
    /// while there are none.
    registrations: AtomicUsize,
    shards: Box<[Shard]>,
}

impl Default for Watches {
    fn default() -> Self {
        Watches {
            registrations: AtomicUsize::new(0),
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
        }
    }
}

impl Watches {
    fn shard(&self, ks: &[u8], key: &[u8]) -> &Shard {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        ks.hash(&mut hasher);
        key.hash(&mut hasher);
        &self.shards[hasher.finish() as usize % SHARDS]
    }

    fn register(&self, flag: &Arc<AtomicBool>, ks: &[u8], key: &[u8], existed: bool) {
        let mut shard = self.shard(ks, key).lock();
        shard
            .entry((ks.to_vec(), key.to_vec()))
            .or_default()
            .push((flag.clone(), existed));
        self.registrations.fetch_add(1, Ordering::SeqCst);
    }

    fn unregister(&self, flag: &Arc<AtomicBool>, ks: &[u8], key: &[u8]) {
        let mut shard = self.shard(ks, key).lock();
        let pair = (ks.to_vec(), key.to_vec());
        if let Some(flags) = shard.get_mut(&pair) {
            if let Some(i) = flags.iter().position(|(f, _)| Arc::ptr_eq(f, flag)) {
                flags.swap_remove(i);
                self.registrations.fetch_sub(1, Ordering::SeqCst);
            }
            if flags.is_empty() {
                shard.remove(&pair);
            }
        }
    }

    /// How many keys are watched (by distinct clients counted apart), for
    /// INFO's `watching_clients`-like figures and tests.
    pub fn registrations(&self) -> usize {
        self.registrations.load(Ordering::SeqCst)
    }
}

/// What writers tell the registry (through `server::notifications`'s
/// observer).
impl Watches {
    /// Whether anyone watches a key: writers skip collecting their keys
    /// otherwise.
    pub fn watching(&self) -> bool {
        self.registrations.load(Ordering::SeqCst) > 0
    }

    /// Breaks the watches of the (keyspace, key) pairs a write changed.
    pub fn keys_written(&self, keys: &[(Vec<u8>, Vec<u8>)]) {
        for (ks, key) in keys {
            let shard = self.shard(ks, key).lock();
            // The map is keyed by owned pairs; only reached while someone
            // watches.
            if let Some(flags) = shard.get(&(ks.clone(), key.clone())) {
                for (flag, _) in flags {
                    flag.store(true, Ordering::SeqCst);
                }
            }
        }
    }

    /// As in Redis, a flush touches the watched keys that exist. A key
    /// that existed when watched and was not written since still exists;
    /// one that did not, still does not (its creation would have been a
    /// write, which breaks the watch anyway).
    pub fn keyspaces_cleared(&self, keyspaces: &[Keyspace]) {
        if self.registrations.load(Ordering::SeqCst) == 0 {
            return;
        }
        for shard in self.shards.iter() {
            for ((ks, _), flags) in shard.lock().iter() {
                if keyspaces.iter().any(|cleared| cleared.as_bytes() == ks) {
                    for (flag, _) in flags.iter().filter(|(_, existed)| *existed) {
                        flag.store(true, Ordering::SeqCst);
                    }
                }
            }
        }
    }
}

/// One watched key of a client.
struct WatchedKey {
    db: Arc<KeyspaceHandle>,
    key: Vec<u8>,
    /// The key's expiry when it was watched, if it existed and had one: it
    /// may expire before EXEC without anyone writing it.
    expire_at: u64,
}

/// What one client watches; dropping it (EXEC, DISCARD, UNWATCH, RESET,
/// disconnect) unregisters every key.
pub struct ClientWatch {
    watches: Arc<Watches>,
    /// Set by a write to a watched key. It is the client's
    /// `ClientHandle::watch_touched` (CLIENT LIST's flag `d`), cleared
    /// when this watch ends.
    touched: Arc<AtomicBool>,
    keys: Vec<WatchedKey>,
}

impl ClientWatch {
    /// A client's watch, whose writes set `touched` (clear until then).
    pub fn new(watches: Arc<Watches>, touched: Arc<AtomicBool>) -> ClientWatch {
        ClientWatch {
            watches,
            touched,
            keys: Vec::new(),
        }
    }

    /// Watches `key` of `db`, which exists (`existed`) with expiry
    /// `expire_at` (0: none or missing). Watching a key twice is watching
    /// it once.
    pub fn watch(&mut self, db: &Arc<KeyspaceHandle>, key: &[u8], existed: bool, expire_at: u64) {
        let ks = db.keyspace.as_bytes();
        if self
            .keys
            .iter()
            .any(|w| w.db.keyspace.as_bytes() == ks && w.key == key)
        {
            return;
        }
        self.watches.register(&self.touched, ks, key, existed);
        self.keys.push(WatchedKey {
            db: db.clone(),
            key: key.to_vec(),
            expire_at,
        });
    }

    /// How many keys are watched (CLIENT LIST's `watch=`).
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Whether EXEC must fail: a watched key was written since it was
    /// watched, or has expired since (at `now`). Called with the keys
    /// locked.
    pub fn broken(&self, now: u64) -> bool {
        self.touched.load(Ordering::SeqCst)
            || self
                .keys
                .iter()
                .any(|w| w.expire_at != 0 && w.expire_at <= now)
    }

    /// The watched keys, as (keyspace handle, key).
    pub fn keys(&self) -> impl Iterator<Item = (&Arc<KeyspaceHandle>, &[u8])> {
        self.keys.iter().map(|w| (&w.db, w.key.as_slice()))
    }
}

impl Drop for ClientWatch {
    fn drop(&mut self) {
        for w in &self.keys {
            self.watches
                .unregister(&self.touched, w.db.keyspace.as_bytes(), &w.key);
        }
        // No write can set it any more: writers set flags under the lock
        // of the shard that `unregister` took.
        self.touched.store(false, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handle(index: u32) -> Arc<KeyspaceHandle> {
        let (_dir, storage) = crate::storage::tests::storage();
        Arc::new(KeyspaceHandle::new(&storage, index))
    }

    #[test]
    fn a_write_or_a_flush_breaks_a_watch_and_dropping_unregisters() {
        let watches = Arc::new(Watches::default());
        let db0 = handle(0);
        let db1 = handle(1);
        let ks0 = db0.keyspace.as_bytes().to_vec();
        let mut a = ClientWatch::new(watches.clone(), Arc::default());
        a.watch(&db0, b"k", true, 0);
        a.watch(&db0, b"k", true, 0);
        assert_eq!((a.len(), watches.registrations()), (1, 1));
        watches.keys_written(&[(ks0.clone(), b"other".to_vec())]);
        watches.keyspaces_cleared(std::slice::from_ref(&db1.keyspace));
        assert!(!a.broken(0), "other keys and databases leave it alone");
        watches.keys_written(&[(ks0.clone(), b"k".to_vec())]);
        assert!(a.broken(0));
        let mut b = ClientWatch::new(watches.clone(), Arc::default());
        b.watch(&db0, b"x", true, 0);
        let mut missing = ClientWatch::new(watches.clone(), Arc::default());
        missing.watch(&db0, b"y", false, 0);
        watches.keyspaces_cleared(std::slice::from_ref(&db0.keyspace));
        assert!(b.broken(0));
        assert!(!missing.broken(0), "a flush leaves a missing key alone");
        let mut c = ClientWatch::new(watches.clone(), Arc::default());
        c.watch(&db1, b"k", true, 1000);
        assert!(!c.broken(999) && c.broken(1000), "expiry breaks it");
        let shared = Arc::new(AtomicBool::new(false));
        let mut d = ClientWatch::new(watches.clone(), shared.clone());
        d.watch(&db0, b"k", true, 0);
        watches.keys_written(&[(ks0.clone(), b"k".to_vec())]);
        assert!(
            shared.load(Ordering::SeqCst),
            "the client's flag is the watch's"
        );
        drop((a, b, c, d, missing));
        assert_eq!(watches.registrations(), 0);
        assert!(
            !shared.load(Ordering::SeqCst),
            "cleared when the watch ends"
        );
    }
}
