//! Redis HyperLogLog (hyperloglog.c), byte for byte.
//!
//! A HyperLogLog is a plain string value: a 16-byte header (`HYLL`, an
//! encoding byte, three unused bytes, the cached cardinality in little endian
//! whose top bit marks it stale) and 16384 six-bit registers, stored either
//! dense (12288 bytes) or sparse (run-length opcodes ZERO, XZERO and VAL).
//! GET, DUMP and replication hand these bytes to clients and other servers,
//! so this port reproduces every layout decision of Redis (where an opcode is
//! split, which VAL runs are joined, when sparse turns dense, what the header
//! keeps), not just the registers' values.
//!
//! How the commands use this module, in Redis's order of checks:
//!
//! - PFADD: the key's value through [`Hll::from_bytes`] (or [`Hll::new`] and
//!   [`Hll::invalidate_cache`] when the key is missing, which counts as a
//!   change), then [`Hll::add`] for each element; the reply is whether
//!   anything changed, and a changed value is stored.
//! - PFCOUNT with one key: [`Hll::count`], storing the value when
//!   [`Count::cache_updated`] says the cached cardinality was written.
//! - PFCOUNT with several keys: [`Union::merge`] for each existing key, then
//!   [`Union::count`]; nothing is stored.
//! - PFMERGE: [`Union::merge`] for each existing key *including the
//!   destination* (Redis's loop starts at the destination), then
//!   [`Union::store`] into the destination's value (a new [`Hll`] if missing).
//!
//! The bytes produced are those of Redis 7.0 through 7.4, which share this
//! code. In particular PFMERGE keeps a sparse destination sparse unless one of
//! the merged values (the destination included) is dense, in 7.0 as in 7.2;
//! 7.2's greedy growth of the sparse string changes its allocation, not its
//! bytes. Corruption checks follow the fix for CVE-2025-32023 (7.2.10, 7.4.5
//! and distribution backports such as Debian's 7.0.15-1~deb12u10): a sparse
//! run reaching past the last register is corrupt, where unpatched 7.0 still
//! accepted a trailing run in PFMERGE and multi-key PFCOUNT.
//!
//! One divergence is left, on corrupt values only: a sparse value whose last
//! XZERO lacks its second byte. Redis reads the NUL past the string's end
//! there, as this port does; once such an XZERO is split, Redis keeps a
//! different byte past the end for as long as the value stays in its memory,
//! while a stored byte string forgets it when the command ends.

use std::fmt;

/// Registers per HyperLogLog (`HLL_REGISTERS`, 2^14).
pub const REGISTERS: usize = 1 << P;
/// Redis's default `hll-sparse-max-bytes`.
pub const DEFAULT_SPARSE_MAX_BYTES: usize = 3000;

/// Bits of the hash that select the register (`HLL_P`).
const P: u32 = 14;
/// Bits of the hash left to count zeros in (`HLL_Q`).
const Q: usize = 64 - P as usize;
const HEADER_LEN: usize = 16;
/// Length of a dense value: header plus 16384 six-bit registers.
const DENSE_LEN: usize = HEADER_LEN + REGISTERS * 6 / 8;
const MAGIC: &[u8; 4] = b"HYLL";
const ENCODING: usize = 4;
const DENSE: u8 = 0;
const SPARSE: u8 = 1;
const CARD: std::ops::Range<usize> = 8..16;
/// The top bit of the cached cardinality's last byte marks the cache stale.
const STALE_BIT: u8 = 0x80;
/// MurmurHash64A seed of `hllPatLen`.
const SEED: u64 = 0xadc8_3b19;
/// Largest value a VAL opcode holds; larger registers force the dense form.
const VAL_MAX_VALUE: u8 = 32;
const VAL_MAX_LEN: usize = 4;
const ZERO_MAX_LEN: usize = 64;
/// `HLL_ALPHA_INF`, 0.5 / ln 2.
const ALPHA_INF: f64 = 0.721_347_520_444_481_7;

/// Why a value cannot be used as a HyperLogLog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HllError {
    /// Not a HyperLogLog at all (isHLLObjectOrReply): bad magic or encoding,
    /// too short, or dense with the wrong length.
    NotHll,
    /// A sparse value whose opcodes do not cover the 16384 registers.
    Corrupt,
}

impl HllError {
    /// The error reply Redis sends, without the leading `-`.
    pub fn message(self) -> &'static str {
        match self {
            HllError::NotHll => "WRONGTYPE Key is not a valid HyperLogLog string value.",
            HllError::Corrupt => "INVALIDOBJ Corrupted HLL object detected",
        }
    }
}

impl fmt::Display for HllError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for HllError {}

/// What PFCOUNT of a single key found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Count {
    /// The reply. Redis keeps the estimate as a `u64` but replies it through
    /// `addReplyLongLong`, so the one out-of-range estimate (registers only a
    /// crafted value can hold) reads `i64::MIN`, as in Redis.
    pub cardinality: i64,
    /// The cache was stale and has been written: the value changed and must
    /// be stored (Redis counts it as a write and propagates it).
    pub cache_updated: bool,
}

/// A HyperLogLog string value with a valid header: a dense value has exactly
/// its 12304 bytes; a sparse one may hold corrupt opcodes, which operations
/// report as [`HllError::Corrupt`] when they meet them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hll {
    bytes: Vec<u8>,
    /// The byte Redis's string holds past the value's end: the NUL ending
    /// every sds string, which an XZERO cut short by the end reads as its
    /// second byte. Splitting such an XZERO leaves the last byte of the new
    /// opcodes there instead, and Redis reads it while the value stays in
    /// memory; a stored value cannot carry it, so it lasts for one command.
    past_end: u8,
}

impl Default for Hll {
    fn default() -> Self {
        Self::new()
    }
}

impl Hll {
    /// The empty HyperLogLog Redis creates (createHLLObject): sparse, one
    /// XZERO covering every register, cached cardinality 0 and valid.
    pub fn new() -> Self {
        let mut bytes = Vec::with_capacity(HEADER_LEN + 2);
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&[SPARSE, 0, 0, 0]);
        bytes.extend_from_slice(&[0; 8]);
        bytes.extend_from_slice(&xzero_op(REGISTERS));
        Hll { bytes, past_end: 0 }
    }

    /// Takes a stored string value, checked as Redis's isHLLObjectOrReply
    /// does. The caller replies its own WRONGTYPE error for keys that are not
    /// strings, before calling this.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, HllError> {
        let valid = bytes.len() >= HEADER_LEN
            && bytes.starts_with(MAGIC)
            && match bytes[ENCODING] {
                DENSE => bytes.len() == DENSE_LEN,
                SPARSE => true,
                _ => false,
            };
        if valid {
            Ok(Hll { bytes, past_end: 0 })
        } else {
            Err(HllError::NotHll)
        }
    }

    /// The value's bytes, as GET returns them.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The value's bytes, to store.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// Whether the registers are stored dense (else sparse).
    pub fn is_dense(&self) -> bool {
        self.bytes[ENCODING] == DENSE
    }

    /// Marks the cached cardinality stale (HLL_INVALIDATE_CACHE). Only the
    /// top bit changes: the stale value's other bits stay in the bytes, as in
    /// Redis. [`Hll::add`] and [`Union::store`] do this themselves; PFADD
    /// also does it on the key it creates.
    pub fn invalidate_cache(&mut self) {
        self.bytes[CARD.end - 1] |= STALE_BIT;
    }

    /// Adds one element (hllAdd) and returns whether a register grew, in
    /// which case the cache is marked stale. A sparse value turns dense when
    /// the register outgrows a VAL opcode or the sparse string would pass
    /// `sparse_max_bytes` (`hll-sparse-max-bytes`).
    ///
    /// On [`HllError::Corrupt`] the elements added before stay added, as they
    /// stay in Redis's in-memory value (PFADD replies the error without
    /// propagating; whether to store the partial value is the caller's call).
    pub fn add(&mut self, element: &[u8], sparse_max_bytes: usize) -> Result<bool, HllError> {
        let (index, count) = pattern(element);
        let changed = self.set(index, count, sparse_max_bytes)?;
        if changed {
            self.invalidate_cache();
        }
        Ok(changed)
    }

    /// PFCOUNT of this key: the cached cardinality if valid, else the
    /// estimate, which is then cached in the header.
    pub fn count(&mut self) -> Result<Count, HllError> {
        let card = self.card();
        if card[7] & STALE_BIT == 0 {
            return Ok(Count {
                cardinality: i64::from_le_bytes(card),
                cache_updated: false,
            });
        }
        let cardinality = estimate(&self.histogram()?);
        self.bytes[CARD].copy_from_slice(&cardinality.to_le_bytes());
        Ok(Count {
            cardinality,
            cache_updated: true,
        })
    }

    /// Raises each of `registers` to this value's register at the same index
    /// (hllMerge). On [`HllError::Corrupt`], `registers` may hold part of the
    /// merge; Redis fails the command then.
    pub fn merge_into(&self, registers: &mut [u8; REGISTERS]) -> Result<(), HllError> {
        if self.is_dense() {
            for (max, value) in registers.iter_mut().zip(dense_registers(self.registers())) {
                *max = (*max).max(value);
            }
            Ok(())
        } else {
            self.sparse_runs(|first, value, len| {
                for max in &mut registers[first..first + len] {
                    *max = (*max).max(value);
                }
            })
        }
    }

    fn card(&self) -> [u8; 8] {
        let mut card = [0; 8];
        card.copy_from_slice(&self.bytes[CARD]);
        card
    }

    /// The bytes after the header: dense registers or sparse opcodes.
    fn registers(&self) -> &[u8] {
        &self.bytes[HEADER_LEN..]
    }

    /// Raises register `index` to `count` if lower; whether it changed.
    fn set(&mut self, index: usize, count: u8, sparse_max_bytes: usize) -> Result<bool, HllError> {
        if self.is_dense() {
            Ok(dense_set(&mut self.bytes[HEADER_LEN..], index, count))
        } else {
            self.sparse_set(index, count, sparse_max_bytes)
        }
    }

    /// Histogram of register values, the estimator's only input.
    fn histogram(&self) -> Result<[u32; 64], HllError> {
        let mut histogram = [0; 64];
        if self.is_dense() {
            for value in dense_registers(self.registers()) {
                histogram[usize::from(value)] += 1;
            }
        } else {
            self.sparse_runs(|_, value, len| {
                histogram[usize::from(value)] += len as u32;
            })?;
        }
        Ok(histogram)
    }

    /// Converts a sparse value to dense (hllSparseToDense). The header is
    /// copied whole, cached cardinality included.
    fn convert_to_dense(&mut self) -> Result<(), HllError> {
        if self.is_dense() {
            return Ok(());
        }
        let mut dense = vec![0; DENSE_LEN];
        dense[..HEADER_LEN].copy_from_slice(&self.bytes[..HEADER_LEN]);
        dense[ENCODING] = DENSE;
        let registers = &mut dense[HEADER_LEN..];
        self.sparse_runs(|first, value, len| {
            if value != 0 {
                for index in first..first + len {
                    set_register(registers, index, value);
                }
            }
        })?;
        self.bytes = dense;
        self.past_end = 0;
        Ok(())
    }

    /// hllSparseSet: raises register `index` to `count` in place, splitting
    /// the opcode that covers it and joining equal VAL neighbours exactly as
    /// Redis does, or turns the value dense first when the sparse form cannot
    /// hold the result.
    fn sparse_set(
        &mut self,
        index: usize,
        count: u8,
        sparse_max_bytes: usize,
    ) -> Result<bool, HllError> {
        if count > VAL_MAX_VALUE {
            return self.promote_and_set(index, count);
        }
        let end = self.bytes.len();

        // The opcode covering `index` (at `p`), the first register it covers,
        // and where the opcode before it starts.
        let (mut p, mut first, mut prev) = (HEADER_LEN, 0, None);
        let op = loop {
            if p >= end {
                return Err(HllError::Corrupt);
            }
            let op = Op::decode(&self.bytes, p, self.past_end);
            if index < first + op.len() {
                break op;
            }
            prev = Some(p);
            p += op.size();
            first += op.len();
        };
        let join_from = prev.unwrap_or(HEADER_LEN);

        // Cases Redis updates without reshaping: a register already at least
        // `count`, or a run of exactly this register (but an XZERO of one).
        match op {
            Op::Val { value, .. } if value >= count => return Ok(false),
            Op::Val { len: 1, .. }
            | Op::Zeros {
                len: 1,
                xzero: false,
            } => {
                self.bytes[p] = val_op(count, 1);
                self.join_vals(join_from);
                return Ok(true);
            }
            _ => {}
        }

        // Otherwise the opcode becomes up to three: the registers before
        // `index`, `index` itself, and those after.
        let (before, after) = (index - first, first + op.len() - 1 - index);
        let mut seq = Seq::default();
        match op {
            Op::Zeros { .. } => {
                seq.push_zeros(before);
                seq.push(&[val_op(count, 1)]);
                seq.push_zeros(after);
            }
            Op::Val { value, .. } => {
                if before > 0 {
                    seq.push(&[val_op(value, before)]);
                }
                seq.push(&[val_op(count, 1)]);
                if after > 0 {
                    seq.push(&[val_op(value, after)]);
                }
            }
        }
        let seq = seq.as_slice();
        let new_len = end + seq.len() - op.size();
        if seq.len() > op.size() && new_len > sparse_max_bytes {
            return self.promote_and_set(index, count);
        }

        // Redis moves what follows the opcode (if it ends inside the string),
        // sets the new length (NUL past it), then copies the sequence. For an
        // XZERO cut short by the string's end, the last byte of the sequence
        // lands past the new end, over that NUL.
        let next = p + op.size();
        let bytes = &mut self.bytes;
        bytes.resize(new_len.max(p + seq.len()), 0);
        if next < end && new_len != end {
            bytes.copy_within(next..end, p + seq.len());
        }
        bytes[p..p + seq.len()].copy_from_slice(seq);
        self.past_end = bytes.get(new_len).copied().unwrap_or(0);
        bytes.truncate(new_len);
        self.join_vals(join_from);
        Ok(true)
    }

    /// Walks the sparse opcodes as runs `(first register, value, length)`
    /// and checks that they cover exactly the 16384 registers, never passing
    /// the last one.
    fn sparse_runs(&self, mut run: impl FnMut(usize, u8, usize)) -> Result<(), HllError> {
        let opcodes = self.registers();
        let (mut p, mut first) = (0, 0);
        while p < opcodes.len() {
            let op = Op::decode(opcodes, p, self.past_end);
            if first + op.len() > REGISTERS {
                return Err(HllError::Corrupt);
            }
            run(first, op.value(), op.len());
            first += op.len();
            p += op.size();
        }
        if first == REGISTERS {
            Ok(())
        } else {
            Err(HllError::Corrupt)
        }
    }

    fn promote_and_set(&mut self, index: usize, count: u8) -> Result<bool, HllError> {
        self.convert_to_dense()?;
        Ok(dense_set(&mut self.bytes[HEADER_LEN..], index, count))
    }

    /// Step 4 of hllSparseSet: from `p`, over at most five opcodes, joins
    /// adjacent VAL opcodes of one value while their run fits one opcode.
    fn join_vals(&mut self, mut p: usize) {
        let bytes = &mut self.bytes;
        let mut scan = 5;
        while p < bytes.len() && scan > 0 {
            scan -= 1;
            let op = Op::decode(bytes, p, self.past_end);
            let Op::Val { value, len } = op else {
                p += op.size();
                continue;
            };
            if p + 1 < bytes.len() {
                if let Op::Val {
                    value: next_value,
                    len: next_len,
                } = Op::decode(bytes, p + 1, self.past_end)
                {
                    if value == next_value && len + next_len <= VAL_MAX_LEN {
                        bytes[p + 1] = val_op(value, len + next_len);
                        // Redis's memmove takes the byte past the end
                        // along, then writes a NUL past the new end.
                        bytes.remove(p);
                        self.past_end = 0;
                        // Retry at `p`: the joined run may join the next one.
                        continue;
                    }
                }
            }
            p += 1;
        }
    }
}

/// The registers of several HyperLogLogs, each the maximum over them: the
/// union that PFCOUNT with several keys counts and PFMERGE stores.
#[derive(Debug, Clone)]
pub struct Union {
    registers: Box<[u8; REGISTERS]>,
    any_dense: bool,
}

impl Default for Union {
    fn default() -> Self {
        Self::new()
    }
}

impl Union {
    /// The union of nothing: every register zero.
    pub fn new() -> Self {
        Union {
            registers: Box::new([0; REGISTERS]),
            any_dense: false,
        }
    }

    /// Adds `hll` to the union (a key in the command's loop). On error the
    /// union holds part of `hll`; the command fails then.
    pub fn merge(&mut self, hll: &Hll) -> Result<(), HllError> {
        self.any_dense |= hll.is_dense();
        hll.merge_into(&mut self.registers)
    }

    /// The union's estimated cardinality, as PFCOUNT with several keys
    /// replies it.
    pub fn count(&self) -> i64 {
        let mut histogram = [0; 64];
        for &value in self.registers.iter() {
            histogram[usize::from(value)] += 1;
        }
        estimate(&histogram)
    }

    /// PFMERGE's write into the destination `dest`: dense if any merged value
    /// was, each nonzero register raised in index order (so a sparse `dest`
    /// turns dense at the same register as in Redis), cache marked stale.
    ///
    /// `dest` must have been merged into the union first, as PFMERGE does;
    /// then it is valid and this fails only if it was not.
    pub fn store(&self, dest: &mut Hll, sparse_max_bytes: usize) -> Result<(), HllError> {
        if self.any_dense {
            dest.convert_to_dense()?;
        }
        for (index, &count) in self.registers.iter().enumerate() {
            if count != 0 {
                dest.set(index, count, sparse_max_bytes)?;
            }
        }
        dest.invalidate_cache();
        Ok(())
    }
}

/// MurmurHash64A as Redis has it: 8-byte blocks read little endian whatever
/// the platform.
fn murmurhash64a(key: &[u8], seed: u64) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    let mut h = seed ^ (key.len() as u64).wrapping_mul(M);
    let mut blocks = key.chunks_exact(8);
    for block in &mut blocks {
        let mut k = block.iter().rev().fold(0, |k, &b| k << 8 | u64::from(b));
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let tail = blocks.remainder();
    if !tail.is_empty() {
        h ^= tail.iter().rev().fold(0, |t, &b| t << 8 | u64::from(b));
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// hllPatLen: the register an element maps to (the hash's low 14 bits) and
/// the length of the 0...01 pattern in the remaining 50 bits, counting the
/// final 1 (a bit above them stops the count at 51).
fn pattern(element: &[u8]) -> (usize, u8) {
    let hash = murmurhash64a(element, SEED);
    let index = (hash & (REGISTERS as u64 - 1)) as usize;
    let count = ((hash >> P) | 1u64 << Q).trailing_zeros() as u8 + 1;
    (index, count)
}

/// The 16384 dense registers, six bits each from the least significant bit
/// of each byte up: every 3 bytes hold 4 registers.
fn dense_registers(registers: &[u8]) -> impl Iterator<Item = u8> + '_ {
    registers.chunks_exact(3).flat_map(|b| {
        [
            b[0] & 63,
            (b[0] >> 6 | b[1] << 2) & 63,
            (b[1] >> 4 | b[2] << 4) & 63,
            b[2] >> 2,
        ]
    })
}

fn get_register(registers: &[u8], index: usize) -> u8 {
    let (byte, shift) = (index * 6 / 8, index * 6 % 8);
    let next = registers.get(byte + 1).copied().unwrap_or(0);
    ((u16::from(registers[byte]) | u16::from(next) << 8) >> shift) as u8 & 63
}

fn set_register(registers: &mut [u8], index: usize, value: u8) {
    let (byte, shift) = (index * 6 / 8, index * 6 % 8);
    let (mask, bits) = (63u16 << shift, u16::from(value) << shift);
    registers[byte] = registers[byte] & !(mask as u8) | bits as u8;
    // The last register ends inside the last byte: nothing spills over.
    if let Some(next) = registers.get_mut(byte + 1) {
        *next = *next & !((mask >> 8) as u8) | (bits >> 8) as u8;
    }
}

/// hllDenseSet: raises the register if lower; whether it changed.
fn dense_set(registers: &mut [u8], index: usize, count: u8) -> bool {
    let changed = count > get_register(registers, index);
    if changed {
        set_register(registers, index, count);
    }
    changed
}

/// A sparse opcode.
#[derive(Debug, Clone, Copy)]
enum Op {
    /// ZERO (`00xxxxxx`, 1 to 64 registers) or XZERO (`01xxxxxx yyyyyyyy`,
    /// 1 to 16384): registers at zero.
    Zeros { len: usize, xzero: bool },
    /// VAL (`1vvvvvxx`): 1 to 4 registers at a value from 1 to 32.
    Val { value: u8, len: usize },
}

impl Op {
    /// The opcode at `bytes[at]`; an XZERO cut short by the end of the
    /// string reads `past_end` as its second byte, as Redis does.
    fn decode(bytes: &[u8], at: usize, past_end: u8) -> Op {
        let b = bytes[at];
        if b & 0x80 != 0 {
            Op::Val {
                value: (b >> 2 & 0x1f) + 1,
                len: usize::from(b & 3) + 1,
            }
        } else if b & 0x40 != 0 {
            let low = bytes.get(at + 1).copied().unwrap_or(past_end);
            Op::Zeros {
                len: (usize::from(b & 0x3f) << 8 | usize::from(low)) + 1,
                xzero: true,
            }
        } else {
            Op::Zeros {
                len: usize::from(b & 0x3f) + 1,
                xzero: false,
            }
        }
    }

    /// Registers covered.
    fn len(self) -> usize {
        match self {
            Op::Zeros { len, .. } | Op::Val { len, .. } => len,
        }
    }

    /// Bytes taken.
    fn size(self) -> usize {
        match self {
            Op::Zeros { xzero: true, .. } => 2,
            _ => 1,
        }
    }

    fn value(self) -> u8 {
        match self {
            Op::Zeros { .. } => 0,
            Op::Val { value, .. } => value,
        }
    }
}

fn val_op(value: u8, len: usize) -> u8 {
    0x80 | (value - 1) << 2 | (len - 1) as u8
}

fn xzero_op(len: usize) -> [u8; 2] {
    let l = len - 1;
    [0x40 | (l >> 8) as u8, l as u8]
}

/// The at most 5 bytes an opcode splits into (XZERO, VAL, XZERO).
#[derive(Default)]
struct Seq {
    bytes: [u8; 5],
    len: usize,
}

impl Seq {
    fn push(&mut self, op: &[u8]) {
        self.bytes[self.len..self.len + op.len()].copy_from_slice(op);
        self.len += op.len();
    }

    /// A run of `len` zero registers, if any: ZERO up to 64, XZERO past it.
    fn push_zeros(&mut self, len: usize) {
        match len {
            0 => {}
            1..=ZERO_MAX_LEN => self.push(&[(len - 1) as u8]),
            _ => self.push(&xzero_op(len)),
        }
    }

    fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// hllCount's estimator from the register histogram: "New cardinality
/// estimation algorithms for HyperLogLog sketches", Otmar Ertl,
/// arXiv:1702.01284, in Redis's order of floating-point operations.
fn estimate(histogram: &[u32; 64]) -> i64 {
    let m = REGISTERS as f64;
    let mut z = m * tau((m - f64::from(histogram[Q + 1])) / m);
    for &h in histogram[1..=Q].iter().rev() {
        z += f64::from(h);
        z *= 0.5;
    }
    z += m * sigma(f64::from(histogram[0]) / m);
    let e = ALPHA_INF * m * m / z;
    // llroundl answers LLONG_MIN out of range (x86-64), which Redis then
    // keeps as the u64 2^63 and replies as a long long.
    if e < 9_223_372_036_854_775_808.0 {
        e.round() as i64
    } else {
        i64::MIN
    }
}

fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let (mut y, mut z) = (1.0, x);
    loop {
        x *= x;
        let previous = z;
        z += x * y;
        y += y;
        if previous == z {
            return z;
        }
    }
}

fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let (mut y, mut z) = (1.0, 1.0 - x);
    loop {
        x = x.sqrt();
        let previous = z;
        y *= 0.5;
        // Redis writes pow(1 - x, 2), which compilers emit as this product.
        z -= (1.0 - x) * (1.0 - x) * y;
        if previous == z {
            return z / 3.0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::{HashMap, HashSet};

    /// What a redis-server answered to the scenarios of `redis_fixture`.
    const FIXTURE: &str = include_str!("../tests/fixtures/hll/redis-7.0.15.txt");
    /// An element whose pattern is 33 long, past what a VAL opcode holds
    /// (found by searching `c33:<n>`).
    const C33: &[u8] = b"c33:2140243282";

    fn elems(prefix: &str, range: std::ops::Range<usize>) -> Vec<Vec<u8>> {
        range
            .map(|i| format!("{prefix}:{i}").into_bytes())
            .collect()
    }

    /// A value with this header and the bytes after it.
    fn value(encoding: u8, card: [u8; 8], body: &[u8]) -> Vec<u8> {
        [&MAGIC[..], &[encoding, 0, 0, 0], &card, body].concat()
    }

    fn sparse(card: [u8; 8], opcodes: &[u8]) -> Vec<u8> {
        value(SPARSE, card, opcodes)
    }

    /// The registers of `hll`, one byte each.
    fn registers_of(hll: &Hll) -> [u8; REGISTERS] {
        let mut registers = [0; REGISTERS];
        hll.merge_into(&mut registers).unwrap();
        registers
    }

    fn fnv(bytes: &[u8]) -> String {
        let hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        format!("{hash:016x}")
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// A keyspace running the commands as RedRock's handlers would, in
    /// Redis's order of lookups and checks.
    struct Db {
        keys: HashMap<String, Vec<u8>>,
        sparse_max_bytes: usize,
    }

    impl Db {
        fn hll(&self, key: &str) -> Result<Option<Hll>, HllError> {
            self.keys
                .get(key)
                .map(|v| Hll::from_bytes(v.clone()))
                .transpose()
        }

        fn pfadd(&mut self, key: &str, elements: &[Vec<u8>]) -> Result<i64, HllError> {
            let (mut hll, mut updated) = match self.hll(key)? {
                Some(hll) => (hll, false),
                None => (Hll::new(), true),
            };
            let added = elements.iter().try_for_each(|element| {
                updated |= hll.add(element, self.sparse_max_bytes)?;
                Ok(())
            });
            if added.is_ok() && updated {
                hll.invalidate_cache();
            }
            // Even on error: Redis keeps the partial adds in memory.
            self.keys.insert(key.to_owned(), hll.into_bytes());
            added.map(|()| i64::from(updated))
        }

        fn pfcount(&mut self, keys: &[&str]) -> Result<i64, HllError> {
            if let [key] = keys {
                let Some(mut hll) = self.hll(key)? else {
                    return Ok(0);
                };
                let count = hll.count()?;
                if count.cache_updated {
                    self.keys.insert(key.to_string(), hll.into_bytes());
                }
                return Ok(count.cardinality);
            }
            let mut union = Union::new();
            for key in keys {
                if let Some(hll) = self.hll(key)? {
                    union.merge(&hll)?;
                }
            }
            Ok(union.count())
        }

        fn pfmerge(&mut self, dest: &str, sources: &[&str]) -> Result<(), HllError> {
            let mut union = Union::new();
            for key in std::iter::once(&dest).chain(sources) {
                if let Some(hll) = self.hll(key)? {
                    union.merge(&hll)?;
                }
            }
            let mut hll = self.hll(dest)?.unwrap_or_default();
            union.store(&mut hll, self.sparse_max_bytes)?;
            self.keys.insert(dest.to_owned(), hll.into_bytes());
            Ok(())
        }

        fn get(&self, key: &str) -> &[u8] {
            &self.keys[key]
        }
    }

    /// The fixture's observations, checked off as the replay reaches them.
    struct Oracle {
        expected: HashMap<&'static str, &'static str>,
        checked: HashSet<String>,
    }

    impl Oracle {
        fn load() -> Self {
            let expected = FIXTURE
                .lines()
                .filter(|line| !line.starts_with('#'))
                .map(|line| line.split_once(' ').expect("`name value` lines"))
                .collect();
            Oracle {
                expected,
                checked: HashSet::new(),
            }
        }

        fn check(&mut self, name: &str, actual: String) {
            let expected = self.expected[name];
            if actual != expected {
                let at = actual
                    .bytes()
                    .zip(expected.bytes())
                    .take_while(|(a, e)| a == e)
                    .count();
                let context = |s: &str| {
                    s.get(at.saturating_sub(20)..(at + 40).min(s.len()))
                        .unwrap_or("")
                        .to_owned()
                };
                panic!(
                    "{name}: differs from Redis at char {at} (lengths {} vs {}): got ..{}.. expected ..{}..",
                    actual.len(),
                    expected.len(),
                    context(&actual),
                    context(expected)
                );
            }
            self.checked.insert(name.to_owned());
        }

        fn reply(&mut self, name: &str, reply: Result<i64, HllError>) {
            let actual = match reply {
                Ok(n) => format!("int:{n}"),
                Err(e) => format!("err:{e}"),
            };
            self.check(name, actual);
        }

        fn ok(&mut self, name: &str, reply: Result<(), HllError>) {
            let actual = match reply {
                Ok(()) => "str:OK".to_owned(),
                Err(e) => format!("err:{e}"),
            };
            self.check(name, actual);
        }

        fn get(&mut self, name: &str, value: &[u8], full: bool) {
            if full {
                self.check(name, format!("hex:{}", hex(value)));
            } else {
                self.check(
                    &format!("{name}.head"),
                    format!("hex:{}", hex(&value[..16])),
                );
                self.check(&format!("{name}.len"), format!("int:{}", value.len()));
                self.check(name, format!("fnv:{}", fnv(value)));
            }
        }
    }

    /// A dense value with these registers, cache stale.
    fn dense_value(registers: &[u8]) -> Vec<u8> {
        let mut packed = [0; REGISTERS * 6 / 8];
        for (index, &r) in registers.iter().enumerate() {
            set_register(&mut packed, index, r);
        }
        value(DENSE, [0, 0, 0, 0, 0, 0, 0, STALE_BIT], &packed)
    }

    fn element(n: u32) -> Vec<u8> {
        format!("e:{n}").into_bytes()
    }

    /// Each register's maximum over `elements`, the model of an HLL.
    fn model(elements: &[u32]) -> [u8; REGISTERS] {
        let mut registers = [0; REGISTERS];
        for &n in elements {
            let (index, count) = pattern(&element(n));
            registers[index] = registers[index].max(count);
        }
        registers
    }

    #[test]
    fn new_is_redis_empty_hll() {
        let mut hll = Hll::new();
        assert_eq!(hll.as_bytes(), sparse([0; 8], &[0x7f, 0xff]));
        let count = hll.count().unwrap();
        assert_eq!((count.cardinality, count.cache_updated), (0, false));
    }

    #[test]
    fn from_bytes_checks_the_header() {
        let dense = dense_value(&[0; REGISTERS]);
        assert!(Hll::from_bytes(dense.clone()).is_ok());
        assert!(Hll::from_bytes(sparse([0; 8], &[])).is_ok());
        let mut bad_magic = dense.clone();
        bad_magic[0] = b'h';
        let mut bad_encoding = dense.clone();
        bad_encoding[ENCODING] = 2;
        for bad in [
            bad_magic,
            bad_encoding,
            dense[..DENSE_LEN - 1].to_vec(),
            [&dense[..], &[0]].concat(),
            b"HYLL\x01\0\0\0\0\0\0\0\0\0\0".to_vec(),
        ] {
            assert_eq!(Hll::from_bytes(bad), Err(HllError::NotHll));
        }
    }

    /// The example of hyperloglog.c's comment: registers 1000, 1020 and
    /// 1021 at 2, 3 and 3.
    #[test]
    fn sparse_opcodes_split_and_join() {
        let mut hll = Hll::new();
        for (index, count) in [(1000, 2), (1021, 3), (1020, 3)] {
            assert_eq!(hll.set(index, count, DEFAULT_SPARSE_MAX_BYTES), Ok(true));
        }
        // XZERO:1000 VAL:2,1 ZERO:19 VAL:3,2 XZERO:15362
        assert_eq!(hll.registers(), [0x43, 0xe7, 0x84, 0x12, 0x89, 0x7c, 0x01]);
        assert_eq!(hll.set(1021, 3, DEFAULT_SPARSE_MAX_BYTES), Ok(false));
    }

    #[test]
    fn pattern_of_c33_outgrows_val() {
        assert_eq!(pattern(C33), (1908, 33));
        let mut hll = Hll::new();
        assert_eq!(hll.add(C33, DEFAULT_SPARSE_MAX_BYTES), Ok(true));
        assert!(hll.is_dense());
        assert_eq!(get_register(hll.registers(), 1908), 33);
    }

    proptest! {
        /// Sparse or promoted, the value holds the registers' maxima, adds
        /// report exactly the registers that grew, and its estimate is the
        /// dense one's.
        #[test]
        fn add_matches_register_model(
            elements in prop::collection::vec(any::<u32>(), 0..2500),
            max_bytes in prop_oneof![Just(0usize), 16..400usize, Just(3000), Just(20_000)],
        ) {
            let (mut hll, mut dense) = (Hll::new(), Hll::new());
            let mut registers = [0; REGISTERS];
            for &n in &elements {
                let (index, count) = pattern(&element(n));
                let grew = count > registers[index];
                registers[index] = registers[index].max(count);
                prop_assert_eq!(hll.add(&element(n), max_bytes), Ok(grew));
                dense.add(&element(n), 0).unwrap();
            }
            prop_assert!(registers == registers_of(&hll));
            prop_assert!(hll.is_dense() || hll.as_bytes().len() <= max_bytes.max(18));
            prop_assert_eq!(hll.count().unwrap().cardinality, dense.count().unwrap().cardinality);
        }

        /// PFMERGE into a new key holds the union's registers and count.
        #[test]
        fn union_store_holds_the_union(
            a in prop::collection::vec(any::<u32>(), 0..800),
            b in prop::collection::vec(any::<u32>(), 0..800),
        ) {
            let mut union = Union::new();
            for elements in [&a, &b] {
                let mut hll = Hll::new();
                for &n in elements {
                    hll.add(&element(n), DEFAULT_SPARSE_MAX_BYTES).unwrap();
                }
                union.merge(&hll).unwrap();
            }
            let mut dest = Hll::new();
            union.store(&mut dest, DEFAULT_SPARSE_MAX_BYTES).unwrap();
            let (ma, mb) = (model(&a), model(&b));
            let expected: Vec<u8> = ma.iter().zip(&mb).map(|(x, y)| *x.max(y)).collect();
            prop_assert!(registers_of(&dest)[..] == expected[..]);
            prop_assert_eq!(dest.count().unwrap().cardinality, union.count());
        }

        /// Arbitrary sparse opcodes (and cached cardinality) fail cleanly.
        #[test]
        fn corrupt_sparse_never_panics(
            card in any::<[u8; 8]>(),
            opcodes in prop::collection::vec(any::<u8>(), 0..48),
            elements in prop::collection::vec(any::<u32>(), 0..40),
            max_bytes in 0..120usize,
        ) {
            let mut hll = Hll::from_bytes(sparse(card, &opcodes)).unwrap();
            let _ = hll.clone().count();
            let mut union = Union::new();
            let merged = union.merge(&hll);
            let _ = union.count();
            let mut dest = hll.clone();
            let stored = union.store(&mut dest, max_bytes);
            prop_assert!(merged.is_err() || stored.is_ok());
            for &n in &elements {
                if hll.add(&element(n), max_bytes).is_err() {
                    break;
                }
            }
            let _ = hll.count();
        }

        /// Any dense registers, values above 51 included, are usable.
        #[test]
        fn any_dense_registers_are_usable(
            registers in prop::collection::vec(any::<u8>(), REGISTERS * 6 / 8),
            elements in prop::collection::vec(any::<u32>(), 0..20),
        ) {
            let mut hll = Hll::from_bytes(value(DENSE, [0; 8], &registers)).unwrap();
            let mut union = Union::new();
            union.merge(&hll).unwrap();
            for &n in &elements {
                hll.add(&element(n), DEFAULT_SPARSE_MAX_BYTES).unwrap();
            }
            hll.count().unwrap();
            union.count();
        }
    }

    /// Replays the scenarios the fixture was recorded from and checks every
    /// observation: bytes stored, replies and errors.
    #[test]
    fn redis_fixture() {
        let mut o = Oracle::load();
        o.checked.insert("version".into());
        let mut db = Db {
            keys: HashMap::new(),
            sparse_max_bytes: DEFAULT_SPARSE_MAX_BYTES,
        };
        let none: &[Vec<u8>] = &[];

        o.reply("empty.pfadd", db.pfadd("empty", none));
        o.get("empty.get", db.get("empty"), true);
        o.reply("empty.pfadd_again", db.pfadd("empty", none));
        o.reply("empty.pfcount", db.pfcount(&["empty"]));
        o.get("empty.get_counted", db.get("empty"), true);
        o.reply("missing.pfcount", db.pfcount(&["missing"]));

        o.reply("small.pfadd", db.pfadd("small", &elems("elem", 0..10)));
        o.get("small.get", db.get("small"), true);
        o.reply("small.pfcount", db.pfcount(&["small"]));
        o.get("small.get_counted", db.get("small"), true);
        o.reply(
            "small.pfadd_again",
            db.pfadd("small", &elems("elem", 0..10)),
        );
        o.get("small.get_again", db.get("small"), true);

        for (name, max_bytes, n) in [("grow", 3000, 2600), ("max100", 100, 200), ("max0", 0, 3)] {
            db.sparse_max_bytes = max_bytes;
            let (mut replies, mut lens, mut prev) = (String::new(), Vec::new(), None::<Vec<u8>>);
            for element in elems(name, 0..n) {
                replies += &db.pfadd(name, &[element]).unwrap().to_string();
                let value = db.get(name).to_vec();
                lens.push(value.len().to_string());
                if let Some(prev) =
                    prev.filter(|p| p[ENCODING] == SPARSE && value[ENCODING] == DENSE)
                {
                    o.get(&format!("{name}.last_sparse"), &prev, true);
                    o.check(
                        &format!("{name}.first_dense"),
                        format!("fnv:{}", fnv(&value)),
                    );
                    if name == "grow" {
                        o.get(&format!("{name}.first_dense_full"), &value, true);
                    }
                }
                prev = Some(value);
            }
            o.check(&format!("{name}.replies"), format!("str:{replies}"));
            o.check(&format!("{name}.lens"), format!("str:{}", lens.join(",")));
            o.get(&format!("{name}.final"), db.get(name), false);
            o.reply(&format!("{name}.pfcount"), db.pfcount(&[name]));
        }
        db.sparse_max_bytes = DEFAULT_SPARSE_MAX_BYTES;

        let replies: String = (0..100_000)
            .step_by(1000)
            .map(|i| {
                db.pfadd("big", &elems("big", i..i + 1000))
                    .unwrap()
                    .to_string()
            })
            .collect();
        o.check("big.replies", format!("str:{replies}"));
        o.get("big.get", db.get("big"), true);
        o.reply("big.pfcount", db.pfcount(&["big"]));
        o.get("big.get_counted", db.get("big"), false);
        o.reply("big.pfadd_more", db.pfadd("big", &elems("more", 0..1000)));
        o.get("big.get_more", db.get("big"), false);
        o.reply("big.pfcount_more", db.pfcount(&["big"]));

        o.reply("c33.pfadd", db.pfadd("c33", &elems("c33pre", 0..5)));
        o.reply("c33.pfadd_big", db.pfadd("c33", &[C33.to_vec()]));
        o.get("c33.get", db.get("c33"), false);
        o.reply("c33.pfcount", db.pfcount(&["c33"]));

        db.pfadd("ma", &elems("ma", 0..100)).unwrap();
        db.pfadd("mb", &elems("mb", 0..100)).unwrap();
        o.reply("union.ma_mb", db.pfcount(&["ma", "mb"]));
        o.reply(
            "union.ma_missing_big",
            db.pfcount(&["ma", "missing", "big"]),
        );
        o.ok("merge_sparse.pfmerge", db.pfmerge("msparse", &["ma", "mb"]));
        o.get("merge_sparse.get", db.get("msparse"), true);
        o.reply("merge_sparse.pfcount", db.pfcount(&["msparse"]));
        o.get("merge_sparse.get_counted", db.get("msparse"), true);

        db.pfadd("mx", &elems("mx", 0..50)).unwrap();
        o.reply("merge_existing.pfcount_before", db.pfcount(&["mx"]));
        o.ok("merge_existing.pfmerge", db.pfmerge("mx", &["ma"]));
        o.get("merge_existing.get", db.get("mx"), true);
        o.reply("merge_existing.pfcount", db.pfcount(&["mx"]));

        o.ok("merge_dense.pfmerge", db.pfmerge("mdense", &["ma", "big"]));
        o.get("merge_dense.get", db.get("mdense"), false);
        o.reply("merge_dense.pfcount", db.pfcount(&["mdense"]));
        o.ok("merge_dense.pfmerge_sparse", db.pfmerge("mdense", &["mb"]));
        o.get("merge_dense.get_sparse", db.get("mdense"), false);

        o.ok("merge_to_dense.pfmerge", db.pfmerge("mb", &["c33"]));
        o.get("merge_to_dense.get", db.get("mb"), false);

        db.pfadd("p1", &elems("p1", 0..1000)).unwrap();
        db.pfadd("p2", &elems("p2", 0..1000)).unwrap();
        o.get("merge_promote.p1", db.get("p1"), true);
        o.reply("merge_promote.union", db.pfcount(&["p1", "p2"]));
        o.ok(
            "merge_promote.pfmerge",
            db.pfmerge("mpromote", &["p1", "p2"]),
        );
        o.get("merge_promote.get", db.get("mpromote"), false);
        o.reply("merge_promote.pfcount", db.pfcount(&["mpromote"]));

        o.ok("merge_none.pfmerge", db.pfmerge("mnone", &[]));
        o.get("merge_none.get", db.get("mnone"), true);
        o.ok(
            "merge_none.pfmerge_missing",
            db.pfmerge("mnone2", &["missing"]),
        );
        o.get("merge_none.get_missing", db.get("mnone2"), true);

        let mut lcg = Vec::with_capacity(REGISTERS);
        let mut state = 1u64;
        for _ in 0..REGISTERS {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            lcg.push((state >> 58) as u8);
        }
        for (name, registers) in [
            ("dense_lcg", lcg),
            ("dense_50", vec![50; REGISTERS]),
            ("dense_51", vec![51; REGISTERS]),
            ("dense_63", vec![63; REGISTERS]),
        ] {
            db.keys.insert(name.into(), dense_value(&registers));
            let merged = format!("{name}:m");
            o.reply(&format!("{name}.pfcount"), db.pfcount(&[name]));
            o.get(&format!("{name}.get_counted"), db.get(name), false);
            o.reply(&format!("{name}.union"), db.pfcount(&[name, "ma"]));
            o.ok(
                &format!("{name}.pfmerge"),
                db.pfmerge(&merged, &["ma", name]),
            );
            o.get(&format!("{name}.merged"), db.get(&merged), false);
        }

        let xzero_all = [0x7f, 0xff];
        let invalid = [0, 0, 0, 0, 0, 0, 0, STALE_BIT];
        let bad: [(&str, Vec<u8>); 5] = [
            (
                "bad_magic",
                [&b"HYLX\x01\0\0\0"[..], &[0; 8], &xzero_all].concat(),
            ),
            ("bad_encoding", value(2, [0; 8], &xzero_all)),
            ("dense_short", value(DENSE, [0; 8], &[0; 100])),
            ("header_short", b"HYLL\x01\0\0".to_vec()),
            ("plain", b"hello world".to_vec()),
        ];
        for (name, value) in bad {
            db.keys.insert(name.into(), value);
            o.reply(&format!("{name}.pfadd"), db.pfadd(name, &[b"x".to_vec()]));
            o.reply(&format!("{name}.pfcount"), db.pfcount(&[name]));
            o.reply(&format!("{name}.pfcount_union"), db.pfcount(&["ma", name]));
            o.ok(&format!("{name}.pfmerge"), db.pfmerge("mdest", &[name]));
            o.ok(&format!("{name}.pfmerge_dest"), db.pfmerge(name, &["ma"]));
        }

        let corrupt = [
            ("short_total", sparse(invalid, &[0x7e, 0x7f])),
            ("cached", sparse([42, 0, 0, 0, 0, 0, 0, 0], &[0x7e, 0x7f])),
            ("over_total", sparse(invalid, &[0x7f, 0xff, 0x49])),
            ("no_body", sparse(invalid, &[])),
            ("truncated", sparse(invalid, &[0x40, 0xfe, 0x7f])),
            ("trailing_val", sparse(invalid, &[0x7f, 0xff, 0x80])),
        ];
        for (name, value) in corrupt {
            db.keys.insert(name.into(), value);
            o.reply(&format!("{name}.pfcount"), db.pfcount(&[name]));
            o.reply(&format!("{name}.pfcount_union"), db.pfcount(&["ma", name]));
            o.ok(&format!("{name}.pfmerge"), db.pfmerge("mdest2", &[name]));
            o.reply(
                &format!("{name}.pfadd"),
                db.pfadd(name, &elems("bad", 0..200)),
            );
            o.get(&format!("{name}.get"), db.get(name), true);
            o.reply(
                &format!("{name}.pfadd_c33"),
                db.pfadd(name, &[C33.to_vec()]),
            );
            let full = db.get(name).len() < DENSE_LEN;
            o.get(&format!("{name}.get_c33"), db.get(name), full);
        }

        let unchecked: Vec<_> = o
            .expected
            .keys()
            .filter(|k| !o.checked.contains(**k))
            .collect();
        assert!(unchecked.is_empty(), "not replayed: {unchecked:?}");
    }
}
