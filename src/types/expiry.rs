//! Active expiry: a background thread walks the expire index in time order
//! and removes keys whose time has come, so they leave DBSIZE without being
//! read. Entries whose key is gone or has another expiry are stale and are
//! dropped on the way.

use super::{Db, KeyspaceHandle};
use crate::error::Result;
use crate::storage::{Cf, Storage, WriteSet};
use redrock_encoding::{parse_expire_key, Keyspace};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How often the expire index is walked.
const PERIOD: Duration = Duration::from_millis(100);
/// The most keys removed in one batch.
const BATCH_LIMIT: usize = 512;
/// How far behind "now" a pass starts: writes in flight may add entries
/// with a time slightly in the past of the previous pass.
const LOOKBACK_MS: u64 = 10_000;

/// Starts the active-expiry thread; it stops soon after `stop` is set.
pub fn spawn_active_expiry(
    storage: Arc<Storage>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name("active-expiry".into())
        .spawn(move || {
            let mut watermark = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let now = super::now_ms();
                // While the storage refuses writes, removals would only fail.
                if !storage.health().stopped() {
                    match expire_due(&storage, watermark, now) {
                        Ok(true) => continue,
                        Ok(false) => watermark = now.saturating_sub(LOOKBACK_MS),
                        Err(e) => tracing::warn!("active expiry failed: {e}"),
                    }
                }
                std::thread::sleep(PERIOD);
            }
        })
        .expect("spawning the active-expiry thread")
}

/// Removes up to [`BATCH_LIMIT`] keys due at `now`, scanning from
/// `watermark`; returns whether more may be due.
fn expire_due(storage: &Arc<Storage>, watermark: u64, now: u64) -> Result<bool> {
    let start = watermark.to_be_bytes();
    let end = (now + 1).to_be_bytes().to_vec();
    let mut due = Vec::new();
    for item in storage.range(Cf::Expire, &start, Some(end)) {
        let (key, _) = item?;
        due.push(key);
        if due.len() == BATCH_LIMIT {
            break;
        }
    }
    let more = due.len() == BATCH_LIMIT;
    for entry in due {
        let Some(parsed) = parse_expire_key(&entry) else {
            continue;
        };
        expire_one(
            storage,
            &parsed.keyspace,
            parsed.user_key,
            parsed.expire_at_ms,
            &entry,
            now,
        )?;
    }
    Ok(more)
}

fn expire_one(
    storage: &Arc<Storage>,
    keyspace: &Keyspace,
    key: &[u8],
    expire_at: u64,
    entry: &[u8],
    now: u64,
) -> Result<()> {
    let handle = KeyspaceHandle {
        index: 0,
        keyspace: keyspace.clone(),
        counts: storage.counts().keyspace(keyspace),
    };
    let writes = std::cell::RefCell::new(WriteSet::new(storage.clone(), false));
    let db = Db::new(storage, &handle, &writes);
    db.lock(&[key])?;
    let mut batch = db.batch();
    match db.read(key)? {
        Some(stored)
            if stored.header.expire_at_ms == expire_at && stored.header.is_expired(now) =>
        {
            db.remove(&mut batch, stored.slot, key, &stored.header);
            storage.expired_keys.add(1);
        }
        // The key changed since the entry was written: the entry is stale.
        _ => batch.delete(storage, Cf::Expire, entry),
    }
    db.commit(batch)?;
    let finished = writes.borrow_mut().finish();
    Ok(finished?)
}
