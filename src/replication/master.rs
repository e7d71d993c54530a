//! The master's side: a replica's connection, once it sent PSYNC, is fed
//! the WAL from the sequence it asked for, or a checkpoint of the whole
//! database when that is gone or the histories differ.
//!
//! The feed reads the WAL at its own pace: a slow or stalled replica only
//! falls behind (and syncs in full if the WAL rotates past it); it never
//! holds up the master's writers or the other replicas, and the master
//! buffers at most one chunk for it.

use super::write_times::SPACING;
use crate::protocol::{RequestLimits, RequestParser};
use crate::server::{ClientHandle, Server};
use crate::storage::WalError;
use bytes::BytesMut;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What a replica asked for with PSYNC, and the address it announced.
#[derive(Clone, Debug)]
pub struct PsyncRequest {
    /// The history the replica's data belongs to (`?`: none).
    pub replid: String,
    /// The first sequence number it lacks.
    pub next: u64,
    pub ip: String,
    pub port: u16,
}

/// How much WAL one write to a replica carries at most.
const CHUNK_BYTES: usize = 1 << 20;
/// How often an idle feed tells the replica it is alive.
const HEARTBEAT: Duration = Duration::from_secs(1);

/// Serves a replica on `stream` until it goes away, the link times out or
/// the server shuts down. `input` holds what the replica sent after PSYNC.
pub async fn serve(
    server: Arc<Server>,
    stream: &mut TcpStream,
    input: BytesMut,
    request: PsyncRequest,
    handle: &ClientHandle,
) -> std::io::Result<()> {
    handle.set_replica();
    let storage = &server.storage;
    let replication = &server.replication;
    let latest = storage.latest_sequence();
    let next = request.next;
    let reachable = next >= 1
        && next <= latest + 1
        && (next == latest + 1 || storage.wal_batches(next - 1, 1).is_ok());
    if replication.continues(&request.replid, next) && reachable {
        replication.sync_partial_ok.add(1);
        let replid = replication.ids().replid;
        stream
            .write_all(format!("+CONTINUE {replid}\r\n").as_bytes())
            .await?;
        tracing::info!(
            "replica {}:{} continues from sequence {next}",
            request.ip,
            request.port
        );
        let id = replication.add_replica(request.ip, request.port, "online", next - 1);
        let fed = feed(&server, stream, input, handle, id, next - 1).await;
        replication.remove_replica(id);
        return fed;
    }
    if request.replid != "?" {
        replication.sync_partial_err.add(1);
    }
    replication.sync_full.add(1);
    tracing::info!(
        "full sync of replica {}:{} (it asked for sequence {next} of history {})",
        request.ip,
        request.port,
        request.replid
    );
    let id = replication.add_replica(request.ip, request.port, "wait_bgsave", 0);
    let sent = send_checkpoint(&server, stream, id).await;
    replication.remove_replica(id);
    if sent.is_err() {
        replication.sync_full_failed.add(1);
    }
    sent
}

/// Notes when writes happen ([`super::write_times`]), at most once per
/// [`SPACING`], for the replicas' lag in seconds. Runs until aborted.
pub async fn sample_write_times(server: Arc<Server>) {
    let storage = &server.storage;
    loop {
        let written = storage.written().notified();
        tokio::pin!(written);
        written.as_mut().enable();
        server
            .replication
            .write_times
            .observe(storage.latest_sequence(), Instant::now());
        written.await;
        tokio::time::sleep(SPACING).await;
    }
}

/// Streams the write batches after sequence `sent`, as they are written.
async fn feed(
    server: &Arc<Server>,
    stream: &mut TcpStream,
    mut input: BytesMut,
    handle: &ClientHandle,
    id: u64,
    mut sent: u64,
) -> std::io::Result<()> {
    let storage = &server.storage;
    let replication = &server.replication;
    let mut history = replication.history_changes();
    let mut shutdown = server.shutdown_signal();
    let (mut reader, mut writer) = stream.split();
    let mut parser = RequestParser::default();
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    let mut last_heard = Instant::now();
    let mut out = Vec::new();
    let mut unacknowledged = Unacknowledged::default();
    loop {
        // What the replica sent is read between chunks too, so its
        // acknowledgements count while the master writes without pause.
        let ready = tokio::select! {
            biased;
            read = reader.read_buf(&mut input) => Some(read?),
            _ = std::future::ready(()) => None,
        };
        if let Some(read) = ready {
            if read == 0 {
                return Ok(());
            }
            last_heard = Instant::now();
            if let Some(offset) = read_acks(server, &mut parser, &mut input, id)? {
                unacknowledged.acknowledged(offset);
            }
            continue;
        }
        let (limit, timeout) = {
            let config = server.config.read();
            (
                config.client_output_buffer_limit.replica,
                Duration::from_secs(config.repl_timeout),
            )
        };
        if unacknowledged.over(&limit) {
            tracing::warn!(
                "replica {id} dropped: {} bytes of WAL sent and not acknowledged pass \
                 client-output-buffer-limit replica",
                unacknowledged.bytes
            );
            return Ok(());
        }
        let written = storage.written().notified();
        tokio::pin!(written);
        written.as_mut().enable();
        let batches = match tokio::task::block_in_place(|| storage.wal_batches(sent, CHUNK_BYTES)) {
            Ok(batches) => batches,
            Err(WalError::Gap(reason)) => {
                tracing::warn!("replica {id} fell behind the WAL ({reason}): it must sync again");
                return Ok(());
            }
            Err(WalError::Storage(e)) => return Err(std::io::Error::other(e.0)),
        };
        if let Some(last) = batches.last() {
            sent = last.sequence + last.count - 1;
            out.clear();
            for batch in &batches {
                out.extend_from_slice(format!("${}\r\n", batch.data.len()).as_bytes());
                out.extend_from_slice(&batch.data);
                out.extend_from_slice(b"\r\n");
            }
            // A replica that stops reading is dropped after repl-timeout.
            tokio::time::timeout(timeout, writer.write_all(&out))
                .await
                .map_err(|_| stalled(id, timeout))??;
            unacknowledged.sent(sent, out.len() as u64);
            server.stats.net_repl_output_bytes.add(out.len() as u64);
            continue;
        }
        tokio::select! {
            _ = &mut written => {}
            _ = heartbeat.tick() => {
                if last_heard.elapsed() > timeout {
                    tracing::warn!("replica {id} timed out: nothing heard for {timeout:?}");
                    return Ok(());
                }
                tokio::time::timeout(timeout, writer.write_all(b"+PING\r\n"))
                    .await
                    .map_err(|_| stalled(id, timeout))??;
            }
            // The replica sent something: read at the top of the loop.
            _ = reader.readable() => {}
            _ = handle.kill_signal.notified() => return Ok(()),
            _ = history.changed() => return Ok(()),
            _ = shutdown.changed() => return Ok(()),
        }
    }
}

fn stalled(id: u64, timeout: Duration) -> std::io::Error {
    std::io::Error::other(format!(
        "replica {id} read nothing for {timeout:?}: dropped"
    ))
}

/// Handles what a fed replica sends: `REPLCONF ACK <offset>`; returns the
/// last offset acknowledged, if any.
fn read_acks(
    server: &Server,
    parser: &mut RequestParser,
    input: &mut BytesMut,
    id: u64,
) -> std::io::Result<Option<u64>> {
    let mut last = None;
    let limits = RequestLimits {
        max_bulk_len: 1 << 20,
        unauthenticated: false,
    };
    while let Some(argv) = parser
        .parse(input, limits)
        .map_err(|e| std::io::Error::other(e.0))?
    {
        let ack = argv.len() == 3
            && argv[0].eq_ignore_ascii_case(b"replconf")
            && argv[1].eq_ignore_ascii_case(b"ack");
        if let Some(offset) = ack
            .then(|| std::str::from_utf8(&argv[2]).ok()?.parse::<u64>().ok())
            .flatten()
        {
            server.replication.acknowledge(id, offset);
            last = Some(offset);
        }
    }
    Ok(last)
}

/// The WAL sent to a replica and not yet acknowledged: what Redis would
/// hold in the replica's output buffer. RedRock holds none of it (the
/// feed rereads the WAL), but a replica that falls this far behind is
/// dropped by `client-output-buffer-limit replica` as in Redis, and syncs
/// again.
#[derive(Default)]
struct Unacknowledged {
    /// (last sequence of a chunk, its bytes), oldest first.
    chunks: std::collections::VecDeque<(u64, u64)>,
    bytes: u64,
    /// Since when the bytes pass the soft limit.
    over_soft_since: Option<Instant>,
}

impl Unacknowledged {
    fn sent(&mut self, last_sequence: u64, bytes: u64) {
        self.chunks.push_back((last_sequence, bytes));
        self.bytes += bytes;
    }

    fn acknowledged(&mut self, offset: u64) {
        while let Some(&(last, bytes)) = self.chunks.front() {
            if last > offset {
                break;
            }
            self.chunks.pop_front();
            self.bytes -= bytes;
        }
    }

    fn over(&mut self, limit: &crate::config::BufferLimit) -> bool {
        if limit.hard_reached(self.bytes as usize) {
            return true;
        }
        match limit.soft_grace(self.bytes as usize) {
            None => {
                self.over_soft_since = None;
                false
            }
            Some(grace) => {
                self.over_soft_since
                    .get_or_insert_with(Instant::now)
                    .elapsed()
                    > grace
            }
        }
    }
}

/// Sends a checkpoint of the database: `+FULLRESYNC <replid> <sequence>`,
/// then each file as `+FILE <name> <size>` and its bytes, then `+END`.
async fn send_checkpoint(
    server: &Arc<Server>,
    stream: &mut TcpStream,
    id: u64,
) -> std::io::Result<()> {
    let storage = server.storage.clone();
    let replid = server.replication.ids().replid;
    let latest = storage.latest_sequence();
    stream
        .write_all(format!("+FULLRESYNC {replid} {latest}\r\n").as_bytes())
        .await?;
    let dir = storage.data_dir().join(format!(
        "{}{id}-{}",
        super::CHECKPOINT_PREFIX,
        crate::storage::now_ms()
    ));
    let target = dir.clone();
    let made = tokio::task::spawn_blocking(move || storage.sync_checkpoint(&target))
        .await
        .map_err(std::io::Error::other)?;
    let sent = match made {
        Ok(()) => send_files(server, stream, &dir).await,
        Err(e) => {
            let _ = stream
                .write_all(format!("-ERR cannot make a checkpoint: {}\r\n", e.0).as_bytes())
                .await;
            Err(std::io::Error::other(e.0))
        }
    };
    let _ = std::fs::remove_dir_all(&dir);
    sent
}

async fn send_files(server: &Server, stream: &mut TcpStream, dir: &Path) -> std::io::Result<()> {
    let mut files: Vec<_> = std::fs::read_dir(dir)?
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .collect();
    files.sort_by_key(|e| e.file_name());
    for entry in files {
        let name = entry.file_name().to_string_lossy().into_owned();
        let mut file = tokio::fs::File::open(entry.path()).await?;
        let size = file.metadata().await?.len();
        stream
            .write_all(format!("+FILE {name} {size}\r\n").as_bytes())
            .await?;
        let copied = tokio::io::copy(&mut file, stream).await?;
        if copied != size {
            return Err(std::io::Error::other(format!(
                "{name} changed size while it was sent"
            )));
        }
        server.stats.net_repl_output_bytes.add(size);
    }
    stream.write_all(b"+END\r\n").await?;
    stream.flush().await?;
    // The replica closes once it has the files; wait for that (bounded),
    // so the last bytes are not lost to an early close.
    let mut rest = [0u8; 64];
    let _ = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            match stream.read(&mut rest).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
    Ok(())
}
