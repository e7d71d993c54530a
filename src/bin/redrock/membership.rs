//! `redrock cluster add-node` and `del-node`: a node joins the topology
//! (a master with no slots, or a replica) or leaves it (a master's slots
//! first move away), at the next version on every node.

use crate::client::Client;
use crate::migrate::run_plan;
use crate::plan::{even_out, loads};
use crate::rebalance::plan_text;
use crate::replication::replication_of;
use crate::resume::settle;
use crate::{addr_of, connect_nodes, host_port, push_topology, version_of, Access};
use redrock_cluster::{Node, Role, Topology};
use std::time::{Duration, Instant};

/// How often a new replica's link is read while it syncs.
const POLL: Duration = Duration::from_millis(100);

pub fn add_node(access: &Access, new: &str, replica_of: Option<&str>) -> Result<(), String> {
    let (host, port) = host_port(new)?;
    let mut client = access.connect(new)?;
    // Refuses a node that is not in cluster mode before anything changes.
    version_of(&mut client)?;
    // A run cut short may have left the new node in some nodes' topology.
    let topology = settle(access, false, None)?;
    let master = match replica_of {
        Some(id) => Some(
            topology
                .node(id)
                .filter(|n| n.role == Role::Master)
                .ok_or_else(|| format!("--replica-of {id}: not a master of this cluster"))?,
        ),
        None => None,
    };
    let version = version_of(&mut client)?;
    if let Some(member) = topology.nodes.iter().find(|n| addr_of(n) == new) {
        return already_added(&mut client, &topology, member, master, access.timeout);
    }
    if version >= 0 {
        return Err(format!(
            "{new} already belongs to a cluster (topology version {version}); \
             add a node with an empty data directory"
        ));
    }
    let id = redrock::server::random_id();
    let line = match master {
        Some(master) => format!("{id} {host} {port} slave {}\n", master.id),
        None => format!("{id} {host} {port} master -\n"),
    };
    let next =
        Topology::parse(&(topology.to_text() + &line), topology.version + 1).map_err(|e| e.0)?;
    let mut nodes = access.agreeing_nodes(&topology)?;
    if let (Some(_), Some(password)) = (master, access.password) {
        // The replica authenticates to its master with masterauth.
        client.ok(&["CONFIG", "SET", "masterauth", password])?;
    }
    client.ok(&["CLUSTERX", "SETNODEID", &id])?;
    // The cluster's nodes first: a run cut short after them is finished
    // by the next one, which finds the new node in their topology.
    for (_, node_client) in nodes.iter_mut() {
        push_topology(node_client, &next)?;
    }
    push_topology(&mut client, &next)?;
    match master {
        Some(master) => println!(
            "added {new} as a replica of {} ({}); topology version {}",
            addr_of(master),
            master.id,
            next.version
        ),
        None => println!(
            "added {new} as a master with no slots (give it some with `redrock cluster \
             rebalance`); topology version {}",
            next.version
        ),
    }
    println!("new node id: {id}");
    match master {
        Some(master) => wait_for_sync(&mut client, master, access.timeout),
        None => Ok(()),
    }
}

/// add-node of a node already in the topology at that address: fine if
/// it is that node in the role asked (a resumed run), an error otherwise.
fn already_added(
    client: &mut Client,
    topology: &Topology,
    member: &Node,
    master: Option<&Node>,
    timeout: Duration,
) -> Result<(), String> {
    let addr = client.addr.clone();
    let id = client.text(&["CLUSTERX", "MYID"])?;
    if id != member.id {
        return Err(format!(
            "the topology has a node {} at {addr}, but the node there is {id}: \
             delete {} first (del-node)",
            member.id, member.id
        ));
    }
    let wanted = master.map(|m| m.id.as_str());
    if member.master_id.as_deref() != wanted {
        let role = match &member.master_id {
            Some(master) => format!("a replica of {master}"),
            None => "a master".to_string(),
        };
        return Err(format!("{addr} is in the cluster already, as {role}"));
    }
    println!(
        "{addr} is in the cluster already (topology version {})",
        topology.version
    );
    println!("new node id: {id}");
    match master {
        Some(master) => wait_for_sync(client, master, timeout),
        None => Ok(()),
    }
}

/// Waits until the new replica's link to `master` is up: it has synced.
fn wait_for_sync(replica: &mut Client, master: &Node, timeout: Duration) -> Result<(), String> {
    let master_addr = addr_of(master);
    let deadline = Instant::now() + timeout;
    println!("waiting for {} to sync with {master_addr}", replica.addr);
    loop {
        let state = replication_of(replica)?;
        let link = state.link.filter(|l| l.master == master_addr);
        if link.as_ref().is_some_and(|l| l.up) {
            println!(
                "{} replicates {master_addr} (offset {})",
                replica.addr, state.offset
            );
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "{} has not synced with {master_addr} within {timeout:?} (link {}): \
                 see its log; `redrock cluster check` shows when it has",
                replica.addr,
                link.as_ref().map_or("none", |l| l.state())
            ));
        }
        std::thread::sleep(POLL);
    }
}

pub fn del_node(access: &Access, id: &str) -> Result<(), String> {
    let mut topology = settle(access, false, Some(id))?;
    let Some(node) = topology.node(id) else {
        return already_deleted(access, &topology, id);
    };
    if node.role == Role::Master {
        let masters = topology
            .nodes
            .iter()
            .filter(|n| n.role == Role::Master)
            .count();
        if masters == 1 {
            return Err(format!(
                "{} ({id}) is the last master: a cluster needs one",
                addr_of(node)
            ));
        }
        let replicas: Vec<String> = topology.replicas_of(id).map(addr_of).collect();
        if !replicas.is_empty() {
            return Err(format!(
                "{} ({id}) still has replicas ({}): delete them or move them to \
                 another master first",
                addr_of(node),
                replicas.join(", ")
            ));
        }
        if !topology.ranges_of(id).is_empty() {
            let plan = even_out(&loads(access, &topology)?, Some(id));
            print!("{}", plan_text(&topology, &plan));
            run_plan(access, &plan, topology.version)?;
            topology = access.topology()?;
        }
    }
    let node = topology
        .node(id)
        .ok_or_else(|| format!("{id} left the topology meanwhile"))?;
    let addr = addr_of(node);
    let next = without(&topology, id)?;
    // The node removed first: a run cut short after it finds the new
    // version there and brings the others to it. It may be gone for good.
    let mut remaining = Vec::new();
    let mut removed = None;
    for (member, client) in connect_nodes(&topology, access.password, access.timeout) {
        match (member.id == id, client) {
            (true, client) => removed = Some(client),
            (false, Ok(client)) => remaining.push(client),
            (false, Err(e)) => return Err(format!("{e}; nothing changed")),
        }
    }
    match removed.map(|client| client.and_then(|mut c| push_topology(&mut c, &next))) {
        Some(Ok(())) => println!(
            "{addr} took topology version {}: it redirects clients to the cluster's nodes",
            next.version
        ),
        Some(Err(e)) => println!("{e}: {addr} does not learn that it left"),
        None => {}
    }
    for client in &mut remaining {
        push_topology(client, &next)?;
    }
    println!(
        "removed {addr} ({id}) from the cluster: topology version {} on the {} other nodes",
        next.version,
        remaining.len()
    );
    Ok(())
}

/// del-node of a node the topology lacks: fine if the entry is that node
/// (a resumed run: a node removed keeps its id and serves the topology
/// without it), an error otherwise (the id may be mistyped).
fn already_deleted(access: &Access, topology: &Topology, id: &str) -> Result<(), String> {
    if access.connect(access.entry)?.text(&["CLUSTERX", "MYID"])? != id {
        return Err(format!(
            "{id}: no such node in the cluster (a node removed already says so when \
             named as the entry node)"
        ));
    }
    println!(
        "{} ({id}) is not in the cluster any more (topology version {}): nothing to do",
        access.entry, topology.version
    );
    Ok(())
}

/// `topology` without node `id` (which serves no slots and has no
/// replicas), at the next version.
fn without(topology: &Topology, id: &str) -> Result<Topology, String> {
    let text: String = topology
        .to_text()
        .lines()
        .filter(|line| line.split(' ').next() != Some(id))
        .map(|line| format!("{line}\n"))
        .collect();
    Topology::parse(&text, topology.version + 1).map_err(|e| e.0)
}
