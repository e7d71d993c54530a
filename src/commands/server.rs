//! Server commands: INFO, DBSIZE, FLUSHDB, FLUSHALL, TIME, SHUTDOWN.

use super::args::is;
use super::connection::REDIS_VERSION;
use super::{Ctx, COMMANDS};
use crate::error::{Error, Result};
use crate::protocol::Reply;
use crate::server::Server;
use bytes::Bytes;
use std::fmt::Write;
use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

pub fn dbsize(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Result<Reply> {
    Ok(Reply::Integer(ctx.db().size() as i64))
}

/// Checks FLUSHDB / FLUSHALL's optional ASYNC or SYNC.
fn flush_mode(argv: &[Bytes]) -> Result<()> {
    match argv.len() {
        1 => Ok(()),
        2 if is(&argv[1], "async") || is(&argv[1], "sync") => Ok(()),
        _ => Err(Error::Syntax),
    }
}

pub fn flushdb(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    flush_mode(argv)?;
    ctx.db().flush()?;
    Ok(Reply::ok())
}

pub fn flushall(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    flush_mode(argv)?;
    crate::types::keyspace::flush_all(&ctx.server.storage, ctx.writes)?;
    Ok(Reply::ok())
}

/// COMPACT (as in Kvrocks): compacts every column family now, which also
/// drops the members of deleted collections.
pub fn compact(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Result<Reply> {
    ctx.server.storage.compact_all();
    Ok(Reply::ok())
}

pub fn time(_ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Result<Reply> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Ok(Reply::Array(vec![
        Reply::Bulk(Bytes::from(now.as_secs().to_string())),
        Reply::Bulk(Bytes::from(now.subsec_micros().to_string())),
    ]))
}

pub fn shutdown(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let mut abort = false;
    for arg in &argv[1..] {
        if is(arg, "abort") {
            abort = true;
        } else if !["nosave", "save", "now", "force"]
            .iter()
            .any(|w| is(arg, w))
        {
            return Err(Error::Syntax);
        }
    }
    if abort {
        if argv.len() > 2 {
            return Err(Error::Syntax);
        }
        return Err(Error::err("No shutdown in progress."));
    }
    tracing::info!("SHUTDOWN requested by client {}", ctx.client.handle.id);
    ctx.server.begin_shutdown();
    // As in Redis, the client gets no reply: its connection closes.
    ctx.client.close_silently = true;
    Ok(Reply::ok())
}

/// The sections INFO prints by default, in order.
const DEFAULT_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "cluster",
    "errorstats",
    "keyspace",
];

/// Every section `INFO all` prints.
const ALL_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "commandstats",
    "cluster",
    "errorstats",
    "keyspace",
    "rocksdb",
];

pub fn info(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let mut wanted: Vec<&str> = Vec::new();
    if argv.len() == 1 {
        wanted.extend(DEFAULT_SECTIONS);
    }
    for arg in &argv[1..] {
        let name = String::from_utf8_lossy(arg).to_ascii_lowercase();
        match name.as_str() {
            "default" => wanted.extend(DEFAULT_SECTIONS),
            "all" | "everything" => wanted.extend(ALL_SECTIONS),
            other => {
                if let Some(section) = ALL_SECTIONS.iter().find(|s| **s == other) {
                    wanted.push(section);
                }
            }
        }
    }
    let mut out = String::new();
    for section in ALL_SECTIONS.iter().filter(|s| wanted.contains(s)) {
        if !out.is_empty() {
            out.push_str("\r\n");
        }
        write_section(ctx.server, ctx.client.handle.id, section, &mut out);
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

fn write_section(server: &Server, _client: u64, section: &str, out: &mut String) {
    let stats = &server.stats;
    let load = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
    match section {
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
            let _ = write!(
                out,
                "# Server\r\nredis_version:{REDIS_VERSION}\r\nredrock_version:{}\r\n\
                 redis_git_sha1:00000000\r\nredis_git_dirty:0\r\nredis_mode:{}\r\n\
                 os:{} {}\r\narch_bits:64\r\nmultiplexing_api:epoll\r\nprocess_id:{}\r\n\
                 run_id:{}\r\ntcp_port:{}\r\nserver_time_usec:{now_us}\r\nuptime_in_seconds:{uptime}\r\n\
                 uptime_in_days:{}\r\nexecutable:{executable}\r\nconfig_file:{config_file}\r\n",
                env!("CARGO_PKG_VERSION"),
                server.mode(),
                std::env::consts::OS,
                std::env::consts::ARCH,
                std::process::id(),
                server.run_id,
                server.port,
                uptime / 86400,
            );
        }
        "clients" => {
            let _ = write!(
                out,
                "# Clients\r\nconnected_clients:{}\r\ncluster_connections:0\r\nmaxclients:{}\r\n\
                 blocked_clients:{}\r\ntracking_clients:0\r\n",
                server.clients.count(),
                server.config.read().maxclients,
                server.blocked.count(),
            );
        }
        "memory" => {
            let rss = resident_memory_bytes();
            let (cache_used, cache_capacity) = server.storage.block_cache_usage();
            let _ = write!(
                out,
                "# Memory\r\nused_memory:{rss}\r\nused_memory_human:{}\r\nused_memory_rss:{rss}\r\n\
                 used_memory_rss_human:{}\r\nmaxmemory:0\r\nmaxmemory_human:0B\r\n\
                 maxmemory_policy:noeviction\r\nmem_allocator:libc\r\n\
                 rocksdb_block_cache_usage:{cache_used}\r\nrocksdb_block_cache_capacity:{cache_capacity}\r\n",
                human_bytes(rss),
                human_bytes(rss),
            );
        }
        "persistence" => {
            let started = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0)
                - server.started.elapsed().as_secs();
            let _ = write!(
                out,
                "# Persistence\r\nloading:0\r\nasync_loading:0\r\nrdb_changes_since_last_save:0\r\n\
                 rdb_bgsave_in_progress:0\r\nrdb_last_save_time:{started}\r\n\
                 rdb_last_bgsave_status:ok\r\naof_enabled:0\r\naof_rewrite_in_progress:0\r\n"
            );
        }
        "stats" => {
            let _ = write!(
                out,
                "# Stats\r\ntotal_connections_received:{}\r\ntotal_commands_processed:{}\r\n\
                 total_net_input_bytes:{}\r\ntotal_net_output_bytes:{}\r\nrejected_connections:{}\r\n\
                 expired_keys:{}\r\nevicted_keys:0\r\nkeyspace_hits:{}\r\nkeyspace_misses:{}\r\n\
                 total_error_replies:{}\r\n",
                load(&stats.connections_received),
                load(&stats.commands_processed),
                load(&stats.net_input_bytes),
                load(&stats.net_output_bytes),
                load(&stats.connections_rejected),
                load(&server.storage.expired_keys),
                load(&stats.keyspace_hits),
                load(&stats.keyspace_misses),
                load(&stats.error_replies),
            );
        }
        "replication" => {
            let _ = write!(
                out,
                "# Replication\r\nrole:master\r\nconnected_slaves:0\r\nmaster_replid:{}\r\n\
                 master_repl_offset:0\r\n",
                server.run_id
            );
        }
        "cpu" => {
            let (user, sys) = cpu_seconds();
            let _ = write!(
                out,
                "# CPU\r\nused_cpu_sys:{sys:.6}\r\nused_cpu_user:{user:.6}\r\n"
            );
        }
        "commandstats" => {
            out.push_str("# Commandstats\r\n");
            for command in &COMMANDS {
                for spec in std::iter::once(command).chain(command.subcommands.iter()) {
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
            }
        }
        "cluster" => {
            let _ = write!(
                out,
                "# Cluster\r\ncluster_enabled:{}\r\n",
                u8::from(server.cluster.is_some())
            );
        }
        "errorstats" => {
            out.push_str("# Errorstats\r\n");
            for (code, count) in stats.errors_by_code() {
                let _ = write!(out, "errorstat_{code}:count={count}\r\n");
            }
        }
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
        }
        "rocksdb" => {
            out.push_str("# RocksDB\r\n");
            let (cache_used, cache_capacity) = server.storage.block_cache_usage();
            let _ = write!(
                out,
                "block_cache_usage:{cache_used}\r\nblock_cache_capacity:{cache_capacity}\r\n"
            );
            for (cf, keys) in server.storage.property_per_cf("rocksdb.estimate-num-keys") {
                let _ = write!(out, "estimate_keys[{cf}]:{keys}\r\n");
            }
        }
        _ => {}
    }
}
