//! Replication commands: REPLICAOF (SLAVEOF), ROLE, WAIT, and what a
//! replica sends its master (REPLCONF, PSYNC); INFO replication's text.

use super::args::{int, is, text};
use super::Ctx;
use crate::error::{Error, Result};
use crate::protocol::Reply;
use crate::replication::master::PsyncRequest;
use crate::replication::{replica, LinkStatus};
use crate::server::Server;
use bytes::Bytes;
use std::fmt::Write;
use std::sync::Arc;
use std::time::Duration;

/// What WAIT waits for: `replicas` acknowledgements of `offset`, until
/// `timeout` (none: forever).
#[derive(Clone, Copy, Debug)]
pub struct WaitRequest {
    pub replicas: usize,
    pub offset: u64,
    pub timeout: Option<Duration>,
}

/// `REPLICAOF host port` / `REPLICAOF NO ONE` (and SLAVEOF).
pub fn replicaof(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    if ctx.server.cluster.is_some() {
        return Err(Error::err("REPLICAOF not allowed in cluster mode."));
    }
    let master = if is(&argv[1], "no") && is(&argv[2], "one") {
        None
    } else {
        let port = std::str::from_utf8(&argv[2])
            .ok()
            .and_then(|p| p.parse::<u16>().ok())
            .ok_or_else(|| Error::err("Invalid master port"))?;
        Some((text(&argv[1]), port))
    };
    let already = master.is_some() && ctx.server.replication.master() == master;
    if already {
        return Ok(Reply::status("OK Already connected to specified master"));
    }
    let setting = master
        .as_ref()
        .map(|(host, port)| format!("{host} {port}"))
        .unwrap_or_default();
    if replica::set_master(ctx.server, master.clone()) {
        ctx.server.config.set_replicaof(setting);
        match &master {
            Some((host, port)) => tracing::info!("now a replica of {host}:{port}"),
            None => tracing::info!("now a master"),
        }
    }
    Ok(Reply::ok())
}

/// `ROLE`, as Redis shapes it; offsets are sequence numbers.
pub fn role(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Result<Reply> {
    let server = ctx.server;
    let offset = server.storage.latest_sequence() as i64;
    if let Some((host, port, status)) = server
        .replication
        .with_link(|l| (l.host.clone(), l.port, l.status))
    {
        // Redis has an offset from its master only while linked: -1 else.
        let received = match status {
            LinkStatus::Connected => offset,
            _ => -1,
        };
        return Ok(Reply::Array(vec![
            Reply::bulk("slave"),
            Reply::bulk(host),
            Reply::Integer(port as i64),
            Reply::bulk(status.name()),
            Reply::Integer(received),
        ]));
    }
    let replicas = server
        .replication
        .replicas()
        .into_iter()
        .filter(|r| r.state == "online")
        .map(|r| {
            Reply::Array(vec![
                Reply::bulk(r.ip),
                Reply::bulk(r.port.to_string()),
                Reply::bulk(r.offset.to_string()),
            ])
        })
        .collect();
    Ok(Reply::Array(vec![
        Reply::bulk("master"),
        Reply::Integer(offset),
        Reply::Array(replicas),
    ]))
}

/// `REPLCONF option value ...`: what a replica tells its master before
/// PSYNC (its listening port and address; `capa` and `ack` are accepted).
pub fn replconf(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    if argv.len().is_multiple_of(2) {
        return Err(Error::Syntax);
    }
    for pair in argv[1..].chunks(2) {
        let (option, value) = (&pair[0], &pair[1]);
        if is(option, "listening-port") {
            let port = int(value)?;
            ctx.client.replica_port =
                u16::try_from(port).map_err(|_| Error::err("Invalid port"))?;
        } else if is(option, "ip-address") {
            ctx.client.replica_ip = Some(text(value));
        } else if is(option, "capa") || is(option, "rdb-only") || is(option, "rdb-filter-only") {
        } else if is(option, "ack") || is(option, "getack") {
            // Only a fed replica's link carries acknowledgements.
            return Ok(Reply::Nil);
        } else {
            return Err(Error::err(format!(
                "Unrecognized REPLCONF option: {}",
                text(option)
            )));
        }
    }
    Ok(Reply::ok())
}

/// `PSYNC replid offset [FAILOVER]`: this connection becomes the feed of a
/// replica (see `replication::master`), once the replies before it are
/// sent. With FAILOVER (sent by this replica's master during FAILOVER),
/// this replica first takes over as the master.
pub fn psync(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    if ctx.client.multi.is_some() {
        return Err(Error::err("Command not allowed inside a transaction"));
    }
    match argv.len() {
        3 => {}
        4 if is(&argv[3], "failover") => {
            let replication = &ctx.server.replication;
            if replication.master().is_none() {
                return Err(Error::err("PSYNC FAILOVER can't be sent to a master."));
            }
            if argv[1] != replication.ids().replid.as_bytes() {
                return Err(Error::err("PSYNC FAILOVER replid must match my replid."));
            }
            tracing::info!("taking over as the master (FAILOVER of my master)");
            replica::set_master(ctx.server, None);
            ctx.server.config.set_replicaof(String::new());
        }
        _ => return Err(Error::Syntax),
    }
    let next = std::str::from_utf8(&argv[2])
        .ok()
        .and_then(|o| o.parse::<i64>().ok())
        .ok_or(Error::NotInteger)?;
    let ip = ctx
        .client
        .replica_ip
        .clone()
        .unwrap_or_else(|| ctx.client.handle.addr.ip().to_string());
    ctx.client.takeover = Some(PsyncRequest {
        replid: text(&argv[1]),
        next: next.max(0) as u64,
        ip,
        port: ctx.client.replica_port,
    });
    Ok(Reply::Nil)
}

/// `FAILOVER [TO host port [FORCE]] [ABORT] [TIMEOUT milliseconds]`.
pub fn failover(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    use crate::replication::failover::{self, FailoverRequest};
    use crate::replication::FailoverState;
    let server = ctx.server;
    let replication = &server.replication;
    if server.cluster.is_some() {
        return Err(Error::err(
            "FAILOVER not allowed in cluster mode. Use CLUSTER FAILOVER command instead.",
        ));
    }
    if argv.len() == 2 && is(&argv[1], "abort") {
        if replication.failover_state() == FailoverState::None {
            return Err(Error::err("No failover in progress."));
        }
        failover::abort(server, "Failover manually aborted");
        return Ok(Reply::ok());
    }
    let mut request = FailoverRequest {
        target: None,
        timeout: None,
        force: false,
    };
    let mut i = 1;
    while i < argv.len() {
        if is(&argv[i], "timeout") && i + 1 < argv.len() && request.timeout.is_none() {
            let ms = int(&argv[i + 1])?;
            if ms <= 0 {
                return Err(Error::err("FAILOVER timeout must be greater than 0"));
            }
            request.timeout = Some(Duration::from_millis(ms as u64));
            i += 2;
        } else if is(&argv[i], "to") && i + 2 < argv.len() && request.target.is_none() {
            let port = int(&argv[i + 2])?;
            request.target = Some((text(&argv[i + 1]), u16::try_from(port).unwrap_or(0)));
            i += 3;
        } else if is(&argv[i], "force") && !request.force {
            request.force = true;
            i += 1;
        } else {
            return Err(Error::Syntax);
        }
    }
    if replication.failover_state() != FailoverState::None {
        return Err(Error::err("FAILOVER already in progress."));
    }
    if replication.master().is_some() {
        return Err(Error::err(
            "FAILOVER is not valid when server is a replica.",
        ));
    }
    let replicas = replication.replicas();
    if replicas.is_empty() {
        return Err(Error::err("FAILOVER requires connected replicas."));
    }
    if request.force && (request.timeout.is_none() || request.target.is_none()) {
        return Err(Error::err(
            "FAILOVER with force option requires both a timeout and target HOST and IP.",
        ));
    }
    if let Some((host, port)) = &request.target {
        let Some(target) = replicas.iter().find(|r| r.ip == *host && r.port == *port) else {
            return Err(Error::err(
                "FAILOVER target HOST and PORT is not a replica.",
            ));
        };
        if target.state != "online" {
            return Err(Error::err("FAILOVER target replica is not online."));
        }
    }
    failover::start(server, request);
    Ok(Reply::ok())
}

/// `WAIT numreplicas timeout`: the connection waits (see `wait_request`)
/// until that many replicas acknowledged every write so far.
pub fn wait(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let replicas = int(&argv[1])?;
    let timeout = std::str::from_utf8(&argv[2])
        .ok()
        .and_then(|t| t.parse::<i64>().ok())
        .ok_or_else(|| Error::err("timeout is not an integer or out of range"))?;
    if timeout < 0 {
        return Err(Error::err("timeout is negative"));
    }
    if ctx.server.replication.master().is_some() {
        return Err(Error::err(
            "WAIT cannot be used with replica instances. Please also note that since Redis 4.0 \
             if a replica is configured to be writable (which is not the default) writes to \
             replicas are just local and are not propagated.",
        ));
    }
    let request = WaitRequest {
        replicas: replicas.max(0) as usize,
        offset: ctx.server.storage.latest_sequence(),
        timeout: (timeout > 0).then(|| Duration::from_millis(timeout as u64)),
    };
    if ctx.in_transaction()
        || ctx.server.replication.acknowledged_count(request.offset) >= request.replicas
    {
        // Inside EXEC nothing waits, as in Redis.
        return Ok(Reply::Integer(
            ctx.server.replication.acknowledged_count(request.offset) as i64,
        ));
    }
    ctx.client.wait = Some(request);
    Ok(Reply::Nil)
}

/// Waits for a WAIT's acknowledgements; the reply is how many came.
pub async fn wait_for_replicas(server: &Arc<Server>, request: WaitRequest) -> Reply {
    let replication = &server.replication;
    let deadline = request.timeout.map(|t| tokio::time::Instant::now() + t);
    loop {
        let acknowledged = replication.acknowledged.notified();
        tokio::pin!(acknowledged);
        acknowledged.as_mut().enable();
        let count = replication.acknowledged_count(request.offset);
        if count >= request.replicas {
            return Reply::Integer(count as i64);
        }
        let expired = match deadline {
            Some(deadline) => tokio::select! {
                _ = &mut acknowledged => false,
                _ = tokio::time::sleep_until(deadline) => true,
            },
            None => {
                acknowledged.await;
                false
            }
        };
        if expired {
            return Reply::Integer(replication.acknowledged_count(request.offset) as i64);
        }
    }
}

/// The refusal a command gets from this node's replication state: writes
/// on a replica, writes without enough good replicas
/// (`min-replicas-to-write`), and everything but a few commands while a
/// replica's link is down and `replica-serve-stale-data` is no.
pub fn refusal(server: &Server, flags: u32) -> Option<Error> {
    use super::flags::{STALE, WRITE};
    let replication = &server.replication;
    let replica = server.storage.is_follower();
    if replica && flags & WRITE != 0 {
        return Some(Error::coded(crate::storage::REPLICA_WRITE));
    }
    if replica && flags & STALE == 0 && !replication.link_up() {
        let serve_stale = server.config.read().replica_serve_stale_data;
        if !serve_stale {
            return Some(Error::coded(
                "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
            ));
        }
    }
    if !replica && flags & WRITE != 0 {
        let (minimum, max_lag) = {
            let config = server.config.read();
            (config.min_replicas_to_write, config.min_replicas_max_lag)
        };
        if minimum > 0 && (replication.good_replicas(max_lag) as u64) < minimum {
            return Some(Error::coded(
                "NOREPLICAS Not enough good replicas to write.",
            ));
        }
    }
    None
}

/// INFO's replication section.
pub fn info_section(server: &Server, out: &mut String) {
    let replication = &server.replication;
    let ids = replication.ids();
    let offset = server.storage.latest_sequence();
    let config = server.config.read();
    out.push_str("# Replication\r\n");
    let link = replication.with_link(|l| {
        (
            l.host.clone(),
            l.port,
            l.status,
            l.last_io.elapsed().as_secs(),
            l.down_since.elapsed().as_secs(),
            l.sync_read_bytes,
        )
    });
    match link {
        Some((host, port, status, last_io, down_for, sync_read)) => {
            let up = status == LinkStatus::Connected;
            let _ = write!(
                out,
                "role:slave\r\nmaster_host:{host}\r\nmaster_port:{port}\r\n\
                 master_link_status:{}\r\nmaster_last_io_seconds_ago:{}\r\n\
                 master_sync_in_progress:{}\r\n",
                if up { "up" } else { "down" },
                if up { last_io as i64 } else { -1 },
                u8::from(status == LinkStatus::Sync),
            );
            let _ = write!(
                out,
                "slave_read_repl_offset:{offset}\r\nslave_repl_offset:{offset}\r\n"
            );
            if status == LinkStatus::Sync {
                // The checkpoint comes file by file: its total is not known
                // ahead, as in Redis's diskless sync.
                let _ = write!(
                    out,
                    "master_sync_total_bytes:-1\r\nmaster_sync_read_bytes:{sync_read}\r\n\
                     master_sync_left_bytes:-1\r\nmaster_sync_perc:0.00\r\n\
                     master_sync_last_io_seconds_ago:{last_io}\r\n"
                );
            }
            if !up {
                let _ = write!(out, "master_link_down_since_seconds:{down_for}\r\n");
            }
            let _ = write!(
                out,
                "slave_priority:{}\r\nslave_read_only:1\r\nreplica_announced:1\r\n",
                config.replica_priority
            );
        }
        None => out.push_str("role:master\r\n"),
    }
    let replicas = replication.replicas();
    let _ = write!(out, "connected_slaves:{}\r\n", replicas.len());
    for (i, r) in replicas.iter().enumerate() {
        let _ = write!(
            out,
            "slave{i}:ip={},port={},state={},offset={},lag={}\r\n",
            r.ip,
            r.port,
            r.state,
            r.offset,
            r.last_ack.elapsed().as_secs()
        );
    }
    if config.min_replicas_to_write > 0 {
        let _ = write!(
            out,
            "min_slaves_good_slaves:{}\r\n",
            replication.good_replicas(config.min_replicas_max_lag)
        );
    }
    let _ = write!(
        out,
        "master_failover_state:{}\r\nmaster_replid:{}\r\nmaster_replid2:{}\r\n\
         master_repl_offset:{offset}\r\nsecond_repl_offset:{}\r\nrepl_backlog_active:1\r\n\
         repl_backlog_size:{}\r\nrepl_backlog_first_byte_offset:1\r\nrepl_backlog_histlen:{offset}\r\n",
        replication.failover_state().name(),
        ids.replid,
        ids.replid2,
        ids.second_offset,
        config.wal_size_limit_mb << 20,
    );
}
