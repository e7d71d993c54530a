//! The replica's side: a task that keeps a link to the master, syncs
//! (partially from the WAL, or in full from a checkpoint) and applies the
//! master's write batches as they come, acknowledging its offset.

use super::{failover, read_line, FailoverState, LinkStatus};
use crate::server::Server;
use redrock_cluster::Role;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// How long the replica waits before connecting again after a failure.
const RETRY: Duration = Duration::from_secs(1);
/// How often an idle replica acknowledges its offset.
const ACK_PERIOD: Duration = Duration::from_secs(1);
/// The longest line of the replication protocol.
const LINE_LIMIT: usize = 64 * 1024;

/// Makes this node a replica of `master` (`None`: a master again) and
/// starts or stops the link task. Returns whether anything changed.
pub fn set_master(server: &Arc<Server>, master: Option<(String, u16)>) -> bool {
    let replication = &server.replication;
    if !replication.set_master(master.clone()) {
        return false;
    }
    match master {
        Some((host, port)) => {
            server.storage.set_follower(true);
            let task = tokio::spawn(run_link(server.clone(), host, port));
            replication.set_link_task(task);
        }
        None => {
            // New writes start a new history; the old one stays valid up
            // to here for the replicas of the old master. Taken while
            // writes are still refused, so the old history ends with the
            // old master's last write.
            let next = server.storage.latest_sequence() + 1;
            if let Err(e) = replication.shift(next) {
                tracing::warn!("cannot save the replication ids: {e}");
            }
            server.storage.set_follower(false);
        }
    }
    true
}

/// Cluster mode: replicates the master the topology names for this node,
/// or none when it is a master, as Kvrocks replicas do; a topology that
/// promotes this replica makes it a master at once. A node the topology
/// no longer names (deleted from the cluster) follows no master.
pub fn follow_topology(server: &Arc<Server>) {
    let Some(cluster) = &server.cluster else {
        return;
    };
    let Some(topology) = cluster.topology() else {
        return;
    };
    let master = cluster
        .myself(&topology)
        .and_then(|me| match (me.role, &me.master_id) {
            (Role::Replica, Some(id)) => topology.node(id).map(|m| (m.host.clone(), m.port)),
            _ => None,
        });
    set_master(server, master);
}

/// Stops replicating without starting a new history: a FAILOVER that did
/// not reach its target leaves this node the master it was.
pub fn leave_master(server: &Arc<Server>) {
    if server.replication.set_master(None) {
        server.storage.set_follower(false);
    }
}

/// Keeps the link to the master up until the master changes.
async fn run_link(server: Arc<Server>, host: String, port: u16) {
    let mut shutdown = server.shutdown_signal();
    loop {
        let session = tokio::select! {
            ended = session(&server, &host, port) => ended,
            _ = shutdown.changed() => return,
        };
        server.replication.update_link(|link| {
            if link.status == LinkStatus::Connected {
                link.down_since = Instant::now();
            }
            link.status = LinkStatus::Connect;
        });
        match session {
            // A full sync ended: ask again at once, from the new data.
            Ok(()) => continue,
            Err(e) => tracing::warn!("replication link to {host}:{port}: {e}"),
        }
        if server.replication.failover_state() == FailoverState::InProgress {
            failover::abort(&server, &format!("cannot reach {host}:{port}"));
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(RETRY) => {}
            _ = shutdown.changed() => return,
        }
    }
}

fn link_error(text: impl Into<String>) -> std::io::Error {
    std::io::Error::other(text.into())
}

/// One connection to the master: handshake, then a full sync (which ends
/// it) or the stream of write batches (until it breaks).
async fn session(server: &Arc<Server>, host: &str, port: u16) -> std::io::Result<()> {
    let replication = &server.replication;
    replication.update_link(|link| link.status = LinkStatus::Connecting);
    let timeout = Duration::from_secs(server.config.read().repl_timeout);
    let stream = tokio::time::timeout(timeout, TcpStream::connect((host, port)))
        .await
        .map_err(|_| link_error("connecting timed out"))??;
    let _ = stream.set_nodelay(true);
    let (read_half, mut writer) = stream.into_split();
    let mut reader = BufReader::with_capacity(1 << 20, read_half);

    let (user, password, announce_ip, announce_port) = {
        let config = server.config.read();
        (
            config.masteruser.clone(),
            config.masterauth.clone(),
            config.replica_announce_ip.clone(),
            config.replica_announce_port,
        )
    };
    let mut handshake: Vec<Vec<String>> = Vec::new();
    if !password.is_empty() {
        handshake.push(match user.is_empty() {
            true => vec!["AUTH".into(), password],
            false => vec!["AUTH".into(), user, password],
        });
    }
    let listening_port = if announce_port != 0 {
        announce_port
    } else {
        server.port
    };
    handshake.push(vec![
        "REPLCONF".into(),
        "listening-port".into(),
        listening_port.to_string(),
    ]);
    if !announce_ip.is_empty() {
        handshake.push(vec!["REPLCONF".into(), "ip-address".into(), announce_ip]);
    }
    for command in handshake {
        writer.write_all(&encode(&command)).await?;
        let reply = timed(timeout, read_line(&mut reader, LINE_LIMIT)).await?;
        if !reply.starts_with('+') {
            return Err(link_error(format!(
                "the master refused {}: {reply}",
                command[..2].join(" ")
            )));
        }
    }

    let next = server.storage.latest_sequence() + 1;
    let failing_over = replication.failover_state() == FailoverState::InProgress;
    // An empty database that never synced has no history to continue: it
    // asks for a full sync outright, as a new Redis replica does.
    let replid = match next {
        1 if !failing_over && !replication.adopted() => "?".to_string(),
        _ => replication.ids().replid,
    };
    let mut psync = vec!["PSYNC".into(), replid, next.to_string()];
    if failing_over {
        // Asks the replica to take over first (FAILOVER).
        psync.push("FAILOVER".into());
    }
    writer.write_all(&encode(&psync)).await?;
    let reply = timed(timeout, read_line(&mut reader, LINE_LIMIT)).await?;
    if failing_over {
        if reply.starts_with('-') {
            failover::abort(server, &format!("the target refused: {reply}"));
            return Err(link_error(format!("FAILOVER refused: {reply}")));
        }
        failover::finish(server);
    }
    let words: Vec<&str> = reply.split_whitespace().collect();
    match words.as_slice() {
        ["+CONTINUE", replid] => {
            replication.follow(replid)?;
            tracing::info!("replicating {host}:{port} from sequence {next}");
            stream_batches(server, reader, writer, timeout).await
        }
        ["+FULLRESYNC", replid, _offset] => {
            tracing::info!("full sync from {host}:{port} (history {replid})");
            replication.sync_full_received.add(1);
            replication.update_link(|link| {
                link.status = LinkStatus::Sync;
                link.last_io = Instant::now();
                link.sync_read_bytes = 0;
            });
            let synced = full_sync(server, &mut reader, replid, timeout).await;
            if synced.is_err() {
                replication.sync_full_received_failed.add(1);
            } else {
                tracing::info!(
                    "full sync from {host}:{port} done at sequence {}",
                    server.storage.latest_sequence()
                );
            }
            synced
        }
        _ => Err(link_error(format!("PSYNC failed: {reply}"))),
    }
}

/// Receives the master's checkpoint and swaps it in.
async fn full_sync<R: AsyncBufRead + Unpin>(
    server: &Arc<Server>,
    reader: &mut R,
    replid: &str,
    timeout: Duration,
) -> std::io::Result<()> {
    receive_checkpoint(server, reader, timeout).await?;
    let storage = server.storage.clone();
    let staging = storage.sync_staging();
    tokio::task::spawn_blocking(move || storage.replace(&staging))
        .await
        .map_err(|e| link_error(e.to_string()))?
        .map_err(|e| link_error(e.0))?;
    server.replication.adopt(replid)?;
    crate::commands::restore_saved_functions(server)
        .map_err(|e| link_error(format!("cannot load the synced functions: {e}")))
}

async fn timed<T>(
    limit: Duration,
    step: impl std::future::Future<Output = std::io::Result<T>>,
) -> std::io::Result<T> {
    tokio::time::timeout(limit, step)
        .await
        .map_err(|_| link_error(format!("nothing from the master for {limit:?}")))?
}

/// A command as a RESP array of bulk strings.
fn encode(words: &[String]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", words.len()).into_bytes();
    for word in words {
        out.extend_from_slice(format!("${}\r\n{word}\r\n", word.len()).as_bytes());
    }
    out
}

/// Receives the master's checkpoint into the staging directory, emptied
/// first: the live database is untouched until every file is in.
async fn receive_checkpoint<R: AsyncBufRead + Unpin>(
    server: &Server,
    reader: &mut R,
    timeout: Duration,
) -> std::io::Result<()> {
    let staging = server.storage.sync_staging();
    if staging.exists() {
        std::fs::remove_dir_all(&staging)?;
    }
    std::fs::create_dir_all(&staging)?;
    loop {
        let line = timed(timeout, read_line(reader, LINE_LIMIT)).await?;
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["+END"] => break,
            ["+FILE", name, size] => {
                let size: u64 = size
                    .parse()
                    .map_err(|_| link_error(format!("bad file size in {line}")))?;
                receive_file(server, reader, &staging, name, size, timeout).await?;
            }
            ["+PING"] => {}
            _ => return Err(link_error(format!("full sync failed: {line}"))),
        }
    }
    std::fs::File::open(&staging)?.sync_all()
}

async fn receive_file<R: AsyncBufRead + Unpin>(
    server: &Server,
    reader: &mut R,
    staging: &Path,
    name: &str,
    size: u64,
    timeout: Duration,
) -> std::io::Result<()> {
    let safe = !name.is_empty() && name != "." && name != ".." && !name.contains('/');
    if !safe {
        return Err(link_error(format!("refusing the file name {name:?}")));
    }
    let path = staging.join(name);
    let mut file = tokio::fs::File::create(&path).await?;
    let mut remaining = size;
    let mut buf = vec![0u8; 256 * 1024];
    while remaining > 0 {
        let want = remaining.min(buf.len() as u64) as usize;
        let n = timed(timeout, async { reader.read(&mut buf[..want]).await }).await?;
        if n == 0 {
            return Err(link_error("the master closed the link during a full sync"));
        }
        file.write_all(&buf[..n]).await?;
        remaining -= n as u64;
        server.stats.net_repl_input_bytes.add(n as u64);
        server.replication.update_link(|link| {
            link.last_io = Instant::now();
            link.sync_read_bytes += n as u64;
        });
    }
    file.sync_all().await
}

/// Applies the master's write batches as they come (`$<len>` and the
/// batch; `+PING` when the master has nothing to send).
/// How much of the master's WAL a replica holds at most before applying.
const APPLY_BYTES: usize = 256 * 1024;

async fn stream_batches(
    server: &Arc<Server>,
    mut reader: BufReader<tokio::net::tcp::OwnedReadHalf>,
    writer: tokio::net::tcp::OwnedWriteHalf,
    timeout: Duration,
) -> std::io::Result<()> {
    let replication = &server.replication;
    replication.update_link(|link| {
        link.status = LinkStatus::Connected;
        link.last_io = Instant::now();
    });
    // Acknowledgements go out from their own task, so a slow write to the
    // master never holds up the applying of what it sends.
    let applied = Arc::new(tokio::sync::Notify::new());
    let _acker = AbortOnDrop(tokio::spawn(acknowledge(
        server.clone(),
        writer,
        applied.clone(),
    )));
    let mut pending = Vec::new();
    let mut pending_bytes = 0;
    loop {
        let line = match timed(timeout, read_line(&mut reader, LINE_LIMIT)).await {
            Ok(line) => line,
            Err(e) => {
                apply(server, pending)?;
                return Err(e);
            }
        };
        replication.update_link(|link| link.last_io = Instant::now());
        if line != "+PING" {
            let len: usize = line
                .strip_prefix('$')
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| link_error(format!("unexpected from the master: {line}")))?;
            let mut data = vec![0u8; len + 2];
            timed(timeout, async {
                reader.read_exact(&mut data).await.map(|_| ())
            })
            .await?;
            data.truncate(len);
            server.stats.net_repl_input_bytes.add(len as u64 + 2);
            pending_bytes += data.len();
            pending.push(data);
        }
        // Applied once what has arrived is read (a heartbeat may come
        // right behind the last batch), or once enough is held: a master
        // that never pauses must not keep the replica from applying.
        let caught_up = reader.buffer().is_empty() || pending_bytes >= APPLY_BYTES;
        if caught_up && !pending.is_empty() {
            apply(server, std::mem::take(&mut pending))?;
            pending_bytes = 0;
            applied.notify_one();
        }
    }
}

/// Sends `REPLCONF ACK <offset>` after each applied chunk and every
/// [`ACK_PERIOD`] (the master measures lag and liveness with them).
async fn acknowledge(
    server: Arc<Server>,
    mut writer: tokio::net::tcp::OwnedWriteHalf,
    applied: Arc<tokio::sync::Notify>,
) {
    loop {
        tokio::select! {
            _ = applied.notified() => {}
            _ = tokio::time::sleep(ACK_PERIOD) => {}
        }
        let offset = server.storage.latest_sequence().to_string();
        let ack = encode(&["REPLCONF".into(), "ACK".into(), offset]);
        if writer.write_all(&ack).await.is_err() {
            return;
        }
    }
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Applies batches in order and tells the layers above what they changed.
fn apply(server: &Arc<Server>, batches: Vec<Vec<u8>>) -> std::io::Result<()> {
    tokio::task::block_in_place(|| {
        for data in batches {
            let applied = server
                .storage
                .apply_replicated(&data)
                .map_err(|e| link_error(e.0))?;
            if applied.keys.is_empty() && applied.cleared.is_empty() && applied.states.is_empty() {
                continue;
            }
            if server.watches.watching() {
                let keys: Vec<(Vec<u8>, Vec<u8>)> = applied
                    .keys
                    .iter()
                    .map(|(ks, key)| (ks.as_bytes().to_vec(), key.clone()))
                    .collect();
                server.watches.keys_written(&keys);
            }
            if !applied.cleared.is_empty() {
                server.watches.keyspaces_cleared(&applied.cleared);
            }
            for (ks, key) in &applied.keys {
                server.blocked.key_ready(ks.as_bytes(), key);
            }
            if applied.states.iter().any(|s| s == "functions") {
                crate::commands::restore_saved_functions(server)
                    .map_err(|e| link_error(format!("cannot load the master's functions: {e}")))?;
            }
        }
        Ok(())
    })
}
