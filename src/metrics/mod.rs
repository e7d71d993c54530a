//! Metrics served by the server itself in Prometheus text format (the
//! `metrics` crate as facade, metrics-exporter-prometheus for the text):
//! metric names, the recorder, per-command handles registered once, and the
//! figures read from the server at scrape time.

mod histogram;

pub use histogram::LatencyHistogram;

use crate::migration::{MoveState, MoveTotals};
use crate::replication::LinkStatus;
use crate::server::Server;
use crate::storage::{FaultKind, MAX_DB_SIZE};
use metrics::{counter, gauge, Counter, Histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use metrics_util::MetricKindMask;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

/// A counter that CONFIG RESETSTAT zeroes for INFO while its lifetime total
/// keeps growing for Prometheus, whose counters must never go down.
#[derive(Default)]
pub struct Tally {
    since_reset: AtomicU64,
    before_reset: AtomicU64,
}

impl Tally {
    pub fn add(&self, n: u64) {
        self.since_reset.fetch_add(n, Ordering::Relaxed);
    }

    /// The count since the last reset (INFO).
    pub fn get(&self) -> u64 {
        self.since_reset.load(Ordering::Relaxed)
    }

    /// The count since the server started (metrics).
    pub fn total(&self) -> u64 {
        self.before_reset.load(Ordering::Relaxed) + self.get()
    }

    pub fn reset(&self) {
        let current = self.since_reset.swap(0, Ordering::Relaxed);
        self.before_reset.fetch_add(current, Ordering::Relaxed);
    }
}

/// Upper bounds of the command latency histogram's buckets, in seconds.
const DURATION_BUCKETS: &[f64] = &[
    0.000_005, 0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005,
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

const COMMAND_DURATION: &str = "redrock_command_duration_seconds";

/// Error codes that become label values; anything else counts as OTHER, so
/// the label set stays small whatever errors clients provoke.
const ERROR_CODES: &[&str] = &[
    "ERR",
    "WRONGTYPE",
    "NOAUTH",
    "WRONGPASS",
    "NOPROTO",
    "NOPERM",
    "MOVED",
    "ASK",
    "CROSSSLOT",
    "CLUSTERDOWN",
    "TRYAGAIN",
    "UNBLOCKED",
    "EXECABORT",
    "BUSYKEY",
    "NOSCRIPT",
    "READONLY",
    "LOADING",
    "OOM",
    "MISCONF",
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
/// One scrape at a time: a gauge a scrape does not set is dropped from the
/// page (see [`handle`]), so another scrape must not render in between.
static SCRAPE: Mutex<()> = Mutex::new(());

/// The process-wide Prometheus recorder, installed on first use.
pub fn handle() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        // Every gauge is set at each scrape, so one that was not belongs
        // to what is gone (a replica that left, the master link of a node
        // promoted): it leaves the page rather than show its last value.
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(COMMAND_DURATION.into()), DURATION_BUCKETS)
            .expect("the bucket list is not empty")
            .idle_timeout(MetricKindMask::GAUGE, Some(Duration::ZERO))
            .build_recorder();
        let handle = recorder.handle();
        // A recorder installed earlier (only possible in tests) keeps its
        // place; this one then renders nothing but is harmless.
        let _ = metrics::set_global_recorder(recorder);
        describe();
        handle
    })
}

/// The HELP text of every metric.
fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    for (name, help) in [
        (
            "redrock_commands_processed_total",
            "Commands processed, by command.",
        ),
        (
            "redrock_commands_failed_total",
            "Commands that answered an error, by command and error code.",
        ),
        (
            "redrock_connections_received_total",
            "Connections accepted.",
        ),
        (
            "redrock_connections_rejected_total",
            "Connections refused because maxclients was reached.",
        ),
        ("redrock_net_input_bytes_total", "Bytes read from clients."),
        (
            "redrock_net_output_bytes_total",
            "Bytes written to clients.",
        ),
        (
            "redrock_keyspace_hits_total",
            "Key reads that found the key.",
        ),
        (
            "redrock_keyspace_misses_total",
            "Key reads that did not find the key.",
        ),
        (
            "redrock_expired_keys_total",
            "Keys removed because they expired.",
        ),
        (
            "redrock_evicted_keys_total",
            "Keys evicted for memory (always 0: keys live on disk).",
        ),
        (
            "redrock_rocksdb_block_cache_hits_total",
            "RocksDB block cache hits.",
        ),
        (
            "redrock_rocksdb_block_cache_misses_total",
            "RocksDB block cache misses.",
        ),
        (
            "redrock_rocksdb_background_errors_total",
            "Background errors RocksDB met (failed flushes, compactions, WAL writes).",
        ),
        (
            REPLICATION_FULL_SYNCS,
            "Full syncs, by side: served to replicas (master) or received from the master \
             (replica).",
        ),
        (
            REPLICATION_FULL_SYNCS_FAILED,
            "Full syncs that did not complete, by side (master, replica).",
        ),
        (
            REPLICATION_PARTIAL_SYNCS,
            "Partial resyncs asked of this node, by result: ok (continued from the WAL) or err \
             (a full sync instead).",
        ),
        (
            REPLICATION_SENT_BYTES,
            "Bytes sent to replicas (WAL batches and full-sync files).",
        ),
        (
            REPLICATION_RECEIVED_BYTES,
            "Bytes received from the master (WAL batches and full-sync files).",
        ),
        (
            MIGRATION.keys,
            "Keys slot migrations from this node copied (those of their snapshots).",
        ),
        (
            MIGRATION.bytes,
            "Bytes slot migrations from this node sent (snapshots and WAL catch-up).",
        ),
        (
            MIGRATION.finished,
            "Slot migrations from this node that ended, by outcome (success, fail).",
        ),
        (IMPORT.keys, "Keys slot imports created on this node."),
        (
            IMPORT.bytes,
            "Bytes slot imports into this node received (snapshots and WAL catch-up).",
        ),
        (
            IMPORT.finished,
            "Slot imports into this node that ended, by outcome (success, fail).",
        ),
    ] {
        describe_counter!(name, help);
    }
    for (name, help) in [
        (
            "redrock_build_info",
            "Always 1; the labels give the version and git revision.",
        ),
        (
            "redrock_uptime_seconds",
            "Seconds since the server started.",
        ),
        ("redrock_connected_clients", "Client connections open now."),
        (
            "redrock_blocked_clients",
            "Clients waiting in a blocking command or held by CLIENT PAUSE.",
        ),
        (
            "redrock_keys",
            "Keys per database (expired keys not yet reclaimed included).",
        ),
        (
            "redrock_keys_with_expiry",
            "Keys with an expiry, per database.",
        ),
        (
            "redrock_process_resident_memory_bytes",
            "Resident memory of the process.",
        ),
        (
            "redrock_process_cpu_seconds",
            "CPU time used by the process, by mode (user, system).",
        ),
        (
            "redrock_rocksdb_live_data_bytes",
            "RocksDB's estimate of the live data size.",
        ),
        (
            "redrock_rocksdb_sst_files_bytes",
            "Size of all RocksDB SST files.",
        ),
        (
            "redrock_rocksdb_memtable_bytes",
            "Size of RocksDB's memtables.",
        ),
        (
            "redrock_rocksdb_block_cache_usage_bytes",
            "Bytes in the RocksDB block cache.",
        ),
        (
            "redrock_rocksdb_block_cache_capacity_bytes",
            "Capacity of the RocksDB block cache.",
        ),
        (
            "redrock_rocksdb_pending_compaction_bytes",
            "Bytes RocksDB estimates compaction must rewrite.",
        ),
        (
            "redrock_rocksdb_running_compactions",
            "RocksDB compactions running now.",
        ),
        (
            "redrock_rocksdb_running_flushes",
            "RocksDB memtable flushes running now.",
        ),
        (
            "redrock_rocksdb_write_stopped",
            "1 while RocksDB stops writes (a write stall), else 0.",
        ),
        (
            "redrock_rocksdb_delayed_write_rate_bytes",
            "Write rate RocksDB slows writes to, 0 when not slowed.",
        ),
        (
            "redrock_rocksdb_write_stall_seconds",
            "Time writes spent stalled by RocksDB since start.",
        ),
        (
            "redrock_rocksdb_wal_bytes",
            "Size of the live write-ahead log files.",
        ),
        ("redrock_cluster_enabled", "1 in cluster mode, else 0."),
        (
            "redrock_cluster_topology_version",
            "Version of the cluster topology (-1 before the first).",
        ),
        (
            "redrock_cluster_slots_served",
            "Hash slots this node serves.",
        ),
        (
            "redrock_writes_refused",
            "1 while writes are refused for the reason in the label (disk-full, io-error, \
             corruption, storage-error: every write; max-db-size: commands that add data).",
        ),
        (
            "redrock_max_db_size_bytes",
            "The max-db-size limit on the SST files (0 = none).",
        ),
        (
            REPLICATION_ROLE,
            "1 for this node's role (master or replica), 0 for the other.",
        ),
        (
            REPLICATION_OFFSET,
            "This node's replication offset: the sequence number of its last write \
             (master_repl_offset).",
        ),
        (
            REPLICATION_CONNECTED_REPLICAS,
            "Replicas this node feeds, those in a full sync included (connected_slaves).",
        ),
        (
            REPLICA_ONLINE,
            "Per replica: 1 once it streams the WAL, 0 while it syncs in full.",
        ),
        (
            REPLICA_OFFSET,
            "Per replica: the last sequence number it acknowledged.",
        ),
        (
            REPLICA_LAG_SEQUENCES,
            "Per replica: sequence numbers written here that it has not acknowledged.",
        ),
        (
            REPLICA_LAG_SECONDS,
            "Per replica: age of the oldest write it has not acknowledged (0 when it has them \
             all); during a full sync, time since the sync began.",
        ),
        (
            REPLICA_LAST_ACK_SECONDS,
            "Per replica: seconds since it last acknowledged (INFO's lag).",
        ),
        (
            MASTER_LINK_UP,
            "On a replica: 1 while the link to its master streams the WAL, else 0.",
        ),
        (
            MASTER_LAST_IO_SECONDS,
            "On a replica: seconds since something last came from its master.",
        ),
        (
            MASTER_SYNC_IN_PROGRESS,
            "On a replica: 1 while it receives a full sync, else 0.",
        ),
        (
            MIGRATION.state,
            "1 for the state of this node's last slot migration (start: running, success, \
             fail), 0 for the others; all 0 when none since the topology last changed.",
        ),
        (
            MIGRATION.first_slot,
            "First slot of this node's last slot migration, -1 when none.",
        ),
        (
            MIGRATION.last_slot,
            "Last slot of this node's last slot migration, -1 when none.",
        ),
        (
            IMPORT.state,
            "1 for the state of the last slot import into this node (start: running, \
             success, fail: CLUSTER INFO's error), 0 for the others; all 0 when none since \
             the topology last changed.",
        ),
        (
            IMPORT.first_slot,
            "First slot of the last slot import into this node, -1 when none.",
        ),
        (
            IMPORT.last_slot,
            "Last slot of the last slot import into this node, -1 when none.",
        ),
    ] {
        describe_gauge!(name, help);
    }
    describe_histogram!(
        COMMAND_DURATION,
        Unit::Seconds,
        "Time to run a command, by command."
    );
}

/// Drains recorded histogram samples into their buckets every few seconds,
/// so memory stays bounded however rarely the page is scraped.
pub async fn run_upkeep() {
    let handle = handle();
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        tick.tick().await;
        handle.run_upkeep();
    }
}

/// A command's Prometheus handles, registered once: a call costs an atomic
/// add and a histogram push, no lookup or allocation.
pub struct CommandMetrics {
    calls: Counter,
    duration: Histogram,
}

impl CommandMetrics {
    pub fn new(command: &'static str) -> CommandMetrics {
        handle();
        CommandMetrics {
            calls: counter!("redrock_commands_processed_total", "command" => command),
            duration: metrics::histogram!(COMMAND_DURATION, "command" => command),
        }
    }

    pub fn record(&self, elapsed: Duration) {
        self.calls.increment(1);
        self.duration.record(elapsed.as_secs_f64());
    }
}

/// Counts a call of `command` that answered an error with `code`.
pub fn record_failure(command: &'static str, code: &str) {
    let code = ERROR_CODES
        .iter()
        .find(|c| **c == code)
        .copied()
        .unwrap_or("OTHER");
    counter!("redrock_commands_failed_total", "command" => command, "error" => code).increment(1);
}

/// The metrics page: the server's current figures, then everything the
/// recorder holds, as Prometheus text.
pub fn render(server: &Server) -> String {
    let handle = handle();
    let _one_at_a_time = SCRAPE.lock();
    refresh(server);
    handle.run_upkeep();
    handle.render()
}

/// Copies what the server counts anyway into gauges and counters; done at
/// scrape time so the request path pays nothing for it.
fn refresh(server: &Server) {
    let stats = &server.stats;
    gauge!("redrock_build_info", "version" => env!("CARGO_PKG_VERSION"), "git_revision" => env!("REDROCK_GIT_REVISION")).set(1.0);
    gauge!("redrock_uptime_seconds").set(server.started.elapsed().as_secs_f64());
    gauge!("redrock_connected_clients").set(server.clients.count() as f64);
    gauge!("redrock_blocked_clients").set(server.blocked_clients() as f64);
    for (name, tally) in [
        (
            "redrock_connections_received_total",
            &stats.connections_received,
        ),
        (
            "redrock_connections_rejected_total",
            &stats.connections_rejected,
        ),
        ("redrock_net_input_bytes_total", &stats.net_input_bytes),
        ("redrock_net_output_bytes_total", &stats.net_output_bytes),
        ("redrock_keyspace_hits_total", &server.storage.keyspace_hits),
        (
            "redrock_keyspace_misses_total",
            &server.storage.keyspace_misses,
        ),
        ("redrock_expired_keys_total", &server.storage.expired_keys),
    ] {
        counter!(name).absolute(tally.total());
    }
    // Keys are never evicted: RedRock keeps them on disk.
    counter!("redrock_evicted_keys_total").absolute(0);
    for db in &server.databases {
        let label = db.index.to_string();
        gauge!("redrock_keys", "db" => label.clone()).set(db.counts.keys() as f64);
        gauge!("redrock_keys_with_expiry", "db" => label).set(db.counts.expires() as f64);
    }
    gauge!("redrock_process_resident_memory_bytes").set(resident_memory_bytes() as f64);
    let (user, system) = cpu_seconds();
    gauge!("redrock_process_cpu_seconds", "mode" => "user").set(user);
    gauge!("redrock_process_cpu_seconds", "mode" => "system").set(system);
    let rocks = server.storage.rocksdb_stats();
    for (name, value) in [
        ("redrock_rocksdb_live_data_bytes", rocks.live_data_bytes),
        ("redrock_rocksdb_sst_files_bytes", rocks.sst_files_bytes),
        ("redrock_rocksdb_memtable_bytes", rocks.memtable_bytes),
        (
            "redrock_rocksdb_block_cache_usage_bytes",
            rocks.block_cache_usage_bytes,
        ),
        (
            "redrock_rocksdb_block_cache_capacity_bytes",
            rocks.block_cache_capacity_bytes,
        ),
        (
            "redrock_rocksdb_pending_compaction_bytes",
            rocks.pending_compaction_bytes,
        ),
        (
            "redrock_rocksdb_running_compactions",
            rocks.running_compactions,
        ),
        ("redrock_rocksdb_running_flushes", rocks.running_flushes),
        (
            "redrock_rocksdb_write_stopped",
            u64::from(rocks.write_stopped),
        ),
        (
            "redrock_rocksdb_delayed_write_rate_bytes",
            rocks.delayed_write_rate,
        ),
        ("redrock_rocksdb_wal_bytes", rocks.wal_bytes),
    ] {
        gauge!(name).set(value as f64);
    }
    counter!("redrock_rocksdb_block_cache_hits_total").absolute(rocks.block_cache_hits);
    counter!("redrock_rocksdb_block_cache_misses_total").absolute(rocks.block_cache_misses);
    gauge!("redrock_rocksdb_write_stall_seconds").set(rocks.stall_micros as f64 / 1e6);
    counter!("redrock_rocksdb_background_errors_total").absolute(rocks.background_errors);
    let health = server.storage.health();
    let refused = health.refusal().map(|(reason, _)| reason);
    let reasons = FaultKind::ALL.iter().map(|k| k.name()).chain([MAX_DB_SIZE]);
    for reason in reasons {
        gauge!("redrock_writes_refused", "reason" => reason)
            .set(f64::from(refused == Some(reason)));
    }
    gauge!("redrock_max_db_size_bytes").set(health.max_db_size() as f64);
    let (enabled, version, slots) = match &server.cluster {
        Some(cluster) => {
            let topology = cluster.topology();
            let my_id = cluster.my_id();
            let slots = topology.as_ref().map_or(0, |t| {
                t.ranges_of(&my_id)
                    .iter()
                    .map(|(a, b)| u64::from(b - a) + 1)
                    .sum()
            });
            (1.0, cluster.version() as f64, slots as f64)
        }
        None => (0.0, -1.0, 0.0),
    };
    gauge!("redrock_cluster_enabled").set(enabled);
    gauge!("redrock_cluster_topology_version").set(version);
    gauge!("redrock_cluster_slots_served").set(slots);
    refresh_slot_moves(server);
    refresh_replication(server);
}

/// The series of one side of slot moves: migrations from this node, or
/// imports into it.
struct MoveSeries {
    state: &'static str,
    first_slot: &'static str,
    last_slot: &'static str,
    keys: &'static str,
    bytes: &'static str,
    finished: &'static str,
}

const MIGRATION: MoveSeries = MoveSeries {
    state: "redrock_slot_migration_state",
    first_slot: "redrock_slot_migration_first_slot",
    last_slot: "redrock_slot_migration_last_slot",
    keys: "redrock_slot_migration_keys_total",
    bytes: "redrock_slot_migration_bytes_total",
    finished: "redrock_slot_migrations_total",
};

const IMPORT: MoveSeries = MoveSeries {
    state: "redrock_slot_import_state",
    first_slot: "redrock_slot_import_first_slot",
    last_slot: "redrock_slot_import_last_slot",
    keys: "redrock_slot_import_keys_total",
    bytes: "redrock_slot_import_bytes_total",
    finished: "redrock_slot_imports_total",
};

/// Slot migrations from this node and imports into it. Every series is
/// there outside cluster mode too, so dashboards show zeros, not gaps.
fn refresh_slot_moves(server: &Server) {
    let moves = server.cluster.as_ref().map(|c| &c.moves);
    let migrating = moves
        .and_then(|m| m.migrating())
        .map(|m| (m.slots, m.state));
    let importing = moves
        .and_then(|m| m.importing())
        .map(|i| (i.slots, i.state));
    for (series, current, totals) in [
        (&MIGRATION, migrating, moves.map(|m| &m.sent)),
        (&IMPORT, importing, moves.map(|m| &m.received)),
    ] {
        for state in [MoveState::Start, MoveState::Success, MoveState::Fail] {
            let now = current.is_some_and(|(_, s)| s == state);
            gauge!(series.state, "state" => state.name(false)).set(f64::from(now));
        }
        let (first, last) =
            current.map_or((-1.0, -1.0), |((a, b), _)| (f64::from(a), f64::from(b)));
        gauge!(series.first_slot).set(first);
        gauge!(series.last_slot).set(last);
        let total = |tally: fn(&MoveTotals) -> &Tally| totals.map_or(0, |t| tally(t).total());
        counter!(series.keys).absolute(total(|t| &t.keys));
        counter!(series.bytes).absolute(total(|t| &t.bytes));
        counter!(series.finished, "outcome" => "success").absolute(total(|t| &t.succeeded));
        counter!(series.finished, "outcome" => "fail").absolute(total(|t| &t.failed));
    }
}

const REPLICATION_ROLE: &str = "redrock_replication_role";
const REPLICATION_OFFSET: &str = "redrock_replication_offset";
const REPLICATION_CONNECTED_REPLICAS: &str = "redrock_replication_connected_replicas";
const REPLICATION_FULL_SYNCS: &str = "redrock_replication_full_syncs_total";
const REPLICATION_FULL_SYNCS_FAILED: &str = "redrock_replication_full_syncs_failed_total";
const REPLICATION_PARTIAL_SYNCS: &str = "redrock_replication_partial_syncs_total";
const REPLICATION_SENT_BYTES: &str = "redrock_replication_sent_bytes_total";
const REPLICATION_RECEIVED_BYTES: &str = "redrock_replication_received_bytes_total";
const REPLICA_ONLINE: &str = "redrock_replication_replica_online";
const REPLICA_OFFSET: &str = "redrock_replication_replica_offset";
const REPLICA_LAG_SEQUENCES: &str = "redrock_replication_replica_lag_sequences";
const REPLICA_LAG_SECONDS: &str = "redrock_replication_replica_lag_seconds";
const REPLICA_LAST_ACK_SECONDS: &str = "redrock_replication_replica_last_ack_seconds";
const MASTER_LINK_UP: &str = "redrock_replication_master_link_up";
const MASTER_LAST_IO_SECONDS: &str = "redrock_replication_master_last_io_seconds";
const MASTER_SYNC_IN_PROGRESS: &str = "redrock_replication_master_sync_in_progress";

/// Role, offsets, each fed replica (labelled `addr`, ip:port) and, on a
/// replica, its link to the master.
fn refresh_replication(server: &Server) {
    let replication = &server.replication;
    let latest = server.storage.latest_sequence();
    let link = replication.with_link(|l| (l.status, l.last_io.elapsed()));
    gauge!(REPLICATION_ROLE, "role" => "master").set(f64::from(link.is_none()));
    gauge!(REPLICATION_ROLE, "role" => "replica").set(f64::from(link.is_some()));
    gauge!(REPLICATION_OFFSET).set(latest as f64);
    if let Some((status, last_io)) = link {
        gauge!(MASTER_LINK_UP).set(f64::from(status == LinkStatus::Connected));
        gauge!(MASTER_LAST_IO_SECONDS).set(last_io.as_secs_f64());
        gauge!(MASTER_SYNC_IN_PROGRESS).set(f64::from(status == LinkStatus::Sync));
    }
    let replicas = replication.replicas();
    gauge!(REPLICATION_CONNECTED_REPLICAS).set(replicas.len() as f64);
    for replica in &replicas {
        let addr = format!("{}:{}", replica.ip, replica.port);
        let lag = replication.lag(replica, latest);
        gauge!(REPLICA_ONLINE, "addr" => addr.clone()).set(f64::from(replica.state == "online"));
        gauge!(REPLICA_OFFSET, "addr" => addr.clone()).set(replica.offset as f64);
        gauge!(REPLICA_LAG_SEQUENCES, "addr" => addr.clone()).set(lag.sequences as f64);
        gauge!(REPLICA_LAG_SECONDS, "addr" => addr.clone()).set(lag.time.as_secs_f64());
        gauge!(REPLICA_LAST_ACK_SECONDS, "addr" => addr)
            .set(replica.last_ack.elapsed().as_secs_f64());
    }
    for (side, all, failed) in [
        (
            "master",
            &replication.sync_full,
            &replication.sync_full_failed,
        ),
        (
            "replica",
            &replication.sync_full_received,
            &replication.sync_full_received_failed,
        ),
    ] {
        counter!(REPLICATION_FULL_SYNCS, "side" => side).absolute(all.total());
        counter!(REPLICATION_FULL_SYNCS_FAILED, "side" => side).absolute(failed.total());
    }
    counter!(REPLICATION_PARTIAL_SYNCS, "result" => "ok")
        .absolute(replication.sync_partial_ok.total());
    counter!(REPLICATION_PARTIAL_SYNCS, "result" => "err")
        .absolute(replication.sync_partial_err.total());
    counter!(REPLICATION_SENT_BYTES).absolute(server.stats.net_repl_output_bytes.total());
    counter!(REPLICATION_RECEIVED_BYTES).absolute(server.stats.net_repl_input_bytes.total());
}

/// The process's resident memory, from /proc.
pub fn resident_memory_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

/// User and system CPU seconds of the process.
pub fn cpu_seconds() -> (f64, f64) {
    // SAFETY: getrusage only writes into the struct it is given.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (secs(usage.ru_utime), secs(usage.ru_stime))
}

/// The machine's memory, from /proc.
pub fn total_system_memory_bytes() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("MemTotal:"))?;
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .map_or(0, |kb| kb * 1024)
}
