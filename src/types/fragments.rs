//! A string's bytes in either of its stored forms: inline in the metadata
//! entry (what SET writes), or as a bitmap: fragments of
//! [`BITMAP_FRAGMENT_BYTES`], one sub-key each, missing fragments being
//! zeros. Bit commands keep a string longer than one fragment as a bitmap,
//! so SETBIT at a high offset of a 512 MB bitmap reads and writes one
//! fragment, and a sparse bitmap stores only the fragments that hold a bit.
//! Every string command reads and writes both forms alike.

use super::{now_ms, Db, Prior, StoredKey};
use crate::error::{Error, Result};
use crate::storage::{Batch, Cf, Entry, StorageError};
use bytes::Bytes;
use redrock_encoding::{
    subkey, subkey_prefix, DataType, Metadata, MetadataHeader, BITMAP_FRAGMENT_BYTES,
};
use std::collections::btree_map;
use std::collections::BTreeMap;
use std::ops::ControlFlow;

const FRAGMENT: u64 = BITMAP_FRAGMENT_BYTES;

/// A run of a string's bytes met by [`Db::visit_string`].
pub enum Piece<'p> {
    Bytes(&'p [u8]),
    /// Bytes no fragment holds: zeros.
    Zeros(u64),
}

/// The sub-key suffix of fragment `index`.
fn fragment_name(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

/// The length in bytes of the string `stored`, in either form.
pub fn string_len(stored: &StoredKey<'_>) -> Result<u64> {
    match stored.header.data_type {
        DataType::String => Ok(stored.body().len() as u64),
        DataType::Bitmap => Ok(Metadata::decode(&stored.raw)?.size),
        _ => Err(Error::WrongType),
    }
}

impl<'a> Db<'a> {
    /// Looks `key` up as a read command does (a keyspace hit or miss) and
    /// runs `read` with the live string entry, `None` for a missing key,
    /// WRONGTYPE for another type. A bitmap is read (metadata and
    /// fragments) from one snapshot, taken here unless the command already
    /// reads one, so a write of several fragments is never half seen.
    pub fn read_string<T>(
        &self,
        key: &[u8],
        read: impl FnOnce(&Db<'_>, Option<&StoredKey<'_>>) -> Result<T>,
    ) -> Result<T> {
        let now = now_ms();
        let found = self.lookup_read(key, now)?;
        match found {
            Some(stored)
                if stored.header.data_type == DataType::Bitmap && !self.view.is_snapshot() =>
            {
                drop(stored);
                self.in_snapshot(|db| {
                    let again = db.read(key)?.filter(|s| !s.header.is_expired(now));
                    read(db, checked_string(again.as_ref())?)
                })
            }
            other => read(self, checked_string(other.as_ref())?),
        }
    }

    /// [`Db::read_string`] for a read within one fragment (GETBIT): the
    /// fragment's sub-key carries the version the metadata named and a
    /// write replaces a fragment whole, so no snapshot is needed.
    pub fn read_string_point<T>(
        &self,
        key: &[u8],
        read: impl FnOnce(&Db<'_>, Option<&StoredKey<'_>>) -> Result<T>,
    ) -> Result<T> {
        let found = self.lookup_read(key, now_ms())?;
        read(self, checked_string(found.as_ref())?)
    }

    /// Calls `visit` with the bytes `start..end` of the string `stored`
    /// (clipped to its length) in order, until it breaks.
    pub fn visit_string(
        &self,
        key: &[u8],
        stored: &StoredKey<'_>,
        start: u64,
        end: u64,
        mut visit: impl FnMut(Piece<'_>) -> ControlFlow<()>,
    ) -> Result<()> {
        if stored.header.data_type == DataType::String {
            let body = stored.body();
            let end = end.min(body.len() as u64);
            if start < end {
                let _ = visit(Piece::Bytes(&body[start as usize..end as usize]));
            }
            return Ok(());
        }
        let meta = Metadata::decode(&stored.raw)?;
        let end = end.min(meta.size);
        if start >= end {
            return Ok(());
        }
        let prefix = subkey_prefix(&self.ks.keyspace, stored.slot, key, meta.version);
        let bound = |index: u64| [&prefix[..], &fragment_name(index)].concat();
        let (first_index, last_index) = (start / FRAGMENT, (end - 1) / FRAGMENT);
        let fragments: Box<dyn Iterator<Item = std::result::Result<Entry, StorageError>>> =
            if first_index == last_index {
                // Within one fragment: a point lookup, far cheaper than an
                // iterator (bloom filters skip the files without it).
                let name = bound(first_index);
                let found = self.view.get(Cf::Subkey, &name)?;
                let entry = found.map(|value| (name.into_boxed_slice(), Box::from(value.as_ref())));
                Box::new(entry.map(Ok).into_iter())
            } else {
                Box::new(self.view.range(
                    Cf::Subkey,
                    &bound(first_index),
                    Some(bound(last_index + 1)),
                ))
            };
        let mut at = start;
        for item in fragments {
            let (name, bytes) = item?;
            let index = name
                .get(prefix.len()..)
                .and_then(|n| <[u8; 8]>::try_from(n).ok())
                .map(u64::from_be_bytes)
                .ok_or_else(|| Error::err("corrupted value: bad bitmap fragment"))?;
            let first = index * FRAGMENT;
            if first > at {
                let gap = first.min(end) - at;
                at += gap;
                if visit(Piece::Zeros(gap)).is_break() {
                    return Ok(());
                }
            }
            let stop = (first + bytes.len() as u64).min(end);
            if at < stop {
                let piece = &bytes[(at - first) as usize..(stop - first) as usize];
                at = stop;
                if visit(Piece::Bytes(piece)).is_break() {
                    return Ok(());
                }
            }
        }
        if at < end {
            let _ = visit(Piece::Zeros(end - at));
        }
        Ok(())
    }

    /// The bytes `start..end` of the string `stored`, clipped to its length.
    pub fn string_range(
        &self,
        key: &[u8],
        stored: &StoredKey<'_>,
        start: u64,
        end: u64,
    ) -> Result<Vec<u8>> {
        let len = string_len(stored)?;
        let mut out = Vec::with_capacity(end.min(len).saturating_sub(start) as usize);
        self.visit_string(key, stored, start, end, |piece| {
            match piece {
                Piece::Bytes(bytes) => out.extend_from_slice(bytes),
                Piece::Zeros(n) => out.resize(out.len() + n as usize, 0),
            }
            ControlFlow::Continue(())
        })?;
        Ok(out)
    }

    /// The whole value of the string `stored`. A bitmap must be read from
    /// a snapshot or under the key's lock (see [`Db::read_string`]).
    pub fn string_bytes(&self, key: &[u8], stored: &StoredKey<'_>) -> Result<Bytes> {
        match stored.header.data_type {
            DataType::String => Ok(Bytes::copy_from_slice(stored.body())),
            DataType::Bitmap => Ok(self.string_range(key, stored, 0, u64::MAX)?.into()),
            _ => Err(Error::WrongType),
        }
    }

    /// Opens the string `key` for a change in place (the caller holds its
    /// lock): the live value, or an empty one. `bitwise` edits (bit
    /// commands) turn a string that grows past one fragment into a bitmap.
    pub fn edit_string(&self, key: &[u8], bitwise: bool) -> Result<StringEdit> {
        let now = now_ms();
        let stored = self.read_to_write(key, now)?;
        let header = stored.as_ref().map(|s| s.header);
        let live = stored.as_ref().filter(|s| !s.header.is_expired(now));
        let (form, len, expire_at) = match live {
            Some(s) if s.header.data_type == DataType::String => {
                let body = s.body().to_vec();
                let len = body.len() as u64;
                (Form::Inline(body), len, s.header.expire_at_ms)
            }
            Some(s) if s.header.data_type == DataType::Bitmap => {
                let meta = Metadata::decode(&s.raw)?;
                let form = Form::Fragments {
                    version: meta.version,
                    fresh: false,
                    touched: BTreeMap::new(),
                };
                (form, meta.size, s.header.expire_at_ms)
            }
            Some(_) => return Err(Error::WrongType),
            None => (Form::Inline(Vec::new()), 0, 0),
        };
        Ok(StringEdit {
            slot: redrock_cluster::key_slot(key),
            stored: header,
            prior: Prior::of(header.as_ref(), now),
            expire_at,
            len,
            form,
            bitwise,
        })
    }

    /// Opens `key` to be replaced by a new string (the caller holds its
    /// lock), whatever it holds now; the new string has no expiry.
    pub fn new_string(&self, key: &[u8], bitwise: bool) -> Result<StringEdit> {
        let now = now_ms();
        let header = self.read_to_write(key, now)?.map(|s| s.header);
        Ok(StringEdit {
            slot: redrock_cluster::key_slot(key),
            stored: header,
            prior: Prior::of(header.as_ref(), now),
            expire_at: 0,
            len: 0,
            form: Form::Inline(Vec::new()),
            bitwise,
        })
    }

    fn fragment(&self, key: &[u8], slot: u16, version: u64, index: u64) -> Result<Vec<u8>> {
        let name = subkey(&self.ks.keyspace, slot, key, version, &fragment_name(index));
        Ok(self
            .view
            .get(Cf::Subkey, &name)?
            .map_or_else(Vec::new, |v| v.to_vec()))
    }
}

/// `stored` if it is a string, WRONGTYPE otherwise.
fn checked_string<'s, 'k>(stored: Option<&'s StoredKey<'k>>) -> Result<Option<&'s StoredKey<'k>>> {
    match stored {
        Some(s) if !s.header.data_type.is_string() => Err(Error::WrongType),
        other => Ok(other),
    }
}

/// A string being changed by one command: its value inline, or the
/// fragments the command has read or written so far, all written by
/// [`StringEdit::save`] in the command's one batch.
pub struct StringEdit {
    slot: u16,
    /// The header as stored before the command, expired or not.
    stored: Option<MetadataHeader>,
    /// What the key was before the command, for its events.
    pub prior: Prior,
    expire_at: u64,
    len: u64,
    form: Form,
    bitwise: bool,
}

enum Form {
    Inline(Vec<u8>),
    Fragments {
        version: u64,
        /// A version of this command's making: nothing is stored under it.
        fresh: bool,
        touched: BTreeMap<u64, Fragment>,
    },
}

/// A fragment as the command has read or changed it.
struct Fragment {
    bytes: Vec<u8>,
    changed: bool,
}

impl StringEdit {
    /// The length of the value as edited so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the value is empty (a missing key).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// `n` bytes from `offset`, zeros past the end.
    pub fn read(&mut self, db: &Db<'_>, key: &[u8], offset: u64, n: usize) -> Result<Vec<u8>> {
        let mut out = vec![0u8; n];
        match &mut self.form {
            Form::Inline(value) => {
                let start = (offset as usize).min(value.len());
                let end = (offset as usize + n).min(value.len());
                out[..end - start].copy_from_slice(&value[start..end]);
            }
            Form::Fragments {
                version, touched, ..
            } => {
                let end = offset + n as u64;
                let mut at = offset;
                while at < end {
                    let index = at / FRAGMENT;
                    let fragment = &loaded(touched, db, key, self.slot, *version, index)?.bytes;
                    let stop = ((index + 1) * FRAGMENT).min(end);
                    let from = (at - index * FRAGMENT) as usize;
                    let upto = ((stop - index * FRAGMENT) as usize).min(fragment.len());
                    if from < upto {
                        let dst = (at - offset) as usize;
                        out[dst..dst + upto - from].copy_from_slice(&fragment[from..upto]);
                    }
                    at = stop;
                }
            }
        }
        Ok(out)
    }

    /// Writes `data` at `offset`, growing the value with zeros as needed.
    pub fn write(&mut self, db: &Db<'_>, key: &[u8], offset: u64, data: &[u8]) -> Result<()> {
        let end = offset + data.len() as u64;
        self.grow_to(db, end)?;
        match &mut self.form {
            Form::Inline(value) => {
                value[offset as usize..end as usize].copy_from_slice(data);
            }
            Form::Fragments {
                version, touched, ..
            } => {
                let mut at = offset;
                while at < end {
                    let index = at / FRAGMENT;
                    let fragment = loaded(touched, db, key, self.slot, *version, index)?;
                    fragment.changed = true;
                    let fragment = &mut fragment.bytes;
                    let stop = ((index + 1) * FRAGMENT).min(end);
                    let from = (at - index * FRAGMENT) as usize;
                    let upto = (stop - index * FRAGMENT) as usize;
                    if fragment.len() < upto {
                        fragment.resize(upto, 0);
                    }
                    let src = (at - offset) as usize;
                    fragment[from..upto].copy_from_slice(&data[src..src + upto - from]);
                    at = stop;
                }
            }
        }
        Ok(())
    }

    /// Pads the value with zeros up to `len` bytes (nothing if it is
    /// longer).
    pub fn grow_to(&mut self, db: &Db<'_>, len: u64) -> Result<()> {
        if len <= self.len {
            return Ok(());
        }
        if self.bitwise && len > FRAGMENT {
            if let Form::Inline(value) = &mut self.form {
                let value = std::mem::take(value);
                let touched = value
                    .chunks(FRAGMENT as usize)
                    .enumerate()
                    .filter(|(_, chunk)| chunk.iter().any(|&b| b != 0))
                    .map(|(i, chunk)| {
                        let fragment = Fragment {
                            bytes: chunk.to_vec(),
                            changed: true,
                        };
                        (i as u64, fragment)
                    })
                    .collect();
                self.form = Form::Fragments {
                    version: db.storage.next_version()?,
                    fresh: true,
                    touched,
                };
            }
        }
        if let Form::Inline(value) = &mut self.form {
            value.resize(len as usize, 0);
        }
        self.len = len;
        Ok(())
    }

    /// Adds the edited value to `batch`.
    pub fn save(&self, db: &Db<'_>, batch: &mut Batch, key: &[u8]) {
        let encoded = match &self.form {
            Form::Inline(value) => Metadata::encode_string(self.expire_at, value),
            Form::Fragments {
                version,
                fresh,
                touched,
            } => {
                for (&index, fragment) in touched.iter().filter(|(_, f)| f.changed) {
                    let name = subkey(
                        &db.ks.keyspace,
                        self.slot,
                        key,
                        *version,
                        &fragment_name(index),
                    );
                    // A fragment of zeros need not be stored.
                    if fragment.bytes.iter().any(|&b| b != 0) {
                        batch.put(Cf::Subkey, &name, &fragment.bytes);
                    } else if !fresh {
                        batch.delete(Cf::Subkey, &name);
                    }
                }
                let mut meta = Metadata::new(DataType::Bitmap, *version);
                meta.header.expire_at_ms = self.expire_at;
                meta.size = self.len;
                meta.encode()
            }
        };
        db.put_metadata(
            batch,
            self.slot,
            key,
            &encoded,
            self.expire_at,
            self.stored.as_ref(),
        );
    }
}

/// Fragment `index` of an edit: as changed so far, or read from the store.
fn loaded<'t>(
    touched: &'t mut BTreeMap<u64, Fragment>,
    db: &Db<'_>,
    key: &[u8],
    slot: u16,
    version: u64,
    index: u64,
) -> Result<&'t mut Fragment> {
    Ok(match touched.entry(index) {
        btree_map::Entry::Occupied(entry) => entry.into_mut(),
        btree_map::Entry::Vacant(entry) => entry.insert(Fragment {
            bytes: db.fragment(key, slot, version, index)?,
            changed: false,
        }),
    })
}
