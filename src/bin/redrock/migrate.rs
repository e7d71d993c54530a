//! The migration engine of reshard, rebalance and del-node: moves one run
//! of slots from a master to another as a controller does (CLUSTERX
//! MIGRATE on the source, CLUSTER INFO until it ends, then CLUSTERX
//! SETSLOT at the next version on every node, the destination first and
//! the source last), and runs a plan of such moves with progress and an
//! ETA.

use crate::client::Client;
use crate::{addr_of, size_text, Access};
use redrock_cluster::{parse_slot_range, slot_range_text, Node, SlotRange};
use std::time::{Duration, Instant};

/// How often the source's migration state is read.
const POLL: Duration = Duration::from_millis(100);
/// How often progress is printed while a run moves.
const PROGRESS: Duration = Duration::from_secs(2);

/// One run of slots to move.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Move {
    pub from: String,
    pub to: String,
    pub slots: SlotRange,
    /// The keys the slots held when planned (for the ETA).
    pub keys: u64,
}

impl Move {
    pub fn slot_count(&self) -> u64 {
        u64::from(self.slots.1 - self.slots.0) + 1
    }
}

/// A migration as the source's CLUSTER INFO shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Migration {
    pub slots: SlotRange,
    pub destination: String,
    /// start, success or fail.
    pub state: String,
    /// Copied so far.
    pub keys: u64,
    pub bytes: u64,
}

/// The last migration a master started, if CLUSTER INFO shows one.
pub fn migration_of(client: &mut Client) -> Result<Option<Migration>, String> {
    let text = client.text(&["CLUSTER", "INFO"])?;
    Ok(parse_migration(&text))
}

fn parse_migration(info: &str) -> Option<Migration> {
    let field = |name: &str| {
        info.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
            .map(str::trim)
    };
    Some(Migration {
        slots: parse_slot_range(field("migrating_slot")?)?,
        destination: field("destination_node")?.to_string(),
        state: field("migrating_state")?.to_string(),
        keys: field("migrating_keys")
            .and_then(|k| k.parse().ok())
            .unwrap_or(0),
        bytes: field("migrating_bytes")
            .and_then(|b| b.parse().ok())
            .unwrap_or(0),
    })
}

/// Polls the source until its migration of `slots` ends (success or
/// fail), printing what it copied every few seconds.
pub fn wait_for_migration(source: &mut Client, slots: SlotRange) -> Result<Migration, String> {
    let range = slot_range_text(slots);
    let started = Instant::now();
    let mut last_report = Instant::now();
    loop {
        let migration = migration_of(source)?
            .filter(|m| m.slots == slots)
            .ok_or_else(|| {
                format!(
                    "{} no longer shows the migration of slots {range} (restarted?); \
                     run the command again",
                    source.addr
                )
            })?;
        if migration.state != "start" {
            return Ok(migration);
        }
        if last_report.elapsed() >= PROGRESS {
            let rate = migration.bytes as f64 / started.elapsed().as_secs_f64() / 1e6;
            println!(
                "  slots {range}: {} keys, {} copied ({rate:.1} MB/s)",
                migration.keys,
                size_text(migration.bytes)
            );
            last_report = Instant::now();
        }
        std::thread::sleep(POLL);
    }
}

/// Gives `slots` to `to` at `version` on every node: the destination
/// first (it then serves them by the topology too), the source last
/// (which then drops their keys). A node missed is caught up by the next
/// run of the tool.
pub fn set_slot_everywhere(
    nodes: &mut [(&Node, Client)],
    slots: SlotRange,
    from: &str,
    to: &str,
    version: u64,
) -> Result<(), String> {
    nodes.sort_by_key(|(node, _)| (node.id != to, node.id == from));
    let range = slot_range_text(slots);
    for (node, client) in nodes.iter_mut() {
        client
            .ok(&[
                "CLUSTERX",
                "SETSLOT",
                &range,
                "NODE",
                to,
                &version.to_string(),
            ])
            .map_err(|e| {
                format!(
                    "{e}: {} did not take topology version {version}; run the command \
                     again to bring every node to it",
                    addr_of(node)
                )
            })?;
    }
    Ok(())
}

/// Moves one run: migrates it on the source, then gives it to the
/// destination at `version` + 1 on every node (all at `version`).
/// Returns the migration as it succeeded.
fn move_run(nodes: &mut [(&Node, Client)], step: &Move, version: u64) -> Result<Migration, String> {
    let (_, source) = nodes
        .iter_mut()
        .find(|(node, _)| node.id == step.from)
        .ok_or_else(|| format!("{} is no longer in the topology", step.from))?;
    let range = slot_range_text(step.slots);
    source.ok(&["CLUSTERX", "MIGRATE", &range, &step.to])?;
    let migration = wait_for_migration(source, step.slots)?;
    if migration.state != "success" {
        return Err(format!(
            "the migration of slots {range} failed (see {}'s log); it still serves \
             them: run the command again to retry",
            source.addr
        ));
    }
    set_slot_everywhere(nodes, step.slots, &step.from, &step.to, version + 1)?;
    Ok(migration)
}

/// Runs `plan` move by move, each on the topology the last one left
/// (`version` before the first), with a line per move: slots done, keys
/// and bytes moved, rate and ETA.
pub fn run_plan(access: &Access, plan: &[Move], mut version: u64) -> Result<(), String> {
    let total_slots: u64 = plan.iter().map(Move::slot_count).sum();
    // Work is counted in keys plus slots: an empty slot costs a little too.
    let total_work: u64 = plan.iter().map(|m| m.keys + m.slot_count()).sum();
    let started = Instant::now();
    let (mut slots_done, mut work_done, mut keys, mut bytes) = (0, 0, 0, 0);
    for (n, step) in plan.iter().enumerate() {
        let topology = access.topology()?;
        if topology.version != version {
            return Err(format!(
                "the topology changed meanwhile (version {} now, {version} expected); \
                 run the command again",
                topology.version
            ));
        }
        let mut nodes = access.agreeing_nodes(&topology)?;
        let node_addr = |id: &str| topology.node(id).map_or(id.to_string(), addr_of);
        println!(
            "[{}/{}] moving slots {} ({} keys) from {} to {}",
            n + 1,
            plan.len(),
            slot_range_text(step.slots),
            step.keys,
            node_addr(&step.from),
            node_addr(&step.to)
        );
        let migration = move_run(&mut nodes, step, version)?;
        version += 1;
        slots_done += step.slot_count();
        work_done += step.keys + step.slot_count();
        keys += migration.keys;
        bytes += migration.bytes;
        let elapsed = started.elapsed().as_secs_f64().max(0.001);
        let eta = elapsed * (total_work - work_done) as f64 / work_done as f64;
        println!(
            "  slots {} moved: {slots_done}/{total_slots} slots done, {keys} keys and {} \
             moved, {:.1} MB/s, ETA {eta:.0} s; topology version {version}",
            slot_range_text(step.slots),
            size_text(bytes),
            bytes as f64 / elapsed / 1e6
        );
    }
    println!(
        "done: {total_slots} slots moved ({keys} keys, {}) in {:.1} s",
        size_text(bytes),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_migration_of_cluster_info() {
        let info = "cluster_state:ok\r\nmigrating_slot:5-9\r\n\
                    destination_node:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\r\n\
                    migrating_state:start\r\nmigrating_keys:12\r\nmigrating_bytes:345\r\n";
        assert_eq!(
            parse_migration(info),
            Some(Migration {
                slots: (5, 9),
                destination: "b".repeat(40),
                state: "start".into(),
                keys: 12,
                bytes: 345
            })
        );
        let one_slot = info.replace("5-9", "7");
        assert_eq!(parse_migration(&one_slot).unwrap().slots, (7, 7));
        assert_eq!(parse_migration("cluster_state:ok\r\n"), None);
    }
}
