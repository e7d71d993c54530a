//! MULTI, EXEC, DISCARD, WATCH and UNWATCH.
//!
//! Between MULTI and EXEC the dispatcher queues commands after checking
//! them (an error at that point dooms the transaction). EXEC locks, in one
//! sorted acquisition, every key its commands name (every key of the
//! server if one of them names none, as FLUSHDB and KEYS do), checks the
//! WATCHed keys under those locks, then runs the commands with the write
//! set in transaction mode: their batches are kept for ONE RocksDB write
//! when EXEC finishes, and each reads the earlier ones' writes through an
//! [`Overlay`]. No other client sees part of a transaction, a crash never
//! leaves part of one, and transactions on disjoint keys run in parallel.

use super::{cluster, faults, flags, lookup, resolve_subcommand, CommandSpec, Ctx, KeySpec};
use crate::error::{Error, Result};
use crate::protocol::Reply;
use crate::server::{ClientHandle, ClientWatch};
use crate::storage::{KeyLocks, Overlay};
use crate::types::{now_ms, KeyspaceHandle};
use bytes::Bytes;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// The commands queued since MULTI. The client's handle shows them in
/// CLIENT LIST (`multi=`, `multi-mem=`, flag `x`) until the transaction is
/// dropped: at DISCARD or RESET, or once EXEC has run it (inside EXEC
/// the client is still in MULTI, as in Redis).
pub struct Transaction {
    queued: Vec<Vec<Bytes>>,
    /// A command was refused while queueing: EXEC will discard it all.
    failed: bool,
    handle: Arc<ClientHandle>,
    /// Redis's `multi-mem`: the queued arguments' bytes and a pointer each.
    memory: u64,
}

impl Drop for Transaction {
    fn drop(&mut self) {
        self.handle.set_multi(None);
    }
}

impl Transaction {
    pub fn new(handle: Arc<ClientHandle>) -> Transaction {
        handle.set_multi(Some((0, 0)));
        Transaction {
            queued: Vec::new(),
            failed: false,
            handle,
            memory: 0,
        }
    }

    fn push(&mut self, argv: &[Bytes]) {
        let bytes: usize = argv.iter().map(|arg| arg.len()).sum();
        self.memory += (bytes + argv.len() * std::mem::size_of::<usize>()) as u64;
        self.queued.push(argv.to_vec());
        self.handle
            .set_multi(Some((self.queued.len(), self.memory)));
    }

    /// Dooms the transaction: EXEC answers EXECABORT.
    pub fn fail(&mut self) {
        self.failed = true;
    }

    /// How many commands are queued (CLIENT LIST's `multi=`).
    pub fn len(&self) -> usize {
        self.queued.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queued.is_empty()
    }

    /// The union of the queued commands' flags.
    pub fn flags(&self) -> u32 {
        self.queued
            .iter()
            .filter_map(|argv| spec_of(argv))
            .fold(0, |union, spec| union | spec.flags)
    }
}

/// The table entry a queued command runs as (queued commands were checked).
fn spec_of(argv: &[Bytes]) -> Option<&'static CommandSpec> {
    lookup(&argv[0]).and_then(|spec| resolve_subcommand(spec, argv).ok())
}

/// Whether a command runs at once inside MULTI instead of being queued.
pub fn runs_at_once(name: &str) -> bool {
    matches!(
        name,
        "exec" | "discard" | "multi" | "watch" | "quit" | "reset"
    )
}

/// Queues a checked command; the reply is `+QUEUED`. A transaction EXEC
/// will refuse (a command was refused, or a watched key was written)
/// keeps no more commands, as in Redis: CLIENT LIST's `multi=` stops
/// counting.
pub fn queue(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let touched = ctx.client.handle.watch_touched.load(Ordering::SeqCst);
    if let Some(tx) = &mut ctx.client.multi {
        if !tx.failed && !touched {
            tx.push(argv);
        }
    }
    Reply::status("QUEUED")
}

pub fn multi(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Result<Reply> {
    if ctx.client.multi.is_some() {
        return Err(Error::err("MULTI calls can not be nested"));
    }
    ctx.client.multi = Some(Transaction::new(ctx.client.handle.clone()));
    Ok(Reply::ok())
}

pub fn discard(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Result<Reply> {
    if ctx.client.multi.take().is_none() {
        return Err(Error::err("DISCARD without MULTI"));
    }
    ctx.client.watch = None;
    Ok(Reply::ok())
}

/// A refused EXEC (wrong arity) discards the transaction, if any, and
/// says why, as Redis does even outside MULTI.
pub fn abort(ctx: &mut Ctx<'_>, error: Error) -> Error {
    ctx.client.multi = None;
    ctx.client.watch = None;
    let text = error.text();
    let why = text.strip_prefix("ERR ").unwrap_or(&text);
    Error::coded(format!("EXECABORT Transaction discarded because of: {why}"))
}

pub fn watch(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    if ctx.client.multi.is_some() {
        return Err(Error::err("WATCH inside MULTI is not allowed"));
    }
    let now = now_ms();
    let db = ctx.db();
    let mut found = Vec::with_capacity(argv.len() - 1);
    for key in &argv[1..] {
        // An expired key is removed here, so its removal does not count
        // as a change; a live key's expiry is remembered, as it may pass
        // before EXEC without anyone writing the key.
        let stored = db.lookup(key, now)?;
        found.push((
            stored.is_some(),
            stored.map_or(0, |k| k.header.expire_at_ms),
        ));
    }
    // That removal is told to WATCH when the command's writes finish:
    // before this client watches the key, or it would break its own watch.
    ctx.finish_writes()?;
    let handle = ctx.client.db.clone();
    let server = ctx.server;
    let touched = ctx.client.handle.watch_touched.clone();
    let watch = ctx
        .client
        .watch
        .get_or_insert_with(|| ClientWatch::new(server.watches.clone(), touched));
    for (key, (existed, expire_at)) in argv[1..].iter().zip(found) {
        watch.watch(&handle, key, existed, expire_at);
    }
    Ok(Reply::ok())
}

pub fn unwatch(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Result<Reply> {
    ctx.client.watch = None;
    Ok(Reply::ok())
}

pub fn exec(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Result<Reply> {
    let Some(tx) = ctx.client.multi.take() else {
        return Err(Error::err("EXEC without MULTI"));
    };
    // Unregistered once EXEC is done, whatever happens.
    let watch = ctx.client.watch.take();
    if tx.failed {
        return Err(Error::coded(
            "EXECABORT Transaction discarded because of previous errors.",
        ));
    }
    let plan = plan(ctx, &tx.queued);
    if let Some(cluster) = &ctx.server.cluster {
        // All the transaction's keys in one slot served here: checked now,
        // as the slot may have moved since the commands were queued.
        cluster::check_route(
            cluster,
            plan.slots.iter().copied(),
            plan.flags & flags::WRITE == 0,
            ctx.client.replica_reads,
        )?;
    }
    if let Some(e) = faults::write_refusal(&ctx.server.storage, plan.flags) {
        let text = e.text();
        return Err(Error::coded(format!(
            "EXECABORT Transaction discarded because of: {text}"
        )));
    }
    {
        let mut writes = ctx.writes.borrow_mut();
        writes.lock_stripes(plan.stripes)?;
        writes.begin_transaction();
    }
    // Checked under the locks: a write to a watched key either came
    // before (and set the flag) or waits for this transaction.
    if watch.as_ref().is_some_and(|w| w.broken(now_ms())) {
        ctx.writes.borrow_mut().end_transaction();
        return Ok(Reply::NilArray);
    }
    drop(watch);
    let overlay = Overlay::default();
    let mut replies = Vec::with_capacity(tx.queued.len());
    {
        let mut inner = Ctx {
            server: ctx.server,
            client: &mut *ctx.client,
            writes: ctx.writes,
            engine: ctx.engine,
            snapshot: None,
            overlay: Some(&overlay),
            pipeline: None,
            prefetched: None,
        };
        for argv in &tx.queued {
            replies.push(super::execute(&mut inner, argv));
        }
    }
    // The dispatcher writes the transaction once EXEC returns (EXEC names
    // no keys, so it finishes its writes).
    ctx.writes.borrow_mut().end_transaction();
    Ok(Reply::Array(replies))
}

/// What EXEC must lock and check before it runs its commands.
struct Plan {
    /// The lock stripes of every key the commands name, in any database.
    stripes: Vec<usize>,
    /// The cluster slots of those keys.
    slots: Vec<u16>,
    /// The union of the commands' flags.
    flags: u32,
}

/// The keys of the queued commands, in the databases they will run in
/// (SELECT inside the transaction switches for the commands after it;
/// MOVE and COPY ... DB write another one). A command that names no keys
/// but reads or writes data (FLUSHDB, KEYS, DBSIZE, SCAN, ...) makes the
/// transaction lock every stripe: it then runs alone among writers.
fn plan(ctx: &Ctx<'_>, queued: &[Vec<Bytes>]) -> Plan {
    let databases = &ctx.server.databases;
    let mut db: Arc<KeyspaceHandle> = ctx.client.db.clone();
    let mut pairs: Vec<(Arc<KeyspaceHandle>, &[u8])> = Vec::new();
    let mut slots = Vec::new();
    let mut union = 0;
    let mut everything = false;
    for argv in queued {
        let Some(spec) = spec_of(argv) else {
            continue;
        };
        union |= spec.flags;
        let positions = spec.key_positions(argv);
        if matches!(spec.keys, KeySpec::None) && spec.flags & (flags::WRITE | flags::READONLY) != 0
        {
            everything = true;
        }
        for &i in &positions {
            pairs.push((db.clone(), &argv[i]));
            slots.push(redrock_cluster::key_slot(&argv[i]));
        }
        let database = |arg: &Bytes| {
            std::str::from_utf8(arg)
                .ok()
                .and_then(|s| s.parse::<usize>().ok())
                .and_then(|i| databases.get(i))
                .cloned()
        };
        match spec.full_name {
            "select" => {
                if let Some(next) = database(&argv[1]) {
                    db = next;
                }
            }
            "move" => {
                if let Some(target) = database(&argv[2]) {
                    pairs.push((target, &argv[1]));
                }
            }
            "copy" => {
                let target = argv[3..]
                    .windows(2)
                    .find(|w| super::args::is(&w[0], "db"))
                    .and_then(|w| database(&w[1]));
                if let Some(target) = target {
                    pairs.push((target, &argv[2]));
                }
            }
            _ => {}
        }
    }
    let stripes = if everything {
        KeyLocks::all_stripes().collect()
    } else {
        pairs
            .iter()
            .map(|(db, key)| KeyLocks::stripe(db.keyspace.as_bytes(), key))
            .collect()
    };
    Plan {
        stripes,
        slots,
        flags: union,
    }
}
