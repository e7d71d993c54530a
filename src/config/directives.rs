//! The directive table: every directive RedRock accepts, with its default
//! and whether CONFIG SET may change it at run time. kvrocks.conf names are
//! kept so an existing Kvrocks configuration starts RedRock.

use super::buffer_limits::OutputBufferLimits;

/// Every directive value, typed.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub bind: Vec<String>,
    pub port: u16,
    pub dir: String,
    /// Where BGSAVE writes its checkpoint; empty means `<dir>/backup`.
    pub backup_dir: String,
    pub workers: u32,
    pub daemonize: bool,
    pub pidfile: String,
    pub requirepass: String,
    pub maxclients: u64,
    pub timeout: u64,
    pub tcp_backlog: u32,
    pub databases: u32,
    /// Cluster mode: slots served as the controller says; database 0 only.
    pub cluster_enabled: bool,
    /// A second port serving only the metrics page (0 = none).
    pub metrics_port: u16,
    /// Log commands slower than this many microseconds (negative = never).
    pub slowlog_log_slower_than: i64,
    pub slowlog_max_len: u64,
    /// Which keyspace events are published (`notify-keyspace-events`
    /// bits, see [`crate::keyspace_events`]).
    pub notify_keyspace_events: u32,
    /// After this many milliseconds a running script is busy: commands
    /// that need its keys get BUSY and SCRIPT KILL may stop it (0: never).
    pub busy_reply_threshold: u64,
    pub log_level: String,
    pub log_dir: String,
    pub proto_max_bulk_len: u64,
    /// Past this many bytes a sparse HyperLogLog turns dense (Redis's
    /// `hll-sparse-max-bytes`).
    pub hll_sparse_max_bytes: u64,
    /// A client whose unparsed input passes this many bytes is closed.
    pub client_query_buffer_limit: u64,
    /// When a client's unsent replies close it, per client class.
    pub client_output_buffer_limit: OutputBufferLimits,
    /// Without a password, refuse clients that are not on the loopback
    /// interface (Redis's protected mode).
    pub protected_mode: bool,
    pub block_cache_size_mb: u64,
    pub write_buffer_size_mb: u64,
    /// Past this many MB of live WAL, the column families holding its
    /// oldest part are flushed: it bounds what a crash makes replay.
    pub max_total_wal_size_mb: u64,
    /// Bytes of an SST data block: what a point read that misses the
    /// block cache reads, checks and decompresses.
    pub block_size: u64,
    pub max_open_files: i32,
    pub compression: String,
    pub sync: bool,
    pub disable_wal: bool,
    /// Refuse commands that add data once the SST files exceed this many
    /// bytes (0 = no limit).
    pub max_db_size: u64,
    /// How long (seconds) and how much (MB) WAL is kept after its
    /// memtables are flushed: the reach of a replica's partial resync.
    pub wal_ttl_seconds: u64,
    pub wal_size_limit_mb: u64,
    /// `host port` of the master this server replicates; empty on a master.
    pub replicaof: String,
    /// The user and password a replica authenticates with to its master.
    pub masteruser: String,
    pub masterauth: String,
    /// Whether a replica whose link is down still answers reads.
    pub replica_serve_stale_data: bool,
    /// Sentinel promotes the replica with the lowest non-zero priority.
    pub replica_priority: u64,
    /// The address a replica gives its master (empty / 0: the real one).
    pub replica_announce_ip: String,
    pub replica_announce_port: u16,
    /// Seconds without a word from the other side before a replication
    /// link is declared dead.
    pub repl_timeout: u64,
    /// Writes are refused unless this many replicas acknowledged within
    /// `min_replicas_max_lag` seconds (0: no such check).
    pub min_replicas_to_write: u64,
    pub min_replicas_max_lag: u64,
    /// Slot migration: the size of each batch of keys sent, the rate they
    /// are sent at (MB/s, 0: unlimited), and how far the WAL may be behind
    /// before writes are held for the last round.
    pub migrate_batch_size_kb: u64,
    pub migrate_batch_rate_limit_mb: u64,
    pub migrate_sequence_gap: u64,
    /// Kvrocks directives found in the config that RedRock does not
    /// implement: accepted, and logged as ignored once logging is up.
    pub ignored_kvrocks_directives: Vec<String>,
}

/// One directive: how to read, write and document it.
pub struct Directive {
    pub name: &'static str,
    pub default: &'static str,
    /// Whether CONFIG SET may change it while the server runs.
    pub mutable: bool,
    pub set: fn(&mut Config, &str) -> Result<(), String>,
    pub get: fn(&Config) -> String,
}

impl Directive {
    /// The directive named `name` (case-insensitive, as in Redis).
    pub fn find(name: &str) -> Option<&'static Directive> {
        DIRECTIVES
            .iter()
            .find(|d| d.name.eq_ignore_ascii_case(name))
    }

    /// The name this directive is an older name of, or its own.
    pub fn primary_name(&self) -> &'static str {
        ALIASES
            .iter()
            .find(|(alias, _)| *alias == self.name)
            .map_or(self.name, |(_, primary)| primary)
    }
}

/// Older names of directives, as Redis has them (alias, primary): both set
/// and show the same value, and CONFIG REWRITE adds only the primary.
const ALIASES: &[(&str, &str)] = &[
    ("lua-time-limit", "busy-reply-threshold"),
    ("slaveof", "replicaof"),
    ("slave-read-only", "replica-read-only"),
    ("slave-serve-stale-data", "replica-serve-stale-data"),
    ("slave-priority", "replica-priority"),
    ("min-slaves-to-write", "min-replicas-to-write"),
    ("min-slaves-max-lag", "min-replicas-max-lag"),
];

fn parse_bool(value: &str) -> Result<bool, String> {
    match value.to_ascii_lowercase().as_str() {
        "yes" => Ok(true),
        "no" => Ok(false),
        _ => Err("argument must be 'yes' or 'no'".into()),
    }
}

fn render_bool(value: bool) -> String {
    if value { "yes" } else { "no" }.into()
}

fn parse_int<T: TryFrom<i128>>(value: &str, min: i128, max: i128) -> Result<T, String> {
    let n: i128 = value
        .parse()
        .map_err(|_| "argument couldn't be parsed into an integer".to_string())?;
    if n < min || n > max {
        return Err(format!(
            "argument must be between {min} and {max} inclusive"
        ));
    }
    T::try_from(n).map_err(|_| "argument couldn't be parsed into an integer".to_string())
}

/// A size in bytes with an optional Redis memory unit (`b`, `kb`, `mb`,
/// `gb`, `k`, `m`, `g`).
pub(super) fn parse_bytes(value: &str, min: u64, max: u64) -> Result<u64, String> {
    let lower = value.to_ascii_lowercase();
    let units: [(&str, u64); 7] = [
        ("gb", 1 << 30),
        ("mb", 1 << 20),
        ("kb", 1 << 10),
        ("b", 1),
        ("g", 1_000_000_000),
        ("m", 1_000_000),
        ("k", 1000),
    ];
    let (digits, multiplier) = units
        .iter()
        .find_map(|(unit, mult)| lower.strip_suffix(unit).map(|d| (d, *mult)))
        .unwrap_or((lower.as_str(), 1));
    let n: u64 = digits
        .parse()
        .map_err(|_| "argument must be a memory value".to_string())?;
    let bytes = n
        .checked_mul(multiplier)
        .ok_or_else(|| "argument must be a memory value".to_string())?;
    if bytes < min || bytes > max {
        return Err(format!(
            "argument must be between {min} and {max} inclusive"
        ));
    }
    Ok(bytes)
}

/// `max-db-size`: a number of gigabytes as in Kvrocks, or a size with a
/// `kb`, `mb` or `gb` unit.
fn parse_db_size(value: &str) -> Result<u64, String> {
    let lower = value.to_ascii_lowercase();
    let (digits, unit) = [("gb", 1u64 << 30), ("mb", 1 << 20), ("kb", 1 << 10)]
        .iter()
        .find_map(|(suffix, unit)| lower.strip_suffix(suffix).map(|d| (d, *unit)))
        .unwrap_or((lower.as_str(), 1 << 30));
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(unit))
        .ok_or_else(|| "argument must be a number of GB, or a size in kb, mb or gb".to_string())
}

/// `max-db-size` as set: whole gigabytes as a plain number.
fn render_db_size(bytes: u64) -> String {
    match bytes {
        b if b % (1 << 30) == 0 => (b >> 30).to_string(),
        b if b % (1 << 20) == 0 => format!("{}mb", b >> 20),
        b => format!("{}kb", b >> 10),
    }
}

fn parse_choice(value: &str, choices: &[&str]) -> Result<String, String> {
    let lower = value.to_ascii_lowercase();
    if choices.contains(&lower.as_str()) {
        Ok(lower)
    } else {
        Err(format!("argument must be one of: {}", choices.join(", ")))
    }
}

macro_rules! directive {
    ($name:literal, $default:literal, $mutable:expr, |$c:ident, $v:ident| $set:expr, |$g:ident| $get:expr) => {
        Directive {
            name: $name,
            default: $default,
            mutable: $mutable,
            set: |$c: &mut Config, $v: &str| {
                $set;
                Ok(())
            },
            get: |$g: &Config| $get,
        }
    };
}

const LOG_LEVELS: &[&str] = &["debug", "info", "warning", "error", "fatal"];
const COMPRESSIONS: &[&str] = &["no", "snappy", "lz4", "zstd", "zlib"];

/// Every directive, in kvrocks.conf order.
pub static DIRECTIVES: &[Directive] = &[
    directive!(
        "bind",
        "127.0.0.1",
        false,
        |c, v| {
            let addrs: Vec<String> = v.split_whitespace().map(str::to_owned).collect();
            if addrs.is_empty() {
                return Err("argument must name at least one address".into());
            }
            c.bind = addrs
        },
        |c| c.bind.join(" ")
    ),
    directive!(
        "port",
        "6666",
        false,
        |c, v| c.port = parse_int(v, 1, 65535)?,
        |c| c.port.to_string()
    ),
    directive!(
        "timeout",
        "0",
        true,
        |c, v| c.timeout = parse_int(v, 0, i64::MAX as i128)?,
        |c| c.timeout.to_string()
    ),
    directive!(
        "workers",
        "0",
        false,
        |c, v| c.workers = parse_int(v, 0, 256)?,
        |c| c.workers.to_string()
    ),
    directive!(
        "daemonize",
        "no",
        false,
        |c, v| c.daemonize = parse_bool(v)?,
        |c| render_bool(c.daemonize)
    ),
    directive!(
        "maxclients",
        "10000",
        true,
        |c, v| c.maxclients = parse_int(v, 1, u32::MAX as i128)?,
        |c| c.maxclients.to_string()
    ),
    directive!(
        "tcp-backlog",
        "511",
        false,
        |c, v| c.tcp_backlog = parse_int(v, 0, i32::MAX as i128)?,
        |c| c.tcp_backlog.to_string()
    ),
    directive!(
        "databases",
        "16",
        false,
        |c, v| c.databases = parse_int(v, 1, 1 << 20)?,
        |c| c.databases.to_string()
    ),
    directive!(
        "cluster-enabled",
        "no",
        false,
        |c, v| c.cluster_enabled = parse_bool(v)?,
        |c| render_bool(c.cluster_enabled)
    ),
    directive!(
        "metrics-port",
        "0",
        false,
        |c, v| c.metrics_port = parse_int(v, 0, 65535)?,
        |c| c.metrics_port.to_string()
    ),
    directive!(
        "slowlog-log-slower-than",
        "10000",
        true,
        |c, v| c.slowlog_log_slower_than = parse_int(v, i64::MIN as i128, i64::MAX as i128)?,
        |c| c.slowlog_log_slower_than.to_string()
    ),
    directive!(
        "busy-reply-threshold",
        "5000",
        true,
        |c, v| c.busy_reply_threshold = parse_int(v, 0, i64::MAX as i128)?,
        |c| c.busy_reply_threshold.to_string()
    ),
    // Redis's older name for busy-reply-threshold.
    directive!(
        "lua-time-limit",
        "5000",
        true,
        |c, v| c.busy_reply_threshold = parse_int(v, 0, i64::MAX as i128)?,
        |c| c.busy_reply_threshold.to_string()
    ),
    directive!(
        "slowlog-max-len",
        "128",
        true,
        |c, v| c.slowlog_max_len = parse_int(v, 0, i64::MAX as i128)?,
        |c| c.slowlog_max_len.to_string()
    ),
    directive!(
        "notify-keyspace-events",
        "",
        true,
        |c, v| c.notify_keyspace_events = crate::keyspace_events::parse_flags(v)?,
        |c| crate::keyspace_events::render_flags(c.notify_keyspace_events)
    ),
    directive!(
        "protected-mode",
        "yes",
        true,
        |c, v| c.protected_mode = parse_bool(v)?,
        |c| render_bool(c.protected_mode)
    ),
    directive!(
        "requirepass",
        "",
        true,
        |c, v| c.requirepass = v.to_owned(),
        |c| c.requirepass.clone()
    ),
    directive!(
        "dir",
        "./redrock-data",
        false,
        |c, v| {
            if v.is_empty() {
                return Err("argument must be a directory".into());
            }
            c.dir = v.to_owned()
        },
        |c| c.dir.clone()
    ),
    directive!(
        "backup-dir",
        "",
        true,
        |c, v| c.backup_dir = v.to_owned(),
        |c| c.backup_dir.clone()
    ),
    directive!("pidfile", "", false, |c, v| c.pidfile = v.to_owned(), |c| c
        .pidfile
        .clone()),
    directive!(
        "log-dir",
        "stdout",
        false,
        |c, v| c.log_dir = v.to_owned(),
        |c| c.log_dir.clone()
    ),
    directive!(
        "log-level",
        "info",
        true,
        |c, v| c.log_level = parse_choice(v, LOG_LEVELS)?,
        |c| c.log_level.clone()
    ),
    directive!(
        "proto-max-bulk-len",
        "536870912",
        true,
        |c, v| c.proto_max_bulk_len = parse_bytes(v, 1024 * 1024, 1 << 40)?,
        |c| c.proto_max_bulk_len.to_string()
    ),
    directive!(
        "hll-sparse-max-bytes",
        "3000",
        true,
        |c, v| c.hll_sparse_max_bytes = parse_bytes(v, 0, i64::MAX as u64)?,
        |c| c.hll_sparse_max_bytes.to_string()
    ),
    directive!(
        "client-query-buffer-limit",
        "1073741824",
        true,
        |c, v| c.client_query_buffer_limit = parse_bytes(v, 1024 * 1024, i64::MAX as u64)?,
        |c| c.client_query_buffer_limit.to_string()
    ),
    directive!(
        "client-output-buffer-limit",
        "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
        true,
        |c, v| c.client_output_buffer_limit.update(v)?,
        |c| c.client_output_buffer_limit.to_string()
    ),
    directive!(
        "rocksdb.block_cache_size",
        "4096",
        false,
        |c, v| c.block_cache_size_mb = parse_int(v, 0, 1 << 30)?,
        |c| c.block_cache_size_mb.to_string()
    ),
    directive!(
        "rocksdb.write_buffer_size",
        "64",
        false,
        |c, v| c.write_buffer_size_mb = parse_int(v, 1, 4096)?,
        |c| c.write_buffer_size_mb.to_string()
    ),
    directive!(
        "rocksdb.max_total_wal_size",
        "128",
        false,
        |c, v| c.max_total_wal_size_mb = parse_int(v, 1, 1 << 30)?,
        |c| c.max_total_wal_size_mb.to_string()
    ),
    directive!(
        "rocksdb.block_size",
        "4096",
        false,
        |c, v| c.block_size = parse_int(v, 1024, 1 << 24)?,
        |c| c.block_size.to_string()
    ),
    directive!(
        "rocksdb.max_open_files",
        "8096",
        false,
        |c, v| c.max_open_files = parse_int(v, -1, i32::MAX as i128)?,
        |c| c.max_open_files.to_string()
    ),
    directive!(
        "rocksdb.compression",
        "snappy",
        false,
        |c, v| c.compression = parse_choice(v, COMPRESSIONS)?,
        |c| c.compression.clone()
    ),
    directive!(
        "rocksdb.write_options.sync",
        "no",
        false,
        |c, v| c.sync = parse_bool(v)?,
        |c| render_bool(c.sync)
    ),
    directive!(
        "rocksdb.write_options.disable_wal",
        "no",
        false,
        |c, v| c.disable_wal = parse_bool(v)?,
        |c| render_bool(c.disable_wal)
    ),
    directive!(
        "max-db-size",
        "0",
        true,
        |c, v| c.max_db_size = parse_db_size(v)?,
        |c| render_db_size(c.max_db_size)
    ),
    directive!(
        "rocksdb.wal_ttl_seconds",
        "10800",
        false,
        |c, v| c.wal_ttl_seconds = parse_int(v, 0, i64::MAX as i128)?,
        |c| c.wal_ttl_seconds.to_string()
    ),
    directive!(
        "rocksdb.wal_size_limit_mb",
        "16384",
        false,
        |c, v| c.wal_size_limit_mb = parse_int(v, 0, i64::MAX as i128)?,
        |c| c.wal_size_limit_mb.to_string()
    ),
    directive!(
        "replicaof",
        "",
        false,
        |c, v| c.replicaof = parse_replicaof(v)?,
        |c| c.replicaof.clone()
    ),
    // Redis's older name for replicaof (and Kvrocks's only one).
    directive!(
        "slaveof",
        "",
        false,
        |c, v| c.replicaof = parse_replicaof(v)?,
        |c| c.replicaof.clone()
    ),
    directive!(
        "masteruser",
        "",
        true,
        |c, v| c.masteruser = v.to_string(),
        |c| c.masteruser.clone()
    ),
    directive!(
        "masterauth",
        "",
        true,
        |c, v| c.masterauth = v.to_string(),
        |c| c.masterauth.clone()
    ),
    directive!(
        "replica-read-only",
        "yes",
        true,
        |_c, v| parse_read_only(v)?,
        |_g| "yes".into()
    ),
    directive!(
        "slave-read-only",
        "yes",
        true,
        |_c, v| parse_read_only(v)?,
        |_g| "yes".into()
    ),
    directive!(
        "replica-serve-stale-data",
        "yes",
        true,
        |c, v| c.replica_serve_stale_data = parse_bool(v)?,
        |c| render_bool(c.replica_serve_stale_data)
    ),
    directive!(
        "slave-serve-stale-data",
        "yes",
        true,
        |c, v| c.replica_serve_stale_data = parse_bool(v)?,
        |c| render_bool(c.replica_serve_stale_data)
    ),
    directive!(
        "replica-priority",
        "100",
        true,
        |c, v| c.replica_priority = parse_int(v, 0, i32::MAX as i128)?,
        |c| c.replica_priority.to_string()
    ),
    directive!(
        "slave-priority",
        "100",
        true,
        |c, v| c.replica_priority = parse_int(v, 0, i32::MAX as i128)?,
        |c| c.replica_priority.to_string()
    ),
    directive!(
        "replica-announce-ip",
        "",
        true,
        |c, v| c.replica_announce_ip = v.to_string(),
        |c| c.replica_announce_ip.clone()
    ),
    directive!(
        "replica-announce-port",
        "0",
        true,
        |c, v| c.replica_announce_port = parse_int(v, 0, 65535)?,
        |c| c.replica_announce_port.to_string()
    ),
    directive!(
        "repl-timeout",
        "60",
        true,
        |c, v| c.repl_timeout = parse_int(v, 1, i32::MAX as i128)?,
        |c| c.repl_timeout.to_string()
    ),
    directive!(
        "min-replicas-to-write",
        "0",
        true,
        |c, v| c.min_replicas_to_write = parse_int(v, 0, i32::MAX as i128)?,
        |c| c.min_replicas_to_write.to_string()
    ),
    directive!(
        "min-slaves-to-write",
        "0",
        true,
        |c, v| c.min_replicas_to_write = parse_int(v, 0, i32::MAX as i128)?,
        |c| c.min_replicas_to_write.to_string()
    ),
    directive!(
        "min-replicas-max-lag",
        "10",
        true,
        |c, v| c.min_replicas_max_lag = parse_int(v, 0, i32::MAX as i128)?,
        |c| c.min_replicas_max_lag.to_string()
    ),
    directive!(
        "min-slaves-max-lag",
        "10",
        true,
        |c, v| c.min_replicas_max_lag = parse_int(v, 0, i32::MAX as i128)?,
        |c| c.min_replicas_max_lag.to_string()
    ),
    directive!(
        "migrate-batch-size-kb",
        "16",
        true,
        |c, v| c.migrate_batch_size_kb = parse_int(v, 1, 512 * 1024)?,
        |c| c.migrate_batch_size_kb.to_string()
    ),
    directive!(
        "migrate-batch-rate-limit-mb",
        "16",
        true,
        |c, v| c.migrate_batch_rate_limit_mb = parse_int(v, 0, i32::MAX as i128)?,
        |c| c.migrate_batch_rate_limit_mb.to_string()
    ),
    directive!(
        "migrate-sequence-gap",
        "10000",
        true,
        |c, v| c.migrate_sequence_gap = parse_int(v, 1, i32::MAX as i128)?,
        |c| c.migrate_sequence_gap.to_string()
    ),
];

/// `host port`, or empty (also from `no one`): a master to replicate.
fn parse_replicaof(value: &str) -> Result<String, String> {
    let words: Vec<&str> = value.split_whitespace().collect();
    match words.as_slice() {
        [] => Ok(String::new()),
        [no, one] if no.eq_ignore_ascii_case("no") && one.eq_ignore_ascii_case("one") => {
            Ok(String::new())
        }
        [host, port] => {
            port.parse::<u16>()
                .ok()
                .filter(|&p| p > 0)
                .ok_or_else(|| "Invalid master port".to_string())?;
            Ok(format!("{host} {port}"))
        }
        _ => Err("argument must be 'host port' or 'no one'".into()),
    }
}

/// Replicas are read-only: their data and sequence numbers must stay
/// their master's, which a local write would break.
fn parse_read_only(value: &str) -> Result<(), String> {
    if parse_bool(value)? {
        Ok(())
    } else {
        Err(
            "RedRock replicas are always read-only: a replica holds exactly its master's data, \
             which a local write would make diverge"
                .into(),
        )
    }
}

/// Kvrocks directives RedRock does not implement. An existing kvrocks.conf
/// that sets them still starts; each is logged as ignored.
pub const KVROCKS_ONLY: &[&str] = &[
    "socket-fd",
    "unixsocket",
    "unixsocketperm",
    "tls-port",
    "tls-cert-file",
    "tls-key-file",
    "tls-key-file-pass",
    "tls-ca-cert-file",
    "tls-ca-cert-dir",
    "tls-auth-clients",
    "tls-protocols",
    "tls-ciphers",
    "tls-ciphersuites",
    "tls-prefer-server-ciphers",
    "tls-session-caching",
    "tls-session-cache-size",
    "tls-session-cache-timeout",
    "tls-replication",
    "supervised",
    "db-name",
    "log-retention-days",
    "repl-namespace-enabled",
    "rename-command",
    "persist-cluster-nodes-enabled",
    "slave-empty-db-before-fullsync",
    "master-use-repl-port",
    "use-rsid-psync",
    "max-replication-mb",
    "purge-backup-on-fullsync",
    "max-io-mb",
    "max-backup-to-keep",
    "max-backup-keep-hours",
    "max-bitmap-to-string-mb",
    "resp3-enabled",
    "redis-cursor-compatible",
    "json-max-nesting-depth",
    "json-storage-format",
    "txn-context-enabled",
    "profiling-sample-ratio",
    "profiling-sample-commands",
    "profiling-sample-record-threshold-ms",
    "profiling-sample-record-max-len",
    "compaction-checker-cron",
    "compaction-checker-range",
    "force-compact-file-age",
    "force-compact-file-min-deleted-percentage",
    "compact-cron",
    "bgsave-cron",
    "dbsize-scan-cron",
    "migrate-type",
    "migrate-speed",
    "migrate-pipeline-size",
    "auto-resize-block-and-sst",
    "rocksdb.block_cache_type",
    "rocksdb.row_cache_size",
    "rocksdb.max_write_buffer_number",
    "rocksdb.target_file_size_base",
    "rocksdb.max_background_jobs",
    "rocksdb.max_background_compactions",
    "rocksdb.max_background_flushes",
    "rocksdb.max_subcompactions",
    "rocksdb.compression_level",
    "rocksdb.compression_start_level",
    "rocksdb.wal_compression",
    "rocksdb.cache_index_and_filter_blocks",
    "rocksdb.metadata_block_cache_size",
    "rocksdb.subkey_block_cache_size",
    "rocksdb.enable_write_buffer_manager",
    "rocksdb.partition_filters",
    "rocksdb.level0_slowdown_writes_trigger",
    "rocksdb.level0_stop_writes_trigger",
    "rocksdb.level0_file_num_compaction_trigger",
    "rocksdb.max_bytes_for_level_base",
    "rocksdb.max_bytes_for_level_multiplier",
    "rocksdb.level_compaction_dynamic_level_bytes",
    "rocksdb.enable_blob_files",
    "rocksdb.min_blob_size",
    "rocksdb.blob_file_size",
    "rocksdb.enable_blob_garbage_collection",
    "rocksdb.blob_garbage_collection_age_cutoff",
    "rocksdb.disable_auto_compactions",
    "rocksdb.delayed_write_rate",
    "rocksdb.compaction_readahead_size",
    "rocksdb.stats_dump_period_sec",
    "rocksdb.enable_pipelined_write",
    "rocksdb.rate_limiter_auto_tuned",
    "rocksdb.avoid_unnecessary_blocking_io",
    "rocksdb.write_options.no_slowdown",
    "rocksdb.write_options.low_pri",
    "rocksdb.write_options.memtable_insert_hint_per_batch",
    "rocksdb.write_options.write_batch_max_bytes",
    "rocksdb.read_options.async_io",
];

/// Directives whose values are secrets: Redis redacts them from CONFIG SET
/// in SLOWLOG, and so does RedRock.
const SENSITIVE: &[&str] = &["requirepass", "masterauth"];

/// Whether the value of directive `name` is a secret.
pub fn is_sensitive(name: &str) -> bool {
    SENSITIVE.iter().any(|s| s.eq_ignore_ascii_case(name))
}

/// Whether `name` is a Kvrocks directive RedRock accepts but ignores
/// (`namespace.<name>` lines included).
pub fn is_kvrocks_only(name: &str) -> bool {
    KVROCKS_ONLY.contains(&name) || name.starts_with("namespace.")
}

impl Default for Config {
    /// The embedded defaults: every directive at its documented default.
    fn default() -> Config {
        let mut config = Config {
            bind: Vec::new(),
            port: 0,
            dir: String::new(),
            backup_dir: String::new(),
            workers: 0,
            daemonize: false,
            pidfile: String::new(),
            requirepass: String::new(),
            maxclients: 0,
            timeout: 0,
            tcp_backlog: 0,
            databases: 0,
            cluster_enabled: false,
            metrics_port: 0,
            slowlog_log_slower_than: 0,
            slowlog_max_len: 0,
            notify_keyspace_events: 0,
            busy_reply_threshold: 5000,
            log_level: String::new(),
            log_dir: String::new(),
            proto_max_bulk_len: 0,
            hll_sparse_max_bytes: 0,
            client_query_buffer_limit: 0,
            client_output_buffer_limit: OutputBufferLimits::default(),
            protected_mode: false,
            block_cache_size_mb: 0,
            write_buffer_size_mb: 0,
            max_total_wal_size_mb: 0,
            block_size: 0,
            max_open_files: 0,
            compression: String::new(),
            sync: false,
            disable_wal: false,
            max_db_size: 0,
            wal_ttl_seconds: 0,
            wal_size_limit_mb: 0,
            replicaof: String::new(),
            masteruser: String::new(),
            masterauth: String::new(),
            replica_serve_stale_data: true,
            replica_priority: 0,
            replica_announce_ip: String::new(),
            replica_announce_port: 0,
            repl_timeout: 0,
            min_replicas_to_write: 0,
            min_replicas_max_lag: 0,
            migrate_batch_size_kb: 0,
            migrate_batch_rate_limit_mb: 0,
            migrate_sequence_gap: 0,
            ignored_kvrocks_directives: Vec::new(),
        };
        for directive in DIRECTIVES {
            (directive.set)(&mut config, directive.default)
                .expect("every documented default is valid");
        }
        config
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_name_directives_that_share_a_value() {
        for (alias, primary) in ALIASES {
            let (alias, primary) = (
                Directive::find(alias).unwrap(),
                Directive::find(primary).unwrap(),
            );
            assert_eq!(alias.primary_name(), primary.name);
            assert_eq!(alias.default, primary.default);
            let mut config = Config::default();
            (primary.set)(&mut config, primary.default).unwrap();
            assert_eq!((alias.get)(&config), (primary.get)(&config));
        }
    }

    #[test]
    fn defaults_read_back_as_documented() {
        let config = Config::default();
        for d in DIRECTIVES {
            assert_eq!((d.get)(&config), d.default, "{}", d.name);
        }
        assert_eq!(config.port, 6666);
        assert_eq!(config.bind, vec!["127.0.0.1"]);
        assert_eq!(config.proto_max_bulk_len, 512 * 1024 * 1024);
    }

    #[test]
    fn values_are_validated() {
        let mut config = Config::default();
        let port = Directive::find("PORT").unwrap();
        assert!((port.set)(&mut config, "70000").is_err());
        assert!((port.set)(&mut config, "abc").is_err());
        (port.set)(&mut config, "7000").unwrap();
        assert_eq!(config.port, 7000);
        let bulk = Directive::find("proto-max-bulk-len").unwrap();
        (bulk.set)(&mut config, "2mb").unwrap();
        assert_eq!(config.proto_max_bulk_len, 2 << 20);
        let sync = Directive::find("rocksdb.write_options.sync").unwrap();
        assert!((sync.set)(&mut config, "maybe").is_err());
        let db_size = Directive::find("max-db-size").unwrap();
        for (value, bytes, shown) in [
            ("2", 2 << 30, "2"),
            ("64mb", 64 << 20, "64mb"),
            ("1GB", 1 << 30, "1"),
            ("512kb", 512 << 10, "512kb"),
        ] {
            (db_size.set)(&mut config, value).unwrap();
            assert_eq!(config.max_db_size, bytes, "{value}");
            assert_eq!((db_size.get)(&config), shown);
        }
        assert!((db_size.set)(&mut config, "-1").is_err());
        assert!((db_size.set)(&mut config, "10 mb").is_err());
    }
}
