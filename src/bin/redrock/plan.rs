//! Planning which slots move where, by key count: the planner of
//! rebalance and del-node. A slot weighs its keys plus one, so an empty
//! cluster evens out slot counts.

use crate::client::Client;
use crate::migrate::Move;
use crate::{addr_of, Access};
use redis_protocol::resp2::types::BytesFrame;
use redrock_cluster::{Role, Topology};

/// A master and the weight of each slot it serves.
#[derive(Clone, Debug)]
pub struct Load {
    pub id: String,
    /// (slot, keys + 1), slots in order.
    pub slots: Vec<(u16, u64)>,
}

impl Load {
    pub fn weight(&self) -> u64 {
        self.slots.iter().map(|(_, w)| w).sum()
    }

    pub fn keys(&self) -> u64 {
        self.weight() - self.slots.len() as u64
    }
}

/// CLUSTER COUNTKEYSINSLOT of each slot, pipelined.
pub fn slot_keys(client: &mut Client, slots: &[u16]) -> Result<Vec<u64>, String> {
    let commands: Vec<Vec<String>> = slots
        .iter()
        .map(|slot| {
            vec![
                "CLUSTER".to_string(),
                "COUNTKEYSINSLOT".to_string(),
                slot.to_string(),
            ]
        })
        .collect();
    client
        .pipeline(&commands)?
        .into_iter()
        .map(|reply| match reply {
            BytesFrame::Integer(n) => u64::try_from(n).map_err(|_| format!("{n} keys?")),
            other => Err(format!(
                "{}: unexpected COUNTKEYSINSLOT reply {other:?}",
                client.addr
            )),
        })
        .collect()
}

/// Every master's load, read from the master itself.
pub fn loads(access: &Access, topology: &Topology) -> Result<Vec<Load>, String> {
    let mut loads = Vec::new();
    for master in topology.nodes.iter().filter(|n| n.role == Role::Master) {
        let slots: Vec<u16> = topology
            .ranges_of(&master.id)
            .into_iter()
            .flat_map(|(a, b)| a..=b)
            .collect();
        let keys = if slots.is_empty() {
            Vec::new()
        } else {
            slot_keys(&mut access.connect(&addr_of(master))?, &slots)?
        };
        loads.push(Load {
            id: master.id.clone(),
            slots: slots
                .into_iter()
                .zip(keys.into_iter().map(|k| k + 1))
                .collect(),
        });
    }
    Ok(loads)
}

/// How far each master is from an even share, in percent of the share
/// (`leaving`, if named, is to hold nothing).
pub fn deviations(loads: &[Load], leaving: Option<&str>) -> Vec<f64> {
    let targets = targets(loads, leaving);
    loads
        .iter()
        .zip(targets)
        .map(|(load, target)| (load.weight() as f64 - target) / target.max(1.0) * 100.0)
        .collect()
}

/// Each master's even share of the total weight; none for `leaving`.
fn targets(loads: &[Load], leaving: Option<&str>) -> Vec<f64> {
    let total: u64 = loads.iter().map(Load::weight).sum();
    let staying = loads
        .iter()
        .filter(|l| Some(l.id.as_str()) != leaving)
        .count()
        .max(1);
    loads
        .iter()
        .map(|l| match Some(l.id.as_str()) == leaving {
            true => 0.0,
            false => total as f64 / staying as f64,
        })
        .collect()
}

/// The moves that bring every master to its even share: masters above it
/// give slots from the end of their ranges, each to the master furthest
/// below its share until that one has enough, so the slots go in few
/// contiguous runs. A slot moves only if that brings both masters nearer
/// their share. With `leaving`, only that master gives, and every slot.
pub fn even_out(loads: &[Load], leaving: Option<&str>) -> Vec<Move> {
    let targets = targets(loads, leaving);
    // Weight above (positive) or below (negative) the share.
    let mut excess: Vec<f64> = loads
        .iter()
        .zip(&targets)
        .map(|(load, target)| load.weight() as f64 - target)
        .collect();
    // A master leaving gives its slots; the others keep theirs.
    let mut donors: Vec<usize> = (0..loads.len())
        .filter(|&i| excess[i] > 0.0 && leaving.is_none_or(|id| loads[i].id == id))
        .collect();
    donors.sort_by(|&a, &b| excess[b].total_cmp(&excess[a]));
    let mut receivers: Vec<usize> = (0..loads.len())
        .filter(|&i| excess[i] < 0.0 && Some(loads[i].id.as_str()) != leaving)
        .collect();
    receivers.sort_by(|&a, &b| excess[a].total_cmp(&excess[b]));
    let mut moves: Vec<Move> = Vec::new();
    let mut current = 0;
    for donor in donors {
        let emptied = Some(loads[donor].id.as_str()) == leaving;
        for &(slot, weight) in loads[donor].slots.iter().rev() {
            let half = weight as f64 / 2.0;
            if !emptied && excess[donor] < half {
                break;
            }
            while current < receivers.len() && -excess[receivers[current]] < half {
                current += 1;
            }
            let receiver = match receivers.get(current) {
                Some(&receiver) => receiver,
                // What is left of a leaving master (less than a slot's
                // weight per master) goes on with the last run.
                None if emptied => match receivers.last() {
                    Some(&receiver) => receiver,
                    None => break,
                },
                None => break,
            };
            excess[donor] -= weight as f64;
            excess[receiver] += weight as f64;
            let (from, to) = (&loads[donor].id, &loads[receiver].id);
            match moves.last_mut() {
                Some(last) if last.from == *from && last.to == *to && last.slots.0 == slot + 1 => {
                    last.slots.0 = slot;
                    last.keys += weight - 1;
                }
                _ => moves.push(Move {
                    from: from.clone(),
                    to: to.clone(),
                    slots: (slot, slot),
                    keys: weight - 1,
                }),
            }
        }
    }
    moves
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(id: char, ranges: &[(u16, u16)], keys_per_slot: u64) -> Load {
        Load {
            id: id.to_string().repeat(40),
            slots: ranges
                .iter()
                .flat_map(|&(a, b)| a..=b)
                .map(|s| (s, keys_per_slot + 1))
                .collect(),
        }
    }

    /// Each master's weight once `moves` are made.
    fn after(loads: &[Load], moves: &[Move]) -> Vec<u64> {
        loads
            .iter()
            .map(|load| {
                let weight_of = |m: &Move| m.keys + m.slot_count();
                let given: u64 = moves
                    .iter()
                    .filter(|m| m.from == load.id)
                    .map(weight_of)
                    .sum();
                let taken: u64 = moves
                    .iter()
                    .filter(|m| m.to == load.id)
                    .map(weight_of)
                    .sum();
                load.weight() - given + taken
            })
            .collect()
    }

    #[test]
    fn an_empty_cluster_evens_out_slot_counts_from_the_ends_of_ranges() {
        let loads = [
            load('a', &[(0, 8191)], 0),
            load('b', &[(8192, 16383)], 0),
            load('c', &[], 0),
        ];
        let moves = even_out(&loads, None);
        assert_eq!(moves.len(), 2, "{moves:?}");
        assert_eq!(moves[0].slots.1, 8191);
        assert_eq!(moves[1].slots.1, 16383);
        for weight in after(&loads, &moves) {
            assert!((5461..=5462).contains(&weight), "{weight}");
        }
    }

    #[test]
    fn keys_weigh_more_than_slots() {
        // a holds ten times b's keys per slot: it keeps fewer slots.
        let loads = [load('a', &[(0, 8191)], 10), load('b', &[(8192, 16383)], 1)];
        let moves = even_out(&loads, None);
        assert_eq!(moves.len(), 1);
        let weights = after(&loads, &moves);
        let target = (weights[0] + weights[1]) / 2;
        for weight in weights {
            assert!(weight.abs_diff(target) <= 11, "{weight} vs {target}");
        }
        assert!(moves[0].slot_count() > 3000);
    }

    #[test]
    fn a_balanced_cluster_moves_nothing() {
        let loads = [load('a', &[(0, 8191)], 3), load('b', &[(8192, 16383)], 3)];
        assert!(even_out(&loads, None).is_empty());
        assert!(deviations(&loads, None).iter().all(|d| d.abs() < 0.01));
    }

    #[test]
    fn a_leaving_master_gives_every_slot_by_weight() {
        let loads = [
            load('a', &[(0, 5460)], 2),
            load('b', &[(5461, 10922)], 2),
            load('c', &[(10923, 16383)], 2),
        ];
        let leaving = "c".repeat(40);
        let moves = even_out(&loads, Some(&leaving));
        assert_eq!(moves.len(), 2, "{moves:?}");
        assert!(moves.iter().all(|m| m.from == leaving));
        let weights = after(&loads, &moves);
        assert_eq!(weights[2], 0);
        assert!(weights[0].abs_diff(weights[1]) <= 3, "{weights:?}");
        let moved: u64 = moves.iter().map(Move::slot_count).sum();
        assert_eq!(moved, 5461);
        // A heavier slot skips a master short of less than half of it;
        // the slot left over at the end goes on with the last run.
        let mut loads = [
            load('a', &[(0, 5460)], 0),
            load('b', &[(5461, 10921)], 0),
            load('c', &[(10922, 16383)], 0),
        ];
        loads[2].slots[13652 - 10922].1 = 3;
        let moves = even_out(&loads, Some(&leaving));
        assert_eq!(moves.len(), 2, "{moves:?}");
        assert_eq!(after(&loads, &moves)[2], 0);
    }

    #[test]
    fn a_leaving_master_gives_its_slots_even_when_the_others_are_heavier() {
        let loads = [
            load('a', &[(0, 16000)], 50),
            load('b', &[(16001, 16383)], 0),
        ];
        let leaving = "b".repeat(40);
        let moves = even_out(&loads, Some(&leaving));
        assert_eq!(after(&loads, &moves)[1], 0);
    }
}
