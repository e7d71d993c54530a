//! Order-preserving encoding of sorted-set scores.

/// Encodes a score so that the byte order of the result is the numeric order
/// of the scores: -inf < negatives < -0 < +0 < positives < +inf.
pub fn encode_score(score: f64) -> [u8; 8] {
    let bits = score.to_bits();
    let ordered = if bits >> 63 == 1 {
        !bits
    } else {
        bits | (1 << 63)
    };
    ordered.to_be_bytes()
}

/// Inverts [`encode_score`].
pub fn decode_score(bytes: [u8; 8]) -> f64 {
    let ordered = u64::from_be_bytes(bytes);
    let bits = if ordered >> 63 == 1 {
        ordered & !(1 << 63)
    } else {
        !ordered
    };
    f64::from_bits(bits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn infinities_and_zeros_sort_in_place() {
        let order = [
            f64::NEG_INFINITY,
            -1e300,
            -1.0,
            -0.0,
            0.0,
            1e-300,
            1.0,
            f64::INFINITY,
        ];
        for pair in order.windows(2) {
            assert!(encode_score(pair[0]) < encode_score(pair[1]), "{pair:?}");
        }
    }

    proptest! {
        #[test]
        fn round_trips(x in any::<f64>().prop_filter("not NaN", |x| !x.is_nan())) {
            prop_assert_eq!(decode_score(encode_score(x)).to_bits(), x.to_bits());
        }

        #[test]
        fn preserves_order(a in any::<f64>().prop_filter("not NaN", |x| !x.is_nan()), b in any::<f64>().prop_filter("not NaN", |x| !x.is_nan())) {
            if a < b {
                prop_assert!(encode_score(a) < encode_score(b));
            }
        }
    }
}
