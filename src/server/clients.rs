//! The registry of connected clients, for CLIENT LIST / INFO / KILL and
//! INFO clients.

use bytes::Bytes;
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::Notify;

/// What the registry and other connections may see of a client.
pub struct ClientHandle {
    pub id: u64,
    pub addr: SocketAddr,
    pub local_addr: SocketAddr,
    pub created: Instant,
    name: Mutex<Bytes>,
    last_command: Mutex<&'static str>,
    last_interaction: Mutex<Instant>,
    pub db: AtomicU32,
    pub protocol: AtomicU8,
    pub input_bytes: AtomicU64,
    killed: AtomicBool,
    /// Wakes the connection task when the client is killed.
    pub kill_signal: Notify,
    /// Whether the client waits in a blocking command.
    blocked: AtomicBool,
    /// What CLIENT UNBLOCK asked for (see [`Unblock`]).
    unblock_request: AtomicU8,
    /// Wakes a blocked client for CLIENT UNBLOCK.
    pub unblock_signal: Notify,
    /// Its pub/sub subscriptions and backlog, kept by `server::pubsub`.
    pub pubsub: PubSubCounters,
}

/// What CLIENT LIST shows of a client's pub/sub state.
#[derive(Default)]
pub struct PubSubCounters {
    pub channels: AtomicUsize,
    pub patterns: AtomicUsize,
    pub shard_channels: AtomicUsize,
    /// Bytes of messages published to the client and not yet taken by its
    /// connection for writing: what the `pubsub` output buffer limit bounds.
    pub queued_bytes: AtomicUsize,
}

impl PubSubCounters {
    /// Whether the client has any subscription: Redis's pub/sub client
    /// type and `P` flag.
    pub fn subscribed(&self) -> bool {
        [&self.channels, &self.patterns, &self.shard_channels]
            .iter()
            .any(|n| n.load(Ordering::Relaxed) > 0)
    }
}

/// How CLIENT UNBLOCK ends a blocking command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unblock {
    /// As if its timeout had passed.
    Timeout = 1,
    /// With an UNBLOCKED error.
    Error = 2,
}

impl ClientHandle {
    pub fn name(&self) -> Bytes {
        self.name.lock().clone()
    }

    /// Keeps a copy: `name` is a slice of the connection's read buffer,
    /// which it would otherwise keep alive (in SLOWLOG entries too).
    pub fn set_name(&self, name: &[u8]) {
        *self.name.lock() = Bytes::copy_from_slice(name);
    }

    pub fn set_last_command(&self, name: &'static str) {
        *self.last_command.lock() = name;
        *self.last_interaction.lock() = Instant::now();
    }

    /// Asks the connection to close.
    pub fn kill(&self) {
        self.killed.store(true, Ordering::Release);
        self.kill_signal.notify_one();
    }

    pub fn is_killed(&self) -> bool {
        self.killed.load(Ordering::Acquire)
    }

    /// Marks the client as blocked (or no longer), clearing any earlier
    /// CLIENT UNBLOCK request.
    pub fn set_blocked(&self, blocked: bool) {
        self.unblock_request.store(0, Ordering::Release);
        self.blocked.store(blocked, Ordering::Release);
    }

    /// CLIENT UNBLOCK: whether the client was blocked.
    pub fn unblock(&self, how: Unblock) -> bool {
        if !self.blocked.load(Ordering::Acquire) {
            return false;
        }
        self.unblock_request.store(how as u8, Ordering::Release);
        self.unblock_signal.notify_one();
        true
    }

    /// The pending CLIENT UNBLOCK request, if any.
    pub fn unblock_requested(&self) -> Option<Unblock> {
        match self.unblock_request.load(Ordering::Acquire) {
            1 => Some(Unblock::Timeout),
            2 => Some(Unblock::Error),
            _ => None,
        }
    }

    /// One line of CLIENT LIST, in Redis's field order.
    pub fn describe(&self) -> String {
        let name = String::from_utf8_lossy(&self.name()).into_owned();
        let age = self.created.elapsed().as_secs();
        let idle = self.last_interaction.lock().elapsed().as_secs();
        let mut flags = String::new();
        if self.pubsub.subscribed() {
            flags.push('P');
        }
        if self.blocked.load(Ordering::Relaxed) {
            flags.push('b');
        }
        if flags.is_empty() {
            flags.push('N');
        }
        let pubsub = &self.pubsub;
        format!(
            "id={} addr={} laddr={} fd=0 name={} age={} idle={} flags={flags} db={} sub={} psub={} \
             ssub={} multi=-1 qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=16384 rbp=0 obl=0 \
             oll=0 omem={} tot-mem=0 events=r cmd={} user=default redir=-1 resp={}",
            self.id,
            self.addr,
            self.local_addr,
            name,
            age,
            idle,
            self.db.load(Ordering::Relaxed),
            pubsub.channels.load(Ordering::Relaxed),
            pubsub.patterns.load(Ordering::Relaxed),
            pubsub.shard_channels.load(Ordering::Relaxed),
            pubsub.queued_bytes.load(Ordering::Relaxed),
            self.last_command.lock(),
            self.protocol.load(Ordering::Relaxed),
        )
    }
}

/// Every connected client, by id.
#[derive(Default)]
pub struct ClientRegistry {
    next_id: AtomicU64,
    clients: Mutex<BTreeMap<u64, Arc<ClientHandle>>>,
}

impl ClientRegistry {
    /// Registers a new connection.
    pub fn register(&self, addr: SocketAddr, local_addr: SocketAddr) -> Arc<ClientHandle> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let now = Instant::now();
        let handle = Arc::new(ClientHandle {
            id,
            addr,
            local_addr,
            created: now,
            name: Mutex::new(Bytes::new()),
            last_command: Mutex::new("NULL"),
            last_interaction: Mutex::new(now),
            db: AtomicU32::new(0),
            protocol: AtomicU8::new(2),
            input_bytes: AtomicU64::new(0),
            killed: AtomicBool::new(false),
            kill_signal: Notify::new(),
            blocked: AtomicBool::new(false),
            unblock_request: AtomicU8::new(0),
            unblock_signal: Notify::new(),
            pubsub: PubSubCounters::default(),
        });
        self.clients.lock().insert(id, handle.clone());
        handle
    }

    pub fn unregister(&self, id: u64) {
        self.clients.lock().remove(&id);
    }

    /// Every client, ordered by id.
    pub fn all(&self) -> Vec<Arc<ClientHandle>> {
        self.clients.lock().values().cloned().collect()
    }

    pub fn count(&self) -> usize {
        self.clients.lock().len()
    }

    pub fn get(&self, id: u64) -> Option<Arc<ClientHandle>> {
        self.clients.lock().get(&id).cloned()
    }
}
