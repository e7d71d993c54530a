//! Redis glob patterns, as KEYS, SCAN MATCH and CONFIG GET read them: `*`,
//! `?`, `[...]` classes (with `^` negation and `a-z` ranges), and `\` to
//! escape. Shell glob crates differ from Redis in the details (`[!...]`,
//! `{a,b}`, path separators, an unterminated `[`), and users' patterns must
//! match exactly what they match on Redis, so the rules are implemented here
//! over bytes.
//!
//! `*` is matched by backtracking to the last star only, which keeps every
//! match O(pattern * text) where a naive recursion is exponential.

/// Whether `text` matches `pattern`; `nocase` compares ASCII letters
/// without case.
pub fn glob_match(pattern: &[u8], text: &[u8], nocase: bool) -> bool {
    let (mut p, mut t) = (0, 0);
    // After a star: where the pattern resumes and the text position it
    // was last tried from.
    let mut backtrack: Option<(usize, usize)> = None;
    loop {
        if p < pattern.len() && pattern[p] == b'*' {
            while p < pattern.len() && pattern[p] == b'*' {
                p += 1;
            }
            if p == pattern.len() {
                return true;
            }
            backtrack = Some((p, t));
            continue;
        }
        if t == text.len() {
            return p == pattern.len();
        }
        let step = if p < pattern.len() {
            match_element(pattern, p, text[t], nocase)
        } else {
            None
        };
        match step {
            Some(next) => {
                p = next;
                t += 1;
            }
            None => match backtrack {
                Some((star_p, star_t)) => {
                    backtrack = Some((star_p, star_t + 1));
                    p = star_p;
                    t = star_t + 1;
                }
                None => return false,
            },
        }
    }
}

fn fold(c: u8, nocase: bool) -> u8 {
    if nocase {
        c.to_ascii_lowercase()
    } else {
        c
    }
}

/// Matches the pattern element at `p` (not a star) against one text byte;
/// returns where the next element starts, or `None` on a mismatch.
fn match_element(pattern: &[u8], mut p: usize, c: u8, nocase: bool) -> Option<usize> {
    let end = pattern.len();
    match pattern[p] {
        b'?' => Some(p + 1),
        b'[' => {
            p += 1;
            let negate = p < end && pattern[p] == b'^';
            if negate {
                p += 1;
            }
            let mut matched = false;
            loop {
                if p >= end {
                    // An unterminated class ends with the pattern.
                    break;
                }
                if pattern[p] == b'\\' && end - p >= 2 {
                    p += 1;
                    if fold(pattern[p], nocase) == fold(c, nocase) {
                        matched = true;
                    }
                } else if pattern[p] == b']' {
                    p += 1;
                    break;
                } else if end - p >= 3 && pattern[p + 1] == b'-' {
                    let (mut lo, mut hi) = (fold(pattern[p], nocase), fold(pattern[p + 2], nocase));
                    if lo > hi {
                        std::mem::swap(&mut lo, &mut hi);
                    }
                    let c = fold(c, nocase);
                    if c >= lo && c <= hi {
                        matched = true;
                    }
                    p += 2;
                } else if fold(pattern[p], nocase) == fold(c, nocase) {
                    matched = true;
                }
                p += 1;
            }
            (matched != negate).then_some(p)
        }
        b'\\' if end - p >= 2 => (fold(pattern[p + 1], nocase) == fold(c, nocase)).then_some(p + 2),
        literal => (fold(literal, nocase) == fold(c, nocase)).then_some(p + 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, t: &str) -> bool {
        glob_match(p.as_bytes(), t.as_bytes(), false)
    }

    #[test]
    fn redis_documented_examples() {
        assert!(m("h?llo", "hello") && m("h?llo", "hallo") && m("h?llo", "hxllo"));
        assert!(m("h*llo", "hllo") && m("h*llo", "heeeello"));
        assert!(m("h[ae]llo", "hello") && m("h[ae]llo", "hallo") && !m("h[ae]llo", "hillo"));
        assert!(m("h[^e]llo", "hallo") && m("h[^e]llo", "hbllo") && !m("h[^e]llo", "hello"));
        assert!(m("h[a-b]llo", "hallo") && m("h[a-b]llo", "hbllo") && !m("h[a-b]llo", "hcllo"));
        assert!(m("h\\*llo", "h*llo") && !m("h\\*llo", "hello"));
    }

    #[test]
    fn edge_cases_follow_redis() {
        assert!(m("*", "") && m("**", "anything") && !m("?", ""));
        assert!(m("user.*", "user.1") && !m("user.*", "userX1"));
        assert!(m("{a,b}", "{a,b}") && !m("{a,b}", "a"));
        assert!(m("[z-a]", "m"), "reversed ranges are swapped");
        assert!(
            m("[abc", "a"),
            "an unterminated class ends with the pattern"
        );
        assert!(m("a\\", "a\\"), "a trailing backslash is literal");
        assert!(m("*a*b*c", "xaxbxc") && !m("*a*b*c", "xaxbx"));
        assert!(glob_match(b"MAXCLIENTS", b"maxclients", true));
        assert!(!glob_match(b"MAXCLIENTS", b"maxclients", false));
    }

    #[test]
    fn pathological_patterns_stay_fast() {
        let text = "a".repeat(10_000);
        let pattern = format!("{}b", "*a".repeat(100));
        assert!(!m(&pattern, &text));
    }
}
