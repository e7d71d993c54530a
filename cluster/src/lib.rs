//! RedRock's cluster logic that needs no I/O: which of the 16,384 hash slots
//! a key belongs to.

mod slot;

pub use slot::{hash_tag, key_slot, SLOT_COUNT};
