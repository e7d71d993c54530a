//! One task per connection: read, parse every complete request, execute,
//! and write all the replies with one flush.

use super::{BlockRequest, ClientHandle, Server, Unblock};
use crate::commands::{execute, Ctx};
use crate::protocol::{encode_reply, parse_request, Reply, RequestLimits};
use crate::storage::WriteSet;
use crate::types::KeyspaceHandle;
use bytes::{Bytes, BytesMut};
use std::cell::RefCell;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

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
    /// Keys written by this client's pending writes that blocked clients
    /// may wait on: they are woken once the writes are committed.
    pub ready_keys: Vec<(Vec<u8>, Bytes)>,
}

impl ClientState {
    /// Switches to database `index` (already checked to exist).
    pub fn select(&mut self, db: Arc<KeyspaceHandle>) {
        self.handle.db.store(db.index, Ordering::Relaxed);
        self.db = db;
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
            tokio::spawn(reject(stream));
            continue;
        }
        let local = stream.local_addr().unwrap_or(addr);
        let handle = server.clients.register(addr, local);
        let server = server.clone();
        tokio::spawn(async move {
            let id = handle.id;
            let mut connection = Connection::new(server.clone(), stream, handle);
            if let Err(e) = connection.serve().await {
                tracing::debug!("connection {id} closed: {e}");
            }
            server.clients.unregister(id);
        });
    }
}

async fn reject(mut stream: TcpStream) {
    let _ = stream
        .write_all(b"-ERR max number of clients reached\r\n")
        .await;
}

struct Connection {
    server: Arc<Server>,
    stream: TcpStream,
    state: ClientState,
    /// Key locks and the writes of the pipeline being executed.
    writes: RefCell<WriteSet>,
    input: BytesMut,
    output: BytesMut,
}

impl Connection {
    fn new(server: Arc<Server>, stream: TcpStream, handle: Arc<ClientHandle>) -> Connection {
        let authenticated = server.config.read().requirepass.is_empty();
        let db = server.databases[0].clone();
        let writes = RefCell::new(WriteSet::new(server.storage.clone(), true));
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
                ready_keys: Vec::new(),
            },
            input: BytesMut::with_capacity(16 * 1024),
            output: BytesMut::with_capacity(16 * 1024),
        }
    }

    async fn serve(&mut self) -> std::io::Result<()> {
        let mut shutdown = self.server.shutdown_signal();
        let mut first_read = true;
        loop {
            let limits = RequestLimits {
                max_bulk_len: self.server.config.proto_max_bulk_len(),
            };
            let mut closing = false;
            loop {
                match parse_request(&mut self.input, limits) {
                    Ok(Some(argv)) if argv.is_empty() => continue,
                    Ok(Some(argv)) => {
                        let mut reply = self.run(&argv);
                        if let Some(block) = self.state.block.take() {
                            match self.wait_blocked(&argv, block).await? {
                                Some(served) => reply = served,
                                None => return Ok(()),
                            }
                        }
                        if self.state.close_silently {
                            closing = true;
                            break;
                        }
                        encode_reply(&reply, self.state.protocol, &mut self.output);
                        if self.state.close_after_reply || self.state.handle.is_killed() {
                            closing = true;
                            break;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        self.server.stats.record_error("ERR");
                        let reply = Reply::Error(format!("ERR {}", e.0).into());
                        encode_reply(&reply, self.state.protocol, &mut self.output);
                        closing = true;
                        break;
                    }
                }
            }
            self.send().await?;
            if closing || *shutdown.borrow() {
                return Ok(());
            }
            let timeout = self.server.config.read().timeout;
            let read = self.stream.read_buf(&mut self.input);
            let n = tokio::select! {
                n = read => n?,
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
        }
    }
}

impl Connection {
    /// Runs one command.
    fn run(&mut self, argv: &[Bytes]) -> Reply {
        let mut ctx = Ctx {
            server: &self.server,
            client: &mut self.state,
            writes: &self.writes,
            snapshot: None,
        };
        execute(&mut ctx, argv)
    }

    /// Commits the pending writes, releasing their locks, and wakes the
    /// clients blocked on the keys they wrote.
    fn commit(&mut self) -> std::io::Result<()> {
        let finished = self.writes.borrow_mut().finish();
        if finished.is_err() || self.writes.borrow().failed() {
            tracing::error!("a pipelined write failed; closing the connection unanswered");
            return Err(std::io::Error::other("write failed"));
        }
        for (ks, key) in self.state.ready_keys.drain(..) {
            self.server.blocked.key_ready(&ks, &key);
        }
        Ok(())
    }

    /// Commits, then writes the replies gathered so far.
    async fn send(&mut self) -> std::io::Result<()> {
        self.commit()?;
        if self.output.is_empty() {
            return Ok(());
        }
        // Acknowledged writes must be in the OS before the reply.
        if let Err(e) = self.server.storage.flush_wal() {
            tracing::error!("WAL flush failed: {e}");
            return Err(std::io::Error::other(e.to_string()));
        }
        self.server
            .stats
            .net_output_bytes
            .add(self.output.len() as u64);
        self.stream.write_all(&self.output).await?;
        self.output.clear();
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
        let deadline = block.timeout.map(|t| tokio::time::Instant::now() + t);
        let ks = self.state.db.keyspace.as_bytes().to_vec();
        // Registered before the retry below, so no write is missed.
        let registration = self.server.blocked.register(&ks, &block.keys);
        let handle = self.state.handle.clone();
        handle.set_blocked(true);
        let mut shutdown = self.server.shutdown_signal();
        // Whether this retry uses a turn a write gave this client.
        let mut turn = false;
        let outcome = loop {
            let reply = self.run(argv);
            let waits = self.state.block.take().is_some();
            self.commit()?;
            // A key that now holds another type is not served: wait on.
            let wrong_type = matches!(&reply, Reply::Error(e) if e.starts_with("WRONGTYPE"));
            if !waits && !wrong_type {
                break Some(reply);
            }
            if std::mem::take(&mut turn) {
                registration.pass_turn();
            }
            tokio::select! {
                _ = registration.ready() => turn = true,
                _ = sleep_until(deadline) => break Some(block.timeout_reply),
                _ = handle.unblock_signal.notified() => match handle.unblock_requested() {
                    Some(Unblock::Timeout) => break Some(block.timeout_reply),
                    Some(Unblock::Error) => break Some(Reply::Error(
                        "UNBLOCKED client unblocked via CLIENT UNBLOCK".into(),
                    )),
                    None => {}
                },
                read = self.stream.read_buf(&mut self.input) => match read {
                    Ok(0) | Err(_) => break None,
                    Ok(n) => {
                        self.server.stats.net_input_bytes.add(n as u64);
                    }
                },
                _ = handle.kill_signal.notified() => break None,
                _ = shutdown.changed() => break None,
            }
        };
        handle.set_blocked(false);
        // Leaving the queues passes the turn to the next waiter.
        drop(registration);
        Ok(outcome)
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
