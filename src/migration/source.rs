//! The source's side: a migration job on its own thread. It copies a
//! snapshot of the slots, replays the WAL written since in rounds until
//! little is left, then holds the slots' writes, sends the rest and hands
//! the slots over. Any failure lets the destination drop what it got and
//! leaves the source serving the slots as before.
//!
//! The hand-over itself (`CLUSTER IMPORT <slots> 1`) can be lost on the
//! way back: the destination may serve the slots already, or not. The
//! source then keeps their writes held and asks the destination how the
//! import ended, as long as it takes, and after a restart too: two nodes
//! accepting writes for a slot would lose some of them.

use super::{flush, span};
use crate::server::Server;
use crate::storage::{filter_wal_batch, SlotSpan, Storage, WalError, WalReader};
use redrock_cluster::{slot_range_text, Node, SlotRange};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long the destination may take to answer.
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);
/// How often the destination is asked how a hand-over whose answer was
/// lost ended.
const OUTCOME_POLL: Duration = Duration::from_secs(1);
/// Catch-up rounds before writes are held anyway.
const CATCH_UP_ROUNDS: usize = 10;
/// How much WAL one read takes at most.
const WAL_CHUNK_BYTES: usize = 1 << 20;
/// The batch size while writes are held: each round trip to the
/// destination then adds to the hold.
const HELD_BATCH_BYTES: usize = 4 << 20;

/// Starts migrating `slots` to `destination` in the background.
pub fn start(server: &Arc<Server>, slots: SlotRange, destination: &Node) -> Result<(), String> {
    let cluster = server
        .cluster
        .as_ref()
        .ok_or("This instance has cluster support disabled")?;
    cluster.moves.begin_migration(slots, &destination.id)?;
    let server = server.clone();
    let address = format!("{}:{}", destination.host, destination.port);
    let spawned = std::thread::Builder::new()
        .name("slot-migration".into())
        .spawn(move || {
            let moves = &server.cluster.as_ref().expect("cluster mode").moves;
            let started = Instant::now();
            let outcome = migrate(&server, slots, &address);
            let copied = moves.migrating().map_or((0, 0), |m| (m.keys, m.bytes));
            match outcome {
                Ok(held) => tracing::info!(
                    "slots {}-{} migrated to {address}: {} keys, {} bytes in {:?} \
                     (writes held for {held:?})",
                    slots.0,
                    slots.1,
                    copied.0,
                    copied.1,
                    started.elapsed()
                ),
                Err(e) => {
                    moves.fail_migration();
                    tracing::warn!(
                        "migrating slots {}-{} to {address} failed: {e}",
                        slots.0,
                        slots.1
                    )
                }
            }
        });
    if let Err(e) = spawned {
        cluster.moves.fail_migration();
        return Err(format!("cannot start the migration: {e}"));
    }
    Ok(())
}

/// Moves the slots; returns how long writes were held.
fn migrate(server: &Arc<Server>, slots: SlotRange, address: &str) -> Result<Duration, String> {
    let (password, batch_bytes, rate_limit, gap) = {
        let config = server.config.read();
        (
            config.requirepass.clone(),
            config.migrate_batch_size_kb as usize * 1024,
            config.migrate_batch_rate_limit_mb * 1024 * 1024,
            config.migrate_sequence_gap,
        )
    };
    let mut link = Link::connect(address, &password)?;
    // As CLUSTER IMPORT reads it back: one slot is `n`, not `n-n`.
    let range = slot_range_text(slots);
    link.command(&[b"CLUSTER", b"IMPORT", range.as_bytes(), b"0"])?;
    let mut sender = Sender {
        server,
        link,
        password,
        batch_bytes,
        throttle: Throttle::new(rate_limit),
    };
    let moved = sender.move_slots(&span(slots), gap, &range);
    if moved.is_err() {
        let _ = sender
            .link
            .command(&[b"CLUSTER", b"IMPORT", range.as_bytes(), b"2"]);
    }
    moved
}

/// Settles, before clients come, a hand-over that a restart cut short:
/// the slots' writes stay held until the destination says whether it
/// took them.
pub fn resume_hand_over(server: &Arc<Server>) {
    let Some(cluster) = &server.cluster else {
        return;
    };
    let Some((slots, address)) = cluster.moves.pending_hand_over() else {
        return;
    };
    tracing::warn!(
        "the hand-over of slots {}-{} to {address} was cut short by a restart: \
         their writes are held until it says whether it took them",
        slots.0,
        slots.1
    );
    let held = match HeldWrites::hold(server, slots) {
        Ok(held) => held,
        Err(e) => {
            tracing::error!(
                "cannot hold the writes of slots {}-{}: {e}",
                slots.0,
                slots.1
            );
            return;
        }
    };
    let server = server.clone();
    let password = server.config.read().requirepass.clone();
    let spawned = std::thread::Builder::new()
        .name("slot-hand-over".into())
        .spawn(move || {
            let moves = &server.cluster.as_ref().expect("cluster mode").moves;
            if import_outcome(&server, &address, &password, slots) {
                if let Err(e) = moves.hand_over() {
                    tracing::error!("cannot save the hand-over: {e}");
                }
                server.blocked.wake_slots(slots);
            } else {
                moves.fail_migration();
            }
            drop(held);
        });
    if let Err(e) = spawned {
        tracing::error!("cannot settle the hand-over: {e}");
    }
}

/// Whether the destination at `address` took `slots` when the answer to
/// the hand-over was lost. Asks until it knows (the caller holds the
/// slots' writes meanwhile): while it cannot be reached, either answer
/// may be true.
fn import_outcome(server: &Server, address: &str, password: &str, slots: SlotRange) -> bool {
    let range = slot_range_text(slots);
    let version_then = server.cluster.as_ref().map_or(0, |c| c.version());
    let mut attempt = 0u64;
    loop {
        match ask_import_outcome(address, password, &range) {
            Ok(ImportOutcome::Took) => return true,
            Ok(ImportOutcome::Refused) => return false,
            Ok(ImportOutcome::Unknown { version }) => {
                // A newer topology cleared the destination's import: once
                // this node has it too, the topology says who serves them.
                let version_now = server.cluster.as_ref().map_or(0, |c| c.version());
                if version_now != version_then && version_now >= version {
                    return false;
                }
            }
            Ok(ImportOutcome::Running) => {}
            Err(e) if attempt.is_multiple_of(30) => {
                tracing::warn!("cannot ask {address} how the import of slots {range} ended: {e}")
            }
            Err(_) => {}
        }
        attempt += 1;
        std::thread::sleep(OUTCOME_POLL);
    }
}

/// How the destination says an import ended.
enum ImportOutcome {
    Took,
    Refused,
    /// Not ended yet: the destination has not seen the link close.
    Running,
    /// The destination shows no import of the slots; its topology version.
    Unknown {
        version: i64,
    },
}

fn ask_import_outcome(address: &str, password: &str, range: &str) -> Result<ImportOutcome, String> {
    let mut link = Link::connect(address, password)?;
    let info = link.text(&[b"CLUSTER", b"INFO"])?;
    let field = |name: &str| {
        info.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
    };
    if field("importing_slot") != Some(range) {
        let version = field("cluster_current_epoch")
            .and_then(|v| v.parse().ok())
            .unwrap_or(i64::MAX);
        return Ok(ImportOutcome::Unknown { version });
    }
    Ok(match field("import_state") {
        Some("success") => ImportOutcome::Took,
        Some("start") => ImportOutcome::Running,
        _ => ImportOutcome::Refused,
    })
}

struct Sender<'a> {
    server: &'a Arc<Server>,
    link: Link,
    password: String,
    batch_bytes: usize,
    throttle: Throttle,
}

impl Sender<'_> {
    fn storage(&self) -> &Storage {
        &self.server.storage
    }

    fn move_slots(&mut self, span: &SlotSpan, gap: u64, range: &str) -> Result<Duration, String> {
        // Writes after this sequence number are replayed from the WAL; the
        // snapshot, taken after, may hold some of them already, which is
        // harmless: records replayed in order end in the latest state.
        let mut wal = self.storage().wal_reader(self.storage().latest_sequence());
        self.copy_snapshot(span)?;
        let (mut flushed, mut previous) = (false, u64::MAX);
        for _ in 0..CATCH_UP_ROUNDS {
            let latest = self.storage().latest_sequence();
            let left = latest.saturating_sub(wal.position());
            if left <= gap {
                if !flushed {
                    // Close to the hand-over: its fsync is quick once dirty
                    // pages are out; catch up with what came meanwhile.
                    flush::write_out(self.storage().data_dir());
                    flushed = true;
                    continue;
                }
                // Below the gap, more rounds only while each halves what
                // is left: the last round holds writes.
                if left == 0 || left.saturating_mul(2) > previous {
                    break;
                }
            }
            previous = left;
            self.replay(span, &mut wal, latest)?;
        }
        // The last round: writes are held (their clients wait, then find
        // the slots moved), the rest of the WAL goes, unpaced and in large
        // batches, the slots are handed over, and only then are writes let
        // through.
        let slots = (*span.slots.start(), *span.slots.end());
        let held = HeldWrites::hold(self.server, slots)?;
        self.batch_bytes = self.batch_bytes.max(HELD_BATCH_BYTES);
        self.throttle = Throttle::new(0);
        let latest = self.storage().latest_sequence();
        self.replay(span, &mut wal, latest)?;
        let moves = &self.server.cluster.as_ref().expect("cluster mode").moves;
        moves
            .begin_hand_over(&self.link.address)
            .map_err(|e| format!("cannot save the hand-over: {e}"))?;
        match self
            .link
            .command(&[b"CLUSTER", b"IMPORT", range.as_bytes(), b"1"])
        {
            Ok(()) => {}
            Err(LinkError::Refused(e)) => return Err(e),
            Err(LinkError::Lost(e)) => {
                tracing::warn!(
                    "{e} during the hand-over of slots {range}: their writes are \
                     held until it says whether it took them"
                );
                // Closed first, so the destination ends the import.
                self.link.close();
                let address = self.link.address.clone();
                if !import_outcome(self.server, &address, &self.password, slots) {
                    return Err(format!("{address} did not take the slots: {e}"));
                }
            }
        }
        moves
            .hand_over()
            .map_err(|e| format!("cannot save the hand-over: {e}"))?;
        // Clients blocked on keys of the slots would wait for pushes that
        // now go to the destination.
        self.server.blocked.wake_slots(slots);
        Ok(held.since.elapsed())
    }

    fn copy_snapshot(&mut self, span: &SlotSpan) -> Result<(), String> {
        let engine = self.storage().engine();
        let snapshot = engine.snapshot();
        let view = snapshot.view();
        let mut after: Option<Vec<u8>> = None;
        loop {
            let export = self
                .storage()
                .export_slots(&view, span, after.as_deref(), self.batch_bytes)
                .map_err(|e| e.0)?;
            self.send(&export.records, export.keys)?;
            match export.resume {
                Some(last) => after = Some(last),
                None => return Ok(()),
            }
        }
    }

    /// Sends the span's records of the WAL from where `wal` stands to
    /// `until` at least.
    fn replay(&mut self, span: &SlotSpan, wal: &mut WalReader, until: u64) -> Result<(), String> {
        let mut records = Vec::new();
        while wal.position() < until {
            let batches = wal.read(until, WAL_CHUNK_BYTES).map_err(|e| match e {
                WalError::Gap(reason) => format!("the WAL no longer reaches back: {reason}"),
                WalError::Storage(e) => e.0,
            })?;
            if batches.is_empty() {
                break;
            }
            for batch in batches {
                records.extend(filter_wal_batch(span, &batch.data).map_err(|e| e.0)?);
                if records.len() >= self.batch_bytes {
                    self.send(&records, 0)?;
                    records.clear();
                }
            }
        }
        self.send(&records, 0)?;
        Ok(())
    }

    fn send(&mut self, records: &[u8], keys: u64) -> Result<(), String> {
        if records.is_empty() {
            return Ok(());
        }
        self.throttle.wait(records.len());
        self.link.command(&[b"CLUSTERX", b"IMPORTDATA", records])?;
        if let Some(cluster) = &self.server.cluster {
            cluster.moves.copied(keys, records.len() as u64);
        }
        Ok(())
    }
}

/// The hand-over's hold on the writes of the slots moved; the other
/// slots' writers go on. Ends when dropped, whatever happens.
struct HeldWrites {
    server: Arc<Server>,
    since: Instant,
}

impl HeldWrites {
    fn hold(server: &Arc<Server>, slots: SlotRange) -> Result<HeldWrites, String> {
        let held = HeldWrites {
            server: server.clone(),
            since: Instant::now(),
        };
        if !server.pause.hold_slots(slots) {
            return Err("a write admitted before the hand-over is still not written".into());
        }
        Ok(held)
    }
}

impl Drop for HeldWrites {
    fn drop(&mut self) {
        self.server.pause.release_slots();
    }
}

/// Paces sends to a rate in bytes per second (0: no limit).
struct Throttle {
    rate: u64,
    started: Instant,
    sent: u64,
}

impl Throttle {
    fn new(rate: u64) -> Throttle {
        Throttle {
            rate,
            started: Instant::now(),
            sent: 0,
        }
    }

    fn wait(&mut self, bytes: usize) {
        self.sent += bytes as u64;
        if self.rate == 0 {
            return;
        }
        let due = Duration::from_secs_f64(self.sent as f64 / self.rate as f64);
        if let Some(early) = due.checked_sub(self.started.elapsed()) {
            std::thread::sleep(early);
        }
    }
}

/// A blocking connection to the destination.
struct Link {
    address: String,
    stream: TcpStream,
    reader: BufReader<TcpStream>,
}

/// Why a command on the link failed.
enum LinkError {
    /// The destination answered with an error: it did not do it.
    Refused(String),
    /// The link failed: the destination may have done it or not.
    Lost(String),
}

impl From<LinkError> for String {
    fn from(e: LinkError) -> String {
        match e {
            LinkError::Refused(e) | LinkError::Lost(e) => e,
        }
    }
}

impl Link {
    fn connect(address: &str, password: &str) -> Result<Link, String> {
        let fail = |e: std::io::Error| format!("cannot reach the destination {address}: {e}");
        let addr = std::net::ToSocketAddrs::to_socket_addrs(address)
            .map_err(fail)?
            .next()
            .ok_or_else(|| format!("the destination {address} does not resolve"))?;
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(fail)?;
        stream.set_read_timeout(Some(REPLY_TIMEOUT)).map_err(fail)?;
        stream
            .set_write_timeout(Some(REPLY_TIMEOUT))
            .map_err(fail)?;
        stream.set_nodelay(true).map_err(fail)?;
        let reader = BufReader::new(stream.try_clone().map_err(fail)?);
        let mut link = Link {
            address: address.to_string(),
            stream,
            reader,
        };
        if !password.is_empty() {
            link.command(&[b"AUTH", password.as_bytes()])?;
        }
        Ok(link)
    }

    /// Sends a command and reads its one-line reply; an error reply is an
    /// error.
    fn command(&mut self, args: &[&[u8]]) -> Result<(), LinkError> {
        self.call(args).map(drop)
    }

    /// Sends a command whose reply is a bulk string, and returns it.
    fn text(&mut self, args: &[&[u8]]) -> Result<String, LinkError> {
        self.call(args)?
            .ok_or_else(|| LinkError::Refused(format!("{} sent no text", self.address)))
    }

    /// Sends a command; returns its reply's bulk string if it is one.
    fn call(&mut self, args: &[&[u8]]) -> Result<Option<String>, LinkError> {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for arg in args {
            out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            out.extend_from_slice(arg);
            out.extend_from_slice(b"\r\n");
        }
        let lost = |e: std::io::Error| {
            LinkError::Lost(format!("the link to {} failed: {e}", self.address))
        };
        self.stream.write_all(&out).map_err(lost)?;
        let mut line = String::new();
        self.reader.read_line(&mut line).map_err(lost)?;
        match line.as_bytes().first() {
            Some(b'+') | Some(b':') => Ok(None),
            Some(b'$') => {
                let length: usize = line[1..].trim_end().parse().map_err(|_| {
                    LinkError::Lost(format!("{} sent a malformed reply", self.address))
                })?;
                let mut body = vec![0; length + 2];
                self.reader.read_exact(&mut body).map_err(lost)?;
                body.truncate(length);
                Ok(Some(String::from_utf8_lossy(&body).into_owned()))
            }
            Some(b'-') => Err(LinkError::Refused(format!(
                "the destination {} answered: {}",
                self.address,
                line[1..].trim_end()
            ))),
            _ => Err(LinkError::Lost(format!(
                "the destination {} closed the link",
                self.address
            ))),
        }
    }

    /// Closes the link at once, so the destination sees it end.
    fn close(&self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }
}
