//! The registry of connected clients, for CLIENT LIST / INFO / KILL and
//! INFO clients.

use bytes::Bytes;
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{
    AtomicBool, AtomicI64, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering,
};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::Notify;

/// Redis's client types. A replica's link to its master is not a client
/// of this server's registry, so no registered client is of type master.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientKind {
    Normal,
    Replica,
    PubSub,
    Master,
}

impl ClientKind {
    /// The type named `name` (`slave` is `replica`), as CLIENT LIST and
    /// CLIENT KILL take it.
    pub fn parse(name: &[u8]) -> Option<ClientKind> {
        let name = std::str::from_utf8(name).ok()?.to_ascii_lowercase();
        match name.as_str() {
            "normal" => Some(ClientKind::Normal),
            "replica" | "slave" => Some(ClientKind::Replica),
            "pubsub" => Some(ClientKind::PubSub),
            "master" => Some(ClientKind::Master),
            _ => None,
        }
    }
}

/// What the registry and other connections may see of a client.
pub struct ClientHandle {
    pub id: u64,
    pub addr: SocketAddr,
    pub local_addr: SocketAddr,
    /// The socket's file descriptor.
    pub fd: i32,
    pub created: Instant,
    name: Mutex<Bytes>,
    /// CLIENT SETINFO LIB-NAME and LIB-VER.
    library: Mutex<Library>,
    last_command: Mutex<&'static str>,
    last_interaction: Mutex<Instant>,
    pub db: AtomicU32,
    pub protocol: AtomicU8,
    pub input_bytes: AtomicU64,
    killed: AtomicBool,
    /// Set once the connection feeds a replica (after PSYNC).
    replica: AtomicBool,
    /// Wakes the connection task when the client is killed.
    pub kill_signal: Notify,
    /// Whether the client waits in a blocking command.
    blocked: AtomicBool,
    /// What CLIENT UNBLOCK asked for (see [`Unblock`]).
    unblock_request: AtomicU8,
    /// Wakes a blocked client for CLIENT UNBLOCK.
    pub unblock_signal: Notify,
    /// Whether the client waits for CLIENT PAUSE to end.
    paused: AtomicBool,
    /// CLIENT NO-EVICT and CLIENT NO-TOUCH.
    pub no_evict: AtomicBool,
    pub no_touch: AtomicBool,
    /// Set by MONITOR (flag `O`).
    pub monitor: AtomicBool,
    /// Its pub/sub subscriptions and backlog, kept by `server::pubsub`.
    pub pubsub: PubSubCounters,
    /// How many commands MULTI has queued (-1 outside MULTI): CLIENT
    /// LIST's `multi=` and flag `x`. Kept by `commands::Transaction`.
    multi_queued: AtomicI64,
    /// The queued commands' argument bytes plus a pointer per argument,
    /// as Redis counts `multi-mem`.
    multi_memory: AtomicU64,
    /// Set when a key the client WATCHes is written (Redis's dirty CAS,
    /// flag `d`); shared with the client's `ClientWatch`, which clears it
    /// when the client stops watching (EXEC, DISCARD, UNWATCH, RESET).
    pub watch_touched: Arc<AtomicBool>,
}

/// The client library a connection declared with CLIENT SETINFO.
#[derive(Default)]
struct Library {
    name: Bytes,
    version: Bytes,
}

/// A CLIENT SETINFO attribute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LibraryAttribute {
    Name,
    Version,
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

    /// CLIENT SETINFO: keeps a copy, as for the name; empty clears it.
    pub fn set_library(&self, attribute: LibraryAttribute, value: &[u8]) {
        let mut library = self.library.lock();
        let field = match attribute {
            LibraryAttribute::Name => &mut library.name,
            LibraryAttribute::Version => &mut library.version,
        };
        *field = Bytes::copy_from_slice(value);
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

    /// Marks the connection as a replica's feed.
    pub fn set_replica(&self) {
        self.replica.store(true, Ordering::Release);
    }

    /// The client's type, as CLIENT LIST TYPE and CLIENT KILL TYPE name it.
    pub fn kind(&self) -> ClientKind {
        if self.replica.load(Ordering::Acquire) {
            ClientKind::Replica
        } else if self.pubsub.subscribed() {
            ClientKind::PubSub
        } else {
            ClientKind::Normal
        }
    }

    /// Marks the client as blocked (or no longer), clearing any earlier
    /// CLIENT UNBLOCK request.
    /// Whether the client waits in a blocking command (its retries run
    /// while it does).
    pub fn is_blocked(&self) -> bool {
        self.blocked.load(Ordering::Acquire)
    }

    pub fn set_blocked(&self, blocked: bool) {
        self.unblock_request.store(0, Ordering::Release);
        self.blocked.store(blocked, Ordering::Release);
    }

    /// Marks the client as waiting for CLIENT PAUSE to end (or no longer):
    /// shown as blocked, but not one CLIENT UNBLOCK can end, as in Redis
    /// since the fix that stopped it from crashing the server.
    pub fn set_paused(&self, paused: bool) {
        self.paused.store(paused, Ordering::Release);
    }

    /// What MULTI has queued: `Some((commands, bytes))`, or `None`
    /// outside MULTI.
    pub fn set_multi(&self, queued: Option<(usize, u64)>) {
        let (count, memory) = queued.map_or((-1, 0), |(n, bytes)| (n as i64, bytes));
        self.multi_memory.store(memory, Ordering::Relaxed);
        self.multi_queued.store(count, Ordering::Relaxed);
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

    /// One line of CLIENT LIST, with Redis 7.2's fields in its order.
    /// The buffer and memory fields (qbuf, qbuf-free, argv-mem, rbs, rbp,
    /// obl, oll, tot-mem) are not tracked per client: they show what Redis
    /// shows for an idle client (tot-mem plus `multi-mem`). `events` is
    /// `r`, as for any client waiting for its next command.
    pub fn describe(&self) -> String {
        let library = self.library.lock();
        let pubsub = &self.pubsub;
        let multi_memory = self.multi_memory.load(Ordering::Relaxed);
        format!(
            "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub={} psub={} \
             ssub={} multi={} qbuf=0 qbuf-free=20474 argv-mem=0 multi-mem={} rbs=1024 rbp=0 \
             obl=0 oll=0 omem={} tot-mem={} events=r cmd={} user=default redir=-1 resp={} \
             lib-name={} lib-ver={}",
            self.id,
            self.addr,
            self.local_addr,
            self.fd,
            String::from_utf8_lossy(&self.name()),
            self.created.elapsed().as_secs(),
            self.last_interaction.lock().elapsed().as_secs(),
            self.flags(),
            self.db.load(Ordering::Relaxed),
            pubsub.channels.load(Ordering::Relaxed),
            pubsub.patterns.load(Ordering::Relaxed),
            pubsub.shard_channels.load(Ordering::Relaxed),
            self.multi_queued.load(Ordering::Relaxed),
            multi_memory,
            pubsub.queued_bytes.load(Ordering::Relaxed),
            22272 + multi_memory,
            self.last_command.lock(),
            self.protocol.load(Ordering::Relaxed),
            String::from_utf8_lossy(&library.name),
            String::from_utf8_lossy(&library.version),
        )
    }

    /// CLIENT LIST's flags, in Redis's order; `N` for none.
    fn flags(&self) -> String {
        let mut flags = String::new();
        if self.monitor.load(Ordering::Relaxed) {
            flags.push('O');
        }
        if self.replica.load(Ordering::Acquire) {
            flags.push('S');
        }
        if self.pubsub.subscribed() {
            flags.push('P');
        }
        if self.multi_queued.load(Ordering::Relaxed) >= 0 {
            flags.push('x');
        }
        if self.blocked.load(Ordering::Relaxed) || self.paused.load(Ordering::Relaxed) {
            flags.push('b');
        }
        if self.watch_touched.load(Ordering::Relaxed) {
            flags.push('d');
        }
        if self.no_evict.load(Ordering::Relaxed) {
            flags.push('e');
        }
        if self.no_touch.load(Ordering::Relaxed) {
            flags.push('T');
        }
        if flags.is_empty() {
            flags.push('N');
        }
        flags
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
    pub fn register(&self, addr: SocketAddr, local_addr: SocketAddr, fd: i32) -> Arc<ClientHandle> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let now = Instant::now();
        let handle = Arc::new(ClientHandle {
            id,
            addr,
            local_addr,
            fd,
            created: now,
            name: Mutex::new(Bytes::new()),
            library: Mutex::default(),
            last_command: Mutex::new("NULL"),
            last_interaction: Mutex::new(now),
            db: AtomicU32::new(0),
            protocol: AtomicU8::new(2),
            input_bytes: AtomicU64::new(0),
            killed: AtomicBool::new(false),
            replica: AtomicBool::new(false),
            kill_signal: Notify::new(),
            blocked: AtomicBool::new(false),
            unblock_request: AtomicU8::new(0),
            unblock_signal: Notify::new(),
            paused: AtomicBool::new(false),
            no_evict: AtomicBool::new(false),
            no_touch: AtomicBool::new(false),
            monitor: AtomicBool::new(false),
            pubsub: PubSubCounters::default(),
            multi_queued: AtomicI64::new(-1),
            multi_memory: AtomicU64::new(0),
            watch_touched: Arc::default(),
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
