//! `redrock cluster rebalance`: evens out the masters by key count (a
//! slot weighs its keys plus one) when one is further than the threshold
//! from its share, and moves the slots with the migration engine.

use crate::migrate::{run_plan, Move};
use crate::plan::{deviations, even_out, loads, Load};
use crate::resume::settle;
use crate::{addr_of, Access};
use redrock_cluster::{slot_range_text, Topology};

pub fn rebalance(access: &Access, threshold: f64, dry_run: bool) -> Result<(), String> {
    if threshold.is_nan() || threshold < 0.0 {
        return Err(format!(
            "--threshold {threshold}: expected a percentage, 0 or more"
        ));
    }
    let topology = settle(access, dry_run, None)?;
    let loads = loads(access, &topology)?;
    let deviations = deviations(&loads, None);
    print!("{}", load_table(&topology, &loads, &deviations));
    let worst = deviations
        .iter()
        .fold(0.0f64, |worst, d| worst.max(d.abs()));
    if worst <= threshold {
        println!("balanced: every master is within {threshold}% of its share");
        return Ok(());
    }
    let plan = even_out(&loads, None);
    if plan.is_empty() {
        println!(
            "no move brings the masters nearer their share: their slots weigh too much \
             each (a slot's keys move together)"
        );
        return Ok(());
    }
    print!("{}", plan_text(&topology, &plan));
    if dry_run {
        println!("dry run: nothing moved");
        return Ok(());
    }
    run_plan(access, &plan, topology.version)
}

/// One line per master: its slots, keys, and distance from its share.
pub fn load_table(topology: &Topology, loads: &[Load], deviations: &[f64]) -> String {
    let mut out = String::new();
    for (load, deviation) in loads.iter().zip(deviations) {
        let addr = topology.node(&load.id).map(addr_of).unwrap_or_default();
        out.push_str(&format!(
            "master {addr} {}: {} slots, {} keys ({deviation:+.1}% from its share)\n",
            load.id,
            load.slots.len(),
            load.keys()
        ));
    }
    out
}

/// The plan, one line per run.
pub fn plan_text(topology: &Topology, plan: &[Move]) -> String {
    let addr = |id: &str| topology.node(id).map(addr_of).unwrap_or_default();
    let slots: u64 = plan.iter().map(Move::slot_count).sum();
    let keys: u64 = plan.iter().map(|m| m.keys).sum();
    let mut out = format!("plan: {slots} slots ({keys} keys) in {} runs\n", plan.len());
    for step in plan {
        out.push_str(&format!(
            "  slots {} ({} slots, {} keys): {} -> {}\n",
            slot_range_text(step.slots),
            step.slot_count(),
            step.keys,
            addr(&step.from),
            addr(&step.to)
        ));
    }
    out
}
