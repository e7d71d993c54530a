//! The server: listeners, connection tasks, the client registry, and
//! shutdown.

pub mod backup;
mod blocking;
mod clients;
pub mod cluster;
pub mod cluster_publish;
mod connection;
mod http;
pub mod monitor;
pub mod notifications;
pub mod pause;
pub mod pubsub;
pub mod slowlog;
mod stats;
mod watches;

pub use blocking::{BlockRequest, BlockedClients};
pub use clients::{
    ClientHandle, ClientKind, ClientRegistry, LibraryAttribute, PubSubCounters, Unblock,
};
pub use connection::{ClientState, DeferredPublish};
pub use stats::Stats;
pub use watches::{ClientWatch, Watches};

use crate::config::{Config, SharedConfig};
use crate::storage::Storage;
use crate::types::keyspace::ScanCursors;
use crate::types::{spawn_active_expiry, KeyspaceHandle};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Everything the connections share.
pub struct Server {
    pub config: SharedConfig,
    pub storage: Arc<Storage>,
    /// The keyspaces of `SELECT 0` .. `SELECT databases-1`.
    pub databases: Vec<Arc<KeyspaceHandle>>,
    pub clients: ClientRegistry,
    /// This node's replication: its role, its master link, its replicas.
    pub replication: crate::replication::Replication,
    /// Cluster mode's state; `None` in standalone mode.
    pub cluster: Option<cluster::Cluster>,
    /// Clients waiting in blocking commands, by key.
    pub blocked: Arc<BlockedClients>,
    /// Keys watched by clients (WATCH), told of every write.
    pub watches: Arc<Watches>,
    /// CLIENT PAUSE's state and the clients it holds.
    pub pause: pause::ClientPause,
    /// Pub/Sub subscriptions; `publish` delivers to this node's subscribers.
    pub pubsub: Arc<pubsub::PubSub>,
    /// Keyspace notifications (`notify-keyspace-events`).
    pub keyspace_events: Arc<notifications::KeyspaceEvents>,
    /// Cluster mode: forwards PUBLISH to the other nodes.
    pub publish_forwarder: Option<cluster_publish::Forwarder>,
    pub stats: Stats,
    pub slowlog: slowlog::SlowLog,
    /// The MONITOR clients.
    pub monitors: monitor::Monitors,
    /// The script cache, the function libraries and the running scripts.
    pub scripts: crate::scripting::Scripts,
    pub backups: backup::Backups,
    pub scan_cursors: ScanCursors,
    pub started: Instant,
    /// A random id for this run, as INFO's run_id.
    pub run_id: String,
    /// The TCP port actually listened on.
    pub port: u16,
    shutdown: watch::Sender<bool>,
}

impl Server {
    /// Asks every task to stop: the listeners, then the connections.
    pub fn begin_shutdown(&self) {
        // A running script would keep its thread, and so the process,
        // alive: it is stopped and its writes dropped, as an exit would.
        self.scripts.running.stop_all();
        self.shutdown.send_replace(true);
    }

    /// `cluster` or `standalone`, as INFO and HELLO say.
    pub fn mode(&self) -> &'static str {
        if self.cluster.is_some() {
            "cluster"
        } else {
            "standalone"
        }
    }

    /// Clients waiting in a blocking command or held by CLIENT PAUSE, as
    /// Redis counts its blocked clients.
    pub fn blocked_clients(&self) -> usize {
        self.blocked.count() + self.pause.waiting()
    }

    /// A receiver that sees `true` once shutdown has begun.
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }
}

/// A random id of 40 hex digits: INFO's run_id, and a node id as Redis
/// Cluster shapes them.
pub fn random_id() -> String {
    (0..redrock_cluster::NODE_ID_LEN)
        .map(|_| char::from_digit(rand::random_range(0..16), 16).unwrap_or('0'))
        .collect()
}

/// A failure to start, with a message that says what to do.
#[derive(Debug)]
pub struct StartError(pub String);

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StartError {}

/// Opens the storage, binds the listeners and serves until SHUTDOWN,
/// SIGTERM or SIGINT; then closes RocksDB cleanly.
pub async fn run(config: Config, config_file: Option<PathBuf>) -> Result<(), StartError> {
    let dir = PathBuf::from(&config.dir);
    std::fs::create_dir_all(&dir)
        .map_err(|e| StartError(format!("cannot create data dir {}: {e}", dir.display())))?;
    let dir = dir.canonicalize().unwrap_or(dir);
    let storage =
        Arc::new(Storage::open(&dir, &config.storage()).map_err(|e| StartError(e.to_string()))?);

    let mut listeners = Vec::new();
    for host in &config.bind {
        let listener = TcpListener::bind((host.as_str(), config.port))
            .await
            .map_err(|e| {
                StartError(format!(
                    "cannot listen on {host}:{}: {e} (is another server using the port? \
                     change `port` or `bind`)",
                    config.port
                ))
            })?;
        listeners.push(listener);
    }
    let mut metrics_listeners = Vec::new();
    if config.metrics_port != 0 {
        for host in &config.bind {
            let listener = TcpListener::bind((host.as_str(), config.metrics_port))
                .await
                .map_err(|e| {
                    StartError(format!(
                        "cannot listen on {host}:{} for metrics: {e} (change `metrics-port`, \
                         or set it to 0: the main port serves /metrics too)",
                        config.metrics_port
                    ))
                })?;
            metrics_listeners.push(listener);
        }
    }
    let port = listeners
        .first()
        .and_then(|l| l.local_addr().ok())
        .map_or(config.port, |a| a.port());
    let pidfile = (!config.pidfile.is_empty()).then(|| PathBuf::from(&config.pidfile));
    if let Some(path) = &pidfile {
        std::fs::write(path, format!("{}\n", std::process::id()))
            .map_err(|e| StartError(format!("cannot write pidfile {}: {e}", path.display())))?;
    }

    // In cluster mode only database 0 exists, as in Redis Cluster.
    let database_count = if config.cluster_enabled {
        1
    } else {
        config.databases
    };
    let databases = (0..database_count)
        .map(|i| Arc::new(KeyspaceHandle::new(&storage, i)))
        .collect();
    let cluster = if config.cluster_enabled {
        let cluster = cluster::Cluster::load(&storage, port, config.bind.clone())
            .map_err(|e| StartError(format!("cannot load the cluster state: {e}")))?;
        Some(cluster)
    } else {
        None
    };
    let replication = crate::replication::Replication::load(&dir).map_err(|e| {
        StartError(format!(
            "cannot load the replication ids in {}: {e}",
            dir.display()
        ))
    })?;
    let (shutdown, _) = watch::channel(false);
    let watches = Arc::new(Watches::default());
    let pubsub = Arc::new(pubsub::PubSub::new(
        config.client_output_buffer_limit.pubsub,
    ));
    let keyspace_events = Arc::new(notifications::KeyspaceEvents::new(
        config.notify_keyspace_events,
        pubsub.clone(),
    ));
    storage.set_observer(Arc::new(notifications::WriteListeners {
        watches: watches.clone(),
        events: keyspace_events.clone(),
    }));
    let server = Arc::new(Server {
        config: SharedConfig::new(config.clone(), config_file),
        storage: storage.clone(),
        databases,
        replication,
        clients: ClientRegistry::default(),
        blocked: Arc::default(),
        watches,
        pause: pause::ClientPause::new(storage.clone()),
        pubsub,
        keyspace_events,
        publish_forwarder: cluster.is_some().then(Default::default),
        cluster,
        stats: Stats::default(),
        slowlog: Default::default(),
        monitors: Default::default(),
        scripts: Default::default(),
        backups: Default::default(),
        scan_cursors: ScanCursors::new(),
        started: Instant::now(),
        run_id: random_id(),
        port,
        shutdown,
    });

    server
        .scripts
        .running
        .set_threshold(config.busy_reply_threshold);
    crate::commands::restore_saved_functions(&server)
        .map_err(|e| StartError(format!("cannot load the functions: {e}")))?;
    crate::migration::source::resume_hand_over(&server);
    log_startup_facts(&server, &listeners);
    if server.cluster.is_some() {
        crate::replication::replica::follow_topology(&server);
    } else if let Some((host, port)) = config.replicaof.split_once(' ') {
        let port = port.parse().unwrap_or(0);
        crate::replication::replica::set_master(&server, Some((host.to_string(), port)));
    }

    let stop_expiry = Arc::new(AtomicBool::new(false));
    let expiry = spawn_active_expiry(storage.clone(), stop_expiry.clone());
    let background = [
        tokio::spawn(crate::metrics::run_upkeep()),
        tokio::spawn(sample_rates(server.clone())),
        tokio::spawn(crate::replication::master::sample_write_times(
            server.clone(),
        )),
    ];

    let mut accept_tasks = Vec::new();
    for listener in metrics_listeners {
        if let Ok(addr) = listener.local_addr() {
            tracing::info!("metrics on http://{addr}/metrics");
        }
        accept_tasks.push(tokio::spawn(http::metrics_listener(
            server.clone(),
            listener,
        )));
    }
    for listener in listeners {
        accept_tasks.push(tokio::spawn(connection::accept_loop(
            server.clone(),
            listener,
        )));
    }
    wait_for_shutdown(&server).await;
    tracing::info!("shutting down");
    server.begin_shutdown();
    for task in accept_tasks {
        let _ = task.await;
    }
    // Connections see the signal and close; give them a bounded moment.
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.clients.count() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for task in background {
        task.abort();
    }
    stop_expiry.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = expiry.join();
    drop(server);
    drop(storage);
    if let Some(path) = pidfile {
        let _ = std::fs::remove_file(path);
    }
    tracing::info!("RocksDB closed; bye");
    Ok(())
}

/// One log line per start-up fact, then a warning per risky setting.
fn log_startup_facts(server: &Server, listeners: &[TcpListener]) {
    let config = server.config.snapshot();
    tracing::info!(
        "RedRock {} (git {}), Redis {} compatible, pid {}",
        env!("CARGO_PKG_VERSION"),
        env!("REDROCK_GIT_REVISION"),
        crate::commands::REDIS_VERSION,
        std::process::id()
    );
    match server.config.file() {
        Some(file) => tracing::info!("config file {}", file.display()),
        None => tracing::info!("no config file: embedded defaults and command-line directives"),
    }
    tracing::info!(
        "data in {}, backups (BGSAVE) in {}",
        server.storage.path().display(),
        backup::backup_dir(server).display()
    );
    for listener in listeners {
        if let Ok(addr) = listener.local_addr() {
            tracing::info!("listening on {addr} (RESP, and HTTP GET /metrics)");
        }
    }
    match &server.cluster {
        Some(cluster) => tracing::info!(
            "cluster mode: node id {}, topology version {}",
            cluster.my_id(),
            cluster.version()
        ),
        None => tracing::info!("standalone mode, {} databases", server.databases.len()),
    }
    if config.sync {
        tracing::info!("every write is fsynced before its reply (rocksdb.write_options.sync yes)");
    } else {
        tracing::info!(
            "acknowledged writes survive a crash of the process, not a power loss; \
             set rocksdb.write_options.sync yes for that"
        );
    }
    for name in &config.ignored_kvrocks_directives {
        tracing::warn!("kvrocks.conf directive '{name}' is not implemented by RedRock: ignored");
    }
    let exposed = config
        .bind
        .iter()
        .any(|b| !matches!(b.as_str(), "127.0.0.1" | "::1" | "localhost"));
    if exposed && config.requirepass.is_empty() && config.protected_mode {
        tracing::warn!(
            "listening on {} without a password: protected mode refuses every client not on \
             the loopback interface; set requirepass",
            config.bind.join(" ")
        );
    } else if exposed && config.requirepass.is_empty() {
        tracing::warn!(
            "listening on {} without a password: anyone who reaches the port can read and \
             change every key; set requirepass",
            config.bind.join(" ")
        );
    }
    if config.disable_wal {
        tracing::warn!(
            "rocksdb.write_options.disable_wal is yes: acknowledged writes not yet flushed \
             from memtables are lost if the process dies"
        );
    }
}

/// Samples the counters behind INFO's instantaneous rates every 100 ms.
async fn sample_rates(server: Arc<Server>) {
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        tick.tick().await;
        server.stats.sample();
    }
}

async fn wait_for_shutdown(server: &Server) {
    let mut signal = server.shutdown_signal();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing the SIGTERM handler");
    tokio::select! {
        _ = signal.wait_for(|stop| *stop) => {}
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received"),
        _ = term.recv() => tracing::info!("SIGTERM received"),
    }
}
