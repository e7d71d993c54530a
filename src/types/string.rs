//! Strings: the whole value lives in the metadata entry.

use super::fragments::StringEdit;
use super::{now_ms, Db, Expiry, Prior, StoredKey};
use crate::error::{Error, Result};
use crate::keyspace_events as events;
use crate::storage::Value;
use bytes::Bytes;
use redrock_encoding::{DataType, Metadata, MetadataHeader};
use std::collections::HashMap;

/// SET's NX / XX condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetCondition {
    Always,
    IfMissing,
    IfExists,
}

/// The entries of the keys a run of pipelined GETs asks for, read in one
/// batch ([`Db::prefetch`]) when the first of them runs. Each entry serves
/// one GET ([`Db::get_prefetched`]) and the connection drops them all
/// before it runs any other command or reads more requests: every GET so
/// answered was received before the batch read and is answered after it,
/// and no write of its own client came in between.
pub struct Prefetched {
    db: u32,
    entries: HashMap<Bytes, Prefetch>,
}

/// What was read ahead for one GET.
enum Prefetch {
    Missing,
    Found(StoredKey<'static>),
    /// Past the byte budget: the GET reads by itself.
    ReadAlone,
}

impl Prefetched {
    /// Whether a GET of `key` in database `db` would be answered from here.
    pub fn holds(&self, db: u32, key: &[u8]) -> bool {
        self.db == db && self.entries.contains_key(key)
    }
}

/// What SET did.
pub struct SetOutcome {
    pub written: bool,
    /// The previous value (for SET ... GET).
    pub old: Option<Bytes>,
}

extern "C" {
    fn redrock_long_double_add(
        base: *const std::os::raw::c_char,
        base_len: usize,
        incr: *const std::os::raw::c_char,
        incr_len: usize,
        out: *mut std::os::raw::c_char,
        out_len: usize,
    ) -> i32;
}

/// Adds two decimal texts in C `long double` and formats the sum as Redis's
/// INCRBYFLOAT does. `base` is `None` for a missing key.
pub fn long_double_add(base: Option<&[u8]>, incr: &[u8]) -> Result<Bytes> {
    let mut out = vec![0u8; 5 * 1024 + 32];
    let (base_ptr, base_len) = base.map_or((std::ptr::null(), 0), |b| (b.as_ptr(), b.len()));
    // SAFETY: every pointer is valid for the length passed with it, and the
    // C function writes at most `out.len()` bytes.
    let len = unsafe {
        redrock_long_double_add(
            base_ptr.cast(),
            base_len,
            incr.as_ptr().cast(),
            incr.len(),
            out.as_mut_ptr().cast(),
            out.len(),
        )
    };
    match len {
        -3 => Err(Error::NanOrInfinity),
        n if n < 0 => Err(Error::NotFloat),
        n => {
            out.truncate(n as usize);
            Ok(Bytes::from(out))
        }
    }
}

/// Parses a Redis integer: an optional `-`, no leading zeros or `+`, no
/// spaces, within i64.
pub fn parse_i64(text: &[u8]) -> Option<i64> {
    if text.is_empty() || text.len() > 20 {
        return None;
    }
    let (negative, digits) = match text[0] {
        b'-' => (true, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty() || (digits[0] == b'0' && (digits.len() > 1 || negative)) {
        return None;
    }
    let mut value: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        let digit = i64::from(d - b'0');
        value = value.checked_mul(10)?;
        value = if negative {
            value.checked_sub(digit)?
        } else {
            value.checked_add(digit)?
        };
    }
    Some(value)
}

impl<'a> Db<'a> {
    /// Writes a string value. An expiry already past is stored as it is
    /// (the key is then expired and reclaimed like any other), as Redis does
    /// for SET ... PXAT in the past.
    pub(super) fn write_string(
        &self,
        batch: &mut crate::storage::Batch,
        slot: u16,
        key: &[u8],
        value: &[u8],
        expire_at: u64,
        old: Option<&MetadataHeader>,
    ) {
        let encoded = Metadata::encode_string(expire_at, value);
        self.put_metadata(batch, slot, key, &encoded, expire_at, old);
    }

    /// GET: the value, `None` if missing, WRONGTYPE for another type.
    pub fn get(&self, key: &[u8]) -> Result<Option<Bytes>> {
        self.read_string(key, |db, stored| {
            stored.map(|s| db.string_bytes(key, s)).transpose()
        })
    }

    /// Reads the entries of `keys` at once, for the GETs that will ask for
    /// them (see [`Prefetched`]).
    /// Entries past `max_bytes` in all are not kept: their GETs read by
    /// themselves, one value at a time.
    pub fn prefetch(&self, keys: &[&[u8]], max_bytes: usize) -> Result<Prefetched> {
        let stored = self.read_many(keys)?;
        let mut kept_bytes = 0;
        let mut entries = HashMap::with_capacity(keys.len());
        for (key, found) in keys.iter().zip(stored) {
            kept_bytes += key.len() + found.as_ref().map_or(0, |s| s.raw.len());
            let entry = match found {
                _ if kept_bytes > max_bytes => Prefetch::ReadAlone,
                Some(s) => Prefetch::Found(StoredKey {
                    raw: Value::Own(Box::from(&*s.raw)),
                    ..s
                }),
                None => Prefetch::Missing,
            };
            entries.insert(Bytes::copy_from_slice(key), entry);
        }
        Ok(Prefetched {
            db: self.ks.index,
            entries,
        })
    }

    /// GET from `prefetched`, taking the entry of `key`; `None` when it
    /// has none, or when the entry has expired (a lookup then removes it).
    pub fn get_prefetched(
        &self,
        key: &[u8],
        prefetched: &mut Prefetched,
    ) -> Option<Result<Option<Bytes>>> {
        if prefetched.db != self.ks.index {
            return None;
        }
        let stored = match prefetched.entries.remove(key)? {
            Prefetch::Found(stored) => stored,
            Prefetch::Missing => {
                self.count_read(key, false);
                return Some(Ok(None));
            }
            Prefetch::ReadAlone => return None,
        };
        // A bitmap's fragments are read by the normal lookup.
        if stored.header.is_expired(now_ms()) || stored.header.data_type == DataType::Bitmap {
            return None;
        }
        self.count_read(key, true);
        Some(self.string_bytes(key, &stored).map(Some))
    }

    /// MGET: values of strings, `None` for missing keys and other types.
    pub fn mget(&self, keys: &[Bytes]) -> Result<Vec<Option<Bytes>>> {
        let now = now_ms();
        let stored = self.read_many(keys)?;
        keys.iter()
            .zip(stored)
            .map(|(key, stored)| {
                let live = match stored {
                    // Removed as a lookup removes it.
                    Some(s) if s.header.is_expired(now) => self.lookup_read(key, now)?,
                    found => {
                        self.count_read(key, found.is_some());
                        found
                    }
                };
                live.filter(|s| s.header.data_type.is_string())
                    .map(|s| self.string_bytes(key, &s))
                    .transpose()
            })
            .collect()
    }

    /// SET with its condition, expiry and GET option.
    pub fn set(
        &self,
        key: &[u8],
        value: &[u8],
        condition: SetCondition,
        expiry: Expiry,
        want_old: bool,
    ) -> Result<SetOutcome> {
        self.lock(&[key])?;
        let now = now_ms();
        let stored = self.read(key)?;
        let live = stored.as_ref().filter(|s| !s.header.is_expired(now));
        if want_old {
            // GET's lookup, a read for Redis.
            self.count_read(key, live.is_some());
        }
        let old = match (want_old, live) {
            (true, Some(s)) => Some(self.string_bytes(key, s)?),
            _ => None,
        };
        let allowed = match condition {
            SetCondition::Always => true,
            SetCondition::IfMissing => live.is_none(),
            SetCondition::IfExists => live.is_some(),
        };
        if !allowed {
            return Ok(SetOutcome {
                written: false,
                old,
            });
        }
        let expire_at = expiry.resolve(live.map_or(0, |s| s.header.expire_at_ms));
        let old_header = stored.as_ref().map(|s| s.header);
        let mut batch = self.batch();
        self.write_string(
            &mut batch,
            key_slot(key),
            key,
            value,
            expire_at,
            old_header.as_ref(),
        );
        drop(stored);
        self.commit(batch)?;
        let prior = Prior::of(old_header.as_ref(), now);
        self.notify_write(key, prior, events::STRING, "set", true);
        if let Expiry::At(_) = expiry {
            self.notify(events::GENERIC, "expire", key);
        }
        Ok(SetOutcome { written: true, old })
    }

    /// GETDEL.
    pub fn getdel(&self, key: &[u8]) -> Result<Option<Bytes>> {
        self.lock(&[key])?;
        let now = now_ms();
        let found = self.lookup_locked(key, now)?;
        // Read lookups in Redis: a hit or a miss (and `keymiss`).
        self.count_read(key, found.is_some());
        let Some(stored) = found else {
            return Ok(None);
        };
        let value = self.string_bytes(key, &stored)?;
        let mut batch = self.batch();
        self.remove(&mut batch, stored.slot, key, &stored.header);
        drop(stored);
        self.commit(batch)?;
        self.notify(events::GENERIC, "del", key);
        Ok(Some(value))
    }

    /// GETEX: the value, and the expiry changed when `expiry` gives one.
    /// `expiry` is evaluated only once the key is known to be a string, so
    /// its errors come after nil and WRONGTYPE, as in Redis.
    pub fn getex(
        &self,
        key: &[u8],
        expiry: impl FnOnce() -> Result<Option<Expiry>>,
    ) -> Result<Option<Bytes>> {
        self.lock(&[key])?;
        let now = now_ms();
        let found = self.lookup_locked(key, now)?;
        // Read lookups in Redis: a hit or a miss (and `keymiss`).
        self.count_read(key, found.is_some());
        let Some(stored) = found else {
            return Ok(None);
        };
        let value = self.string_bytes(key, &stored)?;
        let expiry = expiry()?;
        let Some(expiry) = expiry else {
            return Ok(Some(value));
        };
        let header = stored.header;
        let expire_at = expiry.resolve(header.expire_at_ms);
        // A time already past deletes the key, as EXPIRE does.
        let deleted = expire_at != 0 && expire_at <= now;
        if expire_at != header.expire_at_ms {
            let mut batch = self.batch();
            let slot = stored.slot;
            if deleted {
                self.remove(&mut batch, slot, key, &header);
            } else {
                // Either form keeps its value; only the expiry changes.
                let mut raw = stored.raw.to_vec();
                MetadataHeader::rewrite_expire(&mut raw, expire_at);
                self.put_metadata(&mut batch, slot, key, &raw, expire_at, Some(&header));
            }
            drop(stored);
            self.commit(batch)?;
        }
        // As in Redis: `expire` even when the time is unchanged, `persist`
        // only when there was a time to remove.
        match expiry {
            Expiry::At(_) if deleted => self.notify(events::GENERIC, "del", key),
            Expiry::At(_) => self.notify(events::GENERIC, "expire", key),
            Expiry::Persist if header.expire_at_ms != 0 => {
                self.notify(events::GENERIC, "persist", key)
            }
            _ => {}
        }
        Ok(Some(value))
    }

    /// Replaces a string's value with `f(old)` under the key lock, keeping
    /// its expiry; a missing key starts from `None`. Returns what `f`
    /// returned alongside the new value.
    fn update_string<T>(
        &self,
        key: &[u8],
        event: &'static str,
        f: impl FnOnce(Option<&[u8]>) -> Result<(Option<Vec<u8>>, T)>,
    ) -> Result<T> {
        self.lock(&[key])?;
        let now = now_ms();
        let stored = self.read(key)?;
        let live = stored.as_ref().filter(|s| !s.header.is_expired(now));
        let old_value = live.map(|s| self.string_bytes(key, s)).transpose()?;
        let (new_value, result) = f(old_value.as_deref())?;
        if let Some(new_value) = new_value {
            let expire_at = live.map_or(0, |s| s.header.expire_at_ms);
            let old_header = stored.as_ref().map(|s| s.header);
            let mut batch = self.batch();
            self.write_string(
                &mut batch,
                key_slot(key),
                key,
                &new_value,
                expire_at,
                old_header.as_ref(),
            );
            drop(stored);
            self.commit(batch)?;
            let prior = Prior::of(old_header.as_ref(), now);
            self.notify_write(key, prior, events::STRING, event, true);
        }
        Ok(result)
    }

    /// APPEND: the new length.
    pub fn append(&self, key: &[u8], suffix: &[u8], max_len: u64) -> Result<u64> {
        self.lock(&[key])?;
        let edit = self.edit_string(key, false)?;
        let len = edit.len() + suffix.len() as u64;
        check_length(len, max_len)?;
        self.write_at(key, edit, StringEdit::len, suffix, "append")
    }

    /// SETRANGE: the new length. An empty `data` changes nothing.
    pub fn setrange(&self, key: &[u8], offset: u64, data: &[u8], max_len: u64) -> Result<u64> {
        self.lock(&[key])?;
        let edit = self.edit_string(key, false)?;
        if data.is_empty() {
            return Ok(edit.len());
        }
        check_length(offset + data.len() as u64, max_len)?;
        self.write_at(key, edit, |_| offset, data, "setrange")
    }

    /// Writes `data` at `offset(&edit)` of the string being edited, in its
    /// form, and raises `event`: the new length.
    fn write_at(
        &self,
        key: &[u8],
        mut edit: StringEdit,
        offset: impl FnOnce(&StringEdit) -> u64,
        data: &[u8],
        event: &'static str,
    ) -> Result<u64> {
        let offset = offset(&edit);
        edit.write(self, key, offset, data)?;
        let mut batch = self.batch();
        edit.save(self, &mut batch, key);
        self.commit(batch)?;
        self.notify_write(key, edit.prior, events::STRING, event, true);
        Ok(edit.len())
    }

    /// INCRBY and friends: the new value.
    pub fn incr_by(&self, key: &[u8], delta: i64) -> Result<i64> {
        self.update_string(key, "incrby", |old| {
            let current = match old {
                Some(text) => parse_i64(text).ok_or(Error::NotInteger)?,
                None => 0,
            };
            let next = current.checked_add(delta).ok_or(Error::Overflow)?;
            Ok((
                Some(itoa::Buffer::new().format(next).as_bytes().to_vec()),
                next,
            ))
        })
    }

    /// INCRBYFLOAT: the new value as Redis prints it.
    pub fn incr_by_float(&self, key: &[u8], incr: &[u8]) -> Result<Bytes> {
        self.update_string(key, "incrbyfloat", |old| {
            let sum = long_double_add(Some(old.unwrap_or(b"0")), incr)?;
            Ok((Some(sum.to_vec()), sum))
        })
    }

    /// MSET (and MSETNX when `only_if_none_exist`): whether the keys were set.
    pub fn mset(&self, pairs: &[(Bytes, Bytes)], only_if_none_exist: bool) -> Result<bool> {
        let keys: Vec<&[u8]> = pairs.iter().map(|(k, _)| &k[..]).collect();
        self.lock(&keys)?;
        let now = now_ms();
        if only_if_none_exist {
            for key in &keys {
                if self.lookup_locked(key, now)?.is_some() {
                    return Ok(false);
                }
            }
        }
        let mut batch = self.batch();
        // A key given twice takes its last value, written once.
        let mut seen = std::collections::HashSet::with_capacity(pairs.len());
        let mut priors = std::collections::HashMap::with_capacity(pairs.len());
        let olds = self.read_many(&keys)?;
        for ((key, value), old) in pairs.iter().zip(olds).rev() {
            if !seen.insert(key) {
                continue;
            }
            let old = old.map(|s| s.header);
            self.write_string(&mut batch, key_slot(key), key, value, 0, old.as_ref());
            priors.insert(key, Prior::of(old.as_ref(), now));
        }
        self.commit(batch)?;
        // One `set` per pair in argument order, as Redis sets them one by
        // one: only a key's first pair finds it missing or expired.
        for (key, _) in pairs {
            let prior = priors.insert(key, Prior::Live).unwrap_or(Prior::Live);
            self.notify_write(key, prior, events::STRING, "set", true);
        }
        Ok(true)
    }
}

use redrock_cluster::key_slot;

fn check_length(len: u64, max_len: u64) -> Result<()> {
    if len > max_len {
        return Err(Error::err(
            "string exceeds maximum allowed size (proto-max-bulk-len)",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_integer_rules() {
        assert_eq!(parse_i64(b"0"), Some(0));
        assert_eq!(parse_i64(b"-12"), Some(-12));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [
            &b"9223372036854775808"[..],
            b"+1",
            b"01",
            b"-0",
            b" 1",
            b"1 ",
            b"",
            b"-",
            b"1a",
        ] {
            assert_eq!(parse_i64(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn long_double_matches_redis() {
        // Replies of a real redis-server 7.0.
        let add = |a: &str, b: &str| {
            String::from_utf8(
                long_double_add(Some(a.as_bytes()), b.as_bytes())
                    .unwrap()
                    .to_vec(),
            )
            .unwrap()
        };
        assert_eq!(add("1000", "0.1"), "1000.09999999999999998");
        assert_eq!(add("123456", "0.1"), "123456.10000000000000142");
        assert_eq!(add("10.5", "0.1"), "10.6");
        assert_eq!(add("3.0e3", "0.1"), "3000.10000000000000009");
        assert_eq!(add("1e20", "0.1"), "100000000000000000000");
        assert_eq!(add("5", "0x10"), "21");
        assert_eq!(long_double_add(Some(b"5"), b" 1"), Err(Error::NotFloat));
        assert_eq!(long_double_add(Some(b"abc"), b"1"), Err(Error::NotFloat));
        assert_eq!(long_double_add(Some(b"3\0v"), b"1"), Err(Error::NotFloat));
        assert_eq!(
            long_double_add(Some(b"1"), b"inf"),
            Err(Error::NanOrInfinity)
        );
    }
}
