//! This node's view of the cluster (`cluster-enabled yes`): its id, the
//! topology the controller pushed, and where each slot is served. Saved in
//! a file of the data directory (not in the database: a replica's database
//! holds only its master's writes) so a restart comes back with both.

use crate::error::{Error, Result};
use crate::migration::Moves;
use crate::storage::Storage;
use parking_lot::RwLock;
use redrock_cluster::{Node, Role, SavedCluster, SlotRange, Topology, NODE_ID_LEN};
use std::sync::Arc;

/// The file of the data directory that holds the saved state.
const STATE_FILE: &str = "cluster.state";
/// Where versions before the state file kept it: the database's server
/// state, read once when the file does not exist yet.
const LEGACY_STATE_NAME: &str = "cluster";

/// Where a command's slot is served.
#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    /// Here.
    Local,
    /// By the master at this address.
    Moved(String),
    /// By nobody.
    Down,
}

pub struct Cluster {
    my_id: RwLock<String>,
    /// Slots moving to or from this node.
    pub moves: Moves,
    topology: RwLock<Option<Arc<Topology>>>,
    /// This node's port and bind addresses, to find itself in a topology
    /// that does not name its id.
    port: u16,
    bind: Vec<String>,
}

impl Cluster {
    /// Loads the saved state, or starts with a fresh random id and no
    /// topology.
    pub fn load(
        storage: &Arc<Storage>,
        port: u16,
        bind: Vec<String>,
    ) -> std::result::Result<Cluster, String> {
        let path = storage.data_dir().join(STATE_FILE);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => Some(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => storage
                .server_state(LEGACY_STATE_NAME)
                .map_err(|e| e.to_string())?,
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        let saved = match bytes {
            Some(bytes) => SavedCluster::from_bytes(&bytes).map_err(|e| e.to_string())?,
            None => SavedCluster::new(None, None),
        };
        let topology = saved
            .topology()
            .map_err(|e| format!("the saved cluster topology does not load: {e}"))?;
        let my_id = if saved.node_id.is_empty() {
            super::random_id()
        } else {
            saved.node_id
        };
        let cluster = Cluster {
            my_id: RwLock::new(my_id),
            moves: Moves::load(storage.data_dir())?,
            topology: RwLock::new(topology.map(Arc::new)),
            port,
            bind,
        };
        cluster.save(storage).map_err(|e| e.to_string())?;
        if let Some(slots) = cluster.moves.interrupted_import() {
            tracing::warn!(
                "the import of slots {}-{} was cut short: its keys go",
                slots.0,
                slots.1
            );
            crate::migration::drop_slots(storage, slots);
        }
        Ok(cluster)
    }

    /// Saves the state: written beside, synced, then renamed over the old.
    fn save(&self, storage: &Storage) -> Result<()> {
        let topology = self.topology();
        let saved = SavedCluster::new(Some(&self.my_id()), topology.as_deref());
        let dir = storage.data_dir();
        let path = dir.join(STATE_FILE);
        let temporary = dir.join(format!("{STATE_FILE}.tmp"));
        let write = || -> std::io::Result<()> {
            std::fs::write(&temporary, saved.to_bytes())?;
            std::fs::File::open(&temporary)?.sync_all()?;
            std::fs::rename(&temporary, &path)?;
            std::fs::File::open(dir)?.sync_all()
        };
        write().map_err(|e| {
            Error::err(format!(
                "cannot save the cluster state in {}: {e}",
                path.display()
            ))
        })
    }

    pub fn my_id(&self) -> String {
        self.my_id.read().clone()
    }

    pub fn topology(&self) -> Option<Arc<Topology>> {
        self.topology.read().clone()
    }

    /// The topology's version, -1 before the first one.
    pub fn version(&self) -> i64 {
        self.topology().map_or(-1, |t| t.version as i64)
    }

    /// This node in `topology`.
    pub fn myself<'t>(&self, topology: &'t Topology) -> Option<&'t Node> {
        topology.node(&self.my_id())
    }

    /// CLUSTERX SETNODEID.
    pub fn set_node_id(&self, storage: &Storage, id: &str) -> Result<()> {
        if id.len() != NODE_ID_LEN || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(Error::err(format!(
                "Invalid node id: it must be {NODE_ID_LEN} letters or digits"
            )));
        }
        *self.my_id.write() = id.to_string();
        self.save(storage)
    }

    /// CLUSTERX SETNODES.
    pub fn set_nodes(
        &self,
        storage: &Arc<Storage>,
        text: &str,
        version: u64,
        force: bool,
    ) -> Result<()> {
        let current = self.version();
        if !force && (version as i64) < current {
            return Err(Error::err(format!(
                "Invalid cluster version: {version} is lower than the current version {current}"
            )));
        }
        if !force && version as i64 == current {
            return Ok(());
        }
        let topology = Topology::parse(text, version).map_err(|e| Error::err(e.0))?;
        if current < 0 && topology.node(&self.my_id()).is_none() {
            // Like Kvrocks: a node given its first topology without its id
            // in it finds itself by port and bind address, and takes that
            // id. One a later topology leaves out (removed from the
            // cluster) keeps its own and redirects: on hosts that all use
            // one port it would take another node's id.
            if let Some(me) = topology.nodes.iter().find(|n| self.is_me(n)) {
                *self.my_id.write() = me.id.clone();
            }
        }
        *self.topology.write() = Some(Arc::new(topology));
        self.save(storage)?;
        self.forget_moves(storage)
    }

    /// A new topology says who serves every slot: hand-overs are
    /// forgotten, and the keys of slots handed away that this node does
    /// not serve now go.
    fn forget_moves(&self, storage: &Arc<Storage>) -> Result<()> {
        let migrated = self
            .moves
            .topology_changed()
            .map_err(|e| Error::err(format!("cannot save the slot moves: {e}")))?;
        let topology = self.topology();
        let my_id = self.my_id();
        for range in migrated {
            let served_here = (range.0..=range.1).any(|slot| {
                topology
                    .as_ref()
                    .and_then(|t| t.owner(slot))
                    .is_some_and(|owner| owner.id == my_id)
            });
            if !served_here {
                crate::migration::drop_slots(storage, range);
            }
        }
        Ok(())
    }

    fn is_me(&self, node: &Node) -> bool {
        node.port == self.port
            && self
                .bind
                .iter()
                .any(|b| b == &node.host || b == "0.0.0.0" || b == "*")
    }

    /// CLUSTERX SETSLOT: the version must be the next one.
    pub fn set_slot(
        &self,
        storage: &Arc<Storage>,
        range: SlotRange,
        node_id: &str,
        version: u64,
    ) -> Result<()> {
        let mut guard = self.topology.write();
        let Some(current) = guard.as_ref() else {
            return Err(Error::coded("CLUSTERDOWN The cluster is not initialized"));
        };
        if version != current.version + 1 {
            return Err(Error::err(format!(
                "Invalid cluster version: expected {}, the current version plus one",
                current.version + 1
            )));
        }
        let mut next = Topology::clone(current);
        next.assign(range, node_id, version)
            .map_err(|e| Error::err(e.0))?;
        *guard = Some(Arc::new(next));
        drop(guard);
        self.save(storage)?;
        self.forget_moves(storage)
    }

    /// Where `slot` is served, for a command that only reads when
    /// `read_only`, on a connection that sent READONLY when `replica_reads`.
    pub fn route(&self, slot: u16, read_only: bool, replica_reads: bool) -> Route {
        let Some(topology) = self.topology() else {
            return Route::Down;
        };
        // Slots handed over are answered by their new node before the
        // topology says so.
        if let Some(address) = self.moves.moved_to(slot) {
            return Route::Moved(address);
        }
        if self.moves.imported(slot) {
            return Route::Local;
        }
        let Some(owner) = topology.owner(slot) else {
            return Route::Down;
        };
        let my_id = self.my_id.read();
        if owner.id == *my_id {
            return Route::Local;
        }
        let replica_of_owner = topology.node(&my_id).is_some_and(|me| {
            me.role == Role::Replica && me.master_id.as_deref() == Some(owner.id.as_str())
        });
        if replica_of_owner && read_only && replica_reads {
            return Route::Local;
        }
        Route::Moved(format!("{}:{}", owner.host, owner.port))
    }
}
