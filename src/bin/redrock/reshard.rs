//! `redrock cluster reshard`: moves chosen slots with their keys from one
//! master to another, one contiguous run at a time, with the migration
//! engine. Run again after an interruption (with the same range), it
//! finishes what was under way and moves the slots still at the source.

use crate::migrate::{run_plan, Move};
use crate::plan::slot_keys;
use crate::resume::settle;
use crate::{addr_of, Access};
use redrock_cluster::{parse_slot_range, Role, SlotRange, Topology};

/// Which slots to move: a count taken from the source's first slots, or
/// a range (`a-b`, or one slot as `a-a`) of which the slots the
/// destination serves already are left out (a resumed run). Returns
/// the runs and how many slots were left out.
fn chosen_slots(
    topology: &Topology,
    from: &str,
    to: &str,
    slots: &str,
) -> Result<(Vec<SlotRange>, usize), String> {
    let owned: Vec<u16> = topology
        .ranges_of(from)
        .into_iter()
        .flat_map(|(a, b)| a..=b)
        .collect();
    let (wanted, left_out): (Vec<u16>, usize) = if let Ok(count) = slots.parse::<usize>() {
        if count == 0 || count > owned.len() {
            return Err(format!(
                "--slots {count}: the source serves {} slots",
                owned.len()
            ));
        }
        (owned[..count].to_vec(), 0)
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
        let owner = |slot: u16| topology.owner(slot).map(|o| o.id.as_str());
        if let Some(slot) = (a..=b).find(|&s| owner(s) != Some(from) && owner(s) != Some(to)) {
            return Err(format!("slot {slot} is served by neither {from} nor {to}"));
        }
        let wanted: Vec<u16> = (a..=b).filter(|&s| owner(s) == Some(from)).collect();
        let left_out = usize::from(b - a) + 1 - wanted.len();
        (wanted, left_out)
    };
    // Contiguous runs, one migration each.
    let mut runs: Vec<SlotRange> = Vec::new();
    for slot in wanted {
        match runs.last_mut() {
            Some(run) if run.1 + 1 == slot => run.1 = slot,
            _ => runs.push((slot, slot)),
        }
    }
    Ok((runs, left_out))
}

pub fn reshard(access: &Access, from: &str, to: &str, slots: &str) -> Result<(), String> {
    let topology = settle(access, false, None)?;
    for (id, what) in [(from, "--from"), (to, "--to")] {
        match topology.node(id) {
            Some(node) if node.role == Role::Master => {}
            _ => return Err(format!("{what} {id}: not a master of this cluster")),
        }
    }
    if from == to {
        return Err("--from and --to name the same master".into());
    }
    let (runs, left_out) = chosen_slots(&topology, from, to, slots)?;
    if left_out > 0 {
        println!("{left_out} of these slots are served by the destination already");
    }
    if runs.is_empty() {
        println!("nothing to move");
        return Ok(());
    }
    let source = topology.node(from).expect("checked above");
    let target = topology.node(to).expect("checked above");
    let all: Vec<u16> = runs.iter().flat_map(|&(a, b)| a..=b).collect();
    let mut keys = slot_keys(&mut access.connect(&addr_of(source))?, &all)?.into_iter();
    let plan: Vec<Move> = runs
        .iter()
        .map(|&slots| Move {
            from: from.to_string(),
            to: to.to_string(),
            slots,
            keys: keys.by_ref().take(usize::from(slots.1 - slots.0) + 1).sum(),
        })
        .collect();
    println!(
        "moving {} slots in {} runs from {} to {}",
        all.len(),
        plan.len(),
        addr_of(source),
        addr_of(target)
    );
    run_plan(access, &plan, topology.version)
}
