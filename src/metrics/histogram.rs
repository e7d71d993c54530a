//! A lock-free latency histogram: log-linear buckets of microseconds (exact
//! below 16 µs, then 8 buckets per power of two, so within 12.5%), one
//! atomic add per sample. INFO latencystats and LATENCY HISTOGRAM read
//! percentiles and power-of-two counts from it.

use std::sync::atomic::{AtomicU64, Ordering};

/// Exact buckets for 0..16 µs, then 8 per power of two up to 2^44 µs.
const LINEAR: usize = 16;
const SUB_BITS: u32 = 3;
const SUB: usize = 1 << SUB_BITS;
const BUCKETS: usize = LINEAR + (44 - 4) * SUB;

pub struct LatencyHistogram {
    counts: [AtomicU64; BUCKETS],
}

fn bucket_of(micros: u64) -> usize {
    if micros < LINEAR as u64 {
        return micros as usize;
    }
    let power = 63 - micros.leading_zeros(); // >= 4
    let sub = ((micros >> (power - SUB_BITS)) as usize) & (SUB - 1);
    (LINEAR + (power as usize - 4) * SUB + sub).min(BUCKETS - 1)
}

/// The largest value bucket `index` holds.
fn upper_bound(index: usize) -> u64 {
    if index < LINEAR {
        return index as u64;
    }
    let power = ((index - LINEAR) / SUB + 4) as u32;
    let sub = ((index - LINEAR) % SUB) as u64;
    let width = 1u64 << (power - SUB_BITS);
    ((SUB as u64 + sub) << (power - SUB_BITS)) + width - 1
}

impl Default for LatencyHistogram {
    fn default() -> LatencyHistogram {
        LatencyHistogram::new()
    }
}

impl LatencyHistogram {
    pub const fn new() -> LatencyHistogram {
        LatencyHistogram {
            counts: [const { AtomicU64::new(0) }; BUCKETS],
        }
    }

    pub fn record(&self, micros: u64) {
        self.counts[bucket_of(micros)].fetch_add(1, Ordering::Relaxed);
    }

    pub fn reset(&self) {
        for count in &self.counts {
            count.store(0, Ordering::Relaxed);
        }
    }

    fn snapshot(&self) -> Vec<u64> {
        self.counts
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect()
    }

    /// The latency (µs, a bucket's upper bound) under which `percentile`
    /// percent of the samples fall, for each requested percentile; `None`
    /// without samples.
    pub fn percentiles(&self, wanted: &[f64]) -> Option<Vec<u64>> {
        let counts = self.snapshot();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return None;
        }
        Some(
            wanted
                .iter()
                .map(|p| {
                    let rank = ((p / 100.0) * total as f64).ceil().max(1.0) as u64;
                    let mut seen = 0;
                    for (i, n) in counts.iter().enumerate() {
                        seen += n;
                        if seen >= rank {
                            return upper_bound(i);
                        }
                    }
                    upper_bound(BUCKETS - 1)
                })
                .collect(),
        )
    }

    /// Cumulative counts at power-of-two bounds (1, 2, 4, ... µs), up to
    /// the first bound that holds every sample, as LATENCY HISTOGRAM
    /// reports them.
    pub fn power_of_two_counts(&self) -> Vec<(u64, u64)> {
        let counts = self.snapshot();
        let total: u64 = counts.iter().sum();
        let mut out = Vec::new();
        if total == 0 {
            return out;
        }
        let mut bound = 1u64;
        loop {
            let below: u64 = counts
                .iter()
                .enumerate()
                .filter(|(i, _)| upper_bound(*i) <= bound)
                .map(|(_, n)| n)
                .sum();
            if below > 0 {
                out.push((bound, below));
            }
            if below == total || bound >= 1 << 43 {
                return out;
            }
            bound <<= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_hold_their_values() {
        for v in [0, 1, 15, 16, 17, 100, 1000, 123_456, 1 << 40] {
            let b = bucket_of(v);
            assert!(upper_bound(b) >= v, "{v} above bucket {b}");
            if b > 0 {
                assert!(upper_bound(b - 1) < v, "{v} fits bucket {}", b - 1);
            }
        }
        // Within 12.5% above 16 µs.
        for v in [17u64, 1000, 99_999] {
            assert!((upper_bound(bucket_of(v)) - v) as f64 <= v as f64 / 8.0);
        }
    }

    #[test]
    fn percentiles_and_power_of_two_counts() {
        let h = LatencyHistogram::new();
        assert_eq!(h.percentiles(&[50.0]), None);
        for _ in 0..90 {
            h.record(3);
        }
        for _ in 0..10 {
            h.record(1000);
        }
        let p = h.percentiles(&[50.0, 90.0, 99.0]).unwrap();
        assert_eq!(p[0], 3);
        assert_eq!(p[1], 3);
        assert!((1000..=1125).contains(&p[2]), "{p:?}");
        let counts = h.power_of_two_counts();
        assert_eq!(counts.first(), Some(&(4, 90)));
        assert_eq!(counts.last(), Some(&(1024, 100)));
        h.reset();
        assert_eq!(h.percentiles(&[50.0]), None);
    }
}
