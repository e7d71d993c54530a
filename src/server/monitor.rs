//! MONITOR: every command the server runs, as a line to each monitoring
//! client, in Redis's format:
//!
//! ```text
//! +1700000000.123456 [0 127.0.0.1:50000] "set" "key" "value"
//! ```
//!
//! Commands feed the lines as they finish (see `commands::execute`); with
//! no monitor attached that costs one atomic load. Each monitor has a
//! bounded mailbox: a monitor that cannot keep up is dropped (its
//! connection closes) rather than hold up the commands or fill memory,
//! as Redis's output buffer limit would close it.

use bytes::Bytes;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;

/// Lines a monitor may have waiting before it is dropped.
const MAILBOX_LINES: usize = 65_536;

/// The monitoring clients.
#[derive(Default)]
pub struct Monitors {
    /// How many are attached: the only cost of MONITOR when it is unused.
    attached: AtomicUsize,
    mailboxes: Mutex<Vec<mpsc::Sender<Bytes>>>,
}

/// Who ran a command, as the monitor line names it.
pub enum Origin<'a> {
    /// A client connection, by its address.
    Client(&'a str),
    /// A script (EVAL, FCALL) of some client.
    Script,
}

impl Monitors {
    /// Attaches a monitor: the lines to send it.
    pub fn attach(&self) -> mpsc::Receiver<Bytes> {
        let (sender, receiver) = mpsc::channel(MAILBOX_LINES);
        let mut mailboxes = self.mailboxes.lock().expect("monitors");
        mailboxes.push(sender);
        self.attached.store(mailboxes.len(), Ordering::Relaxed);
        receiver
    }

    /// Whether any monitor is attached.
    pub fn any(&self) -> bool {
        self.attached.load(Ordering::Relaxed) > 0
    }

    /// Sends the line of a command that ran to every monitor. A monitor
    /// gone (its receiver dropped) or too far behind is detached.
    pub fn feed(&self, db: u32, origin: Origin<'_>, argv: &[Bytes]) {
        let line = Bytes::from(monitor_line(SystemTime::now(), db, origin, argv));
        let mut mailboxes = self.mailboxes.lock().expect("monitors");
        mailboxes.retain(|mailbox| match mailbox.try_send(line.clone()) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::warn!("Closing a MONITOR client that fell {MAILBOX_LINES} lines behind");
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        });
        self.attached.store(mailboxes.len(), Ordering::Relaxed);
    }
}

/// One monitor line, without its `+` and CRLF.
fn monitor_line(at: SystemTime, db: u32, origin: Origin<'_>, argv: &[Bytes]) -> Vec<u8> {
    let since_epoch = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    let mut line = format!(
        "{}.{:06} ",
        since_epoch.as_secs(),
        since_epoch.subsec_micros()
    )
    .into_bytes();
    match origin {
        Origin::Client(addr) => line.extend_from_slice(format!("[{db} {addr}]").as_bytes()),
        Origin::Script => line.extend_from_slice(format!("[{db} lua]").as_bytes()),
    }
    for arg in argv {
        line.push(b' ');
        quote(&mut line, arg);
    }
    line
}

/// `arg` quoted as Redis's `sdscatrepr` quotes it.
fn quote(out: &mut Vec<u8>, arg: &[u8]) {
    out.push(b'"');
    for &b in arg {
        match b {
            b'\\' | b'"' => out.extend_from_slice(&[b'\\', b]),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x07 => out.extend_from_slice(b"\\a"),
            0x08 => out.extend_from_slice(b"\\b"),
            // C's isprint() in the C locale.
            0x20..=0x7e => out.push(b),
            _ => out.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn lines_quote_as_redis() {
        let at = UNIX_EPOCH + Duration::from_micros(1_796_399_717_676_571);
        let argv = [
            Bytes::from_static(b"set"),
            Bytes::from_static(b"a\"b"),
            Bytes::from("x\ny\tz\\é\r\x07\x08\x00".as_bytes()),
        ];
        assert_eq!(
            String::from_utf8(monitor_line(
                at,
                0,
                Origin::Client("127.0.0.1:34202"),
                &argv
            ))
            .unwrap(),
            r#"1796399717.676571 [0 127.0.0.1:34202] "set" "a\"b" "x\ny\tz\\\xc3\xa9\r\a\b\x00""#
        );
        let at = UNIX_EPOCH + Duration::from_micros(5);
        assert_eq!(
            monitor_line(at, 3, Origin::Script, &[Bytes::from_static(b"")]),
            b"0.000005 [3 lua] \"\""
        );
    }

    #[tokio::test]
    async fn a_monitor_that_falls_behind_is_detached() {
        let monitors = Monitors::default();
        let mut reader = monitors.attach();
        let stalled = monitors.attach();
        assert!(monitors.any());
        drop(stalled);
        monitors.feed(0, Origin::Script, &[Bytes::from_static(b"ping")]);
        assert_eq!(monitors.attached.load(Ordering::Relaxed), 1);
        assert!(reader.recv().await.unwrap().ends_with(b"[0 lua] \"ping\""));
        for _ in 0..=MAILBOX_LINES {
            monitors.feed(0, Origin::Script, &[Bytes::from_static(b"ping")]);
        }
        assert!(!monitors.any());
        // What was queued is still delivered, then the mailbox ends.
        let mut delivered = 0;
        while reader.recv().await.is_some() {
            delivered += 1;
        }
        assert_eq!(delivered, MAILBOX_LINES);
    }
}
