//! SLOWLOG: the most recent commands that ran longer than
//! `slowlog-log-slower-than`, newest first, as Redis keeps them.

use bytes::Bytes;
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};

/// Redis keeps at most this many arguments of an entry...
const MAX_ARGS: usize = 32;
/// ...and this many bytes of each.
const MAX_ARG_BYTES: usize = 128;

pub struct SlowLogEntry {
    pub id: u64,
    /// Unix time in seconds.
    pub time: u64,
    pub micros: u64,
    pub args: Vec<Bytes>,
    pub client_addr: String,
    pub client_name: Bytes,
}

#[derive(Default)]
pub struct SlowLog {
    entries: Mutex<VecDeque<SlowLogEntry>>,
    next_id: AtomicU64,
}

/// The arguments as Redis logs them: at most 32 (the last one then says
/// how many more there were), each cut to 128 bytes with a note. Each is a
/// copy: an argument is a slice of its connection's read buffer, and an
/// entry holding it would keep that whole buffer alive.
fn trimmed(argv: &[Bytes]) -> Vec<Bytes> {
    let keep = if argv.len() > MAX_ARGS {
        MAX_ARGS - 1
    } else {
        argv.len()
    };
    let mut out: Vec<Bytes> = argv[..keep]
        .iter()
        .map(|arg| {
            if arg.len() > MAX_ARG_BYTES {
                let mut cut = arg[..MAX_ARG_BYTES].to_vec();
                cut.extend_from_slice(
                    format!("... ({} more bytes)", arg.len() - MAX_ARG_BYTES).as_bytes(),
                );
                Bytes::from(cut)
            } else {
                Bytes::copy_from_slice(arg)
            }
        })
        .collect();
    if argv.len() > MAX_ARGS {
        out.push(Bytes::from(format!(
            "... ({} more arguments)",
            argv.len() - keep
        )));
    }
    out
}

impl SlowLog {
    /// Adds an entry, dropping the oldest beyond `max_len`.
    pub fn record(
        &self,
        max_len: u64,
        micros: u64,
        argv: &[Bytes],
        client_addr: String,
        client_name: Bytes,
    ) {
        let entry = SlowLogEntry {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            time: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            micros,
            args: trimmed(argv),
            client_addr,
            client_name,
        };
        let mut entries = self.entries.lock();
        entries.push_front(entry);
        entries.truncate(max_len as usize);
    }

    /// Runs `f` over up to `count` entries, newest first.
    pub fn newest<R>(&self, count: usize, f: impl FnMut(&SlowLogEntry) -> R) -> Vec<R> {
        self.entries.lock().iter().take(count).map(f).collect()
    }

    pub fn len(&self) -> usize {
        self.entries.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn reset(&self) {
        self.entries.lock().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_commands_are_trimmed_as_redis_does() {
        let argv: Vec<Bytes> = (0..40).map(|i| Bytes::from(format!("a{i}"))).collect();
        let out = trimmed(&argv);
        assert_eq!(out.len(), 32);
        assert_eq!(out[31], "... (9 more arguments)");
        let long = vec![Bytes::from(vec![b'x'; 200])];
        let out = trimmed(&long);
        assert_eq!(out[0].len(), 128 + "... (72 more bytes)".len());
        assert!(out[0].ends_with(b"... (72 more bytes)"));
    }

    #[test]
    fn entries_do_not_keep_the_read_buffer_alive() {
        let buffer = Bytes::from(vec![b'a'; 64 * 1024]);
        let argv = vec![buffer.slice(0..3), buffer.slice(3..8)];
        let range = buffer.as_ptr_range();
        for arg in trimmed(&argv) {
            assert!(!range.contains(&arg.as_ptr()), "an entry shares the buffer");
        }
    }

    #[test]
    fn keeps_the_newest_up_to_max_len() {
        let log = SlowLog::default();
        for i in 0..5 {
            log.record(3, i, &[Bytes::from("get")], "a".into(), Bytes::new());
        }
        assert_eq!(log.len(), 3);
        assert_eq!(log.newest(10, |e| e.id), vec![4, 3, 2]);
        log.reset();
        assert!(log.is_empty());
    }
}
