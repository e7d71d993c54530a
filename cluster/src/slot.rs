//! Redis Cluster key slots: CRC16 (XMODEM) of the key's hash tag, modulo
//! 16384.

/// The number of hash slots in a Redis Cluster.
pub const SLOT_COUNT: u16 = 16384;

/// The part of `key` that decides its slot: the bytes between the first `{`
/// and the first `}` after it, when that run is not empty; otherwise the
/// whole key. Keys that share a tag share a slot.
pub fn hash_tag(key: &[u8]) -> &[u8] {
    if let Some(open) = key.iter().position(|&b| b == b'{') {
        if let Some(len) = key[open + 1..].iter().position(|&b| b == b'}') {
            if len > 0 {
                return &key[open + 1..open + 1 + len];
            }
        }
    }
    key
}

/// The hash slot of `key`, as CLUSTER KEYSLOT reports it.
pub fn key_slot(key: &[u8]) -> u16 {
    crc16::State::<crc16::XMODEM>::calculate(hash_tag(key)) % SLOT_COUNT
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn matches_redis_known_slots() {
        // Values from a real redis-server's CLUSTER KEYSLOT.
        assert_eq!(key_slot(b"foo"), 12182);
        assert_eq!(key_slot(b"bar"), 5061);
        assert_eq!(key_slot(b"hello"), 866);
        assert_eq!(key_slot(b""), 0);
        assert_eq!(
            key_slot(b"{user1000}.following"),
            key_slot(b"{user1000}.followers")
        );
        assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"user1000"));
    }

    #[test]
    fn hash_tag_rules() {
        assert_eq!(hash_tag(b"{user1000}.following"), b"user1000");
        // An empty tag means the whole key is hashed.
        assert_eq!(hash_tag(b"foo{}{bar}"), b"foo{}{bar}");
        // Only the first `{` counts, and the first `}` after it.
        assert_eq!(hash_tag(b"foo{{bar}}zap"), b"{bar");
        assert_eq!(hash_tag(b"foo{bar}{zap}"), b"bar");
        // No closing brace: the whole key.
        assert_eq!(hash_tag(b"foo{bar"), b"foo{bar");
    }

    proptest! {
        #[test]
        fn slot_is_in_range_and_tag_decides(tag in "[a-z0-9]{1,12}", a in "[a-z0-9.:]{0,12}", b in "[a-z0-9.:]{0,12}") {
            let k1 = format!("{a}{{{tag}}}x");
            let k2 = format!("{b}{{{tag}}}y");
            prop_assert!(key_slot(k1.as_bytes()) < SLOT_COUNT);
            // `a` and `b` have no braces, so the tag is the first one.
            prop_assert_eq!(key_slot(k1.as_bytes()), key_slot(k2.as_bytes()));
        }
    }
}
