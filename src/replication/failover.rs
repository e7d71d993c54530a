//! FAILOVER: a master hands its role to one of its replicas without losing
//! an acknowledged write, as Redis 7 does. Writes are paused; once the
//! target replica has acknowledged every one of them (or the timeout
//! passed, with FORCE), this node becomes the target's replica, sending
//! `PSYNC <replid> <next> FAILOVER`: the target promotes itself and this
//! node continues from it. The pause then ends, and the writes it held get
//! READONLY, as in Redis.

use super::{replica, FailoverState};
use crate::server::pause::PauseMode;
use crate::server::Server;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What FAILOVER was asked for.
#[derive(Clone, Debug)]
pub struct FailoverRequest {
    /// TO host port; `None`: the first replica that has every write.
    pub target: Option<(String, u16)>,
    pub timeout: Option<Duration>,
    pub force: bool,
}

/// How long the pause could last: until the failover ends one way or the
/// other.
const PAUSE_FOR: Duration = Duration::from_secs(365 * 24 * 3600);
/// How often the wait for the target looks again without news.
const RECHECK: Duration = Duration::from_millis(100);

/// Starts a failover (the command checked that it may).
pub fn start(server: &Arc<Server>, request: FailoverRequest) {
    server
        .replication
        .set_failover_state(FailoverState::WaitingForSync);
    server
        .pause
        .pause(PauseMode::Write, std::time::Instant::now() + PAUSE_FOR);
    match &request.target {
        Some((host, port)) => tracing::info!("FAILOVER requested to {host}:{port}."),
        None => tracing::info!("FAILOVER requested to any replica."),
    }
    tokio::spawn(wait_for_sync(server.clone(), request));
}

/// FAILOVER ABORT, or a failover that cannot go on: writes resume and this
/// node stays (or becomes again) the master.
pub fn abort(server: &Arc<Server>, reason: &str) {
    let was = server.replication.set_failover_state(FailoverState::None);
    if was == FailoverState::None {
        return;
    }
    tracing::warn!("FAILOVER aborted: {reason}");
    if was == FailoverState::InProgress {
        replica::leave_master(server);
    }
    server.replication.failover_changed.notify_waiters();
    server.pause.unpause();
}

/// The failover reached the target: the pause ends.
pub fn finish(server: &Arc<Server>) {
    if server.replication.set_failover_state(FailoverState::None) == FailoverState::InProgress {
        tracing::info!("FAILOVER done: this node is a replica now");
        server.pause.unpause();
    }
}

async fn wait_for_sync(server: Arc<Server>, request: FailoverRequest) {
    let replication = &server.replication;
    let deadline = request.timeout.map(|t| Instant::now() + t);
    let target = loop {
        let acknowledged = replication.acknowledged.notified();
        let changed = replication.failover_changed.notified();
        tokio::pin!(acknowledged, changed);
        acknowledged.as_mut().enable();
        changed.as_mut().enable();
        if replication.failover_state() != FailoverState::WaitingForSync {
            return;
        }
        let latest = server.storage.latest_sequence();
        let synced = replication.replicas().into_iter().find(|r| {
            let wanted = request
                .target
                .as_ref()
                .is_none_or(|(host, port)| *host == r.ip && *port == r.port);
            wanted && r.state == "online" && r.offset >= latest
        });
        if let Some(replica) = synced {
            tracing::info!(
                "Failover target {}:{} is synced, failing over.",
                replica.ip,
                replica.port
            );
            break (replica.ip, replica.port);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            match (&request.target, request.force) {
                (Some((host, port)), true) => {
                    tracing::info!("FAILOVER to {host}:{port} time out exceeded, failing over.");
                    break (host.clone(), *port);
                }
                _ => {
                    abort(&server, "Replica never caught up before timeout");
                    return;
                }
            }
        }
        let wake = deadline.map_or(RECHECK, |d| {
            d.saturating_duration_since(Instant::now()).min(RECHECK)
        });
        tokio::select! {
            _ = &mut acknowledged => {}
            _ = &mut changed => {}
            _ = tokio::time::sleep(wake) => {}
        }
    };
    if replication.failover_state() != FailoverState::WaitingForSync {
        return;
    }
    replication.set_failover_state(FailoverState::InProgress);
    replica::set_master(&server, Some(target));
}
