//! `redrock cluster failover`: a replica takes over its master's slots
//! without losing a write, the way a controller does a manual failover.
//!
//! Writes are paused on the master (CLIENT PAUSE WRITE answers once the
//! writes under way are written); once the replica's offset equals the
//! master's, the next topology version, with the two roles swapped, goes to
//! the old master first (so nothing it accepts afterwards is lost: it sends
//! every write to the new master) and then to every other node; then the
//! pause ends and the writes it held are redirected. Every node must be
//! reachable and at the same version before anything changes; if the
//! replica does not catch up in time, writes resume and the topology stays.
//!
//! A new topology makes every node forget its slot hand-overs, so the
//! failover's topology must already give slots a migration handed over to
//! their destination: what a migration left is finished first
//! (resume.rs), and a migration under way makes the failover refuse.

use crate::client::Client;
use crate::replication::replication_of;
use crate::resume::settle_unless_moving;
use crate::{addr_of, connect_nodes, layout, push_topology, Access};
use std::time::{Duration, Instant};

/// How much longer than the wait the pause lasts: time to push the
/// topology. The tool ends the pause itself; this bounds it if the tool
/// dies first.
const PAUSE_MARGIN: Duration = Duration::from_secs(30);
/// How often the replica's offset is read while waiting.
const POLL: Duration = Duration::from_millis(20);

pub fn failover(addr: &str, password: Option<&str>, timeout: Duration) -> Result<(), String> {
    let access = Access {
        entry: addr,
        password,
        timeout,
    };
    let topology = settle_unless_moving(&access)?;
    let id = access.connect(addr)?.text(&["CLUSTER", "MYID"])?;
    let replica = topology
        .node(&id)
        .ok_or_else(|| format!("{addr} (node {id}) is not in its own topology"))?;
    let Some(master_id) = &replica.master_id else {
        return Err(format!(
            "{addr} is a master already: name the replica to promote"
        ));
    };
    let master = topology
        .node(master_id)
        .expect("a parsed topology names only known masters");
    let next = topology
        .promote(&replica.id, topology.version + 1)
        .map_err(|e| e.0)?;
    let (master_addr, replica_addr) = (addr_of(master), addr_of(replica));

    // The new topology goes to every node: all must be reachable and agree
    // before anything changes. The old master comes first, the promoted
    // replica second.
    let mut nodes = Vec::new();
    for (node, client) in connect_nodes(&topology, password, timeout) {
        let client = client.map_err(|e| format!("{e}; nothing changed"))?;
        nodes.push((node, client));
    }
    nodes.sort_by_key(|(node, _)| (node.id != master.id, node.id != replica.id));
    println!(
        "failover of master {master_addr} to its replica {replica_addr} \
         (topology version {})",
        topology.version
    );

    let pause_ms = (timeout + PAUSE_MARGIN).as_millis().to_string();
    let (old_master, rest) = nodes.split_first_mut().expect("the master is a node");
    if let Err(e) = old_master.1.ok(&["CLIENT", "PAUSE", &pause_ms, "WRITE"]) {
        // A pause that answered late may stand all the same.
        resume(&mut old_master.1, password);
        return Err(format!("{e}; nothing changed"));
    }
    println!("paused writes on {master_addr}");
    let promoted = &mut rest[0].1;
    let offset = match wait_for_replica(&mut old_master.1, promoted, timeout) {
        Ok(offset) => offset,
        Err(e) => {
            resume(&mut old_master.1, password);
            return Err(format!(
                "{e}; failover abandoned: writes resumed on {master_addr}, \
                 topology unchanged at version {}",
                topology.version
            ));
        }
    };
    println!("{replica_addr} has every write (offset {offset})");

    // From here the old master sends every write to the new one.
    if let Err(e) = push_topology(&mut old_master.1, &next) {
        resume(&mut old_master.1, password);
        return Err(format!(
            "{e}; failover abandoned: writes resumed on {master_addr}, \
             which may or may not have taken topology version {}",
            next.version
        ));
    }
    println!(
        "pushed topology version {} to {master_addr} (now a replica)",
        next.version
    );
    let mut missed = Vec::new();
    for (node, client) in rest.iter_mut() {
        match push_topology(client, &next) {
            Ok(()) if node.id == replica.id => println!(
                "pushed topology version {} to {replica_addr} (now the master)",
                next.version
            ),
            Ok(()) => println!(
                "pushed topology version {} to {}",
                next.version,
                addr_of(node)
            ),
            Err(e) => missed.push((*node, e)),
        }
    }
    resume(&mut old_master.1, password);
    println!("resumed writes on {master_addr}: they are redirected to {replica_addr}");
    print!("{}", layout(&next));
    if missed.is_empty() {
        println!(
            "done: {replica_addr} serves {master_addr}'s slots at topology version {}",
            next.version
        );
        return Ok(());
    }
    for (node, e) in &missed {
        eprintln!("{} did not take the new topology: {e}", addr_of(node));
    }
    Err(format!(
        "{} nodes lack topology version {}: push it to them again (CLUSTERX SETNODES) \
         and run `redrock cluster check`",
        missed.len(),
        next.version
    ))
}

/// Waits until the replica's offset equals the master's (the master is
/// paused, so its offset no longer moves); returns that offset.
fn wait_for_replica(
    master: &mut Client,
    replica: &mut Client,
    timeout: Duration,
) -> Result<u64, String> {
    let deadline = Instant::now() + timeout;
    loop {
        let wanted = replication_of(master)?.offset;
        // A replica that stops answering fails the wait at the deadline.
        replica.set_timeout(deadline.saturating_duration_since(Instant::now()))?;
        let seen = replication_of(replica)?;
        if seen.offset == wanted {
            replica.set_timeout(timeout)?;
            return Ok(wanted);
        }
        if Instant::now() >= deadline {
            let link = seen.link.as_ref().map_or("none", |l| l.state());
            return Err(format!(
                "{} did not catch up within {timeout:?}: it is at offset {} of the \
                 master's {wanted}, replication link {link}",
                replica.addr, seen.offset
            ));
        }
        std::thread::sleep(POLL.min(deadline.saturating_duration_since(Instant::now())));
    }
}

/// Ends the pause on the master, on a new connection if the old one
/// failed; says so if it cannot (the pause then ends on its own).
fn resume(master: &mut Client, password: Option<&str>) {
    let resumed = master.ok(&["CLIENT", "UNPAUSE"]).or_else(|_| {
        Client::connect(&master.addr, password, crate::client::DEFAULT_TIMEOUT)
            .and_then(|mut again| again.ok(&["CLIENT", "UNPAUSE"]))
    });
    if let Err(e) = resumed {
        eprintln!(
            "warning: cannot resume writes on {}: {e} (its pause ends by itself within \
             {PAUSE_MARGIN:?} of the timeout)",
            master.addr
        );
    }
}
