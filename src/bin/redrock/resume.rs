//! What the commands that change a cluster do first: finish whatever an
//! interrupted run (of this tool, or of a controller) left half done, so
//! that a tool killed at any moment and run again never leaves slots
//! handed over but not in the topology, nor nodes at different versions.
//!
//! 1. Every node gets the latest topology version any of them has (a run
//!    stopped while it pushed a version).
//! 2. A migration under way on a master is waited for (a failover refuses
//!    to run beside it instead).
//! 3. A migration the source handed over whose slots the topology still
//!    gives to the source is finished: the slots go to its destination at
//!    the next version on every node.

use crate::client::Client;
use crate::migrate::{migration_of, set_slot_everywhere, wait_for_migration, Migration};
use crate::{addr_of, push_topology, topology_of, version_of, Access};
use redrock_cluster::{slot_range_text, Role, Topology};

/// How [`settle`] goes about it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Says what it would do and changes nothing.
    DryRun,
    /// Waits for a migration under way.
    Wait,
    /// Refuses while a migration is under way.
    RefuseWhileMoving,
}

/// Brings the cluster to a settled state and returns its topology. With
/// `dry_run`, says what it would do and changes nothing. `absent` names a
/// node that may be unreachable (one being deleted).
pub fn settle(access: &Access, dry_run: bool, absent: Option<&str>) -> Result<Topology, String> {
    let mode = if dry_run { Mode::DryRun } else { Mode::Wait };
    settle_as(access, mode, absent)
}

/// [`settle`] for a change that must not run beside a migration (a
/// failover: the topology it pushes would make every node forget the
/// hand-over the migration ends with): refuses while a master migrates,
/// before it gives any slot away.
pub fn settle_unless_moving(access: &Access) -> Result<Topology, String> {
    settle_as(access, Mode::RefuseWhileMoving, None)
}

fn settle_as(access: &Access, mode: Mode, absent: Option<&str>) -> Result<Topology, String> {
    let dry_run = mode == Mode::DryRun;
    let mut topology = catch_up(access, dry_run, absent)?;
    let migrations = migrations(access, &topology, absent)?;
    if mode == Mode::RefuseWhileMoving {
        if let Some((_, source, migration)) = migrations.iter().find(|(_, _, m)| m.state == "start")
        {
            return Err(format!(
                "{} is moving slots {} to {} (migrating_state:start, {} keys copied): \
                 wait for the migration to end or fail, then run again; topology \
                 unchanged at version {}",
                source.addr,
                slot_range_text(migration.slots),
                migration.destination,
                migration.keys,
                topology.version
            ));
        }
    }
    for (id, mut source, mut migration) in migrations {
        let what = format!(
            "slots {} to {}",
            slot_range_text(migration.slots),
            migration.destination
        );
        if migration.state == "start" {
            if dry_run {
                println!("{} is moving {what} (a move under way)", source.addr);
                continue;
            }
            println!(
                "{} is moving {what} (an interrupted move): waiting for it",
                source.addr
            );
            migration = wait_for_migration(&mut source, migration.slots)?;
            if migration.state != "success" {
                println!(
                    "the interrupted move of {what} failed: {} still serves them",
                    source.addr
                );
            }
        }
        let still_the_sources = (migration.slots.0..=migration.slots.1)
            .all(|slot| topology.owner(slot).is_some_and(|o| o.id == id));
        if migration.state != "success" || !still_the_sources {
            continue;
        }
        if topology
            .node(&migration.destination)
            .is_none_or(|d| d.role != Role::Master)
        {
            return Err(format!(
                "{} handed {what} over, but the topology has no such master: \
                 give them to it with CLUSTERX SETSLOT",
                source.addr
            ));
        }
        if dry_run {
            println!("would finish the interrupted move of {what}");
            continue;
        }
        println!("finishing the interrupted move of {what}");
        let version = topology.version + 1;
        let mut nodes = access.agreeing_nodes(&topology)?;
        set_slot_everywhere(
            &mut nodes,
            migration.slots,
            &id,
            &migration.destination,
            version,
        )?;
        topology = access.topology()?;
    }
    Ok(topology)
}

/// The last migration each master of `topology` started (id, client,
/// migration), all read before any is acted on.
fn migrations(
    access: &Access,
    topology: &Topology,
    absent: Option<&str>,
) -> Result<Vec<(String, Client, Migration)>, String> {
    let mut found = Vec::new();
    for node in topology.nodes.iter().filter(|n| n.role == Role::Master) {
        let mut source = match access.connect(&addr_of(node)) {
            Ok(client) => client,
            Err(_) if absent == Some(node.id.as_str()) => continue,
            Err(e) => return Err(e),
        };
        if let Some(migration) = migration_of(&mut source)? {
            found.push((node.id.clone(), source, migration));
        }
    }
    Ok(found)
}

/// One node met while looking for the latest topology.
struct Seen {
    addr: String,
    client: Client,
    version: i64,
}

/// Finds the latest topology version any node has (following the nodes
/// each topology names) and pushes it to the nodes behind.
fn catch_up(access: &Access, dry_run: bool, absent: Option<&str>) -> Result<Topology, String> {
    let mut latest = access.topology()?;
    let mut to_visit: Vec<(String, String)> = Vec::new();
    let mut seen: Vec<Seen> = Vec::new();
    queue_nodes(&latest, &mut to_visit);
    let mut next = 0;
    while let Some((id, addr)) = to_visit.get(next).cloned() {
        next += 1;
        if seen.iter().any(|s| s.addr == addr) {
            continue;
        }
        let mut client = match access.connect(&addr) {
            Ok(client) => client,
            Err(_) if absent == Some(id.as_str()) => continue,
            Err(e) => return Err(e),
        };
        let version = version_of(&mut client)?;
        if version > latest.version as i64 {
            latest = topology_of(&mut client)?;
            queue_nodes(&latest, &mut to_visit);
        }
        seen.push(Seen {
            addr,
            client,
            version,
        });
    }
    for node in seen
        .iter_mut()
        .filter(|s| s.version < latest.version as i64)
    {
        let member = latest.nodes.iter().find(|n| addr_of(n) == node.addr);
        // Only a node that is who the topology says may take it: not one
        // whose data directory was replaced, which would serve slots empty.
        if let Some(member) = member {
            let id = node.client.text(&["CLUSTERX", "MYID"])?;
            let serves_slots = !latest.ranges_of(&member.id).is_empty();
            if id != member.id || (node.version < 0 && serves_slots) {
                return Err(format!(
                    "{} (node {id}, topology version {}) is not the node {} of topology \
                     version {}: was its data directory replaced? Fix it by hand \
                     (CLUSTERX SETNODES)",
                    node.addr, node.version, member.id, latest.version
                ));
            }
        }
        if dry_run {
            println!(
                "would push topology version {} to {} (at version {})",
                latest.version, node.addr, node.version
            );
            continue;
        }
        push_topology(&mut node.client, &latest)?;
        println!(
            "pushed topology version {} to {}, which was at version {} (an interrupted change)",
            latest.version, node.addr, node.version
        );
    }
    Ok(latest)
}

/// Adds the nodes of `topology` (id, address) not queued yet.
fn queue_nodes(topology: &Topology, to_visit: &mut Vec<(String, String)>) {
    for node in &topology.nodes {
        let pair = (node.id.clone(), addr_of(node));
        if !to_visit.contains(&pair) {
            to_visit.push(pair);
        }
    }
}
