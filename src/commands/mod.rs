//! The command table and dispatch.
//!
//! The table is data: name, arity, flags, key positions, and subcommands.
//! Dispatch, COMMAND INFO/GETKEYS and (later) cluster routing all read it.
//! Each group module parses arguments, calls the type layer and shapes the
//! reply.

mod args;
mod bitmap;
mod blocking;
mod client;
mod cluster;
mod config;
mod connection;
mod dump;
mod faults;
mod function;
mod geo;
mod hash;
mod hyperloglog;
mod info;
mod introspection;
mod keyspace;
mod list;
mod migrate;
mod pubsub;
pub mod replication;
mod scripting;
mod server;
mod set;
mod slowlog;
mod sort;
mod stream;
mod string;
mod table;
mod transaction;
mod zset;

pub use args::Args;
pub use connection::REDIS_VERSION;
pub use faults::fault_error;
pub use function::restore_saved as restore_saved_functions;
pub use table::{lookup, CommandSpec, KeySpec, COMMANDS};
pub use transaction::Transaction;

use crate::error::{Error, Result};
use crate::protocol::Reply;
use crate::server::monitor::Origin as MonitorOrigin;
use crate::server::pause::Postponed;
use crate::server::{ClientState, Server};
use crate::storage::{Engine, Overlay, Snapshot, WriteSet};
use crate::types::Db;
use bytes::Bytes;
use std::cell::RefCell;
use std::sync::Arc;
use std::time::Instant;

/// Flags of a command, as COMMAND INFO lists them.
pub mod flags {
    pub const WRITE: u32 = 1;
    pub const READONLY: u32 = 1 << 1;
    pub const ADMIN: u32 = 1 << 2;
    pub const FAST: u32 = 1 << 3;
    pub const NO_AUTH: u32 = 1 << 4;
    pub const LOADING: u32 = 1 << 5;
    pub const STALE: u32 = 1 << 6;
    pub const NOSCRIPT: u32 = 1 << 7;
    pub const DENYOOM: u32 = 1 << 8;
    /// Takes long (walks the keyspace): runs where it does not hold up
    /// other connections' tasks.
    pub const SLOW: u32 = 1 << 9;
    pub const NO_MULTI: u32 = 1 << 10;
    /// May wait for other clients' writes (BLPOP, BZPOPMIN, ...).
    pub const BLOCKING: u32 = 1 << 11;
    /// In the `@dangerous` ACL category without being an admin command
    /// (FLUSHALL, KEYS, INFO, ...): an ACL category, not a COMMAND INFO
    /// flag, so ACLs can gate it as Redis does.
    pub const DANGEROUS: u32 = 1 << 12;
    pub const NO_ASYNC_LOADING: u32 = 1 << 13;
    pub const ALLOW_BUSY: u32 = 1 << 14;
    /// Reads one key's metadata and at most one of its members (GET,
    /// HGET, ...): consistent without a snapshot, since the member's
    /// sub-key carries the version the metadata named.
    pub const POINT_READ: u32 = 1 << 15;
    /// Not written to the slow log (EXEC: its commands are).
    pub const SKIP_SLOWLOG: u32 = 1 << 16;
    /// Not a write, but held by CLIENT PAUSE WRITE as one (Redis's
    /// `may_replicate`: PUBLISH, EVAL, FCALL, PFCOUNT); hidden from COMMAND
    /// INFO, as in Redis.
    pub const MAY_REPLICATE: u32 = 1 << 17;
    /// A Pub/Sub command.
    pub const PUBSUB: u32 = 1 << 18;
    /// Not shown by MONITOR (scripts: their commands are).
    pub const SKIP_MONITOR: u32 = 1 << 19;
    /// May name no key even though it has key arguments (EVAL, FCALL).
    pub const NO_MANDATORY_KEYS: u32 = 1 << 20;
    /// Runs as if ASKING came first (RESTORE-ASKING, which MIGRATE sends
    /// in cluster mode); ASKING changes no routing here, so a COMMAND INFO
    /// flag only.
    pub const ASKING: u32 = 1 << 21;

    /// The names COMMAND INFO gives each flag, in Redis's order.
    pub const NAMES: &[(u32, &str)] = &[
        (WRITE, "write"),
        (READONLY, "readonly"),
        (DENYOOM, "denyoom"),
        (ADMIN, "admin"),
        (PUBSUB, "pubsub"),
        (NOSCRIPT, "noscript"),
        (BLOCKING, "blocking"),
        (LOADING, "loading"),
        (STALE, "stale"),
        (SKIP_MONITOR, "skip_monitor"),
        (SKIP_SLOWLOG, "skip_slowlog"),
        (ASKING, "asking"),
        (FAST, "fast"),
        (NO_AUTH, "no_auth"),
        (NO_MANDATORY_KEYS, "no_mandatory_keys"),
        (NO_ASYNC_LOADING, "no_async_loading"),
        (NO_MULTI, "no_multi"),
        (ALLOW_BUSY, "allow_busy"),
    ];
}

/// What a command runs with: the server, the calling client, the
/// client's write set (its key locks and pending writes), while a read
/// command runs the snapshot it reads, and inside EXEC the transaction's
/// own writes.
pub struct Ctx<'a> {
    pub server: &'a Arc<Server>,
    pub client: &'a mut ClientState,
    pub writes: &'a RefCell<WriteSet>,
    /// The database this command reads (a full sync may replace the
    /// server's meanwhile).
    pub engine: &'a Engine,
    pub snapshot: Option<Snapshot<'a>>,
    /// Inside EXEC (and scripts): the transaction's own writes.
    pub overlay: Option<&'a Overlay>,
    /// A connection's pipelined writes not yet written, readable once the
    /// write set says so (see [`WriteSet::read_pending`]).
    pub pipeline: Option<&'a Overlay>,
    /// Entries read ahead for the GETs of a pipeline (see
    /// [`crate::types::string::Prefetched`]).
    pub prefetched: Option<&'a mut crate::types::string::Prefetched>,
}

impl<'a> Ctx<'a> {
    /// The client's current keyspace, read through the command's snapshot
    /// if it has one, or the transaction's overlay inside EXEC, and with
    /// the pipeline's pending writes in front when they are readable.
    pub fn db(&self) -> Db<'_> {
        let db = Db::new(
            &self.server.storage,
            self.engine,
            &self.client.db,
            self.writes,
        );
        if let Some(overlay) = self.overlay {
            return db.reading(self.engine.live().with_overlay(overlay));
        }
        let view = match &self.snapshot {
            Some(snapshot) => snapshot.view(),
            None => self.engine.live(),
        };
        match self.pipeline {
            Some(pending) if self.writes.borrow().reads_pending() => {
                db.reading(view.with_overlay(pending))
            }
            _ if self.snapshot.is_some() => db.reading(view),
            _ => db,
        }
    }

    /// Whether the command runs inside EXEC.
    pub fn in_transaction(&self) -> bool {
        self.overlay.is_some()
    }

    /// Whether a script (EVAL, FCALL) runs the command.
    pub fn in_script(&self) -> bool {
        self.client.script_publishes.is_some()
    }

    /// Writes what the client's earlier commands left pending and releases
    /// their locks, and the admission a CLIENT PAUSE would wait for once
    /// nothing is pending (inside EXEC the writes wait for its end).
    fn finish_writes(&mut self) -> Result<()> {
        let mut writes = self.writes.borrow_mut();
        let finished = writes.finish();
        if !writes.has_pending() {
            self.client.write_admission = None;
        }
        Ok(finished?)
    }
}

/// Whether a command may write, for CLIENT PAUSE WRITE: write commands,
/// those Redis replicates (`may_replicate`), and EXEC of a transaction
/// with one of them (Redis ORs the queued commands' flags).
fn may_write(client: &ClientState, spec: &CommandSpec) -> bool {
    let mut flags = spec.flags;
    if spec.full_name == "exec" {
        flags |= client.multi.as_ref().map_or(0, Transaction::flags);
    }
    flags & (flags::WRITE | flags::MAY_REPLICATE) != 0
}

/// CLIENT PAUSE, or a migration's hand-over of the slot of the command's
/// keys: whether a hold keeps the command now. A held command is
/// postponed: its connection waits for the hold to end and runs it again,
/// as Redis does.
fn check_pause(ctx: &Ctx<'_>, postponed: Postponed) -> std::result::Result<(), Postponed> {
    match ctx
        .server
        .pause
        .holding(postponed.may_write, postponed.slot)
    {
        Some(_) => Err(postponed),
        None => Ok(()),
    }
}

/// Admits a command that may write to the storage, which a hold waits
/// for until the client's writes are written; postponed if a hold began
/// since [`check_pause`].
fn admit_write(ctx: &mut Ctx<'_>, slot: Option<u16>) -> std::result::Result<(), Postponed> {
    if ctx.client.write_admission.is_none() {
        let admission = ctx.server.storage.admit_write(slot);
        ctx.client.write_admission = Some(admission.ok_or(Postponed {
            may_write: true,
            slot,
        })?);
    }
    Ok(())
}

/// Whether a command reads through a snapshot: a read that may read more
/// than one entry, so that its reply shows one state of the database.
fn reads_snapshot(spec: &CommandSpec) -> bool {
    spec.flags & flags::READONLY != 0 && spec.flags & flags::POINT_READ == 0
}

/// Whether a command may run while earlier commands of the same pipeline
/// still have writes pending: it names its keys (so overlaps are seen) and
/// reads or writes only those.
fn joins_pipeline(spec: &CommandSpec) -> bool {
    spec.flags & (flags::WRITE | flags::READONLY) != 0
        && spec.flags & (flags::SLOW | flags::BLOCKING) == 0
        && !matches!(spec.keys, KeySpec::None)
}

/// Runs one request and returns its reply. Never panics on bad input: every
/// problem becomes an error reply.
pub fn execute(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    // Inside EXEC, routing and write refusal were checked for the whole
    // transaction, and CLIENT LIST's `cmd` stays `exec`, as in Redis.
    let in_exec = ctx.in_transaction();
    let Some(spec) = lookup(&argv[0]) else {
        ctx.client.handle.set_last_command("NULL");
        ctx.server.stats.record_error("ERR");
        fail_transaction(ctx);
        return Reply::Error(unknown_command(argv).into());
    };
    let spec = match resolve_subcommand(spec, argv) {
        Ok(spec) => spec,
        Err(e) => {
            ctx.client.handle.set_last_command("NULL");
            return reject(ctx, spec, e);
        }
    };
    // Redis names the command in CLIENT LIST (`cmd`) once it is found,
    // whether or not it is then refused.
    if !in_exec {
        ctx.client.handle.set_last_command(spec.full_name);
    }
    if !spec.arity_ok(argv.len()) {
        return reject(
            ctx,
            spec,
            Error::err(format!(
                "wrong number of arguments for '{}' command",
                spec.full_name
            )),
        );
    }
    if !ctx.client.authenticated && spec.flags & flags::NO_AUTH == 0 {
        return reject(ctx, spec, Error::coded("NOAUTH Authentication required."));
    }
    // Where the keys are: for cluster routing, the pipeline join rule and
    // waking blocked clients.
    let key_positions = spec.key_positions(argv);
    // In cluster mode the keys share one slot, which a hand-over may hold.
    let slot = ctx.server.cluster.as_ref().and_then(|_| {
        key_positions
            .first()
            .map(|&i| redrock_cluster::key_slot(&argv[i]))
    });
    if let (Some(cluster), false) = (&ctx.server.cluster, in_exec) {
        let read_only = spec.flags & flags::READONLY != 0;
        let slots = key_positions
            .iter()
            .map(|&i| redrock_cluster::key_slot(&argv[i]));
        if let Err(e) = cluster::check_route(cluster, slots, read_only, ctx.client.replica_reads) {
            return reject(ctx, spec, e);
        }
    }
    if let (Some(e), false) = (
        faults::write_refusal(&ctx.server.storage, spec.flags),
        in_exec,
    ) {
        return reject(ctx, spec, e);
    }
    if let (Some(e), false) = (replication::refusal(ctx.server, spec.flags), in_exec) {
        return reject(ctx, spec, e);
    }
    if let Some(e) = pubsub::refused_when_subscribed(ctx.client, spec) {
        return reject(ctx, spec, e);
    }
    if ctx.client.monitor.is_some() && spec.flags & (flags::READONLY | flags::WRITE) != 0 {
        // A monitor is a replica to Redis, which keeps it off the keys.
        return reject(
            ctx,
            spec,
            Error::err("Replica can't interact with the keyspace"),
        );
    }
    if !in_exec {
        if let Some(e) = scripting::busy_refusal(ctx, spec, argv) {
            return reject(ctx, spec, e);
        }
    }
    // Held before MULTI queues it, as in Redis; inside EXEC nothing is
    // held (EXEC was).
    let may_write = may_write(ctx.client, spec);
    if let (Err(postponed), false) = (check_pause(ctx, Postponed { may_write, slot }), in_exec) {
        ctx.client.postponed = Some(postponed);
        return Reply::Nil;
    }
    if ctx.client.multi.is_some() && !transaction::runs_at_once(spec.full_name) {
        if spec.flags & flags::NO_MULTI != 0 {
            return reject(
                ctx,
                spec,
                Error::err("Command not allowed inside a transaction"),
            );
        }
        return transaction::queue(ctx, argv);
    }
    let joins = joins_pipeline(spec);
    // A command that uses a key the pipeline wrote reads the pending
    // writes through the pipeline's overlay, or after they are written.
    let must_finish = !joins || {
        let mut writes = ctx.writes.borrow_mut();
        let ks = ctx.client.db.keyspace.as_bytes();
        key_positions.iter().any(|&i| writes.touches(ks, &argv[i]))
            && !(ctx.pipeline.is_some() && writes.read_pending())
    };
    if must_finish {
        if let Err(e) = ctx.finish_writes() {
            return Reply::Error(e.text());
        }
    }
    if may_write && !in_exec {
        if let Err(postponed) = admit_write(ctx, slot) {
            ctx.client.postponed = Some(postponed);
            return Reply::Nil;
        }
        // A hand-over of the slot may have ended since the route was
        // checked: it is recorded before its hold ends, and a hold waits
        // for writers admitted before it, so routed again now, a write
        // either lands before the hand-over or finds the slot moved.
        if let (Some(cluster), Some(slot)) = (&ctx.server.cluster, slot) {
            let route = cluster::check_route(
                cluster,
                std::iter::once(slot),
                false,
                ctx.client.replica_reads,
            );
            if let Err(e) = route {
                return reject(ctx, spec, e);
            }
        }
    }
    ctx.writes.borrow_mut().begin_command();
    let started = Instant::now();
    let engine = ctx.engine;
    // Taken after the pipeline's pending writes are written, or with them
    // readable in the pipeline's overlay (whose keys stay locked). Inside
    // EXEC the keys are locked and the overlay has what is pending.
    ctx.snapshot = (reads_snapshot(spec) && !in_exec).then(|| engine.snapshot());
    if spec.flags & flags::SKIP_MONITOR != 0 {
        // A script shows before the commands it runs (after it, as other
        // commands show, would put it behind them).
        feed_monitors(ctx, spec, argv);
    }
    let mut result = if spec.flags & flags::SLOW != 0 {
        tokio::task::block_in_place(|| (spec.handler)(ctx, argv))
    } else {
        (spec.handler)(ctx, argv)
    };
    ctx.snapshot = None;
    // Shown once, when it first runs: not for a blocked command's retries.
    if spec.flags & (flags::SKIP_MONITOR | flags::ADMIN) == 0 && !ctx.client.handle.is_blocked() {
        feed_monitors(ctx, spec, argv);
    }
    if ctx.client.block.is_some() {
        // Counted once it is served.
        return Reply::Nil;
    }
    if !joins {
        if let Err(e) = ctx.finish_writes() {
            result = Err(e);
        }
    }
    let elapsed = started.elapsed();
    let reply = match result {
        Ok(reply) => reply,
        Err(e) => Reply::Error(e.text()),
    };
    spec.stats.record(spec.full_name, elapsed, reply.is_error());
    if spec.flags & flags::SKIP_SLOWLOG == 0 {
        log_if_slow(ctx, spec, argv, elapsed);
    }
    if let Reply::Error(text) = &reply {
        let code = error_code(text);
        ctx.server.stats.record_error(code);
        crate::metrics::record_failure(spec.full_name, code);
    }
    ctx.server.stats.record_command();
    reply
}

/// Shows a command that ran to the MONITOR clients, with its secrets
/// redacted as in the slow log. Scripts (which skip the usual feed) call it
/// before they run, so that their commands follow them.
pub fn feed_monitors(ctx: &Ctx<'_>, spec: &CommandSpec, argv: &[Bytes]) {
    let monitors = &ctx.server.monitors;
    if !monitors.any() {
        return;
    }
    let addr;
    let origin = if ctx.in_script() {
        MonitorOrigin::Script
    } else {
        addr = ctx.client.handle.addr.to_string();
        MonitorOrigin::Client(&addr)
    };
    monitors.feed(ctx.client.db.index, origin, &redacted(spec, argv));
}

/// Adds the command to the slow log if it ran longer than the threshold,
/// with its passwords redacted.
fn log_if_slow(ctx: &Ctx<'_>, spec: &CommandSpec, argv: &[Bytes], elapsed: std::time::Duration) {
    let threshold = ctx.server.config.slowlog_log_slower_than();
    let micros = elapsed.as_micros() as u64;
    if threshold < 0 || micros < threshold as u64 {
        return;
    }
    let handle = &ctx.client.handle;
    ctx.server.slowlog.record(
        ctx.server.config.slowlog_max_len(),
        micros,
        &redacted(spec, argv),
        handle.addr.to_string(),
        handle.name(),
    );
}

/// The arguments with those that carry secrets replaced by `(redacted)`,
/// as Redis shows them in SLOWLOG: every argument of AUTH, the user and
/// password of HELLO's AUTH option, and the values of sensitive directives
/// in CONFIG SET.
fn redacted(spec: &CommandSpec, argv: &[Bytes]) -> Vec<Bytes> {
    let mut out = argv.to_vec();
    let mut redact = |i: usize| out[i] = Bytes::from_static(b"(redacted)");
    match spec.full_name {
        "auth" => (1..argv.len()).for_each(&mut redact),
        "hello" => {
            let mut i = 2;
            while i < argv.len() {
                let more = argv.len() - i - 1;
                if args::is(&argv[i], "auth") && more >= 2 {
                    redact(i + 1);
                    redact(i + 2);
                    i += 3;
                } else if args::is(&argv[i], "setname") && more >= 1 {
                    i += 2;
                } else {
                    break;
                }
            }
        }
        "config|set" => {
            for i in (2..argv.len().saturating_sub(1)).step_by(2) {
                let name = String::from_utf8_lossy(&argv[i]);
                if crate::config::is_sensitive(&name) {
                    redact(i + 1);
                }
            }
        }
        _ => {}
    }
    out
}

/// A command refused inside MULTI dooms the transaction, as in Redis.
fn fail_transaction(ctx: &mut Ctx<'_>) {
    if let Some(tx) = &mut ctx.client.multi {
        tx.fail();
    }
}

fn reject(ctx: &mut Ctx<'_>, spec: &CommandSpec, error: Error) -> Reply {
    fail_transaction(ctx);
    spec.stats.record_rejected();
    let error = if spec.full_name == "exec" {
        transaction::abort(ctx, error)
    } else {
        error
    };
    let text = error.text();
    ctx.server.stats.record_error(error_code(&text));
    Reply::Error(text)
}

/// The code of an error reply: its first word.
pub fn error_code(text: &str) -> &str {
    text.split(' ').next().unwrap_or("ERR")
}

fn resolve_subcommand<'s>(spec: &'s CommandSpec, argv: &[Bytes]) -> Result<&'s CommandSpec> {
    if spec.subcommands.is_empty() {
        return Ok(spec);
    }
    // Without a subcommand the container's own arity decides.
    let Some(name) = argv.get(1) else {
        return Ok(spec);
    };
    spec.subcommands
        .iter()
        .find(|sub| sub.name.as_bytes().eq_ignore_ascii_case(name))
        .ok_or_else(|| {
            Error::err(format!(
                "unknown subcommand '{}'. Try {} HELP.",
                truncate(&String::from_utf8_lossy(name), 128),
                spec.name.to_ascii_uppercase()
            ))
        })
}

fn truncate(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}

/// Redis's reply to an unknown command: the name and the start of the
/// arguments, each cut to 128 bytes.
fn unknown_command(argv: &[Bytes]) -> String {
    let mut args = String::new();
    for arg in &argv[1..] {
        if args.len() >= 128 {
            break;
        }
        let room = 128 - args.len();
        let text = String::from_utf8_lossy(arg);
        args.push_str(&format!("'{}' ", truncate(&text, room)));
    }
    format!(
        "ERR unknown command '{}', with args beginning with: {args}",
        truncate(&String::from_utf8_lossy(&argv[0]), 128)
    )
}

/// A HELP reply as Redis shapes it: a header line, the given lines, and
/// the closing HELP line.
pub fn help_reply(command: &str, lines: &[&str]) -> Reply {
    let mut out = vec![Reply::Status(Bytes::from(format!(
        "{command} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    )))];
    out.extend(
        lines
            .iter()
            .map(|line| Reply::Status(Bytes::copy_from_slice(line.as_bytes()))),
    );
    out.push(Reply::status("HELP"));
    out.push(Reply::status("    Prints this help."));
    Reply::Array(out)
}
