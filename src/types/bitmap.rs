//! The bit commands over strings: SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP
//! and BITFIELD, with Redis's semantics. They address single bytes (of a
//! bitmap: single fragments, see `fragments`), so their cost follows the
//! bytes they touch, not the size of the string.

use super::fragments::{string_len, Piece};
use super::{Db, StoredKey};
use crate::error::{Error, Result};
use crate::keyspace_events as events;
use bytes::Bytes;
use std::ops::ControlFlow;

/// Whether a BITCOUNT / BITPOS range counts bytes or bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RangeUnit {
    Byte,
    Bit,
}

/// BITOP's operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BitOp {
    And,
    Or,
    Xor,
    Not,
}

/// BITFIELD's overflow behaviour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Overflow {
    Wrap,
    Sat,
    Fail,
}

/// What one BITFIELD operation does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldAction {
    Get,
    Set(i64),
    IncrBy(i64),
}

/// One BITFIELD operation: a signed (`i1`..`i64`) or unsigned (`u1`..`u63`)
/// integer of `bits` bits at bit `offset`.
#[derive(Clone, Copy, Debug)]
pub struct FieldOp {
    pub action: FieldAction,
    pub signed: bool,
    pub bits: u32,
    pub offset: u64,
    pub overflow: Overflow,
}

/// The inclusive bit window of a BITCOUNT / BITPOS range over a string of
/// `len` bytes, with negative indexes from the end; `None` when empty.
pub fn bit_window(start: i64, end: i64, len: u64, unit: RangeUnit) -> Option<(u64, u64)> {
    let total = match unit {
        RangeUnit::Byte => len as i64,
        RangeUnit::Bit => (len as i64) << 3,
    };
    let start = if start < 0 { start + total } else { start }.max(0);
    let end = if end < 0 { end + total } else { end }
        .max(0)
        .min(total - 1);
    if start > end {
        return None;
    }
    let (start, end) = (start as u64, end as u64);
    Some(match unit {
        RangeUnit::Byte => (start * 8, end * 8 + 7),
        RangeUnit::Bit => (start, end),
    })
}

impl Db<'_> {
    /// SETBIT: the bit's previous value.
    pub fn setbit(&self, key: &[u8], offset: u64, on: bool) -> Result<bool> {
        self.lock(&[key])?;
        let mut edit = self.edit_string(key, true)?;
        let byte = offset >> 3;
        let grows = byte >= edit.len();
        edit.grow_to(self, byte + 1)?;
        let old = edit.read(self, key, byte, 1)?[0];
        let mask = 0x80u8 >> (offset & 7);
        let was = old & mask != 0;
        if grows || was != on {
            let new = if on { old | mask } else { old & !mask };
            edit.write(self, key, byte, &[new])?;
            let mut batch = self.batch();
            edit.save(self, &mut batch, key);
            self.commit(batch)?;
            self.notify_write(key, edit.prior, events::STRING, "setbit", true);
        }
        Ok(was)
    }

    /// GETBIT.
    pub fn getbit(&self, key: &[u8], offset: u64) -> Result<bool> {
        let byte = offset >> 3;
        self.read_string_point(key, |db, stored| {
            let Some(stored) = stored else {
                return Ok(false);
            };
            let value = db.string_range(key, stored, byte, byte + 1)?;
            Ok(value
                .first()
                .is_some_and(|b| b & (0x80 >> (offset & 7)) != 0))
        })
    }

    /// BITCOUNT over the whole string, or over `range` (start, end, unit).
    pub fn bitcount(&self, key: &[u8], range: Option<(i64, i64, RangeUnit)>) -> Result<u64> {
        self.read_string(key, |db, stored| {
            let Some(stored) = stored else {
                return Ok(0);
            };
            let len = string_len(stored)?;
            let (start, end, unit) = range.unwrap_or((0, -1, RangeUnit::Byte));
            // Redis counts nothing in a range from the end that ends
            // before it starts, even once both are clamped to the string.
            if start < 0 && end < 0 && start > end {
                return Ok(0);
            }
            match bit_window(start, end, len, unit) {
                Some((first, last)) => db.count_bits(key, stored, first, last),
                None => Ok(0),
            }
        })
    }

    /// BITPOS: the first bit equal to `bit` from `start` to `end` (both
    /// in `unit`), or -1. Without an explicit end, a string of ones is
    /// followed by zeros, as in Redis.
    pub fn bitpos(
        &self,
        key: &[u8],
        bit: bool,
        start: i64,
        end: Option<i64>,
        unit: RangeUnit,
    ) -> Result<i64> {
        self.read_string(key, |db, stored| {
            let Some(stored) = stored else {
                return Ok(if bit { -1 } else { 0 });
            };
            let len = string_len(stored)?;
            let Some((first, last)) = bit_window(start, end.unwrap_or(-1), len, unit) else {
                return Ok(-1);
            };
            Ok(match db.find_bit(key, stored, bit, first, last)? {
                Some(at) => at as i64,
                None if !bit && end.is_none() => last as i64 + 1,
                None => -1,
            })
        })
    }

    /// The number of set bits from bit `first` to bit `last`, inclusive.
    fn count_bits(&self, key: &[u8], stored: &StoredKey<'_>, first: u64, last: u64) -> Result<u64> {
        let (first_byte, last_byte) = (first >> 3, last >> 3);
        // Bits of the edge bytes outside the window.
        let before = !(0xffu8 >> (first & 7));
        let after = !(0xffu8 << (7 - (last & 7)));
        let mut count = 0u64;
        let mut at = first_byte;
        self.visit_string(key, stored, first_byte, last_byte + 1, |piece| {
            match piece {
                Piece::Bytes(bytes) => {
                    count += popcount(bytes);
                    let end = at + bytes.len() as u64;
                    if (at..end).contains(&first_byte) {
                        count -=
                            u64::from((bytes[(first_byte - at) as usize] & before).count_ones());
                    }
                    if (at..end).contains(&last_byte) {
                        count -= u64::from((bytes[(last_byte - at) as usize] & after).count_ones());
                    }
                    at = end;
                }
                Piece::Zeros(n) => at += n,
            }
            ControlFlow::Continue(())
        })?;
        Ok(count)
    }

    /// The first bit equal to `bit` from bit `first` to bit `last`.
    fn find_bit(
        &self,
        key: &[u8],
        stored: &StoredKey<'_>,
        bit: bool,
        first: u64,
        last: u64,
    ) -> Result<Option<u64>> {
        let (first_byte, last_byte) = (first >> 3, last >> 3);
        let before = !(0xffu8 >> (first & 7));
        let after = !(0xffu8 << (7 - (last & 7)));
        // Bytes holding no wanted bit.
        let skip = if bit { 0x00 } else { 0xff };
        let mut found = None;
        let mut at = first_byte;
        self.visit_string(key, stored, first_byte, last_byte + 1, |piece| {
            match piece {
                Piece::Bytes(bytes) => {
                    for (i, &byte) in bytes.iter().enumerate() {
                        let pos = at + i as u64;
                        // Bits outside the window read as unwanted.
                        let mut outside = 0u8;
                        if pos == first_byte {
                            outside |= before;
                        }
                        if pos == last_byte {
                            outside |= after;
                        }
                        let value = if bit { byte & !outside } else { byte | outside };
                        if value != skip {
                            let within = if bit {
                                value.leading_zeros()
                            } else {
                                value.leading_ones()
                            };
                            found = Some(pos * 8 + u64::from(within));
                            return ControlFlow::Break(());
                        }
                    }
                    at += bytes.len() as u64;
                }
                Piece::Zeros(n) => {
                    if !bit {
                        found = Some((at * 8).max(first));
                        return ControlFlow::Break(());
                    }
                    at += n;
                }
            }
            ControlFlow::Continue(())
        })?;
        Ok(found)
    }

    /// BITOP: stores the result in `dst` (removing it when every source
    /// is empty) and returns its length.
    pub fn bitop(&self, op: BitOp, dst: &[u8], sources: &[Bytes]) -> Result<u64> {
        let mut keys: Vec<&[u8]> = vec![dst];
        keys.extend(sources.iter().map(|k| &k[..]));
        self.lock(&keys)?;
        let now = super::now_ms();
        let mut values = Vec::with_capacity(sources.len());
        for key in sources {
            let value = match self.lookup_read(key, now)? {
                Some(s) if !s.header.data_type.is_string() => return Err(Error::WrongType),
                Some(s) => self.string_bytes(key, &s)?,
                None => Bytes::new(),
            };
            values.push(value);
        }
        self.only_read(sources.iter().filter(|k| &k[..] != dst).map(|k| &k[..]));
        let result = combine(op, &values);
        let mut batch = self.batch();
        if result.is_empty() {
            let Some(old) = self.read_to_write(dst, now)? else {
                return Ok(0);
            };
            self.remove(&mut batch, old.slot, dst, &old.header);
            drop(old);
            self.commit(batch)?;
            self.notify(events::GENERIC, "del", dst);
            return Ok(0);
        }
        let mut edit = self.new_string(dst, true)?;
        edit.write(self, dst, 0, &result)?;
        edit.save(self, &mut batch, dst);
        self.commit(batch)?;
        self.notify_write(dst, edit.prior, events::STRING, "set", true);
        Ok(result.len() as u64)
    }

    /// BITFIELD (and BITFIELD_RO, whose operations are all GETs): one reply
    /// per operation, `None` for a write refused by OVERFLOW FAIL.
    pub fn bitfield(&self, key: &[u8], ops: &[FieldOp]) -> Result<Vec<Option<i64>>> {
        let highest_write = ops
            .iter()
            .filter(|op| op.action != FieldAction::Get)
            .map(|op| op.offset + u64::from(op.bits) - 1)
            .max();
        let Some(highest_write) = highest_write else {
            return self.read_string(key, |db, stored| {
                ops.iter()
                    .map(|op| {
                        let byte = op.offset >> 3;
                        let window = match stored {
                            Some(s) => db.string_range(key, s, byte, byte + 9)?,
                            None => Vec::new(),
                        };
                        Ok(Some(field_get(&window, op)))
                    })
                    .collect()
            });
        };
        self.lock(&[key])?;
        let mut edit = self.edit_string(key, true)?;
        let grows = (highest_write >> 3) >= edit.len();
        // As Redis, the string is grown for the farthest write first, even
        // when OVERFLOW FAIL then refuses every write.
        edit.grow_to(self, (highest_write >> 3) + 1)?;
        let mut changes = 0;
        let mut replies = Vec::with_capacity(ops.len());
        for op in ops {
            let byte = op.offset >> 3;
            let mut window = edit.read(self, key, byte, 9)?;
            let old = field_get(&window, op);
            let (new, reply) = match op.action {
                FieldAction::Get => {
                    replies.push(Some(old));
                    continue;
                }
                FieldAction::Set(value) => (checked_field(op, value, 0), old),
                FieldAction::IncrBy(incr) => {
                    let new = checked_field(op, old, incr);
                    (new, new.unwrap_or(0))
                }
            };
            let Some(new) = new else {
                replies.push(None);
                continue;
            };
            field_set(&mut window, op, new);
            let span = (((op.offset & 7) + u64::from(op.bits) - 1) >> 3) + 1;
            edit.write(self, key, byte, &window[..span as usize])?;
            if grows || old != new {
                changes += 1;
            }
            replies.push(Some(reply));
        }
        if grows || changes > 0 {
            let mut batch = self.batch();
            edit.save(self, &mut batch, key);
            self.commit(batch)?;
        }
        if changes > 0 {
            self.notify_write(key, edit.prior, events::STRING, "setbit", true);
        }
        Ok(replies)
    }
}

fn popcount(bytes: &[u8]) -> u64 {
    let mut words = bytes.chunks_exact(8);
    let mut count: u64 = words
        .by_ref()
        .map(|w| u64::from(u64::from_ne_bytes(w.try_into().expect("8 bytes")).count_ones()))
        .sum();
    count += words
        .remainder()
        .iter()
        .map(|b| u64::from(b.count_ones()))
        .sum::<u64>();
    count
}

/// BITOP's result: as long as the longest source, shorter sources padded
/// with zeros.
fn combine(op: BitOp, values: &[Bytes]) -> Vec<u8> {
    let len = values.iter().map(Bytes::len).max().unwrap_or(0);
    let byte = |v: &Bytes, i: usize| v.get(i).copied().unwrap_or(0);
    (0..len)
        .map(|i| {
            let rest = values[1..].iter().map(|v| byte(v, i));
            let first = byte(&values[0], i);
            match op {
                BitOp::And => rest.fold(first, |a, b| a & b),
                BitOp::Or => rest.fold(first, |a, b| a | b),
                BitOp::Xor => rest.fold(first, |a, b| a ^ b),
                BitOp::Not => !first,
            }
        })
        .collect()
}

/// Reads the field of `op` from `window`, the 9 bytes from the field's
/// first byte (zeros past the string's end).
fn field_get(window: &[u8], op: &FieldOp) -> i64 {
    let start = op.offset & 7;
    let mut value = 0u64;
    for i in start..start + u64::from(op.bits) {
        let byte = window.get((i >> 3) as usize).copied().unwrap_or(0);
        value = (value << 1) | u64::from((byte >> (7 - (i & 7))) & 1);
    }
    if op.signed && op.bits < 64 && value & (1 << (op.bits - 1)) != 0 {
        value |= u64::MAX << op.bits;
    }
    value as i64
}

/// Writes the low `op.bits` bits of `value` as the field of `op`.
fn field_set(window: &mut [u8], op: &FieldOp, value: i64) {
    let start = op.offset & 7;
    let bits = u64::from(op.bits);
    for j in 0..bits {
        let i = start + j;
        let on = (value as u64 >> (bits - 1 - j)) & 1 == 1;
        let mask = 0x80u8 >> (i & 7);
        let byte = &mut window[(i >> 3) as usize];
        *byte = if on { *byte | mask } else { *byte & !mask };
    }
}

/// `value + incr` for the field of `op` under its overflow rule (SET
/// checks its value with an increment of 0): `None` when OVERFLOW FAIL
/// refuses it. Redis's checkSignedBitfieldOverflow and
/// checkUnsignedBitfieldOverflow.
fn checked_field(op: &FieldOp, value: i64, incr: i64) -> Option<i64> {
    let bits = op.bits;
    let (overflow, limit) = if op.signed {
        let max: i64 = if bits == 64 {
            i64::MAX
        } else {
            (1i64 << (bits - 1)) - 1
        };
        let min = -max - 1;
        let max_incr = (max as u64).wrapping_sub(value as u64) as i64;
        let min_incr = min.wrapping_sub(value);
        if value > max
            || (bits != 64 && incr > max_incr)
            || (value >= 0 && incr > 0 && incr > max_incr)
        {
            (true, max)
        } else if value < min
            || (bits != 64 && incr < min_incr)
            || (value < 0 && incr < 0 && incr < min_incr)
        {
            (true, min)
        } else {
            (false, 0)
        }
    } else {
        let value = value as u64;
        let max = (1u64 << bits) - 1;
        let max_incr = max.wrapping_sub(value) as i64;
        let min_incr = value.wrapping_neg() as i64;
        if value > max || (incr > 0 && incr > max_incr) {
            (true, max as i64)
        } else if incr < 0 && incr < min_incr {
            (true, 0)
        } else {
            (false, 0)
        }
    };
    if !overflow {
        return Some(value.wrapping_add(incr));
    }
    match op.overflow {
        Overflow::Fail => None,
        Overflow::Sat => Some(limit),
        Overflow::Wrap => Some(wrap(op, value.wrapping_add(incr) as u64)),
    }
}

/// Keeps the low `op.bits` bits of `sum`, sign-extended for a signed field.
fn wrap(op: &FieldOp, sum: u64) -> i64 {
    if op.bits == 64 {
        return sum as i64;
    }
    let mask = u64::MAX << op.bits;
    let negative = op.signed && sum & (1 << (op.bits - 1)) != 0;
    (if negative { sum | mask } else { sum & !mask }) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(signed: bool, bits: u32, overflow: Overflow) -> FieldOp {
        FieldOp {
            action: FieldAction::Get,
            signed,
            bits,
            offset: 0,
            overflow,
        }
    }

    #[test]
    fn windows_follow_redis_index_rules() {
        assert_eq!(bit_window(0, -1, 3, RangeUnit::Byte), Some((0, 23)));
        assert_eq!(bit_window(1, 1, 3, RangeUnit::Byte), Some((8, 15)));
        assert_eq!(bit_window(5, 30, 3, RangeUnit::Bit), Some((5, 23)));
        assert_eq!(bit_window(-1, -2, 3, RangeUnit::Byte), None);
        assert_eq!(bit_window(0, -1, 0, RangeUnit::Byte), None);
        assert_eq!(bit_window(-100, -90, 3, RangeUnit::Byte), Some((0, 7)));
    }

    #[test]
    fn fields_read_and_write_msb_first() {
        let mut window = vec![0u8; 9];
        let mut field = op(false, 4, Overflow::Wrap);
        field.offset = 6;
        field_set(&mut window, &field, 0b1011);
        assert_eq!(window[..2], [0b0000_0010, 0b1100_0000]);
        assert_eq!(field_get(&window, &field), 11);
        field.signed = true;
        assert_eq!(field_get(&window, &field), -5);
        let wide = FieldOp {
            offset: 7,
            ..op(true, 64, Overflow::Wrap)
        };
        field_set(&mut window, &wide, i64::MIN + 3);
        assert_eq!(field_get(&window, &wide), i64::MIN + 3);
    }

    #[test]
    fn overflow_rules_match_redis() {
        // Replies of redis-server 7.0 for BITFIELD ... OVERFLOW x INCRBY.
        assert_eq!(
            checked_field(&op(false, 8, Overflow::Wrap), 250, 10),
            Some(4)
        );
        assert_eq!(
            checked_field(&op(false, 8, Overflow::Sat), 250, 10),
            Some(255)
        );
        assert_eq!(checked_field(&op(false, 8, Overflow::Fail), 250, 10), None);
        assert_eq!(checked_field(&op(false, 8, Overflow::Sat), 5, -10), Some(0));
        assert_eq!(
            checked_field(&op(true, 8, Overflow::Wrap), 120, 10),
            Some(-126)
        );
        assert_eq!(
            checked_field(&op(true, 8, Overflow::Sat), -120, -10),
            Some(-128)
        );
        assert_eq!(
            checked_field(&op(true, 64, Overflow::Wrap), i64::MAX, 1),
            Some(i64::MIN)
        );
        assert_eq!(
            checked_field(&op(true, 64, Overflow::Sat), i64::MAX, 1),
            Some(i64::MAX)
        );
        // SET of a value the field cannot hold.
        assert_eq!(
            checked_field(&op(false, 4, Overflow::Wrap), -1, 0),
            Some(15)
        );
        assert_eq!(checked_field(&op(true, 4, Overflow::Fail), 8, 0), None);
    }

    #[test]
    fn bitop_pads_short_sources_with_zeros() {
        let a = Bytes::from_static(&[0xf0, 0xff]);
        let b = Bytes::from_static(&[0x3c]);
        assert_eq!(combine(BitOp::And, &[a.clone(), b.clone()]), [0x30, 0x00]);
        assert_eq!(combine(BitOp::Or, &[a.clone(), b.clone()]), [0xfc, 0xff]);
        assert_eq!(combine(BitOp::Xor, &[a.clone(), b]), [0xcc, 0xff]);
        assert_eq!(combine(BitOp::Not, &[a]), [0x0f, 0x00]);
    }
}
