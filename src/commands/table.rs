//! The command table: every command RedRock serves.

use super::flags::*;
use super::{
    bitmap, blocking, client, cluster, config, connection, dump, function, geo, hash, hyperloglog,
    info, introspection, keyspace, list, migrate, pubsub, replication, scripting, server, set,
    slowlog, sort, stream, string, transaction, zset, Ctx,
};
use crate::error::Result;
use crate::metrics::{CommandMetrics, LatencyHistogram};
use crate::protocol::Reply;
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, OnceLock};
use std::time::Duration;

/// A command's implementation.
pub type Handler = fn(&mut Ctx<'_>, &[Bytes]) -> Result<Reply>;

/// Where a command's key arguments are.
#[derive(Clone, Copy, Debug)]
pub enum KeySpec {
    None,
    /// Keys from `first` to `last` (negative counts from the end) every
    /// `step` arguments.
    Range {
        first: i32,
        last: i32,
        step: i32,
    },
    /// The keys at `fixed`, then as many keys as `argv[count_at]` says,
    /// starting right after it (SINTERCARD, ZUNIONSTORE, LMPOP, ...).
    NumKeys {
        fixed: &'static [usize],
        count_at: usize,
    },
    /// SORT's: the key at 1 and the destination of its last STORE (LIMIT's
    /// and BY's and GET's arguments skipped, as Redis's sortGetKeys).
    Sort,
    /// MIGRATE's: the key at 3, or when it is empty every argument after
    /// KEYS.
    Migrate,
    /// GEORADIUS(BYMEMBER)'s, as Redis's key specs find them: the key at
    /// 1, then the argument after the first STORE and after the first
    /// STOREDIST from `options_at` on (not the last argument).
    GeoRadius {
        options_at: usize,
    },
    /// XREAD's: after the STREAMS keyword, the first half of the arguments
    /// (the other half are ids); options before it are skipped with their
    /// values, as Redis's xreadGetKeys does.
    Streams,
}

/// Per-command counters for INFO commandstats and latencystats, and the
/// command's Prometheus handles (registered on its first call).
pub struct CommandStats {
    calls: AtomicU64,
    micros: AtomicU64,
    failed: AtomicU64,
    rejected: AtomicU64,
    pub latency: LatencyHistogram,
    metrics: OnceLock<CommandMetrics>,
}

/// A snapshot of [`CommandStats`].
pub struct CommandStatsSnapshot {
    pub calls: u64,
    pub micros: u64,
    pub failed: u64,
    pub rejected: u64,
}

impl CommandStats {
    const fn new() -> CommandStats {
        CommandStats {
            calls: AtomicU64::new(0),
            micros: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            latency: LatencyHistogram::new(),
            metrics: OnceLock::new(),
        }
    }

    /// Records one call of the command named `name`.
    pub fn record(&self, name: &'static str, elapsed: Duration, failed: bool) {
        let micros = elapsed.as_micros() as u64;
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.micros.fetch_add(micros, Ordering::Relaxed);
        self.latency.record(micros);
        self.metrics
            .get_or_init(|| CommandMetrics::new(name))
            .record(elapsed);
        if failed {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn record_rejected(&self) {
        self.rejected.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> CommandStatsSnapshot {
        CommandStatsSnapshot {
            calls: self.calls.load(Ordering::Relaxed),
            micros: self.micros.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            rejected: self.rejected.load(Ordering::Relaxed),
        }
    }

    pub fn reset(&self) {
        for counter in [&self.calls, &self.micros, &self.failed, &self.rejected] {
            counter.store(0, Ordering::Relaxed);
        }
        self.latency.reset();
    }
}

/// One command (or subcommand) of the table.
pub struct CommandSpec {
    /// The name in lower case, as COMMAND reports it.
    pub name: &'static str,
    /// `container|sub` for subcommands, the name otherwise.
    pub full_name: &'static str,
    /// Redis's arity: exact when positive, a minimum when negative; the
    /// command name counts.
    pub arity: i32,
    pub flags: u32,
    /// The ACL category of the command's group (`string`, `keyspace`, ...).
    pub group: &'static str,
    pub keys: KeySpec,
    pub handler: Handler,
    pub subcommands: &'static [CommandSpec],
    pub stats: CommandStats,
}

impl CommandSpec {
    /// Whether `argc` arguments (name included) fit the arity.
    pub fn arity_ok(&self, argc: usize) -> bool {
        let argc = argc as i32;
        if self.arity >= 0 {
            argc == self.arity
        } else {
            argc >= -self.arity
        }
    }

    /// The positions of the key arguments in `argv`.
    pub fn key_positions(&self, argv: &[Bytes]) -> Vec<usize> {
        let argc = argv.len();
        match self.keys {
            KeySpec::None => Vec::new(),
            KeySpec::NumKeys { fixed, count_at } => {
                let count = argv
                    .get(count_at)
                    .and_then(|n| crate::types::string::parse_i64(n))
                    .filter(|&n| n > 0)
                    .map_or(0, |n| n as usize);
                let keys = (count_at + 1..argc).take(count);
                fixed
                    .iter()
                    .copied()
                    .filter(|&i| i < argc)
                    .chain(keys)
                    .collect()
            }
            KeySpec::Migrate => {
                if argv.get(3).is_some_and(|k| !k.is_empty()) {
                    return vec![3];
                }
                argv.iter()
                    .skip(6)
                    .position(|a| a.eq_ignore_ascii_case(b"keys"))
                    .map_or_else(Vec::new, |at| (at + 7..argc).collect())
            }
            KeySpec::Streams => {
                let mut at = 1;
                while at < argc {
                    let word = &argv[at];
                    if word.eq_ignore_ascii_case(b"streams") {
                        let rest = argc - at - 1;
                        return (at + 1..at + 1 + rest / 2).collect();
                    }
                    at += if word.eq_ignore_ascii_case(b"count")
                        || word.eq_ignore_ascii_case(b"block")
                    {
                        2
                    } else if word.eq_ignore_ascii_case(b"group") {
                        3
                    } else {
                        1
                    };
                }
                Vec::new()
            }
            KeySpec::Sort => {
                let mut keys: Vec<usize> = (argc > 1).then_some(1).into_iter().collect();
                let mut store = None;
                let mut at = 2;
                while at < argc {
                    let word = &argv[at];
                    let skip = if word.eq_ignore_ascii_case(b"limit") {
                        2
                    } else if word.eq_ignore_ascii_case(b"get") || word.eq_ignore_ascii_case(b"by")
                    {
                        1
                    } else if word.eq_ignore_ascii_case(b"store") {
                        store = Some(at + 1).filter(|&i| i < argc);
                        1
                    } else {
                        0
                    };
                    at += 1 + skip;
                }
                keys.extend(store);
                keys
            }
            KeySpec::GeoRadius { options_at } => {
                let after = |word: &str| {
                    (options_at..argc.saturating_sub(1))
                        .find(|&i| argv[i].eq_ignore_ascii_case(word.as_bytes()))
                        .map(|i| i + 1)
                };
                (argc > 1)
                    .then_some(1)
                    .into_iter()
                    .chain(after("store"))
                    .chain(after("storedist"))
                    .collect()
            }
            KeySpec::Range { first, last, step } => {
                let argc = argc as i32;
                let last = if last < 0 {
                    argc + last
                } else {
                    last.min(argc - 1)
                };
                (first..=last)
                    .step_by(step.max(1) as usize)
                    .filter(|&i| i < argc)
                    .map(|i| i as usize)
                    .collect()
            }
        }
    }
}

#[allow(clippy::too_many_arguments)] // one argument per table column
const fn spec(
    name: &'static str,
    full_name: &'static str,
    arity: i32,
    flags: u32,
    group: &'static str,
    keys: KeySpec,
    handler: Handler,
    subcommands: &'static [CommandSpec],
) -> CommandSpec {
    CommandSpec {
        name,
        full_name,
        arity,
        flags,
        group,
        keys,
        handler,
        subcommands,
        stats: CommandStats::new(),
    }
}

const fn keys(first: i32, last: i32, step: i32) -> KeySpec {
    KeySpec::Range { first, last, step }
}

const NONE: KeySpec = KeySpec::None;

const fn numkeys(count_at: usize) -> KeySpec {
    KeySpec::NumKeys {
        fixed: &[],
        count_at,
    }
}

macro_rules! cmd {
    ($name:literal, $arity:expr, $flags:expr, $group:literal, $keys:expr, $handler:expr) => {
        spec($name, $name, $arity, $flags, $group, $keys, $handler, &[])
    };
    ($name:literal, $arity:expr, $flags:expr, $group:literal, $keys:expr, $handler:expr, subs: $subs:expr) => {
        spec($name, $name, $arity, $flags, $group, $keys, $handler, $subs)
    };
}

macro_rules! sub {
    ($parent:literal, $name:literal, $arity:expr, $flags:expr, $group:literal, $handler:expr) => {
        spec(
            $name,
            concat!($parent, "|", $name),
            $arity,
            $flags,
            $group,
            NONE,
            $handler,
            &[],
        )
    };
}

fn container(_: &mut Ctx<'_>, _: &[Bytes]) -> Result<Reply> {
    // Only reached when a container allowing no subcommand gets none; the
    // dispatcher's arity check refuses the others before this runs.
    Err(crate::error::Error::Syntax)
}

const RO_FAST: u32 = READONLY | FAST;
/// A fast read of one key's metadata and at most one member.
const RO_POINT: u32 = RO_FAST | POINT_READ;
const W_FAST: u32 = WRITE | DENYOOM | FAST;
const W: u32 = WRITE | DENYOOM;
/// MULTI, DISCARD, WATCH, UNWATCH.
const TX_CONTROL: u32 = NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY;

static CLIENT_SUBCOMMANDS: [CommandSpec; 14] = [
    sub!(
        "client",
        "id",
        2,
        NOSCRIPT | LOADING | STALE,
        "connection",
        client::id
    ),
    sub!(
        "client",
        "setname",
        3,
        NOSCRIPT | LOADING | STALE,
        "connection",
        client::setname
    ),
    sub!(
        "client",
        "getname",
        2,
        NOSCRIPT | LOADING | STALE,
        "connection",
        client::getname
    ),
    sub!(
        "client",
        "list",
        -2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        "connection",
        client::list
    ),
    sub!(
        "client",
        "info",
        2,
        NOSCRIPT | LOADING | STALE,
        "connection",
        client::info
    ),
    sub!(
        "client",
        "kill",
        -3,
        ADMIN | NOSCRIPT | LOADING | STALE,
        "connection",
        client::kill
    ),
    sub!(
        "client",
        "unblock",
        -3,
        ADMIN | NOSCRIPT | LOADING | STALE,
        "connection",
        client::unblock
    ),
    sub!(
        "client",
        "setinfo",
        4,
        NOSCRIPT | LOADING | STALE,
        "connection",
        client::setinfo
    ),
    sub!(
        "client",
        "no-evict",
        3,
        ADMIN | NOSCRIPT | LOADING | STALE,
        "connection",
        client::no_evict
    ),
    sub!(
        "client",
        "no-touch",
        3,
        NOSCRIPT | LOADING | STALE,
        "connection",
        client::no_touch
    ),
    sub!(
        "client",
        "reply",
        3,
        NOSCRIPT | LOADING | STALE,
        "connection",
        client::reply
    ),
    sub!(
        "client",
        "pause",
        -3,
        ADMIN | NOSCRIPT | LOADING | STALE,
        "connection",
        client::pause
    ),
    sub!(
        "client",
        "unpause",
        2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        "connection",
        client::unpause
    ),
    sub!(
        "client",
        "help",
        2,
        LOADING | STALE,
        "connection",
        client::help
    ),
];

static CLUSTER_SUBCOMMANDS: [CommandSpec; 13] = [
    sub!(
        "cluster",
        "info",
        2,
        LOADING | STALE,
        "cluster",
        cluster::info
    ),
    sub!(
        "cluster",
        "nodes",
        2,
        LOADING | STALE,
        "cluster",
        cluster::nodes
    ),
    sub!(
        "cluster",
        "slots",
        2,
        LOADING | STALE,
        "cluster",
        cluster::slots
    ),
    sub!(
        "cluster",
        "shards",
        2,
        LOADING | STALE,
        "cluster",
        cluster::shards
    ),
    sub!(
        "cluster",
        "myid",
        2,
        LOADING | STALE,
        "cluster",
        cluster::myid
    ),
    sub!(
        "cluster",
        "myshardid",
        2,
        LOADING | STALE,
        "cluster",
        cluster::myshardid
    ),
    sub!("cluster", "keyslot", 3, STALE, "cluster", cluster::keyslot),
    sub!(
        "cluster",
        "import",
        4,
        ADMIN | NOSCRIPT,
        "cluster",
        cluster::import
    ),
    sub!(
        "cluster",
        "countkeysinslot",
        3,
        STALE,
        "cluster",
        cluster::countkeysinslot
    ),
    sub!(
        "cluster",
        "getkeysinslot",
        4,
        STALE,
        "cluster",
        cluster::getkeysinslot
    ),
    sub!(
        "cluster",
        "replicas",
        3,
        ADMIN | STALE,
        "cluster",
        cluster::replicas
    ),
    sub!(
        "cluster",
        "slaves",
        3,
        ADMIN | STALE,
        "cluster",
        cluster::replicas
    ),
    sub!(
        "cluster",
        "help",
        2,
        LOADING | STALE,
        "cluster",
        cluster::help
    ),
];

static CLUSTERX_SUBCOMMANDS: [CommandSpec; 9] = [
    sub!(
        "clusterx",
        "migrate",
        4,
        ADMIN | NOSCRIPT,
        "cluster",
        cluster::x_migrate
    ),
    sub!(
        "clusterx",
        "importdata",
        3,
        ADMIN | NOSCRIPT,
        "cluster",
        cluster::x_importdata
    ),
    sub!(
        "clusterx",
        "version",
        2,
        ADMIN | LOADING | STALE,
        "cluster",
        cluster::x_version
    ),
    sub!(
        "clusterx",
        "myid",
        2,
        ADMIN | LOADING | STALE,
        "cluster",
        cluster::x_myid
    ),
    sub!(
        "clusterx",
        "setnodeid",
        3,
        ADMIN | NOSCRIPT,
        "cluster",
        cluster::x_setnodeid
    ),
    sub!(
        "clusterx",
        "setnodes",
        -4,
        ADMIN | NOSCRIPT,
        "cluster",
        cluster::x_setnodes
    ),
    sub!(
        "clusterx",
        "setslot",
        6,
        ADMIN | NOSCRIPT,
        "cluster",
        cluster::x_setslot
    ),
    sub!(
        "clusterx",
        "publish",
        4,
        ADMIN | PUBSUB | LOADING | STALE | FAST,
        "cluster",
        pubsub::x_publish
    ),
    sub!(
        "clusterx",
        "help",
        2,
        LOADING | STALE,
        "cluster",
        cluster::x_help
    ),
];

/// Flags of the (un)subscribe commands.
const SUBSCRIBING: u32 = PUBSUB | NOSCRIPT | LOADING | STALE;
const PUBLISHING: u32 = PUBSUB | LOADING | STALE | FAST | MAY_REPLICATE;

static PUBSUB_SUBCOMMANDS: [CommandSpec; 6] = [
    sub!(
        "pubsub",
        "channels",
        -2,
        PUBSUB | LOADING | STALE,
        "pubsub",
        pubsub::channels
    ),
    sub!(
        "pubsub",
        "numpat",
        2,
        PUBSUB | LOADING | STALE,
        "pubsub",
        pubsub::numpat
    ),
    sub!(
        "pubsub",
        "numsub",
        -2,
        PUBSUB | LOADING | STALE,
        "pubsub",
        pubsub::numsub
    ),
    sub!(
        "pubsub",
        "shardchannels",
        -2,
        PUBSUB | LOADING | STALE,
        "pubsub",
        pubsub::shardchannels
    ),
    sub!(
        "pubsub",
        "shardnumsub",
        -2,
        PUBSUB | LOADING | STALE,
        "pubsub",
        pubsub::shardnumsub
    ),
    // In no ACL category but @slow, as in Redis: a group that is none.
    sub!("pubsub", "help", 2, LOADING | STALE, "server", pubsub::help),
];

static SLOWLOG_SUBCOMMANDS: [CommandSpec; 4] = [
    sub!(
        "slowlog",
        "get",
        -2,
        ADMIN | LOADING | STALE,
        "server",
        slowlog::get
    ),
    sub!(
        "slowlog",
        "len",
        2,
        ADMIN | LOADING | STALE,
        "server",
        slowlog::len
    ),
    sub!(
        "slowlog",
        "reset",
        2,
        ADMIN | LOADING | STALE,
        "server",
        slowlog::reset
    ),
    sub!(
        "slowlog",
        "help",
        2,
        LOADING | STALE,
        "server",
        slowlog::help
    ),
];

static CONFIG_SUBCOMMANDS: [CommandSpec; 5] = [
    sub!(
        "config",
        "get",
        -3,
        ADMIN | NOSCRIPT | LOADING | STALE,
        "server",
        config::get
    ),
    sub!(
        "config",
        "set",
        -4,
        ADMIN | NOSCRIPT | LOADING | STALE,
        "server",
        config::set
    ),
    sub!(
        "config",
        "rewrite",
        2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        "server",
        config::rewrite
    ),
    sub!(
        "config",
        "resetstat",
        2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        "server",
        config::resetstat
    ),
    sub!("config", "help", 2, LOADING | STALE, "server", config::help),
];

static COMMAND_SUBCOMMANDS: [CommandSpec; 6] = [
    sub!(
        "command",
        "count",
        2,
        LOADING | STALE,
        "connection",
        introspection::count
    ),
    sub!(
        "command",
        "info",
        -2,
        LOADING | STALE,
        "connection",
        introspection::info
    ),
    sub!(
        "command",
        "list",
        -2,
        LOADING | STALE,
        "connection",
        introspection::list
    ),
    sub!(
        "command",
        "getkeys",
        -3,
        LOADING | STALE,
        "connection",
        introspection::getkeys
    ),
    sub!(
        "command",
        "docs",
        -2,
        LOADING | STALE,
        "connection",
        introspection::docs
    ),
    sub!(
        "command",
        "help",
        2,
        LOADING | STALE,
        "connection",
        introspection::help
    ),
];

static OBJECT_SUBCOMMANDS: [CommandSpec; 5] = [
    spec(
        "encoding",
        "object|encoding",
        3,
        READONLY,
        "keyspace",
        keys(2, 2, 1),
        keyspace::object_encoding,
        &[],
    ),
    spec(
        "refcount",
        "object|refcount",
        3,
        READONLY,
        "keyspace",
        keys(2, 2, 1),
        keyspace::object_refcount,
        &[],
    ),
    spec(
        "idletime",
        "object|idletime",
        3,
        READONLY,
        "keyspace",
        keys(2, 2, 1),
        keyspace::object_idletime,
        &[],
    ),
    spec(
        "freq",
        "object|freq",
        3,
        READONLY,
        "keyspace",
        keys(2, 2, 1),
        keyspace::object_freq,
        &[],
    ),
    sub!(
        "object",
        "help",
        2,
        LOADING | STALE,
        "keyspace",
        keyspace::object_help
    ),
];

/// Every command.
static SCRIPT_SUBCOMMANDS: [CommandSpec; 5] = [
    sub!(
        "script",
        "load",
        3,
        NOSCRIPT | STALE,
        "scripting",
        scripting::script_load
    ),
    sub!(
        "script",
        "exists",
        -3,
        NOSCRIPT,
        "scripting",
        scripting::script_exists
    ),
    sub!(
        "script",
        "flush",
        -2,
        NOSCRIPT,
        "scripting",
        scripting::script_flush
    ),
    sub!(
        "script",
        "kill",
        2,
        NOSCRIPT | ALLOW_BUSY,
        "scripting",
        scripting::script_kill
    ),
    sub!(
        "script",
        "help",
        2,
        LOADING | STALE,
        "scripting",
        scripting::script_help
    ),
];

static FUNCTION_SUBCOMMANDS: [CommandSpec; 9] = [
    sub!(
        "function",
        "load",
        -3,
        WRITE | DENYOOM | NOSCRIPT,
        "scripting",
        function::load
    ),
    sub!(
        "function",
        "delete",
        3,
        WRITE | NOSCRIPT,
        "scripting",
        function::delete
    ),
    sub!(
        "function",
        "flush",
        -2,
        WRITE | NOSCRIPT,
        "scripting",
        function::flush
    ),
    sub!(
        "function",
        "list",
        -2,
        NOSCRIPT,
        "scripting",
        function::list
    ),
    sub!(
        "function",
        "stats",
        2,
        NOSCRIPT | ALLOW_BUSY,
        "scripting",
        function::stats
    ),
    sub!("function", "dump", 2, NOSCRIPT, "scripting", function::dump),
    sub!(
        "function",
        "restore",
        -3,
        WRITE | DENYOOM | NOSCRIPT,
        "scripting",
        function::restore
    ),
    sub!(
        "function",
        "kill",
        2,
        NOSCRIPT | ALLOW_BUSY,
        "scripting",
        function::kill_function
    ),
    sub!(
        "function",
        "help",
        2,
        LOADING | STALE,
        "scripting",
        function::help
    ),
];

/// EVAL, EVALSHA, FCALL: scripts that may write.
const SCRIPT_RUN: u32 = NOSCRIPT | STALE | SKIP_MONITOR | NO_MANDATORY_KEYS | MAY_REPLICATE;
/// Their _RO forms.
const SCRIPT_RUN_RO: u32 = NOSCRIPT | STALE | SKIP_MONITOR | NO_MANDATORY_KEYS | READONLY;

pub static COMMANDS: [CommandSpec; 233] = [
    // connection
    cmd!("ping", -1, FAST, "connection", NONE, connection::ping),
    cmd!(
        "echo",
        2,
        LOADING | STALE | FAST,
        "connection",
        NONE,
        connection::echo
    ),
    cmd!(
        "quit",
        -1,
        NO_AUTH | NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY,
        "connection",
        NONE,
        connection::quit
    ),
    cmd!(
        "hello",
        -1,
        NO_AUTH | NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY,
        "connection",
        NONE,
        connection::hello
    ),
    cmd!(
        "auth",
        -2,
        NO_AUTH | NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY,
        "connection",
        NONE,
        connection::auth
    ),
    cmd!(
        "select",
        2,
        LOADING | STALE | FAST,
        "connection",
        NONE,
        connection::select
    ),
    cmd!(
        "reset",
        1,
        NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY,
        "connection",
        NONE,
        connection::reset
    ),
    cmd!("client", -2, NOSCRIPT, "connection", NONE, container, subs: &CLIENT_SUBCOMMANDS),
    cmd!("command", -1, LOADING | STALE, "connection", NONE, introspection::all, subs: &COMMAND_SUBCOMMANDS),
    // transactions
    cmd!(
        "multi",
        1,
        TX_CONTROL,
        "transaction",
        NONE,
        transaction::multi
    ),
    cmd!(
        "exec",
        1,
        NOSCRIPT | LOADING | STALE | SKIP_SLOWLOG,
        "transaction",
        NONE,
        transaction::exec
    ),
    cmd!(
        "discard",
        1,
        TX_CONTROL,
        "transaction",
        NONE,
        transaction::discard
    ),
    cmd!(
        "watch",
        -2,
        TX_CONTROL,
        "transaction",
        keys(1, -1, 1),
        transaction::watch
    ),
    cmd!(
        "unwatch",
        1,
        TX_CONTROL,
        "transaction",
        NONE,
        transaction::unwatch
    ),
    // cluster
    cmd!("cluster", -2, 0, "cluster", NONE, container, subs: &CLUSTER_SUBCOMMANDS),
    cmd!("clusterx", -2, ADMIN, "cluster", NONE, container, subs: &CLUSTERX_SUBCOMMANDS),
    cmd!("asking", 1, FAST, "cluster", NONE, cluster::asking),
    cmd!(
        "readonly",
        1,
        LOADING | STALE | FAST,
        "cluster",
        NONE,
        cluster::readonly
    ),
    cmd!(
        "readwrite",
        1,
        LOADING | STALE | FAST,
        "cluster",
        NONE,
        cluster::readwrite
    ),
    // pub/sub
    cmd!(
        "subscribe",
        -2,
        SUBSCRIBING,
        "pubsub",
        NONE,
        pubsub::subscribe
    ),
    cmd!(
        "unsubscribe",
        -1,
        SUBSCRIBING,
        "pubsub",
        NONE,
        pubsub::unsubscribe
    ),
    cmd!(
        "psubscribe",
        -2,
        SUBSCRIBING,
        "pubsub",
        NONE,
        pubsub::psubscribe
    ),
    cmd!(
        "punsubscribe",
        -1,
        SUBSCRIBING,
        "pubsub",
        NONE,
        pubsub::punsubscribe
    ),
    // Shard channels are keys for cluster routing (one slot, its node).
    cmd!(
        "ssubscribe",
        -2,
        SUBSCRIBING,
        "pubsub",
        keys(1, -1, 1),
        pubsub::ssubscribe
    ),
    cmd!(
        "sunsubscribe",
        -1,
        SUBSCRIBING,
        "pubsub",
        keys(1, -1, 1),
        pubsub::sunsubscribe
    ),
    cmd!("publish", 3, PUBLISHING, "pubsub", NONE, pubsub::publish),
    cmd!(
        "spublish",
        3,
        PUBLISHING,
        "pubsub",
        keys(1, 1, 1),
        pubsub::spublish
    ),
    // Its group is none of the ACL categories, as in Redis (@slow only).
    cmd!("pubsub", -2, 0, "server", NONE, container, subs: &PUBSUB_SUBCOMMANDS),
    // server
    cmd!(
        "info",
        -1,
        LOADING | STALE | DANGEROUS,
        "server",
        NONE,
        info::info
    ),
    cmd!(
        "bgsave",
        -1,
        ADMIN | NOSCRIPT | NO_ASYNC_LOADING,
        "server",
        NONE,
        server::bgsave
    ),
    cmd!(
        "save",
        1,
        ADMIN | NOSCRIPT | NO_ASYNC_LOADING | NO_MULTI | SLOW,
        "server",
        NONE,
        server::save
    ),
    cmd!(
        "lastsave",
        1,
        LOADING | STALE | FAST,
        "server",
        NONE,
        server::lastsave
    ),
    cmd!("slowlog", -2, 0, "server", NONE, container, subs: &SLOWLOG_SUBCOMMANDS),
    cmd!(
        "monitor",
        1,
        ADMIN | NOSCRIPT | LOADING | STALE,
        "server",
        NONE,
        connection::monitor
    ),
    // replication
    cmd!(
        "replicaof",
        3,
        ADMIN | NOSCRIPT | STALE | NO_ASYNC_LOADING,
        "server",
        NONE,
        replication::replicaof
    ),
    cmd!(
        "slaveof",
        3,
        ADMIN | NOSCRIPT | STALE | NO_ASYNC_LOADING,
        "server",
        NONE,
        replication::replicaof
    ),
    cmd!(
        "role",
        1,
        NOSCRIPT | LOADING | STALE | FAST,
        "server",
        NONE,
        replication::role
    ),
    cmd!(
        "replconf",
        -1,
        ADMIN | NOSCRIPT | LOADING | STALE | ALLOW_BUSY,
        "server",
        NONE,
        replication::replconf
    ),
    cmd!(
        "psync",
        -3,
        ADMIN | NOSCRIPT | NO_ASYNC_LOADING | NO_MULTI,
        "server",
        NONE,
        replication::psync
    ),
    cmd!("wait", 3, NOSCRIPT, "generic", NONE, replication::wait),
    cmd!(
        "failover",
        -1,
        ADMIN | NOSCRIPT | STALE,
        "server",
        NONE,
        replication::failover
    ),
    cmd!("config", -2, NOSCRIPT, "server", NONE, container, subs: &CONFIG_SUBCOMMANDS),
    // scripting
    cmd!(
        "eval",
        -3,
        SCRIPT_RUN,
        "scripting",
        numkeys(2),
        scripting::eval
    ),
    cmd!(
        "evalsha",
        -3,
        SCRIPT_RUN,
        "scripting",
        numkeys(2),
        scripting::evalsha
    ),
    cmd!(
        "eval_ro",
        -3,
        SCRIPT_RUN_RO,
        "scripting",
        numkeys(2),
        scripting::eval
    ),
    cmd!(
        "evalsha_ro",
        -3,
        SCRIPT_RUN_RO,
        "scripting",
        numkeys(2),
        scripting::evalsha
    ),
    cmd!(
        "fcall",
        -3,
        SCRIPT_RUN,
        "scripting",
        numkeys(2),
        function::fcall
    ),
    cmd!(
        "fcall_ro",
        -3,
        SCRIPT_RUN_RO,
        "scripting",
        numkeys(2),
        function::fcall
    ),
    cmd!("script", -2, 0, "scripting", NONE, container, subs: &SCRIPT_SUBCOMMANDS),
    cmd!("function", -2, 0, "scripting", NONE, container, subs: &FUNCTION_SUBCOMMANDS),
    cmd!("dbsize", 1, RO_POINT, "keyspace", NONE, server::dbsize),
    cmd!(
        "flushdb",
        -1,
        WRITE | SLOW | DANGEROUS,
        "keyspace",
        NONE,
        server::flushdb
    ),
    cmd!(
        "flushall",
        -1,
        WRITE | SLOW | DANGEROUS,
        "keyspace",
        NONE,
        server::flushall
    ),
    cmd!(
        "time",
        1,
        LOADING | STALE | FAST,
        "server",
        NONE,
        server::time
    ),
    cmd!("compact", 1, ADMIN | SLOW, "server", NONE, server::compact),
    cmd!(
        "shutdown",
        -1,
        ADMIN | NOSCRIPT | LOADING | STALE | NO_MULTI | ALLOW_BUSY,
        "server",
        NONE,
        server::shutdown
    ),
    // strings
    cmd!("get", 2, RO_POINT, "string", keys(1, 1, 1), string::get),
    cmd!("set", -3, W, "string", keys(1, 1, 1), string::set),
    cmd!("setnx", 3, W_FAST, "string", keys(1, 1, 1), string::setnx),
    cmd!("setex", 4, W, "string", keys(1, 1, 1), string::setex),
    cmd!("psetex", 4, W, "string", keys(1, 1, 1), string::psetex),
    cmd!("getset", 3, W_FAST, "string", keys(1, 1, 1), string::getset),
    cmd!(
        "getdel",
        2,
        WRITE | FAST,
        "string",
        keys(1, 1, 1),
        string::getdel
    ),
    cmd!(
        "getex",
        -2,
        WRITE | FAST,
        "string",
        keys(1, 1, 1),
        string::getex
    ),
    cmd!("mget", -2, RO_FAST, "string", keys(1, -1, 1), string::mget),
    cmd!("mset", -3, W, "string", keys(1, -1, 2), string::mset),
    cmd!("msetnx", -3, W, "string", keys(1, -1, 2), string::msetnx),
    cmd!("append", 3, W_FAST, "string", keys(1, 1, 1), string::append),
    cmd!(
        "strlen",
        2,
        RO_POINT,
        "string",
        keys(1, 1, 1),
        string::strlen
    ),
    cmd!(
        "getrange",
        4,
        READONLY | POINT_READ,
        "string",
        keys(1, 1, 1),
        string::getrange
    ),
    cmd!(
        "substr",
        4,
        READONLY | POINT_READ,
        "string",
        keys(1, 1, 1),
        string::getrange
    ),
    cmd!("setrange", 4, W, "string", keys(1, 1, 1), string::setrange),
    cmd!("incr", 2, W_FAST, "string", keys(1, 1, 1), string::incr),
    cmd!("decr", 2, W_FAST, "string", keys(1, 1, 1), string::decr),
    cmd!("incrby", 3, W_FAST, "string", keys(1, 1, 1), string::incrby),
    cmd!("decrby", 3, W_FAST, "string", keys(1, 1, 1), string::decrby),
    cmd!(
        "incrbyfloat",
        3,
        W_FAST,
        "string",
        keys(1, 1, 1),
        string::incrbyfloat
    ),
    cmd!("lcs", -3, READONLY, "string", keys(1, 2, 1), string::lcs),
    // dump / restore
    cmd!("dump", 2, READONLY, "keyspace", keys(1, 1, 1), dump::dump),
    cmd!("restore", -4, W, "keyspace", keys(1, 1, 1), dump::restore),
    cmd!(
        "restore-asking",
        -4,
        W | ASKING,
        "keyspace",
        keys(1, 1, 1),
        dump::restore
    ),
    cmd!(
        "migrate",
        -6,
        WRITE | SLOW,
        "keyspace",
        KeySpec::Migrate,
        migrate::migrate
    ),
    // sort
    cmd!("sort", -2, W, "list", KeySpec::Sort, sort::sort),
    cmd!(
        "sort_ro",
        -2,
        READONLY,
        "list",
        keys(1, 1, 1),
        sort::sort_ro
    ),
    // hyperloglog
    cmd!(
        "pfadd",
        -2,
        W_FAST,
        "hyperloglog",
        keys(1, 1, 1),
        hyperloglog::pfadd
    ),
    cmd!(
        "pfcount",
        -2,
        READONLY | MAY_REPLICATE,
        "hyperloglog",
        keys(1, -1, 1),
        hyperloglog::pfcount
    ),
    cmd!(
        "pfmerge",
        -2,
        W,
        "hyperloglog",
        keys(1, -1, 1),
        hyperloglog::pfmerge
    ),
    // bitmap
    cmd!("setbit", 4, W, "bitmap", keys(1, 1, 1), bitmap::setbit),
    cmd!(
        "getbit",
        3,
        RO_POINT,
        "bitmap",
        keys(1, 1, 1),
        bitmap::getbit
    ),
    cmd!(
        "bitcount",
        -2,
        READONLY,
        "bitmap",
        keys(1, 1, 1),
        bitmap::bitcount
    ),
    cmd!(
        "bitpos",
        -3,
        READONLY,
        "bitmap",
        keys(1, 1, 1),
        bitmap::bitpos
    ),
    cmd!("bitop", -4, W, "bitmap", keys(2, -1, 1), bitmap::bitop),
    cmd!("bitfield", -2, W, "bitmap", keys(1, 1, 1), bitmap::bitfield),
    cmd!(
        "bitfield_ro",
        -2,
        RO_FAST,
        "bitmap",
        keys(1, 1, 1),
        bitmap::bitfield_ro
    ),
    // keyspace
    cmd!("del", -2, WRITE, "keyspace", keys(1, -1, 1), keyspace::del),
    cmd!(
        "unlink",
        -2,
        WRITE | FAST,
        "keyspace",
        keys(1, -1, 1),
        keyspace::del
    ),
    cmd!(
        "exists",
        -2,
        RO_FAST,
        "keyspace",
        keys(1, -1, 1),
        keyspace::exists
    ),
    cmd!(
        "touch",
        -2,
        RO_FAST,
        "keyspace",
        keys(1, -1, 1),
        keyspace::exists
    ),
    cmd!(
        "type",
        2,
        RO_POINT,
        "keyspace",
        keys(1, 1, 1),
        keyspace::key_type
    ),
    cmd!(
        "expire",
        -3,
        WRITE | FAST,
        "keyspace",
        keys(1, 1, 1),
        keyspace::expire
    ),
    cmd!(
        "pexpire",
        -3,
        WRITE | FAST,
        "keyspace",
        keys(1, 1, 1),
        keyspace::pexpire
    ),
    cmd!(
        "expireat",
        -3,
        WRITE | FAST,
        "keyspace",
        keys(1, 1, 1),
        keyspace::expireat
    ),
    cmd!(
        "pexpireat",
        -3,
        WRITE | FAST,
        "keyspace",
        keys(1, 1, 1),
        keyspace::pexpireat
    ),
    cmd!(
        "expiretime",
        2,
        RO_POINT,
        "keyspace",
        keys(1, 1, 1),
        keyspace::expiretime
    ),
    cmd!(
        "pexpiretime",
        2,
        RO_POINT,
        "keyspace",
        keys(1, 1, 1),
        keyspace::pexpiretime
    ),
    cmd!("ttl", 2, RO_POINT, "keyspace", keys(1, 1, 1), keyspace::ttl),
    cmd!(
        "pttl",
        2,
        RO_POINT,
        "keyspace",
        keys(1, 1, 1),
        keyspace::pttl
    ),
    cmd!(
        "persist",
        2,
        WRITE | FAST,
        "keyspace",
        keys(1, 1, 1),
        keyspace::persist
    ),
    cmd!(
        "rename",
        3,
        WRITE,
        "keyspace",
        keys(1, 2, 1),
        keyspace::rename
    ),
    cmd!(
        "renamenx",
        3,
        WRITE | FAST,
        "keyspace",
        keys(1, 2, 1),
        keyspace::renamenx
    ),
    cmd!("copy", -3, W, "keyspace", keys(1, 2, 1), keyspace::copy),
    cmd!(
        "move",
        3,
        WRITE | FAST,
        "keyspace",
        keys(1, 1, 1),
        keyspace::move_key
    ),
    cmd!(
        "keys",
        2,
        READONLY | SLOW | DANGEROUS,
        "keyspace",
        NONE,
        keyspace::keys
    ),
    cmd!("scan", -2, READONLY, "keyspace", NONE, keyspace::scan),
    cmd!(
        "randomkey",
        1,
        READONLY,
        "keyspace",
        NONE,
        keyspace::randomkey
    ),
    cmd!("object", -2, READONLY, "keyspace", NONE, container, subs: &OBJECT_SUBCOMMANDS),
    // hashes
    cmd!("hset", -4, W_FAST, "hash", keys(1, 1, 1), hash::hset),
    cmd!("hsetnx", 4, W_FAST, "hash", keys(1, 1, 1), hash::hsetnx),
    cmd!("hmset", -4, W_FAST, "hash", keys(1, 1, 1), hash::hmset),
    cmd!("hget", 3, RO_POINT, "hash", keys(1, 1, 1), hash::hget),
    cmd!("hmget", -3, RO_FAST, "hash", keys(1, 1, 1), hash::hmget),
    cmd!("hdel", -3, WRITE | FAST, "hash", keys(1, 1, 1), hash::hdel),
    cmd!("hlen", 2, RO_POINT, "hash", keys(1, 1, 1), hash::hlen),
    cmd!("hexists", 3, RO_POINT, "hash", keys(1, 1, 1), hash::hexists),
    cmd!("hstrlen", 3, RO_POINT, "hash", keys(1, 1, 1), hash::hstrlen),
    cmd!("hgetall", 2, READONLY, "hash", keys(1, 1, 1), hash::hgetall),
    cmd!("hkeys", 2, READONLY, "hash", keys(1, 1, 1), hash::hkeys),
    cmd!("hvals", 2, READONLY, "hash", keys(1, 1, 1), hash::hvals),
    cmd!("hincrby", 4, W_FAST, "hash", keys(1, 1, 1), hash::hincrby),
    cmd!(
        "hincrbyfloat",
        4,
        W_FAST,
        "hash",
        keys(1, 1, 1),
        hash::hincrbyfloat
    ),
    cmd!(
        "hrandfield",
        -2,
        READONLY,
        "hash",
        keys(1, 1, 1),
        hash::hrandfield
    ),
    cmd!("hscan", -3, READONLY, "hash", keys(1, 1, 1), hash::hscan),
    // hash field expiry (Redis 7.4)
    cmd!(
        "hexpire",
        -6,
        WRITE | FAST,
        "hash",
        keys(1, 1, 1),
        hash::hexpire
    ),
    cmd!(
        "hpexpire",
        -6,
        WRITE | FAST,
        "hash",
        keys(1, 1, 1),
        hash::hpexpire
    ),
    cmd!(
        "hexpireat",
        -6,
        WRITE | FAST,
        "hash",
        keys(1, 1, 1),
        hash::hexpireat
    ),
    cmd!(
        "hpexpireat",
        -6,
        WRITE | FAST,
        "hash",
        keys(1, 1, 1),
        hash::hpexpireat
    ),
    cmd!("httl", -5, RO_FAST, "hash", keys(1, 1, 1), hash::httl),
    cmd!("hpttl", -5, RO_FAST, "hash", keys(1, 1, 1), hash::hpttl),
    cmd!(
        "hexpiretime",
        -5,
        RO_FAST,
        "hash",
        keys(1, 1, 1),
        hash::hexpiretime
    ),
    cmd!(
        "hpexpiretime",
        -5,
        RO_FAST,
        "hash",
        keys(1, 1, 1),
        hash::hpexpiretime
    ),
    cmd!(
        "hpersist",
        -5,
        WRITE | FAST,
        "hash",
        keys(1, 1, 1),
        hash::hpersist
    ),
    // sets
    cmd!("sadd", -3, W_FAST, "set", keys(1, 1, 1), set::sadd),
    cmd!("srem", -3, WRITE | FAST, "set", keys(1, 1, 1), set::srem),
    cmd!("scard", 2, RO_POINT, "set", keys(1, 1, 1), set::scard),
    cmd!(
        "sismember",
        3,
        RO_POINT,
        "set",
        keys(1, 1, 1),
        set::sismember
    ),
    cmd!(
        "smismember",
        -3,
        RO_FAST,
        "set",
        keys(1, 1, 1),
        set::smismember
    ),
    cmd!("smembers", 2, READONLY, "set", keys(1, 1, 1), set::smembers),
    cmd!("spop", -2, WRITE | FAST, "set", keys(1, 1, 1), set::spop),
    cmd!(
        "srandmember",
        -2,
        READONLY,
        "set",
        keys(1, 1, 1),
        set::srandmember
    ),
    cmd!("smove", 4, WRITE | FAST, "set", keys(1, 2, 1), set::smove),
    cmd!("sinter", -2, READONLY, "set", keys(1, -1, 1), set::sinter),
    cmd!(
        "sintercard",
        -3,
        READONLY,
        "set",
        numkeys(1),
        set::sintercard
    ),
    cmd!(
        "sinterstore",
        -3,
        W,
        "set",
        keys(1, -1, 1),
        set::sinterstore
    ),
    cmd!("sunion", -2, READONLY, "set", keys(1, -1, 1), set::sunion),
    cmd!(
        "sunionstore",
        -3,
        W,
        "set",
        keys(1, -1, 1),
        set::sunionstore
    ),
    cmd!("sdiff", -2, READONLY, "set", keys(1, -1, 1), set::sdiff),
    cmd!("sdiffstore", -3, W, "set", keys(1, -1, 1), set::sdiffstore),
    cmd!("sscan", -3, READONLY, "set", keys(1, 1, 1), set::sscan), // sorted sets
    cmd!("zadd", -4, W_FAST, "sortedset", keys(1, 1, 1), zset::zadd),
    cmd!(
        "zincrby",
        4,
        W_FAST,
        "sortedset",
        keys(1, 1, 1),
        zset::zincrby
    ),
    cmd!(
        "zrem",
        -3,
        WRITE | FAST,
        "sortedset",
        keys(1, 1, 1),
        zset::zrem
    ),
    cmd!(
        "zcard",
        2,
        RO_POINT,
        "sortedset",
        keys(1, 1, 1),
        zset::zcard
    ),
    cmd!(
        "zscore",
        3,
        RO_POINT,
        "sortedset",
        keys(1, 1, 1),
        zset::zscore
    ),
    cmd!(
        "zmscore",
        -3,
        RO_FAST,
        "sortedset",
        keys(1, 1, 1),
        zset::zmscore
    ),
    cmd!(
        "zrank",
        -3,
        RO_FAST,
        "sortedset",
        keys(1, 1, 1),
        zset::zrank
    ),
    cmd!(
        "zrevrank",
        -3,
        RO_FAST,
        "sortedset",
        keys(1, 1, 1),
        zset::zrevrank
    ),
    cmd!(
        "zcount",
        4,
        RO_FAST,
        "sortedset",
        keys(1, 1, 1),
        zset::zcount
    ),
    cmd!(
        "zlexcount",
        4,
        RO_FAST,
        "sortedset",
        keys(1, 1, 1),
        zset::zlexcount
    ),
    cmd!(
        "zrange",
        -4,
        READONLY,
        "sortedset",
        keys(1, 1, 1),
        zset::zrange
    ),
    cmd!(
        "zrangestore",
        -5,
        W,
        "sortedset",
        keys(1, 2, 1),
        zset::zrangestore
    ),
    cmd!(
        "zrangebyscore",
        -4,
        READONLY,
        "sortedset",
        keys(1, 1, 1),
        zset::zrangebyscore
    ),
    cmd!(
        "zrevrangebyscore",
        -4,
        READONLY,
        "sortedset",
        keys(1, 1, 1),
        zset::zrevrangebyscore
    ),
    cmd!(
        "zrangebylex",
        -4,
        READONLY,
        "sortedset",
        keys(1, 1, 1),
        zset::zrangebylex
    ),
    cmd!(
        "zrevrangebylex",
        -4,
        READONLY,
        "sortedset",
        keys(1, 1, 1),
        zset::zrevrangebylex
    ),
    cmd!(
        "zrevrange",
        -4,
        READONLY,
        "sortedset",
        keys(1, 1, 1),
        zset::zrevrange
    ),
    cmd!(
        "zpopmin",
        -2,
        WRITE | FAST,
        "sortedset",
        keys(1, 1, 1),
        zset::zpopmin
    ),
    cmd!(
        "zpopmax",
        -2,
        WRITE | FAST,
        "sortedset",
        keys(1, 1, 1),
        zset::zpopmax
    ),
    cmd!("zmpop", -4, WRITE, "sortedset", numkeys(1), zset::zmpop),
    cmd!(
        "zremrangebyrank",
        4,
        WRITE,
        "sortedset",
        keys(1, 1, 1),
        zset::zremrangebyrank
    ),
    cmd!(
        "zremrangebyscore",
        4,
        WRITE,
        "sortedset",
        keys(1, 1, 1),
        zset::zremrangebyscore
    ),
    cmd!(
        "zremrangebylex",
        4,
        WRITE,
        "sortedset",
        keys(1, 1, 1),
        zset::zremrangebylex
    ),
    cmd!(
        "zunion",
        -3,
        READONLY,
        "sortedset",
        numkeys(1),
        zset::zunion
    ),
    cmd!(
        "zunionstore",
        -4,
        W,
        "sortedset",
        KeySpec::NumKeys {
            fixed: &[1],
            count_at: 2
        },
        zset::zunionstore
    ),
    cmd!(
        "zinter",
        -3,
        READONLY,
        "sortedset",
        numkeys(1),
        zset::zinter
    ),
    cmd!(
        "zinterstore",
        -4,
        W,
        "sortedset",
        KeySpec::NumKeys {
            fixed: &[1],
            count_at: 2
        },
        zset::zinterstore
    ),
    cmd!(
        "zintercard",
        -3,
        READONLY,
        "sortedset",
        numkeys(1),
        zset::zintercard
    ),
    cmd!("zdiff", -3, READONLY, "sortedset", numkeys(1), zset::zdiff),
    cmd!(
        "zdiffstore",
        -4,
        W,
        "sortedset",
        KeySpec::NumKeys {
            fixed: &[1],
            count_at: 2
        },
        zset::zdiffstore
    ),
    cmd!(
        "zrandmember",
        -2,
        READONLY,
        "sortedset",
        keys(1, 1, 1),
        zset::zrandmember
    ),
    cmd!(
        "zscan",
        -3,
        READONLY,
        "sortedset",
        keys(1, 1, 1),
        zset::zscan
    ),
    cmd!(
        "bzpopmin",
        -3,
        WRITE | BLOCKING | FAST,
        "sortedset",
        keys(1, -2, 1),
        blocking::bzpopmin
    ),
    cmd!(
        "bzpopmax",
        -3,
        WRITE | BLOCKING | FAST,
        "sortedset",
        keys(1, -2, 1),
        blocking::bzpopmax
    ),
    cmd!(
        "bzmpop",
        -5,
        WRITE | BLOCKING,
        "sortedset",
        numkeys(2),
        blocking::bzmpop
    ),
    // geo: sorted sets of geohash scores
    cmd!("geoadd", -5, W, "geo", keys(1, 1, 1), geo::geoadd),
    cmd!("geopos", -2, READONLY, "geo", keys(1, 1, 1), geo::geopos),
    cmd!("geodist", -4, READONLY, "geo", keys(1, 1, 1), geo::geodist),
    cmd!("geohash", -2, READONLY, "geo", keys(1, 1, 1), geo::geohash),
    cmd!(
        "geosearch",
        -7,
        READONLY,
        "geo",
        keys(1, 1, 1),
        geo::geosearch
    ),
    cmd!(
        "geosearchstore",
        -8,
        W,
        "geo",
        keys(1, 2, 1),
        geo::geosearchstore
    ),
    cmd!(
        "georadius",
        -6,
        W,
        "geo",
        KeySpec::GeoRadius { options_at: 6 },
        geo::georadius
    ),
    cmd!(
        "georadiusbymember",
        -5,
        W,
        "geo",
        KeySpec::GeoRadius { options_at: 5 },
        geo::georadiusbymember
    ),
    cmd!(
        "georadius_ro",
        -6,
        READONLY,
        "geo",
        keys(1, 1, 1),
        geo::georadius_ro
    ),
    cmd!(
        "georadiusbymember_ro",
        -5,
        READONLY,
        "geo",
        keys(1, 1, 1),
        geo::georadiusbymember_ro
    ),
    // lists
    cmd!("lpush", -3, W_FAST, "list", keys(1, 1, 1), list::lpush),
    cmd!("rpush", -3, W_FAST, "list", keys(1, 1, 1), list::rpush),
    cmd!("lpushx", -3, W_FAST, "list", keys(1, 1, 1), list::lpushx),
    cmd!("rpushx", -3, W_FAST, "list", keys(1, 1, 1), list::rpushx),
    cmd!("lpop", -2, WRITE | FAST, "list", keys(1, 1, 1), list::lpop),
    cmd!("rpop", -2, WRITE | FAST, "list", keys(1, 1, 1), list::rpop),
    cmd!("llen", 2, RO_POINT, "list", keys(1, 1, 1), list::llen),
    cmd!("lindex", 3, READONLY, "list", keys(1, 1, 1), list::lindex),
    cmd!("lrange", 4, READONLY, "list", keys(1, 1, 1), list::lrange),
    cmd!("lset", 4, W, "list", keys(1, 1, 1), list::lset),
    cmd!("ltrim", 4, WRITE, "list", keys(1, 1, 1), list::ltrim),
    cmd!("lrem", 4, WRITE, "list", keys(1, 1, 1), list::lrem),
    cmd!("linsert", 5, W, "list", keys(1, 1, 1), list::linsert),
    cmd!("lpos", -3, READONLY, "list", keys(1, 1, 1), list::lpos),
    cmd!("lmove", 5, W, "list", keys(1, 2, 1), list::lmove),
    cmd!("rpoplpush", 3, W, "list", keys(1, 2, 1), list::rpoplpush),
    cmd!("lmpop", -4, WRITE, "list", numkeys(1), list::lmpop),
    cmd!(
        "blpop",
        -3,
        WRITE | BLOCKING,
        "list",
        keys(1, -2, 1),
        blocking::blpop
    ),
    cmd!(
        "brpop",
        -3,
        WRITE | BLOCKING,
        "list",
        keys(1, -2, 1),
        blocking::brpop
    ),
    cmd!(
        "blmove",
        6,
        W | BLOCKING,
        "list",
        keys(1, 2, 1),
        blocking::blmove
    ),
    cmd!(
        "brpoplpush",
        4,
        W | BLOCKING,
        "list",
        keys(1, 2, 1),
        blocking::brpoplpush
    ),
    cmd!(
        "blmpop",
        -5,
        WRITE | BLOCKING,
        "list",
        numkeys(2),
        blocking::blmpop
    ),
    // streams
    cmd!("xadd", -5, W_FAST, "stream", keys(1, 1, 1), stream::xadd),
    cmd!("xlen", 2, RO_POINT, "stream", keys(1, 1, 1), stream::xlen),
    cmd!(
        "xrange",
        -4,
        READONLY,
        "stream",
        keys(1, 1, 1),
        stream::xrange
    ),
    cmd!(
        "xrevrange",
        -4,
        READONLY,
        "stream",
        keys(1, 1, 1),
        stream::xrevrange
    ),
    cmd!(
        "xdel",
        -3,
        WRITE | FAST,
        "stream",
        keys(1, 1, 1),
        stream::xdel
    ),
    cmd!("xtrim", -4, WRITE, "stream", keys(1, 1, 1), stream::xtrim),
    cmd!(
        "xsetid",
        -3,
        W_FAST,
        "stream",
        keys(1, 1, 1),
        stream::xsetid
    ),
    cmd!(
        "xread",
        -4,
        READONLY | BLOCKING,
        "stream",
        KeySpec::Streams,
        stream::xread
    ),
];

static BY_NAME: LazyLock<HashMap<&'static [u8], &'static CommandSpec>> =
    LazyLock::new(|| COMMANDS.iter().map(|c| (c.name.as_bytes(), c)).collect());

/// The command named `name`, whatever its case.
pub fn lookup(name: &[u8]) -> Option<&'static CommandSpec> {
    let mut buf = [0u8; 32];
    if name.len() > buf.len() {
        return None;
    }
    let lower = &mut buf[..name.len()];
    lower.copy_from_slice(name);
    lower.make_ascii_lowercase();
    BY_NAME.get(&lower[..]).copied()
}
