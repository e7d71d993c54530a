//! Intset (intset.c): the set of integers Redis keeps sorted in one array.
//! A u32 width (2, 4 or 8 bytes a member), a u32 count, then the members
//! ascending, all little endian.

use super::DecodeError;

const HEADER: usize = 8;

/// The members of an intset, validated as `intsetValidateIntegrity` does
/// deeply: a known width, a size that matches the count, and members
/// strictly ascending (so none repeats).
pub(super) fn decode(is: &[u8]) -> Result<Vec<i64>, DecodeError> {
    let bad = DecodeError::Malformed;
    let header = is.first_chunk::<HEADER>().ok_or(bad("intset too short"))?;
    let width = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
    let count = u32::from_le_bytes([header[4], header[5], header[6], header[7]]) as usize;
    if !matches!(width, 2 | 4 | 8) {
        return Err(bad("unknown intset encoding"));
    }
    if count.checked_mul(width).and_then(|n| n.checked_add(HEADER)) != Some(is.len()) {
        return Err(bad("intset size mismatch"));
    }
    if count == 0 {
        return Err(bad("empty intset"));
    }
    let members: Vec<i64> = is[HEADER..]
        .chunks_exact(width)
        .map(|chunk| {
            let mut le = [0u8; 8];
            le[..width].copy_from_slice(chunk);
            let shift = 64 - 8 * width as u32;
            (i64::from_le_bytes(le) << shift) >> shift
        })
        .collect();
    if members.windows(2).any(|pair| pair[0] >= pair[1]) {
        return Err(bad("intset not strictly ascending"));
    }
    Ok(members)
}

/// The intset of `members`, distinct, in the narrowest width that holds
/// them all, as `intsetAdd` leaves it.
pub(super) fn encode(mut members: Vec<i64>) -> Vec<u8> {
    members.sort_unstable();
    let width: usize = if members.iter().all(|&n| i16::try_from(n).is_ok()) {
        2
    } else if members.iter().all(|&n| i32::try_from(n).is_ok()) {
        4
    } else {
        8
    };
    let mut out = Vec::with_capacity(HEADER + width * members.len());
    out.extend_from_slice(&(width as u32).to_le_bytes());
    out.extend_from_slice(&(members.len() as u32).to_le_bytes());
    for n in members {
        out.extend_from_slice(&n.to_le_bytes()[..width]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_round_trip() {
        for members in [
            vec![3, -2, 1],
            vec![1, 40000, -40000],
            vec![i64::MIN, 0, i64::MAX],
        ] {
            let is = encode(members.clone());
            let mut sorted = members;
            sorted.sort();
            assert_eq!(decode(&is).unwrap(), sorted);
        }
        assert_eq!(
            encode(vec![2, 1]),
            [2, 0, 0, 0, 2, 0, 0, 0, 1, 0, 2, 0],
            "as intsetAdd writes it"
        );
        assert_eq!(encode(vec![70000])[..4], [4, 0, 0, 0]);
    }

    #[test]
    fn corruption_is_an_error() {
        let good = encode(vec![1, 2, 3]);
        for len in 0..good.len() {
            assert!(decode(&good[..len]).is_err());
        }
        let mut unsorted = good.clone();
        unsorted[8] = 5;
        assert!(decode(&unsorted).is_err());
        let mut duplicate = good.clone();
        duplicate[8] = 2;
        assert!(decode(&duplicate).is_err());
        let mut width = good.clone();
        width[0] = 3;
        assert!(decode(&width).is_err());
        assert!(decode(&[2, 0, 0, 0, 0, 0, 0, 0]).is_err(), "empty");
        assert!(decode(&[2, 0, 0, 0, 255, 255, 255, 255, 1, 0]).is_err());
    }
}
