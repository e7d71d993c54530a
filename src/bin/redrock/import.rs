//! `redrock import`: copies a live Redis (or RedRock) database into
//! RedRock: SCAN on the source, DUMP and PTTL of each batch of keys, then
//! RESTORE ... REPLACE on the target, each step one pipelined round trip.
//! The SCAN cursor is saved after every batch, so a run that stops goes on
//! from there when started again (REPLACE makes a batch restored twice
//! harmless); the state file is removed once the scan is complete.

use crate::client::{Client, DEFAULT_TIMEOUT};
use redis_protocol::resp2::types::BytesFrame;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// What `redrock import` was asked to do.
pub struct Import {
    pub from: String,
    pub from_password: Option<String>,
    pub to: String,
    pub to_password: Option<String>,
    pub pattern: Option<String>,
    pub db: u32,
    pub batch: usize,
    pub state: PathBuf,
}

/// What a run moved, for the progress line.
struct Progress {
    started: Instant,
    shown: Instant,
    scanned: u64,
    restored: u64,
    bytes: u64,
    total: u64,
}

impl Progress {
    fn show(&mut self, last: bool) {
        if !last && self.shown.elapsed() < Duration::from_secs(1) {
            return;
        }
        self.shown = Instant::now();
        let seconds = self.started.elapsed().as_secs_f64().max(1e-3);
        let rate = self.scanned as f64 / seconds;
        let left = self.total.saturating_sub(self.scanned) as f64;
        let eta = if rate > 0.0 { left / rate } else { 0.0 };
        eprint!(
            "\r{} keys restored ({} scanned of ~{}), {:.1} MB, {:.0} keys/s, ETA {:.0} s   ",
            self.restored,
            self.scanned,
            self.total,
            self.bytes as f64 / 1e6,
            rate,
            eta
        );
        if last {
            eprintln!();
        }
        let _ = std::io::stderr().flush();
    }
}

fn connect(addr: &str, password: Option<&str>, db: u32) -> Result<Client, String> {
    let mut client = Client::connect(addr, password, DEFAULT_TIMEOUT)?;
    if db != 0 {
        client.ok(&["SELECT", &db.to_string()])?;
    }
    Ok(client)
}

fn integer(frame: BytesFrame, what: &str) -> Result<i64, String> {
    match frame {
        BytesFrame::Integer(n) => Ok(n),
        other => Err(format!("{what}: unexpected reply {other:?}")),
    }
}

/// Reads one reply per command sent, failing on the first error reply.
fn replies(client: &mut Client, count: usize) -> Result<Vec<BytesFrame>, String> {
    (0..count)
        .map(|_| match client.read_reply()? {
            BytesFrame::Error(e) => Err(format!("{} answered: {e}", client.addr)),
            frame => Ok(frame),
        })
        .collect()
}

pub fn import(job: &Import) -> Result<(), String> {
    let mut source = connect(&job.from, job.from_password.as_deref(), job.db)?;
    let mut target = connect(&job.to, job.to_password.as_deref(), job.db)?;
    let total = integer(source.call(&["DBSIZE"])?, "DBSIZE")? as u64;
    let mut cursor = std::fs::read_to_string(&job.state)
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "0".to_string());
    if cursor != "0" {
        eprintln!(
            "resuming from SCAN cursor {cursor} saved in {}",
            job.state.display()
        );
    }
    let now = Instant::now();
    let mut progress = Progress {
        started: now,
        shown: now,
        scanned: 0,
        restored: 0,
        bytes: 0,
        total,
    };
    let batch = job.batch.max(1).to_string();
    loop {
        let mut scan = vec!["SCAN", cursor.as_str()];
        if let Some(pattern) = &job.pattern {
            scan.extend(["MATCH", pattern.as_str()]);
        }
        scan.extend(["COUNT", batch.as_str()]);
        let (next, keys) = match source.call(&scan)? {
            BytesFrame::Array(mut parts) if parts.len() == 2 => {
                match (parts.remove(0), parts.remove(0)) {
                    (BytesFrame::BulkString(next), BytesFrame::Array(keys)) => {
                        let keys: Vec<_> = keys
                            .into_iter()
                            .filter_map(|k| match k {
                                BytesFrame::BulkString(k) => Some(k),
                                _ => None,
                            })
                            .collect();
                        (String::from_utf8_lossy(&next).into_owned(), keys)
                    }
                    other => return Err(format!("SCAN: unexpected reply {other:?}")),
                }
            }
            other => return Err(format!("SCAN: unexpected reply {other:?}")),
        };
        let reads: Vec<Vec<&[u8]>> = keys
            .iter()
            .flat_map(|k| [vec![&b"DUMP"[..], k], vec![&b"PTTL"[..], k]])
            .collect();
        source.send_binary(&reads)?;
        let read = replies(&mut source, reads.len())?;
        let mut restores = Vec::new();
        for (key, pair) in keys.iter().zip(read.chunks(2)) {
            let (BytesFrame::BulkString(payload), BytesFrame::Integer(pttl)) = (&pair[0], &pair[1])
            else {
                // Gone since the SCAN.
                continue;
            };
            // -1: no expiry (RESTORE's 0); a time about to pass stays one
            // millisecond, as 0 would mean no expiry.
            let ttl = match *pttl {
                -1 => 0,
                ms if ms >= 0 => ms.max(1),
                _ => continue,
            };
            progress.bytes += payload.len() as u64;
            restores.push((key, ttl.to_string(), payload));
        }
        let commands: Vec<Vec<&[u8]>> = restores
            .iter()
            .map(|(key, ttl, payload)| {
                vec![&b"RESTORE"[..], key, ttl.as_bytes(), payload, b"REPLACE"]
            })
            .collect();
        target.send_binary(&commands)?;
        replies(&mut target, commands.len())?;
        progress.scanned += keys.len() as u64;
        progress.restored += commands.len() as u64;
        cursor = next;
        std::fs::write(&job.state, &cursor)
            .map_err(|e| format!("saving the cursor in {}: {e}", job.state.display()))?;
        progress.show(cursor == "0");
        if cursor == "0" {
            break;
        }
    }
    let _ = std::fs::remove_file(&job.state);
    let source_keys = integer(source.call(&["DBSIZE"])?, "DBSIZE")?;
    let target_keys = integer(target.call(&["DBSIZE"])?, "DBSIZE")?;
    println!(
        "imported {} keys ({:.1} MB) in {:.1} s; the source holds {source_keys} keys, the target {target_keys}",
        progress.restored,
        progress.bytes as f64 / 1e6,
        progress.started.elapsed().as_secs_f64()
    );
    if job.pattern.is_none() && target_keys < source_keys {
        return Err(format!(
            "the target holds fewer keys ({target_keys}) than the source ({source_keys}): keys written to the source during the import may be missing; run the import again"
        ));
    }
    Ok(())
}
