//! SORT and SORT_RO: the elements of a list, set or sorted set, ordered by
//! themselves or by the values keys named after them hold (BY), with
//! Redis's rules for numbers, ALPHA, LIMIT, GET patterns and STORE.

use super::zset::RangeSpec;
use super::Db;
use crate::error::{Error, Result};
use crate::storage::Cf;
use bytes::Bytes;
use redrock_encoding::{DataType, Metadata};
use std::cmp::Ordering;

/// What SORT was asked to do.
#[derive(Clone, Debug, Default)]
pub struct SortOptions {
    pub by: Option<Bytes>,
    /// LIMIT offset count.
    pub limit: Option<(i64, i64)>,
    pub gets: Vec<Bytes>,
    pub desc: bool,
    pub alpha: bool,
    pub store: Option<Bytes>,
}

/// SORT's result: the reply items (nil for a GET that found nothing), or
/// with STORE the length of the stored list.
pub enum Sorted {
    Items(Vec<Option<Bytes>>),
    Stored(u64),
}

/// One element with what it sorts by.
struct Entry {
    element: Bytes,
    score: f64,
    /// The BY value of an ALPHA sort by pattern.
    by_value: Option<Bytes>,
}

impl Db<'_> {
    /// SORT key with `options`; `in_script` forces a set's unsorted
    /// elements into order, as Redis does for scripts (and STORE) so that
    /// their effects replicate the same.
    pub fn sort(&self, key: &[u8], options: &SortOptions, in_script: bool) -> Result<Sorted> {
        if let Some(dst) = &options.store {
            self.lock(&[key, dst])?;
        }
        let (items, count) = self.in_snapshot(|db| db.sorted_items(key, options, in_script))?;
        let Some(dst) = &options.store else {
            return Ok(Sorted::Items(items));
        };
        self.only_read([key].into_iter().filter(|k| *k != &dst[..]));
        let items: Vec<Bytes> = items.into_iter().map(Option::unwrap_or_default).collect();
        debug_assert_eq!(items.len(), count);
        Ok(Sorted::Stored(self.store_list(dst, &items, "sortstore")?))
    }

    /// The reply items of SORT and how many there are.
    fn sorted_items(
        &self,
        key: &[u8],
        options: &SortOptions,
        in_script: bool,
    ) -> Result<(Vec<Option<Bytes>>, usize)> {
        let mut by = options.by.as_deref();
        let mut alpha = options.alpha;
        // A BY pattern without `*` names one key for every element: there
        // is nothing to sort by.
        let mut dont_sort = by.is_some_and(|p| !p.contains(&b'*'));
        let now = super::now_ms();
        let stored = self.lookup_read(key, now)?;
        let data_type = stored.as_ref().map(|s| s.header.data_type);
        if dont_sort && data_type == Some(DataType::Set) && (options.store.is_some() || in_script) {
            dont_sort = false;
            alpha = true;
            by = None;
        }
        let mut elements = match &stored {
            None => Vec::new(),
            Some(s) => {
                let meta = Metadata::decode(&s.raw)?;
                let slot = s.slot;
                match s.header.data_type {
                    DataType::List => self.elements(slot, key, &meta, meta.head, meta.tail)?,
                    DataType::Set => self
                        .members(Cf::Subkey, slot, key, meta.version, None)
                        .map(|m| m.map(|(member, _)| Bytes::from(member)))
                        .collect::<Result<_>>()?,
                    DataType::ZSet => self
                        .range_of(&(slot, meta), key, &RangeSpec::ALL)?
                        .into_iter()
                        .map(|(member, _)| member)
                        .collect(),
                    _ => return Err(Error::WrongType),
                }
            }
        };
        drop(stored);
        if dont_sort && options.desc && data_type != Some(DataType::Set) {
            // Lists and sorted sets keep their own order, from the other end.
            elements.reverse();
        }
        let (start, end) = limit_window(options.limit, elements.len());
        let mut entries: Vec<Entry> = elements
            .into_iter()
            .map(|element| Entry {
                element,
                score: 0.0,
                by_value: None,
            })
            .collect();
        if !dont_sort {
            let mut unconvertible = false;
            for entry in &mut entries {
                let value = match by {
                    Some(pattern) => match self.lookup_by_pattern(pattern, &entry.element)? {
                        Some(v) => v,
                        None => continue,
                    },
                    None => entry.element.clone(),
                };
                if alpha {
                    if by.is_some() {
                        entry.by_value = Some(value);
                    }
                } else {
                    match sort_score(&value) {
                        Some(score) => entry.score = score,
                        None => unconvertible = true,
                    }
                }
            }
            if unconvertible {
                return Err(Error::err(
                    "One or more scores can't be converted into double",
                ));
            }
            let by_pattern = by.is_some();
            entries.sort_by(|a, b| {
                let order = compare(a, b, alpha, by_pattern);
                if options.desc {
                    order.reverse()
                } else {
                    order
                }
            });
        }
        let window = entries.get(start..end).unwrap_or_default();
        let mut items = Vec::new();
        for entry in window {
            if options.gets.is_empty() {
                items.push(Some(entry.element.clone()));
            }
            for pattern in &options.gets {
                items.push(self.lookup_by_pattern(pattern, &entry.element)?);
            }
        }
        let count = items.len();
        Ok((items, count))
    }

    /// The value `pattern` names for `element`: `#` is the element itself;
    /// otherwise the first `*` becomes the element and the key's string
    /// value is read, or with `->field` after the `*` that field of a hash.
    /// `None` when there is no `*`, no such key, or another type.
    fn lookup_by_pattern(&self, pattern: &[u8], element: &[u8]) -> Result<Option<Bytes>> {
        if pattern == b"#" {
            return Ok(Some(Bytes::copy_from_slice(element)));
        }
        let Some(star) = pattern.iter().position(|&b| b == b'*') else {
            return Ok(None);
        };
        let after = &pattern[star + 1..];
        let arrow = after
            .windows(2)
            .position(|w| w == b"->")
            .filter(|&at| at + 2 < after.len());
        let (postfix, field) = match arrow {
            Some(at) => (&after[..at], Some(&after[at + 2..])),
            None => (after, None),
        };
        let key = [&pattern[..star], element, postfix].concat();
        let now = super::now_ms();
        let Some(stored) = self.lookup_read(&key, now)? else {
            return Ok(None);
        };
        match field {
            Some(field) if stored.header.data_type == DataType::Hash => {
                let meta = Metadata::decode(&stored.raw)?;
                self.hash_field_value(stored.slot, &key, &meta, field, now)
            }
            None if stored.header.data_type.is_string() => {
                self.string_bytes(&key, &stored).map(Some)
            }
            _ => Ok(None),
        }
    }
}

/// SORT's LIMIT as a window `start..end` over `len` elements, as Redis
/// clamps it.
fn limit_window(limit: Option<(i64, i64)>, len: usize) -> (usize, usize) {
    let len = len as i64;
    let (offset, count) = limit.unwrap_or((0, -1));
    let mut start = offset.clamp(0, len);
    let count = count.clamp(-1, len);
    let mut end = if count < 0 {
        len - 1
    } else {
        start + count - 1
    };
    if start >= len {
        start = len - 1;
        end = len - 2;
    }
    end = end.min(len - 1);
    let start = start.max(0) as usize;
    (start, (end + 1).max(start as i64) as usize)
}

/// The order of two entries under Redis's sortCompare (without DESC).
fn compare(a: &Entry, b: &Entry, alpha: bool, by_pattern: bool) -> Ordering {
    if !alpha {
        return a
            .score
            .partial_cmp(&b.score)
            .unwrap_or(Ordering::Equal)
            .then_with(|| a.element.cmp(&b.element));
    }
    if by_pattern {
        // Elements whose BY key is missing come first.
        return a.by_value.cmp(&b.by_value);
    }
    a.element.cmp(&b.element)
}

/// A numeric sort value as Redis reads it with `strtod`: leading spaces
/// allowed, the rest must be a number (an empty text is 0), no NaN, no
/// overflow or underflow.
fn sort_score(text: &[u8]) -> Option<f64> {
    // C reads up to the first NUL.
    let text = text.split(|&b| b == 0).next().unwrap_or_default();
    let c = std::ffi::CString::new(text).ok()?;
    let mut end: *mut libc::c_char = std::ptr::null_mut();
    // SAFETY: `c` is NUL-terminated and outlives the call; errno is this
    // thread's, reset right before strtod sets it.
    let (value, range_error) = unsafe {
        *libc::__errno_location() = 0;
        let value = libc::strtod(c.as_ptr(), &mut end);
        (value, *libc::__errno_location() == libc::ERANGE)
    };
    let consumed = end as usize - c.as_ptr() as usize;
    (consumed == text.len() && !range_error && !value.is_nan()).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_clamp_as_redis() {
        assert_eq!(limit_window(None, 5), (0, 5));
        assert_eq!(limit_window(Some((1, 2)), 5), (1, 3));
        assert_eq!(limit_window(Some((-3, 2)), 5), (0, 2));
        assert_eq!(limit_window(Some((4, 10)), 5), (4, 5));
        assert_eq!(limit_window(Some((5, 1)), 5), (4, 4));
        assert_eq!(limit_window(Some((2, 0)), 5), (2, 2));
        assert_eq!(limit_window(Some((0, -7)), 5), (0, 5));
        assert_eq!(limit_window(None, 0), (0, 0));
    }

    #[test]
    fn scores_read_as_strtod() {
        assert_eq!(sort_score(b"  12.5"), Some(12.5));
        assert_eq!(sort_score(b""), Some(0.0));
        assert_eq!(sort_score(b"0x10"), Some(16.0));
        assert_eq!(sort_score(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(sort_score(b"1e400"), None);
        assert_eq!(sort_score(b"1e-400"), None);
        assert_eq!(sort_score(b"nan"), None);
        assert_eq!(sort_score(b"12a"), None);
        assert_eq!(sort_score(b"3\0junk"), Some(3.0));
    }
}
