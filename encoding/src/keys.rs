//! Key layouts (DESIGN.md section 2).
//!
//! ```text
//! keyspace      = len u8 | namespace bytes
//! metadata key  = keyspace | slot u16 | user key
//! sub-key       = keyspace | slot u16 | keylen u32 | user key | version u64 | sub-key bytes
//! expire key    = expire-at ms u64 | keyspace | slot u16 | user key
//! ```
//!
//! The expire key starts with the time so that one forward iteration visits
//! due keys of every keyspace in time order.

/// A keyspace: the namespace every user key lives in. `SELECT n` and
/// Kvrocks-style namespaces both map to one.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Keyspace {
    prefix: Vec<u8>,
}

/// Databases other than 0 are namespaces whose name starts with this byte,
/// which a user-defined namespace name can never start with.
const DATABASE_MARKER: u8 = 0;

impl Keyspace {
    /// The keyspace of `SELECT index`. Database 0 is the default keyspace.
    pub fn database(index: u32) -> Keyspace {
        if index == 0 {
            return Keyspace { prefix: vec![0] };
        }
        let mut prefix = vec![5, DATABASE_MARKER];
        prefix.extend_from_slice(&index.to_be_bytes());
        Keyspace { prefix }
    }

    /// The database number of a keyspace made by [`Keyspace::database`];
    /// `None` for a named namespace.
    pub fn database_index(&self) -> Option<u32> {
        match self.prefix[..] {
            [0] => Some(0),
            [5, DATABASE_MARKER, a, b, c, d] => Some(u32::from_be_bytes([a, b, c, d])),
            _ => None,
        }
    }

    /// A named namespace; `None` when the name is empty, too long or starts
    /// with the byte reserved for numbered databases.
    pub fn namespace(name: &[u8]) -> Option<Keyspace> {
        if name.is_empty() || name.len() > u8::MAX as usize || name[0] == DATABASE_MARKER {
            return None;
        }
        let mut prefix = Vec::with_capacity(name.len() + 1);
        prefix.push(name.len() as u8);
        prefix.extend_from_slice(name);
        Some(Keyspace { prefix })
    }

    /// The encoded prefix (`len | namespace`).
    pub fn as_bytes(&self) -> &[u8] {
        &self.prefix
    }

    /// Parses the keyspace at the start of `bytes`, returning it and the rest.
    pub fn split(bytes: &[u8]) -> Option<(Keyspace, &[u8])> {
        let len = *bytes.first()? as usize;
        if bytes.len() < 1 + len {
            return None;
        }
        let (prefix, rest) = bytes.split_at(1 + len);
        Some((
            Keyspace {
                prefix: prefix.to_vec(),
            },
            rest,
        ))
    }
}

/// The prefix shared by every metadata key of a keyspace.
pub fn keyspace_prefix(ks: &Keyspace) -> Vec<u8> {
    ks.as_bytes().to_vec()
}

/// The prefix shared by every metadata key of one slot of a keyspace.
pub fn slot_prefix(ks: &Keyspace, slot: u16) -> Vec<u8> {
    let mut out = Vec::with_capacity(ks.as_bytes().len() + 2);
    out.extend_from_slice(ks.as_bytes());
    out.extend_from_slice(&slot.to_be_bytes());
    out
}

/// The metadata CF key of a user key.
pub fn metadata_key(ks: &Keyspace, slot: u16, user_key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(ks.as_bytes().len() + 2 + user_key.len());
    out.extend_from_slice(ks.as_bytes());
    out.extend_from_slice(&slot.to_be_bytes());
    out.extend_from_slice(user_key);
    out
}

/// The prefix of every metadata key in `slot` whose user key starts with
/// `user_prefix`.
pub fn metadata_key_prefix(ks: &Keyspace, slot: u16, user_prefix: &[u8]) -> Vec<u8> {
    metadata_key(ks, slot, user_prefix)
}

/// A parsed metadata CF key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetadataKey<'a> {
    pub keyspace: Keyspace,
    pub slot: u16,
    pub user_key: &'a [u8],
}

/// Parses a metadata CF key.
pub fn parse_metadata_key(bytes: &[u8]) -> Option<MetadataKey<'_>> {
    let (keyspace, rest) = Keyspace::split(bytes)?;
    if rest.len() < 2 {
        return None;
    }
    let slot = u16::from_be_bytes([rest[0], rest[1]]);
    Some(MetadataKey {
        keyspace,
        slot,
        user_key: &rest[2..],
    })
}

/// The key a member entry (sub-key or score-index key, which both start
/// like [`subkey_prefix`]) belongs to.
pub fn parse_member_owner(bytes: &[u8]) -> Option<MetadataKey<'_>> {
    let (keyspace, rest) = Keyspace::split(bytes)?;
    let slot = u16::from_be_bytes(rest.get(..2)?.try_into().ok()?);
    let length = u32::from_be_bytes(rest.get(2..6)?.try_into().ok()?) as usize;
    let user_key = rest.get(6..6usize.checked_add(length)?)?;
    Some(MetadataKey {
        keyspace,
        slot,
        user_key,
    })
}

/// The prefix of every sub-key of one incarnation (`version`) of a key.
pub fn subkey_prefix(ks: &Keyspace, slot: u16, user_key: &[u8], version: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(ks.as_bytes().len() + 14 + user_key.len());
    out.extend_from_slice(ks.as_bytes());
    out.extend_from_slice(&slot.to_be_bytes());
    out.extend_from_slice(&(user_key.len() as u32).to_be_bytes());
    out.extend_from_slice(user_key);
    out.extend_from_slice(&version.to_be_bytes());
    out
}

/// The sub-key CF key of one member of a collection.
pub fn subkey(ks: &Keyspace, slot: u16, user_key: &[u8], version: u64, sub: &[u8]) -> Vec<u8> {
    let mut out = subkey_prefix(ks, slot, user_key, version);
    out.extend_from_slice(sub);
    out
}

/// The expire CF key of a user key that expires at `expire_at_ms`.
pub fn expire_key(expire_at_ms: u64, ks: &Keyspace, slot: u16, user_key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(10 + ks.as_bytes().len() + user_key.len());
    out.extend_from_slice(&expire_at_ms.to_be_bytes());
    out.extend_from_slice(ks.as_bytes());
    out.extend_from_slice(&slot.to_be_bytes());
    out.extend_from_slice(user_key);
    out
}

/// A parsed expire CF key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpireKey<'a> {
    pub expire_at_ms: u64,
    pub keyspace: Keyspace,
    pub slot: u16,
    pub user_key: &'a [u8],
}

/// Parses an expire CF key.
pub fn parse_expire_key(bytes: &[u8]) -> Option<ExpireKey<'_>> {
    if bytes.len() < 8 {
        return None;
    }
    let expire_at_ms = u64::from_be_bytes(bytes[..8].try_into().ok()?);
    let key = parse_metadata_key(&bytes[8..])?;
    Some(ExpireKey {
        expire_at_ms,
        keyspace: key.keyspace,
        slot: key.slot,
        user_key: key.user_key,
    })
}

/// The smallest byte string greater than every string starting with
/// `prefix`, for use as an exclusive upper bound; `None` when there is none
/// (the prefix is all 0xff).
pub fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut out = prefix.to_vec();
    while let Some(last) = out.pop() {
        if last != u8::MAX {
            out.push(last + 1);
            return Some(out);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn any_keyspace() -> impl Strategy<Value = Keyspace> {
        prop_oneof![
            (0u32..100).prop_map(Keyspace::database),
            proptest::collection::vec(1u8..=255, 1..20)
                .prop_map(|name| Keyspace::namespace(&name).unwrap()),
        ]
    }

    proptest! {
        #[test]
        fn a_member_names_its_owner(
            ks in any_keyspace(),
            slot: u16,
            key in proptest::collection::vec(any::<u8>(), 0..40),
            version: u64,
            member in proptest::collection::vec(any::<u8>(), 0..40),
        ) {
            let member_key = subkey(&ks, slot, &key, version, &member);
            let owner = parse_member_owner(&member_key).unwrap();
            prop_assert_eq!(owner, MetadataKey { keyspace: ks, slot, user_key: &key[..] });
        }
    }

    #[test]
    fn database_index_round_trips() {
        for index in [0, 1, 15, 1 << 20] {
            assert_eq!(Keyspace::database(index).database_index(), Some(index));
        }
        assert_eq!(
            Keyspace::namespace(b"tenant").unwrap().database_index(),
            None
        );
    }

    #[test]
    fn database_zero_is_the_default_keyspace() {
        assert_eq!(Keyspace::database(0).as_bytes(), &[0]);
        assert_ne!(Keyspace::database(1), Keyspace::database(0));
        assert!(Keyspace::namespace(b"\0x").is_none());
        assert!(Keyspace::namespace(b"").is_none());
    }

    proptest! {
        #[test]
        fn metadata_key_round_trips(ks in any_keyspace(), slot in 0u16..16384, key in proptest::collection::vec(any::<u8>(), 0..64)) {
            let encoded = metadata_key(&ks, slot, &key);
            let parsed = parse_metadata_key(&encoded).unwrap();
            prop_assert_eq!(parsed.keyspace, ks);
            prop_assert_eq!(parsed.slot, slot);
            prop_assert_eq!(parsed.user_key, &key[..]);
        }

        #[test]
        fn expire_key_round_trips(at in any::<u64>(), ks in any_keyspace(), slot in 0u16..16384, key in proptest::collection::vec(any::<u8>(), 0..64)) {
            let encoded = expire_key(at, &ks, slot, &key);
            let parsed = parse_expire_key(&encoded).unwrap();
            prop_assert_eq!(parsed.expire_at_ms, at);
            prop_assert_eq!(parsed.keyspace, ks);
            prop_assert_eq!(parsed.slot, slot);
            prop_assert_eq!(parsed.user_key, &key[..]);
        }

        #[test]
        fn expire_keys_sort_by_time(a in any::<u64>(), b in any::<u64>(), ks in any_keyspace(), k1 in proptest::collection::vec(any::<u8>(), 0..16), k2 in proptest::collection::vec(any::<u8>(), 0..16)) {
            prop_assume!(a != b);
            let ea = expire_key(a, &ks, 0, &k1);
            let eb = expire_key(b, &ks, 0, &k2);
            prop_assert_eq!(a < b, ea < eb);
        }

        #[test]
        fn slot_keys_are_contiguous(ks in any_keyspace(), slot in 0u16..16384, other in 0u16..16384, key in proptest::collection::vec(any::<u8>(), 0..32)) {
            let prefix = slot_prefix(&ks, slot);
            let encoded = metadata_key(&ks, other, &key);
            prop_assert_eq!(encoded.starts_with(&prefix), slot == other);
            let upper = prefix_successor(&prefix).unwrap();
            prop_assert_eq!(encoded >= prefix && encoded < upper, slot == other);
        }

        #[test]
        fn subkeys_of_one_version_share_a_prefix(ks in any_keyspace(), slot in 0u16..16384, key in proptest::collection::vec(any::<u8>(), 0..32), other_key in proptest::collection::vec(any::<u8>(), 0..32), version in any::<u64>(), sub in proptest::collection::vec(any::<u8>(), 0..32)) {
            let prefix = subkey_prefix(&ks, slot, &key, version);
            prop_assert!(subkey(&ks, slot, &key, version, &sub).starts_with(&prefix));
            // A longer key whose bytes start with `key` never falls under its prefix:
            // the length field tells them apart.
            if other_key != key {
                prop_assert!(!subkey(&ks, slot, &other_key, version, &sub).starts_with(&prefix));
            }
            if version < u64::MAX {
                prop_assert!(!subkey(&ks, slot, &key, version + 1, &sub).starts_with(&prefix));
            }
        }

        #[test]
        fn prefix_successor_bounds_the_prefix(prefix in proptest::collection::vec(any::<u8>(), 1..16), tail in proptest::collection::vec(any::<u8>(), 0..16)) {
            let mut extended = prefix.clone();
            extended.extend_from_slice(&tail);
            match prefix_successor(&prefix) {
                Some(upper) => prop_assert!(extended < upper && prefix < upper),
                None => prop_assert!(prefix.iter().all(|b| *b == u8::MAX)),
            }
        }
    }
}
