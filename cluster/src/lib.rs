//! RedRock's cluster logic that needs no I/O: which of the 16,384 hash slots
//! a key belongs to, the topology a controller pushes, and its saved form.

mod saved;
mod slot;
mod topology;

pub use saved::SavedCluster;
pub use slot::{hash_tag, key_slot, SLOT_COUNT};
pub use topology::{
    parse_slot_range, slot_range_text, Node, Role, SlotRange, Topology, TopologyError, NODE_ID_LEN,
};
