//! EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and SCRIPT, and the runner FCALL
//! shares with them.
//!
//! A script runs as a transaction (see [`super::transaction`]): it locks
//! the stripes of the keys it declares, in one sorted acquisition, and its
//! `redis.call`s run with the write set in transaction mode, reading each
//! other's writes through an overlay; everything it wrote becomes one
//! RocksDB write when it ends. No server-wide lock: scripts on disjoint
//! keys run in parallel. A command of the script that needs a stripe it
//! does not hold takes it if it is free; if another client holds it, the
//! run is abandoned (nothing it did is kept) and the script runs again
//! with that stripe locked up front, so a script touching undeclared keys
//! is still atomic.

use super::{cluster, flags, lookup, resolve_subcommand, CommandSpec, Ctx, KeySpec};
use crate::error::{Error, Result};
use crate::protocol::Reply;
use crate::scripting::running::busy_error;
use crate::scripting::{
    with_engine, Host, Interrupt, Outcome, Run, RunKind, RunningScript, Script, ScriptFlags,
};
use crate::server::DeferredPublish;
use crate::storage::{KeyLocks, Overlay};
use bytes::Bytes;

/// What a script run is: an EVAL script or a function, with its keys and
/// arguments.
pub(super) struct Invocation<'a> {
    pub target: Target,
    pub flags: ScriptFlags,
    /// EVAL_RO, EVALSHA_RO or FCALL_RO.
    pub read_only_command: bool,
    pub keys: &'a [Bytes],
    pub args: &'a [Bytes],
}

pub(super) enum Target {
    Eval(std::sync::Arc<Script>),
    /// A function, by the name it was registered with.
    Function(String),
}

impl Target {
    fn kind(&self) -> RunKind {
        match self {
            Target::Eval(_) => RunKind::Eval,
            Target::Function(_) => RunKind::Function,
        }
    }

    fn name(&self) -> String {
        match self {
            Target::Eval(script) => script.sha.to_string(),
            Target::Function(name) => name.clone(),
        }
    }
}

/// Splits `numkeys key... arg...` (at `argv[at]`) into keys and arguments.
pub(super) fn split_keys<'a>(
    argv: &'a [Bytes],
    at: usize,
    not_integer: &'static str,
) -> Result<(&'a [Bytes], &'a [Bytes])> {
    let count =
        crate::types::string::parse_i64(&argv[at]).ok_or_else(|| Error::err(not_integer))?;
    let rest = &argv[at + 1..];
    if count < 0 {
        return Err(Error::err("Number of keys can't be negative"));
    }
    if count as u64 > rest.len() as u64 {
        return Err(Error::err(
            "Number of keys can't be greater than number of args",
        ));
    }
    Ok(rest.split_at(count as usize))
}

const NOT_INTEGER: &str = "value is not an integer or out of range";

pub fn eval(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let (keys, args) = split_keys(argv, 2, NOT_INTEGER)?;
    let script = match ctx
        .server
        .scripts
        .get(crate::scripting::sha1_hex(&argv[1]).as_bytes())
    {
        Some(script) => script,
        None => {
            let script = Script::new(argv[1].clone()).map_err(Error::coded)?;
            compile(ctx, script)?
        }
    };
    run_eval(ctx, argv, script, keys, args)
}

pub fn evalsha(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let (keys, args) = split_keys(argv, 2, NOT_INTEGER)?;
    let script = (argv[1].len() == 40)
        .then(|| ctx.server.scripts.get(&argv[1]))
        .flatten()
        .ok_or_else(|| Error::coded("NOSCRIPT No matching script. Please use EVAL."))?;
    run_eval(ctx, argv, script, keys, args)
}

fn run_eval(
    ctx: &mut Ctx<'_>,
    argv: &[Bytes],
    script: std::sync::Arc<Script>,
    keys: &[Bytes],
    args: &[Bytes],
) -> Result<Reply> {
    let read_only_command = argv[0].to_ascii_lowercase().ends_with(b"_ro");
    let flags = script.flags;
    run(
        ctx,
        argv,
        Invocation {
            target: Target::Eval(script),
            flags,
            read_only_command,
            keys,
            args,
        },
    )
}

/// Compiles a new script on this thread (its error is the reply) and
/// caches it.
fn compile(ctx: &Ctx<'_>, script: Script) -> Result<std::sync::Arc<Script>> {
    let scripts = &ctx.server.scripts;
    with_engine(scripts, |engine| engine.compile(&script)).map_err(Error::coded)?;
    Ok(scripts.insert(script))
}

/// SCRIPT LOAD: compiles and caches without running.
pub fn script_load(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let script = match ctx
        .server
        .scripts
        .get(crate::scripting::sha1_hex(&argv[2]).as_bytes())
    {
        Some(script) => script,
        None => compile(ctx, Script::new(argv[2].clone()).map_err(Error::coded)?)?,
    };
    Ok(Reply::Bulk(Bytes::from(script.sha.to_string())))
}

pub fn script_exists(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let scripts = &ctx.server.scripts;
    Ok(Reply::Array(
        argv[2..]
            .iter()
            .map(|sha| Reply::Integer(i64::from(scripts.exists(sha))))
            .collect(),
    ))
}

pub fn script_flush(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    if !flush_mode_ok(argv) {
        return Err(Error::err("SCRIPT FLUSH only support SYNC|ASYNC option"));
    }
    ctx.server.scripts.flush();
    Ok(Reply::ok())
}

/// The optional `ASYNC` / `SYNC` of SCRIPT FLUSH and FUNCTION FLUSH (both
/// act at once: dropping the cache is quick).
pub(super) fn flush_mode_ok(argv: &[Bytes]) -> bool {
    match argv.len() {
        2 => true,
        3 => super::args::is(&argv[2], "async") || super::args::is(&argv[2], "sync"),
        _ => false,
    }
}

pub fn script_kill(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Result<Reply> {
    kill(ctx, RunKind::Eval)
}

/// SCRIPT KILL and FUNCTION KILL.
pub(super) fn kill(ctx: &Ctx<'_>, kind: RunKind) -> Result<Reply> {
    ctx.server
        .scripts
        .running
        .kill(kind)
        .map(|()| Reply::ok())
        .map_err(Error::coded)
}

pub fn script_help(_ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Result<Reply> {
    Ok(super::help_reply(
        "SCRIPT",
        &[
            "EXISTS <sha1> [<sha1> ...]",
            "    Return information about the existence of the scripts in the script cache.",
            "FLUSH [ASYNC|SYNC]",
            "    Flush the Lua scripts cache. Very dangerous on replicas.",
            "    When called without the optional mode argument, the behavior is determined by the",
            "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
            "    * ASYNC: Asynchronously flush the scripts cache.",
            "    * SYNC: Synchronously flush the scripts cache.",
            "KILL",
            "    Kill the currently executing Lua script.",
            "LOAD <script>",
            "    Load a script into the scripts cache without executing it.",
        ],
    ))
}

/// Runs a script or function as one atomic transaction (see the module
/// comment).
pub(super) fn run(ctx: &mut Ctx<'_>, argv: &[Bytes], invocation: Invocation<'_>) -> Result<Reply> {
    let flags = invocation.flags;
    let compat = flags.has(ScriptFlags::EVAL_COMPAT);
    if !compat {
        if flags.has(ScriptFlags::NO_CLUSTER) && ctx.server.cluster.is_some() {
            return Err(Error::err(
                "Can not run script on cluster, 'no-cluster' flag is set.",
            ));
        }
        if !flags.has(ScriptFlags::NO_WRITES) && invocation.read_only_command {
            return Err(Error::err(
                "Can not execute a script with write flag using *_ro command.",
            ));
        }
    }
    let read_only = invocation.read_only_command || (!compat && flags.has(ScriptFlags::NO_WRITES));
    let keyspace = ctx.client.db.keyspace.as_bytes().to_vec();
    let mut stripes: Vec<usize> = invocation
        .keys
        .iter()
        .map(|key| KeyLocks::stripe(&keyspace, key))
        .collect();
    let slot = invocation
        .keys
        .first()
        .map(|key| redrock_cluster::key_slot(key));
    let kind = invocation.target.kind();
    let name = invocation.target.name();
    // Inside EXEC the script is part of the transaction: its keys are
    // locked already, and it cannot run again on its own.
    if let Some(overlay) = ctx.overlay {
        let running = ctx
            .server
            .scripts
            .running
            .start(kind, name, argv.to_vec(), stripes, false);
        let outcome = run_once(
            ctx,
            overlay,
            &invocation,
            &running.script,
            read_only,
            slot,
            false,
        );
        return Ok(match outcome.0 {
            Outcome::Done(reply) => reply,
            Outcome::Interrupted => {
                Reply::Error("ERR a command of the script needs a key EXEC did not lock".into())
            }
        });
    }
    let mut all = false;
    loop {
        {
            let mut writes = ctx.writes.borrow_mut();
            if all {
                writes.lock_stripes(KeyLocks::all_stripes().collect())?;
            } else {
                writes.lock_stripes(stripes.clone())?;
            }
            writes.begin_transaction();
        }
        let running = ctx.server.scripts.running.start(
            kind,
            name.clone(),
            argv.to_vec(),
            stripes.clone(),
            all,
        );
        let overlay = Overlay::default();
        let (outcome, needed, published) = run_once(
            ctx,
            &overlay,
            &invocation,
            &running.script,
            read_only,
            slot,
            true,
        );
        let killed = running.script.killed();
        drop(running);
        match outcome {
            // A killed script keeps nothing: SCRIPT KILL stops only scripts
            // that wrote nothing, shutdown any script, as an exit would.
            Outcome::Done(reply) if killed => {
                ctx.writes.borrow_mut().abort_transaction();
                return Ok(reply);
            }
            // Kept, its earlier writes would be done twice by the retry.
            Outcome::Done(_) if matches!(needed, Needed::HandOverEnd) => {
                ctx.writes.borrow_mut().abort_transaction();
                return Err(Error::coded(HAND_OVER_ERROR));
            }
            Outcome::Done(reply) => {
                ctx.writes.borrow_mut().end_transaction();
                ctx.finish_writes()?;
                for (shard, channel, message) in published {
                    super::pubsub::send(ctx.server, shard, &channel, &message);
                }
                return Ok(reply);
            }
            Outcome::Interrupted => {
                ctx.writes.borrow_mut().abort_transaction();
                match needed {
                    Needed::All => all = true,
                    Needed::Stripes(more) => stripes.extend(more),
                    Needed::HandOverEnd => return Err(Error::coded(HAND_OVER_ERROR)),
                }
                // Waiting for a busy script's keys is what BUSY spares
                // the client, as if the script had declared them.
                if let Some(kind) = ctx.server.scripts.running.busy_holding(&stripes, all) {
                    return Err(Error::coded(busy_error(kind)));
                }
            }
        }
    }
}

/// What a run needs before it can run again: the stripes it found taken,
/// or the end of a hand-over of a slot it would write.
enum Needed {
    Stripes(Vec<usize>),
    All,
    HandOverEnd,
}

/// A script that would write a slot being handed over keeps nothing and
/// gets this, which cluster clients retry.
const HAND_OVER_ERROR: &str =
    "TRYAGAIN Script attempted to write a key of a slot being moved to another node";

/// One run of the script under the locks already taken: the outcome, what
/// it needs locked next time if it was interrupted, and the messages it
/// published (to send once its writes are written).
fn run_once(
    ctx: &mut Ctx<'_>,
    overlay: &Overlay,
    invocation: &Invocation<'_>,
    running: &RunningScript,
    read_only: bool,
    slot: Option<u16>,
    can_retry: bool,
) -> (Outcome, Needed, Vec<DeferredPublish>) {
    // A script's SELECT and protocol are its own, as in Redis 7.
    let db = ctx.client.db.clone();
    let protocol = ctx.client.protocol;
    ctx.writes.borrow_mut().take_missing();
    // A run that may start over keeps its messages until it is done;
    // inside EXEC they go out at once, as EXEC's own PUBLISHes do.
    if can_retry {
        ctx.client.script_publishes = Some(Vec::new());
    }
    let server = ctx.server;
    let mut inner = Ctx {
        server,
        client: &mut *ctx.client,
        writes: ctx.writes,
        engine: ctx.engine,
        snapshot: None,
        overlay: Some(overlay),
        pipeline: None,
        prefetched: None,
    };
    let mut host = ScriptHost {
        ctx: &mut inner,
        running,
        read_only,
        allow_cross_slot: invocation.flags.has(ScriptFlags::ALLOW_CROSS_SLOT)
            || invocation.flags.has(ScriptFlags::EVAL_COMPAT),
        slot,
        needed: Vec::new(),
        needs_all: false,
        can_retry,
        met_hand_over: false,
    };
    let outcome = {
        let mut run = Run::new(&mut host, running);
        let scripts = &server.scripts;
        let mut execute = || {
            with_engine(scripts, |engine| match &invocation.target {
                Target::Eval(script) => {
                    engine.eval(script, invocation.keys, invocation.args, &mut run)
                }
                Target::Function(name) => engine
                    .fcall(name, invocation.keys, invocation.args, &mut run)
                    .unwrap_or_else(|| {
                        Outcome::Done(Reply::Error("ERR Function not found".into()))
                    }),
            })
        };
        // A script that may run long moves off the worker thread so the
        // connections sharing it keep being served.
        if tokio::runtime::Handle::try_current().is_ok() {
            tokio::task::block_in_place(execute)
        } else {
            execute()
        }
    };
    let needed = if host.met_hand_over {
        Needed::HandOverEnd
    } else if host.needs_all {
        Needed::All
    } else {
        Needed::Stripes(std::mem::take(&mut host.needed))
    };
    host.ctx.client.select(db);
    host.ctx.client.set_protocol(protocol);
    let published = host.ctx.client.script_publishes.take().unwrap_or_default();
    (outcome, needed, published)
}

/// What a running script's `redis.call` reaches: the command table, run
/// inside the script's transaction with Redis's checks for scripts.
struct ScriptHost<'c, 'a> {
    ctx: &'c mut Ctx<'a>,
    running: &'c RunningScript,
    read_only: bool,
    allow_cross_slot: bool,
    /// The slot of the keys the script accessed (cluster mode).
    slot: Option<u16>,
    /// Stripes found taken, for the next run.
    needed: Vec<usize>,
    needs_all: bool,
    can_retry: bool,
    /// Whether the script tried to write a slot a hand-over holds.
    met_hand_over: bool,
}

impl ScriptHost<'_, '_> {
    /// Redis's checks of `scriptCall`, before the command runs.
    fn refusal(&mut self, spec: &CommandSpec, argv: &[Bytes]) -> Option<&'static str> {
        if !spec.arity_ok(argv.len()) {
            return Some("ERR Wrong number of args calling Redis command from script");
        }
        if spec.flags & flags::NOSCRIPT != 0 {
            return Some("ERR This Redis command is not allowed from script");
        }
        if self.read_only && spec.flags & (flags::WRITE | flags::MAY_REPLICATE) != 0 {
            return Some("ERR Write commands are not allowed from read-only scripts.");
        }
        if spec.flags & flags::WRITE != 0 {
            self.running.mark_wrote();
        }
        if let Some(cluster) = &self.ctx.server.cluster {
            for i in spec.key_positions(argv) {
                let slot = redrock_cluster::key_slot(&argv[i]);
                if cluster::check_route(
                    cluster,
                    std::iter::once(slot),
                    spec.flags & flags::WRITE == 0,
                    self.ctx.client.replica_reads,
                )
                .is_err()
                {
                    return Some(
                        "ERR Script attempted to access a non local key in a cluster node",
                    );
                }
                // A script admitted under a hand-over of another slot (keys
                // of several slots) must not write the slots held.
                if spec.flags & flags::WRITE != 0 && self.ctx.server.pause.hands_over(slot) {
                    self.met_hand_over = true;
                    return Some(HAND_OVER_ERROR);
                }
                match self.slot {
                    None => self.slot = Some(slot),
                    Some(first) if first != slot && !self.allow_cross_slot => {
                        return Some(
                            "ERR Script attempted to access keys that do not hash to the same slot",
                        )
                    }
                    Some(_) => {}
                }
            }
        }
        None
    }

    /// Takes the stripes of the command's keys (all of them for a command
    /// that reads or writes the whole keyspace), as reads too must not see
    /// another client's writes midway.
    fn hold_keys(&mut self, spec: &CommandSpec, argv: &[Bytes]) -> bool {
        let data = spec.flags & (flags::WRITE | flags::READONLY) != 0;
        let mut writes = self.ctx.writes.borrow_mut();
        let held = if matches!(spec.keys, KeySpec::None) {
            !data || writes.hold(KeyLocks::all_stripes()).is_ok()
        } else {
            let keyspace = self.ctx.client.db.keyspace.as_bytes();
            let stripes: Vec<usize> = spec
                .key_positions(argv)
                .into_iter()
                .map(|i| KeyLocks::stripe(keyspace, &argv[i]))
                .collect();
            writes.hold(stripes).is_ok()
        };
        drop(writes);
        // Both calls: a failed hold recorded what it found taken.
        let free = self.took_nothing_taken(matches!(spec.keys, KeySpec::None));
        held && free
    }

    /// Whether the stripes wanted so far were all free; records those
    /// that were not.
    fn took_nothing_taken(&mut self, whole_keyspace: bool) -> bool {
        let missing = self.ctx.writes.borrow_mut().take_missing();
        if missing.is_empty() {
            return true;
        }
        if whole_keyspace || missing.len() > 64 {
            self.needs_all = true;
        }
        self.needed.extend(missing);
        false
    }
}

impl Host for ScriptHost<'_, '_> {
    fn call(&mut self, argv: Vec<Bytes>, resp: u8) -> std::result::Result<Reply, Interrupt> {
        let Some(spec) = lookup(&argv[0]).and_then(|spec| resolve_subcommand(spec, &argv).ok())
        else {
            return Ok(Reply::Error(
                "ERR Unknown Redis command called from script".into(),
            ));
        };
        if let Some(refusal) = self.refusal(spec, &argv) {
            return Ok(Reply::Error(refusal.into()));
        }
        if !self.hold_keys(spec, &argv) {
            return self.interrupt();
        }
        let protocol = self.ctx.client.protocol;
        self.ctx.client.protocol = resp;
        let reply = super::execute(self.ctx, &argv);
        self.ctx.client.protocol = protocol;
        // A command may lock keys beyond its key arguments (COPY ... DB).
        if !self.took_nothing_taken(false) {
            return self.interrupt();
        }
        Ok(reply)
    }

    fn knows_command(&self, argv: &[Bytes]) -> bool {
        lookup(&argv[0]).is_some_and(|spec| resolve_subcommand(spec, argv).is_ok())
    }
}

impl ScriptHost<'_, '_> {
    fn interrupt(&mut self) -> std::result::Result<Reply, Interrupt> {
        if self.can_retry {
            Err(Interrupt)
        } else {
            Ok(Reply::Error(
                "ERR a command of the script needs a key EXEC did not lock".into(),
            ))
        }
    }
}

/// BUSY for a command that needs keys a busy script holds (any key, for
/// one that reads or writes the whole keyspace).
pub(super) fn busy_refusal(ctx: &Ctx<'_>, spec: &CommandSpec, argv: &[Bytes]) -> Option<Error> {
    let running = &ctx.server.scripts.running;
    if !running.any_busy() || spec.flags & flags::ALLOW_BUSY != 0 {
        return None;
    }
    let whole =
        matches!(spec.keys, KeySpec::None) && spec.flags & (flags::WRITE | flags::READONLY) != 0;
    let keyspace = ctx.client.db.keyspace.as_bytes();
    let stripes: Vec<usize> = spec
        .key_positions(argv)
        .into_iter()
        .map(|i| KeyLocks::stripe(keyspace, &argv[i]))
        .collect();
    if stripes.is_empty() && !whole {
        return None;
    }
    running
        .busy_holding(&stripes, whole)
        .map(|kind| Error::coded(busy_error(kind)))
}
