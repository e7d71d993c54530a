//! Refusing writes the storage cannot take: a full disk, a RocksDB
//! background error, `max-db-size`. The replies say what happened and what
//! to do, as Redis's MISCONF does when it cannot persist; reads go on.

use super::flags;
use crate::error::Error;
use crate::storage::{Fault, FaultKind, Storage};

/// The error a command with `command_flags` gets now, if writes are
/// refused: every write while the storage has failed (deletes too: they
/// need the disk as much), and commands that add data (DENYOOM) over
/// `max-db-size`, as Kvrocks does (deletes and trims then still run).
pub fn write_refusal(storage: &Storage, command_flags: u32) -> Option<Error> {
    if command_flags & flags::WRITE == 0 {
        return None;
    }
    let health = storage.health();
    if health.stopped() {
        return health.fault().map(|fault| fault_error(&fault));
    }
    if command_flags & flags::DENYOOM != 0 && health.over_max_db_size() {
        return Some(Error::err(
            "write command not allowed when reached max-db-size. Delete keys (the space \
             returns as compaction reclaims it) or raise the limit with CONFIG SET max-db-size.",
        ));
    }
    None
}

/// The MISCONF reply for a storage failure.
pub fn fault_error(fault: &Fault) -> Error {
    // An error reply is one line.
    let message: String = fault
        .message
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    Error::coded(match fault.kind {
        FaultKind::NoSpace => format!(
            "MISCONF Disk full: RedRock cannot write to its data directory ({message}). \
             Commands that may modify the data set are disabled until space is freed \
             there; writes then resume by themselves. Reads still work."
        ),
        kind => format!(
            "MISCONF RedRock stopped writes after a storage error ({}: {message}). \
             Commands that may modify the data set are disabled; reads still work. \
             Check the disk and the server log; restart the server if writes do not \
             resume by themselves.",
            kind.name()
        ),
    })
}
