//! Sorted sets: one sub-key per member holding its score, and one entry per
//! member in the `zset_score` CF keyed by `encoded score | member`, so that
//! rank and score ranges are bounded iterations in score order.

use super::collection::{Collection, Draw};
use super::{now_ms, Db, Prior};
use crate::error::{Error, Result};
use crate::keyspace_events as events;
use crate::storage::{Batch, Cf};
use bytes::Bytes;
use redrock_encoding::{
    decode_score, encode_score, prefix_successor, subkey_prefix, DataType, Metadata,
};
use std::collections::HashMap;
use std::ops::ControlFlow;

/// One end of a score range: `(1` excludes 1.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScoreBound {
    pub score: f64,
    pub exclusive: bool,
}

/// A score range as ZRANGEBYSCORE and ZCOUNT take it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScoreRange {
    pub min: ScoreBound,
    pub max: ScoreBound,
}

impl ScoreRange {
    /// Parses `min` and `max` as Redis does (C `strtod` on the text after an
    /// optional `(`, NaN refused).
    pub fn parse(min: &[u8], max: &[u8]) -> Option<ScoreRange> {
        Some(ScoreRange {
            min: parse_score_bound(min)?,
            max: parse_score_bound(max)?,
        })
    }

    fn above_min(&self, score: f64) -> bool {
        if self.min.exclusive {
            score > self.min.score
        } else {
            score >= self.min.score
        }
    }

    fn below_max(&self, score: f64) -> bool {
        if self.max.exclusive {
            score < self.max.score
        } else {
            score <= self.max.score
        }
    }

    fn is_empty(&self) -> bool {
        self.min.score > self.max.score
            || (self.min.score == self.max.score && (self.min.exclusive || self.max.exclusive))
    }
}

/// One end of a lexical range: `-`, `+`, `[a` or `(a`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LexBound {
    NegInf,
    PosInf,
    Inclusive(Bytes),
    Exclusive(Bytes),
}

impl LexBound {
    fn parse(arg: &Bytes) -> Option<LexBound> {
        match arg.first()? {
            b'-' if arg.len() == 1 => Some(LexBound::NegInf),
            b'+' if arg.len() == 1 => Some(LexBound::PosInf),
            b'[' => Some(LexBound::Inclusive(arg.slice(1..))),
            b'(' => Some(LexBound::Exclusive(arg.slice(1..))),
            _ => None,
        }
    }
}

/// A lexical range as ZRANGEBYLEX and ZLEXCOUNT take it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LexRange {
    pub min: LexBound,
    pub max: LexBound,
}

impl LexRange {
    pub fn parse(min: &Bytes, max: &Bytes) -> Option<LexRange> {
        Some(LexRange {
            min: LexBound::parse(min)?,
            max: LexBound::parse(max)?,
        })
    }

    fn above_min(&self, member: &[u8]) -> bool {
        match &self.min {
            LexBound::NegInf => true,
            LexBound::PosInf => false,
            LexBound::Inclusive(b) => member >= &b[..],
            LexBound::Exclusive(b) => member > &b[..],
        }
    }

    fn below_max(&self, member: &[u8]) -> bool {
        match &self.max {
            LexBound::NegInf => false,
            LexBound::PosInf => true,
            LexBound::Inclusive(b) => member <= &b[..],
            LexBound::Exclusive(b) => member < &b[..],
        }
    }
}

/// What a range read selects.
#[derive(Clone, Debug)]
pub enum RangeBy {
    /// Ranks as given (negative from the end), both inclusive.
    Rank(i64, i64),
    Score(ScoreRange),
    Lex(LexRange),
}

/// A ZRANGE request: what, in which direction, and LIMIT (`limit < 0`
/// means no limit).
#[derive(Clone, Debug)]
pub struct RangeSpec {
    pub by: RangeBy,
    pub rev: bool,
    pub offset: i64,
    pub limit: i64,
}

impl RangeSpec {
    /// Every member, lowest score first.
    pub const ALL: RangeSpec = RangeSpec {
        by: RangeBy::Rank(0, -1),
        rev: false,
        offset: 0,
        limit: -1,
    };
}

/// The ZADD options.
#[derive(Clone, Copy, Debug, Default)]
pub struct AddFlags {
    pub nx: bool,
    pub xx: bool,
    pub gt: bool,
    pub lt: bool,
    pub incr: bool,
}

/// What ZADD did.
#[derive(Debug, Default)]
pub struct AddOutcome {
    pub added: u64,
    pub updated: u64,
    /// With INCR: the new score, or `None` when the update was refused.
    pub score: Option<f64>,
}

/// How ZUNION/ZINTER combine a member's scores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Aggregate {
    Sum,
    Min,
    Max,
}

impl Aggregate {
    fn apply(self, acc: f64, value: f64) -> f64 {
        match self {
            // inf + -inf is NaN, which Redis turns into 0.
            Aggregate::Sum => {
                let sum = acc + value;
                if sum.is_nan() {
                    0.0
                } else {
                    sum
                }
            }
            Aggregate::Min => acc.min(value),
            Aggregate::Max => acc.max(value),
        }
    }
}

/// Which combination ZUNION/ZINTER/ZDIFF compute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ZSetOp {
    Union,
    Inter,
    Diff,
}

/// A member and its score.
pub type Scored = (Bytes, f64);

/// A sorted set's identity for reads: its slot and metadata.
pub type Opened = (u16, Metadata);

/// A score as a member's sub-key holds it.
pub fn score_from_value(value: &[u8]) -> Result<f64> {
    let bytes: [u8; 8] = value
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| Error::err("corrupted value: short score"))?;
    Ok(f64::from_bits(u64::from_be_bytes(bytes)))
}

/// Parses a score as Redis's `getDoubleFromObject`: the whole text, no
/// leading space, no NaN, no overflow, no underflow to zero.
pub fn parse_score(text: &[u8]) -> Option<f64> {
    let (value, consumed) = strtod(text)?;
    let overflow = value.is_infinite() && !looks_infinite(text);
    let underflow = value == 0.0 && names_nonzero(text);
    (consumed == text.len()
        && !text.is_empty()
        && !text[0].is_ascii_whitespace()
        && !value.is_nan()
        && !overflow
        && !underflow)
        .then_some(value)
}

/// [`parse_score`] for Redis's long doubles (timeouts): a number too small
/// for a double reads as the smallest one of its sign instead of failing.
pub fn parse_long_double(text: &[u8]) -> Option<f64> {
    parse_score(text).or_else(|| {
        let (value, consumed) = strtod(text)?;
        let tiny = value == 0.0
            && consumed == text.len()
            && !text[0].is_ascii_whitespace()
            && names_nonzero(text);
        tiny.then(|| f64::MIN_POSITIVE.copysign(if text[0] == b'-' { -1.0 } else { 1.0 }))
    })
}

/// Whether a number's text has a nonzero digit before its exponent: read
/// as 0, it was too small for a double (strtod's ERANGE, which Redis
/// refuses; a subnormal result it keeps).
fn names_nonzero(text: &[u8]) -> bool {
    let t = text.strip_prefix(b"+").or(text.strip_prefix(b"-"));
    let t = t.unwrap_or(text);
    let (digits, exponent): (&[u8], &[u8]) = match t.get(..2) {
        Some(x) if x.eq_ignore_ascii_case(b"0x") => (&t[2..], b"pP"),
        _ => (t, b"eE"),
    };
    digits
        .iter()
        .take_while(|c| !exponent.contains(c))
        .any(|c| c.is_ascii_hexdigit() && *c != b'0')
}

fn looks_infinite(text: &[u8]) -> bool {
    let t = text.strip_prefix(b"+").or(text.strip_prefix(b"-"));
    let t = t.unwrap_or(text);
    t.eq_ignore_ascii_case(b"inf") || t.eq_ignore_ascii_case(b"infinity")
}

/// Parses a range end as Redis's `zslParseRange`: `strtod` must stop at the
/// end of the text (or an embedded NUL), and NaN is refused.
fn parse_score_bound(text: &[u8]) -> Option<ScoreBound> {
    let (exclusive, number) = match text.strip_prefix(b"(") {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let number = number.split(|&b| b == 0).next().unwrap_or_default();
    let (score, consumed) = strtod(number)?;
    (consumed == number.len() && !score.is_nan()).then_some(ScoreBound {
        // -0 and 0 are one score, stored as 0.
        score: score + 0.0,
        exclusive,
    })
}

/// C `strtod` over `text`: the value and how many bytes it read.
fn strtod(text: &[u8]) -> Option<(f64, usize)> {
    if text.contains(&0) {
        return None;
    }
    let c = std::ffi::CString::new(text).ok()?;
    let mut end: *mut libc::c_char = std::ptr::null_mut();
    // SAFETY: `c` is NUL-terminated and outlives the call; `end` points
    // into it afterwards.
    let value = unsafe { libc::strtod(c.as_ptr(), &mut end) };
    let consumed = end as usize - c.as_ptr() as usize;
    Some((value, consumed))
}

impl<'a> Db<'a> {
    /// The sorted set at `key`, for a read lookup (a keyspace hit or
    /// miss); a command reading it several times opens it once.
    pub fn read_zset(&self, key: &[u8]) -> Result<Option<Opened>> {
        self.read_collection(key, DataType::ZSet)
    }

    /// The score-index key of `member` at `score`.
    fn score_key(&self, slot: u16, key: &[u8], version: u64, score: f64, member: &[u8]) -> Vec<u8> {
        let mut out = subkey_prefix(&self.ks.keyspace, slot, key, version);
        out.extend_from_slice(&encode_score(score));
        out.extend_from_slice(member);
        out
    }

    /// The score of one member.
    fn member_score(
        &self,
        slot: u16,
        key: &[u8],
        version: u64,
        member: &[u8],
    ) -> Result<Option<f64>> {
        self.get_member(slot, key, version, member)?
            .map(|v| score_from_value(&v))
            .transpose()
    }

    /// The score of `member` in the opened sorted set `z` at `key`.
    pub fn score_in(&self, z: &Opened, key: &[u8], member: &[u8]) -> Result<Option<f64>> {
        self.member_score(z.0, key, z.1.version, member)
    }

    /// Writes `member` at `score`, replacing its entry at `old` if any.
    pub(super) fn put_scored(
        &self,
        batch: &mut Batch,
        z: &Collection,
        key: &[u8],
        member: &[u8],
        old: Option<f64>,
        score: f64,
    ) {
        let version = z.meta.version;
        // -0 is stored as 0, as Redis stores it.
        let score = score + 0.0;
        if let Some(old) = old {
            batch.delete(
                Cf::ZsetScore,
                &self.score_key(z.slot, key, version, old, member),
            );
        }
        let sub = self.member_key(z.slot, key, version, member);
        batch.put(Cf::Subkey, &sub, &score.to_bits().to_be_bytes());
        batch.put(
            Cf::ZsetScore,
            &self.score_key(z.slot, key, version, score, member),
            b"",
        );
    }

    /// Deletes `member` (whose score is `score`).
    fn delete_scored(
        &self,
        batch: &mut Batch,
        slot: u16,
        key: &[u8],
        version: u64,
        member: &[u8],
        score: f64,
    ) {
        batch.delete(Cf::Subkey, &self.member_key(slot, key, version, member));
        batch.delete(
            Cf::ZsetScore,
            &self.score_key(slot, key, version, score, member),
        );
    }

    /// ZADD (and ZINCRBY, as ZADD INCR).
    pub fn zadd(&self, key: &[u8], flags: AddFlags, pairs: &[(f64, Bytes)]) -> Result<AddOutcome> {
        self.lock(&[key])?;
        let mut z = self.open_collection(key, DataType::ZSet)?;
        let mut batch = self.batch();
        let mut outcome = AddOutcome::default();
        // Scores as this command leaves them, for members named twice.
        let mut current: HashMap<&[u8], Option<f64>> = HashMap::new();
        for (score, member) in pairs {
            let old = match current.get(&member[..]) {
                Some(known) => *known,
                None if z.existed() => self.member_score(z.slot, key, z.meta.version, member)?,
                None => None,
            };
            let new = match old {
                Some(_) if flags.nx => None,
                None if flags.xx => None,
                Some(old) => {
                    let new = if flags.incr { old + score } else { *score };
                    if new.is_nan() {
                        return Err(Error::err("resulting score is not a number (NaN)"));
                    }
                    let refused = (flags.gt && new <= old) || (flags.lt && new >= old);
                    (!refused).then_some(new)
                }
                None => Some(*score),
            };
            let Some(new) = new else {
                continue;
            };
            outcome.score = Some(new);
            if old == Some(new) {
                continue;
            }
            match old {
                Some(_) => outcome.updated += 1,
                None => {
                    outcome.added += 1;
                    z.meta.size += 1;
                }
            }
            self.put_scored(&mut batch, &z, key, member, old, new);
            current.insert(member, Some(new + 0.0));
        }
        if outcome.added + outcome.updated > 0 {
            self.save_collection(&mut batch, key, &z);
            self.commit(batch)?;
            let event = if flags.incr { "zincr" } else { "zadd" };
            self.notify_collection(key, &z, events::ZSET, event);
        }
        Ok(outcome)
    }

    /// ZREM: how many members were removed.
    pub fn zrem(&self, key: &[u8], members: &[Bytes]) -> Result<u64> {
        self.lock(&[key])?;
        let mut z = self.open_collection(key, DataType::ZSet)?;
        if !z.existed() {
            return Ok(0);
        }
        let mut batch = self.batch();
        let mut removed = std::collections::HashSet::new();
        for member in members {
            if removed.contains(&member[..]) {
                continue;
            }
            if let Some(score) = self.member_score(z.slot, key, z.meta.version, member)? {
                self.delete_scored(&mut batch, z.slot, key, z.meta.version, member, score);
                removed.insert(&member[..]);
            }
        }
        self.finish_removal(batch, key, &mut z, removed.len() as u64, "zrem")?;
        Ok(removed.len() as u64)
    }

    /// Commits the deletion of `count` members of `z` by the command
    /// whose event is `event`.
    fn finish_removal(
        &self,
        mut batch: Batch,
        key: &[u8],
        z: &mut Collection,
        count: u64,
        event: &'static str,
    ) -> Result<()> {
        if count == 0 {
            return Ok(());
        }
        z.meta.size -= count;
        self.save_collection(&mut batch, key, z);
        self.commit(batch)?;
        self.note_deleted_members(z.slot, key, z.meta.version, count);
        self.notify_collection(key, z, events::ZSET, event);
        Ok(())
    }

    /// ZCARD.
    pub fn zcard(&self, key: &[u8]) -> Result<u64> {
        Ok(self.read_zset(key)?.map_or(0, |(_, m)| m.size))
    }

    /// ZMSCORE (and ZSCORE with one member).
    pub fn zmscore(&self, key: &[u8], members: &[Bytes]) -> Result<Vec<Option<f64>>> {
        let Some((slot, meta)) = self.read_zset(key)? else {
            return Ok(vec![None; members.len()]);
        };
        members
            .iter()
            .map(|m| self.member_score(slot, key, meta.version, m))
            .collect()
    }

    /// ZRANK / ZREVRANK: the member's rank and score.
    pub fn zrank(&self, key: &[u8], member: &[u8], rev: bool) -> Result<Option<(u64, f64)>> {
        let Some((slot, meta)) = self.read_zset(key)? else {
            return Ok(None);
        };
        let Some(score) = self.member_score(slot, key, meta.version, member)? else {
            return Ok(None);
        };
        // The members before it in score order: an iteration bounded by it.
        let prefix = subkey_prefix(&self.ks.keyspace, slot, key, meta.version);
        let target = self.score_key(slot, key, meta.version, score, member);
        let before = self
            .view
            .range(Cf::ZsetScore, &prefix, Some(target))
            .try_fold(0u64, |n, item| item.map(|_| n + 1))?;
        let rank = if rev { meta.size - 1 - before } else { before };
        Ok(Some((rank, score)))
    }

    /// Walks the members of a sorted set in score order (or reverse) from
    /// the start of `by`'s range, calling `visit` with each member and
    /// score inside the range until it breaks. Ranks are not a bound here.
    fn walk(
        &self,
        (slot, meta): &Opened,
        key: &[u8],
        by: &RangeBy,
        rev: bool,
        mut visit: impl FnMut(Bytes, f64) -> Result<ControlFlow<()>>,
    ) -> Result<()> {
        let prefix = subkey_prefix(&self.ks.keyspace, *slot, key, meta.version);
        let end = prefix_successor(&prefix).expect("a key prefix has a successor");
        let bound = |suffix: &[u8]| {
            let mut k = prefix.clone();
            k.extend_from_slice(suffix);
            k
        };
        let (cf, lower, upper) = match by {
            RangeBy::Rank(..) => (Cf::ZsetScore, prefix.clone(), end),
            RangeBy::Score(r) => {
                let upper = prefix_successor(&bound(&encode_score(r.max.score))).unwrap_or(end);
                (Cf::ZsetScore, bound(&encode_score(r.min.score)), upper)
            }
            RangeBy::Lex(r) => {
                let lower = match &r.min {
                    LexBound::Inclusive(b) | LexBound::Exclusive(b) => bound(b),
                    _ => prefix.clone(),
                };
                let upper = match &r.max {
                    LexBound::Inclusive(b) | LexBound::Exclusive(b) => {
                        let mut k = bound(b);
                        k.push(0);
                        k
                    }
                    _ => end,
                };
                (Cf::Subkey, lower, upper)
            }
        };
        let empty_lex =
            matches!(by, RangeBy::Lex(r) if r.min == LexBound::PosInf || r.max == LexBound::NegInf);
        if lower >= upper || empty_lex {
            return Ok(());
        }
        let entries: Box<dyn Iterator<Item = _>> = if rev {
            Box::new(self.view.range_reverse(cf, &lower, upper))
        } else {
            Box::new(self.view.range(cf, &lower, Some(upper)))
        };
        let p = prefix.len();
        for entry in entries {
            let (k, v) = entry?;
            let (member, score) = match cf {
                Cf::Subkey => (Bytes::copy_from_slice(&k[p..]), score_from_value(&v)?),
                _ => {
                    let score = decode_score(k[p..p + 8].try_into().expect("8-byte score"));
                    (Bytes::copy_from_slice(&k[p + 8..]), score)
                }
            };
            let inside = match by {
                RangeBy::Rank(..) => true,
                RangeBy::Score(r) => r.above_min(score) && r.below_max(score),
                RangeBy::Lex(r) => r.above_min(&member) && r.below_max(&member),
            };
            if inside && visit(member, score)?.is_break() {
                break;
            }
        }
        Ok(())
    }

    /// Walks the members of each of `ranges` in turn, each in score order,
    /// until `visit` breaks (GEOSEARCH scans a grid cell after another).
    pub fn walk_score_ranges(
        &self,
        z: &Opened,
        key: &[u8],
        ranges: &[ScoreRange],
        mut visit: impl FnMut(Bytes, f64) -> ControlFlow<()>,
    ) -> Result<()> {
        let mut stopped = false;
        for range in ranges {
            self.walk(z, key, &RangeBy::Score(*range), false, |member, score| {
                let flow = visit(member, score);
                stopped = flow.is_break();
                Ok(flow)
            })?;
            if stopped {
                break;
            }
        }
        Ok(())
    }

    /// The members a ZRANGE selects, in reply order.
    pub fn zrange(&self, key: &[u8], spec: &RangeSpec) -> Result<Vec<Scored>> {
        let Some(z) = self.read_zset(key)? else {
            return Ok(Vec::new());
        };
        self.range_of(&z, key, spec)
    }

    /// [`Db::zrange`] for a command that removes what it selects (not a
    /// read lookup for Redis).
    fn zrange_to_remove(&self, key: &[u8], spec: &RangeSpec) -> Result<Vec<Scored>> {
        let Some(z) = self.read_collection_to_write(key, DataType::ZSet)? else {
            return Ok(Vec::new());
        };
        self.range_of(&z, key, spec)
    }

    pub(super) fn range_of(&self, z: &Opened, key: &[u8], spec: &RangeSpec) -> Result<Vec<Scored>> {
        let size = z.1.size as i64;
        let (mut skip, mut take) = match &spec.by {
            RangeBy::Rank(start, stop) => match super::index_window(*start, *stop, z.1.size) {
                Some((from, to)) => (from, to - from),
                None => return Ok(Vec::new()),
            },
            RangeBy::Score(r) if r.is_empty() => return Ok(Vec::new()),
            _ => {
                if spec.offset < 0 || spec.offset >= size {
                    return Ok(Vec::new());
                }
                let take = if spec.limit < 0 {
                    u64::MAX
                } else {
                    spec.limit as u64
                };
                (spec.offset as u64, take)
            }
        };
        let mut out = Vec::new();
        if take == 0 {
            return Ok(out);
        }
        self.walk(z, key, &spec.by, spec.rev, |member, score| {
            if skip > 0 {
                skip -= 1;
                return Ok(ControlFlow::Continue(()));
            }
            out.push((member, score));
            take -= 1;
            Ok(if take == 0 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            })
        })?;
        Ok(out)
    }

    /// ZCOUNT / ZLEXCOUNT: the members in a score or lexical range.
    pub fn zcount(&self, key: &[u8], by: &RangeBy) -> Result<u64> {
        let Some(z) = self.read_zset(key)? else {
            return Ok(0);
        };
        let mut count = 0;
        self.walk(&z, key, by, false, |_, _| {
            count += 1;
            Ok(ControlFlow::Continue(()))
        })?;
        Ok(count)
    }

    /// ZRANGESTORE: `dst` becomes the selected members (deleted when none);
    /// the count stored.
    pub fn zrangestore(&self, dst: &[u8], src: &[u8], spec: &RangeSpec) -> Result<u64> {
        self.lock(&[dst, src])?;
        let members = self.zrange(src, spec)?;
        self.zstore_selected(dst, src, members, "zrangestore")
    }

    /// Stores `members` (distinct), selected from `src`, as `dst`, both
    /// locked by the caller: `dst` is replaced, or deleted when there are
    /// none. The count stored.
    pub fn zstore_selected(
        &self,
        dst: &[u8],
        src: &[u8],
        members: Vec<Scored>,
        event: &'static str,
    ) -> Result<u64> {
        let size = self.store_zset(dst, members, event)?;
        if src != dst {
            self.only_read([src]);
        }
        Ok(size)
    }

    /// Replaces `dst`, whatever it held, with a sorted set of `members`
    /// (distinct), or deletes it when there are none.
    fn store_zset(&self, dst: &[u8], members: Vec<Scored>, event: &'static str) -> Result<u64> {
        let mut batch = self.batch();
        let slot = redrock_cluster::key_slot(dst);
        let stored = self.read(dst)?.map(|s| s.header);
        let prior = Prior::of(stored.as_ref(), now_ms());
        let mut z = Collection {
            slot,
            meta: Metadata::new(DataType::ZSet, self.storage.next_version()?),
            stored,
            prior,
        };
        for (member, score) in &members {
            self.put_scored(&mut batch, &z, dst, member, None, *score);
        }
        z.meta.size = members.len() as u64;
        self.save_collection(&mut batch, dst, &z);
        self.commit(batch)?;
        if z.meta.size == 0 {
            self.notify_emptied_store(dst, prior);
        } else {
            self.notify_collection(dst, &z, events::ZSET, event);
        }
        Ok(z.meta.size)
    }

    /// ZREMRANGEBYRANK / BYSCORE / BYLEX: how many members were removed.
    pub fn zremrange(&self, key: &[u8], by: RangeBy) -> Result<u64> {
        self.lock(&[key])?;
        let spec = RangeSpec {
            by,
            rev: false,
            offset: 0,
            limit: -1,
        };
        let event = match spec.by {
            RangeBy::Rank(..) => "zremrangebyrank",
            RangeBy::Score(_) => "zremrangebyscore",
            RangeBy::Lex(_) => "zremrangebylex",
        };
        let members = self.zrange_to_remove(key, &spec)?;
        if members.is_empty() {
            return Ok(0);
        }
        self.remove_members(key, &members, event)
    }

    fn remove_members(&self, key: &[u8], members: &[Scored], event: &'static str) -> Result<u64> {
        let mut z = self.open_collection(key, DataType::ZSet)?;
        let mut batch = self.batch();
        for (member, score) in members {
            self.delete_scored(&mut batch, z.slot, key, z.meta.version, member, *score);
        }
        self.finish_removal(batch, key, &mut z, members.len() as u64, event)?;
        Ok(members.len() as u64)
    }

    /// ZPOPMIN / ZPOPMAX: removes and returns up to `count` members from
    /// the low (or high) end.
    pub fn zpop(&self, key: &[u8], max: bool, count: u64) -> Result<Vec<Scored>> {
        self.lock(&[key])?;
        let spec = RangeSpec {
            by: RangeBy::Rank(0, count.min(i64::MAX as u64) as i64 - 1),
            rev: max,
            offset: 0,
            limit: -1,
        };
        if count == 0 {
            // Nothing to pop, but the key's type is still checked.
            self.read_collection_to_write(key, DataType::ZSet)?;
            return Ok(Vec::new());
        }
        let members = self.zrange_to_remove(key, &spec)?;
        if !members.is_empty() {
            let event = if max { "zpopmax" } else { "zpopmin" };
            self.remove_members(key, &members, event)?;
        }
        Ok(members)
    }

    /// ZMPOP / BZPOPMIN / BZMPOP: pops from the first non-empty sorted
    /// set of `keys`, giving its key and the members. Every key is locked
    /// first, in one sorted acquisition (see [`Db::pop_first`]).
    pub fn zpop_first(
        &self,
        keys: &[Bytes],
        max: bool,
        count: u64,
    ) -> Result<Option<(Bytes, Vec<Scored>)>> {
        self.lock(&keys.iter().map(|k| &k[..]).collect::<Vec<_>>())?;
        for key in keys {
            let popped = self.zpop(key, max, count)?;
            if !popped.is_empty() {
                self.only_read(keys.iter().map(|k| &k[..]).filter(|k| k != key));
                return Ok(Some((key.clone(), popped)));
            }
        }
        Ok(None)
    }

    /// ZRANDMEMBER with a count (see [`Db::random_members`]).
    pub fn zrandmember(&self, key: &[u8], count: i64) -> Result<Vec<Scored>> {
        let Some((slot, meta)) = self.read_zset(key)? else {
            return Ok(Vec::new());
        };
        self.random_members(slot, key, &meta, count, Draw::Read)?
            .into_iter()
            .map(|(m, v)| Ok((Bytes::from(m), score_from_value(&v)?)))
            .collect()
    }

    /// Every member of a sorted set or (score 1) set, for ZUNION & co.
    fn weighted_members(&self, key: &[u8], input: &Option<(u16, Metadata)>) -> Result<Vec<Scored>> {
        let Some((slot, meta)) = input else {
            return Ok(Vec::new());
        };
        self.members(Cf::Subkey, *slot, key, meta.version, None)
            .map(|item| {
                let (member, value) = item?;
                let score = if meta.header.data_type == DataType::Set {
                    1.0
                } else {
                    score_from_value(&value)?
                };
                Ok((Bytes::from(member), score))
            })
            .collect()
    }

    /// The inputs of ZUNION & co: a sorted set or set per key, checking
    /// every key's type first.
    fn combine_inputs(&self, keys: &[Bytes]) -> Result<Vec<Option<(u16, Metadata)>>> {
        keys.iter()
            .map(|k| match self.lookup(k, super::now_ms())? {
                None => Ok(None),
                Some(s) if matches!(s.header.data_type, DataType::ZSet | DataType::Set) => {
                    let meta = Metadata::decode(&s.raw)?;
                    Ok((meta.size > 0).then_some((s.slot, meta)))
                }
                Some(_) => Err(Error::WrongType),
            })
            .collect()
    }

    /// Checks that every key is a sorted set, a set or missing (ZUNION and
    /// friends do this before they read their options).
    /// This is the commands' read lookup of their inputs: each key counts
    /// as a keyspace hit or miss (`keymiss`) here, once.
    pub fn check_combine_inputs(&self, keys: &[Bytes]) -> Result<()> {
        let inputs = self.combine_inputs(keys)?;
        for (key, input) in keys.iter().zip(&inputs) {
            self.count_read(key, input.is_some());
        }
        Ok(())
    }

    /// ZUNION / ZINTER / ZDIFF: the result sorted by score, then member.
    pub fn zcombine(
        &self,
        op: ZSetOp,
        keys: &[Bytes],
        weights: &[f64],
        aggregate: Aggregate,
    ) -> Result<Vec<Scored>> {
        let inputs = self.combine_inputs(keys)?;
        let weight = |i: usize| weights.get(i).copied().unwrap_or(1.0);
        let weighted = |i: usize, score: f64| {
            let w = score * weight(i);
            if w.is_nan() {
                0.0
            } else {
                w
            }
        };
        let mut result: HashMap<Bytes, f64> = HashMap::new();
        match op {
            ZSetOp::Union => {
                for i in 0..keys.len() {
                    for (member, score) in self.weighted_members(&keys[i], &inputs[i])? {
                        let score = weighted(i, score);
                        result
                            .entry(member)
                            .and_modify(|acc| *acc = aggregate.apply(*acc, score))
                            .or_insert(score);
                    }
                }
            }
            ZSetOp::Inter => {
                if inputs.iter().any(Option::is_none) {
                    return Ok(Vec::new());
                }
                let smallest = (0..keys.len())
                    .min_by_key(|&i| inputs[i].as_ref().map_or(0, |(_, m)| m.size))
                    .expect("at least one key");
                'members: for (member, score) in
                    self.weighted_members(&keys[smallest], &inputs[smallest])?
                {
                    let mut acc: Option<f64> = None;
                    for i in 0..keys.len() {
                        let score = if i == smallest {
                            score
                        } else {
                            let (slot, meta) = inputs[i].as_ref().expect("checked above");
                            let found = if meta.header.data_type == DataType::Set {
                                self.get_member(*slot, &keys[i], meta.version, &member)?
                                    .map(|_| 1.0)
                            } else {
                                self.member_score(*slot, &keys[i], meta.version, &member)?
                            };
                            match found {
                                Some(s) => s,
                                None => continue 'members,
                            }
                        };
                        let score = weighted(i, score);
                        acc = Some(acc.map_or(score, |a| aggregate.apply(a, score)));
                    }
                    result.insert(member, acc.expect("at least one key"));
                }
            }
            ZSetOp::Diff => {
                for (member, score) in self.weighted_members(&keys[0], &inputs[0])? {
                    let mut found = false;
                    for i in 1..keys.len() {
                        if let Some((slot, meta)) = &inputs[i] {
                            if self
                                .get_member(*slot, &keys[i], meta.version, &member)?
                                .is_some()
                            {
                                found = true;
                                break;
                            }
                        }
                    }
                    if !found {
                        result.insert(member, score);
                    }
                }
            }
        }
        let mut out: Vec<Scored> = result.into_iter().collect();
        // Scores compare as numbers (-0 == 0; NaN never gets here), ties by
        // member, as in a Redis sorted set.
        out.sort_by(|a, b| {
            a.1.partial_cmp(&b.1)
                .unwrap_or(std::cmp::Ordering::Equal)
                .then_with(|| a.0.cmp(&b.0))
        });
        Ok(out)
    }

    /// ZUNIONSTORE / ZINTERSTORE / ZDIFFSTORE: the size stored.
    pub fn zcombine_store(
        &self,
        op: ZSetOp,
        dst: &[u8],
        keys: &[Bytes],
        weights: &[f64],
        aggregate: Aggregate,
    ) -> Result<u64> {
        let mut all: Vec<&[u8]> = keys.iter().map(|k| &k[..]).collect();
        all.push(dst);
        self.lock(&all)?;
        let result = self.zcombine(op, keys, weights, aggregate)?;
        let event = match op {
            ZSetOp::Union => "zunionstore",
            ZSetOp::Inter => "zinterstore",
            ZSetOp::Diff => "zdiffstore",
        };
        let size = self.store_zset(dst, result, event)?;
        self.only_read(keys.iter().map(|k| &k[..]).filter(|k| *k != dst));
        Ok(size)
    }

    /// ZINTERCARD: the size of the intersection, counting stops at `limit`
    /// (0 = no limit).
    pub fn zintercard(&self, keys: &[Bytes], limit: u64) -> Result<u64> {
        let count = self
            .zcombine(ZSetOp::Inter, keys, &[], Aggregate::Sum)?
            .len() as u64;
        Ok(if limit > 0 { count.min(limit) } else { count })
    }
}
