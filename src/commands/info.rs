//! INFO, laid out as Redis 7 lays it out (sections, field names, order),
//! plus a `rocksdb` section. Fields Redis has but RedRock has no use for
//! (forks, AOF, replication backlog) keep their names with neutral values,
//! so parsers of Redis's INFO read RedRock's unchanged.

use super::{Ctx, COMMANDS};
use crate::error::Result;
use crate::protocol::Reply;
use crate::server::pubsub::Kind;
use crate::server::Server;
use bytes::Bytes;
use std::fmt::Write;
use std::time::{SystemTime, UNIX_EPOCH};

/// Every section, in Redis's order; `rocksdb` is RedRock's own.
const SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "commandstats",
    "errorstats",
    "latencystats",
    "cluster",
    "keyspace",
    "rocksdb",
];

/// Left out of `INFO` and `INFO default`, as in Redis.
const NOT_DEFAULT: &[&str] = &["commandstats", "latencystats"];

pub fn info(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let mut wanted: Vec<&str> = Vec::new();
    let defaults = || SECTIONS.iter().filter(|s| !NOT_DEFAULT.contains(s));
    if argv.len() == 1 {
        wanted.extend(defaults());
    }
    for arg in &argv[1..] {
        let name = String::from_utf8_lossy(arg).to_ascii_lowercase();
        match name.as_str() {
            "default" => wanted.extend(defaults()),
            "all" | "everything" => wanted.extend(SECTIONS),
            other => wanted.extend(SECTIONS.iter().filter(|s| **s == other)),
        }
    }
    let mut out = String::new();
    for section in SECTIONS.iter().filter(|s| wanted.contains(s)) {
        if !out.is_empty() {
            out.push_str("\r\n");
        }
        write_section(ctx.server, section, &mut out);
    }
    Ok(Reply::Verbatim(Bytes::from(out)))
}

fn human_bytes(n: u64) -> String {
    let units = [("G", 1u64 << 30), ("M", 1 << 20), ("K", 1 << 10)];
    for (unit, size) in units {
        if n >= size {
            return format!("{:.2}{unit}", n as f64 / size as f64);
        }
    }
    format!("{n}B")
}

fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Every command and subcommand spec.
fn all_specs() -> impl Iterator<Item = &'static super::CommandSpec> {
    COMMANDS
        .iter()
        .flat_map(|c| std::iter::once(c).chain(c.subcommands.iter()))
}

fn write_section(server: &Server, section: &str, out: &mut String) {
    let stats = &server.stats;
    // Writing to a String cannot fail.
    let _ = match section {
        "server" => {
            let uptime = server.started.elapsed().as_secs();
            let now_us = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_micros())
                .unwrap_or(0);
            let config_file = server
                .config
                .file()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            let executable = std::env::current_exe()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            write!(
                out,
                "# Server\r\nredis_version:{}\r\nredis_git_sha1:00000000\r\nredis_git_dirty:0\r\n\
                 redis_build_id:0\r\nredis_mode:{}\r\nos:{} {}\r\narch_bits:64\r\n\
                 monotonic_clock:POSIX clock_gettime\r\nmultiplexing_api:epoll\r\n\
                 atomicvar_api:c11-builtin\r\ngcc_version:0.0.0\r\nprocess_id:{}\r\n\
                 process_supervised:no\r\nrun_id:{}\r\ntcp_port:{}\r\nserver_time_usec:{now_us}\r\n\
                 uptime_in_seconds:{uptime}\r\nuptime_in_days:{}\r\nhz:10\r\nconfigured_hz:10\r\n\
                 lru_clock:{}\r\nexecutable:{executable}\r\nconfig_file:{config_file}\r\n\
                 io_threads_active:0\r\nredrock_version:{}\r\nredrock_git_sha1:{}\r\n",
                super::connection::REDIS_VERSION,
                server.mode(),
                std::env::consts::OS,
                std::env::consts::ARCH,
                std::process::id(),
                server.run_id,
                server.port,
                uptime / 86400,
                unix_seconds() & ((1 << 24) - 1),
                env!("CARGO_PKG_VERSION"),
                env!("REDROCK_GIT_REVISION"),
            )
        }
        "clients" => write!(
            out,
            "# Clients\r\nconnected_clients:{}\r\ncluster_connections:0\r\nmaxclients:{}\r\n\
             client_recent_max_input_buffer:0\r\nclient_recent_max_output_buffer:0\r\n\
             blocked_clients:{}\r\ntracking_clients:0\r\nclients_in_timeout_table:{}\r\n",
            server.clients.count(),
            server.config.read().maxclients,
            server.blocked_clients(),
            0,
        ),
        "memory" => {
            let rss = crate::metrics::resident_memory_bytes();
            let peak = stats.memory_peak(rss);
            let rocks = server.storage.rocksdb_stats();
            let total = crate::metrics::total_system_memory_bytes();
            let (scripts, script_bytes) = server.scripts.cache_stats();
            let libraries = server.scripts.functions.libraries();
            let functions: usize = libraries.values().map(|l| l.functions.len()).sum();
            write!(
                out,
                "# Memory\r\nused_memory:{rss}\r\nused_memory_human:{}\r\nused_memory_rss:{rss}\r\n\
                 used_memory_rss_human:{}\r\nused_memory_peak:{peak}\r\nused_memory_peak_human:{}\r\n\
                 total_system_memory:{total}\r\ntotal_system_memory_human:{}\r\n\
                 maxmemory:0\r\nmaxmemory_human:0B\r\nmaxmemory_policy:noeviction\r\n\
                 mem_fragmentation_ratio:1.00\r\nmem_allocator:libc\r\n\
                 rocksdb_block_cache_usage:{}\r\nrocksdb_block_cache_capacity:{}\r\n\
                 rocksdb_memtable_size:{}\r\n\
                 used_memory_scripts_eval:{script_bytes}\r\nnumber_of_cached_scripts:{scripts}\r\n\
                 number_of_functions:{functions}\r\nnumber_of_libraries:{}\r\n",
                human_bytes(rss),
                human_bytes(rss),
                human_bytes(peak),
                human_bytes(total),
                rocks.block_cache_usage_bytes,
                rocks.block_cache_capacity_bytes,
                rocks.memtable_bytes,
                libraries.len(),
            )
        }
        "persistence" => {
            // BGSAVE's RocksDB checkpoints stand in for Redis's RDB files.
            let backups = &server.backups;
            write!(
                out,
                "# Persistence\r\nloading:0\r\nasync_loading:0\r\ncurrent_cow_peak:0\r\n\
                 current_cow_size:0\r\ncurrent_cow_size_age:0\r\ncurrent_fork_perc:0.00\r\n\
                 current_save_keys_processed:0\r\ncurrent_save_keys_total:0\r\n\
                 rdb_changes_since_last_save:0\r\nrdb_bgsave_in_progress:{}\r\n\
                 rdb_last_save_time:{}\r\nrdb_last_bgsave_status:{}\r\n\
                 rdb_last_bgsave_time_sec:{}\r\nrdb_current_bgsave_time_sec:{}\r\nrdb_saves:{}\r\n\
                 aof_enabled:0\r\naof_rewrite_in_progress:0\r\naof_rewrite_scheduled:0\r\n\
                 aof_last_rewrite_time_sec:-1\r\naof_current_rewrite_time_sec:-1\r\n\
                 aof_last_bgrewrite_status:ok\r\naof_rewrites:0\r\naof_last_write_status:{}\r\n",
                u8::from(backups.in_progress()),
                backups.last_save(),
                if backups.last_ok() { "ok" } else { "err" },
                backups.last_duration(),
                backups.current_duration(),
                backups.saves(),
                // Writes reach RocksDB's log as Redis's reach the AOF.
                if server.storage.health().stopped() {
                    "err"
                } else {
                    "ok"
                },
            )
        }
        "stats" => {
            let rates = stats.instantaneous();
            write!(
                out,
                "# Stats\r\ntotal_connections_received:{}\r\ntotal_commands_processed:{}\r\n\
                 instantaneous_ops_per_sec:{}\r\ntotal_net_input_bytes:{}\r\n\
                 total_net_output_bytes:{}\r\ntotal_net_repl_input_bytes:{}\r\n\
                 total_net_repl_output_bytes:{}\r\ninstantaneous_input_kbps:{:.2}\r\n\
                 instantaneous_output_kbps:{:.2}\r\ninstantaneous_input_repl_kbps:{:.2}\r\n\
                 instantaneous_output_repl_kbps:{:.2}\r\nrejected_connections:{}\r\nsync_full:{}\r\n\
                 sync_partial_ok:{}\r\nsync_partial_err:{}\r\nexpired_keys:{}\r\n\
                 expired_stale_perc:0.00\r\nexpired_time_cap_reached_count:0\r\nevicted_keys:0\r\n\
                 evicted_clients:0\r\nkeyspace_hits:{}\r\nkeyspace_misses:{}\r\npubsub_channels:{}\r\n\
                 pubsub_patterns:{}\r\npubsubshard_channels:{}\r\nlatest_fork_usec:0\r\n\
                 total_forks:0\r\nunexpected_error_replies:0\r\ntotal_error_replies:{}\r\n",
                stats.connections_received.get(),
                stats.commands_processed.get(),
                rates.ops_per_sec,
                stats.net_input_bytes.get(),
                stats.net_output_bytes.get(),
                stats.net_repl_input_bytes.get(),
                stats.net_repl_output_bytes.get(),
                rates.input_kbps,
                rates.output_kbps,
                rates.input_repl_kbps,
                rates.output_repl_kbps,
                stats.connections_rejected.get(),
                server.replication.sync_full.get(),
                server.replication.sync_partial_ok.get(),
                server.replication.sync_partial_err.get(),
                server.storage.expired_keys.get(),
                server.storage.keyspace_hits.get(),
                server.storage.keyspace_misses.get(),
                server.pubsub.active_count(Kind::Channel),
                server.pubsub.active_count(Kind::Pattern),
                server.pubsub.active_count(Kind::ShardChannel),
                stats.error_replies.get(),
            )
        }
        "replication" => {
            super::replication::info_section(server, out);
            Ok(())
        }
        "cpu" => {
            let (user, sys) = crate::metrics::cpu_seconds();
            write!(
                out,
                "# CPU\r\nused_cpu_sys:{sys:.6}\r\nused_cpu_user:{user:.6}\r\n\
                 used_cpu_sys_children:0.000000\r\nused_cpu_user_children:0.000000\r\n"
            )
        }
        "modules" => write!(out, "# Modules\r\n"),
        "commandstats" => {
            out.push_str("# Commandstats\r\n");
            for spec in all_specs() {
                let s = spec.stats.snapshot();
                if s.calls == 0 && s.rejected == 0 {
                    continue;
                }
                let per_call = if s.calls == 0 {
                    0.0
                } else {
                    s.micros as f64 / s.calls as f64
                };
                let _ = write!(
                    out,
                    "cmdstat_{}:calls={},usec={},usec_per_call={per_call:.2},rejected_calls={},failed_calls={}\r\n",
                    spec.full_name, s.calls, s.micros, s.rejected, s.failed
                );
            }
            Ok(())
        }
        "errorstats" => {
            out.push_str("# Errorstats\r\n");
            for (code, count) in stats.errors_by_code() {
                let _ = write!(out, "errorstat_{code}:count={count}\r\n");
            }
            Ok(())
        }
        "latencystats" => {
            out.push_str("# Latencystats\r\n");
            for spec in all_specs() {
                if let Some(p) = spec.stats.latency.percentiles(&[50.0, 99.0, 99.9]) {
                    let _ = write!(
                        out,
                        "latency_percentiles_usec_{}:p50={:.3},p99={:.3},p99.9={:.3}\r\n",
                        spec.full_name, p[0] as f64, p[1] as f64, p[2] as f64
                    );
                }
            }
            Ok(())
        }
        "cluster" => write!(
            out,
            "# Cluster\r\ncluster_enabled:{}\r\n",
            u8::from(server.cluster.is_some())
        ),
        "keyspace" => {
            out.push_str("# Keyspace\r\n");
            for db in &server.databases {
                let keys = db.counts.keys();
                if keys > 0 {
                    let _ = write!(
                        out,
                        "db{}:keys={keys},expires={},avg_ttl=0\r\n",
                        db.index,
                        db.counts.expires()
                    );
                }
            }
            Ok(())
        }
        "rocksdb" => {
            let r = server.storage.rocksdb_stats();
            let _ = write!(
                out,
                "# RocksDB\r\nblock_cache_usage:{}\r\nblock_cache_capacity:{}\r\n\
                 block_cache_hits:{}\r\nblock_cache_misses:{}\r\nestimate_live_data_size:{}\r\n\
                 total_sst_files_size:{}\r\nmemtable_size:{}\r\npending_compaction_bytes:{}\r\n\
                 num_running_compactions:{}\r\nnum_running_flushes:{}\r\nis_write_stopped:{}\r\n\
                 actual_delayed_write_rate:{}\r\nwrite_stall_micros:{}\r\nwal_size:{}\r\n",
                r.block_cache_usage_bytes,
                r.block_cache_capacity_bytes,
                r.block_cache_hits,
                r.block_cache_misses,
                r.live_data_bytes,
                r.sst_files_bytes,
                r.memtable_bytes,
                r.pending_compaction_bytes,
                r.running_compactions,
                r.running_flushes,
                u8::from(r.write_stopped),
                r.delayed_write_rate,
                r.stall_micros,
                r.wal_bytes,
            );
            let health = server.storage.health();
            let fault = health.fault();
            let refusal = health.refusal();
            let _ = write!(
                out,
                "background_errors:{}\r\nwrites_refused:{}\r\nwrites_refused_reason:{}\r\n\
                 writes_refused_since:{}\r\nwrites_refused_error:{}\r\nmax_db_size:{}\r\n\
                 max_db_size_reached:{}\r\n",
                r.background_errors,
                u8::from(refusal.is_some()),
                refusal.map_or("none", |(reason, _)| reason),
                refusal.map_or(0, |(_, since)| since / 1000),
                fault
                    .as_ref()
                    .map(|f| f.message.replace(['\r', '\n'], " "))
                    .unwrap_or_default(),
                health.max_db_size(),
                u8::from(health.over_max_db_size()),
            );
            for (cf, keys) in server.storage.property_per_cf("rocksdb.estimate-num-keys") {
                let _ = write!(out, "estimate_keys[{cf}]:{keys}\r\n");
            }
            Ok(())
        }
        _ => Ok(()),
    };
}
