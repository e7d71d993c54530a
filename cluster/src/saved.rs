//! The cluster state a node keeps across restarts.

use crate::{Topology, TopologyError};
use prost::Message;

/// A node's id and topology as written to its data directory.
#[derive(Clone, PartialEq, Message)]
pub struct SavedCluster {
    /// Set by CLUSTERX SETNODEID (or found in the topology); empty if none.
    #[prost(string, tag = "1")]
    pub node_id: String,
    /// Whether a topology was ever set.
    #[prost(bool, tag = "2")]
    pub has_topology: bool,
    #[prost(uint64, tag = "3")]
    pub version: u64,
    /// The topology in SETNODES form.
    #[prost(string, tag = "4")]
    pub nodes: String,
}

impl SavedCluster {
    pub fn new(node_id: Option<&str>, topology: Option<&Topology>) -> SavedCluster {
        SavedCluster {
            node_id: node_id.unwrap_or_default().to_string(),
            has_topology: topology.is_some(),
            version: topology.map_or(0, |t| t.version),
            nodes: topology.map(Topology::to_text).unwrap_or_default(),
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        self.encode_to_vec()
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<SavedCluster, TopologyError> {
        SavedCluster::decode(bytes)
            .map_err(|e| TopologyError(format!("unreadable saved cluster state: {e}")))
    }

    /// The saved topology, parsed again.
    pub fn topology(&self) -> Result<Option<Topology>, TopologyError> {
        self.has_topology
            .then(|| Topology::parse(&self.nodes, self.version))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let id = "a".repeat(40);
        let topology =
            Topology::parse(&format!("{id} 10.0.0.1 6379 master - 0-16383\n"), 9).unwrap();
        let saved = SavedCluster::new(Some(&id), Some(&topology));
        let back = SavedCluster::from_bytes(&saved.to_bytes()).unwrap();
        assert_eq!(back.node_id, id);
        assert_eq!(back.topology().unwrap(), Some(topology));
        let empty = SavedCluster::from_bytes(&SavedCluster::new(None, None).to_bytes()).unwrap();
        assert_eq!(empty.topology().unwrap(), None);
        assert!(SavedCluster::from_bytes(b"\xff\xff").is_err());
    }
}
