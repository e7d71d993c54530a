//! The cluster topology a controller pushes with `CLUSTERX SETNODES`: every
//! node, its role, and which node serves each of the 16,384 slots.

use crate::SLOT_COUNT;
use std::fmt;

/// Node ids are 40 characters, as in Redis Cluster.
pub const NODE_ID_LEN: usize = 40;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Master,
    Replica,
}

impl Role {
    /// The word CLUSTER NODES uses.
    pub fn name(self) -> &'static str {
        match self {
            Role::Master => "master",
            Role::Replica => "slave",
        }
    }
}

/// One node of the cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    pub id: String,
    pub host: String,
    pub port: u16,
    pub role: Role,
    /// A replica's master.
    pub master_id: Option<String>,
}

/// Why a topology was refused; the text says what to fix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopologyError(pub String);

impl fmt::Display for TopologyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn invalid(line: usize, what: impl fmt::Display) -> TopologyError {
    TopologyError(format!("Invalid cluster nodes info: line {line}: {what}"))
}

/// An inclusive run of slots.
pub type SlotRange = (u16, u16);

/// The whole topology at one version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Topology {
    pub version: u64,
    pub nodes: Vec<Node>,
    /// For each slot, the index in `nodes` of the master serving it.
    owners: Vec<Option<u16>>,
}

/// Parses a slot (`n`) or a range (`a-b`, a < b), within 0..16384.
pub fn parse_slot_range(text: &str) -> Option<SlotRange> {
    let slot = |t: &str| -> Option<u16> {
        let all_digits = !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
        t.parse::<u16>()
            .ok()
            .filter(|&s| all_digits && s < SLOT_COUNT)
    };
    match text.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (slot(a)?, slot(b)?);
            (a < b).then_some((a, b))
        }
        None => slot(text).map(|s| (s, s)),
    }
}

/// A slot range as [`parse_slot_range`] reads it back: `n` or `a-b`.
pub fn slot_range_text((first, last): SlotRange) -> String {
    if first == last {
        first.to_string()
    } else {
        format!("{first}-{last}")
    }
}

fn valid_id(id: &str) -> bool {
    id.len() == NODE_ID_LEN && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

impl Topology {
    /// Parses the text of `CLUSTERX SETNODES`: one node per line (lines end
    /// with `\n`), fields separated by single spaces: id, host, port, role
    /// (`master`, `slave` or `replica`), master id (`-` for a master), then
    /// a master's slots and slot ranges.
    pub fn parse(text: &str, version: u64) -> Result<Topology, TopologyError> {
        let mut topology = Topology {
            version,
            nodes: Vec::new(),
            owners: vec![None; SLOT_COUNT as usize],
        };
        let lines: Vec<&str> = text.split('\n').filter(|l| !l.is_empty()).collect();
        if lines.is_empty() {
            return Err(TopologyError("Invalid cluster nodes info: no nodes".into()));
        }
        for (n, line) in lines.iter().enumerate() {
            let line_no = n + 1;
            let fields: Vec<&str> = line.split(' ').collect();
            if fields.len() < 5 {
                return Err(invalid(
                    line_no,
                    "expected <id> <host> <port> <role> <master id> [slots...]",
                ));
            }
            let id = fields[0];
            if !valid_id(id) {
                return Err(invalid(
                    line_no,
                    format!("node id '{id}' must be {NODE_ID_LEN} letters or digits"),
                ));
            }
            if topology.nodes.iter().any(|node| node.id == id) {
                return Err(invalid(line_no, format!("node id '{id}' appears twice")));
            }
            let host = fields[1];
            if host.is_empty() {
                return Err(invalid(line_no, "empty host"));
            }
            let port = fields[2]
                .parse::<u16>()
                .ok()
                .filter(|&p| p > 0)
                .ok_or_else(|| invalid(line_no, format!("invalid port '{}'", fields[2])))?;
            let role = match fields[3].to_ascii_lowercase().as_str() {
                "master" => Role::Master,
                "slave" | "replica" => Role::Replica,
                other => {
                    return Err(invalid(
                        line_no,
                        format!("role '{other}' is not master, slave or replica"),
                    ))
                }
            };
            let master_id = match (role, fields[4]) {
                (Role::Master, "-") => None,
                (Role::Master, other) => {
                    return Err(invalid(
                        line_no,
                        format!("a master's master id must be '-', not '{other}'"),
                    ))
                }
                (Role::Replica, master) if valid_id(master) => Some(master.to_string()),
                (Role::Replica, other) => {
                    return Err(invalid(line_no, format!("invalid master id '{other}'")))
                }
            };
            if role == Role::Replica && fields.len() > 5 {
                return Err(invalid(line_no, "a replica cannot serve slots"));
            }
            let index = topology.nodes.len() as u16;
            for token in &fields[5..] {
                if valid_id(token) {
                    return Err(invalid(
                        line_no,
                        format!("found node id '{token}' among the slots: is a newline missing?"),
                    ));
                }
                let (from, to) = parse_slot_range(token).ok_or_else(|| {
                    invalid(
                        line_no,
                        format!("invalid slot or range '{token}' (slots are 0-16383, ranges a-b with a < b)"),
                    )
                })?;
                for slot in from..=to {
                    if let Some(other) = topology.owners[slot as usize] {
                        let owner = &topology.nodes.get(other as usize).map_or(id, |n| &n.id);
                        return Err(invalid(
                            line_no,
                            format!("slot {slot} is assigned twice (also to {owner})"),
                        ));
                    }
                    topology.owners[slot as usize] = Some(index);
                }
            }
            topology.nodes.push(Node {
                id: id.to_string(),
                host: host.to_string(),
                port,
                role,
                master_id,
            });
        }
        for node in &topology.nodes {
            if let Some(master) = &node.master_id {
                match topology.node(master) {
                    Some(m) if m.role == Role::Master => {}
                    Some(_) => {
                        return Err(TopologyError(format!(
                            "Invalid cluster nodes info: {}'s master {master} is a replica",
                            node.id
                        )))
                    }
                    None => {
                        return Err(TopologyError(format!(
                        "Invalid cluster nodes info: {}'s master {master} is not in the topology",
                        node.id
                    )))
                    }
                }
            }
        }
        Ok(topology)
    }

    /// The node of `id`.
    pub fn node(&self, id: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.id == id)
    }

    /// The master serving `slot`, if any.
    pub fn owner(&self, slot: u16) -> Option<&Node> {
        self.owners
            .get(slot as usize)
            .copied()
            .flatten()
            .map(|i| &self.nodes[i as usize])
    }

    /// The replicas of master `id`.
    pub fn replicas_of<'a>(&'a self, id: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.nodes
            .iter()
            .filter(move |n| n.master_id.as_deref() == Some(id))
    }

    /// The slot ranges master `id` serves, in order.
    pub fn ranges_of(&self, id: &str) -> Vec<SlotRange> {
        self.runs()
            .into_iter()
            .filter(|(_, _, owner)| self.nodes[*owner].id == id)
            .map(|(a, b, _)| (a, b))
            .collect()
    }

    /// Maximal runs of consecutive slots with one owner: (first, last,
    /// index of the owner in `nodes`).
    pub fn runs(&self) -> Vec<(u16, u16, usize)> {
        let mut runs: Vec<(u16, u16, usize)> = Vec::new();
        for (slot, owner) in self.owners.iter().enumerate() {
            let Some(owner) = owner.map(usize::from) else {
                continue;
            };
            let slot = slot as u16;
            match runs.last_mut() {
                Some((_, last, o)) if *o == owner && *last + 1 == slot => *last = slot,
                _ => runs.push((slot, slot, owner)),
            }
        }
        runs
    }

    /// How many slots have an owner.
    pub fn assigned_slots(&self) -> usize {
        self.owners.iter().filter(|o| o.is_some()).count()
    }

    /// `CLUSTERX SETSLOT`: gives `range` to master `id` at `version`.
    pub fn assign(
        &mut self,
        range: SlotRange,
        id: &str,
        version: u64,
    ) -> Result<(), TopologyError> {
        let index = self
            .nodes
            .iter()
            .position(|n| n.id == id)
            .ok_or_else(|| TopologyError(format!("Unknown node {id}")))?;
        if self.nodes[index].role != Role::Master {
            return Err(TopologyError(format!("The node {id} is not a master")));
        }
        for slot in range.0..=range.1 {
            self.owners[slot as usize] = Some(index as u16);
        }
        self.version = version;
        Ok(())
    }

    /// A failover: replica `id` takes its master's slots and role at
    /// `version`; the old master and its other replicas become replicas of
    /// it.
    pub fn promote(&self, id: &str, version: u64) -> Result<Topology, TopologyError> {
        let replica = self
            .nodes
            .iter()
            .position(|n| n.id == id)
            .ok_or_else(|| TopologyError(format!("Unknown node {id}")))?;
        let Some(old_master) = self.nodes[replica].master_id.clone() else {
            return Err(TopologyError(format!("The node {id} is not a replica")));
        };
        let old_index = self
            .nodes
            .iter()
            .position(|n| n.id == old_master)
            .expect("a parsed topology names only known masters");
        let mut next = self.clone();
        next.version = version;
        for node in &mut next.nodes {
            if node.id == id {
                node.role = Role::Master;
                node.master_id = None;
            } else if node.id == old_master || node.master_id.as_deref() == Some(&old_master) {
                node.role = Role::Replica;
                node.master_id = Some(id.to_string());
            }
        }
        for owner in &mut next.owners {
            if *owner == Some(old_index as u16) {
                *owner = Some(replica as u16);
            }
        }
        Ok(next)
    }

    /// The topology as SETNODES text, which [`Topology::parse`] reads back.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for node in &self.nodes {
            out.push_str(&format!(
                "{} {} {} {} {}",
                node.id,
                node.host,
                node.port,
                match node.role {
                    Role::Master => "master",
                    Role::Replica => "slave",
                },
                node.master_id.as_deref().unwrap_or("-")
            ));
            out.push_str(&self.ranges_text(&node.id));
            out.push('\n');
        }
        out
    }

    /// `CLUSTER NODES`, as Kvrocks writes it: one line per node, with
    /// `myself` on `my_id`'s line.
    pub fn nodes_text(&self, my_id: Option<&str>, now_ms: u64) -> String {
        let mut out = String::new();
        for node in &self.nodes {
            out.push_str(&self.node_line(node, my_id, now_ms));
            out.push('\n');
        }
        out
    }

    /// One line of `CLUSTER NODES`, without its newline.
    pub fn node_line(&self, node: &Node, my_id: Option<&str>, now_ms: u64) -> String {
        let myself = if Some(node.id.as_str()) == my_id {
            "myself,"
        } else {
            ""
        };
        format!(
            "{} {}:{}@{} {myself}{} {} {} {now_ms} {} connected{}",
            node.id,
            node.host,
            node.port,
            u32::from(node.port) + 10000,
            node.role.name(),
            node.master_id.as_deref().unwrap_or("-"),
            now_ms.saturating_sub(1),
            self.version,
            self.ranges_text(&node.id),
        )
    }

    /// A master's slots as ` a-b c ...` (each preceded by a space).
    fn ranges_text(&self, id: &str) -> String {
        self.ranges_of(id)
            .into_iter()
            .map(|range| format!(" {}", slot_range_text(range)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(c: char) -> String {
        std::iter::repeat_n(c, NODE_ID_LEN).collect()
    }

    fn three_nodes() -> String {
        format!(
            "{} 127.0.0.1 7001 master - 0-5460\n{} 127.0.0.1 7002 master - 5461-10922\n\
             {} 127.0.0.1 7003 master - 10923-16383\n{} 127.0.0.1 7004 slave {}\n",
            id('a'),
            id('b'),
            id('c'),
            id('d'),
            id('a')
        )
    }

    #[test]
    fn parses_masters_replicas_and_ranges() {
        let t = Topology::parse(&three_nodes(), 3).unwrap();
        assert_eq!(t.nodes.len(), 4);
        assert_eq!(t.owner(0).unwrap().port, 7001);
        assert_eq!(t.owner(5461).unwrap().port, 7002);
        assert_eq!(t.owner(16383).unwrap().port, 7003);
        assert_eq!(t.assigned_slots(), 16384);
        assert_eq!(t.replicas_of(&id('a')).count(), 1);
        assert_eq!(t.ranges_of(&id('b')), vec![(5461, 10922)]);
        assert_eq!(Topology::parse(&t.to_text(), 3).unwrap(), t);
    }

    #[test]
    fn single_slots_and_gaps() {
        let text = format!("{} h 1 master - 0 2-3 100\n", id('a'));
        let t = Topology::parse(&text, 1).unwrap();
        assert_eq!(t.ranges_of(&id('a')), vec![(0, 0), (2, 3), (100, 100)]);
        assert!(t.owner(1).is_none());
        assert_eq!(t.assigned_slots(), 4);
    }

    #[test]
    fn refuses_malformed_input_with_a_reason() {
        let a = id('a');
        let b = id('b');
        let cases = [
            (format!("{} h 1 master - 0-10\n", &a[..39]), "must be 40"),
            (
                format!("{a} h 1 master - 0-10\n{b} h 2 master - 10-20\n"),
                "assigned twice",
            ),
            (format!("{a} h 1 master - 0-16384\n"), "invalid slot"),
            (format!("{a} h 1 master - 5-5\n"), "invalid slot"),
            (format!("{a} h 1 master - 9-3\n"), "invalid slot"),
            (format!("{a} h 1 master - x\n"), "invalid slot"),
            (
                format!("{a} h 1 master - 0-10\n{b} h 2 slave {a} 11-20\n"),
                "cannot serve slots",
            ),
            (
                format!("{a} h 1 master - 0-10 {b} h 2 master - 11-20\n"),
                "newline missing",
            ),
            (format!("{a} h 0 master - 0-10\n"), "invalid port"),
            (format!("{a} h 70000 master - 0-10\n"), "invalid port"),
            (format!("{a} h 1 leader - 0-10\n"), "role"),
            (format!("{a} h 1\n"), "expected"),
            (
                format!("{a} h 1 master - 0\n{a} h 2 master - 1\n"),
                "appears twice",
            ),
            (format!("{a} h 1 slave {b}\n"), "not in the topology"),
            (String::new(), "no nodes"),
        ];
        for (text, reason) in cases {
            let err = Topology::parse(&text, 1).expect_err(&text);
            assert!(err.0.contains(reason), "{text:?}: {}", err.0);
        }
    }

    #[test]
    fn assign_moves_slots_to_a_master_only() {
        let mut t = Topology::parse(&three_nodes(), 3).unwrap();
        t.assign((0, 100), &id('c'), 4).unwrap();
        assert_eq!(t.owner(50).unwrap().id, id('c'));
        assert_eq!(t.owner(101).unwrap().id, id('a'));
        assert_eq!(t.version, 4);
        assert!(t.assign((0, 1), &id('d'), 5).is_err());
        assert!(t.assign((0, 1), &id('z'), 5).is_err());
    }

    #[test]
    fn promote_swaps_a_replica_and_its_master() {
        let text = format!(
            "{}{} 127.0.0.1 7005 slave {}\n",
            three_nodes(),
            id('e'),
            id('a')
        );
        let t = Topology::parse(&text, 3).unwrap();
        let next = t.promote(&id('d'), 4).unwrap();
        assert_eq!(next.version, 4);
        assert_eq!(next.owner(0).unwrap().id, id('d'));
        assert_eq!(next.ranges_of(&id('d')), vec![(0, 5460)]);
        assert_eq!(next.ranges_of(&id('a')), vec![]);
        assert_eq!(next.owner(5461).unwrap().id, id('b'));
        let promoted = id('d');
        let replicas: Vec<&str> = next.replicas_of(&promoted).map(|n| n.id.as_str()).collect();
        assert_eq!(replicas, [id('a'), id('e')]);
        assert_eq!(next.node(&id('a')).unwrap().role, Role::Replica);
        // It reads back as a valid topology.
        assert_eq!(Topology::parse(&next.to_text(), 4).unwrap(), next);
        assert!(t.promote(&id('a'), 4).is_err(), "a master");
        assert!(t.promote(&id('z'), 4).is_err(), "unknown");
    }

    #[test]
    fn nodes_text_marks_myself() {
        let t = Topology::parse(&three_nodes(), 7).unwrap();
        let text = t.nodes_text(Some(&id('b')), 1000);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[1],
            format!(
                "{} 127.0.0.1:7002@17002 myself,master - 999 1000 7 connected 5461-10922",
                id('b')
            )
        );
        assert_eq!(
            lines[3],
            format!(
                "{} 127.0.0.1:7004@17004 slave {} 999 1000 7 connected",
                id('d'),
                id('a')
            )
        );
    }
}
