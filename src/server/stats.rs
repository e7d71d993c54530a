//! Server-wide counters for INFO stats and errorstats.

use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Default)]
pub struct Stats {
    pub connections_received: AtomicU64,
    pub connections_rejected: AtomicU64,
    pub commands_processed: AtomicU64,
    pub net_input_bytes: AtomicU64,
    pub net_output_bytes: AtomicU64,
    pub keyspace_hits: AtomicU64,
    pub keyspace_misses: AtomicU64,
    pub error_replies: AtomicU64,
    errors_by_code: Mutex<BTreeMap<String, u64>>,
}

impl Stats {
    pub fn record_command(&self) {
        self.commands_processed.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a read of a key that was found (hit) or not (miss).
    pub fn record_lookup(&self, hit: bool) {
        let counter = if hit {
            &self.keyspace_hits
        } else {
            &self.keyspace_misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts an error reply by its code.
    pub fn record_error(&self, code: &str) {
        self.error_replies.fetch_add(1, Ordering::Relaxed);
        *self
            .errors_by_code
            .lock()
            .entry(code.to_owned())
            .or_default() += 1;
    }

    /// Error counts by code, for INFO errorstats.
    pub fn errors_by_code(&self) -> Vec<(String, u64)> {
        self.errors_by_code
            .lock()
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    }

    /// CONFIG RESETSTAT.
    pub fn reset(&self) {
        for counter in [
            &self.connections_received,
            &self.connections_rejected,
            &self.commands_processed,
            &self.net_input_bytes,
            &self.net_output_bytes,
            &self.keyspace_hits,
            &self.keyspace_misses,
            &self.error_replies,
        ] {
            counter.store(0, Ordering::Relaxed);
        }
        self.errors_by_code.lock().clear();
    }
}
