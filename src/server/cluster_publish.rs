//! Cluster mode: PUBLISH reaches the subscribers of every node. Each
//! message published on this node is forwarded to every other node of the
//! topology as `CLUSTERX PUBLISH <channel> <message>`, which delivers it
//! there and goes no further.
//!
//! One task per peer node sends that node's queue, in order, over one
//! connection (authenticated with this node's `requirepass`: the nodes of
//! a cluster share it), so the messages of one publisher arrive in the
//! order it published them. A peer that cannot be reached is retried with
//! backoff; meanwhile its queue holds at most [`PEER_QUEUE_LIMIT`] bytes
//! and what does not fit is dropped, and logged, as Redis Cluster drops
//! what it cannot send over a broken link. Forwarding never waits: PUBLISH
//! answers once its message is queued.

use super::Server;
use bytes::{Bytes, BytesMut};
use parking_lot::RwLock;
use redrock_cluster::Topology;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// Bytes a peer's queue may hold while the peer does not keep up.
pub const PEER_QUEUE_LIMIT: usize = 64 << 20;
/// At most this many bytes go out in one write.
const BATCH_BYTES: usize = 64 * 1024;
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// A peer that takes longer than this to connect or answer is treated as
/// down.
const PEER_TIMEOUT: Duration = Duration::from_secs(10);

/// The forwarding queues of the current topology's other nodes.
#[derive(Default)]
pub struct Forwarder {
    peers: RwLock<Peers>,
}

#[derive(Default)]
struct Peers {
    /// The topology and node id these peers were made for.
    topology: Option<Arc<Topology>>,
    my_id: String,
    list: Vec<Peer>,
}

/// What the forwarder and a peer's task share.
struct PeerQueue {
    id: String,
    addr: String,
    /// Bytes queued and not yet taken by the task.
    queued: AtomicUsize,
    /// Messages dropped since the task last reported it.
    dropped: AtomicU64,
}

struct Peer {
    shared: Arc<PeerQueue>,
    /// Dropping it (the node left the topology) ends the task.
    queue: mpsc::UnboundedSender<Bytes>,
}

impl Peer {
    fn spawn(id: &str, addr: String, server: Weak<Server>) -> Peer {
        let shared = Arc::new(PeerQueue {
            id: id.to_string(),
            addr,
            queued: AtomicUsize::new(0),
            dropped: AtomicU64::new(0),
        });
        let (queue, messages) = mpsc::unbounded_channel();
        tokio::spawn(run_peer(shared.clone(), messages, server));
        Peer { shared, queue }
    }

    /// Queues one encoded command, or drops it when the queue is full.
    fn send(&self, command: &Bytes) {
        let shared = &self.shared;
        if shared.queued.load(Ordering::Relaxed) + command.len() > PEER_QUEUE_LIMIT {
            if shared.dropped.fetch_add(1, Ordering::Relaxed) == 0 {
                tracing::warn!(
                    "cluster node {} at {} does not keep up (down or slow): dropping PUBLISH \
                     messages for it until it does",
                    shared.id,
                    shared.addr
                );
            }
            return;
        }
        shared.queued.fetch_add(command.len(), Ordering::Relaxed);
        let _ = self.queue.send(command.clone());
    }
}

impl Forwarder {
    /// Queues `message` for every other node of the topology.
    pub fn forward(&self, server: &Arc<Server>, channel: &[u8], message: &[u8]) {
        let Some(cluster) = &server.cluster else {
            return;
        };
        let Some(topology) = cluster.topology() else {
            return;
        };
        let my_id = cluster.my_id();
        let command = encode_publish(channel, message);
        {
            let peers = self.peers.read();
            if peers.made_for(&topology, &my_id) {
                peers.list.iter().for_each(|peer| peer.send(&command));
                return;
            }
        }
        let mut peers = self.peers.write();
        if !peers.made_for(&topology, &my_id) {
            peers.reconcile(topology, my_id, server);
        }
        peers.list.iter().for_each(|peer| peer.send(&command));
    }
}

impl Peers {
    fn made_for(&self, topology: &Arc<Topology>, my_id: &str) -> bool {
        self.topology
            .as_ref()
            .is_some_and(|t| Arc::ptr_eq(t, topology))
            && self.my_id == my_id
    }

    /// Keeps the peers still in `topology` at the same address, starts
    /// tasks for new ones, and ends those of nodes that left.
    fn reconcile(&mut self, topology: Arc<Topology>, my_id: String, server: &Arc<Server>) {
        let mut old = std::mem::take(&mut self.list);
        for node in topology.nodes.iter().filter(|n| n.id != my_id) {
            let addr = format!("{}:{}", node.host, node.port);
            let kept = old
                .iter()
                .position(|p| p.shared.id == node.id && p.shared.addr == addr);
            self.list.push(match kept {
                Some(i) => old.swap_remove(i),
                None => Peer::spawn(&node.id, addr, Arc::downgrade(server)),
            });
        }
        self.topology = Some(topology);
        self.my_id = my_id;
    }
}

/// `CLUSTERX PUBLISH channel message` as a RESP request.
fn encode_publish(channel: &[u8], message: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(channel.len() + message.len() + 64);
    out.extend_from_slice(b"*4\r\n$8\r\nCLUSTERX\r\n$7\r\nPUBLISH\r\n");
    for arg in [channel, message] {
        out.extend_from_slice(b"$");
        out.extend_from_slice(itoa::Buffer::new().format(arg.len()).as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out.freeze()
}

/// A peer's task: connects (again, with backoff, after any failure) and
/// sends the queue until the peer leaves the topology or the server stops.
async fn run_peer(
    peer: Arc<PeerQueue>,
    mut messages: mpsc::UnboundedReceiver<Bytes>,
    server: Weak<Server>,
) {
    let mut backoff = MIN_BACKOFF;
    let mut failures = 0u64;
    loop {
        if messages.is_closed() && messages.is_empty() {
            return;
        }
        let Some(password) = server
            .upgrade()
            .map(|s| s.config.read().requirepass.clone())
        else {
            return;
        };
        match connect(&peer.addr, &password).await {
            Ok(stream) => {
                if failures > 0 {
                    tracing::info!(
                        "forwarding PUBLISH to cluster node {} at {} again",
                        peer.id,
                        peer.addr
                    );
                }
                failures = 0;
                backoff = MIN_BACKOFF;
                match pump(&peer, stream, &mut messages).await {
                    Ok(()) => return,
                    Err(e) => tracing::warn!(
                        "forwarding PUBLISH to cluster node {} at {} failed: {e}; reconnecting",
                        peer.id,
                        peer.addr
                    ),
                }
            }
            Err(e) => {
                // Logged once per outage, not at every retry.
                if failures == 0 {
                    tracing::warn!(
                        "cannot reach cluster node {} at {} to forward PUBLISH: {e}; retrying",
                        peer.id,
                        peer.addr
                    );
                }
                failures += 1;
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

async fn connect(addr: &str, password: &str) -> std::io::Result<BufReader<TcpStream>> {
    let stream = tokio::time::timeout(PEER_TIMEOUT, TcpStream::connect(addr))
        .await
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
    stream.set_nodelay(true)?;
    let mut stream = BufReader::new(stream);
    if !password.is_empty() {
        let mut auth = BytesMut::new();
        auth.extend_from_slice(b"*2\r\n$4\r\nAUTH\r\n$");
        auth.extend_from_slice(itoa::Buffer::new().format(password.len()).as_bytes());
        auth.extend_from_slice(b"\r\n");
        auth.extend_from_slice(password.as_bytes());
        auth.extend_from_slice(b"\r\n");
        stream.get_mut().write_all(&auth).await?;
        let reply = read_line(&mut stream).await?;
        if !reply.starts_with(b"+OK") {
            return Err(std::io::Error::other(format!(
                "AUTH refused: {}",
                String::from_utf8_lossy(reply.trim_ascii_end())
            )));
        }
    }
    Ok(stream)
}

/// One reply line (CLUSTERX PUBLISH and AUTH answer with one line).
async fn read_line(stream: &mut BufReader<TcpStream>) -> std::io::Result<Vec<u8>> {
    let mut line = Vec::new();
    let n = tokio::time::timeout(PEER_TIMEOUT, stream.read_until(b'\n', &mut line))
        .await
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
    if n == 0 {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    Ok(line)
}

/// Sends the queue in batches, reading each batch's replies before the
/// next. `Ok` when the queue is closed (the node left the topology, or the
/// server is stopping). A batch cut short by a failure is lost.
async fn pump(
    peer: &PeerQueue,
    mut stream: BufReader<TcpStream>,
    messages: &mut mpsc::UnboundedReceiver<Bytes>,
) -> std::io::Result<()> {
    let mut batch = BytesMut::new();
    let mut refused_logged = false;
    loop {
        let Some(first) = messages.recv().await else {
            return Ok(());
        };
        batch.clear();
        batch.extend_from_slice(&first);
        let mut count = 1;
        while batch.len() < BATCH_BYTES {
            let Ok(next) = messages.try_recv() else {
                break;
            };
            batch.extend_from_slice(&next);
            count += 1;
        }
        peer.queued.fetch_sub(batch.len(), Ordering::Relaxed);
        stream.get_mut().write_all(&batch).await?;
        for _ in 0..count {
            let reply = read_line(&mut stream).await?;
            if reply.starts_with(b"-") && !std::mem::replace(&mut refused_logged, true) {
                tracing::warn!(
                    "cluster node {} at {} refused a forwarded PUBLISH: {}",
                    peer.id,
                    peer.addr,
                    String::from_utf8_lossy(reply.trim_ascii_end())
                );
            }
        }
        let dropped = peer.dropped.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            tracing::warn!(
                "cluster node {} at {} keeps up again; {dropped} PUBLISH messages for it were \
                 dropped",
                peer.id,
                peer.addr
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::encode_publish;

    #[test]
    fn forwarded_publish_is_a_resp_request() {
        assert_eq!(
            &encode_publish(b"ch", b"")[..],
            b"*4\r\n$8\r\nCLUSTERX\r\n$7\r\nPUBLISH\r\n$2\r\nch\r\n$0\r\n\r\n"
        );
    }
}
