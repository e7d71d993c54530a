//! One task per connection: read, parse every complete request, execute,
//! and write all the replies with one flush.

use super::pause::Postponed;
use super::pubsub::{Message, Subscriptions};
use super::{BlockRequest, ClientHandle, ClientWatch, Server, Unblock};
use crate::commands::Transaction;
use crate::commands::{execute, Ctx};
use crate::config::BufferLimit;
use crate::protocol::{encode_reply, peek_gets, Reply, RequestLimits, RequestParser};
use crate::storage::{Engine, WriteAdmission, WriteSet};
use crate::types::string::Prefetched;
use crate::types::{Db, KeyspaceHandle};
use bytes::{Bytes, BytesMut};
use std::cell::RefCell;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

/// Replies are written out once this many bytes are pending, even in the
/// middle of a pipeline, so that one read of 600 `GET big` does not hold
/// 600 values in memory.
const FLUSH_THRESHOLD: usize = 64 * 1024;
/// The most GETs of a pipeline read in one batch, and the most bytes of
/// values kept from it (big values are read one GET at a time).
const PREFETCH_MAX: usize = 64;
const PREFETCH_BYTES: usize = 1 << 20;

/// A connection's buffers start at this size, and go back to it once
/// empty if a big request or reply grew them, so an idle client does not
/// keep the memory of its biggest request.
const BUFFER_SIZE: usize = 16 * 1024;

/// A connection's session state.
pub struct ClientState {
    pub handle: Arc<ClientHandle>,
    /// 2 or 3, as chosen with HELLO.
    pub protocol: u8,
    pub db: Arc<KeyspaceHandle>,
    pub authenticated: bool,
    /// Set by QUIT: close once the reply is written.
    pub close_after_reply: bool,
    /// Set by SHUTDOWN: close without replying.
    pub close_silently: bool,
    /// Set by READONLY: a replica serves this client's reads of its
    /// master's slots.
    pub replica_reads: bool,
    /// Set by a blocking command that found nothing to serve.
    pub block: Option<BlockRequest>,
    /// The commands queued since MULTI.
    pub multi: Option<Transaction>,
    /// The keys WATCHed since the last EXEC, DISCARD or UNWATCH.
    pub watch: Option<ClientWatch>,
    /// Set when CLIENT PAUSE holds the command: the connection waits for
    /// the pause to end, then runs it again.
    pub postponed: Option<Postponed>,
    /// Held from the first write of a pipeline until its writes are
    /// written: a CLIENT PAUSE waits for them (see `storage::WriteGate`).
    pub write_admission: Option<WriteAdmission>,
    /// CLIENT REPLY: which replies are sent.
    pub replies: Replies,
    /// Pub/Sub subscriptions and the mailbox of their messages. RESET
    /// calls `pubsub.unsubscribe_all()`; closing the connection drops it,
    /// which unsubscribes.
    pub pubsub: Subscriptions,
    /// While a script runs: the messages it published, sent when it
    /// finishes (a run that starts over must not have published).
    pub script_publishes: Option<Vec<DeferredPublish>>,
    /// What a replica announced with REPLCONF before PSYNC.
    pub replica_port: u16,
    pub replica_ip: Option<String>,
    /// Set by PSYNC: the connection becomes a replica's feed.
    pub takeover: Option<crate::replication::master::PsyncRequest>,
    /// Set by WAIT: the connection waits for replicas' acknowledgements.
    pub wait: Option<crate::commands::replication::WaitRequest>,
    /// Set by CLUSTER IMPORT: the slots this connection (a migration's
    /// source) imports; the import fails if it closes first.
    pub import_link: Option<crate::migration::import::ImportLink>,
    /// Set by MONITOR: the lines of the commands the server runs.
    pub monitor: Option<tokio::sync::mpsc::Receiver<Bytes>>,
}

/// A message a script published: (shard channel?, channel, message).
pub type DeferredPublish = (bool, Bytes, Bytes);

impl ClientState {
    /// Switches to database `index` (already checked to exist).
    pub fn select(&mut self, db: Arc<KeyspaceHandle>) {
        self.handle.db.store(db.index, Ordering::Relaxed);
        self.db = db;
    }

    /// Switches the reply protocol (HELLO, RESET).
    pub fn set_protocol(&mut self, protocol: u8) {
        self.protocol = protocol;
        self.handle.protocol.store(protocol, Ordering::Relaxed);
    }

    /// RESET: the state of a new connection, as Redis's
    /// `clearClientConnectionState` leaves it. The library name and
    /// version stay (they still describe the client), and so does a
    /// CLIENT REPLY SKIP that applies to RESET itself.
    pub fn reset(&mut self, server: &Server) {
        // DISCARD and UNWATCH.
        self.multi = None;
        self.watch = None;
        self.pubsub.unsubscribe_all();
        self.select(server.databases[0].clone());
        self.set_protocol(2);
        // As for a new connection: without a password, authenticated as
        // the default user; with one, AUTH is needed again.
        self.authenticated = server.config.read().requirepass.is_empty();
        self.handle.set_name(b"");
        self.replica_reads = false;
        self.replies.reset();
        self.handle.no_evict.store(false, Ordering::Relaxed);
        self.handle.no_touch.store(false, Ordering::Relaxed);
        self.monitor = None;
        self.handle.monitor.store(false, Ordering::Relaxed);
    }
}

/// CLIENT REPLY's state, as Redis keeps it in three flags.
#[derive(Default)]
pub struct Replies {
    /// CLIENT REPLY OFF: no reply until CLIENT REPLY ON.
    off: bool,
    /// CLIENT REPLY SKIP was the command before: this command's reply is
    /// dropped.
    skip: bool,
    /// CLIENT REPLY SKIP is this command: the next one's reply is dropped.
    skip_next: bool,
}

impl Replies {
    /// CLIENT REPLY ON; its own reply is sent.
    pub fn on(&mut self) {
        self.off = false;
        self.skip = false;
    }

    /// CLIENT REPLY OFF; its own reply is dropped.
    pub fn off(&mut self) {
        self.off = true;
    }

    /// CLIENT REPLY SKIP: drops its own reply (Redis sends none) and the
    /// next command's. Nothing changes while replies are off.
    pub fn skip(&mut self) {
        if !self.off {
            self.skip = true;
            self.skip_next = true;
        }
    }

    /// RESET's part: OFF and a pending SKIP end, not the skip of RESET's
    /// own reply.
    fn reset(&mut self) {
        self.off = false;
        self.skip_next = false;
    }

    /// After a command: whether its reply is sent. Moves a SKIP on to the
    /// next command.
    fn take_send(&mut self) -> bool {
        let send = !self.off && !self.skip;
        self.skip = std::mem::take(&mut self.skip_next);
        send
    }
}

/// Accepts connections until shutdown.
pub async fn accept_loop(server: Arc<Server>, listener: TcpListener) {
    let mut shutdown = server.shutdown_signal();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.wait_for(|stop| *stop) => return,
        };
        let (stream, addr) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                // Out of file descriptors and the like: wait, do not spin.
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        server.stats.connections_received.add(1);
        let maxclients = server.config.read().maxclients;
        if server.clients.count() as u64 >= maxclients {
            server.stats.connections_rejected.add(1);
            tokio::spawn(reject(stream, MAXCLIENTS_REACHED));
            continue;
        }
        if is_protected_from(&server, addr) {
            server.stats.connections_rejected.add(1);
            tokio::spawn(reject(stream, PROTECTED_MODE_DENIED));
            continue;
        }
        let local = stream.local_addr().unwrap_or(addr);
        let handle = server.clients.register(addr, local, stream.as_raw_fd());
        let server = server.clone();
        tokio::spawn(async move {
            let id = handle.id;
            let mut connection = Connection::new(server.clone(), stream, handle);
            if let Err(e) = connection.serve().await {
                tracing::debug!("connection {id} closed: {e}");
            }
            // Before the socket closes: a client that saw the close finds
            // the subscriptions gone.
            connection.state.pubsub.unsubscribe_all();
            server.clients.unregister(id);
        });
    }
}

const MAXCLIENTS_REACHED: &[u8] = b"-ERR max number of clients reached\r\n";

/// Redis's refusal, word for word, of a client that is not local while
/// protected mode is on and no password is set.
const PROTECTED_MODE_DENIED: &[u8] = b"-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Setup a an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";

/// Whether protected mode refuses a client from `peer`: the mode is on, no
/// password is set, and the peer is not 127.0.0.1 or ::1 (Redis's notion
/// of a local client).
fn is_protected_from(server: &Server, peer: SocketAddr) -> bool {
    let config = server.config.read();
    let local = match peer.ip().to_canonical() {
        IpAddr::V4(ip) => ip == std::net::Ipv4Addr::LOCALHOST,
        IpAddr::V6(ip) => ip == std::net::Ipv6Addr::LOCALHOST,
    };
    config.protected_mode && config.requirepass.is_empty() && !local
}

async fn reject(mut stream: TcpStream, reply: &'static [u8]) {
    let _ = stream.write_all(reply).await;
}

struct Connection {
    server: Arc<Server>,
    stream: TcpStream,
    state: ClientState,
    /// Key locks and the writes of the pipeline being executed.
    writes: RefCell<WriteSet>,
    input: BytesMut,
    /// Where parsing of `input` stands.
    parser: RequestParser,
    output: BytesMut,
    /// Replies in `output` that acknowledge writes not yet written: where
    /// the first starts, and how many replies there are from there on. If
    /// the write fails, they are replaced by errors.
    unwritten: Option<(usize, usize)>,
    /// The entries of a run of pipelined GETs, read in one batch; dropped
    /// before any other command runs and before more requests are read.
    prefetched: Option<Prefetched>,
}

impl Connection {
    fn new(server: Arc<Server>, stream: TcpStream, handle: Arc<ClientHandle>) -> Connection {
        let authenticated = server.config.read().requirepass.is_empty();
        let db = server.databases[0].clone();
        let writes = RefCell::new(WriteSet::new(server.storage.clone(), true));
        let pubsub = Subscriptions::new(server.pubsub.clone(), handle.clone());
        Connection {
            writes,
            server,
            stream,
            state: ClientState {
                handle,
                protocol: 2,
                db,
                authenticated,
                close_after_reply: false,
                close_silently: false,
                replica_reads: false,
                block: None,
                multi: None,
                watch: None,
                postponed: None,
                write_admission: None,
                replies: Replies::default(),
                pubsub,
                script_publishes: None,
                replica_port: 0,
                replica_ip: None,
                takeover: None,
                wait: None,
                import_link: None,
                monitor: None,
            },
            input: BytesMut::with_capacity(BUFFER_SIZE),
            parser: RequestParser::default(),
            output: BytesMut::with_capacity(BUFFER_SIZE),
            unwritten: None,
            prefetched: None,
        }
    }

    async fn serve(&mut self) -> std::io::Result<()> {
        let mut shutdown = self.server.shutdown_signal();
        let mut first_read = true;
        loop {
            let max_bulk_len = self.server.config.proto_max_bulk_len();
            let output_limit = self.output_limit();
            let mut closing = false;
            loop {
                let limits = RequestLimits {
                    max_bulk_len,
                    unauthenticated: !self.state.authenticated,
                };
                match self.parser.parse(&mut self.input, limits) {
                    Ok(Some(argv)) if argv.is_empty() => continue,
                    Ok(Some(argv)) => {
                        // What was published before the command goes out
                        // before its reply, as in Redis.
                        self.deliver_messages().await?;
                        let Some(reply) = self.run_to_reply(&argv).await? else {
                            return Ok(());
                        };
                        if let Some(request) = self.state.takeover.take() {
                            self.send().await?;
                            let input = std::mem::take(&mut self.input);
                            let server = self.server.clone();
                            let handle = self.state.handle.clone();
                            return crate::replication::master::serve(
                                server,
                                &mut self.stream,
                                input,
                                request,
                                &handle,
                            )
                            .await;
                        }
                        if self.state.close_silently {
                            closing = true;
                            break;
                        }
                        if self.state.replies.take_send() {
                            encode_reply(&reply, self.state.protocol, &mut self.output);
                            if let Some((_, replies)) = &mut self.unwritten {
                                *replies += 1;
                            }
                        }
                        if self.state.pubsub.subscribed() {
                            // A subscriber gets the events of its own
                            // command right after its reply, as in Redis
                            // 7.2: its writes land now, not with the rest
                            // of the pipeline.
                            self.commit();
                            self.deliver_messages().await?;
                        }
                        if output_limit.hard_reached(self.output.len()) {
                            // What ran takes effect, as in Redis; the
                            // replies are dropped with the client.
                            self.commit();
                            return Err(self.output_limit_reached());
                        }
                        if self.state.close_after_reply || self.state.handle.is_killed() {
                            closing = true;
                            break;
                        }
                        if self.output.len() >= FLUSH_THRESHOLD {
                            self.send().await?;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        self.server.stats.record_error("ERR");
                        let reply = Reply::Error(format!("ERR {}", e.0).into());
                        if self.state.replies.take_send() {
                            encode_reply(&reply, self.state.protocol, &mut self.output);
                        }
                        closing = true;
                        break;
                    }
                }
            }
            // Requests read from now on come after the batch read.
            self.prefetched = None;
            self.send().await?;
            if closing || *shutdown.borrow() {
                return Ok(());
            }
            shrink(&mut self.input);
            // Subscribers and monitors are not idle, as in Redis.
            let timeout = match self.state.pubsub.subscribed() || self.state.monitor.is_some() {
                true => 0,
                false => self.server.config.read().timeout,
            };
            let read = self.stream.read_buf(&mut self.input);
            let n = tokio::select! {
                n = read => n?,
                message = self.state.pubsub.next_message() => {
                    self.encode_message(&message);
                    self.deliver_messages().await?;
                    continue;
                }
                line = next_monitor_line(&mut self.state.monitor) => {
                    // None: the monitor fell too far behind and was dropped.
                    let Some(line) = line else { return Ok(()) };
                    self.send_monitor_lines(line).await?;
                    continue;
                }
                _ = self.state.handle.kill_signal.notified() => return Ok(()),
                _ = shutdown.changed() => return Ok(()),
                _ = idle_timer(timeout) => return Ok(()),
            };
            if n == 0 {
                return Ok(());
            }
            if std::mem::take(&mut first_read) && super::http::is_http_request(&self.input) {
                let input = self.input.split().to_vec();
                super::http::serve(&self.server, &mut self.stream, input).await;
                return Ok(());
            }
            self.server.stats.net_input_bytes.add(n as u64);
            if self.query_buffer_limit_reached() {
                return Ok(());
            }
        }
    }
}

impl Connection {
    /// Runs one command to its reply, waiting while CLIENT PAUSE holds it
    /// and while it blocks; `None` when the connection must close (closed
    /// by the peer, killed, shutdown).
    async fn run_to_reply(&mut self, argv: &[Bytes]) -> std::io::Result<Option<Reply>> {
        loop {
            let written = self.writes.borrow().written();
            let mut reply = self.run(argv);
            if let Some(request) = self.state.wait.take() {
                self.commit();
                self.send().await?;
                let server = self.server.clone();
                tokio::select! {
                    served = crate::commands::replication::wait_for_replicas(&server, request) => {
                        reply = served;
                    }
                    _ = self.state.handle.kill_signal.notified() => return Ok(None),
                }
            }
            if let Some(block) = self.state.block.take() {
                match self.wait_blocked(argv, block).await? {
                    Some(served) => reply = served,
                    None => return Ok(None),
                }
            } else {
                self.track_unwritten(written);
            }
            // Held by a pause (at once, or when a blocked command ran
            // again): wait for the pause, then run it from the start.
            if let Some(postponed) = self.state.postponed.take() {
                self.prefetched = None;
                if !self.wait_unpaused(postponed).await? {
                    return Ok(None);
                }
                continue;
            }
            return Ok(Some(reply));
        }
    }

    /// Runs one command.
    fn run(&mut self, argv: &[Bytes]) -> Reply {
        let engine = self.server.storage.engine();
        self.prefetch_gets(&engine, argv);
        let pipeline = self.writes.borrow().pipeline();
        let mut ctx = Ctx {
            server: &self.server,
            client: &mut self.state,
            writes: &self.writes,
            engine: &engine,
            snapshot: None,
            overlay: None,
            pipeline: Some(&pipeline),
            prefetched: self.prefetched.as_mut(),
        };
        execute(&mut ctx, argv)
    }

    /// Before a GET that starts a run of pipelined GETs, reads the entries
    /// of all of them in one batch (one RocksDB MultiGet instead of one
    /// lookup each); any other command drops what was read.
    fn prefetch_gets(&mut self, engine: &Engine, argv: &[Bytes]) {
        if !(argv.len() == 2 && argv[0].eq_ignore_ascii_case(b"get")) {
            self.prefetched = None;
            return;
        }
        let db = self.state.db.index;
        if self
            .prefetched
            .as_ref()
            .is_some_and(|p| p.holds(db, &argv[1]))
        {
            return;
        }
        self.prefetched = None;
        // Only GETs that run at once, after every write of this client.
        if self.state.multi.is_some()
            || !self.state.authenticated
            || self.writes.borrow().has_pending()
        {
            return;
        }
        let following = peek_gets(&self.input, PREFETCH_MAX - 1);
        if following.is_empty() {
            return;
        }
        let mut keys = Vec::with_capacity(following.len() + 1);
        keys.push(&argv[1][..]);
        keys.extend(following);
        let db = Db::new(&self.server.storage, engine, &self.state.db, &self.writes);
        // A failed read leaves each GET to read by itself.
        self.prefetched = db.prefetch(&keys, PREFETCH_BYTES).ok();
    }

    /// After a command, before its reply is added to the output: notes
    /// whether the reply acknowledges a write still pending, and replaces
    /// the replies of the earlier pending writes if writing them failed
    /// meanwhile. `written` is the write set's count before the command.
    fn track_unwritten(&mut self, written: u64) {
        let mut writes = self.writes.borrow_mut();
        if writes.take_failed() {
            drop(writes);
            self.retract_unwritten();
            writes = self.writes.borrow_mut();
        } else if writes.written() != written {
            self.unwritten = None;
        }
        if writes.has_pending() && self.unwritten.is_none() {
            self.unwritten = Some((self.output.len(), 0));
        }
    }

    /// Replaces the replies that acknowledged writes which then failed by
    /// the error that stops writes: no client is told a failed write
    /// succeeded.
    fn retract_unwritten(&mut self) {
        let Some((start, replies)) = self.unwritten.take() else {
            return;
        };
        let error = self.failed_write_reply();
        self.output.truncate(start);
        for _ in 0..replies {
            encode_reply(&error, self.state.protocol, &mut self.output);
        }
    }

    /// The reply to a write that failed in the storage (and so was not
    /// applied): why writes fail now.
    fn failed_write_reply(&self) -> Reply {
        Reply::Error(match self.server.storage.health().fault() {
            Some(fault) => crate::commands::fault_error(&fault).text(),
            None => "MISCONF the write failed in the storage and was not applied".into(),
        })
    }

    /// Commits the pending writes, releasing their locks, and wakes the
    /// clients blocked on the keys they wrote, in whichever database. If
    /// the write fails, the replies that acknowledged it become errors;
    /// returns whether it succeeded.
    fn commit(&mut self) -> bool {
        let mut writes = self.writes.borrow_mut();
        let finished = writes.finish();
        let failed = writes.take_failed() || finished.is_err();
        let written = writes.take_written_keys();
        drop(writes);
        // Written (or failed): a CLIENT PAUSE need not wait for them.
        self.state.write_admission = None;
        if failed {
            self.retract_unwritten();
            return false;
        }
        self.unwritten = None;
        if self.server.blocked.count() > 0 {
            for (ks, key) in written {
                self.server.blocked.key_ready(&ks, &key);
            }
        }
        true
    }

    /// The output buffer limit of the client's class: `pubsub` while it
    /// has subscriptions, `normal` otherwise.
    fn output_limit(&self) -> BufferLimit {
        let limits = self.server.config.read().client_output_buffer_limit;
        match self.state.pubsub.subscribed() {
            true => limits.pubsub,
            false => limits.normal,
        }
    }

    /// Writes `first` and every monitor line already waiting, as simple
    /// strings.
    async fn send_monitor_lines(&mut self, first: Bytes) -> std::io::Result<()> {
        let mut line = Some(first);
        while let Some(text) = line {
            self.output.extend_from_slice(b"+");
            self.output.extend_from_slice(&text);
            self.output.extend_from_slice(b"\r\n");
            if self.output.len() >= FLUSH_THRESHOLD {
                self.send().await?;
            }
            line = self
                .state
                .monitor
                .as_mut()
                .and_then(|lines| lines.try_recv().ok());
        }
        self.send().await
    }

    fn encode_message(&mut self, message: &Message) {
        message.encode(self.state.protocol, &mut self.output);
    }

    /// Moves the messages waiting in the mailbox to the output, writing it
    /// out whenever it fills.
    async fn deliver_messages(&mut self) -> std::io::Result<()> {
        if !self.state.pubsub.has_messages() {
            return Ok(());
        }
        // Replies to writes still pending are settled first: nothing may
        // follow them in the output while they can still be retracted.
        self.commit();
        while let Some(message) = self.state.pubsub.take_message() {
            self.encode_message(&message);
            if self.output.len() >= FLUSH_THRESHOLD {
                self.send().await?;
            }
        }
        Ok(())
    }

    /// Whether the unparsed input passes `client-query-buffer-limit`: the
    /// client is then closed, as Redis does, with a log line saying so.
    fn query_buffer_limit_reached(&self) -> bool {
        if self.input.len() as u64 <= self.server.config.client_query_buffer_limit() {
            return false;
        }
        let start = &self.input[..self.input.len().min(64)];
        tracing::warn!(
            "Closing client that reached max query buffer length: {} (qbuf initial bytes: {:?})",
            self.state.handle.describe(),
            String::from_utf8_lossy(start)
        );
        true
    }

    /// Logs that the client passed its output buffer limit, as Redis does;
    /// the error closes the connection.
    fn output_limit_reached(&self) -> std::io::Error {
        tracing::warn!(
            "Client {} scheduled to be closed ASAP for overcoming of output buffer limits.",
            self.state.handle.describe()
        );
        std::io::Error::other("output buffer limit reached")
    }

    /// Commits, then writes the replies gathered so far.
    async fn send(&mut self) -> std::io::Result<()> {
        self.commit();
        if self.output.is_empty() {
            return Ok(());
        }
        self.server
            .stats
            .net_output_bytes
            .add(self.output.len() as u64);
        self.write_output().await?;
        self.output.clear();
        shrink(&mut self.output);
        Ok(())
    }

    /// Writes the output buffer out. A client that leaves more than the
    /// soft limit unsent for longer than the limit's seconds is closed (an
    /// error), as Redis does; so is one killed meanwhile (a subscriber cut
    /// off for not reading, CLIENT KILL).
    async fn write_output(&mut self) -> std::io::Result<()> {
        let limit = self.output_limit();
        let mut written = 0;
        let mut above_soft_since = None;
        while written < self.output.len() {
            let deadline = match limit.soft_grace(self.output.len() - written) {
                None => {
                    above_soft_since = None;
                    None
                }
                Some(grace) => Some(*above_soft_since.get_or_insert_with(Instant::now) + grace),
            };
            let n = tokio::select! {
                n = self.stream.write(&self.output[written..]) => n?,
                _ = sleep_until(deadline) => return Err(self.output_limit_reached()),
                _ = self.state.handle.kill_signal.notified() => {
                    return Err(std::io::Error::other("killed"));
                }
            };
            if n == 0 {
                return Err(std::io::ErrorKind::WriteZero.into());
            }
            written += n;
        }
        Ok(())
    }

    /// Waits on the keys of a blocking command, running it again each time
    /// one of them is written, until it is served, times out or is
    /// unblocked: its reply, or `None` when the connection must close
    /// (closed by the peer, killed, shutdown).
    async fn wait_blocked(
        &mut self,
        argv: &[Bytes],
        block: BlockRequest,
    ) -> std::io::Result<Option<Reply>> {
        // Earlier replies of the pipeline go out now, as in Redis.
        self.send().await?;
        let argv = block.retry.as_deref().unwrap_or(argv);
        let deadline = block.timeout.map(|t| tokio::time::Instant::now() + t);
        let ks = self.state.db.keyspace.as_bytes().to_vec();
        // Registered before the retry below, so no write is missed.
        let registration = self.server.blocked.register(&ks, &block.keys);
        let handle = self.state.handle.clone();
        handle.set_blocked(true);
        let mut shutdown = self.server.shutdown_signal();
        // Whether this retry uses a turn a write gave this client.
        let mut turn = false;
        let outcome = 'blocked: loop {
            let reply = self.run(argv);
            if self.state.postponed.is_some() {
                // CLIENT PAUSE holds the retry, as Redis holds a command it
                // runs again for a blocked client: it leaves the queues
                // (passing its turn on) and waits for the pause as any
                // held command (see `run_to_reply`).
                break Some(reply);
            }
            let waits = self.state.block.take().is_some();
            if !self.commit() {
                break Some(self.failed_write_reply());
            }
            // A key that now holds another type is not served: wait on.
            let wrong_type = matches!(&reply, Reply::Error(e) if e.starts_with("WRONGTYPE"));
            if !waits && !wrong_type {
                break Some(reply);
            }
            if std::mem::take(&mut turn) {
                registration.pass_turn();
            }
            // Until something that may serve or end the command happens.
            // Messages to a (RESP3) subscriber go out meanwhile.
            loop {
                tokio::select! {
                    message = self.state.pubsub.next_message() => {
                        self.encode_message(&message);
                        self.deliver_messages().await?;
                        self.send().await?;
                    }
                    _ = registration.ready() => {
                        turn = true;
                        break;
                    }
                    _ = sleep_until(deadline) => break 'blocked Some(block.timeout_reply),
                    _ = handle.unblock_signal.notified() => match handle.unblock_requested() {
                        Some(Unblock::Timeout) => break 'blocked Some(block.timeout_reply),
                        Some(Unblock::Error) => break 'blocked Some(Reply::Error(
                            "UNBLOCKED client unblocked via CLIENT UNBLOCK".into(),
                        )),
                        None => break,
                    },
                    read = self.stream.read_buf(&mut self.input) => match read {
                        Ok(0) | Err(_) => break 'blocked None,
                        Ok(n) => {
                            self.server.stats.net_input_bytes.add(n as u64);
                            // What a blocked client sends waits, bounded like
                            // any query buffer.
                            if self.query_buffer_limit_reached() {
                                break 'blocked None;
                            }
                            break;
                        }
                    },
                    _ = handle.kill_signal.notified() => break 'blocked None,
                    _ = shutdown.changed() => break 'blocked None,
                }
            }
        };
        handle.set_blocked(false);
        // Leaving the queues passes the turn to the next waiter.
        drop(registration);
        Ok(outcome)
    }
}

impl Connection {
    /// Waits while CLIENT PAUSE holds the command just postponed, without
    /// polling: until the pause ends (its deadline, UNPAUSE) or changes.
    /// Returns false when the connection must close (closed by the peer,
    /// killed, shutdown). The pipeline's earlier replies go out first and
    /// its writes are written, so a pause never waits for this client.
    async fn wait_unpaused(&mut self, postponed: Postponed) -> std::io::Result<bool> {
        self.send().await?;
        let server = self.server.clone();
        let handle = self.state.handle.clone();
        let mut changes = server.pause.changes();
        let mut shutdown = server.shutdown_signal();
        let _counted = server.pause.waiter();
        handle.set_paused(true);
        let resumed = loop {
            if handle.is_killed() || *shutdown.borrow() {
                break false;
            }
            let Some(until) = server.pause.holding(postponed.may_write, postponed.slot) else {
                break true;
            };
            tokio::select! {
                _ = tokio::time::sleep_until(until.into()) => {}
                _ = changes.changed() => {}
                read = self.stream.read_buf(&mut self.input) => match read {
                    Ok(0) | Err(_) => break false,
                    Ok(n) => {
                        self.server.stats.net_input_bytes.add(n as u64);
                        // What a held client sends waits, bounded like any
                        // query buffer.
                        if self.query_buffer_limit_reached() {
                            break false;
                        }
                    }
                },
                _ = handle.kill_signal.notified() => break false,
                _ = shutdown.changed() => break false,
            }
        };
        handle.set_paused(false);
        Ok(resumed)
    }
}

/// Gives an empty buffer that grew past [`FLUSH_THRESHOLD`] a fresh
/// allocation of [`BUFFER_SIZE`]: the old one may also be kept alive by
/// the last request's arguments, which share it.
fn shrink(buf: &mut BytesMut) {
    if buf.is_empty() && buf.capacity() > FLUSH_THRESHOLD {
        *buf = BytesMut::with_capacity(BUFFER_SIZE);
    }
}

/// Completes at `deadline` (never when `None`).
async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Completes after `seconds` (never when 0): the `timeout` directive.
async fn idle_timer(seconds: u64) {
    if seconds == 0 {
        std::future::pending::<()>().await;
    }
    tokio::time::sleep(Duration::from_secs(seconds)).await;
}

/// The next line for a MONITOR client; never, for any other.
async fn next_monitor_line(
    monitor: &mut Option<tokio::sync::mpsc::Receiver<Bytes>>,
) -> Option<Bytes> {
    match monitor {
        Some(lines) => lines.recv().await,
        None => std::future::pending().await,
    }
}
