//! Cluster commands: CLUSTER for clients (as Redis Cluster answers it),
//! CLUSTERX for the controller (as Kvrocks defines it), and the connection
//! flags ASKING, READONLY and READWRITE.

use super::args::{int, is};
use super::Ctx;
use crate::error::{Error, Result};
use crate::protocol::Reply;
use crate::server::cluster::Cluster;
use crate::types::now_ms;
use bytes::Bytes;
use redrock_cluster::{
    key_slot, parse_slot_range, slot_range_text, Node, Role, SlotRange, SLOT_COUNT,
};
use std::fmt::Write;

/// The node's cluster state, or Redis's error in standalone mode.
fn cluster<'a>(ctx: &'a Ctx<'_>) -> Result<&'a Cluster> {
    ctx.server
        .cluster
        .as_ref()
        .ok_or_else(|| Error::err("This instance has cluster support disabled"))
}

pub fn info(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Result<Reply> {
    let cluster = cluster(ctx)?;
    let topology = cluster.topology();
    let assigned = topology.as_ref().map_or(0, |t| t.assigned_slots());
    let known = topology.as_ref().map_or(1, |t| t.nodes.len());
    let size = topology.as_ref().map_or(0, |t| {
        t.nodes
            .iter()
            .filter(|n| !t.ranges_of(&n.id).is_empty())
            .count()
    });
    let epoch = cluster.version().max(0);
    let state = if assigned == SLOT_COUNT as usize {
        "ok"
    } else {
        "fail"
    };
    let mut out = String::new();
    let _ = write!(
        out,
        "cluster_state:{state}\r\ncluster_slots_assigned:{assigned}\r\n\
         cluster_slots_ok:{assigned}\r\ncluster_slots_pfail:0\r\ncluster_slots_fail:0\r\n\
         cluster_known_nodes:{known}\r\ncluster_size:{size}\r\n\
         cluster_current_epoch:{epoch}\r\ncluster_my_epoch:{epoch}\r\n\
         cluster_stats_messages_sent:0\r\ncluster_stats_messages_received:0\r\n\
         total_cluster_links_buffer_limit_exceeded:0\r\n"
    );
    // Kvrocks's lines, which its controller polls during a migration.
    if let Some(m) = cluster.moves.migrating() {
        let _ = write!(
            out,
            "migrating_slot:{}\r\ndestination_node:{}\r\nmigrating_state:{}\r\n\
             migrating_keys:{}\r\nmigrating_bytes:{}\r\n",
            slot_range_text(m.slots),
            m.destination,
            m.state.name(false),
            m.keys,
            m.bytes
        );
    }
    if let Some(i) = cluster.moves.importing() {
        let _ = write!(
            out,
            "importing_slot:{}\r\nimport_state:{}\r\n",
            slot_range_text(i.slots),
            i.state.name(true)
        );
    }
    Ok(Reply::Verbatim(Bytes::from(out)))
}

pub fn nodes(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Result<Reply> {
    let cluster = cluster(ctx)?;
    let text = match cluster.topology() {
        Some(t) => t.nodes_text(Some(&cluster.my_id()), now_ms()),
        // Before any topology, the node knows only itself.
        None => format!(
            "{} 127.0.0.1:{}@{} myself,master - 0 0 0 connected\n",
            cluster.my_id(),
            ctx.server.port,
            u32::from(ctx.server.port) + 10000
        ),
    };
    Ok(Reply::Verbatim(Bytes::from(text)))
}

fn node_entry(node: &Node) -> Reply {
    Reply::Array(vec![
        Reply::bulk(&node.host),
        Reply::Integer(node.port.into()),
        Reply::bulk(&node.id),
        Reply::Map(Vec::new()),
    ])
}

pub fn slots(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Result<Reply> {
    let Some(topology) = cluster(ctx)?.topology() else {
        return Ok(Reply::Array(Vec::new()));
    };
    let entries = topology
        .runs()
        .into_iter()
        .map(|(first, last, owner)| {
            let master = &topology.nodes[owner];
            let mut entry = vec![
                Reply::Integer(first.into()),
                Reply::Integer(last.into()),
                node_entry(master),
            ];
            entry.extend(topology.replicas_of(&master.id).map(node_entry));
            Reply::Array(entry)
        })
        .collect();
    Ok(Reply::Array(entries))
}

fn shard_node(node: &Node) -> Reply {
    let field = |name: &str, value: Reply| (Reply::bulk(name), value);
    Reply::Map(vec![
        field("id", Reply::bulk(&node.id)),
        field("port", Reply::Integer(node.port.into())),
        field("ip", Reply::bulk(&node.host)),
        field("endpoint", Reply::bulk(&node.host)),
        field(
            "role",
            Reply::bulk(match node.role {
                Role::Master => "master",
                Role::Replica => "replica",
            }),
        ),
        field("replication-offset", Reply::Integer(0)),
        field("health", Reply::bulk("online")),
    ])
}

pub fn shards(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Result<Reply> {
    let Some(topology) = cluster(ctx)?.topology() else {
        return Ok(Reply::Array(Vec::new()));
    };
    let shards = topology
        .nodes
        .iter()
        .filter(|n| n.role == Role::Master)
        .map(|master| {
            let slots = topology
                .ranges_of(&master.id)
                .into_iter()
                .flat_map(|(a, b)| [Reply::Integer(a.into()), Reply::Integer(b.into())])
                .collect();
            let mut nodes = vec![shard_node(master)];
            nodes.extend(topology.replicas_of(&master.id).map(shard_node));
            Reply::Map(vec![
                (Reply::bulk("slots"), Reply::Array(slots)),
                (Reply::bulk("nodes"), Reply::Array(nodes)),
            ])
        })
        .collect();
    Ok(Reply::Array(shards))
}

pub fn myid(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Result<Reply> {
    Ok(Reply::bulk(cluster(ctx)?.my_id()))
}

pub fn myshardid(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Result<Reply> {
    // A shard is a master and its replicas: it goes by the master's id.
    let cluster = cluster(ctx)?;
    let my_id = cluster.my_id();
    let shard = cluster
        .topology()
        .and_then(|t| t.node(&my_id).and_then(|n| n.master_id.clone()))
        .unwrap_or(my_id);
    Ok(Reply::bulk(shard))
}

pub fn keyslot(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    cluster(ctx)?;
    Ok(Reply::Integer(key_slot(&argv[2]).into()))
}

fn slot_arg(arg: &[u8]) -> Result<Option<u16>> {
    let n = int(arg)?;
    Ok(u16::try_from(n).ok().filter(|&s| s < SLOT_COUNT))
}

pub fn countkeysinslot(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    cluster(ctx)?;
    let slot = slot_arg(&argv[2])?.ok_or_else(|| Error::err("Invalid slot"))?;
    Ok(Reply::Integer(
        ctx.client.db.counts.keys_in_slot(slot) as i64
    ))
}

pub fn getkeysinslot(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    cluster(ctx)?;
    let slot = slot_arg(&argv[2])?;
    let count = int(&argv[3])?;
    let (Some(slot), Ok(count)) = (slot, usize::try_from(count)) else {
        return Err(Error::err("Invalid slot or number of keys"));
    };
    Ok(Reply::bulks(ctx.db().keys_in_slot(slot, count)?))
}

pub fn replicas(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let cluster = cluster(ctx)?;
    let id = String::from_utf8_lossy(&argv[2]).into_owned();
    let topology = cluster.topology();
    let node = topology
        .as_ref()
        .and_then(|t| t.node(&id))
        .ok_or_else(|| Error::err(format!("Unknown node {id}")))?;
    if node.role != Role::Master {
        return Err(Error::err("The specified node is not a master"));
    }
    let topology = topology.as_ref().expect("found above");
    let my_id = cluster.my_id();
    Ok(Reply::bulks(
        topology
            .replicas_of(&id)
            .map(|replica| Bytes::from(topology.node_line(replica, Some(&my_id), now_ms())))
            .collect::<Vec<_>>(),
    ))
}

pub fn asking(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Result<Reply> {
    cluster(ctx)?;
    // A migrating slot is served whole by its source until the hand-over
    // and whole by its destination after it, so ASK is never sent and
    // ASKING changes no routing (docs/ARCHITECTURE.md, "Why no ASK"); it
    // is accepted for clients that send it anyway.
    Ok(Reply::ok())
}

pub fn readonly(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Result<Reply> {
    cluster(ctx)?;
    ctx.client.replica_reads = true;
    Ok(Reply::ok())
}

pub fn readwrite(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Result<Reply> {
    cluster(ctx)?;
    ctx.client.replica_reads = false;
    Ok(Reply::ok())
}

pub fn help(_ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Result<Reply> {
    Ok(super::help_reply(
        "CLUSTER",
        &[
            "COUNTKEYSINSLOT <slot>",
            "    Return the number of keys in <slot>.",
            "GETKEYSINSLOT <slot> <count>",
            "    Return key names stored by current node in a slot.",
            "INFO",
            "    Return information about the cluster.",
            "KEYSLOT <key>",
            "    Return the hash slot for <key>.",
            "MYID",
            "    Return the node id.",
            "MYSHARDID",
            "    Return the node's shard id.",
            "NODES",
            "    Return cluster configuration seen by node.",
            "REPLICAS <node-id>",
            "    Return <node-id> replicas.",
            "SHARDS",
            "    Return information about slot range mappings and the nodes associated with them.",
            "SLOTS",
            "    Return information about slots range mappings.",
        ],
    ))
}

// CLUSTERX: the controller's commands.

pub fn x_version(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Result<Reply> {
    Ok(Reply::bulk(cluster(ctx)?.version().to_string()))
}

pub fn x_myid(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Result<Reply> {
    Ok(Reply::bulk(cluster(ctx)?.my_id()))
}

pub fn x_setnodeid(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let id = String::from_utf8_lossy(&argv[2]);
    cluster(ctx)?.set_node_id(&ctx.server.storage, &id)?;
    Ok(Reply::ok())
}

fn version_arg(arg: &[u8]) -> Result<u64> {
    let n = int(arg)?;
    u64::try_from(n).map_err(|_| Error::err("Invalid cluster version: it must not be negative"))
}

pub fn x_setnodes(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let force = match argv.get(4) {
        None => false,
        Some(word) if is(word, "force") && argv.len() == 5 => true,
        Some(_) => return Err(Error::Syntax),
    };
    let text = std::str::from_utf8(&argv[2])
        .map_err(|_| Error::err("Invalid cluster nodes info: not UTF-8 text"))?;
    let version = version_arg(&argv[3])?;
    cluster(ctx)?.set_nodes(&ctx.server.storage, text, version, force)?;
    crate::replication::replica::follow_topology(ctx.server);
    Ok(Reply::ok())
}

fn slot_range_arg(arg: &[u8]) -> Result<SlotRange> {
    std::str::from_utf8(arg)
        .ok()
        .and_then(parse_slot_range)
        .ok_or_else(|| Error::err("Invalid slot: slots are 0-16383, ranges a-b with a < b"))
}

pub fn x_setslot(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let range = slot_range_arg(&argv[2])?;
    if !is(&argv[3], "node") {
        return Err(Error::Syntax);
    }
    let id = String::from_utf8_lossy(&argv[4]);
    let version = version_arg(&argv[5])?;
    cluster(ctx)?.set_slot(&ctx.server.storage, range, &id, version)?;
    Ok(Reply::ok())
}

/// CLUSTERX MIGRATE <slot|a-b> <node id>: starts moving slots this master
/// serves to another master; CLUSTER INFO follows it.
pub fn x_migrate(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let range = slot_range_arg(&argv[2])?;
    let cluster = cluster(ctx)?;
    let topology = cluster
        .topology()
        .ok_or_else(|| Error::coded("CLUSTERDOWN The cluster is not initialized"))?;
    let me = cluster
        .myself(&topology)
        .ok_or_else(|| Error::err("This node is not in the cluster topology"))?;
    if me.role != Role::Master {
        return Err(Error::err("Can't migrate slots from a replica"));
    }
    if (range.0..=range.1).any(|slot| topology.owner(slot).is_none_or(|o| o.id != me.id)) {
        return Err(Error::err("Can't migrate slots this node does not serve"));
    }
    let id = String::from_utf8_lossy(&argv[3]);
    let destination = topology
        .node(&id)
        .filter(|n| n.role == Role::Master && n.id != me.id)
        .ok_or_else(|| Error::err(format!("Can't migrate to {id}: not another master")))?;
    crate::migration::source::start(ctx.server, range, destination).map_err(Error::err)?;
    Ok(Reply::ok())
}

/// CLUSTER IMPORT <slot|a-b> <0|1|2>: a migration's source starts (0),
/// completes (1) or abandons (2) its import into this node.
pub fn import(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    cluster(ctx)?;
    let range = slot_range_arg(&argv[2])?;
    match &argv[3][..] {
        b"0" => {
            ctx.client.import_link =
                Some(crate::migration::import::start(ctx.server, range).map_err(Error::err)?);
        }
        b"1" | b"2" => {
            let link = ctx
                .client
                .import_link
                .take_if(|link| link.slots() == range)
                .ok_or_else(|| Error::err("No import of these slots on this connection"))?;
            link.finish(&argv[3][..] == b"1").map_err(Error::err)?;
        }
        _ => {
            return Err(Error::err(
                "Invalid import state: 0 (start), 1 (success) or 2 (failed)",
            ))
        }
    }
    Ok(Reply::ok())
}

/// CLUSTERX IMPORTDATA <records>: keys of the slots this connection
/// imports.
pub fn x_importdata(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply> {
    let link = ctx
        .client
        .import_link
        .as_ref()
        .ok_or_else(|| Error::err("No import runs on this connection"))?;
    link.apply(&argv[2]).map_err(Error::err)?;
    Ok(Reply::ok())
}

pub fn x_help(_ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Result<Reply> {
    Ok(super::help_reply(
        "CLUSTERX",
        &[
            "IMPORTDATA <records>",
            "    Keys of the slots this connection imports (sent by a migration's source).",
            "MIGRATE <slot|a-b> <node id>",
            "    Move slots this master serves, with their keys, to another master.",
            "MYID",
            "    Return this node's id.",
            "PUBLISH <channel> <message>",
            "    Deliver a message PUBLISHed on another node to this node's subscribers only.",
            "SETNODEID <id>",
            "    Set this node's 40-character id.",
            "SETNODES <nodes> <version> [FORCE]",
            "    Replace the topology: one line per node, '<id> <host> <port> <role> <master id|-> [slots]'.",
            "SETSLOT <slot|a-b> NODE <id> <version>",
            "    Give slots to a master; the version must be the current one plus one.",
            "VERSION",
            "    Return the topology version (-1 before the first).",
        ],
    ))
}

/// Checks that every key of a command is served here, as Redis Cluster
/// does: one slot for all keys, then MOVED or CLUSTERDOWN when another
/// node, or nobody, serves it.
pub fn check_route(
    cluster: &Cluster,
    keys: impl Iterator<Item = u16>,
    read_only: bool,
    replica_reads: bool,
) -> Result<()> {
    let mut slot = None;
    for key_slot in keys {
        match slot {
            None => slot = Some(key_slot),
            Some(s) if s != key_slot => {
                return Err(Error::coded(
                    "CROSSSLOT Keys in request don't hash to the same slot",
                ))
            }
            Some(_) => {}
        }
    }
    let Some(slot) = slot else {
        return Ok(());
    };
    match cluster.route(slot, read_only, replica_reads) {
        crate::server::cluster::Route::Local => Ok(()),
        crate::server::cluster::Route::Moved(addr) => {
            Err(Error::Reply(format!("MOVED {slot} {addr}").into()))
        }
        crate::server::cluster::Route::Down => {
            Err(Error::coded("CLUSTERDOWN Hash slot not served"))
        }
    }
}
