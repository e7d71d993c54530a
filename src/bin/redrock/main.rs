//! `redrock`: RedRock's admin tool. `redrock cluster ...` drives a cluster
//! the way a controller does, through CLUSTERX: create, info, check and
//! failover; add-node, del-node, reshard and rebalance scale it, moving
//! slots with their keys while clients run (migrate.rs), and finish what
//! an interrupted run left first (resume.rs). `redrock import` copies a
//! live Redis database in (import.rs). `redrock ping` is the container
//! health check.

mod failover;
mod import;
mod membership;
mod migrate;
mod plan;
mod rebalance;
mod replication;
mod reshard;
mod resume;

use clap::{Parser, Subcommand};
use client::{Client, DEFAULT_TIMEOUT};
use redis_protocol::resp2::types::BytesFrame;
use redrock::client;
use redrock_cluster::{slot_range_text, Node, Role, Topology, SLOT_COUNT};
use replication::Replication;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(name = "redrock", version, about = "RedRock's admin tool")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create, show, verify and fail over clusters of RedRock nodes.
    #[command(subcommand)]
    Cluster(ClusterCommand),
    /// Copy a live Redis (or RedRock) database into RedRock: SCAN, DUMP
    /// and PTTL on the source, RESTORE ... REPLACE on the target, with a
    /// progress line. Stopped, it resumes from its saved SCAN cursor when
    /// run again; at the end it compares the key counts.
    Import {
        /// The source, as HOST:PORT.
        #[arg(long, value_name = "HOST:PORT")]
        from: String,
        /// The source's password.
        #[arg(long)]
        password: Option<String>,
        /// The RedRock server to fill.
        #[arg(long, default_value = "127.0.0.1:6666", value_name = "HOST:PORT")]
        to: String,
        /// The target's password.
        #[arg(long)]
        to_password: Option<String>,
        /// Copy only the keys matching this glob pattern.
        #[arg(long = "match", value_name = "PATTERN")]
        pattern: Option<String>,
        /// The database number, on both sides.
        #[arg(long, default_value_t = 0)]
        db: u32,
        /// Keys asked for per SCAN step (and restored per round trip).
        #[arg(long, default_value_t = 500)]
        batch: usize,
        /// Where the SCAN cursor is saved between batches (default:
        /// redrock-import-HOST-PORT.cursor in the current directory).
        #[arg(long, value_name = "FILE")]
        state: Option<std::path::PathBuf>,
    },
    /// Check that a node answers PING (exit status 0 if it does); the
    /// password comes from --password or the REDROCK_PASSWORD variable.
    Ping {
        #[arg(default_value = "127.0.0.1:6666", value_name = "HOST:PORT")]
        node: String,
        #[arg(long)]
        password: Option<String>,
    },
}

#[derive(Subcommand)]
enum ClusterCommand {
    /// Make a cluster of fresh nodes (started with `cluster-enabled yes`):
    /// give each an id, split the 16384 slots evenly among the masters,
    /// and push the topology to every node.
    Create {
        /// Replicas per master; the first nodes listed become masters.
        #[arg(long, default_value_t = 0)]
        replicas: usize,
        /// The nodes' requirepass, if set.
        #[arg(long)]
        password: Option<String>,
        /// The nodes, as HOST:PORT; the address clients will be sent to.
        #[arg(required = true, value_name = "HOST:PORT")]
        nodes: Vec<String>,
    },
    /// Show the topology a node serves.
    Info {
        #[arg(value_name = "HOST:PORT")]
        node: String,
        #[arg(long)]
        password: Option<String>,
    },
    /// Verify a cluster: every slot served once, every node reachable and
    /// agreeing on the topology and its version, every replica's link up;
    /// shows each replica's lag behind its master.
    Check {
        #[arg(value_name = "HOST:PORT")]
        node: String,
        #[arg(long)]
        password: Option<String>,
    },
    /// Hand a master's slots to one of its replicas without losing a
    /// write: pause writes on the master, wait until the replica has every
    /// one, push a topology with the roles swapped, resume.
    Failover {
        /// The replica to promote.
        #[arg(value_name = "HOST:PORT")]
        node: String,
        #[arg(long)]
        password: Option<String>,
        /// Seconds the replica may take to catch up (and each node to
        /// answer); past them nothing changes and writes resume.
        #[arg(long, default_value_t = 10.0, value_name = "SECONDS")]
        timeout: f64,
    },
    /// Move slots with their keys from one master to another while
    /// clients run: migrate each run of slots, then give it to the
    /// destination in a new topology version on every node. Run again
    /// after an interruption with the same range a-b, it goes on where it
    /// stopped (with a count N, it would move N more slots).
    Reshard {
        /// Any node of the cluster.
        #[arg(value_name = "HOST:PORT")]
        node: String,
        #[arg(long)]
        password: Option<String>,
        /// The source master's id.
        #[arg(long)]
        from: String,
        /// The destination master's id.
        #[arg(long)]
        to: String,
        /// How many slots (taken from the source's first ones), or a range
        /// a-b of them.
        #[arg(long, value_name = "N|A-B")]
        slots: String,
        /// Seconds each node may take to answer.
        #[arg(long, default_value_t = 10.0, value_name = "SECONDS")]
        timeout: f64,
    },
    /// Even out the masters by key count (a slot weighs its keys plus
    /// one, so an empty cluster evens out slot counts): when a master is
    /// further than the threshold from its share, masters above it give
    /// runs of slots from the end of their ranges to masters below it.
    Rebalance {
        /// Any node of the cluster.
        #[arg(value_name = "HOST:PORT")]
        node: String,
        #[arg(long)]
        password: Option<String>,
        /// How far (in percent of its share) a master may be from it.
        #[arg(long, default_value_t = 2.0, value_name = "PCT")]
        threshold: f64,
        /// Print the plan and move nothing.
        #[arg(long)]
        dry_run: bool,
        /// Seconds each node may take to answer.
        #[arg(long, default_value_t = 10.0, value_name = "SECONDS")]
        timeout: f64,
    },
    /// Add a fresh node (started with `cluster-enabled yes`, empty data
    /// directory) to a cluster: a master with no slots (then run
    /// rebalance), or a replica of a master, which syncs with it. Prints
    /// its id.
    AddNode {
        /// The new node; the address clients will be sent to.
        #[arg(value_name = "NEW_HOST:PORT")]
        new: String,
        /// Any node of the cluster.
        #[arg(value_name = "EXISTING_HOST:PORT")]
        existing: String,
        /// Make it a replica of this master.
        #[arg(long, value_name = "ID")]
        replica_of: Option<String>,
        #[arg(long)]
        password: Option<String>,
        /// Seconds each node may take to answer, and a new replica to
        /// sync.
        #[arg(long, default_value_t = 10.0, value_name = "SECONDS")]
        timeout: f64,
    },
    /// Remove a node from a cluster: a master's slots first move to the
    /// other masters, spread by key count. A master with replicas, or the
    /// last master, is refused. The node removed then redirects clients.
    DelNode {
        /// Any node of the cluster.
        #[arg(value_name = "HOST:PORT")]
        node: String,
        /// The node to remove.
        #[arg(value_name = "NODE_ID")]
        id: String,
        #[arg(long)]
        password: Option<String>,
        /// Seconds each node may take to answer.
        #[arg(long, default_value_t = 10.0, value_name = "SECONDS")]
        timeout: f64,
    },
}

/// How the tool reaches a cluster: any node of it (which tells the
/// topology), the nodes' password, and how long each reply may take.
pub struct Access<'a> {
    pub entry: &'a str,
    pub password: Option<&'a str>,
    pub timeout: Duration,
}

impl Access<'_> {
    pub fn connect(&self, addr: &str) -> Result<Client, String> {
        Client::connect(addr, self.password, self.timeout)
    }

    /// The topology the entry node serves.
    pub fn topology(&self) -> Result<Topology, String> {
        topology_of(&mut self.connect(self.entry)?)
    }

    /// A client of every node of `topology`: all must be reachable and
    /// serve it.
    pub fn agreeing_nodes<'t>(
        &self,
        topology: &'t Topology,
    ) -> Result<Vec<(&'t Node, Client)>, String> {
        connect_nodes(topology, self.password, self.timeout)
            .into_iter()
            .map(|(node, client)| Ok((node, client.map_err(|e| format!("{e}; stopped"))?)))
            .collect()
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Import {
            from,
            password,
            to,
            to_password,
            pattern,
            db,
            batch,
            state,
        } => {
            let state = state.unwrap_or_else(|| {
                format!("redrock-import-{}.cursor", from.replace(':', "-")).into()
            });
            import::import(&import::Import {
                from,
                from_password: password,
                to,
                to_password,
                pattern,
                db,
                batch,
                state,
            })
        }
        Command::Cluster(ClusterCommand::Create {
            replicas,
            password,
            nodes,
        }) => create(&nodes, replicas, password.as_deref()),
        Command::Cluster(ClusterCommand::Info { node, password }) => {
            info(&node, password.as_deref())
        }
        Command::Cluster(ClusterCommand::Check { node, password }) => {
            check(&node, password.as_deref())
        }
        Command::Cluster(ClusterCommand::Failover {
            node,
            password,
            timeout,
        }) => seconds(timeout)
            .and_then(|timeout| failover::failover(&node, password.as_deref(), timeout)),
        Command::Cluster(ClusterCommand::Reshard {
            node,
            password,
            from,
            to,
            slots,
            timeout,
        }) => access(&node, &password, timeout)
            .and_then(|access| reshard::reshard(&access, &from, &to, &slots)),
        Command::Cluster(ClusterCommand::Rebalance {
            node,
            password,
            threshold,
            dry_run,
            timeout,
        }) => access(&node, &password, timeout)
            .and_then(|access| rebalance::rebalance(&access, threshold, dry_run)),
        Command::Cluster(ClusterCommand::AddNode {
            new,
            existing,
            replica_of,
            password,
            timeout,
        }) => access(&existing, &password, timeout)
            .and_then(|access| membership::add_node(&access, &new, replica_of.as_deref())),
        Command::Cluster(ClusterCommand::DelNode {
            node,
            id,
            password,
            timeout,
        }) => {
            access(&node, &password, timeout).and_then(|access| membership::del_node(&access, &id))
        }
        Command::Ping { node, password } => {
            let password = password.or_else(|| {
                std::env::var("REDROCK_PASSWORD")
                    .ok()
                    .filter(|p| !p.is_empty())
            });
            ping(&node, password.as_deref())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A `--timeout` in seconds, which must be positive.
fn seconds(timeout: f64) -> Result<Duration, String> {
    Duration::try_from_secs_f64(timeout)
        .ok()
        .filter(|t| !t.is_zero())
        .ok_or_else(|| format!("--timeout {timeout}: expected a positive number of seconds"))
}

/// How to reach the cluster through `entry`.
fn access<'a>(
    entry: &'a str,
    password: &'a Option<String>,
    timeout: f64,
) -> Result<Access<'a>, String> {
    Ok(Access {
        entry,
        password: password.as_deref(),
        timeout: seconds(timeout)?,
    })
}

/// A byte count in MB.
fn size_text(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

fn ping(addr: &str, password: Option<&str>) -> Result<(), String> {
    let mut client = Client::connect(addr, password, DEFAULT_TIMEOUT)?;
    match client.text(&["PING"])?.as_str() {
        "PONG" => {
            println!("PONG from {addr}");
            Ok(())
        }
        other => Err(format!("{addr} answered {other:?} to PING")),
    }
}

/// Splits `addr` into host and port.
fn host_port(addr: &str) -> Result<(&str, u16), String> {
    let (host, port) = addr
        .rsplit_once(':')
        .ok_or_else(|| format!("{addr}: expected HOST:PORT"))?;
    let port = port
        .parse::<u16>()
        .ok()
        .filter(|&p| p > 0)
        .ok_or_else(|| format!("{addr}: invalid port"))?;
    Ok((host, port))
}

/// The topology version a node has, -1 for none; refuses nodes that are
/// not in cluster mode.
fn version_of(client: &mut Client) -> Result<i64, String> {
    let text = client.text(&["CLUSTERX", "VERSION"]).map_err(|e| {
        if e.contains("cluster support disabled") {
            format!(
                "{} is not in cluster mode: start it with `cluster-enabled yes`",
                client.addr
            )
        } else {
            e
        }
    })?;
    text.parse()
        .map_err(|_| format!("{}: bad version {text:?}", client.addr))
}

fn create(addrs: &[String], replicas: usize, password: Option<&str>) -> Result<(), String> {
    let masters = addrs.len() / (replicas + 1);
    if masters == 0 {
        return Err(format!(
            "{} nodes cannot make masters with {replicas} replicas each",
            addrs.len()
        ));
    }
    let mut clients = Vec::new();
    for addr in addrs {
        host_port(addr)?;
        if clients.iter().any(|c: &Client| &c.addr == addr) {
            return Err(format!("{addr} is listed twice"));
        }
        let mut client = Client::connect(addr, password, DEFAULT_TIMEOUT)?;
        let version = version_of(&mut client)?;
        if version >= 0 {
            return Err(format!(
                "{addr} already belongs to a cluster (topology version {version}); \
                 use a node with an empty data directory"
            ));
        }
        clients.push(client);
    }
    let ids: Vec<String> = addrs.iter().map(|_| redrock::server::random_id()).collect();
    let mut text = String::new();
    for (i, addr) in addrs.iter().enumerate() {
        let (host, port) = host_port(addr)?;
        if i < masters {
            let first = i * SLOT_COUNT as usize / masters;
            let last = (i + 1) * SLOT_COUNT as usize / masters - 1;
            text.push_str(&format!(
                "{} {host} {port} master - {first}-{last}\n",
                ids[i]
            ));
        } else {
            let master = &ids[(i - masters) % masters];
            text.push_str(&format!("{} {host} {port} slave {master}\n", ids[i]));
        }
    }
    let topology = Topology::parse(&text, 1).map_err(|e| e.0)?;
    for (client, id) in clients.iter_mut().zip(&ids) {
        client.ok(&["CLUSTERX", "SETNODEID", id])?;
    }
    for client in &mut clients {
        push_topology(client, &topology)?;
    }
    println!(
        "created a cluster of {masters} masters and {} replicas (topology version 1)",
        addrs.len() - masters
    );
    print!("{}", layout(&topology));
    Ok(())
}

/// The topology a node reports in CLUSTER NODES, read back into a
/// [`Topology`].
fn topology_of(client: &mut Client) -> Result<Topology, String> {
    let version = version_of(client)?;
    if version < 0 {
        return Err(format!("{} has no cluster topology yet", client.addr));
    }
    let nodes = match client.call(&["CLUSTER", "NODES"])? {
        BytesFrame::BulkString(b) | BytesFrame::SimpleString(b) => {
            String::from_utf8_lossy(&b).into_owned()
        }
        other => return Err(format!("{}: unexpected reply {other:?}", client.addr)),
    };
    // `id host:port@cport flags master ping pong epoch link slots...`
    let mut text = String::new();
    for line in nodes.lines().filter(|l| !l.is_empty()) {
        let fields: Vec<&str> = line.split(' ').collect();
        if fields.len() < 8 {
            return Err(format!("{}: bad CLUSTER NODES line {line:?}", client.addr));
        }
        let addr = fields[1].split('@').next().unwrap_or_default();
        let (host, port) = host_port(addr)?;
        let role = if fields[2].contains("master") {
            "master"
        } else {
            "slave"
        };
        text.push_str(&format!("{} {host} {port} {role} {}", fields[0], fields[3]));
        for slots in &fields[8..] {
            text.push(' ');
            text.push_str(slots);
        }
        text.push('\n');
    }
    Topology::parse(&text, version as u64)
        .map_err(|e| format!("{}: its topology does not read back: {e}", client.addr))
}

/// Sends `topology` to a node (CLUSTERX SETNODES at its version).
fn push_topology(client: &mut Client, topology: &Topology) -> Result<(), String> {
    client.ok(&[
        "CLUSTERX",
        "SETNODES",
        &topology.to_text(),
        &topology.version.to_string(),
    ])
}

/// HOST:PORT of a node.
fn addr_of(node: &Node) -> String {
    format!("{}:{}", node.host, node.port)
}

/// Connects to every node of `topology` (replies may take `timeout`):
/// each with its client, or why it cannot be used (unreachable, or serving
/// another topology or version).
fn connect_nodes<'t>(
    topology: &'t Topology,
    password: Option<&str>,
    timeout: Duration,
) -> Vec<(&'t Node, Result<Client, String>)> {
    topology
        .nodes
        .iter()
        .map(|node| {
            let addr = addr_of(node);
            let client = Client::connect(&addr, password, timeout).and_then(|mut client| {
                let seen = topology_of(&mut client)?;
                if seen.version != topology.version {
                    Err(format!(
                        "{addr} is at topology version {}, not {}",
                        seen.version, topology.version
                    ))
                } else if seen.to_text() != topology.to_text() {
                    Err(format!(
                        "{addr} sees another topology at the same version {}",
                        topology.version
                    ))
                } else {
                    Ok(client)
                }
            });
            (node, client)
        })
        .collect()
}

/// One line per master (address, id, slot count and ranges), its
/// replicas indented below.
fn layout(topology: &Topology) -> String {
    let mut out = String::new();
    for master in topology.nodes.iter().filter(|n| n.role == Role::Master) {
        let ranges = topology.ranges_of(&master.id);
        let count: usize = ranges.iter().map(|(a, b)| (b - a + 1) as usize).sum();
        let ranges: Vec<String> = ranges.iter().copied().map(slot_range_text).collect();
        out.push_str(&format!(
            "master  {}:{} {} {count} slots {}\n",
            master.host,
            master.port,
            master.id,
            ranges.join(" ")
        ));
        for replica in topology.replicas_of(&master.id) {
            out.push_str(&format!(
                "  replica {}:{} {}\n",
                replica.host, replica.port, replica.id
            ));
        }
    }
    out
}

fn info(addr: &str, password: Option<&str>) -> Result<(), String> {
    let mut client = Client::connect(addr, password, DEFAULT_TIMEOUT)?;
    let topology = topology_of(&mut client)?;
    println!(
        "topology version {}, {} nodes, {} of {SLOT_COUNT} slots served",
        topology.version,
        topology.nodes.len(),
        topology.assigned_slots()
    );
    print!("{}", layout(&topology));
    Ok(())
}

fn check(addr: &str, password: Option<&str>) -> Result<(), String> {
    let mut entry = Client::connect(addr, password, DEFAULT_TIMEOUT)?;
    let topology = topology_of(&mut entry)?;
    let mut problems = Vec::new();
    let mut unserved: Vec<(u16, u16)> = Vec::new();
    for slot in 0..SLOT_COUNT {
        if topology.owner(slot).is_none() {
            match unserved.last_mut() {
                Some((_, last)) if *last + 1 == slot => *last = slot,
                _ => unserved.push((slot, slot)),
            }
        }
    }
    for (a, b) in unserved {
        problems.push(format!("slots {a}-{b} are served by no node"));
    }
    let mut clients = std::collections::HashMap::new();
    for (node, client) in connect_nodes(&topology, password, DEFAULT_TIMEOUT) {
        match client {
            Ok(client) => {
                clients.insert(node.id.clone(), client);
            }
            Err(e) => problems.push(e),
        }
    }
    // Replicas are read before masters, so under writes the lag shown is
    // never less than the real one.
    let mut states = std::collections::HashMap::new();
    let mut by_role: Vec<&Node> = topology.nodes.iter().collect();
    by_role.sort_by_key(|n| n.role == Role::Master);
    for node in by_role {
        if let Some(client) = clients.get_mut(&node.id) {
            match replication::replication_of(client) {
                Ok(state) => {
                    states.insert(node.id.clone(), state);
                }
                Err(e) => problems.push(e),
            }
        }
    }
    print!("{}", layout(&topology));
    for master in topology.nodes.iter().filter(|n| n.role == Role::Master) {
        if let Some(link) = states.get(&master.id).and_then(|s| s.link.as_ref()) {
            problems.push(format!(
                "{} is a master in the topology but replicates {}",
                addr_of(master),
                link.master
            ));
        }
        for replica in topology.replicas_of(&master.id) {
            let (line, problem) = replica_state(
                master,
                replica,
                states.get(&master.id),
                states.get(&replica.id),
            );
            println!("{line}");
            problems.extend(problem);
        }
    }
    if problems.is_empty() {
        println!(
            "OK: all {SLOT_COUNT} slots served, {} nodes agree on topology version {}",
            topology.nodes.len(),
            topology.version
        );
        Ok(())
    } else {
        for problem in &problems {
            println!("problem: {problem}");
        }
        Err(format!("{} problems found", problems.len()))
    }
}

/// A replica's link and lag behind its master as a line of `check`, and
/// the problem they show, if any (`None` states: not read, and already
/// reported).
fn replica_state(
    master: &Node,
    replica: &Node,
    master_state: Option<&Replication>,
    state: Option<&Replication>,
) -> (String, Option<String>) {
    let (replica_addr, master_addr) = (addr_of(replica), addr_of(master));
    let heading = format!("replica {replica_addr} of {master_addr}:");
    let (Some(master_state), Some(state)) = (master_state, state) else {
        return (format!("{heading} not checked"), None);
    };
    let Some(link) = &state.link else {
        return (
            format!("{heading} not replicating"),
            Some(format!(
                "{replica_addr} is a replica of {master_addr} in the topology but replicates nothing"
            )),
        );
    };
    let lag = i128::from(master_state.offset) - i128::from(state.offset);
    let line = format!(
        "{heading} link {}, lag {lag} (offset {} of {})",
        link.state(),
        state.offset,
        master_state.offset
    );
    let problem = if link.master != master_addr {
        Some(format!(
            "{replica_addr} replicates {}, not its master {master_addr}",
            link.master
        ))
    } else if !link.up {
        Some(format!(
            "{replica_addr}: the link to its master {master_addr} is down"
        ))
    } else if lag < 0 {
        Some(format!(
            "{replica_addr} holds writes its master {master_addr} lacks (offset {} > {})",
            state.offset, master_state.offset
        ))
    } else {
        None
    };
    (line, problem)
}
