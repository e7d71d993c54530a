//! Request parsing: RESP multibulk arrays (decoded by the redis-protocol
//! crate) and inline commands (a person typing `PING` into telnet).
//!
//! Errors carry Redis's exact protocol-error texts; after one the connection
//! replies and closes, as Redis does.

use bytes::{Buf, Bytes, BytesMut};
use redis_protocol::resp2::types::{BytesFrame, Resp2Frame};

/// Limits a client's requests must respect.
#[derive(Clone, Copy, Debug)]
pub struct RequestLimits {
    /// `proto-max-bulk-len`: the largest argument accepted.
    pub max_bulk_len: u64,
}

/// The longest inline request or header line Redis accepts.
const MAX_INLINE_LEN: usize = 64 * 1024;
/// The most arguments one request may have.
const MAX_MULTIBULK_LEN: i64 = 1024 * 1024;
/// The most buffer space reserved ahead of the bytes of a request: a
/// declared length (up to `proto-max-bulk-len`, which may be a terabyte)
/// is a promise, not an allocation to make at once.
const MAX_RESERVE: usize = 1024 * 1024;

/// A malformed request; its text is Redis's error reply (without `ERR`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProtocolError(pub String);

impl ProtocolError {
    fn new(text: impl Into<String>) -> ProtocolError {
        ProtocolError(format!("Protocol error: {}", text.into()))
    }
}

/// Parses one request from the front of `buf`.
///
/// Returns `Ok(Some(args))` and consumes its bytes when a whole request is
/// there (`args` may be empty for a blank inline line or `*0`), `Ok(None)`
/// when more bytes are needed (reserving room for them in `buf`), or the
/// protocol error to reply with before closing.
pub fn parse_request(
    buf: &mut BytesMut,
    limits: RequestLimits,
) -> Result<Option<Vec<Bytes>>, ProtocolError> {
    if buf.is_empty() {
        return Ok(None);
    }
    if buf[0] != b'*' {
        return parse_inline(buf);
    }
    // The headers are checked before the crate decodes: a huge declared
    // length is refused before it is buffered, and only a flat array of
    // bulk strings reaches the decoder, which would otherwise recurse as
    // deep as nested arrays go (`*1\r\n` repeated overflows the stack).
    let needed = scan_headers(buf, limits)?;
    if needed > buf.len() {
        // Room for what is announced, but memory only as the bytes come.
        buf.reserve((needed - buf.len()).min(MAX_RESERVE));
        return Ok(None);
    }
    match redis_protocol::resp2::decode::decode_bytes_mut(buf) {
        Ok(Some((frame, _, _))) => frame_to_args(frame, limits).map(Some),
        Ok(None) => Ok(None),
        Err(_) => Err(ProtocolError::new("invalid multibulk length")),
    }
}

fn frame_to_args(frame: BytesFrame, limits: RequestLimits) -> Result<Vec<Bytes>, ProtocolError> {
    let items = match frame {
        BytesFrame::Array(items) => items,
        // `*-1` is a null array, which Redis treats as no command.
        BytesFrame::Null => return Ok(Vec::new()),
        _ => return Err(ProtocolError::new("invalid multibulk length")),
    };
    if items.len() as i64 > MAX_MULTIBULK_LEN {
        return Err(ProtocolError::new("invalid multibulk length"));
    }
    items
        .into_iter()
        .map(|item| match item {
            BytesFrame::BulkString(data) if data.len() as u64 <= limits.max_bulk_len => Ok(data),
            BytesFrame::BulkString(_) | BytesFrame::Null => {
                Err(ProtocolError::new("invalid bulk length"))
            }
            other => Err(ProtocolError::new(format!(
                "expected '$', got '{}'",
                other.kind().to_byte() as char
            ))),
        })
        .collect()
}

/// Walks the headers of an incomplete multibulk request, checking each
/// declared length; returns how many bytes the whole request will need as
/// far as the headers tell.
fn scan_headers(buf: &[u8], limits: RequestLimits) -> Result<usize, ProtocolError> {
    let (count, mut pos) = match read_line(buf, 0)? {
        Some((line, next)) => (parse_len(&line[1..], "invalid multibulk length")?, next),
        None => return Ok(buf.len() + 1),
    };
    if count > MAX_MULTIBULK_LEN {
        return Err(ProtocolError::new("invalid multibulk length"));
    }
    for _ in 0..count.max(0) {
        if pos >= buf.len() {
            return Ok(pos + 1);
        }
        if buf[pos] != b'$' {
            return Err(ProtocolError::new(format!(
                "expected '$', got '{}'",
                buf[pos] as char
            )));
        }
        let (line, next) = match read_line(buf, pos)? {
            Some(found) => found,
            None => return Ok(buf.len() + 1),
        };
        let len = parse_len(&line[1..], "invalid bulk length")?;
        if len < 0 || len as u64 > limits.max_bulk_len {
            return Err(ProtocolError::new("invalid bulk length"));
        }
        pos = next + len as usize + 2;
    }
    Ok(pos)
}

/// The line starting at `start` (without its `\r\n`) and the position after
/// it, or `None` if it has not all arrived.
fn read_line(buf: &[u8], start: usize) -> Result<Option<(&[u8], usize)>, ProtocolError> {
    match buf[start..].iter().position(|&b| b == b'\r') {
        Some(end) if start + end + 1 < buf.len() => {
            Ok(Some((&buf[start..start + end], start + end + 2)))
        }
        Some(_) => Ok(None),
        None if buf.len() - start > MAX_INLINE_LEN => {
            Err(ProtocolError::new("too big mbulk count string"))
        }
        None => Ok(None),
    }
}

fn parse_len(digits: &[u8], what: &str) -> Result<i64, ProtocolError> {
    std::str::from_utf8(digits)
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .ok_or_else(|| ProtocolError::new(what))
}

fn parse_inline(buf: &mut BytesMut) -> Result<Option<Vec<Bytes>>, ProtocolError> {
    let Some(newline) = buf.iter().position(|&b| b == b'\n') else {
        if buf.len() > MAX_INLINE_LEN {
            return Err(ProtocolError::new("too big inline request"));
        }
        return Ok(None);
    };
    let line = buf.split_to(newline + 1);
    let mut line = &line[..newline];
    if line.last() == Some(&b'\r') {
        line = &line[..line.len() - 1];
    }
    split_args(line)
        .map(Some)
        .ok_or_else(|| ProtocolError::new("unbalanced quotes in request"))
}

/// Splits an inline request into arguments with Redis's quoting rules:
/// "double quotes" with backslash escapes (`\n`, `\xHH`, ...), 'single
/// quotes' with `\'`, and a closing quote that must end the argument.
pub fn split_args(mut line: &[u8]) -> Option<Vec<Bytes>> {
    let mut args = Vec::new();
    loop {
        while line.first().is_some_and(|b| b.is_ascii_whitespace()) {
            line.advance(1);
        }
        if line.is_empty() {
            return Some(args);
        }
        let mut current = Vec::new();
        let mut in_double = false;
        let mut in_single = false;
        loop {
            let Some(&c) = line.first() else {
                if in_double || in_single {
                    return None;
                }
                break;
            };
            if in_double {
                if c == b'\\' && line.len() >= 4 && line[1] == b'x' && is_hex_pair(line[2], line[3])
                {
                    current.push(hex_value(line[2]) * 16 + hex_value(line[3]));
                    line.advance(4);
                    continue;
                }
                if c == b'\\' && line.len() >= 2 {
                    current.push(match line[1] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'a' => 0x07,
                        other => other,
                    });
                    line.advance(2);
                    continue;
                }
                if c == b'"' {
                    // The closing quote must be followed by a space or the end.
                    if line.len() > 1 && !line[1].is_ascii_whitespace() {
                        return None;
                    }
                    line.advance(1);
                    break;
                }
                current.push(c);
                line.advance(1);
            } else if in_single {
                if c == b'\\' && line.len() >= 2 && line[1] == b'\'' {
                    current.push(b'\'');
                    line.advance(2);
                    continue;
                }
                if c == b'\'' {
                    if line.len() > 1 && !line[1].is_ascii_whitespace() {
                        return None;
                    }
                    line.advance(1);
                    break;
                }
                current.push(c);
                line.advance(1);
            } else {
                match c {
                    b' ' | b'\n' | b'\r' | b'\t' | b'\0' => {
                        line.advance(1);
                        break;
                    }
                    b'"' => in_double = true,
                    b'\'' => in_single = true,
                    _ => current.push(c),
                }
                line.advance(1);
            }
        }
        args.push(Bytes::from(current));
    }
}

fn is_hex_pair(a: u8, b: u8) -> bool {
    a.is_ascii_hexdigit() && b.is_ascii_hexdigit()
}

fn hex_value(c: u8) -> u8 {
    (c as char).to_digit(16).expect("checked hex digit") as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: RequestLimits = RequestLimits {
        max_bulk_len: 512 * 1024 * 1024,
    };

    fn parse_all(input: &[u8]) -> Result<Vec<Vec<Bytes>>, ProtocolError> {
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        while let Some(args) = parse_request(&mut buf, LIMITS)? {
            out.push(args);
        }
        Ok(out)
    }

    #[test]
    fn pipelined_multibulk_requests() {
        let parsed =
            parse_all(b"*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*2\r\n$3").unwrap();
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[1], vec![Bytes::from("GET"), Bytes::from("k")]);
    }

    #[test]
    fn inline_requests_with_quotes() {
        let parsed = parse_all(b"SET k \"a b\\x41\\n\" 'c\\'d'\r\nPING\n\r\n").unwrap();
        assert_eq!(
            parsed[0],
            vec![
                Bytes::from("SET"),
                Bytes::from("k"),
                Bytes::from("a bA\n"),
                Bytes::from("c'd")
            ]
        );
        assert_eq!(parsed[1], vec![Bytes::from("PING")]);
        assert!(parsed[2].is_empty());
        assert_eq!(
            parse_all(b"SET \"k\n").unwrap_err().0,
            "Protocol error: unbalanced quotes in request"
        );
        assert_eq!(
            parse_all(b"SET \"k\"x\n").unwrap_err().0,
            "Protocol error: unbalanced quotes in request"
        );
    }

    #[test]
    fn redis_protocol_errors() {
        assert_eq!(
            parse_all(b"*1\r\n:1\r\n").unwrap_err().0,
            "Protocol error: expected '$', got ':'"
        );
        assert_eq!(
            parse_all(b"*2\r\n$3\r\nGET\r\n$99999999999\r\n")
                .unwrap_err()
                .0,
            "Protocol error: invalid bulk length"
        );
        assert_eq!(
            parse_all(b"*x\r\n").unwrap_err().0,
            "Protocol error: invalid multibulk length"
        );
        assert_eq!(
            parse_all(b"*99999999\r\n").unwrap_err().0,
            "Protocol error: invalid multibulk length"
        );
        let small = RequestLimits { max_bulk_len: 4 };
        let mut buf = BytesMut::from(&b"*1\r\n$5\r\nhello\r\n"[..]);
        assert_eq!(
            parse_request(&mut buf, small).unwrap_err().0,
            "Protocol error: invalid bulk length"
        );
    }

    #[test]
    fn nested_arrays_are_refused_without_recursing() {
        let nested = b"*1\r\n".repeat(1_000_000);
        assert_eq!(
            parse_all(&nested).unwrap_err().0,
            "Protocol error: expected '$', got '*'"
        );
    }

    #[test]
    fn a_huge_declared_length_is_not_allocated() {
        let huge = RequestLimits {
            max_bulk_len: 1 << 40,
        };
        let mut buf = BytesMut::from(&b"*1\r\n$1000000000000\r\nab"[..]);
        assert_eq!(parse_request(&mut buf, huge).unwrap(), None);
        assert!(buf.capacity() <= 2 * MAX_RESERVE, "{}", buf.capacity());
    }

    #[test]
    fn incomplete_requests_wait_for_more() {
        let mut buf = BytesMut::from(&b"*2\r\n$3\r\nGET\r\n$10\r\nab"[..]);
        assert_eq!(parse_request(&mut buf, LIMITS).unwrap(), None);
        assert!(buf.capacity() >= 31);
        buf.extend_from_slice(b"cdefghij\r\n");
        assert_eq!(parse_request(&mut buf, LIMITS).unwrap().unwrap().len(), 2);
        assert!(buf.is_empty());
    }
}

/// Property tests: random, mutated and split request streams, fed the way a
/// connection feeds its read buffer.
#[cfg(test)]
mod fuzz {
    use super::*;
    use proptest::prelude::*;
    use proptest::sample::Index;

    const LIMITS: RequestLimits = RequestLimits {
        max_bulk_len: 512 * 1024 * 1024,
    };

    /// Bytes that steer mutations toward the protocol's own syntax.
    const SYNTAX: &[u8] = b"*$:+-\r\n0123456789 \"'\\x";

    /// How a stream ended: the protocol error, or `None` when the parser
    /// waits for more bytes.
    type Outcome = (Vec<Vec<Bytes>>, Option<String>);

    fn requests() -> impl Strategy<Value = Vec<Vec<Vec<u8>>>> {
        let arg = prop::collection::vec(any::<u8>(), 0..24);
        prop::collection::vec(prop::collection::vec(arg, 1..6), 1..6)
    }

    fn encode_multibulk(request: &[Vec<u8>], out: &mut Vec<u8>) {
        out.extend_from_slice(format!("*{}\r\n", request.len()).as_bytes());
        for arg in request {
            out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            out.extend_from_slice(arg);
            out.extend_from_slice(b"\r\n");
        }
    }

    /// An inline request quoting every byte as `\xHH`, so any argument
    /// survives.
    fn encode_inline(request: &[Vec<u8>], out: &mut Vec<u8>) {
        for arg in request {
            out.push(b'"');
            for byte in arg {
                out.extend_from_slice(format!("\\x{byte:02x}").as_bytes());
            }
            out.extend_from_slice(b"\" ");
        }
        out.extend_from_slice(b"\r\n");
    }

    fn encode(requests: &[Vec<Vec<u8>>], inline: &[bool]) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, request) in requests.iter().enumerate() {
            if inline.get(i).copied().unwrap_or(false) {
                encode_inline(request, &mut out);
            } else {
                encode_multibulk(request, &mut out);
            }
        }
        out
    }

    /// Feeds `input` in pieces cut at `cuts`, parsing every complete request
    /// after each piece, and checks each step either consumes a request or
    /// leaves the buffer untouched to wait for more.
    fn feed(input: &[u8], cuts: &[Index]) -> Outcome {
        let mut ends: Vec<usize> = cuts.iter().map(|c| c.index(input.len() + 1)).collect();
        ends.push(input.len());
        ends.sort_unstable();
        let mut buf = BytesMut::new();
        let mut parsed = Vec::new();
        let mut fed = 0;
        for end in ends {
            buf.extend_from_slice(&input[fed..end]);
            fed = end;
            loop {
                let before = buf.clone();
                match parse_request(&mut buf, LIMITS) {
                    Ok(Some(args)) => {
                        assert!(buf.len() < before.len(), "a request consumes bytes");
                        assert!(before.ends_with(&buf), "only the front is consumed");
                        parsed.push(args);
                    }
                    Ok(None) => {
                        assert_eq!(buf, before, "waiting leaves the buffer as it was");
                        break;
                    }
                    Err(e) => return (parsed, Some(e.0)),
                }
            }
        }
        (parsed, None)
    }

    fn mutate(input: &mut Vec<u8>, mutations: &[(Index, u8, u8)]) {
        for &(at, kind, byte) in mutations {
            let syntax = SYNTAX[byte as usize % SYNTAX.len()];
            let inside = at.index(input.len().max(1));
            let anywhere = at.index(input.len() + 1);
            match kind % 5 {
                0 if !input.is_empty() => input[inside] = byte,
                1 if !input.is_empty() => input[inside] = syntax,
                2 => input.insert(anywhere, syntax),
                3 if !input.is_empty() => {
                    input.remove(inside);
                }
                _ => input.truncate(anywhere),
            }
        }
    }

    fn as_bytes(requests: &[Vec<Vec<u8>>]) -> Vec<Vec<Bytes>> {
        requests
            .iter()
            .map(|r| r.iter().map(|a| Bytes::from(a.clone())).collect())
            .collect()
    }

    /// 4,000 cases each, or `PROPTEST_CASES` (bench/fuzz.sh runs millions).
    fn cases() -> u32 {
        std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(4000)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(cases()))]

        #[test]
        fn valid_requests_round_trip_however_split(
            requests in requests(),
            inline in prop::collection::vec(any::<bool>(), 0..6),
            cuts in prop::collection::vec(any::<Index>(), 0..8),
        ) {
            let input = encode(&requests, &inline);
            prop_assert_eq!(feed(&input, &cuts), (as_bytes(&requests), None));
        }

        #[test]
        fn mutated_requests_parse_the_same_however_split(
            requests in requests(),
            inline in prop::collection::vec(any::<bool>(), 0..6),
            mutations in prop::collection::vec((any::<Index>(), any::<u8>(), any::<u8>()), 1..6),
            cuts in prop::collection::vec(any::<Index>(), 1..8),
        ) {
            let mut input = encode(&requests, &inline);
            mutate(&mut input, &mutations);
            prop_assert_eq!(feed(&input, &cuts), feed(&input, &[]));
        }

        #[test]
        fn random_bytes_parse_the_same_however_split(
            star in any::<bool>(),
            mut input in prop::collection::vec(any::<u8>(), 0..256),
            cuts in prop::collection::vec(any::<Index>(), 1..8),
        ) {
            if star {
                input.insert(0, b'*');
            }
            prop_assert_eq!(feed(&input, &cuts), feed(&input, &[]));
        }
    }
}
