//! When this node's sequence numbers were written, sampled: a replica's
//! lag in seconds is the age of the oldest write it lacks, which sequence
//! numbers alone cannot tell.

use parking_lot::Mutex;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Writes closer together than this share a sample: the lag in seconds is
/// told to about this precision.
pub const SPACING: Duration = Duration::from_millis(1);
/// Samples kept: at least a minute of continuous writes. A replica further
/// behind is told the age of the oldest sample, a lower bound.
const CAPACITY: usize = 1 << 16;

/// (sequence, when): the sequences after the sample before, up to
/// `sequence`, were written between about `when` and `when` + [`SPACING`].
/// Oldest first; both grow.
#[derive(Default)]
pub struct WriteTimes {
    samples: Mutex<VecDeque<(u64, Instant)>>,
}

impl WriteTimes {
    /// Notes that sequence `latest` was written by `now`.
    pub fn observe(&self, latest: u64, now: Instant) {
        let mut samples = self.samples.lock();
        if let Some(last) = samples.back_mut() {
            if latest <= last.0 {
                return;
            }
            if now.duration_since(last.1) < SPACING {
                last.0 = latest;
                return;
            }
        }
        if samples.len() == CAPACITY {
            samples.pop_front();
        }
        samples.push_back((latest, now));
    }

    /// How long ago sequence `sequence` was written, as far as the samples
    /// tell; `None` when no sample reaches it yet.
    pub fn age(&self, sequence: u64, now: Instant) -> Option<Duration> {
        let samples = self.samples.lock();
        let first = samples.partition_point(|(s, _)| *s < sequence);
        samples
            .get(first)
            .map(|(_, when)| now.saturating_duration_since(*when))
    }

    /// Forgets every sample: the data starts another history.
    pub fn clear(&self) {
        self.samples.lock().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_age_of_a_sequence_is_that_of_the_first_sample_that_reaches_it() {
        let times = WriteTimes::default();
        let start = Instant::now();
        let ms = Duration::from_millis;
        times.observe(10, start);
        times.observe(15, start + ms(5));
        // Within the spacing: folded into the sample before.
        times.observe(18, start + ms(5) + SPACING / 2);
        times.observe(18, start + ms(9));
        times.observe(30, start + ms(20));
        let now = start + ms(100);
        assert_eq!(times.age(1, now), Some(ms(100)));
        assert_eq!(times.age(11, now), Some(ms(95)));
        assert_eq!(times.age(18, now), Some(ms(95)));
        assert_eq!(times.age(19, now), Some(ms(80)));
        assert_eq!(times.age(31, now), None);
    }

    #[test]
    fn the_oldest_samples_go_first() {
        let times = WriteTimes::default();
        let start = Instant::now();
        for i in 0..CAPACITY as u64 + 10 {
            times.observe(i + 1, start + SPACING * i as u32);
        }
        let now = start + SPACING * (CAPACITY as u32 + 10);
        assert_eq!(times.age(1, now), Some(SPACING * CAPACITY as u32));
    }
}
