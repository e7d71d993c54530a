//! Keyspace notification classes: the bits of `notify-keyspace-events`,
//! with Redis's flag letters, values and rendering (CONFIG GET gives back
//! what Redis gives back).

/// `K`: publish to `__keyspace@<db>__:<key>`.
pub const KEYSPACE: u32 = 1 << 0;
/// `E`: publish to `__keyevent@<db>__:<event>`.
pub const KEYEVENT: u32 = 1 << 1;
/// `g`: commands on any type (DEL, EXPIRE, RENAME, ...).
pub const GENERIC: u32 = 1 << 2;
/// `$`: string commands.
pub const STRING: u32 = 1 << 3;
/// `l`: list commands.
pub const LIST: u32 = 1 << 4;
/// `s`: set commands.
pub const SET: u32 = 1 << 5;
/// `h`: hash commands.
pub const HASH: u32 = 1 << 6;
/// `z`: sorted set commands.
pub const ZSET: u32 = 1 << 7;
/// `x`: a key expired.
pub const EXPIRED: u32 = 1 << 8;
/// `e`: a key was evicted.
pub const EVICTED: u32 = 1 << 9;
/// `t`: stream commands.
pub const STREAM: u32 = 1 << 10;
/// `m`: a read found no key.
pub const KEY_MISS: u32 = 1 << 11;
/// `d`: module key types.
pub const MODULE: u32 = 1 << 13;
/// `n`: a key was created.
pub const NEW: u32 = 1 << 14;
/// `A`: every class but `m` and `n`.
pub const ALL: u32 =
    GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;

/// The letters of the classes `A` stands for, in Redis's rendering order.
const CLASS_LETTERS: [(u32, char); 11] = [
    (GENERIC, 'g'),
    (STRING, '$'),
    (LIST, 'l'),
    (SET, 's'),
    (HASH, 'h'),
    (ZSET, 'z'),
    (EXPIRED, 'x'),
    (EVICTED, 'e'),
    (STREAM, 't'),
    (MODULE, 'd'),
    (NEW, 'n'),
];

/// Parses a `notify-keyspace-events` value.
pub fn parse_flags(text: &str) -> Result<u32, String> {
    text.chars().try_fold(0, |flags, letter| {
        let class = match letter {
            'A' => ALL,
            'K' => KEYSPACE,
            'E' => KEYEVENT,
            'm' => KEY_MISS,
            _ => CLASS_LETTERS
                .iter()
                .find(|(_, l)| *l == letter)
                .map(|(class, _)| *class)
                .ok_or("Invalid event class character. Use 'Ag$lshzxeKEtmdn'.")?,
        };
        Ok(flags | class)
    })
}

/// Renders flags as Redis's CONFIG GET does: `A` when it applies (which
/// then hides `n`), the class letters otherwise, then `K`, `E`, `m`.
pub fn render_flags(flags: u32) -> String {
    let mut text = String::new();
    if flags & ALL == ALL {
        text.push('A');
    } else {
        text.extend(
            CLASS_LETTERS
                .iter()
                .filter(|(class, _)| flags & class != 0)
                .map(|(_, letter)| letter),
        );
    }
    for (class, letter) in [(KEYSPACE, 'K'), (KEYEVENT, 'E'), (KEY_MISS, 'm')] {
        if flags & class != 0 {
            text.push(letter);
        }
    }
    text
}

/// Whether events of `class` are published under `flags`: the class is
/// chosen, and so is at least one of the two channel kinds.
pub fn publishes(flags: u32, class: u32) -> bool {
    flags & class != 0 && flags & (KEYSPACE | KEYEVENT) != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_as_redis_does() {
        for (given, shown) in [
            ("KEA", "AKE"),
            ("Ex", "xE"),
            ("gKE", "gKE"),
            ("Kn", "nK"),
            ("Em", "Em"),
            ("KEAmn", "AKEm"),
            ("", ""),
            ("$lshzxe", "$lshzxe"),
            ("nmKE", "nKEm"),
        ] {
            assert_eq!(render_flags(parse_flags(given).unwrap()), shown, "{given}");
        }
        assert!(parse_flags("KEq").is_err());
    }

    #[test]
    fn nothing_is_published_without_a_channel_kind() {
        let flags = parse_flags("A").unwrap();
        assert!(!publishes(flags, GENERIC));
        assert!(publishes(flags | KEYEVENT, GENERIC));
        assert!(!publishes(flags | KEYEVENT, KEY_MISS));
    }
}
