//! The destination's side: the source's connection starts an import
//! (`CLUSTER IMPORT <slots> 0`), sends the keys (`CLUSTERX IMPORTDATA`),
//! and ends it (`CLUSTER IMPORT <slots> 1` or `2`). An import whose
//! connection goes away before it succeeded fails, and its keys go.

use super::flush::Flusher;
use super::{drop_slots, span};
use crate::server::Server;
use redrock_cluster::{Role, SlotRange};
use std::sync::Arc;

/// An import in progress on the source's connection; failed when dropped
/// before it succeeded.
pub struct ImportLink {
    server: Arc<Server>,
    slots: SlotRange,
    /// Keeps few dirty pages for the hand-over's fsync (see `flush`).
    _flusher: Flusher,
}

impl ImportLink {
    pub fn slots(&self) -> SlotRange {
        self.slots
    }

    /// Applies records of the imported slots.
    pub fn apply(&self, records: &[u8]) -> Result<(), String> {
        let created = self
            .server
            .storage
            .import_records(&span(self.slots), records)
            .map_err(|e| e.0)?;
        if let Some(cluster) = &self.server.cluster {
            cluster.moves.received.keys.add(created);
            cluster.moves.received.bytes.add(records.len() as u64);
        }
        Ok(())
    }

    /// Ends the import: on success this node serves the slots from now
    /// on; on failure their keys go.
    pub fn finish(self, success: bool) -> Result<(), String> {
        self.end(success)
    }

    fn end(&self, success: bool) -> Result<(), String> {
        let Some(cluster) = &self.server.cluster else {
            return Ok(());
        };
        let ended = cluster
            .moves
            .end_import(self.slots, success)
            .map_err(|e| format!("cannot save the imported slots: {e}"))?;
        if ended && !success {
            drop_slots(&self.server.storage, self.slots);
        }
        Ok(())
    }
}

impl Drop for ImportLink {
    fn drop(&mut self) {
        // A no-op once finished.
        let _ = self.end(false);
    }
}

/// Starts importing `slots` into this master, which must not serve them:
/// whatever it holds of them from an earlier attempt goes first.
pub fn start(server: &Arc<Server>, slots: SlotRange) -> Result<ImportLink, String> {
    let cluster = server
        .cluster
        .as_ref()
        .ok_or("This instance has cluster support disabled")?;
    let topology = cluster.topology().ok_or("The cluster is not initialized")?;
    let me = cluster
        .myself(&topology)
        .ok_or("This node is not in the cluster topology")?;
    if me.role != Role::Master {
        return Err("Slots can only be imported into a master".into());
    }
    if (slots.0..=slots.1).any(|slot| topology.owner(slot).is_some_and(|o| o.id == me.id)) {
        return Err("Can't import slots this node serves already".into());
    }
    cluster.moves.begin_import(slots)?;
    drop_slots(&server.storage, slots);
    Ok(ImportLink {
        server: server.clone(),
        slots,
        _flusher: Flusher::start(server.storage.data_dir().to_path_buf()),
    })
}
