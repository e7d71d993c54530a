//! HyperLogLog commands (PFADD, PFCOUNT, PFMERGE) over string values in
//! Redis's own format (`redrock_formats::hyperloglog`), so a value copied
//! from Redis with GET/SET or RESTORE counts the same here, and back.

use super::{now_ms, Db, Prior, StoredKey};
use crate::error::{Error, Result};
use crate::keyspace_events as events;
use bytes::Bytes;
use redrock_cluster::key_slot;
use redrock_formats::hyperloglog::{Hll, HllError, Union};

impl From<HllError> for Error {
    fn from(e: HllError) -> Self {
        Error::coded(e.message())
    }
}

impl Db<'_> {
    /// The HyperLogLog held by the live entry `stored`.
    fn hll_of(&self, key: &[u8], stored: &StoredKey<'_>) -> Result<Hll> {
        if !stored.header.data_type.is_string() {
            return Err(Error::WrongType);
        }
        Ok(Hll::from_bytes(self.string_bytes(key, stored)?.to_vec())?)
    }

    /// Writes `hll` as the value of `key` (whose stored header is `old`),
    /// keeping its expiry.
    fn save_hll(&self, key: &[u8], hll: &Hll, old: Option<&StoredKey<'_>>) -> Result<()> {
        let header = old.map(|s| s.header);
        let expire_at = header
            .filter(|h| !h.is_expired(now_ms()))
            .map_or(0, |h| h.expire_at_ms);
        let mut batch = self.batch();
        self.write_string(
            &mut batch,
            key_slot(key),
            key,
            hll.as_bytes(),
            expire_at,
            header.as_ref(),
        );
        self.commit(batch)
    }

    /// PFADD: whether the estimate may have changed (a register did, or
    /// the key was created).
    pub fn pfadd(&self, key: &[u8], elements: &[Bytes], sparse_max_bytes: usize) -> Result<bool> {
        self.lock(&[key])?;
        let now = now_ms();
        let stored = self.read_to_write(key, now)?;
        let live = stored.as_ref().filter(|s| !s.header.is_expired(now));
        let (mut hll, mut changed) = match live {
            Some(s) => (self.hll_of(key, s)?, false),
            None => {
                let mut hll = Hll::new();
                hll.invalidate_cache();
                (hll, true)
            }
        };
        let mut failure = None;
        for element in elements {
            match hll.add(element, sparse_max_bytes) {
                Ok(added) => changed |= added,
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        if changed {
            // A corrupt value keeps the registers set before the error, as
            // Redis's in-place update does, without an event.
            self.save_hll(key, &hll, stored.as_ref())?;
            if failure.is_none() {
                let prior = Prior::of(stored.as_ref().map(|s| &s.header), now);
                self.notify_write(key, prior, events::STRING, "pfadd", true);
            }
        }
        match failure {
            Some(e) => Err(e.into()),
            None => Ok(changed),
        }
    }

    /// PFCOUNT: the estimate for one key (whose cached cardinality is
    /// written back, as Redis does, when it was stale and writes are
    /// accepted), or of the union of several.
    pub fn pfcount(&self, keys: &[Bytes]) -> Result<i64> {
        let now = now_ms();
        if let [key] = keys {
            let Some(stored) = self.lookup_read(key, now)? else {
                return Ok(0);
            };
            let mut hll = self.hll_of(key, &stored)?;
            let count = hll.count()?;
            if count.cache_updated {
                self.save_hll_cache(key, &stored.raw, &hll)?;
            }
            return Ok(count.cardinality);
        }
        let mut union = Union::new();
        for key in keys {
            if let Some(stored) = self.lookup_read(key, now)? {
                union.merge(&self.hll_of(key, &stored)?)?;
            }
        }
        Ok(union.count())
    }

    /// Stores the cardinality PFCOUNT cached in `hll`, unless the entry
    /// (read as `read_raw`) changed meanwhile or writes are refused here
    /// (a replica, a paused or stopped server): the cache only saves work.
    fn save_hll_cache(&self, key: &[u8], read_raw: &[u8], hll: &Hll) -> Result<()> {
        if self.storage.health().stopped() || self.storage.is_follower() {
            return Ok(());
        }
        let Some(_writing) = self.storage.admit_write(None) else {
            return Ok(());
        };
        self.lock(&[key])?;
        let db = self.live();
        let Some(live) = db.read(key)? else {
            return Ok(());
        };
        if &*live.raw != read_raw {
            return Ok(());
        }
        let mut batch = db.batch();
        db.write_string(
            &mut batch,
            live.slot,
            key,
            hll.as_bytes(),
            live.header.expire_at_ms,
            Some(&live.header),
        );
        drop(live);
        if let Some(overlay) = db.view.overlay() {
            batch.apply_to(overlay);
        }
        Ok(self.writes.borrow_mut().commit_now(batch)?)
    }

    /// PFMERGE: `dst` becomes the union of itself and `sources`.
    pub fn pfmerge(&self, dst: &[u8], sources: &[Bytes], sparse_max_bytes: usize) -> Result<()> {
        let mut keys: Vec<&[u8]> = vec![dst];
        keys.extend(sources.iter().map(|k| &k[..]));
        self.lock(&keys)?;
        let now = now_ms();
        let mut union = Union::new();
        // Redis merges the destination first, then the sources.
        for key in &keys {
            if let Some(stored) = self.lookup_read(key, now)? {
                union.merge(&self.hll_of(key, &stored)?)?;
            }
        }
        self.only_read(sources.iter().map(|k| &k[..]).filter(|k| *k != dst));
        let stored = self.read_to_write(dst, now)?;
        let live = stored.as_ref().filter(|s| !s.header.is_expired(now));
        let mut hll = match live {
            Some(s) => self.hll_of(dst, s)?,
            None => Hll::new(),
        };
        union.store(&mut hll, sparse_max_bytes)?;
        self.save_hll(dst, &hll, stored.as_ref())?;
        let prior = Prior::of(stored.as_ref().map(|s| &s.header), now);
        self.notify_write(dst, prior, events::STRING, "pfadd", true);
        Ok(())
    }
}
