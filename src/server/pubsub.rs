//! Pub/Sub: which connections are subscribed to which channels, patterns
//! and shard channels, and the delivery of published messages.
//!
//! Every subscribed connection has a mailbox, an unbounded queue of
//! messages that its task writes out. Publishing only queues, so it never
//! waits for a subscriber and may run on any thread, under any lock (the
//! registry's own lock is held only to look subscribers up). A subscriber
//! whose queue passes the `pubsub` class of `client-output-buffer-limit`
//! is cut off: it gets nothing more and its connection is closed, which
//! drops the queue, so a subscriber that does not read costs a bounded
//! amount of memory.

use super::ClientHandle;
use crate::config::BufferLimit;
use crate::glob::glob_match;
use crate::protocol::{encode_push_of_bulks, Reply};
use bytes::{Bytes, BytesMut};
use parking_lot::RwLock;
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Instant;
use tokio::sync::mpsc;

/// The three kinds of subscription.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// SUBSCRIBE: one channel by name.
    Channel,
    /// PSUBSCRIBE: every channel a glob pattern matches.
    Pattern,
    /// SSUBSCRIBE: a shard channel, which SPUBLISH reaches.
    ShardChannel,
}

impl Kind {
    /// The word of the confirmation of a subscription.
    pub fn subscribe_word(self) -> &'static str {
        match self {
            Kind::Channel => "subscribe",
            Kind::Pattern => "psubscribe",
            Kind::ShardChannel => "ssubscribe",
        }
    }

    /// The word of the confirmation of an unsubscription.
    pub fn unsubscribe_word(self) -> &'static str {
        match self {
            Kind::Channel => "unsubscribe",
            Kind::Pattern => "punsubscribe",
            Kind::ShardChannel => "sunsubscribe",
        }
    }
}

/// Where a message came from, as its subscriber sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Source {
    Channel,
    /// The pattern that matched the channel.
    Pattern(Bytes),
    ShardChannel,
}

/// What one publish delivers, shared by its subscribers.
#[derive(Debug, PartialEq, Eq)]
struct Published {
    channel: Box<[u8]>,
    payload: Box<[u8]>,
}

/// A published message as one subscriber receives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    source: Source,
    published: Arc<Published>,
}

impl Published {
    fn new(channel: &[u8], payload: &[u8]) -> Arc<Published> {
        Arc::new(Published {
            channel: channel.into(),
            payload: payload.into(),
        })
    }
}

/// What a message is counted as in a subscriber's queue besides its
/// strings: about what its frame adds (headers, lengths, CRLFs) and a
/// queue slot.
const MESSAGE_OVERHEAD: usize = 64;

impl Message {
    /// Its parts as Redis sends them: `message`, `pmessage` (with the
    /// pattern) or `smessage`, then the channel and the payload.
    fn with_parts<T>(&self, f: impl FnOnce(&[&[u8]]) -> T) -> T {
        let (channel, payload) = (&self.published.channel[..], &self.published.payload[..]);
        match &self.source {
            Source::Channel => f(&[b"message".as_slice(), channel, payload]),
            Source::Pattern(pattern) => f(&[b"pmessage".as_slice(), pattern, channel, payload]),
            Source::ShardChannel => f(&[b"smessage".as_slice(), channel, payload]),
        }
    }

    /// Appends the message, in protocol `version`, to `out`.
    pub fn encode(&self, version: u8, out: &mut BytesMut) {
        self.with_parts(|parts| encode_push_of_bulks(parts, version, out));
    }

    /// The message as a reply (a command that publishes to its own client
    /// answers with it).
    pub fn to_reply(&self) -> Reply {
        self.with_parts(|parts| Reply::Push(parts.iter().map(Reply::bulk).collect()))
    }

    /// The bytes the message holds a subscriber's queue to.
    fn size(&self) -> usize {
        let pattern = match &self.source {
            Source::Pattern(pattern) => pattern.len(),
            _ => 0,
        };
        pattern + self.published.channel.len() + self.published.payload.len() + MESSAGE_OVERHEAD
    }
}

/// Milliseconds on a monotonic clock, never 0 (0 means "not set").
fn clock_ms() -> u64 {
    static EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);
    EPOCH.elapsed().as_millis() as u64 + 1
}

/// The sending side of a connection's mailbox, as the registry holds it.
struct Subscriber {
    client: Arc<ClientHandle>,
    queue: mpsc::UnboundedSender<Message>,
    /// When (on [`clock_ms`]) the queue went above the soft limit; 0 while
    /// it is below.
    above_soft_since: AtomicU64,
    /// Set once the queue passed the limit: nothing more is queued.
    cut_off: AtomicBool,
}

impl Subscriber {
    /// Queues `message` unless the queue is over the limit, in which case
    /// the client is cut off.
    fn deliver(&self, message: Message, limit: &BufferLimit) {
        if self.cut_off.load(Ordering::Relaxed) {
            return;
        }
        let size = message.size();
        let queued = &self.client.pubsub.queued_bytes;
        let after = queued.load(Ordering::Relaxed) + size;
        if limit.hard_reached(after) || self.soft_limit_expired(after, limit) {
            self.cut_off();
            return;
        }
        queued.fetch_add(size, Ordering::Relaxed);
        // Fails only when the connection is gone and about to unsubscribe.
        let _ = self.queue.send(message);
    }

    /// Whether `queued` bytes are above the soft limit and have been for
    /// longer than its seconds.
    fn soft_limit_expired(&self, queued: usize, limit: &BufferLimit) -> bool {
        let Some(grace) = limit.soft_grace(queued) else {
            self.above_soft_since.store(0, Ordering::Relaxed);
            return false;
        };
        let now = clock_ms();
        let since = match self.above_soft_since.compare_exchange(
            0,
            now,
            Ordering::Relaxed,
            Ordering::Relaxed,
        ) {
            Ok(_) => now,
            Err(since) => since,
        };
        now - since > grace.as_millis() as u64
    }

    /// Stops queueing and closes the client, logging it as Redis does.
    fn cut_off(&self) {
        if !self.cut_off.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                "Client {} scheduled to be closed ASAP for overcoming of output buffer limits.",
                self.client.describe()
            );
            self.client.kill();
        }
    }
}

/// Subscribers of one channel, pattern or shard channel, by client id.
type Subscribers = HashMap<u64, Arc<Subscriber>>;

#[derive(Default)]
struct Tables {
    channels: HashMap<Bytes, Subscribers>,
    patterns: HashMap<Bytes, Subscribers>,
    shard_channels: HashMap<Bytes, Subscribers>,
}

impl Tables {
    fn of(&self, kind: Kind) -> &HashMap<Bytes, Subscribers> {
        match kind {
            Kind::Channel => &self.channels,
            Kind::Pattern => &self.patterns,
            Kind::ShardChannel => &self.shard_channels,
        }
    }

    fn of_mut(&mut self, kind: Kind) -> &mut HashMap<Bytes, Subscribers> {
        match kind {
            Kind::Channel => &mut self.channels,
            Kind::Pattern => &mut self.patterns,
            Kind::ShardChannel => &mut self.shard_channels,
        }
    }
}

/// The server's subscriptions, for every connection.
pub struct PubSub {
    tables: RwLock<Tables>,
    /// Channel and pattern subscriptions of all clients together, so that
    /// publishing with none (keyspace events, mostly) is one atomic load.
    subscriptions: AtomicUsize,
    /// The `pubsub` class of `client-output-buffer-limit`.
    hard_limit: AtomicU64,
    soft_limit: AtomicU64,
    soft_seconds: AtomicU64,
}

impl PubSub {
    pub fn new(limit: BufferLimit) -> PubSub {
        let registry = PubSub {
            tables: RwLock::default(),
            subscriptions: AtomicUsize::new(0),
            hard_limit: AtomicU64::new(0),
            soft_limit: AtomicU64::new(0),
            soft_seconds: AtomicU64::new(0),
        };
        registry.set_output_limit(limit);
        registry
    }

    /// Applies a new `pubsub` output buffer limit (CONFIG SET).
    pub fn set_output_limit(&self, limit: BufferLimit) {
        self.hard_limit.store(limit.hard, Ordering::Relaxed);
        self.soft_limit.store(limit.soft, Ordering::Relaxed);
        self.soft_seconds
            .store(limit.soft_seconds, Ordering::Relaxed);
    }

    fn output_limit(&self) -> BufferLimit {
        BufferLimit {
            hard: self.hard_limit.load(Ordering::Relaxed),
            soft: self.soft_limit.load(Ordering::Relaxed),
            soft_seconds: self.soft_seconds.load(Ordering::Relaxed),
        }
    }

    /// Whether any client subscribes to a channel or pattern (shard
    /// channels aside): PUBLISH reaches no one otherwise.
    pub fn listened(&self) -> bool {
        self.subscriptions.load(Ordering::Acquire) > 0
    }

    /// Delivers `message` to the subscribers of `channel` on this node and
    /// to those of every pattern that matches it: the number of receivers
    /// (a client subscribed both ways counts, and receives, twice), as
    /// PUBLISH answers. Never blocks or waits; cheap with no subscribers.
    pub fn publish(&self, channel: &[u8], message: &[u8]) -> usize {
        self.fan_out(channel, Some(message))
    }

    /// How many subscribers a PUBLISH to `channel` would reach now.
    pub fn receivers(&self, channel: &[u8]) -> usize {
        self.fan_out(channel, None)
    }

    /// Counts the receivers of `channel`, delivering `message` to them if
    /// there is one.
    fn fan_out(&self, channel: &[u8], message: Option<&[u8]>) -> usize {
        if !self.listened() {
            return 0;
        }
        let tables = self.tables.read();
        let limit = self.output_limit();
        // Copied once, and only when someone receives them.
        let mut published = None;
        let mut deliver = |subscriber: &Arc<Subscriber>, source: Source| {
            let Some(message) = message else {
                return;
            };
            let published = published
                .get_or_insert_with(|| Published::new(channel, message))
                .clone();
            subscriber.deliver(Message { source, published }, &limit);
        };
        let mut receivers = 0;
        // Channel subscribers first, then patterns, as Redis delivers.
        if let Some(subscribers) = tables.channels.get(channel) {
            for subscriber in subscribers.values() {
                deliver(subscriber, Source::Channel);
            }
            receivers += subscribers.len();
        }
        for (pattern, subscribers) in &tables.patterns {
            if !glob_match(pattern, channel, false) {
                continue;
            }
            for subscriber in subscribers.values() {
                deliver(subscriber, Source::Pattern(pattern.clone()));
            }
            receivers += subscribers.len();
        }
        receivers
    }

    /// How many subscribers an SPUBLISH to `channel` would reach now.
    pub fn shard_receivers(&self, channel: &[u8]) -> usize {
        self.tables
            .read()
            .shard_channels
            .get(channel)
            .map_or(0, |subscribers| subscribers.len())
    }

    /// Delivers `message` to the subscribers of shard channel `channel`
    /// (SPUBLISH): the number of receivers.
    pub fn publish_shard(&self, channel: &[u8], message: &[u8]) -> usize {
        let tables = self.tables.read();
        let Some(subscribers) = tables.shard_channels.get(channel) else {
            return 0;
        };
        let limit = self.output_limit();
        let published = Published::new(channel, message);
        for subscriber in subscribers.values() {
            let message = Message {
                source: Source::ShardChannel,
                published: published.clone(),
            };
            subscriber.deliver(message, &limit);
        }
        subscribers.len()
    }

    fn add(&self, kind: Kind, name: &Bytes, subscriber: &Arc<Subscriber>) {
        let mut tables = self.tables.write();
        tables
            .of_mut(kind)
            .entry(name.clone())
            .or_default()
            .insert(subscriber.client.id, subscriber.clone());
        if kind != Kind::ShardChannel {
            self.subscriptions.fetch_add(1, Ordering::Release);
        }
    }

    fn remove(&self, kind: Kind, name: &[u8], client: u64) {
        let mut tables = self.tables.write();
        let table = tables.of_mut(kind);
        let Some(subscribers) = table.get_mut(name) else {
            return;
        };
        if subscribers.remove(&client).is_none() {
            return;
        }
        if subscribers.is_empty() {
            table.remove(name);
        }
        if kind != Kind::ShardChannel {
            self.subscriptions.fetch_sub(1, Ordering::Release);
        }
    }

    /// The channels (or shard channels) with subscribers that match
    /// `pattern` (all without one): PUBSUB CHANNELS / SHARDCHANNELS.
    pub fn active(&self, kind: Kind, pattern: Option<&[u8]>) -> Vec<Bytes> {
        self.tables
            .read()
            .of(kind)
            .keys()
            .filter(|name| pattern.is_none_or(|p| glob_match(p, name, false)))
            .cloned()
            .collect()
    }

    /// How many clients subscribe to `name`: PUBSUB NUMSUB / SHARDNUMSUB.
    pub fn subscriber_count(&self, kind: Kind, name: &[u8]) -> usize {
        self.tables.read().of(kind).get(name).map_or(0, |s| s.len())
    }

    /// How many channels, patterns or shard channels have subscribers:
    /// PUBSUB NUMPAT and INFO's `pubsub_*` fields.
    pub fn active_count(&self, kind: Kind) -> usize {
        self.tables.read().of(kind).len()
    }
}

/// The receiving side of a connection's mailbox.
struct Mailbox {
    subscriber: Arc<Subscriber>,
    messages: mpsc::UnboundedReceiver<Message>,
}

/// A connection's subscriptions and mailbox. Dropping it (the connection
/// closes) unsubscribes from everything.
pub struct Subscriptions {
    registry: Arc<PubSub>,
    client: Arc<ClientHandle>,
    /// Made at the first subscription, kept for the connection's life.
    mailbox: Option<Mailbox>,
    channels: BTreeSet<Bytes>,
    patterns: BTreeSet<Bytes>,
    shard_channels: BTreeSet<Bytes>,
}

impl Subscriptions {
    pub fn new(registry: Arc<PubSub>, client: Arc<ClientHandle>) -> Subscriptions {
        Subscriptions {
            registry,
            client,
            mailbox: None,
            channels: BTreeSet::new(),
            patterns: BTreeSet::new(),
            shard_channels: BTreeSet::new(),
        }
    }

    fn names(&self, kind: Kind) -> &BTreeSet<Bytes> {
        match kind {
            Kind::Channel => &self.channels,
            Kind::Pattern => &self.patterns,
            Kind::ShardChannel => &self.shard_channels,
        }
    }

    fn names_mut(&mut self, kind: Kind) -> &mut BTreeSet<Bytes> {
        match kind {
            Kind::Channel => &mut self.channels,
            Kind::Pattern => &mut self.patterns,
            Kind::ShardChannel => &mut self.shard_channels,
        }
    }

    /// Publishes the count of `kind` for CLIENT LIST.
    fn update_count(&self, kind: Kind) {
        let counters = &self.client.pubsub;
        let counter = match kind {
            Kind::Channel => &counters.channels,
            Kind::Pattern => &counters.patterns,
            Kind::ShardChannel => &counters.shard_channels,
        };
        counter.store(self.names(kind).len(), Ordering::Relaxed);
    }

    /// Subscribes to `name`; false if already subscribed.
    pub fn subscribe(&mut self, kind: Kind, name: &[u8]) -> bool {
        if self.names(kind).contains(name) {
            return false;
        }
        // A copy: `name` may be a slice of the connection's read buffer.
        let name = Bytes::copy_from_slice(name);
        let client = &self.client;
        let mailbox = self.mailbox.get_or_insert_with(|| {
            let (queue, messages) = mpsc::unbounded_channel();
            let subscriber = Arc::new(Subscriber {
                client: client.clone(),
                queue,
                above_soft_since: AtomicU64::new(0),
                cut_off: AtomicBool::new(false),
            });
            Mailbox {
                subscriber,
                messages,
            }
        });
        self.registry.add(kind, &name, &mailbox.subscriber);
        self.names_mut(kind).insert(name);
        self.update_count(kind);
        true
    }

    /// Unsubscribes from `name`; false if it was not subscribed.
    pub fn unsubscribe(&mut self, kind: Kind, name: &[u8]) -> bool {
        if !self.names_mut(kind).remove(name) {
            return false;
        }
        self.registry.remove(kind, name, self.client.id);
        self.update_count(kind);
        true
    }

    /// Every subscription of `kind`, in name order.
    pub fn list(&self, kind: Kind) -> Vec<Bytes> {
        self.names(kind).iter().cloned().collect()
    }

    /// The count a confirmation of `kind` carries, as Redis counts:
    /// channels and patterns together, shard channels apart.
    pub fn confirmation_count(&self, kind: Kind) -> usize {
        match kind {
            Kind::Channel | Kind::Pattern => self.channels.len() + self.patterns.len(),
            Kind::ShardChannel => self.shard_channels.len(),
        }
    }

    /// Whether there is any subscription: the client is in Redis's
    /// subscribed context (pub/sub client type).
    pub fn subscribed(&self) -> bool {
        !(self.channels.is_empty() && self.patterns.is_empty() && self.shard_channels.is_empty())
    }

    /// Drops every subscription of every kind and the messages already
    /// queued, without replies: for RESET and when the connection closes.
    pub fn unsubscribe_all(&mut self) {
        for kind in [Kind::Channel, Kind::Pattern, Kind::ShardChannel] {
            for name in std::mem::take(self.names_mut(kind)) {
                self.registry.remove(kind, &name, self.client.id);
            }
            self.update_count(kind);
        }
        while self.take_message().is_some() {}
    }

    /// Whether messages wait in the mailbox.
    pub fn has_messages(&self) -> bool {
        self.mailbox
            .as_ref()
            .is_some_and(|mailbox| !mailbox.messages.is_empty())
    }

    /// The next queued message, if any.
    pub fn take_message(&mut self) -> Option<Message> {
        loop {
            let message = self.mailbox.as_mut()?.messages.try_recv().ok()?;
            if self.taken(&message) {
                return Some(message);
            }
        }
    }

    /// Waits for the next message (forever without a mailbox).
    /// Cancel-safe: a message is taken only when this completes.
    pub async fn next_message(&mut self) -> Message {
        loop {
            let Some(mailbox) = self.mailbox.as_mut() else {
                return std::future::pending().await;
            };
            // `None` cannot come: the mailbox holds a sender itself.
            let Some(message) = mailbox.messages.recv().await else {
                return std::future::pending().await;
            };
            if self.taken(&message) {
                return message;
            }
        }
    }

    /// Whether the subscription that brought `message` still stands. One
    /// that was dropped while the message waited in the queue (it was
    /// published while the UNSUBSCRIBE ran) is not delivered: after its
    /// confirmation a client gets nothing more from a channel, as in Redis.
    fn still_subscribed(&self, message: &Message) -> bool {
        let channel = &message.published.channel[..];
        match &message.source {
            Source::Channel => self.channels.contains(channel),
            Source::Pattern(pattern) => self.patterns.contains(&pattern[..]),
            Source::ShardChannel => self.shard_channels.contains(channel),
        }
    }

    /// Accounts for a message leaving the queue; whether it is to be
    /// delivered.
    fn taken(&self, message: &Message) -> bool {
        let Some(mailbox) = &self.mailbox else {
            return false;
        };
        let left = self
            .client
            .pubsub
            .queued_bytes
            .fetch_sub(message.size(), Ordering::Relaxed)
            - message.size();
        if left == 0 {
            // Caught up: a later backlog starts its soft-limit time anew.
            mailbox
                .subscriber
                .above_soft_since
                .store(0, Ordering::Relaxed);
        }
        self.still_subscribed(message)
    }
}

impl Drop for Subscriptions {
    fn drop(&mut self) {
        self.unsubscribe_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    fn client(registry: &Arc<PubSub>, clients: &super::super::ClientRegistry) -> Subscriptions {
        let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
        Subscriptions::new(registry.clone(), clients.register(addr, addr, -1))
    }

    fn drain(subscriptions: &mut Subscriptions) -> Vec<Reply> {
        std::iter::from_fn(|| subscriptions.take_message())
            .map(|m| m.to_reply())
            .collect()
    }

    fn push(items: &[&str]) -> Reply {
        Reply::Push(items.iter().map(Reply::bulk).collect())
    }

    #[test]
    fn channels_then_patterns_each_counted() {
        let registry = Arc::new(PubSub::new(BufferLimit::default()));
        let clients = super::super::ClientRegistry::default();
        let mut a = client(&registry, &clients);
        let mut b = client(&registry, &clients);
        assert_eq!(registry.publish(b"news", b"x"), 0);
        assert!(a.subscribe(Kind::Channel, b"news"));
        assert!(!a.subscribe(Kind::Channel, b"news"));
        assert!(a.subscribe(Kind::Pattern, b"n*"));
        assert!(b.subscribe(Kind::Pattern, b"*s"));
        assert!(b.subscribe(Kind::Pattern, b"x*"));
        assert_eq!(a.confirmation_count(Kind::Channel), 2);
        assert_eq!(registry.publish(b"news", b"hi"), 3);
        assert_eq!(
            drain(&mut a),
            vec![
                push(&["message", "news", "hi"]),
                push(&["pmessage", "n*", "news", "hi"])
            ]
        );
        assert_eq!(drain(&mut b), vec![push(&["pmessage", "*s", "news", "hi"])]);
        assert_eq!(registry.active_count(Kind::Pattern), 3);
        assert_eq!(registry.subscriber_count(Kind::Channel, b"news"), 1);
        drop(a);
        assert_eq!(registry.active_count(Kind::Pattern), 2);
        assert_eq!(registry.active(Kind::Channel, None), Vec::<Bytes>::new());
        assert_eq!(registry.publish(b"news", b"hi"), 1);
        b.unsubscribe_all();
        assert_eq!(b.take_message(), None, "RESET drops what was queued");
        assert_eq!(registry.subscriptions.load(Ordering::Relaxed), 0);
        assert_eq!(
            clients.all()[1].pubsub.queued_bytes.load(Ordering::Relaxed),
            0
        );
    }

    #[test]
    fn shard_channels_are_apart() {
        let registry = Arc::new(PubSub::new(BufferLimit::default()));
        let clients = super::super::ClientRegistry::default();
        let mut a = client(&registry, &clients);
        a.subscribe(Kind::ShardChannel, b"s");
        assert_eq!(a.confirmation_count(Kind::Channel), 0);
        assert_eq!(a.confirmation_count(Kind::ShardChannel), 1);
        assert_eq!(registry.publish(b"s", b"x"), 0);
        assert_eq!(registry.publish_shard(b"s", b"x"), 1);
        assert_eq!(drain(&mut a), vec![push(&["smessage", "s", "x"])]);
        assert!(a.subscribed());
        // Queued, then unsubscribed before it was taken: not delivered.
        assert_eq!(registry.publish_shard(b"s", b"late"), 1);
        assert!(a.unsubscribe(Kind::ShardChannel, b"s"));
        assert_eq!(a.take_message(), None);
        assert!(!a.subscribed());
        assert_eq!(registry.active_count(Kind::ShardChannel), 0);
    }

    #[test]
    fn a_subscriber_over_the_hard_limit_is_cut_off() {
        let registry = Arc::new(PubSub::new(BufferLimit {
            hard: 1000,
            soft: 0,
            soft_seconds: 0,
        }));
        let clients = super::super::ClientRegistry::default();
        let mut a = client(&registry, &clients);
        a.subscribe(Kind::Channel, b"c");
        let payload = [b'x'; 100];
        for _ in 0..100 {
            assert_eq!(registry.publish(b"c", &payload), 1);
        }
        let handle = &clients.all()[0];
        assert!(handle.is_killed());
        let queued = handle.pubsub.queued_bytes.load(Ordering::Relaxed);
        assert!(queued <= 1000, "{queued}");
        assert_eq!(drain(&mut a).len(), queued / (100 + 1 + MESSAGE_OVERHEAD));
    }

    #[test]
    fn the_soft_limit_allows_its_seconds() {
        let registry = Arc::new(PubSub::new(BufferLimit {
            hard: 0,
            soft: 500,
            soft_seconds: 3600,
        }));
        let clients = super::super::ClientRegistry::default();
        let mut a = client(&registry, &clients);
        a.subscribe(Kind::Channel, b"c");
        for _ in 0..100 {
            registry.publish(b"c", &[b'x'; 100]);
        }
        assert!(!clients.all()[0].is_killed());
        drain(&mut a);
        registry.set_output_limit(BufferLimit {
            hard: 0,
            soft: 500,
            soft_seconds: 0,
        });
        for _ in 0..10 {
            registry.publish(b"c", &[b'x'; 100]);
        }
        // The first message over the soft limit starts the clock; later
        // ones pass the (zero) grace once a millisecond has gone by.
        std::thread::sleep(std::time::Duration::from_millis(5));
        registry.publish(b"c", &[b'x'; 100]);
        assert!(clients.all()[0].is_killed());
    }
}
