//! Server-wide counters for INFO stats, errorstats and the metrics page.

pub use crate::metrics::Tally;
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// How many samples the instantaneous rates average, as in Redis (taken
/// every 100 ms).
const RATE_SAMPLES: usize = 16;

/// INFO's instantaneous_* figures.
#[derive(Default)]
pub struct Rates {
    pub ops_per_sec: u64,
    pub input_kbps: f64,
    pub output_kbps: f64,
    pub input_repl_kbps: f64,
    pub output_repl_kbps: f64,
}

/// The totals the rates come from, at one moment.
struct Sample {
    when: Instant,
    commands: u64,
    input: u64,
    output: u64,
    repl_input: u64,
    repl_output: u64,
}

#[derive(Default)]
pub struct Stats {
    pub connections_received: Tally,
    pub connections_rejected: Tally,
    pub commands_processed: Tally,
    pub net_input_bytes: Tally,
    pub net_output_bytes: Tally,
    /// Bytes of the replication links: WAL and checkpoints received from
    /// the master, sent to replicas.
    pub net_repl_input_bytes: Tally,
    pub net_repl_output_bytes: Tally,
    pub error_replies: Tally,
    errors_by_code: Mutex<BTreeMap<String, u64>>,
    /// Oldest first.
    samples: Mutex<VecDeque<Sample>>,
    memory_peak: AtomicU64,
}

impl Stats {
    pub fn record_command(&self) {
        self.commands_processed.add(1);
    }

    /// Counts an error reply by its code.
    pub fn record_error(&self, code: &str) {
        self.error_replies.add(1);
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

    /// Takes one sample for the instantaneous rates.
    pub fn sample(&self) {
        let mut samples = self.samples.lock();
        if samples.len() == RATE_SAMPLES {
            samples.pop_front();
        }
        samples.push_back(Sample {
            when: Instant::now(),
            commands: self.commands_processed.total(),
            input: self.net_input_bytes.total(),
            output: self.net_output_bytes.total(),
            repl_input: self.net_repl_input_bytes.total(),
            repl_output: self.net_repl_output_bytes.total(),
        });
    }

    /// Per-second rates over the samples taken.
    pub fn instantaneous(&self) -> Rates {
        let samples = self.samples.lock();
        let (Some(first), Some(last)) = (samples.front(), samples.back()) else {
            return Rates::default();
        };
        let seconds = last.when.duration_since(first.when).as_secs_f64().max(1e-3);
        let rate = |total: fn(&Sample) -> u64| (total(last) - total(first)) as f64 / seconds;
        let kbps = |total: fn(&Sample) -> u64| rate(total) / 1024.0;
        Rates {
            ops_per_sec: rate(|s| s.commands).round() as u64,
            input_kbps: kbps(|s| s.input),
            output_kbps: kbps(|s| s.output),
            input_repl_kbps: kbps(|s| s.repl_input),
            output_repl_kbps: kbps(|s| s.repl_output),
        }
    }

    /// The highest resident memory seen, `current` included.
    pub fn memory_peak(&self, current: u64) -> u64 {
        self.memory_peak
            .fetch_max(current, Ordering::Relaxed)
            .max(current)
    }

    /// CONFIG RESETSTAT.
    pub fn reset(&self) {
        for tally in [
            &self.connections_received,
            &self.connections_rejected,
            &self.commands_processed,
            &self.net_input_bytes,
            &self.net_output_bytes,
            &self.net_repl_input_bytes,
            &self.net_repl_output_bytes,
            &self.error_replies,
        ] {
            tally.reset();
        }
        self.errors_by_code.lock().clear();
    }
}
