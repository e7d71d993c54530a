//! Keyspace notifications and WATCH, as the storage's write observer.
//!
//! The type layer raises an event for every change a command makes (see
//! `types::Db::notify`); once the write has landed, and while its writer
//! still holds the keys' locks, the events are published here the way
//! Redis does: `__keyspace@<db>__:<key>` carries the event name,
//! `__keyevent@<db>__:<event>` the key. Like Redis Cluster, each node
//! publishes only to its own subscribers.

use super::pubsub::PubSub;
use super::watches::Watches;
use crate::keyspace_events::{publishes, KEYEVENT, KEYSPACE};
use crate::storage::{Notice, WriteObserver};
use redrock_encoding::Keyspace;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

/// Publishes the events `notify-keyspace-events` selects.
pub struct KeyspaceEvents {
    /// The `notify-keyspace-events` bits.
    flags: AtomicU32,
    pubsub: Arc<PubSub>,
}

impl KeyspaceEvents {
    pub fn new(flags: u32, pubsub: Arc<PubSub>) -> KeyspaceEvents {
        KeyspaceEvents {
            flags: AtomicU32::new(flags),
            pubsub,
        }
    }

    /// Applies a new `notify-keyspace-events` value (CONFIG SET).
    pub fn set_flags(&self, flags: u32) {
        self.flags.store(flags, Ordering::Relaxed);
    }

    /// Whether an event of `class` would be published now: chosen by the
    /// flags, and someone subscribes to something.
    fn wants(&self, class: u32) -> bool {
        publishes(self.flags.load(Ordering::Relaxed), class) && self.pubsub.listened()
    }

    fn publish(&self, notices: Vec<Notice>) {
        let flags = self.flags.load(Ordering::Relaxed);
        let mut channel = Vec::new();
        for notice in notices {
            if !publishes(flags, notice.class) {
                continue;
            }
            let db = itoa::Buffer::new().format(notice.db).to_owned();
            if flags & KEYSPACE != 0 {
                channel.clear();
                channel.extend_from_slice(b"__keyspace@");
                channel.extend_from_slice(db.as_bytes());
                channel.extend_from_slice(b"__:");
                channel.extend_from_slice(&notice.key);
                self.pubsub.publish(&channel, notice.event.as_bytes());
            }
            if flags & KEYEVENT != 0 {
                channel.clear();
                channel.extend_from_slice(b"__keyevent@");
                channel.extend_from_slice(db.as_bytes());
                channel.extend_from_slice(b"__:");
                channel.extend_from_slice(notice.event.as_bytes());
                self.pubsub.publish(&channel, &notice.key);
            }
        }
    }
}

/// Everyone told of writes: WATCH and keyspace events.
pub struct WriteListeners {
    pub watches: Arc<Watches>,
    pub events: Arc<KeyspaceEvents>,
}

impl WriteObserver for WriteListeners {
    fn watching(&self) -> bool {
        self.watches.watching()
    }

    fn keys_written(&self, keys: &[(Vec<u8>, Vec<u8>)]) {
        self.watches.keys_written(keys);
    }

    fn keyspaces_cleared(&self, keyspaces: &[Keyspace]) {
        self.watches.keyspaces_cleared(keyspaces);
    }

    fn wants(&self, class: u32) -> bool {
        self.events.wants(class)
    }

    fn notices(&self, notices: Vec<Notice>) {
        self.events.publish(notices);
    }
}
