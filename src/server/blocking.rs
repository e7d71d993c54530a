//! Clients blocked on keys (BLPOP, BZPOPMIN, ...): per key, a queue of
//! waiters in the order they blocked. A write to a key wakes the first
//! waiter only; that waiter retries its command and, served or gone, passes
//! the turn to the next one; not served, it passes the turn too and keeps
//! its place. So clients are served first-come first-served, a waiter that
//! cannot be served starves nobody, and nothing polls.

use bytes::Bytes;
use parking_lot::Mutex;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::Notify;

/// A key in one keyspace.
type BlockKey = (Vec<u8>, Bytes);

/// One blocked client.
struct Waiter {
    /// Wakes the client to retry its command.
    ready: Notify,
}

/// Every blocked client, by the keys it waits on.
#[derive(Default)]
pub struct BlockedClients {
    queues: Mutex<HashMap<BlockKey, VecDeque<Arc<Waiter>>>>,
    blocked: AtomicUsize,
}

impl BlockedClients {
    /// How many clients are blocked (INFO's blocked_clients). A writer
    /// asks after its write; a client blocking counts itself before its
    /// retry reads: the fence (with the counting's SeqCst) makes sure one
    /// of the two sees the other.
    pub fn count(&self) -> usize {
        std::sync::atomic::fence(Ordering::SeqCst);
        self.blocked.load(Ordering::SeqCst)
    }

    /// Queues a client on `keys` of keyspace `ks`; it stays queued until
    /// the returned registration is dropped.
    pub fn register(self: &Arc<Self>, ks: &[u8], keys: &[Bytes]) -> Registration {
        let waiter = Arc::new(Waiter {
            ready: Notify::new(),
        });
        let keys: Vec<BlockKey> = keys.iter().map(|k| (ks.to_vec(), k.clone())).collect();
        let mut queues = self.queues.lock();
        for key in &keys {
            let queue = queues.entry(key.clone()).or_default();
            if !queue.iter().any(|w| Arc::ptr_eq(w, &waiter)) {
                queue.push_back(waiter.clone());
            }
        }
        self.blocked.fetch_add(1, Ordering::SeqCst);
        Registration {
            clients: self.clone(),
            waiter,
            keys,
        }
    }

    /// Wakes the first client waiting on `key` of keyspace `ks`, if any.
    pub fn key_ready(&self, ks: &[u8], key: &[u8]) {
        if self.count() == 0 {
            return;
        }
        let queues = self.queues.lock();
        if let Some(first) = queues
            .get(&(ks.to_vec(), Bytes::copy_from_slice(key)))
            .and_then(|q| q.front())
        {
            first.ready.notify_one();
        }
    }

    /// Wakes every client waiting on a key of `slots`, handed over to
    /// another node: retried, their commands find the slots moved.
    pub fn wake_slots(&self, (first, last): redrock_cluster::SlotRange) {
        if self.count() == 0 {
            return;
        }
        let queues = self.queues.lock();
        for ((_, key), queue) in queues.iter() {
            if (first..=last).contains(&redrock_cluster::key_slot(key)) {
                queue.iter().for_each(|waiter| waiter.ready.notify_one());
            }
        }
    }
}

/// A client's place in the queues of its keys.
pub struct Registration {
    clients: Arc<BlockedClients>,
    waiter: Arc<Waiter>,
    keys: Vec<BlockKey>,
}

impl Registration {
    /// Completes when the client should retry its command.
    pub async fn ready(&self) {
        self.waiter.ready.notified().await
    }

    /// Gives the turn this client was woken for, and could not use (the
    /// key holds another type, or nothing is left), to the waiter after it
    /// on each of its keys, which keeps its own place. Without this, a
    /// waiter that can never be served would hold the turn while clients
    /// behind it wait on data they could take.
    pub fn pass_turn(&self) {
        let queues = self.clients.queues.lock();
        for key in &self.keys {
            let Some(queue) = queues.get(key) else {
                continue;
            };
            let next = queue
                .iter()
                .skip_while(|w| !Arc::ptr_eq(w, &self.waiter))
                .nth(1);
            if let Some(next) = next {
                next.ready.notify_one();
            }
        }
    }
}

impl Drop for Registration {
    /// Leaves every queue and passes the turn to the next waiter of each
    /// key: this client was served (the key may hold more) or left (it may
    /// have been woken for nothing). A waiter woken in vain waits again.
    fn drop(&mut self) {
        let mut queues = self.clients.queues.lock();
        for key in &self.keys {
            let Some(queue) = queues.get_mut(key) else {
                continue;
            };
            queue.retain(|w| !Arc::ptr_eq(w, &self.waiter));
            match queue.front() {
                Some(next) => next.ready.notify_one(),
                None => {
                    queues.remove(key);
                }
            }
        }
        self.clients.blocked.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What a blocking command that found nothing to serve asks for: to wait
/// on its keys, then run again.
pub struct BlockRequest {
    pub keys: Vec<Bytes>,
    /// `None` waits for ever.
    pub timeout: Option<std::time::Duration>,
    /// The reply when the timeout passes.
    pub timeout_reply: crate::protocol::Reply,
    /// The command to run again, when not the one sent: XREAD's `$`
    /// becomes the last id it stood for, so entries added meanwhile serve it.
    pub retry: Option<Vec<Bytes>>,
}
