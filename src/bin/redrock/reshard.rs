//! `redrock cluster reshard`: moves slots with their keys from one master
//! to another, one contiguous run at a time, as a controller does:
//! CLUSTERX MIGRATE on the source, CLUSTER INFO until it succeeds, then
//! CLUSTERX SETSLOT at the next version on every node. Run again after an
//! interruption, it finishes a run the source already handed over and
//! goes on with the rest.

use crate::client::Client;
use crate::{addr_of, connect_nodes, topology_of};
use redrock_cluster::{parse_slot_range, SlotRange, Topology};
use std::time::{Duration, Instant};

/// How often the source's migration state is read.
const POLL: Duration = Duration::from_millis(100);
/// How often progress is printed.
const PROGRESS: Duration = Duration::from_secs(2);

/// Which slots to move: a count taken from the source's first slots, or
/// a range (`a-b`, or one slot as `a-a`).
fn chosen_slots(topology: &Topology, from: &str, slots: &str) -> Result<Vec<SlotRange>, String> {
    let owned: Vec<u16> = topology
        .ranges_of(from)
        .into_iter()
        .flat_map(|(a, b)| a..=b)
        .collect();
    let wanted: Vec<u16> = if let Ok(count) = slots.parse::<usize>() {
        if count == 0 || count > owned.len() {
            return Err(format!(
                "--slots {count}: the source serves {} slots",
                owned.len()
            ));
        }
        owned[..count].to_vec()
    } else {
        let (a, b) = match slots.split_once('-') {
            Some((a, b)) if a == b => a
                .parse::<u16>()
                .ok()
                .filter(|&s| s < redrock_cluster::SLOT_COUNT)
                .map(|s| (s, s)),
            _ => parse_slot_range(slots),
        }
        .ok_or_else(|| format!("--slots {slots}: expected a count or a range a-b"))?;
        let range: Vec<u16> = (a..=b).collect();
        if let Some(slot) = range.iter().find(|s| !owned.contains(s)) {
            return Err(format!("slot {slot} is not served by {from}"));
        }
        range
    };
    // Contiguous runs, one migration each.
    let mut runs: Vec<SlotRange> = Vec::new();
    for slot in wanted {
        match runs.last_mut() {
            Some(run) if run.1 + 1 == slot => run.1 = slot,
            _ => runs.push((slot, slot)),
        }
    }
    Ok(runs)
}

fn range_text((a, b): SlotRange) -> String {
    if a == b {
        a.to_string()
    } else {
        format!("{a}-{b}")
    }
}

/// A field of the source's CLUSTER INFO.
fn info_field(client: &mut Client, field: &str) -> Result<Option<String>, String> {
    let text = client.text(&["CLUSTER", "INFO"])?;
    Ok(text
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .map(|v| v.trim().to_string()))
}

pub fn reshard(
    addr: &str,
    password: Option<&str>,
    from: &str,
    to: &str,
    slots: &str,
    timeout: Duration,
) -> Result<(), String> {
    let mut entry = Client::connect(addr, password, timeout)?;
    let topology = topology_of(&mut entry)?;
    drop(entry);
    for (id, what) in [(from, "--from"), (to, "--to")] {
        match topology.node(id) {
            Some(node) if node.role == redrock_cluster::Role::Master => {}
            _ => return Err(format!("{what} {id}: not a master of this cluster")),
        }
    }
    if from == to {
        return Err("--from and --to name the same master".into());
    }
    let runs = chosen_slots(&topology, from, slots)?;
    let total: usize = runs.iter().map(|(a, b)| (b - a + 1) as usize).sum();
    let source = topology.node(from).expect("checked above");
    let target = topology.node(to).expect("checked above");
    println!(
        "moving {total} slots in {} runs from {} to {}",
        runs.len(),
        addr_of(source),
        addr_of(target)
    );
    let started = Instant::now();
    let mut version = topology.version;
    let mut moved = 0;
    for run in runs {
        let current = {
            let mut entry = Client::connect(addr, password, timeout)?;
            topology_of(&mut entry)?
        };
        if current.version != version {
            return Err(format!(
                "the topology changed meanwhile (version {} now, {version} before); \
                 run the command again",
                current.version
            ));
        }
        let mut nodes = Vec::new();
        for (node, client) in connect_nodes(&current, password, timeout) {
            nodes.push((node, client.map_err(|e| format!("{e}; stopped"))?));
        }
        let (keys, bytes) = migrate_run(&mut nodes, from, to, run)?;
        version += 1;
        // The destination first: it then serves the slots by the topology
        // too; the source last, which then drops their keys.
        nodes.sort_by_key(|(node, _)| (node.id != to, node.id == from));
        for (node, client) in &mut nodes {
            client
                .ok(&[
                    "CLUSTERX",
                    "SETSLOT",
                    &range_text(run),
                    "NODE",
                    to,
                    &version.to_string(),
                ])
                .map_err(|e| {
                    format!(
                        "{e}: {} did not take version {version}; push it again with \
                         CLUSTERX SETSLOT {} NODE {to} {version}",
                        addr_of(node),
                        range_text(run)
                    )
                })?;
        }
        moved += (run.1 - run.0 + 1) as usize;
        let elapsed = started.elapsed().as_secs_f64();
        let rate = moved as f64 / elapsed.max(0.001);
        let eta = (total - moved) as f64 / rate;
        println!(
            "slots {}: moved ({keys} keys, {bytes} bytes); {moved}/{total} slots done, \
             {rate:.1} slots/s, ETA {eta:.0} s; topology version {version}",
            range_text(run)
        );
    }
    println!(
        "done: {total} slots moved in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Migrates one run on the source (or finds it already handed over) and
/// returns the keys and bytes copied.
fn migrate_run(
    nodes: &mut [(&redrock_cluster::Node, Client)],
    from: &str,
    to: &str,
    run: SlotRange,
) -> Result<(u64, u64), String> {
    let (_, source) = nodes
        .iter_mut()
        .find(|(node, _)| node.id == from)
        .expect("the source is a node of the topology");
    let range = range_text(run);
    let already = info_field(source, "migrating_slot")?.as_deref() == Some(range.as_str())
        && info_field(source, "destination_node")?.as_deref() == Some(to)
        && info_field(source, "migrating_state")?.as_deref() == Some("success");
    if !already {
        source.ok(&["CLUSTERX", "MIGRATE", &range, to])?;
    }
    let mut last_report = Instant::now();
    let started = Instant::now();
    loop {
        let state = info_field(source, "migrating_state")?.unwrap_or_default();
        let keys = info_field(source, "migrating_keys")?.unwrap_or_default();
        let bytes = info_field(source, "migrating_bytes")?.unwrap_or_default();
        match state.as_str() {
            "success" => {
                return Ok((keys.parse().unwrap_or(0), bytes.parse().unwrap_or(0)));
            }
            "start" => {}
            _ => {
                return Err(format!(
                    "the migration of slots {range} failed (see the source's log); the \
                     source still serves them: run the command again to retry"
                ))
            }
        }
        if last_report.elapsed() >= PROGRESS {
            let seconds = started.elapsed().as_secs_f64();
            let rate = bytes.parse::<f64>().unwrap_or(0.0) / seconds / 1e6;
            println!("slots {range}: {keys} keys, {bytes} bytes copied ({rate:.1} MB/s)");
            last_report = Instant::now();
        }
        std::thread::sleep(POLL);
    }
}
