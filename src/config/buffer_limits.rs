//! `client-output-buffer-limit`: when a client's unsent replies close it,
//! per client class, in Redis's syntax (`class hard soft soft-seconds`,
//! several classes in one value, memory units allowed).

use super::directives::parse_bytes;
use std::fmt;
use std::time::Duration;

/// The limit of one client class. Zero means no limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BufferLimit {
    /// Unsent bytes past which the client is closed at once.
    pub hard: u64,
    /// Unsent bytes the client may stay above for `soft_seconds` only.
    pub soft: u64,
    pub soft_seconds: u64,
}

impl BufferLimit {
    /// Whether `unsent` bytes pass the hard limit.
    pub fn hard_reached(&self, unsent: usize) -> bool {
        self.hard > 0 && unsent as u64 > self.hard
    }

    /// How long `unsent` bytes may stay unsent: `None` when they do not
    /// pass the soft limit.
    pub fn soft_grace(&self, unsent: usize) -> Option<Duration> {
        (self.soft > 0 && unsent as u64 > self.soft).then(|| Duration::from_secs(self.soft_seconds))
    }
}

/// The limits of Redis's three client classes: normal clients' unsent
/// replies, the WAL a replica has not acknowledged (replication::master),
/// pub/sub subscribers' unsent messages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OutputBufferLimits {
    pub normal: BufferLimit,
    /// Redis's `slave` class (`replica` is accepted as its name too).
    pub replica: BufferLimit,
    pub pubsub: BufferLimit,
}

impl OutputBufferLimits {
    /// Applies a CONFIG SET value: the classes it names change, the others
    /// keep their limits; nothing changes if any part is wrong. The errors
    /// are Redis's texts.
    pub fn update(&mut self, value: &str) -> Result<(), String> {
        let words: Vec<&str> = value.split_whitespace().collect();
        if !words.len().is_multiple_of(4) {
            return Err("Wrong number of arguments in buffer limit configuration.".into());
        }
        let mut updated = *self;
        for group in words.chunks(4) {
            let class = match group[0].to_ascii_lowercase().as_str() {
                "normal" => &mut updated.normal,
                "slave" | "replica" => &mut updated.replica,
                "pubsub" => &mut updated.pubsub,
                _ => {
                    return Err(
                        "Invalid client class specified in buffer limit configuration.".into(),
                    )
                }
            };
            let bad = || {
                "Error in hard, soft or soft_seconds setting in buffer limit configuration."
                    .to_string()
            };
            *class = BufferLimit {
                hard: parse_bytes(group[1], 0, u64::MAX).map_err(|_| bad())?,
                soft: parse_bytes(group[2], 0, u64::MAX).map_err(|_| bad())?,
                soft_seconds: group[3].parse().map_err(|_| bad())?,
            };
        }
        *self = updated;
        Ok(())
    }
}

impl fmt::Display for OutputBufferLimits {
    /// As CONFIG GET shows it: every class, in bytes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let classes = [
            ("normal", self.normal),
            ("slave", self.replica),
            ("pubsub", self.pubsub),
        ];
        for (i, (name, limit)) in classes.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(
                f,
                "{name} {} {} {}",
                limit.hard, limit.soft, limit.soft_seconds
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_update_one_at_a_time_with_memory_units() {
        let mut limits = OutputBufferLimits::default();
        limits
            .update("normal 0 0 0 slave 268435456 67108864 60 pubsub 32mb 8mb 60")
            .unwrap();
        assert_eq!(
            limits.to_string(),
            "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"
        );
        limits.update("NORMAL 1mb 2k 5 replica 1 2 3").unwrap();
        assert_eq!(
            limits.to_string(),
            "normal 1048576 2000 5 slave 1 2 3 pubsub 33554432 8388608 60"
        );
        limits.update("").unwrap();
        assert_eq!(limits.normal.hard, 1 << 20);
    }

    #[test]
    fn bad_values_change_nothing_and_say_why_as_redis_does() {
        let mut limits = OutputBufferLimits::default();
        let before = limits;
        assert_eq!(
            limits.update("normal 1 2").unwrap_err(),
            "Wrong number of arguments in buffer limit configuration."
        );
        assert_eq!(
            limits.update("normal 1 2 3 bogus 1 2 3").unwrap_err(),
            "Invalid client class specified in buffer limit configuration."
        );
        assert_eq!(
            limits.update("master 1 2 3").unwrap_err(),
            "Invalid client class specified in buffer limit configuration."
        );
        assert_eq!(
            limits.update("normal x 2 3").unwrap_err(),
            "Error in hard, soft or soft_seconds setting in buffer limit configuration."
        );
        assert_eq!(
            limits.update("normal 1 2 -3").unwrap_err(),
            "Error in hard, soft or soft_seconds setting in buffer limit configuration."
        );
        assert_eq!(limits, before);
    }

    #[test]
    fn limits_apply_above_their_values_and_zero_is_none() {
        let limit = BufferLimit {
            hard: 100,
            soft: 10,
            soft_seconds: 2,
        };
        assert!(!limit.hard_reached(100) && limit.hard_reached(101));
        assert_eq!(limit.soft_grace(10), None);
        assert_eq!(limit.soft_grace(11), Some(Duration::from_secs(2)));
        let none = BufferLimit::default();
        assert!(!none.hard_reached(usize::MAX));
        assert_eq!(none.soft_grace(usize::MAX), None);
    }
}
