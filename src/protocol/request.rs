//! Request parsing: RESP multibulk arrays (decoded by the redis-protocol
//! crate) and inline commands (a person typing `PING` into telnet).
//!
//! Errors carry Redis's exact protocol-error texts; after one the connection
//! replies and closes, as Redis does.

use bytes::{Buf, Bytes, BytesMut};

/// Limits a client's requests must respect.
#[derive(Clone, Copy, Debug)]
pub struct RequestLimits {
    /// `proto-max-bulk-len`: the largest argument accepted.
    pub max_bulk_len: u64,
    /// Whether the client has yet to authenticate: Redis then refuses
    /// requests of more than [`MAX_UNAUTH_ARGS`] arguments or arguments
    /// longer than [`MAX_UNAUTH_BULK_LEN`], so a stranger cannot make the
    /// server buffer much.
    pub unauthenticated: bool,
}

/// The longest inline request or header line Redis accepts.
const MAX_INLINE_LEN: usize = 64 * 1024;
/// The most arguments one request may have.
const MAX_MULTIBULK_LEN: i64 = 1024 * 1024;
/// The most arguments a request may have before AUTH (Redis's value).
pub const MAX_UNAUTH_ARGS: i64 = 10;
/// The longest argument a request may have before AUTH (Redis's value).
pub const MAX_UNAUTH_BULK_LEN: i64 = 16 * 1024;
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

/// Parses the requests of one connection's read buffer.
///
/// It remembers how far it got in an incomplete request (the lines already
/// searched, the arguments already found, the length of the argument being
/// received), so a request that takes many reads is examined once, not
/// from its first byte at every read: a 500 MB SET arriving in 64 KB reads
/// costs linear time. The bytes of an argument are never examined at all.
#[derive(Debug, Default)]
pub struct RequestParser {
    /// Bytes of the buffer already searched for the end of the current
    /// line (an inline request or a header).
    scanned: usize,
    /// The multibulk request under way, once its count line is read.
    multibulk: Option<Multibulk>,
    /// Bytes examined so far, for the tests that prove the parse linear.
    #[cfg(test)]
    examined: usize,
}

/// An incomplete multibulk request.
#[derive(Debug)]
struct Multibulk {
    /// Arguments still to come.
    remaining: usize,
    /// Where the next header, or the awaited argument, starts.
    pos: usize,
    /// The length of the argument awaited at `pos`, once its header is read.
    bulk: Option<usize>,
    /// Start and length of each argument found so far.
    args: Vec<(usize, usize)>,
}

impl RequestParser {
    /// Parses one request from the front of `buf`.
    ///
    /// Returns `Ok(Some(args))` and consumes its bytes when a whole request
    /// is there (`args` may be empty for a blank inline line or `*0`),
    /// `Ok(None)` when more bytes are needed (reserving room for a long
    /// argument), or the protocol error to reply with before closing.
    /// `buf` must only grow at its end until a request is returned.
    pub fn parse(
        &mut self,
        buf: &mut BytesMut,
        limits: RequestLimits,
    ) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        if buf.is_empty() {
            return Ok(None);
        }
        let mut request = match self.multibulk.take() {
            Some(request) => request,
            None if buf[0] != b'*' => return self.parse_inline(buf),
            None => match self.start_multibulk(buf, limits)? {
                Some(request) => request,
                None => return Ok(None),
            },
        };
        while request.remaining > 0 {
            if let Some(len) = request.bulk {
                let end = request.pos + len + 2;
                if buf.len() < end {
                    // Room for the rest of the argument, so it arrives in
                    // few reads and copies.
                    // A declared length is a promise, not an allocation
                    // to make at once: memory comes with the bytes.
                    buf.reserve((end - buf.len()).min(MAX_RESERVE));
                    self.multibulk = Some(request);
                    return Ok(None);
                }
                request.args.push((request.pos, len));
                request.pos = end;
                request.bulk = None;
                request.remaining -= 1;
                continue;
            }
            if request.pos >= buf.len() {
                self.multibulk = Some(request);
                return Ok(None);
            }
            if buf[request.pos] != b'$' {
                return Err(ProtocolError::new(format!(
                    "expected '$', got '{}'",
                    buf[request.pos] as char
                )));
            }
            let Some((end, next)) = self.line(buf, request.pos, "too big bulk count string")?
            else {
                self.multibulk = Some(request);
                return Ok(None);
            };
            let len = parse_len(&buf[request.pos + 1..end])
                .filter(|&len| len >= 0 && len as u64 <= limits.max_bulk_len)
                .ok_or_else(|| ProtocolError::new("invalid bulk length"))?;
            if limits.unauthenticated && len > MAX_UNAUTH_BULK_LEN {
                return Err(ProtocolError::new("unauthenticated bulk length"));
            }
            request.pos = next;
            request.bulk = Some(len as usize);
        }
        let frame = buf.split_to(request.pos).freeze();
        self.scanned = 0;
        Ok(Some(
            request
                .args
                .iter()
                .map(|&(start, len)| frame.slice(start..start + len))
                .collect(),
        ))
    }

    /// Reads the `*<count>` line of a multibulk request: the request under
    /// way, `None` if the line has not all arrived. A count of zero or less
    /// is an empty request, consumed here, as in Redis.
    fn start_multibulk(
        &mut self,
        buf: &[u8],
        limits: RequestLimits,
    ) -> Result<Option<Multibulk>, ProtocolError> {
        let Some((end, next)) = self.line(buf, 0, "too big mbulk count string")? else {
            return Ok(None);
        };
        let count = parse_len(&buf[1..end])
            .filter(|&count| count <= MAX_MULTIBULK_LEN)
            .ok_or_else(|| ProtocolError::new("invalid multibulk length"))?;
        if limits.unauthenticated && count > MAX_UNAUTH_ARGS {
            return Err(ProtocolError::new("unauthenticated multibulk length"));
        }
        let count = count.max(0) as usize;
        Ok(Some(Multibulk {
            remaining: count,
            pos: next,
            bulk: None,
            args: Vec::with_capacity(count.min(1024)),
        }))
    }

    /// Finds the end of the line starting at `start`: the position of its
    /// `\r` and the position after its `\r\n`, or `None` if it has not all
    /// arrived. Bytes searched before are not searched again; a line longer
    /// than Redis's inline limit is the error `too_long`.
    fn line(
        &mut self,
        buf: &[u8],
        start: usize,
        too_long: &str,
    ) -> Result<Option<(usize, usize)>, ProtocolError> {
        let from = self.scanned.max(start);
        let found = buf[from..].iter().position(|&b| b == b'\r');
        #[cfg(test)]
        {
            self.examined += found.map_or(buf.len() - from, |i| i + 1);
        }
        match found {
            Some(i) if from + i + 1 < buf.len() => {
                self.scanned = from + i + 2;
                Ok(Some((from + i, from + i + 2)))
            }
            Some(i) => {
                self.scanned = from + i;
                Ok(None)
            }
            None if buf.len() - start > MAX_INLINE_LEN => Err(ProtocolError::new(too_long)),
            None => {
                self.scanned = buf.len();
                Ok(None)
            }
        }
    }

    fn parse_inline(&mut self, buf: &mut BytesMut) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        let from = self.scanned;
        let found = buf[from..].iter().position(|&b| b == b'\n');
        #[cfg(test)]
        {
            self.examined += found.map_or(buf.len() - from, |i| i + 1);
        }
        let Some(newline) = found.map(|i| from + i) else {
            if buf.len() > MAX_INLINE_LEN {
                return Err(ProtocolError::new("too big inline request"));
            }
            self.scanned = buf.len();
            return Ok(None);
        };
        self.scanned = 0;
        let line = buf.split_to(newline + 1);
        let mut line = &line[..newline];
        if line.last() == Some(&b'\r') {
            line = &line[..line.len() - 1];
        }
        split_args(line)
            .map(Some)
            .ok_or_else(|| ProtocolError::new("unbalanced quotes in request"))
    }
}

/// The keys of the complete `GET key` requests (RESP multibulk, as clients
/// send them) at the start of `buf`, at most `max`: what a pipeline of GETs
/// will ask next, so their entries can be read in one batch. Stops at the
/// first request of another form, which is then parsed as usual.
pub fn peek_gets(buf: &[u8], max: usize) -> Vec<&[u8]> {
    let mut keys = Vec::new();
    let mut rest = buf;
    while keys.len() < max {
        let Some(after) = rest
            .strip_prefix(b"*2\r\n$3\r\n")
            .filter(|r| r.len() >= 5 && r[..3].eq_ignore_ascii_case(b"get") && &r[3..5] == b"\r\n")
        else {
            break;
        };
        let Some(header) = after[5..].strip_prefix(b"$") else {
            break;
        };
        let Some(end) = header.iter().position(|&b| b == b'\r') else {
            break;
        };
        let Some(len) = parse_len(&header[..end]).and_then(|n| usize::try_from(n).ok()) else {
            break;
        };
        let body = &header[end..];
        if body.len() < len + 4 || &body[..2] != b"\r\n" || &body[2 + len..4 + len] != b"\r\n" {
            break;
        }
        keys.push(&body[2..2 + len]);
        rest = &body[4 + len..];
    }
    keys
}

/// A length as Redis's `string2ll` reads it: an optional `-` and digits,
/// no sign, spaces or leading zeros otherwise.
fn parse_len(digits: &[u8]) -> Option<i64> {
    let body = digits.strip_prefix(b"-").unwrap_or(digits);
    let canonical = !body.is_empty()
        && body.iter().all(u8::is_ascii_digit)
        && (body[0] != b'0' || digits == b"0");
    if !canonical {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
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
        unauthenticated: false,
    };

    fn parse_all_with(
        input: &[u8],
        limits: RequestLimits,
    ) -> Result<Vec<Vec<Bytes>>, ProtocolError> {
        let mut buf = BytesMut::from(input);
        let mut parser = RequestParser::default();
        let mut out = Vec::new();
        while let Some(args) = parser.parse(&mut buf, limits)? {
            out.push(args);
        }
        Ok(out)
    }

    fn parse_all(input: &[u8]) -> Result<Vec<Vec<Bytes>>, ProtocolError> {
        parse_all_with(input, LIMITS)
    }

    /// Feeds `input` in `chunk`-byte reads, as a socket would deliver it:
    /// the requests parsed and the bytes the parser examined.
    fn parse_in_chunks(input: &[u8], chunk: usize) -> (Vec<Vec<Bytes>>, usize) {
        let mut buf = BytesMut::new();
        let mut parser = RequestParser::default();
        let mut out = Vec::new();
        for piece in input.chunks(chunk) {
            buf.extend_from_slice(piece);
            while let Some(args) = parser.parse(&mut buf, LIMITS).unwrap() {
                out.push(args);
            }
        }
        assert!(buf.is_empty());
        (out, parser.examined)
    }

    #[test]
    fn peeked_gets_are_exactly_the_gets_the_parser_finds_next() {
        let input = b"*2\r\n$3\r\nGET\r\n$1\r\na\r\n*2\r\n$3\r\nget\r\n$0\r\n\r\n\
                      *2\r\n$3\r\nGET\r\n$4\r\nb\r\nc\r\n*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n\
                      *2\r\n$3\r\nGET\r\n$1\r\nz\r\n";
        let expected: Vec<&[u8]> = vec![b"a", b"", b"b\r\nc"];
        assert_eq!(peek_gets(input, 10), expected);
        assert_eq!(peek_gets(input, 2), expected[..2].to_vec());
        let parsed = parse_all(input).unwrap();
        for (request, key) in parsed.iter().zip(&expected) {
            assert!(request[0].eq_ignore_ascii_case(b"get"));
            assert_eq!(&request[1][..], *key);
        }
        // Incomplete, inline, other shapes and bad lengths end the run.
        for input in [
            &b"*2\r\n$3\r\nGET\r\n$5\r\nab"[..],
            b"*2\r\n$3\r\nGET\r\n$2\r\nabc\r\n",
            b"*2\r\n$3\r\nGET\r\n$-1\r\n",
            b"*2\r\n$3\r\nGET\r\n$01\r\na\r\n",
            b"GET a\r\n",
            b"*2\r\n$4\r\nGETS\r\n$1\r\na\r\n",
            b"*3\r\n$3\r\nGET\r\n$1\r\na\r\n$1\r\nb\r\n",
        ] {
            assert!(peek_gets(input, 10).is_empty(), "{input:?}");
        }
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
        let small = RequestLimits {
            max_bulk_len: 4,
            unauthenticated: false,
        };
        assert_eq!(
            parse_all_with(b"*1\r\n$5\r\nhello\r\n", small)
                .unwrap_err()
                .0,
            "Protocol error: invalid bulk length"
        );
        assert_eq!(
            parse_all(b"*1\r\n$+5\r\nhello\r\n").unwrap_err().0,
            "Protocol error: invalid bulk length"
        );
        let long_header = format!("*1\r\n${}", "1".repeat(70_000));
        assert_eq!(
            parse_all(long_header.as_bytes()).unwrap_err().0,
            "Protocol error: too big bulk count string"
        );
        assert_eq!(
            parse_all("*".repeat(70_000).as_bytes()).unwrap_err().0,
            "Protocol error: too big mbulk count string"
        );
    }

    #[test]
    fn empty_multibulk_requests_are_no_command() {
        let parsed = parse_all(b"*0\r\n*-1\r\n*1\r\n$4\r\nPING\r\n").unwrap();
        assert_eq!(parsed.len(), 3);
        assert!(parsed[0].is_empty() && parsed[1].is_empty());
        assert_eq!(parsed[2], vec![Bytes::from("PING")]);
    }

    #[test]
    fn unauthenticated_requests_are_small() {
        let stranger = RequestLimits {
            unauthenticated: true,
            ..LIMITS
        };
        let eleven = request_of(11, 1);
        assert_eq!(
            parse_all_with(&eleven, stranger).unwrap_err().0,
            "Protocol error: unauthenticated multibulk length"
        );
        assert_eq!(parse_all_with(&eleven, LIMITS).unwrap().len(), 1);
        assert_eq!(
            parse_all_with(&request_of(10, 1), stranger).unwrap().len(),
            1
        );
        // The header alone is refused: the argument is never buffered.
        assert_eq!(
            parse_all_with(b"*2\r\n$4\r\nAUTH\r\n$16385\r\n", stranger)
                .unwrap_err()
                .0,
            "Protocol error: unauthenticated bulk length"
        );
        assert_eq!(
            parse_all_with(&request_of(2, 16384), stranger)
                .unwrap()
                .len(),
            1
        );
    }

    /// `count` arguments of `len` bytes each, as one RESP request.
    fn request_of(count: usize, len: usize) -> Vec<u8> {
        let mut out = format!("*{count}\r\n").into_bytes();
        for _ in 0..count {
            out.extend_from_slice(format!("${len}\r\n").as_bytes());
            out.extend(std::iter::repeat_n(b'x', len));
            out.extend_from_slice(b"\r\n");
        }
        out
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
            unauthenticated: false,
        };
        let mut buf = BytesMut::from(&b"*1\r\n$1000000000000\r\nab"[..]);
        assert_eq!(
            RequestParser::default().parse(&mut buf, huge).unwrap(),
            None
        );
        assert!(buf.capacity() <= 2 * MAX_RESERVE, "{}", buf.capacity());
    }

    #[test]
    fn incomplete_requests_wait_for_more() {
        let mut parser = RequestParser::default();
        let mut buf = BytesMut::from(&b"*2\r\n$3\r\nGET\r\n$10\r\nab"[..]);
        assert_eq!(parser.parse(&mut buf, LIMITS).unwrap(), None);
        assert!(buf.capacity() >= 31);
        buf.extend_from_slice(b"cdefghij\r\n");
        assert_eq!(parser.parse(&mut buf, LIMITS).unwrap().unwrap().len(), 2);
        assert!(buf.is_empty());
    }

    #[test]
    fn a_big_request_in_small_reads_is_examined_once() {
        // A 10 MB SET in 64 KB reads: only its headers are examined, once,
        // however many reads it takes (a parse from byte 0 at every read
        // would examine about 160 reads x 5 MB on average).
        let mut request = b"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$10485760\r\n".to_vec();
        request.extend(std::iter::repeat_n(b'v', 10 << 20));
        request.extend_from_slice(b"\r\n");
        let (parsed, examined) = parse_in_chunks(&request, 64 * 1024);
        assert_eq!(parsed.len(), 1);
        assert_eq!(parsed[0][2].len(), 10 << 20);
        assert!(examined <= 40, "examined {examined} bytes");

        // Many small arguments a byte at a time: each byte examined once.
        let many = request_of(5000, 3);
        let (parsed, examined) = parse_in_chunks(&many, 1);
        assert_eq!(parsed[0].len(), 5000);
        assert!(
            examined <= many.len(),
            "examined {examined} of {}",
            many.len()
        );

        // An inline request a byte at a time, likewise.
        let inline = format!("SET k {}\r\n", "v".repeat(60_000));
        let (parsed, examined) = parse_in_chunks(inline.as_bytes(), 1);
        assert_eq!(parsed[0].len(), 3);
        assert!(examined <= inline.len(), "examined {examined}");
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
        unauthenticated: false,
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
        let mut parser = RequestParser::default();
        let mut parsed = Vec::new();
        let mut fed = 0;
        for end in ends {
            buf.extend_from_slice(&input[fed..end]);
            fed = end;
            loop {
                let before = buf.clone();
                match parser.parse(&mut buf, LIMITS) {
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
